import { createHash } from 'node:crypto';
import { print } from 'graphql';
import { ListUsersDocument } from '../src/generated/graphql';
import { startTestApp, type TestApp } from './support/app';
import { errorCode, factory, ok, tableCounts, untilEventsVisible } from './support/factory';
import { codeOf, persistedQuery, postJson, sha256Hex, trustedDocument, type RawResponse } from './support/protocol';

let app: TestApp;
let make: ReturnType<typeof factory>;
beforeAll(async () => {
  app = await startTestApp();
  make = factory(app);
});
afterAll(() => app.close());

type Scope =
  | 'USERS_READ'
  | 'USERS_WRITE'
  | 'USERS_DELETE'
  | 'ORGANIZATIONS_READ'
  | 'ORGANIZATIONS_WRITE'
  | 'ORGANIZATIONS_DELETE'
  | 'SESSIONS_WRITE'
  | 'EVENTS_READ'
  | 'WEBHOOKS_WRITE';
const ALL_SCOPES: Scope[] = [
  'USERS_READ',
  'USERS_WRITE',
  'USERS_DELETE',
  'ORGANIZATIONS_READ',
  'ORGANIZATIONS_WRITE',
  'ORGANIZATIONS_DELETE',
  'SESSIONS_WRITE',
  'EVENTS_READ',
  'WEBHOOKS_WRITE',
];

interface ApiKeyFields {
  id: string;
  name: string;
  scopes: Scope[];
  createdAt: string;
  revokedAt: string | null;
}

// API-key management is admin-only and not a partner operation, so its documents are not in schema/operations.
const CREATE_API_KEY = `mutation CreateApiKey($input: CreateApiKeyInput!) {
  createApiKey(input: $input) { secret apiKey { id name scopes createdAt revokedAt } }
}`;
const REVOKE_API_KEY = `mutation RevokeApiKey($id: ID!) { revokeApiKey(id: $id) { id name scopes createdAt revokedAt } }`;
const API_KEYS = `query ApiKeys { apiKeys { id name scopes createdAt revokedAt } }`;

async function createKey(scopes: Scope[], name = 'HR sync') {
  const response = await app.gql<{ createApiKey: { secret: string; apiKey: ApiKeyFields } }, unknown>(CREATE_API_KEY, {
    input: { name, scopes },
  });
  return ok(response).createApiKey;
}

/** What a partner sends: the trusted document by hash only, with its variables. */
function byHash(secret: string, operationName: string, variables: Record<string, unknown> = {}): Promise<RawResponse> {
  return postJson(
    app.url,
    { operationName, variables, extensions: persistedQuery(trustedDocument(operationName).hash) },
    secret,
  );
}

