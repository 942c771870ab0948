import 'reflect-metadata';
import fs from 'node:fs';
import path from 'node:path';
import autocannon from 'autocannon';
import { Client, Pool } from 'pg';
import { floorDeleteOrganization, floorDeleteUser } from './floor';
import {
  cleanup,
  onCleanup,
  cpuTimeMs,
  gql,
  loadAverage,
  machine,
  median,
  memoryOf,
  percentile,
  resetPeakMemory,
  runMain,
  startChildServer,
  startCountingServer,
  startDatabase,
  type ChildServer,
} from './harness';
import { resetData, seedOrganizationCase, seedUserPool, settle } from './seed';
import { caseWebhooks } from './webhooks';

/**
 * `npm run bench`: the deletion engine against the SQL floor, deleteUser under load,
 * server memory, SQL statements per call, and a read. See bench/README.md.
 *
 * BENCH_QUICK=1 runs every case with small sizes and short durations (a smoke test).
 */
const QUICK = process.env.BENCH_QUICK === '1';
const SIZES = QUICK ? [1_000, 5_000] : [1_000, 10_000, 100_000];
// 100,000 members: fewer runs, to keep the whole bench near 15 minutes on a 2-core machine.
const RUNS: Record<number, number> = QUICK ? { 1_000: 2, 5_000: 2 } : { 1_000: 5, 10_000: 5, 100_000: 2 };
const FULL_RUNS: Record<number, number> = QUICK ? { 1_000: 1, 5_000: 1 } : { 1_000: 3, 10_000: 3, 100_000: 1 };
const CONCURRENCY = [1, 8, 32];
const LOAD_SECONDS = QUICK ? 2 : 5;
const WARMUP_SECONDS = 1;
const USER_POOL = QUICK ? 5_000 : 15_000;
const READ_CONCURRENCY = [1, 8];
const RESULTS = path.resolve(__dirname, '../../bench/results');

const RECEIPT = 'receipt { id kind subjectId actor deletedAt terminatedSessionCount removedMembershipCount cascadedUserCount digest }';
const DELETE_ORGANIZATION_MIN = `mutation BenchDeleteOrganization($id: ID!) {
  deleteOrganization(id: $id) { deletedOrganizationId ${RECEIPT} }
}`;
const DELETE_ORGANIZATION_FULL = `mutation BenchDeleteOrganizationFull($id: ID!) {
  deleteOrganization(id: $id) {
    deletedOrganizationId
    terminatedSessions { id userId organizationId terminatedAt }
    removedMemberships { id organizationId userId role }
    cascadedUsers { id }
    retainedUserIds
    ${RECEIPT}
  }
}`;
const DELETE_USER = `mutation BenchDeleteUser($id: ID!) { deleteUser(id: $id) { deletedUserId ${RECEIPT} } }`;
const READ = `query($id: ID!) { organization(id: $id) { memberships(first: 100) { nodes { user { sessions { id } } } } } }`;

const log = (message: string) => process.stdout.write(`${message}\n`);
const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;

/** What both deletions must leave behind, identically (receipt IDs and times aside). */
async function fingerprint(client: Client): Promise<string> {
  const { rows } = await client.query<{ f: string }>(`
    SELECT concat_ws(' ',
      (SELECT count(*) FROM users), (SELECT count(*) FROM memberships), (SELECT count(*) FROM organizations),
      (SELECT count(*) FROM organization_domains), (SELECT count(*) FROM organization_settings),
      (SELECT md5(string_agg(id || ':' || coalesce(organization_id, '-') || ':' || coalesce(termination_reason, '-'),
                             ',' ORDER BY id)) FROM sessions),
      -- Compared as a set: the order of same-type events within one deletion carries no meaning.
      (SELECT md5(string_agg(type || (data - 'receiptId')::text, ',' ORDER BY type || (data - 'receiptId')::text)) FROM events),
      (SELECT string_agg(kind || subject_id || terminated_session_count || '/' || removed_membership_count || '/'
                         || cascaded_user_count || digest, ',') FROM deletion_receipts)) AS f`);
  return rows[0].f;
}

async function seedCase(client: Client, size: number) {
  await resetData(client);
  const seeded = await seedOrganizationCase(client, `c1-${size}`, size);
  await settle(client);
  return seeded;
}

