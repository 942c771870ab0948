import type { EntityManager } from 'typeorm';
import { authorizeUserSessionsTermination } from '../auth/access';
import { ViewerKind, newSessionToken, type Principal } from '../auth/principal';
import { AppError } from '../errors';
import { newId, parseId } from '../ids';
import { lockUser } from '../database/locks';
import type { User } from '../users/user.entity';
import { Session, type TerminatedSession } from './session.entity';
import type { CreateSessionInput } from './session.inputs';

export const TERMINATION_REASON = {
  request: 'terminated_by_request',
  /** Issue 12: terminateUserSessions, signed out everywhere (offboarding). */
  allOfUser: 'all_sessions_terminated',
  userDeleted: 'user_deleted',
  organizationDeleted: 'organization_deleted',
} as const;

export class SessionService {
  /**
   * Issues a session for a user. The user row is locked FOR SHARE (after the
   * organization, in the shared lock order), so a concurrent deleteUser either ends
   * this session with the user or makes this call answer NOT_FOUND. NOT_FOUND too for an
   * organization context that does not exist or is being deleted (issue 15).
   */
  async create(
    manager: EntityManager,
    input: CreateSessionInput,
    defaultTtlSeconds: number,
  ): Promise<{ session: Session; token: string; user: User }> {
    const userId = parseId('user', input.userId, 'input.userId');
    // Only an absent or null organizationId means "no context": an empty string is a malformed ID, not a null.
    const organizationId =
      input.organizationId != null ? parseId('organization', input.organizationId, 'input.organizationId') : null;
    if (organizationId) {
      // Issue 15: an organization being deleted (deletion_job_id set) takes no new sessions:
      // NOT_FOUND, as if it were gone. Checked on the row as locked: the scheduling
      // transaction locks it FOR UPDATE, so this waits for it and then sees the mark. (Were
      // the mark a bare UPDATE, KEY SHARE would not wait; a session slipping in would be a
      // member's session like any other, which the job ends when it locks that member.)
      const organization = await manager.query(
        `SELECT id FROM organizations WHERE id = $1 AND deletion_job_id IS NULL FOR KEY SHARE`,
        [organizationId],
      );
      if (organization.length === 0) throw AppError.notFound('Organization', organizationId);
    }
    const user = await lockUser(manager, userId);
    if (organizationId) {
      const membership = await manager.query(
        `SELECT 1 FROM memberships WHERE organization_id = $1 AND user_id = $2`,
        [organizationId, userId],
      );
      if (membership.length === 0) {
        throw AppError.badInput('input.organizationId', 'The user is not a member of this organization');
      }
    }
    const { token, hash } = newSessionToken();
    const ttlSeconds = input.ttlSeconds ?? defaultTtlSeconds;
    const [session] = await manager.query(
      `INSERT INTO sessions (id, user_id, organization_id, token_hash, expires_at)
       VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))
       RETURNING id`,
      [newId('session'), userId, organizationId, hash, ttlSeconds],
    );
    return { session: await manager.findOneByOrFail(Session, { id: session.id }), token, user };
  }

