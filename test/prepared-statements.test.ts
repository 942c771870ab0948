import { ConfigError, loadConfig } from '../src/config';
import { MEMBERSHIP_PAGE } from '../src/memberships/membership.loader';
import { SESSIONS_BY_USER } from '../src/sessions/session.loader';
import { onEveryPoolConnection, startTestApp, type TestApp } from './support/app';
import { factory, ok } from './support/factory';

/** pg's wire protocol writer (no type declarations of its own): one call per Parse / Bind message sent. */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const Connection = require('pg/lib/connection') as {
  prototype: { parse(message: { name?: string }): void; bind(message: { statement?: string }): void };
};

/**
 * Issue 13: with DB_PREPARED_STATEMENTS=true the loaders' fixed statements go to PostgreSQL
 * as named prepared statements (src/plain-rows.ts runStatement), parsed once per connection.
 * Off by default (a pooler in transaction mode that does not track them, PgBouncer 1.18 of
 * ops/cluster.ts; test/pgbouncer-safe.test.ts checks that configuration leaves nothing on a
 * connection). Both answer the same.
 */

const MEMBER_LIST = `query ($id: ID!) { organization(id: $id) { memberships(first: 100) {
  totalCount nodes { id role user { id email sessions { id status } } } } } }`;

let named: TestApp;
let unnamed: TestApp;

beforeAll(async () => {
  [named, unnamed] = await Promise.all([startTestApp({ DB_POOL_SIZE: '2', DB_PREPARED_STATEMENTS: 'true' }), startTestApp({ DB_POOL_SIZE: '2' })]);
});
afterAll(() => Promise.all([named?.close(), unnamed?.close()]));

/** Seeds the same organization shape in an app: 3 members, 2 sessions each. */
async function seed(app: TestApp): Promise<string> {
  const f = factory(app);
  const organization = await f.organization();
  for (let index = 0; index < 3; index += 1) {
    const user = await f.user();
    await f.member(organization.id, user.id, index === 0 ? 'OWNER' : 'MEMBER');
    await f.session(user.id);
    await f.session(user.id);
  }
  return organization.id;
}

/** The statements the app's pool sent meanwhile, as pg received them: [name or null, text]. */
async function sentDuring(app: TestApp, work: () => Promise<void>): Promise<Array<[string | null, string]>> {
  const spy = jest.spyOn(app.queries.pgClient.prototype, 'query');
  try {
    await work();
    return spy.mock.calls.map(([first]) => {
      if (typeof first === 'string') return [null, first];
      const config = first as { name?: string; text?: string };
      return [config.name ?? null, String(config.text)];
    });
  } finally {
    spy.mockRestore();
  }
}

/** The prepared statements on every connection of the app's pool, sorted. */
async function preparedOnPool(app: TestApp): Promise<string[]> {
  const names = await onEveryPoolConnection(app.dataSource, async (client) =>
    (await client.query<{ name: string }>('SELECT name FROM pg_prepared_statements')).rows.map((row) => row.name),
  );
  return names.flat().sort();
}

/** The member list's data with the IDs (random per app) replaced by their order of appearance. */
function shapeOf(data: unknown): unknown {
  const ids = new Map<string, string>();
  return JSON.parse(JSON.stringify(data), (_key, value: unknown) =>
    typeof value === 'string' && /^[a-z]{3}_[0-9A-Z]{26}$/.test(value)
      ? (ids.get(value) ?? ids.set(value, `id${ids.size}`).get(value))
      : typeof value === 'string' && value.includes('@')
        ? 'email'
        : value,
  );
}

describe('DB_PREPARED_STATEMENTS', () => {
  it('is off by default and takes true or false only', () => {
    expect(loadConfig({}).dbPreparedStatements).toBe(false);
    expect(loadConfig({ DB_PREPARED_STATEMENTS: 'true' }).dbPreparedStatements).toBe(true);
    expect(loadConfig({ DB_PREPARED_STATEMENTS: 'false' }).dbPreparedStatements).toBe(false);
    expect(loadConfig({ DB_PREPARED_STATEMENTS: '0' }).dbPreparedStatements).toBe(false);
    expect(() => loadConfig({ DB_PREPARED_STATEMENTS: 'sometimes' })).toThrow(ConfigError);
  });

  it('on: the member list sends its loader statements under their names, parsed once per connection', async () => {
    const organizationId = await seed(named);
    const first = await sentDuring(named, async () => {
      ok(await named.gql(MEMBER_LIST, { id: organizationId }));
    });
    expect(first).toContainEqual([MEMBERSHIP_PAGE.name, MEMBERSHIP_PAGE.text]);
    expect(first).toContainEqual([SESSIONS_BY_USER.name, SESSIONS_BY_USER.text]);
    // BEGIN and COMMIT stay unnamed: simple-protocol statements with no plan to keep.
    expect(first.filter(([name]) => name === null).map(([, text]) => text.split(' ')[0])).toEqual(['BEGIN', 'COMMIT']);

    // Four more reads on a pool of two connections: the page runs four times (a Bind each)
    // but is parsed at most once per connection, so at most twice.
    const parse = jest.spyOn(Connection.prototype, 'parse');
    const bind = jest.spyOn(Connection.prototype, 'bind');
    let parses: number;
    let binds: number;
    try {
      for (let index = 0; index < 4; index += 1) ok(await named.gql(MEMBER_LIST, { id: organizationId }));
      parses = parse.mock.calls.filter(([message]) => (message as { name?: string }).name === MEMBERSHIP_PAGE.name).length;
      binds = bind.mock.calls.filter(([message]) => (message as { statement?: string }).statement === MEMBERSHIP_PAGE.name).length;
    } finally {
      parse.mockRestore();
      bind.mockRestore();
    }
    expect(binds).toBe(4);
    expect(parses).toBeLessThanOrEqual(1);
    const prepared = await preparedOnPool(named);
    expect(prepared).toEqual(expect.arrayContaining([MEMBERSHIP_PAGE.name, SESSIONS_BY_USER.name]));
    expect(prepared.filter((name) => name === MEMBERSHIP_PAGE.name).length).toBeGreaterThanOrEqual(1);
  });

  it('off (the default): nothing is named and no connection keeps a prepared statement; the answer is the same', async () => {
    const organizationId = await seed(unnamed);
    let answer: unknown;
    const sent = await sentDuring(unnamed, async () => {
      answer = ok(await unnamed.gql(MEMBER_LIST, { id: organizationId }));
    });
    // BEGIN, the organization, the page, its count, the sessions, COMMIT.
    expect(sent.length).toBe(6);
    expect(sent.filter(([name]) => name !== null)).toEqual([]);
    expect(sent.map(([, text]) => text)).toContain(MEMBERSHIP_PAGE.text);
    expect(await preparedOnPool(unnamed)).toEqual([]);

    const namedOrganizationId = await seed(named);
    const namedAnswer = ok(await named.gql(MEMBER_LIST, { id: namedOrganizationId }));
    expect(shapeOf(namedAnswer)).toEqual(shapeOf(answer));
  });
});
