/**
 * The deletion engine's SQL. Each deletion is a fixed number of statements whatever
 * its size, run inside the one transaction the mutation opened:
 *
 *   0. (users) lock the organizations the user is an OWNER of (LOCK_OWNED_ORGANIZATIONS);
 *   1. lock the subject row (FOR UPDATE); for a signed-in caller of deleteOrganization,
 *      read their role in its own statement after the lock (roleIn in src/database/locks.ts:
 *      a statement that waited for a lock still sees the snapshot it started with);
 *   2. (organizations) lock every member's user row FOR UPDATE, in ID order;
 *   3. one statement of data-modifying CTEs that removes everything in foreign-key
 *      order, writes the receipt and the events, and returns counts and, for each list the
 *      client selected, its first page (issue 13: at most first + 1 entries, read back from
 *      the events it wrote; the rest is paged from the receipt). For a user it also returns the
 *      organizations the user is the last OWNER of (issue 9): when there are any, the
 *      service refuses with CONFLICT and the transaction rolls back, so nothing is written.
 *      The check runs in this statement's snapshot, taken after steps 0 and 1 hold the
 *      user's owned organizations and the user: every other ownership change (another
 *      OWNER's deletion, updateMemberRole, removeMember) locks the same organization rows,
 *      so none can slip between the check and the delete.
 *
 * Lock order (src/database/locks.ts), shared with every membership, invitation and session
 * mutation: organization row, then user rows in ID order. Locking the members before deciding
 * who has "no other organization" closes the write-skew race of two organizations
 * deleted at once that share a user: the second waits for the first, then sees its
 * memberships gone.
 *
 * All CTEs of statement 3 see the same snapshot, so they work on disjoint rows: the
 * sessions of users who are deleted are deleted (the active ones reported as
 * terminated); the active sessions of members who keep their accounts are terminated
 * and kept; any other session that names the organization loses that reference.
 * Foreign keys are checked at the end of the statement, when every child row is gone.
 *
 * The digest is SHA-256 over the canonical text
 *   `<kind>:<subject id>\nsessions:<ids>\nmemberships:<ids>\nusers:<ids>`
 * with each list's IDs sorted in byte order and joined by commas; `users` lists the
 * deleted user for a user deletion and the cascaded users for an organization deletion.
 */

/**
 * deleteUser, step 0 (issue 9's last-OWNER guard): the organizations the user is an OWNER
 * of, locked FOR NO KEY UPDATE in ID order, as every ownership change locks them
 * (src/database/locks.ts). Two co-OWNERs deleted at once thus queue on their organization,
 * and the second sees that it would lose its last OWNER. The set is read as the statement
 * starts; DELETE_USER reports the set again afterwards, and the service starts over if the
 * user became an OWNER elsewhere in between (they cannot once step 1 holds their row).
 */
export const LOCK_OWNED_ORGANIZATIONS = `
  SELECT o.id FROM organizations o
   WHERE o.id IN (SELECT organization_id FROM memberships WHERE user_id = $1 AND role = 'OWNER')
   ORDER BY o.id
     FOR NO KEY UPDATE OF o`;

export const LOCK_USER = `
  SELECT id FROM users WHERE id = $1 FOR UPDATE`;

/**
 * deleteOrganization, step 1: the organization row FOR UPDATE, whether a deletion job has it
 * (issue 15: then it is as good as gone, NOT_FOUND) and its members, counted as the statement
 * starts (SYNC_DELETION_MAX_MEMBERS; no member can join once the lock is held).
 */
export const LOCK_ORGANIZATION = `
  SELECT id, deletion_job_id IS NOT NULL AS being_deleted,
         (SELECT count(*)::int FROM memberships WHERE organization_id = $1) AS members
    FROM organizations WHERE id = $1 FOR UPDATE`;

export const LOCK_MEMBERS = `
  WITH locked AS (
    SELECT u.id FROM users u
     WHERE u.id IN (SELECT user_id FROM memberships WHERE organization_id = $1)
     ORDER BY u.id
       FOR UPDATE OF u
  )
  SELECT count(*)::int AS locked FROM locked`;

