import { GetOrganizationDocument, UpdateMemberRoleDocument, type MembershipRole } from '../src/generated/graphql';
import { startTestApp, type GraphQLResponse, type TestApp } from './support/app';
import {
  databaseSnapshot,
  errorCode,
  expectRefused,
  factory,
  fieldsOf,
  ok,
  tableCounts,
  UNKNOWN_ORGANIZATION,
  UNKNOWN_USER,
} from './support/factory';
import { asKey, createApiKey } from './support/keys';

/**
 * updateMemberRole (issue 9, "Roles and ownership"), over HTTP with the database checked
 * afterwards: who may change which role, bad input, and the last OWNER, for each kind of
 * caller. The rule itself is unit-tested in test/access.test.ts; races are in
 * test/ownership-races.test.ts.
 */
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app.close());

type Input = { organizationId: string; userId: string; role: MembershipRole };

async function rolesIn(organizationId: string): Promise<Record<string, string>> {
  const rows = await app.sql<{ user_id: string; role: string }>(
    `SELECT user_id, role FROM memberships WHERE organization_id = $1 ORDER BY user_id`,
    [organizationId],
  );
  return Object.fromEntries(rows.map((row) => [row.user_id, row.role]));
}

async function membershipRow(organizationId: string, userId: string) {
  const [row] = await app.sql<{ id: string; role: string; created_at: Date }>(
    `SELECT id, role, created_at FROM memberships WHERE organization_id = $1 AND user_id = $2`,
    [organizationId, userId],
  );
  return row;
}

/**
 * An organization with a signed-in OWNER, ADMIN and MEMBER, and a second OWNER when
 * `coOwner` (so that an OWNER may be demoted).
 */
async function organizationWithRoles({ coOwner = true } = {}) {
  const f = factory(app);
  const organization = await f.organization();
  const owner = await f.signedInMember(organization.id, 'OWNER');
  const otherOwner = coOwner ? await f.signedInMember(organization.id, 'OWNER') : undefined;
  const admin = await f.signedInMember(organization.id, 'ADMIN');
  const member = await f.signedInMember(organization.id, 'MEMBER');
  const admin2 = await f.signedInMember(organization.id, 'ADMIN');
  const member2 = await f.signedInMember(organization.id, 'MEMBER');
  return { f, organization, owner, otherOwner, admin, member, admin2, member2 };
}

/**
 * Sends the change as `token` and checks it: the payload, the row (same ID and creation
 * time, the new role), and no row of any other membership or table touched.
 */
async function expectChanged(token: string, input: Input) {
  const before = await membershipRow(input.organizationId, input.userId);
  expect(before.role).not.toBe(input.role);
  const othersBefore = await app.sql(`SELECT id, role FROM memberships WHERE id <> $1 ORDER BY id`, [before.id]);
  const counts = await tableCounts(app);
  const payload = ok(await app.gql(UpdateMemberRoleDocument, { input }, { token })).updateMemberRole;
  expect(payload).toMatchObject({ id: before.id, role: input.role, organization: { id: input.organizationId }, user: { id: input.userId } });
  expect(await membershipRow(input.organizationId, input.userId)).toEqual({ ...before, role: input.role });
  expect(await app.sql(`SELECT id, role FROM memberships WHERE id <> $1 ORDER BY id`, [before.id])).toEqual(othersBefore);
  expect(await tableCounts(app)).toEqual(counts);
}

