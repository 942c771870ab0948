import { randomBytes } from 'node:crypto';
import { parse, type OperationDefinitionNode } from 'graphql';
import { Client } from 'pg';
import { ConfigError, loadConfig } from '../src/config';
import { QueryCounter } from '../src/database/query-counter';
import { readsPrimary, ReplicaReads } from '../src/database/replica';
import { buildAppSchema } from '../src/http/schema';
import { startServer, type RunningServer } from '../src/http/server';
import { createLogger } from '../src/logger';
import { startTestApp, type TestApp } from './support/app';

/**
 * Issue 14, "Optional read replica", without a replica: which pool serves which statement.
 * The "replica" here is a second pool to this file's own database (so its data is always
 * current), counted by a QueryCounter of its own; the primary's is the app's. What a real,
 * lagging replica shows is proven by test/cluster/replica.cluster.ts (`npm run test:cluster`).
 */

let app: TestApp;
const logger = createLogger('silent');
const schema = buildAppSchema();

interface Routed {
  url: string;
  readyz: string;
  replica: ReplicaReads;
  replicaQueries: QueryCounter;
  server: RunningServer;
  adminKey: string;
}

async function routedServer(replicaUrl: string, env: Record<string, string> = {}): Promise<Routed> {
  const config = loadConfig({ NODE_ENV: 'test', ...env });
  const replicaQueries = new QueryCounter();
  const replica = new ReplicaReads(app.dataSource, replicaUrl, config, logger, replicaQueries);
  await replica.open();
  const adminKey = `adm_test_${randomBytes(16).toString('hex')}`;
  const server = await startServer(
    { config, dataSource: app.dataSource, replica, schema: await schema, logger, adminApiKey: adminKey },
    { host: '127.0.0.1', port: 0 },
  );
  return { url: server.url, readyz: new URL('/readyz', server.url).toString(), replica, replicaQueries, server, adminKey };
}

async function gql(routed: Routed, query: string, variables: Record<string, unknown> = {}, token = routed.adminKey) {
  const response = await fetch(routed.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, body: (await response.json()) as { data?: any; errors?: Array<{ extensions?: { code?: string } }> } };
}

/** Statements each pool ran for `work`. */
async function statements(routed: Routed, work: () => Promise<unknown>): Promise<{ primary: number; replica: number }> {
  const primary = app.queries.count;
  const replica = routed.replicaQueries.count;
  await work();
  return { primary: app.queries.count - primary, replica: routed.replicaQueries.count - replica };
}

beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app.close());

describe('DATABASE_REPLICA_URL (issue 14)', () => {
  it('is validated once, at configuration', () => {
    expect(() => loadConfig({ DATABASE_REPLICA_URL: 'postgres://r/db' })).toThrow(ConfigError);
    expect(() => loadConfig({ DATABASE_URL: 'postgres://p/db', DATABASE_REPLICA_URL: 'mysql://r/db' })).toThrow(ConfigError);
    expect(() => loadConfig({ DATABASE_URL: 'postgres://p/db', DB_REPLICA_POOL_SIZE: '0' })).toThrow(ConfigError);
    const config = loadConfig({ DATABASE_URL: 'postgres://p/db', DATABASE_REPLICA_URL: 'postgres://r/db', DB_POOL_SIZE: '7' });
    expect(config).toMatchObject({ databaseReplicaUrl: 'postgres://r/db', dbReplicaPoolSize: 7 });
    expect(loadConfig({}).databaseReplicaUrl).toBeUndefined();
  });
});

describe('readsPrimary: root fields that read the primary even with a replica', () => {
  const operation = (text: string) => {
    const document = parse(text);
    return { document, operation: document.definitions.find((d) => d.kind === 'OperationDefinition') as OperationDefinitionNode };
  };
  it.each([
    ['{ viewer { kind } }', true],
    ['{ me: viewer { kind } }', true],
    ['{ deletionReceipt(subjectId: "x") { id } }', true],
    ['{ user(id: "x") { id } viewer { kind } }', true],
    ['query Q { ...F } fragment F on Query { deletionReceipt(subjectId: "x") { id } }', true],
    ['{ ... on Query { viewer { kind } } }', true],
    ['{ user(id: "x") { id } }', false],
    ['{ organizations { nodes { id } } __typename }', false],
    ['query Q { ...F } fragment F on Query { users { totalCount } }', false],
  ])('%s → %s', (text, expected) => {
    const { document, operation: op } = operation(text);
    expect(readsPrimary(op, document)).toBe(expected);
  });
});

