import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { Client } from 'pg';
import { findBinaries, MissingPackagesError, parseStats, start, type Cluster } from '../../ops/cluster';

/**
 * Issue 14: `npm run cluster`'s topology comes up, serves through every part, and goes
 * away completely. Run by `npm run test:cluster` (jest.cluster.config.js), not `npm test`.
 */

interface Answer {
  status: number;
  body: { data?: Record<string, any> | null; errors?: Array<{ message: string; extensions?: { code?: string } }> };
}

async function post(url: string, token: string, body: object): Promise<Answer> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Answer['body'] };
}

async function query<T = Array<Record<string, any>>>(url: string, text: string, values: unknown[] = []): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text, values)).rows as T;
  } finally {
    await client.end();
  }
}

describe('npm run cluster without its programs', () => {
  it('names the missing Debian packages and the apt-get line, installing nothing', () => {
    let thrown: unknown;
    try {
      findBinaries([]);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(MissingPackagesError);
    const error = thrown as MissingPackagesError;
    expect([...new Set(error.missing.map((item) => item.debianPackage))].sort()).toEqual(['haproxy', 'pgbouncer', 'postgresql', 'redis-server']);
    expect(error.message).toContain('apt-get install -y postgresql pgbouncer haproxy redis-server');
  });
});

describe('the local cluster (issue 14)', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await start();
  }, 300_000);

  afterAll(async () => {
    await cluster?.stop();
  }, 120_000);

  const stotByGateway = async () =>
    Object.fromEntries(
      parseStats(await cluster.haproxyCommand('show stat'))
        .filter((row) => row.pxname === 'gateways' && row.svname.startsWith('gw'))
        .map((row) => [row.svname, Number(row.stot)]),
    );

  const CREATE = 'mutation SmokeCreate($input: CreateUserInput!) { createUser(input: $input) { id email name } }';
  const READ = 'query SmokeRead($id: ID!) { user(id: $id) { id email name } }';
  let userId: string;
  const email = `smoke-${Date.now()}@example.com`;

  it('serves GraphQL through HAProxy, round robin over the 3 gateways, into the primary', async () => {
    const before = await stotByGateway();
    const created = await post(cluster.url, cluster.adminApiKey, { query: CREATE, variables: { input: { email, name: 'Smoke Test' } } });
    expect(created.status).toBe(200);
    expect(created.body.errors).toBeUndefined();
    userId = created.body.data!.createUser.id;
    expect(created.body.data!.createUser).toEqual({ id: userId, email, name: 'Smoke Test' });

    for (let i = 0; i < 2; i += 1) {
      const read = await post(cluster.url, cluster.adminApiKey, { query: READ, variables: { id: userId } });
      expect(read.status).toBe(200);
      expect(read.body.data!.user).toEqual({ id: userId, email, name: 'Smoke Test' });
    }
    // Three requests, one to each gateway.
    const after = await stotByGateway();
    expect(Object.keys(after).sort()).toEqual(['gw1', 'gw2', 'gw3']);
    for (const name of Object.keys(after)) expect(after[name] - before[name]).toBe(1);

    // The row is in the primary.
    const rows = await query(cluster.primary.appUrl, 'SELECT email, name FROM users WHERE id = $1', [userId]);
    expect(rows).toEqual([{ email, name: 'Smoke Test' }]);
  });

  it('the gateways reach PostgreSQL through PgBouncer in transaction mode', async () => {
    // PgBouncer's admin console (simple query protocol only).
    const config = await query(`postgres://postgres:${new URL(cluster.primary.url).password}@127.0.0.1:${cluster.pgbouncer.port}/pgbouncer`, 'SHOW CONFIG');
    expect(config.find((row) => row.key === 'pool_mode')?.value).toBe('transaction');
    const clients = await query(`postgres://postgres:${new URL(cluster.primary.url).password}@127.0.0.1:${cluster.pgbouncer.port}/pgbouncer`, 'SHOW CLIENTS');
    const gatewayClients = clients.filter((row) => row.database === 'gateway' && row.user === 'gateway');
    // Each gateway's pool keeps at least the connection its readiness checks use.
    expect(gatewayClients.length).toBeGreaterThanOrEqual(cluster.gateways.length);
  });

  it('streams to a hot-standby replica, which has the new user', async () => {
    const replication = await query(cluster.primary.url, 'SELECT application_name, state FROM pg_stat_replication');
    expect(replication).toEqual([{ application_name: 'replica', state: 'streaming' }]);
    const [{ recovering }] = await query(cluster.replica.url, 'SELECT pg_is_in_recovery() AS recovering');
    expect(recovering).toBe(true);
    let rows: Array<Record<string, any>> = [];
    for (let attempt = 0; attempt < 50 && rows.length === 0; attempt += 1) {
      rows = await query(cluster.replica.appUrl, 'SELECT email FROM users WHERE id = $1', [userId]);
      if (rows.length === 0) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(rows).toEqual([{ email }]);
  });

  it('finds an automatic persisted query registered through one gateway through the others (shared Redis)', async () => {
    const text = 'query SmokeApq($id: ID!) { user(id: $id) { id email } }';
    const extensions = { persistedQuery: { version: 1, sha256Hash: createHash('sha256').update(text).digest('hex') } };
    const [gw1, gw2, gw3] = cluster.gateways;

    const unknown = await post(gw2.url, cluster.adminApiKey, { extensions, variables: { id: userId } });
    expect(unknown.body.errors?.[0]?.extensions?.code).toBe('PERSISTED_QUERY_NOT_FOUND');

    const registered = await post(gw1.url, cluster.adminApiKey, { query: text, extensions, variables: { id: userId } });
    expect(registered.status).toBe(200);
    expect(registered.body.data).toEqual({ user: { id: userId, email } });

    for (const other of [gw2, gw3]) {
      const byHash = await post(other.url, cluster.adminApiKey, { extensions, variables: { id: userId } });
      expect(byHash.status).toBe(200);
      expect(byHash.body.errors).toBeUndefined();
      expect(byHash.body.data).toEqual({ user: { id: userId, email } });
    }
  });

  it('stop() ends every process and removes the folder', async () => {
    const names = ['primary', 'replica', 'pgbouncer', 'redis', 'haproxy', 'gw1', 'gw2', 'gw3'] as const;
    const pids = names.map((name) => cluster.pid(name));
    expect(pids.every((pid) => typeof pid === 'number' && pid > 0)).toBe(true);
    await cluster.stop();
    // A process that has exited but not been reaped yet (a zombie: pg_ctl's postgres is
    // reparented to the container's init, which may reap late) is not running.
    const alive = (pid: number) => {
      try {
        process.kill(pid, 0);
      } catch {
        return false;
      }
      try {
        return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
      } catch {
        return false;
      }
    };
    expect(pids.filter((pid) => alive(pid!))).toEqual([]);
    expect(fs.existsSync(cluster.dir)).toBe(false);
    await expect(fetch(cluster.url)).rejects.toThrow();
  });
});
