import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import {
  AddMemberDocument,
  AddOrganizationDomainDocument,
  DeleteUserDocument,
  FindOrganizationsDocument,
  GetOrganizationDocument,
  GetUserDocument,
  InviteMemberDocument,
  RemoveMemberDocument,
  RemoveOrganizationDomainDocument,
  RevokeInvitationDocument,
  UpdateMemberRoleDocument,
  UpdateOrganizationDocument,
  VerifyOrganizationDomainDocument,
} from '../src/generated/graphql';
import { CreateSessionDocument } from './generated/graphql';
import { startTestApp, type GraphQLResponse, type TestApp } from './support/app';
import { twoOrganizations } from './support/deletion-fixtures';
import { errorCode, factory, invariantViolations, ok, tableFingerprints } from './support/factory';
import { asKey, createApiKey } from './support/keys';

/**
 * Issue 15, step 1: once an organization is marked as being deleted
 * (organizations.deletion_job_id set, here straight in SQL, as the scheduling transaction
 * does), it reads as gone and takes no writes. Reads return nothing of it: organization(id)
 * is null, lists and lookups skip it, its memberships and invitations are listed nowhere.
 * Every write that names it answers NOT_FOUND, as for an organization that does not exist,
 * and changes nothing. Its members' other organizations, and every other organization, read
 * and take writes exactly as before; deleteUser of a member stays allowed.
 */

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app.close());

const ORGANIZATION = `query Organization($id: ID!) {
  organization(id: $id) {
    id name externalId settings
    domains { domain verified }
    memberships(first: 100) { totalCount nodes { id role user { id email } } }
    invitations(first: 100) { totalCount nodes { id email role status } }
  }
}`;

const ORGANIZATIONS = `query Organizations($after: String) {
  organizations(first: 100, after: $after) { totalCount pageInfo { hasNextPage endCursor } nodes { id } }
}`;

const VIEWER = `query Me {
  viewer {
    user { id memberships { id role organization { id name } } }
    session { id organization { id } }
    invitations(first: 100) { totalCount nodes { id role organization { id name } } }
  }
}`;

const ACCEPT = `mutation AcceptInvitation($id: ID!) { acceptInvitation(id: $id) { id role organization { id } } }`;
const DECLINE = `mutation DeclineInvitation($id: ID!) { declineInvitation(id: $id) { id status } }`;

type AnyResponse = GraphQLResponse<any>;
const gql = (query: string, variables: Record<string, unknown> = {}, token?: string | null): Promise<AnyResponse> =>
  app.gql<any, Record<string, unknown>>(query, variables, { token });

/**
 * twoOrganizations (acme: owner OWNER, solo MEMBER, shared ADMIN; globex: shared and other
 * OWNERs; sessions for each), and around it: acme's externalId, its verified domain and an
 * unverified claim its OWNER made, a settings object; a pending invitation from each
 * organization to `invitee`, a signed-in user with no membership; `newcomer`, a user in no
 * organization; and a key that reads and writes organizations.
 */
async function world() {
  const base = await twoOrganizations(app);
  const { acme, globex, tokens } = base;
  const f = factory(app);
  const tag = randomBytes(3).toString('hex');
  const externalId = `ext-acme-${tag}`;
  const verifiedDomain = acme.domains[0].domain;
  const claim = `claim-${tag}.example.com`;
  ok(await app.gql(UpdateOrganizationDocument, { input: { id: acme.id, externalId, settings: { plan: 'gold' } } }));
  ok(await app.gql(AddOrganizationDomainDocument, { organizationId: acme.id, domain: claim }, { token: tokens.owner }));
  const invitee = await f.user();
  const inviteeToken = (await f.session(invitee.id)).token;
  const toAcme = ok(await app.gql(InviteMemberDocument, { input: { organizationId: acme.id, email: invitee.email } })).inviteMember;
  const toGlobex = ok(await app.gql(InviteMemberDocument, { input: { organizationId: globex.id, email: invitee.email } }))
    .inviteMember;
  const newcomer = await f.user();
  const key = (await createApiKey(app, ['ORGANIZATIONS_READ', 'ORGANIZATIONS_WRITE', 'USERS_READ'])).secret;
  return { ...base, tag, externalId, verifiedDomain, claim, invitee, inviteeToken, toAcme, toGlobex, newcomer, key };
}