describe('with a replica pool', () => {
  let routed: Routed;
  beforeAll(async () => {
    routed = await routedServer(app.databaseUrl);
  });
  afterAll(async () => {
    await routed.server.stop();
    await routed.replica.close();
  });

  it('is ready, and says the replica is in use', async () => {
    const response = await fetch(routed.readyz);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ready', replica: 'in use' });
  });

  let userId: string;
  let token: string;

  it('mutations and their payloads use the primary only', async () => {
    const counts = await statements(routed, async () => {
      const created = await gql(routed, 'mutation { createUser(input: { email: "replica-routing@example.com", name: "R" }) { id email memberships { id } sessions { id } } }');
      expect(created.body.errors).toBeUndefined();
      userId = created.body.data.createUser.id;
      const session = await gql(routed, 'mutation S($id: ID!) { createSession(input: { userId: $id }) { token session { user { id } } } }', { id: userId });
      expect(session.body.data.createSession.session.user.id).toBe(userId);
      token = session.body.data.createSession.token;
    });
    expect(counts.primary).toBeGreaterThan(0);
    expect(counts.replica).toBe(0);
    expect(await app.sql('SELECT email FROM users WHERE id = $1', [userId])).toEqual([{ email: 'replica-routing@example.com' }]);
    expect(await app.sql('SELECT 1 FROM sessions WHERE user_id = $1 AND terminated_at IS NULL', [userId])).toHaveLength(1);
  });

  it('a plain query reads the replica; a session is authenticated on the primary', async () => {
    const asAdmin = await statements(routed, async () => {
      const answer = await gql(routed, 'query U($id: ID!) { user(id: $id) { id sessions { id } } }', { id: userId });
      expect(answer.body.data.user.id).toBe(userId);
    });
    // BEGIN, the user, the sessions, COMMIT: all on the replica. The admin key needs no statement.
    expect(asAdmin.primary).toBe(0);
    expect(asAdmin.replica).toBeGreaterThanOrEqual(3);

    const asSession = await statements(routed, async () => {
      const answer = await gql(routed, 'query U($id: ID!) { user(id: $id) { id } }', { id: userId }, token);
      expect(answer.body.data.user.id).toBe(userId);
    });
    expect(asSession.primary).toBe(1); // the session token's lookup
    expect(asSession.replica).toBeGreaterThanOrEqual(2);
  });

  it("a signed-in caller's own memberships (the access check) are read from the primary, once; the data from the replica", async () => {
    const organization = await gql(routed, 'mutation { createOrganization(input: { name: "Replica access" }) { id } }');
    const organizationId = organization.body.data.createOrganization.id;
    const added = await gql(routed, 'mutation A($o: ID!, $u: ID!) { addMember(input: { organizationId: $o, userId: $u, role: MEMBER }) { id } }', { o: organizationId, u: userId });
    expect(added.body.errors).toBeUndefined();

    const spy = jest.spyOn(Client.prototype, 'query');
    let primaryText: string[] = [];
    let replicaText: string[] = [];
    try {
      const counts = await statements(routed, async () => {
        // Three checks (the organization, its member list, the member's user): one load of the caller's memberships.
        const answer = await gql(
          routed,
          'query O($id: ID!) { organization(id: $id) { id domains { domain } memberships { nodes { user { id email } } } } }',
          { id: organizationId },
          token,
        );
        expect(answer.body.errors).toBeUndefined();
        expect(answer.body.data.organization.memberships.nodes.map((node: { user: { id: string } }) => node.user.id)).toEqual([userId]);
      });
      const textOf = (pgClient: typeof Client) =>
        spy.mock.calls
          .filter((_call, index) => spy.mock.contexts[index] instanceof pgClient)
          .map(([first]) => (typeof first === 'string' ? first : String((first as { text?: unknown }).text)));
      primaryText = textOf(app.queries.pgClient);
      replicaText = textOf(routed.replicaQueries.pgClient);
      // The session token's lookup and the caller's memberships, outside the snapshot; nothing else.
      expect(counts.primary).toBe(2);
      expect(counts.replica).toBeGreaterThanOrEqual(4); // BEGIN, the organization, domains, members, COMMIT
    } finally {
      spy.mockRestore();
    }
    expect(primaryText[0]).toMatch(/FROM sessions/);
    expect(primaryText[1]).toMatch(/FROM memberships m WHERE m\.user_id = ANY/);
    expect(primaryText[1]).not.toMatch(/^BEGIN/);
    expect(replicaText[0]).toMatch(/^BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY/);
    expect(replicaText.some((text) => /FROM organizations/i.test(text))).toBe(true);

    // Not a member any more: the primary's answer decides at once, whatever the replica holds.
    const removed = await gql(routed, 'mutation R($o: ID!, $u: ID!) { removeMember(organizationId: $o, userId: $u) { id } }', { o: organizationId, u: userId });
    expect(removed.body.errors).toBeUndefined();
    const hidden = await gql(routed, 'query O($id: ID!) { organization(id: $id) { id } }', { id: organizationId }, token);
    expect(hidden.body.data.organization).toBeNull();
  });

  it('viewer and deletionReceipt read the primary, even beside other root fields', async () => {
    // viewer as the session (its user and session read on the primary), deletionReceipt as the admin.
    for (const [query, variables, as] of [
      ['{ viewer { kind user { id } session { id } } }', {}, token],
      ['query R($id: ID!) { user(id: $id) { id } deletionReceipt(subjectId: $id) { id } }', { id: userId }, routed.adminKey],
    ] as const) {
      const counts = await statements(routed, async () => {
        const answer = await gql(routed, query, variables, as);
        expect(answer.body.errors).toBeUndefined();
      });
      expect(counts.replica).toBe(0);
      expect(counts.primary).toBeGreaterThanOrEqual(2);
    }
  });

  it('a terminated session is refused at once, whatever the query reads', async () => {
    const terminated = await gql(routed, 'mutation T($id: ID!) { terminateUserSessions(userId: $id) { id } }', { id: userId });
    expect(terminated.body.errors).toBeUndefined();
    const answer = await gql(routed, 'query U($id: ID!) { user(id: $id) { id } }', { id: userId }, token);
    expect(answer.status).toBe(401);
    expect(answer.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });
});

describe('DB_PREPARED_STATEMENTS with a replica', () => {
  it("holds for the replica's pool too: a read there sends the loaders' statements by name only when it is on", async () => {
    const user = await app.sql<{ id: string }>(`SELECT id FROM users ORDER BY id LIMIT 1`);
    const namesSent = async (env: Record<string, string>) => {
      const routed = await routedServer(app.databaseUrl, env);
      const spy = jest.spyOn(routed.replicaQueries.pgClient.prototype, 'query');
      try {
        const answer = await gql(routed, 'query U($id: ID!) { user(id: $id) { id sessions { id } } }', { id: user[0]!.id });
        expect(answer.body.data.user.id).toBe(user[0]!.id);
        return spy.mock.calls.map(([first]) => (typeof first === 'object' && first !== null ? (first as { name?: string }).name : undefined));
      } finally {
        spy.mockRestore();
        await routed.server.stop();
        await routed.replica.close();
      }
    };
    const on = await namesSent({ DB_PREPARED_STATEMENTS: 'true' });
    expect(on).toEqual(expect.arrayContaining(['userById', 'sessionsByUser']));
    const off = await namesSent({});
    expect(off.length).toBeGreaterThanOrEqual(3);
    expect(off.filter((name) => name !== undefined)).toEqual([]);
  });
});

describe('with a replica that cannot be reached', () => {
  let routed: Routed;
  beforeAll(async () => {
    // A port nothing listens on: connections are refused at once.
    const closed = new URL(app.databaseUrl);
    closed.port = '1';
    routed = await routedServer(closed.toString());
  });
  afterAll(async () => {
    await routed.server.stop();
    await routed.replica.close();
  });

  it('the server starts and stays ready, saying the replica is unreachable', async () => {
    const response = await fetch(routed.readyz);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ready', replica: 'unreachable' });
    expect(routed.replica.state).toBe('unreachable');
  });

  it('plain queries are answered from the primary', async () => {
    const counts = await statements(routed, async () => {
      const answer = await gql(routed, '{ users(first: 5) { totalCount } }');
      expect(answer.status).toBe(200);
      expect(answer.body.errors).toBeUndefined();
      expect(answer.body.data.users.totalCount).toBeGreaterThanOrEqual(1);
    });
    expect(counts.replica).toBe(0);
    expect(counts.primary).toBeGreaterThanOrEqual(3);
  });
});
