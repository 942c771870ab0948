import fs from 'node:fs';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { promisify } from 'node:util';
import { ApolloClient, ApolloLink, CombinedGraphQLErrors, HttpLink, InMemoryCache, gql, type DocumentNode } from '@apollo/client';
import { PersistedQueryLink } from '@apollo/client/link/persisted-queries';
import { generatePersistedQueryIdsFromManifest } from '@apollo/persisted-query-lists';
import { Client, cacheExchange, fetchExchange } from '@urql/core';
import { getOperationAST, parse, print } from 'graphql';
import { ClientError, GraphQLClient } from 'graphql-request';
import manifest from '../src/generated/persisted-documents.json';
import { startTestApp, type TestApp } from './support/app';
import { factory, tableCounts } from './support/factory';
import { createApiKey } from './support/keys';
import { sha256Hex, trustedDocument } from './support/protocol';
import { recordWire, startRecordingProxy, type RecordingProxy, type WireExchange } from './support/wire';

/**
 * Issue 12: the GraphQL clients people use, against the real server. The README's Clients
 * section shows the scripts in test/support/client-examples/ verbatim; they run here as
 * pasted, with `node`, through a recording proxy (test/support/wire.ts), and the database
 * is checked afterwards. Then, in this process, what makes the partner recipe what it is.
 */

const PROJECT = path.join(__dirname, '..');
const EXAMPLES = path.join(__dirname, 'support', 'client-examples');

let app: TestApp;
let make: ReturnType<typeof factory>;
let proxy: RecordingProxy;
beforeAll(async () => {
  app = await startTestApp();
  make = factory(app);
  proxy = await startRecordingProxy(app.url);
});
afterAll(async () => {
  await proxy?.close();
  await app?.close();
});
beforeEach(() => {
  proxy.exchanges.length = 0;
});

/**
 * Runs an example with the machine's node, as a reader would (`VAR=… node example.mjs`),
 * pointed at the recording proxy; returns the JSON it prints. It must print nothing else:
 * no warning from a library, no deprecation.
 */
async function runExample(file: string, env: Record<string, string>, cwd = PROJECT): Promise<any> {
  const { stdout, stderr } = await promisify(execFile)(process.execPath, [path.join(EXAMPLES, file)], {
    cwd,
    env: { PATH: process.env.PATH ?? '', GRAPHQL_URL: proxy.url, ...env },
    timeout: 30_000,
  });
  expect(stderr).toBe('');
  expect(stdout.trim().split('\n')).toHaveLength(1);
  // Every one of these clients asks for the GraphQL-over-HTTP response type first, where a
  // 4xx status is what the specification asks for (README: the graphql-http audits).
  expect(proxy.exchanges.length).toBeGreaterThan(0);
  for (const exchange of proxy.exchanges) expect(exchange.headers.accept).toMatch(/^application\/graphql-response\+json\b/);
  return JSON.parse(stdout.trim().split('\n').pop()!);
}

/** A signed-in member of a fresh organization: their user and session token. */
async function sessionUser() {
  const organization = await make.organization();
  return make.signedInMember(organization.id, 'MEMBER');
}

const onTheWire = (exchanges: WireExchange[]) =>
  exchanges.map(({ method, operationName, query, sha256Hash, status, code }) => ({
    method,
    operationName,
    sentQuery: query !== undefined,
    sentHash: sha256Hash !== undefined,
    status,
    code,
  }));

