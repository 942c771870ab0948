import { startTestApp, type TestApp } from './support/app';
import { factory, ok, tableCounts } from './support/factory';
import { codeOf, postJson, send, type RawResponse } from './support/protocol';

/**
 * GraphQL over HTTP (https://graphql.github.io/graphql-over-http/draft/) as Apollo
 * Server 5 serves it, plus CSRF prevention, no batching, and CORS for browser apps.
 */

const GRAPHQL_RESPONSE = 'application/graphql-response+json';
const JSON_TYPE = 'application/json';

let app: TestApp;
let sessionToken: string;
let userId: string;
beforeAll(async () => {
  app = await startTestApp();
  const make = factory(app);
  const organization = await make.organization();
  const member = await make.signedInMember(organization.id, 'MEMBER');
  sessionToken = member.token;
  userId = member.user.id;
});
afterAll(() => app?.close());

type Caller = 'admin' | 'session' | 'nobody';
const tokenOf = (caller: Caller) => (caller === 'admin' ? app.adminKey : caller === 'session' ? sessionToken : null);

describe('status codes and content types', () => {
  const table: Array<{
    rule: string;
    accept?: string;
    caller: Caller;
    query: string;
    status: number;
    contentType: string;
    code?: string;
    data: 'absent' | 'null' | 'present';
  }> = [
    // application/graphql-response+json: the status code tells what went wrong.
    { rule: 'a successful query', accept: GRAPHQL_RESPONSE, caller: 'admin', query: '{ viewer { kind } }', status: 200, contentType: GRAPHQL_RESPONSE, data: 'present' },
    { rule: 'a parse error', accept: GRAPHQL_RESPONSE, caller: 'admin', query: '{ viewer { kind }', status: 400, contentType: GRAPHQL_RESPONSE, code: 'GRAPHQL_PARSE_FAILED', data: 'absent' },
    { rule: 'a validation error', accept: GRAPHQL_RESPONSE, caller: 'admin', query: '{ viewer { nope } }', status: 400, contentType: GRAPHQL_RESPONSE, code: 'GRAPHQL_VALIDATION_FAILED', data: 'absent' },
    { rule: 'missing credentials', accept: GRAPHQL_RESPONSE, caller: 'nobody', query: '{ viewer { kind } }', status: 401, contentType: GRAPHQL_RESPONSE, code: 'UNAUTHENTICATED', data: 'absent' },
    { rule: 'a FORBIDDEN root field, no data', accept: GRAPHQL_RESPONSE, caller: 'session', query: '{ apiKeys { id } }', status: 403, contentType: GRAPHQL_RESPONSE, code: 'FORBIDDEN', data: 'null' },
    { rule: 'a FORBIDDEN nullable field beside data (partial success)', accept: GRAPHQL_RESPONSE, caller: 'session', query: '{ viewer { kind } deletionReceipt(subjectId: "usr_01ARZ3NDEKTSV4RRFFQ69G5FAV") { id } }', status: 200, contentType: GRAPHQL_RESPONSE, code: 'FORBIDDEN', data: 'present' },
    { rule: 'a NOT_FOUND field error', accept: GRAPHQL_RESPONSE, caller: 'admin', query: 'mutation { deleteUser(id: "usr_01ARZ3NDEKTSV4RRFFQ69G5FAV") { deletedUserId } }', status: 200, contentType: GRAPHQL_RESPONSE, code: 'NOT_FOUND', data: 'null' },
    // application/json (legacy): 200 for anything GraphQL executed; Apollo keeps 400 for documents it cannot run.
    { rule: 'a successful query', accept: JSON_TYPE, caller: 'admin', query: '{ viewer { kind } }', status: 200, contentType: JSON_TYPE, data: 'present' },
    { rule: 'a parse error', accept: JSON_TYPE, caller: 'admin', query: '{ viewer { kind }', status: 400, contentType: JSON_TYPE, code: 'GRAPHQL_PARSE_FAILED', data: 'absent' },
    { rule: 'a validation error', accept: JSON_TYPE, caller: 'admin', query: '{ viewer { nope } }', status: 400, contentType: JSON_TYPE, code: 'GRAPHQL_VALIDATION_FAILED', data: 'absent' },
    { rule: 'missing credentials', accept: JSON_TYPE, caller: 'nobody', query: '{ viewer { kind } }', status: 401, contentType: JSON_TYPE, code: 'UNAUTHENTICATED', data: 'absent' },
    { rule: 'a FORBIDDEN root field, no data', accept: JSON_TYPE, caller: 'session', query: '{ apiKeys { id } }', status: 200, contentType: JSON_TYPE, code: 'FORBIDDEN', data: 'null' },
    // No Accept header at all: application/json.
    { rule: 'a successful query', caller: 'admin', query: '{ viewer { kind } }', status: 200, contentType: JSON_TYPE, data: 'present' },
    { rule: 'a FORBIDDEN root field, no data', caller: 'session', query: '{ apiKeys { id } }', status: 200, contentType: JSON_TYPE, code: 'FORBIDDEN', data: 'null' },
  ];

  it.each(table)('Accept $accept, $rule -> $status $contentType', async ({ accept, caller, query, status, contentType, code, data }) => {
    const response = await postJson(app.url, { query }, tokenOf(caller), accept ? { accept } : {});
    expect({ status: response.status, contentType: response.headers.get('content-type')?.split(';')[0], code: codeOf(response) }).toEqual({
      status,
      contentType,
      code,
    });
    if (data === 'absent') expect(response.body).not.toHaveProperty('data');
    if (data === 'null') expect(response.body?.data).toBeNull();
    if (data === 'present') expect(response.body?.data).toEqual(expect.objectContaining({ viewer: expect.anything() }));
  });

  it('an operation Apollo cannot pick is 400 OPERATION_RESOLUTION_FAILURE, for a query and for a mutation', async () => {
    for (const caller of ['admin', 'session'] as const) {
      for (const body of [
        { query: 'query A { viewer { kind } }', operationName: 'Nope' },
        { query: 'query A { viewer { kind } } query B { viewer { kind } }' },
        { query: 'mutation M { terminateSession(id: "ses_01ARZ3NDEKTSV4RRFFQ69G5FAV") { id } }', operationName: 'Other' },
      ]) {
        const response = await postJson(app.url, body, tokenOf(caller));
        expect({ status: response.status, code: codeOf(response) }).toEqual({ status: 400, code: 'OPERATION_RESOLUTION_FAILURE' });
      }
    }
  });

  it('a revoked or unknown token is 401 whatever the Accept header', async () => {
    for (const accept of [GRAPHQL_RESPONSE, JSON_TYPE]) {
      const response = await postJson(app.url, { query: '{ viewer { kind } }' }, 'isk_not-a-real-key', { accept });
      expect(response.status).toBe(401);
      expect(codeOf(response)).toBe('UNAUTHENTICATED');
    }
  });
});

