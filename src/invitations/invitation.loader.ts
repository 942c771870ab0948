import DataLoader from 'dataloader';
import type { EntityManager } from 'typeorm';
import { groupBy } from '../collections';
import { pagesPerOrganization, type OrganizationPageKey, type Page } from '../pagination';
import { PlainRows } from '../plain-rows';
import { Invitation, invitationStatusCondition, type InvitationStatus } from './invitation.entity';

/** An invitation as the loaders read it: plain rows with Invitation's prototype (its `status` getter works), src/plain-rows.ts. */
export const INVITATION_ROWS = new PlainRows(Invitation, {
  columns: {
    id: 'id',
    organizationId: 'organization_id',
    email: 'email',
    emailKey: 'email_key',
    role: 'role',
    storedStatus: 'status',
    invitedBy: 'invited_by',
    expiresAt: 'expires_at',
    createdAt: 'created_at',
    decidedAt: 'decided_at',
  },
  timestamps: ['expiresAt', 'createdAt', 'decidedAt'],
});

export interface InvitationPageKey extends OrganizationPageKey {
  /** Only invitations that read as this status (null: all). */
  status: InvitationStatus | null;
}

export interface InvitationCountKey {
  organizationId: string;
  status: InvitationStatus | null;
}

/**
 * Per-request batch loaders for invitations; each batch function answers in key order,
 * one result per key. As for memberships (src/memberships/membership.loader.ts), a page
 * of invitations for many organizations at once is one statement: a window function
 * numbers each organization's rows in ID order and keeps the first `first + 1` of each.
 */
export function createInvitationLoaders(manager: EntityManager) {
  return {
    invitationPage: new DataLoader<InvitationPageKey, Omit<Page<Invitation>, 'totalCount'>, string>(
      pagesPerOrganization(pageArgs, async (organizationIds, { status, first, afterId }) => {
        const rows: Array<Record<string, unknown>> = await manager.query(
          `SELECT ${INVITATION_ROWS.select('ranked')} FROM (
             SELECT i.*, row_number() OVER (PARTITION BY i.organization_id ORDER BY i.id) AS position
               FROM invitations i
              WHERE i.organization_id = ANY($1) AND ($2::varchar IS NULL OR i.id > $2)
                AND ${status ? invitationStatusCondition(status, 'i') : 'true'}
           ) ranked
           WHERE position <= $3
           ORDER BY organization_id, id`,
          [organizationIds, afterId, first + 1],
        );
        return rows.map((row) => INVITATION_ROWS.read(row));
      }),
      { cacheKeyFn: pageKey },
    ),

    invitationCount: new DataLoader<InvitationCountKey, number, string>(
      async (keys) => {
        const byStatus = groupBy([...keys], (key) => key.status ?? '');
        const counts = new Map<string, number>();
        for (const group of byStatus.values()) {
          const { status } = group[0];
          const rows: Array<{ organization_id: string; count: number }> = await manager.query(
            `SELECT i.organization_id, count(*)::int AS count FROM invitations i
              WHERE i.organization_id = ANY($1) AND ${status ? invitationStatusCondition(status, 'i') : 'true'}
              GROUP BY i.organization_id`,
            [group.map((key) => key.organizationId)],
          );
          const byOrganization = new Map(rows.map((row) => [row.organization_id, row.count]));
          for (const key of group) counts.set(countKey(key), byOrganization.get(key.organizationId) ?? 0);
        }
        return keys.map((key) => counts.get(countKey(key))!);
      },
      { cacheKeyFn: countKey },
    ),
  };
}

const pageArgs = (key: InvitationPageKey) => `${key.status ?? ''}|${key.first}|${key.afterId ?? ''}`;
const pageKey = (key: InvitationPageKey) => `${key.organizationId}|${pageArgs(key)}`;

function countKey(key: InvitationCountKey): string {
  return `${key.organizationId}|${key.status ?? ''}`;
}