/** What the scheduling transaction of issue 15 does to the organization row. */
async function markBeingDeleted(organizationId: string): Promise<void> {
  await app.sql(`UPDATE organizations SET deletion_job_id = 'djb_test' WHERE id = $1`, [organizationId]);
}

/** Every organization ID organizations() lists to this caller, page by page, and its totalCount. */
async function listedOrganizations(token?: string): Promise<{ ids: string[]; totalCount: number }> {
  const ids: string[] = [];
  let after: string | null = null;
  let totalCount = 0;
  for (;;) {
    const page: any = ok(await gql(ORGANIZATIONS, { after }, token)).organizations;
    ids.push(...page.nodes.map((node: { id: string }) => node.id));
    totalCount = page.totalCount;
    if (!page.pageInfo.hasNextPage) return { ids, totalCount };
    after = page.pageInfo.endCursor;
  }
}

const membershipOrganizations = (user: { memberships: Array<{ organization: { id: string } }> } | null | undefined) =>
  (user?.memberships ?? []).map((membership) => membership.organization.id).sort();

describe('an organization being deleted reads as gone', () => {
  it('organization(id) is null for the admin, keys and its own members; the other organization reads exactly as before', async () => {
    const w = await world();
    const globexBefore = ok(await gql(ORGANIZATION, { id: w.globex.id }));
    const globexAsShared = ok(await gql(ORGANIZATION, { id: w.globex.id }, w.tokens.shared));
    expect(ok(await gql(ORGANIZATION, { id: w.acme.id })).organization).toMatchObject({ id: w.acme.id });
    expect(ok(await asKey(app, w.key, 'GetOrganization', { id: w.acme.id })).organization).toMatchObject({ id: w.acme.id });

    await markBeingDeleted(w.acme.id);

    for (const token of [undefined, w.tokens.owner, w.tokens.solo, w.tokens.shared]) {
      const response = await gql(ORGANIZATION, { id: w.acme.id }, token);
      expect(response.errors).toBeUndefined();
      expect(response.data).toEqual({ organization: null });
    }
    const byKey = await asKey(app, w.key, 'GetOrganization', { id: w.acme.id });
    expect(byKey.errors).toBeUndefined();
    expect(byKey.data).toEqual({ organization: null });
    expect(ok(await gql(ORGANIZATION, { id: w.globex.id }))).toEqual(globexBefore);
    expect(ok(await gql(ORGANIZATION, { id: w.globex.id }, w.tokens.shared))).toEqual(globexAsShared);
    // Only hidden: every row is still there, for the deletion job to remove.
    const [row] = await app.sql<{ deletion_job_id: string; members: number; domains: number; invitations: number }>(
      `SELECT o.deletion_job_id,
              (SELECT count(*)::int FROM memberships WHERE organization_id = o.id) AS members,
              (SELECT count(*)::int FROM organization_domains WHERE organization_id = o.id) AS domains,
              (SELECT count(*)::int FROM invitations WHERE organization_id = o.id) AS invitations
         FROM organizations o WHERE o.id = $1`,
      [w.acme.id],
    );
    expect(row).toEqual({ deletion_job_id: 'djb_test', members: 3, domains: 2, invitations: 1 });
  });

  it('organizations() skips it, for the admin and for its members, and lookups by externalId or verified domain find nothing', async () => {
    const w = await world();
    expect((await listedOrganizations()).ids).toContain(w.acme.id);
    const byExternalId = { filter: { externalId: w.externalId } };
    const byDomain = { filter: { domain: w.verifiedDomain } };
    expect(ok(await app.gql(FindOrganizationsDocument, byExternalId)).organizations.nodes.map((o) => o.id)).toEqual([w.acme.id]);
    expect(ok(await app.gql(FindOrganizationsDocument, byDomain)).organizations.nodes.map((o) => o.id)).toEqual([w.acme.id]);

    await markBeingDeleted(w.acme.id);

    const all = await listedOrganizations();
    const [{ visible }] = await app.sql<{ visible: number }>(
      `SELECT count(*)::int AS visible FROM organizations WHERE deletion_job_id IS NULL`,
    );
    expect(all.ids).not.toContain(w.acme.id);
    expect(all.ids).toContain(w.globex.id);
    expect(all).toEqual({ ids: expect.any(Array), totalCount: visible });
    expect(all.ids).toHaveLength(visible);
    expect(ok(await app.gql(FindOrganizationsDocument, byExternalId)).organizations.nodes).toEqual([]);
    expect(ok(await app.gql(FindOrganizationsDocument, byDomain)).organizations.nodes).toEqual([]);
    expect(ok(await asKey<any>(app, w.key, 'FindOrganizations', byExternalId)).organizations.nodes).toEqual([]);
    expect(ok(await asKey<any>(app, w.key, 'FindOrganizations', byDomain)).organizations.nodes).toEqual([]);
    expect(await listedOrganizations(w.tokens.owner)).toEqual({ ids: [], totalCount: 0 });
    expect(await listedOrganizations(w.tokens.solo)).toEqual({ ids: [], totalCount: 0 });
    expect(await listedOrganizations(w.tokens.shared)).toEqual({ ids: [w.globex.id], totalCount: 1 });
  });

  it("its memberships are listed nowhere; a member's other organization and memberships stay fully visible", async () => {
    const w = await world();
    expect(membershipOrganizations(ok(await app.gql(GetUserDocument, { id: w.shared.id })).user)).toEqual(
      [w.acme.id, w.globex.id].sort(),
    );
    // Before: shared sees owner and solo through acme.
    expect(ok(await app.gql(GetUserDocument, { id: w.owner.id }, { token: w.tokens.shared })).user?.id).toBe(w.owner.id);
    const otherAsShared = ok(await app.gql(GetUserDocument, { id: w.other.id }, { token: w.tokens.shared })).user;

    await markBeingDeleted(w.acme.id);

    // The admin: user.memberships without acme's.
    expect(membershipOrganizations(ok(await app.gql(GetUserDocument, { id: w.shared.id })).user)).toEqual([w.globex.id]);
    for (const user of [w.owner, w.solo]) {
      const read = ok(await app.gql(GetUserDocument, { id: user.id })).user;
      expect(read?.memberships).toEqual([]);
      // Their sessions are still theirs (the job ends them); the one in acme's context names no organization.
      expect(read?.sessions.filter((s) => s.status === 'ACTIVE')).toHaveLength(2);
      expect(read?.sessions.map((s) => s.organization)).toEqual([null, null, null]);
    }
    const byKey = await asKey<any>(app, w.key, 'GetUser', { id: w.shared.id });
    expect(membershipOrganizations(ok(byKey).user)).toEqual([w.globex.id]);

    // shared, signed in: only globex, its people and their globex memberships.
    const me = ok(await gql(VIEWER, {}, w.tokens.shared)).viewer;
    expect(membershipOrganizations(me.user)).toEqual([w.globex.id]);
    expect(me.session.organization).toEqual({ id: w.globex.id });
    for (const id of [w.owner.id, w.solo.id]) {
      const response = await app.gql(GetUserDocument, { id }, { token: w.tokens.shared });
      expect(response.errors).toBeUndefined();
      expect(response.data?.user).toBeNull();
    }
    expect(ok(await app.gql(GetUserDocument, { id: w.other.id }, { token: w.tokens.shared })).user).toEqual(otherAsShared);
    const globex = ok(await gql(ORGANIZATION, { id: w.globex.id }, w.tokens.shared)).organization;
    expect(globex.memberships.totalCount).toBe(2);
    expect(globex.memberships.nodes.map((m: { user: { id: string } }) => m.user.id).sort()).toEqual([w.shared.id, w.other.id].sort());

    // owner, signed in with acme as the session's context: no organization, no memberships, nobody else.
    const owner = ok(await gql(VIEWER, {}, w.tokens.owner)).viewer;
    expect(owner.user).toEqual({ id: w.owner.id, memberships: [] });
    expect(owner.session.organization).toBeNull();
    expect(ok(await app.gql(GetUserDocument, { id: w.solo.id }, { token: w.tokens.owner })).user).toBeNull();
  });

  it('its invitations are not listed to the invitee; the other organization\'s invitation is', async () => {
    const w = await world();
    const before = ok(await gql(VIEWER, {}, w.inviteeToken)).viewer.invitations;
    expect(before.nodes.map((i: { id: string }) => i.id).sort()).toEqual([w.toAcme.id, w.toGlobex.id].sort());

    await markBeingDeleted(w.acme.id);

    const after = ok(await gql(VIEWER, {}, w.inviteeToken)).viewer.invitations;
    expect(after).toEqual({
      totalCount: 1,
      nodes: [{ id: w.toGlobex.id, role: 'MEMBER', organization: { id: w.globex.id, name: w.globex.name } }],
    });
    // Still stored, pending: hidden, not decided.
    expect(await app.sql(`SELECT status FROM invitations WHERE id = $1`, [w.toAcme.id])).toEqual([{ status: 'PENDING' }]);
  });
});