describe('GET, CSRF prevention and batching', () => {
  const get = (params: Record<string, string>, headers: Record<string, string>) => {
    const url = new URL(app.url);
    for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
    return send(url.toString(), { method: 'GET', headers });
  };
  const auth = () => ({ authorization: `Bearer ${app.adminKey}` });

  it('serves a query over GET with a preflight-forcing header', async () => {
    const response = await get({ query: '{ viewer { kind } }' }, { ...auth(), 'apollo-require-preflight': 'true' });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ data: { viewer: { kind: 'ADMIN' } } });
  });

  it('refuses a mutation over GET with 405 Allow: POST, changing nothing', async () => {
    const user = await factory(app).user();
    const before = await tableCounts(app);
    const response = await get(
      { query: 'mutation($id: ID!) { deleteUser(id: $id) { deletedUserId } }', variables: JSON.stringify({ id: user.id }) },
      { ...auth(), 'apollo-require-preflight': 'true' },
    );
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
    expect(codeOf(response)).toBe('BAD_REQUEST');
    expect(await tableCounts(app)).toEqual(before);
    expect(await app.sql(`SELECT 1 FROM users WHERE id = $1`, [user.id])).toHaveLength(1);
  });

  const csrfRefused = (response: RawResponse) => {
    expect(response.status).toBe(400);
    expect(response.text).toMatch(/CSRF/);
  };

  // Issue 11: urql's and graphql-request's GET mode sends Authorization and nothing else.
  // A cross-site page cannot attach that header without a CORS preflight, and the server
  // uses no cookies, so such a GET is no CSRF vector.
  it.each<Caller>(['admin', 'session'])('serves a GET query that carries only Authorization (%s)', async (caller) => {
    const response = await get({ query: '{ viewer { kind } }' }, { authorization: `Bearer ${tokenOf(caller)}` });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({ data: { viewer: { kind: caller === 'admin' ? 'ADMIN' : 'SESSION' } } });
  });

  it('answers a GET without credentials 401 with the challenge, not as CSRF, before running anything', async () => {
    const before = app.queries.count;
    const withoutBearer: Array<Record<string, string>> = [{}, { authorization: 'Basic dXNlcjpwYXNz' }];
    for (const headers of withoutBearer) {
      const response = await get({ query: '{ users { nodes { id email } } }' }, headers);
      expect(response.status).toBe(401);
      expect(codeOf(response)).toBe('UNAUTHENTICATED');
      expect(response.headers.get('www-authenticate')).toBe('Bearer realm="identity-gateway"');
      expect(response.body).not.toHaveProperty('data');
    }
    expect(app.queries.count).toBe(before);
  });

  it('still refuses a mutation over GET without a preflight header: 405, changing nothing', async () => {
    const user = await factory(app).user();
    const before = await tableCounts(app);
    const response = await get(
      { query: 'mutation($id: ID!) { deleteUser(id: $id) { deletedUserId } }', variables: JSON.stringify({ id: user.id }) },
      auth(),
    );
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
    expect(await tableCounts(app)).toEqual(before);
    expect(await app.sql(`SELECT 1 FROM users WHERE id = $1`, [user.id])).toHaveLength(1);
  });

  it('accepts a GET whose only non-simple header is x-apollo-operation-name', async () => {
    const response = await get({ query: 'query V { viewer { kind } }' }, { ...auth(), 'x-apollo-operation-name': 'V' });
    expect(response.status).toBe(200);
  });

  it.each(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x'])(
    'refuses a POST with the simple content type %s, changing nothing',
    async (contentType) => {
      const user = await factory(app).user();
      const before = await tableCounts(app);
      const response = await send(app.url, {
        method: 'POST',
        headers: { ...auth(), 'content-type': contentType },
        body: JSON.stringify({ query: `mutation { deleteUser(id: "${user.id}") { deletedUserId } }` }),
      });
      csrfRefused(response);
      expect(await tableCounts(app)).toEqual(before);
    },
  );

  it('refuses a batched request (a JSON array), running none of it', async () => {
    const user = await factory(app).user();
    const before = await tableCounts(app);
    const response = await postJson(
      app.url,
      [{ query: '{ viewer { kind } }' }, { query: `mutation { deleteUser(id: "${user.id}") { deletedUserId } }` }],
      app.adminKey,
    );
    expect(response.status).toBe(400);
    expect(response.text).toMatch(/batch/i);
    expect(await tableCounts(app)).toEqual(before);
  });

  it('still serves the session user a normal POST', async () => {
    const response = await postJson(app.url, { query: '{ viewer { kind user { id } } }' }, sessionToken);
    expect(response.body).toEqual({ data: { viewer: { kind: 'SESSION', user: { id: userId } } } });
  });
});

