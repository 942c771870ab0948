import { ApiKeyScope } from '../api-keys/api-key.entity';
import { AppError } from '../errors';
import { MembershipRole } from '../memberships/membership.entity';
import type { Loaders } from '../http/loaders';
import { DeletionKind } from '../deletion/deletion.types';
import { actorOf, ViewerKind, type Principal } from './principal';

/**
 * Who may see and change what: every rule lives here and is tested directly
 * (test/access.test.ts). Reads hide what a caller may not see (null or absent, never
 * an error that confirms existence); mutations throw FORBIDDEN or NOT_FOUND.
 */
export class Access {
  private organizationIdsPromise?: Promise<Set<string>>;

  /**
   * `loaders` read the data a check is about (in a query, the read snapshot: the replica
   * when one is configured). `authority` reads the caller's own memberships, which decide
   * what the caller may see: the primary's loaders whenever `loaders` read the replica
   * (src/http/context.ts), so a membership removed a moment ago stops granting access on the
   * very next request, as a terminated session does (issue 14). Absent: `loaders`.
   */
  constructor(
    readonly principal: Principal,
    private readonly loaders: Loaders,
    private readonly authority: Loaders = loaders,
  ) {}

  /**
   * The admin and partner API keys act platform-wide: which operations a key may
   * run is limited by its scopes (checked by @Authorized), not by memberships.
   */
  get isPlatformWide(): boolean {
    return this.principal.kind !== ViewerKind.SESSION;
  }

  /** The signed-in user's ID, or null for the admin and API keys. */
  get userId(): string | null {
    return this.principal.kind === ViewerKind.SESSION ? this.principal.userId : null;
  }

  /**
   * Organizations the session user belongs to, read through `authority` (the primary when
   * the data comes from a replica); loaded once per request, on the first check that needs it.
   */
  organizationIds(): Promise<Set<string>> {
    const userId = this.userId;
    if (!userId) return Promise.resolve(new Set());
    this.organizationIdsPromise ??= this.authority.membershipsByUser
      .load(userId)
      .then((memberships) => new Set(memberships.map((m) => m.organizationId)));
    return this.organizationIdsPromise;
  }

  async canReadOrganization(organizationId: string): Promise<boolean> {
    return this.isPlatformWide || (await this.organizationIds()).has(organizationId);
  }

  /** Themselves, and people who share an organization with them. */
  async canReadUser(userId: string): Promise<boolean> {
    if (this.isPlatformWide || userId === this.userId) return true;
    const [mine, theirs] = await Promise.all([this.organizationIds(), this.loaders.membershipsByUser.load(userId)]);
    return theirs.some((membership) => mine.has(membership.organizationId));
  }

  /** Sessions are private: a session user sees only their own. */
  canReadSessionsOf(userId: string): boolean {
    return this.isPlatformWide || userId === this.userId;
  }
}

/** Roles that may add and remove members. */
const MEMBER_MANAGERS = new Set([MembershipRole.OWNER, MembershipRole.ADMIN]);

/**
 * May the caller add or remove a membership with `targetRole` in an organization
 * where the caller's own role is `callerRole` (null: not a member)? Only an OWNER
 * may grant or take away the OWNER role.
 */
export function authorizeMembershipChange(
  principal: Principal,
  callerRole: MembershipRole | null,
  organizationId: string,
  targetRole: MembershipRole,
): void {
  if (principal.kind !== ViewerKind.SESSION) return;
  if (callerRole === null) throw AppError.notFound('Organization', organizationId);
  if (!MEMBER_MANAGERS.has(callerRole)) {
    throw AppError.forbidden('Only an OWNER or ADMIN of the organization can change its members');
  }
  if (targetRole === MembershipRole.OWNER && callerRole !== MembershipRole.OWNER) {
    throw AppError.forbidden('Only an OWNER can grant or remove the OWNER role');
  }
}

/**
 * deleteOrganization: the admin or an API key (with its scope), or an OWNER of the organization. A member who is not
 * an OWNER is refused; a caller who is not a member learns nothing (NOT_FOUND).
 */
export function authorizeOrganizationDeletion(
  principal: Principal,
  callerRole: MembershipRole | null,
  organizationId: string,
): void {
  if (principal.kind !== ViewerKind.SESSION) return;
  if (callerRole === null) throw AppError.notFound('Organization', organizationId);
  if (callerRole !== MembershipRole.OWNER) {
    throw AppError.forbidden('Only an OWNER of the organization can delete it');
  }
}

