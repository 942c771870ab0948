import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { loadConfig } from '../src/config';
import {
  DeleteOrganizationDocument,
  DeleteUserDocument,
  GetOrganizationDocument,
  GetOrganizationInvitationsDocument,
  InviteMemberDocument,
  RevokeInvitationDocument,
  type MembershipRole,
} from '../src/generated/graphql';
import { encodeCursor } from '../src/pagination';
import { startTestApp, type GraphQLResponse, type TestApp } from './support/app';
import { createApiKey } from './support/keys';
import {
  databaseSnapshot,
  errorCode,
  expectRefused,
  factory,
  fieldsOf,
  invariantViolations,
  ok,
  tableCounts,
  UNKNOWN_ORGANIZATION,
  untilEventsVisible,
} from './support/factory';
import { persistedQuery, postJson } from './support/protocol';

/**
 * Issue 9, "Consent: invitations": a signed-in OWNER or ADMIN brings people in by
 * invitation only; the invitee (matched by canonical email) accepts or declines; the
 * address is personal data that leaves no trace once its organization or its person is
 * deleted. Races are in test/invitation-races.test.ts.
 */

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app.close());
afterEach(async () => {
  expect(await invariantViolations(app)).toEqual([]);
});

// acceptInvitation and declineInvitation are for signed-in users (frontends), not partner keys: not trusted operations.
const ACCEPT = `mutation AcceptInvitation($id: ID!) {
  acceptInvitation(id: $id) { id role createdAt organization { id name } user { id } }
}`;
const DECLINE = `mutation DeclineInvitation($id: ID!) {
  declineInvitation(id: $id) { id email role status decidedAt organization { id name } }
}`;
const VIEWER_INVITATIONS = `query ViewerInvitations($first: Int = 20, $after: String) {
  viewer {
    invitations(first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes { id email role status expiresAt organization { id name invitations { totalCount nodes { id } } } }
    }
  }
}`;

interface AcceptResult {
  acceptInvitation: {
    id: string;
    role: MembershipRole;
    createdAt: string;
    organization: { id: string; name: string };
    user: { id: string };
  };
}
interface DeclineResult {
  declineInvitation: {
    id: string;
    email: string | null;
    role: MembershipRole;
    status: string;
    decidedAt: string | null;
    organization: { id: string; name: string };
  };
}
interface ViewerInvitationNode {
  id: string;
  email: string | null;
  role: MembershipRole;
  status: string;
  expiresAt: string;
  organization: { id: string; name: string; invitations: { totalCount: number; nodes: Array<{ id: string }> } };
}
interface ViewerInvitationsResult {
  viewer: {
    invitations: { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string | null }; nodes: ViewerInvitationNode[] };
  };
}

const unique = () => randomBytes(4).toString('hex');
/** A tag no hex digest, token hash or ULID can contain ('z' is in neither alphabet), to find an address by. */
const marker = () => `zq${unique()}`;

const accept = (token: string, id: string) => app.gql<AcceptResult, { id: string }>(ACCEPT, { id }, { token });
const decline = (token: string, id: string) => app.gql<DeclineResult, { id: string }>(DECLINE, { id }, { token });
const viewerInvitations = (token: string, variables: { first?: number; after?: string } = {}) =>
  app.gql<ViewerInvitationsResult, typeof variables>(VIEWER_INVITATIONS, variables, { token });

function invite(token: string, organizationId: string, email: string, role?: MembershipRole) {
  return app.gql(InviteMemberDocument, { input: { organizationId, email, role } }, { token });
}

async function invited(token: string, organizationId: string, email: string, role?: MembershipRole) {
  return ok(await invite(token, organizationId, email, role)).inviteMember;
}

/** An organization and its signed-in OWNER. */
async function scene() {
  const f = factory(app);
  const organization = await f.organization();
  const owner = await f.signedInMember(organization.id, 'OWNER');
  return { f, organization, owner };
}

/** A person with an account under `email` (no organization) and an active session. */
async function invitee(email = `invitee-${unique()}@example.com`) {
  const f = factory(app);
  const user = await f.user({ email });
  const { token } = await f.session(user.id);
  return { user, token, email };
}

/** A signed-in user who belongs to another organization only. */
async function outsider() {
  const f = factory(app);
  const elsewhere = await f.organization();
  return f.signedInMember(elsewhere.id, 'OWNER');
}

const apiKey = (scopes: string[]) => createApiKey(app, scopes);

/** What a partner sends: a trusted document by its hash, with an API key. */
async function asKey<TData, TVariables>(
  secret: string,
  document: TypedDocumentNode<TData, TVariables>,
  variables: TVariables,
): Promise<GraphQLResponse<TData>> {
  const hash = (document as unknown as { __meta__: { hash: string } }).__meta__.hash.replace(/^sha256:/, '');
  const raw = await postJson(app.url, { variables, extensions: persistedQuery(hash) }, secret);
  return { status: raw.status, headers: raw.headers, data: raw.body?.data as TData | null | undefined, errors: raw.body?.errors };
}

interface InvitationRow {
  id: string;
  organization_id: string;
  email: string;
  email_key: string;
  role: string;
  status: string;
  invited_by: string;
  expires_at: Date;
  created_at: Date;
  decided_at: Date | null;
}

async function invitationRow(id: string): Promise<InvitationRow | undefined> {
  const [row] = await app.sql<InvitationRow>(`SELECT * FROM invitations WHERE id = $1`, [id]);
  return row;
}

async function membershipsIn(organizationId: string, userId: string) {
  return app.sql<{ id: string; role: string }>(
    `SELECT id, role FROM memberships WHERE organization_id = $1 AND user_id = $2`,
    [organizationId, userId],
  );
}

async function eventsOf(invitationId: string) {
  return app.sql<{ type: string; data: Record<string, unknown> }>(
    `SELECT type, data FROM events WHERE data->>'invitationId' = $1 ORDER BY position`,
    [invitationId],
  );
}

const sameMessage = (a: GraphQLResponse<unknown>, aId: string, b: GraphQLResponse<unknown>, bId: string) =>
  expect(a.errors?.[0]?.message.replace(aId, '<id>')).toBe(b.errors?.[0]?.message.replace(bId, '<id>'));

