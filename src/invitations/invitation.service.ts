import type { EntityManager } from 'typeorm';
import {
  authorizeInvitationManagement,
  authorizeInvitationResponse,
  authorizeInvitationRevocation,
} from '../auth/access';
import { actorOf, ViewerKind, type Principal } from '../auth/principal';
import { lockOrganization, lockUser, roleIn } from '../database/locks';
import { AppError, ErrorCode, sqlState } from '../errors';
import { canonicalEmail } from '../identity/canonical';
import { newId, parseId } from '../ids';
import { Membership, MembershipRole } from '../memberships/membership.entity';
import type { Organization } from '../organizations/organization.entity';
import { appendEvent } from '../outbox';
import { keysetPage, type PageArgs, type Page } from '../pagination';
import type { User } from '../users/user.entity';
import { INVITATION_COLUMNS, Invitation, InvitationStatus, invitationStatusCondition } from './invitation.entity';
import type { InviteMemberInput } from './invitation.inputs';

/**
 * Invitations (issue 9, consent): the only way a signed-in OWNER or ADMIN brings someone
 * into an organization. Nobody becomes a member without accepting, so an organization's
 * deletion (whose cascade deletes members for whom it was the only organization) reaches
 * only people who chose to join.
 *
 * Every write follows THE lock order (src/database/locks.ts): the organization row FOR
 * SHARE (membership may grow, but not while the organization is deleted), then the
 * invitee's user row FOR SHARE when accepting, then the invitation row FOR UPDATE, each
 * in its own statement so that what is read after a wait is current. Two accepts, or an
 * accept and a revoke, of one invitation therefore queue on its row, and the second sees
 * the first's decision: an invitation is decided at most once.
 *
 * Events (src/outbox.ts) carry IDs and the role only, never the address.
 */
export class InvitationService {
  /**
   * inviteMember. CONFLICT when the address already has a pending invitation to this
   * organization, or its account is already a member; an earlier invitation that has
   * expired is marked EXPIRED first, so the address can be invited again. The answer is
   * the same whether or not the address has an account. NOT_FOUND when the organization
   * does not exist or is being deleted (issue 15, lockOrganization).
   */
  async invite(
    manager: EntityManager,
    principal: Principal,
    input: InviteMemberInput,
    ttlSeconds: number,
  ): Promise<{ invitation: Invitation; organization: Organization }> {
    const organizationId = parseId('organization', input.organizationId, 'input.organizationId');
    const email = canonicalEmail(input.email, 'input.email');
    const role = input.role ?? MembershipRole.MEMBER;
    const { organization, callerRole } = await lockOrganization(manager, organizationId, 'FOR SHARE', sessionUserId(principal));
    authorizeInvitationManagement(principal, callerRole, organizationId, role);

    await manager.query(
      `UPDATE invitations SET status = 'EXPIRED', decided_at = expires_at
        WHERE organization_id = $1 AND email_key = $2 AND status = 'PENDING' AND expires_at <= now()`,
      [organizationId, email.key],
    );
    const [existing]: Array<{ member: boolean; invited: boolean }> = await manager.query(
      `SELECT EXISTS (SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id
                       WHERE m.organization_id = $1 AND u.email_key = $2) AS member,
              EXISTS (SELECT 1 FROM invitations
                       WHERE organization_id = $1 AND email_key = $2 AND status = 'PENDING') AS invited`,
      [organizationId, email.key],
    );
    if (existing.member) throw AppError.conflict('This address belongs to a member of the organization already');
    if (existing.invited) throw alreadyInvited();

    let rows: Array<Record<string, unknown>>;
    try {
      rows = await manager.query(
        `INSERT INTO invitations (id, organization_id, email, email_key, role, invited_by, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))
         RETURNING ${INVITATION_COLUMNS}`,
        [newId('invitation'), organizationId, email.display, email.key, role, actorOf(principal), ttlSeconds],
      );
    } catch (error) {
      // A concurrent inviteMember of the same address committed its pending invitation first.
      if (sqlState(error) === '23505') throw alreadyInvited();
      throw error;
    }
    const invitation = manager.create(Invitation, rows[0] as Partial<Invitation>);
    await appendEvent(manager, 'invitation.created', { invitationId: invitation.id, organizationId, role });
    return { invitation, organization };
  }