interface DeletionRun {
  ms: number;
  bytes?: number;
  /** CPU time the server process spent on the call (Linux). */
  serverCpuMs?: number;
}

async function serverDelete(server: ChildServer, organizationId: string, full: boolean, size: number): Promise<DeletionRun> {
  const cpuBefore = cpuTimeMs(server.pid);
  const result = await gql(server.url, server.adminKey, full ? DELETE_ORGANIZATION_FULL : DELETE_ORGANIZATION_MIN, {
    id: organizationId,
  });
  const serverCpuMs = cpuTimeMs(server.pid) - cpuBefore;
  const payload = result.body.data!.deleteOrganization as {
    receipt: { removedMembershipCount: number; terminatedSessionCount: number; cascadedUserCount: number };
    terminatedSessions?: unknown[];
  };
  if (payload.receipt.removedMembershipCount !== size || payload.receipt.terminatedSessionCount !== 3 * size) {
    throw new Error(`unexpected receipt ${JSON.stringify(payload.receipt)}`);
  }
  if (full && payload.terminatedSessions!.length !== 3 * size) throw new Error('full lists incomplete');
  return { ms: result.ms, bytes: result.bytes, serverCpuMs };
}

async function floorDelete(client: Client, organizationId: string): Promise<DeletionRun> {
  const started = process.hrtime.bigint();
  await floorDeleteOrganization(client, organizationId);
  return { ms: Number(process.hrtime.bigint() - started) / 1e6 };
}

async function caseDeleteOrganization(client: Client, server: ChildServer) {
  const rows = [];
  let memory: Record<string, unknown> | null = null;
  for (const size of SIZES) {
    const server1: number[] = [];
    const serverCpu: number[] = [];
    const floor1: number[] = [];
    const fullCpu: number[] = [];
    let identical: boolean | null = null;
    // Warm-up: one of each, not recorded (the largest size is warmed up by the smaller ones).
    if (size === SIZES[0] || size < SIZES.at(-1)!) {
      const seeded = await seedCase(client, size);
      await serverDelete(server, seeded.organizationId, false, size);
      await floorDelete(client, (await seedCase(client, size)).organizationId);
    }
    for (let run = 0; run < RUNS[size]; run += 1) {
      // Alternate which goes first, so that neither always follows the other's checkpoint debt.
      const order = run % 2 === 0 ? (['server', 'floor'] as const) : (['floor', 'server'] as const);
      const prints: Record<string, string> = {};
      for (const who of order) {
        const seeded = await seedCase(client, size);
        if (who === 'server') {
          const result = await serverDelete(server, seeded.organizationId, false, size);
          server1.push(result.ms);
          serverCpu.push(result.serverCpuMs!);
        } else floor1.push((await floorDelete(client, seeded.organizationId)).ms);
        if (run === 0) prints[who] = await fingerprint(client);
      }
      if (run === 0) identical = prints.server === prints.floor;
      log(`  deleteOrganization ${size}: run ${run + 1} server ${round(server1.at(-1)!)} ms (server CPU ${round(serverCpu.at(-1)!)} ms), floor ${round(floor1.at(-1)!)} ms`);
    }
    if (identical === false) log(`  WARNING: server and floor left different data at ${size} members`);

    const fullMs: number[] = [];
    let bytes = 0;
    for (let run = 0; run < FULL_RUNS[size]; run += 1) {
      const seeded = await seedCase(client, size);
      const isPeakRun = size === SIZES.at(-1) && run === FULL_RUNS[size] - 1;
      let sampler: NodeJS.Timeout | undefined;
      let sampledPeak = 0;
      let before: ReturnType<typeof memoryOf> = null;
      let reset = false;
      if (isPeakRun) {
        before = memoryOf(server.pid);
        reset = resetPeakMemory(server.pid);
        sampler = setInterval(() => {
          sampledPeak = Math.max(sampledPeak, memoryOf(server.pid)?.rssMb ?? 0);
        }, 10);
      }
      const result = await serverDelete(server, seeded.organizationId, true, size);
      fullMs.push(result.ms);
      fullCpu.push(result.serverCpuMs!);
      bytes = result.bytes ?? 0;
      if (isPeakRun) {
        clearInterval(sampler);
        const after = memoryOf(server.pid);
        memory = {
          members: size,
          selection: 'full lists',
          rssBeforeMb: round(before?.rssMb ?? NaN),
          peakRssMb: round(reset ? Math.max(after?.hwmMb ?? 0, sampledPeak) : sampledPeak),
          method: reset ? 'VmHWM after resetting it (clear_refs 5), and 10 ms sampling of VmRSS' : '10 ms sampling of VmRSS',
          responseMb: round(bytes / 1024 ** 2),
        };
      }
      log(`  deleteOrganization ${size} (full lists): ${round(result.ms)} ms (server CPU ${round(result.serverCpuMs!)} ms), response ${round(bytes / 1024 ** 2, 2)} MB`);
    }
    const serverMs = median(server1);
    const floorMs = median(floor1);
    rows.push({
      members: size,
      runs: RUNS[size],
      serverMs: round(serverMs),
      floorMs: round(floorMs),
      ratio: round(serverMs / floorMs, 2),
      serverCpuMs: round(median(serverCpu)),
      fullListsMs: round(median(fullMs)),
      fullListsServerCpuMs: round(median(fullCpu)),
      fullListsRatio: round(median(fullMs) / floorMs, 2),
      fullListsResponseMb: round(bytes / 1024 ** 2, 2),
      sameDataAsFloor: identical,
      serverRunsMs: server1.map((v) => round(v)),
      floorRunsMs: floor1.map((v) => round(v)),
      fullListsRunsMs: fullMs.map((v) => round(v)),
    });
  }
  return { rows, memory };
}

