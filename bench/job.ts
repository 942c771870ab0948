import { loadConfig } from '../src/config';
import type { Client } from 'pg';
import { backendCpu, backendCpuSince, checkpoints, cpuTimeMs, gql, median, memoryOf, pacedLoad, percentile, resetPeakMemory, round, type ChildServer, type LoadResult } from './harness';
import { idSql, resetData, seedOrganizationCase, seedUserPool, settle } from './seed';

/**
 * Case 8 of `npm run bench` (issue 15, "Measured in npm run bench"): a 1,000,000-member
 * organization (half cascade, 3 active sessions each: bench/seed.ts seedOrganizationCase)
 * deleted by scheduleOrganizationDeletion, followed by polling deletionJob.
 *
 * 1. **Synchronous reference**: deleteOrganization (receipt only, case 1's request) of a
 *    freshly seeded organization a tenth the size (100,000 members), after a warm-up; the
 *    median of the runs, times 10, is what the job is held against (target ≤ 1.5×).
 * 2. **Seeding**: a pool of users for deleteUser and a 1,000-member organization for the
 *    read (the loads' data), then the organization, then VACUUM ANALYZE and CHECKPOINT.
 * 3. **Baseline**: case 2's deleteUser and case 5's member-list read, one after the other,
 *    at a fixed rate each (harness.ts pacedLoad: evenly spaced, open loop, up to 8 connections),
 *    without a job.
 * 4. **The job**: the schedule call → the poll that first sees SUCCEEDED (every POLL_MS),
 *    and the job's own startedAt → finishedAt. Once it has processed a tenth of the members
 *    the same loads run again beside it (target: p99 < 100 ms). One organization serves both
 *    measurements (seeding 1,000,000 members takes minutes): the chunks that overlapped the
 *    loads are identified from their start times, and the job's time is also given with each
 *    of them counted at the median period of the others. The server's peak RSS over the whole
 *    job (VmHWM reset through /proc/<pid>/clear_refs, plus 10 ms sampling of VmRSS; target
 *    < 256 MB), and the peak before the loads started. Then the end state and the receipt.
 *
 * The chunks' start times are the start times of their transactions (events.occurred_at of
 * each transaction in organization_deletion_jobs.chunk_txids): the period from one to the
 * next is a chunk's own transaction plus the queue's overhead between steps.
 *
 * The server is the bench's own (DELETION_JOBS on, chunk size and poll interval at their
 * defaults: src/config.ts DELETION_JOB_CHUNK_MEMBERS, DELETION_JOB_POLL_INTERVAL_MS).
 */

export interface JobCaseOptions {
  quick: boolean;
  warmupSeconds: number;
  /** Case 1's deleteOrganization mutation with the receipt only (variables: { id }). */
  deleteOrganization: string;
  /** Case 2's deleteUser mutation (variables: { id }). */
  deleteUser: string;
  /** Case 5's member-list query (variables: { id }) and its page size. */
  read: string;
  readFirst: number;
  log: (line: string) => void;
}

/** A load beside the job: the fields every bench load reports, without CPU, and what it ran. */
export interface LoadRun extends Omit<LoadResult, 'serverCpuMsPerRequest' | 'pgCpuMsPerRequest' | 'clientCpuMsPerRequest'> {
  operation: 'deleteUser' | 'member-list read';
  /** Seconds of this load during which the job was running (until SUCCEEDED was seen). */
  overlapSeconds?: number;
  firstError?: string;
}

export interface JobRun {
  members: number;
  jobId: string;
  /** Seeding the organization (INSERT … SELECT), then VACUUM ANALYZE and CHECKPOINT, in s. */
  seedSeconds: number;
  settleSeconds: number;
  /** The schedule call's own round trip, ms. */
  scheduleMs: number;
  /** The schedule call sent → the first poll that saw SUCCEEDED, ms (the loads ran during part of it). */
  totalMs: number;
  /** totalMs with each chunk that ran beside the loads counted at the median period of the others (an estimate of the job alone). */
  totalWithoutLoadsMs: number;
  /** The job's createdAt → startedAt (waiting for a worker to take step 0), ms. */
  queueWaitMs: number;
  /** The job's own startedAt → finishedAt, ms (both are now() of a step's transaction: the last step's own run is not in it). */
  ownMs: number;
  steps: number;
  chunkSteps: number;
  /** Time between the starts of consecutive chunk transactions, ms: a chunk and the step's queue overhead. */
  stepPeriodMs: {
    median: number;
    p90: number;
    max: number;
    first10: number;
    last10: number;
    /** Median period of the chunks that did not overlap the loads, and of those that did. */
    withoutLoads: number;
    underLoads: number;
    chunksUnderLoads: number;
  };
  /** The last chunk's transaction start → SUCCEEDED seen (the last chunk, the finishing statement, the commit, ≤ 1 poll), ms. */
  lastStepMs: number;
  serverCpuMs: number;
  pgCpuMs: number;
  /** PostgreSQL's checkpoints while the job ran: by checkpoint_timeout, and requested (max_wal_size reached). */
  checkpoints: { timed: number; requested: number };
  /** peakRssMb: the whole job, the loads included; peakBeforeLoadsMb: the job alone until the loads started. */
  memory: { rssBeforeMb: number; peakRssMb: number; peakBeforeLoadsMb: number; method: string };
  receipt: { removedMembershipCount: number; cascadedUserCount: number; terminatedSessionCount: number; digest: string };
  totalMembers: number;
  processedMembers: number;
  endState?: EndState;
}

