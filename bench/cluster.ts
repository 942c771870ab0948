import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { backendCpu, backendCpuSince, closedLoop, cpuTimeMs, gql, onCleanup, round, type LoadResult } from './harness';
import { resetData, seedOrganizationCase, seedUserPool, settle } from './seed';

/**
 * Case 7 of `npm run bench` (issue 14, "A load check in npm run bench"): case 2's deleteUser
 * load and case 5's member-list read, sent (a) through HAProxy to the 3 gateways of the local
 * cluster (ops/cluster.ts: HAProxy → 3 gateways → PgBouncer in transaction mode → primary;
 * plain reads on the streaming replica) and (b) to the same cluster's gateway gw1 directly.
 * Same processes, same database and same requests, so only the path differs. Reported:
 * req/s, p50, p99, errors, the ratio cluster/direct, and CPU per request from /proc.
 *
 * On a 2-core machine the 3 gateways, HAProxy, PgBouncer, PostgreSQL and the load generator
 * share the same 2 cores: this measures overhead, not speed-up. The CPU per request ratio is
 * the cost of the extra hops (HAProxy's proxying, a new gateway connection per request,
 * ops/haproxy.cfg). The throughput ratio can exceed 100% without meaning scaling: one
 * gateway is one Node.js thread, bound to one core; three can use both.
 *
 * Data is seeded directly on the primary (bench/seed.ts), as a superuser on the gateways'
 * database (VACUUM and CHECKPOINT need one). When the cluster's programs are missing the case
 * is skipped, saying which Debian packages to install; the rest of the bench runs.
 */

export interface ClusterCaseOptions {
  quick: boolean;
  loadSeconds: number;
  warmupSeconds: number;
  /** Case 2's deleteUser mutation (variables: { id }). */
  deleteUser: string;
  /** Case 5's member-list query (variables: { id }) and its page size. */
  read: string;
  readFirst: number;
  log: (line: string) => void;
}

/** Processes whose CPU (utime + stime, /proc) is counted, in ms per successful request. */
export interface PathCpu {
  gateways: number;
  haproxy: number;
  pgbouncer: number;
  /** Client backends on the primary and the replica (background processes not included). */
  postgres: number;
  /** This process: autocannon. */
  loadGenerator: number;
  total: number;
}

export interface PathRun extends Omit<LoadResult, 'serverCpuMsPerRequest' | 'pgCpuMsPerRequest' | 'clientCpuMsPerRequest'> {
  cpuMsPerRequest: PathCpu;
  /** The whole machine's busy share of all cores during the run (/proc/stat), other work included. */
  machineBusyPct: number;
  /** The first failed response, to say why (status and the start of the body). */
  firstError?: string;
  /** deleteUser: the seeded users ran out before the run ended (later requests failed). */
  poolExhausted?: boolean;
}

export interface ClusterRow {
  operation: 'deleteUser' | 'member-list read';
  concurrency: number;
  /** Which path ran first (they alternate from one row to the next). */
  first: 'cluster' | 'direct';
  cluster: PathRun;
  direct: PathRun;
  /** cluster req/s ÷ direct req/s. */
  throughputRatio: number;
  /** cluster p99 ÷ direct p99. */
  p99Ratio: number;
  /** cluster total CPU per request ÷ direct's. */
  cpuRatio: number;
}

export type ClusterCase =
  | { status: 'skipped'; reason: string; note: string }
  | { status: 'failed'; reason: string; note: string }
  | {
      status: 'measured';
      note: string;
      topology: string;
      postgres: string;
      gatewayEnv: Record<string, string>;
      userPool: number;
      readSameJson: boolean;
      rows: ClusterRow[];
    };

export const CLUSTER_NOTE =
  'On a 2-core machine this measures overhead, not speed-up: HAProxy, the 3 gateways, PgBouncer, PostgreSQL and the load generator all share the same 2 cores. ' +
  'The CPU per request ratio is the cost of the extra hops. A throughput ratio above 100% is not scaling either: one gateway is one Node.js thread and cannot use the second core, ' +
  'three can; what more machines would gain is not measured here.';

