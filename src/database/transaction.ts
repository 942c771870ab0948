import type { DataSource, EntityManager, QueryRunner } from 'typeorm';
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
  /**
   * The work sends exactly one statement (issue 13: deleteUser calls delete_user_v1, see
   * src/deletion/deletion.sql.ts). It then runs in autocommit, without BEGIN and COMMIT:
   * PostgreSQL wraps the statement in a transaction of its own, which commits when the
   * statement succeeds and rolls back entirely when it fails, so the unit stays atomic in
   * one round trip (deleteUser took five: BEGIN, two locks, its statement, COMMIT). The
   * connection's lock and statement timeouts (ormconfig.ts: set when the connection opens,
   * for the whole session) apply as to any statement; statement_timeout bounds the one
   * statement as a whole. Retries are as for a transaction. With rollbackOnly (a dry run)
   * it is BEGIN, the statement, ROLLBACK. A second statement from the work is refused
   * before it is sent: it would commit on its own.
   * One difference from a transaction: a connection cut off while the statement runs
   * (Database.abort at the end of a shutdown's grace period) does not stop it, since
   * PostgreSQL notices a closed connection only when it next reads or writes it; the
   * statement still commits or fails as a whole. With the default timeouts (each lock wait
   * at most 5 s, a grace of 30 s) a deleteUser is unlikely to be still running then.
   */
  singleStatement?: boolean;
}

/** Runs work when a slot is free, one slot per call, and frees it when the work ends either way. */
export interface Admission {
  run<T>(work: () => Promise<T>): Promise<T>;
}

/**
 * Opens the one transaction of a mutation and hands its EntityManager to the work.
 * Services never open their own. A deadlock (40P01) or serialization failure (40001)
 * reruns the whole unit of work with a short, jittered back-off; the client never
 * sees them unless every attempt failed. With `singleStatement` the unit is one
 * statement in autocommit instead (no BEGIN/COMMIT round trips; see that option).
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
  const autocommit = options.singleStatement === true && !options.rollbackOnly;
  for (let attempt = 1; ; attempt += 1) {
    const runner = dataSource.createQueryRunner();
    try {
      await runner.connect();
      if (autocommit) {
        oneStatementOnly(runner);
        return await work(runner.manager);
      }
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

/** Lets the runner send one statement; a second throws (a bug: in autocommit it would commit on its own). */
function oneStatementOnly(runner: QueryRunner): void {
  const query = runner.query.bind(runner) as (...args: unknown[]) => Promise<unknown>;
  let sent = false;
  (runner as { query: (...args: unknown[]) => Promise<unknown> }).query = (...args: unknown[]) => {
    if (sent) return Promise.reject(new Error('a singleStatement unit of work sent a second statement'));
    sent = true;
    return query(...args);
  };
}