export interface EndState {
  organizationLeft: number;
  membershipsLeft: number;
  sessionsNamingIt: number;
  domainsLeft: number;
  settingsLeft: number;
  cascadedUsersLeft: number;
  retainedUsersLeft: number;
  activeSessionsOfMembers: number;
  otherOrganizationMemberships: number;
  events: Record<string, number>;
  receiptRows: number;
  /** Every check above as expected, and the receipt's counts. */
  ok: boolean;
  problems: string[];
}

export type JobCase =
  | { status: 'failed'; reason: string }
  | {
      status: 'measured';
      quick: boolean;
      chunkMembers: string;
      pollMs: number;
      sync: { members: number; runs: number; runsMs: number[]; medianMs: number; serverCpuMs: number; pgCpuMs: number };
      /** How many times larger the job's organization is (10). */
      factor: number;
      job: JobRun;
      /** job.totalMs ÷ (factor × sync.medianMs). */
      ratio: number;
      /** job.totalWithoutLoadsMs ÷ (factor × sync.medianMs). */
      ratioWithoutLoads: number;
      loads: {
        userPool: number;
        poolExhausted: boolean;
        /** The loads started once the job had processed this many members. */
        startedAfterMembers: number;
        baseline: LoadRun[];
        duringJob: LoadRun[];
      };
    };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** deletionJob polled this often (a primary-key read; the poll's resolution). */
const POLL_MS = 100;
const LOAD_CONNECTIONS = 8;
/**
 * The loads' fixed rates, req/s over all connections: a steady background traffic well below
 * what this 2-core machine serves at saturation (case 2: 1,000-2,000 deleteUser/s; case 5:
 * 150-210 reads/s). Saturating loads would measure their own queue, not
 * the job: the read's p99 at 8 saturating clients is 97–125 ms with no job at all.
 */
const LOAD_RATES: Record<LoadRun['operation'], number> = { deleteUser: 150, 'member-list read': 40 };

const RECEIPT = 'receipt { id terminatedSessionCount removedMembershipCount cascadedUserCount digest }';
const SCHEDULE = `mutation BenchScheduleOrganizationDeletion($id: ID!) {
  scheduleOrganizationDeletion(id: $id) { id status totalMembers }
}`;
const JOB = `query BenchDeletionJob($id: ID!) {
  deletionJob(id: $id) { id status totalMembers processedMembers createdAt startedAt finishedAt error ${RECEIPT} }
}`;

interface JobState {
  status: 'QUEUED' | 'RUNNING' | 'SUCCEEDED' | 'FAILED';
  totalMembers: number;
  processedMembers: number;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  error: string | null;
  receipt: { terminatedSessionCount: number; removedMembershipCount: number; cascadedUserCount: number; digest: string } | null;
}

async function jobState(server: ChildServer, id: string): Promise<JobState> {
  const result = await gql(server.url, server.adminKey, JOB, { id });
  const job = result.body.data?.deletionJob as JobState | null;
  if (!job) throw new Error(`deletionJob(${id}) returned null`);
  return job;
}

const sizes = (quick: boolean) =>
  quick
    ? { jobMembers: 50_000, syncMembers: 5_000, syncRuns: 2, loadSeconds: 2, userPool: 10_000, deadlineMs: 5 * 60_000 }
    : { jobMembers: 1_000_000, syncMembers: 100_000, syncRuns: 2, loadSeconds: 10, userPool: 40_000, deadlineMs: 30 * 60_000 };

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const value = await fn();
  return [value, (performance.now() - started) / 1000];
}

// ─── 1. The synchronous reference ──────────────────────────────────────────────────────

