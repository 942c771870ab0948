import type { DataSource, EntityManager, QueryRunner } from 'typeorm';
import { AppError, RETRYABLE_SQLSTATES, isDatabaseUnavailable, outcomeUnknownAfter, sqlState } from '../errors';

/**
 * PostgreSQL lock_timeout and statement_timeout for a DataSource's transactions, in ms
 * (config.ts DB_LOCK_TIMEOUT_MS, DB_STATEMENT_TIMEOUT_MS). Absent: the server's own.
 */
export interface TransactionTimeouts {
  lockTimeoutMs?: number;
  statementTimeoutMs?: number;
}

const TIMEOUTS = new WeakMap<DataSource, TransactionTimeouts>();

/**
 * Gives a DataSource the timeouts its transactions run with (createDataSource in
 * ormconfig.ts does, from its options). Each must be a whole number of milliseconds
 * from 1 to 2^31 - 1 (PostgreSQL's range): they are written into the BEGIN statement
 * as literals (beginStatement), so anything else is refused here, before any SQL exists.
 */
export function setTransactionTimeouts(dataSource: DataSource, timeouts: TransactionTimeouts): void {
  for (const [name, value] of Object.entries(timeouts)) {
    if (value !== undefined && !(Number.isInteger(value) && value >= 1 && value <= 2_147_483_647)) {
      throw new RangeError(`${name} must be a whole number of milliseconds between 1 and 2147483647, got ${String(value)}`);
    }
  }
  TIMEOUTS.set(dataSource, { ...timeouts });
}

/** The timeouts a DataSource's transactions run with (empty for one createDataSource did not make). */
export function transactionTimeoutsOf(dataSource: DataSource): TransactionTimeouts {
  return TIMEOUTS.get(dataSource) ?? {};
}

/**
 * The statement that opens every transaction the gateway runs (issue 14, PgBouncer in
 * transaction mode): `BEGIN [mode]; SET LOCAL lock_timeout = <ms>; SET LOCAL
 * statement_timeout = <ms>`, e.g.
 * `BEGIN; SET LOCAL lock_timeout = 5000; SET LOCAL statement_timeout = 120000`.
 *
 * Why SET LOCAL and not connection settings: behind PgBouncer in transaction mode a
 * client's connection is not a server connection. Startup parameters are refused or
 * ignored by the pooler (ops/pgbouncer.ini) and a session-level SET would stay on the
 * server connection for whichever client gets it next. SET LOCAL lasts until this
 * transaction's COMMIT or ROLLBACK, on the server connection that runs it, and nothing
 * of it outlives the transaction. The gateway uses this one mechanism on every path,
 * direct or pooled, so the test suite (direct) runs what production (pooled) runs.
 *
 * One round trip: sent as one simple-protocol query without parameters, which PostgreSQL
 * runs statement by statement; the explicit BEGIN keeps the transaction open after it
 * (pg-boss opens its own maintenance transactions the same way). The pg driver counts it
 * as one query() call (src/database/query-counter.ts), as a lone BEGIN was, so issue 13's
 * statement counts are unchanged. The values are setTransactionTimeouts' validated
 * integers; nothing from a request is ever part of this text.
 * `mode`: transaction modes for BEGIN (e.g. `ISOLATION LEVEL REPEATABLE READ READ ONLY`).
 */
export function beginStatement(dataSource: DataSource, mode = ''): string {
  const { lockTimeoutMs, statementTimeoutMs } = transactionTimeoutsOf(dataSource);
  return [
    mode ? `BEGIN ${mode}` : 'BEGIN',
    ...(lockTimeoutMs !== undefined ? [`SET LOCAL lock_timeout = ${lockTimeoutMs}`] : []),
    ...(statementTimeoutMs !== undefined ? [`SET LOCAL statement_timeout = ${statementTimeoutMs}`] : []),
  ].join('; ');
}

/**
 * TypeORM's startTransaction (its bookkeeping: isTransactionActive, savepoint depth), with
 * its `START TRANSACTION` replaced by beginStatement: the same one round trip, now carrying
 * the timeouts. Entity-manager writes that open a transaction of their own when none is
 * active (save, remove) therefore see this one and join it.
 */
async function beginTransaction(runner: QueryRunner, dataSource: DataSource): Promise<void> {
  const begin = beginStatement(dataSource);
  const own = runner as { query: (...args: unknown[]) => Promise<unknown> };
  const query = own.query;
  let replaced = false;
  own.query = (text: unknown, ...rest: unknown[]) => {
    if (text !== 'START TRANSACTION') return query.call(runner, text, ...rest);
    replaced = true;
    return query.call(runner, begin, ...rest);
  };
  try {
    await runner.startTransaction();
  } finally {
    own.query = query;
  }
  // A TypeORM that began some other way would run the transaction without our timeouts: a bug, never silent.
  if (!replaced) throw new Error('TypeORM began a transaction without START TRANSACTION: the timeouts were not sent');
}

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
   * The work sends exactly one statement (issue 13: deleteUser calls delete_user_v2, see
   * src/deletion/deletion.sql.ts). It then runs in autocommit, without BEGIN and COMMIT:
   * PostgreSQL wraps the statement in a transaction of its own, which commits when the
   * statement succeeds and rolls back entirely when it fails, so the unit stays atomic in
   * one round trip (deleteUser took five: BEGIN, two locks, its statement, COMMIT).
   * No BEGIN means no SET LOCAL either (beginStatement): the connection carries no
   * timeouts of its own (issue 14, nothing outlives a transaction behind PgBouncer), so
   * the statement must bound itself. delete_user_v2 takes the lock timeout as a parameter
   * and sets it for its own transaction first (set_config(…, true)), so each of its lock
   * waits ends after DB_LOCK_TIMEOUT_MS (src/deletion/deletion.sql.ts says what bounds its
   * running time). Retries are as for a transaction. With rollbackOnly (a dry run)
   * it is beginStatement, the statement, ROLLBACK. A second statement from the work is refused
   * before it is sent: it would commit on its own.
   * One difference from a transaction: a connection cut off while the statement runs
   * (Database.abort at the end of a shutdown's grace period) does not stop it, since
   * PostgreSQL notices a closed connection only when it next reads or writes it; the
   * statement still commits or fails as a whole. With the default timeouts (each lock wait
   * at most 5 s, a grace of 30 s) a deleteUser is unlikely to be still running then.
   * A connection lost while the statement is in flight is OUTCOME_UNKNOWN, as for a
   * COMMIT (inTransaction).
   */
  singleStatement?: boolean;
}

