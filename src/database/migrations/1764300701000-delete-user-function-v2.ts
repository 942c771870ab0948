import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 15: delete_user_v2, delete_user_v1 with one change to issue 9's last-OWNER guard: an
 * organization being deleted by a job (organizations.deletion_job_id set) needs no OWNER any
 * more, so a user who is its last OWNER may still be deleted (their membership simply leaves
 * the job's lists). v1 refused them with CONFLICT naming an organization no read returns.
 *
 * A frozen copy of what deleteUserFunctionDefinition() (src/deletion/deletion.sql.ts) generated
 * when this migration was written; test/delete-user-round-trip.test.ts checks that the
 * database's body still equals the generated one. delete_user_v1 stays for a server of the
 * previous version during a rolling deploy; a later migration may drop it.
 */
export class DeleteUserFunctionV21764300701000 implements MigrationInterface {
  name = 'DeleteUserFunctionV21764300701000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`CREATE OR REPLACE FUNCTION delete_user_v2(text, text, text, integer, integer, integer)
  RETURNS json LANGUAGE plpgsql VOLATILE AS $function$
DECLARE
  _owned_at_lock text[];
  _deletion record;
BEGIN
  IF $6 > 0 THEN
    PERFORM set_config('lock_timeout', $6::text, true);
  END IF;
  SELECT coalesce(array_agg(_locked.id), '{}') INTO _owned_at_lock FROM (
  SELECT o.id FROM organizations o
   WHERE o.id IN (SELECT organization_id FROM memberships WHERE user_id = $1 AND role = 'OWNER')
   ORDER BY o.id
     FOR NO KEY UPDATE OF o) _locked;
  PERFORM 1 FROM (
  SELECT id FROM users WHERE id = $1 FOR UPDATE) _locked;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'P0002', MESSAGE = 'delete_user: no such user';
  END IF;
  
  WITH
  -- An organization being deleted by a job (issue 15) needs no OWNER any more: the user is
  -- not its "last OWNER", and their deletion is not refused on its account.
  owned AS (
    SELECT mine.organization_id,
           NOT EXISTS (SELECT 1 FROM memberships other
                        WHERE other.organization_id = mine.organization_id
                          AND other.role = 'OWNER' AND other.user_id <> $1)
           AND NOT EXISTS (SELECT 1 FROM organizations o
                            WHERE o.id = mine.organization_id AND o.deletion_job_id IS NOT NULL) AS last_owner
      FROM memberships mine
     WHERE mine.user_id = $1 AND mine.role = 'OWNER'
  ),
  removed_memberships AS (
    DELETE FROM memberships WHERE user_id = $1
    RETURNING id, organization_id, user_id, role
  ),
  deleted_sessions AS (
    DELETE FROM sessions WHERE user_id = $1
    RETURNING id, user_id, organization_id, terminated_at IS NULL AND expires_at > now() AS was_active
  ),
  terminated AS (
    SELECT id, user_id, organization_id, now() AS terminated_at, 'user_deleted' AS reason
      FROM deleted_sessions WHERE was_active
  ),
  deleted_users AS (
    DELETE FROM users WHERE id = $1 RETURNING id
  ),
  -- Invitations are personal data (issue 9): every one addressed to the user's canonical email goes with them.
  deleted_invitations AS (
    DELETE FROM invitations WHERE email_key = (SELECT email_key FROM users WHERE id = $1)
    RETURNING 1
  ),
  subject AS (SELECT id FROM deleted_users),
  
  receipt AS (
    INSERT INTO deletion_receipts
      (id, kind, subject_id, actor, terminated_session_count, removed_membership_count, cascaded_user_count, digest)
    SELECT $2, 'USER', subject.id, $3,
           (SELECT count(*) FROM terminated),
           (SELECT count(*) FROM removed_memberships),
           0,
           encode(sha256(convert_to(
             'USER:' || subject.id
             || E'\\nsessions:' || coalesce((SELECT string_agg(id, ',' ORDER BY id COLLATE "C") FROM terminated), '')
             || E'\\nmemberships:' || coalesce((SELECT string_agg(id, ',' ORDER BY id COLLATE "C") FROM removed_memberships), '')
             || E'\\nusers:' || coalesce((SELECT string_agg(id, ',' ORDER BY id COLLATE "C") FROM deleted_users), ''),
             'UTF8')), 'hex')
      FROM subject
    RETURNING *
  ),
  new_events AS (
    INSERT INTO events (type, data)
    SELECT type, data FROM (
      SELECT 'session.terminated' AS type,
             jsonb_build_object('sessionId', id, 'userId', user_id, 'organizationId', organization_id,
                                'reason', reason, 'receiptId', $2::text) AS data
        FROM terminated
      UNION ALL
      SELECT 'organization_membership.deleted',
             jsonb_build_object('membershipId', id, 'organizationId', organization_id, 'userId', user_id,
                                'role', role, 'receiptId', $2::text)
        FROM removed_memberships
      UNION ALL
      SELECT 'user.deleted', jsonb_build_object('userId', id, 'receiptId', $2::text)
        FROM deleted_users
      
    ) facts
    -- No ORDER BY: an INSERT never runs in parallel, so the UNION ALL's branches are read
    -- in the order written (sessions, memberships, users, organization) and the events get
    -- their positions in that order. Sorting 450,000 facts for 100,000 members spilled to
    -- disk and bought nothing (test/deletion.test.ts checks the order).
    -- Read back only for the payload's first pages: when no list is selected nothing reads
    -- this CTE, and PostgreSQL runs the INSERT to completion without keeping its rows.
    RETURNING position, type, data
  )
  SELECT
    (SELECT row_to_json(receipt) FROM receipt) AS receipt,
    CASE WHEN $4 > 0 THEN (
      SELECT coalesce(json_agg(json_build_object('position', e.position::text, 'node', json_build_object('id', e.data->>'sessionId', 'userId', e.data->>'userId',
                       'organizationId', e.data->>'organizationId', 'terminatedAt', now()))
                               ORDER BY e.position), '[]')
        FROM (SELECT position, data FROM new_events
               WHERE type = 'session.terminated'
               ORDER BY position LIMIT $4 + 1) e) END AS terminated_sessions,
    CASE WHEN $5 > 0 THEN (
      SELECT coalesce(json_agg(json_build_object('position', e.position::text, 'node', json_build_object('id', e.data->>'membershipId', 'organizationId', e.data->>'organizationId',
                       'userId', e.data->>'userId', 'role', e.data->>'role'))
                               ORDER BY e.position), '[]')
        FROM (SELECT position, data FROM new_events
               WHERE type = 'organization_membership.deleted'
               ORDER BY position LIMIT $5 + 1) e) END AS removed_memberships,
    (SELECT coalesce(json_agg(organization_id ORDER BY organization_id COLLATE "C"), '[]') FROM owned WHERE last_owner)
      AS last_owned_organization_ids,
    (SELECT coalesce(json_agg(organization_id), '[]') FROM owned) AS owned_organization_ids
  INTO _deletion;
  IF EXISTS (SELECT 1 FROM json_array_elements_text(_deletion.owned_organization_ids) _owned(id)
              WHERE _owned.id <> ALL (_owned_at_lock)) THEN
    RAISE EXCEPTION USING ERRCODE = '40001',
      MESSAGE = 'delete_user: the user became an OWNER of an organization it had not locked';
  END IF;
  IF json_array_length(_deletion.last_owned_organization_ids) > 0 THEN
    RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'delete_user: last OWNER',
      DETAIL = _deletion.last_owned_organization_ids::text;
  END IF;
  RETURN row_to_json(_deletion);
END
$function$`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP FUNCTION delete_user_v2(text, text, text, integer, integer, integer)`);
  }
}
