import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Kind, parse, print, visit, type DefinitionNode, type DocumentNode, type FragmentDefinitionNode } from 'graphql';
import { startTestApp, type TestApp } from './support/app';
import { createApiKey } from './support/keys';
import { factory, ok, tableCounts } from './support/factory';
import {
  codeOf,
  persistedQuery,
  postJson,
  send,
  sha256Hex,
  trustedDocument,
  trustedDocuments,
  type RawResponse,
} from './support/protocol';
import { closedPort, redisCommand, useRedis, type TestRedis } from './support/redis';

const root = path.join(__dirname, '..');

/** A document no earlier run can have registered (the Redis store outlives test runs). */
function freshQuery(selection = 'viewer { kind }') {
  const query = `query Apq_${randomBytes(6).toString('hex')} { ${selection} }`;
  return { query, hash: sha256Hex(query) };
}

async function apiKey(app: TestApp, scopes: string[]): Promise<string> {
  return (await createApiKey(app, scopes)).secret;
}

/** GET /graphql with the APQ extension: the preflight-forcing header satisfies CSRF prevention. */
function getPersisted(
  app: TestApp,
  hash: string,
  token: string | null,
  variables?: Record<string, unknown>,
  extraHeaders: Record<string, string> = { 'apollo-require-preflight': 'true' },
): Promise<RawResponse> {
  const url = new URL(app.url);
  url.searchParams.set('extensions', JSON.stringify(persistedQuery(hash)));
  if (variables) url.searchParams.set('variables', JSON.stringify(variables));
  return send(url.toString(), {
    method: 'GET',
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...extraHeaders },
  });
}

