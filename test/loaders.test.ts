import { In, type EntityManager, type ObjectLiteral } from 'typeorm';
import { InviteMemberDocument, TerminateSessionDocument } from '../src/generated/graphql';
import { createLoaders } from '../src/http/loaders';
import { SettledLoader } from '../src/http/settled-loader';
import { INVITATION_ROWS } from '../src/invitations/invitation.loader';
import { Invitation, InvitationStatus } from '../src/invitations/invitation.entity';
import { MEMBERSHIP_PAGE, MEMBERSHIP_ROWS } from '../src/memberships/membership.loader';
import { Membership } from '../src/memberships/membership.entity';
import { DOMAIN_ROWS, ORGANIZATION_ROWS, SETTINGS_ROWS } from '../src/organizations/organization.loader';
import { Organization, OrganizationDomain } from '../src/organizations/organization.entity';
import type { PlainRows } from '../src/plain-rows';
import { SESSION_ROWS } from '../src/sessions/session.loader';
import { Session, SessionStatus } from '../src/sessions/session.entity';
import { USER_ROWS } from '../src/users/user.loader';
import { User } from '../src/users/user.entity';
import { startTestApp, type TestApp } from './support/app';
import { factory, ok, UNKNOWN_ORGANIZATION, UNKNOWN_SESSION, UNKNOWN_USER } from './support/factory';

/**
 * Issue 13 (candidates E, E′ and N of bench/profile-2026-11-30.md): the loaders read plain
 * rows with hand-written column lists, decode timestamps on
 * first read and prime userById from the membership page. What they return must be what
 * TypeORM's hydration returned before (same properties, same Dates, same getters), in every
 * session time zone; the column lists must follow the entities; and the member list must
 * cost one statement fewer, without showing a session user anyone they could not see.
 */

let app: TestApp;
let f: ReturnType<typeof factory>;

const SHAPES: Array<[string, PlainRows<ObjectLiteral>]> = [
  ['users', USER_ROWS],
  ['sessions', SESSION_ROWS],
  ['memberships', MEMBERSHIP_ROWS],
  ['organizations', ORGANIZATION_ROWS],
  ['organization_domains', DOMAIN_ROWS],
  ['organization_settings', SETTINGS_ROWS],
  ['invitations', INVITATION_ROWS],
];

/** Timestamps with milliseconds and microseconds (pg's parser truncates to ms), across a century boundary. */
const AWKWARD_TIMES = ['2030-06-15 12:34:56.289+00', '2030-06-15 12:34:56.789999+00', '2001-02-03 04:05:06.000001+00', '1999-12-31 23:59:59.999+00'];

let organization: { id: string };
let owner: { id: string };
let member: { id: string };
let loner: { id: string };
let awkward: { id: string };

beforeAll(async () => {
  app = await startTestApp();
  f = factory(app);
  organization = await f.organization({ domains: ['b-c.example', 'a.example', 'bc.example'] });
  owner = await f.user();
  member = await f.user();
  loner = await f.user();
  awkward = await f.user();
  await f.member(organization.id, owner.id, 'OWNER');
  await f.member(organization.id, member.id, 'MEMBER');
  await app.sql(`UPDATE users SET external_id = 'ext-1' WHERE id = $1`, [member.id]);
  await f.session(owner.id, organization.id); // active
  const ended = await f.session(owner.id);
  ok(await app.gql(TerminateSessionDocument, { id: ended.session.id }));
  const expired = await f.session(member.id);
  await app.sql(`UPDATE sessions SET expires_at = now() - interval '1 hour' WHERE id = $1`, [expired.session.id]);
  // Timestamps written with microseconds, at the edges of pg's millisecond parsing.
  for (const [i, time] of AWKWARD_TIMES.entries()) {
    await app.sql(
      `INSERT INTO sessions (id, user_id, token_hash, created_at, expires_at, terminated_at, termination_reason)
       VALUES ($1::varchar, $2, sha256(convert_to($1::varchar, 'UTF8')), $3, $3::timestamptz + interval '1 day', $4, $5)`,
      [`ses_01ARZ3NDEKTSV4RRFFQ69G5FA${i}`, awkward.id, time, i % 2 ? time : null, i % 2 ? 'test' : null],
    );
  }
  await app.sql(`UPDATE users SET created_at = $2 WHERE id = $1`, [awkward.id, AWKWARD_TIMES[0]]);
  // Invitations: one pending, one that reads as EXPIRED (stored PENDING past its expiry), one revoked.
  for (const email of ['pending@example.com', 'expired@example.com', 'revoked@example.com']) {
    ok(await app.gql(InviteMemberDocument, { input: { organizationId: organization.id, email } }));
  }
  await app.sql(`UPDATE invitations SET expires_at = $2 WHERE email = 'expired@example.com' AND organization_id = $1`, [organization.id, AWKWARD_TIMES[2]]);
  await app.sql(`UPDATE invitations SET status = 'REVOKED', decided_at = $2 WHERE email = 'revoked@example.com' AND organization_id = $1`, [organization.id, AWKWARD_TIMES[1]]);
}, 60_000);
afterAll(() => app?.close());

