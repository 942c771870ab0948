import { randomBytes } from 'node:crypto';
import type { GraphQLObjectType } from 'graphql';
import * as graphqlExecute from 'graphql/execution/execute';
import { loadConfig } from '../src/config';
import { buildAppSchema } from '../src/http/schema';
import { startServer, type RunningServer } from '../src/http/server';
import { createLogger } from '../src/logger';
import { Session } from '../src/sessions/session.entity';
import { startTestApp, type TestApp } from './support/app';
import { factory, ok } from './support/factory';
import { CreateSessionDocument } from './generated/graphql';

/**
 * Issue 13: queries run on graphql-jit (GRAPHQL_JIT, default on; src/http/jit-executor.ts).
 * Two servers share this file's database and data: the app's, on graphql-jit, and one with
 * GRAPHQL_JIT=false, on graphql-js. Each query below must get the same status and body from
 * both; graphql-js's `execute` is watched to tell which executor ran.
 */

let app: TestApp;
let plain: RunningServer;
let plainAdminKey: string;
let organizationId: string;
let memberToken: string;
const execute = jest.spyOn(graphqlExecute, 'execute');

beforeAll(async () => {
  app = await startTestApp();
  const make = factory(app);
  const organization = await make.organization();
  organizationId = organization.id;
  for (let i = 0; i < 5; i++) {
    const user = await make.user();
    await make.member(organizationId, user.id, i === 0 ? 'OWNER' : 'MEMBER');
    for (let s = 0; s < i % 3; s++) await make.session(user.id, organizationId);
  }
  memberToken = (await make.signedInMember(organizationId, 'MEMBER')).token;
  plainAdminKey = `adm_test_${randomBytes(16).toString('hex')}`;
  plain = await startServer(
    {
      config: loadConfig({ NODE_ENV: 'test', GRAPHQL_JIT: 'false' }),
      dataSource: app.dataSource,
      schema: await buildAppSchema(),
      logger: createLogger('silent'),
      adminApiKey: plainAdminKey,
    },
    { host: '127.0.0.1', port: 0 },
  );
});
afterAll(async () => {
  await plain?.stop();
  await app?.close();
});

interface Answer {
  status: number;
  body: { data?: unknown; errors?: Array<{ message: string; path?: unknown; extensions?: { code?: string } }> };
}

async function post(url: string, token: string | null, body: Record<string, unknown>): Promise<Answer> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Answer['body'] };
}

/** The answers of both servers, and how often graphql-js's execute ran for the jit server's. */
async function both(body: Record<string, unknown>, caller: 'admin' | 'member' = 'admin') {
  execute.mockClear();
  const jit = await post(app.url, caller === 'admin' ? app.adminKey : memberToken, body);
  const executeCalls = execute.mock.calls.length;
  const js = await post(plain.url, caller === 'admin' ? plainAdminKey : memberToken, body);
  return { jit, js, executeCalls };
}

const MEMBER_LIST = `query MemberList($id: ID!, $first: Int) {
  organization(id: $id) {
    id name settings createdAt domains { domain verified }
    memberships(first: $first) {
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes { id role createdAt user { id email name sessions { id status expiresAt terminatedAt } memberships { role organization { id } } } }
    }
    invitations { totalCount nodes { id } }
  }
}`;