/**
 * updateMemberRole (issue 9), for a member whose role is `fromRole` and is to become
 * `toRole`. The admin and API keys (ORGANIZATIONS_WRITE, checked by @Authorized) may
 * change any role. A session caller: not a member of the organization, NOT_FOUND (it is
 * not confirmed); a MEMBER, FORBIDDEN; an ADMIN, between ADMIN and MEMBER only, never to
 * or from OWNER; an OWNER, any change. Whether the last OWNER may be demoted is not a
 * question of who asks: the service refuses that (CONFLICT) for every caller.
 */
export function authorizeRoleChange(
  principal: Principal,
  callerRole: MembershipRole | null,
  organizationId: string,
  fromRole: MembershipRole,
  toRole: MembershipRole,
): void {
  if (principal.kind !== ViewerKind.SESSION) return;
  if (callerRole === null) throw AppError.notFound('Organization', organizationId);
  if (!MEMBER_MANAGERS.has(callerRole)) {
    throw AppError.forbidden("Only an OWNER or ADMIN of the organization can change its members' roles");
  }
  if ((fromRole === MembershipRole.OWNER || toRole === MembershipRole.OWNER) && callerRole !== MembershipRole.OWNER) {
    throw AppError.forbidden('Only an OWNER can grant or remove the OWNER role');
  }
}

/**
 * deleteUser (issue 9, self-service erasure): the admin and keys with USERS_DELETE
 * (checked by @Authorized) may delete anyone; a signed-in user only their own account.
 * Anyone else is FORBIDDEN whether or not that account exists, so the answer confirms nothing.
 */
export function authorizeUserDeletion(principal: Principal, userId: string): void {
  if (principal.kind !== ViewerKind.SESSION || principal.userId === userId) return;
  throw AppError.forbidden('A signed-in user can delete only their own account');
}

/**
 * Operations that @Authorized keeps from signed-in users although another operation
 * serves them, and what their FORBIDDEN message points to instead (src/http/schema.ts's
 * authChecker sends it). Keyed by `<Type>.<field>`.
 */
const SESSION_REFUSAL_HINTS: Readonly<Record<string, string>> = {
  // Issue 9, consent: nobody is made a member of an organization without accepting.
  'Mutation.addMember':
    'Signed-in users bring people in by invitation: use inviteMember. addMember is for the platform admin and API keys with ORGANIZATIONS_WRITE',
};

/** The FORBIDDEN message for a session caller refused `operation` (`Mutation.addMember`), if it has one. */
export function sessionRefusalHint(operation: string): string | undefined {
  return Object.hasOwn(SESSION_REFUSAL_HINTS, operation) ? SESSION_REFUSAL_HINTS[operation] : undefined;
}

/**
 * inviteMember (issue 9): may the caller invite someone with `role` into an organization
 * where the caller's own role is `callerRole` (null: not a member)? The admin and API keys
 * (ORGANIZATIONS_WRITE, checked by @Authorized) may. A session caller who is not a member
 * gets NOT_FOUND for the organization, as if it did not exist; a MEMBER, FORBIDDEN; an
 * ADMIN may invite ADMINs and MEMBERs but not an OWNER; an OWNER may invite any role.
 */
export function authorizeInvitationManagement(
  principal: Principal,
  callerRole: MembershipRole | null,
  organizationId: string,
  role: MembershipRole,
): void {
  authorizeInvitationManager(principal, callerRole, role, () => AppError.notFound('Organization', organizationId));
}

/**
 * revokeInvitation (issue 9): the same rule as inviting, for the invitation's role: an
 * ADMIN cannot withdraw an OWNER's invitation, since they could not have made it. A
 * session caller who is not a member gets NOT_FOUND for the invitation, so neither it nor
 * its organization is confirmed.
 */
export function authorizeInvitationRevocation(
  principal: Principal,
  callerRole: MembershipRole | null,
  invitationId: string,
  role: MembershipRole,
): void {
  authorizeInvitationManager(principal, callerRole, role, () => AppError.notFound('Invitation', invitationId));
}