describe('the hand-written column lists follow the entities', () => {
  it.each(SHAPES)('%s: every column of the entity is read or named as left out, under its own name', async (table, shape) => {
    const metadata = app.dataSource.getMetadata(shape.entity);
    expect(metadata.tableName).toBe(table);
    const entityColumns = Object.fromEntries(metadata.columns.map((c) => [c.propertyName, c.databaseName]));
    const declared = Object.fromEntries([...shape.columns, ...Object.keys(shape.omitted).map((p) => [p, entityColumns[p]])]);
    // A column added to or removed from the entity (or renamed) fails here until the loader says what it does with it.
    expect(declared).toEqual(entityColumns);
    expect(shape.columns.filter(([property]) => property in shape.omitted)).toEqual([]);
    const timestampColumns = metadata.columns
      .filter((c) => c.type === 'timestamptz' && !(c.propertyName in shape.omitted))
      .map((c) => c.propertyName)
      .sort();
    expect([...shape.timestamps].sort()).toEqual(timestampColumns);
    // And the list is valid SQL against the migrated table.
    await expect(app.sql(`SELECT ${shape.select('t')} FROM ${table} t LIMIT 0`)).resolves.toEqual([]);
  });
});

/** The value of every column the shape reads, as properties of `object` (getters included). */
function columnsOf(shape: PlainRows<ObjectLiteral>, object: ObjectLiteral | null): Record<string, unknown> | null {
  if (object === null) return null;
  return Object.fromEntries(shape.columns.map(([property]) => [property, object[property]]));
}

/** Runs `work` on one connection whose session time zone is `timeZone`. */
async function inTimeZone<T>(timeZone: string, work: (manager: EntityManager) => Promise<T>): Promise<T> {
  const runner = app.dataSource.createQueryRunner();
  try {
    await runner.connect();
    await runner.query(`SET TIME ZONE '${timeZone}'`);
    return await work(runner.manager);
  } finally {
    await runner.release();
  }
}

