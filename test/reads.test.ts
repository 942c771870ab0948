import { startTestApp, type TestApp } from './support/app';
import { factory, ok } from './support/factory';

/**
 * Reads without N+1: the nested read below costs the same, small number of SQL
 * statements on a data set and on one ten times larger, because every relation field
 * goes through a per-request DataLoader that batches one level into one statement.
 * Pages sized to stay within the node limit (README, Query limits): 1 + 50 × (2 + 5 × 22) = 5,601.
 */
const NESTED = `{ organizations(first: 50) { nodes { id memberships(first: 5) { nodes { id user { id sessions { id } } } } } } }`;

interface NestedResult {
  organizations: {
    nodes: Array<{ id: string; memberships: { nodes: Array<{ id: string; user: { id: string; sessions: Array<{ id: string }> } }> } }>;
  };
}

interface Shape {
  organizations: number;
  membersPerOrganization: number;
  sessionsPerUser: number;
}

const SMALL: Shape = { organizations: 5, membersPerOrganization: 4, sessionsPerUser: 2 };
const LARGE: Shape = { organizations: 50, membersPerOrganization: 4, sessionsPerUser: 2 };

/**
 * Seeds with set-based SQL. IDs are the prefix plus a zero-padded number: 26 digits
 * are valid Crockford base32, and zero-padding keeps them in insertion order.
 */
async function seed(app: TestApp, shape: Shape): Promise<void> {
  const params = [shape.organizations, shape.membersPerOrganization, shape.sessionsPerUser];
  await app.sql(
    `INSERT INTO organizations (id, name)
     SELECT 'org_' || lpad(o::text, 26, '0'), 'Organization ' || o FROM generate_series(1, $1::int) o`,
    params.slice(0, 1),
  );
  await app.sql(
    `INSERT INTO users (id, email, email_key)
     SELECT 'usr_' || lpad(u::text, 26, '0'), 'user' || u || '@example.com', 'user' || u || '@example.com'
       FROM generate_series(1, $1::int * $2::int) u`,
    params.slice(0, 2),
  );
  await app.sql(
    `INSERT INTO memberships (id, organization_id, user_id, role)
     SELECT 'mem_' || lpad(u::text, 26, '0'), 'org_' || lpad(((u - 1) / $2::int + 1)::text, 26, '0'),
            'usr_' || lpad(u::text, 26, '0'), 'MEMBER'
       FROM generate_series(1, $1::int * $2::int) u`,
    params.slice(0, 2),
  );
  await app.sql(
    `INSERT INTO sessions (id, user_id, token_hash, expires_at)
     SELECT 'ses_' || lpad(s::text, 26, '0'), 'usr_' || lpad(((s - 1) / $3::int + 1)::text, 26, '0'),
            sha256(convert_to('seeded-token-' || s, 'UTF8')), now() + interval '1 day'
       FROM generate_series(1, $1::int * $2::int * $3::int) s`,
    params,
  );
}

/** Runs the nested read as the admin; returns the statements it cost and what it answered. */
async function measure(app: TestApp, token?: string): Promise<{ statements: number; data: NestedResult }> {
  const before = app.queries.count;
  const response = await app.gql<NestedResult, Record<string, never>>(NESTED, {}, { token });
  const statements = app.queries.count - before;
  return { statements, data: ok(response) };
}

function expectShape(data: NestedResult, shape: Shape) {
  const organizations = data.organizations.nodes;
  expect(organizations).toHaveLength(shape.organizations);
  for (const organization of organizations) {
    expect(organization.memberships.nodes).toHaveLength(shape.membersPerOrganization);
    for (const membership of organization.memberships.nodes) {
      expect(membership.user.sessions).toHaveLength(shape.sessionsPerUser);
    }
  }
  const sessions = organizations.flatMap((o) => o.memberships.nodes.flatMap((m) => m.user.sessions.map((s) => s.id)));
  expect(new Set(sessions).size).toBe(shape.organizations * shape.membersPerOrganization * shape.sessionsPerUser);
}

