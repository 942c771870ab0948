import DataLoader from 'dataloader';
import { In, type DataSource } from 'typeorm';
import { User } from './user.entity';

/** Per-request batch loaders; each batch function answers in key order, one result per key. */
export function createUserLoaders(dataSource: DataSource) {
  return {
    userById: new DataLoader<string, User | null>(async (ids) => {
      const rows = await dataSource.getRepository(User).findBy({ id: In([...ids]) });
      const byId = new Map(rows.map((row) => [row.id, row]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
  };
}