describe('plain rows are what TypeORM hydrated', () => {
  // UTC, a half-hour offset west of Greenwich and a 45-minute one east: the text PostgreSQL sends carries the offset.
  it.each(['UTC', 'America/St_Johns', 'Asia/Kathmandu'])('in session time zone %s', async (timeZone) => {
    await inTimeZone(timeZone, async (manager) => {
      const [{ now }] = await manager.query(`SELECT now()::text AS now`);
      if (timeZone === 'Asia/Kathmandu') expect(now).toMatch(/\+05:45$/);
      const loaders = createLoaders(manager);
      const userIds = [member.id, UNKNOWN_USER, owner.id, awkward.id, owner.id];
      const hydratedUsers = await manager.findBy(User, { id: In(userIds) });
      const users = await loaders.userById.loadMany(userIds);
      expect(users.map((u) => columnsOf(USER_ROWS, u as User | null))).toEqual(
        userIds.map((id) => columnsOf(USER_ROWS, hydratedUsers.find((u) => u.id === id) ?? null)),
      );
      for (const user of users) if (user) expect(user).toBeInstanceOf(User);

      const sessionOwners = [awkward.id, loner.id, owner.id, member.id];
      const hydratedSessions = await manager.find(Session, { where: { userId: In(sessionOwners) }, order: { id: 'ASC' } });
      expect(hydratedSessions.length).toBe(AWKWARD_TIMES.length + 3);
      const sessions = (await loaders.sessionsByUser.loadMany(sessionOwners)) as Session[][];
      expect(sessions.map((list) => list.map((s) => columnsOf(SESSION_ROWS, s)))).toEqual(
        sessionOwners.map((id) => hydratedSessions.filter((s) => s.userId === id).map((s) => columnsOf(SESSION_ROWS, s))),
      );
      expect(sessions.flat().map((s) => s.status)).toEqual(
        sessionOwners.flatMap((id) => hydratedSessions.filter((s) => s.userId === id).map((s) => s.status)),
      );
      expect(new Set(sessions.flat().map((s) => s.status))).toEqual(new Set(Object.values(SessionStatus)));
      const sessionIds = [hydratedSessions[0].id, UNKNOWN_SESSION, hydratedSessions[2].id];
      expect((await loaders.sessionById.loadMany(sessionIds)).map((s) => columnsOf(SESSION_ROWS, s as Session | null))).toEqual(
        sessionIds.map((id) => columnsOf(SESSION_ROWS, hydratedSessions.find((s) => s.id === id) ?? null)),
      );

      const hydratedMemberships = await manager.find(Membership, { where: { userId: In(userIds) }, order: { id: 'ASC' } });
      const memberships = (await loaders.membershipsByUser.loadMany(userIds)) as Membership[][];
      expect(memberships.map((list) => list.map((m) => columnsOf(MEMBERSHIP_ROWS, m)))).toEqual(
        userIds.map((id) => hydratedMemberships.filter((m) => m.userId === id).map((m) => columnsOf(MEMBERSHIP_ROWS, m))),
      );
      const page = await loaders.membershipPage.load({ organizationId: organization.id, first: 1, afterId: null });
      expect(page.pageInfo.hasNextPage).toBe(true);
      expect(page.nodes.map((m) => columnsOf(MEMBERSHIP_ROWS, m))).toEqual(
        hydratedMemberships.filter((m) => m.organizationId === organization.id).slice(0, 1).map((m) => columnsOf(MEMBERSHIP_ROWS, m)),
      );

      const organizationIds = [UNKNOWN_ORGANIZATION, organization.id];
      const hydratedOrganizations = await manager.findBy(Organization, { id: In(organizationIds) });
      expect(
        (await loaders.organizationById.loadMany(organizationIds)).map((o) => columnsOf(ORGANIZATION_ROWS, o as Organization | null)),
      ).toEqual(organizationIds.map((id) => columnsOf(ORGANIZATION_ROWS, hydratedOrganizations.find((o) => o.id === id) ?? null)));
      const hydratedDomains = await manager.findBy(OrganizationDomain, { organizationId: organization.id });
      const domains = (await loaders.domainsByOrganization.loadMany(organizationIds)) as OrganizationDomain[][];
      expect(domains[0]).toEqual([]);
      expect(domains[1].map((d) => d.domain)).toEqual(['a.example', 'b-c.example', 'bc.example']);
      expect(domains[1].map((d) => columnsOf(DOMAIN_ROWS, d))).toEqual(
        domains[1].map((d) => columnsOf(DOMAIN_ROWS, hydratedDomains.find((h) => h.domain === d.domain)!)),
      );
      expect(await loaders.settingsByOrganization.loadMany(organizationIds)).toEqual([{}, {}]);

      const hydratedInvitations = await manager.find(Invitation, { where: { organizationId: organization.id }, order: { id: 'ASC' } });
      expect(hydratedInvitations).toHaveLength(3);
      const invitations = await loaders.invitationPage.load({ organizationId: organization.id, first: 10, afterId: null, status: null });
      expect(invitations.nodes.map((i) => columnsOf(INVITATION_ROWS, i))).toEqual(hydratedInvitations.map((i) => columnsOf(INVITATION_ROWS, i)));
      expect(invitations.nodes.map((i) => i.status)).toEqual(hydratedInvitations.map((i) => i.status));
      expect(invitations.nodes.map((i) => i.status).sort()).toEqual([InvitationStatus.EXPIRED, InvitationStatus.PENDING, InvitationStatus.REVOKED]);
      for (const invitation of invitations.nodes) expect(invitation).toBeInstanceOf(Invitation);
    });
  });

  it('a timestamp is decoded when read, once, and can be written like an entity property', async () => {
    const [session] = await createLoaders(app.dataSource.manager).sessionsByUser.load(awkward.id);
    const createdAt = session.createdAt;
    expect(createdAt).toBeInstanceOf(Date);
    expect(session.createdAt).toBe(createdAt); // the same Date, not a new one on every read
    expect(session.terminatedAt).toBeNull();
    const later = new Date(createdAt.getTime() + 1);
    session.createdAt = later;
    expect(session.createdAt).toBe(later);
  });

  it('infinity comes back as pg decodes it', async () => {
    const user = await f.user();
    await app.sql(
      `INSERT INTO sessions (id, user_id, token_hash, expires_at) VALUES ('ses_01ARZ3NDEKTSV4RRFFQ69G5FB0', $1, sha256('y'::bytea), 'infinity')`,
      [user.id],
    );
    try {
      const [hydrated] = await app.dataSource.manager.findBy(Session, { userId: user.id });
      const [loaded] = await createLoaders(app.dataSource.manager).sessionsByUser.load(user.id);
      expect(loaded.expiresAt).toEqual(hydrated.expiresAt);
    } finally {
      await app.sql(`DELETE FROM sessions WHERE user_id = $1`, [user.id]);
    }
  });
});

