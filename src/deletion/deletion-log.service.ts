import type { EntityManager } from 'typeorm';
import { AppError } from '../errors';
import { isId } from '../ids';
import { EVENT_TYPES, isEventType } from '../outbox';
import type { Page } from '../pagination';
import { toReceipt } from './deletion.service';
import type { DeletionReceipt, Event } from './deletion.types';

const CURSOR = /^e1:(\d{1,20}):(\d{1,20})$/;
/** The cursor's numbers are an xid8 (unsigned 64-bit) and a bigint position (signed 64-bit). */
const MAX_XID8 = 2n ** 64n - 1n;
const MAX_BIGINT = 2n ** 63n - 1n;

function encodeEventCursor(txid: string, position: string): string {
  return Buffer.from(`e1:${txid}:${position}`, 'utf8').toString('base64url');
}

/** Also decodes replayWebhookEvents' `after` (src/webhooks/webhook-fanout.ts): the same cursors. */
export function decodeEventCursor(after: string | null | undefined): [string, string] | [null, null] {
  if (after === null || after === undefined) return [null, null];
  const match = /^[A-Za-z0-9_-]{1,100}$/.test(after) ? CURSOR.exec(Buffer.from(after, 'base64url').toString('utf8')) : null;
  // Out of range, PostgreSQL would fail the cast (22003) and the client would see a 500 (issue 11).
  if (!match || BigInt(match[1]) > MAX_XID8 || BigInt(match[2]) > MAX_BIGINT) {
    throw AppError.badInput('after', 'after is not a cursor this API issued');
  }
  return [match[1], match[2]];
}

/** Only events of transactions older than every running one: see the events migration. */
const VISIBLE = `txid < pg_snapshot_xmin(pg_current_snapshot()) AND ($1::text[] IS NULL OR type = ANY($1))`;

/** Reads of the deletion outbox: receipts by subject, events in a pollable order. */
export class DeletionLogService {
  async receipt(manager: EntityManager, subjectId: string): Promise<DeletionReceipt | null> {
    if (!isId('user', subjectId) && !isId('organization', subjectId)) {
      throw AppError.badInput('subjectId', 'subjectId must be a user (usr_…) or organization (org_…) ID');
    }
    const rows = await manager.query(`SELECT * FROM deletion_receipts WHERE subject_id = $1`, [subjectId]);
    return rows.length ? toReceipt(rows[0]) : null;
  }

  async events(
    manager: EntityManager,
    args: { first: number; after?: string | null; types?: string[] | null },
  ): Promise<Page<Event>> {
    const unknown = (args.types ?? []).filter((type) => !isEventType(type));
    if (unknown.length > 0) {
      throw AppError.badInput('types', `Unknown event types: ${unknown.join(', ')}; known: ${EVENT_TYPES.join(', ')}`);
    }
    const types = args.types?.length ? args.types : null;
    const [txid, position] = decodeEventCursor(args.after);
    const rows: Array<{ position: string; txid: string; type: string; occurred_at: Date; data: Record<string, unknown> }> =
      await manager.query(
        // Ordered by the columns, not by the text output columns of the same names: as text,
        // txid 1002 would sort before 751 and a poller's cursor would skip events.
        `SELECT e.position::text AS position, e.txid::text AS txid, e.type, e.occurred_at, e.data FROM events e
          WHERE ${VISIBLE} AND ($2::xid8 IS NULL OR (e.txid, e.position) > ($2::xid8, $3::bigint))
          ORDER BY e.txid, e.position
          LIMIT $4`,
        [types, txid, position, args.first + 1],
      );
    const nodes = rows.slice(0, args.first).map((row) => ({
      id: `evt_${row.position}`,
      type: row.type,
      occurredAt: row.occurred_at,
      data: row.data,
      cursor: encodeEventCursor(row.txid, row.position),
    }));
    const last = nodes[nodes.length - 1];
    return {
      nodes,
      pageInfo: { hasNextPage: rows.length > args.first, endCursor: last?.cursor ?? null },
      get totalCount() {
        return manager
          .query(`SELECT count(*)::int AS count FROM events WHERE ${VISIBLE}`, [types])
          .then((result: Array<{ count: number }>) => result[0].count);
      },
    };
  }
}