  /**
   * acceptInvitation: the invitee becomes a member with the invitation's role. NOT_FOUND
   * for anyone but the invitee, and when the organization is gone or being deleted (issue
   * 15, lockOrganization); CONFLICT when the invitation has expired or was already
   * decided, or the invitee is already a member.
   */
  async accept(
    manager: EntityManager,
    principal: Principal,
    idArg: string,
  ): Promise<{ membership: Membership; organization: Organization; user: User }> {
    const { invitation, organization, user } = await this.lockForResponse(manager, principal, idArg);
    if ((await roleIn(manager, organization.id, user.id)) !== null) throw alreadyMember();
    const membership = manager.create(Membership, {
      id: newId('membership'),
      organizationId: organization.id,
      userId: user.id,
      role: invitation.role,
    });
    try {
      await manager.insert(Membership, membership);
    } catch (error) {
      // A concurrent addMember (the admin's or a key's) made them a member first.
      if (sqlState(error) === '23505') throw alreadyMember();
      throw error;
    }
    await this.decide(manager, invitation.id, InvitationStatus.ACCEPTED);
    await appendEvent(manager, 'invitation.accepted', {
      invitationId: invitation.id,
      organizationId: organization.id,
      role: invitation.role,
      membershipId: membership.id,
      userId: user.id,
    });
    return { membership: await manager.findOneByOrFail(Membership, { id: membership.id }), organization, user };
  }

  /** declineInvitation: as accept, but nobody joins. */
  async decline(
    manager: EntityManager,
    principal: Principal,
    idArg: string,
  ): Promise<{ invitation: Invitation; organization: Organization }> {
    const { invitation, organization } = await this.lockForResponse(manager, principal, idArg);
    return { invitation: await this.decide(manager, invitation.id, InvitationStatus.DECLINED), organization };
  }

  /**
   * revokeInvitation: a PENDING, unexpired invitation becomes REVOKED. NOT_FOUND for a
   * session caller who is not a member of its organization; CONFLICT once decided or expired.
   */
  async revoke(
    manager: EntityManager,
    principal: Principal,
    idArg: string,
  ): Promise<{ invitation: Invitation; organization: Organization }> {
    const id = parseId('invitation', idArg, 'id');
    const organizationId = await this.organizationOf(manager, id);
    const { organization, callerRole } = await lockOrganizationOf(manager, id, organizationId, sessionUserId(principal));
    const invitation = await this.lockInvitation(manager, id);
    authorizeInvitationRevocation(principal, callerRole, id, invitation.role);
    assertPending(invitation);
    const revoked = await this.decide(manager, id, InvitationStatus.REVOKED);
    await appendEvent(manager, 'invitation.revoked', { invitationId: id, organizationId, role: invitation.role });
    return { invitation: revoked, organization };
  }

  /**
   * Viewer.invitations: the pending, unexpired invitations addressed to `emailKey`, oldest
   * first; none of an organization being deleted (issue 15), which cannot be joined.
   */
  listForInvitee(manager: EntityManager, emailKey: string, args: PageArgs): Promise<Page<Invitation>> {
    const query = manager
      .createQueryBuilder(Invitation, 'i')
      .where('i.email_key = :emailKey', { emailKey })
      .andWhere(invitationStatusCondition(InvitationStatus.PENDING, 'i'))
      .andWhere('NOT EXISTS (SELECT 1 FROM organizations o WHERE o.id = i.organization_id AND o.deletion_job_id IS NOT NULL)');
    return keysetPage(query, 'invitation', args);
  }

