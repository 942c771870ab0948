import {
  AddOrganizationDomainDocument,
  FindOrganizationsDocument,
  FindUsersDocument,
  UpdateOrganizationDocument,
  UpdateUserDocument,
} from '../src/generated/graphql';
import { startTestApp, type TestApp } from './support/app';
import { asKey, createApiKey } from './support/keys';
import { errorCode, factory, fieldsOf, ok } from './support/factory';

/**
 * Issue 12, "find people": users(filter:) by email (canonical key) and externalId,
 * organizations(filter:) by externalId and domain (its A-label, held verified), over HTTP
 * as the admin, keys and signed-in users; and an EXPLAIN of the very statements the server
 * ran, on a few thousand analyzed rows, proving that each filter is served by an index.
 */

let app: TestApp;
let make: ReturnType<typeof factory>;
beforeAll(async () => {
  app = await startTestApp();
  make = factory(app);
});
afterAll(() => app.close());

let counter = 0;
const fresh = (stem: string) => `${stem}-${(counter += 1)}-${Date.now().toString(36)}`;

const wide = (text: string) => text.replace(/[!-~]/g, (c) => String.fromCodePoint(c.codePointAt(0)! + 0xfee0));

async function findUsers(filter: Record<string, unknown>, token?: string | null) {
  return app.gql(FindUsersDocument, { filter, first: 100 }, token === undefined ? {} : { token });
}
async function findOrganizations(filter: Record<string, unknown>, token?: string | null) {
  return app.gql(FindOrganizationsDocument, { filter, first: 100 }, token === undefined ? {} : { token });
}
/** The IDs of a connection's nodes, from a FindUsers or FindOrganizations answer's data. */
const ids = (data: { users?: { nodes: Array<{ id: string }> }; organizations?: { nodes: Array<{ id: string }> } }) =>
  (data.users ?? data.organizations)?.nodes.map((node) => node.id);

describe('users(filter:)', () => {
  it.each([
    ['as stored', (local: string) => `${local}@münchen.example`],
    ['in upper case', (local: string) => `${local.toUpperCase()}@MÜNCHEN.EXAMPLE`],
    ['in NFD', (local: string) => `${local}@münchen.example`.normalize('NFD')],
    ['with the A-label domain', (local: string) => `${local}@xn--mnchen-3ya.example`],
    ['in full width', (local: string) => wide(`${local}@`) + 'münchen.example'],
    ['with spaces around', (local: string) => `  ${local}@münchen.example `],
  ])('finds the one account by email %s (the canonical key)', async (_label, spell) => {
    const local = fresh('jürgen');
    const user = await make.user({ email: `${local}@münchen.example` });
    await make.user({ email: `${local}x@münchen.example` });
    expect(ids(ok(await findUsers({ email: spell(local) })) as never)).toEqual([user.id]);
  });

  it('finds by externalId exactly (case matters), and by both fields only when both match', async () => {
    const externalId = fresh('HR');
    const user = await make.user();
    ok(await app.gql(UpdateUserDocument, { input: { id: user.id, externalId } }));
    const other = await make.user();
    ok(await app.gql(UpdateUserDocument, { input: { id: other.id, externalId } }));
    expect(ids(ok(await findUsers({ externalId })) as never)).toEqual([user.id, other.id]);
    expect(ids(ok(await findUsers({ externalId: externalId.toLowerCase() })) as never)).toEqual([]);
    expect(ids(ok(await findUsers({ externalId, email: user.email })) as never)).toEqual([user.id]);
    expect(ids(ok(await findUsers({ externalId: 'nobody', email: user.email })) as never)).toEqual([]);
  });

  it('answers an empty page for an address nobody has, and every user for an empty filter or null fields', async () => {
    expect(ids(ok(await findUsers({ email: `${fresh('nobody')}@example.com` })) as never)).toEqual([]);
    const [{ count }] = await app.sql<{ count: number }>('SELECT least(count(*), 100)::int AS count FROM users');
    expect(ids(ok(await findUsers({})) as never)).toHaveLength(count);
    expect(ids(ok(await findUsers({ email: null, externalId: null })) as never)).toHaveLength(count);
  });

  it.each([
    ['a malformed email', { email: 'not-an-email' }, 'filter.email'],
    ['an email whose domain UTS #46 refuses', { email: 'a@xn--a.example' }, 'filter.email'],
    ['an over-long email', { email: `${'a'.repeat(320)}@example.com` }, 'email'],
    ['an empty externalId', { externalId: '' }, 'externalId'],
  ])('refuses %s with BAD_USER_INPUT naming the field', async (_label, filter, field) => {
    const response = await findUsers(filter);
    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(fieldsOf(response)).toContain(field);
    expect(JSON.stringify(response.errors)).not.toContain('not-an-email');
  });

  it('keys: USERS_READ runs FindUsers by hash; a key without it is FORBIDDEN; a signed-in user may not list users', async () => {
    const local = fresh('partner');
    const user = await make.user({ email: `${local}@example.com` });
    const reader = await createApiKey(app, ['USERS_READ']);
    const found = await asKey(app, reader.secret, 'FindUsers', { filter: { email: `${local.toUpperCase()}@EXAMPLE.COM` } });
    expect(ok(found).users.nodes).toEqual([expect.objectContaining({ id: user.id, email: `${local}@example.com` })]);
    const other = await createApiKey(app, ['USERS_WRITE', 'USERS_DELETE', 'ORGANIZATIONS_READ', 'SESSIONS_WRITE']);
    expect(errorCode(await asKey(app, other.secret, 'FindUsers', { filter: { email: user.email } }))).toBe('FORBIDDEN');
    const { token } = await make.session(user.id);
    expect(errorCode(await findUsers({ email: user.email }, token))).toBe('FORBIDDEN');
  });
});

