import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 15: deleting an organization of any size as a durable job (src/deletion/deletion-job.service.ts).
 *
 * - organizations.deletion_job_id: set, in one short transaction, when a deletion job is
 *   scheduled; from then on the organization is "being deleted": no read returns it or its
 *   memberships, and no write adds members, invitations, sessions or domains to it
 *   (NOT_FOUND, as if it were gone). No foreign key: the job outlives the organization.
 * - organization_deletion_jobs: one row a job, its progress and its outcome. next_step is the
 *   step a queue job must carry to do any work (a retried or duplicated queue job for a step
 *   already done changes nothing); last_user_id is the highest member ID processed so far (the
 *   next chunk starts after it, so it never steps over deleted index entries); chunk_txids lists the transactions of the steps that
 *   removed members, whose events are the receipt's lists. At most one unfinished
 *   (QUEUED, RUNNING or FAILED) job per organization. requested_by: the actor who scheduled it and
 *   every caller scheduleOrganizationDeletion returned it to since (who may follow it).
 * - deletion_receipts.chunk_txids: for a receipt a job wrote, those transactions (its
 *   pages read the events of each in turn); null for a deletion done in one transaction,
 *   whose events all carry deletion_receipts.txid.
 */
export class OrganizationDeletionJobs1764300700000 implements MigrationInterface {
  name = 'OrganizationDeletionJobs1764300700000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE organization_deletion_jobs (
        id                varchar(30)  PRIMARY KEY,
        organization_id   varchar(30)  NOT NULL,
        receipt_id        varchar(30)  NOT NULL UNIQUE,
        actor             varchar(100) NOT NULL,
        requested_by      varchar(100)[] NOT NULL,
        status            varchar(10)  NOT NULL DEFAULT 'QUEUED'
                          CHECK (status IN ('QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED')),
        total_members     integer      NOT NULL,
        processed_members integer      NOT NULL DEFAULT 0,
        next_step         integer      NOT NULL DEFAULT 0,
        last_user_id      varchar(30),
        chunk_txids       xid8[]       NOT NULL DEFAULT '{}',
        error             text,
        created_at        timestamptz  NOT NULL DEFAULT now(),
        started_at        timestamptz,
        finished_at       timestamptz
      );
      CREATE UNIQUE INDEX organization_deletion_jobs_unfinished_idx
        ON organization_deletion_jobs (organization_id) WHERE status <> 'SUCCEEDED';
      ALTER TABLE organizations ADD COLUMN deletion_job_id varchar(30);
      ALTER TABLE deletion_receipts ADD COLUMN chunk_txids xid8[];
    `);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`
      ALTER TABLE deletion_receipts DROP COLUMN chunk_txids;
      ALTER TABLE organizations DROP COLUMN deletion_job_id;
      DROP TABLE organization_deletion_jobs;
    `);
  }
}