describe('updateMemberRole: who may change which role', () => {
  it('the admin changes any role, OWNER included, without being a member', async () => {
    const { organization, owner, otherOwner, member } = await organizationWithRoles();
    for (const [userId, role] of [
      [member.user.id, 'ADMIN'],
      [member.user.id, 'OWNER'],
      [otherOwner!.user.id, 'MEMBER'],
      [owner.user.id, 'ADMIN'],
    ] as const) {
      await expectChanged(app.adminKey, { organizationId: organization.id, userId, role });
    }
  });

  it('an API key with ORGANIZATIONS_WRITE runs the trusted UpdateMemberRole; a key without it is FORBIDDEN', async () => {
    const { organization, member } = await organizationWithRoles();
    const input = { organizationId: organization.id, userId: member.user.id, role: 'ADMIN' as const };
    const without = await createApiKey(app, ['ORGANIZATIONS_READ', 'ORGANIZATIONS_DELETE', 'USERS_WRITE', 'SESSIONS_WRITE']);
    const before = await databaseSnapshot(app);
    expect(errorCode(await asKey(app, without.secret, 'UpdateMemberRole', { input }))).toBe('FORBIDDEN');
    expect(await databaseSnapshot(app)).toEqual(before);

    const key = await createApiKey(app, ['ORGANIZATIONS_WRITE']);
    const payload = ok(await asKey<{ updateMemberRole: { id: string; role: string } }>(app, key.secret, 'UpdateMemberRole', { input }))
      .updateMemberRole;
    expect(payload.role).toBe('ADMIN');
    expect((await membershipRow(organization.id, member.user.id)).role).toBe('ADMIN');
  });

  it.each<[MembershipRole, MembershipRole]>([
    ['MEMBER', 'ADMIN'],
    ['MEMBER', 'OWNER'],
    ['ADMIN', 'MEMBER'],
    ['ADMIN', 'OWNER'],
    ['OWNER', 'ADMIN'],
    ['OWNER', 'MEMBER'],
  ])('a signed-in OWNER changes a %s to %s', async (from, to) => {
    const scene = await organizationWithRoles();
    const target = { MEMBER: scene.member, ADMIN: scene.admin, OWNER: scene.otherOwner! }[from];
    const input = { organizationId: scene.organization.id, userId: target.user.id, role: to };
    await expectChanged(scene.owner.token, input);
  });

  it.each<[MembershipRole, MembershipRole]>([
    ['MEMBER', 'ADMIN'],
    ['ADMIN', 'MEMBER'],
  ])('a signed-in ADMIN changes a %s to %s', async (from, to) => {
    const scene = await organizationWithRoles();
    const target = from === 'MEMBER' ? scene.member : scene.admin2;
    const input = { organizationId: scene.organization.id, userId: target.user.id, role: to };
    await expectChanged(scene.admin.token, input);
  });

  it('a signed-in ADMIN may step down to MEMBER, and an OWNER to ADMIN while another OWNER remains', async () => {
    const scene = await organizationWithRoles();
    const id = scene.organization.id;
    const adminInput = { organizationId: id, userId: scene.admin.user.id, role: 'MEMBER' as const };
    await expectChanged(scene.admin.token, adminInput);
    const ownerInput = { organizationId: id, userId: scene.owner.user.id, role: 'ADMIN' as const };
    await expectChanged(scene.owner.token, ownerInput);
  });

  async function expectRefusedChange(token: string | null, input: Input, code: string, status = 200) {
    const before = await databaseSnapshot(app);
    const response = await expectRefused(app, UpdateMemberRoleDocument, { input }, { token, code, status });
    expect(await databaseSnapshot(app)).toEqual(before);
    return response;
  }

  it.each<[MembershipRole, MembershipRole]>([
    ['OWNER', 'ADMIN'],
    ['OWNER', 'MEMBER'],
    ['ADMIN', 'OWNER'],
    ['MEMBER', 'OWNER'],
  ])('a signed-in ADMIN changing a %s to %s gets FORBIDDEN (never to or from OWNER), nothing changes', async (from, to) => {
    const scene = await organizationWithRoles();
    const target = { MEMBER: scene.member, ADMIN: scene.admin2, OWNER: scene.otherOwner! }[from];
    const response = await expectRefusedChange(
      scene.admin.token,
      { organizationId: scene.organization.id, userId: target.user.id, role: to },
      'FORBIDDEN',
    );
    expect(response.errors?.[0]?.message).toMatch(/OWNER/);
  });

  it('a signed-in ADMIN cannot make themselves OWNER', async () => {
    const scene = await organizationWithRoles();
    await expectRefusedChange(
      scene.admin.token,
      { organizationId: scene.organization.id, userId: scene.admin.user.id, role: 'OWNER' },
      'FORBIDDEN',
    );
  });

  it.each<[string, MembershipRole]>([
    ['another MEMBER', 'ADMIN'],
    ['themselves', 'ADMIN'],
    ['themselves', 'OWNER'],
    ['an ADMIN', 'MEMBER'],
    ['an OWNER', 'MEMBER'],
  ])('a signed-in MEMBER changing %s to %s gets FORBIDDEN, nothing changes', async (whom, to) => {
    const scene = await organizationWithRoles();
    const target = { 'another MEMBER': scene.member2, themselves: scene.member, 'an ADMIN': scene.admin, 'an OWNER': scene.owner }[whom]!;
    await expectRefusedChange(scene.member.token, { organizationId: scene.organization.id, userId: target.user.id, role: to }, 'FORBIDDEN');
  });

  it('a signed-in caller who is not a member gets NOT_FOUND, the same whether the organization or member exists or not', async () => {
    const scene = await organizationWithRoles();
    const elsewhere = await scene.f.organization();
    const stranger = await scene.f.signedInMember(elsewhere.id, 'OWNER');
    const known = await expectRefusedChange(
      stranger.token,
      { organizationId: scene.organization.id, userId: scene.member.user.id, role: 'ADMIN' },
      'NOT_FOUND',
    );
    const unknownMember = await expectRefusedChange(
      stranger.token,
      { organizationId: scene.organization.id, userId: stranger.user.id, role: 'ADMIN' },
      'NOT_FOUND',
    );
    const unknown = await expectRefusedChange(
      stranger.token,
      { organizationId: UNKNOWN_ORGANIZATION, userId: scene.member.user.id, role: 'ADMIN' },
      'NOT_FOUND',
    );
    const shape = (response: GraphQLResponse<unknown>, id: string) => response.errors?.[0]?.message.replace(id, '<id>');
    expect(shape(known, scene.organization.id)).toBe(shape(unknown, UNKNOWN_ORGANIZATION));
    expect(shape(unknownMember, scene.organization.id)).toBe(shape(unknown, UNKNOWN_ORGANIZATION));
  });

  it('requires credentials: UNAUTHENTICATED with HTTP 401', async () => {
    const scene = await organizationWithRoles();
    await expectRefusedChange(null, { organizationId: scene.organization.id, userId: scene.member.user.id, role: 'ADMIN' }, 'UNAUTHENTICATED', 401);
  });

  it('the role a member already has: the membership comes back as it is and nothing is written', async () => {
    const scene = await organizationWithRoles({ coOwner: false });
    const id = scene.organization.id;
    for (const [token, target, role] of [
      [app.adminKey, scene.member, 'MEMBER'],
      [scene.owner.token, scene.owner, 'OWNER'], // the last OWNER "demoted" to OWNER is no demotion
      [scene.admin.token, scene.admin2, 'ADMIN'],
    ] as const) {
      const before = await databaseSnapshot(app);
      const row = await membershipRow(id, target.user.id);
      const payload = ok(await app.gql(UpdateMemberRoleDocument, { input: { organizationId: id, userId: target.user.id, role } }, { token }))
        .updateMemberRole;
      expect(payload).toMatchObject({ id: row.id, role, createdAt: row.created_at.toISOString() });
      expect(await databaseSnapshot(app)).toEqual(before);
    }
  });

  it('is visible on Organization.memberships straight away', async () => {
    const scene = await organizationWithRoles();
    ok(
      await app.gql(
        UpdateMemberRoleDocument,
        { input: { organizationId: scene.organization.id, userId: scene.member.user.id, role: 'ADMIN' } },
        { token: scene.owner.token },
      ),
    );
    const page = ok(await app.gql(GetOrganizationDocument, { id: scene.organization.id }, { token: scene.member.token })).organization!
      .memberships;
    expect(page.nodes.find((node) => node.user.id === scene.member.user.id)?.role).toBe('ADMIN');
  });
});

