import type { ClientBase, Submittable } from 'pg';
import { newId } from '../src/ids';

/**
 * The SQL floors (issue 13: "the tightest correct floor you can write"): the same
 * observable work as the server, sent straight to PostgreSQL through `pg` (never through
 * PgBouncer, so protocol-level prepared statements are fine), with no GraphQL, no ORM and
 * no payload. Written independently of src/deletion/deletion.sql.ts, so that the bench
 * compares the server against what a person would write by hand, not against itself.
 *
 * - floorDeleteOrganization: a set-based transaction (temporary tables and plain
 *   statements rather than one statement of data-modifying CTEs). At 10,000 members and
 *   more the work dominates; round trips and planning are noise.
 * - floorDeleteUser: ONE round trip, three named prepared statements with one Sync
 *   (PreparedPipeline below): the locks, then the deletion, in one implicit transaction.
 * - floorMemberList: ONE named prepared statement building the response JSON with json_agg.
 *
 * The bench (bench/run.ts) checks each against the server: the same end state after the
 * deletions (fingerprint), the same JSON for the read.
 *
 * What follows describes floorDeleteOrganization.
 *
 * Observable work, as for the server: active sessions of members who keep their
 * accounts are TERMINATED (reason organization_deleted) and lose the reference to the
 * organization; every session of a deleted user is deleted; any other session naming
 * the organization loses that reference; memberships, domains, settings and the
 * organization are deleted; members with no other organization are deleted; one
 * deletion_receipts row (counts, digest) and one events row per fact, in the same
 * order and shape as the server writes them.
 *
 * Not part of the floor: the member row locks the server takes (FOR UPDATE on every
 * member's user row, in ID order) to close the write-skew race between concurrent
 * deletions. They change nothing observable, so they are part of the server's cost.
 */

const DIGEST_LIST = (table: string, where = 'true') =>
  `coalesce((SELECT string_agg(id, ',' ORDER BY id COLLATE "C") FROM ${table} WHERE ${where}), '')`;

