import DataLoader from 'dataloader';
import type { DataSource } from 'typeorm';

/** Per-request batch loaders for invitations; each batch function answers in key order, one result per key. */
export function createInvitationLoaders(_dataSource: DataSource) {
  return {} as Record<never, DataLoader<unknown, unknown>>;
}