describe('updateMemberRole: bad input', () => {
  it.each([
    ['a user ID as organizationId', { organizationId: UNKNOWN_USER, userId: UNKNOWN_USER }, 'input.organizationId'],
    ['a malformed organizationId', { organizationId: 'org_nope', userId: UNKNOWN_USER }, 'input.organizationId'],
    ['an organization ID as userId', { organizationId: UNKNOWN_ORGANIZATION, userId: UNKNOWN_ORGANIZATION }, 'input.userId'],
    ['an empty userId', { organizationId: UNKNOWN_ORGANIZATION, userId: '' }, 'input.userId'],
  ])('refuses %s with BAD_USER_INPUT naming the field, for the admin and a session', async (_label, ids, field) => {
    const scene = await organizationWithRoles();
    for (const token of [app.adminKey, scene.owner.token]) {
      const response = await expectRefused(app, UpdateMemberRoleDocument, { input: { ...ids, role: 'ADMIN' } }, { token, code: 'BAD_USER_INPUT' });
      expect(fieldsOf(response)).toEqual([field]);
    }
  });

  it('refuses a role outside the enum, or none, before running (GraphQL validation)', async () => {
    const scene = await organizationWithRoles();
    const before = await tableCounts(app);
    for (const role of ['SUPERUSER', 'owner', null]) {
      const response = await app.gql(UpdateMemberRoleDocument, {
        input: { organizationId: scene.organization.id, userId: scene.member.user.id, role: role as MembershipRole },
      });
      expect(response.status).toBe(400);
      expect(errorCode(response)).toBe('BAD_USER_INPUT');
    }
    expect(await tableCounts(app)).toEqual(before);
  });

  it('answers NOT_FOUND for an unknown organization or user, or a user who is not a member, and writes nothing', async () => {
    const scene = await organizationWithRoles();
    const outsider = await scene.f.user();
    const cases: Array<[string, Input]> = [
      [app.adminKey, { organizationId: UNKNOWN_ORGANIZATION, userId: scene.member.user.id, role: 'ADMIN' }],
      [app.adminKey, { organizationId: scene.organization.id, userId: UNKNOWN_USER, role: 'ADMIN' }],
      [app.adminKey, { organizationId: scene.organization.id, userId: outsider.id, role: 'ADMIN' }],
      [scene.owner.token, { organizationId: scene.organization.id, userId: UNKNOWN_USER, role: 'ADMIN' }],
      [scene.owner.token, { organizationId: scene.organization.id, userId: outsider.id, role: 'OWNER' }],
    ];
    for (const [token, input] of cases) {
      const response = await expectRefused(app, UpdateMemberRoleDocument, { input }, { token, code: 'NOT_FOUND' });
      expect(response.errors?.[0]?.message).not.toContain(outsider.email);
    }
    // Nobody became a member by it.
    expect(await app.sql(`SELECT 1 FROM memberships WHERE user_id = $1`, [outsider.id])).toEqual([]);
  });
});

