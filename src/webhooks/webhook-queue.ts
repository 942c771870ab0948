import PgBoss from 'pg-boss';
import type { Logger } from 'pino';
import type { EntityManager } from 'typeorm';
import type { WebhookConfig } from '../config';
import { insertJobs, QueueNotStartedError, queuePoolSize } from '../database/job-queue';
import { AppError } from '../errors';

/**
 * The delivery queue (issue 12), on pg-boss over the same PostgreSQL (src/database/job-queue.ts).
 *
 * One job per webhook message attempt: `{ messageId }`. Jobs are inserted in the caller's
 * transaction (pg-boss's `db` option runs its INSERT on the transaction's connection), so
 * a message and its job commit or roll back together.
 *
 * What pg-boss does for us (checked in node_modules/pg-boss/src, 10.4.2):
 * - fetch: `FOR UPDATE SKIP LOCKED` then `state = 'active'` in one statement (plans.js
 *   fetchNextJob), so two instances never take the same job; it polls, with no LISTEN, so
 *   it runs through PgBouncer in transaction mode.
 * - expiry: a job active longer than its expireInSeconds is failed by the maintenance pass
 *   (boss.js expire, plans.js failJobsByTimeout) and retried after retryDelay: a process
 *   killed mid-delivery leaves its jobs active, and another instance (or itself after a
 *   restart) delivers them once they expire.
 * - startAfter: a retry is a new job that becomes fetchable at its time.
 * Our retry schedule is ours (webhook-delivery.ts schedules each retry as a new job with
 * startAfter); pg-boss's own retry (retryLimit/retryDelay) only recovers jobs whose
 * handler crashed or expired.
 */
export const DELIVERY_QUEUE = 'webhook_delivery';

export interface DeliveryJobData {
  messageId: string;
}

/** A job to insert: a message to attempt, now or after `delayMs`. */
export interface DeliveryJob {
  messageId: string;
  delayMs?: number;
}

/**
 * How long a delivery job may stay active before pg-boss takes it back, in seconds: the
 * attempt's timeout, plus time for signing and the two short transactions around it.
 */
export function jobExpirySeconds(config: Pick<WebhookConfig, 'timeoutMs'>): number {
  return Math.ceil(config.timeoutMs / 1000) + 5;
}

/**
 * Inserts delivery jobs in the caller's transaction (`manager`), one statement for all of
 * them. A job's delay is counted from the database's clock (`startAfter` as an interval).
 * Throws SERVICE_UNAVAILABLE when pg-boss's schema does not exist yet, i.e. no process
 * ever ran the webhook worker (WEBHOOKS=true) on this database.
 */
export async function enqueueDeliveries(manager: EntityManager, jobs: DeliveryJob[]): Promise<void> {
  if (jobs.length === 0) return;
  const rows: PgBoss.JobInsert<DeliveryJobData>[] = jobs.map((job) => ({
    name: DELIVERY_QUEUE,
    data: { messageId: job.messageId },
    // Milliseconds as an interval relative to the database's now(), not our clock.
    startAfter: job.delayMs ? `${Math.max(0, Math.round(job.delayMs))} milliseconds` : undefined,
  }));
  try {
    await insertJobs(manager, rows);
  } catch (error) {
    if (error instanceof QueueNotStartedError) {
      throw AppError.serviceUnavailable('Webhook delivery has not been started on this database yet (WEBHOOKS=false everywhere)');
    }
    throw error;
  }
}

export interface WebhookQueue {
  boss: PgBoss;
  /** Wakes this process's idle delivery workers (after the fan-out enqueued jobs). */
  notify(): void;
  /** Registers a worker: `handler` gets up to batchSize jobs; throwing fails (and retries) them all. */
  work(batchSize: number, handler: (jobs: PgBoss.Job<DeliveryJobData>[], workerId: string) => Promise<void>): Promise<string>;
  /** Stops fetching, waits for jobs in hand up to `graceMs`, hands the rest back, closes its pool. */
  stop(graceMs: number): Promise<void>;
}


/**
 * Starts pg-boss on its own small pool (queuePoolSize(workers) connections): creates or
 * migrates the `pgboss` schema, creates the delivery queue, and runs maintenance (expiry
 * of stuck jobs) every expiry period, which pg-boss coordinates across instances with an
 * advisory lock. `workers`: how many delivery workers the caller will register with work().
 */
export async function startWebhookQueue(
  databaseUrl: string,
  config: WebhookConfig,
  logger: Logger,
  options: { workers?: number } = {},
): Promise<WebhookQueue> {
  const expiry = jobExpirySeconds(config);
  const boss = new PgBoss({
    connectionString: databaseUrl,
    application_name: 'identity-gateway-webhooks',
    max: queuePoolSize(options.workers ?? 1),
    // No cron jobs: pg-boss's scheduler (and its clock-skew monitor) stays off.
    schedule: false,
    supervise: true,
    maintenanceIntervalSeconds: expiry,
    // Completed jobs are the webhook_deliveries log's business, not the queue's.
    archiveCompletedAfterSeconds: 3600,
    deleteAfterDays: 1,
  });
  boss.on('error', (error: Error) => logger.warn({ err: error }, 'webhook queue error'));
  await boss.start();
  // Created once; updated at every start so the expiry follows WEBHOOK_TIMEOUT_MS. Recovery
  // retries only (a crashed or expired handler): our schedule is webhook-delivery.ts's.
  const queue = { name: DELIVERY_QUEUE, policy: 'standard' as const, expireInSeconds: expiry, retryLimit: 20, retryDelay: 2, retryBackoff: true };
  await boss.createQueue(DELIVERY_QUEUE, queue);
  await boss.updateQueue(DELIVERY_QUEUE, queue);
  const workerIds: string[] = [];
  const pollingIntervalSeconds = Math.max(0.5, config.pollIntervalMs / 1000);
  return {
    boss,
    notify() {
      for (const id of workerIds) boss.notifyWorker(id);
    },
    async work(batchSize, handler) {
      let id = '';
      id = await boss.work<DeliveryJobData>(DELIVERY_QUEUE, { batchSize, pollingIntervalSeconds }, (jobs) => handler(jobs, id));
      workerIds.push(id);
      return id;
    },
    async stop(graceMs) {
      await boss.stop({ graceful: true, wait: true, timeout: graceMs });
    },
  };
}
