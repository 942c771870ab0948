import 'reflect-metadata';
import fs from 'node:fs';
import path from 'node:path';
import { Client, Pool, type PoolClient } from 'pg';
import { caseCluster, clusterMarkdown, CLUSTER_NOTE } from './cluster';
import { floorDeleteOrganization, floorDeleteUser, floorMemberList } from './floor';
import { caseDeletionJob, jobMarkdown, jobTargets } from './job';
import {
  backendCpu,
  backendCpuSince,
  cannon,
  cleanup,
  onCleanup,
  cpuTimeMs,
  gql,
  gqlRaw,
  loadAverage,
  machine,
  median,
  memoryOf,
  percentile,
  perRequest,
  resetPeakMemory,
  round,
  runMain,
  startChildServer,
  startCountingServer,
  startDatabase,
  type ChildServer,
  type LoadResult,
} from './harness';
import { resetData, seedOrganizationCase, seedUserPool, settle } from './seed';
import { caseWebhooks } from './webhooks';

/**
 * `npm run bench`: the deletion engine against the SQL floor, deleteUser under load,
 * server memory, SQL statements per call, and a read. See bench/README.md.
 *
 * BENCH_QUICK=1 runs every case with small sizes and short durations (a smoke test).
 * BENCH_ONLY=cluster runs case 7 alone (the cluster load check), writing {quick,latest}.cluster.*.
 * BENCH_ONLY=deleteUser runs case 2 alone (deleteUser under load against its floor), writing
 * {quick,latest}.deleteUser.*: to re-measure it on a quiet machine without the whole bench.
 * BENCH_ONLY=job runs case 8 alone (issue 15's deletion job), writing {quick,latest}.job.*.
 * BENCH_ONLY=read runs case 5 alone (the member-list read against its floor), writing {quick,latest}.read.*.
 */
const QUICK = process.env.BENCH_QUICK === '1';
const ONLY = process.env.BENCH_ONLY;
if (ONLY !== undefined && !['cluster', 'deleteUser', 'job', 'read'].includes(ONLY)) {
  throw new Error(`BENCH_ONLY=${ONLY}: only "cluster", "deleteUser", "job" and "read" are supported`);
}
const SIZES = QUICK ? [1_000, 5_000] : [1_000, 10_000, 100_000];
// 100,000 members: fewer runs, to keep the whole bench near 15 minutes on a 2-core machine.
const RUNS: Record<number, number> = QUICK ? { 1_000: 2, 5_000: 2 } : { 1_000: 5, 10_000: 5, 100_000: 2 };
const FULL_RUNS: Record<number, number> = QUICK ? { 1_000: 1, 5_000: 1 } : { 1_000: 3, 10_000: 3, 100_000: 1 };
const CONCURRENCY = [1, 8, 32];
const LOAD_SECONDS = QUICK ? 2 : 5;
const WARMUP_SECONDS = 1;
// Each deleteUser request takes a fresh user, warm-up included: the one-round-trip floor ran
// about 2,000 req/s at 32 clients on a busy 2-core machine, so a quiet one needs tens of thousands.
const USER_POOL = QUICK ? 12_000 : 60_000;
const READ_CONCURRENCY = [1, 8];
const RESULTS = path.resolve(__dirname, '../../bench/results');

const RECEIPT = 'receipt { id kind subjectId actor deletedAt terminatedSessionCount removedMembershipCount cascadedUserCount digest }';
const DELETE_ORGANIZATION_MIN = `mutation BenchDeleteOrganization($id: ID!) {
  deleteOrganization(id: $id) { deletedOrganizationId ${RECEIPT} }
}`;
const DELETE_ORGANIZATION_FULL = `mutation BenchDeleteOrganizationFull($id: ID!) {
  deleteOrganization(id: $id) {
    deletedOrganizationId
    terminatedSessions(first: 100) { totalCount pageInfo { hasNextPage endCursor } nodes { id userId organizationId terminatedAt } }
    removedMemberships(first: 100) { totalCount pageInfo { hasNextPage endCursor } nodes { id organizationId userId role } }
    cascadedUsers(first: 100) { totalCount pageInfo { hasNextPage endCursor } nodes { id } }
    retainedUsers(first: 100) { totalCount pageInfo { hasNextPage endCursor } nodes { id } }
    ${RECEIPT}
  }
}`;
const DELETE_USER = `mutation BenchDeleteUser($id: ID!) { deleteUser(id: $id) { deletedUserId ${RECEIPT} } }`;
/** Issue 13's member-list read; bench/floor.ts FLOOR_MEMBER_LIST builds the same JSON in one statement. */
const READ_FIRST = 100;
const READ_SELECTION = `memberships(first: ${READ_FIRST}) { nodes { user { id email sessions { id } } } }`;
const READ = `query($id: ID!) { organization(id: $id) { ${READ_SELECTION} } }`;

