import {
  DeleteUserDocument,
  TerminateSessionDocument,
  TerminateUserSessionsDocument,
  ViewerDocument,
} from '../src/generated/graphql';
import { startTestApp, type TestApp } from './support/app';
import { asKey, createApiKey } from './support/keys';
import { databaseSnapshot, errorCode, factory, fieldsOf, invariantViolations, ok, UNKNOWN_USER } from './support/factory';

/**
 * Issue 12, offboarding: terminateUserSessions signs a person out everywhere without
 * deleting them, writing one session.terminated event per session it ended (the deletion
 * engine's data shape) in its transaction; terminateSession now writes one too. Over HTTP,
 * with the sessions, the events and the tokens checked afterwards.
 */

let app: TestApp;
let make: ReturnType<typeof factory>;
beforeAll(async () => {
  app = await startTestApp();
  make = factory(app);
});
afterAll(() => app.close());

interface SessionRow {
  id: string;
  terminated_at: Date | null;
  termination_reason: string | null;
}

function sessionsOf(userId: string) {
  return app.sql<SessionRow>('SELECT id, terminated_at, termination_reason FROM sessions WHERE user_id = $1 ORDER BY id', [userId]);
}

function eventsAfter(position: number) {
  return app.sql<{ type: string; data: Record<string, unknown> }>(
    'SELECT type, data FROM events WHERE position > $1 ORDER BY position',
    [position],
  );
}

async function lastEventPosition(): Promise<number> {
  const [row] = await app.sql<{ position: string | null }>('SELECT max(position) AS position FROM events');
  return Number(row.position ?? 0);
}

/** A user in two organizations with three active sessions (two with organization context), one expired and one ended. */
async function userWithSessions() {
  const first = await make.organization();
  const second = await make.organization();
  const user = await make.user();
  await make.member(first.id, user.id, 'OWNER');
  await make.member(second.id, user.id, 'MEMBER');
  const active = [await make.session(user.id, first.id), await make.session(user.id, second.id), await make.session(user.id)];
  const expired = await make.session(user.id);
  await app.sql(`UPDATE sessions SET created_at = now() - interval '2 days', expires_at = now() - interval '1 day' WHERE id = $1`, [
    expired.session.id,
  ]);
  const ended = await make.session(user.id);
  ok(await app.gql(TerminateSessionDocument, { id: ended.session.id }));
  return { user, organizations: [first, second], active, expired, ended };
}

/** What the call must have done: the active sessions ended with events, nothing else touched, the user still there. */
async function expectSignedOutEverywhere(
  setup: Awaited<ReturnType<typeof userWithSessions>>,
  result: Array<{ id: string; userId: string; organizationId?: string | null; terminatedAt: string }>,
  since: number,
) {
  const activeIds = setup.active.map((s) => s.session.id).sort();
  expect(result.map((s) => s.id)).toEqual(activeIds);
  const rows = await sessionsOf(setup.user.id);
  for (const row of rows) {
    if (activeIds.includes(row.id)) {
      expect(row.termination_reason).toBe('all_sessions_terminated');
      expect(result.find((s) => s.id === row.id)?.terminatedAt).toBe(row.terminated_at!.toISOString());
    }
  }
  // The expired one is left as it was (it signed out by itself); the ended one keeps its first termination.
  expect(rows.find((row) => row.id === setup.expired.session.id)?.terminated_at).toBeNull();
  expect(rows.find((row) => row.id === setup.ended.session.id)?.termination_reason).toBe('terminated_by_request');
  // Each ended session's token is refused on the very next request.
  for (const { token } of setup.active) {
    const response = await app.gql(ViewerDocument, {}, { token });
    expect(response.status).toBe(401);
    expect(errorCode(response)).toBe('UNAUTHENTICATED');
  }
  // One event per ended session, in the deletion engine's data shape, receiptId null.
  const events = await eventsAfter(since);
  expect(events.map((e) => e.type)).toEqual(activeIds.map(() => 'session.terminated'));
  expect(events.map((e) => e.data).sort((a, b) => (String(a.sessionId) < String(b.sessionId) ? -1 : 1))).toEqual(
    result.map((s) => ({
      sessionId: s.id,
      userId: setup.user.id,
      organizationId: s.organizationId ?? null,
      reason: 'all_sessions_terminated',
      receiptId: null,
    })),
  );
  // Not deleted: the user and their memberships stay.
  expect(await app.sql('SELECT 1 FROM users WHERE id = $1', [setup.user.id])).toHaveLength(1);
  expect(await app.sql('SELECT 1 FROM memberships WHERE user_id = $1', [setup.user.id])).toHaveLength(2);
  expect(await invariantViolations(app)).toEqual([]);
}

