import PgBoss from 'pg-boss';
import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import type { DeletionJobConfig } from '../config';
import { queuePoolSize } from '../database/job-queue';
import { ErrorCode, publicDescriptionOf } from '../errors';
import { DELETION_JOB_QUEUE, DeletionJobService, type DeletionStep } from './deletion-job.service';

/** Where pg-boss moves a step that expired on its last attempt (its worker stopped every time). */
const DELETION_JOB_DEAD_LETTER = 'organization_deletion_failed';

export interface DeletionJobWorker {
  /** Stops taking steps, lets the step in hand finish (up to `graceMs`), closes the queue's pool. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Runs organization deletion jobs in this process (issue 15), on pg-boss (the job-queue
 * library webhook delivery uses, src/database/job-queue.ts) over `databaseUrl`, by default
 * the DataSource's. Any number of processes may run it on one database.
 *
 * One queue job a step: { jobId, step } (DeletionJobService.runStep). pg-boss gives each to
 * one worker (FOR UPDATE SKIP LOCKED); the step's own transaction makes it happen once.
 * - A step that throws is retried by pg-boss after DELETION_JOB_RETRY_DELAY_SECONDS,
 *   doubling, up to DELETION_JOB_MAX_ATTEMPTS attempts; each failure is recorded on the job
 *   (DeletionJob.error) and the last one ends it FAILED.
 * - A worker killed mid-step (SIGKILL, a lost machine) leaves the queue job active and its
 *   transaction rolled back; after DELETION_JOB_STEP_EXPIRY_SECONDS pg-boss's maintenance
 *   (every such period, on whichever instance) fails it by timeout and retries it, here or
 *   on any other instance: the job resumes at the step that did not commit. Expired on its
 *   last attempt, it goes to the dead-letter queue, whose worker ends the job FAILED.
 * - A step that succeeded wakes this worker at once for the next one, which its transaction
 *   enqueued, instead of waiting for the next poll.
 */
export async function startDeletionJobWorker(options: {
  dataSource: DataSource;
  databaseUrl?: string;
  config: DeletionJobConfig;
  logger: Logger;
}): Promise<DeletionJobWorker> {
  const { dataSource, config } = options;
  const logger = options.logger.child({ component: 'deletion-jobs' });
  const databaseUrl = options.databaseUrl ?? (dataSource.options as { url?: string }).url;
  if (!databaseUrl) throw new Error('startDeletionJobWorker needs the database URL');
  const jobs = new DeletionJobService();

  const boss = new PgBoss({
    connectionString: databaseUrl,
    application_name: 'identity-gateway-deletion-jobs',
    // Two workers (the steps and the dead letters), maintenance and a spare.
    max: queuePoolSize(2),
    schedule: false,
    supervise: true,
    maintenanceIntervalSeconds: config.stepExpirySeconds,
    archiveCompletedAfterSeconds: 3600,
    deleteAfterDays: 7,
  });
  boss.on('error', (error: Error) => logger.warn({ err: error }, 'deletion job queue error'));
  await boss.start();
  const queue = {
    name: DELETION_JOB_QUEUE,
    policy: 'standard' as const,
    expireInSeconds: config.stepExpirySeconds,
    retryLimit: config.maxAttempts - 1,
    retryDelay: config.retryDelaySeconds,
    retryBackoff: config.retryDelaySeconds > 0,
    deadLetter: DELETION_JOB_DEAD_LETTER,
  };
  await boss.createQueue(DELETION_JOB_DEAD_LETTER, { name: DELETION_JOB_DEAD_LETTER, policy: 'standard' });
  await boss.createQueue(DELETION_JOB_QUEUE, queue);
  await boss.updateQueue(DELETION_JOB_QUEUE, queue);
  const requeued = await jobs.requeueStranded(dataSource);
  if (requeued > 0) logger.warn({ jobs: requeued }, 'deletion jobs with no step in the queue: their current step was queued again');

  let workerId = '';
  workerId = await boss.work<DeletionStep>(
    DELETION_JOB_QUEUE,
    { batchSize: 1, pollingIntervalSeconds: config.pollIntervalMs / 1000, includeMetadata: true },
    async ([job]) => {
      const step = job.data;
      try {
        const outcome = await jobs.runStep(dataSource, step, config.chunkMembers);
        if (outcome.kind === 'chunk') boss.notifyWorker(workerId);
        if (outcome.kind === 'finished') logger.info({ jobId: step.jobId, receiptId: outcome.receipt.id }, 'organization deletion job succeeded');
      } catch (error) {
        const final = job.retryCount >= job.retryLimit;
        logger.warn({ err: error, jobId: step.jobId, step: step.step, attempt: job.retryCount + 1, final }, 'deletion job step failed');
        await jobs
          .recordFailure(dataSource, step, publicDescriptionOf(error), final)
          .catch((cause: unknown) => logger.error({ err: cause, jobId: step.jobId }, 'recording a deletion job failure failed'));
        // Not rethrown after the last attempt: the job is FAILED, nothing is left to retry.
        if (!final) throw error;
      }
    },
  );

  // A step whose last attempt expired (its worker killed each time) lands here: the job ends FAILED.
  await boss.work<DeletionStep>(
    DELETION_JOB_DEAD_LETTER,
    { batchSize: 1, pollingIntervalSeconds: config.pollIntervalMs / 1000 },
    async ([job]) => {
      logger.error({ jobId: job.data.jobId, step: job.data.step }, 'deletion job step expired on its last attempt');
      await jobs.recordFailure(
        dataSource,
        job.data,
        `${ErrorCode.INTERNAL_SERVER_ERROR}: the step's worker stopped before finishing it, ${config.maxAttempts} times`,
        true,
      );
    },
  );

  return {
    async stop(graceMs = 30_000) {
      await boss.stop({ graceful: true, wait: true, timeout: graceMs });
    },
  };
}
