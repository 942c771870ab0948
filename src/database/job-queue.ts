import PgBoss from 'pg-boss';
import type { EntityManager } from 'typeorm';
import { sqlState } from '../errors';

/**
 * The one job-queue library, pg-boss, over the same PostgreSQL (its own `pgboss` schema,
 * created and migrated by pg-boss at start; our migrations never touch it). Webhook delivery
 * (issue 12, src/webhooks/webhook-queue.ts) and organization deletion jobs (issue 15,
 * src/deletion/deletion-job.worker.ts) both enqueue here, inside the caller's transaction:
 * a job commits, or rolls back, with the change that asked for it.
 */

// pg-boss's INSERT only needs its configuration's defaults, not a connection: this instance
// is never started, every insert passes the caller's transaction as `db`. Expiry and retries
// come from each queue's own settings.
const inserter = new PgBoss({
  db: { executeSql: () => Promise.reject(new Error('inserts run on the caller’s transaction')) },
});

/** pg-boss's Db interface over a TypeORM transaction's manager. */
function transactionDb(manager: EntityManager): PgBoss.Db {
  return {
    async executeSql(text, values) {
      const result = await manager.query(text, values);
      // TypeORM answers an UPDATE or DELETE with [rows, count].
      const rows = Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number' ? result[0] : result;
      return { rows };
    },
  };
}

/**
 * Inserts jobs in the caller's transaction (`manager`), one statement for all of them.
 * Throws QueueNotStartedError when pg-boss's schema does not exist yet: no process ever
 * started a queue worker on this database.
 */
export async function insertJobs<T extends object>(manager: EntityManager, jobs: PgBoss.JobInsert<T>[]): Promise<void> {
  if (jobs.length === 0) return;
  try {
    await inserter.insert(jobs, { db: transactionDb(manager) });
  } catch (error) {
    if (sqlState(error) === '3F000' || sqlState(error) === '42P01') throw new QueueNotStartedError();
    throw error;
  }
}

/** pg-boss's schema is missing: no worker has started on this database yet. */
export class QueueNotStartedError extends Error {
  constructor() {
    super('the job queue has not been started on this database');
  }
}