/**
 * How each payload list's node is built from the event the deletion wrote (`e.data`), in
 * the statement and in the receipt's pages (deletion-log.service.ts) alike, so both read
 * the same thing. `time` is the moment of the deletion: now() in the statement, the
 * event's occurred_at afterwards (the same value: both are the transaction's start time).
 */
export const LIST_NODES = {
  terminatedSessions: (time: string) =>
    `json_build_object('id', e.data->>'sessionId', 'userId', e.data->>'userId',
                       'organizationId', e.data->>'organizationId', 'terminatedAt', ${time})`,
  removedMemberships: () =>
    `json_build_object('id', e.data->>'membershipId', 'organizationId', e.data->>'organizationId',
                       'userId', e.data->>'userId', 'role', e.data->>'role')`,
  cascadedUsers: () => `json_build_object('id', e.data->>'userId')`,
  retainedUsers: () => `json_build_object('id', e.data->>'userId')`,
} as const;

/** The event type each list is read from (retained users: membership events of users not deleted). */
export const LIST_EVENT_TYPES = {
  terminatedSessions: 'session.terminated',
  removedMemberships: 'organization_membership.deleted',
  cascadedUsers: 'user.deleted',
  retainedUsers: 'organization_membership.deleted',
} as const;

export type ListName = keyof typeof LIST_EVENT_TYPES;

/**
 * A payload list's first page (issue 13, bounded memory): when `size` > 0, the first
 * size + 1 events of the list's type this statement wrote, in position order, as a JSON
 * array of {"position": "<bigint as text>", "node": {…}}; null when size is 0 (not
 * selected). The extra row tells whether there is a next page.
 */
function firstPage(list: ListName, size: string, extraCondition = ''): string {
  return `CASE WHEN ${size} > 0 THEN (
      SELECT coalesce(json_agg(json_build_object('position', e.position::text, 'node', ${LIST_NODES[list]('now()')})
                               ORDER BY e.position), '[]')
        FROM (SELECT position, data FROM new_events
               WHERE type = '${LIST_EVENT_TYPES[list]}'${extraCondition}
               ORDER BY position LIMIT ${size} + 1) e) END`;
}

/**
 * The SELECT of a deletion's facts, one event a fact with the receipt ID ($2): the sessions
 * ended (CTE terminated), the memberships removed (removed_memberships), the users deleted
 * (deleted_users), then `subjectEvent` (a further UNION ALL branch, or nothing).
 */
function factEvents(subjectEvent: string): string {
  return `SELECT type, data FROM (
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
      ${subjectEvent}
    ) facts
    -- No ORDER BY: an INSERT never runs in parallel, so the UNION ALL's branches are read
    -- in the order written (sessions, memberships, users, organization) and the events get
    -- their positions in that order. Sorting 450,000 facts for 100,000 members spilled to
    -- disk and bought nothing (test/deletion.test.ts checks the order).`;
}

/** Shared tail: receipt, events and the result row. Expects CTEs terminated, removed_memberships, deleted_users, subject. */
function receiptEventsAndResult(kind: 'USER' | 'ORGANIZATION', subjectEvent: string): string {
  return `
  receipt AS (
    INSERT INTO deletion_receipts
      (id, kind, subject_id, actor, terminated_session_count, removed_membership_count, cascaded_user_count, digest)
    SELECT $2, '${kind}', subject.id, $3,
           (SELECT count(*) FROM terminated),
           (SELECT count(*) FROM removed_memberships),
           ${kind === 'USER' ? '0' : '(SELECT count(*) FROM deleted_users)'},
           encode(sha256(convert_to(
             '${kind}:' || subject.id
             || E'\\nsessions:' || coalesce((SELECT string_agg(id, ',' ORDER BY id COLLATE "C") FROM terminated), '')
             || E'\\nmemberships:' || coalesce((SELECT string_agg(id, ',' ORDER BY id COLLATE "C") FROM removed_memberships), '')
             || E'\\nusers:' || coalesce((SELECT string_agg(id, ',' ORDER BY id COLLATE "C") FROM deleted_users), ''),
             'UTF8')), 'hex')
      FROM subject
    RETURNING *
  ),
  new_events AS (
    INSERT INTO events (type, data)
    ${factEvents(subjectEvent)}
    -- Read back only for the payload's first pages: when no list is selected nothing reads
    -- this CTE, and PostgreSQL runs the INSERT to completion without keeping its rows.
    RETURNING position, type, data
  )
  SELECT
    (SELECT row_to_json(receipt) FROM receipt) AS receipt,
    ${firstPage('terminatedSessions', '$4')} AS terminated_sessions,
    ${firstPage('removedMemberships', '$5')} AS removed_memberships`;
}

