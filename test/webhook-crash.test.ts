import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { Webhook } from 'standardwebhooks';
import { CreateUserDocument, DeleteOrganizationDocument, DeleteUserDocument } from '../src/generated/graphql';
import { newId } from '../src/ids';
import { EVENT_TYPES } from '../src/outbox';
import { NO_RESULT } from '../src/webhooks/webhook-delivery';
import type { TestApp } from './support/app';
import { seedLargeOrganization } from './support/deletion-seed';
import { must, startServerProcess, type ServerProcess } from './support/server-process';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook-receiver';

/**
 * Issue 12, "How it is delivered": a server killed with SIGKILL mid-delivery delivers after
 * restart; two server instances on one database never send the same attempt twice. Real
 * server processes (src/main.ts), a real receiver.
 */

const WEBHOOK_ENV = {
  WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true',
  // A job held by a dead process comes back after the timeout + 5 s (webhook-queue.ts).
  WEBHOOK_TIMEOUT_MS: '3000',
  WEBHOOK_POLL_INTERVAL_MS: '200',
  WEBHOOK_RETRY_SCHEDULE: '1,1,1',
};

const processes: ServerProcess[] = [];
const receivers: WebhookReceiver[] = [];
const clients: Client[] = [];

async function start(env: Record<string, string> = {}): Promise<ServerProcess> {
  const server = await startServerProcess({ ...WEBHOOK_ENV, ...env });
  processes.push(server);
  return server;
}

async function database(url: string): Promise<Client> {
  const client = new Client({ connectionString: url });
  await client.connect();
  clients.push(client);
  return client;
}

async function endpoint(db: Client, url: string, eventTypes: readonly string[]): Promise<{ id: string; secret: string }> {
  const id = newId('webhookEndpoint');
  const secret = `whsec_${randomBytes(24).toString('base64')}`;
  await db.query(`INSERT INTO webhook_endpoints (id, url, event_types, secret) VALUES ($1, $2, $3, $4)`, [id, url, eventTypes, secret]);
  return { id, secret };
}

