import { randomBytes } from 'node:crypto';
import { print } from 'graphql';
import { CreateUserDocument, DeleteUserDocument, ViewerDocument } from '../src/generated/graphql';
import { startTestApp, type TestApp } from './support/app';
import { errorCode, factory, ok } from './support/factory';
import { LogCapture } from './support/log-capture';
import { send, trustedDocuments } from './support/protocol';

/**
 * Structured logs (src/logger.ts): JSON lines, each carrying the id of the request it
 * was logged for (also echoed in X-Request-Id), and never an email, a name, a token or
 * an API key secret — at LOG_LEVEL=trace, where every SQL statement is logged too.
 */

let app: TestApp;
const log = new LogCapture();
beforeAll(async () => {
  app = await startTestApp({ LOG_LEVEL: 'trace' }, { logStream: log });
});
afterAll(() => app?.close());

async function post(body: unknown, headers: Record<string, string> = {}) {
  return fetch(app.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${app.adminKey}`, ...headers },
    body: JSON.stringify(body),
  });
}

/** The id a log line was logged for: the request logger's `req.id`, or the mixin's `reqId`. */
const requestIdOf = (entry: Record<string, any>): unknown => entry.reqId ?? entry.req?.id;

/** pino-http logs the request once its response has finished: wait for that line. */
async function untilCompleted(requestId: string) {
  for (let attempt = 0; attempt < 100; attempt++) {
    if (log.entries().some((e) => e.msg === 'request completed' && requestIdOf(e) === requestId)) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`no "request completed" line for ${requestId}`);
}

describe('request ids', () => {
  it('every line logged for a request is JSON and carries its id, SQL traces included', async () => {
    log.clear();
    const response = await post({ query: '{ users(first: 5) { totalCount nodes { id } } }' });
    expect(response.status).toBe(200);
    const requestId = response.headers.get('x-request-id')!;
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    await untilCompleted(requestId);

    const entries = log.entries(); // throws unless every line is JSON
    expect(entries.length).toBeGreaterThan(2);
    expect(entries.filter((e) => e.msg === 'sql').length).toBeGreaterThan(0);
    for (const entry of entries) {
      expect({ msg: entry.msg, requestId: requestIdOf(entry) }).toEqual({ msg: entry.msg, requestId });
      expect(entry.service).toBe('identity-gateway');
      expect(typeof entry.level).toBe('number');
    }
  });

  it('concurrent requests keep their own ids', async () => {
    log.clear();
    const ids = ['conc-a', 'conc-b', 'conc-c'];
    const responses = await Promise.all(
      ids.map((id) => post({ query: '{ organizations(first: 3) { totalCount } }' }, { 'x-request-id': id })),
    );
    expect(responses.map((r) => r.headers.get('x-request-id'))).toEqual(ids);
    await Promise.all(ids.map(untilCompleted));
    for (const id of ids) {
      const lines = log.entries().filter((e) => requestIdOf(e) === id);
      expect(lines.filter((e) => e.msg === 'sql').length).toBeGreaterThan(0);
    }
    expect(log.entries().every((e) => ids.includes(requestIdOf(e) as string))).toBe(true);
  });

  it('echoes a well-formed incoming X-Request-Id and replaces a malformed one', async () => {
    const given = 'trace-01.abc_DEF-9';
    const echoed = await post({ query: '{ viewer { kind } }' }, { 'x-request-id': given });
    expect(echoed.headers.get('x-request-id')).toBe(given);
    await untilCompleted(given);

    for (const malformed of ['has spaces in it', 'x'.repeat(65), 'semi;colon', '']) {
      const response = await post({ query: '{ viewer { kind } }' }, { 'x-request-id': malformed });
      const id = response.headers.get('x-request-id');
      expect(id).not.toBe(malformed);
      expect(id).toMatch(/^[0-9a-f-]{36}$/);
    }
    // Every response has one, the health routes' included.
    const health = await fetch(new URL('/healthz', app.url));
    expect(health.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('personal data and secrets', () => {
  it('never reach the log: deleting a user, a session, an API key and bad tokens', async () => {
    const make = factory(app);
    const tag = randomBytes(6).toString('hex');
    const email = `logscan-${tag}@private.example`;
    const name = `Logscan Personname ${tag}`;
    const organization = await make.organization({ name: `Logscan Org ${tag}` });
    const user = await make.user({ email, name });
    // ADMIN, not OWNER: the last OWNER of an organization cannot be deleted (issue 9).
    await make.member(organization.id, user.id, 'ADMIN');
    const { token } = await make.session(user.id, organization.id);
    const apiKey = ok(
      await app.gql('mutation ($input: CreateApiKeyInput!) { createApiKey(input: $input) { secret apiKey { id } } }', {
        input: { name: `key ${tag}`, scopes: ['USERS_READ'] },
      }),
    ) as { createApiKey: { secret: string } };
    const secret = apiKey.createApiKey.secret;
    expect(secret).toMatch(/^isk_/);

    // The credentials at work: a session, an API key (trusted document), a conflict that
    // makes PostgreSQL quote the email in its error detail.
    expect(ok(await app.gql(ViewerDocument, {}, { token })).viewer.user?.email).toBe(email);
    const viewerText = trustedDocuments.find((d) => d.text.startsWith('query Viewer'))!.text;
    expect(ok(await app.gql<{ viewer: { kind: string } }, never>(viewerText, undefined, { token: secret })).viewer.kind).toBe('API_KEY');
    expect(errorCode(await app.gql(CreateUserDocument, { input: { email, name } }))).toBe('CONFLICT');

    // The deletion, then the dead session token and a forged API key.
    const deleted = await post({ query: print(DeleteUserDocument), variables: { id: user.id } });
    expect(((await deleted.json()) as { data: { deleteUser: { deletedUserId: string } } }).data.deleteUser.deletedUserId).toBe(user.id);
    expect((await app.gql(ViewerDocument, {}, { token })).status).toBe(401);
    expect((await app.gql(ViewerDocument, {}, { token: `${secret}x` })).status).toBe(401);
    const afterId = (await post({ query: '{ viewer { kind } }' })).headers.get('x-request-id')!;
    await untilCompleted(afterId);

    const text = log.text();
    expect(log.entries().filter((e) => e.msg === 'sql').length).toBeGreaterThan(10); // the scan saw SQL traces
    for (const [what, value] of Object.entries({ email, name, token, secret, adminKey: app.adminKey })) {
      expect({ what, logged: text.includes(value) }).toEqual({ what, logged: false });
    }
    expect(text.toLowerCase()).not.toContain(email.toLowerCase());

    // The database agrees the user is gone.
    expect(await app.sql('SELECT 1 FROM users WHERE id = $1', [user.id])).toEqual([]);
  });
});

describe('query strings', () => {
  it('never reach the log: a token, an email and a name in URLs are logged as the path only', async () => {
    const make = factory(app);
    const tag = randomBytes(6).toString('hex');
    const email = `urlscan-${tag}@private.example`;
    const name = `Urlscan Personname ${tag}`;
    const organization = await make.organization();
    const { token } = await make.signedInMember(organization.id, 'MEMBER');
    const withParams = (path: string, params: Record<string, string>) => {
      const url = new URL(path, app.url);
      for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
      return url.toString();
    };
    const admin = { authorization: `Bearer ${app.adminKey}` };
    log.clear();

    // A token in the query string, as some clients send it: ignored (only the header counts), not logged.
    const tokenInUrl = await send(withParams('/graphql', { access_token: token, query: '{ viewer { kind } }' }), {
      method: 'GET',
      headers: { 'x-request-id': `url-token-${tag}` },
    });
    expect(tokenInUrl.status).toBe(401);
    // A POST whose URL carries it beside a valid header.
    const postWithToken = await send(withParams('/graphql', { access_token: token }), {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json', 'x-request-id': `url-post-${tag}` },
      body: JSON.stringify({ query: '{ viewer { kind } }' }),
    });
    expect(postWithToken.status).toBe(200);
    // A createUser over GET, literals and variables: refused with 405, and nothing created.
    const literal = await send(
      withParams('/graphql', { query: `mutation { createUser(input: {email: "${email}", name: "${name}"}) { id } }` }),
      { method: 'GET', headers: { ...admin, 'x-request-id': `url-literal-${tag}` } },
    );
    expect(literal.status).toBe(405);
    const variables = await send(
      withParams('/graphql', {
        query: 'mutation CreateUser($input: CreateUserInput!) { createUser(input: $input) { id } }',
        variables: JSON.stringify({ input: { email, name } }),
        operationName: 'CreateUser',
      }),
      { method: 'GET', headers: { ...admin, 'x-request-id': `url-variables-${tag}` } },
    );
    expect(variables.status).toBe(405);
    // A GET query that runs, with the email and the name as variables; other routes too.
    const query = await send(
      withParams('/graphql', {
        query: 'query ($id: ID!, $other: ID!) { user(id: $id) { id } other: user(id: $other) { id } }',
        variables: JSON.stringify({ id: email, other: name }),
      }),
      { method: 'GET', headers: { ...admin, 'x-request-id': `url-query-${tag}` } },
    );
    expect(query.status).toBeLessThan(500);
    const health = await send(withParams('/healthz', { email, name }), { method: 'GET', headers: { 'x-request-id': `url-health-${tag}` } });
    expect(health.status).toBe(200);
    const unknown = await send(withParams('/nowhere', { email }), { method: 'GET', headers: { 'x-request-id': `url-404-${tag}` } });
    expect(unknown.status).toBe(404);
    const ids = ['token', 'post', 'literal', 'variables', 'query', 'health', '404'].map((what) => `url-${what}-${tag}`);
    await Promise.all(ids.map(untilCompleted));

    const text = log.text();
    for (const [what, value] of Object.entries({ token, email, name })) {
      for (const form of [value, encodeURIComponent(value), value.replace(/ /g, '+')]) {
        expect({ what, form, logged: text.includes(form) }).toEqual({ what, form, logged: false });
      }
    }
    expect(text).not.toContain('access_token');

    // What is logged instead: the path, and for GraphQL what ran.
    const completed = (id: string) => log.entries().find((e) => e.msg === 'request completed' && requestIdOf(e) === id)!;
    expect(completed(`url-post-${tag}`).req).toEqual({ id: `url-post-${tag}`, method: 'POST', path: '/graphql' });
    expect(completed(`url-post-${tag}`).operation).toBe('viewer');
    expect(completed(`url-health-${tag}`).req).toEqual({ id: `url-health-${tag}`, method: 'GET', path: '/healthz' });
    expect(completed(`url-404-${tag}`).req.path).toBe('/nowhere');
    for (const entry of log.entries()) expect(entry.req?.url).toBeUndefined();
    // Not the client's operationName: the refused mutation never ran.
    expect(completed(`url-variables-${tag}`).operation).not.toBe('CreateUser');

    // The refused createUser created nobody.
    expect(await app.sql('SELECT 1 FROM users WHERE email = $1', [email])).toEqual([]);
  });
});
