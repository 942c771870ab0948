import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The indexes the receipt's list pages read (issue 13; DeletionReceiptPages1764300600000 adds
 * the receipt's txid they go with):
 *
 * - events_txid_type_position_idx: a page of one list is `txid = ? AND type = ? AND
 *   position > ? ORDER BY position LIMIT ?`, one index range whatever the list (0.1 ms a
 *   page at 10,000 members). On (txid, position) alone, the first page of removed
 *   memberships of a 100,000-member deletion would step over its 300,000 session events.
 * - events_deleted_user_idx: retained users are the membership events whose userId has no
 *   user.deleted event of the same deletion; one lookup per membership event (partial: only
 *   user.deleted events, one per deleted user, are in it).
 * Both cost a little on every deletion's INSERT into events; the floor writes the same rows
 * into the same table, so its indexes are the same.
 *
 * Built CONCURRENTLY, so that a deploy does not stop writes to events (every deletion and
 * every membership or session change writes there) for as long as the build takes: a plain
 * CREATE INDEX holds a SHARE lock on the table until its transaction ends. CONCURRENTLY cannot
 * run in a transaction, hence `transaction = false`: TypeORM's `each` mode (every caller of
 * runMigrations here, and ormconfig.ts's migrationsTransactionMode for the CLI) runs this
 * migration outside one, statement by statement. (`all` mode refuses to run it.)
 *
 * The build waits for the transactions that write to events when it starts (the deletions
 * of the moment), and does not hold up later ones. A build that fails part way (cancelled,
 * a crash) leaves an INVALID index that IF NOT EXISTS would keep for ever. So each index that
 * exists but is invalid is dropped first and built again, and the migration can simply be
 * run again. No session setting is changed: the gateway's lock and statement timeouts go
 * with each transaction it opens (src/database/transaction.ts), never with the connection,
 * so these autocommit statements run under the server's own defaults.
 */
export class DeletionReceiptPageIndexes1764300600500 implements MigrationInterface {
  name = 'DeletionReceiptPageIndexes1764300600500';

  /** Outside a transaction: CREATE INDEX CONCURRENTLY refuses to run in one. */
  transaction = false as const;

  static readonly INDEXES: ReadonlyArray<{ name: string; definition: string }> = [
    { name: 'events_txid_type_position_idx', definition: 'ON events (txid, type, position)' },
    { name: 'events_deleted_user_idx', definition: `ON events ((data->>'userId')) WHERE type = 'user.deleted'` },
  ];

  async up(db: QueryRunner): Promise<void> {
    // Each statement on its own: several in one query string would run in one implicit transaction.
    for (const { name, definition } of DeletionReceiptPageIndexes1764300600500.INDEXES) {
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

  /** TypeORM reverts in a transaction whatever `transaction` says: a plain DROP INDEX there. */
  async down(db: QueryRunner): Promise<void> {
    const concurrently = db.isTransactionActive ? '' : ' CONCURRENTLY';
    for (const { name } of [...DeletionReceiptPageIndexes1764300600500.INDEXES].reverse()) {
      await db.query(`DROP INDEX${concurrently} IF EXISTS ${name}`);
    }
  }
}
