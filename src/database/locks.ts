import type { EntityManager } from 'typeorm';
import { AppError } from '../errors';
import type { MembershipRole } from '../memberships/membership.entity';
import { Organization } from '../organizations/organization.entity';
import { User } from '../users/user.entity';

/**
 * THE lock order for every write that touches people (design notes, issue 9):
 *
 *   1. the organization row;
 *   2. user rows, in ID order;
 *   3. memberships, invitations and sessions (row locks taken by the writes themselves).
 *
 * Every mutation that changes who belongs to an organization, with which role, or whether
 * a person exists, takes its locks in this order, so two of them can wait for each other
 * but never deadlock. The deletion engine's statements (src/deletion/deletion.sql.ts)
 * follow it too. Modes, strongest first:
 *
 * - organization FOR UPDATE: deleteOrganization, scheduleOrganizationDeletion and each step of
 *   a deletion job (issue 15; nothing else may touch it meanwhile);
 * - organization FOR NO KEY UPDATE: removeMember, updateMemberRole (one ownership change
 *   at a time per organization, so a last-OWNER check cannot race another);
 * - organization FOR SHARE: addMember, acceptInvitation, inviteMember, revokeInvitation
 *   (membership may grow, but not while the organization is deleted or its owners change);
 * - user FOR UPDATE: deleteUser, and the members of a deleted organization (all at once, or a
 *   job's chunk of them, in ID order);
 * - user FOR SHARE: the user a membership or session is written for, and the OWNERs whose
 *   count a last-OWNER check reads (lockOwners), so deleteUser cannot slip between.
 *
 * A role read after a lock is read by its own statement: under READ COMMITTED a statement
 * that waited for a lock still sees the snapshot it started with, which would predate the
 * change it waited for.
 */
export type RowLock = 'FOR UPDATE' | 'FOR NO KEY UPDATE' | 'FOR SHARE' | 'FOR KEY SHARE';

export interface LockedOrganization {
  organization: Organization;
  /** The caller's role in it, read after the lock; null when the caller is not a member (or not a user). */
  callerRole: MembershipRole | null;
}

/**
 * Locks the organization row (step 1); NOT_FOUND when it does not exist, or when it is
 * being deleted (issue 15: deletion_job_id set; no write adds to it or changes it, as if it
 * were gone). The condition is part of the locking statement, so PostgreSQL checks it on
 * the row as locked: a write that waited for the transaction marking the organization sees
 * the mark and answers NOT_FOUND. Not for the deletion job itself, which works on an
 * organization that is being deleted.
 */
export async function lockOrganization(
  manager: EntityManager,
  organizationId: string,
  lock: RowLock,
  callerId: string | null,
): Promise<LockedOrganization> {
  const rows: Array<{ id: string; name: string; external_id: string | null; created_at: Date }> = await manager.query(
    `SELECT id, name, external_id, created_at FROM organizations WHERE id = $1 AND deletion_job_id IS NULL ${lock}`,
    [organizationId],
  );
  if (rows.length === 0) throw AppError.notFound('Organization', organizationId);
  const [row] = rows;
  const organization = manager.create(Organization, {
    id: row.id,
    name: row.name,
    externalId: row.external_id,
    createdAt: row.created_at,
  });
  return { organization, callerRole: callerId ? await roleIn(manager, organizationId, callerId) : null };
}

/** A user's role in an organization, or null when they are not a member. */
export async function roleIn(manager: EntityManager, organizationId: string, userId: string): Promise<MembershipRole | null> {
  const rows: Array<{ role: MembershipRole }> = await manager.query(
    `SELECT role FROM memberships WHERE organization_id = $1 AND user_id = $2`,
    [organizationId, userId],
  );
  return rows[0]?.role ?? null;
}

/** Locks one user row (step 2) and returns it; NOT_FOUND when it is gone. */
export async function lockUser(manager: EntityManager, userId: string, lock: RowLock = 'FOR SHARE'): Promise<User> {
  const rows: Array<Record<string, unknown>> = await manager.query(
    `SELECT id, email, email_key AS "emailKey", name, external_id AS "externalId", created_at AS "createdAt"
       FROM users WHERE id = $1 ${lock}`,
    [userId],
  );
  if (rows.length === 0) throw AppError.notFound('User', userId);
  return manager.create(User, rows[0] as Partial<User>);
}

/**
 * With the organization row already locked: locks FOR SHARE, in ID order, the user rows of
 * its OWNERs and of `alsoUserIds` (step 2), then counts its OWNERs afresh. While these locks
 * are held no OWNER can be deleted (deleteUser locks its user FOR UPDATE), and no other
 * ownership change runs (they lock the organization FOR NO KEY UPDATE), so the count stays
 * true until the transaction ends.
 */
export async function lockOwners(manager: EntityManager, organizationId: string, alsoUserIds: string[] = []): Promise<number> {
  await manager.query(
    `SELECT u.id FROM users u
      WHERE u.id IN (SELECT user_id FROM memberships WHERE organization_id = $1 AND role = 'OWNER')
         OR u.id = ANY ($2::varchar[])
      ORDER BY u.id
        FOR SHARE OF u`,
    [organizationId, alsoUserIds],
  );
  const [{ owners }]: Array<{ owners: number }> = await manager.query(
    `SELECT count(*)::int AS owners FROM memberships WHERE organization_id = $1 AND role = 'OWNER'`,
    [organizationId],
  );
  return owners;
}
