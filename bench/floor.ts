import type { ClientBase } from 'pg';
import { newId } from '../src/ids';

/**
 * The SQL floor: hand-written, set-based transactions doing the same observable work
 * as the server's deletions, sent straight through `pg` with no GraphQL, no ORM and no
 * payload. Written independently of src/deletion/deletion.sql.ts (temporary tables and
 * plain statements rather than one statement of data-modifying CTEs), so that the
 * benchmark compares the server against what a person would write by hand, not
 * against itself.
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

/**
 * deleteUser's floor: BEGIN, one statement, COMMIT (three round trips). Sessions,
 * memberships and the user go; the receipt and events are written from what was
 * removed. Returns false when the user did not exist.
 */
const FLOOR_DELETE_USER = `
  WITH
  gone_sessions AS (
    DELETE FROM sessions WHERE user_id = $1
    RETURNING id, user_id, organization_id, terminated_at IS NULL AND expires_at > now() AS active
  ),
  gone_memberships AS (
    DELETE FROM memberships WHERE user_id = $1 RETURNING id, organization_id, user_id, role
  ),
  gone_user AS (DELETE FROM users WHERE id = $1 RETURNING id),
  gone_invitations AS (DELETE FROM invitations WHERE email_key = (SELECT email_key FROM users WHERE id = $1)),
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
  SELECT (SELECT count(*) FROM receipt)::int AS receipts, (SELECT count(*) FROM facts)::int AS events`;

export async function floorDeleteUser(client: ClientBase, userId: string): Promise<boolean> {
  await client.query('BEGIN');
  try {
    const { rows } = await client.query<{ receipts: number }>(FLOOR_DELETE_USER, [userId, newId('receipt')]);
    await client.query('COMMIT');
    return rows[0].receipts === 1;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}