const UNKNOWN_INVITATION = 'inv_01ARZ3NDEKTSV4RRFFQ69G5FAV';

describe('inviteMember', () => {
  it('as an OWNER: invites a MEMBER by default, stores the address as typed (NFC) with its key, and records an event of IDs', async () => {
    const { organization, owner } = await scene();
    const tag = marker();
    // Typed with a decomposed ü (u + U+0308) and a U-label domain.
    const typed = `Ju\u0308rgen.${tag}@MÜNCHEN.example`;
    const before = await tableCounts(app);

    const invitation = await invited(owner.token, organization.id, typed);

    expect(invitation.id).toMatch(/^inv_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(invitation).toMatchObject({
      email: typed.normalize('NFC'),
      role: 'MEMBER',
      status: 'PENDING',
      decidedAt: null,
      organization: { id: organization.id, name: organization.name },
    });
    // INVITATION_TTL_SECONDS defaults to 7 days.
    expect(Date.parse(invitation.expiresAt) - Date.parse(invitation.createdAt)).toBe(604_800_000);

    const row = await invitationRow(invitation.id);
    expect(row).toMatchObject({
      organization_id: organization.id,
      email: typed.normalize('NFC'),
      email_key: `jürgen.${tag}@xn--mnchen-3ya.example`,
      role: 'MEMBER',
      status: 'PENDING',
      invited_by: `user:${owner.user.id}`,
      decided_at: null,
    });
    expect(row!.expires_at.getTime() - row!.created_at.getTime()).toBe(604_800_000);
    expect(await tableCounts(app)).toEqual({ ...before, invitations: before.invitations + 1, events: before.events + 1 });
    expect(await eventsOf(invitation.id)).toEqual([
      { type: 'invitation.created', data: { invitationId: invitation.id, organizationId: organization.id, role: 'MEMBER' } },
    ]);
  });

  it.each<[MembershipRole, MembershipRole]>([
    ['OWNER', 'OWNER'],
    ['OWNER', 'ADMIN'],
    ['OWNER', 'MEMBER'],
    ['ADMIN', 'ADMIN'],
    ['ADMIN', 'MEMBER'],
  ])('an %s of the organization may invite a %s', async (callerRole, role) => {
    const f = factory(app);
    const organization = await f.organization();
    const caller = await f.signedInMember(organization.id, callerRole);
    const invitation = await invited(caller.token, organization.id, `x-${unique()}@example.com`, role);
    expect(invitation).toMatchObject({ role, status: 'PENDING' });
    expect(await invitationRow(invitation.id)).toMatchObject({ role, invited_by: `user:${caller.user.id}` });
  });

  it.each<[string, MembershipRole, MembershipRole, string]>([
    ['an ADMIN inviting an OWNER', 'ADMIN', 'OWNER', 'FORBIDDEN'],
    ['a MEMBER inviting a MEMBER', 'MEMBER', 'MEMBER', 'FORBIDDEN'],
    ['a MEMBER inviting an ADMIN', 'MEMBER', 'ADMIN', 'FORBIDDEN'],
  ])('%s (caller %s, invited role %s) gets %s and nothing is written', async (_label, callerRole, role, code) => {
    const f = factory(app);
    const organization = await f.organization();
    const caller = await f.signedInMember(organization.id, callerRole);
    await expectRefused(
      app,
      InviteMemberDocument,
      { input: { organizationId: organization.id, email: `x-${unique()}@example.com`, role } },
      { token: caller.token, code },
    );
  });

  it('a signed-in non-member gets NOT_FOUND, the same answer as for an organization that does not exist', async () => {
    const { organization } = await scene();
    const stranger = await outsider();
    const email = `x-${unique()}@example.com`;
    const known = await expectRefused(app, InviteMemberDocument, { input: { organizationId: organization.id, email } }, {
      token: stranger.token,
      code: 'NOT_FOUND',
    });
    const unknown = await expectRefused(app, InviteMemberDocument, { input: { organizationId: UNKNOWN_ORGANIZATION, email } }, {
      token: stranger.token,
      code: 'NOT_FOUND',
    });
    sameMessage(known, organization.id, unknown, UNKNOWN_ORGANIZATION);
  });

  it('the admin and a key with ORGANIZATIONS_WRITE may invite anyone, OWNER included; a key without it is FORBIDDEN', async () => {
    const { organization } = await scene();
    const byAdmin = await invited(app.adminKey, organization.id, `a-${unique()}@example.com`, 'OWNER');
    expect(await invitationRow(byAdmin.id)).toMatchObject({ role: 'OWNER', invited_by: 'admin' });
    expect(byAdmin.email).toMatch(/^a-/);

    const writer = await apiKey(['ORGANIZATIONS_WRITE']);
    const variables = { input: { organizationId: organization.id, email: `k-${unique()}@example.com`, role: 'OWNER' as const } };
    const byKey = ok(await asKey(writer.secret, InviteMemberDocument, variables)).inviteMember;
    expect(await invitationRow(byKey.id)).toMatchObject({ role: 'OWNER', invited_by: `api_key:${writer.id}` });
    // A key never sees the address, not even one it just sent.
    expect(byKey.email).toBeNull();

    const others = await apiKey([
      'USERS_READ',
      'USERS_WRITE',
      'USERS_DELETE',
      'ORGANIZATIONS_READ',
      'ORGANIZATIONS_DELETE',
      'SESSIONS_WRITE',
    ]);
    const before = await tableCounts(app);
    const refused = await asKey(others.secret, InviteMemberDocument, {
      input: { organizationId: organization.id, email: `r-${unique()}@example.com` },
    });
    expect(errorCode(refused)).toBe('FORBIDDEN');
    expect(refused.data ?? null).toBeNull();
    expect(await tableCounts(app)).toEqual(before);
  });

  it('the admin inviting into an organization that does not exist gets NOT_FOUND', async () => {
    await expectRefused(app, InviteMemberDocument, { input: { organizationId: UNKNOWN_ORGANIZATION, email: 'a@example.com' } }, {
      token: app.adminKey,
      code: 'NOT_FOUND',
    });
  });

  it.each([
    ['no @', 'not-an-email', 'input.email'],
    ['no domain', 'someone@', 'input.email'],
    ['a single-label domain', 'a@b', 'input.email'],
    ['no local part', '@example.com', 'input.email'],
    ['a domain UTS #46 refuses (hyphens in positions 3 and 4)', 'qa@ab--cd.example', 'input.email'],
    ['an A-label that is not valid Punycode', 'qa@xn--zz.example', 'input.email'],
    ['a label starting with a hyphen', 'qa@-lead.example', 'input.email'],
    // Caught by the input's length check (class-validator names the property alone), before any canonicalization.
    ['an over-long address', `${'a'.repeat(310)}@example.com`, 'email'],
  ])('refuses an email with %s: BAD_USER_INPUT naming the field, nothing written', async (_label, email, field) => {
    const { organization, owner } = await scene();
    const response = await expectRefused(app, InviteMemberDocument, { input: { organizationId: organization.id, email } }, {
      token: owner.token,
      code: 'BAD_USER_INPUT',
    });
    expect(fieldsOf(response)).toEqual([field]);
    // The message explains the rule without echoing the input.
    if (email.length > 3) expect(response.errors?.[0]?.message).not.toContain(email);
  });

  it.each([
    ['a user ID', 'usr_01ARZ3NDEKTSV4RRFFQ69G5FAV'],
    ['a malformed ID', 'org_nope'],
    ['an empty ID', ''],
  ])('refuses %s as organizationId with BAD_USER_INPUT naming the field', async (_label, organizationId) => {
    const response = await expectRefused(app, InviteMemberDocument, { input: { organizationId, email: 'a@example.com' } }, {
      token: app.adminKey,
      code: 'BAD_USER_INPUT',
    });
    expect(fieldsOf(response)).toEqual(['input.organizationId']);
  });

  it('refuses a role outside the enum before running (GraphQL validation)', async () => {
    const { organization } = await scene();
    const before = await tableCounts(app);
    const response = await invite(app.adminKey, organization.id, 'a@example.com', 'SUPERUSER' as MembershipRole);
    expect(response.status).toBe(400);
    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(await tableCounts(app)).toEqual(before);
  });

  it('requires credentials: UNAUTHENTICATED with HTTP 401', async () => {
    const { organization } = await scene();
    await expectRefused(app, InviteMemberDocument, { input: { organizationId: organization.id, email: 'a@example.com' } }, {
      token: null,
      code: 'UNAUTHENTICATED',
      status: 401,
    });
  });

  it.each([
    ['the same spelling', (tag: string) => `dup.${tag}@münchen.example`],
    ['upper case in both parts', (tag: string) => `DUP.${tag.toUpperCase()}@MÜNCHEN.EXAMPLE`],
    ['the A-label', (tag: string) => `dup.${tag}@xn--mnchen-3ya.example`],
    ['full-width forms', (tag: string) => `ｄｕｐ.${tag}＠münchen．example`],
  ])('refuses a second pending invitation of one address, written with %s: CONFLICT, nothing written', async (_label, spell) => {
    const { organization, owner } = await scene();
    const tag = marker();
    await invited(owner.token, organization.id, `dup.${tag}@münchen.example`);
    const response = await expectRefused(app, InviteMemberDocument, { input: { organizationId: organization.id, email: spell(tag) } }, {
      token: owner.token,
      code: 'CONFLICT',
    });
    expect(response.errors?.[0]?.message).toMatch(/pending invitation/);
    // Another organization may invite the same address.
    const other = await scene();
    await invited(other.owner.token, other.organization.id, spell(tag));
  });

  it('refuses to invite an address whose account is already a member (any spelling): CONFLICT', async () => {
    const { f, organization, owner } = await scene();
    const tag = marker();
    const member = await f.user({ email: `member.${tag}@münchen.example` });
    await f.member(organization.id, member.id, 'MEMBER');
    const response = await expectRefused(
      app,
      InviteMemberDocument,
      { input: { organizationId: organization.id, email: `MEMBER.${tag}@xn--mnchen-3ya.example` } },
      { token: owner.token, code: 'CONFLICT' },
    );
    expect(response.errors?.[0]?.message).toMatch(/member/);
    expect(response.errors?.[0]?.message).not.toContain(tag);
  });

  it('invites an address with or without an account alike: the answer does not tell which', async () => {
    const { organization, owner } = await scene();
    const existing = await invitee();
    const withAccount = await invite(owner.token, organization.id, existing.email);
    const withoutAccount = await invite(owner.token, organization.id, `nobody-${unique()}@example.com`);
    const shape = (response: typeof withAccount) => {
      const { id: _id, email: _email, expiresAt: _expires, createdAt: _created, ...rest } = ok(response).inviteMember;
      return { status: response.status, errors: response.errors, rest };
    };
    expect(shape(withAccount)).toEqual(shape(withoutAccount));
  });
});

describe('the invitee: viewer.invitations, acceptInvitation, declineInvitation', () => {
  it('sees the invitation (organization by ID and name, but not the address), accepts it and becomes a member with its role', async () => {
    const { organization, owner } = await scene();
    const person = await invitee();
    const invitation = await invited(owner.token, organization.id, person.email.toUpperCase(), 'ADMIN');

    const seen = ok(await viewerInvitations(person.token)).viewer.invitations;
    expect(seen.totalCount).toBe(1);
    expect(seen.nodes).toEqual([
      {
        id: invitation.id,
        email: null,
        role: 'ADMIN',
        status: 'PENDING',
        expiresAt: invitation.expiresAt,
        // Not a member yet: the organization's own invitations stay hidden from the invitee.
        organization: { id: organization.id, name: organization.name, invitations: { totalCount: 0, nodes: [] } },
      },
    ]);
    // Before accepting, the organization itself is not readable by the invitee.
    expect(ok(await app.gql(GetOrganizationDocument, { id: organization.id }, { token: person.token })).organization).toBeNull();

    const membership = ok(await accept(person.token, invitation.id)).acceptInvitation;
    expect(membership).toMatchObject({
      role: 'ADMIN',
      organization: { id: organization.id, name: organization.name },
      user: { id: person.user.id },
    });
    expect(await membershipsIn(organization.id, person.user.id)).toEqual([{ id: membership.id, role: 'ADMIN' }]);
    const row = await invitationRow(invitation.id);
    expect(row).toMatchObject({ status: 'ACCEPTED' });
    expect(row!.decided_at).toBeInstanceOf(Date);
    expect(await eventsOf(invitation.id)).toEqual([
      { type: 'invitation.created', data: { invitationId: invitation.id, organizationId: organization.id, role: 'ADMIN' } },
      {
        type: 'invitation.accepted',
        data: {
          invitationId: invitation.id,
          organizationId: organization.id,
          role: 'ADMIN',
          membershipId: membership.id,
          userId: person.user.id,
        },
      },
    ]);

    // No longer pending; the organization is now theirs to read.
    expect(ok(await viewerInvitations(person.token)).viewer.invitations).toMatchObject({ totalCount: 0, nodes: [] });
    expect(ok(await app.gql(GetOrganizationDocument, { id: organization.id }, { token: person.token })).organization?.id).toBe(
      organization.id,
    );
    // Accepted once only.
    const again = await accept(person.token, invitation.id);
    expect(errorCode(again)).toBe('CONFLICT');
    expect(await membershipsIn(organization.id, person.user.id)).toHaveLength(1);
  });

  it('declines: DECLINED, nobody joins, and it can be neither accepted nor declined again', async () => {
    const { organization, owner } = await scene();
    const person = await invitee();
    const invitation = await invited(owner.token, organization.id, person.email);
    const declined = ok(await decline(person.token, invitation.id)).declineInvitation;
    expect(declined).toMatchObject({ id: invitation.id, status: 'DECLINED', email: null, organization: { id: organization.id } });
    expect(declined.decidedAt).not.toBeNull();
    expect(await invitationRow(invitation.id)).toMatchObject({ status: 'DECLINED' });
    expect(await membershipsIn(organization.id, person.user.id)).toEqual([]);
    expect(ok(await viewerInvitations(person.token)).viewer.invitations.nodes).toEqual([]);

    const before = await tableCounts(app);
    expect(errorCode(await accept(person.token, invitation.id))).toBe('CONFLICT');
    expect(errorCode(await decline(person.token, invitation.id))).toBe('CONFLICT');
    expect(await tableCounts(app)).toEqual(before);
  });

  it('matches canonically: an invitation to qa@münchen.example is seen and accepted by the account QA@xn--mnchen-3ya.example', async () => {
    const { organization, owner } = await scene();
    const tag = marker();
    const person = await invitee(`QA.${tag.toUpperCase()}@xn--mnchen-3ya.example`);
    const invitation = await invited(owner.token, organization.id, `qa.${tag}@münchen.example`);
    expect(ok(await viewerInvitations(person.token)).viewer.invitations.nodes.map((n) => n.id)).toEqual([invitation.id]);
    const membership = ok(await accept(person.token, invitation.id)).acceptInvitation;
    expect(await membershipsIn(organization.id, person.user.id)).toEqual([{ id: membership.id, role: 'MEMBER' }]);
  });

  it('matches an account written in NFD and full-width forms to an invitation in NFC and upper case', async () => {
    const { organization, owner } = await scene();
    const tag = marker();
    const person = await invitee(`ｊｕ\u0308ｒｇｅｎ.${tag}＠example.com`);
    const invitation = await invited(owner.token, organization.id, `JÜRGEN.${tag.toUpperCase()}@EXAMPLE.COM`);
    ok(await accept(person.token, invitation.id));
    expect(await membershipsIn(organization.id, person.user.id)).toHaveLength(1);
  });

  it('nobody but the invitee can accept or decline: NOT_FOUND, the same answer as for an invitation that does not exist', async () => {
    const { f, organization, owner } = await scene();
    const person = await invitee();
    const invitation = await invited(owner.token, organization.id, person.email);
    const someoneElse = await invitee();
    const orgAdmin = await f.signedInMember(organization.id, 'ADMIN');
    const key = await apiKey(['ORGANIZATIONS_WRITE', 'ORGANIZATIONS_READ', 'USERS_WRITE']);
    const before = await tableCounts(app);

    for (const token of [someoneElse.token, owner.token, orgAdmin.token]) {
      for (const respond of [accept, decline]) {
        const known = await respond(token, invitation.id);
        expect(errorCode(known)).toBe('NOT_FOUND');
        expect(known.data ?? null).toBeNull();
        const unknown = await respond(token, UNKNOWN_INVITATION);
        expect(errorCode(unknown)).toBe('NOT_FOUND');
        sameMessage(known, invitation.id, unknown, UNKNOWN_INVITATION);
      }
    }
    // The platform admin and API keys are not invitees: refused before anything runs.
    for (const token of [app.adminKey, key.secret]) {
      expect(errorCode(await accept(token, invitation.id))).toBe('FORBIDDEN');
      expect(errorCode(await decline(token, invitation.id))).toBe('FORBIDDEN');
    }
    expect(await tableCounts(app)).toEqual(before);
    expect(await invitationRow(invitation.id)).toMatchObject({ status: 'PENDING' });
    expect(ok(await accept(person.token, invitation.id)).acceptInvitation.user.id).toBe(person.user.id);
  });

  it.each([
    ['a malformed ID', 'inv_nope'],
    ['an organization ID', UNKNOWN_ORGANIZATION],
    ['an empty ID', ''],
  ])('refuses %s with BAD_USER_INPUT naming id', async (_label, id) => {
    const person = await invitee();
    for (const respond of [accept, decline]) {
      const response = await respond(person.token, id);
      expect(errorCode(response)).toBe('BAD_USER_INPUT');
      expect(fieldsOf(response)).toEqual(['id']);
    }
  });

  it('an invitee who already became a member another way gets CONFLICT and no second membership', async () => {
    const { f, organization, owner } = await scene();
    const person = await invitee();
    const invitation = await invited(owner.token, organization.id, person.email);
    const existing = await f.member(organization.id, person.user.id, 'MEMBER');
    const response = await accept(person.token, invitation.id);
    expect(errorCode(response)).toBe('CONFLICT');
    expect(await membershipsIn(organization.id, person.user.id)).toEqual([{ id: existing.id, role: 'MEMBER' }]);
    expect(await invitationRow(invitation.id)).toMatchObject({ status: 'PENDING' });
    // They can still say no to it.
    ok(await decline(person.token, invitation.id));
  });

  it('viewer.invitations pages by ID and is empty for the admin and API keys', async () => {
    const person = await invitee();
    const ids: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const { organization, owner } = await scene();
      ids.push((await invited(owner.token, organization.id, person.email)).id);
    }
    const first = ok(await viewerInvitations(person.token, { first: 2 })).viewer.invitations;
    expect(first.nodes.map((n) => n.id)).toEqual(ids.slice(0, 2));
    expect(first.pageInfo.hasNextPage).toBe(true);
    expect(first.totalCount).toBe(3);
    const rest = ok(await viewerInvitations(person.token, { first: 2, after: first.pageInfo.endCursor! })).viewer.invitations;
    expect(rest.nodes.map((n) => n.id)).toEqual(ids.slice(2));
    expect(rest.pageInfo.hasNextPage).toBe(false);

    const bad = await viewerInvitations(person.token, { after: 'nope' });
    expect(errorCode(bad)).toBe('BAD_USER_INPUT');

    const asAdmin = ok(await viewerInvitations(app.adminKey)).viewer.invitations;
    expect(asAdmin).toEqual({ totalCount: 0, pageInfo: { hasNextPage: false, endCursor: null }, nodes: [] });
  });
});

