import type { Logger as TypeOrmLogger } from 'typeorm';
import type { Logger } from 'pino';

/**
 * TypeORM logger that counts every SQL statement sent to PostgreSQL (transaction
 * control included). Tests read `count` to assert how many statements a request
 * costs; it is how "no N+1" and "constant statements per deletion" are proven.
 */
export class QueryCounter implements TypeOrmLogger {
  count = 0;

  constructor(private readonly logger?: Logger) {}

  logQuery(query: string): void {
    this.count += 1;
    this.logger?.trace({ sql: query }, 'sql');
  }
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