/**
 * Issue 13's "Server CPU per deleteUser and per read, reduced by at least half": the
 * baseline is the server as it was before issue 13's changes, measured with this harness
 * (bench/profile-2026-11-30.md, sections 1 and 2, row "base": medians of 12 and 10 runs),
 * in ms of server-process CPU per request at 1 and 8 clients.
 */
const CPU_BASELINE = {
  deleteUser: { 1: 2.71, 8: 1.91 } as Record<number, number>,
  read: { 1: 10.3, 8: 11.1 } as Record<number, number>,
};

const log = (message: string) => process.stdout.write(`${message}\n`);
/** What both deletions must leave behind, identically (receipt IDs and times aside). */
async function fingerprint(client: Client): Promise<string> {
  const { rows } = await client.query<{ f: string }>(`
    SELECT concat_ws(' ',
      (SELECT count(*) FROM users), (SELECT count(*) FROM memberships), (SELECT count(*) FROM organizations),
      (SELECT count(*) FROM organization_domains), (SELECT count(*) FROM organization_settings),
      (SELECT count(*) FROM invitations),
      (SELECT md5(string_agg(id || ':' || coalesce(organization_id, '-') || ':' || coalesce(termination_reason, '-'),
                             ',' ORDER BY id)) FROM sessions),
      -- Compared as a set: the order of same-type events within one deletion carries no meaning.
      (SELECT md5(string_agg(type || (data - 'receiptId')::text, ',' ORDER BY type || (data - 'receiptId')::text)) FROM events),
      (SELECT string_agg(kind || subject_id || actor || terminated_session_count || '/' || removed_membership_count || '/'
                         || cascaded_user_count || digest, ',' ORDER BY subject_id) FROM deletion_receipts)) AS f`);
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
    terminatedSessions?: { totalCount: number; nodes: unknown[] };
  };
  if (payload.receipt.removedMembershipCount !== size || payload.receipt.terminatedSessionCount !== 3 * size) {
    throw new Error(`unexpected receipt ${JSON.stringify(payload.receipt)}`);
  }
  // Issue 13: the payload's lists are pages; the first (at most 100) with the whole list's count.
  if (full && (payload.terminatedSessions!.nodes.length !== Math.min(100, 3 * size) || payload.terminatedSessions!.totalCount !== 3 * size)) {
    throw new Error('first page or totalCount wrong');
  }
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
    const serverPg: number[] = [];
    const floorPg: number[] = [];
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
        const pgBefore = await backendCpu(client);
        if (who === 'server') {
          const result = await serverDelete(server, seeded.organizationId, false, size);
          server1.push(result.ms);
          serverCpu.push(result.serverCpuMs!);
          serverPg.push(backendCpuSince(pgBefore, await backendCpu(client)));
        } else {
          floor1.push((await floorDelete(client, seeded.organizationId)).ms);
          floorPg.push(backendCpuSince(pgBefore, await backendCpu(client)));
        }
        if (run === 0) prints[who] = await fingerprint(client);
      }
      if (run === 0) identical = prints.server === prints.floor;
      log(
        `  deleteOrganization ${size}: run ${run + 1} server ${round(server1.at(-1)!)} ms ` +
          `(CPU: server ${round(serverCpu.at(-1)!)} ms, PostgreSQL ${round(serverPg.at(-1)!)} ms), ` +
          `floor ${round(floor1.at(-1)!)} ms (PostgreSQL CPU ${round(floorPg.at(-1)!)} ms)`,
      );
    }
    // Timing two different pieces of work means nothing: the target rows say so (see `targets`).
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
      serverPgCpuMs: round(median(serverPg)),
      floorPgCpuMs: round(median(floorPg)),
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

/**
 * A floor under load: `connections` workers, each on its own pooled connection, each
 * running `operation` back to back for `seconds` (true = a successful request). With
 * `control`, CPU per request of the PostgreSQL backends and of this process.
 */