/**
 * $1 user, $2 receipt id, $3 actor, $4/$5 the page sizes of the session/membership lists
 * (int, 1..MAX_PAGE_SIZE; 0 = not selected, the column is null). Also
 * returns owned_organization_ids, the organizations where the user is an OWNER, and
 * last_owned_organization_ids, those of them with no other OWNER (issue 9's last-OWNER
 * guard; the service refuses when there are any).
 */
export const DELETE_USER = `
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
  ${receiptEventsAndResult('USER', '')},
    (SELECT coalesce(json_agg(organization_id ORDER BY organization_id COLLATE "C"), '[]') FROM owned WHERE last_owner)
      AS last_owned_organization_ids,
    (SELECT coalesce(json_agg(organization_id), '[]') FROM owned) AS owned_organization_ids`;

/**
 * Who is in scope of an organization deletion: every member (the synchronous deletion) or
 * one chunk of them, the user IDs in $3 (a deletion job's step, issue 15).
 */
type MemberScope = 'all' | 'chunk';

/**
 * The member cascade, shared by the synchronous deletion and a job's steps so that both do
 * exactly the same to each member: CTEs members, removed_memberships, deleted_sessions,
 * terminated_kept, detached, terminated, deleted_users and deleted_invitations.
 * - Whether a member is retained (belongs to another organization) is read here, in the
 *   statement's snapshot, after their user row was locked (LOCK_MEMBERS, LOCK_CHUNK).
 * - detached: the other sessions that name the organization lose that reference. For the
 *   whole organization that is every such session left; for a chunk, those of its retained
 *   members only (a non-member's session is detached by FINISH_ORGANIZATION_JOB).
 * - deleted_invitations: invitations addressed to a cascaded member (issue 9), and for the
 *   whole organization its own invitations too (a job deletes those in its last step).
 */
function memberCascade(scope: MemberScope): string {
  const inScope = scope === 'all' ? '' : ' AND user_id = ANY ($3::varchar[])';
  return `
  members AS (
    SELECT m.user_id,
           EXISTS (SELECT 1 FROM memberships other
                    WHERE other.user_id = m.user_id AND other.organization_id <> $1) AS retained
      FROM memberships m
     WHERE m.organization_id = $1${inScope.replace('user_id', 'm.user_id')}
  ),
  removed_memberships AS (
    DELETE FROM memberships WHERE organization_id = $1${inScope}
    RETURNING id, organization_id, user_id, role
  ),
  deleted_sessions AS (
    DELETE FROM sessions s USING members mb
     WHERE s.user_id = mb.user_id AND NOT mb.retained
    RETURNING s.id, s.user_id, s.organization_id, s.terminated_at IS NULL AND s.expires_at > now() AS was_active
  ),
  -- Reaches the retained members' sessions through = ANY(ARRAY(…)) on sessions_user_id_idx
  -- rather than a join with members: on a table without statistics yet (just loaded) the
  -- planner takes "terminated_at IS NULL" for 0.5% of the rows and chose a nested loop of
  -- members × sessions, 55 s instead of a fraction of one for 10,000 members.
  terminated_kept AS (
    UPDATE sessions s
       SET terminated_at = now(), termination_reason = 'organization_deleted',
           organization_id = NULLIF(s.organization_id, $1)
      FROM sessions before
     WHERE s.user_id = ANY (ARRAY(SELECT user_id FROM members WHERE retained))
       AND s.terminated_at IS NULL AND s.expires_at > now()
       AND before.id = s.id
    RETURNING s.id, s.user_id, before.organization_id, s.terminated_at
  ),
  detached AS (${
    scope === 'all'
      ? `
    UPDATE sessions s SET organization_id = NULL
     WHERE s.organization_id = $1
       AND NOT EXISTS (SELECT 1 FROM members mb WHERE mb.user_id = s.user_id
                          AND (NOT mb.retained OR (s.terminated_at IS NULL AND s.expires_at > now())))`
      : `
    UPDATE sessions s SET organization_id = NULL
     WHERE s.organization_id = $1
       AND s.user_id = ANY (ARRAY(SELECT user_id FROM members WHERE retained))
       AND NOT (s.terminated_at IS NULL AND s.expires_at > now())`
  }
    RETURNING 1
  ),
  terminated AS (
    SELECT id, user_id, organization_id, now() AS terminated_at, 'organization_deleted' AS reason
      FROM deleted_sessions WHERE was_active
    UNION ALL
    SELECT id, user_id, organization_id, terminated_at, 'organization_deleted' FROM terminated_kept
  ),
  deleted_users AS (
    DELETE FROM users u USING members mb
     WHERE u.id = mb.user_id AND NOT mb.retained
    RETURNING u.id
  ),
  -- ${scope === 'all' ? 'The organization\'s invitations, and every' : 'Every'} invitation addressed to a cascaded user (issue 9).
  deleted_invitations AS (
    DELETE FROM invitations i
     WHERE ${scope === 'all' ? 'i.organization_id = $1\n        OR ' : ''}i.email_key IN (SELECT u.email_key FROM users u JOIN members mb ON mb.user_id = u.id AND NOT mb.retained)
    RETURNING 1
  ),`;
}

