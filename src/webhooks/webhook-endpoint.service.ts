import { randomBytes } from 'node:crypto';
import type { EntityManager } from 'typeorm';
import { endpointOwnerOf } from '../auth/access';
import type { Principal } from '../auth/principal';
import { AppError } from '../errors';
import { newId, parseId } from '../ids';
import { EVENT_TYPES, isEventType } from '../outbox';
import { decodeCursor, toPage, type Page, type PageArgs } from '../pagination';
import { ENDPOINT_COLUMNS, toWebhookEndpoint, type WebhookEndpoint } from './webhook-endpoint.entity';
import { MAX_DESCRIPTION_LENGTH, type CreateWebhookEndpointInput, type UpdateWebhookEndpointInput } from './webhook-endpoint.inputs';
import { replayToEndpoint } from './webhook-fanout';
import { parseWebhookUrl, type WebhookUrlOptions } from './webhook-url';

/** The Standard Webhooks secret prefix: the receiver's library strips it before base64-decoding the key. */
export const WEBHOOK_SECRET_PREFIX = 'whsec_';

/**
 * A new signing secret in the Standard Webhooks format (the spec's "Signature scheme":
 * `whsec_` + base64 of the key; 32 random bytes, the spec's recommended 24 to 64), which
 * the `standardwebhooks` package's `new Webhook(secret)` accepts. 50 characters.
 */
export function newWebhookSecret(): string {
  return WEBHOOK_SECRET_PREFIX + randomBytes(32).toString('base64');
}

/**
 * The most endpoints one owner (each API key, and the admin) may have (issue 12 review): each
 * endpoint gets its own POST of every event it subscribes to, so without a bound one key could
 * register thousands of endpoints naming one victim's URL and turn each event into thousands
 * of requests to it, and slow the fan-out for every partner.
 */
export const MAX_ENDPOINTS_PER_OWNER = 50;

/** What a manual disable writes to disabledReason (the delivery worker writes its own when an endpoint keeps failing). */
export const DISABLED_BY_UPDATE = 'Disabled with updateWebhookEndpoint';

/** The SQL condition "visible to the owner in parameter `$n`" (null: the admin, all). */
const visibleTo = (n: number, table = '') => `($${n}::varchar IS NULL OR ${table ? `${table}.` : ''}api_key_id = $${n})`;

/**
 * Webhook endpoints (issue 12): each a URL, the event types it subscribed to, and the
 * Standard Webhooks secret that signs what is sent to it. Every method takes the manager of
 * the caller's transaction (mutations) or read snapshot (queries), and scopes every
 * statement to what the caller owns (endpointOwnerOf), so a row of another key is never
 * read, changed or confirmed. Delivery is not here: src/webhooks/webhook-fanout.ts and the
 * worker read the rows this writes.
 */