async function syncDeletion(client: Client, server: ChildServer, options: JobCaseOptions, members: number, runs: number) {
  const deleteOnce = async (tag: string, size: number) => {
    await resetData(client);
    const seeded = await seedOrganizationCase(client, tag, size);
    await settle(client);
    const pgBefore = await backendCpu(client);
    const cpuBefore = cpuTimeMs(server.pid);
    const result = await gql(server.url, server.adminKey, options.deleteOrganization, { id: seeded.organizationId });
    const serverCpuMs = cpuTimeMs(server.pid) - cpuBefore;
    const pgCpuMs = backendCpuSince(pgBefore, await backendCpu(client));
    const receipt = (result.body.data!.deleteOrganization as { receipt: { removedMembershipCount: number; terminatedSessionCount: number } }).receipt;
    if (receipt.removedMembershipCount !== size || receipt.terminatedSessionCount !== 3 * size) {
      throw new Error(`unexpected receipt ${JSON.stringify(receipt)}`);
    }
    return { ms: result.ms, serverCpuMs, pgCpuMs };
  };
  // Warm-up, not recorded (as case 1: the largest size is warmed up by a smaller one).
  await deleteOnce('j-sync-warm', Math.min(10_000, members));
  const measured = [];
  for (let run = 0; run < runs; run += 1) {
    measured.push(await deleteOnce(`j-sync-${members}`, members));
    options.log(`  deleteOrganization ${members.toLocaleString('en')} (synchronous, receipt only): run ${run + 1} ${round(measured.at(-1)!.ms)} ms`);
  }
  return {
    members,
    runs,
    runsMs: measured.map((m) => round(m.ms)),
    medianMs: round(median(measured.map((m) => m.ms))),
    serverCpuMs: round(median(measured.map((m) => m.serverCpuMs))),
    pgCpuMs: round(median(measured.map((m) => m.pgCpuMs))),
  };
}

// ─── 2. The job, followed to its end ───────────────────────────────────────────────────

async function seedJobOrganization(client: Client, tag: string, members: number) {
  const [seeded, seedSeconds] = await timed(() => seedOrganizationCase(client, tag, members));
  const [, settleSeconds] = await timed(() => settle(client));
  return { seeded, seedSeconds: round(seedSeconds), settleSeconds: round(settleSeconds) };
}

/** The loads' window inside the job: wall-clock ms (Date.now(), the clock of PostgreSQL's now() on this machine). */
interface Window {
  startMs: number;
  endMs: number;
  /** The server's VmHWM when the loads started: the job's peak RSS so far, alone. */
  hwmBeforeMb: number;
}

/**
 * Schedules the deletion of `organizationId`, polls deletionJob until it ends (SUCCEEDED, or
 * it throws), and measures the server's peak RSS meanwhile. Once the job has processed
 * `loadsAfter` members, `loads()` runs beside the polling (its window is returned).
 */