async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const started = Date.now();
  while (!(await condition())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

afterAll(async () => {
  for (const client of clients) await client.end();
  for (const receiver of receivers) await receiver.close();
  // The restarted processes share the first one's database: kill them all before any drop.
  for (const server of processes) if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
  await Promise.all(processes.map((server) => server.cleanup()));
});

it('delivers after a SIGKILL mid-delivery, once a new process runs on the same database', async () => {
  // Holds the first request open (the process is killed while it waits), accepts the next.
  const receiver = await startWebhookReceiver((_, index) => (index === 0 ? 'hold' : { status: 200 }));
  receivers.push(receiver);
  const first = await start();
  const db = await database(first.databaseUrl);
  const hook = await endpoint(db, receiver.url, ['user.deleted']);
  const user = (await must(first, CreateUserDocument, { input: { email: `crash-${randomBytes(3).toString('hex')}@example.com`, name: 'Crash Test' } })).createUser;
  await must(first, DeleteUserDocument, { id: user.id });

  await receiver.waitFor(1);
  first.child.kill('SIGKILL');
  expect(await first.exited).toBeNull();
  // Killed mid-attempt: the claimed attempt is in the log without a result, the message still pending.
  const [pending] = (await db.query(`SELECT id, status, attempts FROM webhook_messages WHERE endpoint_id = $1`, [hook.id])).rows;
  expect(pending).toMatchObject({ status: 'PENDING', attempts: 1 });

  await start({ DATABASE_URL: first.databaseUrl });
  await until(
    async () => (await db.query(`SELECT 1 FROM webhook_messages WHERE id = $1 AND status = 'DELIVERED'`, [pending.id])).rows.length === 1,
    'the message to be delivered by the new process',
  );
  expect(receiver.requests).toHaveLength(2);
  for (const request of receiver.requests) {
    expect(request.headers['webhook-id']).toBe(pending.id);
    expect(JSON.parse(request.body)).toMatchObject({ type: 'user.deleted', data: { userId: user.id } });
    expect(() => new Webhook(hook.secret).verify(request.body, request.headers)).not.toThrow();
  }
  const log = (
    await db.query(`SELECT attempt, http_status, error FROM webhook_deliveries WHERE message_id = $1 ORDER BY attempt`, [pending.id])
  ).rows;
  expect(log).toEqual([
    { attempt: 1, http_status: null, error: NO_RESULT },
    { attempt: 2, http_status: 200, error: null },
  ]);
}, 120_000);

it('never sends one attempt twice when two server processes share the database', async () => {
  const receiver = await startWebhookReceiver();
  receivers.push(receiver);
  const one = await start();
  const two = await start({ DATABASE_URL: one.databaseUrl });
  const db = await database(one.databaseUrl);
  const hook = await endpoint(db, receiver.url, EVENT_TYPES);
  const sql = async <T>(text: string, params?: unknown[]) => (await db.query(text, params)).rows as T[];
  const seeding = { sql } as unknown as TestApp;
  const a = await seedLargeOrganization(seeding, 60, 1);
  const b = await seedLargeOrganization(seeding, 60, 1);
  // A burst: two large deletions at once, one through each process.
  await Promise.all([
    must(one, DeleteOrganizationDocument, { id: a.organizationId }),
    must(two, DeleteOrganizationDocument, { id: b.organizationId }),
  ]);
  const [{ count: events }] = await sql<{ count: number }>(`SELECT count(*)::int AS count FROM events`);
  // Per organization: 60 sessions, 60 memberships, 30 cascaded users, the organization.
  expect(events).toBe(2 * (60 + 60 + 30 + 1));

  await until(async () => {
    const [{ count }] = await sql<{ count: number }>(
      `SELECT count(*)::int AS count FROM webhook_messages WHERE endpoint_id = $1 AND status = 'DELIVERED'`,
      [hook.id],
    );
    return count === events;
  }, 'every message to be delivered');
  const ids = receiver.requests.map((request) => request.headers['webhook-id']);
  expect(ids).toHaveLength(events);
  expect(new Set(ids).size).toBe(events);
  const attempts = await sql<{ message_id: string; attempt: number; http_status: number }>(
    `SELECT message_id, attempt, http_status FROM webhook_deliveries WHERE endpoint_id = $1`,
    [hook.id],
  );
  expect(attempts).toHaveLength(events);
  expect(attempts.every((row) => row.attempt === 1 && row.http_status === 200)).toBe(true);
}, 120_000);

it('stops cleanly on SIGTERM with a delivery in flight: exit 0, no error or warning lines, the attempt recorded, retried after restart; nothing personal or secret in the log', async () => {
  // Holds the first request open (SIGTERM arrives while it waits), accepts the next.
  const receiver = await startWebhookReceiver((_, index) => (index === 0 ? 'hold' : { status: 200 }));
  receivers.push(receiver);
  const first = await start({ WEBHOOK_RETRY_SCHEDULE: '1' });
  const db = await database(first.databaseUrl);
  const hook = await endpoint(db, receiver.url, ['user.deleted']);
  const email = `sigterm-${randomBytes(3).toString('hex')}@example.com`;
  const name = `Zebulon Sigterm ${randomBytes(3).toString('hex')}`;
  const user = (await must(first, CreateUserDocument, { input: { email, name } })).createUser;
  await must(first, DeleteUserDocument, { id: user.id });

  await receiver.waitFor(1);
  first.child.kill('SIGTERM');
  expect(await first.exited).toBe(0);
  const lines = first
    .output()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { level: number; msg: string });
  expect(lines.filter((line) => line.level >= 40)).toEqual([]);
  for (const text of [email, name, hook.secret, hook.secret.slice('whsec_'.length)]) expect(first.output()).not.toContain(text);
  // The attempt in flight ended (timed out) and was recorded before the pool closed: no NO_RESULT row.
  const [message] = (await db.query(`SELECT id, status, attempts FROM webhook_messages WHERE endpoint_id = $1`, [hook.id])).rows;
  expect(message).toMatchObject({ status: 'PENDING', attempts: 1 });
  const [attempt] = (await db.query(`SELECT attempt, http_status, error FROM webhook_deliveries WHERE message_id = $1`, [message.id])).rows;
  expect(attempt).toMatchObject({ attempt: 1, http_status: null });
  expect(attempt.error).not.toBe(NO_RESULT);

  const second = await start({ DATABASE_URL: first.databaseUrl, WEBHOOK_RETRY_SCHEDULE: '1' });
  await until(
    async () => (await db.query(`SELECT 1 FROM webhook_messages WHERE id = $1 AND status = 'DELIVERED'`, [message.id])).rows.length === 1,
    'the retry to be delivered by the new process',
  );
  expect(receiver.requests.map((request) => request.headers['webhook-id'])).toEqual([message.id, message.id]);
  for (const text of [email, name, hook.secret]) expect(second.output()).not.toContain(text);
}, 120_000);
