import {
  AddMemberDocument,
  CreateOrganizationDocument,
  DeleteOrganizationDocument,
  DeleteUserDocument,
  RemoveMemberDocument,
  UpdateMemberRoleDocument,
  ViewerDocument,
} from '../src/generated/graphql';
import { startTestApp, type TestApp } from './support/app';
import { databaseSnapshot, errorCode, expectRefused, factory, invariantViolations, ok, tableCounts } from './support/factory';
import { asKey, createApiKey } from './support/keys';
import { codeOf, persistedQuery, postJson, sha256Hex, trustedDocuments } from './support/protocol';

/**
 * Issue 9, "Why", cases 1 to 3: each as the attack the issue describes, over HTTP, with
 * the database checked afterwards. Every test here passed its attack on the main branch
 * before issue 9 (addMember by any OWNER, CreateSession trusted for SESSIONS_WRITE,
 * deleteUser ignoring ownership) and is refused now.
 */
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app.close());

afterEach(async () => {
  expect(await invariantViolations(app)).toEqual([]);
});

/** Everything the victim has: account, memberships, sessions (with their state). */
async function stateOf(userId: string) {
  return {
    user: await app.sql(`SELECT id, email, name, created_at FROM users WHERE id = $1`, [userId]),
    memberships: await app.sql(`SELECT id, organization_id, role FROM memberships WHERE user_id = $1 ORDER BY id`, [userId]),
    sessions: await app.sql(
      `SELECT id, organization_id, terminated_at, termination_reason, expires_at FROM sessions WHERE user_id = $1 ORDER BY id`,
      [userId],
    ),
  };
}

/**
 * A person who belongs to `organizations` organizations (each with its own OWNER), signed
 * in twice: once without an organization context, once in each of their organizations.
 */
async function victimIn(organizations: number) {
  const f = factory(app);
  const victim = await f.user({ name: 'Victor Victim' });
  const organizationIds: string[] = [];
  for (let i = 0; i < organizations; i += 1) {
    const organization = await f.organization();
    await f.member(organization.id, (await f.user()).id, 'OWNER');
    await f.member(organization.id, victim.id, 'MEMBER');
    await f.session(victim.id, organization.id);
    organizationIds.push(organization.id);
  }
  const { token } = await f.session(victim.id);
  return { victim, organizationIds, token };
}

/** A signed-in user's own organization, made through the API as a session (they become its OWNER). */
async function ownOrganization(token: string): Promise<string> {
  const created = ok(await app.gql(CreateOrganizationDocument, { input: { name: 'Totally legit' } }, { token })).createOrganization;
  expect(await app.sql(`SELECT role FROM memberships WHERE organization_id = $1`, [created.id])).toEqual([{ role: 'OWNER' }]);
  return created.id;
}

/**
 * Tries to bring the victim into `organizationId` with addMember (every role), then deletes
 * the organization: the additions are refused, naming inviteMember, and the deletion
 * touches nothing of the victim's.
 */
async function attackThroughOwnOrganization(token: string, organizationId: string, victimId: string) {
  const before = await stateOf(victimId);
  for (const role of ['MEMBER', 'ADMIN', 'OWNER'] as const) {
    const refused = await expectRefused(
      app,
      AddMemberDocument,
      { input: { organizationId, userId: victimId, role } },
      { token, code: 'FORBIDDEN' },
    );
    expect(refused.errors?.[0]?.message).toMatch(/\binviteMember\b/);
    // Refused before anything is read: the victim's email and name are not in the answer.
    expect(JSON.stringify(refused)).not.toMatch(/Victor|@example/);
  }
  expect(await stateOf(victimId)).toEqual(before);

  const deletion = ok(await app.gql(DeleteOrganizationDocument, { id: organizationId }, { token })).deleteOrganization;
  expect(deletion.cascadedUsers.nodes.map((u) => u.id)).not.toContain(victimId);
  expect(deletion.retainedUsers.nodes.map((r) => r.id)).not.toContain(victimId);
  expect(deletion.terminatedSessions.nodes.map((s) => s.userId)).not.toContain(victimId);
  expect(deletion.removedMemberships.nodes.map((m) => m.userId)).not.toContain(victimId);
  expect(await stateOf(victimId)).toEqual(before);
}

