import { CreateUserDocument, GetUserDocument, ListUsersDocument, type ListUsersQuery } from '../src/generated/graphql';
import { startTestApp, type TestApp } from './support/app';
import { errorCode, factory, ok, tableCounts } from './support/factory';

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app.close());

describe('createUser', () => {
  it('creates a user and stores it', async () => {
    const user = ok(
      await app.gql(CreateUserDocument, { input: { email: 'Ada@Example.com', name: 'Ada Lovelace', externalId: 'ext-1' } }),
    ).createUser;
    expect(user).toMatchObject({ email: 'Ada@Example.com', name: 'Ada Lovelace', externalId: 'ext-1' });
    expect(user.id).toMatch(/^usr_[0-9A-HJKMNP-TV-Z]{26}$/);
    const rows = await app.sql('SELECT email, name, external_id FROM users WHERE id = $1', [user.id]);
    expect(rows).toEqual([{ email: 'Ada@Example.com', name: 'Ada Lovelace', external_id: 'ext-1' }]);
  });

  it('refuses a duplicate email, case-insensitively, with CONFLICT and writes nothing', async () => {
    await factory(app).user({ email: 'grace@example.com' });
    const before = await tableCounts(app);
    const response = await app.gql(CreateUserDocument, { input: { email: 'GRACE@example.com' } });
    expect(errorCode(response)).toBe('CONFLICT');
    expect(await tableCounts(app)).toEqual(before);
  });

  it.each([
    // Checked by src/identity/canonical.ts in the service, which names the input path.
    ['a malformed email', { email: 'not-an-email' }, 'input.email'],
    ['an over-long email', { email: `${'a'.repeat(320)}@example.com` }, 'email'],
    ['an empty name', { email: 'x1@example.com', name: '' }, 'name'],
    ['a blank name', { email: 'x2@example.com', name: '   ' }, 'name'],
    ['an over-long name', { email: 'x3@example.com', name: 'n'.repeat(201) }, 'name'],
    ['an over-long externalId', { email: 'x4@example.com', externalId: 'e'.repeat(256) }, 'externalId'],
  ])('refuses %s with BAD_USER_INPUT naming the field', async (_label, input, field) => {
    const before = await tableCounts(app);
    const response = await app.gql(CreateUserDocument, { input });
    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(response.errors?.[0]?.extensions?.fields).toEqual(expect.arrayContaining([expect.objectContaining({ field })]));
    expect(await tableCounts(app)).toEqual(before);
  });

  it('is admin-only: a session user gets FORBIDDEN and nothing is written', async () => {
    const f = factory(app);
    const organization = await f.organization();
    const { token } = await f.signedInMember(organization.id, 'OWNER');
    const before = await tableCounts(app);
    const response = await app.gql(CreateUserDocument, { input: { email: 'sneaky@example.com' } }, { token });
    expect(errorCode(response)).toBe('FORBIDDEN');
    expect(await tableCounts(app)).toEqual(before);
  });

  it('requires credentials: UNAUTHENTICATED with HTTP 401', async () => {
    const response = await app.gql(CreateUserDocument, { input: { email: 'anon@example.com' } }, { token: null });
    expect(response.status).toBe(401);
    expect(errorCode(response)).toBe('UNAUTHENTICATED');
    const bad = await app.gql(CreateUserDocument, { input: { email: 'anon@example.com' } }, { token: 'sst_forged' });
    expect(bad.status).toBe(401);
    expect(await app.sql(`SELECT 1 FROM users WHERE email = 'anon@example.com'`)).toEqual([]);
  });
});

describe('user and users', () => {
  it('reads a user by ID, null for an unknown one, BAD_USER_INPUT for a malformed one', async () => {
    const created = await factory(app).user();
    expect(ok(await app.gql(GetUserDocument, { id: created.id })).user?.id).toBe(created.id);
    expect(ok(await app.gql(GetUserDocument, { id: 'usr_01ARZ3NDEKTSV4RRFFQ69G5FAV' })).user).toBeNull();
    const malformed = await app.gql(GetUserDocument, { id: 'org_01ARZ3NDEKTSV4RRFFQ69G5FAV' });
    expect(errorCode(malformed)).toBe('BAD_USER_INPUT');
    expect(malformed.errors?.[0]?.extensions?.fields).toEqual([expect.objectContaining({ field: 'id' })]);
  });

  it('pages through every user with opaque cursors', async () => {
    const f = factory(app);
    for (let i = 0; i < 5; i += 1) await f.user();
    const [{ total }] = await app.sql<{ total: number }>('SELECT count(*)::int AS total FROM users');
    const seen: string[] = [];
    let after: string | null | undefined = null;
    for (;;) {
      const page: ListUsersQuery['users'] = ok(await app.gql(ListUsersDocument, { first: 2, after })).users;
      expect(page.totalCount).toBe(total);
      seen.push(...page.nodes.map((node) => node.id));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(seen).toHaveLength(total);
    expect(new Set(seen).size).toBe(total);
    expect([...seen].sort()).toEqual(seen);
  });

  it.each([
    ['first above 100', { first: 101 }, 'first'],
    ['first of zero', { first: 0 }, 'first'],
    ['a malformed cursor', { after: 'definitely-not-a-cursor' }, 'after'],
  ])('refuses %s with BAD_USER_INPUT', async (_label, variables, field) => {
    const response = await app.gql(ListUsersDocument, variables);
    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(response.errors?.[0]?.extensions?.fields).toEqual([expect.objectContaining({ field })]);
  });

  it('is admin-only for listing', async () => {
    const f = factory(app);
    const organization = await f.organization();
    const { token } = await f.signedInMember(organization.id, 'MEMBER');
    expect(errorCode(await app.gql(ListUsersDocument, {}, { token }))).toBe('FORBIDDEN');
  });
});
