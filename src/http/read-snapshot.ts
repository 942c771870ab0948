import type { ApolloServerPlugin } from '@apollo/server';
import type { DataSource, EntityManager, QueryRunner } from 'typeorm';
import { beginStatement } from '../database/transaction';
import { sqlState } from '../errors';
import type { Context } from './context';

const IN_FAILED_TRANSACTION = '25P02';

/**
 * One snapshot for every read of a query request (issue 10): a parent and its children
 * are read at the same instant, so a non-null field such as `Membership.user` cannot fail
 * because a deletion committed between the statement that read the membership and the
 * one that read its user.
 *
 * Why a transaction rather than loaders that join each child to the row it points to:
 * joins fix only the pairs they name and the issue asks that every query see one
 * snapshot, and measured on the member-list read (100 members with users and sessions,
 * production build, interleaved runs on a busy 2-core machine) the snapshot's BEGIN and
 * COMMIT cost about 7% of req/s for one client and none at eight (there it measured faster).
 *
 * The transaction opens lazily, on the request's first statement, with one round trip
 * (`BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL lock_timeout = …; SET LOCAL
 * statement_timeout = …`, src/database/transaction.ts beginStatement: the timeouts hold
 * for this transaction only, also behind PgBouncer, issue 14); a request that never reads, or
 * fails before execution, takes no connection. It is ended (COMMIT, connection back to
 * the pool) by readSnapshotPlugin's willSendResponse, which Apollo runs after execution
 * on success and on error alike. A read-only REPEATABLE READ transaction never fails with
 * a serialization error, so it needs no retry. Every read of the request runs on this one
 * connection, and authentication has returned its own before: a query never waits for a
 * second connection while holding one, so a small pool cannot deadlock.
 */
export class ReadSnapshot {
  static readonly MODE = 'ISOLATION LEVEL REPEATABLE READ READ ONLY';

  /** What opens the snapshot: BEGIN with MODE and the DataSource's timeouts, one statement. */
  readonly begin: string;
  private readonly runner: QueryRunner;
  private begun?: Promise<unknown>;
  private ended?: Promise<void>;
  /** The first statement that failed: it aborted the transaction, so it is what every later one fails with. */
  private failure?: unknown;
  /** Settles when the statement asked for last has finished. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(dataSource: DataSource) {
    this.runner = dataSource.createQueryRunner();
    this.begin = beginStatement(dataSource, ReadSnapshot.MODE);
    // Every statement of the runner asks connect() for its connection; the first call
    // takes one from the pool and begins the transaction on it, and every caller (the
    // first one's concurrent siblings included) waits for that BEGIN before its statement.
    const connect = this.runner.connect.bind(this.runner);
    this.runner.connect = () => {
      this.begun ??= connect().then(async (connection: { query(sql: string): Promise<unknown> }) => {
        // Sent on the pg client itself: the driver-level QueryCounter counts it (src/database/query-counter.ts).
        await connection.query(this.begin);
        return connection;
      });
      return this.begun as Promise<unknown>;
    };
    // After one statement fails, PostgreSQL refuses the rest of the transaction with 25P02
    // ("current transaction is aborted"). Those fields fail for the first one's reason
    // (a lock timeout: CONFLICT; the database gone: SERVICE_UNAVAILABLE), never as a bug.
    const query = this.runner.query.bind(this.runner) as (...args: unknown[]) => Promise<unknown>;
    const guarded = async (...args: unknown[]) => {
      try {
        return await query(...args);
      } catch (error) {
        if (this.failure !== undefined && sqlState(error) === IN_FAILED_TRANSACTION) throw this.failure;
        this.failure ??= error;
        throw error;
      }
    };
    // Sibling loaders ask at once; one connection runs one statement at a time. pg would
    // queue them itself, but that is deprecated (removed in pg 9), so they queue here, in
    // the order they were asked.
    (this.runner as { query: (...args: unknown[]) => Promise<unknown> }).query = (...args: unknown[]) => {
      const run = this.queue.then(() => guarded(...args));
      this.queue = run.catch(() => undefined);
      return run;
    };
  }

  /** The manager every read of the request goes through (loaders, ctx.reader). */
  get manager(): EntityManager {
    return this.runner.manager;
  }

  /** COMMIT and give the connection back; safe to call more than once, and when nothing was read. */
  end(): Promise<void> {
    this.ended ??= this.finish();
    return this.ended;
  }

  private async finish(): Promise<void> {
    let failure: unknown;
    if (this.begun) {
      try {
        await this.begun;
        // The connection is ours only once BEGIN went through; a failed BEGIN (or COMMIT)
        // hands it back as broken, so the pool closes it instead of reusing it.
        await this.runner.query('COMMIT');
      } catch (error) {
        failure = error;
      }
    }
    const release = (this.runner as unknown as { releasePostgresConnection?: (error?: unknown) => Promise<void> })
      .releasePostgresConnection;
    if (failure !== undefined && release) await release.call(this.runner, failure).catch(() => undefined);
    else await this.runner.release().catch(() => undefined);
  }
}

/**
 * Binds a query's reads to a ReadSnapshot once Apollo knows the operation is a query
 * (mutations keep their own transaction, ctx.transaction), and ends it before the
 * response is sent.
 */
export function readSnapshotPlugin(): ApolloServerPlugin<Context> {
  return {
    async requestDidStart() {
      let snapshot: ReadSnapshot | undefined;
      return {
        async didResolveOperation({ operation, document, contextValue }) {
          // On the read replica when one is configured, unless a root field needs the primary (src/database/replica.ts).
          if (operation?.operation === 'query') snapshot = contextValue.readFromSnapshot({ operation, document });
        },
        async willSendResponse() {
          await snapshot?.end();
        },
      };
    },
  };
}