async function caseStatementCounts(client: Client, databaseUrl: string) {
  const counting = await startCountingServer(databaseUrl);
  const rows = [];
  try {
    for (const size of SIZES) {
      const counts: Record<string, number> = {};
      const variants = [
        ['receipt only', DELETE_ORGANIZATION_MIN],
        ['full lists', DELETE_ORGANIZATION_FULL],
      ] as const;
      // At the largest size one call is enough (each costs a seed and a deletion of 100,000 members).
      for (const [name, query] of size === SIZES.at(-1) ? variants.slice(0, 1) : variants) {
        await resetData(client);
        const seeded = await seedOrganizationCase(client, `c4-${size}`, size, 100);
        await client.query('ANALYZE');
        const before = counting.queries.count;
        await gql(counting.url, counting.adminKey, query, { id: seeded.organizationId });
        counts[name] = counting.queries.count - before;
      }
      rows.push({ members: size, statementsReceiptOnly: counts['receipt only'], statementsFullLists: counts['full lists'] ?? null });
      log(`  statements per deleteOrganization at ${size}: ${JSON.stringify(counts)}`);
    }
    // deleteUser, for the record.
    await resetData(client);
    const [userId] = await seedUserPool(client, 'c4-user', 1);
    const before = counting.queries.count;
    await gql(counting.url, counting.adminKey, DELETE_USER, { id: userId });
    const deleteUser = counting.queries.count - before;
    const counted = rows.flatMap((r) => [r.statementsReceiptOnly, r.statementsFullLists]).filter((n) => n !== null);
    return { rows, deleteUser, constant: new Set(counted).size === 1 };
  } finally {
    await counting.stop();
  }
}

interface LoadResult {
  concurrency: number;
  seconds: number;
  ok: number;
  errors: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  serverCpuMsPerRequest?: number;
}

/** autocannon against the server; each request takes the next ID. */
async function cannon(
  url: string,
  token: string,
  connections: number,
  seconds: number,
  body: () => string,
  serverPid?: number,
): Promise<LoadResult> {
  let errors = 0;
  let ok = 0;
  const cpuBefore = serverPid ? cpuTimeMs(serverPid) : NaN;
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
          else errors += 1;
        },
      },
    ],
  });
  errors += result.errors + result.timeouts;
  return {
    concurrency: connections,
    seconds: result.duration,
    ok,
    errors,
    rps: round(ok / result.duration),
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    serverCpuMsPerRequest: serverPid ? round((cpuTimeMs(serverPid) - cpuBefore) / Math.max(ok, 1), 2) : undefined,
  };
}