describe('an organization being deleted takes no writes: NOT_FOUND, nothing changed', () => {
  type World = Awaited<ReturnType<typeof world>>;
  const cases: Array<[string, (w: World) => Promise<AnyResponse>]> = [
    // The admin.
    ['admin updateOrganization (name)', (w) => app.gql(UpdateOrganizationDocument, { input: { id: w.acme.id, name: 'Renamed' } })],
    ['admin updateOrganization (settings)', (w) => app.gql(UpdateOrganizationDocument, { input: { id: w.acme.id, settings: {} } })],
    ['admin addMember', (w) => app.gql(AddMemberDocument, { input: { organizationId: w.acme.id, userId: w.newcomer.id } })],
    ['admin addMember of a member of another organization', (w) =>
      app.gql(AddMemberDocument, { input: { organizationId: w.acme.id, userId: w.other.id, role: 'OWNER' } })],
    ['admin removeMember', (w) => app.gql(RemoveMemberDocument, { organizationId: w.acme.id, userId: w.solo.id })],
    ['admin updateMemberRole', (w) =>
      app.gql(UpdateMemberRoleDocument, { input: { organizationId: w.acme.id, userId: w.solo.id, role: 'ADMIN' } })],
    ['admin inviteMember', (w) => app.gql(InviteMemberDocument, { input: { organizationId: w.acme.id, email: `new-${w.tag}@example.com` } })],
    ['admin inviteMember of an address already invited', (w) =>
      app.gql(InviteMemberDocument, { input: { organizationId: w.acme.id, email: w.invitee.email } })],
    ['admin revokeInvitation', (w) => app.gql(RevokeInvitationDocument, { id: w.toAcme.id })],
    ['admin addOrganizationDomain', (w) => app.gql(AddOrganizationDomainDocument, { organizationId: w.acme.id, domain: `more-${w.tag}.example.com` })],
    ['admin verifyOrganizationDomain', (w) => app.gql(VerifyOrganizationDomainDocument, { organizationId: w.acme.id, domain: w.claim })],
    ['admin removeOrganizationDomain', (w) =>
      app.gql(RemoveOrganizationDomainDocument, { organizationId: w.acme.id, domain: w.verifiedDomain })],
    ['admin createSession in its context', (w) => app.gql(CreateSessionDocument, { input: { userId: w.solo.id, organizationId: w.acme.id } })],
    ['admin createSession in its context for a member of another organization too', (w) =>
      app.gql(CreateSessionDocument, { input: { userId: w.shared.id, organizationId: w.acme.id } })],
    // A key with ORGANIZATIONS_WRITE, by trusted document.
    ['key addMember', (w) => asKey(app, w.key, 'AddMember', { input: { organizationId: w.acme.id, userId: w.newcomer.id } })],
    ['key updateOrganization', (w) => asKey(app, w.key, 'UpdateOrganization', { input: { id: w.acme.id, name: 'Renamed' } })],
    ['key inviteMember', (w) =>
      asKey(app, w.key, 'InviteMember', { input: { organizationId: w.acme.id, email: `key-${w.tag}@example.com` } })],
    ['key addOrganizationDomain', (w) =>
      asKey(app, w.key, 'AddOrganizationDomain', { organizationId: w.acme.id, domain: `key-${w.tag}.example.com` })],
    // Its OWNER and its ADMIN, signed in.
    ['OWNER updateOrganization', (w) =>
      app.gql(UpdateOrganizationDocument, { input: { id: w.acme.id, name: 'Renamed' } }, { token: w.tokens.owner })],
    ['OWNER inviteMember', (w) =>
      app.gql(InviteMemberDocument, { input: { organizationId: w.acme.id, email: `o-${w.tag}@example.com` } }, { token: w.tokens.owner })],
    ['OWNER removeMember', (w) =>
      app.gql(RemoveMemberDocument, { organizationId: w.acme.id, userId: w.solo.id }, { token: w.tokens.owner })],
    ['OWNER updateMemberRole', (w) =>
      app.gql(
        UpdateMemberRoleDocument,
        { input: { organizationId: w.acme.id, userId: w.solo.id, role: 'OWNER' } },
        { token: w.tokens.owner },
      )],
    ['OWNER revokeInvitation', (w) => app.gql(RevokeInvitationDocument, { id: w.toAcme.id }, { token: w.tokens.owner })],
    ['OWNER addOrganizationDomain', (w) =>
      app.gql(AddOrganizationDomainDocument, { organizationId: w.acme.id, domain: `o-${w.tag}.example.com` }, { token: w.tokens.owner })],
    ['OWNER removeOrganizationDomain (its own claim)', (w) =>
      app.gql(RemoveOrganizationDomainDocument, { organizationId: w.acme.id, domain: w.claim }, { token: w.tokens.owner })],
    ['ADMIN (a member of another organization too) inviteMember', (w) =>
      app.gql(InviteMemberDocument, { input: { organizationId: w.acme.id, email: `a-${w.tag}@example.com` } }, { token: w.tokens.shared })],
    // The invitee.
    ['invitee acceptInvitation', (w) => gql(ACCEPT, { id: w.toAcme.id }, w.inviteeToken)],
    ['invitee declineInvitation', (w) => gql(DECLINE, { id: w.toAcme.id }, w.inviteeToken)],
  ];

  it.each(cases)('%s', async (_label, send) => {
    const w = await world();
    await markBeingDeleted(w.acme.id);
    const before = await tableFingerprints(app);
    const response = await send(w);
    expect(response.errors).toHaveLength(1);
    expect(errorCode(response)).toBe('NOT_FOUND');
    expect(response.status).toBe(200);
    expect(response.data ?? null).toBeNull();
    // Nothing at all changed: every row of every table is as it was (events included).
    expect(await tableFingerprints(app)).toEqual(before);
  });

  it('the same writes on the other organization, and a session without a context, still go through', async () => {
    const w = await world();
    await markBeingDeleted(w.acme.id);
    ok(await app.gql(UpdateOrganizationDocument, { input: { id: w.globex.id, name: `Globex ${w.tag} renamed` } }));
    const added = ok(await app.gql(AddMemberDocument, { input: { organizationId: w.globex.id, userId: w.newcomer.id } })).addMember;
    ok(await app.gql(UpdateMemberRoleDocument, { input: { organizationId: w.globex.id, userId: w.newcomer.id, role: 'ADMIN' } }));
    ok(await app.gql(InviteMemberDocument, { input: { organizationId: w.globex.id, email: `g-${w.tag}@example.com` } }, { token: w.tokens.shared }));
    ok(await app.gql(AddOrganizationDomainDocument, { organizationId: w.globex.id, domain: `globex-${w.tag}.example.com` }));
    const inGlobex = ok(await app.gql(CreateSessionDocument, { input: { userId: w.shared.id, organizationId: w.globex.id } }))
      .createSession;
    expect(inGlobex.session.organization).toEqual({ id: w.globex.id });
    ok(await app.gql(CreateSessionDocument, { input: { userId: w.owner.id } }));
    const joined = ok(await gql(ACCEPT, { id: w.toGlobex.id }, w.inviteeToken)).acceptInvitation;
    expect(joined.organization).toEqual({ id: w.globex.id });

    const members = await app.sql<{ user_id: string; role: string }>(
      `SELECT user_id, role FROM memberships WHERE organization_id = $1 ORDER BY user_id`,
      [w.globex.id],
    );
    expect(members).toEqual(
      [
        { user_id: w.shared.id, role: 'OWNER' },
        { user_id: w.other.id, role: 'OWNER' },
        { user_id: w.newcomer.id, role: 'ADMIN' },
        { user_id: w.invitee.id, role: 'MEMBER' },
      ].sort((a, b) => (a.user_id < b.user_id ? -1 : 1)),
    );
    expect(added.id).toEqual(expect.any(String));
    // acme itself: untouched by all of this.
    expect(
      await app.sql(`SELECT count(*)::int AS n FROM memberships WHERE organization_id = $1`, [w.acme.id]),
    ).toEqual([{ n: 3 }]);
    expect(await invariantViolations(app)).toEqual([]);
  });

  it('deleteUser of one of its members stays allowed: it removes that person, the organization stays marked', async () => {
    const w = await world();
    await markBeingDeleted(w.acme.id);
    const deleted = ok(await app.gql(DeleteUserDocument, { id: w.solo.id })).deleteUser;
    expect(deleted.deletedUserId).toBe(w.solo.id);
    expect(await app.sql(`SELECT id FROM users WHERE id = $1`, [w.solo.id])).toEqual([]);
    expect(
      await app.sql(`SELECT user_id FROM memberships WHERE organization_id = $1 ORDER BY user_id`, [w.acme.id]),
    ).toEqual([w.owner.id, w.shared.id].sort().map((user_id) => ({ user_id })));
    expect(await app.sql(`SELECT deletion_job_id FROM organizations WHERE id = $1`, [w.acme.id])).toEqual([
      { deletion_job_id: 'djb_test' },
    ]);
    expect(await invariantViolations(app)).toEqual([]);
  });
});

