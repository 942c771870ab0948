import type { QueryRunner } from 'typeorm';

/** An index a migration builds with CREATE INDEX CONCURRENTLY: its name and what follows the name. */
export interface ConcurrentIndex {
  name: string;
  /** e.g. `ON events (txid, type, position)`. */
  definition: string;
}

/**
 * Builds each index with CREATE INDEX CONCURRENTLY, for migrations whose `transaction` is
 * false (CONCURRENTLY refuses to run in a transaction; TypeORM's `each` mode, which every
 * caller of runMigrations here and ormconfig.ts's CLI use, then runs the migration
 * statement by statement). A concurrent build does not stop writes to the table while it
 * runs: it waits for the transactions writing to the table when it starts and does not
 * hold up later ones (a plain CREATE INDEX holds a SHARE lock until its transaction ends).
 *
 * A build that failed part way (cancelled, a crash) leaves an INVALID index that IF NOT
 * EXISTS would keep for ever, so an index that exists but is invalid is dropped and built
 * again: the migration can simply be run again. Each statement is sent on its own (several
 * in one query string would run in one implicit transaction). No session setting is
 * changed: the gateway's lock and statement timeouts go with each transaction it opens
 * (src/database/transaction.ts), so these autocommit statements run under the server's
 * own defaults.
 */
export async function createIndexesConcurrently(db: QueryRunner, indexes: ReadonlyArray<ConcurrentIndex>): Promise<void> {
  for (const { name, definition } of indexes) {
    const [state] = (await db.query(
      `SELECT i.indisvalid AS valid FROM pg_index i
         JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relname = $1 AND n.nspname = current_schema()`,
      [name],
    )) as Array<{ valid: boolean }>;
    if (state && !state.valid) await db.query(`DROP INDEX CONCURRENTLY IF EXISTS ${name}`);
    await db.query(`CREATE INDEX CONCURRENTLY IF NOT EXISTS ${name} ${definition}`);
  }
}

/**
 * Drops the indexes in reverse order. TypeORM reverts in a transaction whatever a
 * migration's `transaction` says: there a plain DROP INDEX, outside one CONCURRENTLY.
 */
export async function dropIndexes(db: QueryRunner, indexes: ReadonlyArray<ConcurrentIndex>): Promise<void> {
  const concurrently = db.isTransactionActive ? '' : ' CONCURRENTLY';
  for (const { name } of [...indexes].reverse()) await db.query(`DROP INDEX${concurrently} IF EXISTS ${name}`);
}