const MEMBER_LIST = `query ($id: ID!) {
  organization(id: $id) { memberships(first: 100) { nodes { id role createdAt
    user { id email name externalId createdAt sessions { id status createdAt expiresAt terminatedAt } } } } }
}`;

interface MemberList {
  organization: {
    memberships: {
      nodes: Array<{ id: string; user: { id: string; createdAt: string; sessions: Array<{ id: string; status: string; createdAt: string; expiresAt: string; terminatedAt: string | null }> } }>;
    };
  };
}

describe('the member list over GraphQL', () => {
  it('shows every timestamp exactly as the entities have it, and each session status', async () => {
    await f.member(organization.id, awkward.id);
    try {
      const data = ok(await app.gql<MemberList, { id: string }>(MEMBER_LIST, { id: organization.id }));
      const manager = app.dataSource.manager;
      const memberships = await manager.find(Membership, { where: { organizationId: organization.id }, order: { id: 'ASC' } });
      const users = await manager.findBy(User, { id: In(memberships.map((m) => m.userId)) });
      const sessions = await manager.find(Session, { where: { userId: In(memberships.map((m) => m.userId)) }, order: { id: 'ASC' } });
      expect(data.organization.memberships.nodes).toEqual(
        memberships.map((m) => {
          const user = users.find((u) => u.id === m.userId)!;
          return {
            id: m.id,
            role: m.role,
            createdAt: m.createdAt.toISOString(),
            user: {
              id: user.id,
              email: user.email,
              name: user.name,
              externalId: user.externalId,
              createdAt: user.createdAt.toISOString(),
              sessions: sessions
                .filter((s) => s.userId === user.id)
                .map((s) => ({
                  id: s.id,
                  status: s.status,
                  createdAt: s.createdAt.toISOString(),
                  expiresAt: s.expiresAt.toISOString(),
                  terminatedAt: s.terminatedAt?.toISOString() ?? null,
                })),
            },
          };
        }),
      );
      // The microseconds are truncated to milliseconds, as pg's parser always did.
      const awkwardNode = data.organization.memberships.nodes.find((n) => n.user.id === awkward.id)!;
      expect(awkwardNode.user.createdAt).toBe('2030-06-15T12:34:56.289Z');
      expect(awkwardNode.user.sessions.map((s) => s.createdAt)).toEqual([
        '2030-06-15T12:34:56.289Z',
        '2030-06-15T12:34:56.789Z',
        '2001-02-03T04:05:06.000Z',
        '1999-12-31T23:59:59.999Z',
      ]);
    } finally {
      await app.sql(`DELETE FROM memberships WHERE organization_id = $1 AND user_id = $2`, [organization.id, awkward.id]);
    }
  });

  it("reads each member's user in the membership page's statement (issue 13, candidate N)", async () => {
    const count = async (query: string) => {
      const before = app.queries.count;
      ok(await app.gql(query, { id: organization.id }));
      return app.queries.count - before;
    };
    const withoutUsers = await count(`query ($id: ID!) { organization(id: $id) { memberships { nodes { id } } } }`);
    const withUsers = await count(`query ($id: ID!) { organization(id: $id) { memberships { nodes { id user { id email } } } } }`);
    const withSessions = await count(
      `query ($id: ID!) { organization(id: $id) { memberships { nodes { id user { id email sessions { id } } } } } }`,
    );
    expect(withUsers).toBe(withoutUsers);
    expect(withSessions).toBe(withoutUsers + 1);
  });

  it("priming from the page shows a session user nobody they could not see before", async () => {
    // Alice is in the organization; Olga in another one only; Bob in both.
    const alice = await f.signedInMember(organization.id, 'MEMBER');
    const other = await f.organization();
    const olga = await f.signedInMember(other.id, 'OWNER');
    const bob = await f.user();
    await f.member(organization.id, bob.id);
    await f.member(other.id, bob.id);
    const response = await app.gql<
      {
        organization: { memberships: { nodes: Array<{ user: { id: string; sessions: Array<{ id: string }> } }> } };
        olga: { id: string } | null;
        other: { id: string } | null;
        bob: { id: string; memberships: Array<{ organization: { id: string } }> } | null;
      },
      Record<string, string>
    >(
      `query ($id: ID!, $olga: ID!, $other: ID!, $bob: ID!) {
         organization(id: $id) { memberships(first: 100) { nodes { user { id sessions { id } } } } }
         olga: user(id: $olga) { id }
         other: organization(id: $other) { id }
         bob: user(id: $bob) { id memberships { organization { id } } }
       }`,
      { id: organization.id, olga: olga.user.id, other: other.id, bob: bob.id },
      { token: alice.token },
    );
    const data = ok(response);
    expect(data.olga).toBeNull();
    expect(data.other).toBeNull();
    expect(data.bob?.memberships.map((m) => m.organization.id)).toEqual([organization.id]);
    const nodes = data.organization.memberships.nodes;
    expect(nodes.map((n) => n.user.id)).toEqual(expect.arrayContaining([alice.user.id, bob.id, owner.id]));
    // Only her own sessions.
    for (const node of nodes) {
      if (node.user.id === alice.user.id) expect(node.user.sessions.map((s) => s.id)).toEqual([alice.session.id]);
      else expect(node.user.sessions).toEqual([]);
    }
  });
});

