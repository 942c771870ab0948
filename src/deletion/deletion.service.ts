import type { EntityManager } from 'typeorm';
import { authorizeOrganizationDeletion, authorizeUserDeletion } from '../auth/access';
import { actorOf, ViewerKind, type Principal } from '../auth/principal';
import { roleIn } from '../database/locks';
import { transactionTimeoutsOf } from '../database/transaction';
import { AppError, sqlState } from '../errors';
import { newId, parseId } from '../ids';
import type { RemovedMembership } from '../memberships/membership.entity';
import type { TerminatedSession } from '../sessions/session.entity';
import {
  CALL_DELETE_USER,
  DELETE_ORGANIZATION,
  DELETE_USER_LAST_OWNER,
  DELETE_USER_NOT_FOUND,
  LOCK_MEMBERS,
  LOCK_ORGANIZATION,
} from './deletion.sql';
import {
  DeletionKind,
  type DeleteOrganizationPayload,
  type DeleteUserPayload,
  type DeletionReceipt,
  type FirstEntries,
} from './deletion.types';

/**
 * The page size of each payload list (issue 13, bounded memory): the statement returns
 * the first size + 1 entries of each, 0 = not selected (nothing built). An organization of
 * 100,000 members has 300,000 sessions; the rest is read from the receipt's pages.
 */
export interface ListSelection {
  terminatedSessions: number;
  removedMemberships: number;
  cascadedUsers: number;
  retainedUsers: number;
}

/** What a deletion did; the resolver adds dryRun and withholds the receipt of a dry run. */
export type UserDeletion = Omit<DeleteUserPayload, 'dryRun' | 'receipt'> & { receipt: DeletionReceipt };
export type OrganizationDeletion = Omit<DeleteOrganizationPayload, 'dryRun' | 'receipt'> & { receipt: DeletionReceipt };

/** One entry of a first page as the statement returns it: the event's position and the node. */
type PageEntry<T> = { position: string; node: T };

interface ReceiptRow {
  id: string;
  /** The deletion's transaction (xid8 as text): its events carry the same txid. Null for receipts older than issue 13 whose events are gone. */
  txid: string | null;
  /** A job's chunks (issue 15): xid8[] as the driver returns it ('{1,2}'), or as json (strings). */
  chunk_txids?: string | string[] | null;
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
  terminated_sessions: Array<PageEntry<TerminatedSession>> | null;
  removed_memberships: Array<PageEntry<RemovedMembership>> | null;
  cascaded_users?: Array<PageEntry<{ id: string }>> | null;
  retained_users?: Array<PageEntry<{ id: string }>> | null;
  /** DELETE_USER only: organizations the user is the last OWNER of, sorted. */
  last_owned_organization_ids?: string[];
  /** DELETE_USER only: every organization the user is an OWNER of. */
  owned_organization_ids?: string[];
}

/**
 * Members who kept their accounts: every member had exactly one membership in the
 * organization (memberships are unique per organization and user), so those not cascaded.
 * None for a user deletion.
 */
export function retainedUserCount(receipt: DeletionReceipt): number {
  return receipt.kind === DeletionKind.ORGANIZATION ? receipt.removedMembershipCount - receipt.cascadedUserCount : 0;
}

/** An xid8[] column as the driver gives it (no parser for xid8[]: the text '{1,2}') or in json (["1","2"]). */
function xidList(value: string | string[] | null | undefined): string[] | null {
  if (value === null || value === undefined) return null;
  if (Array.isArray(value)) return value.map(String);
  const inner = value.replace(/^\{|\}$/g, '');
  return inner === '' ? [] : inner.split(',');
}

