import { randomBytes } from 'node:crypto';
import dns from 'node:dns';
import { Webhook } from 'standardwebhooks';
import {
  DeleteOrganizationDocument,
  DeleteUserDocument,
  DeleteWebhookEndpointDocument,
  EventsDocument,
  UpdateWebhookEndpointDocument,
} from '../src/generated/graphql';
import { loadConfig } from '../src/config';
import { inTransaction } from '../src/database/transaction';
import { newId } from '../src/ids';
import { createLogger } from '../src/logger';
import { postOnce, retryDelayMs } from '../src/webhooks/webhook-delivery';
import { replayToEndpoint } from '../src/webhooks/webhook-fanout';
import { isPrivateAddress } from '../src/webhooks/webhook-ssrf';
import { startWebhookQueue } from '../src/webhooks/webhook-queue';
import { startWebhookWorker, type WebhookWorker } from '../src/webhooks/webhook-worker';
import { startTestApp, type TestApp } from './support/app';
import { factory, ok } from './support/factory';
import { createApiKey } from './support/keys';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook-receiver';

/**
 * Issue 12, "Events for partners, pushed as signed webhooks": delivery end to end, from a
 * deletion over HTTP to a real local receiver that verifies each request with the
 * `standardwebhooks` package as a partner would.
 */

/** Short schedule and timeout so retries and failures happen within a test. */
const FAST = {
  WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true',
  WEBHOOK_RETRY_SCHEDULE: '1,1,1',
  WEBHOOK_TIMEOUT_MS: '1500',
  WEBHOOK_POLL_INTERVAL_MS: '100',
};

let app: TestApp;
let worker: WebhookWorker | undefined;
const receivers: WebhookReceiver[] = [];

async function runWorker(env: Record<string, string>): Promise<void> {
  await worker?.stop();
  const config = loadConfig({ NODE_ENV: 'test', ...env });
  worker = await startWebhookWorker({ dataSource: app.dataSource, databaseUrl: app.databaseUrl, config: config.webhooks, logger: createLogger('silent') });
}

async function receiver(...args: Parameters<typeof startWebhookReceiver>): Promise<WebhookReceiver> {
  const started = await startWebhookReceiver(...args);
  receivers.push(started);
  return started;
}

/** An endpoint as createWebhookEndpoint stores it (a Standard Webhooks secret, whsec_<base64>). */
/** An endpoint of the admin's, or of the API key `apiKeyId`. */
async function endpoint(url: string, eventTypes: string[], apiKeyId: string | null = null): Promise<{ id: string; secret: string }> {
  const id = newId('webhookEndpoint');
  const secret = `whsec_${randomBytes(24).toString('base64')}`;
  await app.sql(`INSERT INTO webhook_endpoints (id, url, event_types, secret, api_key_id) VALUES ($1, $2, $3, $4, $5)`, [
    id,
    url,
    eventTypes,
    secret,
    apiKeyId,
  ]);
  return { id, secret };
}

