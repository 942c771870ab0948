import 'reflect-metadata';
import { resolveAdminKey } from './auth/admin-key';
import { loadConfig } from './config';
import { openDatabase } from './database/database';
import { buildAppSchema } from './http/schema';
import { startServer } from './http/server';
import { createLogger } from './logger';
import { startDeletionJobWorker } from './deletion/deletion-job.worker';
import { startWebhookWorker } from './webhooks/webhook-worker';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const database = await openDatabase(config, logger);
  const admin = resolveAdminKey(config.adminApiKey, config.dataDir);
  if (admin.generated) {
    // Printed once, at generation, straight to the terminal and never to the structured log.
    process.stdout.write(`\nGenerated an admin API key (kept in ${config.dataDir}/admin-api-key):\n  ${admin.key}\n\n`);
  }
  // pg-boss 10.4 completes and fails a worker's jobs without awaiting the promise
  // (src/manager.js, onFetch): a database error there (a deadlock, a dropped connection)
  // is an unhandled rejection, which Node turns into the end of the process, cutting off
  // every request in flight. Nothing is lost by carrying on: a job left active expires and
  // is retried, and a delivery attempt is claimed before it is sent (webhook-delivery.ts).
  // Our own code awaits its promises; the line says what happened all the same.
  process.on('unhandledRejection', (reason) => {
    logger.error({ err: reason }, 'unhandled promise rejection; the server keeps running');
  });
  const schema = await buildAppSchema();
  const server = await startServer(
    { config, dataSource: database.dataSource, replica: database.replica, schema, logger, adminApiKey: admin.key },
    { host: config.host, port: config.port },
  );
  // Webhook fan-out and delivery (issue 12); WEBHOOKS=false leaves them to other instances.
  const webhooks = config.webhooks.enabled
    ? await startWebhookWorker({ dataSource: database.dataSource, config: config.webhooks, logger })
    : undefined;
  // Organization deletion jobs (issue 15); DELETION_JOBS=false leaves them to other instances.
  const deletionJobs = config.deletionJobs.enabled
    ? await startDeletionJobWorker({ dataSource: database.dataSource, config: config.deletionJobs, logger })
    : undefined;
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
    // Before the pool closes: deliveries in hand finish (or go back to the queue).
    await webhooks?.stop().catch((error: unknown) => logger.warn({ err: error }, 'stopping webhook delivery failed'));
    // A step in hand finishes (or rolls back and is retried elsewhere once it expires).
    await deletionJobs
      ?.stop(config.shutdownGraceMs)
      .catch((error: unknown) => logger.warn({ err: error }, 'stopping deletion jobs failed'));
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
  // Ours are the only handlers (a library's own, such as async-exit-hook's exit(143),
  // would cut in-flight requests off: test/limits-and-shutdown.test.ts). The embedded
  // PostgreSQL runs in a process group of its own, so a terminal's Ctrl-C reaches only
  // this process: the server stops first, then database.close() stops PostgreSQL
  // (test/running.test.ts). A signal that arrives while shutting down is noted and
  // otherwise ignored: Node's default action would end the process at once, cutting
  // in-flight work (the embedded PostgreSQL's watchdog would still stop it).
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

/**
 * One line saying why startup failed, whatever was thrown: an Error without a message
 * (Node's AggregateError for a refused connection), an AggregateError's inner errors,
 * a cause, or a non-Error value (issue 12: "No message anywhere reads `undefined`").
 */
export function describeStartupFailure(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    const inner = [...new Set(error.errors.map(describeStartupFailure))].join('; ');
    return error.message ? `${error.message}: ${inner}` : inner;
  }
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    const text = error.message || (code ? `${error.name} ${code}` : error.name);
    const cause = error.cause === undefined ? '' : ` (${describeStartupFailure(error.cause)})`;
    return text.split('\n')[0] + cause;
  }
  if (error === undefined || error === null) return 'an unknown error (a component failed without saying why)';
  if (typeof error === 'object') {
    try {
      return JSON.stringify(error);
    } catch {
      return Object.prototype.toString.call(error);
    }
  }
  return String(error);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`Failed to start: ${describeStartupFailure(error)}\n`);
    process.exit(1);
  });
}
