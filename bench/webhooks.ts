import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import type { Client } from 'pg';
import { gql, median, onCleanup, startChildServer, type ChildServer } from './harness';
import { resetData, seedOrganizationCase, settle } from './seed';

/**
 * Issue 12, "Measured in npm run bench": webhook delivery.
 *
 * - The deletion's own time (the deleteOrganization round trip) with 0 and with 10 enabled
 *   endpoints subscribed to its user.deleted and organization.deleted events. The deletion
 *   never touches a webhook table, so they must be equal within noise. Each run starts
 *   after the previous run's fan-out finished and its queue was emptied, so one run's
 *   background work does not land in the next run's time.
 * - Deliveries per second to a local receiver (answers 204 at once) for the user.deleted
 *   events of the deletion, one endpoint: from the deletion's answer until the receiver has
 *   every message (fan-out, queue, signing, HTTP, recording each attempt), on a server with
 *   the default WEBHOOK_CONCURRENCY.
 */

const DELETE_ORGANIZATION = `mutation BenchWebhookDeleteOrganization($id: ID!) {
  deleteOrganization(id: $id) { deletedOrganizationId receipt { id } }
}`;

export interface WebhookBench {
  members: number;
  runs: number;
  deletionMs: { endpoints0: number; endpoints10: number; ratio: number; samples0: number[]; samples10: number[] };
  /** After the deletion with 10 endpoints: until every message exists (fan-out done). */
  fanOutMsWith10Endpoints: number;
  messagesWith10Endpoints: number;
  delivery: { messages: number; seconds: number; perSecond: number; attemptsRecorded: number };
}

interface Receiver {
  url: string;
  count: () => number;
  close: () => Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  let count = 0;
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      count += 1;
      res.writeHead(204).end();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  onCleanup(close);
  return { url: `http://127.0.0.1:${port}/hook`, count: () => count, close };
}

async function until(condition: () => Promise<boolean> | boolean, what: string, timeoutMs = 30 * 60_000): Promise<void> {
  const started = Date.now();
  while (!(await condition())) {
    if (Date.now() - started > timeoutMs) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Removes every delivery job without racing the server's workers. A plain DELETE of them all
 * deadlocked with pg-boss completing a batch (the two locked the same rows in different
 * orders), and pg-boss's error then ended the server process (seen in a bench run on
 * 2026-11-30, reported as "fetch failed" / ECONNREFUSED by the next request). Here the
 * bench never waits for a row lock: it deletes the jobs no worker holds (SKIP LOCKED, not
 * active) and comes back for the rest once their workers are done with them.
 */
async function clearDeliveryJobs(client: Client): Promise<void> {
  await until(async () => {
    await client.query(
      `DELETE FROM pgboss.job
        WHERE name = 'webhook_delivery'
          AND id IN (SELECT id FROM pgboss.job WHERE name = 'webhook_delivery' AND state <> 'active' FOR UPDATE SKIP LOCKED)`,
    );
    const { rows } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM pgboss.job WHERE name = 'webhook_delivery'`);
    return rows[0].n === 0;
  }, 'the delivery jobs to clear');
}

/** Empty data, no endpoints, no messages, no queued jobs; the fan-out cursor back at the start. */
async function reset(client: Client): Promise<void> {
  await resetData(client);
  await client.query(`INSERT INTO webhook_outbox_cursor (singleton) VALUES (true) ON CONFLICT DO NOTHING`);
  await client.query(`UPDATE webhook_outbox_cursor SET txid = NULL, position = NULL`);
  await clearDeliveryJobs(client);
}

async function endpoints(client: Client, url: string, count: number, eventTypes: string[]): Promise<void> {
  for (let i = 0; i < count; i += 1) {
    await client.query(`INSERT INTO webhook_endpoints (id, url, event_types, secret) VALUES ($1, $2, $3, $4)`, [
      `ep_BENCH${String(i).padStart(21, '0')}`,
      url,
      eventTypes,
      `whsec_${randomBytes(24).toString('base64')}`,
    ]);
  }
}

/** Until the fan-out has read every event (the cursor is at the last one). */
async function fannedOut(client: Client): Promise<void> {
  await until(async () => {
    const { rows } = await client.query<{ done: boolean }>(
      `SELECT coalesce((SELECT max(position) FROM events), 0) <= coalesce((SELECT position FROM webhook_outbox_cursor), 0) AS done`,
    );
    return rows[0].done;
  }, 'the fan-out to read every event');
}

async function deleteOnce(client: Client, server: ChildServer, tag: string, members: number): Promise<number> {
  const seeded = await seedOrganizationCase(client, tag, members);
  await settle(client);
  const result = await gql(server.url, server.adminKey, DELETE_ORGANIZATION, { id: seeded.organizationId });
  return result.ms;
}

export async function caseWebhooks(client: Client, databaseUrl: string, members: number, runs: number): Promise<WebhookBench> {
  const receiver = await startReceiver();
  // A server of its own, with delivery on and the local receiver allowed.
  const server = await startChildServer(databaseUrl, [], {
    WEBHOOKS: 'true',
    WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true',
    WEBHOOK_POLL_INTERVAL_MS: '200',
  });
  try {
    const samples0: number[] = [];
    const samples10: number[] = [];
    let fanOutMs = 0;
    let messages10 = 0;
    for (let run = 0; run < runs; run += 1) {
      await reset(client);
      samples0.push(await deleteOnce(client, server, `wh0-${run}`, members));
      await fannedOut(client);

      await reset(client);
      await endpoints(client, receiver.url, 10, ['user.deleted', 'organization.deleted']);
      // Endpoints receive events that occur after they were created: the deletion comes later.
      const ms = await deleteOnce(client, server, `wh10-${run}`, members);
      samples10.push(ms);
      const answered = Date.now();
      await fannedOut(client);
      fanOutMs = Date.now() - answered;
      messages10 = Number((await client.query(`SELECT count(*) AS n FROM webhook_messages`)).rows[0].n);
      // Stop the 10 endpoints before the next run: their messages go without HTTP.
      await client.query(`UPDATE webhook_endpoints SET enabled = false`);
      await clearDeliveryJobs(client);
    }

    await reset(client);
    await endpoints(client, receiver.url, 1, ['user.deleted']);
    const seeded = await seedOrganizationCase(client, 'whd', members);
    await settle(client);
    const before = receiver.count();
    await gql(server.url, server.adminKey, DELETE_ORGANIZATION, { id: seeded.organizationId });
    const started = Date.now();
    const expected = Number((await client.query(`SELECT count(*) AS n FROM events WHERE type = 'user.deleted'`)).rows[0].n);
    await until(() => receiver.count() - before >= expected, 'every user.deleted message to arrive');
    const seconds = (Date.now() - started) / 1000;
    const attempts = Number((await client.query(`SELECT count(*) AS n FROM webhook_deliveries`)).rows[0].n);

    const endpoints0 = median(samples0);
    const endpoints10 = median(samples10);
    return {
      members,
      runs,
      deletionMs: {
        endpoints0: Math.round(endpoints0),
        endpoints10: Math.round(endpoints10),
        ratio: Math.round((endpoints10 / endpoints0) * 100) / 100,
        samples0: samples0.map(Math.round),
        samples10: samples10.map(Math.round),
      },
      fanOutMsWith10Endpoints: fanOutMs,
      messagesWith10Endpoints: messages10,
      delivery: { messages: expected, seconds: Math.round(seconds * 10) / 10, perSecond: Math.round(expected / seconds), attemptsRecorded: attempts },
    };
  } finally {
    await server.stop();
    await receiver.close();
  }
}