describe('updateMemberRole: the last OWNER is never demoted', () => {
  it.each(['ADMIN', 'MEMBER'] as const)('demoting the only OWNER to %s is CONFLICT for every caller, and nothing changes', async (role) => {
    const scene = await organizationWithRoles({ coOwner: false });
    const input = { organizationId: scene.organization.id, userId: scene.owner.user.id, role };
    const key = await createApiKey(app, ['ORGANIZATIONS_WRITE']);
    const roles = await rolesIn(scene.organization.id);
    // The admin, and the OWNER themselves.
    for (const token of [app.adminKey, scene.owner.token]) {
      const response = await expectRefusedChange(token, input, 'CONFLICT');
      expect(response.errors?.[0]?.message).toMatch(/last OWNER/);
      expect(response.errors?.[0]?.message).toMatch(/promote another member to OWNER/);
    }
    // A key with ORGANIZATIONS_WRITE.
    const before = await databaseSnapshot(app);
    expect(errorCode(await asKey(app, key.secret, 'UpdateMemberRole', { input }))).toBe('CONFLICT');
    expect(await databaseSnapshot(app)).toEqual(before);
    // An ADMIN is refused before that: FORBIDDEN, never to or from OWNER.
    await expectRefusedChange(scene.admin.token, input, 'FORBIDDEN');
    expect(await rolesIn(scene.organization.id)).toEqual(roles);
  });

  it('of two OWNERs one may demote the other; then the one left cannot demote themselves', async () => {
    const scene = await organizationWithRoles();
    const id = scene.organization.id;
    const first = { organizationId: id, userId: scene.otherOwner!.user.id, role: 'MEMBER' as const };
    await expectChanged(scene.owner.token, first);
    await expectRefusedChange(scene.owner.token, { organizationId: id, userId: scene.owner.user.id, role: 'ADMIN' }, 'CONFLICT');
    // Promote someone, and the first OWNER may step down.
    const promote = { organizationId: id, userId: scene.admin.user.id, role: 'OWNER' as const };
    await expectChanged(scene.owner.token, promote);
    const stepDown = { organizationId: id, userId: scene.owner.user.id, role: 'MEMBER' as const };
    await expectChanged(scene.owner.token, stepDown);
    const owners = Object.entries(await rolesIn(id)).filter(([, role]) => role === 'OWNER').map(([userId]) => userId);
    expect(owners).toEqual([scene.admin.user.id]);
  });

  async function expectRefusedChange(token: string | null, input: Input, code: string) {
    const before = await databaseSnapshot(app);
    const response = await expectRefused(app, UpdateMemberRoleDocument, { input }, { token, code });
    expect(await databaseSnapshot(app)).toEqual(before);
    return response;
  }
});
