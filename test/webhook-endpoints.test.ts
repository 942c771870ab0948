/**
 * Webhook endpoints over GraphQL (issue 12): created, listed, changed, rotated, deleted and
 * replayed by the admin and by keys with WEBHOOKS_WRITE, each key confined to its own; URLs
 * and event types checked without echoing them; secrets in the Standard Webhooks format,
 * checked with the `standardwebhooks` package as a receiver would; the delivery log read
 * from rows written straight into webhook_deliveries (the worker's own are tested with
 * delivery); and EVENTS_READ opening the trusted Events operation to keys.
 */
import { Webhook } from 'standardwebhooks';
import {
  CreateWebhookEndpointDocument,
  DeleteWebhookEndpointDocument,
  EventsDocument,
  GetWebhookEndpointDocument,
  ListWebhookEndpointsDocument,
  ReplayWebhookEventsDocument,
  RotateWebhookSecretDocument,
  UpdateWebhookEndpointDocument,
} from '../src/generated/graphql';
import { loadConfig } from '../src/config';
import { AppError } from '../src/errors';
import { newId } from '../src/ids';
import { createLogger } from '../src/logger';
import { MAX_ENDPOINTS_PER_OWNER } from '../src/webhooks/webhook-endpoint.service';
import { startWebhookQueue } from '../src/webhooks/webhook-queue';
import { parseWebhookUrl } from '../src/webhooks/webhook-url';
import { startTestApp, type GraphQLResponse, type TestApp } from './support/app';
import { databaseSnapshot, errorCode, factory, fieldsOf, ok, tableCounts, untilEventsVisible } from './support/factory';
import { asKey, createApiKey } from './support/keys';

let app: TestApp;
let make: ReturnType<typeof factory>;
/** Two partners with WEBHOOKS_WRITE, and one with every other scope. */
let keyA: { secret: string; id: string };
let keyB: { secret: string; id: string };
let keyWithout: { secret: string; id: string };

beforeAll(async () => {
  app = await startTestApp();
  make = factory(app);
  keyA = await createApiKey(app, ['WEBHOOKS_WRITE']);
  keyB = await createApiKey(app, ['WEBHOOKS_WRITE', 'EVENTS_READ']);
  keyWithout = await createApiKey(app, [
    'USERS_READ', 'USERS_WRITE', 'USERS_DELETE', 'ORGANIZATIONS_READ', 'ORGANIZATIONS_WRITE', 'ORGANIZATIONS_DELETE', 'SESSIONS_WRITE',
  ]);
});
afterAll(() => app?.close());

const SECRET_SHAPE = /^whsec_[A-Za-z0-9+/]{43}=$/;

interface EndpointFields {
  id: string;
  url: string;
  eventTypes: string[];
  description: string | null;
  enabled: boolean;
  disabledReason: string | null;
  failingSince: string | null;
  createdAt: string;
  updatedAt: string;
}

interface EndpointRow {
  id: string;
  api_key_id: string | null;
  url: string;
  event_types: string[];
  description: string | null;
  secret: string;
  enabled: boolean;
  disabled_reason: string | null;
  failing_since: Date | null;
}

async function endpointRow(id: string): Promise<EndpointRow | undefined> {
  const [row] = await app.sql<EndpointRow>(`SELECT * FROM webhook_endpoints WHERE id = $1`, [id]);
  return row;
}

/** Creates an endpoint as the admin (token undefined) or as a key (its secret), which must succeed. */
async function createEndpoint(
  as: { secret: string } | null,
  input: { url?: string; eventTypes?: string[]; description?: string | null } = {},
): Promise<{ endpoint: EndpointFields; secret: string }> {
  const variables = {
    input: { url: input.url ?? 'https://hooks.partner.example/identity', eventTypes: input.eventTypes ?? ['user.deleted'], description: input.description },
  };
  const response = as
    ? await asKey<{ createWebhookEndpoint: { endpoint: EndpointFields; secret: string } }>(app, as.secret, 'CreateWebhookEndpoint', variables)
    : await app.gql(CreateWebhookEndpointDocument, variables);
  return ok(response as GraphQLResponse<{ createWebhookEndpoint: { endpoint: EndpointFields; secret: string } }>).createWebhookEndpoint;
}

/** A receiver's check: the secret signs, and what it signs verifies, with the Standard Webhooks package. */
function signsAndVerifies(secret: string): boolean {
  const receiver = new Webhook(secret);
  const payload = JSON.stringify({ type: 'user.deleted', timestamp: new Date().toISOString(), data: { userId: 'usr_x' } });
  const now = new Date();
  const headers = {
    'webhook-id': 'msg_test',
    'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
    'webhook-signature': receiver.sign('msg_test', now, payload),
  };
  return JSON.stringify(receiver.verify(payload, headers)) === payload;
}

