import { Client } from 'pg';
import { DeleteOrganizationDocument, ListUsersDocument, ViewerDocument } from '../src/generated/graphql';
import { DATABASE_UNREACHABLE, RETRY_AFTER_SECONDS } from '../src/errors';
import { startTestApp, type GraphQLResponse, type TestApp } from './support/app';
import { databaseSnapshot, factory, ok, tableCounts } from './support/factory';
import { createApiKey } from './support/keys';
import { LogCapture } from './support/log-capture';
import { OutageCluster } from './support/outage';
import { persistedQuery, postJson, trustedDocument, type RawResponse } from './support/protocol';

/**
 * The database going away while requests run (on a cluster of this file's own): clear
 * errors, never a hang, /readyz 503, nothing half-applied, and service again by itself
 * once the database is back. Issue 10: every such refusal is SERVICE_UNAVAILABLE with
 * HTTP 503 and Retry-After, whoever calls and whatever media type they accept, and the
 * log says once that the database went away and once that it is back.
 */

const log = new LogCapture();
let cluster: OutageCluster;
let app: TestApp;
beforeAll(async () => {
  cluster = await OutageCluster.start();
  app = await startTestApp(
    { DB_POOL_SIZE: '5', DB_LOCK_TIMEOUT_MS: '60000', LOG_LEVEL: 'info' },
    { baseUrl: cluster.url, logStream: log },
  );
}, 180_000);
afterAll(async () => {
  await app?.close();
  await cluster?.close();
});

/** Settles within the bound or fails the test: a request must never hang. */
function settles<T>(promise: Promise<T>, what: string, ms = 15_000): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
    }),
  ]);
}

const readyz = async () => (await fetch(new URL('/readyz', app.url))).status;