describe('createApiKey', () => {
  it('shows the secret once and stores only its SHA-256 hash', async () => {
    const { secret, apiKey } = await createKey(['USERS_READ', 'USERS_DELETE'], '  Offboarding tool  ');

    expect(secret).toMatch(/^isk_[A-Za-z0-9_-]{43}$/);
    expect(apiKey.id).toMatch(/^key_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(apiKey).toMatchObject({ name: 'Offboarding tool', scopes: ['USERS_READ', 'USERS_DELETE'], revokedAt: null });

    const [row] = await app.sql<{ secret_hash: Buffer; row_text: string }>(
      `SELECT secret_hash, t::text AS row_text FROM api_keys t WHERE id = $1`,
      [apiKey.id],
    );
    expect(row.secret_hash).toEqual(createHash('sha256').update(secret, 'utf8').digest());
    // The secret text (or any part of its random body) is nowhere in the table.
    const everything = (await app.sql<{ t: string }>(`SELECT t::text AS t FROM api_keys t`)).map((r) => r.t).join('\n');
    expect(everything).not.toContain(secret);
    expect(everything).not.toContain(secret.slice(4, 24));

    // The secret works as a bearer token straight away.
    const viewer = await byHash(secret, 'Viewer');
    expect(viewer.body?.data).toEqual({ viewer: { kind: 'API_KEY', user: null, session: null } });
  });

  it('is admin-only: a session user and an API key are refused, nothing is created', async () => {
    const organization = await make.organization();
    const { token } = await make.signedInMember(organization.id, 'OWNER');
    const { secret } = await createKey(ALL_SCOPES);
    const before = await tableCounts(app);

    const asSession = await app.gql(CREATE_API_KEY, { input: { name: 'x', scopes: ['USERS_READ'] } }, { token });
    expect(errorCode(asSession)).toBe('FORBIDDEN');
    expect(asSession.data).toBeNull();
    // An API key may not mint keys either (ad-hoc text: refused by the trusted-documents rule before execution).
    const asKey = await app.gql(CREATE_API_KEY, { input: { name: 'x', scopes: ['USERS_READ'] } }, { token: secret });
    expect(errorCode(asKey)).toBe('FORBIDDEN');
    const anonymous = await app.gql(CREATE_API_KEY, { input: { name: 'x', scopes: ['USERS_READ'] } }, { token: null });
    expect(anonymous.status).toBe(401);
    expect(errorCode(anonymous)).toBe('UNAUTHENTICATED');

    expect(await tableCounts(app)).toEqual(before);
  });

  it.each([
    ['an empty name', { name: '', scopes: ['USERS_READ'] }, 'name'],
    ['a blank name', { name: '   ', scopes: ['USERS_READ'] }, 'name'],
    ['a name over 100 characters', { name: 'x'.repeat(101), scopes: ['USERS_READ'] }, 'name'],
    ['no scopes', { name: 'HR sync', scopes: [] }, 'scopes'],
    ['duplicate scopes', { name: 'HR sync', scopes: ['USERS_READ', 'USERS_READ'] }, 'scopes'],
  ])('refuses %s with BAD_USER_INPUT, creating nothing', async (_label, input, field) => {
    const before = await tableCounts(app);
    const response = await app.gql(CREATE_API_KEY, { input });
    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    const fields = response.errors?.[0]?.extensions?.fields as Array<{ field: string }>;
    expect(fields.map((f) => f.field)).toContain(field);
    expect(await tableCounts(app)).toEqual(before);
  });

  it('refuses an unknown scope as a validation error', async () => {
    const before = await tableCounts(app);
    const response = await app.gql(CREATE_API_KEY, { input: { name: 'x', scopes: ['USERS_EVERYTHING'] } });
    expect(response.status).toBe(400);
    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(await tableCounts(app)).toEqual(before);
  });
});

describe('apiKeys', () => {
  it('lists every key, newest last, without secrets or hashes', async () => {
    const first = await createKey(['USERS_READ'], 'first');
    const second = await createKey(['ORGANIZATIONS_READ'], 'second');

    const response = await app.gql<{ apiKeys: ApiKeyFields[] }, unknown>(API_KEYS);
    const keys = ok(response).apiKeys;
    const ids = keys.map((k) => k.id);
    expect(ids).toEqual([...ids].sort());
    expect(keys).toContainEqual(first.apiKey);
    expect(keys).toContainEqual(second.apiKey);
    const raw = JSON.stringify(response);
    expect(raw).not.toContain(first.secret);
    expect(raw).not.toContain(second.secret);

    // The schema has no field that could reveal a secret or its hash.
    const asking = await app.gql(`{ apiKeys { id secretHash } }`);
    expect(errorCode(asking)).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it('is admin-only', async () => {
    const organization = await make.organization();
    const { token } = await make.signedInMember(organization.id, 'OWNER');
    const response = await app.gql(API_KEYS, {}, { token });
    expect(errorCode(response)).toBe('FORBIDDEN');
    expect(response.data).toBeNull();
  });
});

describe('revokeApiKey', () => {
  it('revokes: the key fails with 401 UNAUTHENTICATED on the next request, and revoking again is harmless', async () => {
    const { secret, apiKey } = await createKey(['USERS_READ']);
    expect((await byHash(secret, 'ListUsers')).status).toBe(200);

    const revoked = ok(await app.gql<{ revokeApiKey: ApiKeyFields }, unknown>(REVOKE_API_KEY, { id: apiKey.id }))
      .revokeApiKey;
    expect(revoked.id).toBe(apiKey.id);
    expect(revoked.revokedAt).not.toBeNull();
    const [row] = await app.sql<{ revoked_at: Date | null }>(`SELECT revoked_at FROM api_keys WHERE id = $1`, [apiKey.id]);
    expect(row.revoked_at?.toISOString()).toBe(revoked.revokedAt);

    const next = await byHash(secret, 'ListUsers');
    expect(next.status).toBe(401);
    expect(codeOf(next)).toBe('UNAUTHENTICATED');
    expect(next.body?.data).toBeUndefined();

    // Idempotent: the first revocation time stays.
    const again = ok(await app.gql<{ revokeApiKey: ApiKeyFields }, unknown>(REVOKE_API_KEY, { id: apiKey.id }))
      .revokeApiKey;
    expect(again.revokedAt).toBe(revoked.revokedAt);
    // Still listed, as revoked.
    const listed = ok(await app.gql<{ apiKeys: ApiKeyFields[] }, unknown>(API_KEYS)).apiKeys;
    expect(listed.find((k) => k.id === apiKey.id)?.revokedAt).toBe(revoked.revokedAt);
  });

  it('answers NOT_FOUND for an unknown key and BAD_USER_INPUT for a malformed ID, changing nothing', async () => {
    const before = await tableCounts(app);
    const unknown = await app.gql(REVOKE_API_KEY, { id: 'key_01ARZ3NDEKTSV4RRFFQ69G5FAV' });
    expect(errorCode(unknown)).toBe('NOT_FOUND');
    for (const id of ['usr_01ARZ3NDEKTSV4RRFFQ69G5FAV', 'key_nope', '']) {
      expect(errorCode(await app.gql(REVOKE_API_KEY, { id }))).toBe('BAD_USER_INPUT');
    }
    expect(await tableCounts(app)).toEqual(before);
  });

  it('is admin-only: a session user cannot revoke a key', async () => {
    const { secret, apiKey } = await createKey(['USERS_READ']);
    const organization = await make.organization();
    const { token } = await make.signedInMember(organization.id, 'OWNER');
    expect(errorCode(await app.gql(REVOKE_API_KEY, { id: apiKey.id }, { token }))).toBe('FORBIDDEN');
    const [row] = await app.sql<{ revoked_at: Date | null }>(`SELECT revoked_at FROM api_keys WHERE id = $1`, [apiKey.id]);
    expect(row.revoked_at).toBeNull();
    expect((await byHash(secret, 'ListUsers')).status).toBe(200);
  });
});

describe('a partner key', () => {
  it('is an API_KEY viewer', async () => {
    const { secret } = await createKey(['USERS_READ']);
    const response = await byHash(secret, 'Viewer');
    expect(response.status).toBe(200);
    expect(response.body?.data).toEqual({ viewer: { kind: 'API_KEY', user: null, session: null } });
  });

  it('THE HEADLINE: deletes a user by sending only the hash of the trusted DeleteUser document', async () => {
    const { secret, apiKey } = await createKey(['USERS_DELETE'], 'Offboarding tool');
    const organization = await make.organization();
    const { user } = await make.signedInMember(organization.id, 'MEMBER');

    const response = await byHash(secret, 'DeleteUser', { id: user.id });

    expect(response.status).toBe(200);
    expect(response.body?.errors).toBeUndefined();
    const payload = response.body?.data?.deleteUser;
    expect(payload).toMatchObject({ deletedUserId: user.id, dryRun: false });
    expect(payload.terminatedSessions.nodes).toHaveLength(1);
    expect(payload.removedMemberships.nodes).toHaveLength(1);
    expect(payload.receipt).toMatchObject({ kind: 'USER', subjectId: user.id, actor: `api_key:${apiKey.id}` });

    expect(await app.sql(`SELECT 1 FROM users WHERE id = $1`, [user.id])).toEqual([]);
    expect(await app.sql(`SELECT 1 FROM memberships WHERE user_id = $1`, [user.id])).toEqual([]);
    expect(await app.sql(`SELECT 1 FROM sessions WHERE user_id = $1`, [user.id])).toEqual([]);
    const receipts = await app.sql<{ actor: string }>(`SELECT actor FROM deletion_receipts WHERE subject_id = $1`, [
      user.id,
    ]);
    expect(receipts).toEqual([{ actor: `api_key:${apiKey.id}` }]);
  });

  it('sending ad-hoc text is refused with 403 FORBIDDEN before execution, changing nothing', async () => {
    const { secret } = await createKey(['USERS_DELETE', 'USERS_READ']);
    const user = await make.user();
    const deleteUser = trustedDocument('DeleteUser');
    const before = await tableCounts(app);

    const attempts: Array<[string, unknown]> = [
      ['a different query, within its scopes', { query: '{ users { totalCount } }' }],
      ['the typed ListUsers document as printed by graphql-js', { query: print(ListUsersDocument) }],
      [
        'the DeleteUser document reformatted',
        { query: deleteUser.text.replace(/ \{ /g, ' {\n  '), variables: { id: user.id } },
      ],
      ['the DeleteUser document with a trailing space', { query: `${deleteUser.text} `, variables: { id: user.id } }],
      [
        'the DeleteUser text registered under its own hash (APQ) is still not trusted',
        {
          query: `${deleteUser.text}\n`,
          variables: { id: user.id },
          extensions: persistedQuery(sha256Hex(`${deleteUser.text}\n`)),
        },
      ],
    ];
    for (const [label, body] of attempts) {
      const response = await postJson(app.url, body, secret);
      expect({ label, status: response.status, code: codeOf(response) }).toEqual({ label, status: 403, code: 'FORBIDDEN' });
      // Before execution: no data at all, not a field-level error, and the reason named.
      expect(response.body?.data).toBeUndefined();
      expect(response.body?.errors?.[0]?.message).toMatch(/trusted operations/);
    }

    expect(await app.sql(`SELECT 1 FROM users WHERE id = $1`, [user.id])).toHaveLength(1);
    expect(await tableCounts(app)).toEqual(before);
  });

  it('may send the exact manifest text without a hash', async () => {
    const { secret, apiKey } = await createKey(['USERS_DELETE']);
    const user = await make.user();
    const response = await postJson(app.url, { query: trustedDocument('DeleteUser').text, variables: { id: user.id } }, secret);
    expect(response.status).toBe(200);
    expect(response.body?.data?.deleteUser.receipt.actor).toBe(`api_key:${apiKey.id}`);
    expect(await app.sql(`SELECT 1 FROM users WHERE id = $1`, [user.id])).toEqual([]);
  });

  it('an admin may still send ad-hoc documents', async () => {
    const user = await make.user();
    const response = await app.gql<{ user: { id: string } }, unknown>(`query { user(id: "${user.id}") { id } }`);
    expect(ok(response).user.id).toBe(user.id);
    const deleted = await app.gql<{ deleteUser: { deletedUserId: string } }, unknown>(
      `mutation($id: ID!) { deleteUser(id: $id) { deletedUserId } }`,
      { id: user.id },
    );
    expect(ok(deleted).deleteUser.deletedUserId).toBe(user.id);
  });
});

describe('scopes, checked per operation', () => {
  /**
   * Each trusted operation, the scope a key needs for it, and how to set up its
   * variables. A key holding every other scope is refused with FORBIDDEN and nothing
   * changes; a key with just that scope succeeds.
   */
  const operations: Array<{
    name: string;
    scope: Scope;
    field: string;
    variables: () => Promise<Record<string, unknown>>;
  }> = [
    { name: 'GetUser', scope: 'USERS_READ', field: 'user', variables: async () => ({ id: (await make.user()).id }) },
    { name: 'ListUsers', scope: 'USERS_READ', field: 'users', variables: async () => ({}) },
    {
      name: 'GetUserSessions',
      scope: 'USERS_READ',
      field: 'user',
      variables: async () => ({ id: (await make.user()).id }),
    },
    {
      name: 'CreateUser',
      scope: 'USERS_WRITE',
      field: 'createUser',
      variables: async () => ({ input: { email: `partner-${Math.random().toString(36).slice(2)}@example.com`, name: 'P' } }),
    },
    { name: 'DeleteUser', scope: 'USERS_DELETE', field: 'deleteUser', variables: async () => ({ id: (await make.user()).id }) },
    {
      name: 'GetOrganization',
      scope: 'ORGANIZATIONS_READ',
      field: 'organization',
      variables: async () => ({ id: (await make.organization()).id }),
    },
    { name: 'ListOrganizations', scope: 'ORGANIZATIONS_READ', field: 'organizations', variables: async () => ({}) },
    {
      name: 'CreateOrganization',
      scope: 'ORGANIZATIONS_WRITE',
      field: 'createOrganization',
      variables: async () => ({ input: { name: 'Partner-made' } }),
    },
    {
      name: 'AddMember',
      scope: 'ORGANIZATIONS_WRITE',
      field: 'addMember',
      variables: async () => ({
        input: { organizationId: (await make.organization()).id, userId: (await make.user()).id, role: 'MEMBER' },
      }),
    },
    {
      name: 'RemoveMember',
      scope: 'ORGANIZATIONS_WRITE',
      field: 'removeMember',
      variables: async () => {
        const organization = await make.organization();
        const user = await make.user();
        await make.member(organization.id, user.id);
        return { organizationId: organization.id, userId: user.id };
      },
    },
    {
      name: 'UpdateMemberRole',
      scope: 'ORGANIZATIONS_WRITE',
      field: 'updateMemberRole',
      variables: async () => {
        const organization = await make.organization();
        const user = await make.user();
        await make.member(organization.id, user.id);
        return { input: { organizationId: organization.id, userId: user.id, role: 'ADMIN' } };
      },
    },
    {
      name: 'DeleteOrganization',
      scope: 'ORGANIZATIONS_DELETE',
      field: 'deleteOrganization',
      variables: async () => ({ id: (await make.organization()).id }),
    },
    {
      name: 'TerminateSession',
      scope: 'SESSIONS_WRITE',
      field: 'terminateSession',
      variables: async () => ({ id: (await make.session((await make.user()).id)).session.id }),
    },
    // Issue 12: find, change, offboard, webhooks.
    {
      name: 'FindUsers',
      scope: 'USERS_READ',
      field: 'users',
      variables: async () => ({ filter: { email: (await make.user()).email } }),
    },
    {
      name: 'UpdateUser',
      scope: 'USERS_WRITE',
      field: 'updateUser',
      variables: async () => ({ input: { id: (await make.user()).id, name: 'Renamed' } }),
    },
    {
      name: 'TerminateUserSessions',
      scope: 'SESSIONS_WRITE',
      field: 'terminateUserSessions',
      variables: async () => {
        const user = await make.user();
        await make.session(user.id);
        return { userId: user.id };
      },
    },
    {
      name: 'UpdateOrganization',
      scope: 'ORGANIZATIONS_WRITE',
      field: 'updateOrganization',
      variables: async () => ({ input: { id: (await make.organization()).id, settings: { locale: 'en' } } }),
    },
    {
      name: 'CreateWebhookEndpoint',
      scope: 'WEBHOOKS_WRITE',
      field: 'createWebhookEndpoint',
      variables: async () => ({ input: { url: 'https://hooks.partner.example/identity', eventTypes: ['user.deleted'] } }),
    },
  ];

  it.each(operations)('$name needs $scope', async ({ name, scope, field, variables }) => {
    const withoutScope = await createKey(ALL_SCOPES.filter((s) => s !== scope));
    const withScope = await createKey([scope]);
    const vars = await variables();
    const before = await tableCounts(app);

    const refused = await byHash(withoutScope.secret, name, vars);
    expect(codeOf(refused)).toBe('FORBIDDEN');
    expect(refused.body?.errors?.[0]?.message).not.toMatch(/trusted/);
    expect(await tableCounts(app)).toEqual(before);

    const allowed = await byHash(withScope.secret, name, vars);
    expect(allowed.status).toBe(200);
    expect(allowed.body?.errors).toBeUndefined();
    expect(allowed.body?.data?.[field]).toBeTruthy();
  });

  it('deletionReceipt needs USERS_DELETE or ORGANIZATIONS_DELETE; events needs EVENTS_READ (issue 12)', async () => {
    const user = await make.user();
    ok(await app.gql(`mutation($id: ID!) { deleteUser(id: $id) { deletedUserId } }`, { id: user.id }));
    const reader = await createKey(['USERS_READ', 'ORGANIZATIONS_READ', 'USERS_WRITE', 'SESSIONS_WRITE']);
    for (const scope of ['USERS_DELETE', 'ORGANIZATIONS_DELETE'] as const) {
      const { secret } = await createKey([scope]);
      const response = await byHash(secret, 'GetDeletionReceipt', { subjectId: user.id });
      expect(response.body?.data?.deletionReceipt?.subjectId).toBe(user.id);
    }
    expect(codeOf(await byHash(reader.secret, 'GetDeletionReceipt', { subjectId: user.id }))).toBe('FORBIDDEN');

    const allButEvents = await createKey(ALL_SCOPES.filter((scope) => scope !== 'EVENTS_READ'));
    const refused = await byHash(allButEvents.secret, 'Events');
    expect(codeOf(refused)).toBe('FORBIDDEN');
    expect(refused.body?.data).toBeNull();
    const eventsReader = await createKey(['EVENTS_READ']);
    await untilEventsVisible(app);
    const events = await byHash(eventsReader.secret, 'Events', { types: ['user.deleted'], first: 100 });
    expect(events.status).toBe(200);
    expect(events.body?.data?.events?.nodes).toEqual(
      expect.arrayContaining([expect.objectContaining({ type: 'user.deleted', data: expect.objectContaining({ userId: user.id }) })]),
    );
  });
});