/** The organization's own rows, in foreign-key order: domains, settings, then the organization (CTE subject). */
const ORGANIZATION_ROWS_DELETED = `
  deleted_domains AS (
    DELETE FROM organization_domains WHERE organization_id = $1 RETURNING 1
  ),
  deleted_settings AS (
    DELETE FROM organization_settings WHERE organization_id = $1 RETURNING 1
  ),
  subject AS (
    DELETE FROM organizations WHERE id = $1 RETURNING id
  ),`;

/** The organization.deleted fact, as the last branch of the events' UNION ALL. */
const ORGANIZATION_DELETED_EVENT = `UNION ALL
      SELECT 'organization.deleted', jsonb_build_object('organizationId', id, 'receiptId', $2::text)
        FROM subject`;

/**
 * $1 organization, $2 receipt id, $3 actor, $4/$5 as for users, $6/$7 the page sizes of
 * the cascaded/retained user lists (0 = not selected). Retained users are the members whose
 * membership event has no user.deleted event beside it, as the receipt's pages read them.
 */
export const DELETE_ORGANIZATION = `
  WITH${memberCascade('all')}${ORGANIZATION_ROWS_DELETED}
  ${receiptEventsAndResult('ORGANIZATION', ORGANIZATION_DELETED_EVENT)},
    ${firstPage('cascadedUsers', '$6')} AS cascaded_users,
    ${firstPage('retainedUsers', '$7', `
                 AND NOT EXISTS (SELECT 1 FROM deleted_users d WHERE d.id = data->>'userId')`)} AS retained_users`;

/*
 * Issue 15: an organization deleted by a job (src/deletion/deletion-job.service.ts), in steps
 * that each run in a short transaction of their own, in the same lock order:
 *
 *   every step: the organization row FOR UPDATE, then the job row (LOCK_JOB_STEP);
 *   a chunk:    the next DELETION_JOB_CHUNK_MEMBERS members' user rows FOR UPDATE in ID
 *               order (LOCK_CHUNK), then DELETE_CHUNK: memberCascade('chunk'), the same CTEs
 *               as the synchronous deletion restricted to those members, and their events;
 *   the last:   FINISH_ORGANIZATION_JOB, once no member is left: the organization's own rows,
 *               the receipt and organization.deleted.
 *
 * Every chunk's events carry the job's receipt ID, and the receipt's counts and digest are
 * computed from the events of the chunks' transactions (organization_deletion_jobs.chunk_txids),
 * with the same definition as the synchronous deletion's, so both deletions of the same
 * organization have the same receipt (test/deletion-job-equality.test.ts).
 */

