import { randomBytes } from 'node:crypto';
import { parse } from 'graphql';
import { createDocumentStore, holdsStringLiterals } from '../src/http/persisted-queries';
import { startTestApp, type TestApp } from './support/app';
import { factory, ok } from './support/factory';
import { codeOf, persistedQuery, postJson, sha256Hex } from './support/protocol';
import { redisCommand, useRedis, type TestRedis } from './support/redis';

/**
 * Nothing personal in caches (issue 11): the APQ store (Redis with REDIS_URL) keeps only
 * documents without string literals, so an email or a name written inline never outlives
 * the person's erasure there. Such a document still runs; it is just not registered.
 */

let redis: TestRedis;
let app: TestApp;
beforeAll(async () => {
  redis = await useRedis();
  app = await startTestApp({ REDIS_URL: redis.url });
});
afterAll(async () => {
  await app?.close();
  await redis?.stop();
});

/** Every key in Redis with its value (strings only; other types by their key alone). */
async function redisContents(): Promise<Array<{ key: string; value: string | null }>> {
  const keys = (await redisCommand(redis.url, 'KEYS *')) as string[];
  const contents: Array<{ key: string; value: string | null }> = [];
  for (const key of keys) {
    const type = await redisCommand(redis.url, `TYPE ${key}`);
    contents.push({ key, value: type === 'string' ? ((await redisCommand(redis.url, `GET ${key}`)) as string | null) : null });
  }
  return contents;
}

/** Apollo stores a registration without awaiting it: wait until Redis holds the hash (no timing assertion). */
async function untilStored(hash: string): Promise<string[]> {
  let keys: string[] = [];
  for (let attempt = 0; attempt < 100 && keys.length === 0; attempt += 1) {
    keys = (await redisCommand(redis.url, `KEYS *${hash}`)) as string[];
    if (keys.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return keys;
}

describe('APQ registrations in Redis', () => {
  it('a document with literals runs but is not stored; after deleteUser no trace of the person is in Redis', async () => {
    const tag = randomBytes(6).toString('hex');
    const email = `apq-${tag}@private.example`;
    const name = `Apq Personname ${tag}`;

    // createUser with its literals inline, registered through APQ: it runs…
    const create = `mutation { createUser(input: {email: "${email}", name: "${name}"}) { id email name } }`;
    const created = await postJson(app.url, { query: create, extensions: persistedQuery(sha256Hex(create)) }, app.adminKey);
    expect(created.status).toBe(200);
    const userId = created.body?.data?.createUser.id as string;
    expect(created.body?.data?.createUser).toEqual({ id: userId, email, name });
    // …but its hash stays unknown: the client sends the text again next time.
    const again = await postJson(app.url, { extensions: persistedQuery(sha256Hex(create)) }, app.adminKey);
    expect(codeOf(again)).toBe('PERSISTED_QUERY_NOT_FOUND');

    // An ID as a literal is not stored either.
    const byIdLiteral = `query { user(id: "${userId}") { id email } }`;
    const read = await postJson(app.url, { query: byIdLiteral, extensions: persistedQuery(sha256Hex(byIdLiteral)) }, app.adminKey);
    expect(read.body).toEqual({ data: { user: { id: userId, email } } });
    expect(codeOf(await postJson(app.url, { extensions: persistedQuery(sha256Hex(byIdLiteral)) }, app.adminKey))).toBe(
      'PERSISTED_QUERY_NOT_FOUND',
    );

    // The same with variables is stored, and served by hash. It was sent after the others on
    // the same connection, so once Redis holds it, their (skipped) writes are past too.
    const byVariable = `query Apq_${tag}($id: ID!) { user(id: $id) { id email name } }`;
    const hash = sha256Hex(byVariable);
    const registered = await postJson(app.url, { query: byVariable, variables: { id: userId }, extensions: persistedQuery(hash) }, app.adminKey);
    expect(registered.body).toEqual({ data: { user: { id: userId, email, name } } });
    const stored = await untilStored(hash);
    expect(stored).toHaveLength(1);
    expect(await redisCommand(redis.url, `GET ${stored[0]}`)).toContain(`query Apq_${tag}`);
    const hit = await postJson(app.url, { variables: { id: userId }, extensions: persistedQuery(hash) }, app.adminKey);
    expect(hit.body).toEqual({ data: { user: { id: userId, email, name } } });

    // The person asks to be erased.
    const deleted = ok(
      await app.gql<{ deleteUser: { deletedUserId: string } }, { id: string }>(
        'mutation ($id: ID!) { deleteUser(id: $id) { deletedUserId } }',
        { id: userId },
      ),
    );
    expect(deleted.deleteUser.deletedUserId).toBe(userId);
    expect(await app.sql('SELECT 1 FROM users WHERE id = $1', [userId])).toEqual([]);

    // Every key and value in Redis: no email, no name, in any spelling.
    const contents = await redisContents();
    expect(contents.some(({ key }) => key.endsWith(hash))).toBe(true); // the scan saw our namespace
    const needles = [email, email.toUpperCase(), name, encodeURIComponent(email), `apq-${tag}`, `Personname ${tag}`];
    for (const { key, value } of contents) {
      for (const needle of needles) {
        const text = `${key}\n${value ?? ''}`.toLowerCase();
        expect({ key, needle, found: text.includes(needle.toLowerCase()) }).toEqual({ key, needle, found: false });
      }
    }
  });
});

describe('holdsStringLiterals', () => {
  it.each([
    ['an argument', 'query { user(id: "usr_01ARZ3NDEKTSV4RRFFQ69G5FAV") { id } }'],
    ['inside an input object', 'mutation { createUser(input: {email: "a@b.example", name: "A"}) { id } }'],
    ['inside a list', 'query { events(types: ["user.deleted"]) { totalCount } }'],
    ['a block string', 'mutation { createUser(input: {email: """a@b.example""", name: "A"}) { id } }'],
    ['a variable default', 'query ($id: ID! = "usr_01ARZ3NDEKTSV4RRFFQ69G5FAV") { user(id: $id) { id } }'],
    ['in a fragment', 'query { ...F } fragment F on Query { user(id: "usr_x") { id } }'],
    ['a text that does not parse', 'query { user(id: '],
  ])('is true for a string literal: %s', (_where, document) => {
    expect(holdsStringLiterals(document)).toBe(true);
  });

  it.each([
    ['variables', 'query Q($id: ID!, $n: Int) { user(id: $id) { id } users(first: $n) { totalCount } }'],
    ['numbers, booleans, enums and null', 'query { users(first: 5, after: null) { totalCount } viewer @include(if: true) { kind } }'],
    ['no arguments', '{ viewer { kind } }'],
  ])('is false for %s', (_what, document) => {
    expect(holdsStringLiterals(document)).toBe(false);
    expect(holdsStringLiterals(parse(document))).toBe(false);
  });
});

describe("Apollo's parsed-document cache (createDocumentStore)", () => {
  it('keeps documents without string literals and drops those with them', async () => {
    const store = createDocumentStore();
    const withVariables = parse('query ($id: ID!) { user(id: $id) { id } }');
    const withLiteral = parse('mutation { createUser(input: {email: "a@b.example", name: "A"}) { id } }');
    await store.set('plain', withVariables);
    await store.set('literal', withLiteral);
    expect(await store.get('plain')).toBe(withVariables);
    expect(await store.get('literal')).toBeUndefined();
  });
});
