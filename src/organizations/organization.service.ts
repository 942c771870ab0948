import type { EntityManager } from 'typeorm';
import type { Access } from '../auth/access';
import { ViewerKind, type Principal } from '../auth/principal';
import { AppError, sqlState } from '../errors';
import { newId } from '../ids';
import { Membership, MembershipRole } from '../memberships/membership.entity';
import { keysetPage, type Page, type PageArgs } from '../pagination';
import { Organization, OrganizationDomain, OrganizationSettings } from './organization.entity';
import type { CreateOrganizationInput } from './organization.inputs';

export class OrganizationService {
  /**
   * Creates the organization with its settings record and domains; a session caller
   * becomes its OWNER in the same transaction.
   */
  async create(manager: EntityManager, principal: Principal, input: CreateOrganizationInput): Promise<Organization> {
    const domains = [...new Set((input.domains ?? []).map((domain) => domain.trim().toLowerCase()))];
    // Lower-casing can lengthen a domain ('İ' becomes 'i' + U+0307): check the column's limit on what is stored.
    if (domains.some((domain) => domain.length > 253)) throw AppError.badInput('input.domains', 'each domain must be at most 253 characters');
    const organization = manager.create(Organization, {
      id: newId('organization'),
      name: input.name.trim(),
      externalId: input.externalId ?? null,
    });
    await manager.insert(Organization, organization);
    await manager.insert(OrganizationSettings, { organizationId: organization.id });
    if (domains.length > 0) {
      try {
        await manager.insert(
          OrganizationDomain,
          domains.map((domain) => ({ domain, organizationId: organization.id })),
        );
      } catch (error) {
        if (sqlState(error) === '23505') throw AppError.conflict('A domain is already used by another organization');
        throw error;
      }
    }
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