describe('1. Add, then delete: nobody is deleted or signed out by an organization they never joined', () => {
  it.each([0, 1, 2])('a signed-in user with an organization of their own; the victim in %i other organizations', async (others) => {
    const f = factory(app);
    const { victim, token: victimToken } = await victimIn(others);
    const attacker = await f.user();
    const { token } = await f.session(attacker.id);
    const organizationId = await ownOrganization(token);

    await attackThroughOwnOrganization(token, organizationId, victim.id);

    expect(await app.sql(`SELECT 1 FROM users WHERE id = $1`, [victim.id])).toHaveLength(1);
    expect(ok(await app.gql(ViewerDocument, {}, { token: victimToken })).viewer.kind).toBe('SESSION');
  });

  it.each([0, 1, 2])(
    'an org ADMIN who removes a co-member, then tries through a fresh organization; the victim in %i other organizations',
    async (others) => {
      const f = factory(app);
      const { victim, token: victimToken } = await victimIn(others);
      const shared = await f.organization();
      await f.member(shared.id, (await f.user()).id, 'OWNER');
      const admin = await f.signedInMember(shared.id, 'ADMIN');
      await f.member(shared.id, victim.id, 'MEMBER');
      await f.session(victim.id, shared.id);

      // Removing a MEMBER is within an ADMIN's rights; it ends no session and deletes no account.
      const sessionsBefore = (await stateOf(victim.id)).sessions;
      ok(await app.gql(RemoveMemberDocument, { organizationId: shared.id, userId: victim.id }, { token: admin.token }));
      const afterRemoval = await stateOf(victim.id);
      expect(afterRemoval.user).toHaveLength(1);
      expect(afterRemoval.memberships).toHaveLength(others);
      expect(afterRemoval.sessions).toEqual(sessionsBefore);

      const fresh = await ownOrganization(admin.token);
      await attackThroughOwnOrganization(admin.token, fresh, victim.id);

      // The attacker is still an ADMIN of the shared organization: the deletion kept them.
      expect(await app.sql(`SELECT role FROM memberships WHERE user_id = $1`, [admin.user.id])).toEqual([{ role: 'ADMIN' }]);
      expect(ok(await app.gql(ViewerDocument, {}, { token: victimToken })).viewer.kind).toBe('SESSION');
    },
  );
});

/** The CreateSession document exactly as the trusted manifest held it before issue 9. */
const FORMER_CREATE_SESSION =
  'mutation CreateSession($input: CreateSessionInput!) { createSession(input: $input) { session { createdAt expiresAt id organization { id } status user { id } } token } }';

describe('2. A key escapes its scopes: no key can obtain a session token', () => {
  it('a key with only SESSIONS_WRITE cannot run CreateSession, by hash or as a document, for an OWNER', async () => {
    const f = factory(app);
    const organization = await f.organization();
    const owner = await f.user();
    await f.member(organization.id, owner.id, 'OWNER');
    const key = await createApiKey(app, ['SESSIONS_WRITE']);
    const variables = { input: { userId: owner.id, organizationId: organization.id, ttlSeconds: 31_536_000 } };

    // Not among the trusted operations any more.
    expect(trustedDocuments.filter(({ text }) => /\bcreateSession\b/.test(text))).toEqual([]);
    expect(trustedDocuments.map(({ hash }) => hash)).not.toContain(sha256Hex(FORMER_CREATE_SESSION));

    const before = await tableCounts(app);
    const attempts = [
      // By the hash it was trusted under.
      postJson(app.url, { variables, extensions: persistedQuery(sha256Hex(FORMER_CREATE_SESSION)) }, key.secret),
      // As the document it was.
      postJson(app.url, { query: FORMER_CREATE_SESSION, variables }, key.secret),
      // As that document registered under its own hash (APQ).
      postJson(
        app.url,
        { query: FORMER_CREATE_SESSION, variables, extensions: persistedQuery(sha256Hex(FORMER_CREATE_SESSION)) },
        key.secret,
      ),
    ];
    for (const response of await Promise.all(attempts)) {
      expect(['FORBIDDEN', 'PERSISTED_QUERY_NOT_FOUND']).toContain(codeOf(response));
      expect(response.body?.data?.createSession ?? null).toBeNull();
      expect(response.text).not.toMatch(/sst_/);
    }
    expect(await tableCounts(app)).toEqual(before);

    // Even a key holding every scope gets no session: it is the admin's alone.
    const everything = await createApiKey(app, [
      'USERS_READ', 'USERS_WRITE', 'USERS_DELETE', 'ORGANIZATIONS_READ', 'ORGANIZATIONS_WRITE', 'ORGANIZATIONS_DELETE', 'SESSIONS_WRITE',
    ]);
    const beforeEverything = await tableCounts(app);
    const response = await postJson(app.url, { query: FORMER_CREATE_SESSION, variables }, everything.secret);
    expect(codeOf(response)).toBe('FORBIDDEN');
    expect(response.text).not.toMatch(/sst_/);
    expect(await tableCounts(app)).toEqual(beforeEverything);
    expect(await app.sql(`SELECT id FROM sessions WHERE user_id = $1`, [owner.id])).toEqual([]);
  });

  it('SESSIONS_WRITE still ends sessions (TerminateSession), and the admin still issues them', async () => {
    const f = factory(app);
    const user = await f.user();
    const { token, session } = await f.session(user.id); // the admin, through test/operations/create-session.graphql
    const key = await createApiKey(app, ['SESSIONS_WRITE']);
    const ended = ok(await asKey<{ terminateSession: { id: string } }>(app, key.secret, 'TerminateSession', { id: session.id }));
    expect(ended.terminateSession.id).toBe(session.id);
    expect((await app.gql(ViewerDocument, {}, { token })).status).toBe(401);
  });
});