async function untilReady() {
  for (let attempt = 0; attempt < 100; attempt++) {
    if ((await settles(readyz(), '/readyz')) === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error('/readyz never answered 200 again');
}

/** A client of the test's own on the app's database, with a name of its own. */
async function sideClient(): Promise<Client> {
  const client = new Client({ connectionString: app.databaseUrl, application_name: 'outage-test' });
  client.on('error', () => undefined); // it is terminated along with everything else
  await client.connect();
  return client;
}

async function untilWaitingOnLock(client: Client) {
  for (let attempt = 0; attempt < 200; attempt++) {
    const { rowCount } = await client.query(
      `SELECT 1 FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = 'identity-gateway' AND wait_event_type = 'Lock'`,
    );
    if (rowCount) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('the deletion never waited on the lock');
}

/** What a request refused for want of a database must look like (issue 10). */
function expectUnavailable(response: GraphQLResponse<unknown> | RawResponse) {
  const errors = 'text' in response ? response.body?.errors : response.errors;
  expect(response.status).toBe(503);
  expect(response.headers.get('retry-after')).toBe(String(RETRY_AFTER_SECONDS));
  expect(errors?.length).toBeGreaterThanOrEqual(1);
  for (const error of errors!) {
    expect(error.extensions).toEqual({ code: 'SERVICE_UNAVAILABLE' });
    expect(error.message).toBe(DATABASE_UNREACHABLE);
  }
}

async function seed() {
  const make = factory(app);
  const organization = await make.organization();
  const owner = await make.signedInMember(organization.id, 'OWNER');
  const member = await make.signedInMember(organization.id, 'MEMBER');
  return { organization, owner, member };
}

describe('the database stops while requests run', () => {
  it('fails them clearly, applies nothing, and serves again by itself once it is back', async () => {
    const { organization, owner, member } = await seed();
    const countsBefore = await tableCounts(app);

    // An organization deletion in flight, waiting on a row lock; reads alongside.
    const side = await sideClient();
    await side.query('BEGIN');
    await side.query('SELECT 1 FROM organizations WHERE id = $1 FOR UPDATE', [organization.id]);
    const deletion = app.gql(DeleteOrganizationDocument, { id: organization.id });
    await untilWaitingOnLock(side);
    const inFlight = [deletion, app.gql(ListUsersDocument, { first: 50 }), app.gql(ViewerDocument, {}, { token: member.token })];

    await cluster.stop();
    try {
      const settled = await settles(Promise.all(inFlight), 'the in-flight requests');
      expectUnavailable(settled[0]);
      expect(settled[0].data).toBeNull();
      for (const response of settled.slice(1)) {
        // Those that had finished before the stop succeeded; the others failed clearly.
        if (response.errors) expectUnavailable(response);
      }

      // While it is down: readiness fails, and every kind of request fails fast and clearly.
      expect(await settles(readyz(), '/readyz')).toBe(503);
      expect(await (await fetch(new URL('/healthz', app.url))).json()).toEqual({ status: 'ok' });
      const admin = await settles(app.gql(ListUsersDocument, {}), 'an admin read');
      expectUnavailable(admin);
      const session = await settles(app.gql(ViewerDocument, {}, { token: owner.token }), 'a session request');
      expectUnavailable(session);
      const again = await settles(app.gql(DeleteOrganizationDocument, { id: organization.id }), 'a deletion');
      expectUnavailable(again);
    } finally {
      await cluster.restart();
    }

    // The same server serves again without a restart.
    await untilReady();
    expect(ok(await app.gql(ViewerDocument, {}, { token: member.token })).viewer.user?.id).toBe(member.user.id);
    expect(ok(await app.gql(ListUsersDocument, { first: 50 })).users.totalCount).toBeGreaterThanOrEqual(2);

    // Nothing was half-applied: every row is still there, and no receipt was written.
    expect(await tableCounts(app)).toEqual(countsBefore);
    expect(await app.sql('SELECT 1 FROM deletion_receipts WHERE subject_id = $1', [organization.id])).toEqual([]);
    await side.end().catch(() => undefined);

    // And the deletion, sent again, is applied in full.
    const payload = ok(await app.gql(DeleteOrganizationDocument, { id: organization.id })).deleteOrganization;
    expect(payload.cascadedUsers.nodes.map((u) => u.id).sort()).toEqual([owner.user.id, member.user.id].sort());
    expect(await app.sql('SELECT 1 FROM organizations WHERE id = $1', [organization.id])).toEqual([]);
    expect(await app.sql('SELECT 1 FROM users WHERE id = ANY($1)', [[owner.user.id, member.user.id]])).toEqual([]);
  });
});

describe("the app's connections are killed", () => {
  it('an in-flight deletion fails clearly and applies nothing; the next requests succeed', async () => {
    const { organization, member } = await seed();
    // Warm the pool with several connections, so that idle ones are killed as well.
    await Promise.all(Array.from({ length: 5 }, () => app.gql(ListUsersDocument, { first: 5 })));
    const countsBefore = await tableCounts(app);

    const side = await sideClient();
    try {
      await side.query('BEGIN');
      await side.query('SELECT 1 FROM organizations WHERE id = $1 FOR UPDATE', [organization.id]);
      const deletion = app.gql(DeleteOrganizationDocument, { id: organization.id });
      await untilWaitingOnLock(side);
      const { rows } = await side.query(
        `SELECT pid, pg_terminate_backend(pid) AS killed FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'identity-gateway'`,
      );
      expect(rows.length).toBeGreaterThanOrEqual(2); // the waiting deletion and idle ones
      // Termination is asynchronous: release the lock only once those backends are gone.
      for (let attempt = 0; attempt < 100; attempt++) {
        const { rowCount } = await side.query(
          `SELECT 1 FROM pg_stat_activity WHERE pid = ANY($1)`,
          [rows.map((r: { pid: number }) => r.pid)],
        );
        if (!rowCount) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await side.query('ROLLBACK');

      // Killed while it waited for the lock: a clear error, and its transaction rolled back.
      const failed = await settles(deletion, 'the terminated deletion');
      expectUnavailable(failed);
      expect(failed.data).toBeNull();
      expect(await tableCounts(app)).toEqual(countsBefore);

      // The next requests succeed, on fresh connections.
      for (let i = 0; i < 10; i++) {
        const responses = await settles(
          Promise.all([app.gql(ListUsersDocument, { first: 5 }), app.gql(ViewerDocument, {}, { token: member.token })]),
          'requests after the kill',
        );
        for (const response of responses) ok<unknown>(response);
      }
      expect(await readyz()).toBe(200);

      const payload = ok(await app.gql(DeleteOrganizationDocument, { id: organization.id })).deleteOrganization;
      expect(payload.deletedOrganizationId).toBe(organization.id);
      expect(await app.sql('SELECT 1 FROM organizations WHERE id = $1', [organization.id])).toEqual([]);
      expect(await app.sql('SELECT 1 FROM memberships WHERE organization_id = $1', [organization.id])).toEqual([]);
    } finally {
      await side.end().catch(() => undefined);
    }
  });
});

describe('outage signalling (issue 10)', () => {
  const JSON_TYPE = 'application/json';
  const GRAPHQL_RESPONSE = 'application/graphql-response+json';

  it('every kind of caller, under both media types, gets 503 with Retry-After and SERVICE_UNAVAILABLE; nothing changes; the log has one line for the outage and one for the recovery', async () => {
    const { organization, owner } = await seed();
    const key = await createApiKey(app, ['USERS_READ', 'ORGANIZATIONS_DELETE']);
    // The admin's key is checked in memory: its requests fail in the resolvers. A session
    // or an API key is looked up in the database: theirs fail while authenticating.
    const callers = [
      { caller: 'admin', token: app.adminKey, read: 'ListUsers', byHash: false },
      { caller: 'session', token: owner.token, read: 'Viewer', byHash: false },
      { caller: 'API key', token: key.secret, read: 'ListUsers', byHash: true },
    ];
    /** A trusted operation as each caller sends it: partners by hash only, the others as text. */
    const call = (token: string, byHash: boolean, operationName: string, variables: object, accept: string) => {
      const document = trustedDocument(operationName);
      const body = byHash
        ? { operationName, variables, extensions: persistedQuery(document.hash) }
        : { operationName, variables, query: document.text };
      return postJson(app.url, body, token, { accept });
    };
    await untilReady();
    const before = await databaseSnapshot(app);
    log.clear();

    await cluster.stop();
    let refused = 0;
    try {
      for (const accept of [JSON_TYPE, GRAPHQL_RESPONSE]) {
        for (const { caller, token, read, byHash } of callers) {
          for (const [operationName, variables] of [
            [read, { first: 5 }],
            ['DeleteOrganization', { id: organization.id }],
          ] as const) {
            const what = `${caller} ${operationName} (${accept})`;
            const response = await settles(call(token, byHash, operationName, variables, accept), what);
            refused += 1;
            try {
              expectUnavailable(response);
              expect(response.headers.get('content-type')).toContain(accept);
              expect(response.body?.data ?? null).toBeNull();
            } catch (error) {
              throw new Error(`${what}: ${(error as Error).message}\n${response.text}`);
            }
          }
        }
      }
    } finally {
      await cluster.restart();
    }
    await untilReady();

    // Nothing changed: every row of every table as it was.
    expect(await databaseSnapshot(app)).toEqual(before);
    expect(refused).toBe(12);

    // One warning when it went away, one line when it came back with the count, and no
    // stack trace or error line per refused request.
    const entries = log.entries();
    const wentAway = entries.filter((entry) => String(entry.msg).startsWith('database unreachable'));
    expect(wentAway).toHaveLength(1);
    expect(wentAway[0].level).toBe(40);
    expect(JSON.stringify(wentAway[0])).not.toContain('stack');
    const cameBack = entries.filter((entry) => entry.msg === 'database reachable again');
    expect(cameBack).toHaveLength(1);
    expect(cameBack[0]).toMatchObject({ level: 30, refusedRequests: refused });
    expect(entries.filter((entry) => JSON.stringify(entry).includes('"stack"'))).toEqual([]);
    expect(entries.filter((entry) => entry.level >= 50)).toEqual([]);
    expect(entries.filter((entry) => entry.msg === 'request refused: try again')).toEqual([]);

    // And the same callers are served again.
    expect(ok(await app.gql(ViewerDocument, {}, { token: owner.token })).viewer.user?.id).toBe(owner.user.id);
  });
});

describe('outage signalling after a single lost connection (issue 10)', () => {
  it('the outage it opened ends by itself, without a request, so that the next outage is logged when it starts', async () => {
    const { organization } = await seed();
    const side = await sideClient();
    try {
      await side.query('BEGIN');
      await side.query('SELECT 1 FROM organizations WHERE id = $1 FOR UPDATE', [organization.id]);
      log.clear();
      const deletion = app.gql(DeleteOrganizationDocument, { id: organization.id });
      await untilWaitingOnLock(side);
      // Only the waiting deletion's backend: the pool keeps its other connections, and nothing asks it for a new one.
      await side.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'identity-gateway' AND wait_event_type = 'Lock'`,
      );
      expectUnavailable(await settles(deletion, 'the terminated deletion'));
      await side.query('ROLLBACK');
      expect(log.entries().filter((entry) => /^database unreachable/.test(entry.msg))).toHaveLength(1);

      // No request and no /readyz from here on: the outage's own probe finds the database answering.
      let recovered: Array<Record<string, any>> = [];
      for (let attempt = 0; attempt < 100 && recovered.length === 0; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        recovered = log.entries().filter((entry) => entry.msg === 'database reachable again');
      }
      expect(recovered).toHaveLength(1);
      expect(recovered[0].refusedRequests).toBe(1);
    } finally {
      await side.end().catch(() => undefined);
    }
  });
});
