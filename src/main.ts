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

  const shutdown = async (signal: string) => {
    logger.info({ signal }, 'shutting down');
    await server.stop();
    await database.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((error) => {
  process.stderr.write(`Failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