describe('queries on graphql-jit answer as graphql-js does', () => {
  it('the member list with every count, scalar and nested list: same JSON, and graphql-js never ran', async () => {
    for (const first of [2, 100]) {
      for (let round = 0; round < 2; round++) {
        const { jit, js, executeCalls } = await both({ query: MEMBER_LIST, variables: { id: organizationId, first } });
        expect(jit).toEqual(js);
        expect(jit.body.errors).toBeUndefined();
        expect(executeCalls).toBe(0);
      }
    }
    const { jit } = await both({ query: MEMBER_LIST, variables: { id: organizationId, first: 100 } });
    const connection = (jit.body.data as { organization: { memberships: { totalCount: number; nodes: unknown[] } } }).organization.memberships;
    const [{ count }] = await app.sql<{ count: string }>('SELECT count(*) FROM memberships WHERE organization_id = $1', [organizationId]);
    expect(connection.totalCount).toBe(Number(count));
    expect(connection.nodes).toHaveLength(Number(count));
  });

  it('totalCount, counted lazily, is awaited inside the read snapshot on every connection type', async () => {
    const query = `query Counts { organizations(first: 1) { totalCount } users(first: 1) { totalCount }
      viewer { invitations { totalCount } } webhookEndpoints { totalCount } }`;
    const { jit, js, executeCalls } = await both({ query });
    expect(jit).toEqual(js);
    expect(jit.status).toBe(200);
    expect(jit.body.errors).toBeUndefined();
    expect(executeCalls).toBe(0);
    const [{ count }] = await app.sql<{ count: string }>('SELECT count(*) FROM users');
    expect((jit.body.data as { users: { totalCount: number } }).users.totalCount).toBe(Number(count));
  });

  it('an error in one root field: the same partial data, path and code', async () => {
    const query = `query Partial($bad: ID!, $id: ID!) { bad: user(id: $bad) { id } good: organization(id: $id) { id } }`;
    const { jit, js, executeCalls } = await both({ query, variables: { bad: 'not-an-id', id: organizationId } });
    expect(jit).toEqual(js);
    expect(jit.body.errors?.[0]).toMatchObject({ path: ['bad'], extensions: { code: 'BAD_USER_INPUT' } });
    expect(jit.body.data).toEqual({ bad: null, good: { id: organizationId } });
    expect(executeCalls).toBe(0);
  });

  it('a refusal below the root, for a signed-in member: the same answer and code', async () => {
    const query = `query Refused { users(first: 1) { totalCount } }`;
    const { jit, js } = await both({ query }, 'member');
    expect(jit).toEqual(js);
    expect(jit.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  it('variables of the wrong type: 400 BAD_USER_INPUT with graphql-js’s message, no resolver run', async () => {
    const before = await app.sql('SELECT count(*) FROM events');
    const { jit, js, executeCalls } = await both({ query: MEMBER_LIST, variables: { id: organizationId, first: 'ten' } });
    expect(jit).toEqual(js);
    expect(jit.status).toBe(400);
    expect(jit.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    // graphql-jit refused them first; graphql-js then answered with its own message.
    expect(executeCalls).toBe(1);
    expect(await app.sql('SELECT count(*) FROM events')).toEqual(before);
  });

  it('an operation name that names no operation: 400 OPERATION_RESOLUTION_FAILURE', async () => {
    const { jit, js } = await both({ query: MEMBER_LIST, operationName: 'Other', variables: { id: organizationId } });
    expect(jit).toEqual(js);
    expect(jit.status).toBe(400);
    expect(jit.body.errors?.[0]?.extensions?.code).toBe('OPERATION_RESOLUTION_FAILURE');
  });
});

describe('what graphql-jit got wrong, answered as graphql-js does (review of 2026-12-01)', () => {
  it('@skip on one spread of a fragment leaves its other spreads, and other operations, alone', async () => {
    const cases: Array<Record<string, unknown>> = [
      {
        query: `query SkipOne($id: ID!, $s: Boolean!) { a: organization(id: $id) { ...F @skip(if: $s) } b: organization(id: $id) { ...F } }
          fragment F on Organization { name }`,
        variables: { id: organizationId, s: true },
      },
      { query: `query SkipTwice($s: Boolean!) { viewer { ...V @skip(if: $s) ...V } } fragment V on Viewer { kind }`, variables: { s: true } },
      { query: `query SkipInclude($s: Boolean!) { viewer { ...V @include(if: $s) } } fragment V on Viewer { kind }`, variables: { s: false } },
    ];
    for (const body of cases) {
      for (let round = 0; round < 2; round++) {
        const { jit, js, executeCalls } = await both(body);
        expect(jit).toEqual(js);
        // Not compiled: graphql-js answered on the jit server too.
        expect(executeCalls).toBe(1);
      }
    }
    const b = (await both(cases[0])).jit.body.data as { b: { name: string } };
    expect(b.b.name).toEqual(expect.any(String));
    const twoOperations = `query A($s: Boolean!) { viewer { ...V @skip(if: $s) } } query B { viewer { ...V } } fragment V on Viewer { kind }`;
    await both({ query: twoOperations, operationName: 'A', variables: { s: true } });
    const { jit, js } = await both({ query: twoOperations, operationName: 'B' });
    expect(jit).toEqual(js);
    expect(jit.body.data).toEqual({ viewer: { kind: 'ADMIN' } });
  });

  it('an error graphql-jit raises itself (a value its scalar cannot serialize) is "Internal server error", never the value', async () => {
    const user = await factory(app).user();
    const { session } = await factory(app).session(user.id);
    // pg reads `infinity` as the number Infinity: DateTimeISO cannot serialize it; the status reads as ACTIVE.
    await app.sql(`UPDATE sessions SET expires_at = 'infinity' WHERE id = $1`, [session.id]);
    const query = `query Sessions($id: ID!) { user(id: $id) { sessions { id status expiresAt } } }`;
    for (let round = 0; round < 2; round++) {
      const { jit, js, executeCalls } = await both({ query, variables: { id: user.id } });
      expect(jit).toEqual(js);
      expect(executeCalls).toBe(0);
      expect(jit.body.errors?.[0]).toMatchObject({ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } });
      expect(JSON.stringify(jit.body)).not.toMatch(/Infinity|cannot represent/i);
    }
    const status = await both({ query: `query Status($id: ID!) { user(id: $id) { sessions { id status } } }`, variables: { id: user.id } });
    expect(status.jit).toEqual(status.js);
    expect(status.jit.body.data).toEqual({ user: { sessions: [{ id: session.id, status: 'ACTIVE' }] } });
  });

  it('a getter-backed field that throws is answered, not left hanging (type-graphql gives a @Field getter a resolver)', async () => {
    const user = await factory(app).user();
    await factory(app).session(user.id);
    const getter = jest.spyOn(Session.prototype, 'status', 'get').mockImplementation(() => {
      throw new Error('status failed: secret@example.com');
    });
    try {
      // Through the root's promise (user) and through the member list's settled loaders (organization).
      const queries = [
        { query: `query Status($id: ID!) { user(id: $id) { id sessions { id status } } }`, variables: { id: user.id } },
        {
          query: `query MemberStatus($id: ID!) { organization(id: $id) { memberships { nodes { user { sessions { status } } } } } }`,
          variables: { id: organizationId },
        },
        { query: `query ViewerStatus { viewer { session { status } } }` },
      ];
      for (const body of queries) {
        for (let round = 0; round < 2; round++) {
          const { jit, js } = await both(body, body.query.includes('Viewer') ? 'member' : 'admin');
          // graphql-js stops a list at its first failing item, graphql-jit reports each: the
          // same data and status, errors of the same kind.
          expect({ status: jit.status, data: jit.body.data }).toEqual({ status: js.status, data: js.body.data });
          for (const error of [...(jit.body.errors ?? []), ...(js.body.errors ?? [])]) {
            expect(error).toMatchObject({ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } });
          }
          expect(jit.body.errors?.length).toBeGreaterThan(0);
        }
      }
      expect(getter).toHaveBeenCalled();
    } finally {
      getter.mockRestore();
    }
    const schema = await buildAppSchema();
    const fields = (type: string) => (schema.getType(type) as GraphQLObjectType).getFields();
    expect(fields('Session').status.resolve).toEqual(expect.any(Function));
    expect(fields('Invitation').status.resolve).toEqual(expect.any(Function));
    expect(fields('Session').id.resolve).toBeUndefined();
  }, 20_000);
});

describe('what stays on graphql-js', () => {
  it('a query holding a string literal (not cached, so not compiled)', async () => {
    const query = `{ organization(id: "${organizationId}") { id memberships { totalCount } } }`;
    const { jit, js, executeCalls } = await both({ query });
    expect(jit).toEqual(js);
    expect(executeCalls).toBe(1);
  });

  it('a mutation', async () => {
    const user = await factory(app).user();
    execute.mockClear();
    ok(await app.gql(CreateSessionDocument, { input: { userId: user.id } }));
    expect(execute).toHaveBeenCalledTimes(1);
    const rows = await app.sql('SELECT id FROM sessions WHERE user_id = $1', [user.id]);
    expect(rows).toHaveLength(1);
  });

  it('every operation when GRAPHQL_JIT=false', async () => {
    execute.mockClear();
    await post(plain.url, plainAdminKey, { query: MEMBER_LIST, variables: { id: organizationId } });
    expect(execute).toHaveBeenCalledTimes(1);
    expect(loadConfig({}).graphqlJit).toBe(true);
  });
});
