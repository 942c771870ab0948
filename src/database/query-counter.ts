import { Client } from 'pg';
import type { Logger as TypeOrmLogger } from 'typeorm';
import type { Logger } from 'pino';

/**
 * Counts every SQL statement sent to PostgreSQL (transaction control included), at the
 * driver: each `query()` call on a pg client of the DataSource's pool is one statement,
 * whether TypeORM's query runner sent it, a read snapshot's BEGIN
 * (src/http/read-snapshot.ts) or the one-round-trip deleteUser (src/database/transaction.ts).
 * Tests read `count` to assert how many statements a request costs; it is how "no N+1",
 * "constant statements per deletion" and "deleteUser in one round trip" (issue 13) are
 * proven, and bench case 4 prints it.
 *
 * It is also the DataSource's TypeORM logger (errors, slow statements, migrations), and
 * createDataSource (ormconfig.ts) installs `pgClient` as the pool's client class when it
 * is given one as its logger. TypeORM still calls `logQuery` for the statements it sends;
 * that counts nothing (the driver did), so it may be wrapped to capture statements.
 */
export class QueryCounter implements TypeOrmLogger {
  count = 0;

  /** A pg Client class whose every `query()` adds one to `count` (and logs its text at trace level). */
  readonly pgClient: typeof Client;

  constructor(private readonly logger?: Logger) {
    const counter = this;
    this.pgClient = class CountingClient extends Client {
      // pg's query() has many overloads (text, config object, Submittable, callback): all pass through.
      query(...args: unknown[]): never {
        counter.count += 1;
        const first = args[0] as string | { text?: unknown } | undefined;
        counter.logger?.trace({ sql: typeof first === 'string' ? first : first?.text }, 'sql');
        return (Client.prototype.query as (...args: unknown[]) => never).apply(this, args);
      }
    } as unknown as typeof Client;
  }

  /** Called by TypeORM for each statement it sends; counted by `pgClient` instead. */
  logQuery(_query: string, _parameters?: unknown[]): void {}
  logQueryError(error: string | Error): void {
    // The statement text and parameters may carry personal data: log the error's code and message only.
    this.logger?.debug({ err: typeof error === 'string' ? error : error.message }, 'sql error');
  }
  logQuerySlow(time: number): void {
    this.logger?.warn({ ms: time }, 'slow sql statement');
  }
  logSchemaBuild(): void {}
  logMigration(message: string): void {
    this.logger?.info(message);
  }
  log(level: 'log' | 'info' | 'warn', message: unknown): void {
    if (level === 'warn') this.logger?.warn({ message }, 'typeorm');
  }
}

/** The pool's client class for a DataSource whose logger is a QueryCounter (ormconfig.ts), else none. */
export function countingClientOf(logger: unknown): { Client?: typeof Client } {
  return logger instanceof QueryCounter ? { Client: logger.pgClient } : {};
}