describe('terminateUserSessions', () => {
  it('as the admin: ends every active session of the user, one session.terminated event each; their tokens stop working', async () => {
    const setup = await userWithSessions();
    const since = await lastEventPosition();
    const result = ok(await app.gql(TerminateUserSessionsDocument, { userId: setup.user.id })).terminateUserSessions;
    expect(result.every((s) => s.userId === setup.user.id)).toBe(true);
    expect(result.map((s) => s.organizationId ?? null).sort()).toEqual([null, ...setup.organizations.map((o) => o.id)].sort());
    await expectSignedOutEverywhere(setup, result, since);
  });

  it('a second call ends nothing, writes no event, and answers []', async () => {
    const setup = await userWithSessions();
    ok(await app.gql(TerminateUserSessionsDocument, { userId: setup.user.id }));
    const before = await databaseSnapshot(app);
    expect(ok(await app.gql(TerminateUserSessionsDocument, { userId: setup.user.id })).terminateUserSessions).toEqual([]);
    expect(await databaseSnapshot(app)).toEqual(before);
  });

  it('leaves other users signed in', async () => {
    const setup = await userWithSessions();
    const other = await make.user();
    const { token } = await make.session(other.id);
    ok(await app.gql(TerminateUserSessionsDocument, { userId: setup.user.id }));
    expect(ok(await app.gql(ViewerDocument, {}, { token })).viewer.kind).toBe('SESSION');
  });

  it('as a SESSIONS_WRITE key (trusted TerminateUserSessions): signs the user out everywhere', async () => {
    const setup = await userWithSessions();
    const { secret } = await createApiKey(app, ['SESSIONS_WRITE']);
    const since = await lastEventPosition();
    const response = await asKey(app, secret, 'TerminateUserSessions', { userId: setup.user.id });
    await expectSignedOutEverywhere(setup, ok(response).terminateUserSessions, since);
  });

  it('as the user themselves: signs out everywhere, the calling session included', async () => {
    const setup = await userWithSessions();
    const since = await lastEventPosition();
    const [calling] = setup.active;
    const result = ok(await app.gql(TerminateUserSessionsDocument, { userId: setup.user.id }, { token: calling.token }));
    await expectSignedOutEverywhere(setup, result.terminateUserSessions, since);
  });

  it('refuses, changing nothing: another signed-in user (an OWNER of the same organization, too), keys without SESSIONS_WRITE', async () => {
    const setup = await userWithSessions();
    const owner = await make.signedInMember(setup.organizations[1].id, 'OWNER');
    const { secret } = await createApiKey(app, ['USERS_READ', 'USERS_WRITE', 'USERS_DELETE', 'ORGANIZATIONS_WRITE', 'ORGANIZATIONS_DELETE']);
    for (const call of [
      () => app.gql(TerminateUserSessionsDocument, { userId: setup.user.id }, { token: owner.token }),
      () => app.gql(TerminateUserSessionsDocument, { userId: UNKNOWN_USER }, { token: owner.token }),
      () => asKey(app, secret, 'TerminateUserSessions', { userId: setup.user.id }),
    ]) {
      const before = await databaseSnapshot(app);
      const response = await call();
      expect(errorCode(response)).toBe('FORBIDDEN');
      expect(response.data ?? null).toBeNull();
      expect(await databaseSnapshot(app)).toEqual(before);
    }
    const anonymous = await app.gql(TerminateUserSessionsDocument, { userId: setup.user.id }, { token: null });
    expect(anonymous.status).toBe(401);
    for (const { token } of setup.active) expect(ok(await app.gql(ViewerDocument, {}, { token })).viewer.kind).toBe('SESSION');
  });

  it('answers NOT_FOUND for an unknown user and BAD_USER_INPUT naming userId for a malformed ID', async () => {
    const before = await databaseSnapshot(app);
    expect(errorCode(await app.gql(TerminateUserSessionsDocument, { userId: UNKNOWN_USER }))).toBe('NOT_FOUND');
    const malformed = await app.gql(TerminateUserSessionsDocument, { userId: 'ses_01ARZ3NDEKTSV4RRFFQ69G5FAV' });
    expect(errorCode(malformed)).toBe('BAD_USER_INPUT');
    expect(fieldsOf(malformed)).toEqual(['userId']);
    expect(await databaseSnapshot(app)).toEqual(before);
  });

  it('offboarding end to end: sign out everywhere, then delete; the deletion finds no active session left', async () => {
    const setup = await userWithSessions();
    await app.sql(`DELETE FROM memberships WHERE user_id = $1 AND role = 'OWNER'`, [setup.user.id]);
    ok(await app.gql(TerminateUserSessionsDocument, { userId: setup.user.id }));
    const deleted = ok(await app.gql(DeleteUserDocument, { id: setup.user.id })).deleteUser;
    expect(deleted.receipt?.terminatedSessionCount).toBe(0);
    expect(await app.sql('SELECT 1 FROM sessions WHERE user_id = $1', [setup.user.id])).toEqual([]);
  });
});

describe('terminateSession writes session.terminated too (issue 12, consistently)', () => {
  it('one event when it ends an active session, in the same data shape; none when ending it again or an expired one', async () => {
    const user = await make.user();
    const { session } = await make.session(user.id);
    const since = await lastEventPosition();
    ok(await app.gql(TerminateSessionDocument, { id: session.id }));
    expect(await eventsAfter(since)).toEqual([
      {
        type: 'session.terminated',
        data: { sessionId: session.id, userId: user.id, organizationId: null, reason: 'terminated_by_request', receiptId: null },
      },
    ]);
    const again = await lastEventPosition();
    ok(await app.gql(TerminateSessionDocument, { id: session.id }));
    expect(await eventsAfter(again)).toEqual([]);

    const expired = await make.session(user.id);
    await app.sql(`UPDATE sessions SET created_at = now() - interval '2 days', expires_at = now() - interval '1 day' WHERE id = $1`, [
      expired.session.id,
    ]);
    const beforeExpired = await lastEventPosition();
    ok(await app.gql(TerminateSessionDocument, { id: expired.session.id }));
    expect(await eventsAfter(beforeExpired)).toEqual([]);
  });

  it('a refused terminateSession writes no event', async () => {
    const user = await make.user();
    const { session } = await make.session(user.id);
    const stranger = await make.user();
    const { token } = await make.session(stranger.id);
    const before = await databaseSnapshot(app);
    expect(errorCode(await app.gql(TerminateSessionDocument, { id: session.id }, { token }))).toBe('NOT_FOUND');
    expect(await databaseSnapshot(app)).toEqual(before);
  });
});
