import DataLoader from 'dataloader';
import type { EntityManager } from 'typeorm';
import { groupBy } from '../collections';
import { toPage, type Page } from '../pagination';
import { DELIVERY_COLUMNS, toWebhookDelivery, type WebhookDelivery } from './webhook-endpoint.entity';

/** A DataLoader key for one endpoint's page of delivery attempts, newest first. */
export interface WebhookDeliveryPageKey {
  endpointId: string;
  first: number;
  /** The cursor's attempt: the page holds older ones (smaller IDs). Null: from the newest. */
  beforeId: string | null;
}

/**
 * Per-request batch loaders for WebhookEndpoint.deliveries (issue 12); each batch function
 * answers in key order, one result per key. The pages of many endpoints (a list of
 * endpoints, each with its latest attempts) are one statement: a LATERAL subquery walks
 * each endpoint's (endpoint_id, id) index backwards and stops after `first + 1` rows, so a
 * page costs the same whether an endpoint has ten attempts or a million. (The window
 * function the membership loader uses would number every attempt of each endpoint.)
 */
export function createWebhookLoaders(manager: EntityManager) {
  return {
    webhookDeliveryPage: new DataLoader<WebhookDeliveryPageKey, Omit<Page<WebhookDelivery>, 'totalCount'>, string>(
      async (keys) => {
        const pages = new Map<string, Omit<Page<WebhookDelivery>, 'totalCount'>>();
        for (const group of groupBy(keys, pageArgs).values()) {
          const { first, beforeId } = group[0];
          const rows: Array<Record<string, unknown>> = await manager.query(
            `SELECT ${DELIVERY_COLUMNS}
               FROM unnest($1::varchar[]) AS e(id)
               CROSS JOIN LATERAL (
                 SELECT * FROM webhook_deliveries
                  WHERE endpoint_id = e.id AND ($2::varchar IS NULL OR id < $2)
                  ORDER BY id DESC
                  LIMIT $3
               ) d
               JOIN webhook_messages m ON m.id = d.message_id
              ORDER BY d.endpoint_id, d.id DESC`,
            [[...new Set(group.map((key) => key.endpointId))], beforeId, first + 1],
          );
          const byEndpoint = groupBy(rows.map(toWebhookDelivery), (delivery) => delivery.endpointId);
          for (const key of group) pages.set(pageKey(key), toPage(byEndpoint.get(key.endpointId) ?? [], key.first));
        }
        return keys.map((key) => pages.get(pageKey(key))!);
      },
      { cacheKeyFn: pageKey },
    ),

    webhookDeliveryCount: new DataLoader<string, number>(async (endpointIds) => {
      const rows: Array<{ endpoint_id: string; count: number }> = await manager.query(
        `SELECT endpoint_id, count(*)::int AS count FROM webhook_deliveries
          WHERE endpoint_id = ANY($1) GROUP BY endpoint_id`,
        [[...endpointIds]],
      );
      const counts = new Map(rows.map((row) => [row.endpoint_id, row.count]));
      return endpointIds.map((id) => counts.get(id) ?? 0);
    }),
  };
}

const pageArgs = (key: WebhookDeliveryPageKey) => `${key.first}|${key.beforeId ?? ''}`;
const pageKey = (key: WebhookDeliveryPageKey) => `${key.endpointId}|${pageArgs(key)}`;
