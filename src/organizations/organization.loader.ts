import DataLoader from 'dataloader';
import { In, type DataSource } from 'typeorm';
import { groupBy } from '../collections';
import { Organization, OrganizationDomain } from './organization.entity';

/** Per-request batch loaders; each batch function answers in key order, one result per key. */
export function createOrganizationLoaders(dataSource: DataSource) {
  return {
    organizationById: new DataLoader<string, Organization | null>(async (ids) => {
      const rows = await dataSource.getRepository(Organization).findBy({ id: In([...ids]) });
      const byId = new Map(rows.map((row) => [row.id, row]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
    domainsByOrganization: new DataLoader<string, string[]>(async (ids) => {
      const rows = await dataSource
        .getRepository(OrganizationDomain)
        .find({ where: { organizationId: In([...ids]) }, order: { domain: 'ASC' } });
      const groups = groupBy(rows, (row) => row.organizationId);
      return ids.map((id) => (groups.get(id) ?? []).map((row) => row.domain));
    }),
  };
}