describe('the member list loads what it shows ahead (issue 13)', () => {
  const statementsOf = async (query: string, variables: Record<string, unknown>, token?: string) => {
    const before = app.queries.count;
    const data = ok(await app.gql<{ organization: { memberships: { nodes: Array<{ user: Record<string, unknown> }> } } }, Record<string, unknown>>(query, variables, { token }));
    return { statements: app.queries.count - before, nodes: data.organization.memberships.nodes };
  };

  it("reads the members' sessions once, with the page, and not at all when no session is selected", async () => {
    const page = `query ($id: ID!, $skip: Boolean!) { organization(id: $id) { memberships(first: 10) { nodes { user { id
      a: sessions @skip(if: $skip) { id } ...more } } } } }
      fragment more on User { b: sessions(status: ACTIVE) @skip(if: $skip) { id status } }`;
    const without = await statementsOf(page, { id: organization.id, skip: true });
    // Every User.sessions (and Membership.user) finds its value settled: loaded with the page.
    const settled = jest.spyOn(SettledLoader.prototype, 'settled');
    let withSessions;
    let answers: unknown[];
    try {
      withSessions = await statementsOf(page, { id: organization.id, skip: false });
      answers = settled.mock.results.map((result) => result.value as unknown);
    } finally {
      settled.mockRestore();
    }
    expect(answers.filter(Array.isArray).length).toBe(2 * withSessions.nodes.length);
    expect(answers.every((answer) => answer !== undefined)).toBe(true);
    expect(without.nodes.every((node) => !('a' in node.user) && !('b' in node.user))).toBe(true);
    expect(withSessions.statements).toBe(without.statements + 1);
    // Both selections answer from the one batch, each with its own status filter.
    const rows = await app.sql<{ id: string; user_id: string }>(
      `SELECT s.id, s.user_id FROM sessions s JOIN memberships m ON m.user_id = s.user_id WHERE m.organization_id = $1 ORDER BY s.id`,
      [organization.id],
    );
    const loaders = createLoaders(app.dataSource.manager);
    for (const node of withSessions.nodes) {
      const userId = node.user.id as string;
      expect((node.user.a as Array<{ id: string }>).map((s) => s.id)).toEqual(rows.filter((r) => r.user_id === userId).map((r) => r.id));
      const active = (await loaders.sessionsByUser.load(userId)).filter((s) => s.status === SessionStatus.ACTIVE).map((s) => s.id);
      expect((node.user.b as Array<{ id: string; status: string }>).map((s) => s.id)).toEqual(active);
      expect((node.user.b as Array<{ status: string }>).every((s) => s.status === 'ACTIVE')).toBe(true);
    }
    expect(withSessions.nodes.some((node) => (node.user.a as unknown[]).length > 0)).toBe(true);
  });

  it('loads no session a session user may not read (their own only)', async () => {
    const carol = await f.signedInMember(organization.id, 'MEMBER');
    // Every statement's parameters, from the driver (the counting client the DataSource's pool uses).
    const prototype = app.queries.pgClient.prototype as unknown as { query: (...args: unknown[]) => unknown };
    const query = prototype.query;
    const sent: Array<{ text: string; values: unknown[] }> = [];
    prototype.query = function (this: unknown, ...args: unknown[]) {
      const [first, second] = args as [string | { text: string; values?: unknown[] }, unknown[] | undefined];
      if (typeof first === 'string') sent.push({ text: first, values: second ?? [] });
      else sent.push({ text: first.text, values: first.values ?? second ?? [] });
      return query.apply(this, args);
    };
    let data;
    try {
      data = ok(
        await app.gql<{ organization: { memberships: { nodes: Array<{ user: { id: string; sessions: Array<{ id: string }> } }> } } }, { id: string }>(
          `query ($id: ID!) { organization(id: $id) { memberships(first: 100) { nodes { user { id sessions { id } } } } } }`,
          { id: organization.id },
          { token: carol.token },
        ),
      );
    } finally {
      prototype.query = query;
    }
    expect(data.organization.memberships.nodes.length).toBeGreaterThan(1);
    for (const node of data.organization.memberships.nodes) {
      expect(node.user.sessions.map((s) => s.id)).toEqual(node.user.id === carol.user.id ? [carol.session.id] : []);
    }
    const sessionReads = sent.filter((statement) => /FROM sessions s WHERE s\.user_id = ANY/.test(statement.text));
    expect(sessionReads.map((statement) => statement.values[0])).toEqual([[carol.user.id]]);
  });
});