async function runJob(
  client: Client,
  server: ChildServer,
  organizationId: string,
  members: number,
  deadlineMs: number,
  loadsAfter: number,
  loads: () => Promise<void>,
): Promise<{ run: Omit<JobRun, 'seedSeconds' | 'settleSeconds' | 'endState'>; window?: Window; doneAt: number }> {
  const rssBefore = memoryOf(server.pid);
  const reset = resetPeakMemory(server.pid);
  let sampledPeak = 0;
  const sampler = setInterval(() => {
    sampledPeak = Math.max(sampledPeak, memoryOf(server.pid)?.rssMb ?? 0);
  }, 10);
  const pgBefore = await backendCpu(client);
  const checkpointsBefore = await checkpoints(client);
  const cpuBefore = cpuTimeMs(server.pid);
  const started = performance.now();
  let state: JobState;
  let jobId: string;
  let scheduleMs: number;
  let window: Window | undefined;
  let loading: Promise<void> | undefined;
  try {
    const scheduled = await gql(server.url, server.adminKey, SCHEDULE, { id: organizationId });
    scheduleMs = scheduled.ms;
    jobId = (scheduled.body.data!.scheduleOrganizationDeletion as { id: string }).id;
    for (;;) {
      state = await jobState(server, jobId);
      if (state.status === 'SUCCEEDED' || state.status === 'FAILED') break;
      if (!loading && state.processedMembers >= loadsAfter) {
        const opened: Window = { startMs: Date.now(), endMs: NaN, hwmBeforeMb: Math.max(memoryOf(server.pid)?.hwmMb ?? 0, sampledPeak) };
        window = opened;
        // The loads run beside the polling, which sees the job end even while they run.
        loading = loads().finally(() => {
          opened.endMs = Date.now();
        });
      }
      if (performance.now() - started > deadlineMs) throw new Error(`the job did not end in ${deadlineMs / 1000} s: ${JSON.stringify(state)}`);
      await sleep(POLL_MS);
    }
  } finally {
    clearInterval(sampler);
  }
  const doneAt = performance.now();
  const doneWallMs = Date.now();
  const totalMs = doneAt - started;
  const serverCpuMs = cpuTimeMs(server.pid) - cpuBefore;
  const pgCpuMs = backendCpuSince(pgBefore, await backendCpu(client));
  const checkpointsAfter = await checkpoints(client);
  const after = memoryOf(server.pid);
  await loading;
  if (state.status !== 'SUCCEEDED' || !state.receipt) throw new Error(`the job ended ${state.status}: ${state.error}`);

  // The chunks' transactions, in order, and when each started (its events' occurred_at is its now()).
  const { rows } = await client.query<{ at_ms: number; next_step: number }>(
    `SELECT extract(epoch FROM e.occurred_at) * 1000 AS at_ms, j.next_step
       FROM organization_deletion_jobs j
      CROSS JOIN LATERAL unnest(j.chunk_txids) WITH ORDINALITY t(txid, n)
      CROSS JOIN LATERAL (SELECT occurred_at FROM events WHERE txid = t.txid ORDER BY position LIMIT 1) e
      WHERE j.id = $1
      ORDER BY t.n`,
    [jobId],
  );
  const starts = rows.map((row) => Number(row.at_ms));
  // Chunk i's period: its start to the next chunk's start (its own transaction and the step's queue overhead).
  const chunks = starts.slice(0, -1).map((at, i) => ({ at, period: starts[i + 1] - at }));
  const overlaps = (chunk: { at: number; period: number }) =>
    window !== undefined && chunk.at < window.endMs && chunk.at + chunk.period > window.startMs;
  const alone = chunks.filter((chunk) => !overlaps(chunk)).map((chunk) => chunk.period);
  const loaded = chunks.filter(overlaps).map((chunk) => chunk.period);
  const middle = (values: number[]) => (values.length ? round(median(values)) : NaN);
  const periods = chunks.map((chunk) => chunk.period);
  // The job's time had no load slowed its chunks: each chunk under the loads counted at the median of the others.
  const withoutLoadsMs = totalMs - loaded.reduce((sum, period) => sum + period, 0) + loaded.length * (alone.length ? median(alone) : 0);
  return {
    window,
    doneAt,
    run: {
      members,
      jobId,
      scheduleMs: round(scheduleMs),
      totalMs: round(totalMs),
      totalWithoutLoadsMs: round(withoutLoadsMs),
      queueWaitMs: state.startedAt ? Date.parse(state.startedAt) - Date.parse(state.createdAt) : NaN,
      ownMs: Date.parse(state.finishedAt!) - Date.parse(state.startedAt!),
      steps: rows[0]?.next_step ?? NaN,
      chunkSteps: rows.length,
      stepPeriodMs: {
        median: middle(periods),
        p90: round(percentile(periods, 90)),
        max: periods.length ? round(Math.max(...periods)) : NaN,
        first10: middle(periods.slice(0, 10)),
        last10: middle(periods.slice(-10)),
        withoutLoads: middle(alone),
        underLoads: middle(loaded),
        chunksUnderLoads: loaded.length,
      },
      lastStepMs: round(doneWallMs - starts.at(-1)!),
      serverCpuMs: round(serverCpuMs),
      pgCpuMs: round(pgCpuMs),
      checkpoints: { timed: checkpointsAfter.timed - checkpointsBefore.timed, requested: checkpointsAfter.requested - checkpointsBefore.requested },
      memory: {
        rssBeforeMb: round(rssBefore?.rssMb ?? NaN),
        peakRssMb: round(reset ? Math.max(after?.hwmMb ?? 0, sampledPeak) : sampledPeak),
        peakBeforeLoadsMb: window ? round(window.hwmBeforeMb) : NaN,
        method: reset ? 'VmHWM after resetting it (clear_refs 5), and 10 ms sampling of VmRSS' : '10 ms sampling of VmRSS',
      },
      receipt: {
        removedMembershipCount: state.receipt.removedMembershipCount,
        cascadedUserCount: state.receipt.cascadedUserCount,
        terminatedSessionCount: state.receipt.terminatedSessionCount,
        digest: state.receipt.digest,
      },
      totalMembers: state.totalMembers,
      processedMembers: state.processedMembers,
    },
  };
}

/**
 * What the job must have left (seedOrganizationCase's shape: members 1..n, the even ones
 * also in the other organization, which has `background` members of its own).
 */
