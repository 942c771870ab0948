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
 * - events_txid_type_position_idx: a page of one list is `txid = ? AND type = ? AND
 *   position > ? ORDER BY position LIMIT ?`, one index range whatever the list (0.1 ms a
 *   page at 10,000 members). On (txid, position) alone, the first page of removed
 *   memberships of a 100,000-member deletion would step over its 300,000 session events.
 * - events_deleted_user_idx: retained users are the membership events whose userId has no
 *   user.deleted event of the same deletion; one lookup per membership event (partial: only
 *   user.deleted events, one per deleted user, are in it).
 * Both cost a little on every deletion's INSERT into events; the floor writes the same rows
 * into the same table, so its indexes are the same.
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
      CREATE INDEX events_txid_type_position_idx ON events (txid, type, position);
      CREATE INDEX events_deleted_user_idx ON events ((data->>'userId')) WHERE type = 'user.deleted';
    `);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP INDEX events_deleted_user_idx; DROP INDEX events_txid_type_position_idx; ALTER TABLE deletion_receipts DROP COLUMN txid;`);
  }
}
