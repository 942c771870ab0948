import type { EntityManager } from 'typeorm';
import type { Access } from '../auth/access';
import { ViewerKind, type Principal } from '../auth/principal';
import { lockOrganization, lockUser } from '../database/locks';
import { AppError, ErrorCode, sqlState } from '../errors';
import { canonicalDomain } from '../identity/canonical';
import { newId, parseId } from '../ids';
import { Membership, MembershipRole } from '../memberships/membership.entity';
import { keysetPage, type Page, type PageArgs } from '../pagination';
import { Organization, OrganizationDomain, OrganizationSettings } from './organization.entity';
import type { CreateOrganizationInput } from './organization.inputs';

/** The CONFLICT for a verified domain another organization holds: names the domain as sent, nothing about the holder. */
function domainTaken(sent: string): AppError {
  return AppError.conflict(`The domain ${sent} is already verified for another organization`);
}

/**
 * Organizations and their domains (issue 9, "Domains: claimed versus verified"):
 *
 * - A domain a signed-in user adds is a claim: unverified, never CONFLICT, blocks nobody
 *   and says nothing about other organizations (it is stored even when another
 *   organization holds the same domain verified).
 * - A domain the admin or a key with ORGANIZATIONS_WRITE adds or verifies is verified:
 *   unique across organizations (the partial unique index organization_domains_verified_key),
 *   CONFLICT when another organization holds it verified.
 *
 * Domains are compared and stored in the canonical A-label form of src/identity/canonical.ts.
 */
export class OrganizationService {
  /**
   * Creates the organization with its settings record and domains; a session caller
   * becomes its OWNER in the same transaction.
   */
  async create(manager: EntityManager, principal: Principal, input: CreateOrganizationInput): Promise<Organization> {
    // Canonical A-label -> the spelling the caller sent first, for a CONFLICT message in their terms.
    const domains = new Map<string, string>();
    for (const raw of input.domains ?? []) {
      const domain = canonicalDomain(raw, 'input.domains');
      if (!domains.has(domain)) domains.set(domain, raw.trim().normalize('NFC'));
    }
    // The new OWNER's row FOR SHARE (THE lock order: the new organization is nobody else's
    // yet): a deleteUser of the caller committing meanwhile makes this NOT_FOUND, never a
    // membership of a deleted user.
    if (principal.kind === ViewerKind.SESSION) await lockUser(manager, principal.userId, 'FOR SHARE');
    const organization = manager.create(Organization, {
      id: newId('organization'),
      name: input.name.trim(),
      externalId: input.externalId ?? null,
    });
    await manager.insert(Organization, organization);
    await manager.insert(OrganizationSettings, { organizationId: organization.id });
    const verified = principal.kind !== ViewerKind.SESSION;
    const refused = await this.insertDomains(manager, organization.id, [...domains.keys()], verified);
    if (refused !== null) throw domainTaken(domains.get(refused)!);
    if (principal.kind === ViewerKind.SESSION) {
      await manager.insert(Membership, {
        id: newId('membership'),
        organizationId: organization.id,
        userId: principal.userId,
        role: MembershipRole.OWNER,
      });
    }
    return manager.findOneByOrFail(Organization, { id: organization.id });
  }

  /**
   * verifyOrganizationDomain (issue 9): marks a domain the organization holds as verified.
   * Admin and ORGANIZATIONS_WRITE keys only (@Authorized). NOT_FOUND when the organization
   * does not exist or does not hold the domain; the domain as it is when already verified;
   * CONFLICT when another organization holds it verified. The organization is locked FOR
   * SHARE (src/database/locks.ts), so a concurrent deleteOrganization waits or wins whole.
   */
  async verifyDomain(manager: EntityManager, organizationIdArg: string, domainArg: string): Promise<OrganizationDomain> {
    const organizationId = parseId('organization', organizationIdArg, 'organizationId');
    const domain = canonicalDomain(domainArg, 'domain');
    await lockOrganization(manager, organizationId, 'FOR SHARE', null);
    const held = await manager.findOneBy(OrganizationDomain, { organizationId, domain });
    if (!held) {
      throw new AppError(ErrorCode.NOT_FOUND, `Organization ${organizationId} holds no domain ${domain}`);
    }
    if (held.verified) return held;
    try {
      // Another transaction verifying the same domain for another organization makes this
      // statement wait for it, then fail on the partial unique index if it committed.
      await manager.update(OrganizationDomain, { organizationId, domain }, { verified: true });
    } catch (error) {
      if (sqlState(error) === '23505') throw domainTaken(domainArg.trim().normalize('NFC'));
      throw error;
    }
    return manager.findOneByOrFail(OrganizationDomain, { organizationId, domain });
  }

  /**
   * Inserts a new organization's canonical domains; returns a verified one that another
   * organization already holds verified (and that was therefore not inserted), or null.
   * The partial unique index is the arbiter (`ON CONFLICT … DO NOTHING` waits for a
   * concurrent insert of the same domain to commit or roll back, so this is race-free).
   */
  private async insertDomains(
    manager: EntityManager,
    organizationId: string,
    domains: string[],
    verified: boolean,
  ): Promise<string | null> {
    if (domains.length === 0) return null;
    const inserted: Array<{ domain: string }> = await manager.query(
      `INSERT INTO organization_domains (organization_id, domain, verified)
       SELECT $1, domain, $3 FROM unnest($2::varchar[]) AS domain
       ${verified ? 'ON CONFLICT (domain) WHERE verified DO NOTHING' : ''}
       RETURNING domain`,
      [organizationId, domains, verified],
    );
    const went = new Set(inserted.map((row) => row.domain));
    return domains.find((domain) => !went.has(domain)) ?? null;
  }

  /** All organizations for an admin; the caller's own for a session user. */
  list(manager: EntityManager, access: Access, args: PageArgs): Promise<Page<Organization>> {
    const query = manager.createQueryBuilder(Organization, 'o');
    if (!access.isPlatformWide) {
      query.where('o.id IN (SELECT organization_id FROM memberships WHERE user_id = :userId)', {
        userId: access.userId,
      });
    }
    return keysetPage(query, 'organization', args);
  }
}