/** The floor for deleteUser: `connections` workers, each on its own pooled connection, for `seconds`. */
async function floorLoad(databaseUrl: string, connections: number, seconds: number, next: () => string | undefined) {
  const pool = new Pool({ connectionString: databaseUrl, max: connections });
  const latencies: number[] = [];
  let errors = 0;
  try {
    const clients = await Promise.all(Array.from({ length: connections }, () => pool.connect()));
    const started = performance.now();
    const end = started + seconds * 1000;
    await Promise.all(
      clients.map(async (client) => {
        while (performance.now() < end) {
          const id = next();
          if (!id) break;
          const t0 = performance.now();
          try {
            if (await floorDeleteUser(client, id)) latencies.push(performance.now() - t0);
            else errors += 1;
          } catch {
            errors += 1;
          }
        }
        client.release();
      }),
    );
    const elapsed = (performance.now() - started) / 1000;
    return {
      concurrency: connections,
      seconds: round(elapsed, 2),
      ok: latencies.length,
      errors,
      rps: round(latencies.length / elapsed),
      p50Ms: round(percentile(latencies, 50), 2),
      p99Ms: round(percentile(latencies, 99), 2),
    };
  } finally {
    await pool.end();
  }
}

/** Waits (bounded) until the server has no statement running: requests outlive the load generator. */
async function serverIdle(client: Client): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const { rowCount } = await client.query(
      `SELECT 1 FROM pg_stat_activity WHERE application_name = 'identity-gateway' AND state <> 'idle'`,
    );
    if (!rowCount) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function caseDeleteUser(client: Client, server: ChildServer, databaseUrl: string) {
  const rows = [];
  for (const connections of CONCURRENCY) {
    const measured: Record<string, LoadResult> = {};
    let exhausted = false;
    for (const who of ['server', 'floor'] as const) {
      await resetData(client);
      // Distinct users for each side, so that a request the server still finishes after the
      // load generator stopped can never touch the rows the floor is deleting.
      const ids = await seedUserPool(client, `c2-${connections}-${who}`, USER_POOL);
      await settle(client);
      let cursor = 0;
      const next = () => {
        if (cursor >= ids.length) exhausted = true;
        return ids[cursor++];
      };
      const body = () => JSON.stringify({ query: DELETE_USER, variables: { id: next() ?? 'usr_00000000000000000000000000' } });
      if (who === 'server') {
        await cannon(server.url, server.adminKey, connections, WARMUP_SECONDS, body);
        measured.server = await cannon(server.url, server.adminKey, connections, LOAD_SECONDS, body, server.pid);
        await serverIdle(client);
      } else {
        await floorLoad(databaseUrl, connections, WARMUP_SECONDS, next);
        measured.floor = await floorLoad(databaseUrl, connections, LOAD_SECONDS, next);
      }
      log(`  deleteUser ${who} x${connections}: ${JSON.stringify(measured[who])}`);
    }
    if (exhausted) log(`  WARNING: the pool of ${USER_POOL} users ran out at ${connections} clients; raise USER_POOL`);
    rows.push({
      concurrency: connections,
      server: measured.server,
      floor: measured.floor,
      throughputRatio: round(measured.server.rps / measured.floor.rps, 2),
      poolExhausted: exhausted,
    });
  }
  return rows;
}

async function caseRead(client: Client, server: ChildServer, databaseUrl: string) {
  await resetData(client);
  const seeded = await seedOrganizationCase(client, 'c5', 1_000, 1_000);
  await settle(client);
  const body = () => JSON.stringify({ query: READ, variables: { id: seeded.organizationId } });
  const check = await gql(server.url, server.adminKey, READ, { id: seeded.organizationId });
  const nodes = (check.body.data!.organization as { memberships: { nodes: unknown[] } }).memberships.nodes;
  if (nodes.length !== 100) throw new Error(`read returned ${nodes.length} memberships`);
  const rows = [];
  for (const connections of READ_CONCURRENCY) {
    await cannon(server.url, server.adminKey, connections, WARMUP_SECONDS, body);
    const result = await cannon(server.url, server.adminKey, connections, LOAD_SECONDS, body, server.pid);
    log(`  read x${connections}: ${JSON.stringify(result)}`);
    rows.push(result);
  }
  const counting = await startCountingServer(databaseUrl);
  try {
    const before = counting.queries.count;
    await gql(counting.url, counting.adminKey, READ, { id: seeded.organizationId });
    return { rows, statementsPerRequest: counting.queries.count - before, responseBytes: check.bytes };
  } finally {
    await counting.stop();
  }
}

