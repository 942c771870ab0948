import { Client } from 'pg';
import { DeleteOrganizationDocument, GetOrganizationDocument, ListUsersDocument, ViewerDocument } from '../src/generated/graphql';
import { ConfigError, loadConfig } from '../src/config';
import { DeletionBulkhead } from '../src/deletion/deletion-bulkhead';
import { DELETIONS_BUSY, RETRY_AFTER_SECONDS } from '../src/errors';
import { startTestApp, type GraphQLResponse, type TestApp } from './support/app';
import { seedLargeOrganization } from './support/deletion-seed';
import { factory, invariantViolations, ok } from './support/factory';

/**
 * Issue 10, "a bulkhead for deletions": the pool scenario scaled down. With a pool of 4
 * and DB_DELETION_CONCURRENCY=2, more large organization deletions than the bulkhead
 * admits run beside readers looping on queries: the readers never fail, no more than two
 * deletions ever hold a connection, and the deletions beyond the bulkhead wait, then
 * succeed, or, past their wait limit, answer SERVICE_UNAVAILABLE ("busy") having changed
 * nothing.
 */

const MEMBERS = 2_000;
const ORGANIZATIONS = 5;

/** Readers that loop on queries until told to stop; every response is kept. */
function readers(app: TestApp, tokens: string[], count: number) {
  let stop = false;
  const responses: Array<GraphQLResponse<unknown>> = [];
  const loops = Array.from({ length: count }, async (_, i) => {
    while (!stop) {
      const response =
        i % 2 === 0
          ? await app.gql(ListUsersDocument, { first: 20 })
          : await app.gql(ViewerDocument, {}, { token: tokens[i % tokens.length] });
      responses.push(response);
    }
  });
  return {
    async stop() {
      stop = true;
      await Promise.all(loops);
      return responses;
    },
  };
}

/** Readers never fail: every answer 200 with data and no error. */
function expectAllServed(responses: Array<GraphQLResponse<unknown>>) {
  expect(responses.length).toBeGreaterThan(0);
  const failed = responses.filter((r) => r.status !== 200 || r.errors || !r.data);
  expect(failed.map((r) => ({ status: r.status, errors: r.errors }))).toEqual([]);
}

/** A connection of the test's own, to watch the app's backends. */
async function watcher(app: TestApp): Promise<Client> {
  const client = new Client({ connectionString: app.databaseUrl, application_name: 'bulkhead-test' });
  await client.connect();
  return client;
}

/**
 * App backends in a transaction that has written or locked rows (a deletion: readers'
 * snapshots are read-only and never get a transaction ID).
 */
async function writingBackends(client: Client): Promise<number> {
  const { rows } = await client.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE datname = current_database() AND application_name = 'identity-gateway' AND backend_xid IS NOT NULL`,
  );
  return rows[0].n;
}

async function lockWaiters(client: Client): Promise<number> {
  const { rows } = await client.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity
      WHERE datname = current_database() AND application_name = 'identity-gateway' AND wait_event_type = 'Lock'`,
  );
  return rows[0].n;
}

/** Polls until the condition holds; fails the test after about 30 s. */
async function until(condition: () => Promise<boolean>) {
  for (let attempt = 0; attempt < 600; attempt += 1) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('condition never held');
}

async function seedOrganizations(app: TestApp) {
  const seeded = [];
  for (let i = 0; i < ORGANIZATIONS; i += 1) seeded.push(await seedLargeOrganization(app, MEMBERS, 1));
  return seeded;
}

async function signedInReaders(app: TestApp): Promise<string[]> {
  const make = factory(app);
  const organization = await make.organization();
  const members = [await make.signedInMember(organization.id, 'OWNER'), await make.signedInMember(organization.id, 'MEMBER')];
  return members.map((m) => m.token);
}

describe('deletions beyond the bulkhead wait their turn', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ DB_POOL_SIZE: '4', DB_DELETION_CONCURRENCY: '2', DB_DELETION_QUEUE_TIMEOUT_MS: '120000' });
  }, 60_000);
  afterAll(() => app?.close());

  it('all succeed, at most two hold a connection at once, and readers never fail', async () => {
    const organizations = await seedOrganizations(app);
    const tokens = await signedInReaders(app);
    const watch = await watcher(app);
    try {
      const load = readers(app, tokens, 4);
      let deletionsDone = false;
      const deletions = Promise.all(
        organizations.map((o) => app.gql(DeleteOrganizationDocument, { id: o.organizationId })),
      ).finally(() => {
        deletionsDone = true;
      });
      // Sampled while they run: never more than the bulkhead's two in a writing transaction.
      const samples: number[] = [];
      while (!deletionsDone) {
        samples.push(await writingBackends(watch));
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const responses = await deletions;
      const reads = await load.stop();

      for (const [i, response] of responses.entries()) {
        expect(ok(response).deleteOrganization.deletedOrganizationId).toBe(organizations[i].organizationId);
      }
      expect(Math.max(...samples)).toBeLessThanOrEqual(2);
      expect(Math.max(...samples)).toBeGreaterThanOrEqual(1);
      expectAllServed(reads);

      const ids = organizations.map((o) => o.organizationId);
      expect(await app.sql('SELECT id FROM organizations WHERE id = ANY($1)', [ids])).toEqual([]);
      expect(await app.sql('SELECT 1 FROM memberships WHERE organization_id = ANY($1)', [ids])).toEqual([]);
      expect(await invariantViolations(app)).toEqual([]);
    } finally {
      await watch.end();
    }
  }, 180_000);
});

