import { start, type Cluster } from '../../ops/cluster';

/**
 * Global setup of `npm run test:cluster`'s "pgbouncer" project (jest.cluster.config.js,
 * issue 14: "the suite's deletion, race and fault tests also pass through PgBouncer").
 * Starts only a PostgreSQL primary and PgBouncer in transaction mode (ops/cluster.ts with
 * `only`; ops/pgbouncer.ini serves any database by name), then points the suite at them:
 *
 * - TEST_DATABASE_URL: the primary, directly, as its superuser. Each test file creates its
 *   fresh database there (test/support/app.ts), and its own connections (lockers,
 *   watchers, pg_stat_activity, pg_terminate_backend) go there too.
 * - TEST_POOLER_URL: the same server and superuser through PgBouncer. startTestApp gives
 *   the app's pool (the server's DATABASE_URL, migrations included) this URL with the
 *   file's database, so every statement the gateway sends goes through the pooler.
 * - TEST_PGBOUNCER_CONSOLE_URL: PgBouncer's admin console (PAUSE, RESUME, SHOW).
 *
 * Workers inherit these (they start after this runs). globalTeardown stops the cluster.
 */
export default async function pgbouncerSetup(): Promise<void> {
  const cluster = await start({ only: ['primary', 'pgbouncer'], build: false });
  (globalThis as Record<string, unknown>).__pgbouncerCluster = cluster;
  const pooled = new URL(cluster.primary.url);
  pooled.port = String(cluster.pgbouncer.port);
  const consoleUrl = new URL(pooled);
  consoleUrl.pathname = '/pgbouncer';
  process.env.TEST_DATABASE_URL = cluster.primary.url;
  process.env.TEST_POOLER_URL = pooled.toString();
  process.env.TEST_PGBOUNCER_CONSOLE_URL = consoleUrl.toString();
}

/** The cluster pgbouncerSetup started (for pgbouncer-teardown.ts). */
export function startedCluster(): Cluster | undefined {
  return (globalThis as Record<string, unknown>).__pgbouncerCluster as Cluster | undefined;
}
