import { Client } from 'pg';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { DeleteOrganizationDocument, DeleteUserDocument, RemoveMemberDocument } from '../src/generated/graphql';
import { startTestApp, type GraphQLResponse, type TestApp } from './support/app';
import { seedMemberships, seedOrganizations, seedSessions, seedUsers } from './support/deletion-seed';
import { factory, invariantViolations, ok } from './support/factory';

/**
 * Issue 10, "Consistent reads": every query reads one snapshot of the database
 * (src/http/read-snapshot.ts), so a parent and its children are read at the same
 * instant and a non-null field never fails because a deletion committed between two
 * of the request's statements.
 */
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app.close());

afterEach(async () => {
  expect(await invariantViolations(app)).toEqual([]);
});

async function connect(): Promise<Client> {
  const client = new Client({ connectionString: app.databaseUrl, application_name: 'read-consistency-test' });
  await client.connect();
  return client;
}

/** Resolves once one of the server's statements waits for a lock (seen from a separate connection). */
async function serverWaitsOnLock(watcher: Client): Promise<void> {
  for (let attempt = 0; attempt < 500; attempt += 1) {
    const { rows } = await watcher.query(
      `SELECT count(*)::int AS waiting FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = 'identity-gateway' AND wait_event_type = 'Lock'`,
    );
    if (rows[0].waiting > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('the server never waited on the lock');
}

/**
 * The reproducer: `table` is locked on a second connection, the request is sent
 * and reaches the statement that reads `table`, and while it waits the second connection
 * deletes rows the request has already seen the parents of, then commits.
 */
async function readWhileDeleting<T>(
  table: 'users' | 'organizations',
  read: () => Promise<GraphQLResponse<T>>,
  deletion: (client: Client) => Promise<void>,
): Promise<GraphQLResponse<T>> {
  const [holder, watcher] = [await connect(), await connect()];
  try {
    await holder.query('BEGIN');
    await holder.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
    const response = read();
    await serverWaitsOnLock(watcher);
    await deletion(holder);
    await holder.query('COMMIT');
    return await response;
  } finally {
    await holder.query('ROLLBACK').catch(() => undefined);
    await Promise.all([holder.end(), watcher.end()]);
  }
}

const ORGANIZATION_MEMBERS = `query ($id: ID!) { organization(id: $id) { id memberships(first: 20) { nodes { id user { id } } } } }`;
const USER_ORGANIZATIONS = `query ($id: ID!) { user(id: $id) { id memberships { id organization { id name } } } }`;

interface OrganizationMembers {
  organization: { id: string; memberships: { nodes: Array<{ id: string; user: { id: string } }> } } | null;
}
interface UserOrganizations {
  user: { id: string; memberships: Array<{ id: string; organization: { id: string; name: string } }> } | null;
}

describe('the read-skew reproducer (issue 10)', () => {
  it('organization → memberships → user: a member deleted while the users are read is still listed, as at the snapshot', async () => {
    const [organizationId] = await seedOrganizations(app, 1);
    const [u1, u2] = await seedUsers(app, 2);
    await seedMemberships(app, [
      [organizationId, u1],
      [organizationId, u2],
    ]);
    await seedSessions(app, [u1, u2], 1, organizationId);
    const before = await app.sql<{ id: string; user_id: string }>(
      `SELECT id, user_id FROM memberships WHERE organization_id = $1 ORDER BY id`,
      [organizationId],
    );

    const response = await readWhileDeleting(
      'users',
      () => app.gql<OrganizationMembers, { id: string }>(ORGANIZATION_MEMBERS, { id: organizationId }),
      async (client) => {
        await client.query('DELETE FROM sessions WHERE user_id = $1', [u2]);
        await client.query('DELETE FROM memberships WHERE user_id = $1', [u2]);
        await client.query('DELETE FROM users WHERE id = $1', [u2]);
      },
    );

    // The snapshot was taken by the request's first statement, before the deletion
    // committed: both members, exactly as they were then.
    expect(response.status).toBe(200);
    expect(response.errors).toBeUndefined();
    expect(response.data).toEqual({
      organization: {
        id: organizationId,
        memberships: { nodes: before.map((m) => ({ id: m.id, user: { id: m.user_id } })) },
      },
    });
    expect(before.map((m) => m.user_id)).toEqual([u1, u2]);
    // The deletion did commit; a new request sees it.
    expect(await app.sql(`SELECT id FROM users WHERE id = $1`, [u2])).toEqual([]);
    const after = ok(await app.gql<OrganizationMembers, { id: string }>(ORGANIZATION_MEMBERS, { id: organizationId }));
    expect(after.organization!.memberships.nodes.map((m) => m.user.id)).toEqual([u1]);
  });

  it('user → memberships → organization: an organization deleted while the organizations are read is still listed, as at the snapshot', async () => {
    const [o1, o2] = await seedOrganizations(app, 2);
    const [userId] = await seedUsers(app, 1);
    await seedMemberships(app, [
      [o1, userId],
      [o2, userId],
    ]);
    await seedSessions(app, [userId], 1, o2);
    const before = await app.sql<{ id: string; organization_id: string; name: string }>(
      `SELECT m.id, m.organization_id, o.name FROM memberships m JOIN organizations o ON o.id = m.organization_id
        WHERE m.user_id = $1 ORDER BY m.id`,
      [userId],
    );

    const response = await readWhileDeleting(
      'organizations',
      () => app.gql<UserOrganizations, { id: string }>(USER_ORGANIZATIONS, { id: userId }),
      async (client) => {
        for (const table of ['sessions', 'memberships', 'organization_domains', 'organization_settings', 'invitations']) {
          await client.query(`DELETE FROM ${table} WHERE organization_id = $1`, [o2]);
        }
        await client.query('DELETE FROM organizations WHERE id = $1', [o2]);
      },
    );

    expect(response.status).toBe(200);
    expect(response.errors).toBeUndefined();
    expect(response.data).toEqual({
      user: {
        id: userId,
        memberships: before.map((m) => ({ id: m.id, organization: { id: m.organization_id, name: m.name } })),
      },
    });
    expect(before.map((m) => m.organization_id)).toEqual([o1, o2]);
    expect(await app.sql(`SELECT id FROM organizations WHERE id = $1`, [o2])).toEqual([]);
    const after = ok(await app.gql<UserOrganizations, { id: string }>(USER_ORGANIZATIONS, { id: userId }));
    expect(after.user!.memberships.map((m) => m.organization.id)).toEqual([o1]);
  });
});

interface SeenMembership {
  user: { id: string } | null;
  organization: { id: string } | null;
}
interface MixedRead {
  organization?: { memberships: { totalCount: number; nodes: SeenMembership[] } } | null;
  user?: { memberships: SeenMembership[] } | null;
}

describe('readers beside deleters', () => {
  it('readers never fail, and every membership they see has its user and organization', async () => {
    const ORGANIZATIONS = 4;
    const MEMBERS = 40;
    const READERS = 6;
    const RUN_MS = 4_000;
    const organizations = await seedOrganizations(app, ORGANIZATIONS);
    const users = await seedUsers(app, MEMBERS * 2);
    // Every user belongs to two organizations, so deleting one organization leaves its
    // members in another, and deleting a user removes memberships in two.
    const pairs: Array<[string, string]> = users.flatMap((userId, i) => [
      [organizations[i % ORGANIZATIONS], userId] as [string, string],
      [organizations[(i + 1) % ORGANIZATIONS], userId] as [string, string],
    ]);
    await seedMemberships(app, pairs);
    await seedSessions(app, users, 1);

    const READ_ORGANIZATION = `query ($id: ID!) {
      organization(id: $id) { id memberships(first: 100) { totalCount nodes { id user { id email } organization { id } } } }
    }`;
    const READ_USER = `query ($id: ID!) { user(id: $id) { id memberships { id user { id } organization { id name } } } }`;

    const deadline = Date.now() + RUN_MS;
    const failures: unknown[] = [];
    let reads = 0;
    let membershipsSeen = 0;
    const reader = async (n: number) => {
      for (let i = n; Date.now() < deadline || !deletersDone; i += 1) {
        const byOrganization = i % 2 === 0;
        const id = byOrganization ? organizations[i % ORGANIZATIONS] : users[(i * 7) % users.length];
        const response = await app.gql<MixedRead, { id: string }>(byOrganization ? READ_ORGANIZATION : READ_USER, { id });
        reads += 1;
        if (response.status !== 200 || response.errors) {
          failures.push({ status: response.status, errors: response.errors });
          continue;
        }
        const memberships = byOrganization
          ? (response.data?.organization?.memberships.nodes ?? [])
          : (response.data?.user?.memberships ?? []);
        // Counted and listed at the same instant (an organization has fewer than 100 members).
        const page = response.data?.organization?.memberships;
        if (page && page.totalCount !== page.nodes.length) failures.push({ counted: page.totalCount, listed: page.nodes.length });
        for (const membership of memberships) {
          membershipsSeen += 1;
          if (!membership.user || !membership.organization) failures.push({ incomplete: membership });
        }
      }
    };

    // Two deleters, each on its own half of the users: they remove members one by one
    // (the offboarding of the issue) and delete users; once both are through, each
    // deletes a whole organization. Readers go on until then, and at least RUN_MS.
    let deletions = 0;
    let deletersDone = false;
    const deleter = async (n: number) => {
      for (let i = n; Date.now() < deadline - 500 && i < users.length; i += 2) {
        const userId = users[i];
        if (i % 4 < 2) {
          const removed = await app.gql(RemoveMemberDocument, { organizationId: organizations[i % ORGANIZATIONS], userId });
          if (removed.errors) failures.push({ removeMember: removed.errors });
        } else {
          const deleted = await app.gql(DeleteUserDocument, { id: userId });
          if (deleted.errors) failures.push({ deleteUser: deleted.errors });
        }
        deletions += 1;
      }
    };
    const deleters = async () => {
      await Promise.all([deleter(0), deleter(1)]);
      await Promise.all(
        [0, 1].map(async (n) => {
          const deleted = await app.gql(DeleteOrganizationDocument, { id: organizations[n] });
          if (deleted.errors) failures.push({ deleteOrganization: deleted.errors });
          deletions += 1;
        }),
      );
      deletersDone = true;
    };

    await Promise.all([...Array.from({ length: READERS }, (_, n) => reader(n)), deleters()]);

    expect(failures).toEqual([]);
    // The run did what it claims: many reads, many memberships seen, deletions committed.
    expect(reads).toBeGreaterThan(50);
    expect(membershipsSeen).toBeGreaterThan(100);
    expect(deletions).toBeGreaterThan(10);
    expect(await app.sql(`SELECT id FROM organizations WHERE id = ANY($1)`, [organizations.slice(0, 2)])).toEqual([]);
  });
});

interface AddedMember {
  id: string;
  role: string;
  user: { id: string };
  organization: { id: string; memberships: { totalCount: number; nodes: Array<{ user: { id: string } }> } };
}

describe('what does not change', () => {
  it("a mutation's payload shows its own writes", async () => {
    const f = factory(app);
    const organization = await f.organization();
    const user = await f.user({ name: 'Before' });
    // The payload reads the organization's members through the loaders, after the mutation's transaction.
    const added = ok(
      await app.gql<{ addMember: AddedMember }, unknown>(
        `mutation ($input: AddMemberInput!) { addMember(input: $input) { id role user { id }
           organization { id memberships(first: 10) { totalCount nodes { user { id } } } } } }`,
        { input: { organizationId: organization.id, userId: user.id, role: 'ADMIN' } },
      ),
    ).addMember;
    expect(added.role).toBe('ADMIN');
    expect(added.user.id).toBe(user.id);
    expect(added.organization.memberships.totalCount).toBe(1);
    expect(added.organization.memberships.nodes.map((m) => m.user.id)).toEqual([user.id]);
    expect(await app.sql(`SELECT role FROM memberships WHERE id = $1`, [added.id])).toEqual([{ role: 'ADMIN' }]);
  });

  it('each of two mutations in one request shows its own writes, not what the first one read', async () => {
    const f = factory(app);
    const organization = await f.organization();
    const [first, second] = [await f.user(), await f.user()];
    // Mutations run one after the other; the second's payload asks for the same page and
    // count as the first's, which the loaders would still hold had they not been rebuilt.
    const PAGE = `organization { memberships(first: 10) { totalCount nodes { user { id } } } }`;
    const both = ok(
      await app.gql<Record<'a' | 'b', { organization: { memberships: { totalCount: number; nodes: Array<{ user: { id: string } }> } } }>, unknown>(
        `mutation ($a: AddMemberInput!, $b: AddMemberInput!) {
           a: addMember(input: $a) { ${PAGE} }
           b: addMember(input: $b) { ${PAGE} }
         }`,
        {
          a: { organizationId: organization.id, userId: first.id, role: 'MEMBER' },
          b: { organizationId: organization.id, userId: second.id, role: 'MEMBER' },
        },
      ),
    );
    expect(both.a.organization.memberships.totalCount).toBe(1);
    expect(both.a.organization.memberships.nodes.map((m) => m.user.id)).toEqual([first.id]);
    expect(both.b.organization.memberships.totalCount).toBe(2);
    expect(both.b.organization.memberships.nodes.map((m) => m.user.id).sort()).toEqual([first.id, second.id].sort());
    expect(await app.sql(`SELECT count(*)::int AS count FROM memberships WHERE organization_id = $1`, [organization.id])).toEqual([
      { count: 2 },
    ]);
  });

  it('leaves no connection checked out, and no transaction open, after many queries (errors included)', async () => {
    const [organizationId] = await seedOrganizations(app, 1);
    const users = await seedUsers(app, 5);
    await seedMemberships(app, users.map((userId) => [organizationId, userId] as [string, string]));
    const pool = (app.dataSource.driver as PostgresDriver).master as { totalCount: number; idleCount: number; waitingCount: number };

    const calls = Array.from({ length: 200 }, (_, i) => {
      switch (i % 4) {
        case 0:
          return app.gql(ORGANIZATION_MEMBERS, { id: organizationId });
        case 1:
          return app.gql(USER_ORGANIZATIONS, { id: users[i % users.length] });
        case 2:
          // Refused before execution (validation): opens nothing.
          return app.gql(`{ organization(id: "x") { noSuchField } }`);
        default:
          // Fails in a resolver (a malformed ID), after the operation is known to be a query.
          return app.gql(`{ organization(id: "not-an-id") { id } user(id: "${users[0]}") { id } }`);
      }
    });
    const responses = await Promise.all(calls);
    expect(responses.filter((_, i) => i % 4 < 2).every((r) => r.status === 200 && !r.errors)).toBe(true);
    expect(responses.filter((_, i) => i % 4 >= 2).every((r) => r.errors && r.errors.length > 0)).toBe(true);

    expect(pool.totalCount - pool.idleCount).toBe(0);
    expect(pool.waitingCount).toBe(0);
    const open = await app.sql<{ count: number }>(
      `SELECT count(*)::int AS count FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = 'identity-gateway' AND state LIKE 'idle in transaction%'`,
    );
    expect(open).toEqual([{ count: 0 }]);
  });

  it('opens no transaction for a request that fails before execution, or that reads nothing', async () => {
    const cost = async (query: string) => {
      const before = app.queries.count;
      const response = await app.gql(query);
      return { statements: app.queries.count - before, response };
    };
    const invalid = await cost(`{ organization(id: "x") { noSuchField } }`);
    expect(invalid.response.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(invalid.statements).toBe(0);
    // The admin key is checked without SQL, and its viewer is answered from the principal.
    const viewer = await cost(`{ viewer { kind } }`);
    expect(viewer.response.errors).toBeUndefined();
    expect(viewer.statements).toBe(0);
    // One read: BEGIN, the statement, COMMIT.
    const [organizationId] = await seedOrganizations(app, 1);
    const read = await cost(`{ organization(id: "${organizationId}") { id } }`);
    expect(read.response.errors).toBeUndefined();
    expect(read.statements).toBe(3);
  });
});

describe('with a pool of one connection', () => {
  let small: TestApp;
  beforeAll(async () => {
    small = await startTestApp({ DB_POOL_SIZE: '1' });
  });
  afterAll(() => small.close());

  it('concurrent queries, of session callers too, all succeed: a query holds one connection and never waits for a second', async () => {
    const f = factory(small);
    const organization = await f.organization();
    const members = await Promise.all(Array.from({ length: 3 }, () => f.signedInMember(organization.id, 'MEMBER')));
    const calls = Array.from({ length: 40 }, (_, i) => {
      const token = i % 2 === 0 ? undefined : members[i % members.length].token;
      return i % 4 < 2
        ? small.gql<OrganizationMembers, { id: string }>(ORGANIZATION_MEMBERS, { id: organization.id }, { token })
        : small.gql<UserOrganizations, { id: string }>(USER_ORGANIZATIONS, { id: members[i % members.length].user.id }, { token });
    });
    const responses = await Promise.all(calls);
    for (const response of responses) {
      expect(response.errors).toBeUndefined();
      expect(response.status).toBe(200);
    }
    const memberIds = members.map((m) => m.user.id).sort();
    for (const [i, response] of responses.entries()) {
      if (i % 4 < 2) {
        const data = response.data as OrganizationMembers;
        expect(data.organization!.memberships.nodes.map((m) => m.user.id).sort()).toEqual(memberIds);
      } else {
        const data = response.data as UserOrganizations;
        expect(data.user!.memberships.map((m) => m.organization.id)).toEqual([organization.id]);
      }
    }
    const pool = (small.dataSource.driver as PostgresDriver).master as { totalCount: number; idleCount: number };
    expect(pool.totalCount - pool.idleCount).toBe(0);
  });
});

describe('one field of a query fails (a lock timeout)', () => {
  let strict: TestApp;
  beforeAll(async () => {
    strict = await startTestApp({ DB_LOCK_TIMEOUT_MS: '300' });
  });
  afterAll(() => strict.close());

  it('the fields read after it in the same snapshot fail for the same reason, never as INTERNAL_SERVER_ERROR', async () => {
    const f = factory(strict);
    const [a, b] = [await f.organization({ domains: ['one.example'] }), await f.organization()];
    await f.member(b.id, (await f.user()).id);
    const locker = new Client({ connectionString: strict.databaseUrl, application_name: 'lock-holder' });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('LOCK TABLE organization_domains IN ACCESS EXCLUSIVE MODE');
      const response = await strict.gql<Record<string, unknown>, { a: string; b: string }>(
        `query ($a: ID!, $b: ID!) {
          a: organization(id: $a) { name domains { domain } }
          b: organization(id: $b) { name memberships(first: 2) { nodes { user { email } } } }
        }`,
        { a: a.id, b: b.id },
      );
      const codes = (response.errors ?? []).map((error) => error.extensions?.code);
      expect(codes.length).toBeGreaterThan(0);
      // The lock timeout is CONFLICT ("busy; try again"); whatever the transaction refused after it is too.
      expect(new Set(codes)).toEqual(new Set(['CONFLICT']));
    } finally {
      await locker.query('ROLLBACK').catch(() => undefined);
      await locker.end();
    }
  });
});