async function floorLoad(
  databaseUrl: string,
  connections: number,
  seconds: number,
  operation: (client: PoolClient) => Promise<boolean>,
  control?: Client,
): Promise<LoadResult> {
  const pool = new Pool({ connectionString: databaseUrl, max: connections });
  const latencies: number[] = [];
  let errors = 0;
  try {
    const clients = await Promise.all(Array.from({ length: connections }, () => pool.connect()));
    const pgBefore = control ? await backendCpu(control) : new Map<number, number>();
    const clientBefore = process.cpuUsage();
    const started = performance.now();
    const end = started + seconds * 1000;
    let stop = false;
    await Promise.all(
      clients.map(async (client) => {
        while (!stop && performance.now() < end) {
          const t0 = performance.now();
          try {
            if (await operation(client)) latencies.push(performance.now() - t0);
            else errors += 1;
          } catch (error) {
            if (error instanceof PoolExhausted) stop = true;
            else errors += 1;
          }
        }
        client.release();
      }),
    );
    const elapsed = (performance.now() - started) / 1000;
    const clientCpu = process.cpuUsage(clientBefore);
    const pgCpu = control ? backendCpuSince(pgBefore, await backendCpu(control)) : NaN;
    const ok = latencies.length;
    return {
      concurrency: connections,
      seconds: round(elapsed, 2),
      ok,
      errors,
      rps: round(ok / elapsed),
      p50Ms: round(percentile(latencies, 50), 2),
      p99Ms: round(percentile(latencies, 99), 2),
      ...(control
        ? { pgCpuMsPerRequest: perRequest(pgCpu, ok), clientCpuMsPerRequest: perRequest((clientCpu.user + clientCpu.system) / 1000, ok) }
        : {}),
    };
  } finally {
    await pool.end();
  }
}

/** Thrown by a floor operation when the pool of seeded IDs ran out (the run stops early; raise USER_POOL). */
class PoolExhausted extends Error {}

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

/**
 * deleteUser's end-state check: the same seeded users (same tag, so the same rows) deleted
 * once by the server and once by the floor must leave identical data (fingerprint). The
 * pool is the load's, plus invitations addressed to some of the users (deleted with them)
 * and one user who is the last OWNER of an organization (both must refuse: CONFLICT from
 * the server, 'last_owner' from the floor, nothing written).
 */
async function checkDeleteUserEndState(client: Client, server: ChildServer) {
  const count = 30;
  const prints: Record<string, string> = {};
  const refused: Record<string, boolean> = {};
  for (const who of ['server', 'floor'] as const) {
    await resetData(client);
    const ids = await seedUserPool(client, 'c2-check', count);
    await client.query(
      `INSERT INTO invitations (id, organization_id, email, email_key, role, invited_by, expires_at)
       SELECT 'inv_' || upper(substr(md5('c2-check:' || m.id), 1, 26)), m.organization_id, u.email, u.email_key,
              'MEMBER', 'admin', now() + interval '7 days'
         FROM users u JOIN memberships m ON m.user_id = u.id
        WHERE u.id = ANY($1)`,
      [ids.filter((_, i) => i % 3 === 0)],
    );
    const owner = ids[count - 1];
    await client.query(`UPDATE memberships SET role = 'OWNER' WHERE user_id = $1`, [owner]);
    await settle(client);
    for (const id of ids.slice(0, count - 1)) {
      if (who === 'server') await gql(server.url, server.adminKey, DELETE_USER, { id });
      else if ((await floorDeleteUser(client, id)) !== 'deleted') throw new Error(`floor did not delete ${id}`);
    }
    if (who === 'server') {
      const result = await gqlRaw(server.url, server.adminKey, DELETE_USER, { id: owner });
      refused.server = result.body.errors?.[0]?.extensions?.code === 'CONFLICT';
    } else refused.floor = (await floorDeleteUser(client, owner)) === 'last_owner';
    prints[who] = await fingerprint(client);
  }
  const identical = prints.server === prints.floor && refused.server && refused.floor;
  log(`  deleteUser end state: server and floor ${identical ? 'identical' : `DIFFER (${JSON.stringify({ prints, refused })})`}`);
  return identical;
}

async function caseDeleteUser(client: Client, server: ChildServer, databaseUrl: string) {
  const sameDataAsFloor = await checkDeleteUserEndState(client, server);
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
      const floorOperation = async (floorClient: PoolClient) => {
        const id = next();
        if (!id) throw new PoolExhausted();
        return (await floorDeleteUser(floorClient, id)) === 'deleted';
      };
      if (who === 'server') {
        await cannon(server.url, server.adminKey, connections, WARMUP_SECONDS, body);
        measured.server = await cannon(server.url, server.adminKey, connections, LOAD_SECONDS, body, { pid: server.pid, control: client });
        await serverIdle(client);
      } else {
        await floorLoad(databaseUrl, connections, WARMUP_SECONDS, floorOperation);
        measured.floor = await floorLoad(databaseUrl, connections, LOAD_SECONDS, floorOperation, client);
      }
      log(`  deleteUser ${who} x${connections}: ${JSON.stringify(measured[who])}`);
    }
    if (exhausted) log(`  WARNING: the pool of ${USER_POOL} users ran out at ${connections} clients; raise USER_POOL`);
    rows.push({
      concurrency: connections,
      server: measured.server,
      floor: measured.floor,
      throughputRatio: round(measured.server.rps / measured.floor.rps, 2),
      p99Ratio: round(measured.server.p99Ms / measured.floor.p99Ms, 2),
      poolExhausted: exhausted,
    });
  }
  return { sameDataAsFloor, rows };
}