const DELETE_USER_CONCURRENCY = [8, 32];
const READ_CONCURRENCY = [8];
/** The same environment as the bench's own server (bench/harness.ts startChildServer), over the cluster's. */
const GATEWAY_ENV = { LOG_LEVEL: 'warn', WEBHOOKS: 'false' };

const ratio = (a: number, b: number) => (b > 0 && Number.isFinite(a) && Number.isFinite(b) ? round(a / b, 2) : NaN);

// ─── ops/cluster.ts, loaded from its source ─────────────────────────────────────────────

/**
 * The part of ops/cluster.ts's API this case uses. ops/cluster.ts is loaded from its source
 * with ts-node (as `npm run cluster` runs it), not compiled into dist/: it finds its
 * templates (haproxy.cfg, pgbouncer.ini…) and ops/migrate.js next to itself.
 */
interface ClusterHandle {
  url: string;
  adminApiKey: string;
  gateways: Array<{ name: string; url: string }>;
  primary: { url: string };
  replica: { url: string };
  pid(name: string): number | undefined;
  stop(): Promise<void>;
}

interface ClusterModule {
  start(options: { gatewayEnv?: Record<string, string>; build?: boolean; log?: (line: string) => void }): Promise<ClusterHandle>;
  findBinaries(): unknown;
  MissingPackagesError: new (...args: never[]) => Error;
}

/** ops/cluster.ts of this checkout: next to the build's parent folder, else under the working directory. */
function clusterSource(): string | undefined {
  return [path.resolve(__dirname, '../../ops/cluster.ts'), path.resolve(process.cwd(), 'ops/cluster.ts')].find((file) =>
    fs.existsSync(file),
  );
}

function loadClusterModule(source: string): ClusterModule {
  // The gateways run the build this bench runs from (its own server's), never a rebuild.
  process.env.CLUSTER_DIST ??= path.resolve(__dirname, '..');
  require('ts-node').register({ transpileOnly: true, project: path.join(path.dirname(source), '..', 'tsconfig.json') });
  return require(source) as ClusterModule;
}

// ─── /proc ──────────────────────────────────────────────────────────────────────────────

/** Busy and total jiffies over all cores (/proc/stat's first line); null off Linux. */
function machineTicks(): { busy: number; total: number } | null {
  try {
    const fields = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
    const total = fields.reduce((sum, value) => sum + value, 0);
    const idle = fields[3] + fields[4];
    return { busy: total - idle, total };
  } catch {
    return null;
  }
}

interface CpuSnapshot {
  processes: Map<string, number>;
  primary: Map<number, number>;
  replica: Map<number, number>;
  self: NodeJS.CpuUsage;
  machine: { busy: number; total: number } | null;
}

const GATEWAY_NAMES = ['gw1', 'gw2', 'gw3'];

async function snapshot(cluster: ClusterHandle, primary: Client, replica: Client): Promise<CpuSnapshot> {
  const processes = new Map<string, number>();
  for (const name of [...GATEWAY_NAMES, 'haproxy', 'pgbouncer']) {
    const pid = cluster.pid(name);
    if (pid) processes.set(name, cpuTimeMs(pid));
  }
  return {
    processes,
    primary: await backendCpu(primary),
    replica: await backendCpu(replica),
    self: process.cpuUsage(),
    machine: machineTicks(),
  };
}

/**
 * CPU per successful request between two snapshots. Both paths count the same processes
 * (all 3 gateways: in the direct runs gw2 and gw3 only answer HAProxy's health checks, as
 * they do during the cluster runs), so the difference is the path's.
 */
