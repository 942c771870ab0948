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
 * Throws QueueNotStartedError when pg-boss's schema or one of the jobs' queues does not
 * exist yet: no process ever started that queue's worker on this database.
 */
export async function insertJobs<T extends object>(manager: EntityManager, jobs: PgBoss.JobInsert<T>[]): Promise<void> {
  if (jobs.length === 0) return;
  const names = [...new Set(jobs.map((job) => job.name))];
  try {
    // pg-boss 10's INSERT joins its queue table: a job for a queue no worker created yet is
    // dropped without an error (issue 15 review: a deletion job was left with no step).
    const created: Array<{ name: string }> = await manager.query(`SELECT name FROM pgboss.queue WHERE name = ANY($1)`, [names]);
    if (created.length < names.length) throw new QueueNotStartedError();
    await inserter.insert(jobs, { db: transactionDb(manager) });
  } catch (error) {
    if (sqlState(error) === '3F000' || sqlState(error) === '42P01') throw new QueueNotStartedError();
    throw error;
  }
}

/** pg-boss's schema or a job's queue is missing: no worker of that queue has started on this database yet. */
export class QueueNotStartedError extends Error {
  constructor() {
    super('the job queue has not been started on this database');
  }
}

/**
 * Connections of pg-boss's own pool for `workers` workers (webhook delivery, deletion jobs): one each (every worker
 * polls with its own fetch), and two for maintenance and a spare. Fewer, and a fetch can be
 * waiting for a connection when stop() ends the pool; pg-pool never answers a request
 * still queued at end(), so that worker never stops and pg-boss's offWork keeps polling
 * for it every second, forever (issue 12 review: test/webhook-delivery.test.ts exited 1
 * with every test passed, once jest had torn the file down under that loop).
 */
export function queuePoolSize(workers: number): number {
  return workers + 2;
}