function authorizeInvitationManager(
  principal: Principal,
  callerRole: MembershipRole | null,
  role: MembershipRole,
  hidden: () => AppError,
): void {
  if (principal.kind !== ViewerKind.SESSION) return;
  if (callerRole === null) throw hidden();
  if (!MEMBER_MANAGERS.has(callerRole)) {
    throw AppError.forbidden("Only an OWNER or ADMIN of the organization can manage its invitations");
  }
  if (role === MembershipRole.OWNER && callerRole !== MembershipRole.OWNER) {
    throw AppError.forbidden('Only an OWNER can invite an OWNER or revoke an invitation to be OWNER');
  }
}

/**
 * acceptInvitation and declineInvitation (issue 9): only the invitee, the signed-in user
 * whose canonical email key (`callerEmailKey`) is the invitation's. Anyone else gets
 * NOT_FOUND, the same answer as for an invitation that does not exist.
 */
export function authorizeInvitationResponse(
  principal: Principal,
  callerEmailKey: string | null,
  invitationId: string,
  invitationEmailKey: string,
): void {
  if (principal.kind === ViewerKind.SESSION && callerEmailKey !== null && callerEmailKey === invitationEmailKey) return;
  throw AppError.notFound('Invitation', invitationId);
}

/**
 * Organization.invitations: the admin, keys with ORGANIZATIONS_READ, and the organization's
 * OWNERs and ADMINs see its invitations; everyone else an empty list.
 */
export function canListInvitations(principal: Principal, callerRole: MembershipRole | null): boolean {
  switch (principal.kind) {
    case ViewerKind.ADMIN:
      return true;
    case ViewerKind.API_KEY:
      return principal.scopes.has(ApiKeyScope.ORGANIZATIONS_READ);
    case ViewerKind.SESSION:
      return callerRole !== null && MEMBER_MANAGERS.has(callerRole);
  }
}

/**
 * Invitation.email (issue 9): personal data, seen only by the inviting organization's
 * OWNERs and ADMINs and by the platform admin. API keys and the invitee read null (the
 * invitee knows their own address; a key has no need of it: an app that sends the
 * invitation email reads it with its admin key).
 */
export function canSeeInvitationEmail(principal: Principal, callerRole: MembershipRole | null): boolean {
  switch (principal.kind) {
    case ViewerKind.ADMIN:
      return true;
    case ViewerKind.API_KEY:
      return false;
    case ViewerKind.SESSION:
      return callerRole !== null && MEMBER_MANAGERS.has(callerRole);
  }
}

/**
 * updateUser (issue 12): the admin and keys with USERS_WRITE (checked by @Authorized) may
 * change any user's name, email and externalId. A signed-in user may change only their own
 * name: their email is their identity (sign-in and invitation matching compare its
 * canonical key, so changing it would let them take invitations meant for another
 * address), and externalId is the partner's handle on them, not theirs to set. Anything
 * else from a session is FORBIDDEN, whether or not the account exists, so the answer
 * confirms nothing. `changes` says which fields the input carries (null counts: it is a change).
 */
export function authorizeUserUpdate(
  principal: Principal,
  userId: string,
  changes: { email: boolean; externalId: boolean },
): void {
  if (principal.kind !== ViewerKind.SESSION) return;
  if (principal.userId !== userId) throw AppError.forbidden('A signed-in user can change only their own account');
  if (changes.email || changes.externalId) {
    throw AppError.forbidden(
      'A signed-in user can change only their own name; email and externalId are changed by the platform admin or a key with USERS_WRITE',
    );
  }
}

/**
 * updateOrganization, addOrganizationDomain and removeOrganizationDomain (issue 12): the
 * admin and keys with ORGANIZATIONS_WRITE (checked by @Authorized), or an OWNER or ADMIN
 * of the organization. A MEMBER is FORBIDDEN; a signed-in caller who is not a member gets
 * NOT_FOUND, as if the organization did not exist.
 */
export function authorizeOrganizationUpdate(
  principal: Principal,
  callerRole: MembershipRole | null,
  organizationId: string,
): void {
  if (principal.kind !== ViewerKind.SESSION) return;
  if (callerRole === null) throw AppError.notFound('Organization', organizationId);
  if (!MEMBER_MANAGERS.has(callerRole)) {
    throw AppError.forbidden('Only an OWNER or ADMIN of the organization can change it');
  }
}

/**
 * Whether a domain the caller adds is verified (issue 9's rule, applied by
 * addOrganizationDomain in issue 12): the platform admin's and keys' are, a signed-in
 * user's are unverified claims.
 */
export function addsVerifiedDomains(principal: Principal): boolean {
  return principal.kind !== ViewerKind.SESSION;
}

