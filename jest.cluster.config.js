/**
 * `npm run test:cluster` (issue 14): tests that start the local cluster (ops/cluster.ts:
 * HAProxy, 3 gateways, PgBouncer, a primary and its replica, Redis) and run against it.
 * Not part of `npm test`: the files are named *.cluster.ts, which jest.config.js's
 * `*.test.ts` does not match. Needs the Debian packages named by ops/cluster.ts
 * (postgresql, pgbouncer, haproxy, redis-server) and a build (`npm run build`; the
 * cluster builds when dist/ is older than the sources).
 * @type {import('jest').Config}
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test/cluster'],
  testMatch: ['**/*.cluster.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }],
  },
  // One topology at a time: each one is seven kinds of server on a shared machine.
  maxWorkers: 1,
  testTimeout: 180000,
};