describe('WWW-Authenticate on every 401 (RFC 6750 §3)', () => {
  const challenge = 'Bearer realm="identity-gateway"';
  const invalidToken = 'Bearer realm="identity-gateway", error="invalid_token"';

  it.each([GRAPHQL_RESPONSE, JSON_TYPE])('no Authorization header: the realm only (Accept %s)', async (accept) => {
    const response = await postJson(app.url, { query: '{ viewer { kind } }' }, null, { accept });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe(challenge);
  });

  it.each([
    ['an unknown session token', 'sst_not-a-session'],
    ['an unknown API key', 'isk_not-a-key'],
    ['a token of no known kind', 'something-else'],
  ])('%s: error="invalid_token"', async (_what, token) => {
    const response = await postJson(app.url, { query: '{ viewer { kind } }' }, token);
    expect(response.status).toBe(401);
    expect(codeOf(response)).toBe('UNAUTHENTICATED');
    expect(response.headers.get('www-authenticate')).toBe(invalidToken);
  });

  it('a terminated session: error="invalid_token", where the same token worked before', async () => {
    const make = factory(app);
    const organization = await make.organization();
    const member = await make.signedInMember(organization.id, 'MEMBER');
    const working = await postJson(app.url, { query: '{ viewer { kind } }' }, member.token);
    expect(working.status).toBe(200);
    expect(working.headers.get('www-authenticate')).toBeNull();

    ok(await app.gql('mutation ($id: ID!) { terminateSession(id: $id) { id } }', { id: member.session.id }));
    expect(await app.sql('SELECT 1 FROM sessions WHERE id = $1 AND terminated_at IS NOT NULL', [member.session.id])).toHaveLength(1);
    for (const accept of [GRAPHQL_RESPONSE, JSON_TYPE]) {
      const refused = await postJson(app.url, { query: '{ viewer { kind } }' }, member.token, { accept });
      expect({ accept, status: refused.status, challenge: refused.headers.get('www-authenticate') }).toEqual({
        accept,
        status: 401,
        challenge: invalidToken,
      });
    }
    // Over GET as well.
    const url = new URL(app.url);
    url.searchParams.set('query', '{ viewer { kind } }');
    const viaGet = await send(url.toString(), { method: 'GET', headers: { authorization: `Bearer ${member.token}` } });
    expect(viaGet.status).toBe(401);
    expect(viaGet.headers.get('www-authenticate')).toBe(invalidToken);
  });

  it('no other answer carries it', async () => {
    for (const response of [
      await postJson(app.url, { query: '{ viewer { kind } }' }, app.adminKey),
      await postJson(app.url, { query: '{ apiKeys { id } }' }, sessionToken, { accept: GRAPHQL_RESPONSE }), // 403
      await postJson(app.url, { query: '{ viewer { nope } }' }, app.adminKey), // 400
    ]) {
      expect(response.status).not.toBe(401);
      expect(response.headers.get('www-authenticate')).toBeNull();
    }
  });
});