/**
 * removeOrganizationDomain (issue 12), once authorizeOrganizationUpdate has passed: an
 * OWNER or ADMIN may withdraw an unverified claim, but a verified domain is a statement
 * the platform admin or a key made, and only they take it back (FORBIDDEN otherwise), as
 * only they can make it: otherwise an organization ADMIN could drop the domain the
 * platform vouched for and nobody in the organization could verify it again.
 */
export function authorizeDomainRemoval(principal: Principal, verified: boolean): void {
  if (principal.kind !== ViewerKind.SESSION || !verified) return;
  throw AppError.forbidden('A verified domain is removed by the platform admin or a key with ORGANIZATIONS_WRITE');
}

/**
 * terminateUserSessions (issue 12, the first step of offboarding): the admin and keys with
 * SESSIONS_WRITE (checked by @Authorized) for anyone; a signed-in user only for themselves
 * ("sign me out everywhere"). Anyone else is FORBIDDEN whether or not the user exists.
 */
export function authorizeUserSessionsTermination(principal: Principal, userId: string): void {
  if (principal.kind !== ViewerKind.SESSION || principal.userId === userId) return;
  throw AppError.forbidden('A signed-in user can sign out only themselves');
}

/**
 * Whose endpoints a caller may see and change (issue 12: "a key sees only its own"): the
 * admin every endpoint (null), an API key those it created (its ID). @Authorized keeps
 * session users out (ADMIN and WEBHOOKS_WRITE only); should one get here, it is refused.
 * Another key's endpoint is answered NOT_FOUND, never FORBIDDEN, so it is not confirmed.
 */
export function endpointOwnerOf(principal: Principal): string | null {
  switch (principal.kind) {
    case ViewerKind.ADMIN:
      return null;
    case ViewerKind.API_KEY:
      return principal.apiKeyId;
    case ViewerKind.SESSION:
      throw AppError.forbidden('Webhook endpoints belong to the platform admin and API keys with WEBHOOKS_WRITE');
  }
}

/**
 * A deletion receipt's lists (DeletionReceipt.terminatedSessions, removedMemberships,
 * cascadedUsers, retainedUsers; issue 13 review): they name live people (retainedUsers are
 * accounts that still exist), so each kind of receipt is open only to those who may make that
 * kind of deletion. The admin, any receipt; a USER receipt, keys with USERS_DELETE; an
 * ORGANIZATION receipt, keys with ORGANIZATIONS_DELETE. Signed-in users never (their own
 * deletion's payload gives them its first pages). The receipt itself (IDs, counts, digest)
 * stays open to either scope (Query.deletionReceipt's @Authorized).
 */
export function canReadReceiptLists(principal: Principal, kind: DeletionKind): boolean {
  switch (principal.kind) {
    case ViewerKind.ADMIN:
      return true;
    case ViewerKind.API_KEY:
      return principal.scopes.has(kind === DeletionKind.USER ? ApiKeyScope.USERS_DELETE : ApiKeyScope.ORGANIZATIONS_DELETE);
    case ViewerKind.SESSION:
      return false;
  }
}

/** canReadReceiptLists, or FORBIDDEN naming the scope the receipt's kind needs. */
export function authorizeReceiptLists(principal: Principal, kind: DeletionKind): void {
  if (canReadReceiptLists(principal, kind)) return;
  throw AppError.forbidden(
    kind === DeletionKind.USER
      ? "A user deletion's receipt lists are for the admin and API keys with USERS_DELETE"
      : "An organization deletion's receipt lists are for the admin and API keys with ORGANIZATIONS_DELETE",
  );
}

/**
 * Query.deletionJob (issue 15): the admin, API keys with ORGANIZATIONS_DELETE (who may
 * schedule any), and a signed-in user whom scheduleOrganizationDeletion returned the job to:
 * who scheduled it, or called it again while it ran (issue 15 review: a second OWNER). Not
 * by membership: the job itself removes the memberships. Anyone else reads null, as for no
 * such job.
 */
export function canReadDeletionJob(principal: Principal, job: { requestedBy: readonly string[] }): boolean {
  switch (principal.kind) {
    case ViewerKind.ADMIN:
      return true;
    case ViewerKind.API_KEY:
      return principal.scopes.has(ApiKeyScope.ORGANIZATIONS_DELETE);
    case ViewerKind.SESSION:
      return job.requestedBy.includes(actorOf(principal));
  }
}