async function cpuSince(before: CpuSnapshot, cluster: ClusterHandle, primary: Client, replica: Client, ok: number) {
  const after = await snapshot(cluster, primary, replica);
  const spent = (name: string) => (after.processes.get(name) ?? NaN) - (before.processes.get(name) ?? NaN);
  const nanToZero = (value: number) => (Number.isNaN(value) ? 0 : value);
  const gateways = GATEWAY_NAMES.map(spent).reduce((sum, value) => sum + value, 0);
  const postgres = nanToZero(backendCpuSince(before.primary, after.primary)) + nanToZero(backendCpuSince(before.replica, after.replica));
  const self = process.cpuUsage(before.self);
  const perRequest = (ms: number) => round(ms / Math.max(ok, 1), 3);
  const cpu: PathCpu = {
    gateways: perRequest(gateways),
    haproxy: perRequest(spent('haproxy')),
    pgbouncer: perRequest(spent('pgbouncer')),
    postgres: perRequest(postgres),
    loadGenerator: perRequest((self.user + self.system) / 1000),
    total: NaN,
  };
  cpu.total = round(cpu.gateways + cpu.haproxy + cpu.pgbouncer + cpu.postgres + cpu.loadGenerator, 3);
  const machine =
    before.machine && after.machine && after.machine.total > before.machine.total
      ? round((100 * (after.machine.busy - before.machine.busy)) / (after.machine.total - before.machine.total))
      : NaN;
  return { cpu, machine };
}

// ─── Load ───────────────────────────────────────────────────────────────────────────────

async function load(
  url: string,
  token: string,
  connections: number,
  seconds: number,
  body: () => string,
  measure?: { cluster: ClusterHandle; primary: Client; replica: Client },
): Promise<PathRun> {
  const before = measure ? await snapshot(measure.cluster, measure.primary, measure.replica) : undefined;
  const run = await closedLoop(url, token, connections, seconds, body);
  const spent = measure && before ? await cpuSince(before, measure.cluster, measure.primary, measure.replica, run.ok) : undefined;
  return {
    ...run,
    concurrency: connections,
    rps: round(run.ok / run.seconds),
    cpuMsPerRequest: spent?.cpu ?? ({} as PathCpu),
    machineBusyPct: spent?.machine ?? NaN,
  };
}

/** Bounded wait until no statement of the gateways' database is running (requests outlive the load generator). */
async function databaseIdle(primary: Client): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const { rowCount } = await primary.query(
      `SELECT 1 FROM pg_stat_activity
        WHERE datname = current_database() AND backend_type = 'client backend' AND state <> 'idle' AND pid <> pg_backend_pid()`,
    );
    if (!rowCount) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Bounded wait until the replica has replayed everything the primary wrote so far (reads go there). */
