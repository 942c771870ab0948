import { GetOrganizationDocument, GetUserDocument, ListUsersDocument, RemoveMemberDocument, ViewerDocument } from '../src/generated/graphql';
import { startTestApp, type TestApp } from './support/app';
import { errorCode, factory, ok } from './support/factory';

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app.close());

/**
 * alice and bob share `shared`; bob and carol share `bobs`; dave is alone in `daves`.
 * Everyone has an active session. alice is the session user under test.
 */
async function world() {
  const f = factory(app);
  const shared = await f.organization({ name: 'Shared' });
  const bobs = await f.organization({ name: 'Bobs' });
  const daves = await f.organization({ name: 'Daves' });
  const alice = await f.signedInMember(shared.id, 'MEMBER');
  const bob = await f.signedInMember(shared.id, 'ADMIN');
  await f.member(bobs.id, bob.user.id, 'OWNER');
  const carol = await f.signedInMember(bobs.id, 'MEMBER');
  const dave = await f.signedInMember(daves.id, 'OWNER');
  return { f, shared, bobs, daves, alice, bob, carol, dave };
}

describe('what a session user can read', () => {
  it('themselves, with their memberships and their own sessions', async () => {
    const { shared, alice } = await world();
    const me = ok(await app.gql(GetUserDocument, { id: alice.user.id }, { token: alice.token })).user;
    expect(me).toMatchObject({ id: alice.user.id, email: alice.user.email });
    expect(me?.memberships.map((m) => [m.organization.id, m.role])).toEqual([[shared.id, 'MEMBER']]);
    expect(me?.sessions).toEqual([
      expect.objectContaining({ id: alice.session.id, status: 'ACTIVE', organization: { id: shared.id } }),
    ]);
  });

  it('people who share an organization with them, but only the shared memberships and none of their sessions', async () => {
    const { shared, bob, alice } = await world();
    const [{ count }] = await app.sql<{ count: number }>('SELECT count(*)::int AS count FROM memberships WHERE user_id = $1', [bob.user.id]);
    expect(count).toBe(2);
    expect(await app.sql('SELECT id FROM sessions WHERE user_id = $1', [bob.user.id])).toEqual([{ id: bob.session.id }]);

    const seen = ok(await app.gql(GetUserDocument, { id: bob.user.id }, { token: alice.token })).user;
    expect(seen).toMatchObject({ id: bob.user.id, email: bob.user.email });
    expect(seen?.memberships.map((m) => [m.organization.id, m.role])).toEqual([[shared.id, 'ADMIN']]);
    expect(seen?.sessions).toEqual([]);
  });

  it('not others: user(id) is null for someone sharing no organization, and for an unknown ID', async () => {
    const { alice, carol, dave } = await world();
    for (const id of [carol.user.id, dave.user.id, 'usr_01ARZ3NDEKTSV4RRFFQ69G5FAV']) {
      const response = await app.gql(GetUserDocument, { id }, { token: alice.token });
      expect(response.errors).toBeUndefined();
      expect(response.data?.user).toBeNull();
    }
    // The admin sees them, so the nulls above are about visibility, not existence.
    expect(ok(await app.gql(GetUserDocument, { id: carol.user.id })).user?.id).toBe(carol.user.id);
  });

  it('loses sight of a former co-member once the shared membership is gone', async () => {
    const { shared, alice, bob } = await world();
    expect(ok(await app.gql(GetUserDocument, { id: alice.user.id }, { token: bob.token })).user?.id).toBe(alice.user.id);
    ok(await app.gql(RemoveMemberDocument, { organizationId: shared.id, userId: alice.user.id }, { token: bob.token }));
    expect(ok(await app.gql(GetUserDocument, { id: alice.user.id }, { token: bob.token })).user).toBeNull();
    expect(ok(await app.gql(GetOrganizationDocument, { id: shared.id }, { token: alice.token })).organization).toBeNull();
    // alice's own session still names `shared` as its context, but she may no longer see it.
    const me = ok(await app.gql(GetUserDocument, { id: alice.user.id }, { token: alice.token })).user;
    expect(me?.memberships).toEqual([]);
    expect(me?.sessions).toEqual([expect.objectContaining({ id: alice.session.id, organization: null })]);
    expect(await app.sql('SELECT organization_id FROM sessions WHERE id = $1', [alice.session.id])).toEqual([
      { organization_id: shared.id },
    ]);
  });

  it('organizations they belong to, with their members; other organizations read as null', async () => {
    const { shared, bobs, daves, alice, bob } = await world();
    const organization = ok(await app.gql(GetOrganizationDocument, { id: shared.id }, { token: alice.token })).organization;
    expect(organization?.memberships.nodes.map((m) => m.user.id).sort()).toEqual([alice.user.id, bob.user.id].sort());
    for (const id of [bobs.id, daves.id]) {
      expect(ok(await app.gql(GetOrganizationDocument, { id }, { token: alice.token })).organization).toBeNull();
    }
  });

  it('still gets BAD_USER_INPUT for a malformed ID and FORBIDDEN for the admin-only users list', async () => {
    const { alice } = await world();
    const malformed = await app.gql(GetUserDocument, { id: 'usr_bad' }, { token: alice.token });
    expect(errorCode(malformed)).toBe('BAD_USER_INPUT');
    const list = await app.gql(ListUsersDocument, {}, { token: alice.token });
    expect(errorCode(list)).toBe('FORBIDDEN');
    expect(list.data ?? null).toBeNull();
  });

  it('nested reads are filtered the same way as top-level ones', async () => {
    const { shared, alice, bob, carol } = await world();
    // From alice, through `shared`, to bob's memberships: only `shared` shows; carol never appears.
    const response = await app.gql<
      {
        organization: {
          memberships: { nodes: Array<{ user: { id: string; memberships: Array<{ organization: { id: string } }>; sessions: Array<{ id: string }> } }> };
        } | null;
      },
      { id: string }
    >(
      `query ($id: ID!) { organization(id: $id) { memberships { nodes { user { id memberships { organization { id } } sessions { id } } } } } }`,
      { id: shared.id },
      { token: alice.token },
    );
    const users = ok(response).organization!.memberships.nodes.map((n) => n.user);
    const bobSeen = users.find((u) => u.id === bob.user.id)!;
    expect(bobSeen.memberships.map((m) => m.organization.id)).toEqual([shared.id]);
    expect(bobSeen.sessions).toEqual([]);
    const aliceSeen = users.find((u) => u.id === alice.user.id)!;
    expect(aliceSeen.sessions).toEqual([{ id: alice.session.id }]);
    expect(JSON.stringify(response.data)).not.toContain(carol.user.id);
  });
});

describe('viewer', () => {
  it('for the admin: kind ADMIN, no user, no session', async () => {
    expect(ok(await app.gql(ViewerDocument, {})).viewer).toEqual({ kind: 'ADMIN', user: null, session: null });
  });

  it('for a session: kind SESSION, the signed-in user and the session used', async () => {
    const { alice } = await world();
    expect(ok(await app.gql(ViewerDocument, {}, { token: alice.token })).viewer).toEqual({
      kind: 'SESSION',
      user: { id: alice.user.id, email: alice.user.email },
      session: { id: alice.session.id, status: 'ACTIVE' },
    });
  });

  it('without credentials: HTTP 401 UNAUTHENTICATED', async () => {
    const response = await app.gql(ViewerDocument, {}, { token: null });
    expect(response.status).toBe(401);
    expect(errorCode(response)).toBe('UNAUTHENTICATED');
  });
});
