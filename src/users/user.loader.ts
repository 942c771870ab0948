import type { EntityManager } from 'typeorm';
import { SettledLoader } from '../http/settled-loader';
import { PlainRows, loaderStatement, runStatement } from '../plain-rows';
import { User } from './user.entity';

/**
 * A user as the loaders read it: every column TypeORM would select, as a plain row with
 * User's prototype and `createdAt` decoded on first read (src/plain-rows.ts). The
 * membership page joins the same columns (src/memberships/membership.loader.ts).
 */
export const USER_ROWS = new PlainRows(User, {
  columns: { id: 'id', email: 'email', emailKey: 'email_key', name: 'name', externalId: 'external_id', createdAt: 'created_at' },
  timestamps: ['createdAt'],
});

const USER_BY_ID = loaderStatement('userById', `SELECT ${USER_ROWS.select('u')} FROM users u WHERE u.id = ANY($1)`);

/** Per-request batch loaders; each batch function answers in key order, one result per key. */
export function createUserLoaders(manager: EntityManager) {
  return {
    /** Settled: `Membership.user` answers synchronously for the users the membership page joined (primed). */
    userById: new SettledLoader<string, User | null>(async (ids) => {
      const rows = await runStatement(manager, USER_BY_ID, [[...ids]]);
      const byId = new Map(rows.map((row) => [row.id as string, USER_ROWS.read(row)]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
  };
}