export class WebhookEndpointService {
  /**
   * createWebhookEndpoint: the endpoint, owned by the calling key (the admin's: no key),
   * and its secret, which is returned this once. It receives the events committed after it
   * (the fan-out reads the outbox onward); older ones come only through replayWebhookEvents.
   * BAD_USER_INPUT for a refused URL, event type or description; CONFLICT when the owner
   * already has MAX_ENDPOINTS_PER_OWNER endpoints.
   */
  async create(
    manager: EntityManager,
    principal: Principal,
    input: CreateWebhookEndpointInput,
    urlOptions: WebhookUrlOptions,
  ): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
    const owner = endpointOwnerOf(principal);
    const url = parseWebhookUrl(input.url, 'input.url', urlOptions);
    const eventTypes = parseEventTypes(input.eventTypes, 'input.eventTypes');
    const description = parseDescription(input.description, 'input.description');
    // One create at a time per owner, so two concurrent ones cannot both pass the count.
    await manager.query(`SELECT pg_advisory_xact_lock(hashtext('webhook_endpoints:' || coalesce($1::varchar, 'admin')))`, [owner]);
    // Index-backed either way (webhook_endpoints_api_key_id_idx); IS NOT DISTINCT FROM would not be.
    const [{ count }]: Array<{ count: number }> =
      owner === null
        ? await manager.query(`SELECT count(*)::int AS count FROM webhook_endpoints WHERE api_key_id IS NULL`)
        : await manager.query(`SELECT count(*)::int AS count FROM webhook_endpoints WHERE api_key_id = $1`, [owner]);
    if (count >= MAX_ENDPOINTS_PER_OWNER) {
      throw AppError.conflict(
        `${owner === null ? 'The admin has' : 'This API key has'} ${MAX_ENDPOINTS_PER_OWNER} webhook endpoints, the most one owner may have; delete one first`,
      );
    }
    const secret = newWebhookSecret();
    const rows: Array<Record<string, unknown>> = await manager.query(
      `INSERT INTO webhook_endpoints (id, api_key_id, url, event_types, description, secret)
       VALUES ($1, $2, $3, $4, $5, $6)
       RETURNING ${ENDPOINT_COLUMNS}`,
      [newId('webhookEndpoint'), owner, url.href, eventTypes, description, secret],
    );
    return { endpoint: toWebhookEndpoint(rows[0]), secret };
  }

  /** webhookEndpoints: the caller's endpoints (the admin: all), oldest first, in pages. */
  async list(manager: EntityManager, principal: Principal, args: PageArgs): Promise<Page<WebhookEndpoint>> {
    const owner = endpointOwnerOf(principal);
    const afterId = decodeCursor('webhookEndpoint', args.after);
    const rows: Array<Record<string, unknown>> = await manager.query(
      `SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints
        WHERE ${visibleTo(1)} AND ($2::varchar IS NULL OR id > $2)
        ORDER BY id LIMIT $3`,
      [owner, afterId, args.first + 1],
    );
    return {
      ...toPage(rows.map(toWebhookEndpoint), args.first),
      get totalCount() {
        return manager
          .query(`SELECT count(*)::int AS count FROM webhook_endpoints WHERE ${visibleTo(1)}`, [owner])
          .then((result: Array<{ count: number }>) => result[0].count);
      },
    };
  }

  /** webhookEndpoint: one of the caller's endpoints, or null (another key's reads as absent). */
  async find(manager: EntityManager, principal: Principal, idArg: string): Promise<WebhookEndpoint | null> {
    const id = parseId('webhookEndpoint', idArg, 'id');
    const rows: Array<Record<string, unknown>> = await manager.query(
      `SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1 AND ${visibleTo(2)}`,
      [id, endpointOwnerOf(principal)],
    );
    return rows.length ? toWebhookEndpoint(rows[0]) : null;
  }

  /**
   * updateWebhookEndpoint: the fields sent change, the others keep their values. Disabling
   * records DISABLED_BY_UPDATE as the reason; enabling an endpoint that was disabled (by
   * hand or by the worker for failing without pause) clears disabledReason and
   * failingSince, so it gets a full grace period again. Enabling one that is enabled
   * changes nothing, so a failing endpoint cannot be kept alive by re-sending `enabled: true`.
   * NOT_FOUND for an endpoint the caller does not own.
   */
  async update(
    manager: EntityManager,
    principal: Principal,
    input: UpdateWebhookEndpointInput,
    urlOptions: WebhookUrlOptions,
  ): Promise<WebhookEndpoint> {
    const id = parseId('webhookEndpoint', input.id, 'input.id');
    const owner = endpointOwnerOf(principal);
    for (const field of ['url', 'eventTypes', 'enabled'] as const) {
      if (input[field] === null) {
        throw AppError.badInput(`input.${field}`, `input.${field} must not be null; leave it out to keep the current value`);
      }
    }
    const url = input.url === undefined ? null : parseWebhookUrl(input.url as string, 'input.url', urlOptions).href;
    const eventTypes = input.eventTypes === undefined ? null : parseEventTypes(input.eventTypes as string[], 'input.eventTypes');
    const describe = input.description !== undefined;
    const description = describe ? parseDescription(input.description, 'input.description') : null;
    const enabled = input.enabled ?? null;
    if (enabled === true) {
      // A revoked key's endpoints stay off (revokeApiKey disabled them): its partner may no
      // longer call this API, so nothing is pushed to it either. The key's row FOR SHARE,
      // before the endpoint's: revokeApiKey's order, so a revocation in flight waits or wins.
      const [revoked]: Array<{ revoked: boolean }> = await manager.query(
        `SELECT k.revoked_at IS NOT NULL AS revoked
           FROM webhook_endpoints e JOIN api_keys k ON k.id = e.api_key_id
          WHERE e.id = $1 AND ${visibleTo(2, 'e')}
            FOR SHARE OF k`,
        [id, owner],
      );
      if (revoked?.revoked) throw AppError.conflict('The endpoint cannot be enabled: the API key that owns it is revoked');
    }
    // TypeORM answers an UPDATE with [rows, affected count]. In SET, a column names its old value.
    const [rows]: [Array<Record<string, unknown>>, number] = await manager.query(
      `UPDATE webhook_endpoints SET
         url = coalesce($3, url),
         event_types = coalesce($4, event_types),
         description = CASE WHEN $5 THEN $6 ELSE description END,
         enabled = coalesce($7, enabled),
         disabled_reason = CASE WHEN $7 AND NOT enabled THEN NULL
                                WHEN NOT $7 AND enabled THEN $8
                                ELSE disabled_reason END,
         failing_since = CASE WHEN $7 AND NOT enabled THEN NULL ELSE failing_since END,
         updated_at = now()
       WHERE id = $1 AND ${visibleTo(2)}
       RETURNING ${ENDPOINT_COLUMNS}`,
      [id, owner, url, eventTypes, describe, description, enabled, DISABLED_BY_UPDATE],
    );
    if (rows.length === 0) throw AppError.notFound('Webhook endpoint', id);
    return toWebhookEndpoint(rows[0]);
  }

  /**
   * rotateWebhookSecret: a new secret replaces the old one at once (every attempt from now
   * on, retries of older messages included, is signed with it) and is returned this once.
   * NOT_FOUND for an endpoint the caller does not own.
   */
  async rotateSecret(manager: EntityManager, principal: Principal, idArg: string): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
    const id = parseId('webhookEndpoint', idArg, 'id');
    const secret = newWebhookSecret();
    const [rows]: [Array<Record<string, unknown>>, number] = await manager.query(
      `UPDATE webhook_endpoints SET secret = $3, updated_at = now()
        WHERE id = $1 AND ${visibleTo(2)}
        RETURNING ${ENDPOINT_COLUMNS}`,
      [id, endpointOwnerOf(principal), secret],
    );
    if (rows.length === 0) throw AppError.notFound('Webhook endpoint', id);
    return { endpoint: toWebhookEndpoint(rows[0]), secret };
  }

  /**
   * deleteWebhookEndpoint: the endpoint, its messages and their attempts (ON DELETE CASCADE
   * in the webhooks migration); nothing more is sent to it. Events stay: they are the
   * outbox. NOT_FOUND for an endpoint the caller does not own (or one already deleted).
   */
  async delete(manager: EntityManager, principal: Principal, idArg: string): Promise<string> {
    const id = parseId('webhookEndpoint', idArg, 'id');
    const [rows]: [Array<{ id: string }>, number] = await manager.query(
      `DELETE FROM webhook_endpoints WHERE id = $1 AND ${visibleTo(2)} RETURNING id`,
      [id, endpointOwnerOf(principal)],
    );
    if (rows.length === 0) throw AppError.notFound('Webhook endpoint', id);
    return id;
  }

  /**
   * replayWebhookEvents: queues the events after the events cursor `after` (all of them when
   * null) of the types the endpoint subscribes to, as new messages (src/webhooks/webhook-fanout.ts,
   * replayToEndpoint), at most REPLAY_LIMIT (1,000) per call, and returns how many, with
   * `nextCursor` to continue from when more remain (null when done). The endpoint row is held FOR SHARE meanwhile, so a
   * concurrent delete or update waits for the replay to commit. NOT_FOUND for an endpoint the
   * caller does not own; CONFLICT for a disabled one (enable it first: its messages would
   * otherwise wait for nobody).
   */
  async replay(
    manager: EntityManager,
    principal: Principal,
    idArg: string,
    after: string | null,
  ): Promise<{ endpoint: WebhookEndpoint; queuedMessageCount: number; nextCursor: string | null }> {
    const id = parseId('webhookEndpoint', idArg, 'endpointId');
    const rows: Array<Record<string, unknown>> = await manager.query(
      `SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1 AND ${visibleTo(2)} FOR SHARE`,
      [id, endpointOwnerOf(principal)],
    );
    if (rows.length === 0) throw AppError.notFound('Webhook endpoint', id);
    const endpoint = toWebhookEndpoint(rows[0]);
    if (!endpoint.enabled) throw AppError.conflict('This webhook endpoint is disabled; enable it with updateWebhookEndpoint, then replay');
    const { queued, nextCursor } = await replayToEndpoint(manager, id, after);
    return { endpoint, queuedMessageCount: queued, nextCursor };
  }
}