/**
 * The mark is checked on the organization row as locked: a write that waited for the
 * transaction that marks the organization (it holds the row: a non-key update) sees the
 * mark once it commits, not the snapshot its statement started with.
 */
describe('a write waiting for the organization while it is being marked', () => {
  async function waitingOnLock(watcher: Client, fragment: string): Promise<void> {
    for (let attempt = 0; attempt < 1000; attempt += 1) {
      const { rows } = await watcher.query(
        `SELECT 1 FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'identity-gateway'
            AND wait_event_type = 'Lock' AND query LIKE $1`,
        [`%${fragment}%`],
      );
      if (rows.length > 0) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error('the write never waited for the organization row');
  }

  it.each([
    ['addMember (organization FOR SHARE)', 'deletion_job_id IS NULL FOR SHARE', (w: Awaited<ReturnType<typeof world>>) =>
      app.gql(AddMemberDocument, { input: { organizationId: w.acme.id, userId: w.newcomer.id } })],
    ['updateOrganization (organization FOR NO KEY UPDATE)', 'deletion_job_id IS NULL FOR NO KEY UPDATE', (w: Awaited<ReturnType<typeof world>>) =>
      app.gql(UpdateOrganizationDocument, { input: { id: w.acme.id, name: 'Renamed' } })],
  ] as const)('%s answers NOT_FOUND once the marking commits, and writes nothing', async (_label, fragment, send) => {
    const w = await world();
    const locker = new Client({ connectionString: app.databaseUrl, application_name: 'being-deleted-marker' });
    const watcher = new Client({ connectionString: app.databaseUrl, application_name: 'being-deleted-watcher' });
    await locker.connect();
    await watcher.connect();
    try {
      await locker.query('BEGIN');
      await locker.query(`UPDATE organizations SET deletion_job_id = 'djb_test' WHERE id = $1`, [w.acme.id]);
      const pending = send(w);
      await waitingOnLock(watcher, fragment);
      const before = await tableFingerprints(app);
      await locker.query('COMMIT');
      const response = await pending;
      expect(errorCode(response)).toBe('NOT_FOUND');
      expect(response.data ?? null).toBeNull();
      // Only the marking's own change: the organization row, nothing else.
      const after = await tableFingerprints(app);
      expect({ ...after, organizations: undefined }).toEqual({ ...before, organizations: undefined });
      expect(await app.sql(`SELECT name, deletion_job_id FROM organizations WHERE id = $1`, [w.acme.id])).toEqual([
        { name: w.acme.name, deletion_job_id: 'djb_test' },
      ]);
      expect(await app.sql(`SELECT 1 FROM memberships WHERE user_id = $1`, [w.newcomer.id])).toEqual([]);
    } finally {
      await locker.query('ROLLBACK').catch(() => undefined);
      await locker.end();
      await watcher.end();
    }
  });
});
