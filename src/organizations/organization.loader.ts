import DataLoader from 'dataloader';
import { In, type EntityManager } from 'typeorm';
import { groupBy } from '../collections';
import { Organization, OrganizationDomain, OrganizationSettings } from './organization.entity';

/** Per-request batch loaders; each batch function answers in key order, one result per key. */
export function createOrganizationLoaders(manager: EntityManager) {
  return {
    organizationById: new DataLoader<string, Organization | null>(async (ids) => {
      const rows = await manager.getRepository(Organization).findBy({ id: In([...ids]) });
      const byId = new Map(rows.map((row) => [row.id, row]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
    /**
     * An organization's domains, verified or not, ordered by their A-label's code points
     * (sorted here, not by the database's collation, which may skip '-' and '.').
     */
    domainsByOrganization: new DataLoader<string, OrganizationDomain[]>(async (ids) => {
      const rows = await manager.getRepository(OrganizationDomain).findBy({ organizationId: In([...ids]) });
      rows.sort((a, b) => (a.domain < b.domain ? -1 : a.domain > b.domain ? 1 : 0));
      const groups = groupBy(rows, (row) => row.organizationId);
      return ids.map((id) => groups.get(id) ?? []);
    }),
    /** An organization's settings object (issue 12); {} when it has no settings row (it always has one). */
    settingsByOrganization: new DataLoader<string, Record<string, unknown>>(async (ids) => {
      const rows = await manager.getRepository(OrganizationSettings).findBy({ organizationId: In([...ids]) });
      const byId = new Map(rows.map((row) => [row.organizationId, row.data]));
      return ids.map((id) => byId.get(id) ?? {});
    }),
  };
}
