import DataLoader from 'dataloader';
import { In, type EntityManager } from 'typeorm';
import { groupBy } from '../collections';
import { Session } from './session.entity';

/** Per-request batch loaders; each batch function answers in key order, one result per key. */
export function createSessionLoaders(manager: EntityManager) {
  const repository = manager.getRepository(Session);
  return {
    sessionById: new DataLoader<string, Session | null>(async (ids) => {
      const rows = await repository.findBy({ id: In([...ids]) });
      const byId = new Map(rows.map((row) => [row.id, row]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
    /** All of a user's sessions, oldest first; the resolver filters by status. */
    sessionsByUser: new DataLoader<string, Session[]>(async (userIds) => {
      const rows = await repository.find({ where: { userId: In([...userIds]) }, order: { id: 'ASC' } });
      const groups = groupBy(rows, (row) => row.userId);
      return userIds.map((id) => groups.get(id) ?? []);
    }),
  };
}