async function checkEndState(client: Client, tag: string, organizationId: string, otherOrganizationId: string, members: number, run: JobRun, background = 5_000): Promise<EndState> {
  const userId = idSql('usr', `'u:${tag}:' || i`);
  const { rows } = await client.query<Omit<EndState, 'events' | 'ok' | 'problems'>>(
    `WITH seeded AS (SELECT i, ${userId} AS id FROM generate_series(1, $3::int) i)
     SELECT (SELECT count(*)::int FROM organizations WHERE id = $1) AS "organizationLeft",
            (SELECT count(*)::int FROM memberships WHERE organization_id = $1) AS "membershipsLeft",
            (SELECT count(*)::int FROM sessions WHERE organization_id = $1) AS "sessionsNamingIt",
            (SELECT count(*)::int FROM organization_domains WHERE organization_id = $1) AS "domainsLeft",
            (SELECT count(*)::int FROM organization_settings WHERE organization_id = $1) AS "settingsLeft",
            (SELECT count(*)::int FROM seeded JOIN users u ON u.id = seeded.id WHERE seeded.i % 2 = 1) AS "cascadedUsersLeft",
            (SELECT count(*)::int FROM seeded JOIN users u ON u.id = seeded.id WHERE seeded.i % 2 = 0) AS "retainedUsersLeft",
            (SELECT count(*)::int FROM seeded JOIN sessions s ON s.user_id = seeded.id
              WHERE s.terminated_at IS NULL AND s.expires_at > now()) AS "activeSessionsOfMembers",
            (SELECT count(*)::int FROM memberships WHERE organization_id = $2) AS "otherOrganizationMemberships",
            (SELECT count(*)::int FROM deletion_receipts WHERE subject_id = $1) AS "receiptRows"`,
    [organizationId, otherOrganizationId, members],
  );
  // The job's events: those of its chunks' transactions, and organization.deleted (the loads write events too).
  const { rows: eventRows } = await client.query<{ type: string; n: number }>(
    `SELECT type, count(*)::int AS n
       FROM events
      WHERE txid = ANY ((SELECT chunk_txids FROM organization_deletion_jobs WHERE id = $1)::xid8[])
         OR (type = 'organization.deleted' AND data->>'organizationId' = $2)
      GROUP BY type ORDER BY type`,
    [run.jobId, organizationId],
  );
  const events = Object.fromEntries(eventRows.map((row) => [row.type, row.n]));
  const state = rows[0];
  const half = Math.floor(members / 2);
  const expected: Array<[string, number, number]> = [
    ['organization left', state.organizationLeft, 0],
    ['memberships of it left', state.membershipsLeft, 0],
    ['sessions naming it', state.sessionsNamingIt, 0],
    ['domains left', state.domainsLeft, 0],
    ['settings left', state.settingsLeft, 0],
    ['cascaded users left', state.cascadedUsersLeft, 0],
    ['retained users left', state.retainedUsersLeft, half],
    ['active sessions of its former members', state.activeSessionsOfMembers, 0],
    ["the other organization's memberships", state.otherOrganizationMemberships, half + background],
    ['receipt rows', state.receiptRows, 1],
    ['receipt removedMembershipCount', run.receipt.removedMembershipCount, members],
    ['receipt cascadedUserCount', run.receipt.cascadedUserCount, members - half],
    ['receipt terminatedSessionCount', run.receipt.terminatedSessionCount, 3 * members],
    ['job totalMembers', run.totalMembers, members],
    ['job processedMembers', run.processedMembers, members],
    ['session.terminated events', events['session.terminated'] ?? 0, 3 * members],
    ['organization_membership.deleted events', events['organization_membership.deleted'] ?? 0, members],
    ['user.deleted events', events['user.deleted'] ?? 0, members - half],
    ['organization.deleted events', events['organization.deleted'] ?? 0, 1],
  ];
  const problems = expected.filter(([, got, want]) => got !== want).map(([name, got, want]) => `${name}: ${got}, expected ${want}`);
  return { ...state, events, ok: problems.length === 0, problems };
}

// ─── 3. Loads ──────────────────────────────────────────────────────────────────────────

async function load(server: ChildServer, operation: LoadRun['operation'], seconds: number, body: () => string): Promise<LoadRun & { startedAt: number; endedAt: number }> {
  const startedAt = performance.now();
  const result = await pacedLoad({ url: server.url, token: server.adminKey, rate: LOAD_RATES[operation], seconds, connections: LOAD_CONNECTIONS, body });
  return {
    operation,
    concurrency: LOAD_CONNECTIONS,
    seconds: round(result.seconds, 2),
    ok: result.ok,
    errors: result.errors,
    rps: round(result.ok / result.seconds),
    p50Ms: round(percentile(result.latenciesMs, 50), 2),
    p99Ms: round(percentile(result.latenciesMs, 99), 2),
    ...(result.firstError ? { firstError: result.firstError } : {}),
    startedAt,
    endedAt: performance.now(),
  };
}