/**
 * $1 organization, $2 the step's members at most, $3 the highest member ID an earlier step
 * processed (null for the first): the next members' user IDs after it, locked FOR UPDATE in ID
 * order. Every member up to $3 is gone already (no one can join an organization being
 * deleted), so the scan starts after it rather than stepping over the index entries of the
 * memberships earlier steps deleted: at 1,000,000 members that grew from 100 to 450 ms a
 * chunk (issue 15 bench). A user deleted meanwhile is skipped by the lock, with their membership.
 */
export const LOCK_CHUNK = `
  WITH locked AS (
    SELECT u.id FROM users u
     WHERE u.id IN (SELECT user_id FROM memberships
                     WHERE organization_id = $1 AND ($3::varchar IS NULL OR user_id > $3::varchar)
                     ORDER BY user_id LIMIT $2)
     ORDER BY u.id
       FOR UPDATE OF u
  )
  SELECT coalesce(array_agg(id ORDER BY id), '{}') AS user_ids FROM locked`;

/**
 * $1 organization, $2 receipt id, $3 the chunk's user IDs (varchar[], locked by LOCK_CHUNK).
 * Returns the counts of what it removed. The events are those the synchronous deletion writes for these members, in
 * the same order (sessions, memberships, users).
 */
export const DELETE_CHUNK = `
  WITH${memberCascade('chunk')}
  new_events AS (
    INSERT INTO events (type, data)
    ${factEvents('')}
    RETURNING 1
  )
  SELECT (SELECT count(*)::int FROM removed_memberships) AS removed_memberships,
         (SELECT count(*)::int FROM terminated) AS terminated_sessions,
         (SELECT count(*)::int FROM deleted_users) AS cascaded_users,
         (SELECT count(*)::int FROM new_events) AS events`;

/** The facts the digest lists, each as its event type (LIST_EVENT_TYPES) and the field of its data that holds the ID. */
const DIGEST_FACTS = {
  sessions: [LIST_EVENT_TYPES.terminatedSessions, 'sessionId'],
  memberships: [LIST_EVENT_TYPES.removedMemberships, 'membershipId'],
  users: [LIST_EVENT_TYPES.cascadedUsers, 'userId'],
} as const;

/**
 * A CTE body, one row: for each of DIGEST_FACTS, how many events of its type the job's chunks
 * ($3, their transactions) wrote (<name>_n) and their IDs sorted in byte order and joined by
 * commas (<name>_ids). One scan of the events for all three, each aggregate sorting only the
 * IDs (about 30 bytes each): the three scans of one type each that this replaced sorted whole
 * event rows (about 200 bytes), spilled 750 MB to disk for the 3,000,000 sessions of a
 * 1,000,000-member organization, and made most of its last step's 11 s (issue 15 bench).
 */
const CHUNK_FACTS = `
    SELECT ${Object.entries(DIGEST_FACTS)
      .map(
        ([name, [type]]) =>
          `count(*) FILTER (WHERE f.type = '${type}') AS ${name}_n,
           coalesce(string_agg(f.id, ',' ORDER BY f.id COLLATE "C") FILTER (WHERE f.type = '${type}'), '') AS ${name}_ids`,
      )
      .join(',\n           ')}
      FROM (SELECT e.type,
                   CASE e.type ${Object.values(DIGEST_FACTS)
                     .map(([type, field]) => `WHEN '${type}' THEN e.data->>'${field}'`)
                     .join(' ')} END AS id
              FROM events e
             WHERE e.txid = ANY ($3::xid8[])
               AND e.type IN (${Object.values(DIGEST_FACTS)
                 .map(([type]) => `'${type}'`)
                 .join(', ')})) f`;

/**
 * $1 organization, $2 receipt id, $3 the chunks' transactions (xid8[]), $4 actor. With no
 * member left: detaches the sessions that still name the organization, deletes its
 * invitations, domains, settings and the organization, writes the receipt and
 * organization.deleted. The receipt's counts and digest are those of the events the chunks
 * wrote (the digest definition at the top of this file). Returns the receipt as json.
 */
