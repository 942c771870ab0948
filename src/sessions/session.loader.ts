import DataLoader from 'dataloader';
import type { EntityManager } from 'typeorm';
import { groupBy } from '../collections';
import { SettledLoader } from '../http/settled-loader';
import { PlainRows, loaderStatement, runStatement } from '../plain-rows';
import { Session } from './session.entity';

/**
 * A session as the loaders read it: plain rows with Session's prototype (so `status`
 * works), timestamps decoded on first read (src/plain-rows.ts).
 */
export const SESSION_ROWS = new PlainRows(Session, {
  columns: {
    id: 'id',
    userId: 'user_id',
    organizationId: 'organization_id',
    createdAt: 'created_at',
    expiresAt: 'expires_at',
    terminatedAt: 'terminated_at',
    terminationReason: 'termination_reason',
  },
  timestamps: ['createdAt', 'expiresAt', 'terminatedAt'],
  omitted: { tokenHash: 'select: false in the entity: never read back, TypeORM does not select it either' },
});

const SESSION_BY_ID = loaderStatement('sessionById', `SELECT ${SESSION_ROWS.select('s')} FROM sessions s WHERE s.id = ANY($1)`);
export const SESSIONS_BY_USER = loaderStatement(
  'sessionsByUser',
  `SELECT ${SESSION_ROWS.select('s')} FROM sessions s WHERE s.user_id = ANY($1) ORDER BY s.id`,
);

/** Per-request batch loaders; each batch function answers in key order, one result per key. */
export function createSessionLoaders(manager: EntityManager) {
  return {
    sessionById: new DataLoader<string, Session | null>(async (ids) => {
      const rows = await runStatement(manager, SESSION_BY_ID, [[...ids]]);
      const byId = new Map(rows.map((row) => [row.id as string, SESSION_ROWS.read(row)]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
    /**
     * All of a user's sessions, oldest first; the resolver filters by status. Settled: the
     * member list loads its members' sessions ahead (Organization.memberships) and
     * `User.sessions` then answers without a promise of its own.
     */
    sessionsByUser: new SettledLoader<string, Session[]>(async (userIds) => {
      const rows = await runStatement(manager, SESSIONS_BY_USER, [[...userIds]]);
      const groups = groupBy(
        rows.map((row) => SESSION_ROWS.read(row)),
        (session) => session.userId,
      );
      return userIds.map((id) => groups.get(id) ?? []);
    }),
  };
}