/** Same JSON value, key order included (JSON.stringify of each parsed text). */
function sameJson(a: string, b: string): boolean {
  return JSON.stringify(JSON.parse(a)) === JSON.stringify(JSON.parse(b));
}

async function caseRead(client: Client, server: ChildServer, databaseUrl: string) {
  await resetData(client);
  const seeded = await seedOrganizationCase(client, 'c5', 1_000, 1_000);
  await settle(client);
  const variables = { id: seeded.organizationId };
  const body = () => JSON.stringify({ query: READ, variables });
  const check = await gql(server.url, server.adminKey, READ, variables);
  const nodes = (check.body.data!.organization as { memberships: { nodes: unknown[] } }).memberships.nodes;
  if (nodes.length !== READ_FIRST) throw new Error(`read returned ${nodes.length} memberships`);
  // The floor's JSON must be the server's response, value for value.
  const floorBody = await floorMemberList(client, seeded.organizationId, READ_FIRST);
  const sameJsonAsFloor = sameJson(JSON.stringify(check.body), floorBody);
  log(`  read: server and floor JSON ${sameJsonAsFloor ? 'identical' : 'DIFFER'}`);
  if (!sameJsonAsFloor) log(`    server: ${JSON.stringify(check.body).slice(0, 300)}…\n    floor:  ${floorBody.slice(0, 300)}…`);
  const floorOperation = async (floorClient: PoolClient) =>
    (await floorMemberList(floorClient, seeded.organizationId, READ_FIRST)).length > 0;
  const rows = [];
  for (const connections of READ_CONCURRENCY) {
    await cannon(server.url, server.adminKey, connections, WARMUP_SECONDS, body);
    const result = await cannon(server.url, server.adminKey, connections, LOAD_SECONDS, body, { pid: server.pid, control: client });
    await serverIdle(client);
    log(`  read server x${connections}: ${JSON.stringify(result)}`);
    await floorLoad(databaseUrl, connections, WARMUP_SECONDS, floorOperation);
    const floor = await floorLoad(databaseUrl, connections, LOAD_SECONDS, floorOperation, client);
    log(`  read floor x${connections}: ${JSON.stringify(floor)}`);
    rows.push({
      concurrency: connections,
      server: result,
      floor,
      throughputRatio: round(result.rps / floor.rps, 2),
    });
  }
  const counting = await startCountingServer(databaseUrl);
  try {
    const before = counting.queries.count;
    await gql(counting.url, counting.adminKey, READ, variables);
    return { sameJsonAsFloor, rows, statementsPerRequest: counting.queries.count - before, responseBytes: check.bytes };
  } finally {
    await counting.stop();
  }
}

function table(headers: string[], rows: Array<Array<string | number | boolean | null>>): string {
  const lines = [`| ${headers.join(' | ')} |`, `| ${headers.map(() => '---').join(' | ')} |`];
  for (const row of rows) lines.push(`| ${row.map((cell) => String(cell ?? '')).join(' | ')} |`);
  return lines.join('\n');
}

interface Target {
  target: string;
  measured: string;
  /** null: not measured in this run, or not comparable (the note says which). */
  met: boolean | null;
  note?: string;
}

/**
 * The targets `npm run bench` reports: issue 13's (throughput and p99 against the floors,
 * memory, server CPU against CPU_BASELINE, deleteOrganization against its floor), then
 * the earlier issues' that still hold (webhooks, statements per deletion). A ratio whose
 * two sides did not leave the same data (or JSON) is not a measurement: it reads n/a.
 */
