import type { EntityManager } from 'typeorm';
import { decodeEventCursor } from '../deletion/deletion-log.service';
import { newId } from '../ids';
import { enqueueDeliveries } from './webhook-queue';

/**
 * Fan-out (issue 12): from the events outbox to one webhook message per (event, endpoint),
 * after the event's transaction committed. The deletion engine never knows webhooks exist:
 * it writes its events and is done, so its latency does not grow with the number of
 * endpoints; this pass does the per-endpoint work later, in its own transaction.
 *
 * A pass reads events in the events query's order and visibility (src/deletion/
 * deletion-log.service.ts): (txid, position), only transactions older than every running
 * one (txid < pg_snapshot_xmin), so the cursor never skips an event that commits late.
 */

/**
 * Which endpoints `e` may reach besides matching its type: a webhook_endpoint.disabled event
 * goes to the admin's endpoints and to the endpoints of the key that owns the disabled one,
 * never to another partner's (it names an endpoint that is not theirs).
 */
const FOR_OWNER = `(e.type <> 'webhook_endpoint.disabled' OR ep.api_key_id IS NULL
   OR ep.api_key_id = (SELECT d.api_key_id FROM webhook_endpoints d WHERE d.id = e.data ->> 'endpointId'))`;

/** Events read per fan-out pass; a full batch runs the next pass at once. */
export const FANOUT_BATCH = 1000;