/**
 * An endpoint's event types: at least one, each a type of the outbox (src/outbox.ts,
 * EVENT_TYPES), duplicates dropped, in the order sent. BAD_USER_INPUT naming `field`;
 * an unknown type is named by its position, not repeated.
 */
export function parseEventTypes(types: readonly string[], field: string): string[] {
  if (types.length === 0) throw AppError.badInput(field, `${field} must name at least one event type`);
  const index = types.findIndex((type) => !isEventType(type));
  if (index >= 0) {
    throw AppError.badInput(field, `${field}[${index}] is not a known event type; known: ${EVENT_TYPES.join(', ')}`);
  }
  return [...new Set(types)];
}

/**
 * An endpoint's description: trimmed, blank or null meaning none. BAD_USER_INPUT naming
 * `field` for more than MAX_DESCRIPTION_LENGTH characters, and for text PostgreSQL cannot
 * store faithfully (U+0000, a lone surrogate).
 */
export function parseDescription(description: string | null | undefined, field: string): string | null {
  if (description === null || description === undefined) return null;
  if (description.length > MAX_DESCRIPTION_LENGTH) {
    throw AppError.badInput(field, `${field} must be at most ${MAX_DESCRIPTION_LENGTH} characters`);
  }
  if (/[\u0000\p{Surrogate}]/u.test(description)) {
    throw AppError.badInput(field, `${field} must be well-formed text without the NUL character`);
  }
  const trimmed = description.trim();
  return trimmed === '' ? null : trimmed;
}
