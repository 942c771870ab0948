import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The deletion engine's transactional outbox: a receipt per deletion call and one
 * event row per fact, written in the same transaction as the deletion. Both hold IDs,
 * counts, times and the actor only, never an email, a name or a token.
 *
 * Events are ordered by (txid, position) and the events query only returns those of
 * transactions older than every transaction still running (pg_snapshot_xmin). A poller
 * that remembers its cursor can therefore never skip an event that commits late: any
 * transaction still in flight has a txid at or above that horizon, so its events sort
 * after every event already handed out.
 */
export class DeletionReceiptsAndEvents1764300100000 implements MigrationInterface {
  name = 'DeletionReceiptsAndEvents1764300100000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE deletion_receipts (
        id                       varchar(30)  PRIMARY KEY,
        kind                     varchar(12)  NOT NULL CHECK (kind IN ('USER', 'ORGANIZATION')),
        subject_id               varchar(30)  NOT NULL UNIQUE,
        actor                    varchar(100) NOT NULL,
        deleted_at               timestamptz  NOT NULL DEFAULT now(),
        terminated_session_count integer      NOT NULL,
        removed_membership_count integer      NOT NULL,
        cascaded_user_count      integer      NOT NULL,
        digest                   char(64)     NOT NULL
      );

      CREATE TABLE events (
        position    bigserial   PRIMARY KEY,
        txid        xid8        NOT NULL DEFAULT pg_current_xact_id(),
        type        varchar(64) NOT NULL,
        occurred_at timestamptz NOT NULL DEFAULT now(),
        data        jsonb       NOT NULL
      );
      CREATE INDEX events_txid_position_idx ON events (txid, position);
    `);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE events; DROP TABLE deletion_receipts;`);
  }
}
