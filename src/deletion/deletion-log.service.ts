import type { EntityManager } from 'typeorm';
import { AppError } from '../errors';
import { isId } from '../ids';
import { EVENT_TYPES, isEventType } from '../outbox';
import type { Page, PageInfo } from '../pagination';
import { retainedUserCount, toReceipt } from './deletion.service';
import { LIST_EVENT_TYPES, LIST_NODES, type ListName } from './deletion.sql';
import type { DeletionReceipt, Event } from './deletion.types';

/** A page of a deletion's list: totalCount is the receipt's count, known without a query. */
export interface ListPage<T> {
  nodes: T[];
  pageInfo: PageInfo;
  totalCount: number;
}

const LIST_CURSOR = /^d2:(terminatedSessions|removedMemberships|cascadedUsers|retainedUsers):(\d{1,20}):(\d{1,19})$/;

/** Where a list cursor points: the list, the deletion's transaction (receipt.txid) and an event's position. */
export interface ListCursor {
  list: ListName;
  txid: string;
  position: string;
}

/**
 * A cursor into a deletion's list (issue 13): base64url of "d2:<list>:<txid>:<position>",
 * the list, the receipt's transaction (receipt.txid, which every event of the deletion
 * carries) and the position of the event the node was read from. The payload's first page
 * and the receipt's pages issue the same cursors, so the payload's endCursor continues in
 * the receipt. Clients treat it as opaque; the list and txid bind it to one list of one
 * receipt (issue 13 review: a cursor of another list or receipt is refused, not read as a
 * position of this one).
 */
export function encodeListCursor(list: ListName, txid: string, position: string): string {
  return Buffer.from(`d2:${list}:${txid}:${position}`, 'utf8').toString('base64url');
}

/** What a list cursor stands for (null for none), or BAD_USER_INPUT naming `after` (never echoing it). */
export function decodeListCursor(after: string | null | undefined): ListCursor | null {
  if (after === null || after === undefined) return null;
  const [list, txid, position] = matchCursor(after, LIST_CURSOR, 120);
  return { list: list as ListName, txid, position };
}

/** decodeListCursor, and BAD_USER_INPUT on `after` unless the cursor is one of `list`'s. */
export function decodeListCursorOf(list: ListName, after: string | null | undefined): ListCursor | null {
  const cursor = decodeListCursor(after);
  if (cursor && cursor.list !== list) {
    throw AppError.badInput('after', `after is a cursor of another list; pass an endCursor of ${list}`);
  }
  return cursor;
}

/** Where a page's endCursor points: the list and the receipt's txid (null: no cursor, as for a dry run). */
export type CursorScope = { list: ListName; txid: string } | null;

/**
 * Shapes first + 1 entries in position order into a page; endCursor null when `scope` is null
 * (a dry run). An entry's own txid (a job's chunk, issue 15) goes into the cursor when it has one.
 */
export function toListPage<T>(
  entries: ReadonlyArray<{ position: string; node: T; txid?: string }>,
  first: number,
  totalCount: number,
  scope: CursorScope,
): ListPage<T> {
  const taken = entries.slice(0, first);
  const last = taken[taken.length - 1];
  return {
    nodes: taken.map((entry) => entry.node),
    pageInfo: {
      hasNextPage: entries.length > first,
      endCursor: scope && last ? encodeListCursor(scope.list, last.txid ?? scope.txid, last.position) : null,
    },
    totalCount,
  };
}

/** The total of each list, from the receipt's counts. */
function listTotal(receipt: DeletionReceipt, list: ListName): number {
  switch (list) {
    case 'terminatedSessions':
      return receipt.terminatedSessionCount;
    case 'removedMemberships':
      return receipt.removedMembershipCount;
    case 'cascadedUsers':
      return receipt.cascadedUserCount;
    case 'retainedUsers':
      return retainedUserCount(receipt);
  }
}

const CURSOR = /^e1:(\d{1,20}):(\d{1,20})$/;
/** The cursor's numbers are an xid8 (unsigned 64-bit) and a bigint position (signed 64-bit). */
const MAX_XID8 = 2n ** 64n - 1n;
const MAX_BIGINT = 2n ** 63n - 1n;

/**
 * The groups of a base64url cursor whose text matches `pattern`, whose last two groups are
 * an xid8 and a bigint position; else BAD_USER_INPUT naming `after`, never echoing it. Out of
 * range, PostgreSQL would fail the cast (22003) and the client would see a 500 (issue 11).
 */
