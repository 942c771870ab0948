import { Client } from 'pg';
import { DeleteOrganizationDocument, ListUsersDocument, ViewerDocument } from '../src/generated/graphql';
import { startTestApp, type GraphQLResponse, type TestApp } from './support/app';
import { errorCode, factory, ok, tableCounts } from './support/factory';
import { OutageCluster } from './support/outage';

/**
 * The database going away while requests run (on a cluster of this file's own): clear
 * errors, never a hang, /readyz 503, nothing half-applied, and service again by itself
 * once the database is back.
 */

const DATABASE_UNAVAILABLE = 'The database is unavailable; nothing was changed. Try again shortly';

let cluster: OutageCluster;
let app: TestApp;
beforeAll(async () => {
  cluster = await OutageCluster.start();
  app = await startTestApp({ DB_POOL_SIZE: '5', DB_LOCK_TIMEOUT_MS: '60000' }, { baseUrl: cluster.url });
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

/** What a request refused for want of a database must look like. */
function expectUnavailable(response: GraphQLResponse<unknown>) {
  expect(response.errors).toHaveLength(1);
  const [error] = response.errors!;
  expect(error.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
  expect(error.message).toBe(DATABASE_UNAVAILABLE);
  if (response.status !== 200) expect(response.status).toBe(503); // refused while authenticating
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
      console.log(JSON.stringify(session));
      expect(session.status).toBe(503);
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
    expect(payload.cascadedUsers.map((u) => u.id).sort()).toEqual([owner.user.id, member.user.id].sort());
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