describe('revokeInvitation', () => {
  it('as an OWNER: REVOKED, an event of IDs, the invitee no longer sees it and cannot accept it', async () => {
    const { organization, owner } = await scene();
    const person = await invitee();
    const invitation = await invited(owner.token, organization.id, person.email, 'ADMIN');
    const revoked = ok(await app.gql(RevokeInvitationDocument, { id: invitation.id }, { token: owner.token })).revokeInvitation;
    expect(revoked).toMatchObject({ id: invitation.id, status: 'REVOKED', email: person.email, role: 'ADMIN' });
    expect(revoked.decidedAt).not.toBeNull();
    expect(await invitationRow(invitation.id)).toMatchObject({ status: 'REVOKED' });
    expect((await eventsOf(invitation.id)).map((e) => e.type)).toEqual(['invitation.created', 'invitation.revoked']);
    expect((await eventsOf(invitation.id))[1].data).toEqual({
      invitationId: invitation.id,
      organizationId: organization.id,
      role: 'ADMIN',
    });

    expect(ok(await viewerInvitations(person.token)).viewer.invitations.nodes).toEqual([]);
    expect(errorCode(await accept(person.token, invitation.id))).toBe('CONFLICT');
    expect(await membershipsIn(organization.id, person.user.id)).toEqual([]);
    // Revoked once: a second revocation changes nothing.
    await expectRefused(app, RevokeInvitationDocument, { id: invitation.id }, { token: owner.token, code: 'CONFLICT' });
  });

  it('an ADMIN may revoke ADMIN and MEMBER invitations, not an OWNER one; a MEMBER may revoke none', async () => {
    const { f, organization, owner } = await scene();
    const orgAdmin = await f.signedInMember(organization.id, 'ADMIN');
    const member = await f.signedInMember(organization.id, 'MEMBER');
    const toOwner = await invited(owner.token, organization.id, `o-${unique()}@example.com`, 'OWNER');
    const toAdmin = await invited(owner.token, organization.id, `a-${unique()}@example.com`, 'ADMIN');
    const toMember = await invited(owner.token, organization.id, `m-${unique()}@example.com`, 'MEMBER');

    for (const invitation of [toOwner, toAdmin, toMember]) {
      await expectRefused(app, RevokeInvitationDocument, { id: invitation.id }, { token: member.token, code: 'FORBIDDEN' });
    }
    await expectRefused(app, RevokeInvitationDocument, { id: toOwner.id }, { token: orgAdmin.token, code: 'FORBIDDEN' });
    ok(await app.gql(RevokeInvitationDocument, { id: toAdmin.id }, { token: orgAdmin.token }));
    ok(await app.gql(RevokeInvitationDocument, { id: toMember.id }, { token: orgAdmin.token }));
    ok(await app.gql(RevokeInvitationDocument, { id: toOwner.id }, { token: owner.token }));
    for (const invitation of [toOwner, toAdmin, toMember]) {
      expect(await invitationRow(invitation.id)).toMatchObject({ status: 'REVOKED' });
    }
  });

  it('a non-member gets NOT_FOUND naming only the invitation, the same answer as for one that does not exist', async () => {
    const { organization, owner } = await scene();
    const invitation = await invited(owner.token, organization.id, `x-${unique()}@example.com`);
    const stranger = await outsider();
    const known = await expectRefused(app, RevokeInvitationDocument, { id: invitation.id }, { token: stranger.token, code: 'NOT_FOUND' });
    const unknown = await expectRefused(app, RevokeInvitationDocument, { id: UNKNOWN_INVITATION }, {
      token: stranger.token,
      code: 'NOT_FOUND',
    });
    sameMessage(known, invitation.id, unknown, UNKNOWN_INVITATION);
    expect(known.errors?.[0]?.message).not.toContain(organization.id);
  });

  it('the admin and a key with ORGANIZATIONS_WRITE may revoke; a key without it is FORBIDDEN', async () => {
    const { organization, owner } = await scene();
    const first = await invited(owner.token, organization.id, `x-${unique()}@example.com`, 'OWNER');
    const second = await invited(owner.token, organization.id, `y-${unique()}@example.com`);
    const reader = await apiKey(['ORGANIZATIONS_READ', 'ORGANIZATIONS_DELETE']);
    const before = await tableCounts(app);
    expect(errorCode(await asKey(reader.secret, RevokeInvitationDocument, { id: first.id }))).toBe('FORBIDDEN');
    expect(await tableCounts(app)).toEqual(before);

    const writer = await apiKey(['ORGANIZATIONS_WRITE']);
    const byKey = ok(await asKey(writer.secret, RevokeInvitationDocument, { id: first.id })).revokeInvitation;
    expect(byKey).toMatchObject({ status: 'REVOKED', email: null });
    const byAdmin = ok(await app.gql(RevokeInvitationDocument, { id: second.id })).revokeInvitation;
    expect(byAdmin).toMatchObject({ status: 'REVOKED', email: second.email });
  });

  it('only PENDING ones: an accepted or declined invitation answers CONFLICT', async () => {
    const { organization, owner } = await scene();
    const a = await invitee();
    const b = await invitee();
    const accepted = await invited(owner.token, organization.id, a.email);
    const declined = await invited(owner.token, organization.id, b.email);
    ok(await accept(a.token, accepted.id));
    ok(await decline(b.token, declined.id));
    for (const id of [accepted.id, declined.id]) {
      await expectRefused(app, RevokeInvitationDocument, { id }, { token: owner.token, code: 'CONFLICT' });
    }
    expect(await membershipsIn(organization.id, a.user.id)).toHaveLength(1);
  });

  it('refuses malformed IDs with BAD_USER_INPUT and unknown ones with NOT_FOUND', async () => {
    for (const id of ['inv_nope', UNKNOWN_ORGANIZATION, '']) {
      const response = await expectRefused(app, RevokeInvitationDocument, { id }, { token: app.adminKey, code: 'BAD_USER_INPUT' });
      expect(fieldsOf(response)).toEqual(['id']);
    }
    await expectRefused(app, RevokeInvitationDocument, { id: UNKNOWN_INVITATION }, { token: app.adminKey, code: 'NOT_FOUND' });
  });
});