  /**
   * The lock order of accepting and declining: the organization FOR SHARE, the caller's user
   * row FOR SHARE, then the invitation FOR UPDATE, each its own statement. Checks that the
   * caller is the invitee (else NOT_FOUND) and that the invitation is still pending.
   */
  private async lockForResponse(
    manager: EntityManager,
    principal: Principal,
    idArg: string,
  ): Promise<{ invitation: Invitation; organization: Organization; user: User }> {
    const id = parseId('invitation', idArg, 'id');
    if (principal.kind !== ViewerKind.SESSION) throw AppError.notFound('Invitation', id);
    const organizationId = await this.organizationOf(manager, id);
    const { organization } = await lockOrganizationOf(manager, id, organizationId, null);
    const user = await lockUser(manager, principal.userId, 'FOR SHARE');
    const invitation = await this.lockInvitation(manager, id);
    authorizeInvitationResponse(principal, user.emailKey, id, invitation.emailKey);
    assertPending(invitation);
    return { invitation, organization, user };
  }

  /** The invitation's organization, read without a lock (the lock order starts at the organization). */
  private async organizationOf(manager: EntityManager, id: string): Promise<string> {
    const rows: Array<{ organization_id: string }> = await manager.query(
      `SELECT organization_id FROM invitations WHERE id = $1`,
      [id],
    );
    if (rows.length === 0) throw AppError.notFound('Invitation', id);
    return rows[0].organization_id;
  }

  /** Step 3 of the lock order; NOT_FOUND when it went (with its organization or its invitee) meanwhile. */
  private async lockInvitation(manager: EntityManager, id: string): Promise<Invitation> {
    const rows: Array<Record<string, unknown>> = await manager.query(
      `SELECT ${INVITATION_COLUMNS} FROM invitations WHERE id = $1 FOR UPDATE`,
      [id],
    );
    if (rows.length === 0) throw AppError.notFound('Invitation', id);
    return manager.create(Invitation, rows[0] as Partial<Invitation>);
  }

  private async decide(manager: EntityManager, id: string, status: InvitationStatus): Promise<Invitation> {
    // TypeORM answers an UPDATE with [rows, affected count].
    const [rows]: [Array<Record<string, unknown>>, number] = await manager.query(
      `UPDATE invitations SET status = $2, decided_at = now() WHERE id = $1 RETURNING ${INVITATION_COLUMNS}`,
      [id, status],
    );
    return manager.create(Invitation, rows[0] as Partial<Invitation>);
  }
}

function sessionUserId(principal: Principal): string | null {
  return principal.kind === ViewerKind.SESSION ? principal.userId : null;
}

/**
 * Locks the invitation's organization FOR SHARE. Deleted since the invitation was read
 * (its invitations went with it), or being deleted (issue 15): NOT_FOUND for the
 * invitation, naming nothing else.
 */
async function lockOrganizationOf(manager: EntityManager, invitationId: string, organizationId: string, callerId: string | null) {
  try {
    return await lockOrganization(manager, organizationId, 'FOR SHARE', callerId);
  } catch (error) {
    if (error instanceof AppError && error.code === ErrorCode.NOT_FOUND) throw AppError.notFound('Invitation', invitationId);
    throw error;
  }
}

/** CONFLICT unless the invitation is stored PENDING and has not expired. */
function assertPending(invitation: Invitation): void {
  const status = invitation.status;
  if (status === InvitationStatus.PENDING) return;
  if (status === InvitationStatus.EXPIRED) {
    throw AppError.conflict('This invitation has expired; ask the organization for a new one');
  }
  throw AppError.conflict(`This invitation was already ${status.toLowerCase()}`);
}

function alreadyMember(): AppError {
  return AppError.conflict('You are already a member of this organization; decline the invitation instead');
}

function alreadyInvited(): AppError {
  return AppError.conflict('This address already has a pending invitation to the organization');
}
