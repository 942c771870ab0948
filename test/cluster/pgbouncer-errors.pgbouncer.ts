import { Client } from 'pg';
import { CreateOrganizationDocument, ViewerDocument } from '../../src/generated/graphql';
import { RETRY_AFTER_SECONDS, SERVER_BUSY } from '../../src/errors';
import { startTestApp, type TestApp } from '../support/app';
import { factory, ok, tableCounts } from '../support/factory';

/**
 * Issue 14: PgBouncer's own refusal reaches the client as SERVICE_UNAVAILABLE (503,
 * Retry-After), "nothing ran; try again", not INTERNAL_SERVER_ERROR. Only in
 * `npm run test:cluster` (project "pgbouncer", jest.cluster.config.js): it needs the real
 * PgBouncer that test/cluster/pgbouncer-setup.ts starts, and its admin console.
 *
 * The database is PAUSEd on the console: PgBouncer keeps every new transaction waiting for
 * a server connection, and after query_wait_timeout (ops/pgbouncer.ini: 5 s) drops the
 * client with the error "query_wait_timeout" (SQLSTATE 08P01 in PgBouncer 1.18).
 */
const consoleUrl = process.env.TEST_PGBOUNCER_CONSOLE_URL;
if (!consoleUrl || !process.env.TEST_POOLER_URL) {
  throw new Error('Run through `npm run test:cluster` (project "pgbouncer"): TEST_PGBOUNCER_CONSOLE_URL and TEST_POOLER_URL are not set');
}

let app: TestApp;
let pgbouncer: Client;
beforeAll(async () => {
  app = await startTestApp();
  pgbouncer = new Client({ connectionString: consoleUrl });
  await pgbouncer.connect();
});
afterAll(async () => {
  await pgbouncer?.end();
  await app?.close();
});

/** The app's database name, as PgBouncer knows it (its `*` entry serves every database by name). */
const database = () => new URL(app.databaseUrl).pathname.slice(1);

it("the app's pool is PgBouncer's client (the suite's statements really go through it)", async () => {
  expect(new URL(app.serverDatabaseUrl).port).toBe(new URL(process.env.TEST_POOLER_URL!).port);
  expect(new URL(app.serverDatabaseUrl).port).not.toBe(new URL(app.databaseUrl).port);
  ok(await app.gql(CreateOrganizationDocument, { input: { name: 'Through the pooler' } }));
  const { rows } = await pgbouncer.query<{ database: string }>('SHOW CLIENTS');
  expect(rows.filter((row) => row.database === database()).length).toBeGreaterThan(0);
  // The server connections PgBouncer opened for it, as PostgreSQL sees them, under the gateway's name.
  const [{ count }] = await app.sql<{ count: number }>(
    `SELECT count(*)::int AS count FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'identity-gateway'`,
  );
  expect(count).toBeGreaterThan(0);
});

it('a transaction PgBouncer cannot give a server connection in time is SERVICE_UNAVAILABLE, and nothing ran', async () => {
  const f = factory(app);
  const before = await tableCounts(app);
  // Reads no database: the admin key is checked in memory; its answer shows the gateway itself is up.
  ok(await app.gql(ViewerDocument, {}));

  // PAUSE waits until no server connection of the database is in use, then holds new transactions.
  await pgbouncer.query(`PAUSE ${database()}`);
  let response;
  try {
    const started = Date.now();
    response = await app.gql(CreateOrganizationDocument, { input: { name: 'Never created' } });
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(4_000);
  } finally {
    await pgbouncer.query(`RESUME ${database()}`);
  }

  expect(response.status).toBe(503);
  expect(response.headers.get('retry-after')).toBe(String(RETRY_AFTER_SECONDS));
  expect(response.data ?? null).toBeNull();
  expect(response.errors).toHaveLength(1);
  expect(response.errors![0].message).toBe(SERVER_BUSY);
  expect(response.errors![0].extensions).toEqual({ code: 'SERVICE_UNAVAILABLE' });
  expect(JSON.stringify(response.errors)).not.toMatch(/query_wait_timeout|08P01|pgbouncer/i);

  // Nothing ran, and once resumed the same gateway serves without a restart.
  expect(await tableCounts(app)).toEqual(before);
  const organization = await f.organization({ name: 'Created after RESUME' });
  expect(organization.name).toBe('Created after RESUME');
});
