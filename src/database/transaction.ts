import type { DataSource, EntityManager } from 'typeorm';
import { RETRYABLE_SQLSTATES, sqlState } from '../errors';

export interface TransactionOptions {
  /** Run the work, then roll back instead of committing (dry runs). */
  rollbackOnly?: boolean;
  /** Attempts in all, counting the first; deadlocks and serialization failures are retried. */
  maxAttempts?: number;
  /**
   * Admits the unit of work (e.g. the deletion bulkhead, issue 10): its permit is taken
   * before a connection is asked for and given back after the connection is released,
   * held across retries. It may refuse (SERVICE_UNAVAILABLE) without anything having begun.
   */
  admission?: Admission;
}

/** Runs work when a slot is free, one slot per call, and frees it when the work ends either way. */
export interface Admission {
  run<T>(work: () => Promise<T>): Promise<T>;
}

/**
 * Opens the one transaction of a mutation and hands its EntityManager to the work.
 * Services never open their own. A deadlock (40P01) or serialization failure (40001)
 * reruns the whole unit of work with a short, jittered back-off; the client never
 * sees them unless every attempt failed.
 */
export async function inTransaction<T>(
  dataSource: DataSource,
  work: (manager: EntityManager) => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  if (options.admission) {
    const { admission, ...rest } = options;
    return admission.run(() => inTransaction(dataSource, work, rest));
  }
  const maxAttempts = options.maxAttempts ?? 5;
  for (let attempt = 1; ; attempt += 1) {
    const runner = dataSource.createQueryRunner();
    try {
      await runner.connect();
      // READ COMMITTED, PostgreSQL's default: naming it would cost a SET TRANSACTION round trip.
      await runner.startTransaction();
      const result = await work(runner.manager);
      if (options.rollbackOnly) await runner.rollbackTransaction();
      else await runner.commitTransaction();
      return result;
    } catch (error) {
      if (runner.isTransactionActive) {
        await runner.rollbackTransaction().catch(() => undefined);
      }
      const code = sqlState(error);
      if (code && RETRYABLE_SQLSTATES.has(code) && attempt < maxAttempts) {
        await new Promise((resolve) => setTimeout(resolve, 5 * 2 ** attempt + Math.random() * 20));
        continue;
      }
      throw error;
    } finally {
      await runner.release().catch(() => undefined);
    }
  }
}