async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const started = Date.now();
  while (!(await condition())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function messageStates(endpointId: string): Promise<Record<string, number>> {
  const rows = await app.sql<{ status: string; count: number }>(
    `SELECT status, count(*)::int AS count FROM webhook_messages WHERE endpoint_id = $1 GROUP BY status`,
    [endpointId],
  );
  return Object.fromEntries(rows.map((row) => [row.status, row.count]));
}

const unique = () => randomBytes(4).toString('hex');

beforeAll(async () => {
  app = await startTestApp();
  await runWorker(FAST);
});
afterAll(async () => {
  await worker?.stop();
  for (const started of receivers) await started.close();
  await app.close();
});

describe('delivery of deletion events', () => {
  it('sends each subscribed event once per attempt, signed, with the same webhook-id on the retry, and nothing personal', async () => {
    const f = factory(app);
    // Fails the first attempt of every message, accepts the second.
    const seen = new Set<string>();
    const partner = await receiver((request) => {
      const id = request.headers['webhook-id'];
      if (seen.has(id)) return { status: 200, body: 'thanks' };
      seen.add(id);
      return { status: 500, body: 'try again' };
    });
    const sessionsOnly = await receiver();
    const deletions = await endpoint(partner.url, ['user.deleted', 'organization.deleted']);
    const sessions = await endpoint(sessionsOnly.url, ['session.terminated']);

    const marker = unique();
    const emails = [`ada-${marker}@example.com`, `bob-${marker}@example.com`, `cyd-${marker}@example.com`];
    const names = [`Ada Lovelace ${marker}`, `Bob Builder ${marker}`, `Cyd Charisse ${marker}`];
    const org = await f.organization();
    const members = [];
    for (const index of [0, 1]) {
      const user = await f.user({ email: emails[index], name: names[index] });
      await f.member(org.id, user.id, index === 0 ? 'OWNER' : 'MEMBER');
      await f.session(user.id, org.id);
      members.push(user);
    }
    const solo = await f.user({ email: emails[2], name: names[2] });
    await f.session(solo.id);

    ok(await app.gql(DeleteOrganizationDocument, { id: org.id }));
    ok(await app.gql(DeleteUserDocument, { id: solo.id }));

    const expected = await app.sql<{ position: string; type: string; data: Record<string, unknown>; occurred_at: Date }>(
      `SELECT position::text AS position, type, data, occurred_at FROM events WHERE type = ANY ($1) ORDER BY position`,
      [['user.deleted', 'organization.deleted']],
    );
    // The organization, its two members (members of no other organization) and the solo user.
    expect(expected.map((event) => event.type).sort()).toEqual(['organization.deleted', 'user.deleted', 'user.deleted', 'user.deleted']);
    const expectedSessions = await app.sql(`SELECT 1 FROM events WHERE type = 'session.terminated'`);
    expect(expectedSessions.length).toBe(3);

    await until(async () => (await messageStates(deletions.id)).DELIVERED === expected.length, 'the deletion messages to be delivered');
    await until(async () => (await messageStates(sessions.id)).DELIVERED === 3, 'the session messages to be delivered');

    // Two requests per message (500, then 200), each verified as a receiver would.
    expect(partner.requests).toHaveLength(2 * expected.length);
    const verifier = new Webhook(deletions.secret);
    const byId = new Map<string, string[]>();
    for (const request of partner.requests) {
      expect(request.method).toBe('POST');
      expect(request.headers['content-type']).toBe('application/json');
      expect(request.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
      expect(request.headers['webhook-timestamp']).toMatch(/^\d+$/);
      expect(() => verifier.verify(request.body, request.headers)).not.toThrow();
      expect(() => new Webhook(sessions.secret).verify(request.body, request.headers)).toThrow();
      byId.set(request.headers['webhook-id'], [...(byId.get(request.headers['webhook-id']) ?? []), request.body]);
      for (const personal of [...emails, ...names, marker]) expect(request.body).not.toContain(personal);
    }
    // webhook-id is the message's ID, the same on the retry, with the same bytes signed.
    expect(byId.size).toBe(expected.length);
    for (const [id, bodies] of byId) {
      expect(id).toMatch(/^msg_[0-9A-Z]{26}$/);
      expect(bodies).toHaveLength(2);
      expect(bodies[1]).toBe(bodies[0]);
    }
    // Exactly the subscribed events, with the spec's body shape and the event's own data.
    const bodies = [...byId.values()].map(([body]) => JSON.parse(body));
    for (const body of bodies) expect(Object.keys(body).sort()).toEqual(['data', 'timestamp', 'type']);
    const received = bodies.map((body) => ({ type: body.type, timestamp: body.timestamp, data: body.data }));
    const sent = expected.map((event) => ({ type: event.type, timestamp: event.occurred_at.toISOString(), data: event.data }));
    const order = (list: Array<{ type: string; data: unknown }>) => list.map((item) => JSON.stringify(item)).sort();
    expect(order(received)).toEqual(order(sent));
    expect(received.filter((body) => body.type === 'user.deleted').map((body) => (body.data as { userId: string }).userId).sort()).toEqual(
      [...members.map((user) => user.id), solo.id].sort(),
    );

    // The session endpoint got only session.terminated, once each (it answered 200).
    expect(sessionsOnly.requests).toHaveLength(3);
    for (const request of sessionsOnly.requests) {
      expect(JSON.parse(new Webhook(sessions.secret).verify(request.body, request.headers) ? request.body : '{}').type).toBe('session.terminated');
    }

    // Every attempt is in the log: attempt 1 answered 500, attempt 2 answered 200.
    const log = await app.sql<{ message_id: string; attempt: number; http_status: number; error: string | null; response_body: string }>(
      `SELECT message_id, attempt, http_status, error, response_body FROM webhook_deliveries WHERE endpoint_id = $1 ORDER BY message_id, attempt`,
      [deletions.id],
    );
    expect(log).toHaveLength(2 * expected.length);
    for (const [index, row] of log.entries()) {
      const first = index % 2 === 0;
      expect(row.message_id).toBe(log[index - (first ? 0 : 1)].message_id);
      expect({ attempt: row.attempt, status: row.http_status, error: row.error, body: row.response_body }).toEqual(
        first ? { attempt: 1, status: 500, error: 'the endpoint answered HTTP 500', body: 'try again' } : { attempt: 2, status: 200, error: null, body: 'thanks' },
      );
    }
    const [endpointRow] = await app.sql<{ failing_since: Date | null; enabled: boolean }>(
      `SELECT failing_since, enabled FROM webhook_endpoints WHERE id = $1`,
      [deletions.id],
    );
    expect(endpointRow).toEqual({ failing_since: null, enabled: true });

    // The same log through the API (WebhookEndpoint.deliveries), newest first.
    const read = await app.gql<{ webhookEndpoint: { deliveries: { totalCount: number; nodes: Array<Record<string, unknown>> } } }, { id: string }>(
      `query ($id: ID!) { webhookEndpoint(id: $id) { deliveries(first: 20) { totalCount nodes { messageId attempt httpStatus error responseBody eventType durationMs } } } }`,
      { id: deletions.id },
    );
    const listed = ok(read).webhookEndpoint.deliveries;
    expect(listed.totalCount).toBe(log.length);
    expect(listed.nodes.map((node) => `${node.messageId}/${node.attempt}/${node.httpStatus}/${node.responseBody}`).sort()).toEqual(
      log.map((row) => `${row.message_id}/${row.attempt}/${row.http_status}/${row.response_body}`).sort(),
    );
    for (const node of listed.nodes) expect(['user.deleted', 'organization.deleted']).toContain(node.eventType);
  });

  it('does not send events from before the endpoint existed; replayToEndpoint sends them, and only those after the cursor', async () => {
    const f = factory(app);
    const before = await f.user();
    ok(await app.gql(DeleteUserDocument, { id: before.id }));
    // The events cursor a partner would hold right after that deletion.
    let cursor: string | null | undefined;
    await until(async () => {
      const page = ok(await app.gql(EventsDocument, { first: 100, types: ['user.deleted'] })).events;
      cursor = page.pageInfo.endCursor;
      return page.nodes.some((node) => (node.data as { userId?: string }).userId === before.id);
    }, 'the deletion event to be visible');

    const partner = await receiver();
    const late = await endpoint(partner.url, ['user.deleted']);
    const after = await f.user();
    ok(await app.gql(DeleteUserDocument, { id: after.id }));
    await until(async () => (await messageStates(late.id)).DELIVERED === 1, 'the new event to be delivered');
    expect(partner.requests.map((request) => JSON.parse(request.body).data.userId)).toEqual([after.id]);

    // Replay after the cursor: only the later deletion, as a new message.
    const sinceCursor = await inTransaction(app.dataSource, (manager) => replayToEndpoint(manager, late.id, cursor!));
    expect(sinceCursor).toEqual({ queued: 1, nextCursor: null });
    await partner.waitFor(2);
    expect(JSON.parse(partner.requests[1].body).data.userId).toBe(after.id);
    expect(partner.requests[1].headers['webhook-id']).not.toBe(partner.requests[0].headers['webhook-id']);

    // Replay of everything: every user.deleted event there is, the old one included.
    const all = await app.sql<{ user_id: string }>(`SELECT data->>'userId' AS user_id FROM events WHERE type = 'user.deleted'`);
    const replayed = await inTransaction(app.dataSource, (manager) => replayToEndpoint(manager, late.id, null));
    expect(replayed).toEqual({ queued: all.length, nextCursor: null });
    await partner.waitFor(2 + all.length);
    const replayedUsers = partner.requests.slice(2).map((request) => JSON.parse(new Webhook(late.secret).verify(request.body, request.headers) ? request.body : '{}').data.userId);
    expect(replayedUsers.sort()).toEqual(all.map((row) => row.user_id).sort());
    expect(replayedUsers).toContain(before.id);
    await until(async () => (await messageStates(late.id)).DELIVERED === 2 + all.length, 'the replayed messages to be marked delivered');

    // A cursor this API did not issue is refused, and nothing is created.
    await expect(inTransaction(app.dataSource, (manager) => replayToEndpoint(manager, late.id, 'bm90LWEtY3Vyc29y'))).rejects.toMatchObject({
      code: 'BAD_USER_INPUT',
    });
    expect((await messageStates(late.id)).DELIVERED).toBe(2 + all.length);
  });

  it('does not follow redirects, records each 3xx as a failed attempt, and gives up after the schedule', async () => {
    const target = await receiver();
    const redirecting = await receiver(() => ({ status: 302, headers: { location: target.url } }));
    const hook = await endpoint(redirecting.url, ['user.deleted']);
    const user = await factory(app).user();
    ok(await app.gql(DeleteUserDocument, { id: user.id }));

    // 1 attempt + 3 retries (WEBHOOK_RETRY_SCHEDULE=1,1,1), then FAILED.
    await until(async () => (await messageStates(hook.id)).FAILED === 1, 'the message to fail', 30_000);
    const log = await app.sql<{ attempt: number; http_status: number; error: string }>(
      `SELECT attempt, http_status, error FROM webhook_deliveries WHERE endpoint_id = $1 ORDER BY attempt`,
      [hook.id],
    );
    expect(log).toEqual([1, 2, 3, 4].map((attempt) => ({ attempt, http_status: 302, error: 'redirect not followed (HTTP 302)' })));
    expect(redirecting.requests).toHaveLength(4);
    expect(new Set(redirecting.requests.map((request) => request.headers['webhook-id'])).size).toBe(1);
    expect(target.requests).toHaveLength(0);
    await app.sql(`UPDATE webhook_endpoints SET enabled = false WHERE id = $1`, [hook.id]);
  });

  it('records an attempt that gets no answer within WEBHOOK_TIMEOUT_MS as a timeout', async () => {
    const silent = await receiver(() => 'hold');
    const hook = await endpoint(silent.url, ['user.deleted']);
    const user = await factory(app).user();
    ok(await app.gql(DeleteUserDocument, { id: user.id }));

    await until(async () => {
      const rows = await app.sql(`SELECT 1 FROM webhook_deliveries WHERE endpoint_id = $1 AND error <> $2`, [hook.id, 'no result recorded: the worker stopped during this attempt']);
      return rows.length >= 1;
    }, 'the first attempt to be recorded');
    const [first] = await app.sql<{ attempt: number; http_status: number | null; error: string }>(
      `SELECT attempt, http_status, error FROM webhook_deliveries WHERE endpoint_id = $1 AND attempt = 1`,
      [hook.id],
    );
    expect(first).toEqual({ attempt: 1, http_status: null, error: 'timed out after 1500 ms' });
    expect(silent.requests.length).toBeGreaterThanOrEqual(1);
    const [endpointRow] = await app.sql<{ failing_since: Date | null }>(`SELECT failing_since FROM webhook_endpoints WHERE id = $1`, [hook.id]);
    expect(endpointRow.failing_since).not.toBeNull();
    await app.sql(`UPDATE webhook_endpoints SET enabled = false WHERE id = $1`, [hook.id]);
  });
});

describe('an endpoint changed between two attempts of a message', () => {
  it('a new URL gets the retry (same webhook-id, signed with the current secret); a disabled or deleted endpoint gets nothing more', async () => {
    await runWorker({ ...FAST, WEBHOOK_RETRY_SCHEDULE: '2,2' });
    const failing = () => ({ status: 503 });
    const [oldHome, newHome, toDisable, toDelete] = [await receiver(failing), await receiver(), await receiver(failing), await receiver(failing)];
    const moved = await endpoint(oldHome.url, ['user.deleted']);
    const disabled = await endpoint(toDisable.url, ['user.deleted']);
    const deleted = await endpoint(toDelete.url, ['user.deleted']);
    const user = await factory(app).user();
    ok(await app.gql(DeleteUserDocument, { id: user.id }));
    for (const partner of [oldHome, toDisable, toDelete]) await partner.waitFor(1);
    const [deletedMessage] = await app.sql<{ id: string }>(`SELECT id FROM webhook_messages WHERE endpoint_id = $1`, [deleted.id]);
    const [disabledMessage] = await app.sql<{ id: string }>(`SELECT id FROM webhook_messages WHERE endpoint_id = $1`, [disabled.id]);

    // As updateWebhookEndpoint writes it (the test app refuses a loopback URL: WEBHOOK_ALLOW_PRIVATE_ADDRESSES is off there).
    await app.sql(`UPDATE webhook_endpoints SET url = $2, updated_at = now() WHERE id = $1`, [moved.id, newHome.url]);
    ok(await app.gql(UpdateWebhookEndpointDocument, { input: { id: disabled.id, enabled: false } }));
    ok(await app.gql(DeleteWebhookEndpointDocument, { id: deleted.id }));

    await newHome.waitFor(1);
    expect(newHome.requests[0].headers['webhook-id']).toBe(oldHome.requests[0].headers['webhook-id']);
    expect(new Webhook(moved.secret).verify(newHome.requests[0].body, newHome.requests[0].headers)).toMatchObject({ data: { userId: user.id } });
    await until(async () => (await messageStates(moved.id)).DELIVERED === 1, 'the moved message to be delivered');
    // The retries of the other two ran (their jobs completed) without a request.
    await until(async () => (await messageStates(disabled.id)).FAILED === 1, 'the disabled endpoint’s message to fail at its retry');
    await until(async () => {
      const [{ count }] = await app.sql<{ count: number }>(
        `SELECT count(*)::int AS count FROM pgboss.job WHERE data->>'messageId' = $1 AND state = 'completed'`,
        [deletedMessage.id],
      );
      return count === 2;
    }, 'the deleted endpoint’s retry job to run');
    expect(toDisable.requests).toHaveLength(1);
    expect(toDelete.requests).toHaveLength(1);
    expect(await app.sql(`SELECT attempt FROM webhook_deliveries WHERE message_id = $1`, [disabledMessage.id])).toEqual([{ attempt: 1 }]);
    expect(await app.sql(`SELECT 1 FROM webhook_messages WHERE id = $1`, [deletedMessage.id])).toEqual([]);
    await runWorker(FAST);
  });
});

describe('an endpoint failing without pause', () => {
  it('is disabled after WEBHOOK_DISABLE_AFTER_MS, with a webhook_endpoint.disabled event delivered to its subscribers', async () => {
    await runWorker({ ...FAST, WEBHOOK_RETRY_SCHEDULE: '1,1,1,1,1', WEBHOOK_DISABLE_AFTER_MS: '300' });
    const broken = await receiver(() => ({ status: 503 }));
    const watcher = await receiver();
    const ownWatcher = await receiver();
    const otherWatcher = await receiver();
    const owner = await createApiKey(app, ['WEBHOOKS_WRITE']);
    const otherPartner = await createApiKey(app, ['WEBHOOKS_WRITE']);
    const hook = await endpoint(broken.url, ['user.deleted'], owner.id);
    const monitor = await endpoint(watcher.url, ['webhook_endpoint.disabled']);
    // The event names the owner's endpoint: it reaches the owner's other endpoints and the
    // admin's, never another partner's.
    const ownMonitor = await endpoint(ownWatcher.url, ['webhook_endpoint.disabled'], owner.id);
    const otherMonitor = await endpoint(otherWatcher.url, ['webhook_endpoint.disabled'], otherPartner.id);
    const user = await factory(app).user();
    ok(await app.gql(DeleteUserDocument, { id: user.id }));

    await until(async () => (await messageStates(hook.id)).FAILED === 1, 'the message to fail once the endpoint is disabled', 30_000);
    const [row] = await app.sql<{ enabled: boolean; disabled_reason: string; failing_since: Date | null }>(
      `SELECT enabled, disabled_reason, failing_since FROM webhook_endpoints WHERE id = $1`,
      [hook.id],
    );
    expect(row.enabled).toBe(false);
    expect(row.disabled_reason).toBe('failing without a success for more than 300 ms');
    expect(row.failing_since).not.toBeNull();
    const events = await app.sql<{ data: { endpointId: string; failingSinceMs: number; reason: string } }>(
      `SELECT data FROM events WHERE type = 'webhook_endpoint.disabled' AND data->>'endpointId' = $1`,
      [hook.id],
    );
    expect(events).toHaveLength(1);
    expect(events[0].data.failingSinceMs).toBeGreaterThan(300);
    // Disabled after the second failure (the first set failing_since), well before the
    // schedule ran out: the message failed without further attempts.
    const attempts = await app.sql(`SELECT attempt FROM webhook_deliveries WHERE endpoint_id = $1`, [hook.id]);
    expect(attempts.length).toBeLessThan(6);
    expect(broken.requests).toHaveLength(attempts.length);

    await watcher.waitFor(1);
    expect(watcher.requests).toHaveLength(1);
    const disabled = JSON.parse(new Webhook(monitor.secret).verify(watcher.requests[0].body, watcher.requests[0].headers) ? watcher.requests[0].body : '{}');
    expect(disabled).toMatchObject({ type: 'webhook_endpoint.disabled', data: { endpointId: hook.id, reason: row.disabled_reason } });
    await ownWatcher.waitFor(1);
    expect(new Webhook(ownMonitor.secret).verify(ownWatcher.requests[0].body, ownWatcher.requests[0].headers)).toMatchObject({
      type: 'webhook_endpoint.disabled',
      data: { endpointId: hook.id },
    });
    expect(await messageStates(otherMonitor.id)).toEqual({});
    expect(otherWatcher.requests).toHaveLength(0);
    await runWorker(FAST);
  });
});

describe('SSRF', () => {
  it('refuses loopback, link-local and metadata destinations at delivery unless WEBHOOK_ALLOW_PRIVATE_ADDRESSES=true', async () => {
    await runWorker({ ...FAST, WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'false', WEBHOOK_RETRY_SCHEDULE: '30' });
    const local = await receiver();
    const urls = [
      local.url,
      `http://localhost:${local.port}/hook`,
      `http://[::1]:${local.port}/hook`,
      `http://[::ffff:127.0.0.1]:${local.port}/hook`,
      'http://169.254.169.254/latest/meta-data/',
      `http://0.0.0.0:${local.port}/hook`,
    ];
    const hooks: Array<{ id: string; secret: string }> = [];
    for (const url of urls) hooks.push(await endpoint(url, ['user.deleted']));
    const user = await factory(app).user();
    ok(await app.gql(DeleteUserDocument, { id: user.id }));

    await until(async () => {
      const rows = await app.sql(`SELECT 1 FROM webhook_deliveries WHERE endpoint_id = ANY ($1) AND error LIKE 'refused:%'`, [hooks.map((hook) => hook.id)]);
      return rows.length === urls.length;
    }, 'every attempt to be refused');
    const log = await app.sql<{ http_status: number | null; error: string; duration_ms: number }>(
      `SELECT http_status, error, duration_ms FROM webhook_deliveries WHERE endpoint_id = ANY ($1)`,
      [hooks.map((hook) => hook.id)],
    );
    for (const row of log) {
      expect(row.http_status).toBeNull();
      expect(row.error).toMatch(/^refused: the host resolves to [0-9a-f.:]+, which is not a public address/);
    }
    expect(local.requests).toHaveLength(0);
    for (const hook of hooks) await app.sql(`UPDATE webhook_endpoints SET enabled = false WHERE id = $1`, [hook.id]);
    await runWorker(FAST);
  });

  it('classifies addresses: only public unicast addresses pass', () => {
    const refused = [
      '127.0.0.1', '127.255.0.9', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '169.254.0.1',
      '100.64.0.1', '100.127.255.254', '0.0.0.0', '224.0.0.1', '255.255.255.255', '::1', '::', 'fc00::1', 'fd12:3456::1',
      'fe80::1', 'fe80::1%eth0', '::ffff:127.0.0.1', '::ffff:7f00:1', '::ffff:10.0.0.1', '::ffff:169.254.169.254',
      '64:ff9b::127.0.0.1', '64:ff9b::a9fe:a9fe', '2002:7f00:1::1', '[::1]', 'ff02::1', 'not an address', '',
      // IPv4-translated (SIIT) and Teredo forms of loopback and the metadata address; documentation and SRv6 ranges.
      '::ffff:0:7f00:1', '::ffff:0:127.0.0.1', '::ffff:0:a9fe:a9fe', '2001:0:4136:e378:8000:63bf:80ff:fffe', '2001:0:4136:e378:8000:63bf:5601:5601',
      '3fff::1', '5f00::1',
    ];
    const allowed = [
      '8.8.8.8', '1.1.1.1', '172.32.0.1', '100.128.0.1', '169.253.255.255', '2606:4700:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808', '2a00:1450::1',
      '::ffff:0:808:808', '2001:0:4136:e378:8000:63bf:f7f7:f7f7', '2001:4860:4860::8888',
    ];
    expect(refused.filter((address) => !isPrivateAddress(address))).toEqual([]);
    expect(allowed.filter((address) => isPrivateAddress(address))).toEqual([]);
  });
});

describe('one attempt (postOnce)', () => {
  const options = { timeoutMs: 1500, allowPrivateAddresses: true };
  afterEach(() => jest.restoreAllMocks());

  it('connects to the address it checked, with the URL\'s Host header: one lookup, so DNS rebinding cannot swap it', async () => {
    const partner = await receiver();
    // A name that resolves once to loopback, then (a rebinding attacker's second answer) elsewhere.
    const lookup = jest
      .spyOn(dns.promises, 'lookup')
      .mockResolvedValueOnce([{ address: '127.0.0.1', family: 4 }] as never)
      .mockResolvedValue([{ address: '10.9.9.9', family: 4 }] as never);
    const result = await postOnce(`http://rebind.example:${partner.port}/in?x=1`, { 'webhook-id': 'msg_x' }, '{}', options);
    expect(result).toMatchObject({ ok: true, httpStatus: 200, error: null });
    expect(lookup).toHaveBeenCalledTimes(1);
    expect(partner.requests).toHaveLength(1);
    expect(partner.requests[0]).toMatchObject({ path: '/in?x=1', headers: { host: `rebind.example:${partner.port}`, 'webhook-id': 'msg_x' } });
  });

  it('refuses a name when any of its addresses is private, and any scheme but http and https', async () => {
    const partner = await receiver();
    jest.spyOn(dns.promises, 'lookup').mockResolvedValue([
      { address: '93.184.216.34', family: 4 },
      { address: '127.0.0.1', family: 4 },
    ] as never);
    const mixed = await postOnce(`http://mixed.example:${partner.port}/`, {}, '{}', { ...options, allowPrivateAddresses: false });
    expect(mixed).toMatchObject({ ok: false, httpStatus: null });
    expect(mixed.error).toMatch(/^refused: the host resolves to 127\.0\.0\.1/);
    const ftp = await postOnce(`ftp://127.0.0.1:${partner.port}/`, {}, '{}', options);
    expect(ftp.error).toBe('refused: only http and https URLs are delivered to, not ftp:');
    expect(partner.requests).toHaveLength(0);
  });

  it('keeps at most 1024 bytes of the answer', async () => {
    const chatty = await receiver(() => ({ status: 400, body: 'é'.repeat(3000) }));
    const result = await postOnce(chatty.url, {}, '{}', options);
    expect(result).toMatchObject({ ok: false, httpStatus: 400, error: 'the endpoint answered HTTP 400' });
    expect(Buffer.byteLength(result.responseBody!)).toBe(1024);
    expect(result.responseBody!.startsWith('é'.repeat(500))).toBe(true);
  });
});

describe('the queue’s own pool', () => {
  it('has a connection for each delivery worker and for maintenance, so stop() never leaves a fetch waiting on an ended pool', async () => {
    // pg-pool never answers a request still queued when end() is called: a worker whose
    // fetch waited there never stopped, and pg-boss polled for it every second, forever.
    const config = loadConfig({ NODE_ENV: 'test', ...FAST, WEBHOOK_CONCURRENCY: '100' }).webhooks;
    const queue = await startWebhookQueue(app.databaseUrl, config, createLogger('silent'), { workers: 4 });
    try {
      const pool = (queue.boss.getDb() as unknown as { pool: { options: { max: number } } }).pool;
      expect(pool.options.max).toBeGreaterThanOrEqual(4 + 1);
    } finally {
      await queue.stop(1000);
    }
  });
});

describe('retry schedule', () => {
  it('defaults to the Standard Webhooks schedule, with ±20% jitter, and ends after the last delay', () => {
    const schedule = loadConfig({ NODE_ENV: 'test' }).webhooks.retryScheduleSeconds;
    expect(schedule).toEqual([5, 300, 1800, 7200, 18000, 36000, 36000]);
    expect(retryDelayMs(schedule, 1, () => 0.5)).toBe(5000);
    expect(retryDelayMs(schedule, 1, () => 0)).toBe(4000);
    expect(retryDelayMs(schedule, 2, () => 1)).toBe(360_000);
    expect(retryDelayMs(schedule, 7, () => 0.5)).toBe(36_000_000);
    expect(retryDelayMs(schedule, 8)).toBeNull();
    expect(() => loadConfig({ WEBHOOK_RETRY_SCHEDULE: '5,abc' })).toThrow(/WEBHOOK_RETRY_SCHEDULE/);
  });
});
