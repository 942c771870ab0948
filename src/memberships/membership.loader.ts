import DataLoader from 'dataloader';
import { In, type EntityManager } from 'typeorm';
import { groupBy } from '../collections';
import { pagesPerOrganization, type OrganizationPageKey, type Page } from '../pagination';
import { Membership } from './membership.entity';

export type MembershipPageKey = OrganizationPageKey;

/**
 * Per-request batch loaders. A page of memberships for many organizations at once is
 * one statement: a window function numbers each organization's rows in ID order and
 * keeps the first `first + 1` of each.
 */
export function createMembershipLoaders(manager: EntityManager) {
  const repository = manager.getRepository(Membership);
  return {
    membershipsByUser: new DataLoader<string, Membership[]>(async (userIds) => {
      const rows = await repository.find({ where: { userId: In([...userIds]) }, order: { id: 'ASC' } });
      const groups = groupBy(rows, (row) => row.userId);
      return userIds.map((id) => groups.get(id) ?? []);
    }),

    membershipCountByOrganization: new DataLoader<string, number>(async (organizationIds) => {
      const rows: Array<{ organization_id: string; count: string }> = await manager.query(
        `SELECT organization_id, count(*) AS count FROM memberships
          WHERE organization_id = ANY($1) GROUP BY organization_id`,
        [[...organizationIds]],
      );
      const counts = new Map(rows.map((row) => [row.organization_id, Number(row.count)]));
      return organizationIds.map((id) => counts.get(id) ?? 0);
    }),

    membershipPage: new DataLoader<MembershipPageKey, Omit<Page<Membership>, 'totalCount'>, string>(
      pagesPerOrganization(pageArgs, async (organizationIds, { first, afterId }) => {
        const rows: Array<Record<string, unknown>> = await manager.query(
          `SELECT id, "organizationId", "userId", role, "createdAt" FROM (
             SELECT id, organization_id AS "organizationId", user_id AS "userId", role, created_at AS "createdAt",
                    row_number() OVER (PARTITION BY organization_id ORDER BY id) AS position
               FROM memberships
              WHERE organization_id = ANY($1) AND ($2::varchar IS NULL OR id > $2)
           ) ranked
           WHERE position <= $3
           ORDER BY "organizationId", id`,
          [organizationIds, afterId, first + 1],
        );
        return rows.map((row) => repository.create(row as Partial<Membership>));
      }),
      { cacheKeyFn: pageKey },
    ),
  };
}

const pageArgs = (key: MembershipPageKey) => `${key.first}|${key.afterId ?? ''}`;
const pageKey = (key: MembershipPageKey) => `${key.organizationId}|${pageArgs(key)}`;