export const FINISH_ORGANIZATION_JOB = `
  WITH
  facts AS (${CHUNK_FACTS}),
  detached AS (
    UPDATE sessions s SET organization_id = NULL WHERE s.organization_id = $1 RETURNING 1
  ),
  deleted_invitations AS (
    DELETE FROM invitations WHERE organization_id = $1 RETURNING 1
  ),${ORGANIZATION_ROWS_DELETED}
  receipt AS (
    INSERT INTO deletion_receipts
      (id, kind, subject_id, actor, terminated_session_count, removed_membership_count, cascaded_user_count, digest, chunk_txids)
    SELECT $2, 'ORGANIZATION', subject.id, $4, facts.sessions_n, facts.memberships_n, facts.users_n,
           encode(sha256(convert_to(
             'ORGANIZATION:' || subject.id
             || E'\\nsessions:' || facts.sessions_ids
             || E'\\nmemberships:' || facts.memberships_ids
             || E'\\nusers:' || facts.users_ids,
             'UTF8')), 'hex'),
           $3::xid8[]
      FROM subject, facts
    RETURNING *
  ),
  new_events AS (
    INSERT INTO events (type, data)
    SELECT 'organization.deleted', jsonb_build_object('organizationId', id, 'receiptId', $2::text) FROM subject
    RETURNING 1
  )
  SELECT (SELECT row_to_json(receipt) FROM receipt) AS receipt, (SELECT count(*) FROM new_events) AS events`;

/**
 * deleteUser in one round trip (issue 13): steps 0, 1 and 3 above in a plpgsql function,
 * called in autocommit (src/database/transaction.ts `singleStatement`). PostgreSQL runs the
 * call in a transaction of its own, so it commits, or rolls back entirely, as one unit.
 *
 * Why the order of work holds as with separate statements: a VOLATILE function takes a
 * fresh snapshot for each statement in it under READ COMMITTED, as separate statements of
 * a transaction would. The locks of steps 0 and 1 are granted before DELETE_USER starts,
 * so its snapshot sees every change committed by whoever held them (the last-OWNER check
 * included); a lock that waited returns the row's newest version, as FOR UPDATE always does.
 * Plans are prepared and cached per backend by plpgsql on first use, which is where the
 * saving is (bench/profile-2026-11-30.md: about 1.9 → 0.4 ms of PostgreSQL CPU): no
 * protocol-level prepared statement is needed, so PgBouncer in transaction mode serves it.
 *
 * Timeouts (issue 14): the function's first act is set_config('lock_timeout',
 * DELETE_USER_LOCK_TIMEOUT, true), local to the call's own transaction: every lock wait
 * after it (steps 0 and 1, and the row locks DELETE_USER's writes take) ends with 55P03
 * (CONFLICT) after DB_LOCK_TIMEOUT_MS, and nothing is left on the connection afterwards.
 * statement_timeout cannot be set that way: PostgreSQL arms it when a statement starts,
 * from the value in force then, and a change during the statement takes effect only at
 * the next one. What bounds the call's running time instead: its waits are lock waits,
 * each bounded as above; its work is index lookups by the user's ID and canonical email
 * and writes proportional to that one user's rows (memberships, sessions, invitations,
 * their events), with no scan of other users' data; and the statement_timeout in force on
 * the server connection ends it as a whole: the gateway's startup parameter on a direct
 * connection (ormconfig.ts), the role's setting behind PgBouncer (ops/cluster.ts sets it;
 * README "Timeouts without session state").
 *
 * Outcomes, as the function raises them (the service maps them, src/errors.ts AppErrors):
 * - no such user: SQLSTATE P0002 with DELETE_USER_NOT_FOUND as message → NOT_FOUND;
 * - the user became an OWNER of an organization step 0 had not locked: 40001, retried by
 *   inTransaction like any serialization failure;
 * - the user is the last OWNER of organizations: P0001 with DELETE_USER_LAST_OWNER as
 *   message and the sorted organization IDs as a JSON array in DETAIL → CONFLICT with
 *   extensions.organizationIds. Raised after DELETE_USER ran, so its writes roll back;
 * - otherwise DELETE_USER's result row, as one json value (`row_to_json`).
 *
 * The name is versioned: the SQL is frozen in a migration (CREATE OR REPLACE from a copy of
 * deleteUserFunctionDefinition()'s text), and a server of the previous version keeps calling
 * its own function during a rolling deploy. Changing LOCK_OWNED_ORGANIZATIONS, LOCK_USER or
 * DELETE_USER therefore means a new migration with delete_user_v<N+1> and the name here;
 * test/delete-user-round-trip.test.ts fails until the database's function body equals the text
 * generated here.
 */
