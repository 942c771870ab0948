import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { start, type Cluster } from '../../ops/cluster';
import { seedSessions, seedUsers } from '../support/deletion-seed';
import { gql, Primary, summary, until } from './faults-support';

/**
 * Issue 14 (and issue 12's delivery rule): three gateways all run webhook delivery on one
 * database, and no attempt of a message is ever sent twice. A receiver in this test
 * fails each message's first attempt (HTTP 500) and accepts its second, so every message
 * must arrive exactly twice: once per attempt, whichever gateway sent it. Each request is
 * attributed to the gateway process that holds its TCP connection (/proc), to show that
 * more than one gateway delivered.
 */

let cluster: Cluster;
let primary: Primary;

beforeAll(async () => {
  cluster = await start({
    gatewayEnv: {
      // The receiver listens on 127.0.0.1; retries after 1 s (± 20 %), then one more.
      WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true',
      WEBHOOK_RETRY_SCHEDULE: '1,1',
      WEBHOOK_POLL_INTERVAL_MS: '100',
    },
  });
  primary = new Primary(cluster);
}, 300_000);

afterAll(async () => {
  await primary?.end().catch(() => undefined);
  await cluster?.stop();
}, 120_000);

interface Arrival {
  id: string;
  verified: boolean;
  gateway: string;
  status: number;
}

/** The inode of the TCP connection 127.0.0.1:localPort → 127.0.0.1:remotePort, from /proc/net/tcp. */
function socketInode(localPort: number, remotePort: number): string | undefined {
  const hex = (port: number) => port.toString(16).toUpperCase().padStart(4, '0');
  const local = `0100007F:${hex(localPort)}`;
  const remote = `0100007F:${hex(remotePort)}`;
  for (const line of fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields[1] === local && fields[2] === remote) return fields[9];
  }
  return undefined;
}

/** Which gateway process holds the socket with this inode. */
function ownerOf(inode: string | undefined, pids: Map<string, number>): string {
  if (!inode) return 'unknown';
  for (const [name, pid] of pids) {
    let fds: string[] = [];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`) return name;
      } catch {
        // closed meanwhile
      }
    }
  }
  return 'unknown';
}

it('three gateways delivering at once send each attempt of each message exactly once', async () => {
  const pids = new Map(cluster.gateways.map((gateway) => [gateway.name, cluster.pid(gateway.name as 'gw1')!]));
  let secret = '';
  const arrivals: Arrival[] = [];
  const seen = new Map<string, number>();
  const receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const id = String(req.headers['webhook-id']);
      let verified = false;
      try {
        new Webhook(secret).verify(body, req.headers as Record<string, string>);
        verified = true;
      } catch {
        verified = false;
      }
      const gateway = ownerOf(socketInode(req.socket.remotePort!, (receiver.address() as AddressInfo).port), pids);
      const count = (seen.get(id) ?? 0) + 1;
      seen.set(id, count);
      const status = count === 1 ? 500 : 200;
      arrivals.push({ id, verified, gateway, status });
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'try again');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  try {
    const port = (receiver.address() as AddressInfo).port;
    const created = await gql(cluster.url, cluster.adminApiKey,
      'mutation FaultEndpoint($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { endpoint { id } secret } }',
      { input: { url: `http://127.0.0.1:${port}/hook`, eventTypes: ['user.deleted', 'session.terminated'] } },
    );
    expect(summary(created)).toMatch(/^HTTP 200 /);
    expect(created.body?.errors).toBeUndefined();
    const endpointId: string = created.body!.data!.createWebhookEndpoint.endpoint.id;
    secret = created.body!.data!.createWebhookEndpoint.secret;

    // 40 users with 2 sessions each, deleted through HAProxy 4 at a time: 3 events each (2 session.terminated, 1 user.deleted).
    const app = primary.asApp();
    const users = await seedUsers(app, 40);
    await seedSessions(app, users, 2);
    const queue = [...users];
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let id = queue.shift(); id; id = queue.shift()) {
          const answer = await gql(cluster.url, cluster.adminApiKey, 'mutation FaultDeleteUser($id: ID!) { deleteUser(id: $id) { deletedUserId } }', { id });
          expect(summary(answer)).toMatch(/^HTTP 200 /);
          expect(answer.body?.errors).toBeUndefined();
        }
      }),
    );
    const expected = users.length * 3;

    await until(`${expected} messages delivered`, 90_000, async () => {
      const [{ delivered }] = await primary.sql<{ delivered: number }>(
        `SELECT count(*)::int AS delivered FROM webhook_messages WHERE endpoint_id = $1 AND status = 'DELIVERED'`,
        [endpointId],
      );
      return delivered === expected;
    }, 250);
    // Anything sent late (an attempt sent twice) would arrive now.
    await new Promise((resolve) => setTimeout(resolve, 2_000));

    const messages = await primary.sql<{ id: string; attempts: number; status: string }>(
      `SELECT id, attempts, status FROM webhook_messages WHERE endpoint_id = $1 ORDER BY id`,
      [endpointId],
    );
    // One message per event: the fan-out, run by three processes, wrote none twice.
    expect(messages).toHaveLength(expected);
    const [{ duplicates }] = await primary.sql<{ duplicates: number }>(
      `SELECT count(*)::int AS duplicates FROM (
         SELECT event_position FROM webhook_messages WHERE endpoint_id = $1 GROUP BY event_position HAVING count(*) > 1) d`,
      [endpointId],
    );
    expect(duplicates).toBe(0);
    expect(messages.every((message) => message.attempts === 2 && message.status === 'DELIVERED')).toBe(true);

    // The receiver got each message exactly twice: attempt 1 (answered 500) and attempt 2 (answered 200).
    expect(arrivals).toHaveLength(expected * 2);
    expect([...seen.keys()].sort()).toEqual(messages.map((message) => message.id));
    expect([...seen.values()].every((count) => count === 2)).toBe(true);
    expect(arrivals.every((arrival) => arrival.verified)).toBe(true);
    // The delivery log agrees: attempts 1 and 2 of each message, with the answers the receiver gave.
    const deliveries = await primary.sql<{ message_id: string; attempts: number[]; statuses: number[] }>(
      `SELECT message_id, array_agg(attempt ORDER BY attempt) AS attempts, array_agg(http_status ORDER BY attempt) AS statuses
         FROM webhook_deliveries WHERE endpoint_id = $1 GROUP BY message_id ORDER BY message_id`,
      [endpointId],
    );
    expect(deliveries).toEqual(messages.map((message) => ({ message_id: message.id, attempts: [1, 2], statuses: [500, 200] })));

    // More than one gateway delivered.
    const byGateway = new Map<string, number>();
    for (const arrival of arrivals) byGateway.set(arrival.gateway, (byGateway.get(arrival.gateway) ?? 0) + 1);
    process.stdout.write(`[faults-webhooks] attempts by gateway: ${JSON.stringify(Object.fromEntries(byGateway))}\n`);
    expect([...byGateway.keys()].filter((name) => name.startsWith('gw')).length).toBeGreaterThanOrEqual(2);
  } finally {
    receiver.closeAllConnections();
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
  }
});