function issueTargets(
  organizations: Awaited<ReturnType<typeof caseDeleteOrganization>>,
  users: Awaited<ReturnType<typeof caseDeleteUser>>,
  read: Awaited<ReturnType<typeof caseRead>>,
  statements: Awaited<ReturnType<typeof caseStatementCounts>>,
  webhooks: Awaited<ReturnType<typeof caseWebhooks>>,
): Target[] {
  const targets: Target[] = [];
  const pct = (ratio: number) => `${Math.round(ratio * 100)}%`;
  const push = (target: string, measured: string, met: boolean | null, note?: string) =>
    targets.push({ target, measured, met, ...(note ? { note } : {}) });

  const userRow = (clients: number) => users.rows.find((row) => row.concurrency === clients);
  for (const [clients, share] of [[1, 0.25], [8, 0.35], [32, 0.35]] as const) {
    const row = userRow(clients);
    const target = `deleteUser, ${clients} client${clients > 1 ? 's' : ''}: ≥ ${pct(share)} of the floor's throughput`;
    if (!row) push(target, '—', null, 'not measured');
    else if (!users.sameDataAsFloor) push(target, pct(row.throughputRatio), null, 'end states differ');
    else push(target, `${pct(row.throughputRatio)} (${row.server.rps} / ${row.floor.rps} req/s)`, row.throughputRatio >= share);
  }
  const at32 = userRow(32);
  const p99Target = "deleteUser, 32 clients: p99 ≤ 2× the floor's";
  if (!at32) push(p99Target, '—', null, 'not measured');
  else if (!users.sameDataAsFloor) push(p99Target, `${at32.p99Ratio}×`, null, 'end states differ');
  else push(p99Target, `${at32.p99Ratio}× (${at32.server.p99Ms} / ${at32.floor.p99Ms} ms)`, at32.p99Ratio <= 2);

  for (const row of read.rows) {
    const target = `member-list read, ${row.concurrency} client${row.concurrency > 1 ? 's' : ''}: ≥ 40% of the one-statement floor`;
    if (!read.sameJsonAsFloor) push(target, pct(row.throughputRatio), null, 'JSON differs');
    else push(target, `${pct(row.throughputRatio)} (${row.server.rps} / ${row.floor.rps} req/s)`, row.throughputRatio >= 0.4);
  }

  const memory = organizations.memory as { members: number; peakRssMb: number } | null;
  const memoryTarget = 'peak server RSS < 256 MB, 100,000-member deleteOrganization, every list selected';
  if (!memory) push(memoryTarget, '—', null, 'not measured');
  else if (memory.members !== 100_000) push(memoryTarget, `${memory.peakRssMb} MB at ${memory.members.toLocaleString('en')} members`, null, 'quick run');
  else push(memoryTarget, `${memory.peakRssMb} MB`, memory.peakRssMb < 256);

  for (const [name, rows] of [['deleteUser', users.rows], ['member-list read', read.rows]] as const) {
    const baseline = name === 'deleteUser' ? CPU_BASELINE.deleteUser : CPU_BASELINE.read;
    for (const clients of [1, 8]) {
      const cpu = rows.find((row) => row.concurrency === clients)?.server.serverCpuMsPerRequest;
      const target = `server CPU per ${name}, ${clients} client${clients > 1 ? 's' : ''}: ≤ half of ${baseline[clients]} ms (before issue 13)`;
      if (cpu === undefined || Number.isNaN(cpu)) push(target, 'n/a', null, 'no /proc');
      else push(target, `${cpu} ms (${pct(cpu / baseline[clients])} of before)`, cpu <= baseline[clients] / 2);
    }
  }

  for (const members of [10_000, 100_000]) {
    const row = organizations.rows.find((r) => r.members === members);
    const target = `deleteOrganization, ${members.toLocaleString('en')} members: ≤ 1.15× the floor`;
    if (!row) push(target, '—', null, QUICK ? 'quick run' : 'not measured');
    else if (!row.sameDataAsFloor) push(target, `${row.ratio}×`, null, 'end states differ');
    else push(target, `${row.ratio}× (${row.serverMs} / ${row.floorMs} ms)`, row.ratio <= 1.15);
  }

  push(
    `webhooks: ${webhooks.members.toLocaleString('en')}-member deletion with 10 endpoints within 10% of with 0`,
    `${webhooks.deletionMs.ratio}×`,
    webhooks.deletionMs.ratio <= 1.1,
  );
  push('webhooks: ≥ 1,000 deliveries/s to a local receiver', `${webhooks.delivery.perSecond}/s`, webhooks.delivery.perSecond >= 1000);
  push(
    'SQL statements per deleteOrganization constant whatever its size',
    [...new Set(statements.rows.flatMap((r) => [r.statementsReceiptOnly, r.statementsFullLists]).filter((n) => n !== null))].join(', '),
    statements.constant,
  );
  return targets;
}

/** Case 7 with the settings and requests of cases 2 and 5 (bench/cluster.ts). */
function runClusterCase() {
  return caseCluster({
    quick: QUICK,
    loadSeconds: LOAD_SECONDS,
    warmupSeconds: WARMUP_SECONDS,
    deleteUser: DELETE_USER,
    read: READ,
    readFirst: READ_FIRST,
    log,
  });
}

/** Case 8 with the requests of cases 1, 2 and 5 (bench/job.ts). */
function runJobCase(client: Client, server: ChildServer) {
  return caseDeletionJob(client, server, {
    quick: QUICK,
    warmupSeconds: WARMUP_SECONDS,
    deleteOrganization: DELETE_ORGANIZATION_MIN,
    deleteUser: DELETE_USER,
    read: READ,
    readFirst: READ_FIRST,
    log,
  });
}