describe('automatic persisted queries (in-memory store)', () => {
  let app: TestApp;
  let sessionToken: string;
  let partnerKey: string;
  beforeAll(async () => {
    app = await startTestApp();
    const make = factory(app);
    const organization = await make.organization();
    sessionToken = (await make.signedInMember(organization.id, 'MEMBER')).token;
    partnerKey = await apiKey(app, ['USERS_READ']);
  });
  afterAll(() => app?.close());

  it.each([
    ['the admin', () => app.adminKey, 'ADMIN'],
    ['a session user', () => sessionToken, 'SESSION'],
  ])('works for %s: hash-only misses, register with hash and query, then hash-only hits', async (_who, token, kind) => {
    const { query, hash } = freshQuery();

    const miss = await postJson(app.url, { extensions: persistedQuery(hash) }, token());
    expect(miss.status).toBe(200);
    expect(codeOf(miss)).toBe('PERSISTED_QUERY_NOT_FOUND');
    expect(miss.body?.data).toBeUndefined();
    expect(miss.headers.get('cache-control')).toBe('private, no-cache, must-revalidate');

    const registered = await postJson(app.url, { query, extensions: persistedQuery(hash) }, token());
    expect(registered.status).toBe(200);
    expect(registered.body).toEqual({ data: { viewer: { kind } } });

    const hit = await postJson(app.url, { extensions: persistedQuery(hash) }, token());
    expect(hit.body).toEqual({ data: { viewer: { kind } } });

    // GET for queries: variables and extensions in the query string.
    const viaGet = await getPersisted(app, hash, token());
    expect(viaGet.status).toBe(200);
    expect(viaGet.body).toEqual({ data: { viewer: { kind } } });
  });

  it('serves a registered query with variables over GET', async () => {
    const user = await factory(app).user();
    const query = `query Apq_${randomBytes(6).toString('hex')}($id: ID!) { user(id: $id) { id email } }`;
    const hash = sha256Hex(query);
    const registered = await postJson(app.url, { query, variables: { id: user.id }, extensions: persistedQuery(hash) }, app.adminKey);
    expect(registered.body?.errors).toBeUndefined();

    const response = await getPersisted(app, hash, app.adminKey, { id: user.id });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ data: { user: { id: user.id, email: user.email } } });
  });

  it('a partner key runs trusted documents by hash without registering them, over POST and GET', async () => {
    const user = await factory(app).user();
    const getUser = trustedDocument('GetUser');
    const viaPost = await postJson(app.url, { variables: { id: user.id }, extensions: persistedQuery(getUser.hash) }, partnerKey);
    expect(viaPost.body?.errors).toBeUndefined();
    expect(viaPost.body?.data?.user).toMatchObject({ id: user.id, email: user.email });
    const viaGet = await getPersisted(app, getUser.hash, partnerKey, { id: user.id });
    expect(viaGet.status).toBe(200);
    expect(viaGet.body?.data?.user).toMatchObject({ id: user.id, email: user.email });
  });

  it('a partner key cannot register an untrusted document: refused with 403 and not stored', async () => {
    const { query, hash } = freshQuery('users { totalCount }');
    const refused = await postJson(app.url, { query, extensions: persistedQuery(hash) }, partnerKey);
    expect(refused.status).toBe(403);
    expect(codeOf(refused)).toBe('FORBIDDEN');
    // Nothing was registered: the admin's hash-only request still misses.
    expect(codeOf(await postJson(app.url, { extensions: persistedQuery(hash) }, app.adminKey))).toBe('PERSISTED_QUERY_NOT_FOUND');
  });

  it('a document an admin registered stays untrusted for a partner key sending its hash', async () => {
    const { query, hash } = freshQuery('users { totalCount }');
    expect((await postJson(app.url, { query, extensions: persistedQuery(hash) }, app.adminKey)).status).toBe(200);
    const refused = await postJson(app.url, { extensions: persistedQuery(hash) }, partnerKey);
    expect(refused.status).toBe(403);
    expect(codeOf(refused)).toBe('FORBIDDEN');
  });

  describe('a partner key is refused before parsing (issue 11)', () => {
    const MESSAGE = 'API keys may only run the trusted operations in schema/operations, sent by their sha256Hash';
    const expectForbidden = (response: RawResponse) => {
      expect(response.status).toBe(403);
      expect(response.body).toEqual({ errors: [{ message: MESSAGE, extensions: { code: 'FORBIDDEN' } }] });
    };

    it.each([
      ['a field that does not exist', '{ users { nodes { passwordHash } } }'],
      ['a document that does not parse', '{ users { nodes { id '],
      ['a valid ad-hoc query', '{ users { totalCount } }'],
      ['an empty document', ''],
    ])('%s: 403 FORBIDDEN, never a parse or validation message', async (_what, query) => {
      expectForbidden(await postJson(app.url, { query }, partnerKey));
    });

    it('the trusted .graphql file sent verbatim is not the manifest text: 403, not "Unknown fragment"', async () => {
      const file = fs.readFileSync(path.join(root, 'schema', 'operations', 'get-user.graphql'), 'utf8');
      expect(trustedDocuments.some(({ text }) => text === file)).toBe(false);
      expectForbidden(await postJson(app.url, { query: file, variables: { id: 'usr_x' } }, partnerKey));
    });

    it('an unknown hash is 403, not PERSISTED_QUERY_NOT_FOUND (which would reveal what others registered)', async () => {
      const { query, hash } = freshQuery();
      expect((await postJson(app.url, { query, extensions: persistedQuery(hash) }, app.adminKey)).status).toBe(200);
      expectForbidden(await postJson(app.url, { extensions: persistedQuery(hash) }, partnerKey));
      expectForbidden(await postJson(app.url, { extensions: persistedQuery(freshQuery().hash) }, partnerKey));
    });

    it('a trusted hash with a different text, or a malformed persistedQuery, is 403', async () => {
      const getUser = trustedDocument('GetUser');
      expectForbidden(await postJson(app.url, { query: '{ users { totalCount } }', extensions: persistedQuery(getUser.hash) }, partnerKey));
      expectForbidden(await postJson(app.url, { extensions: { persistedQuery: 'x' } }, partnerKey));
      expectForbidden(await postJson(app.url, { query: 42 }, partnerKey));
    });

    it('over GET as well', async () => {
      const url = new URL(app.url);
      url.searchParams.set('query', '{ users { nodes { passwordHash } } }');
      expectForbidden(await send(url.toString(), { method: 'GET', headers: { authorization: `Bearer ${partnerKey}` } }));
    });

    it('an ad-hoc mutation is refused and changes nothing', async () => {
      const before = await tableCounts(app);
      expectForbidden(
        await postJson(app.url, { query: 'mutation { createUser(input: { email: "adhoc@example.com" }) { id } }' }, partnerKey),
      );
      expect(await tableCounts(app)).toEqual(before);
    });

    it('a trusted document runs by hash, by its exact manifest text, or by both', async () => {
      const user = await factory(app).user();
      const getUser = trustedDocument('GetUser');
      for (const body of [
        { variables: { id: user.id }, extensions: persistedQuery(getUser.hash) },
        { query: getUser.text, variables: { id: user.id } },
        { query: getUser.text, variables: { id: user.id }, extensions: persistedQuery(getUser.hash) },
      ]) {
        const response = await postJson(app.url, body, partnerKey);
        expect(response.body?.errors).toBeUndefined();
        expect(response.body?.data?.user).toMatchObject({ id: user.id });
      }
    });

    it('the admin and sessions still get parse and validation messages', async () => {
      for (const token of [app.adminKey, sessionToken]) {
        const invalid = await postJson(app.url, { query: '{ users { nodes { passwordHash } } }' }, token);
        expect(invalid.status).toBe(400);
        expect(codeOf(invalid)).toBe('GRAPHQL_VALIDATION_FAILED');
        const broken = await postJson(app.url, { query: '{ users { nodes { id ' }, token);
        expect(broken.status).toBe(400);
        expect(codeOf(broken)).toBe('GRAPHQL_PARSE_FAILED');
      }
    });
  });

  it('a mutation over GET by hash is refused with 405, and runs nothing', async () => {
    const user = await factory(app).user();
    const before = await tableCounts(app);
    const response = await getPersisted(app, trustedDocument('DeleteUser').hash, app.adminKey, { id: user.id });
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
    expect(await tableCounts(app)).toEqual(before);
  });

  it('refuses a hash that does not match the query, and does not store it', async () => {
    const { query } = freshQuery();
    const wrong = sha256Hex(`${query} # not the same`);
    const response = await postJson(app.url, { query, extensions: persistedQuery(wrong) }, app.adminKey);
    expect(response.status).toBe(400);
    expect(response.body?.errors?.[0]?.message).toBe('provided sha does not match query');
    expect(response.body?.data).toBeUndefined();
    expect(codeOf(await postJson(app.url, { extensions: persistedQuery(wrong) }, app.adminKey))).toBe(
      'PERSISTED_QUERY_NOT_FOUND',
    );
  });

  it('refuses an unsupported persisted query version', async () => {
    const { query, hash } = freshQuery();
    const response = await postJson(
      app.url,
      { query, extensions: { persistedQuery: { version: 2, sha256Hash: hash } } },
      app.adminKey,
    );
    expect(response.status).toBe(400);
    expect(response.body?.errors?.[0]?.message).toBe('Unsupported persisted query version');
  });

  it('still asks for credentials on a hash-only request', async () => {
    const response = await postJson(app.url, { extensions: persistedQuery(trustedDocument('Viewer').hash) }, null);
    expect(response.status).toBe(401);
    expect(codeOf(response)).toBe('UNAUTHENTICATED');
  });
});