describe('expiry', () => {
  const expire = (id: string) => app.sql(`UPDATE invitations SET expires_at = now() - interval '1 hour' WHERE id = $1`, [id]);

  it('past expiresAt: reads as EXPIRED, cannot be accepted, declined or revoked, and the address can be invited again', async () => {
    const { organization, owner } = await scene();
    const person = await invitee();
    const old = await invited(owner.token, organization.id, person.email);
    await expire(old.id);

    const list = (status?: 'PENDING' | 'EXPIRED') =>
      app.gql(GetOrganizationInvitationsDocument, { id: organization.id, status }, { token: owner.token });
    expect(ok(await list()).organization?.invitations.nodes).toEqual([expect.objectContaining({ id: old.id, status: 'EXPIRED' })]);
    expect(ok(await list('PENDING')).organization?.invitations).toMatchObject({ totalCount: 0, nodes: [] });
    expect(ok(await list('EXPIRED')).organization?.invitations).toMatchObject({ totalCount: 1, nodes: [{ id: old.id }] });
    expect(ok(await viewerInvitations(person.token)).viewer.invitations.nodes).toEqual([]);

    const before = await tableCounts(app);
    const refused = await accept(person.token, old.id);
    expect(errorCode(refused)).toBe('CONFLICT');
    expect(refused.errors?.[0]?.message).toMatch(/expired/);
    expect(errorCode(await decline(person.token, old.id))).toBe('CONFLICT');
    expect(errorCode(await app.gql(RevokeInvitationDocument, { id: old.id }, { token: owner.token }))).toBe('CONFLICT');
    expect(await tableCounts(app)).toEqual(before);
    expect(await membershipsIn(organization.id, person.user.id)).toEqual([]);

    // Inviting again marks the old one EXPIRED (decided when it expired) and makes a new one.
    const renewed = await invited(owner.token, organization.id, person.email);
    const oldRow = await invitationRow(old.id);
    expect(oldRow).toMatchObject({ status: 'EXPIRED' });
    expect(oldRow!.decided_at).toEqual(oldRow!.expires_at);
    expect(await invitationRow(renewed.id)).toMatchObject({ status: 'PENDING' });
    expect(ok(await list('EXPIRED')).organization?.invitations.nodes.map((n) => n.id)).toEqual([old.id]);
    expect(ok(await list('PENDING')).organization?.invitations.nodes.map((n) => n.id)).toEqual([renewed.id]);
    ok(await accept(person.token, renewed.id));
    expect(await membershipsIn(organization.id, person.user.id)).toHaveLength(1);
  });

  it('INVITATION_TTL_SECONDS sets the lifetime (default 7 days, 60 s to one year)', async () => {
    expect(loadConfig({}).invitationTtlSeconds).toBe(604_800);
    expect(loadConfig({ INVITATION_TTL_SECONDS: '3600' }).invitationTtlSeconds).toBe(3600);
    expect(() => loadConfig({ INVITATION_TTL_SECONDS: '59' })).toThrow(/INVITATION_TTL_SECONDS must be an integer between 60 and 31536000/);
    expect(() => loadConfig({ INVITATION_TTL_SECONDS: 'a week' })).toThrow(/INVITATION_TTL_SECONDS/);

    const shortLived = await startTestApp({ INVITATION_TTL_SECONDS: '3600' });
    try {
      const organization = ok(await shortLived.gql(`mutation { createOrganization(input: { name: "Short" }) { id } }`)) as {
        createOrganization: { id: string };
      };
      const invitation = ok(
        await shortLived.gql(InviteMemberDocument, {
          input: { organizationId: organization.createOrganization.id, email: 'short@example.com' },
        }),
      ).inviteMember;
      expect(Date.parse(invitation.expiresAt) - Date.parse(invitation.createdAt)).toBe(3_600_000);
    } finally {
      await shortLived.close();
    }
  });
});

