// Runs the gateway's pending migrations once, directly against the primary (not through
// PgBouncer), before any gateway starts: `DATABASE_URL=postgres://… node ops/migrate.js`.
// The gateways run the same check at start and find nothing left to do, so three of them
// never race to create the same tables. Uses the build (dist/), as the gateways do.
'use strict';
require('reflect-metadata');
// CLUSTER_DIST: the build ops/cluster.ts runs (dist/ by default).
const { createDataSource } = require(require('node:path').join(process.env.CLUSTER_DIST || `${__dirname}/../dist`, 'ormconfig.js'));

async function main() {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL is not set');
  // TypeORM would print every query with its default logger: only failures are told.
  const quiet = { logQuery() {}, logQueryError() {}, logQuerySlow() {}, logSchemaBuild() {}, logMigration() {}, log() {} };
  const dataSource = createDataSource({ url, poolSize: 1, logger: quiet, applicationName: 'identity-gateway-migrations' });
  await dataSource.initialize();
  try {
    const ran = await dataSource.runMigrations({ transaction: 'each' });
    process.stdout.write(`migrations: ${ran.length} applied${ran.length ? ` (${ran.map((m) => m.name).join(', ')})` : ''}\n`);
  } finally {
    await dataSource.destroy();
  }
}

main().catch((error) => {
  process.stderr.write(`migrations failed: ${error && error.message ? error.message : String(error)}\n`);
  process.exit(1);
});