/** Sorts what GraphQL does not order (selections, arguments, variables, definitions) so equal documents print equal. */
function canonical(document: DocumentNode): string {
  const byName = (a: { name?: { value: string } }, b: { name?: { value: string } }) =>
    (a.name?.value ?? '').localeCompare(b.name?.value ?? '');
  const sorted = visit(document, {
    SelectionSet: (node) => ({
      ...node,
      selections: [...node.selections].sort((a, b) => print(a).localeCompare(print(b))),
    }),
    Field: (node) => ({ ...node, arguments: [...(node.arguments ?? [])].sort(byName) }),
    OperationDefinition: (node) => ({
      ...node,
      variableDefinitions: [...(node.variableDefinitions ?? [])].sort((a, b) =>
        a.variable.name.value.localeCompare(b.variable.name.value),
      ),
    }),
  });
  const order = (d: DefinitionNode) => `${d.kind === Kind.FRAGMENT_DEFINITION ? 0 : 1}:${'name' in d ? d.name?.value : ''}`;
  return print({ ...sorted, definitions: [...sorted.definitions].sort((a, b) => order(a).localeCompare(order(b))) });
}

describe('the trusted-documents manifest (src/generated/persisted-documents.json)', () => {
  it('keys every document by the sha256 of its exact text, as sha256:<hex>', () => {
    expect(trustedDocuments.length).toBeGreaterThan(0);
    for (const { key, hash, text } of trustedDocuments) {
      expect(key).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect({ key, hash: sha256Hex(text) }).toEqual({ key, hash });
    }
  });

  it('holds exactly the operations of schema/operations/*.graphql, each with the fragments it uses', () => {
    const dir = path.join(root, 'schema', 'operations');
    const definitions = fs
      .readdirSync(dir)
      .filter((name) => name.endsWith('.graphql'))
      .flatMap((name) => parse(fs.readFileSync(path.join(dir, name), 'utf8')).definitions);
    const fragments = new Map(
      definitions
        .filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION)
        .map((d) => [d.name.value, d]),
    );
    const operations = definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);

    // The minimum set of partner operations is there.
    const names = operations.map((d) => ('name' in d ? d.name?.value : undefined));
    expect(names).toEqual(
      expect.arrayContaining(['GetUser', 'GetOrganization', 'DeleteUser', 'DeleteOrganization', 'CreateUser', 'AddMember']),
    );
    // Issue 9, credentials cannot grow: no key may mint a session (test/operations holds the tests' copy).
    expect(names).not.toContain('CreateSession');

    const expected = operations.map((operation) => {
      const used = new Set<string>();
      const collect = (node: DefinitionNode) =>
        visit(node, {
          FragmentSpread: (spread) => {
            if (used.has(spread.name.value)) return;
            used.add(spread.name.value);
            collect(fragments.get(spread.name.value)!);
          },
        });
      collect(operation);
      return canonical({ kind: Kind.DOCUMENT, definitions: [...[...used].map((n) => fragments.get(n)!), operation] });
    });
    const inManifest = trustedDocuments.map(({ text }) => canonical(parse(text)));
    expect(inManifest.sort()).toEqual(expected.sort());
  });

  it('is byte for byte what `npm run codegen` writes from the committed operations', () => {
    // In a child process: the codegen CLI loads ES modules jest's CommonJS runtime cannot require.
    const script = `
      const fs = require('node:fs');
      const { generate } = require('@graphql-codegen/cli');
      const config = require('yaml').parse(fs.readFileSync('codegen.yml', 'utf8'));
      generate({ ...config, cwd: process.cwd(), silent: true }, false).then(
        (files) => {
          const manifest = files.find((f) => f.filename.endsWith('persisted-documents.json'));
          process.stdout.write(manifest ? manifest.content : '');
        },
        (error) => { process.stderr.write(String((error && error.stack) || error)); process.exit(1); },
      );`;
    const generated = execFileSync(process.execPath, ['-e', script], { cwd: root, encoding: 'utf8' });
    const committed = fs.readFileSync(path.join(root, 'src', 'generated', 'persisted-documents.json'), 'utf8');
    if (generated !== committed) {
      throw new Error('src/generated/persisted-documents.json is stale: run `npm run codegen` and commit the result');
    }
    expect(generated.length).toBeGreaterThan(0);
  });
});

