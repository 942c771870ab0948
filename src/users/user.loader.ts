import DataLoader from 'dataloader';
import { In, type EntityManager } from 'typeorm';
import { User } from './user.entity';

/** Per-request batch loaders; each batch function answers in key order, one result per key. */
export function createUserLoaders(manager: EntityManager) {
  return {
    userById: new DataLoader<string, User | null>(async (ids) => {
      const rows = await manager.getRepository(User).findBy({ id: In([...ids]) });
      const byId = new Map(rows.map((row) => [row.id, row]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
  };
}
