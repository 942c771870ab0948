import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 13, bounded memory: a deletion's payload lists only their first page; the rest is
 * read from the receipt, page by page, out of the events the deletion wrote.
 *
 * - deletion_receipts.txid: the deletion's transaction, which every one of its events
 *   carries (events.txid). Filled by its default, pg_current_xact_id(), in the statement
 *   that writes the receipt and the events, so the two match. Existing receipts get the
 *   txid of their subject event (user.deleted or organization.deleted, which every deletion
 *   writes with its receiptId); a receipt whose events are gone keeps NULL, and its
 *   lists read as empty pages (its counts and digest stay).
 * The two indexes its pages read (events_txid_type_position_idx, events_deleted_user_idx)
 * are built by the next migration, DeletionReceiptPageIndexes1764300600500, CONCURRENTLY and
 * outside a transaction, so that building them does not stop writes to events.
 */
export class DeletionReceiptPages1764300600000 implements MigrationInterface {
  name = 'DeletionReceiptPages1764300600000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      ALTER TABLE deletion_receipts ADD COLUMN txid xid8;
      UPDATE deletion_receipts r SET txid = e.txid
        FROM events e
       WHERE e.type IN ('user.deleted', 'organization.deleted')
         AND e.data->>'receiptId' = r.id
         AND e.data->>(CASE r.kind WHEN 'USER' THEN 'userId' ELSE 'organizationId' END) = r.subject_id;
      ALTER TABLE deletion_receipts ALTER COLUMN txid SET DEFAULT pg_current_xact_id();
    `);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE deletion_receipts DROP COLUMN txid;`);
  }
}
