import {
  CreateOrganizationDocument,
  GetOrganizationDocument,
  ListOrganizationsDocument,
  TerminateSessionDocument,
  type GetOrganizationQuery,
  type ListOrganizationsQuery,
} from '../src/generated/graphql';
import { startTestApp, type TestApp } from './support/app';
import { errorCode, factory, fieldsOf, ok, tableCounts, UNKNOWN_ORGANIZATION } from './support/factory';

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app.close());

/** A signed-in user who belongs to no organization yet. */
async function loneSessionUser() {
  const f = factory(app);
  const user = await f.user();
  const { token, session } = await f.session(user.id);
  return { user, token, session };
}

describe('createOrganization', () => {
  it('as the admin: stores the organization, its settings record and its domains (verified), with no membership', async () => {
    const before = await tableCounts(app);
    const organization = ok(
      await app.gql(CreateOrganizationDocument, {
        input: { name: '  Acme Corp  ', externalId: 'crm-42', domains: ['Acme.COM', 'acme.com', 'eu.acme.com'] },
      }),
    ).createOrganization;
    expect(organization.id).toMatch(/^org_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(organization).toMatchObject({
      name: 'Acme Corp',
      externalId: 'crm-42',
      domains: [
        { domain: 'acme.com', verified: true, createdAt: expect.any(String) },
        { domain: 'eu.acme.com', verified: true, createdAt: expect.any(String) },
      ],
    });

    expect(await app.sql('SELECT name, external_id FROM organizations WHERE id = $1', [organization.id])).toEqual([
      { name: 'Acme Corp', external_id: 'crm-42' },
    ]);
    expect(
      await app.sql('SELECT domain, verified FROM organization_domains WHERE organization_id = $1 ORDER BY domain', [
        organization.id,
      ]),
    ).toEqual([
      { domain: 'acme.com', verified: true },
      { domain: 'eu.acme.com', verified: true },
    ]);
    expect(await app.sql('SELECT data FROM organization_settings WHERE organization_id = $1', [organization.id])).toEqual([
      { data: {} },
    ]);
    expect(await app.sql('SELECT 1 FROM memberships WHERE organization_id = $1', [organization.id])).toEqual([]);
    const after = await tableCounts(app);
    expect(after).toEqual({
      ...before,
      organizations: before.organizations + 1,
      organization_settings: before.organization_settings + 1,
      organization_domains: before.organization_domains + 2,
    });
  });

  it('as a session user: the caller becomes its OWNER in the memberships table', async () => {
    const { user, token } = await loneSessionUser();
    const organization = ok(await app.gql(CreateOrganizationDocument, { input: { name: 'Mine' } }, { token }))
      .createOrganization;
    expect(organization.domains).toEqual([]);
    expect(
      await app.sql('SELECT user_id, role FROM memberships WHERE organization_id = $1', [organization.id]),
    ).toEqual([{ user_id: user.id, role: 'OWNER' }]);
    // …and can now read it.
    expect(ok(await app.gql(GetOrganizationDocument, { id: organization.id }, { token })).organization?.id).toBe(
      organization.id,
    );
  });

  it('as the admin: refuses a domain another organization holds verified with CONFLICT, case-insensitively, and writes nothing', async () => {
    const holder = await factory(app).organization({ name: 'Holder Inc', domains: ['taken.example'] });
    const before = await tableCounts(app);
    const response = await app.gql(CreateOrganizationDocument, {
      input: { name: 'Copycat', domains: ['fresh.example', 'TAKEN.example'] },
    });
    expect(errorCode(response)).toBe('CONFLICT');
    expect(response.data).toBeNull();
    // Names the domain as the caller sent it, and nothing about the organization holding it.
    expect(response.errors?.[0]?.message).toContain('TAKEN.example');
    expect(response.errors?.[0]?.message).not.toContain(holder.id);
    expect(response.errors?.[0]?.message).not.toContain('Holder');
    expect(await tableCounts(app)).toEqual(before);
    expect(await app.sql(`SELECT 1 FROM organizations WHERE name = 'Copycat'`)).toEqual([]);
  });

  it('as a session user: a domain another organization holds verified is stored as an unverified claim, not CONFLICT (issue 9)', async () => {
    const holder = await factory(app).organization({ domains: ['owned.example'] });
    const { user, token } = await loneSessionUser();
    const organization = ok(
      await app.gql(CreateOrganizationDocument, { input: { name: 'Claimer', domains: ['owned.example'] } }, { token }),
    ).createOrganization;
    expect(organization.domains).toEqual([{ domain: 'owned.example', verified: false, createdAt: expect.any(String) }]);
    expect(
      await app.sql('SELECT organization_id, verified FROM organization_domains WHERE domain = $1 ORDER BY verified', [
        'owned.example',
      ]),
    ).toEqual([
      { organization_id: organization.id, verified: false },
      { organization_id: holder.id, verified: true },
    ]);
    expect(await app.sql('SELECT user_id, role FROM memberships WHERE organization_id = $1', [organization.id])).toEqual([
      { user_id: user.id, role: 'OWNER' },
    ]);
  });

  it.each([
    ['an empty name', { name: '' }, 'name'],
    ['a blank name', { name: '   ' }, 'name'],
    ['an over-long name', { name: 'n'.repeat(201) }, 'name'],
    ['an empty externalId', { name: 'Ok', externalId: '' }, 'externalId'],
    ['an over-long externalId', { name: 'Ok', externalId: 'e'.repeat(256) }, 'externalId'],
    // UTS #46 refusals come from src/identity/canonical.ts in the service, which names the input path.
    ['an invalid domain', { name: 'Ok', domains: ['not a domain'] }, 'input.domains'],
    ['a domain without a TLD', { name: 'Ok', domains: ['localhost'] }, 'input.domains'],
    ['an empty domain', { name: 'Ok', domains: [''] }, 'domains'],
    ['an over-long domain', { name: 'Ok', domains: [`${'a'.repeat(60)}.`.repeat(5) + 'com'] }, 'domains'],
    ['too many domains', { name: 'Ok', domains: Array.from({ length: 51 }, (_, i) => `d${i}.example.com`) }, 'domains'],
  ])('refuses %s with BAD_USER_INPUT naming the field and writes nothing', async (_label, input, field) => {
    const before = await tableCounts(app);
    const response = await app.gql(CreateOrganizationDocument, { input });
    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(fieldsOf(response)).toContain(field);
    expect(await tableCounts(app)).toEqual(before);
  });

  it('requires credentials: UNAUTHENTICATED with HTTP 401 for no token, a forged one or a terminated session', async () => {
    const { token, session } = await loneSessionUser();
    ok(await app.gql(TerminateSessionDocument, { id: session.id }));
    const before = await tableCounts(app);
    for (const candidate of [null, 'sst_forged', token]) {
      const response = await app.gql(CreateOrganizationDocument, { input: { name: 'Anonymous' } }, { token: candidate });
      expect(response.status).toBe(401);
      expect(errorCode(response)).toBe('UNAUTHENTICATED');
    }
    expect(await tableCounts(app)).toEqual(before);
  });
});

describe('organization(id)', () => {
  it('is visible to its members and to the admin, null to non-members', async () => {
    const f = factory(app);
    const organization = await f.organization({ domains: ['visible.example'] });
    const member = await f.signedInMember(organization.id, 'MEMBER');
    const outsider = await loneSessionUser();

    const asMember = ok(await app.gql(GetOrganizationDocument, { id: organization.id }, { token: member.token }))
      .organization;
    expect(asMember).toMatchObject({
      id: organization.id,
      name: organization.name,
      domains: [{ domain: 'visible.example', verified: true }],
    });
    expect(asMember?.memberships.nodes.map((m) => m.user.id)).toEqual([member.user.id]);

    expect(ok(await app.gql(GetOrganizationDocument, { id: organization.id })).organization?.id).toBe(organization.id);

    const asOutsider = await app.gql(GetOrganizationDocument, { id: organization.id }, { token: outsider.token });
    expect(asOutsider.errors).toBeUndefined();
    expect(asOutsider.data?.organization).toBeNull();
  });

  it('is null for an unknown ID, for the admin and for a session user alike', async () => {
    const { token } = await loneSessionUser();
    expect(ok(await app.gql(GetOrganizationDocument, { id: UNKNOWN_ORGANIZATION })).organization).toBeNull();
    expect(ok(await app.gql(GetOrganizationDocument, { id: UNKNOWN_ORGANIZATION }, { token })).organization).toBeNull();
  });

  it.each([
    ['the wrong prefix', 'usr_01ARZ3NDEKTSV4RRFFQ69G5FAV'],
    ['a short body', 'org_123'],
    ['lower-case letters', 'org_01arz3ndektsv4rrffq69g5fav'],
    ['an empty string', ''],
  ])('refuses an ID with %s with BAD_USER_INPUT naming id', async (_label, id) => {
    const response = await app.gql(GetOrganizationDocument, { id });
    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(fieldsOf(response)).toEqual(['id']);
  });

  it('requires credentials', async () => {
    const response = await app.gql(GetOrganizationDocument, { id: UNKNOWN_ORGANIZATION }, { token: null });
    expect(response.status).toBe(401);
    expect(errorCode(response)).toBe('UNAUTHENTICATED');
  });
});

describe('organizations', () => {
  async function pageThrough(first: number, token?: string) {
    const seen: string[] = [];
    const totals = new Set<number>();
    let after: string | null | undefined = null;
    for (let pages = 0; pages < 1000; pages += 1) {
      const page: ListOrganizationsQuery['organizations'] = ok(
        await app.gql(ListOrganizationsDocument, { first, after }, { token }),
      ).organizations;
      totals.add(page.totalCount);
      expect(page.nodes.length).toBeLessThanOrEqual(first);
      seen.push(...page.nodes.map((node) => node.id));
      if (!page.pageInfo.hasNextPage) break;
      expect(page.nodes).toHaveLength(first);
      after = page.pageInfo.endCursor;
    }
    return { seen, totals: [...totals] };
  }

  it('gives the admin every organization, page by page, with a stable totalCount and opaque cursors', async () => {
    const f = factory(app);
    for (let i = 0; i < 5; i += 1) await f.organization();
    const all = (await app.sql<{ id: string }>('SELECT id FROM organizations ORDER BY id')).map((row) => row.id);
    const { seen, totals } = await pageThrough(2);
    expect(seen).toEqual(all);
    expect(totals).toEqual([all.length]);

    const firstPage = ok(await app.gql(ListOrganizationsDocument, { first: 2 })).organizations;
    expect(firstPage.pageInfo.hasNextPage).toBe(true);
    expect(firstPage.pageInfo.endCursor).not.toContain(firstPage.nodes[1].id);
    const rest = ok(await app.gql(ListOrganizationsDocument, { first: 100, after: firstPage.pageInfo.endCursor })).organizations;
    expect(rest.nodes.map((node) => node.id)).toEqual(all.slice(2));
    expect(rest.pageInfo.hasNextPage).toBe(false);
    expect(rest.totalCount).toBe(all.length);
  });

  it('gives a session user only the organizations they belong to', async () => {
    const f = factory(app);
    const mine = [await f.organization(), await f.organization(), await f.organization()];
    await f.organization();
    const { user, token } = await f.signedInMember(mine[0].id, 'MEMBER');
    await f.member(mine[1].id, user.id, 'ADMIN');
    await f.member(mine[2].id, user.id, 'OWNER');
    const expected = mine.map((o) => o.id).sort();

    const { seen, totals } = await pageThrough(2, token);
    expect(seen).toEqual(expected);
    expect(totals).toEqual([3]);

    const { token: loneToken } = await loneSessionUser();
    const none = ok(await app.gql(ListOrganizationsDocument, {}, { token: loneToken })).organizations;
    expect(none).toEqual({ totalCount: 0, nodes: [], pageInfo: { hasNextPage: false, endCursor: null } });
  });

  it.each([
    ['first above 100', { first: 101 }, 'first'],
    ['first of zero', { first: 0 }, 'first'],
    ['a negative first', { first: -1 }, 'first'],
    // type-graphql validates with skipMissingProperties: without @IsDefined a null `first` read as an empty page.
    ['an explicit null first', { first: null }, 'first'],
    ['a malformed cursor', { after: 'definitely-not-a-cursor' }, 'after'],
    ['a cursor that is not base64url', { after: '!!!' }, 'after'],
  ])('refuses %s with BAD_USER_INPUT naming the argument', async (_label, variables, field) => {
    const response = await app.gql(ListOrganizationsDocument, variables);
    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(fieldsOf(response)).toEqual([field]);
  });

  it('refuses a cursor issued for another kind of list (users) with BAD_USER_INPUT', async () => {
    const user = await factory(app).user();
    const foreignCursor = Buffer.from(`c1:${user.id}`, 'utf8').toString('base64url');
    const response = await app.gql(ListOrganizationsDocument, { after: foreignCursor });
    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(fieldsOf(response)).toEqual(['after']);
  });

  it('requires credentials', async () => {
    const response = await app.gql(ListOrganizationsDocument, {}, { token: null });
    expect(response.status).toBe(401);
    expect(errorCode(response)).toBe('UNAUTHENTICATED');
  });
});

describe('Organization.memberships', () => {
  it('pages through the members with first/after, hasNextPage and totalCount', async () => {
    const f = factory(app);
    const organization = await f.organization();
    const members = [];
    for (let i = 0; i < 5; i += 1) members.push(await f.member(organization.id, (await f.user()).id));
    const expected = (
      await app.sql<{ id: string }>('SELECT id FROM memberships WHERE organization_id = $1 ORDER BY id', [organization.id])
    ).map((row) => row.id);
    expect(expected.sort()).toEqual(members.map((m) => m.id).sort());

    const seen: string[] = [];
    let after: string | null | undefined = null;
    let pages = 0;
    for (;;) {
      const page: NonNullable<GetOrganizationQuery['organization']>['memberships'] = ok(
        await app.gql(GetOrganizationDocument, { id: organization.id, first: 2, after }),
      ).organization!.memberships;
      pages += 1;
      expect(page.totalCount).toBe(5);
      seen.push(...page.nodes.map((node) => node.id));
      if (!page.pageInfo.hasNextPage) break;
      expect(page.nodes).toHaveLength(2);
      after = page.pageInfo.endCursor;
    }
    expect(pages).toBe(3);
    expect(seen).toEqual(expected);
  });

  it('answers an empty page for an organization without members', async () => {
    const organization = await factory(app).organization();
    const page = ok(await app.gql(GetOrganizationDocument, { id: organization.id })).organization!.memberships;
    expect(page).toEqual({ totalCount: 0, nodes: [], pageInfo: { hasNextPage: false, endCursor: null } });
  });

  it.each([
    ['first above 100', { first: 101 }, 'first'],
    ['first of zero', { first: 0 }, 'first'],
    ['a malformed cursor', { after: 'nope' }, 'after'],
  ])('refuses %s with BAD_USER_INPUT naming the argument', async (_label, variables, field) => {
    const organization = await factory(app).organization();
    const response = await app.gql(GetOrganizationDocument, { id: organization.id, ...variables });
    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(fieldsOf(response)).toEqual([field]);
  });

  it('refuses an organization cursor where a membership cursor is expected', async () => {
    const organization = await factory(app).organization();
    const organizationCursor = Buffer.from(`c1:${organization.id}`, 'utf8').toString('base64url');
    const response = await app.gql(GetOrganizationDocument, { id: organization.id, after: organizationCursor });
    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(fieldsOf(response)).toEqual(['after']);
  });
});

describe('an Organization reached by a caller who may not read it (issue 9: an invitee sees its id and name only)', () => {
  const INVITE = `mutation Invite($input: InviteMemberInput!) { inviteMember(input: $input) { id } }`;
  const MY_INVITATIONS = `query MyInvitations {
    viewer { invitations { nodes { id organization {
      id name domains { domain verified }
      memberships { totalCount pageInfo { hasNextPage endCursor } nodes { id user { id email } } }
    } } } }
  }`;
  type MyInvitations = {
    viewer: {
      invitations: {
        nodes: Array<{
          id: string;
          organization: {
            id: string;
            name: string;
            domains: Array<{ domain: string; verified: boolean }>;
            memberships: { totalCount: number; pageInfo: unknown; nodes: unknown[] };
          };
        }>;
      };
    };
  };

  it('Organization.domains and Organization.memberships are empty for an invitee who is not a member', async () => {
    const f = factory(app);
    const organization = await f.organization({ domains: ['invitee-cannot-see.example'] });
    const owner = await f.signedInMember(organization.id, 'OWNER');
    const invitee = await loneSessionUser();
    ok(await app.gql(INVITE, { input: { organizationId: organization.id, email: invitee.user.email } }));

    const seen = ok(await app.gql<MyInvitations, unknown>(MY_INVITATIONS, {}, { token: invitee.token })).viewer.invitations.nodes;
    expect(seen).toHaveLength(1);
    expect(seen[0].organization).toEqual({
      id: organization.id,
      name: organization.name,
      domains: [],
      memberships: { totalCount: 0, pageInfo: { hasNextPage: false, endCursor: null }, nodes: [] },
    });

    // A member reading the same organization sees both (the guard hides, the data is there).
    const asOwner = ok(await app.gql(GetOrganizationDocument, { id: organization.id }, { token: owner.token })).organization;
    expect(asOwner?.domains.map((d) => d.domain)).toEqual(['invitee-cannot-see.example']);
    expect(asOwner?.memberships.nodes.map((m) => m.user.id)).toEqual([owner.user.id]);
  });
});

