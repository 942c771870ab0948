import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import type { WebhookConfig } from '../config';
import { inTransaction } from '../database/transaction';
import { deliverMessages } from './webhook-delivery';
import { FANOUT_BATCH, fanOutOnce } from './webhook-fanout';
import { startWebhookQueue } from './webhook-queue';

/**
 * Jobs a delivery worker takes per fetch; WEBHOOK_CONCURRENCY / this many workers run. Each
 * batch costs a fetch and two short transactions whatever its size: measured with the
 * bench, 25 a fetch with 4 workers delivers about 2,000/s to a local receiver where 10 with 2
 * workers managed about 450/s. A worker holds a pool connection only during those transactions.
 */
const JOBS_PER_FETCH = 25;

export interface WebhookWorker {
  /** Stops the fan-out, lets deliveries in hand finish (up to their timeout), closes pg-boss. */
  stop(): Promise<void>;
}

/**
 * Runs webhook delivery in this process (issue 12): pg-boss on `databaseUrl` (by default
 * the DataSource's URL), the fan-out loop (every WEBHOOK_POLL_INTERVAL_MS, at once again
 * while batches come back full) and ceil(WEBHOOK_CONCURRENCY / 25) delivery workers taking
 * up to 25 jobs each, sent concurrently. Any number of processes may run it on one database: the fan-out
 * cursor and pg-boss's job fetch are both taken with SKIP LOCKED.
 */
export async function startWebhookWorker(options: {
  dataSource: DataSource;
  databaseUrl?: string;
  config: WebhookConfig;
  logger: Logger;
}): Promise<WebhookWorker> {
  const { dataSource, config } = options;
  const logger = options.logger.child({ component: 'webhooks' });
  const databaseUrl = options.databaseUrl ?? (dataSource.options as { url?: string }).url;
  if (!databaseUrl) throw new Error('startWebhookWorker needs the database URL');
  // The migration inserts the cursor's one row; a TRUNCATE (the bench's reset) would leave
  // the fan-out with nothing to lock, so it never moved again.
  await dataSource.query(`INSERT INTO webhook_outbox_cursor (singleton) VALUES (true) ON CONFLICT DO NOTHING`);
  const batch = Math.min(JOBS_PER_FETCH, config.concurrency);
  const workers = Math.ceil(config.concurrency / batch);
  const queue = await startWebhookQueue(databaseUrl, config, logger, { workers });

  for (let index = 0; index < workers; index += 1) {
    await queue.work(batch, async (jobs, workerId) => {
      await deliverMessages(
        dataSource,
        jobs.map((job) => job.data.messageId),
        config,
        logger,
      );
      // A full batch: more are probably waiting, so fetch again at once instead of after
      // the polling interval (pg-boss skips its wait when the worker was notified).
      if (jobs.length === batch) queue.boss.notifyWorker(workerId);
    });
  }

  let stopping = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const pass = async () => {
    try {
      for (;;) {
        const result = await inTransaction(dataSource, (manager) => fanOutOnce(manager, FANOUT_BATCH));
        if (result && result.messages > 0) queue.notify();
        if (stopping || !result || result.events < FANOUT_BATCH) break;
      }
    } catch (error) {
      logger.warn({ err: error }, 'webhook fan-out pass failed; the next pass retries');
    }
  };
  const schedule = () => {
    if (stopping) return;
    timer = setTimeout(() => {
      running = pass().then(schedule);
    }, config.pollIntervalMs);
  };
  running = pass().then(schedule);

  return {
    async stop() {
      stopping = true;
      clearTimeout(timer);
      await running;
      await queue.stop(config.timeoutMs + 2_000);
    },
  };
}