// ─── The case ──────────────────────────────────────────────────────────────────────────

export async function caseDeletionJob(client: Client, server: ChildServer, options: JobCaseOptions): Promise<JobCase> {
  const { log } = options;
  const size = sizes(options.quick);
  try {
    // 1. deleteOrganization of a tenth the size, synchronously.
    const sync = await syncDeletion(client, server, options, size.syncMembers, size.syncRuns);
    const factor = size.jobMembers / size.syncMembers;
    log(`  synchronous reference: ${sync.medianMs} ms for ${size.syncMembers.toLocaleString('en')} members; ×${factor} = ${round(factor * sync.medianMs)} ms`);

    // 2. The loads' data, then the organization.
    await resetData(client);
    const ids = await seedUserPool(client, 'j-users', size.userPool);
    const readOrganization = await seedOrganizationCase(client, 'j-read', 1_000, 1_000);
    const tag = `j-${size.jobMembers}`;
    const seeded = await seedJobOrganization(client, tag, size.jobMembers);
    log(`  seeded ${size.jobMembers.toLocaleString('en')} members in ${seeded.seedSeconds} s (+ ${seeded.settleSeconds} s VACUUM ANALYZE, CHECKPOINT)`);

    // 3. The loads without a job: the baseline.
    let cursor = 0;
    let exhausted = false;
    const deleteUserBody = () => {
      if (cursor >= ids.length) exhausted = true;
      return JSON.stringify({ query: options.deleteUser, variables: { id: ids[cursor++] ?? 'usr_00000000000000000000000000' } });
    };
    const readBody = () => JSON.stringify({ query: options.read, variables: { id: readOrganization.organizationId } });
    const check = await gql(server.url, server.adminKey, options.read, { id: readOrganization.organizationId });
    const nodes = (check.body.data?.organization as { memberships: { nodes: unknown[] } } | null)?.memberships.nodes ?? [];
    if (nodes.length !== options.readFirst) throw new Error(`the read returned ${nodes.length} memberships`);
    const runLoads = async (phase: string) => {
      const runs = [];
      for (const [operation, body] of [['deleteUser', deleteUserBody], ['member-list read', readBody]] as const) {
        const run = await load(server, operation, size.loadSeconds, body);
        log(`  ${operation} x${LOAD_CONNECTIONS} ${phase}: ${JSON.stringify({ ...run, startedAt: undefined, endedAt: undefined })}`);
        runs.push(run);
      }
      return runs;
    };
    await load(server, 'deleteUser', options.warmupSeconds, deleteUserBody);
    await load(server, 'member-list read', options.warmupSeconds, readBody);
    const baseline = await runLoads('without a job');
    await sleep(1_000);

    // 4. The job; the same loads once it has processed a tenth of the members.
    let duringJob: Awaited<ReturnType<typeof runLoads>> = [];
    const { run, window, doneAt } = await runJob(client, server, seeded.seeded.organizationId, size.jobMembers, size.deadlineMs, size.jobMembers / 10, async () => {
      duringJob = await runLoads('while the job runs');
    });
    const job: JobRun = { ...run, seedSeconds: seeded.seedSeconds, settleSeconds: seeded.settleSeconds };
    job.endState = await checkEndState(client, tag, seeded.seeded.organizationId, seeded.seeded.otherOrganizationId, size.jobMembers, job);
    const ratio = round(job.totalMs / (factor * sync.medianMs), 2);
    if (exhausted) log(`  WARNING: the pool of ${size.userPool} users ran out`);
    log(`  job: ${JSON.stringify(job)}`);
    log(
      `  job total ${round(job.totalMs / 1000, 2)} s (without the loads' slowdown, estimated: ${round(job.totalWithoutLoadsMs / 1000, 2)} s) ` +
        `vs ${factor}× synchronous ${round((factor * sync.medianMs) / 1000, 2)} s: ${ratio}×; end state ${job.endState.ok ? 'as expected' : `WRONG: ${job.endState.problems.join('; ')}`}`,
    );
    return {
      status: 'measured',
      quick: options.quick,
      chunkMembers: `DELETION_JOB_CHUNK_MEMBERS default (${loadConfig({}).deletionJobs.chunkMembers.toLocaleString('en-US')})`,
      pollMs: POLL_MS,
      sync,
      factor,
      job,
      ratio,
      ratioWithoutLoads: round(job.totalWithoutLoadsMs / (factor * sync.medianMs), 2),
      loads: {
        userPool: size.userPool,
        poolExhausted: exhausted,
        startedAfterMembers: size.jobMembers / 10,
        baseline: baseline.map(strip),
        // Seconds of each load while the job ran: the loads start while it runs, it ends when SUCCEEDED is seen.
        duringJob: duringJob.map((r) => ({ ...strip(r), overlapSeconds: round(Math.max(0, Math.min(r.endedAt, doneAt) - r.startedAt) / 1000) })),
      },
    };
  } catch (error) {
    const reason = error instanceof Error ? (error.stack ?? error.message) : String(error);
    log(`  FAILED: ${reason}`);
    return { status: 'failed', reason };
  }
}

