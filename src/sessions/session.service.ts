import type { EntityManager } from 'typeorm';
import { ViewerKind, newSessionToken, type Principal } from '../auth/principal';
import { AppError } from '../errors';
import { newId, parseId } from '../ids';
import { lockUser } from '../database/locks';
import type { User } from '../users/user.entity';
import { Session, type TerminatedSession } from './session.entity';
import type { CreateSessionInput } from './session.inputs';

export const TERMINATION_REASON = {
  request: 'terminated_by_request',
  userDeleted: 'user_deleted',
  organizationDeleted: 'organization_deleted',
} as const;

export class SessionService {
  /**
   * Issues a session for a user. The user row is locked FOR SHARE (after the
   * organization, in the shared lock order), so a concurrent deleteUser either ends
   * this session with the user or makes this call answer NOT_FOUND.
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
      const organization = await manager.query(`SELECT id FROM organizations WHERE id = $1 FOR KEY SHARE`, [organizationId]);
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
    const [rows]: [TerminatedSession[]] = await manager.query(
      `UPDATE sessions
          SET terminated_at = coalesce(terminated_at, now()),
              termination_reason = coalesce(termination_reason, $3)
        WHERE id = $1 AND ($2::varchar IS NULL OR user_id = $2)
        RETURNING id, user_id AS "userId", organization_id AS "organizationId", terminated_at AS "terminatedAt"`,
      [sessionId, ownerId, TERMINATION_REASON.request],
    );
    if (rows.length === 0) throw AppError.notFound('Session', sessionId);
    return rows[0];
  }
}
