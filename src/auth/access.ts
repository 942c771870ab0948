import { AppError } from '../errors';
import { MembershipRole } from '../memberships/membership.entity';
import type { Loaders } from '../http/loaders';
import { ViewerKind, type Principal } from './principal';

/**
 * Who may see and change what: every rule lives here and is tested directly
 * (test/access.test.ts). Reads hide what a caller may not see (null or absent, never
 * an error that confirms existence); mutations throw FORBIDDEN or NOT_FOUND.
 */
export class Access {
  private organizationIdsPromise?: Promise<Set<string>>;

  constructor(
    readonly principal: Principal,
    private readonly loaders: Loaders,
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

  /** Organizations the session user belongs to (loaded once per request). */
  organizationIds(): Promise<Set<string>> {
    const userId = this.userId;
    if (!userId) return Promise.resolve(new Set());
    this.organizationIdsPromise ??= this.loaders.membershipsByUser
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