function strip({ startedAt: _s, endedAt: _e, ...run }: LoadRun & { startedAt: number; endedAt: number }): LoadRun {
  return run;
}

// ─── Targets and markdown ──────────────────────────────────────────────────────────────

export interface JobTarget {
  target: string;
  measured: string;
  met: boolean | null;
  note?: string;
}

/** Issue 15's bench targets; n/a in a quick run (other sizes) or when the end state was wrong. */
export function jobTargets(result: JobCase): JobTarget[] {
  const names = {
    time: 'deletion job, 1,000,000 members: total time ≤ 1.5× 10× the synchronous 100,000-member deleteOrganization',
    memory: 'deletion job, 1,000,000 members: peak server RSS < 256 MB',
    p99: (operation: string) =>
      `deletion job running: ${operation} p99 < 100 ms (${LOAD_RATES[operation as LoadRun['operation']]} req/s, at most ${LOAD_CONNECTIONS} connections)`,
  };
  if (result.status !== 'measured') {
    return [names.time, names.memory, names.p99('deleteUser'), names.p99('member-list read')].map((target) => ({
      target,
      measured: '—',
      met: null,
      note: 'case failed',
    }));
  }
  const quick = result.quick ? 'quick run' : undefined;
  const targets: JobTarget[] = [];
  const push = (target: string, measured: string, met: boolean, note?: string) =>
    targets.push({ target, measured, met: note ? null : met, ...(note ? { note } : {}) });
  const wrong = result.job.endState?.ok ? undefined : 'end state wrong';
  push(
    names.time,
    `${result.ratio}× (${round(result.job.totalMs / 1000, 1)} s vs ${result.factor} × ${round(result.sync.medianMs / 1000, 2)} s; without the loads' slowdown ${result.ratioWithoutLoads}×)`,
    result.ratio <= 1.5,
    wrong ?? quick,
  );
  const peak = result.job.memory.peakRssMb;
  push(names.memory, `${peak} MB`, peak < 256, quick);
  for (const run of result.loads.duringJob) {
    const base = result.loads.baseline.find((b) => b.operation === run.operation);
    const partial = (run.overlapSeconds ?? 0) < run.seconds * 0.9 ? 'the job ended before the load did' : undefined;
    push(names.p99(run.operation), `${run.p99Ms} ms (without a job: ${base?.p99Ms} ms)`, run.p99Ms < 100 && run.errors === 0, quick ?? partial);
  }
  return targets;
}

function table(headers: string[], rows: Array<Array<string | number | null | undefined>>): string {
  return [`| ${headers.join(' | ')} |`, `| ${headers.map(() => '---').join(' | ')} |`, ...rows.map((row) => `| ${row.map((c) => String(c ?? '')).join(' | ')} |`)].join('\n');
}

