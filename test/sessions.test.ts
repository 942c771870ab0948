import { createHash } from 'node:crypto';
import { CreateSessionDocument } from './generated/graphql';
import {
  GetUserSessionsDocument,
  ListOrganizationsDocument,
  TerminateSessionDocument,
  ViewerDocument,
  type SessionStatus,
} from '../src/generated/graphql';
import { startTestApp, type TestApp } from './support/app';
import { createApiKey } from './support/keys';
import { trustedDocuments } from './support/protocol';
import { errorCode, expectRefused, factory, fieldsOf, ok, tableCounts, UNKNOWN_ORGANIZATION, UNKNOWN_SESSION, UNKNOWN_USER } from './support/factory';

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app.close());

interface SessionRow {
  id: string;
  user_id: string;
  organization_id: string | null;
  token_hash: Buffer;
  ttl: number;
  terminated_at: Date | null;
  termination_reason: string | null;
}

async function sessionRow(id: string): Promise<SessionRow> {
  const [row] = await app.sql<SessionRow>(
    `SELECT id, user_id, organization_id, token_hash, terminated_at, termination_reason,
            extract(epoch FROM expires_at - created_at)::int AS ttl
       FROM sessions WHERE id = $1`,
    [id],
  );
  return row;
}

/** A user who belongs to an organization, and an organization they do not belong to. */
async function memberOfOne() {
  const f = factory(app);
  const organization = await f.organization();
  const user = await f.user();
  await f.member(organization.id, user.id);
  return { f, organization, user };
}