describe('Organization.invitations', () => {
  it('lists by ID with a status filter and pages with a cursor', async () => {
    const { organization, owner } = await scene();
    const person = await invitee();
    const ids: string[] = [];
    for (let i = 0; i < 4; i += 1) ids.push((await invited(owner.token, organization.id, `p${i}-${unique()}@example.com`)).id);
    const accepted = await invited(owner.token, organization.id, person.email);
    ok(await accept(person.token, accepted.id));
    ok(await app.gql(RevokeInvitationDocument, { id: ids[3] }, { token: owner.token }));

    const page = (variables: { status?: 'PENDING' | 'ACCEPTED' | 'REVOKED' | 'DECLINED' | 'EXPIRED'; first?: number; after?: string }) =>
      app.gql(GetOrganizationInvitationsDocument, { id: organization.id, ...variables }, { token: owner.token });

    const all = ok(await page({})).organization!.invitations;
    expect(all.totalCount).toBe(5);
    expect(all.nodes.map((n) => n.id)).toEqual([...ids, accepted.id]);
    expect(all.nodes.map((n) => n.status)).toEqual(['PENDING', 'PENDING', 'PENDING', 'REVOKED', 'ACCEPTED']);

    const pending = ok(await page({ status: 'PENDING', first: 2 })).organization!.invitations;
    expect(pending).toMatchObject({ totalCount: 3, pageInfo: { hasNextPage: true } });
    expect(pending.nodes.map((n) => n.id)).toEqual(ids.slice(0, 2));
    const next = ok(await page({ status: 'PENDING', first: 2, after: pending.pageInfo.endCursor! })).organization!.invitations;
    expect(next.nodes.map((n) => n.id)).toEqual([ids[2]]);
    expect(next.pageInfo.hasNextPage).toBe(false);

    expect(ok(await page({ status: 'ACCEPTED' })).organization!.invitations.nodes.map((n) => n.id)).toEqual([accepted.id]);
    expect(ok(await page({ status: 'REVOKED' })).organization!.invitations.nodes.map((n) => n.id)).toEqual([ids[3]]);
    expect(ok(await page({ status: 'DECLINED' })).organization!.invitations).toMatchObject({ totalCount: 0, nodes: [] });

    const badCursor = await page({ after: encodeCursor(organization.id) });
    expect(errorCode(badCursor)).toBe('BAD_USER_INPUT');
    expect(fieldsOf(badCursor)).toEqual(['after']);
  });

  it("is listed for the admin, ORGANIZATIONS_READ keys, the organization's OWNERs and ADMINs; the address not for keys", async () => {
    const { f, organization, owner } = await scene();
    const orgAdmin = await f.signedInMember(organization.id, 'ADMIN');
    const member = await f.signedInMember(organization.id, 'MEMBER');
    const email = `seen-${unique()}@example.com`;
    const invitation = await invited(owner.token, organization.id, email);
    const reader = await apiKey(['ORGANIZATIONS_READ']);
    const variables = { id: organization.id };
    type Listed = { organization: { invitations: { nodes: Array<{ id: string; email: string | null }> } } | null };
    const emails = (response: GraphQLResponse<Listed>) =>
      ok(response).organization?.invitations.nodes.map((n) => [n.id, n.email]);

    expect(emails(await app.gql(GetOrganizationInvitationsDocument, variables))).toEqual([[invitation.id, email]]);
    expect(emails(await app.gql(GetOrganizationInvitationsDocument, variables, { token: owner.token }))).toEqual([[invitation.id, email]]);
    expect(emails(await app.gql(GetOrganizationInvitationsDocument, variables, { token: orgAdmin.token }))).toEqual([
      [invitation.id, email],
    ]);
    expect(emails(await asKey(reader.secret, GetOrganizationInvitationsDocument, variables))).toEqual([[invitation.id, null]]);
    // A MEMBER reads the organization but not its invitations.
    const asMember = ok(await app.gql(GetOrganizationInvitationsDocument, variables, { token: member.token })).organization;
    expect(asMember?.invitations).toEqual({ totalCount: 0, pageInfo: { hasNextPage: false, endCursor: null }, nodes: [] });
    // A non-member does not see the organization at all.
    const stranger = await outsider();
    expect(ok(await app.gql(GetOrganizationInvitationsDocument, variables, { token: stranger.token })).organization).toBeNull();
  });

  it('costs the same number of SQL statements for two organizations as for six (batched, no N+1)', async () => {
    const organizations: string[] = [];
    for (let i = 0; i < 7; i += 1) {
      const organization = await factory(app).organization();
      organizations.push(organization.id);
      for (let j = 0; j < 2; j += 1) await invited(app.adminKey, organization.id, `batch${j}-${unique()}@example.com`);
    }
    const query = `query ($first: Int!, $after: String) {
      organizations(first: $first, after: $after) {
        nodes { id invitations(first: 5) { totalCount nodes { id email status organization { id name } } } }
      }
    }`;
    type Invitations = { totalCount: number; nodes: Array<{ organization: { id: string } }> };
    type Result = { organizations: { nodes: Array<{ id: string; invitations: Invitations }> } };
    const measure = async (first: number) => {
      const before = app.queries.count;
      const data = ok(await app.gql<Result, unknown>(query, { first, after: encodeCursor(organizations[0]) }));
      return { statements: app.queries.count - before, data };
    };
    const two = await measure(2);
    const six = await measure(6);
    expect(six.data.organizations.nodes.map((n) => n.id)).toEqual(organizations.slice(1));
    for (const node of six.data.organizations.nodes) {
      expect(node.invitations.totalCount).toBe(2);
      expect(node.invitations.nodes.every((n) => n.organization.id === node.id)).toBe(true);
    }
    expect(six.statements).toBe(two.statements);
  });
});