export function toReceipt(row: ReceiptRow): DeletionReceipt {
  return {
    id: row.id,
    txid: row.txid ?? null,
    chunkTxids: xidList(row.chunk_txids),
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
 * A list's first entries (at most its page size + 1) and its total from the receipt's
 * counts. The nodes are the objects PostgreSQL built (the DateTimeISO scalar serializes the
 * ISO text as it is). The resolver shapes them into a page (deletion.resolver.ts).
 */
function firstEntries<T>(entries: Array<PageEntry<T>> | null | undefined, totalCount: number): FirstEntries<T> {
  return { entries: entries ?? [], totalCount };
}

/** The AppError for a refusal DELETE_USER_FUNCTION raised (deletion.sql.ts), or undefined for any other failure. */
function deleteUserRefusal(error: unknown, userId: string): AppError | undefined {
  const raised = ((error as { driverError?: unknown } | null)?.driverError ?? error) as { message?: unknown; detail?: unknown } | null;
  const state = sqlState(error);
  if (state === 'P0002' && raised?.message === DELETE_USER_NOT_FOUND) return AppError.notFound('User', userId);
  if (state !== 'P0001' || raised?.message !== DELETE_USER_LAST_OWNER || typeof raised.detail !== 'string') return undefined;
  const lastOwned = JSON.parse(raised.detail) as string[];
  // The whole statement rolled back: nothing was written.
  return AppError.conflict(
    `The user is the last OWNER of ${lastOwned.length === 1 ? 'an organization' : `${lastOwned.length} organizations`} ` +
      '(extensions.organizationIds); promote another member to OWNER with updateMemberRole, or delete the organization first',
    { organizationIds: lastOwned },
  );
}

/**
 * The cascade engine. Runs inside the transaction the mutation opened (never its
 * own) with a constant number of set-based statements; see deletion.sql.ts for the
 * order of work and the locks. The caller decides whether to commit or, for a dry
 * run, roll back: the work done is the same.
 */
export class DeletionService {
  /**
   * One statement, one round trip (issue 13): the function DELETE_USER_FUNCTION takes the
   * locks, runs DELETE_USER and checks its result (deletion.sql.ts). The resolver runs it
   * with `singleStatement` (autocommit; a dry run is BEGIN, the call, ROLLBACK). Refusals
   * come back as SQLSTATEs and leave as AppErrors: NOT_FOUND, CONFLICT with
   * extensions.organizationIds for the last OWNER (issue 9), and 40001 retried by the caller.
   */
  async deleteUser(
    manager: EntityManager,
    principal: Principal,
    id: string,
    lists: ListSelection,
  ): Promise<UserDeletion> {
    const userId = parseId('user', id, 'id');
    authorizeUserDeletion(principal, userId);
    let row: DeletionRow;
    try {
      const [result]: Array<{ deletion: DeletionRow }> = await manager.query(CALL_DELETE_USER, [
        userId,
        newId('receipt'),
        actorOf(principal),
        lists.terminatedSessions,
        lists.removedMemberships,
        // In autocommit no BEGIN carries SET LOCAL: the function sets its own lock_timeout (issue 14).
        transactionTimeoutsOf(manager.dataSource).lockTimeoutMs ?? 0,
      ]);
      row = result.deletion;
    } catch (error) {
      throw deleteUserRefusal(error, userId) ?? error;
    }
    const receipt = toReceipt(row.receipt);
    return {
      deletedUserId: userId,
      firstPages: {
        terminatedSessions: firstEntries(row.terminated_sessions, receipt.terminatedSessionCount),
        removedMemberships: firstEntries(row.removed_memberships, receipt.removedMembershipCount),
      },
      receipt,
    };
  }

  async deleteOrganization(
    manager: EntityManager,
    principal: Principal,
    id: string,
    lists: ListSelection,
    syncMaxMembers: number,
  ): Promise<OrganizationDeletion> {
    const organizationId = parseId('organization', id, 'id');
    const locked: Array<{ being_deleted: boolean; members: number }> = await manager.query(LOCK_ORGANIZATION, [organizationId]);
    if (locked.length === 0 || locked[0].being_deleted) throw AppError.notFound('Organization', organizationId);
    // A signed-in caller's role, read after the lock in a statement of its own (the admin and keys need none).
    const callerRole = principal.kind === ViewerKind.SESSION ? await roleIn(manager, organizationId, principal.userId) : null;
    authorizeOrganizationDeletion(principal, callerRole, organizationId);
    if (locked[0].members > syncMaxMembers) {
      throw AppError.conflict(
        `The organization has ${locked[0].members} members, more than deleteOrganization deletes in one transaction ` +
          `(SYNC_DELETION_MAX_MEMBERS = ${syncMaxMembers}); delete it with scheduleOrganizationDeletion and follow the job ` +
          'with deletionJob(id). Nothing was deleted',
        { members: locked[0].members, maxMembers: syncMaxMembers },
      );
    }
    await manager.query(LOCK_MEMBERS, [organizationId]);
    const [row]: DeletionRow[] = await manager.query(DELETE_ORGANIZATION, [
      organizationId,
      newId('receipt'),
      actorOf(principal),
      lists.terminatedSessions,
      lists.removedMemberships,
      lists.cascadedUsers,
      lists.retainedUsers,
    ]);
    const receipt = toReceipt(row.receipt);
    return {
      deletedOrganizationId: organizationId,
      firstPages: {
        terminatedSessions: firstEntries(row.terminated_sessions, receipt.terminatedSessionCount),
        removedMemberships: firstEntries(row.removed_memberships, receipt.removedMembershipCount),
        cascadedUsers: firstEntries(row.cascaded_users, receipt.cascadedUserCount),
        retainedUsers: firstEntries(row.retained_users, retainedUserCount(receipt)),
      },
      receipt,
    };
  }
}
