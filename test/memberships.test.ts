import { AddMemberDocument, GetOrganizationDocument, RemoveMemberDocument, type MembershipRole } from '../src/generated/graphql';
import { startTestApp, type TestApp } from './support/app';
import { asKey, createApiKey } from './support/keys';
import { errorCode, expectRefused, factory, fieldsOf, ok, tableCounts, UNKNOWN_ORGANIZATION, UNKNOWN_USER } from './support/factory';

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app.close());

async function membershipRow(organizationId: string, userId: string) {
  return app.sql<{ id: string; role: string }>(
    'SELECT id, role FROM memberships WHERE organization_id = $1 AND user_id = $2',
    [organizationId, userId],
  );
}

/** An organization with a signed-in caller of the given role, and a fresh user who is not a member yet. */
async function scene(callerRole: MembershipRole) {
  const f = factory(app);
  const organization = await f.organization();
  const caller = await f.signedInMember(organization.id, callerRole);
  const target = await f.user();
  return { f, organization, caller, target };
}

/** A signed-in user who belongs to some other organization only. */
async function outsider() {
  const f = factory(app);
  const elsewhere = await f.organization();
  return f.signedInMember(elsewhere.id, 'OWNER');
}

describe('addMember', () => {
  it('as the admin: adds a MEMBER by default and stores the row', async () => {
    const f = factory(app);
    const organization = await f.organization();
    const user = await f.user();
    const before = await tableCounts(app);
    const membership = ok(
      await app.gql(AddMemberDocument, { input: { organizationId: organization.id, userId: user.id } }),
    ).addMember;
    expect(membership.id).toMatch(/^mem_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(membership).toMatchObject({ role: 'MEMBER', organization: { id: organization.id }, user: { id: user.id } });
    expect(await membershipRow(organization.id, user.id)).toEqual([{ id: membership.id, role: 'MEMBER' }]);
    expect(await tableCounts(app)).toEqual({ ...before, memberships: before.memberships + 1 });
  });

  it('as the admin: may grant OWNER', async () => {
    const f = factory(app);
    const organization = await f.organization();
    const user = await f.user();
    const membership = await f.member(organization.id, user.id, 'OWNER');
    expect(membership.role).toBe('OWNER');
    expect(await membershipRow(organization.id, user.id)).toEqual([{ id: membership.id, role: 'OWNER' }]);
  });

  it('an API key with ORGANIZATIONS_WRITE may add a member (server-side provisioning)', async () => {
    const f = factory(app);
    const organization = await f.organization();
    const user = await f.user();
    const key = await createApiKey(app, ['ORGANIZATIONS_WRITE']);
    const membership = ok(
      await asKey<{ addMember: { id: string } }>(app, key.secret, 'AddMember', {
        input: { organizationId: organization.id, userId: user.id, role: 'ADMIN' },
      }),
    ).addMember;
    expect(await membershipRow(organization.id, user.id)).toEqual([{ id: membership.id, role: 'ADMIN' }]);
  });

  async function expectRefusedAdd(
    token: string | null,
    input: { organizationId: string; userId: string; role?: MembershipRole },
    code: string,
    status = 200,
  ) {
    return expectRefused(app, AddMemberDocument, { input }, { token, code, status });
  }

  // Issue 9, "Add, then delete": adding someone without their consent is refused to every
  // signed-in user, whatever their role; they invite instead, and the message says so.
  it.each<[MembershipRole, MembershipRole]>([
    ['OWNER', 'OWNER'],
    ['OWNER', 'ADMIN'],
    ['OWNER', 'MEMBER'],
    ['ADMIN', 'ADMIN'],
    ['ADMIN', 'MEMBER'],
    ['MEMBER', 'MEMBER'],
  ])('a signed-in %s adding a %s gets FORBIDDEN naming inviteMember, and nothing is written', async (callerRole, role) => {
    const { organization, caller, target } = await scene(callerRole);
    const response = await expectRefusedAdd(caller.token, { organizationId: organization.id, userId: target.id, role }, 'FORBIDDEN');
    expect(response.errors?.[0]?.message).toMatch(/\binviteMember\b/);
    expect(await membershipRow(organization.id, target.id)).toEqual([]);
  });

  it('a signed-in caller who is not a member gets the same FORBIDDEN, whether the organization exists or not', async () => {
    const { organization, target } = await scene('OWNER');
    const stranger = await outsider();
    const known = await expectRefusedAdd(stranger.token, { organizationId: organization.id, userId: target.id }, 'FORBIDDEN');
    const unknown = await expectRefusedAdd(stranger.token, { organizationId: UNKNOWN_ORGANIZATION, userId: target.id }, 'FORBIDDEN');
    expect(known.errors?.[0]?.message).toBe(unknown.errors?.[0]?.message);
    expect(known.errors?.[0]?.message).not.toContain(organization.id);
  });

  it('an API key without ORGANIZATIONS_WRITE gets a plain FORBIDDEN (the hint is for signed-in users)', async () => {
    const { organization, target } = await scene('OWNER');
    const key = await createApiKey(app, ['USERS_READ', 'SESSIONS_WRITE', 'ORGANIZATIONS_DELETE']);
    const before = await tableCounts(app);
    const response = await asKey(app, key.secret, 'AddMember', { input: { organizationId: organization.id, userId: target.id } });
    expect(errorCode(response)).toBe('FORBIDDEN');
    expect(response.errors?.[0]?.message).not.toMatch(/inviteMember/);
    expect(await tableCounts(app)).toEqual(before);
  });

  it('refuses a duplicate membership with CONFLICT, whatever the role, and writes nothing', async () => {
    const { f, organization, target } = await scene('OWNER');
    const existing = await f.member(organization.id, target.id, 'MEMBER');
    await expectRefusedAdd(app.adminKey, { organizationId: organization.id, userId: target.id, role: 'ADMIN' }, 'CONFLICT');
    expect(await membershipRow(organization.id, target.id)).toEqual([{ id: existing.id, role: 'MEMBER' }]);
  });

  it('answers NOT_FOUND for an unknown organization or user and writes nothing', async () => {
    const { organization, caller, target } = await scene('OWNER');
    await expectRefusedAdd(app.adminKey, { organizationId: UNKNOWN_ORGANIZATION, userId: target.id }, 'NOT_FOUND');
    await expectRefusedAdd(app.adminKey, { organizationId: organization.id, userId: UNKNOWN_USER }, 'NOT_FOUND');
    // A signed-in caller learns nothing about IDs either: FORBIDDEN before anything is looked up.
    await expectRefusedAdd(caller.token, { organizationId: organization.id, userId: UNKNOWN_USER }, 'FORBIDDEN');
  });

  it.each([
    ['a user ID as organizationId', { organizationId: UNKNOWN_USER, userId: UNKNOWN_USER }, 'input.organizationId'],
    ['a malformed organizationId', { organizationId: 'org_nope', userId: UNKNOWN_USER }, 'input.organizationId'],
    ['an organization ID as userId', { organizationId: UNKNOWN_ORGANIZATION, userId: UNKNOWN_ORGANIZATION }, 'input.userId'],
    ['an empty userId', { organizationId: UNKNOWN_ORGANIZATION, userId: '' }, 'input.userId'],
  ])('refuses %s with BAD_USER_INPUT naming the field', async (_label, input, field) => {
    const response = await expectRefusedAdd(app.adminKey, input, 'BAD_USER_INPUT');
    expect(fieldsOf(response)).toEqual([field]);
  });

  it('refuses a role outside the enum before running (GraphQL validation)', async () => {
    const before = await tableCounts(app);
    const response = await app.gql(AddMemberDocument, {
      input: { organizationId: UNKNOWN_ORGANIZATION, userId: UNKNOWN_USER, role: 'SUPERUSER' as MembershipRole },
    });
    expect(response.status).toBe(400);
    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(await tableCounts(app)).toEqual(before);
  });

  it('requires credentials: UNAUTHENTICATED with HTTP 401', async () => {
    const { organization, target } = await scene('OWNER');
    await expectRefusedAdd(null, { organizationId: organization.id, userId: target.id }, 'UNAUTHENTICATED', 401);
  });

  it('is visible on Organization.memberships straight away', async () => {
    const { organization, caller, target } = await scene('ADMIN');
    ok(await app.gql(AddMemberDocument, { input: { organizationId: organization.id, userId: target.id } }));
    const page = ok(await app.gql(GetOrganizationDocument, { id: organization.id }, { token: caller.token })).organization!
      .memberships;
    expect(page.totalCount).toBe(2);
    expect(page.nodes.map((node) => node.user.id).sort()).toEqual([caller.user.id, target.id].sort());
  });
});

describe('removeMember', () => {
  async function expectRemoved(token: string, organizationId: string, userId: string) {
    const [row] = await membershipRow(organizationId, userId);
    expect(row).toBeDefined();
    const before = await tableCounts(app);
    const removed = ok(await app.gql(RemoveMemberDocument, { organizationId, userId }, { token })).removeMember;
    expect(removed).toEqual({ id: row.id, organizationId, userId, role: row.role });
    expect(await membershipRow(organizationId, userId)).toEqual([]);
    expect(await tableCounts(app)).toEqual({ ...before, memberships: before.memberships - 1 });
    return removed;
  }

  async function expectRefusedRemove(token: string | null, organizationId: string, userId: string, code: string, status = 200) {
    const rows = await app.sql('SELECT id, role FROM memberships ORDER BY id');
    const response = await expectRefused(app, RemoveMemberDocument, { organizationId, userId }, { token, code, status });
    expect(await app.sql('SELECT id, role FROM memberships ORDER BY id')).toEqual(rows);
    return response;
  }

  it('as the admin: removes any membership and returns what was removed', async () => {
    const { f, organization, target } = await scene('OWNER');
    await f.member(organization.id, target.id, 'ADMIN');
    const removed = await expectRemoved(app.adminKey, organization.id, target.id);
    expect(removed.role).toBe('ADMIN');
  });

  it.each<[MembershipRole, MembershipRole]>([
    ['OWNER', 'OWNER'],
    ['OWNER', 'ADMIN'],
    ['OWNER', 'MEMBER'],
    ['ADMIN', 'ADMIN'],
    ['ADMIN', 'MEMBER'],
  ])('an %s of the organization may remove a %s', async (callerRole, role) => {
    const { f, organization, caller, target } = await scene(callerRole);
    if (callerRole !== 'OWNER') await f.member(organization.id, (await f.user()).id, 'OWNER');
    await f.member(organization.id, target.id, role);
    await expectRemoved(caller.token, organization.id, target.id);
  });

  it('an OWNER may remove themselves while another OWNER remains', async () => {
    const { f, organization, caller, target } = await scene('OWNER');
    await f.member(organization.id, target.id, 'OWNER');
    await expectRemoved(caller.token, organization.id, caller.user.id);
  });

  it('a MEMBER gets FORBIDDEN, even for another MEMBER or themselves, and nothing changes', async () => {
    const { f, organization, caller, target } = await scene('MEMBER');
    await f.member(organization.id, target.id, 'MEMBER');
    await expectRefusedRemove(caller.token, organization.id, target.id, 'FORBIDDEN');
    await expectRefusedRemove(caller.token, organization.id, caller.user.id, 'FORBIDDEN');
  });

  it('an ADMIN removing an OWNER gets FORBIDDEN and nothing changes', async () => {
    const { f, organization, caller, target } = await scene('ADMIN');
    await f.member(organization.id, target.id, 'OWNER');
    await expectRefusedRemove(caller.token, organization.id, target.id, 'FORBIDDEN');
  });

  it('a caller who is not a member gets NOT_FOUND and nothing changes', async () => {
    const { f, organization, target } = await scene('OWNER');
    await f.member(organization.id, target.id, 'MEMBER');
    const stranger = await outsider();
    await expectRefusedRemove(stranger.token, organization.id, target.id, 'NOT_FOUND');
    await expectRefusedRemove(stranger.token, organization.id, UNKNOWN_USER, 'NOT_FOUND');
    await expectRefusedRemove(stranger.token, UNKNOWN_ORGANIZATION, target.id, 'NOT_FOUND');
  });

  it('removing the last OWNER is a CONFLICT, for the admin and for that OWNER, and nothing changes', async () => {
    const { f, organization, caller } = await scene('OWNER');
    await f.member(organization.id, (await f.user()).id, 'ADMIN');
    await expectRefusedRemove(app.adminKey, organization.id, caller.user.id, 'CONFLICT');
    await expectRefusedRemove(caller.token, organization.id, caller.user.id, 'CONFLICT');
    expect(await membershipRow(organization.id, caller.user.id)).toEqual([expect.objectContaining({ role: 'OWNER' })]);
  });

  it('answers NOT_FOUND when the user is not a member, or the user or organization is unknown', async () => {
    const { organization, caller, target } = await scene('OWNER');
    await expectRefusedRemove(app.adminKey, organization.id, target.id, 'NOT_FOUND');
    await expectRefusedRemove(caller.token, organization.id, target.id, 'NOT_FOUND');
    await expectRefusedRemove(app.adminKey, organization.id, UNKNOWN_USER, 'NOT_FOUND');
    await expectRefusedRemove(app.adminKey, UNKNOWN_ORGANIZATION, target.id, 'NOT_FOUND');
  });

  it.each([
    ['a user ID as organizationId', UNKNOWN_USER, UNKNOWN_USER, 'organizationId'],
    ['a malformed organizationId', 'nope', UNKNOWN_USER, 'organizationId'],
    ['an organization ID as userId', UNKNOWN_ORGANIZATION, UNKNOWN_ORGANIZATION, 'userId'],
    ['a malformed userId', UNKNOWN_ORGANIZATION, 'usr_', 'userId'],
  ])('refuses %s with BAD_USER_INPUT naming the argument', async (_label, organizationId, userId, field) => {
    const response = await expectRefusedRemove(app.adminKey, organizationId, userId, 'BAD_USER_INPUT');
    expect(fieldsOf(response)).toEqual([field]);
  });

  it('requires credentials: UNAUTHENTICATED with HTTP 401', async () => {
    const { f, organization, target } = await scene('OWNER');
    await f.member(organization.id, target.id);
    await expectRefusedRemove(null, organization.id, target.id, 'UNAUTHENTICATED', 401);
  });
});