async function replicaCaughtUp(primary: Client, replica: Client): Promise<void> {
  const { rows } = await primary.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  for (let attempt = 0; attempt < 600; attempt += 1) {
    const replayed = await replica.query<{ done: boolean }>('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS done', [rows[0].lsn]);
    if (replayed.rows[0].done) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('the replica did not catch up with the primary in 30 s');
}

// ─── The case ───────────────────────────────────────────────────────────────────────────

export async function caseCluster(options: ClusterCaseOptions): Promise<ClusterCase> {
  const { log } = options;
  const source = clusterSource();
  if (!source) return { status: 'skipped', reason: 'ops/cluster.ts not found (run the bench from the project folder)', note: CLUSTER_NOTE };
  let clusterModule: ClusterModule;
  try {
    clusterModule = loadClusterModule(source);
    clusterModule.findBinaries();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    log(`  skipped: ${reason}`);
    return { status: 'skipped', reason, note: CLUSTER_NOTE };
  }

  log('  starting the local cluster (ops/cluster.ts)…');
  let cluster: ClusterHandle;
  try {
    cluster = await clusterModule.start({ gatewayEnv: GATEWAY_ENV, build: false });
  } catch (error) {
    const missing = error instanceof clusterModule.MissingPackagesError;
    const reason = error instanceof Error ? error.message : String(error);
    log(`  ${missing ? 'skipped' : 'FAILED to start the cluster'}: ${reason}`);
    return { status: missing ? 'skipped' : 'failed', reason, note: CLUSTER_NOTE };
  }
  let stopped = false;
  const stopCluster = async () => {
    if (stopped) return;
    stopped = true;
    await cluster.stop();
  };
  onCleanup(stopCluster);

  // Superuser connections to the gateways' database: seeding (VACUUM, CHECKPOINT), /proc backends.
  const onDatabase = (url: string) => {
    const parsed = new URL(url);
    parsed.pathname = '/gateway';
    const client = new Client({ connectionString: parsed.toString() });
    client.on('error', () => undefined);
    return client;
  };
  const primary = onDatabase(cluster.primary.url);
  const replica = onDatabase(cluster.replica.url);
  await primary.connect();
  await replica.connect();
  try {
    const { rows: version } = await primary.query<{ server_version: string }>('SHOW server_version');
    const direct = cluster.gateways[0];
    const paths = { cluster: cluster.url, direct: direct.url };
    const measure = { cluster, primary, replica };
    // Case 2 seeds more: through the cluster, on 2 cores, deleteUser ran at a few hundred req/s.
    const userPool = options.quick ? 6_000 : 20_000;
    const rows: ClusterRow[] = [];
    log(`  ${CLUSTER_NOTE}`);

    for (const [index, connections] of DELETE_USER_CONCURRENCY.entries()) {
      const order = index % 2 === 0 ? (['cluster', 'direct'] as const) : (['direct', 'cluster'] as const);
      const measured: Partial<Record<'cluster' | 'direct', PathRun>> = {};
      for (const who of order) {
        await resetData(primary);
        // Distinct users for each path (as in case 2): a request finishing late never touches the other run's rows.
        const ids = await seedUserPool(primary, `c7-${connections}-${who}`, userPool);
        await settle(primary);
        let cursor = 0;
        let exhausted = false;
        const body = () => {
          if (cursor >= ids.length) exhausted = true;
          return JSON.stringify({ query: options.deleteUser, variables: { id: ids[cursor++] ?? 'usr_00000000000000000000000000' } });
        };
        await load(paths[who], cluster.adminApiKey, connections, options.warmupSeconds, body);
        const run = await load(paths[who], cluster.adminApiKey, connections, options.loadSeconds, body, measure);
        await databaseIdle(primary);
        if (exhausted) run.poolExhausted = true;
        measured[who] = run;
        log(`  deleteUser ${who} x${connections}: ${JSON.stringify(run)}`);
        if (exhausted) log(`  WARNING: the pool of ${userPool} users ran out (${who}, ${connections} clients)`);
      }
      rows.push(row('deleteUser', connections, order[0], measured.cluster!, measured.direct!));
    }

    // Case 5's read: a 1,000-member organization, 3 sessions each; the gateways read it on the replica.
    await resetData(primary);
    const seeded = await seedOrganizationCase(primary, 'c7', 1_000, 1_000);
    await settle(primary);
    await replicaCaughtUp(primary, replica);
    const variables = { id: seeded.organizationId };
    const viaCluster = await gql(paths.cluster, cluster.adminApiKey, options.read, variables);
    const viaDirect = await gql(paths.direct, cluster.adminApiKey, options.read, variables);
    const nodes = (viaCluster.body.data?.organization as { memberships: { nodes: unknown[] } } | null)?.memberships.nodes ?? [];
    if (nodes.length !== options.readFirst) throw new Error(`the read through HAProxy returned ${nodes.length} memberships`);
    const readSameJson = JSON.stringify(viaCluster.body) === JSON.stringify(viaDirect.body);
    log(`  read: the same JSON through HAProxy and direct: ${readSameJson ? 'yes' : 'NO'}`);
    const readBody = () => JSON.stringify({ query: options.read, variables });
    for (const [index, connections] of READ_CONCURRENCY.entries()) {
      const order = index % 2 === 0 ? (['cluster', 'direct'] as const) : (['direct', 'cluster'] as const);
      const measured: Partial<Record<'cluster' | 'direct', PathRun>> = {};
      for (const who of order) {
        await load(paths[who], cluster.adminApiKey, connections, options.warmupSeconds, readBody);
        measured[who] = await load(paths[who], cluster.adminApiKey, connections, options.loadSeconds, readBody, measure);
        await databaseIdle(primary);
        log(`  read ${who} x${connections}: ${JSON.stringify(measured[who])}`);
      }
      rows.push(row('member-list read', connections, order[0], measured.cluster!, measured.direct!));
    }

    return {
      status: 'measured',
      note: CLUSTER_NOTE,
      topology: `HAProxy → ${cluster.gateways.length} gateways → PgBouncer (transaction pooling) → primary; plain reads on the streaming replica (direct); "direct" is gateway ${direct.name}'s own port, same processes and database`,
      postgres: version[0].server_version,
      gatewayEnv: GATEWAY_ENV,
      userPool,
      readSameJson,
      rows,
    };
  } catch (error) {
    // The other cases' results are worth keeping: the failure is reported, not thrown.
    const reason = error instanceof Error ? (error.stack ?? error.message) : String(error);
    log(`  FAILED: ${reason}`);
    return { status: 'failed', reason, note: CLUSTER_NOTE };
  } finally {
    await primary.end().catch(() => undefined);
    await replica.end().catch(() => undefined);
    log('  stopping the cluster…');
    await stopCluster();
  }
}

function row(operation: ClusterRow['operation'], concurrency: number, first: ClusterRow['first'], cluster: PathRun, direct: PathRun): ClusterRow {
  return {
    operation,
    concurrency,
    first,
    cluster,
    direct,
    throughputRatio: ratio(cluster.rps, direct.rps),
    p99Ratio: ratio(cluster.p99Ms, direct.p99Ms),
    cpuRatio: ratio(cluster.cpuMsPerRequest.total, direct.cpuMsPerRequest.total),
  };
}

/** Case 7's part of bench/results/*.md. */
export function clusterMarkdown(result: ClusterCase): string {
  const heading = '**Cluster load check** (issue 14; bench/cluster.ts)';
  if (result.status !== 'measured') {
    return `${heading}: ${result.status === 'skipped' ? 'skipped' : '**FAILED**'}: ${result.reason.replace(/\s*\n\s*/g, ' ')}\n`;
  }
  const ms = (value: number) => (Number.isFinite(value) ? `${value} ms` : 'n/a');
  const errors = (run: PathRun) => (run.errors ? ` (${run.errors} errors)` : '');
  const lines = [
    `${heading}: the requests of cases 2 and 5 through ${result.topology}. PostgreSQL ${result.postgres}; ${result.userPool.toLocaleString('en')} fresh users per deleteUser run; read JSON identical on both paths: ${result.readSameJson ? 'yes' : '**NO**'}. CPU per request from /proc: the 3 gateways, HAProxy, PgBouncer, the PostgreSQL client backends (primary and replica) and the load generator, the same processes for both paths. **${result.note}**`,
    '',
    '| request | clients | cluster req/s | p50 | p99 | CPU/req | direct req/s | p50 | p99 | CPU/req | throughput cluster/direct | p99 cluster/direct | CPU cluster/direct |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...result.rows.map((r) =>
      `| ${r.operation} | ${r.concurrency} | ${r.cluster.rps}${errors(r.cluster)} | ${ms(r.cluster.p50Ms)} | ${ms(r.cluster.p99Ms)} | ${ms(r.cluster.cpuMsPerRequest.total)} | ${r.direct.rps}${errors(r.direct)} | ${ms(r.direct.p50Ms)} | ${ms(r.direct.p99Ms)} | ${ms(r.direct.cpuMsPerRequest.total)} | ${Math.round(r.throughputRatio * 100)}% | ${r.p99Ratio}× | ${r.cpuRatio}× |`,
    ),
    '',
    `CPU per request by process (cluster / direct): ${result.rows
      .map(
        (r) =>
          `${r.operation} ×${r.concurrency}: gateways ${r.cluster.cpuMsPerRequest.gateways}/${r.direct.cpuMsPerRequest.gateways}, HAProxy ${r.cluster.cpuMsPerRequest.haproxy}/${r.direct.cpuMsPerRequest.haproxy}, PgBouncer ${r.cluster.cpuMsPerRequest.pgbouncer}/${r.direct.cpuMsPerRequest.pgbouncer}, PostgreSQL ${r.cluster.cpuMsPerRequest.postgres}/${r.direct.cpuMsPerRequest.postgres}, load generator ${r.cluster.cpuMsPerRequest.loadGenerator}/${r.direct.cpuMsPerRequest.loadGenerator} ms`,
      )
      .join('; ')}. Machine busy: ${result.rows.map((r) => `${r.cluster.machineBusyPct}% / ${r.direct.machineBusyPct}%`).join(', ')} of ${os.cpus().length} cores.`,
    '',
  ];
  return lines.join('\n');
}