/** What one case run alone (BENCH_ONLY) hands to runAlone: its results' fields and its markdown. */
interface AloneResult {
  machine: ReturnType<typeof machine>;
  settings: Record<string, unknown>;
  fields: Record<string, unknown>;
  markdown: string;
  /** Set when the case did not measure: the run fails after writing what it has. */
  failure?: string;
}

const SERVER_SETTINGS = { serverPoolSize: 10, nodeEnv: 'production', logLevel: 'warn' };

/** The database, a child server on it and a control connection, for a case run alone; stopped by cleanup(). */
async function aloneOnServer() {
  const database = await startDatabase();
  const server = await startChildServer(database.url);
  const client = new Client({ connectionString: database.url });
  client.on('error', () => undefined);
  await client.connect();
  onCleanup(() => client.end().catch(() => undefined));
  return { database, server, client };
}

/**
 * BENCH_ONLY=<only>: one case alone, to re-measure it on a quiet machine without the whole
 * bench. Writes bench/results/{quick,latest}.<only>.{json,md} (the markdown headed by the
 * machine line) and stops everything it started, also on failure.
 */
async function runAlone(only: string, title: string, measure: () => Promise<AloneResult>): Promise<void> {
  const startedAt = new Date();
  const loadBefore = loadAverage();
  if (loadBefore[0] > 1) log(`Note: load average is ${loadBefore.join(' ')} before starting; other work on this machine will skew the numbers.`);
  try {
    log(`${title} (BENCH_ONLY=${only})`);
    const result = await measure();
    const m = { ...result.machine, loadAverageBefore: loadBefore, loadAverageAfter: loadAverage() };
    const results = {
      startedAt: startedAt.toISOString(),
      durationSeconds: Math.round((Date.now() - startedAt.getTime()) / 1000),
      quick: QUICK,
      machine: m,
      settings: result.settings,
      ...result.fields,
    };
    const markdown =
      `**Machine:** ${m.cpu}, ${m.cores} cores, ${m.memoryGb} GB RAM; ${m.os}; Node.js ${m.node}; PostgreSQL ${m.postgres} (${m.postgresSource}). Load average ${m.loadAverageBefore[0]} before, ${m.loadAverageAfter[0]} after.${QUICK ? ' **Quick run (BENCH_QUICK=1): small sizes, short runs; not for comparison.**' : ''}\n\n` +
      result.markdown;
    fs.mkdirSync(RESULTS, { recursive: true });
    const name = `${QUICK ? 'quick' : 'latest'}.${only}`;
    fs.writeFileSync(path.join(RESULTS, `${name}.json`), JSON.stringify(results, null, 2) + '\n');
    fs.writeFileSync(path.join(RESULTS, `${name}.md`), markdown);
    log('\n' + markdown);
    log(`Results written to bench/results/${name}.json and bench/results/${name}.md`);
    if (result.failure) throw new Error(result.failure);
  } finally {
    await cleanup();
  }
}

/** Case 8 alone. */
const jobAlone = () =>
  runAlone('job', 'Case 8: a 1,000,000-member organization deleted by a job', async () => {
    const { database, server, client } = await aloneOnServer();
    const job = await runJobCase(client, server);
    return {
      machine: machine(database.version, database.embedded),
      settings: { warmupSeconds: WARMUP_SECONDS, ...SERVER_SETTINGS },
      fields: { job, targets: jobTargets(job) },
      markdown: jobMarkdown(job),
      failure: job.status !== 'measured' ? 'case 8 failed' : undefined,
    };
  });

/** Case 7 alone. */
const clusterAlone = () =>
  runAlone('cluster', `Case 7: the cluster load check. ${CLUSTER_NOTE}`, async () => {
    const cluster = await runClusterCase();
    return {
      machine: { ...machine(cluster.status === 'measured' ? cluster.postgres : 'n/a', false), postgresSource: "the cluster's primary" },
      settings: { loadSeconds: LOAD_SECONDS, warmupSeconds: WARMUP_SECONDS },
      fields: { cluster },
      markdown: clusterMarkdown(cluster),
    };
  });

/** One row per concurrency: the server against its floor, as the full run's tables show them. */
function aloneLoadTable(rows: Array<{ concurrency: number; server: LoadResult; floor: LoadResult }>): string {
  return table(
    ['clients', 'server req/s', 'p99', 'server CPU/req', 'PG CPU/req', 'floor req/s', 'p99', 'floor PG CPU/req', 'throughput server/floor'],
    rows.map((r) => [
      r.concurrency,
      r.server.rps,
      `${r.server.p99Ms} ms`,
      `${r.server.serverCpuMsPerRequest} ms`,
      `${r.server.pgCpuMsPerRequest} ms`,
      r.floor.rps,
      `${r.floor.p99Ms} ms`,
      `${r.floor.pgCpuMsPerRequest} ms`,
      `${Math.round((r.server.rps / r.floor.rps) * 100)}%`,
    ]),
  );
}