function table(headers: string[], rows: Array<Array<string | number | boolean | null>>): string {
  const lines = [`| ${headers.join(' | ')} |`, `| ${headers.map(() => '---').join(' | ')} |`];
  for (const row of rows) lines.push(`| ${row.map((cell) => String(cell ?? '')).join(' | ')} |`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const loadBefore = loadAverage();
  if (loadBefore[0] > 1) log(`Note: load average is ${loadBefore.join(' ')} before starting; other work on this machine will skew the numbers.`);
  log('Starting the database and the server…');
  const database = await startDatabase();
  const server = await startChildServer(database.url);
  const client = new Client({ connectionString: database.url });
  // A signal stops the database under this connection; that is not worth a crash.
  client.on('error', () => undefined);
  await client.connect();
  onCleanup(() => client.end().catch(() => undefined));
  try {
    log('Case 1 and 3: deleteOrganization vs the SQL floor; server peak RSS');
    const organizations = await caseDeleteOrganization(client, server);
    log('Case 4: SQL statements per deletion (in-process server with a QueryCounter)');
    const statements = await caseStatementCounts(client, database.url);
    log('Case 2: deleteUser under load vs the SQL floor');
    const users = await caseDeleteUser(client, server, database.url);
    log('Case 5: organization → memberships(first: 100) → user → sessions');
    const read = await caseRead(client, server, database.url);
    log('Case 6: webhooks: deletion time with 0 and 10 endpoints, deliveries per second');
    const webhooks = await caseWebhooks(client, database.url, SIZES.at(-1)!, QUICK ? 1 : 2);

    const largest = organizations.rows.filter((row) => row.members >= 10_000);
    const at32 = users.find((row) => row.concurrency === 32);
    const peak = (organizations.memory?.peakRssMb as number | undefined) ?? NaN;
    const targets = QUICK
      ? []
      : [
          ...largest.map((row) => ({
            target: `deleteOrganization ${row.members.toLocaleString('en')} members ≤ 1.3× floor`,
            measured: `${row.ratio}×`,
            met: row.ratio <= 1.3,
          })),
          {
            target: 'deleteUser at 32 clients ≥ 60% of floor throughput',
            measured: `${Math.round((at32?.throughputRatio ?? 0) * 100)}%`,
            met: (at32?.throughputRatio ?? 0) >= 0.6,
          },
          { target: 'deleteUser at 32 clients p99 < 50 ms', measured: `${at32?.server.p99Ms} ms`, met: (at32?.server.p99Ms ?? Infinity) < 50 },
          { target: '100,000-member deletion: server RSS < 512 MB', measured: `${peak} MB`, met: peak < 512 },
          {
            target: `webhooks: ${webhooks.members.toLocaleString('en')}-member deletion with 10 endpoints = with 0 (within 10%)`,
            measured: `${webhooks.deletionMs.ratio}×`,
            met: webhooks.deletionMs.ratio <= 1.1,
          },
          { target: 'webhooks: ≥ 1,000 deliveries/s to a local receiver', measured: `${webhooks.delivery.perSecond}/s`, met: webhooks.delivery.perSecond >= 1000 },
          {
            target: 'statements per deletion constant',
            measured: [...new Set(statements.rows.flatMap((r) => [r.statementsReceiptOnly, r.statementsFullLists]).filter((n) => n !== null))].join(', '),
            met: statements.constant,
          },
        ];

    const results = {
      startedAt: startedAt.toISOString(),
      durationSeconds: Math.round((Date.now() - startedAt.getTime()) / 1000),
      quick: QUICK,
      machine: { ...machine(database.version, database.embedded), loadAverageBefore: loadBefore, loadAverageAfter: loadAverage() },
      settings: { loadSeconds: LOAD_SECONDS, warmupSeconds: WARMUP_SECONDS, serverPoolSize: 10, nodeEnv: 'production' },
      deleteOrganization: organizations.rows,
      serverMemory: organizations.memory,
      statementsPerDeletion: statements,
      deleteUser: users,
      read,
      webhooks,
      targets,
    };

    const m = results.machine;
    const markdown = [
      `Measured ${startedAt.toISOString().slice(0, 10)} on ${m.os}, ${m.cpu}, ${m.cores} cores, ${m.memoryGb} GB RAM, Node.js ${m.node}, PostgreSQL ${m.postgres} (${m.postgresSource}); load average ${m.loadAverageBefore[0]} before, ${m.loadAverageAfter[0]} after. Medians; times are client-side for the server (HTTP round trip, whole body read) and BEGIN…COMMIT for the floor; server CPU is the server process's own CPU time (/proc).`,
      '',
      '**deleteOrganization** (half the members cascade, 3 active sessions each)',
      '',
      table(
        ['members', 'runs', 'server (receipt only)', 'server CPU', 'SQL floor', 'ratio', 'server (full lists)', 'ratio', 'full response'],
        organizations.rows.map((r) => [
          r.members.toLocaleString('en'),
          r.runs,
          `${r.serverMs} ms`,
          `${r.serverCpuMs} ms`,
          `${r.floorMs} ms`,
          `${r.ratio}×`,
          `${r.fullListsMs} ms`,
          `${r.fullListsRatio}×`,
          `${r.fullListsResponseMb} MB`,
        ]),
      ),
      '',
      '**deleteUser under load** (2 memberships, 3 sessions each; autocannon vs a pg Pool)',
      '',
      table(
        ['clients', 'server req/s', 'p50', 'p99', 'server CPU/req', 'floor req/s', 'p50', 'p99', 'server/floor'],
        users.map((r) => [
          r.concurrency,
          r.server.rps,
          `${r.server.p50Ms} ms`,
          `${r.server.p99Ms} ms`,
          `${r.server.serverCpuMsPerRequest} ms`,
          r.floor.rps,
          `${r.floor.p50Ms} ms`,
          `${r.floor.p99Ms} ms`,
          `${Math.round(r.throughputRatio * 100)}%`,
        ]),
      ),
      '',
      `**Server memory**: peak RSS ${organizations.memory?.peakRssMb} MB during the ${SIZES.at(-1)!.toLocaleString('en')}-member deletion with full lists (RSS before: ${organizations.memory?.rssBeforeMb} MB; response ${organizations.memory?.responseMb} MB).`,
      '',
      `**SQL statements per deleteOrganization**: ${statements.rows
        .map((r) => `${r.members.toLocaleString('en')} members: ${r.statementsReceiptOnly}${r.statementsFullLists === null ? '' : ` (full lists ${r.statementsFullLists})`}`)
        .join('; ')}; deleteUser: ${statements.deleteUser}.`,
      '',
      `**Read** \`organization { memberships(first: 100) { nodes { user { sessions { id } } } } }\`: ${read.rows
        .map((r) => `${r.rps} req/s at ${r.concurrency} client${r.concurrency > 1 ? 's' : ''} (p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms, server CPU ${r.serverCpuMsPerRequest} ms/request)`)
        .join(', ')}; ${read.statementsPerRequest} SQL statements per request.`,
      '',
      `**Webhooks** (${webhooks.members.toLocaleString('en')}-member deleteOrganization; bench/webhooks.ts): the deletion took ${webhooks.deletionMs.endpoints0} ms with 0 endpoints and ${webhooks.deletionMs.endpoints10} ms with 10 endpoints subscribed to its user.deleted and organization.deleted events (${webhooks.deletionMs.ratio}×; medians of ${webhooks.runs}); the fan-out then created ${webhooks.messagesWith10Endpoints.toLocaleString('en')} messages in ${webhooks.fanOutMsWith10Endpoints} ms. One endpoint received the ${webhooks.delivery.messages.toLocaleString('en')} user.deleted messages in ${webhooks.delivery.seconds} s: **${webhooks.delivery.perSecond} deliveries/s** (signed, each attempt recorded).`,
      '',
      ...(targets.length
        ? ['**Targets**', '', table(['target', 'measured', 'met'], targets.map((t) => [t.target, t.measured, t.met ? 'yes' : 'no']))]
        : []),
      '',
    ].join('\n');

    fs.mkdirSync(RESULTS, { recursive: true });
    const name = QUICK ? 'quick' : 'latest';
    fs.writeFileSync(path.join(RESULTS, `${name}.json`), JSON.stringify(results, null, 2) + '\n');
    fs.writeFileSync(path.join(RESULTS, `${name}.md`), markdown);
    log('\n' + markdown);
    log(`Results written to bench/results/${name}.json and bench/results/${name}.md`);
  } finally {
    await client.end().catch(() => undefined);
    await cleanup();
  }
}

runMain('bench', main);
