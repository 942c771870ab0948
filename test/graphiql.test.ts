import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { loadConfig } from '../src/config';
import { startTestApp, type TestApp } from './support/app';

/**
 * The self-hosted GraphiQL page, driven in Debian's chromium (never a downloaded browser):
 * it must load with no request leaving the machine, run a typed query and show the result.
 */
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
const PROJECT = path.resolve(__dirname, '..');
const SCREENSHOT = path.join(PROJECT, 'test/artifacts/graphiql.png');

let app: TestApp;
let origin: string;

beforeAll(async () => {
  // The tests run from source, without `npm run build`: bundle the page as the build does.
  execFileSync(process.execPath, [path.join(PROJECT, 'src/http/graphiql/build.mjs')], { cwd: PROJECT, stdio: 'pipe' });
  app = await startTestApp({ GRAPHIQL: 'true' });
  origin = new URL(app.url).origin;
}, 120_000);
afterAll(() => app?.close());

describe('GraphiQL in a browser', () => {
  let browser: Browser;
  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`GraphiQL's browser test needs Debian's chromium at ${CHROMIUM}: run \`apt-get update && apt-get install -y chromium\``);
    }
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
  });
  afterAll(() => browser?.close());

  it('loads from this server alone, runs a typed query with the admin key and shows its result', async () => {
    mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    const context = await browser.newContext({ viewport: { width: 1400, height: 860 } });
    const requested: string[] = [];
    // The context sees the page's requests and its web workers' (Monaco's language services).
    context.on('request', (request) => requested.push(request.url()));
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    // A Content-Security-Policy refusal shows up only here.
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(message.text());
    });
    const failed: string[] = [];
    context.on('response', (r) => {
      if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`);
    });

    try {
      const response = await page.goto(`${origin}/graphiql`);
      expect(response?.status()).toBe(200);

      const queryEditor = page.locator('.graphiql-query-editor .monaco-editor').first();
      const headersEditor = page.locator('.graphiql-editor-tool .graphiql-editor:not(.hidden) .monaco-editor');
      const result = page.locator('.result-window');
      await queryEditor.waitFor({ timeout: 30_000 });

      // The headers pane is open and starts with the Authorization template.
      expect(await editorText(headersEditor)).toContain('"Authorization": "Bearer <paste');
      await page.screenshot({ path: SCREENSHOT.replace(/\.png$/, '-initial.png') });

      // A credential in the headers pane makes GraphiQL load the schema with it.
      const introspected = page.waitForResponse(
        (r) => r.url() === `${origin}/graphql` && (r.request().postData() ?? '').includes('__schema'),
      );
      await replaceEditorText(page, headersEditor, `{ "Authorization": "Bearer ${app.adminKey}" }`);
      expect((await introspected).status()).toBe(200);
      await replaceEditorText(page, queryEditor, '{ viewer { kind } }');
      expect(await editorText(queryEditor)).toContain('{ viewer { kind } }');

      await page.locator('.graphiql-execute-button').click();
      await page.locator('.result-window', { hasText: 'ADMIN' }).waitFor({ timeout: 30_000 });
      expect(await editorText(result)).toMatch(/"kind":\s*"ADMIN"/);
    } finally {
      // Also on failure: the picture is the quickest way to see what went wrong.
      await page.screenshot({ path: SCREENSHOT });
      await context.close();
    }

    expect(pageErrors).toEqual([]);
    expect(failed).toEqual([]);
    const ours = (url: string) => url.startsWith(`${origin}/`) || url.startsWith('data:') || url.startsWith('blob:');
    expect(requested.filter((url) => !ours(url))).toEqual([]);
    // Monaco's workers came from our bundle, and the query went to our endpoint.
    expect(requested).toEqual(
      expect.arrayContaining([
        `${origin}/graphiql/assets/graphiql.js`,
        `${origin}/graphiql/assets/editor.worker.js`,
        `${origin}/graphiql/assets/graphql.worker.js`,
        `${origin}/graphiql/assets/json.worker.js`,
        `${origin}/graphql`,
      ]),
    );
  }, 90_000);
});

/** What a Monaco editor shows (it renders spaces as no-break spaces). */
async function editorText(editor: ReturnType<Page['locator']>): Promise<string> {
  return (await editor.locator('.view-lines').innerText()).replace(/\u00a0/g, ' ');
}

/** Select everything in a Monaco editor and type over it. */
async function replaceEditorText(page: Page, editor: ReturnType<Page['locator']>, text: string): Promise<void> {
  await editor.locator('.view-lines').click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.insertText(text);
  // Monaco auto-closes the first bracket or quote typed; drop what it added after the cursor.
  await page.keyboard.press('Shift+ControlOrMeta+End');
  await page.keyboard.press('Delete');
  await page.keyboard.press('ControlOrMeta+Home');
}

describe('GraphiQL routes', () => {
  const browserAccept = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

  it('serves the page at GET /graphql to a browser, with a policy that keeps it on this origin', async () => {
    const response = await fetch(`${origin}/graphql`, { headers: { accept: browserAccept } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/html/);
    expect(response.headers.get('vary')).toMatch(/accept/i);
    expect(response.headers.get('content-security-policy')).toContain("default-src 'self'");
    const html = await response.text();
    expect(html).toContain('<script src="/graphiql/assets/graphiql.js"></script>');
    expect(html).not.toMatch(/https?:\/\//);
  });

  it('leaves GET /graphql asking for JSON to Apollo', async () => {
    const query = encodeURIComponent('{ viewer { kind } }');
    for (const accept of ['application/json', 'application/graphql-response+json', '*/*']) {
      const response = await fetch(`${origin}/graphql?query=${query}`, {
        // Apollo's CSRF prevention lets a GET through only with a header a simple request cannot carry.
        headers: { accept, authorization: `Bearer ${app.adminKey}`, 'apollo-require-preflight': 'true' },
      });
      expect({ accept, status: response.status, type: response.headers.get('content-type') }).toEqual({
        accept,
        status: 200,
        type: expect.stringMatching(/json/),
      });
      expect(await response.json()).toEqual({ data: { viewer: { kind: 'ADMIN' } } });
    }
  });

  it('serves the bundle, Monaco workers included, and 404s unknown assets', async () => {
    for (const file of ['graphiql.js', 'graphiql.css', 'editor.worker.js', 'json.worker.js', 'graphql.worker.js']) {
      const response = await fetch(`${origin}/graphiql/assets/${file}`);
      expect({ file, status: response.status }).toEqual({ file, status: 200 });
    }
    expect((await fetch(`${origin}/graphiql/assets/nope.js`)).status).toBe(404);
  });
});

describe('GraphiQL setting', () => {
  it('is on by default, off in production unless GRAPHIQL=true', () => {
    expect(loadConfig({}).graphiql).toBe(true);
    expect(loadConfig({ NODE_ENV: 'test' }).graphiql).toBe(true);
    expect(loadConfig({ NODE_ENV: 'production' }).graphiql).toBe(false);
    expect(loadConfig({ NODE_ENV: 'production', GRAPHIQL: 'true' }).graphiql).toBe(true);
    expect(loadConfig({ NODE_ENV: 'development', GRAPHIQL: 'false' }).graphiql).toBe(false);
    expect(() => loadConfig({ GRAPHIQL: 'yes please' })).toThrow(/GRAPHIQL must be true or false/);
  });

  it('does not serve the page in production without the setting', async () => {
    const production = await startTestApp({ NODE_ENV: 'production', LOG_LEVEL: 'silent' });
    try {
      const root = new URL(production.url).origin;
      const page = await fetch(`${root}/graphiql`, { headers: { accept: 'text/html' } });
      expect(page.status).toBe(404);
      expect(await page.text()).not.toContain('graphiql/assets');
      expect((await fetch(`${root}/graphiql/assets/graphiql.js`)).status).toBe(404);

      const endpoint = await fetch(production.url, { headers: { accept: 'text/html' } });
      expect(endpoint.headers.get('content-type') ?? '').not.toMatch(/^text\/html/);
      expect(await endpoint.text()).not.toContain('graphiql/assets');
    } finally {
      await production.close();
    }
  });
});