export async function floorDeleteOrganization(client: ClientBase, organizationId: string): Promise<void> {
  const receiptId = newId('receipt');
  await client.query('BEGIN');
  try {
    const found = await client.query('SELECT id FROM organizations WHERE id = $1 FOR UPDATE', [organizationId]);
    if (found.rowCount !== 1) throw new Error(`floor: organization ${organizationId} not found`);
    await client.query(
      `CREATE TEMP TABLE floor_members ON COMMIT DROP AS
       SELECT m.id, m.user_id, m.organization_id, m.role,
              NOT EXISTS (SELECT 1 FROM memberships o WHERE o.user_id = m.user_id AND o.organization_id <> $1) AS cascade
         FROM memberships m WHERE m.organization_id = $1`,
      [organizationId],
    );
    await client.query(
      `CREATE TEMP TABLE floor_terminated ON COMMIT DROP AS
       SELECT s.id, s.user_id, s.organization_id, f.cascade
         FROM sessions s JOIN floor_members f ON f.user_id = s.user_id
        WHERE s.terminated_at IS NULL AND s.expires_at > now()`,
    );
    await client.query('ANALYZE floor_members, floor_terminated');
    // Retained members: terminate their active sessions (kept, with a reason).
    await client.query(
      `UPDATE sessions s
          SET terminated_at = now(), termination_reason = 'organization_deleted',
              organization_id = NULLIF(s.organization_id, $1)
         FROM floor_terminated t
        WHERE s.id = t.id AND NOT t.cascade`,
      [organizationId],
    );
    // Cascaded members: all their sessions go with them.
    await client.query(
      `DELETE FROM sessions s USING floor_members f WHERE s.user_id = f.user_id AND f.cascade`,
    );
    // Any remaining session naming the organization loses the reference.
    await client.query(`UPDATE sessions SET organization_id = NULL WHERE organization_id = $1`, [organizationId]);
    await client.query(`DELETE FROM memberships WHERE organization_id = $1`, [organizationId]);
    // Invitations: the organization's, and those addressed to the cascaded members (issue 9).
    await client.query(
      `DELETE FROM invitations i
        WHERE i.organization_id = $1
           OR i.email_key IN (SELECT u.email_key FROM users u JOIN floor_members f ON f.user_id = u.id AND f.cascade)`,
      [organizationId],
    );
    await client.query(`DELETE FROM users u USING floor_members f WHERE u.id = f.user_id AND f.cascade`);
    await client.query(`DELETE FROM organization_domains WHERE organization_id = $1`, [organizationId]);
    await client.query(`DELETE FROM organization_settings WHERE organization_id = $1`, [organizationId]);
    await client.query(`DELETE FROM organizations WHERE id = $1`, [organizationId]);
    await client.query(
      `INSERT INTO deletion_receipts
         (id, kind, subject_id, actor, terminated_session_count, removed_membership_count, cascaded_user_count, digest)
       SELECT $2, 'ORGANIZATION', $1::text, 'admin',
              (SELECT count(*) FROM floor_terminated),
              (SELECT count(*) FROM floor_members),
              (SELECT count(*) FROM floor_members WHERE cascade),
              encode(sha256(convert_to(
                'ORGANIZATION:' || $1::text
                || E'\\nsessions:' || ${DIGEST_LIST('floor_terminated')}
                || E'\\nmemberships:' || ${DIGEST_LIST('floor_members')}
                || E'\\nusers:' || coalesce((SELECT string_agg(user_id, ',' ORDER BY user_id COLLATE "C")
                                               FROM floor_members WHERE cascade), ''),
                'UTF8')), 'hex')`,
      [organizationId, receiptId],
    );
    await client.query(
      `INSERT INTO events (type, data)
       SELECT type, data FROM (
         SELECT 1 AS step, id, 'session.terminated' AS type,
                jsonb_build_object('sessionId', id, 'userId', user_id, 'organizationId', organization_id,
                                   'reason', 'organization_deleted', 'receiptId', $2::text) AS data
           FROM floor_terminated
         UNION ALL
         SELECT 2, id, 'organization_membership.deleted',
                jsonb_build_object('membershipId', id, 'organizationId', organization_id, 'userId', user_id,
                                   'role', role, 'receiptId', $2::text)
           FROM floor_members
         UNION ALL
         SELECT 3, user_id, 'user.deleted', jsonb_build_object('userId', user_id, 'receiptId', $2::text)
           FROM floor_members WHERE cascade
         UNION ALL
         SELECT 4, $1::text, 'organization.deleted', jsonb_build_object('organizationId', $1::text, 'receiptId', $2::text)
       ) facts`,
      [organizationId, receiptId],
    );
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/** What PreparedPipeline needs of pg's (internal, but public to Submittables) Connection. */
interface WireConnection {
  stream: { cork?: () => void; uncork?: () => void };
  parse(message: { name: string; text: string; types: number[] }): void;
  bind(message: { statement: string; values: Array<string | null> }): void;
  execute(message: { portal: string; rows: number }): void;
  close(message: { type: 'S'; name: string }): void;
  sync(): void;
  sendCopyFail(message: string): void;
}

/** Raw text rows (one array of fields per row) of each step, in step order. */
export type PipelineRows = Array<Array<Array<string | null>>>;

export interface PipelineStep {
  /** Name of the server-side prepared statement; parsed once per connection. */
  name: string;
  text: string;
  values: Array<string | number | null>;
}

/** The statement names each connection has parsed (and not lost to an error since). */
const parsedOn = new WeakMap<object, Set<string>>();

/**
 * Several named prepared statements in ONE round trip: Bind/Execute per statement (Parse
 * only the first time on a connection), then a single Sync. PostgreSQL runs everything
 * before a Sync as one implicit transaction (protocol docs, "Pipelining"): it commits at the
 * Sync, and an error in any statement rolls all of them back and skips the rest. Under READ
 * COMMITTED each statement still takes its own snapshot, so a statement sees what the
 * locks taken by the statements before it waited for. No Describe is sent (the steps'
 * results are read as text), so no RowDescription comes back either.
 *
 * A pg Submittable (the interface pg-cursor and pg-query-stream use): `client.query(new
 * PreparedPipeline(steps))`; `run` wraps it in a promise.
 */
export class PreparedPipeline {
  callback?: (error: Error | null, rows?: PipelineRows) => void;
  private readonly rows: PipelineRows;
  private step = 0;
  private connection?: WireConnection;

  constructor(private readonly steps: PipelineStep[]) {
    this.rows = steps.map(() => []);
  }

  static run(client: ClientBase, steps: PipelineStep[]): Promise<PipelineRows> {
    return new Promise((resolve, reject) => {
      const pipeline = new PreparedPipeline(steps);
      pipeline.callback = (error, rows) => (error ? reject(error) : resolve(rows!));
      client.query(pipeline as unknown as Submittable);
    });
  }

  submit(connection: WireConnection): Error | null {
    this.connection = connection;
    let parsed = parsedOn.get(connection);
    if (!parsed) parsedOn.set(connection, (parsed = new Set()));
    connection.stream.cork?.();
    try {
      for (const step of this.steps) {
        if (!parsed.has(step.name)) {
          // After an error the statement may or may not exist; closing one that does not is no error.
          connection.close({ type: 'S', name: step.name });
          connection.parse({ name: step.name, text: step.text, types: [] });
        }
        connection.bind({ statement: step.name, values: step.values.map((v) => (v === null ? null : String(v))) });
        connection.execute({ portal: '', rows: 0 });
      }
      connection.sync();
    } finally {
      connection.stream.uncork?.();
    }
    return null;
  }

  handleRowDescription(): void {}

  handleDataRow(message: { fields: Array<string | null> }): void {
    this.rows[this.step].push(message.fields);
  }

  handleCommandComplete(): void {
    this.step += 1;
  }

  handleEmptyQuery(): void {
    this.step += 1;
  }

  handlePortalSuspended(): void {}

  handleCopyInResponse(connection: WireConnection): void {
    connection.sendCopyFail('not supported');
  }

  handleCopyData(): void {}

  handleError(error: Error): void {
    if (this.connection) parsedOn.get(this.connection)?.clear();
    this.callback?.(error);
  }

  handleReadyForQuery(): void {
    const parsed = this.connection && parsedOn.get(this.connection);
    for (const step of this.steps) parsed?.add(step.name);
    this.callback?.(null, this.rows);
  }
}

/**
 * deleteUser's floor, step 1: lock the organizations the user is an OWNER of (FOR NO KEY
 * UPDATE, ID order, as the server's LOCK_OWNED_ORGANIZATIONS) and remember which, for the
 * transaction (`set_config(…, true)`), so that step 3 can tell whether the set changed.
 */
const FLOOR_LOCK_OWNED = `
  SELECT set_config('floor.owned', coalesce(string_agg(id, ',' ORDER BY id), ''), true)
    FROM (SELECT o.id FROM organizations o
           WHERE o.id IN (SELECT organization_id FROM memberships WHERE user_id = $1 AND role = 'OWNER')
           ORDER BY o.id
             FOR NO KEY UPDATE OF o) locked`;

/** Step 2: the user's row (as the server's LOCK_USER). */
const FLOOR_LOCK_USER = `SELECT id FROM users WHERE id = $1 FOR UPDATE`;

/**
 * Step 3, in a snapshot taken after both locks: sessions, memberships, invitations and the
 * user go; the receipt (counts, digest) and the events are written from what was removed.
 * Nothing is removed when the user is the last OWNER of an organization (issue 9's guard,
 * the server's CONFLICT), or when the user became an OWNER elsewhere between step 1 and
 * step 2 (the server starts over then, and so does floorDeleteUser).
 */
const FLOOR_DELETE_USER = `
  WITH
  owned AS (
    SELECT mine.organization_id,
           NOT EXISTS (SELECT 1 FROM memberships other
                        WHERE other.organization_id = mine.organization_id
                          AND other.role = 'OWNER' AND other.user_id <> $1) AS last_owner
      FROM memberships mine
     WHERE mine.user_id = $1 AND mine.role = 'OWNER'
  ),
  verdict AS (
    SELECT coalesce(string_agg(organization_id, ',' ORDER BY organization_id), '')
             = current_setting('floor.owned') AS owned_unchanged,
           coalesce(bool_or(last_owner), false) AS last_owner
      FROM owned
  ),
  proceed AS (SELECT 1 FROM verdict WHERE owned_unchanged AND NOT last_owner),
  gone_sessions AS (
    DELETE FROM sessions WHERE user_id = $1 AND EXISTS (SELECT 1 FROM proceed)
    RETURNING id, user_id, organization_id, terminated_at IS NULL AND expires_at > now() AS active
  ),
  gone_memberships AS (
    DELETE FROM memberships WHERE user_id = $1 AND EXISTS (SELECT 1 FROM proceed)
    RETURNING id, organization_id, user_id, role
  ),
  gone_user AS (DELETE FROM users WHERE id = $1 AND EXISTS (SELECT 1 FROM proceed) RETURNING id),
  gone_invitations AS (
    DELETE FROM invitations
     WHERE email_key = (SELECT email_key FROM users WHERE id = $1) AND EXISTS (SELECT 1 FROM proceed)
  ),
  receipt AS (
    INSERT INTO deletion_receipts
      (id, kind, subject_id, actor, terminated_session_count, removed_membership_count, cascaded_user_count, digest)
    SELECT $2, 'USER', id, 'admin',
           (SELECT count(*) FROM gone_sessions WHERE active),
           (SELECT count(*) FROM gone_memberships),
           0,
           encode(sha256(convert_to(
             'USER:' || id
             || E'\\nsessions:' || ${DIGEST_LIST('gone_sessions', 'active')}
             || E'\\nmemberships:' || ${DIGEST_LIST('gone_memberships')}
             || E'\\nusers:' || id, 'UTF8')), 'hex')
      FROM gone_user
    RETURNING id
  ),
  facts AS (
    INSERT INTO events (type, data)
    SELECT type, data FROM (
      SELECT 1 AS step, id, 'session.terminated' AS type,
             jsonb_build_object('sessionId', id, 'userId', user_id, 'organizationId', organization_id,
                                'reason', 'user_deleted', 'receiptId', $2::text) AS data
        FROM gone_sessions WHERE active
      UNION ALL
      SELECT 2, id, 'organization_membership.deleted',
             jsonb_build_object('membershipId', id, 'organizationId', organization_id, 'userId', user_id,
                                'role', role, 'receiptId', $2::text)
        FROM gone_memberships
      UNION ALL
      SELECT 3, id, 'user.deleted', jsonb_build_object('userId', id, 'receiptId', $2::text) FROM gone_user
    ) f
    RETURNING 1
  )
  SELECT (SELECT count(*) FROM receipt) AS receipts, (SELECT count(*) FROM facts) AS events,
         (SELECT owned_unchanged FROM verdict) AS owned_unchanged, (SELECT last_owner FROM verdict) AS last_owner`;

export type FloorDeleteUserOutcome = 'deleted' | 'not_found' | 'last_owner';

/**
 * deleteUser's floor: ONE round trip, three named prepared statements in one implicit
 * transaction (PreparedPipeline): lock the owned organizations, lock the user, delete.
 * Same locks, same lock order and same lock-then-snapshot order as the server, the same
 * last-OWNER guard, the same end state. Starts over (another round trip) only in the race
 * where the user became an OWNER elsewhere between the two locks.
 */
export async function floorDeleteUser(client: ClientBase, userId: string): Promise<FloorDeleteUserOutcome> {
  for (;;) {
    const receiptId = newId('receipt');
    const [, , [row]] = await PreparedPipeline.run(client, [
      { name: 'floor_lock_owned', text: FLOOR_LOCK_OWNED, values: [userId] },
      { name: 'floor_lock_user', text: FLOOR_LOCK_USER, values: [userId] },
      { name: 'floor_delete_user', text: FLOOR_DELETE_USER, values: [userId, receiptId] },
    ]);
    const [receipts, , ownedUnchanged, lastOwner] = row;
    if (receipts === '1') return 'deleted';
    if (ownedUnchanged !== 't') continue;
    return lastOwner === 't' ? 'last_owner' : 'not_found';
  }
}

/**
 * The member-list read's floor: ONE named prepared statement that builds the response's
 * JSON inside PostgreSQL with json_agg, as PostGraphile and Hasura compile a query, for
 *   organization(id) { memberships(first) { nodes { user { id email sessions { id } } } } }
 * in the server's orders (memberships by id, a user's sessions by id). Returned as the
 * text PostgreSQL sent (cast to text, so pg does not parse it): what a server would write
 * to the socket. The bench checks that it parses to the server's response.
 *
 * The page's sessions are aggregated in one pass (`GROUP BY user_id` over the page's users)
 * rather than by a subquery per user: 1.6–1.8 against 2.1–2.2 ms per execution on the
 * bench's data (2026-12-01, bench/profile-2026-11-30.md, last addendum); a LATERAL
 * subquery per member measured as the per-user one.
 */
const FLOOR_MEMBER_LIST = `
  WITH page AS (SELECT id, user_id FROM memberships WHERE organization_id = $1 ORDER BY id LIMIT $2),
  page_sessions AS (
    SELECT user_id, json_agg(json_build_object('id', id) ORDER BY id) AS list
      FROM sessions WHERE user_id IN (SELECT user_id FROM page) GROUP BY user_id)
  SELECT json_build_object('data', json_build_object('organization', (
    SELECT json_build_object('memberships', json_build_object('nodes', coalesce((
      SELECT json_agg(json_build_object('user', json_build_object(
               'id', u.id, 'email', u.email, 'sessions', coalesce(s.list, '[]'::json)))
             ORDER BY m.id)
        FROM page m JOIN users u ON u.id = m.user_id LEFT JOIN page_sessions s ON s.user_id = m.user_id), '[]'::json)))
      FROM organizations o WHERE o.id = $1)))::text AS body`;

export async function floorMemberList(client: ClientBase, organizationId: string, first: number): Promise<string> {
  const [[[body]]] = await PreparedPipeline.run(client, [
    { name: 'floor_member_list', text: FLOOR_MEMBER_LIST, values: [organizationId, first] },
  ]);
  return body!;
}
