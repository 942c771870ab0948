import type { EntityManager } from 'typeorm';
import { authorizeMembershipChange, authorizeRoleChange } from '../auth/access';
import { ViewerKind, type Principal } from '../auth/principal';
import { lockOrganization, lockOwners, lockUser } from '../database/locks';
import { AppError, ErrorCode, sqlState } from '../errors';
import { newId, parseId } from '../ids';
import type { Organization } from '../organizations/organization.entity';
import type { User } from '../users/user.entity';
import { Membership, MembershipRole, type RemovedMembership } from './membership.entity';
import type { AddMemberInput, UpdateMemberRoleInput } from './membership.inputs';

const LAST_OWNER =
  'This is the last OWNER of the organization; promote another member to OWNER first, or delete the organization';

/**
 * Membership writes, in THE lock order of src/database/locks.ts: the organization row,
 * then user rows in ID order, then the membership itself.
 *
 * - addMember locks the organization FOR SHARE and the user FOR SHARE, so a concurrent
 *   deleteOrganization (organization FOR UPDATE, members FOR UPDATE) either sees the new
 *   membership or makes this call answer NOT_FOUND: no membership is lost, no orphan left.
 * - removeMember and updateMemberRole lock the organization FOR NO KEY UPDATE (one
 *   ownership change at a time per organization), then the OWNERs' and the target's user
 *   rows FOR SHARE (lockOwners), so neither another ownership change nor deleteUser (user
 *   FOR UPDATE) can slip between the last-OWNER check and the write.
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
    const { organization, callerRole } = await lockOrganization(manager, organizationId, 'FOR SHARE', callerIdOf(principal));
    // @Authorized admits only the admin and keys today (issue 9); the rule stays in force should that change.
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
    const { callerRole } = await lockOrganization(manager, organizationId, 'FOR NO KEY UPDATE', callerIdOf(principal));
    const owners = await lockOwners(manager, organizationId, [userId]);
    const target = await this.membershipOf(manager, principal, callerRole, organizationId, userId);
    authorizeMembershipChange(principal, callerRole, organizationId, target.role);
    if (target.role === MembershipRole.OWNER && owners <= 1) throw AppError.conflict(LAST_OWNER);
    const [[removed]]: [[RemovedMembership]] = await manager.query(
      `DELETE FROM memberships WHERE id = $1
       RETURNING id, organization_id AS "organizationId", user_id AS "userId", role`,
      [target.id],
    );
    return removed;
  }

  /**
   * updateMemberRole (issue 9). The last OWNER can never be demoted (CONFLICT, for every
   * caller); setting the role a member already has changes nothing and returns the
   * membership as it is.
   */
  async updateRole(manager: EntityManager, principal: Principal, input: UpdateMemberRoleInput): Promise<Membership> {
    const organizationId = parseId('organization', input.organizationId, 'input.organizationId');
    const userId = parseId('user', input.userId, 'input.userId');
    const { callerRole } = await lockOrganization(manager, organizationId, 'FOR NO KEY UPDATE', callerIdOf(principal));
    const owners = await lockOwners(manager, organizationId, [userId]);
    const target = await this.membershipOf(manager, principal, callerRole, organizationId, userId);
    authorizeRoleChange(principal, callerRole, organizationId, target.role, input.role);
    if (target.role === input.role) return target;
    if (target.role === MembershipRole.OWNER && owners <= 1) throw AppError.conflict(LAST_OWNER);
    const [[updated]]: [[Partial<Membership>]] = await manager.query(
      `UPDATE memberships SET role = $2 WHERE id = $1
       RETURNING id, organization_id AS "organizationId", user_id AS "userId", role, created_at AS "createdAt"`,
      [target.id, input.role],
    );
    return manager.create(Membership, updated);
  }

  /**
   * The target's membership, read in its own statement after the locks (see locks.ts).
   * NOT_FOUND when there is none; a session caller who is not a member of the
   * organization learns nothing about its members (NOT_FOUND for the organization).
   */
  private async membershipOf(
    manager: EntityManager,
    principal: Principal,
    callerRole: MembershipRole | null,
    organizationId: string,
    userId: string,
  ): Promise<Membership> {
    const membership = await manager.findOneBy(Membership, { organizationId, userId });
    if (membership) return membership;
    if (callerRole === null && principal.kind === ViewerKind.SESSION) throw AppError.notFound('Organization', organizationId);
    throw new AppError(ErrorCode.NOT_FOUND, `User ${userId} is not a member of organization ${organizationId}`);
  }
}

function callerIdOf(principal: Principal): string | null {
  return principal.kind === ViewerKind.SESSION ? principal.userId : null;
}
