import { Client } from 'pg';
import { startTestApp, type TestApp } from './support/app';
import { errorCode, factory, ok, tableFingerprints } from './support/factory';

/**
 * Issue 14, the ceiling of statements outside a transaction. Timeouts come with every
 * BEGIN as SET LOCAL (test/pgbouncer-safe.test.ts); the statements the gateway sends
 * outside a transaction (authentication lookups, a mutation's payload reads after its
 * commit, /readyz, the outage probe, the autocommit deleteUser) are bounded by the same
 * DB_LOCK_TIMEOUT_MS / DB_STATEMENT_TIMEOUT_MS sent as startup parameters of a direct
 * connection (ormconfig.ts); through PgBouncer, which drops those, by the role's settings
 * (ops/cluster.ts, README "Timeouts without session state"). Without a ceiling, a table
 * lock held elsewhere would hang every authenticated request for as long as it is held.
 */

const LOCK_TIMEOUT_MS = 300;
const STATEMENT_TIMEOUT_MS = 1_000;

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ DB_LOCK_TIMEOUT_MS: String(LOCK_TIMEOUT_MS), DB_STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS) });
});
afterAll(() => app.close());

it('a session-authenticated request behind a lock on sessions fails after DB_LOCK_TIMEOUT_MS with CONFLICT, and changes nothing', async () => {
  const user = await factory(app).user();
  const { token } = await factory(app).session(user.id);
  const VIEWER = '{ viewer { kind user { id } } }';
  expect(ok(await app.gql<{ viewer: { user: { id: string } } }, Record<string, never>>(VIEWER, {}, { token })).viewer.user.id).toBe(user.id);
  const before = await tableFingerprints(app);

  const locker = new Client({ connectionString: app.databaseUrl, application_name: 'timeout-ceiling-test' });
  await locker.connect();
  try {
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE');
    const started = Date.now();
    const refused = await app.gql(VIEWER, {}, { token });
    const waited = Date.now() - started;
    // 55P03 (lock_not_available) from the authentication lookup, outside any transaction.
    expect(errorCode(refused)).toBe('CONFLICT');
    expect(refused.data ?? null).toBeNull();
    expect(waited).toBeGreaterThanOrEqual(LOCK_TIMEOUT_MS - 50);
    expect(waited).toBeLessThan(LOCK_TIMEOUT_MS + 3_000);
  } finally {
    await locker.query('ROLLBACK').catch(() => undefined);
    await locker.end();
  }

  expect(await tableFingerprints(app)).toEqual(before);
  expect(ok(await app.gql<{ viewer: { user: { id: string } } }, Record<string, never>>(VIEWER, {}, { token })).viewer.user.id).toBe(user.id);
});

it('a statement outside a transaction is cancelled after DB_STATEMENT_TIMEOUT_MS (57014)', async () => {
  const started = Date.now();
  const failure = await app.dataSource.query('SELECT pg_sleep(10)').then(
    () => undefined,
    (error: unknown) => error,
  );
  const waited = Date.now() - started;
  expect((failure as { driverError?: { code?: string } }).driverError?.code).toBe('57014');
  expect(waited).toBeGreaterThanOrEqual(STATEMENT_TIMEOUT_MS - 50);
  expect(waited).toBeLessThan(STATEMENT_TIMEOUT_MS + 3_000);
});