/** ISO 8601 in UTC with milliseconds, as JavaScript's Date.toISOString writes it. */
const ISO_TIMESTAMP = `to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/**
 * Creates one message per (event position, endpoint) pair with its frozen body
 * `{ type, timestamp, data }` and enqueues one delivery job each, in the caller's
 * transaction. `data` is the event's own data: IDs, counts and the receipt ID (the outbox
 * holds nothing personal, src/outbox.ts). Returns how many messages were created.
 */
async function createMessages(manager: EntityManager, pairs: Array<{ position: string; endpoint_id: string }>): Promise<number> {
  if (pairs.length === 0) return 0;
  // Monotonic ULIDs: message IDs sort in event order.
  const ids = pairs.map(() => newId('webhookMessage'));
  await manager.query(
    `INSERT INTO webhook_messages (id, endpoint_id, event_position, event_type, body)
     SELECT p.id, p.endpoint_id, e.position, e.type,
            jsonb_build_object('type', e.type, 'timestamp', ${ISO_TIMESTAMP}, 'data', e.data)
       FROM unnest($1::text[], $2::text[], $3::bigint[]) AS p (id, endpoint_id, position)
       JOIN events e ON e.position = p.position`,
    [ids, pairs.map((pair) => pair.endpoint_id), pairs.map((pair) => pair.position)],
  );
  await enqueueDeliveries(
    manager,
    ids.map((messageId) => ({ messageId })),
  );
  return ids.length;
}

export interface FanOutResult {
  /** Events read in this pass (FANOUT_BATCH means more may be waiting). */
  events: number;
  messages: number;
}

/**
 * One fan-out pass, in the caller's transaction: locks the cursor row (FOR UPDATE SKIP
 * LOCKED: when another instance holds it, returns null and does nothing), reads up to
 * `batch` visible events after it, creates a message for each enabled endpoint subscribed
 * to the event's type and created no later than the event occurred (an endpoint receives
 * the events that occur after it was created; older ones only through replay), enqueues
 * their jobs, and moves the cursor past the batch. Set-based: four statements whatever the
 * numbers of events and endpoints.
 */
export async function fanOutOnce(manager: EntityManager, batch = FANOUT_BATCH): Promise<FanOutResult | null> {
  const cursor: Array<{ txid: string | null; position: string | null }> = await manager.query(
    `SELECT txid::text AS txid, position::text AS position FROM webhook_outbox_cursor FOR UPDATE SKIP LOCKED`,
  );
  if (cursor.length === 0) return null;
  const { txid, position } = cursor[0];
  const end: Array<{ txid: string; position: string; count: string }> = await manager.query(
    `SELECT b.txid::text AS txid, b.position::text AS position, count(*) OVER () AS count
       FROM (SELECT e.txid, e.position FROM events e
              WHERE e.txid < pg_snapshot_xmin(pg_current_snapshot())
                AND ($1::xid8 IS NULL OR (e.txid, e.position) > ($1::xid8, $2::bigint))
              ORDER BY e.txid, e.position
              LIMIT $3) b
      ORDER BY b.txid DESC, b.position DESC
      LIMIT 1`,
    [txid, position, batch],
  );
  if (end.length === 0) return { events: 0, messages: 0 };
  // Every event up to `end` belongs to a finished transaction, so this range is the same
  // set of rows the statement above saw, although its snapshot is newer.
  const pairs: Array<{ position: string; endpoint_id: string }> = await manager.query(
    `SELECT e.position::text AS position, ep.id AS endpoint_id
       FROM events e
       JOIN webhook_endpoints ep
         ON ep.enabled AND e.type = ANY (ep.event_types) AND ep.created_at <= e.occurred_at AND ${FOR_OWNER}
      WHERE ($1::xid8 IS NULL OR (e.txid, e.position) > ($1::xid8, $2::bigint))
        AND (e.txid, e.position) <= ($3::xid8, $4::bigint)
      ORDER BY e.txid, e.position, ep.id`,
    [txid, position, end[0].txid, end[0].position],
  );
  const messages = await createMessages(manager, pairs);
  await manager.query(`UPDATE webhook_outbox_cursor SET txid = $1::xid8, position = $2::bigint`, [end[0].txid, end[0].position]);
  return { events: Number(end[0].count), messages };
}

/** Events one replayWebhookEvents call queues at most (issue 12 review: a replay is one transaction, so it is bounded). */
export const REPLAY_LIMIT = 1000;

/** An events cursor, as the events query issues it (src/deletion/deletion-log.service.ts, which decodes it). */
function eventCursor(txid: string, position: string): string {
  return Buffer.from(`e1:${txid}:${position}`, 'utf8').toString('base64url');
}

export interface ReplayResult {
  /** Messages created (one per event replayed). */
  queued: number;
  /** The cursor of the last event queued when more may follow (pass it as `after` again); null when the replay is complete. */
  nextCursor: string | null;
}

/**
 * replayWebhookEvents (issue 12): sends again, to one endpoint, the visible events after
 * `after` (an events cursor as the `events` query issues; all events when null) of the
 * types it subscribes to, whenever they occurred, as new messages (new webhook-ids), in
 * the caller's transaction: at most `limit` (REPLAY_LIMIT) of them, oldest first, so one
 * call never writes an unbounded transaction; `nextCursor` continues where it stopped.
 * Throws BAD_USER_INPUT (field `after`) for a cursor this API did not issue. The caller
 * checks the endpoint exists and that the caller may use it.
 */
export async function replayToEndpoint(
  manager: EntityManager,
  endpointId: string,
  after: string | null,
  limit = REPLAY_LIMIT,
): Promise<ReplayResult> {
  const [txid, position] = decodeEventCursor(after);
  const rows: Array<{ position: string; endpoint_id: string; txid: string }> = await manager.query(
    `SELECT e.position::text AS position, ep.id AS endpoint_id, e.txid::text AS txid
       FROM events e
       JOIN webhook_endpoints ep ON ep.id = $1 AND e.type = ANY (ep.event_types) AND ${FOR_OWNER}
      WHERE e.txid < pg_snapshot_xmin(pg_current_snapshot())
        AND ($2::xid8 IS NULL OR (e.txid, e.position) > ($2::xid8, $3::bigint))
      ORDER BY e.txid, e.position
      LIMIT $4`,
    [endpointId, txid, position, limit + 1],
  );
  const pairs = rows.slice(0, limit);
  const queued = await createMessages(manager, pairs.map((row) => ({ position: row.position, endpoint_id: row.endpoint_id })));
  const last = pairs[pairs.length - 1];
  return { queued, nextCursor: rows.length > limit ? eventCursor(last.txid, last.position) : null };
}