describe('the README examples, run as pasted', () => {
  it('Apollo Client 4, frontend: the hash misses, the query registers it; the next run sends the hash alone', async () => {
    const { user, token } = await sessionUser();

    const first = await runExample('apollo-frontend.mjs', { SESSION_TOKEN: token });
    expect(first.viewer).toEqual({ __typename: 'Viewer', kind: 'SESSION', user: { __typename: 'User', id: user.id, email: user.email } });
    expect(first.createOrganization).toMatchObject({ name: 'Acme' });
    expect(onTheWire(proxy.exchanges)).toEqual([
      // The query: its hash alone by GET, unknown yet; then hash and text by POST, registered and run.
      { method: 'GET', operationName: 'Viewer', sentQuery: false, sentHash: true, status: 200, code: 'PERSISTED_QUERY_NOT_FOUND' },
      { method: 'POST', operationName: 'Viewer', sentQuery: true, sentHash: true, status: 200, code: undefined },
      // The mutation: the same, by POST both times.
      { method: 'POST', operationName: 'CreateOrganization', sentQuery: false, sentHash: true, status: 200, code: 'PERSISTED_QUERY_NOT_FOUND' },
      { method: 'POST', operationName: 'CreateOrganization', sentQuery: true, sentHash: true, status: 200, code: undefined },
    ]);
    for (const exchange of proxy.exchanges) {
      expect(exchange.authorization).toBe(`Bearer ${token}`);
      if (exchange.query) expect(exchange.sha256Hash).toBe(sha256Hex(exchange.query));
    }
    // Apollo's text, with the __typename its cache adds, is what was registered.
    expect(proxy.exchanges[1].query).toContain('__typename');

    proxy.exchanges.length = 0;
    const second = await runExample('apollo-frontend.mjs', { SESSION_TOKEN: token });
    expect(second.viewer).toEqual(first.viewer);
    expect(onTheWire(proxy.exchanges)).toEqual([
      { method: 'GET', operationName: 'Viewer', sentQuery: false, sentHash: true, status: 200, code: undefined },
      { method: 'POST', operationName: 'CreateOrganization', sentQuery: false, sentHash: true, status: 200, code: undefined },
    ]);

    const owned = await app.sql<{ id: string; name: string }>(
      `SELECT o.id, o.name FROM organizations o JOIN memberships m ON m.organization_id = o.id
        WHERE m.user_id = $1 AND m.role = 'OWNER' ORDER BY o.id`,
      [user.id],
    );
    expect(owned).toEqual(
      [first.createOrganization.id, second.createOrganization.id].sort().map((id) => ({ id, name: 'Acme' })),
    );
  });

  it('Apollo Client 4, partner: the manifest hash alone, by operation name; GetUser and DeleteUser run', async () => {
    const key = await createApiKey(app, ['USERS_READ', 'USERS_DELETE']);
    const person = await make.user();

    // Run where persisted-documents.json is, as the example reads it from its working folder.
    const out = await runExample('apollo-partner.mjs', { PARTNER_KEY: key.secret, USER_ID: person.id }, path.join(PROJECT, 'src/generated'));
    expect(out.user).toMatchObject({ id: person.id, email: person.email });
    expect(out.deleteUser).toMatchObject({
      deletedUserId: person.id,
      dryRun: false,
      receipt: { kind: 'USER', subjectId: person.id, actor: `api_key:${key.id}` },
    });

    expect(proxy.exchanges.map(({ method, operationName, query, sha256Hash, status }) => ({ method, operationName, query, sha256Hash, status }))).toEqual([
      { method: 'POST', operationName: 'GetUser', query: undefined, sha256Hash: trustedDocument('GetUser').hash, status: 200 },
      { method: 'POST', operationName: 'DeleteUser', query: undefined, sha256Hash: trustedDocument('DeleteUser').hash, status: 200 },
    ]);
    expect(await app.sql('SELECT id FROM users WHERE id = $1', [person.id])).toEqual([]);
    expect(await app.sql('SELECT kind, actor FROM deletion_receipts WHERE subject_id = $1', [person.id])).toEqual([
      { kind: 'USER', actor: `api_key:${key.id}` },
    ]);
  });

  it('urql with its default exchanges: the query by GET with only Authorization, the mutation by POST', async () => {
    const { user, token } = await sessionUser();

    const out = await runExample('urql.mjs', { SESSION_TOKEN: token });
    expect(out.viewer).toEqual({ __typename: 'Viewer', kind: 'SESSION', user: { __typename: 'User', id: user.id, email: user.email } });
    expect(out.createOrganization).toMatchObject({ name: 'Acme' });

    expect(onTheWire(proxy.exchanges)).toEqual([
      { method: 'GET', operationName: 'Viewer', sentQuery: true, sentHash: false, status: 200, code: undefined },
      { method: 'POST', operationName: 'CreateOrganization', sentQuery: true, sentHash: false, status: 200, code: undefined },
    ]);
    const [get] = proxy.exchanges;
    expect(get.authorization).toBe(`Bearer ${token}`);
    expect(get.headers).not.toHaveProperty('apollo-require-preflight');
    expect(get.headers).not.toHaveProperty('x-apollo-operation-name');
    expect(await app.sql('SELECT m.user_id, m.role, o.name FROM memberships m JOIN organizations o ON o.id = m.organization_id WHERE o.id = $1', [out.createOrganization.id])).toEqual([
      { user_id: user.id, role: 'OWNER', name: 'Acme' },
    ]);
  });

  it("graphql-request, the app's backend: creates a user and their session with the admin key; the token then works", async () => {
    const email = `ada-${randomBytes(4).toString('hex')}@example.com`;

    const out = await runExample('graphql-request.mjs', { ADMIN_API_KEY: app.adminKey, EMAIL: email });
    expect(out.createUser).toMatchObject({ email });
    expect(out.viewer).toEqual({ kind: 'SESSION', user: { id: out.createUser.id, email } });

    expect(proxy.exchanges.map(({ method, operationName, status, authorization }) => ({ method, operationName, status, authorization }))).toEqual([
      { method: 'POST', operationName: 'CreateUser', status: 200, authorization: `Bearer ${app.adminKey}` },
      { method: 'POST', operationName: 'CreateSession', status: 200, authorization: `Bearer ${app.adminKey}` },
      { method: 'POST', operationName: 'Viewer', status: 200, authorization: expect.stringMatching(/^Bearer sst_/) },
    ]);
    expect(await app.sql('SELECT email, name FROM users WHERE id = $1', [out.createUser.id])).toEqual([{ email, name: 'Ada Lovelace' }]);
    expect(await app.sql('SELECT id FROM sessions WHERE user_id = $1 AND terminated_at IS NULL', [out.createUser.id])).toEqual([
      { id: out.session.id },
    ]);
  });
});