describe('CORS', () => {
  function preflight(target: TestApp, origin: string) {
    return send(target.url, {
      method: 'OPTIONS',
      headers: {
        origin,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    });
  }
  function post(target: TestApp, origin: string) {
    return send(target.url, {
      method: 'POST',
      headers: { origin, 'content-type': 'application/json', authorization: `Bearer ${target.adminKey}` },
      body: JSON.stringify({ query: '{ viewer { kind } }' }),
    });
  }

  async function expectAllowed(target: TestApp, origin: string) {
    const pre = await preflight(target, origin);
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe(origin);
    expect(pre.headers.get('access-control-allow-methods')?.split(',')).toContain('POST');
    expect(pre.headers.get('access-control-allow-headers')?.toLowerCase().split(',')).toEqual(
      expect.arrayContaining(['authorization', 'content-type', 'apollo-require-preflight']),
    );
    expect(pre.headers.get('access-control-allow-credentials')).toBeNull();
    expect(pre.headers.get('vary')).toMatch(/Origin/);

    const actual = await post(target, origin);
    expect(actual.status).toBe(200);
    expect(actual.headers.get('access-control-allow-origin')).toBe(origin);
    expect(actual.headers.get('vary')).toMatch(/Origin/);
  }

  async function expectRefused(target: TestApp, origin: string) {
    const pre = await preflight(target, origin);
    expect(pre.headers.get('access-control-allow-origin')).toBeNull();
    expect(pre.headers.get('access-control-allow-headers')).toBeNull();
    const actual = await post(target, origin);
    // The server still answers (CORS is enforced by the browser); it just grants nothing.
    expect(actual.headers.get('access-control-allow-origin')).toBeNull();
  }

  describe('default development config: any localhost origin', () => {
    let development: TestApp;
    beforeAll(async () => {
      development = await startTestApp({ NODE_ENV: 'development', LOG_LEVEL: 'silent' });
    });
    afterAll(() => development?.close());

    it.each(['http://localhost:5173', 'http://127.0.0.1:3000', 'http://localhost', 'https://localhost:8443'])(
      'allows %s',
      (origin) => expectAllowed(development, origin),
    );
    it.each(['http://evil.example', 'http://localhost.evil.example', 'http://evil.example/http://localhost:5173', 'null'])(
      'grants nothing to %s',
      (origin) => expectRefused(development, origin),
    );
  });

  describe('CORS_ORIGINS=https://app.example.com: only that origin', () => {
    let configured: TestApp;
    beforeAll(async () => {
      configured = await startTestApp({ CORS_ORIGINS: 'https://app.example.com', LOG_LEVEL: 'silent' });
    });
    afterAll(() => configured?.close());

    it('allows https://app.example.com', () => expectAllowed(configured, 'https://app.example.com'));
    it.each(['http://app.example.com', 'https://app.example.com:8443', 'https://evil.app.example.com', 'http://localhost:5173'])(
      'grants nothing to %s',
      (origin) => expectRefused(configured, origin),
    );
  });

  describe('NODE_ENV=production without CORS_ORIGINS: no origin', () => {
    let production: TestApp;
    beforeAll(async () => {
      production = await startTestApp({ NODE_ENV: 'production', LOG_LEVEL: 'silent' });
    });
    afterAll(() => production?.close());

    it.each(['http://localhost:5173', 'https://app.example.com', 'http://evil.example'])('grants nothing to %s', (origin) =>
      expectRefused(production, origin),
    );
    it('still serves same-origin and server-to-server requests (no Origin header)', async () => {
      expect(ok(await production.gql<{ viewer: { kind: string } }, unknown>('{ viewer { kind } }')).viewer.kind).toBe('ADMIN');
    });
  });

  describe('NODE_ENV=production with CORS_ORIGINS=https://app.example.com (GraphiQL off)', () => {
    let production: TestApp;
    beforeAll(async () => {
      production = await startTestApp({ NODE_ENV: 'production', CORS_ORIGINS: 'https://app.example.com', LOG_LEVEL: 'silent' });
    });
    afterAll(() => production?.close());

    it('allows https://app.example.com', () => expectAllowed(production, 'https://app.example.com'));
    it('grants nothing to http://localhost:5173', () => expectRefused(production, 'http://localhost:5173'));
  });
});