export const DELETE_USER_FUNCTION = 'delete_user_v2';

/**
 * The SQL types of the function's parameters $1, $2, … in order: DELETE_USER's five
 * (user ID, receipt ID, actor, the two page sizes), then DELETE_USER_LOCK_TIMEOUT.
 */
export const DELETE_USER_PARAMETER_TYPES: readonly string[] = ['text', 'text', 'text', 'integer', 'integer', 'integer'];

/**
 * The function's last parameter: the lock_timeout of its own transaction, in ms
 * (DB_LOCK_TIMEOUT_MS, src/database/transaction.ts transactionTimeoutsOf); 0 or NULL keeps
 * the server's. Issue 14: the call runs in autocommit, so no BEGIN carries SET LOCAL for it,
 * and a connection setting would not hold behind PgBouncer in transaction mode.
 */
export const DELETE_USER_LOCK_TIMEOUT = '$6';

export const DELETE_USER_NOT_FOUND = 'delete_user: no such user';
export const DELETE_USER_LAST_OWNER = 'delete_user: last OWNER';

/** The plpgsql body of DELETE_USER_FUNCTION (pg_proc.prosrc). DELETE_USER's $n are the function's parameters. */
export function deleteUserFunctionBody(): string {
  return `
DECLARE
  _owned_at_lock text[];
  _deletion record;
BEGIN
  IF ${DELETE_USER_LOCK_TIMEOUT} > 0 THEN
    PERFORM set_config('lock_timeout', ${DELETE_USER_LOCK_TIMEOUT}::text, true);
  END IF;
  SELECT coalesce(array_agg(_locked.id), '{}') INTO _owned_at_lock FROM (${LOCK_OWNED_ORGANIZATIONS}) _locked;
  PERFORM 1 FROM (${LOCK_USER}) _locked;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'P0002', MESSAGE = '${DELETE_USER_NOT_FOUND}';
  END IF;
  ${DELETE_USER}
  INTO _deletion;
  IF EXISTS (SELECT 1 FROM json_array_elements_text(_deletion.owned_organization_ids) _owned(id)
              WHERE _owned.id <> ALL (_owned_at_lock)) THEN
    RAISE EXCEPTION USING ERRCODE = '40001',
      MESSAGE = 'delete_user: the user became an OWNER of an organization it had not locked';
  END IF;
  IF json_array_length(_deletion.last_owned_organization_ids) > 0 THEN
    RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = '${DELETE_USER_LAST_OWNER}',
      DETAIL = _deletion.last_owned_organization_ids::text;
  END IF;
  RETURN row_to_json(_deletion);
END
`;
}

/** The statement that creates DELETE_USER_FUNCTION, as its migration holds it (frozen). */
export function deleteUserFunctionDefinition(): string {
  return (
    `CREATE OR REPLACE FUNCTION ${DELETE_USER_FUNCTION}(${DELETE_USER_PARAMETER_TYPES.join(', ')})\n` +
    `  RETURNS json LANGUAGE plpgsql VOLATILE AS $function$${deleteUserFunctionBody()}$function$`
  );
}

/**
 * deleteUser's one statement: DELETE_USER's parameters in order, then the lock timeout in ms
 * (DELETE_USER_LOCK_TIMEOUT); returns one row, `deletion` (json).
 */
export const CALL_DELETE_USER = `SELECT ${DELETE_USER_FUNCTION}(${DELETE_USER_PARAMETER_TYPES.map(
  (type, index) => `$${index + 1}::${type}`,
).join(', ')}) AS deletion`;