describe('createSession', () => {
  it('as the admin: issues a session and returns the token once, storing only its SHA-256 hash', async () => {
    const { organization, user } = await memberOfOne();
    const before = await tableCounts(app);
    const { token, session } = ok(
      await app.gql(CreateSessionDocument, { input: { userId: user.id, organizationId: organization.id } }),
    ).createSession;
    expect(session.id).toMatch(/^ses_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(session).toMatchObject({ status: 'ACTIVE', user: { id: user.id }, organization: { id: organization.id } });
    expect(token).toMatch(/^sst_[A-Za-z0-9_-]{43}$/);
    expect(await tableCounts(app)).toEqual({ ...before, sessions: before.sessions + 1 });

    const row = await sessionRow(session.id);
    expect(row).toMatchObject({ user_id: user.id, organization_id: organization.id, terminated_at: null, termination_reason: null });
    // The default lifetime (SESSION_TTL_SECONDS, one day).
    expect(row.ttl).toBe(86_400);
    expect(row.token_hash.equals(createHash('sha256').update(token, 'utf8').digest())).toBe(true);

    // The token itself is stored nowhere: not as text, not hex-encoded, not as its random part.
    const tokenHex = Buffer.from(token, 'utf8').toString('hex');
    const body = token.slice('sst_'.length);
    const leaks = await app.sql(
      `SELECT id FROM sessions s
        WHERE position($1 IN s::text) > 0 OR position($2 IN s::text) > 0 OR position($3 IN s::text) > 0
           OR position(convert_to($1, 'UTF8') IN s.token_hash) > 0`,
      [token, tokenHex, body],
    );
    expect(leaks).toEqual([]);
    expect(await app.sql('SELECT id FROM sessions WHERE token_hash = $1', [createHash('sha256').update(token).digest()])).toEqual([
      { id: session.id },
    ]);
  });

  it('issues a session without organization context', async () => {
    const user = await factory(app).user();
    const { session } = ok(await app.gql(CreateSessionDocument, { input: { userId: user.id } })).createSession;
    expect(session.organization).toBeNull();
    expect((await sessionRow(session.id)).organization_id).toBeNull();
  });

  it.each([60, 3_600, 31_536_000])('accepts ttlSeconds = %i and stores expiresAt = createdAt + ttl', async (ttlSeconds) => {
    const user = await factory(app).user();
    const { session } = ok(await app.gql(CreateSessionDocument, { input: { userId: user.id, ttlSeconds } })).createSession;
    expect((await sessionRow(session.id)).ttl).toBe(ttlSeconds);
    expect(new Date(session.expiresAt).getTime() - new Date(session.createdAt).getTime()).toBe(ttlSeconds * 1000);
  });

  async function expectRefusedCreate(
    token: string | null,
    input: { userId: string; organizationId?: string | null; ttlSeconds?: number | null },
    code: string,
    status = 200,
  ) {
    return expectRefused(app, CreateSessionDocument, { input }, { token, code, status });
  }

  it.each([0, -1, 59, 31_536_001])('refuses ttlSeconds = %i with BAD_USER_INPUT naming it', async (ttlSeconds) => {
    const user = await factory(app).user();
    const response = await expectRefusedCreate(app.adminKey, { userId: user.id, ttlSeconds }, 'BAD_USER_INPUT');
    expect(fieldsOf(response)).toEqual(['ttlSeconds']);
  });

  it('refuses an organization the user is not a member of with BAD_USER_INPUT naming input.organizationId', async () => {
    const { f, user } = await memberOfOne();
    const other = await f.organization();
    const response = await expectRefusedCreate(app.adminKey, { userId: user.id, organizationId: other.id }, 'BAD_USER_INPUT');
    expect(fieldsOf(response)).toEqual(['input.organizationId']);
  });

  it('answers NOT_FOUND for an unknown user or organization', async () => {
    const { organization, user } = await memberOfOne();
    await expectRefusedCreate(app.adminKey, { userId: UNKNOWN_USER }, 'NOT_FOUND');
    await expectRefusedCreate(app.adminKey, { userId: UNKNOWN_USER, organizationId: organization.id }, 'NOT_FOUND');
    await expectRefusedCreate(app.adminKey, { userId: user.id, organizationId: UNKNOWN_ORGANIZATION }, 'NOT_FOUND');
  });

  it.each([
    ['an organization ID as userId', { userId: UNKNOWN_ORGANIZATION }, 'input.userId'],
    ['an empty userId', { userId: '' }, 'input.userId'],
    ['a user ID as organizationId', { userId: UNKNOWN_USER, organizationId: UNKNOWN_USER }, 'input.organizationId'],
    ['an empty organizationId', { userId: UNKNOWN_USER, organizationId: '' }, 'input.organizationId'],
  ])('refuses %s with BAD_USER_INPUT naming the field', async (_label, input, field) => {
    const response = await expectRefusedCreate(app.adminKey, input, 'BAD_USER_INPUT');
    expect(fieldsOf(response)).toEqual([field]);
  });

  it('is admin-only: a session user (even for themselves) gets FORBIDDEN and nothing is written', async () => {
    const { f, organization, user } = await memberOfOne();
    const { token } = await f.session(user.id, organization.id);
    await expectRefusedCreate(token, { userId: user.id }, 'FORBIDDEN');
    await expectRefusedCreate(token, { userId: user.id, organizationId: organization.id }, 'FORBIDDEN');
  });

  it('is refused to every API key, even one holding every scope: CreateSession is no trusted operation (issue 9)', async () => {
    const user = await factory(app).user();
    const key = await createApiKey(app, ['USERS_READ', 'USERS_WRITE', 'USERS_DELETE', 'ORGANIZATIONS_READ', 'ORGANIZATIONS_WRITE', 'ORGANIZATIONS_DELETE', 'SESSIONS_WRITE']);
    expect(trustedDocuments.filter((document) => /\bcreateSession\b/.test(document.text))).toEqual([]);
    // The document sent as text is not a trusted one: 403 before anything runs, nothing written.
    await expectRefusedCreate(key.secret, { userId: user.id }, 'FORBIDDEN', 403);
  });

  it('requires credentials: UNAUTHENTICATED with HTTP 401', async () => {
    const user = await factory(app).user();
    await expectRefusedCreate(null, { userId: user.id }, 'UNAUTHENTICATED', 401);
    await expectRefusedCreate('not-the-admin-key', { userId: user.id }, 'UNAUTHENTICATED', 401);
  });
});

describe('authenticating with a session token', () => {
  it('makes the caller that session user: viewer.kind SESSION with their user and session', async () => {
    const { f, organization, user } = await memberOfOne();
    const { token, session } = await f.session(user.id, organization.id);
    const viewer = ok(await app.gql(ViewerDocument, {}, { token })).viewer;
    expect(viewer).toEqual({ kind: 'SESSION', user: { id: user.id, email: user.email }, session: { id: session.id, status: 'ACTIVE' } });
  });

  it.each([
    ['no Authorization header', null],
    ['an unknown session token', 'sst_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
    ['a token that is neither admin key nor session token', 'whatever-this-is'],
  ])('refuses %s with HTTP 401 UNAUTHENTICATED', async (_label, token) => {
    const response = await app.gql(ViewerDocument, {}, { token });
    expect(response.status).toBe(401);
    expect(errorCode(response)).toBe('UNAUTHENTICATED');
    expect(response.data ?? null).toBeNull();
  });

  it('refuses an expired session with HTTP 401', async () => {
    const { f, user } = await memberOfOne();
    const { token, session } = await f.session(user.id);
    expect(ok(await app.gql(ViewerDocument, {}, { token })).viewer.kind).toBe('SESSION');
    await app.sql(`UPDATE sessions SET expires_at = now() - interval '1 second' WHERE id = $1`, [session.id]);
    const response = await app.gql(ViewerDocument, {}, { token });
    expect(response.status).toBe(401);
    expect(errorCode(response)).toBe('UNAUTHENTICATED');
  });
});

describe('terminateSession', () => {
  async function expectTerminated(token: string, sessionId: string) {
    const before = await tableCounts(app);
    const terminated = ok(await app.gql(TerminateSessionDocument, { id: sessionId }, { token })).terminateSession;
    const row = await sessionRow(sessionId);
    expect(terminated).toEqual({
      id: sessionId,
      userId: row.user_id,
      organizationId: row.organization_id,
      terminatedAt: row.terminated_at!.toISOString(),
    });
    expect(row.termination_reason).toBe('terminated_by_request');
    // Issue 12: ending an active session writes one session.terminated event, and nothing else.
    expect(await tableCounts(app)).toEqual({ ...before, events: before.events + 1 });
    return terminated;
  }

  it('lets a session user end their own session; its token fails with 401 on the very next request', async () => {
    const { f, organization, user } = await memberOfOne();
    const { token, session } = await f.session(user.id, organization.id);
    await expectTerminated(token, session.id);
    const next = await app.gql(ListOrganizationsDocument, {}, { token });
    expect(next.status).toBe(401);
    expect(errorCode(next)).toBe('UNAUTHENTICATED');
  });

  it("lets a session user end another of their own sessions, leaving the one they call with active", async () => {
    const { f, user } = await memberOfOne();
    const current = await f.session(user.id);
    const other = await f.session(user.id);
    await expectTerminated(current.token, other.session.id);
    expect((await app.gql(ViewerDocument, {}, { token: other.token })).status).toBe(401);
    expect(ok(await app.gql(ViewerDocument, {}, { token: current.token })).viewer.session?.id).toBe(current.session.id);
  });

  it("answers NOT_FOUND for someone else's session and leaves it untouched", async () => {
    const { f, organization, user } = await memberOfOne();
    const mine = await f.session(user.id, organization.id);
    // Even an OWNER of the same organization may not end a fellow member's session.
    const owner = await f.signedInMember(organization.id, 'OWNER');
    const rowBefore = await sessionRow(mine.session.id);
    const before = await tableCounts(app);
    const response = await app.gql(TerminateSessionDocument, { id: mine.session.id }, { token: owner.token });
    expect(errorCode(response)).toBe('NOT_FOUND');
    expect(response.data ?? null).toBeNull();
    expect(await sessionRow(mine.session.id)).toEqual(rowBefore);
    expect(await tableCounts(app)).toEqual(before);
    expect(ok(await app.gql(ViewerDocument, {}, { token: mine.token })).viewer.kind).toBe('SESSION');
    // An unknown session reads the same.
    expect(errorCode(await app.gql(TerminateSessionDocument, { id: UNKNOWN_SESSION }, { token: owner.token }))).toBe('NOT_FOUND');
  });

  it('lets the admin end any session, and is idempotent', async () => {
    const { f, user } = await memberOfOne();
    const { token, session } = await f.session(user.id);
    const first = await expectTerminated(app.adminKey, session.id);
    const rowAfterFirst = await sessionRow(session.id);
    const counts = await tableCounts(app);
    const second = ok(await app.gql(TerminateSessionDocument, { id: session.id })).terminateSession;
    expect(second).toEqual(first);
    expect(await tableCounts(app)).toEqual(counts); // ending it again writes no second event
    expect(await sessionRow(session.id)).toEqual(rowAfterFirst);
    expect((await app.gql(ViewerDocument, {}, { token })).status).toBe(401);
  });

  it('answers NOT_FOUND to the admin for an unknown session', async () => {
    const before = await tableCounts(app);
    expect(errorCode(await app.gql(TerminateSessionDocument, { id: UNKNOWN_SESSION }))).toBe('NOT_FOUND');
    expect(await tableCounts(app)).toEqual(before);
  });

  it.each([
    ['a user ID', UNKNOWN_USER],
    ['a malformed ID', 'ses_123'],
    ['an empty ID', ''],
  ])('refuses %s with BAD_USER_INPUT naming id', async (_label, id) => {
    const response = await app.gql(TerminateSessionDocument, { id });
    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(fieldsOf(response)).toEqual(['id']);
  });

  it('requires credentials: UNAUTHENTICATED with HTTP 401, and the session stays active', async () => {
    const { f, user } = await memberOfOne();
    const { token, session } = await f.session(user.id);
    const response = await app.gql(TerminateSessionDocument, { id: session.id }, { token: null });
    expect(response.status).toBe(401);
    expect(errorCode(response)).toBe('UNAUTHENTICATED');
    expect((await sessionRow(session.id)).terminated_at).toBeNull();
    expect(ok(await app.gql(ViewerDocument, {}, { token })).viewer.kind).toBe('SESSION');
  });
});

describe('User.sessions(status:)', () => {
  it('filters ACTIVE, TERMINATED and EXPIRED sessions, and lists all of them without a status', async () => {
    const { f, user } = await memberOfOne();
    const active = (await f.session(user.id)).session.id;
    const terminated = (await f.session(user.id)).session.id;
    const expired = (await f.session(user.id)).session.id;
    ok(await app.gql(TerminateSessionDocument, { id: terminated }));
    await app.sql(`UPDATE sessions SET expires_at = now() - interval '1 minute' WHERE id = $1`, [expired]);

    const read = async (status?: SessionStatus) =>
      ok(await app.gql(GetUserSessionsDocument, { id: user.id, status })).user!.sessions;
    expect((await read('ACTIVE')).map((s) => s.id)).toEqual([active]);
    expect(await read('TERMINATED')).toEqual([expect.objectContaining({ id: terminated, status: 'TERMINATED', terminatedAt: expect.any(String) })]);
    expect(await read('EXPIRED')).toEqual([expect.objectContaining({ id: expired, status: 'EXPIRED', terminatedAt: null })]);
    expect((await read()).map((s) => [s.id, s.status])).toEqual([
      [active, 'ACTIVE'],
      [terminated, 'TERMINATED'],
      [expired, 'EXPIRED'],
    ]);
  });

  it('counts a terminated session as TERMINATED even after it has also expired', async () => {
    const { f, user } = await memberOfOne();
    const id = (await f.session(user.id)).session.id;
    ok(await app.gql(TerminateSessionDocument, { id }));
    await app.sql(`UPDATE sessions SET expires_at = now() - interval '1 minute' WHERE id = $1`, [id]);
    const read = async (status: SessionStatus) =>
      ok(await app.gql(GetUserSessionsDocument, { id: user.id, status })).user!.sessions.map((s) => s.id);
    expect(await read('TERMINATED')).toEqual([id]);
    expect(await read('EXPIRED')).toEqual([]);
  });

  it('refuses a status outside the enum', async () => {
    const user = await factory(app).user();
    const response = await app.gql(GetUserSessionsDocument, { id: user.id, status: 'DORMANT' as SessionStatus });
    expect(response.status).toBe(400);
    expect(errorCode(response)).toBe('BAD_USER_INPUT');
  });
});