function matchCursor(after: string, pattern: RegExp, maxLength: number): string[] {
  const match = after.length <= maxLength && /^[A-Za-z0-9_-]+$/.test(after) ? pattern.exec(Buffer.from(after, 'base64url').toString('utf8')) : null;
  const groups = match ? match.slice(1) : [];
  const [txid, position] = groups.slice(-2);
  if (!match || BigInt(txid) > MAX_XID8 || BigInt(position) > MAX_BIGINT) {
    throw AppError.badInput('after', 'after is not a cursor this API issued');
  }
  return groups;
}

function encodeEventCursor(txid: string, position: string): string {
  return Buffer.from(`e1:${txid}:${position}`, 'utf8').toString('base64url');
}

/** Also decodes replayWebhookEvents' `after` (src/webhooks/webhook-fanout.ts): the same cursors. */
export function decodeEventCursor(after: string | null | undefined): [string, string] | [null, null] {
  if (after === null || after === undefined) return [null, null];
  const [txid, position] = matchCursor(after, CURSOR, 100);
  return [txid, position];
}

/**
 * How many of a job receipt's chunk transactions one page statement reads (issue 15): a page
 * (at most 101 events) seldom spans more than two chunks of 2,500 members, and the statement
 * sorts up to this many chunks' first entries.
 */
const CHUNKS_PER_STATEMENT = 8;

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

  /**
   * One page of a deletion's list, read from the events the deletion wrote (issue 13): those
   * of its transactions (receipt.txid, or for a job's receipt each chunk's, receipt.chunkTxids,
   * issue 15: a deletion's transaction writes that deletion's events only), of the list's
   * type, after the cursor's position, in position order. A chunk's events all come after the
   * previous chunk's (it began after that one committed), so position order runs through the
   * chunks in turn, and a page reads the cursor's chunk and those after it, each one range of
   * events_txid_type_position_idx: 0.1 ms a page, measured at 10,000 members (EXPLAIN
   * ANALYZE). Retained users are the organization_membership.deleted events whose userId
   * has no user.deleted event of the same receipt: a lookup per row on
   * events_deleted_user_idx, written as a subquery with LIMIT so that PostgreSQL cannot turn
   * it into a join that scans every user.deleted event for each membership (12 s for one
   * page at 10,000 members, measured). A receipt without a txid (older than issue 13, its
   * events gone) has empty pages; totalCount is the receipt's count either way.
   */
  async listPage<T>(
    manager: EntityManager,
    receipt: DeletionReceipt,
    list: ListName,
    args: { first: number; after?: string | null },
  ): Promise<ListPage<T>> {
    const after = decodeListCursorOf(list, args.after);
    const txids = receipt.chunkTxids ?? (receipt.txid === null ? [] : [receipt.txid]);
    const from = after ? txids.indexOf(after.txid) : 0;
    if (from < 0) {
      throw AppError.badInput('after', "after is a cursor of another deletion's receipt; pass an endCursor of this receipt's list");
    }
    const totalCount = listTotal(receipt, list);
    if (txids.length === 0 || totalCount === 0) return toListPage([], args.first, totalCount, null);
    const scope = { list, txid: txids[from] };
    const params: unknown[] = [null, after?.position ?? '0', null];
    const retained =
      list === 'retainedUsers'
        ? `AND (SELECT 1 FROM events u
                 WHERE u.type = 'user.deleted' AND u.data->>'userId' = e.data->>'userId'
                   AND u.data->>'receiptId' = $${params.push(receipt.id)}
                 LIMIT 1) IS NULL`
        : '';
    const statement = `SELECT e.txid::text AS txid, e.position::text AS position, e.node
         FROM unnest($1::xid8[]) WITH ORDINALITY chunk (txid, n)
         CROSS JOIN LATERAL (
           SELECT e.txid, e.position, ${LIST_NODES[list]('e.occurred_at')} AS node FROM events e
            WHERE e.txid = chunk.txid AND e.type = '${LIST_EVENT_TYPES[list]}' AND e.position > $2::bigint
              ${retained}
            ORDER BY e.position
            LIMIT $3) e
        ORDER BY chunk.n, e.position
        LIMIT $3`;
    // A few transactions a statement: one for a deletion made at once; for a job (hundreds of
    // chunks at 1,000,000 members) the next ones only until the page is full, each chunk read
    // up to what the page still lacks.
    const entries: Array<{ txid: string; position: string; node: T }> = [];
    for (let next = from; next < txids.length && entries.length <= args.first; next += CHUNKS_PER_STATEMENT) {
      params[0] = txids.slice(next, next + CHUNKS_PER_STATEMENT);
      params[2] = args.first + 1 - entries.length;
      entries.push(...((await manager.query(statement, params)) as typeof entries));
    }
    return toListPage(entries, args.first, totalCount, scope);
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