describe('createWebhookEndpoint', () => {
  it('as the admin: the endpoint, normalized and deduplicated, and a Standard Webhooks secret shown once', async () => {
    const { endpoint, secret } = await createEndpoint(null, {
      url: 'HTTPS://Hooks.Partner.EXAMPLE/identity?x=1',
      eventTypes: ['user.deleted', 'organization.deleted', 'user.deleted'],
      description: '  Offboarding  ',
    });

    expect(endpoint).toMatchObject({
      url: 'https://hooks.partner.example/identity?x=1',
      eventTypes: ['user.deleted', 'organization.deleted'],
      description: 'Offboarding',
      enabled: true,
      disabledReason: null,
      failingSince: null,
    });
    expect(endpoint.id).toMatch(/^ep_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(secret).toMatch(SECRET_SHAPE);
    expect(Buffer.from(secret.slice('whsec_'.length), 'base64')).toHaveLength(32);
    expect(signsAndVerifies(secret)).toBe(true);

    const row = await endpointRow(endpoint.id);
    expect(row).toMatchObject({
      api_key_id: null,
      url: 'https://hooks.partner.example/identity?x=1',
      event_types: ['user.deleted', 'organization.deleted'],
      description: 'Offboarding',
      secret,
      enabled: true,
    });
  });

  it('as a key with WEBHOOKS_WRITE: owned by that key; two endpoints never share a secret', async () => {
    const first = await createEndpoint(keyA, { eventTypes: ['session.terminated'] });
    const second = await createEndpoint(keyA, { eventTypes: ['session.terminated'] });
    expect((await endpointRow(first.endpoint.id))?.api_key_id).toBe(keyA.id);
    expect(first.secret).toMatch(SECRET_SHAPE);
    expect(first.secret).not.toBe(second.secret);
  });

  it('has no secret field on WebhookEndpoint: the secret leaves the server only in the create and rotate payloads', async () => {
    const response = await app.gql(`{ webhookEndpoints { nodes { id secret } } }`);
    expect(errorCode(response)).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it('refuses a key without WEBHOOKS_WRITE and a signed-in user with FORBIDDEN, creating nothing', async () => {
    const organization = await make.organization();
    const { token } = await make.signedInMember(organization.id, 'OWNER');
    const before = await tableCounts(app);
    const variables = { input: { url: 'https://hooks.partner.example/x', eventTypes: ['user.deleted'] } };

    const byKey = await asKey(app, keyWithout.secret, 'CreateWebhookEndpoint', variables);
    expect(errorCode(byKey)).toBe('FORBIDDEN');
    const bySession = await app.gql(CreateWebhookEndpointDocument, variables, { token });
    expect(errorCode(bySession)).toBe('FORBIDDEN');
    expect(bySession.data ?? null).toBeNull();
    expect(await tableCounts(app)).toEqual(before);
  });

  it.each([
    ['an ftp: URL', 'ftp://hooks.partner.example/secret-path-1'],
    ['a javascript: URL', 'javascript:alert("secret-path-2")'],
    ['a file: URL', 'file:///etc/secret-path-3'],
    ['a URL with a user name and password', 'https://user:secret-path-4@hooks.partner.example/'],
    ['a URL with a user name only', 'https://secret-path-5@hooks.partner.example/'],
    ['text that is not a URL', 'secret-path-6 is not a url'],
    ['a relative URL', '/secret-path-7'],
    ['a URL without a host', 'http://'],
    ['a URL over 2048 characters', `https://hooks.partner.example/secret-path-8/${'a'.repeat(2048)}`],
    // Addresses no delivery could reach (WEBHOOK_ALLOW_PRIVATE_ADDRESSES is off here): refused at once.
    ['a loopback IPv4 literal', 'http://127.0.0.1:8080/secret-path-9'],
    ['a loopback IPv4 literal in hex', 'http://0x7f.1/secret-path-10'],
    ['a loopback IPv6 literal', 'http://[::1]/secret-path-11'],
    ['an IPv4-mapped IPv6 loopback', 'http://[::ffff:127.0.0.1]/secret-path-12'],
    ['a private address', 'https://10.1.2.3/secret-path-13'],
    ['the cloud metadata address', 'http://169.254.169.254/latest/meta-data/secret-path-14'],
    ['localhost', 'http://localhost:3000/secret-path-15'],
    ['a subdomain of localhost', 'http://hooks.localhost./secret-path-16'],
  ])('refuses %s with BAD_USER_INPUT on input.url, without repeating it', async (_label, url) => {
    const before = await tableCounts(app);
    for (const as of ['admin', 'key'] as const) {
      const variables = { input: { url, eventTypes: ['user.deleted'] } };
      const response =
        as === 'admin' ? await app.gql(CreateWebhookEndpointDocument, variables) : await asKey(app, keyA.secret, 'CreateWebhookEndpoint', variables);
      expect(errorCode(response)).toBe('BAD_USER_INPUT');
      expect(fieldsOf(response)).toEqual(['input.url']);
      expect(JSON.stringify(response.errors)).not.toMatch(/secret-path|hooks\.partner|alert|etc\//);
      expect(response.data ?? null).toBeNull();
    }
    expect(await tableCounts(app)).toEqual(before);
  });

  it('refuses a key’s 51st endpoint with CONFLICT (one key cannot multiply each event into thousands of POSTs), also when created at once', async () => {
    const key = await createApiKey(app, ['WEBHOOKS_WRITE']);
    const other = await createApiKey(app, ['WEBHOOKS_WRITE']);
    const input = (n: number) => ({ input: { url: `https://victim.example/hook?n=${n}`, eventTypes: ['user.deleted'] } });
    // 60 at once: the count and the insert are one step per key, so no more than 50 get through.
    const answers = await Promise.all(Array.from({ length: 60 }, (_, n) => asKey(app, key.secret, 'CreateWebhookEndpoint', input(n))));
    expect(answers.filter((answer) => !answer.errors).length).toBe(MAX_ENDPOINTS_PER_OWNER);
    const refused = answers.filter((answer) => answer.errors);
    expect(refused.map(errorCode)).toEqual(new Array(10).fill('CONFLICT'));
    expect(refused[0].errors?.[0].message).toBe('This API key has 50 webhook endpoints, the most one owner may have; delete one first');
    expect(await app.sql(`SELECT count(*)::int AS count FROM webhook_endpoints WHERE api_key_id = $1`, [key.id])).toEqual([
      { count: MAX_ENDPOINTS_PER_OWNER },
    ]);
    // Per owner: another key still may; after a delete, the key may again.
    ok(await asKey(app, other.secret, 'CreateWebhookEndpoint', input(0)));
    const [{ id }] = await app.sql<{ id: string }>(`SELECT id FROM webhook_endpoints WHERE api_key_id = $1 LIMIT 1`, [key.id]);
    ok(await asKey(app, key.secret, 'DeleteWebhookEndpoint', { id }));
    ok(await asKey(app, key.secret, 'CreateWebhookEndpoint', input(99)));
  });

  it('refuses an unknown event type, naming the field and the position but not the text sent', async () => {
    const before = await tableCounts(app);
    const response = await app.gql(CreateWebhookEndpointDocument, {
      input: { url: 'https://hooks.partner.example/x', eventTypes: ['user.deleted', 'user.hacked<script>'] },
    });
    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(fieldsOf(response)).toEqual(['input.eventTypes']);
    expect(response.errors?.[0].message).toContain('input.eventTypes[1]');
    expect(response.errors?.[0].message).not.toContain('hacked');
    expect(await tableCounts(app)).toEqual(before);
  });

  it('refuses an empty list of event types, and a description over 500 characters', async () => {
    const before = await tableCounts(app);
    const empty = await app.gql(CreateWebhookEndpointDocument, { input: { url: 'https://hooks.partner.example/x', eventTypes: [] } });
    expect(errorCode(empty)).toBe('BAD_USER_INPUT');
    expect(fieldsOf(empty)).toEqual(['input.eventTypes']);
    const long = await app.gql(CreateWebhookEndpointDocument, {
      input: { url: 'https://hooks.partner.example/x', eventTypes: ['user.deleted'], description: 'd'.repeat(501) },
    });
    expect(errorCode(long)).toBe('BAD_USER_INPUT');
    expect(fieldsOf(long)).toEqual(['input.description']);
    const nul = await app.gql(CreateWebhookEndpointDocument, {
      input: { url: 'https://hooks.partner.example/x', eventTypes: ['user.deleted'], description: 'a\u0000b' },
    });
    expect(errorCode(nul)).toBe('BAD_USER_INPUT');
    expect(fieldsOf(nul)).toEqual(['input.description']);
    expect(await tableCounts(app)).toEqual(before);
  });
});

describe('parseWebhookUrl', () => {
  it('accepts private addresses and localhost when WEBHOOK_ALLOW_PRIVATE_ADDRESSES is on, and still refuses other schemes', () => {
    const allow = { allowPrivateAddresses: true };
    expect(parseWebhookUrl('http://127.0.0.1:9000/hook', 'url', allow).href).toBe('http://127.0.0.1:9000/hook');
    expect(parseWebhookUrl('http://localhost:9000/hook', 'url', allow).href).toBe('http://localhost:9000/hook');
    expect(() => parseWebhookUrl('ftp://127.0.0.1/', 'url', allow)).toThrow(AppError);
  });

  it('accepts a public IP literal and an IDN host, stored as its A-label', () => {
    const deny = { allowPrivateAddresses: false };
    expect(parseWebhookUrl('https://93.184.215.14/hook', 'url', deny).href).toBe('https://93.184.215.14/hook');
    expect(parseWebhookUrl('https://bücher.example/hook', 'url', deny).href).toBe('https://xn--bcher-kva.example/hook');
  });
});

describe('webhookEndpoints and webhookEndpoint: a key sees its own, the admin all', () => {
  let mine: string[];
  let theirs: string;
  let admins: string;

  beforeAll(async () => {
    await app.sql(`DELETE FROM webhook_endpoints`);
    mine = [];
    for (let n = 0; n < 3; n += 1) mine.push((await createEndpoint(keyA, { url: `https://a.example/${n}` })).endpoint.id);
    theirs = (await createEndpoint(keyB)).endpoint.id;
    admins = (await createEndpoint(null)).endpoint.id;
  });

  type List = { webhookEndpoints: { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string | null }; nodes: EndpointFields[] } };

  it('pages through only the key’s own endpoints, oldest first', async () => {
    const first = ok(await asKey<List>(app, keyA.secret, 'ListWebhookEndpoints', { first: 2 })).webhookEndpoints;
    expect(first.nodes.map((node) => node.id)).toEqual(mine.slice(0, 2));
    expect(first.totalCount).toBe(3);
    expect(first.pageInfo.hasNextPage).toBe(true);
    const second = ok(await asKey<List>(app, keyA.secret, 'ListWebhookEndpoints', { first: 2, after: first.pageInfo.endCursor })).webhookEndpoints;
    expect(second.nodes.map((node) => node.id)).toEqual(mine.slice(2));
    expect(second.pageInfo.hasNextPage).toBe(false);

    const other = ok(await asKey<List>(app, keyB.secret, 'ListWebhookEndpoints')).webhookEndpoints;
    expect(other.nodes.map((node) => node.id)).toEqual([theirs]);
    expect(other.totalCount).toBe(1);
  });

  it('shows the admin every endpoint, its own and every key’s', async () => {
    const all = ok(await app.gql(ListWebhookEndpointsDocument, { first: 100 })).webhookEndpoints;
    expect(all.nodes.map((node) => node.id).sort()).toEqual([...mine, theirs, admins].sort());
    expect(all.totalCount).toBe(5);
  });

  it('answers webhookEndpoint(id) with null for another key’s endpoint, and the endpoint for its owner and the admin', async () => {
    const asOther = ok(await asKey<{ webhookEndpoint: EndpointFields | null }>(app, keyB.secret, 'GetWebhookEndpoint', { id: mine[0] }));
    expect(asOther.webhookEndpoint).toBeNull();
    const asOwner = ok(await asKey<{ webhookEndpoint: EndpointFields | null }>(app, keyA.secret, 'GetWebhookEndpoint', { id: mine[0] }));
    expect(asOwner.webhookEndpoint?.id).toBe(mine[0]);
    const asAdmin = ok(await app.gql(GetWebhookEndpointDocument, { id: mine[0] }));
    expect(asAdmin.webhookEndpoint?.id).toBe(mine[0]);
    const malformed = await app.gql(GetWebhookEndpointDocument, { id: 'usr_01ARZ3NDEKTSV4RRFFQ69G5FAV' });
    expect(errorCode(malformed)).toBe('BAD_USER_INPUT');
  });

  it('refuses a key without WEBHOOKS_WRITE and a session user', async () => {
    expect(errorCode(await asKey(app, keyWithout.secret, 'ListWebhookEndpoints'))).toBe('FORBIDDEN');
    const organization = await make.organization();
    const { token } = await make.signedInMember(organization.id, 'OWNER');
    expect(errorCode(await app.gql(ListWebhookEndpointsDocument, {}, { token }))).toBe('FORBIDDEN');
  });
});

describe('updateWebhookEndpoint', () => {
  type Updated = { updateWebhookEndpoint: EndpointFields };

  it('changes the fields sent and keeps the others', async () => {
    const { endpoint } = await createEndpoint(keyA, { url: 'https://a.example/old', eventTypes: ['user.deleted'], description: 'Keep me' });
    const changed = ok(
      await asKey<Updated>(app, keyA.secret, 'UpdateWebhookEndpoint', {
        input: { id: endpoint.id, url: 'https://a.example/new', eventTypes: ['organization.deleted', 'organization.deleted'] },
      }),
    ).updateWebhookEndpoint;
    expect(changed).toMatchObject({
      url: 'https://a.example/new',
      eventTypes: ['organization.deleted'],
      description: 'Keep me',
      enabled: true,
    });
    expect(new Date(changed.updatedAt).getTime()).toBeGreaterThanOrEqual(new Date(endpoint.updatedAt).getTime());
    expect(await endpointRow(endpoint.id)).toMatchObject({ url: 'https://a.example/new', event_types: ['organization.deleted'], description: 'Keep me' });

    const cleared = ok(await asKey<Updated>(app, keyA.secret, 'UpdateWebhookEndpoint', { input: { id: endpoint.id, description: null } }));
    expect(cleared.updateWebhookEndpoint).toMatchObject({ description: null, url: 'https://a.example/new' });
  });

  it('disables with a reason; re-enabling clears disabledReason and failingSince', async () => {
    const { endpoint } = await createEndpoint(keyA);
    const disabled = ok(await asKey<Updated>(app, keyA.secret, 'UpdateWebhookEndpoint', { input: { id: endpoint.id, enabled: false } }));
    expect(disabled.updateWebhookEndpoint).toMatchObject({ enabled: false, disabledReason: 'Disabled with updateWebhookEndpoint' });

    // As the delivery worker leaves an endpoint it disabled for failing without pause.
    await app.sql(
      `UPDATE webhook_endpoints SET disabled_reason = 'Failing since yesterday', failing_since = now() - interval '1 day' WHERE id = $1`,
      [endpoint.id],
    );
    const enabled = ok(await asKey<Updated>(app, keyA.secret, 'UpdateWebhookEndpoint', { input: { id: endpoint.id, enabled: true } }));
    expect(enabled.updateWebhookEndpoint).toMatchObject({ enabled: true, disabledReason: null, failingSince: null });
    expect(await endpointRow(endpoint.id)).toMatchObject({ enabled: true, disabled_reason: null, failing_since: null });
  });

  it('leaves failingSince alone when an endpoint that is enabled is "enabled" again', async () => {
    const { endpoint } = await createEndpoint(keyA);
    await app.sql(`UPDATE webhook_endpoints SET failing_since = now() - interval '1 hour' WHERE id = $1`, [endpoint.id]);
    const again = ok(await asKey<Updated>(app, keyA.secret, 'UpdateWebhookEndpoint', { input: { id: endpoint.id, enabled: true } }));
    expect(again.updateWebhookEndpoint.failingSince).not.toBeNull();
  });

  it('refuses null for url, eventTypes and enabled, a bad URL and an unknown event type, changing nothing', async () => {
    const { endpoint } = await createEndpoint(keyA);
    const before = await databaseSnapshot(app);
    for (const [input, field] of [
      [{ url: null }, 'input.url'],
      [{ eventTypes: null }, 'input.eventTypes'],
      [{ enabled: null }, 'input.enabled'],
      [{ url: 'ftp://a.example/' }, 'input.url'],
      [{ eventTypes: ['nope'] }, 'input.eventTypes'],
      [{ eventTypes: [] }, 'input.eventTypes'],
    ] as Array<[Record<string, unknown>, string]>) {
      const response = await app.gql(UpdateWebhookEndpointDocument, { input: { id: endpoint.id, ...input } as never });
      expect(errorCode(response)).toBe('BAD_USER_INPUT');
      expect(fieldsOf(response)).toEqual([field]);
    }
    expect(await databaseSnapshot(app)).toEqual(before);
  });
});

describe('rotateWebhookSecret', () => {
  it('returns a new secret once, stores it, and the old one is gone', async () => {
    const { endpoint, secret: old } = await createEndpoint(keyA);
    const rotated = ok(
      await asKey<{ rotateWebhookSecret: { secret: string; endpoint: { id: string } } }>(app, keyA.secret, 'RotateWebhookSecret', {
        id: endpoint.id,
      }),
    ).rotateWebhookSecret;
    expect(rotated.endpoint.id).toBe(endpoint.id);
    expect(rotated.secret).toMatch(SECRET_SHAPE);
    expect(rotated.secret).not.toBe(old);
    expect(signsAndVerifies(rotated.secret)).toBe(true);
    expect((await endpointRow(endpoint.id))?.secret).toBe(rotated.secret);
  });
});

describe('deleteWebhookEndpoint', () => {
  it('deletes the endpoint with its messages and attempts; events stay; a second delete is NOT_FOUND', async () => {
    const { endpoint } = await createEndpoint(keyA);
    await insertAttempts(endpoint.id, 2);
    const [{ events }] = await app.sql<{ events: number }>(`SELECT count(*)::int AS events FROM events`);

    const deleted = ok(
      await asKey<{ deleteWebhookEndpoint: { deletedEndpointId: string } }>(app, keyA.secret, 'DeleteWebhookEndpoint', { id: endpoint.id }),
    );
    expect(deleted.deleteWebhookEndpoint.deletedEndpointId).toBe(endpoint.id);
    const [left] = await app.sql<{ endpoints: number; messages: number; deliveries: number; events: number }>(
      `SELECT (SELECT count(*)::int FROM webhook_endpoints WHERE id = $1) AS endpoints,
              (SELECT count(*)::int FROM webhook_messages WHERE endpoint_id = $1) AS messages,
              (SELECT count(*)::int FROM webhook_deliveries WHERE endpoint_id = $1) AS deliveries,
              (SELECT count(*)::int FROM events) AS events`,
      [endpoint.id],
    );
    expect(left).toEqual({ endpoints: 0, messages: 0, deliveries: 0, events });

    const again = await asKey(app, keyA.secret, 'DeleteWebhookEndpoint', { id: endpoint.id });
    expect(errorCode(again)).toBe('NOT_FOUND');
  });
});

describe('revokeApiKey', () => {
  it("disables the key's endpoints in the same transaction, and leaves other keys' and the admin's enabled", async () => {
    const doomed = await createApiKey(app, ['WEBHOOKS_WRITE']);
    const { endpoint: doomedEndpoint } = await createEndpoint(doomed);
    const { endpoint: otherEndpoint } = await createEndpoint(keyA);
    const { endpoint: adminEndpoint } = await createEndpoint(null);

    ok(await app.gql(`mutation ($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }`, { id: doomed.id }));

    expect(await endpointRow(doomedEndpoint.id)).toMatchObject({ enabled: false, disabled_reason: 'Its API key was revoked' });
    expect(await endpointRow(otherEndpoint.id)).toMatchObject({ enabled: true, disabled_reason: null });
    expect(await endpointRow(adminEndpoint.id)).toMatchObject({ enabled: true, disabled_reason: null });

    // Not even the admin turns it back on: the partner may no longer call this API.
    const before = await endpointRow(doomedEndpoint.id);
    const reenabled = await app.gql(UpdateWebhookEndpointDocument, { input: { id: doomedEndpoint.id, enabled: true } });
    expect(errorCode(reenabled)).toBe('CONFLICT');
    expect(await endpointRow(doomedEndpoint.id)).toEqual(before);
    // Other changes, and enabling an endpoint of a live key, still work.
    ok(await app.gql(UpdateWebhookEndpointDocument, { input: { id: doomedEndpoint.id, description: 'archived' } }));
    ok(await app.gql(UpdateWebhookEndpointDocument, { input: { id: otherEndpoint.id, enabled: true } }));
  });
});

describe("key isolation: another key's endpoint is NOT_FOUND, and nothing changes", () => {
  it.each([
    ['UpdateWebhookEndpoint', (id: string) => ({ input: { id, url: 'https://evil.example/', enabled: false } })],
    ['RotateWebhookSecret', (id: string) => ({ id })],
    ['DeleteWebhookEndpoint', (id: string) => ({ id })],
    ['ReplayWebhookEvents', (id: string) => ({ endpointId: id })],
  ] as const)('key B cannot %s key A’s endpoint', async (operation, variables) => {
    const { endpoint } = await createEndpoint(keyA);
    await insertAttempts(endpoint.id, 1);
    const before = await databaseSnapshot(app);
    const response = await asKey(app, keyB.secret, operation, variables(endpoint.id));
    expect(errorCode(response)).toBe('NOT_FOUND');
    expect(response.errors?.[0].message).toBe(`Webhook endpoint ${endpoint.id} was not found`);
    expect(response.data ?? null).toBeNull();
    expect(await databaseSnapshot(app)).toEqual(before);
  });

  it('answers an endpoint of the admin like one that does not exist, and lets the admin change a key’s endpoint', async () => {
    const admins = (await createEndpoint(null)).endpoint.id;
    expect(errorCode(await asKey(app, keyA.secret, 'RotateWebhookSecret', { id: admins }))).toBe('NOT_FOUND');
    expect(errorCode(await asKey(app, keyA.secret, 'RotateWebhookSecret', { id: 'ep_01ARZ3NDEKTSV4RRFFQ69G5FAV' }))).toBe('NOT_FOUND');

    const keys = (await createEndpoint(keyA)).endpoint.id;
    const updated = ok(await app.gql(UpdateWebhookEndpointDocument, { input: { id: keys, description: 'Seen by the admin' } }));
    expect(updated.updateWebhookEndpoint.description).toBe('Seen by the admin');
    expect((await endpointRow(keys))?.api_key_id).toBe(keyA.id);
  });
});

/** Writes `count` messages with one attempt each, as the delivery worker would; returns the attempt IDs, oldest first. */
async function insertAttempts(
  endpointId: string,
  count: number,
  attempt: Partial<{ httpStatus: number | null; error: string | null; responseBody: string | null; eventType: string }> = {},
): Promise<string[]> {
  const ids: string[] = [];
  for (let n = 0; n < count; n += 1) {
    const messageId = newId('webhookMessage');
    const deliveryId = newId('webhookDelivery');
    await app.sql(
      `INSERT INTO webhook_messages (id, endpoint_id, event_position, event_type, body, status, attempts)
       VALUES ($1, $2, $3, $4, '{}'::jsonb, 'DELIVERED', 1)`,
      [messageId, endpointId, 1000 + n, attempt.eventType ?? 'user.deleted'],
    );
    await app.sql(
      `INSERT INTO webhook_deliveries (id, message_id, endpoint_id, attempt, http_status, duration_ms, error, response_body)
       VALUES ($1, $2, $3, 1, $4, $5, $6, $7)`,
      [
        deliveryId,
        messageId,
        endpointId,
        attempt.httpStatus === undefined ? 200 : attempt.httpStatus,
        10 + n,
        attempt.error ?? null,
        attempt.responseBody === undefined ? 'ok' : attempt.responseBody,
      ],
    );
    ids.push(deliveryId);
  }
  return ids;
}

describe('WebhookEndpoint.deliveries', () => {
  type Get = {
    webhookEndpoint: {
      deliveries: {
        totalCount: number;
        pageInfo: { hasNextPage: boolean; endCursor: string | null };
        nodes: Array<{
          id: string;
          messageId: string;
          eventType: string;
          attempt: number;
          attemptedAt: string;
          httpStatus: number | null;
          durationMs: number;
          error: string | null;
          responseBody: string | null;
        }>;
      };
    } | null;
  };

  it('lists each attempt newest first, with its message, event type, status, duration, error and body, in pages', async () => {
    const { endpoint } = await createEndpoint(keyA);
    const ok200 = await insertAttempts(endpoint.id, 2);
    const [failed] = await insertAttempts(endpoint.id, 1, {
      httpStatus: null,
      error: 'Timed out after 10000 ms',
      responseBody: null,
      eventType: 'session.terminated',
    });
    const newestFirst = [failed, ...ok200.reverse()];

    const page1 = ok(await asKey<Get>(app, keyA.secret, 'GetWebhookEndpoint', { id: endpoint.id, first: 2 })).webhookEndpoint!.deliveries;
    expect(page1.totalCount).toBe(3);
    expect(page1.nodes.map((node) => node.id)).toEqual(newestFirst.slice(0, 2));
    expect(page1.nodes[0]).toMatchObject({ eventType: 'session.terminated', attempt: 1, httpStatus: null, error: 'Timed out after 10000 ms', responseBody: null });
    expect(page1.nodes[1]).toMatchObject({ eventType: 'user.deleted', httpStatus: 200, error: null, responseBody: 'ok' });
    const [message] = await app.sql<{ message_id: string }>(`SELECT message_id FROM webhook_deliveries WHERE id = $1`, [failed]);
    expect(page1.nodes[0].messageId).toBe(message.message_id);
    expect(page1.pageInfo.hasNextPage).toBe(true);

    const page2 = ok(
      await asKey<Get>(app, keyA.secret, 'GetWebhookEndpoint', { id: endpoint.id, first: 2, after: page1.pageInfo.endCursor }),
    ).webhookEndpoint!.deliveries;
    expect(page2.nodes.map((node) => node.id)).toEqual(newestFirst.slice(2));
    expect(page2.pageInfo.hasNextPage).toBe(false);

    const badCursor = await asKey(app, keyA.secret, 'GetWebhookEndpoint', { id: endpoint.id, after: 'not-a-cursor' });
    expect(errorCode(badCursor)).toBe('BAD_USER_INPUT');
  });

  it('cuts a response body over 1 KB of UTF-8 again, at a character boundary', async () => {
    const { endpoint } = await createEndpoint(keyA);
    // 1,024 characters fit the column, but 'é' is two bytes: 2,048 bytes of UTF-8.
    await insertAttempts(endpoint.id, 1, { httpStatus: 500, responseBody: 'é'.repeat(1024) });
    const [node] = ok(await asKey<Get>(app, keyA.secret, 'GetWebhookEndpoint', { id: endpoint.id })).webhookEndpoint!.deliveries.nodes;
    expect(node.responseBody).toBe('é'.repeat(512));
    expect(Buffer.byteLength(node.responseBody!, 'utf8')).toBe(1024);
  });

  it('reads the deliveries of a whole page of endpoints in a constant number of statements', async () => {
    await app.sql(`DELETE FROM webhook_endpoints WHERE api_key_id = $1`, [keyB.id]);
    const statementsFor = async (endpointCount: number) => {
      while (ok(await asKey<{ webhookEndpoints: { totalCount: number } }>(app, keyB.secret, 'ListWebhookEndpoints')).webhookEndpoints.totalCount < endpointCount) {
        const { endpoint } = await createEndpoint(keyB);
        await insertAttempts(endpoint.id, 2);
      }
      const before = app.queries.count;
      const list = ok(await asKey<{ webhookEndpoints: { nodes: Array<{ deliveries: { totalCount: number; nodes: unknown[] } }> } }>(
        app, keyB.secret, 'ListWebhookEndpoints', { deliveriesFirst: 5 },
      )).webhookEndpoints;
      const statements = app.queries.count - before;
      expect(list.nodes).toHaveLength(endpointCount);
      for (const node of list.nodes) expect(node.deliveries).toMatchObject({ totalCount: 2, nodes: [expect.anything(), expect.anything()] });
      return statements;
    };
    const forTwo = await statementsFor(2);
    expect(await statementsFor(6)).toBe(forTwo);
  });
});

describe('replayWebhookEvents', () => {
  beforeAll(async () => {
    // The queue's schema (pgboss), which a server running the webhook worker creates at start;
    // the test app runs no worker, so nothing is delivered and the queued messages stay to be counted.
    const queue = await startWebhookQueue(app.databaseUrl, loadConfig({ NODE_ENV: 'test' }).webhooks, createLogger('silent'));
    await queue.stop(0);
  });

  /** Ends a fresh session, which writes one session.terminated event; returns the session's ID. */
  async function sessionTerminated(): Promise<string> {
    const user = await make.user();
    const { session } = await make.session(user.id);
    ok(await app.gql(`mutation T($id: ID!) { terminateSession(id: $id) { id } }`, { id: session.id }));
    return session.id;
  }

  it('queues the events of the subscribed types after the cursor (all when null)', async () => {
    const sessions = [await sessionTerminated(), await sessionTerminated(), await sessionTerminated()];
    // Created after the events: the fan-out would not send them, only a replay does.
    const { endpoint } = await createEndpoint(keyA, { eventTypes: ['session.terminated'] });
    const [{ total }] = await app.sql<{ total: number }>(`SELECT count(*)::int AS total FROM events WHERE type = 'session.terminated'`);
    expect(total).toBeGreaterThanOrEqual(3);
    await untilEventsVisible(app);

    type Replayed = {
      replayWebhookEvents: { queuedMessageCount: number; nextCursor: string | null; endpoint: { id: string; enabled: boolean } };
    };
    const all = ok(await asKey<Replayed>(app, keyA.secret, 'ReplayWebhookEvents', { endpointId: endpoint.id })).replayWebhookEvents;
    // Fewer than the 1,000 a call queues at most: the replay is complete, nothing to continue from.
    expect(all).toEqual({ queuedMessageCount: total, nextCursor: null, endpoint: { id: endpoint.id, enabled: true } });
    const messages = await app.sql<{ event_type: string; body: { type: string; data: { sessionId: string } } }>(
      `SELECT event_type, body FROM webhook_messages WHERE endpoint_id = $1 ORDER BY id`,
      [endpoint.id],
    );
    expect(messages).toHaveLength(total);
    expect(new Set(messages.map((message) => message.event_type))).toEqual(new Set(['session.terminated']));
    expect(messages.slice(-3).map((message) => message.body.data.sessionId)).toEqual(sessions);

    // After the cursor of the last-but-one of our events: only the last one.
    const events = ok(
      await asKey<{ events: { nodes: Array<{ data: { sessionId: string } }>; pageInfo: { endCursor: string } } }>(app, keyB.secret, 'Events', {
        types: ['session.terminated'],
        first: total - 1,
      }),
    ).events;
    expect(events.nodes[events.nodes.length - 1].data.sessionId).toBe(sessions[1]);
    const after = ok(
      await asKey<Replayed>(app, keyA.secret, 'ReplayWebhookEvents', { endpointId: endpoint.id, after: events.pageInfo.endCursor }),
    ).replayWebhookEvents;
    expect(after.queuedMessageCount).toBe(1);
    expect(await app.sql(`SELECT count(*)::int AS count FROM webhook_messages WHERE endpoint_id = $1`, [endpoint.id])).toEqual([
      { count: total + 1 },
    ]);
  });

  it('queues at most 1000 events per call and hands back nextCursor to continue, so a huge range is never one transaction', async () => {
    const { endpoint } = await createEndpoint(keyA, { eventTypes: ['session.terminated'] });
    // 2,500 events written at once (one transaction, as a mass sign-out would), visible once committed.
    await app.sql(
      `INSERT INTO events (type, data)
       SELECT 'session.terminated', jsonb_build_object('sessionId', 'ses_bulk' || n, 'userId', 'usr_bulk') FROM generate_series(1, 2500) AS n`,
    );
    const [{ total }] = await app.sql<{ total: number }>(`SELECT count(*)::int AS total FROM events WHERE type = 'session.terminated'`);
    await untilEventsVisible(app);
    const replay = `mutation R($id: ID!, $after: String) {
      replayWebhookEvents(endpointId: $id, after: $after) { queuedMessageCount nextCursor }
    }`;
    type Replayed = { replayWebhookEvents: { queuedMessageCount: number; nextCursor: string | null } };
    const counts: number[] = [];
    let after: string | null = null;
    for (let call = 0; call < 10; call += 1) {
      const page: Replayed['replayWebhookEvents'] = ok(await app.gql<Replayed, { id: string; after: string | null }>(replay, { id: endpoint.id, after })).replayWebhookEvents;
      counts.push(page.queuedMessageCount);
      const [{ count }] = await app.sql<{ count: number }>(`SELECT count(*)::int AS count FROM webhook_messages WHERE endpoint_id = $1`, [endpoint.id]);
      expect(count).toBe(counts.reduce((sum, n) => sum + n, 0));
      if (page.nextCursor === null) break;
      after = page.nextCursor;
    }
    expect(counts.every((n) => n <= 1000)).toBe(true);
    expect(counts.slice(0, -1).every((n) => n === 1000)).toBe(true);
    expect(counts.reduce((sum, n) => sum + n, 0)).toBe(total);
    // Every event once, in order, none skipped or repeated across the calls.
    const [{ distinct }] = await app.sql<{ distinct: number }>(
      `SELECT count(DISTINCT event_position)::int AS distinct FROM webhook_messages WHERE endpoint_id = $1`,
      [endpoint.id],
    );
    expect(distinct).toBe(total);
    // Out of the way of the other tests, which read the first page of events.
    await app.sql(`DELETE FROM webhook_endpoints WHERE id = $1`, [endpoint.id]);
    await app.sql(`DELETE FROM events WHERE data->>'userId' = 'usr_bulk'`);
  });

  it('refuses a cursor the events query did not issue with BAD_USER_INPUT on after', async () => {
    const { endpoint } = await createEndpoint(keyA, { eventTypes: ['session.terminated'] });
    const before = await tableCounts(app);
    const response = await asKey(app, keyA.secret, 'ReplayWebhookEvents', { endpointId: endpoint.id, after: 'bm90LWEtY3Vyc29y' });
    expect(errorCode(response)).toBe('BAD_USER_INPUT');
    expect(fieldsOf(response)).toEqual(['after']);
    expect(await tableCounts(app)).toEqual(before);
  });

  it('refuses a disabled endpoint with CONFLICT and a malformed ID with BAD_USER_INPUT, changing nothing', async () => {
    const { endpoint } = await createEndpoint(keyA);
    ok(await app.gql(UpdateWebhookEndpointDocument, { input: { id: endpoint.id, enabled: false } }));
    const before = await databaseSnapshot(app);
    expect(errorCode(await asKey(app, keyA.secret, 'ReplayWebhookEvents', { endpointId: endpoint.id }))).toBe('CONFLICT');
    const malformed = await app.gql(ReplayWebhookEventsDocument, { endpointId: 'org_01ARZ3NDEKTSV4RRFFQ69G5FAV' });
    expect(errorCode(malformed)).toBe('BAD_USER_INPUT');
    expect(fieldsOf(malformed)).toEqual(['endpointId']);
    expect(await databaseSnapshot(app)).toEqual(before);
  });
});

describe('EVENTS_READ (issue 12): the trusted Events operation for keys', () => {
  it('lets a key with EVENTS_READ read events, and refuses one without it', async () => {
    // user.deleted: this file writes few of them (thousands of session.terminated, above).
    const user = await make.user();
    ok(await app.gql(`mutation D($id: ID!) { deleteUser(id: $id) { deletedUserId } }`, { id: user.id }));
    await untilEventsVisible(app);

    const read = ok(
      await asKey<{ events: { nodes: Array<{ type: string; data: Record<string, unknown> }> } }>(app, keyB.secret, 'Events', {
        types: ['user.deleted'],
        first: 100,
      }),
    );
    expect(read.events.nodes.some((event) => event.type === 'user.deleted' && event.data.userId === user.id)).toBe(true);

    for (const key of [keyA, keyWithout]) {
      const refused = await asKey(app, key.secret, 'Events');
      expect(errorCode(refused)).toBe('FORBIDDEN');
      expect(refused.data ?? null).toBeNull();
    }
    // The admin's document, as before.
    expect(ok(await app.gql(EventsDocument, { first: 1 })).events.nodes).toHaveLength(1);
  });
});