describe('deletions that wait past DB_DELETION_QUEUE_TIMEOUT_MS', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({
      DB_POOL_SIZE: '4',
      DB_DELETION_CONCURRENCY: '2',
      DB_DELETION_QUEUE_TIMEOUT_MS: '300',
      DB_LOCK_TIMEOUT_MS: '60000',
    });
  }, 60_000);
  afterAll(() => app?.close());

  it('answer 503 SERVICE_UNAVAILABLE "busy" with Retry-After and change nothing; the admitted ones succeed; readers never fail', async () => {
    const organizations = await seedOrganizations(app);
    const ids = organizations.map((o) => o.organizationId);
    const tokens = await signedInReaders(app);
    const watch = await watcher(app);
    const locker = await watcher(app);
    try {
      // Every organization row locked: the two admitted deletions wait on the lock, holding
      // their permits, so the others wait in the queue past its limit, deterministically.
      await locker.query('BEGIN');
      await locker.query('SELECT 1 FROM organizations WHERE id = ANY($1) FOR UPDATE', [ids]);
      const load = readers(app, tokens, 4);
      let settled = 0;
      const deletions = ids.map((id) =>
        app.gql(DeleteOrganizationDocument, { id }).finally(() => {
          settled += 1;
        }),
      );
      // The ones beyond the bulkhead are answered while the admitted two still wait on the
      // lock, each holding a connection: exactly two, never more.
      await until(async () => settled === ORGANIZATIONS - 2 && (await lockWaiters(watch)) === 2);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(settled).toBe(ORGANIZATIONS - 2);
      expect(await lockWaiters(watch)).toBe(2);
      await locker.query('ROLLBACK');
      const responses = await Promise.all(deletions);
      const reads = await load.stop();

      const succeeded = responses.filter((r) => !r.errors);
      const refused = responses.filter((r) => r.errors);
      expect(succeeded).toHaveLength(2);
      expect(refused).toHaveLength(ORGANIZATIONS - 2);
      for (const response of refused) {
        expect(response.status).toBe(503);
        expect(response.headers.get('retry-after')).toBe(String(RETRY_AFTER_SECONDS));
        expect(response.data ?? null).toBeNull();
        expect(response.errors).toEqual([
          expect.objectContaining({ message: DELETIONS_BUSY, extensions: { code: 'SERVICE_UNAVAILABLE' } }),
        ]);
      }
      expectAllServed(reads);

      // The refused ones changed nothing: their organizations, members and receipts as before.
      const deleted = succeeded.map((r) => ok(r).deleteOrganization.deletedOrganizationId).sort();
      const kept = ids.filter((id) => !deleted.includes(id)).sort();
      expect(deleted.every((id) => ids.includes(id))).toBe(true);
      expect((await app.sql<{ id: string }>('SELECT id FROM organizations WHERE id = ANY($1) ORDER BY id', [ids])).map((r) => r.id)).toEqual(kept);
      const members = await app.sql<{ organization_id: string; n: number }>(
        'SELECT organization_id, count(*)::int AS n FROM memberships WHERE organization_id = ANY($1) GROUP BY 1 ORDER BY 1',
        [kept],
      );
      expect(members).toEqual(kept.map((id) => ({ organization_id: id, n: MEMBERS })));
      expect(await app.sql('SELECT 1 FROM deletion_receipts WHERE subject_id = ANY($1)', [kept])).toEqual([]);
      expect(await invariantViolations(app)).toEqual([]);

      // Sent again once the queue is free, a refused deletion goes through.
      const retried = ok(await app.gql(DeleteOrganizationDocument, { id: kept[0] })).deleteOrganization;
      expect(retried.deletedOrganizationId).toBe(kept[0]);
      expect(ok(await app.gql(GetOrganizationDocument, { id: kept[0] })).organization).toBeNull();
    } finally {
      await locker.end();
      await watch.end();
    }
  }, 180_000);

  it('a mutation document whose earlier field committed is not answered 503: that field is not to be sent again', async () => {
    const f = factory(app);
    const blocked = [await f.organization(), await f.organization()];
    const victim = await f.user();
    const watch = await watcher(app);
    const locker = await watcher(app);
    try {
      await locker.query('BEGIN');
      await locker.query('SELECT 1 FROM organizations WHERE id = ANY($1) FOR UPDATE', [blocked.map((o) => o.id)]);
      const holding = blocked.map((o) => app.gql(DeleteOrganizationDocument, { id: o.id }));
      await until(async () => (await lockWaiters(watch)) === 2);
      const name = `Committed ${Date.now()}`;
      const response = await app.gql<{ a: { id: string } | null; b: unknown }, { name: string; id: string }>(
        `mutation ($name: String!, $id: ID!) {
          a: createOrganization(input: { name: $name }) { id }
          b: deleteUser(id: $id) { deletedUserId }
        }`,
        { name, id: victim.id },
      );
      expect(response.status).toBe(200);
      expect(response.headers.get('retry-after')).toBeNull();
      // deleteUser is non-null, so its error nulls all of `data`: the organization's ID is lost, but it was created.
      expect(response.data ?? null).toBeNull();
      expect(response.errors).toEqual([expect.objectContaining({ path: ['b'], extensions: { code: 'SERVICE_UNAVAILABLE' } })]);
      expect(await app.sql('SELECT count(*)::int AS n FROM organizations WHERE name = $1', [name])).toEqual([{ n: 1 }]);
      expect(await app.sql('SELECT id FROM users WHERE id = $1', [victim.id])).toEqual([{ id: victim.id }]);
      await locker.query('ROLLBACK');
      for (const deletion of await Promise.all(holding)) expect(deletion.errors).toBeUndefined();
    } finally {
      await locker.end();
      await watch.end();
    }
  }, 60_000);
});

