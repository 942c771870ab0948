import type { EntityManager } from 'typeorm';
import { authorizeMembershipChange } from '../auth/access';
import { ViewerKind, type Principal } from '../auth/principal';
import { AppError, ErrorCode, sqlState } from '../errors';
import { newId, parseId } from '../ids';
import { Organization } from '../organizations/organization.entity';
import { User } from '../users/user.entity';
import { Membership, MembershipRole, type RemovedMembership } from './membership.entity';
import type { AddMemberInput } from './membership.inputs';

/**
 * Lock order, shared with the deletion engine: the organization row first, then user
 * rows. addMember and removeMember lock the user FOR SHARE, so a concurrent
 * deleteOrganization (which locks its members FOR UPDATE) either sees their change or
 * makes them wait and answer NOT_FOUND: no membership is lost, no orphan is left.
 */
export class MembershipService {
  /**
   * Also returns the organization and user rows as they were when the membership was
   * written, so the response can show them even if a deletion removes them right after
   * this transaction commits.
   */
  async add(
    manager: EntityManager,
    principal: Principal,
    input: AddMemberInput,
  ): Promise<{ membership: Membership; organization: Organization; user: User }> {
    const organizationId = parseId('organization', input.organizationId, 'input.organizationId');
    const userId = parseId('user', input.userId, 'input.userId');
    const role = input.role ?? MembershipRole.MEMBER;
    const { callerRole, organization } = await this.lockOrganization(manager, principal, organizationId, 'FOR SHARE');
    authorizeMembershipChange(principal, callerRole, organizationId, role);
    const user = await lockUser(manager, userId);
    const membership = manager.create(Membership, { id: newId('membership'), organizationId, userId, role });
    try {
      await manager.insert(Membership, membership);
    } catch (error) {
      if (sqlState(error) === '23505') throw AppError.conflict('The user is already a member of this organization');
      throw error;
    }
    return { membership: await manager.findOneByOrFail(Membership, { id: membership.id }), organization, user };
  }

  async remove(
    manager: EntityManager,
    principal: Principal,
    organizationIdArg: string,
    userIdArg: string,
  ): Promise<RemovedMembership> {
    const organizationId = parseId('organization', organizationIdArg, 'organizationId');
    const userId = parseId('user', userIdArg, 'userId');
    // FOR NO KEY UPDATE serializes removals in one organization, so the last-owner check cannot race.
    const { callerRole } = await this.lockOrganization(manager, principal, organizationId, 'FOR NO KEY UPDATE');
    const [target]: Array<{ id: string; role: MembershipRole }> = await manager.query(
      `SELECT m.id, m.role FROM users u
         JOIN memberships m ON m.user_id = u.id AND m.organization_id = $2
        WHERE u.id = $1
          FOR SHARE OF u`,
      [userId, organizationId],
    );
    if (!target) {
      // A caller who may not see the organization learns nothing about its members.
      if (callerRole === null && principal.kind === ViewerKind.SESSION) throw AppError.notFound('Organization', organizationId);
      throw new AppError(ErrorCode.NOT_FOUND, `User ${userId} is not a member of organization ${organizationId}`);
    }
    authorizeMembershipChange(principal, callerRole, organizationId, target.role);
    if (target.role === MembershipRole.OWNER) {
      const [{ owners }] = await manager.query(
        `SELECT count(*)::int AS owners FROM memberships WHERE organization_id = $1 AND role = 'OWNER'`,
        [organizationId],
      );
      if (owners <= 1) {
        throw AppError.conflict('This is the last OWNER of the organization; add another OWNER first or delete the organization');
      }
    }
    const [[removed]]: [[{ id: string; organizationId: string; userId: string; role: MembershipRole }]] =
      await manager.query(
        `DELETE FROM memberships WHERE id = $1
         RETURNING id, organization_id AS "organizationId", user_id AS "userId", role`,
        [target.id],
      );
    return removed;
  }

  /**
   * Locks the organization row and returns it with the caller's role in it (null when
   * the caller is not a member). NOT_FOUND when it does not exist.
   */
  private async lockOrganization(
    manager: EntityManager,
    principal: Principal,
    organizationId: string,
    lock: 'FOR SHARE' | 'FOR NO KEY UPDATE',
  ): Promise<{ callerRole: MembershipRole | null; organization: Organization }> {
    const callerId = principal.kind === ViewerKind.SESSION ? principal.userId : null;
    const rows: Array<{ id: string; name: string; external_id: string | null; created_at: Date; role: MembershipRole | null }> =
      await manager.query(
        `SELECT o.id, o.name, o.external_id, o.created_at, m.role FROM organizations o
           LEFT JOIN memberships m ON m.organization_id = o.id AND m.user_id = $2
          WHERE o.id = $1
            ${lock} OF o`,
        [organizationId, callerId],
      );
    if (rows.length === 0) throw AppError.notFound('Organization', organizationId);
    const [row] = rows;
    const organization = manager.create(Organization, {
      id: row.id,
      name: row.name,
      externalId: row.external_id,
      createdAt: row.created_at,
    });
    return { callerRole: row.role, organization };
  }
}

/** Locks a user row FOR SHARE (see the lock order above) and returns it; NOT_FOUND when it is gone. */
export async function lockUser(manager: EntityManager, userId: string): Promise<User> {
  const user = await manager
    .createQueryBuilder(User, 'u')
    .setLock('pessimistic_read')
    .where('u.id = :userId', { userId })
    .getOne();
  if (!user) throw AppError.notFound('User', userId);
  return user;
}