describe('a page of a large organization (MembershipPageIndex1764300800000)', () => {
  const MEMBERS = 3_000;
  let large: { id: string };

  beforeAll(async () => {
    large = await f.organization();
    // IDs: a prefix, then a zero-padded number (valid Crockford base32, in insertion order).
    await app.sql(
      `INSERT INTO users (id, email, email_key)
       SELECT 'usr_9' || lpad(u::text, 25, '0'), 'large' || u || '@example.com', 'large' || u || '@example.com'
         FROM generate_series(1, $1::int) u`,
      [MEMBERS],
    );
    await app.sql(
      `INSERT INTO memberships (id, organization_id, user_id, role)
       SELECT 'mem_9' || lpad(u::text, 25, '0'), $2, 'usr_9' || lpad(u::text, 25, '0'), 'MEMBER'
         FROM generate_series(1, $1::int) u`,
      [MEMBERS, large.id],
    );
    await app.sql('ANALYZE memberships, users');
  });

  /** The plan's nodes that read memberships, with the rows each returned. */
  async function membershipScans(afterId: string | null, first: number) {
    const [{ 'QUERY PLAN': plan }] = await app.sql<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(
      `EXPLAIN (ANALYZE, FORMAT JSON) ${MEMBERSHIP_PAGE.text}`,
      [[large.id], afterId, first + 1],
    );
    const scans: PlanNode[] = [];
    const visit = (node: PlanNode) => {
      if (node['Relation Name'] === 'memberships') scans.push(node);
      node.Plans?.forEach(visit);
    };
    visit(plan[0]!.Plan);
    return scans;
  }
  interface PlanNode {
    'Node Type': string;
    'Relation Name'?: string;
    'Index Name'?: string;
    'Actual Rows': number;
    'Rows Removed by Filter'?: number;
    Plans?: PlanNode[];
  }

  it.each([
    ['the first page', null],
    ['a page after a cursor deep in the list', 'mem_9' + '2500'.padStart(25, '0')],
  ])('%s reads first + 1 index entries, not every membership', async (_name, afterId) => {
    const scans = await membershipScans(afterId, 100);
    // With no cursor only the page index can stop early; after a cursor the primary key may do
    // as well here (these IDs sort after every other organization's).
    if (afterId === null) expect(scans[0]?.['Index Name']).toBe('memberships_organization_id_idx');
    // One index range (the page index, or the primary key when the planner finds the cursor's range
    // as selective), stopped after first + 1 rows: no row of the organization read and dropped.
    expect(scans).toHaveLength(1);
    expect(scans[0]!['Node Type']).toBe('Index Scan');
    expect(scans[0]!['Actual Rows']).toBe(101);
    expect(scans[0]!['Rows Removed by Filter'] ?? 0).toBe(0);
  });

  it('pages through in ID order over GraphQL, each page the next first memberships after the cursor', async () => {
    const expected = (await app.sql<{ id: string }>('SELECT id FROM memberships WHERE organization_id = $1 ORDER BY id', [large.id])).map((r) => r.id);
    const seen: string[] = [];
    let after: string | null = null;
    for (let pages = 0; pages < 3; pages += 1) {
      const page: { nodes: Array<{ id: string }>; pageInfo: { hasNextPage: boolean; endCursor: string | null } } = ok(
        await app.gql<
          { organization: { memberships: { nodes: Array<{ id: string }>; pageInfo: { hasNextPage: boolean; endCursor: string | null } } } },
          { id: string; after: string | null }
        >(
          `query ($id: ID!, $after: String) { organization(id: $id) { memberships(first: 100, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } } } }`,
          { id: large.id, after },
        ),
      ).organization.memberships;
      expect(page.pageInfo.hasNextPage).toBe(true);
      seen.push(...page.nodes.map((n) => n.id));
      after = page.pageInfo.endCursor;
    }
    expect(seen).toEqual(expected.slice(0, 300));
  });
});