describe('Apollo Client 4 with APQ: literals', () => {
  it('a document with a string literal is never registered, so each call costs a miss and the full text again', async () => {
    const { user, token } = await sessionUser();
    const wire = recordWire();
    // The example's setup (test/support/client-examples/apollo-frontend.mjs), over the recording fetch.
    const client = new ApolloClient({
      cache: new InMemoryCache(),
      link: ApolloLink.from([
        new PersistedQueryLink({ sha256: sha256Hex, useGETForHashedQueries: true }),
        new HttpLink({ uri: app.url, headers: { authorization: `Bearer ${token}` }, fetch: wire.fetch }),
      ]),
    });
    const inline = gql(`query Inline { user(id: "${user.id}") { id } }`);

    for (let call = 0; call < 2; call += 1) {
      const { data } = await client.query({ query: inline, fetchPolicy: 'network-only' });
      expect(data).toEqual({ user: { __typename: 'User', id: user.id } });
    }
    expect(onTheWire(wire.exchanges)).toEqual(
      Array(2)
        .fill([
          { method: 'GET', operationName: 'Inline', sentQuery: false, sentHash: true, status: 200, code: 'PERSISTED_QUERY_NOT_FOUND' },
          { method: 'POST', operationName: 'Inline', sentQuery: true, sentHash: true, status: 200, code: undefined },
        ])
        .flat(),
    );
  });
});