describe('organizations(filter:)', () => {
  it('finds by externalId exactly', async () => {
    const externalId = fresh('ACCT');
    const organization = await make.organization();
    ok(await app.gql(UpdateOrganizationDocument, { input: { id: organization.id, externalId } }));
    await make.organization();
    expect(ids(ok(await findOrganizations({ externalId })) as never)).toEqual([organization.id]);
    expect(ids(ok(await findOrganizations({ externalId: externalId.toLowerCase() })) as never)).toEqual([]);
  });

  it('finds the verified holder of a domain in any spelling; unverified claims to it do not match', async () => {
    const label = fresh('münchen');
    const domain = `${label}.example`;
    const squatter = await make.user();
    const { token } = await make.session(squatter.id);
    // The squatter claims it first (unverified), then the admin creates the real holder (verified).
    const { createOrganization: claim } = ok(
      await app.gql(
        `mutation ($input: CreateOrganizationInput!) { createOrganization(input: $input) { id } }`,
        { input: { name: 'Squatter', domains: [domain] } } as never,
        { token },
      ),
    ) as { createOrganization: { id: string } };
    const real = await make.organization({ domains: [domain] });
    for (const spelling of [domain, domain.toUpperCase(), new URL(`http://${domain}`).hostname, ` ${domain} `]) {
      const response = ok(await findOrganizations({ domain: spelling }));
      expect(response.organizations.nodes).toEqual([
        expect.objectContaining({ id: real.id, domains: [{ domain: new URL(`http://${domain}`).hostname, verified: true }] }),
      ]);
    }
    expect(claim.id).not.toBe(real.id);
    // A domain held only as a claim matches nobody.
    const onlyClaimed = `${fresh('claimed')}.example`;
    ok(await app.gql(AddOrganizationDomainDocument, { organizationId: claim.id, domain: onlyClaimed }, { token }));
    expect(ids(ok(await findOrganizations({ domain: onlyClaimed })) as never)).toEqual([]);
  });

  it('keeps a signed-in user to their own organizations', async () => {
    const externalId = fresh('SHARED');
    const domain = `${fresh('theirs')}.example`;
    const mine = await make.organization();
    const theirs = await make.organization({ domains: [domain] });
    for (const organization of [mine, theirs]) {
      ok(await app.gql(UpdateOrganizationDocument, { input: { id: organization.id, externalId } }));
    }
    const me = await make.signedInMember(mine.id, 'MEMBER');
    expect(ids(ok(await findOrganizations({ externalId }, me.token)) as never)).toEqual([mine.id]);
    expect(ids(ok(await findOrganizations({ domain }, me.token)) as never)).toEqual([]);
    expect(ids(ok(await findOrganizations({ externalId })) as never)).toEqual([mine.id, theirs.id]);
  });

  it.each([
    ['an invalid domain', { domain: 'not a domain' }, 'filter.domain'],
    ['a one-label domain', { domain: 'localhost' }, 'filter.domain'],
    ['an over-long domain', { domain: `${'a'.repeat(250)}.com` }, 'domain'],
    ['an over-long externalId', { externalId: 'e'.repeat(256) }, 'externalId'],
  ])('refuses %s with BAD_USER_INPUT naming the field', async (_label, filter, field) => {
    const response = await findOrganizations(filter);
    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(fieldsOf(response)).toContain(field);
  });

  it('keys: ORGANIZATIONS_READ runs FindOrganizations by hash; a key without it is FORBIDDEN', async () => {
    const domain = `${fresh('keyed')}.example`;
    const organization = await make.organization({ domains: [domain] });
    const reader = await createApiKey(app, ['ORGANIZATIONS_READ']);
    const found = await asKey(app, reader.secret, 'FindOrganizations', { filter: { domain } });
    expect(ok(found).organizations.nodes.map((node: { id: string }) => node.id)).toEqual([organization.id]);
    const other = await createApiKey(app, ['ORGANIZATIONS_WRITE', 'USERS_READ']);
    expect(errorCode(await asKey(app, other.secret, 'FindOrganizations', { filter: { domain } }))).toBe('FORBIDDEN');
  });
});