/** Case 2 alone. */
const deleteUserAlone = () =>
  runAlone('deleteUser', 'Case 2: deleteUser under load vs the SQL floor', async () => {
    const { database, server, client } = await aloneOnServer();
    const users = await caseDeleteUser(client, server, database.url);
    return {
      machine: machine(database.version, database.embedded),
      settings: { loadSeconds: LOAD_SECONDS, warmupSeconds: WARMUP_SECONDS, ...SERVER_SETTINGS },
      fields: { deleteUser: users },
      markdown: `${aloneLoadTable(users.rows)}\n\nEnd state of server and floor ${users.sameDataAsFloor ? 'identical' : 'DIFFERENT'}.\n`,
    };
  });

/** Case 5 alone. */
const readAlone = () =>
  runAlone('read', 'Case 5: the member-list read under load vs the one-statement floor', async () => {
    const { database, server, client } = await aloneOnServer();
    const read = await caseRead(client, server, database.url);
    return {
      machine: machine(database.version, database.embedded),
      settings: { loadSeconds: LOAD_SECONDS, warmupSeconds: WARMUP_SECONDS, ...SERVER_SETTINGS },
      fields: { read },
      markdown:
        `\`${READ_SELECTION}\` (1,000-member organization, 3 sessions each; ${read.statementsPerRequest} SQL statements per server request)\n\n` +
        `${aloneLoadTable(read.rows)}\n\nJSON of server and floor ${read.sameJsonAsFloor ? 'identical' : 'DIFFERENT'}.\n`,
    };
  });