describe('Apollo Client 4 for partners: why the recipe is what it is', () => {
  // The example's conversion of our manifest (test/support/client-examples/apollo-partner.mjs).
  const operations = Object.entries(manifest).map(([key, body]) => ({
    id: key.replace(/^sha256:/, ''),
    name: getOperationAST(parse(body))!.name!.value,
    body,
  }));
  const trusted: Record<string, DocumentNode> = Object.fromEntries(operations.map(({ name, body }) => [name, gql(body)]));
  const partnerClient = (secret: string, fetchFn: typeof fetch) =>
    new ApolloClient({
      cache: new InMemoryCache(),
      link: ApolloLink.from([
        new PersistedQueryLink(generatePersistedQueryIdsFromManifest({ loadManifest: () => ({ operations }) })),
        new HttpLink({ uri: app.url, headers: { authorization: `Bearer ${secret}` }, fetch: fetchFn }),
      ]),
    });

  let key: { secret: string; id: string };
  beforeAll(async () => {
    key = await createApiKey(app, ['USERS_READ', 'USERS_DELETE']);
  });

  it('the natural setup, APQ hashing the manifest text, is refused with 403: Apollo reprints the document and adds __typename', async () => {
    const wire = recordWire();
    const cache = new InMemoryCache();
    const natural = new ApolloClient({
      cache,
      link: ApolloLink.from([
        new PersistedQueryLink({ sha256: sha256Hex }),
        new HttpLink({ uri: app.url, headers: { authorization: `Bearer ${key.secret}` }, fetch: wire.fetch }),
      ]),
    });
    const viewer = trustedDocument('Viewer');
    const refused = await natural.query({ query: gql(viewer.text) }).catch((error: unknown) => error);

    expect(CombinedGraphQLErrors.is(refused)).toBe(true);
    expect((refused as CombinedGraphQLErrors).errors.map((error) => error.extensions?.code)).toEqual(['FORBIDDEN']);
    // One request, by a hash that is not the manifest's. 403 FORBIDDEN is not
    // PERSISTED_QUERY_NOT_FOUND, so the link does not retry with the text.
    expect(wire.exchanges).toHaveLength(1);
    expect(wire.exchanges[0]).toMatchObject({ method: 'POST', query: undefined, status: 403, code: 'FORBIDDEN' });
    expect(wire.exchanges[0].sha256Hash).not.toBe(viewer.hash);
    // What Apollo hashed: its cache's version of the document (with __typename), printed its way.
    const reprinted = print(cache.transformDocument(gql(viewer.text)));
    expect(reprinted).toContain('__typename');
    expect(wire.exchanges[0].sha256Hash).toBe(sha256Hex(reprinted));
  });

  it("no cache: the trusted documents carry no __typename, so a result read through Apollo's cache loses its fragments' fields", async () => {
    const person = await make.user();
    await app.gql(`mutation ($id: ID!) { deleteUser(id: $id) { deletedUserId } }`, { id: person.id });
    const wire = recordWire();
    const client = partnerClient(key.secret, wire.fetch);

    // The __typename the cache adds never reaches the server: only the hash goes.
    const cached = await client.query({ query: trusted.GetDeletionReceipt, variables: { subjectId: person.id } });
    expect(wire.exchanges[0]).toMatchObject({ query: undefined, sha256Hash: trustedDocument('GetDeletionReceipt').hash, status: 200 });
    expect(wire.exchanges[0].body?.data).toMatchObject({ deletionReceipt: { subjectId: person.id, kind: 'USER', actor: 'admin' } });
    // But the answer, read back through the cache, has lost the fields of `...Receipt on DeletionReceipt`.
    expect(cached.data).toEqual({ deletionReceipt: {} });

    // With `no-cache`, as the example sets for queries and mutations, the answer is whole.
    const fresh = await client.query({ query: trusted.GetDeletionReceipt, variables: { subjectId: person.id }, fetchPolicy: 'no-cache' });
    expect(fresh.data).toEqual(wire.exchanges[1].body?.data);
    expect(fresh.data).toMatchObject({ deletionReceipt: { subjectId: person.id, kind: 'USER', actor: 'admin' } });
  });

  it('an ad-hoc document stays refused: the recipe will not send it, and sent as text it is 403 FORBIDDEN, changing nothing', async () => {
    const person = await make.user();
    const adHoc = gql`
      mutation AdHocDelete($id: ID!) {
        deleteUser(id: $id) { deletedUserId }
      }
    `;

    // The recipe finds no hash for an operation the manifest does not name, and sends nothing.
    const wire = recordWire();
    await expect(partnerClient(key.secret, wire.fetch).mutate({ mutation: adHoc, variables: { id: person.id } })).rejects.toThrow(
      'Operation AdHocDelete not found in manifest',
    );
    expect(wire.exchanges).toEqual([]);

    // Sent as text by Apollo Client, with a key that holds USERS_DELETE: refused before it is parsed.
    const before = await tableCounts(app);
    const plainWire = recordWire();
    const plain = new ApolloClient({
      cache: new InMemoryCache(),
      link: new HttpLink({ uri: app.url, headers: { authorization: `Bearer ${key.secret}` }, fetch: plainWire.fetch }),
    });
    const refused = await plain.mutate({ mutation: adHoc, variables: { id: person.id } }).catch((error: unknown) => error);
    expect(CombinedGraphQLErrors.is(refused)).toBe(true);
    expect((refused as CombinedGraphQLErrors).errors.map((error) => error.extensions?.code)).toEqual(['FORBIDDEN']);
    expect(plainWire.exchanges).toHaveLength(1);
    expect(plainWire.exchanges[0]).toMatchObject({ method: 'POST', status: 403, code: 'FORBIDDEN' });
    expect(plainWire.exchanges[0].query).toContain('AdHocDelete');
    expect(await tableCounts(app)).toEqual(before);
    expect(await app.sql('SELECT id FROM users WHERE id = $1', [person.id])).toEqual([{ id: person.id }]);
  });
});

