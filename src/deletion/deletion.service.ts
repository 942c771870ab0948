import type { EntityManager } from 'typeorm';
import { authorizeOrganizationDeletion, authorizeUserDeletion } from '../auth/access';
import { actorOf, ViewerKind, type Principal } from '../auth/principal';
import { roleIn } from '../database/locks';
import { AppError, retryTransaction } from '../errors';
import { newId, parseId } from '../ids';
import type { RemovedMembership } from '../memberships/membership.entity';
import type { TerminatedSession } from '../sessions/session.entity';
import {
  DELETE_ORGANIZATION,
  DELETE_USER,
  LOCK_MEMBERS,
  LOCK_ORGANIZATION,
  LOCK_OWNED_ORGANIZATIONS,
  LOCK_USER,
} from './deletion.sql';
import {
  DeletionKind,
  type DeleteOrganizationPayload,
  type DeleteUserPayload,
  type DeletionReceipt,
} from './deletion.types';

/**
 * Which payload lists to build. An organization of 100,000 members has 300,000
 * sessions: the lists are aggregated only when the client selected them.
 */
export interface ListSelection {
  terminatedSessions: boolean;
  removedMemberships: boolean;
  cascadedUsers: boolean;
  retainedUserIds: boolean;
}

/** What a deletion did; the resolver adds dryRun and withholds the receipt of a dry run. */
export type UserDeletion = Omit<DeleteUserPayload, 'dryRun' | 'receipt'> & { receipt: DeletionReceipt };
export type OrganizationDeletion = Omit<DeleteOrganizationPayload, 'dryRun' | 'receipt'> & { receipt: DeletionReceipt };

interface ReceiptRow {
  id: string;
  kind: DeletionKind;
  subject_id: string;
  actor: string;
  deleted_at: string;
  terminated_session_count: number;
  removed_membership_count: number;
  cascaded_user_count: number;
  digest: string;
}

interface DeletionRow {
  receipt: ReceiptRow;
  terminated_sessions: Array<Omit<TerminatedSession, 'terminatedAt'> & { terminatedAt: string }> | null;
  removed_memberships: RemovedMembership[] | null;
  cascaded_users?: string[] | null;
  retained_user_ids?: string[] | null;
  /** DELETE_USER only: organizations the user is the last OWNER of, sorted. */
  last_owned_organization_ids?: string[];
  /** DELETE_USER only: every organization the user is an OWNER of. */
  owned_organization_ids?: string[];
}

export function toReceipt(row: ReceiptRow): DeletionReceipt {
  return {
    id: row.id,
    kind: row.kind,
    subjectId: row.subject_id,
    actor: row.actor,
    deletedAt: new Date(row.deleted_at),
    terminatedSessionCount: row.terminated_session_count,
    removedMembershipCount: row.removed_membership_count,
    cascadedUserCount: row.cascaded_user_count,
    digest: row.digest.trim(),
  };
}

/**
 * The rows as PostgreSQL aggregated them, not copied: for 100,000 members this list has
 * 300,000 entries, and the DateTimeISO scalar serializes the ISO text as it is.
 */
function terminatedSessions(row: DeletionRow): TerminatedSession[] {
  return (row.terminated_sessions ?? []) as unknown as TerminatedSession[];
}

/**
 * The cascade engine. Runs inside the transaction the mutation opened (never its
 * own) with a constant number of set-based statements; see deletion.sql.ts for the
 * order of work and the locks. The caller decides whether to commit or, for a dry
 * run, roll back: the work done is the same.
 */
export class DeletionService {
  async deleteUser(
    manager: EntityManager,
    principal: Principal,
    id: string,
    lists: ListSelection,
  ): Promise<UserDeletion> {
    const userId = parseId('user', id, 'id');
    authorizeUserDeletion(principal, userId);
    const ownedAtLock: Array<{ id: string }> = await manager.query(LOCK_OWNED_ORGANIZATIONS, [userId]);
    const locked = await manager.query(LOCK_USER, [userId]);
    if (locked.length === 0) throw AppError.notFound('User', userId);
    const [row]: DeletionRow[] = await manager.query(DELETE_USER, [
      userId,
      newId('receipt'),
      actorOf(principal),
      lists.terminatedSessions,
      lists.removedMemberships,
    ]);
    const lockedIds = new Set(ownedAtLock.map((organization) => organization.id));
    if ((row.owned_organization_ids ?? []).some((organizationId) => !lockedIds.has(organizationId))) {
      // Made an OWNER elsewhere between the two lock statements: that organization is not locked. Start over.
      throw retryTransaction('deleteUser: the user became an OWNER of an organization it had not locked');
    }
    const lastOwned = row.last_owned_organization_ids ?? [];
    if (lastOwned.length > 0) {
      // Thrown inside the transaction: it rolls back, and the statement above wrote nothing.
      throw AppError.conflict(
        `The user is the last OWNER of ${lastOwned.length === 1 ? 'an organization' : `${lastOwned.length} organizations`} ` +
          '(extensions.organizationIds); promote another member to OWNER with updateMemberRole, or delete the organization first',
        { organizationIds: lastOwned },
      );
    }
    return {
      deletedUserId: userId,
      terminatedSessions: terminatedSessions(row),
      removedMemberships: row.removed_memberships ?? [],
      receipt: toReceipt(row.receipt),
    };
  }

  async deleteOrganization(
    manager: EntityManager,
    principal: Principal,
    id: string,
    lists: ListSelection,
  ): Promise<OrganizationDeletion> {
    const organizationId = parseId('organization', id, 'id');
    const locked = await manager.query(LOCK_ORGANIZATION, [organizationId]);
    if (locked.length === 0) throw AppError.notFound('Organization', organizationId);
    // A signed-in caller's role, read after the lock in a statement of its own (the admin and keys need none).
    const callerRole = principal.kind === ViewerKind.SESSION ? await roleIn(manager, organizationId, principal.userId) : null;
    authorizeOrganizationDeletion(principal, callerRole, organizationId);
    await manager.query(LOCK_MEMBERS, [organizationId]);
    const [row]: DeletionRow[] = await manager.query(DELETE_ORGANIZATION, [
      organizationId,
      newId('receipt'),
      actorOf(principal),
      lists.terminatedSessions,
      lists.removedMemberships,
      lists.cascadedUsers,
      lists.retainedUserIds,
    ]);
    return {
      deletedOrganizationId: organizationId,
      terminatedSessions: terminatedSessions(row),
      removedMemberships: row.removed_memberships ?? [],
      cascadedUsers: (row.cascaded_users ?? []).map((userId) => ({ id: userId })),
      retainedUserIds: row.retained_user_ids ?? [],
      receipt: toReceipt(row.receipt),
    };
  }
}