async function main(): Promise<void> {
  const alone = { cluster: clusterAlone, deleteUser: deleteUserAlone, job: jobAlone, read: readAlone }[ONLY ?? ''];
  if (alone) return alone();
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
    log(`Case 7: deleteUser and the read through HAProxy and 3 gateways vs one gateway direct (the local cluster). ${CLUSTER_NOTE}`);
    const cluster = await runClusterCase();
    log('Case 8: a 1,000,000-member organization deleted by a job (issue 15)');
    const job = await runJobCase(client, server);

    const targets = [...issueTargets(organizations, users, read, statements, webhooks), ...jobTargets(job)];

    const results = {
      startedAt: startedAt.toISOString(),
      durationSeconds: Math.round((Date.now() - startedAt.getTime()) / 1000),
      quick: QUICK,
      machine: { ...machine(database.version, database.embedded), loadAverageBefore: loadBefore, loadAverageAfter: loadAverage() },
      settings: { loadSeconds: LOAD_SECONDS, warmupSeconds: WARMUP_SECONDS, serverPoolSize: 10, nodeEnv: 'production', logLevel: 'warn' },
      cpuBaseline: CPU_BASELINE,
      deleteOrganization: organizations.rows,
      serverMemory: organizations.memory,
      statementsPerDeletion: statements,
      deleteUser: users,
      read,
      webhooks,
      cluster,
      job,
      targets,
    };

    const m = results.machine;
    const ms = (value: number | undefined) => (value === undefined || Number.isNaN(value) ? 'n/a' : `${value} ms`);
    const pct = (ratio: number) => `${Math.round(ratio * 100)}%`;
    const markdown = [
      `**Machine:** ${m.cpu}, ${m.cores} cores, ${m.memoryGb} GB RAM; ${m.os}; Node.js ${m.node}; PostgreSQL ${m.postgres} (${m.postgresSource}). Load average ${m.loadAverageBefore[0]} before, ${m.loadAverageAfter[0]} after.${QUICK ? ' **Quick run (BENCH_QUICK=1): small sizes, short runs; not for comparison.**' : ''}`,
      '',
      `Measured ${startedAt.toISOString().slice(0, 10)}; server in production mode (\`NODE_ENV=production\`, \`LOG_LEVEL=warn\`, \`DB_PREPARED_STATEMENTS=true\`). Medians. Server times are client-side (HTTP round trip, whole body read); floor times are the floor's own (deleteOrganization BEGIN…COMMIT; deleteUser and the read: the one round trip). CPU is from /proc: the server process's utime + stime, and the sum over the PostgreSQL backends connected to the bench database ("PG CPU"); the floor's client CPU is the bench process's own.`,
      '',
      '**deleteOrganization** (half the members cascade, 3 active sessions each)',
      '',
      table(
        ['members', 'runs', 'server (receipt only)', 'server CPU', 'server PG CPU', 'SQL floor', 'floor PG CPU', 'server/floor', 'server (every list)', 'server/floor', 'response (every list)', 'same end state'],
        organizations.rows.map((r) => [
          r.members.toLocaleString('en'),
          r.runs,
          ms(r.serverMs),
          ms(r.serverCpuMs),
          ms(r.serverPgCpuMs),
          ms(r.floorMs),
          ms(r.floorPgCpuMs),
          `${r.ratio}×`,
          ms(r.fullListsMs),
          `${r.fullListsRatio}×`,
          `${r.fullListsResponseMb} MB`,
          r.sameDataAsFloor ? 'yes' : 'NO',
        ]),
      ),
      '',
      `**deleteUser under load** (2 memberships, 3 sessions each; autocannon for ${LOAD_SECONDS} s against the server, a pg Pool running the floor; end state of server and floor ${users.sameDataAsFloor ? 'identical' : '**DIFFERENT: ratios not comparable**'})`,
      '',
      table(
        ['clients', 'server req/s', 'p50', 'p99', 'server CPU/req', 'PG CPU/req', 'floor req/s', 'p50', 'p99', 'floor PG CPU/req', 'floor client CPU/req', 'throughput server/floor', 'p99 server/floor'],
        users.rows.map((r) => [
          r.concurrency,
          r.server.rps,
          ms(r.server.p50Ms),
          ms(r.server.p99Ms),
          ms(r.server.serverCpuMsPerRequest),
          ms(r.server.pgCpuMsPerRequest),
          r.floor.rps,
          ms(r.floor.p50Ms),
          ms(r.floor.p99Ms),
          ms(r.floor.pgCpuMsPerRequest),
          ms(r.floor.clientCpuMsPerRequest),
          pct(r.throughputRatio),
          `${r.p99Ratio}×`,
        ]),
      ),
      '',
      `**Member-list read** \`organization(id) { ${READ_SELECTION} }\` (1,000-member organization, 3 sessions each; the floor is one prepared \`json_agg\` statement; JSON of server and floor ${read.sameJsonAsFloor ? 'identical' : '**DIFFERENT: ratios not comparable**'}; ${read.statementsPerRequest} SQL statements per server request)`,
      '',
      table(
        ['clients', 'server req/s', 'p50', 'p99', 'server CPU/req', 'PG CPU/req', 'floor req/s', 'p50', 'p99', 'floor PG CPU/req', 'floor client CPU/req', 'throughput server/floor'],
        read.rows.map((r) => [
          r.concurrency,
          r.server.rps,
          ms(r.server.p50Ms),
          ms(r.server.p99Ms),
          ms(r.server.serverCpuMsPerRequest),
          ms(r.server.pgCpuMsPerRequest),
          r.floor.rps,
          ms(r.floor.p50Ms),
          ms(r.floor.p99Ms),
          ms(r.floor.pgCpuMsPerRequest),
          ms(r.floor.clientCpuMsPerRequest),
          pct(r.throughputRatio),
        ]),
      ),
      '',
      `**Server memory**: peak RSS ${organizations.memory?.peakRssMb} MB during the ${SIZES.at(-1)!.toLocaleString('en')}-member deletion with every list selected (RSS before: ${organizations.memory?.rssBeforeMb} MB; response ${organizations.memory?.responseMb} MB; ${organizations.memory?.method}).`,
      '',
      `**SQL statements per deleteOrganization**: ${statements.rows
        .map((r) => `${r.members.toLocaleString('en')} members: ${r.statementsReceiptOnly}${r.statementsFullLists === null ? '' : ` (every list: ${r.statementsFullLists})`}`)
        .join('; ')}; deleteUser: ${statements.deleteUser}.`,
      '',
      `**Webhooks** (${webhooks.members.toLocaleString('en')}-member deleteOrganization; bench/webhooks.ts): the deletion took ${webhooks.deletionMs.endpoints0} ms with 0 endpoints and ${webhooks.deletionMs.endpoints10} ms with 10 endpoints subscribed to its user.deleted and organization.deleted events (${webhooks.deletionMs.ratio}×; medians of ${webhooks.runs}); the fan-out then created ${webhooks.messagesWith10Endpoints.toLocaleString('en')} messages in ${webhooks.fanOutMsWith10Endpoints} ms. One endpoint received the ${webhooks.delivery.messages.toLocaleString('en')} user.deleted messages in ${webhooks.delivery.seconds} s: **${webhooks.delivery.perSecond} deliveries/s** (signed, each attempt recorded).`,
      '',
      clusterMarkdown(cluster),
      jobMarkdown(job, false),
      '**Targets** (issue 13, issue 15\'s deletion job, and the earlier issues\' that still hold)',
      '',
      table(
        ['target', 'measured', 'met'],
        targets.map((t) => [t.target, t.measured, t.met === null ? `n/a${t.note ? ` (${t.note})` : ''}` : t.met ? 'met' : 'not met']),
      ),
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
