import type { EntityManager } from 'typeorm';
import {
  addsVerifiedDomains,
  authorizeDomainRemoval,
  authorizeOrganizationUpdate,
  type Access,
} from '../auth/access';
import { ViewerKind, type Principal } from '../auth/principal';
import { lockOrganization, lockUser } from '../database/locks';
import { AppError, ErrorCode, sqlState } from '../errors';
import { canonicalDomain } from '../identity/canonical';
import { newId, parseId } from '../ids';
import { Membership, MembershipRole } from '../memberships/membership.entity';
import { keysetPage, type Page, type PageArgs } from '../pagination';
import { Organization, OrganizationDomain, OrganizationSettings } from './organization.entity';
import type { CreateOrganizationInput, OrganizationFilter, UpdateOrganizationInput } from './organization.inputs';
import { validateSettings } from './settings';

/** addOrganizationDomain's CONFLICT: names neither the domain (issue 11: no input echoed) nor the holder (issue 9). */
const TAKEN_ELSEWHERE = () => AppError.conflict('This domain is already verified for another organization');

/** The most domains one organization holds (createOrganization takes at most as many). */
export const MAX_DOMAINS_PER_ORGANIZATION = 50;

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
   * addOrganizationDomain and removeOrganizationDomain: parses the arguments (BAD_USER_INPUT),
   * locks the organization row FOR NO KEY UPDATE (NOT_FOUND when it does not exist), and
   * checks that the caller may change it (authorizeOrganizationUpdate).
   */
  private async lockForDomainChange(
    manager: EntityManager,
    principal: Principal,
    organizationIdArg: string,
    domainArg: string,
  ): Promise<{ organizationId: string; domain: string }> {
    const organizationId = parseId('organization', organizationIdArg, 'organizationId');
    const domain = canonicalDomain(domainArg, 'domain');
    const callerId = principal.kind === ViewerKind.SESSION ? principal.userId : null;
    const { callerRole } = await lockOrganization(manager, organizationId, 'FOR NO KEY UPDATE', callerId);
    authorizeOrganizationUpdate(principal, callerRole, organizationId);
    return { organizationId, domain };
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

  /**
   * updateOrganization (issue 12): name, externalId and settings; fields left out stay,
   * `externalId: null` clears it, `name: null` and `settings: null` are BAD_USER_INPUT.
   * Settings are validated by src/organizations/settings.ts and replace the stored object.
   * Who: authorizeOrganizationUpdate (src/auth/access.ts), with the caller's role read after
   * the organization row is locked FOR NO KEY UPDATE (src/database/locks.ts: it is the row
   * this writes, and a concurrent deleteOrganization waits or wins whole).
   */
  async update(manager: EntityManager, principal: Principal, input: UpdateOrganizationInput): Promise<Organization> {
    const organizationId = parseId('organization', input.id, 'input.id');
    if (input.name === null) throw AppError.badInput('input.name', 'input.name must not be null: leave it out to keep the name');
    if (input.settings === null) {
      throw AppError.badInput('input.settings', 'input.settings must not be null: send {} to empty the settings');
    }
    const settings = input.settings !== undefined ? validateSettings(input.settings) : undefined;
    const callerId = principal.kind === ViewerKind.SESSION ? principal.userId : null;
    const { callerRole } = await lockOrganization(manager, organizationId, 'FOR NO KEY UPDATE', callerId);
    authorizeOrganizationUpdate(principal, callerRole, organizationId);
    const changes: Partial<Pick<Organization, 'name' | 'externalId'>> = {};
    if (input.name !== undefined) changes.name = input.name.trim();
    if (input.externalId !== undefined) changes.externalId = input.externalId;
    if (Object.keys(changes).length > 0) await manager.update(Organization, { id: organizationId }, changes);
    if (settings !== undefined) {
      await manager.query(
        `UPDATE organization_settings SET data = $2::jsonb, updated_at = now() WHERE organization_id = $1`,
        [organizationId, JSON.stringify(settings)],
      );
    }
    return manager.findOneByOrFail(Organization, { id: organizationId });
  }

  /**
   * addOrganizationDomain (issue 12), by issue 9's rules: from the admin or an
   * ORGANIZATIONS_WRITE key the domain is verified (CONFLICT when another organization
   * holds it verified; a claim this organization already holds is verified in place, as
   * verifyOrganizationDomain would); from an OWNER or ADMIN it is an unverified claim,
   * never CONFLICT, stored even when another organization holds it verified. A domain the
   * organization already holds comes back as it is (a session never downgrades a verified
   * one). CONFLICT too when the organization holds MAX_DOMAINS_PER_ORGANIZATION already.
   * The organization row is locked FOR NO KEY UPDATE, so domain changes of one organization
   * run one at a time and the count and the "already holds" read stay true.
   */
  async addDomain(
    manager: EntityManager,
    principal: Principal,
    organizationIdArg: string,
    domainArg: string,
  ): Promise<OrganizationDomain> {
    const { organizationId, domain } = await this.lockForDomainChange(manager, principal, organizationIdArg, domainArg);
    const verified = addsVerifiedDomains(principal);
    const held = await manager.findOneBy(OrganizationDomain, { organizationId, domain });
    if (held) {
      if (!verified || held.verified) return held;
      try {
        await manager.update(OrganizationDomain, { organizationId, domain }, { verified: true });
      } catch (error) {
        if (sqlState(error) === '23505') throw TAKEN_ELSEWHERE();
        throw error;
      }
      return manager.findOneByOrFail(OrganizationDomain, { organizationId, domain });
    }
    const [{ count }]: Array<{ count: number }> = await manager.query(
      `SELECT count(*)::int AS count FROM organization_domains WHERE organization_id = $1`,
      [organizationId],
    );
    if (count >= MAX_DOMAINS_PER_ORGANIZATION) {
      throw AppError.conflict(`The organization holds ${MAX_DOMAINS_PER_ORGANIZATION} domains, the most it may hold: remove one first`);
    }
    const refused = await this.insertDomains(manager, organizationId, [domain], verified);
    if (refused !== null) throw TAKEN_ELSEWHERE();
    return manager.findOneByOrFail(OrganizationDomain, { organizationId, domain });
  }

  /**
   * removeOrganizationDomain (issue 12): returns the domain as it was. NOT_FOUND when the
   * organization does not hold it. An OWNER or ADMIN may remove an unverified claim; a
   * verified domain only the admin or an ORGANIZATIONS_WRITE key (authorizeDomainRemoval).
   */
  async removeDomain(
    manager: EntityManager,
    principal: Principal,
    organizationIdArg: string,
    domainArg: string,
  ): Promise<OrganizationDomain> {
    const { organizationId, domain } = await this.lockForDomainChange(manager, principal, organizationIdArg, domainArg);
    const held = await manager.findOneBy(OrganizationDomain, { organizationId, domain });
    if (!held) throw new AppError(ErrorCode.NOT_FOUND, `Organization ${organizationId} does not hold this domain`);
    authorizeDomainRemoval(principal, held.verified);
    await manager.delete(OrganizationDomain, { organizationId, domain });
    return held;
  }

  /**
   * organizations(filter:): all organizations for an admin and keys, the caller's own for a
   * session user, narrowed by the filter (issue 12). Index-backed (test/find.test.ts
   * EXPLAINs it): externalId on organizations_external_id_idx, domain on the verified
   * domains' unique index organization_domains_verified_key. Only a verified holder matches
   * a domain (OrganizationFilter says why); an invalid domain is BAD_USER_INPUT naming filter.domain.
   * An organization being deleted (issue 15: deletion_job_id set) is never listed nor found.
   */
  list(
    manager: EntityManager,
    access: Access,
    args: PageArgs,
    filter: OrganizationFilter | null | undefined,
  ): Promise<Page<Organization>> {
    const query = manager.createQueryBuilder(Organization, 'o');
    if (filter?.domain != null) {
      query.andWhere('o.id IN (SELECT d.organization_id FROM organization_domains d WHERE d.domain = :domain AND d.verified)', {
        domain: canonicalDomain(filter.domain, 'filter.domain'),
      });
    }
    if (filter?.externalId != null) query.andWhere('o.external_id = :externalId', { externalId: filter.externalId });
    if (!access.isPlatformWide) {
      query.andWhere('o.id IN (SELECT organization_id FROM memberships WHERE user_id = :userId)', {
        userId: access.userId,
      });
    }
    query.andWhere('o.deletion_job_id IS NULL');
    return keysetPage(query, 'organization', args);
  }
}
