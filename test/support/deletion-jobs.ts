import { GetDeletionJobDocument, type GetDeletionJobQuery } from '../../src/generated/graphql';
import { loadConfig } from '../../src/config';
import { startDeletionJobWorker, type DeletionJobWorker } from '../../src/deletion/deletion-job.worker';
import { createLogger } from '../../src/logger';
import type { TestApp } from './app';
import { ok } from './factory';

export type DeletionJobView = NonNullable<GetDeletionJobQuery['deletionJob']>;

/**
 * A deletion job worker (issue 15) on the test app's database, as main.ts starts one;
 * `env` as the server's environment (DELETION_JOB_CHUNK_MEMBERS, …). Stop it in the test.
 */
export function startJobWorker(app: TestApp, env: Record<string, string> = {}): Promise<DeletionJobWorker> {
  const config = loadConfig({ NODE_ENV: 'test', DELETION_JOB_POLL_INTERVAL_MS: '500', ...env });
  return startDeletionJobWorker({
    dataSource: app.dataSource,
    databaseUrl: app.serverDatabaseUrl,
    config: config.deletionJobs,
    logger: createLogger(config.logLevel),
  });
}

/** Polls `probe` every 50 ms until it returns a truthy value, which it returns; throws naming `what` after `timeoutMs`. */
export async function until<T>(probe: () => Promise<T | undefined | false>, what: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Polls deletionJob(id) as the admin until it is SUCCEEDED or FAILED (or `timeoutMs` passes: then it throws). */
export function untilJobEnds(app: TestApp, jobId: string, timeoutMs = 60_000): Promise<DeletionJobView> {
  return until(async () => {
    const job = ok(await app.gql(GetDeletionJobDocument, { id: jobId })).deletionJob;
    if (!job) throw new Error(`deletion job ${jobId} not found`);
    return job.status === 'SUCCEEDED' || job.status === 'FAILED' ? job : undefined;
  }, `deletion job ${jobId} to end`, timeoutMs);
}