describe('index-backed: EXPLAIN of the statements the server runs, on analyzed rows', () => {
  const ROWS = 5_000;
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(26, '0');

  beforeAll(async () => {
    // Thousands of rows, then statistics, so that the planner picks what it would in production.
    await app.sql(
      `INSERT INTO users (id, email, email_key, name, external_id)
       SELECT 'usr_' || lpad(upper(to_hex(i)), 26, '0'), 'bulk' || i || '@example.com', 'bulk' || i || '@example.com',
              'Bulk', CASE WHEN i % 2 = 0 THEN 'ext-' || i END
         FROM generate_series(1, $1::int) AS i`,
      [ROWS],
    );
    await app.sql(
      `INSERT INTO organizations (id, name, external_id)
       SELECT 'org_' || lpad(upper(to_hex(i)), 26, '0'), 'Bulk ' || i, CASE WHEN i % 2 = 0 THEN 'acct-' || i END
         FROM generate_series(1, $1::int) AS i`,
      [ROWS],
    );
    await app.sql(`INSERT INTO organization_settings (organization_id) SELECT id FROM organizations WHERE name LIKE 'Bulk %'`);
    await app.sql(
      `INSERT INTO organization_domains (organization_id, domain, verified)
       SELECT 'org_' || lpad(upper(to_hex(i)), 26, '0'), 'bulk' || i || '.example', i % 3 <> 0
         FROM generate_series(1, $1::int) AS i`,
      [ROWS],
    );
    await app.sql('ANALYZE users, organizations, organization_domains, memberships');
  });

  /** Runs `send` over HTTP and returns the statements (with parameters) the server sent that match `pattern`. */
  async function statementsOf(send: () => Promise<unknown>, pattern: RegExp): Promise<Array<[string, unknown[]]>> {
    const captured: Array<[string, unknown[]]> = [];
    const counter = app.queries as unknown as { logQuery: (query: string, parameters?: unknown[]) => void };
    const original = counter.logQuery;
    counter.logQuery = function (query: string, parameters?: unknown[]) {
      captured.push([query, parameters ?? []]);
      return original.call(this, query);
    };
    try {
      await send();
    } finally {
      counter.logQuery = original;
    }
    return captured.filter(([query]) => pattern.test(query));
  }

  /** The plan of one statement, as the node types and index names it uses. */
  async function planOf([query, parameters]: [string, unknown[]]): Promise<{ text: string; seqScans: string[]; indexes: string[] }> {
    const rows = await app.sql<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) ${query}`, parameters);
    const plan = rows[0]['QUERY PLAN'];
    const seqScans: string[] = [];
    const indexes: string[] = [];
    const walk = (node: Record<string, unknown>) => {
      if (node['Node Type'] === 'Seq Scan') seqScans.push(String(node['Relation Name']));
      if (typeof node['Index Name'] === 'string') indexes.push(node['Index Name']);
      for (const child of (node.Plans as Array<Record<string, unknown>> | undefined) ?? []) walk(child);
    };
    walk((plan as Array<{ Plan: Record<string, unknown> }>)[0].Plan);
    return { text: JSON.stringify(plan), seqScans, indexes };
  }

  it.each<[string, () => Promise<unknown>, RegExp, string[]]>([
    [
      'users by email: the unique canonical-key index',
      () => findUsers({ email: 'BULK4242@Example.COM' }),
      /FROM "users" "u" WHERE "u"\."email_key" = \$1/,
      ['users_email_key_key'],
    ],
    ['users by externalId', () => findUsers({ externalId: 'ext-4242' }), /FROM "users" "u" WHERE "u"\."external_id" = \$1/, ['users_external_id_idx']],
    [
      'organizations by externalId',
      () => findOrganizations({ externalId: 'acct-4242' }),
      /FROM "organizations" "o" WHERE "o"\."external_id" = \$1/,
      ['organizations_external_id_idx'],
    ],
    [
      'organizations by domain: a verified-domain index, then the primary key',
      () => findOrganizations({ domain: 'BULK4241.example' }),
      /FROM "organizations".*organization_domains d WHERE d\.domain = \$1/s,
      ['organization_domains_verified_key|organization_domains_domain_idx', 'organizations_pkey'],
    ],
  ])('%s', async (_label, send, pattern, expectedIndexes) => {
    const statements = await statementsOf(send, pattern);
    expect(statements).toHaveLength(1);
    const plan = await planOf(statements[0]);
    expect(plan.seqScans).toEqual([]);
    for (const index of expectedIndexes) expect(plan.indexes.some((name) => new RegExp(`^(${index})$`).test(name))).toBe(true);
    // And the statement finds what it should, so the plan is of a working query.
    const rows = await app.sql(statements[0][0], statements[0][1]);
    expect(rows).toHaveLength(1);
  });

  it('the users query without a filter still pages by the primary key (a filter adds conditions, nothing else)', async () => {
    const statements = await statementsOf(() => findUsers({}), /FROM "users"/);
    expect(statements).toHaveLength(1);
    expect(statements[0][0]).not.toMatch(/WHERE/);
  });
});