  /**
   * Ends a session now. Idempotent: ending an ended session returns its termination.
   * A session user may end only their own sessions; others read as NOT_FOUND.
   *
   * Issue 12: ending a session that was active (neither ended nor expired) writes one
   * `session.terminated` event in this transaction, as the deletion engine does, with the
   * same data shape (SESSION_TERMINATED_EVENT_DATA); ending it again writes none, and
   * neither does marking an expired session ended (it had signed out by itself).
   */
  async terminate(manager: EntityManager, principal: Principal, id: string): Promise<TerminatedSession> {
    const sessionId = parseId('session', id, 'id');
    const ownerId = principal.kind === ViewerKind.SESSION ? principal.userId : null;
    // The session's user row FOR SHARE first, in the lock order shared with the deletion
    // engine: a deleteOrganization that keeps this user ends the session itself, and one
    // that found it active must not see it ended under its feet (its update would skip the
    // row and leave it naming the deleted organization: a foreign-key error).
    await manager.query(
      `SELECT u.id FROM sessions s JOIN users u ON u.id = s.user_id
        WHERE s.id = $1 AND ($2::varchar IS NULL OR s.user_id = $2)
          FOR SHARE OF u`,
      [sessionId, ownerId],
    );
    const rows: TerminatedSession[] = await manager.query(
      `WITH before AS (
         SELECT id, terminated_at IS NULL AND expires_at > now() AS was_active
           FROM sessions WHERE id = $1 AND ($2::varchar IS NULL OR user_id = $2)
            FOR NO KEY UPDATE
       ),
       ended AS (
         UPDATE sessions s
            SET terminated_at = coalesce(s.terminated_at, now()),
                termination_reason = coalesce(s.termination_reason, $3)
           FROM before b
          WHERE s.id = b.id
         RETURNING s.id, s.user_id, s.organization_id, s.terminated_at, s.termination_reason, b.was_active
       ),
       new_events AS (
         INSERT INTO events (type, data)
         SELECT 'session.terminated', ${SESSION_TERMINATED_EVENT_DATA} FROM ended WHERE was_active
         RETURNING 1
       )
       SELECT id, user_id AS "userId", organization_id AS "organizationId", terminated_at AS "terminatedAt" FROM ended`,
      [sessionId, ownerId, TERMINATION_REASON.request],
    );
    if (rows.length === 0) throw AppError.notFound('Session', sessionId);
    return rows[0];
  }

  /**
   * terminateUserSessions (issue 12, the first step of offboarding): ends every active
   * session of the user at once, without deleting anything, and returns them in ID order
   * (empty when none was active). Who: authorizeUserSessionsTermination (src/auth/access.ts).
   *
   * One set-based statement ends the sessions and writes one `session.terminated` event per
   * session, in this transaction (the deletion engine's data shape, receiptId null). The
   * user row is locked FOR SHARE first (src/database/locks.ts, step 2): a deleteUser in
   * flight (FOR UPDATE) runs wholly before or after this, so the user is either signed out
   * here or deleted there, never half of each; NOT_FOUND when the user does not exist. A
   * session created after this commits is not touched: it is a new sign-in.
   */
  async terminateAllOfUser(manager: EntityManager, principal: Principal, userIdArg: string): Promise<TerminatedSession[]> {
    const userId = parseId('user', userIdArg, 'userId');
    authorizeUserSessionsTermination(principal, userId);
    await lockUser(manager, userId, 'FOR SHARE');
    const rows: TerminatedSession[] = await manager.query(
      `WITH ended AS (
         UPDATE sessions
            SET terminated_at = now(), termination_reason = $2
          WHERE user_id = $1 AND terminated_at IS NULL AND expires_at > now()
         RETURNING id, user_id, organization_id, terminated_at, termination_reason
       ),
       new_events AS (
         INSERT INTO events (type, data)
         SELECT 'session.terminated', ${SESSION_TERMINATED_EVENT_DATA} FROM ended
         RETURNING 1
       )
       SELECT id, user_id AS "userId", organization_id AS "organizationId", terminated_at AS "terminatedAt"
         FROM ended ORDER BY id COLLATE "C"`,
      [userId, TERMINATION_REASON.allOfUser],
    );
    return rows;
  }
}

/**
 * The `data` of a `session.terminated` event, as SQL over a row with id, user_id,
 * organization_id and termination_reason: the shape the deletion engine writes
 * (src/deletion/deletion.sql.ts), `receiptId` null because no deletion made it. IDs and a
 * reason only, nothing personal (src/outbox.ts).
 */
const SESSION_TERMINATED_EVENT_DATA = `jsonb_build_object('sessionId', id, 'userId', user_id, 'organizationId', organization_id,
                                 'reason', termination_reason, 'receiptId', NULL::text)`;