describe('DeletionBulkhead', () => {
  const tick = () => new Promise((resolve) => setTimeout(resolve, 5));

  it('admits at most `concurrency` at once, the others in arrival order', async () => {
    const bulkhead = new DeletionBulkhead(2, 60_000);
    const started: number[] = [];
    const finishers: Array<() => void> = [];
    let running = 0;
    let most = 0;
    const runs = Array.from({ length: 8 }, (_, i) =>
      bulkhead.run(async () => {
        started.push(i);
        running += 1;
        most = Math.max(most, running);
        await new Promise<void>((resolve) => finishers.push(resolve));
        running -= 1;
        return i;
      }),
    );
    await tick();
    expect(started).toEqual([0, 1]);
    // Finish them out of order: whoever frees a slot, the longest waiter goes next.
    for (let round = 0; round < 6; round += 1) {
      finishers.splice(round % 2, 1)[0]();
      await tick();
    }
    expect(started).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    while (finishers.length) finishers.shift()!();
    expect(await Promise.all(runs)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(most).toBe(2);
  });

  it('refuses a waiter past the wait limit with SERVICE_UNAVAILABLE, runs nothing of it, and keeps the slot count right', async () => {
    const bulkhead = new DeletionBulkhead(1, 50);
    let release!: () => void;
    const holder = bulkhead.run(() => new Promise<void>((resolve) => (release = resolve)));
    let ran = false;
    await expect(
      bulkhead.run(async () => {
        ran = true;
      }),
    ).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE', message: DELETIONS_BUSY });
    expect(ran).toBe(false);
    release();
    await holder;
    // The timed-out waiter's late permit went straight back: the next one runs at once.
    expect(await bulkhead.run(async () => 'next')).toBe('next');
  });

  it('gives the slot back when the work fails', async () => {
    const bulkhead = new DeletionBulkhead(1, 50);
    await expect(bulkhead.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await bulkhead.run(async () => 'after')).toBe('after');
  });
});

describe('DB_DELETION_CONCURRENCY and DB_DELETION_QUEUE_TIMEOUT_MS', () => {
  it('default to half the pool (at least one) and 30 s', () => {
    expect(loadConfig({}).dbDeletionConcurrency).toBe(5);
    expect(loadConfig({ DB_POOL_SIZE: '4' }).dbDeletionConcurrency).toBe(2);
    expect(loadConfig({ DB_POOL_SIZE: '3' }).dbDeletionConcurrency).toBe(1);
    expect(loadConfig({ DB_POOL_SIZE: '1' }).dbDeletionConcurrency).toBe(1);
    expect(loadConfig({}).dbDeletionQueueTimeoutMs).toBe(30_000);
  });

  it('must stay below the pool size', () => {
    expect(loadConfig({ DB_POOL_SIZE: '4', DB_DELETION_CONCURRENCY: '3' }).dbDeletionConcurrency).toBe(3);
    expect(() => loadConfig({ DB_POOL_SIZE: '4', DB_DELETION_CONCURRENCY: '4' })).toThrow(ConfigError);
    expect(() => loadConfig({ DB_POOL_SIZE: '4', DB_DELETION_CONCURRENCY: '0' })).toThrow(ConfigError);
    expect(() => loadConfig({ DB_DELETION_QUEUE_TIMEOUT_MS: '-1' })).toThrow(ConfigError);
  });
});
