/**
 * `npm run test:cluster` (issue 14): two Jest projects, not part of `npm test`. Needs the
 * Debian packages named by ops/cluster.ts (postgresql, pgbouncer, haproxy, redis-server).
 *
 * - "cluster": tests that start the local cluster (ops/cluster.ts: HAProxy, 3 gateways,
 *   PgBouncer, a primary and its replica, Redis) and run against it. The files are named
 *   *.cluster.ts, which jest.config.js's `*.test.ts` does not match. They need a build
 *   (`npm run build`; the cluster builds when dist/ is older than the sources).
 * - "pgbouncer": the suite's deletion, race and fault tests, and the PgBouncer-safety
 *   tests, with the app's pool going through PgBouncer in transaction mode to a PostgreSQL
 *   primary (test/cluster/pgbouncer-setup.ts starts just those two). The same files run
 *   directly in `npm test`; *.pgbouncer.ts files run only here. No build needed.
 * @type {import('jest').Config}
 */
const transform = { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }] };

/** Run through PgBouncer as well as directly (issue 14, "PgBouncer-safe database use"). */
const THROUGH_PGBOUNCER = [
  'deletion',
  'deletion-concurrency',
  'ownership-races',
  'updates-races',
  'deletion-faults',
  'invitation-races',
  'delete-user-round-trip',
  // Issue 15: the job's steps and pg-boss's polling through transaction pooling.
  'deletion-job',
  'pgbouncer-safe',
];

module.exports = {
  // One topology at a time: each one is seven kinds of server on a shared machine.
  maxWorkers: 1,
  testTimeout: 180000,
  projects: [
    {
      displayName: 'cluster',
      testEnvironment: 'node',
      roots: ['<rootDir>/test/cluster'],
      testMatch: ['**/*.cluster.ts'],
      transform,
    },
    {
      displayName: 'pgbouncer',
      testEnvironment: 'node',
      roots: ['<rootDir>/test'],
      testMatch: [`<rootDir>/test/{${THROUGH_PGBOUNCER.join(',')}}.test.ts`, '<rootDir>/test/cluster/*.pgbouncer.ts'],
      transform,
      globalSetup: '<rootDir>/test/cluster/pgbouncer-setup.ts',
      globalTeardown: '<rootDir>/test/cluster/pgbouncer-teardown.ts',
      setupFiles: ['reflect-metadata'],
    },
  ],
};