describe('personal data', () => {
  /** Every row of every table, as text, in NFC and lower case: where an address would show. */
  async function everything(): Promise<string> {
    const snapshot = await databaseSnapshot(app);
    return Object.values(snapshot).flat().join('\n').normalize('NFC').toLowerCase();
  }

  /**
   * A pg_dump of the test database whose major version is at least the server's (pg_dump
   * refuses older servers only), from PATH or /usr/lib/postgresql/<n>/bin; null when there
   * is none (the embedded server has no pg_dump). CI's second pass, against its PostgreSQL
   * service, has one. The SQL-level check runs in every environment either way.
   */
  async function pgDump(): Promise<string | null> {
    const [{ major }] = await app.sql<{ major: number }>(`SELECT current_setting('server_version_num')::int / 10000 AS major`);
    const candidates = ['pg_dump'];
    const versions = '/usr/lib/postgresql';
    if (fs.existsSync(versions)) {
      for (const entry of fs.readdirSync(versions)) candidates.push(path.join(versions, entry, 'bin', 'pg_dump'));
    }
    for (const binary of candidates) {
      const probe = spawnSync(binary, ['--version'], { encoding: 'utf8' });
      const version = /\(PostgreSQL\) (\d+)/.exec(probe.stdout ?? '');
      if (probe.status !== 0 || !version || Number(version[1]) < major) continue;
      return execFileSync(binary, ['--data-only', '--no-owner', '--no-privileges', app.databaseUrl], {
        encoding: 'utf8',
        maxBuffer: 512 * 1024 * 1024,
      });
    }
    return null;
  }

  /**
   * Where `tag` shows: in the rows of any table (always checked), and in a real pg_dump
   * (null when no pg_dump fits this server).
   */
  async function traces(tag: string): Promise<{ rows: boolean; dump: boolean | null }> {
    const dump = await pgDump();
    if (dump !== null) expect(dump).toContain('COPY public.invitations');
    return {
      rows: (await everything()).includes(tag),
      dump: dump === null ? null : dump.normalize('NFC').toLowerCase().includes(tag),
    };
  }

  /** Runs `deletion` and proves that `tag` was in the database before it (so the checks can see it) and nowhere after. */
  async function expectNoTraceAfter(tag: string, deletion: () => Promise<unknown>) {
    const before = await traces(tag);
    expect(before.rows).toBe(true);
    if (before.dump !== null) expect(before.dump).toBe(true);
    await deletion();
    expect(await traces(tag)).toEqual({ rows: false, dump: before.dump === null ? null : false });
  }

  it('invitation events carry IDs and the role only, never the address', async () => {
    const { organization, owner } = await scene();
    const tag = marker();
    const person = await invitee(`events.${tag}@example.com`);
    const a = await invited(owner.token, organization.id, person.email);
    ok(await accept(person.token, a.id));
    const other = await scene();
    const b = await invited(other.owner.token, other.organization.id, `EVENTS.${tag.toUpperCase()}@example.com`);
    ok(await app.gql(RevokeInvitationDocument, { id: b.id }, { token: other.owner.token }));

    const events = await app.sql<{ type: string; data: Record<string, unknown>; text: string }>(
      `SELECT type, data, data::text AS text FROM events
        WHERE type LIKE 'invitation.%' AND data->>'invitationId' = ANY($1) ORDER BY position`,
      [[a.id, b.id]],
    );
    expect(events.map((e) => [e.type, Object.keys(e.data).sort()])).toEqual([
      ['invitation.created', ['invitationId', 'organizationId', 'role']],
      ['invitation.accepted', ['invitationId', 'membershipId', 'organizationId', 'role', 'userId']],
      ['invitation.created', ['invitationId', 'organizationId', 'role']],
      ['invitation.revoked', ['invitationId', 'organizationId', 'role']],
    ]);
    for (const event of events) {
      expect(event.text.toLowerCase()).not.toContain(tag);
      expect(event.text).not.toContain('@');
    }
    // The events API knows the new types.
    await untilEventsVisible(app);
    const listed = ok(
      await app.gql<{ events: { nodes: Array<{ type: string }> } }, unknown>(
        `query ($types: [String!]) { events(first: 100, types: $types) { nodes { type } } }`,
        { types: ['invitation.created', 'invitation.accepted', 'invitation.revoked'] },
      ),
    ).events.nodes;
    expect(new Set(listed.map((n) => n.type))).toEqual(new Set(['invitation.created', 'invitation.accepted', 'invitation.revoked']));
  });

  it('deleting the organization removes its invitations, and no trace of an invited address is left anywhere', async () => {
    const { organization, owner } = await scene();
    const tag = marker();
    const pending = await invited(owner.token, organization.id, `gone.${tag}@münchen.example`);
    const revoked = await invited(owner.token, organization.id, `other.${tag}@example.com`);
    ok(await app.gql(RevokeInvitationDocument, { id: revoked.id }, { token: owner.token }));

    await expectNoTraceAfter(tag, async () =>
      ok(await app.gql(DeleteOrganizationDocument, { id: organization.id }, { token: owner.token })),
    );

    expect(await app.sql(`SELECT id FROM invitations WHERE organization_id = $1`, [organization.id])).toEqual([]);
    expect(await invitationRow(pending.id)).toBeUndefined();
  });

  it('deleting a user removes every invitation to their canonical email, whatever its spelling or status: no trace left', async () => {
    const tag = marker();
    // The account in NFD; the invitations in NFC upper case, with the domain in capitals.
    const person = await invitee(`ju\u0308rgen.${tag}@example.com`);
    const invitedAs = `JÜRGEN.${tag.toUpperCase()}@Example.com`;
    const a = await scene();
    const b = await scene();
    const c = await scene();
    const accepted = await invited(a.owner.token, a.organization.id, invitedAs);
    ok(await accept(person.token, accepted.id));
    const declined = await invited(b.owner.token, b.organization.id, invitedAs);
    ok(await decline(person.token, declined.id));
    const pending = await invited(c.owner.token, c.organization.id, invitedAs, 'ADMIN');
    // Someone else's invitation in the same organization stays.
    const bystander = await invited(c.owner.token, c.organization.id, `bystander-${unique()}@example.com`);

    await expectNoTraceAfter(tag, async () => ok(await app.gql(DeleteUserDocument, { id: person.user.id })));

    for (const id of [accepted.id, declined.id, pending.id]) expect(await invitationRow(id)).toBeUndefined();
    expect(await invitationRow(bystander.id)).toMatchObject({ status: 'PENDING' });
  });

  it('deleting a user who has no account-matching invitations leaves other invitations alone', async () => {
    const { organization, owner } = await scene();
    const person = await invitee();
    const unrelated = await invited(owner.token, organization.id, `unrelated-${unique()}@example.com`);
    ok(await app.gql(DeleteUserDocument, { id: person.user.id }));
    expect(await invitationRow(unrelated.id)).toMatchObject({ status: 'PENDING' });
  });
});