describe('3. Owners deleted away: deleteUser never leaves an organization with members and no OWNER', () => {
  /** An organization with one signed-in OWNER and two MEMBERs. */
  async function soleOwner() {
    const f = factory(app);
    const organization = await f.organization();
    const owner = await f.signedInMember(organization.id, 'OWNER');
    const members = [await f.signedInMember(organization.id, 'MEMBER'), await f.signedInMember(organization.id, 'MEMBER')];
    return { organization, owner, members };
  }

  function expectLastOwnerConflict(
    response: { data?: unknown; errors?: Array<{ message: string; extensions?: Record<string, unknown> }> },
    organizationIds: string[],
  ) {
    expect(response.data ?? null).toBeNull();
    expect(response.errors).toHaveLength(1);
    expect(response.errors![0].extensions).toEqual({ code: 'CONFLICT', organizationIds });
    expect(response.errors![0].message).toMatch(/promote another member to OWNER.*or delete the organization/);
  }

  it('is CONFLICT with extensions.organizationIds for the admin, a USERS_DELETE key and the OWNER themselves, dry run or not; nothing changes', async () => {
    const { organization, owner } = await soleOwner();
    const key = await createApiKey(app, ['USERS_DELETE']);
    const before = await databaseSnapshot(app);

    for (const dryRun of [true, false]) {
      expectLastOwnerConflict(await app.gql(DeleteUserDocument, { id: owner.user.id, dryRun }), [organization.id]);
      expectLastOwnerConflict(await asKey(app, key.secret, 'DeleteUser', { id: owner.user.id, dryRun }), [organization.id]);
      expectLastOwnerConflict(
        await app.gql(DeleteUserDocument, { id: owner.user.id, dryRun }, { token: owner.token }),
        [organization.id],
      );
      expect(await databaseSnapshot(app)).toEqual(before);
    }
    // removeMember of that OWNER stays refused too.
    expect(errorCode(await app.gql(RemoveMemberDocument, { organizationId: organization.id, userId: owner.user.id }))).toBe('CONFLICT');
    expect(await databaseSnapshot(app)).toEqual(before);
  });

  it.each([
    ['the admin', 'admin'],
    ['a USERS_DELETE key', 'key'],
    ['the OWNER themselves', 'self'],
  ] as const)('after updateMemberRole promotes another member, deleteUser by %s succeeds and the organization keeps an OWNER', async (_label, caller) => {
    const { organization, owner, members } = await soleOwner();
    ok(
      await app.gql(
        UpdateMemberRoleDocument,
        { input: { organizationId: organization.id, userId: members[0].user.id, role: 'OWNER' } },
        { token: owner.token },
      ),
    );
    const key = await createApiKey(app, ['USERS_DELETE']);
    const response =
      caller === 'admin'
        ? await app.gql(DeleteUserDocument, { id: owner.user.id })
        : caller === 'key'
          ? await asKey<{ deleteUser: { deletedUserId: string } }>(app, key.secret, 'DeleteUser', { id: owner.user.id })
          : await app.gql(DeleteUserDocument, { id: owner.user.id }, { token: owner.token });
    expect(ok(response).deleteUser.deletedUserId).toBe(owner.user.id);

    expect(await app.sql(`SELECT 1 FROM users WHERE id = $1`, [owner.user.id])).toEqual([]);
    expect(await app.sql(`SELECT user_id, role FROM memberships WHERE organization_id = $1 ORDER BY user_id`, [organization.id])).toEqual(
      [
        { user_id: members[0].user.id, role: 'OWNER' },
        { user_id: members[1].user.id, role: 'MEMBER' },
      ].sort((a, b) => (a.user_id < b.user_id ? -1 : 1)),
    );
    // The members were not signed out.
    for (const member of members) expect(ok(await app.gql(ViewerDocument, {}, { token: member.token })).viewer.kind).toBe('SESSION');
  });
});