describe('APQ shared through Redis', () => {
  let redis: TestRedis;
  let one: TestApp;
  let two: TestApp;
  let alone: TestApp;
  beforeAll(async () => {
    redis = await useRedis();
    [one, two, alone] = await Promise.all([
      startTestApp({ REDIS_URL: redis.url }),
      startTestApp({ REDIS_URL: redis.url }),
      startTestApp(),
    ]);
  });
  afterAll(async () => {
    await Promise.all([one?.close(), two?.close(), alone?.close()]);
    await redis?.stop();
  });

  it('a document registered on instance one is served by hash on instance two', async () => {
    const { query, hash } = freshQuery();
    expect(codeOf(await postJson(two.url, { extensions: persistedQuery(hash) }, two.adminKey))).toBe(
      'PERSISTED_QUERY_NOT_FOUND',
    );

    const registered = await postJson(one.url, { query, extensions: persistedQuery(hash) }, one.adminKey);
    expect(registered.body).toEqual({ data: { viewer: { kind: 'ADMIN' } } });

    // Apollo stores the registration without awaiting it; wait until Redis holds it (no timing assertion).
    let keys: string[] = [];
    for (let attempt = 0; attempt < 50 && keys.length === 0; attempt += 1) {
      keys = (await redisCommand(redis.url, `KEYS *${hash}`)) as string[];
      if (keys.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatch(/^identity-gateway:apq/);

    const served = await postJson(two.url, { extensions: persistedQuery(hash) }, two.adminKey);
    expect(served.body).toEqual({ data: { viewer: { kind: 'ADMIN' } } });
    const servedByGet = await getPersisted(two, hash, two.adminKey);
    expect(servedByGet.body).toEqual({ data: { viewer: { kind: 'ADMIN' } } });

    // An instance without REDIS_URL keeps its own store and has not seen it.
    expect(codeOf(await postJson(alone.url, { extensions: persistedQuery(hash) }, alone.adminKey))).toBe(
      'PERSISTED_QUERY_NOT_FOUND',
    );
  });

  it('trusted documents are served by hash on every instance without being in Redis', async () => {
    const viewer = trustedDocument('Viewer');
    for (const app of [one, two]) {
      const response = await postJson(app.url, { extensions: persistedQuery(viewer.hash) }, app.adminKey);
      expect(response.body).toEqual({ data: { viewer: { kind: 'ADMIN', user: null, session: null } } });
    }
  });
});

describe('APQ when Redis is down', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ REDIS_URL: `redis://127.0.0.1:${await closedPort()}` });
  });
  afterAll(() => app?.close());

  it('still serves ordinary queries, registrations and trusted hashes: store errors are cache misses', async () => {
    const user = await factory(app).user();
    expect(ok(await app.gql<{ users: unknown }, unknown>(`{ users { totalCount } }`)).users).toEqual({ totalCount: 1 });

    const { query, hash } = freshQuery();
    const miss = await postJson(app.url, { extensions: persistedQuery(hash) }, app.adminKey);
    expect(codeOf(miss)).toBe('PERSISTED_QUERY_NOT_FOUND');
    const registered = await postJson(app.url, { query, extensions: persistedQuery(hash) }, app.adminKey);
    expect(registered.status).toBe(200);
    expect(registered.body).toEqual({ data: { viewer: { kind: 'ADMIN' } } });
    // Nowhere to keep it: hash-only is a miss again, and the client would register again.
    expect(codeOf(await postJson(app.url, { extensions: persistedQuery(hash) }, app.adminKey))).toBe(
      'PERSISTED_QUERY_NOT_FOUND',
    );

    const partner = await apiKey(app, ['USERS_READ']);
    const trusted = await postJson(
      app.url,
      { variables: { id: user.id }, extensions: persistedQuery(trustedDocument('GetUser').hash) },
      partner,
    );
    expect(trusted.body?.data?.user).toMatchObject({ id: user.id });
  });
});