/** Case 8's part of bench/results/*.md; `withTargets`: its own targets table (the whole bench lists them with the others). */
export function jobMarkdown(result: JobCase, withTargets = true): string {
  const heading = '**Deletion job** (issue 15; bench/job.ts)';
  if (result.status !== 'measured') return `${heading}: **FAILED**: ${result.reason.replace(/\s*\n\s*/g, ' ')}\n`;
  const { job, sync, loads } = result;
  const s = (ms: number) => `${round(ms / 1000, 2)} s`;
  const n = (value: number) => value.toLocaleString('en');
  const end = job.endState!;
  const periods = job.stepPeriodMs;
  const lines = [
    `${heading}: a ${n(job.members)}-member organization (half the members cascade, 3 active sessions each; seeded in ${job.seedSeconds} s + ${job.settleSeconds} s VACUUM ANALYZE/CHECKPOINT) deleted by \`scheduleOrganizationDeletion\`, followed by polling \`deletionJob\` every ${result.pollMs} ms; chunks of ${result.chunkMembers}, the worker in the server process. Against ${result.factor}× the synchronous \`deleteOrganization\` of a freshly seeded ${n(sync.members)}-member organization (receipt only, median of ${sync.runs} after a warm-up: ${sync.runsMs.join(', ')} ms). Once the job had processed ${n(loads.startedAfterMembers)} members, the loads below ran beside it (${periods.chunksUnderLoads} of its chunks overlapped them).${result.quick ? ' **Quick run: small sizes.**' : ''}`,
    '',
    table(
      ['', 'time', 'server CPU', 'PG CPU'],
      [
        [`synchronous deleteOrganization, ${n(sync.members)} members`, `${sync.medianMs} ms`, `${sync.serverCpuMs} ms`, `${sync.pgCpuMs} ms`],
        [`× ${result.factor}`, s(result.factor * sync.medianMs), '', ''],
        [`**job, ${n(job.members)} members**: schedule → SUCCEEDED seen`, `**${s(job.totalMs)}** (${result.ratio}×)`, `${job.serverCpuMs} ms`, `${job.pgCpuMs} ms`],
        ["… the same, chunks beside the loads counted at the others' median (the job alone, estimated)", `${s(job.totalWithoutLoadsMs)} (${result.ratioWithoutLoads}×)`, '', ''],
        ['… schedule call (round trip)', `${job.scheduleMs} ms`, '', ''],
        ['… createdAt → startedAt (until a worker took step 0)', `${job.queueWaitMs} ms`, '', ''],
        ["… the job's own startedAt → finishedAt (both a step's transaction start)", s(job.ownMs), '', ''],
        [`… ${job.chunkSteps} chunk steps: period from one chunk's start to the next's, median / p90 / max`, `${periods.median} / ${periods.p90} / ${periods.max} ms`, '', ''],
        ['… period, median of the first 10 / the last 10 chunks', `${periods.first10} / ${periods.last10} ms`, '', ''],
        [`… period, median without the loads / beside them (${periods.chunksUnderLoads} chunks)`, `${periods.withoutLoads} / ${periods.underLoads} ms`, '', ''],
        ['… the last step (last chunk, receipt, organization) → SUCCEEDED seen', `${job.lastStepMs} ms`, '', ''],
        ['… PostgreSQL checkpoints during the job: timed / requested (max_wal_size reached)', `${job.checkpoints.timed} / ${job.checkpoints.requested}`, '', ''],
      ],
    ),
    '',
    `**Server memory during the job**: peak RSS ${job.memory.peakRssMb} MB, loads included (${job.memory.peakBeforeLoadsMb} MB before the loads started; ${job.memory.rssBeforeMb} MB before the job; ${job.memory.method}).`,
    '',
    `**End state**: ${end.ok ? 'as expected' : `**WRONG**: ${end.problems.join('; ')}`}: organization ${end.organizationLeft}, its memberships ${end.membershipsLeft}, sessions naming it ${end.sessionsNamingIt}, cascaded users left ${n(end.cascadedUsersLeft)}, retained ${n(end.retainedUsersLeft)}, active sessions of former members ${end.activeSessionsOfMembers}; receipt ${n(job.receipt.removedMembershipCount)} memberships, ${n(job.receipt.cascadedUserCount)} cascaded users, ${n(job.receipt.terminatedSessionCount)} terminated sessions; events ${Object.entries(end.events).map(([type, count]) => `${type} ${n(count)}`).join(', ')}.`,
    '',
    `**Loads beside the job**: case 2's deleteUser (a pool of ${n(loads.userPool)} users seeded beforehand, 2 memberships and 3 sessions each, a fresh one per request${loads.poolExhausted ? '; **the pool ran out**' : ''}) and case 5's member-list read (a 1,000-member organization), at most ${LOAD_CONNECTIONS} connections each, at a fixed ${LOAD_RATES.deleteUser} and ${LOAD_RATES['member-list read']} req/s (a steady background traffic, well below what this machine serves at saturation: cases 2 and 5), one after the other (open loop, evenly spaced; latency from when each request was due: bench/harness.ts pacedLoad): without a job (after a warm-up), then while the job runs.`,
    '',
    table(
      ['request', 'clients', 'without a job: req/s', 'p50', 'p99', 'during the job: req/s', 'p50', 'p99', 'errors', 's of the load while the job ran'],
      loads.duringJob.map((run) => {
        const base = loads.baseline.find((b) => b.operation === run.operation)!;
        return [run.operation, run.concurrency, base.rps, `${base.p50Ms} ms`, `${base.p99Ms} ms`, run.rps, `${run.p50Ms} ms`, `${run.p99Ms} ms`, `${base.errors} / ${run.errors}`, `${run.overlapSeconds} of ${run.seconds}`];
      }),
    ),
    '',
  ];
  if (withTargets) {
    lines.push(
      '**Targets** (issue 15)',
      '',
      table(
        ['target', 'measured', 'met'],
        jobTargets(result).map((t) => [t.target, t.measured, t.met === null ? `n/a${t.note ? ` (${t.note})` : ''}` : t.met ? 'met' : 'not met']),
      ),
      '',
    );
  }
  return lines.join('\n');
}
