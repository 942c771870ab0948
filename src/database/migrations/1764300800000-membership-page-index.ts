import type { MigrationInterface, QueryRunner } from 'typeorm';
import { createIndexesConcurrently, dropIndexes, type ConcurrentIndex } from './concurrent-indexes';

/**
 * The index an organization's member list reads (issue 13): `Organization.memberships` is in
 * membership ID order, and a page is `organization_id = ? AND id > ? ORDER BY id LIMIT ?`
 * (src/memberships/membership.loader.ts MEMBERSHIP_PAGE), one index range of `first + 1`
 * entries whatever the organization's size. Without it every page read each of the
 * organization's memberships and sorted them: the first page of 100 of a 100,000-member
 * organization sorted 100,000 rows.
 *
 * memberships_organization_user_key (organization_id, user_id) stays: it is the one-membership-
 * a-pair constraint, and the deletion job's chunks walk it in user ID order. Each new
 * membership writes one more index entry, and vacuum cleans one more index after a deletion
 * (a DELETE itself touches no index entry); deleteOrganization measured as before against
 * its floor, which has the same index (bench, 2026-11-30 23:13).
 *
 * Built CONCURRENTLY (src/database/migrations/concurrent-indexes.ts): a deploy does not stop
 * joins, invitations accepted or deletions for as long as the build takes.
 */
export class MembershipPageIndex1764300800000 implements MigrationInterface {
  name = 'MembershipPageIndex1764300800000';

  /** Outside a transaction: CREATE INDEX CONCURRENTLY refuses to run in one. */
  transaction = false as const;

  static readonly INDEXES: ReadonlyArray<ConcurrentIndex> = [
    { name: 'memberships_organization_id_idx', definition: 'ON memberships (organization_id, id)' },
  ];

  async up(db: QueryRunner): Promise<void> {
    await createIndexesConcurrently(db, MembershipPageIndex1764300800000.INDEXES);
  }

  async down(db: QueryRunner): Promise<void> {
    await dropIndexes(db, MembershipPageIndex1764300800000.INDEXES);
  }
}