describe('nested reads', () => {
  let small: TestApp;
  let large: TestApp;
  beforeAll(async () => {
    [small, large] = await Promise.all([startTestApp(), startTestApp()]);
    await Promise.all([seed(small, SMALL), seed(large, LARGE)]);
  });
  afterAll(async () => {
    await Promise.all([small?.close(), large?.close()]);
  });

  it('answer the full nested data on both data sets', async () => {
    const smallRun = await measure(small);
    expectShape(smallRun.data, SMALL);
    const largeRun = await measure(large);
    expectShape(largeRun.data, LARGE);

    // The answer matches the database, row for row.
    const expected = await large.sql<{ organization_id: string; user_id: string; session_id: string }>(
      `SELECT m.organization_id, m.user_id, s.id AS session_id
         FROM memberships m JOIN sessions s ON s.user_id = m.user_id
        ORDER BY m.organization_id, m.id, s.id`,
    );
    const answered = largeRun.data.organizations.nodes.flatMap((o) =>
      o.memberships.nodes.flatMap((m) => m.user.sessions.map((s) => ({ organization_id: o.id, user_id: m.user.id, session_id: s.id }))),
    );
    expect(answered).toEqual(expected);
  });

  it('cost the same, small number of SQL statements on a data set ten times larger', async () => {
    const [{ rows: smallRows }] = await small.sql<{ rows: number }>(
      `SELECT (SELECT count(*) FROM organizations) + (SELECT count(*) FROM users)
            + (SELECT count(*) FROM memberships) + (SELECT count(*) FROM sessions) AS rows`,
    );
    const [{ rows: largeRows }] = await large.sql<{ rows: number }>(
      `SELECT (SELECT count(*) FROM organizations) + (SELECT count(*) FROM users)
            + (SELECT count(*) FROM memberships) + (SELECT count(*) FROM sessions) AS rows`,
    );
    expect(Number(largeRows)).toBe(10 * Number(smallRows));

    const smallRun = await measure(small);
    const largeRun = await measure(large);
    expect(smallRun.data.organizations.nodes.length).toBeGreaterThan(0);
    // One statement a level: organizations, their membership pages, the users, the users'
    // sessions; plus BEGIN and COMMIT of the query's read snapshot (issue 10).
    expect(smallRun.statements).toBeGreaterThan(0);
    expect(smallRun.statements).toBeLessThanOrEqual(7);
    expect(largeRun.statements).toBe(smallRun.statements);
  });

  it('cost the same number of statements for a session user, whose reads are also filtered', async () => {
    // A user who belongs to every organization, signed in with a session, on both data sets.
    const signIn = async (app: TestApp) => {
      const f = factory(app);
      const user = await f.user();
      await app.sql(
        `INSERT INTO memberships (id, organization_id, user_id, role)
         SELECT 'mem_Z' || substr(o.id, 6), o.id, $1, 'MEMBER' FROM organizations o`,
        [user.id],
      );
      const { token, session } = await f.session(user.id);
      return { user, token, session };
    };
    const [smallViewer, largeViewer] = [await signIn(small), await signIn(large)];
    const smallRun = await measure(small, smallViewer.token);
    const largeRun = await measure(large, largeViewer.token);
    for (const [run, shape, viewer] of [
      [smallRun, SMALL, smallViewer],
      [largeRun, LARGE, largeViewer],
    ] as const) {
      const organizations = run.data.organizations.nodes;
      expect(organizations).toHaveLength(shape.organizations);
      for (const organization of organizations) {
        expect(organization.memberships.nodes).toHaveLength(shape.membersPerOrganization + 1);
        for (const { user } of organization.memberships.nodes) {
          // Sessions are private: the viewer sees their own, and an empty list for everyone else.
          expect(user.sessions).toEqual(user.id === viewer.user.id ? [{ id: viewer.session.id }] : []);
        }
      }
    }
    // Two more than before issue 10: the read snapshot's BEGIN and COMMIT.
    expect(smallRun.statements).toBeLessThanOrEqual(9);
    expect(largeRun.statements).toBe(smallRun.statements);
  });
});
