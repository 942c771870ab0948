import DataLoader from 'dataloader';
import type { EntityManager } from 'typeorm';
import { groupBy } from '../collections';
import { PlainRows, loaderStatement, runStatement } from '../plain-rows';
import { Organization, OrganizationDomain, OrganizationSettings } from './organization.entity';

/** The loaders' plain rows (src/plain-rows.ts), with the entities' prototypes; timestamps decoded on first read. */
export const ORGANIZATION_ROWS = new PlainRows(Organization, {
  columns: { id: 'id', name: 'name', externalId: 'external_id', createdAt: 'created_at' },
  timestamps: ['createdAt'],
});
export const DOMAIN_ROWS = new PlainRows(OrganizationDomain, {
  columns: { organizationId: 'organization_id', domain: 'domain', verified: 'verified', createdAt: 'created_at' },
  timestamps: ['createdAt'],
});
export const SETTINGS_ROWS = new PlainRows(OrganizationSettings, {
  columns: { organizationId: 'organization_id', data: 'data' },
  timestamps: [],
  omitted: { updatedAt: 'no field or rule reads when the settings last changed' },
});

/**
 * An organization being deleted (issue 15: deletion_job_id set) reads as absent. Every
 * Organization object a read hands out comes from here or from organizations(), which skips
 * it too, so its members, invitations, domains and settings, read per organization object,
 * are never reached: the filter is on the row this statement reads anyway, no join.
 */
const ORGANIZATION_BY_ID = loaderStatement(
  'organizationById',
  `SELECT ${ORGANIZATION_ROWS.select('o')} FROM organizations o WHERE o.id = ANY($1) AND o.deletion_job_id IS NULL`,
);
const DOMAINS_BY_ORGANIZATION = loaderStatement(
  'domainsByOrganization',
  `SELECT ${DOMAIN_ROWS.select('d')} FROM organization_domains d WHERE d.organization_id = ANY($1)`,
);
const SETTINGS_BY_ORGANIZATION = loaderStatement(
  'settingsByOrganization',
  `SELECT ${SETTINGS_ROWS.select('s')} FROM organization_settings s WHERE s.organization_id = ANY($1)`,
);

/** Per-request batch loaders; each batch function answers in key order, one result per key. */
export function createOrganizationLoaders(manager: EntityManager) {
  return {
    /** Null for an organization that does not exist or is being deleted (issue 15). */
    organizationById: new DataLoader<string, Organization | null>(async (ids) => {
      const rows = await runStatement(manager, ORGANIZATION_BY_ID, [[...ids]]);
      const byId = new Map(rows.map((row) => [row.id as string, ORGANIZATION_ROWS.read(row)]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
    /**
     * An organization's domains, verified or not, ordered by their A-label's code points
     * (sorted here, not by the database's collation, which may skip '-' and '.').
     */
    domainsByOrganization: new DataLoader<string, OrganizationDomain[]>(async (ids) => {
      const rows = await runStatement(manager, DOMAINS_BY_ORGANIZATION, [[...ids]]);
      const domains = rows.map((row) => DOMAIN_ROWS.read(row));
      domains.sort((a, b) => (a.domain < b.domain ? -1 : a.domain > b.domain ? 1 : 0));
      const groups = groupBy(domains, (domain) => domain.organizationId);
      return ids.map((id) => groups.get(id) ?? []);
    }),
    /** An organization's settings object (issue 12); {} when it has no settings row (it always has one). */
    settingsByOrganization: new DataLoader<string, Record<string, unknown>>(async (ids) => {
      const rows = await runStatement<{ organizationId: string; data: Record<string, unknown> }>(
        manager,
        SETTINGS_BY_ORGANIZATION,
        [[...ids]],
      );
      const byId = new Map(rows.map((row) => [row.organizationId, row.data]));
      return ids.map((id) => byId.get(id) ?? {});
    }),
  };
}