describe('refusals as the clients report them, changing nothing', () => {
  it('urql: a CombinedError with the code and the 403', async () => {
    const { token } = await sessionUser();
    const client = new Client({
      url: app.url,
      exchanges: [cacheExchange, fetchExchange],
      fetchOptions: () => ({ headers: { authorization: `Bearer ${token}` } }),
    });
    const before = await tableCounts(app);
    const { data, error } = await client.query('query Keys { apiKeys { id } }', {}).toPromise();
    expect(data ?? null).toBeNull();
    expect(error?.graphQLErrors.map((e) => e.extensions.code)).toEqual(['FORBIDDEN']);
    expect(error?.response?.status).toBe(403);
    expect(await tableCounts(app)).toEqual(before);
  });

  it('graphql-request: a ClientError with the 403 and the code', async () => {
    const { token } = await sessionUser();
    const client = new GraphQLClient(app.url, { headers: { authorization: `Bearer ${token}` } });
    const before = await tableCounts(app);
    const refused = await client
      .request('mutation ($input: CreateUserInput!) { createUser(input: $input) { id } }', { input: { email: 'not-allowed@example.com' } })
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ClientError);
    expect((refused as ClientError).response.status).toBe(403);
    expect((refused as ClientError).response.errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
    expect(await tableCounts(app)).toEqual(before);
  });
});

describe('the README', () => {
  it.each(['apollo-frontend.mjs', 'apollo-partner.mjs', 'urql.mjs', 'graphql-request.mjs', 'graphql-http-audit.mjs'])(
    'shows %s exactly as the suite runs it',
    (file) => {
      const readme = fs.readFileSync(path.join(PROJECT, 'README.md'), 'utf8');
      const text = fs.readFileSync(path.join(EXAMPLES, file), 'utf8').trimEnd();
      expect(readme).toContain('```js\n' + text + '\n```');
    },
  );
});
