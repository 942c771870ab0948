import type { MigrationInterface, QueryRunner } from 'typeorm';
import { createIndexesConcurrently, dropIndexes, type ConcurrentIndex } from './concurrent-indexes';

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
 * Built CONCURRENTLY (src/database/migrations/concurrent-indexes.ts), so that a deploy does not
 * stop writes to events (every deletion and every membership or session change writes there)
 * for as long as the build takes.
 */
export class DeletionReceiptPageIndexes1764300600500 implements MigrationInterface {
  name = 'DeletionReceiptPageIndexes1764300600500';

  /** Outside a transaction: CREATE INDEX CONCURRENTLY refuses to run in one. */
  transaction = false as const;

  static readonly INDEXES: ReadonlyArray<ConcurrentIndex> = [
    { name: 'events_txid_type_position_idx', definition: 'ON events (txid, type, position)' },
    { name: 'events_deleted_user_idx', definition: `ON events ((data->>'userId')) WHERE type = 'user.deleted'` },
  ];

  async up(db: QueryRunner): Promise<void> {
    await createIndexesConcurrently(db, DeletionReceiptPageIndexes1764300600500.INDEXES);
  }

  async down(db: QueryRunner): Promise<void> {
    await dropIndexes(db, DeletionReceiptPageIndexes1764300600500.INDEXES);
  }
}