/** Runs work when a slot is free, one slot per call, and frees it when the work ends either way. */
export interface Admission {
  run<T>(work: () => Promise<T>): Promise<T>;
}

/**
 * Opens the one transaction of a mutation and hands its EntityManager to the work.
 * Services never open their own. The transaction begins with beginStatement: the
 * DataSource's lock and statement timeouts as SET LOCAL, in the BEGIN's round trip. A deadlock (40P01) or serialization failure (40001)
 * reruns the whole unit of work with a short, jittered back-off; the client never
 * sees them unless every attempt failed. With `singleStatement` the unit is one
 * statement in autocommit instead (no BEGIN/COMMIT round trips; see that option).
 *
 * What a lost connection means depends on when it is lost (issue 14):
 * - while connecting or beginning, or during the work before COMMIT: nothing committed
 *   (PostgreSQL rolls back a transaction whose connection ends), and the driver's error
 *   is thrown as it is (SERVICE_UNAVAILABLE, HTTP 503: "nothing ran, try again", which
 *   HAProxy retries on another gateway);
 * - after the COMMIT, or the one autocommit statement, was sent: PostgreSQL may have
 *   committed before the answer was lost (errors.ts outcomeUnknownAfter), so the unit
 *   fails with OUTCOME_UNKNOWN (HTTP 200, never retried by anyone but the client, who
 *   checks first). An error PostgreSQL answered with (a deferred constraint, a lock
 *   timeout) still means rolled back and is thrown as it is.
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
    // Set once the statement that commits (COMMIT, or the one autocommit statement) is sent.
    let commitSent = false;
    let lost: unknown;
    try {
      await runner.connect();
      if (autocommit) {
        oneStatementOnly(runner, () => {
          commitSent = true;
        });
        return await work(runner.manager);
      }
      // READ COMMITTED, PostgreSQL's default: naming it would cost a SET TRANSACTION round trip.
      // BEGIN and the DataSource's timeouts (SET LOCAL) in one round trip: beginStatement.
      await beginTransaction(runner, dataSource);
      const result = await work(runner.manager);
      if (options.rollbackOnly) await runner.rollbackTransaction();
      else {
        commitSent = true;
        await runner.commitTransaction();
      }
      return result;
    } catch (error) {
      if (isDatabaseUnavailable(error)) lost = error;
      else if (runner.isTransactionActive) {
        await runner.rollbackTransaction().catch(() => undefined);
      }
      if (commitSent && outcomeUnknownAfter(error)) throw AppError.outcomeUnknown(error);
      const code = sqlState(error);
      if (code && RETRYABLE_SQLSTATES.has(code) && attempt < maxAttempts) {
        await new Promise((resolve) => setTimeout(resolve, 5 * 2 ** attempt + Math.random() * 20));
        continue;
      }
      throw error;
    } finally {
      await release(runner, lost).catch(() => undefined);
    }
  }
}

/**
 * Gives the runner's connection back to the pool, or, when it was lost (`lost`: the
 * error that said so), has the pool discard it. A backend ended by PostgreSQL (57P01,
 * pg_terminate_backend) fails the statement with its error message before the socket
 * closes; released as healthy, the pool could hand the dead connection to the next
 * request before noticing, whose statement would then fail too (and, were it a COMMIT, as
 * OUTCOME_UNKNOWN). TypeORM's release takes no error; its releasePostgresConnection(err)
 * passes one to pg-pool's release(err), which destroys the client.
 */
async function release(runner: QueryRunner, lost: unknown): Promise<void> {
  const withError = (runner as unknown as { releasePostgresConnection?: (error: unknown) => Promise<void> }).releasePostgresConnection;
  if (lost !== undefined && typeof withError === 'function') {
    await withError.call(runner, lost || new Error('the connection was lost'));
    return;
  }
  await runner.release();
}

/**
 * Lets the runner send one statement, calling `sending` just before; a second throws (a
 * bug: in autocommit it would commit on its own).
 */
function oneStatementOnly(runner: QueryRunner, sending: () => void): void {
  const query = runner.query.bind(runner) as (...args: unknown[]) => Promise<unknown>;
  let sent = false;
  (runner as { query: (...args: unknown[]) => Promise<unknown> }).query = (...args: unknown[]) => {
    if (sent) return Promise.reject(new Error('a singleStatement unit of work sent a second statement'));
    sent = true;
    sending();
    return query(...args);
  };
}
