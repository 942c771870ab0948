import { Client } from 'pg';
import { DeleteOrganizationDocument, ScheduleOrganizationDeletionDocument } from '../src/generated/graphql';
import type { DeletionJobWorker } from '../src/deletion/deletion-job.worker';
import { startTestApp, type TestApp } from './support/app';
import { startJobWorker, until, untilJobEnds } from './support/deletion-jobs';
import { ok } from './support/factory';
import { must, startServerProcess, type ServerProcess } from './support/server-process';

/**
 * Issue 15, "Proven equal" and "Durable": the same organization, seeded with identical IDs
 * into fresh databases, deleted once by deleteOrganization (one transaction) and once by
 * scheduleOrganizationDeletion (a worker, in chunks that align with nothing), ends in the
 * same database, the same receipt (counts and digest) and the same events, also when the
 * job's server is killed with SIGKILL mid-chunk and restarted, and when two workers run at
 * once and a step is delivered to both.
 */

type Sql = <T = Record<string, unknown>>(text: string, params?: unknown[]) => Promise<T[]>;

// ---------------------------------------------------------------------------------------
// Deterministic seeding: every ID, timestamp and token hash is a function of the ordinals,
// so two databases seeded alike hold byte-identical rows.
// ---------------------------------------------------------------------------------------

/** Members of the organization deleted in every run. */
const MEMBERS = 2_400;
const B_ONLY = 50; // members of the second deleted organization only: M+1 .. M+50
const C_ONLY = 40; // members of the kept organization only: M+51 .. M+90
const NOBODY = 10; // users in no organization: M+91 .. M+100
const USERS = MEMBERS + B_ONLY + C_ONLY + NOBODY;
const CREATED = '2025-06-01T00:00:00Z';
const ENDED = '2025-07-01T00:00:00Z';
const EXPIRED = '2025-08-01T00:00:00Z';
const FUTURE = '2100-01-01T00:00:00Z';

const id = (prefix: string, ordinal: number) => `${prefix}_EQSEED${String(ordinal).padStart(20, '0')}`;
/** The same ID in SQL, for a generate_series ordinal. */
const idSql = (prefix: string, ordinal: string) => `'${prefix}_EQSEED' || lpad((${ordinal})::text, 20, '0')`;

/** A: deleted first; B: deleted second, shares members with A; C: kept, shares members with both. */
const A = id('org', 1);
const B = id('org', 2);
const C = id('org', 3);
const userId = (i: number) => id('usr', i);

/**
 * Users 1..MEMBERS are A's members (OWNER when i % 100 = 1, ADMIN when i % 10 = 2, else MEMBER):
 * - i % 3 = 0: also in C, retained by both deletions;
 * - i % 7 = 0 and i % 3 <> 0: also in B only, retained by A's deletion and cascaded by B's
 *   (a member of two organizations that are both deleted);
 * - the others: cascaded with A.
 * Users M+1..M+50 are B's only (cascaded with B), M+51..M+90 C's only, M+91..M+100 in none.
 * Sessions per user (k): 1 active in the home organization's context; 2 active, no context
 * (even i); 3 terminated, naming A when i % 4 = 0; 4 expired, naming A when i % 5 = 0
 * (i % 3 <> 1); 5 active naming C (retained members) or A (non-members of A: B's and C's own
 * members and the users in no organization). Invitations: A's own (pending and decided, to
 * guests and to members); C's addressed to cascaded members of A and of B (deleted with
 * them) and to retained members (kept); B's own. Domains and settings for all three.
 */
async function seedEqualityData(sql: Sql): Promise<void> {
  const M = MEMBERS;
  await sql(
    `WITH orgs AS (
       INSERT INTO organizations (id, name, external_id, created_at)
       SELECT ${idSql('org', 'i')}, 'Equal Org ' || i, CASE WHEN i = 1 THEN 'ext-org-a' END, $1::timestamptz
         FROM generate_series(1, 3) i
       RETURNING id
     )
     INSERT INTO organization_settings (organization_id, data, updated_at)
     SELECT id, jsonb_build_object('theme', 'dark', 'org', id), $1::timestamptz FROM orgs`,
    [CREATED],
  );
  await sql(
    `INSERT INTO organization_domains (organization_id, domain, verified, created_at)
     SELECT d.organization_id, d.domain, d.verified, $4::timestamptz
       FROM (VALUES ($1::varchar, 'a-one.example.com', true), ($1, 'a-two.example.com', false), ($1, 'shared.example.com', false),
                    ($2, 'b.example.com', true), ($3, 'c.example.com', true), ($3, 'shared.example.com', false))
            AS d(organization_id, domain, verified)`,
    [A, B, C, CREATED],
  );
  await sql(
    `INSERT INTO users (id, email, email_key, name, external_id, created_at)
     SELECT ${idSql('usr', 'i')}, 'eq-' || i || '@example.com', 'eq-' || i || '@example.com', 'Equal User ' || i,
            CASE WHEN i % 13 = 0 THEN 'ext-' || i END, $2::timestamptz
       FROM generate_series(1, $1::int) i`,
    [USERS, CREATED],
  );
  await sql(
    `INSERT INTO memberships (id, organization_id, user_id, role, created_at)
     SELECT ${idSql('mem', 'i')}, $2, ${idSql('usr', 'i')},
            CASE WHEN i % 100 = 1 THEN 'OWNER' WHEN i % 10 = 2 THEN 'ADMIN' ELSE 'MEMBER' END, $5::timestamptz
       FROM generate_series(1, $1::int) i
     UNION ALL
     SELECT ${idSql('mem', '10000 + i')}, $4, ${idSql('usr', 'i')}, CASE WHEN i % 2 = 0 THEN 'ADMIN' ELSE 'MEMBER' END, $5::timestamptz
       FROM generate_series(3, $1::int, 3) i
     UNION ALL
     SELECT ${idSql('mem', '10000 + i')}, $4, ${idSql('usr', 'i')}, CASE WHEN i = $1::int + 51 THEN 'OWNER' ELSE 'MEMBER' END, $5::timestamptz
       FROM generate_series($1::int + 51, $1::int + 90) i
     UNION ALL
     SELECT ${idSql('mem', '20000 + i')}, $3, ${idSql('usr', 'i')}, CASE WHEN i % 14 = 0 THEN 'OWNER' ELSE 'MEMBER' END, $5::timestamptz
       FROM generate_series(7, $1::int, 7) i
     UNION ALL
     SELECT ${idSql('mem', '20000 + i')}, $3, ${idSql('usr', 'i')}, CASE WHEN i = $1::int + 1 THEN 'OWNER' ELSE 'MEMBER' END, $5::timestamptz
       FROM generate_series($1::int + 1, $1::int + 50) i`,
    [M, A, B, C, CREATED],
  );
  await sql(
    `WITH home AS (
       SELECT i, CASE WHEN i <= $2 THEN $3::varchar WHEN i <= $2 + 50 THEN $4::varchar WHEN i <= $2 + 90 THEN $5::varchar END AS org
         FROM generate_series(1, $1::int) i
     ), planned AS (
       SELECT i, k,
              CASE k WHEN 1 THEN org
                     WHEN 2 THEN NULL
                     WHEN 3 THEN CASE WHEN i % 4 = 0 THEN $3 ELSE org END
                     WHEN 4 THEN CASE WHEN i % 5 = 0 THEN $3 END
                     WHEN 5 THEN CASE WHEN i > $2 THEN $3 ELSE $5 END END AS org,
              CASE WHEN k = 4 THEN $8::timestamptz ELSE $9::timestamptz END AS expires_at,
              CASE WHEN k = 3 THEN $7::timestamptz END AS terminated_at,
              CASE WHEN k = 3 THEN 'terminated_by_request' END AS termination_reason
         FROM home, generate_series(1, 5) k
        WHERE CASE k WHEN 2 THEN i % 2 = 0
                     WHEN 4 THEN i % 3 <> 1
                     WHEN 5 THEN i > $2 OR i % 3 = 0
                     ELSE true END
     )
     INSERT INTO sessions (id, user_id, organization_id, token_hash, created_at, expires_at, terminated_at, termination_reason)
     SELECT ${idSql('ses', '(i - 1) * 5 + k')}, ${idSql('usr', 'i')}, org,
            sha256(convert_to(${idSql('ses', '(i - 1) * 5 + k')}, 'UTF8')), $6::timestamptz, expires_at, terminated_at, termination_reason
       FROM planned`,
    [USERS, M, A, B, C, CREATED, ENDED, EXPIRED, FUTURE],
  );
  await sql(
    `WITH planned AS (
       -- A's own: to guests, and to cascaded, retained and A-and-B members; some already decided.
       SELECT j AS n, $2::varchar AS org, 'guest-' || j || '@example.net' AS email, j FROM generate_series(1, 120) j
       UNION ALL SELECT 1000 + i, $2, 'eq-' || i || '@example.com', i FROM generate_series(5, $1::int, 50) i
       -- C's, to A's cascaded members (go with them), to members of A and B (go with B), to retained members (kept).
       UNION ALL SELECT 10000 + i, $4, 'eq-' || i || '@example.com', i FROM generate_series(1, $1::int) i
        WHERE (i % 11 = 1 AND i % 3 <> 0 AND i % 7 <> 0) OR (i % 7 = 0 AND i % 3 <> 0 AND i % 2 = 1) OR i % 33 = 0
       -- C's to B's own members (go with B); B's own, to guests and to users in no organization.
       UNION ALL SELECT 20000 + i, $4, 'eq-' || i || '@example.com', i FROM generate_series($1::int + 1, $1::int + 50, 3) i
       UNION ALL SELECT 30000 + j, $3, 'b-guest-' || j || '@example.net', j FROM generate_series(1, 20) j
       UNION ALL SELECT 40000 + i, $3, 'eq-' || i || '@example.com', i FROM generate_series($1::int + 91, $1::int + 100) i
     )
     INSERT INTO invitations (id, organization_id, email, email_key, role, status, invited_by, expires_at, created_at, decided_at)
     SELECT ${idSql('inv', 'n')}, org, email, email, CASE WHEN j % 4 = 0 THEN 'ADMIN' ELSE 'MEMBER' END,
            (ARRAY['PENDING', 'PENDING', 'ACCEPTED', 'REVOKED', 'EXPIRED'])[1 + j % 5],
            'admin', $6::timestamptz, $5::timestamptz, CASE WHEN j % 5 >= 2 THEN $5::timestamptz + interval '1 day' END
       FROM planned`,
    [M, A, B, C, CREATED, FUTURE],
  );
}

// ---------------------------------------------------------------------------------------
// Comparison
// ---------------------------------------------------------------------------------------

/**
 * Every table's rows, as sorted JSON text, with only what must differ between a synchronous
 * deletion and a job taken out:
 * - events: only (type, data), and data.receiptId replaced by the receipt's subject (the
 *   receipt's ID is random per deletion); position, txid and occurred_at differ;
 * - sessions: terminated_at of the sessions the deletion terminated (its transaction's time);
 * - deletion_receipts: id, deleted_at, txid and chunk_txids;
 * - webhook_outbox_cursor: txid and position, which point into the events (a server process's
 *   webhook fan-out advances it past events whose positions differ anyway);
 * - organization_deletion_jobs (only the job has one) and the migrations' bookkeeping; the
 *   pgboss schema is not in public.
 */
async function normalizedTables(sql: Sql): Promise<Record<string, string[]>> {
  const tables = (
    await sql<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables
        WHERE table_schema = 'public' AND table_type = 'BASE TABLE'
          AND table_name NOT IN ('migrations', 'organization_deletion_jobs')
        ORDER BY table_name`,
    )
  ).map((row) => row.table_name);
  const rowsOf: Record<string, string> = {
    events: `SELECT jsonb_build_object('type', e.type, 'data',
                    CASE WHEN e.data ? 'receiptId'
                         THEN jsonb_set(e.data, '{receiptId}', to_jsonb('receipt of ' || coalesce(r.subject_id, 'nothing')))
                         ELSE e.data END)::text AS row
               FROM events e LEFT JOIN deletion_receipts r ON r.id = e.data->>'receiptId'`,
    sessions: `SELECT (to_jsonb(t) || CASE WHEN t.termination_reason = 'organization_deleted'
                                            THEN '{"terminated_at": "at the deletion"}'::jsonb ELSE '{}' END)::text AS row
                 FROM sessions t`,
    deletion_receipts: `SELECT (to_jsonb(t) - 'id' - 'deleted_at' - 'txid' - 'chunk_txids')::text AS row FROM deletion_receipts t`,
    webhook_outbox_cursor: `SELECT (to_jsonb(t) - 'txid' - 'position')::text AS row FROM webhook_outbox_cursor t`,
  };
  const result: Record<string, string[]> = {};
  for (const table of tables) {
    const rows = await sql<{ row: string }>(
      `SELECT row FROM (${rowsOf[table] ?? `SELECT to_jsonb(t)::text AS row FROM "${table}" t`}) x ORDER BY row COLLATE "C"`,
    );
    result[table] = rows.map((r) => r.row);
  }
  return result;
}

/** Per table: the rows only one side has (as multisets; at most 5 shown) and both row counts. */
function differences(expected: Record<string, string[]>, actual: Record<string, string[]>) {
  const report: Record<string, { rows: [number, number]; onlyExpected: string[]; onlyActual: string[] }> = {};
  for (const table of [...new Set([...Object.keys(expected), ...Object.keys(actual)])].sort()) {
    const counts = new Map<string, number>();
    for (const row of expected[table] ?? []) counts.set(row, (counts.get(row) ?? 0) + 1);
    for (const row of actual[table] ?? []) counts.set(row, (counts.get(row) ?? 0) - 1);
    const onlyExpected: string[] = [];
    const onlyActual: string[] = [];
    for (const [row, n] of counts) {
      for (let k = 0; k < Math.abs(n); k++) (n > 0 ? onlyExpected : onlyActual).push(row);
    }
    report[table] = {
      rows: [(expected[table] ?? []).length, (actual[table] ?? []).length],
      onlyExpected: onlyExpected.slice(0, 5),
      onlyActual: onlyActual.slice(0, 5),
    };
  }
  return report;
}

function expectSameTables(expected: Record<string, string[]>, actual: Record<string, string[]>) {
  const report = differences(expected, actual);
  for (const [table, entry] of Object.entries(report)) {
    expect({ table, ...entry }).toEqual({ table, rows: [entry.rows[0], entry.rows[0]], onlyExpected: [], onlyActual: [] });
  }
}

interface ReceiptRow {
  id: string;
  subject_id: string;
  terminated_session_count: number;
  removed_membership_count: number;
  cascaded_user_count: number;
  digest: string;
  chunk_txids: string[] | null;
}

const receipts = (sql: Sql) =>
  sql<ReceiptRow>(
    `SELECT id, subject_id, terminated_session_count, removed_membership_count, cascaded_user_count, digest,
            chunk_txids::text[] AS chunk_txids
       FROM deletion_receipts ORDER BY subject_id`,
  );

/** The events a job's chunks wrote, per transaction: which users each chunk's membership and session events name. */
async function chunksOf(sql: Sql, receipt: ReceiptRow) {
  return sql<{ txid: string; members: string[]; session_users: string[]; cascaded: string[] }>(
    `SELECT txid::text,
            coalesce(array_agg(data->>'userId') FILTER (WHERE type = 'organization_membership.deleted'), '{}') AS members,
            coalesce(array_agg(DISTINCT data->>'userId') FILTER (WHERE type = 'session.terminated'), '{}') AS session_users,
            coalesce(array_agg(data->>'userId') FILTER (WHERE type = 'user.deleted'), '{}') AS cascaded
       FROM events WHERE data->>'receiptId' = $1 AND type <> 'organization.deleted'
      GROUP BY txid ORDER BY txid`,
    [receipt.id],
  );
}

/**
 * What any job run must show besides equality: its receipt's chunk transactions are distinct
 * and are exactly the transactions of its chunk events; each member of the organization is
 * in exactly one chunk, with their session and user events in that same chunk.
 */
async function expectDisjointChunks(sql: Sql, receipt: ReceiptRow, members: number, chunkMembers: number) {
  const txids = receipt.chunk_txids!;
  expect(new Set(txids).size).toBe(txids.length);
  expect(txids.length).toBe(Math.ceil(members / chunkMembers));
  const chunks = await chunksOf(sql, receipt);
  expect(chunks.map((chunk) => chunk.txid).sort()).toEqual([...txids].sort());
  const seen = new Map<string, string>();
  for (const chunk of chunks) {
    expect(chunk.members.length).toBeLessThanOrEqual(chunkMembers);
    for (const user of chunk.members) {
      expect({ user, alsoIn: seen.get(user) }).toEqual({ user, alsoIn: undefined });
      seen.set(user, chunk.txid);
    }
    const inChunk = new Set(chunk.members);
    expect(chunk.session_users.filter((user) => !inChunk.has(user))).toEqual([]);
    expect(chunk.cascaded.filter((user) => !inChunk.has(user))).toEqual([]);
  }
  expect(seen.size).toBe(members);
}

/** Event counts per type. */
const eventCounts = (sql: Sql) =>
  sql<{ type: string; count: number }>(`SELECT type, count(*)::int AS count FROM events GROUP BY type ORDER BY type`);


/** Backends of this database waiting for a row lock (not pg-boss's advisory locks). */
async function lockWaiters(sql: Sql): Promise<number> {
  const [{ n }] = await sql<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
        AND wait_event IN ('transactionid', 'tuple')`,
  );
  return n;
}

/** A connection of the test's own that holds one user's row lock (FOR UPDATE) until release(). */
async function holdUserLock(databaseUrl: string, user: string): Promise<{ release(): Promise<void> }> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  await client.query('BEGIN');
  await client.query('SELECT id FROM users WHERE id = $1 FOR UPDATE', [user]);
  return {
    async release() {
      await client.query('ROLLBACK');
      await client.end();
    },
  };
}

const jobRow = async (sql: Sql, jobId: string) =>
  (
    await sql<{ status: string; processed_members: number; total_members: number; next_step: number; error: string | null }>(
      `SELECT status, processed_members, total_members, next_step, error FROM organization_deletion_jobs WHERE id = $1`,
      [jobId],
    )
  )[0];

// ---------------------------------------------------------------------------------------
// The synchronous reference, deleted once for all three runs
// ---------------------------------------------------------------------------------------

let reference: TestApp;
let expected: Record<string, string[]>;
let expectedReceipts: ReceiptRow[];
let expectedEventCounts: Array<{ type: string; count: number }>;
const workers: DeletionJobWorker[] = [];
const apps: TestApp[] = [];

beforeAll(async () => {
  reference = await startTestApp();
  apps.push(reference);
  await seedEqualityData(reference.sql);
  for (const organizationId of [A, B]) {
    const payload = ok(await reference.gql(DeleteOrganizationDocument, { id: organizationId, first: 1 })).deleteOrganization;
    expect(payload.deletedOrganizationId).toBe(organizationId);
  }
  expected = await normalizedTables(reference.sql);
  expectedReceipts = await receipts(reference.sql);
  expectedEventCounts = await eventCounts(reference.sql);
}, 120_000);

afterAll(async () => {
  for (const worker of workers) await worker.stop(5_000);
  for (const app of apps) await app.close();
});

/** The reference deletion's receipts: what the seed was built for, so a broken seed cannot make equality trivial. */
it('the reference: each deletion cascades, retains and terminates what the seed was built to exercise', () => {
  const multiples = (n: number, of: number) => Math.floor(n / of);
  const retainedByA = multiples(MEMBERS, 3) + multiples(MEMBERS, 7) - multiples(MEMBERS, 21);
  const bMembersFromA = multiples(MEMBERS, 7);
  const [a, b] = [A, B].map((subject) => expectedReceipts.find((receipt) => receipt.subject_id === subject)!);
  expect(a).toMatchObject({ removed_membership_count: MEMBERS, cascaded_user_count: MEMBERS - retainedByA, chunk_txids: null });
  expect(b).toMatchObject({
    removed_membership_count: bMembersFromA + B_ONLY,
    // Those of A's members who were in B but not C, and B's own.
    cascaded_user_count: bMembersFromA - multiples(MEMBERS, 21) + B_ONLY,
  });
  expect(a.terminated_session_count).toBeGreaterThan(MEMBERS);
  // Left behind: C, its members, their sessions (none naming A or B), C's invitations to retained members.
  expect(expected.organizations.map((row) => JSON.parse(row).id)).toEqual([C]);
  expect(expected.sessions.length).toBeGreaterThan(0);
  expect(expected.sessions.filter((row) => [A, B].includes(JSON.parse(row).organization_id))).toEqual([]);
  expect(expected.invitations.length).toBeGreaterThan(0);
  expect(expected.invitations.filter((row) => JSON.parse(row).organization_id !== C)).toEqual([]);
  expect(expected.organization_domains.map((row) => JSON.parse(row).domain)).toEqual(['c.example.com', 'shared.example.com']);
  expect(expected.users).toHaveLength(retainedByA - (bMembersFromA - multiples(MEMBERS, 21)) + C_ONLY + NOBODY);
  const session = (user: number, k: number) => {
    const row = expected.sessions.map((text) => JSON.parse(text)).find((s) => s.id === id('ses', (user - 1) * 5 + k));
    return row && { organization_id: row.organization_id, terminated: row.terminated_at !== null, reason: row.termination_reason };
  };
  // A retained member (12: in A and C): active sessions terminated (the one in C's context keeps it), inactive ones detached.
  expect([1, 2, 3, 5].map((k) => session(12, k))).toEqual([
    { organization_id: null, terminated: true, reason: 'organization_deleted' },
    { organization_id: null, terminated: true, reason: 'organization_deleted' },
    { organization_id: null, terminated: true, reason: 'terminated_by_request' },
    { organization_id: C, terminated: true, reason: 'organization_deleted' },
  ]);
  expect(session(15, 4)).toEqual({ organization_id: null, terminated: false, reason: null }); // expired, named A
  // A user in no organization: their active session that named A is detached, still active.
  expect(session(MEMBERS + 91, 5)).toEqual({ organization_id: null, terminated: false, reason: null });
  // A cascaded member (1) and one cascaded by the second deletion (7: in A and B): no session left.
  expect([1, 2, 3, 4, 5].map((k) => [session(1, k), session(7, k)]).flat().filter(Boolean)).toEqual([]);
});

it('a job in chunks of 97 ends in the same database, receipts and events as deleteOrganization', async () => {
  const app = await startTestApp();
  apps.push(app);
  await seedEqualityData(app.sql);
  const worker = await startJobWorker(app, { DELETION_JOB_CHUNK_MEMBERS: '97' });
  workers.push(worker);
  for (const organizationId of [A, B]) {
    const scheduled = ok(await app.gql(ScheduleOrganizationDeletionDocument, { id: organizationId })).scheduleOrganizationDeletion;
    const job = await untilJobEnds(app, scheduled.id);
    expect(job).toMatchObject({ status: 'SUCCEEDED', error: null, processedMembers: scheduled.totalMembers });
    const sync = expectedReceipts.find((receipt) => receipt.subject_id === organizationId)!;
    expect(job.receipt).toMatchObject({
      subjectId: organizationId,
      terminatedSessionCount: sync.terminated_session_count,
      removedMembershipCount: sync.removed_membership_count,
      cascadedUserCount: sync.cascaded_user_count,
      digest: sync.digest,
    });
  }

  expectSameTables(expected, await normalizedTables(app.sql));
  expect(await eventCounts(app.sql)).toEqual(expectedEventCounts);
  const [a] = await receipts(app.sql);
  expect(a.subject_id).toBe(A);
  await expectDisjointChunks(app.sql, a, MEMBERS, 97);
}, 120_000);

describe('durable', () => {
  const processes: ServerProcess[] = [];
  const clients: Client[] = [];
  afterAll(async () => {
    for (const client of clients) await client.end();
    // The restarted process shares the first one's database: kill them all before the first's cleanup drops it.
    for (const server of processes) if (server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
    for (const server of processes) await server.cleanup();
  });

  it('a server killed with SIGKILL mid-chunk resumes after restart: nothing done twice, nothing skipped, the same end state', async () => {
    const CHUNK = 37;
    const env = {
      DELETION_JOB_CHUNK_MEMBERS: String(CHUNK),
      DELETION_JOB_STEP_EXPIRY_SECONDS: '2',
      DELETION_JOB_POLL_INTERVAL_MS: '500',
      DELETION_JOB_RETRY_DELAY_SECONDS: '0',
      DELETION_JOB_MAX_ATTEMPTS: '10',
      // The chunk held up below waits on our lock: it must neither time out nor give up meanwhile.
      DB_LOCK_TIMEOUT_MS: '60000',
    };
    const first = await startServerProcess(env);
    processes.push(first);
    const client = new Client({ connectionString: first.databaseUrl });
    await client.connect();
    clients.push(client);
    const sql: Sql = async (text, params) => (await client.query(text, params)).rows;
    await seedEqualityData(sql);

    // The 11th chunk (step 10) gets stuck on one of its members, held by us: the process dies
    // with that chunk's transaction open, after ten chunks committed.
    const stuck = userId(10 * CHUNK + 5);
    const lock = await holdUserLock(first.databaseUrl, stuck);
    let released = false;
    try {
      const scheduled = (await must(first, ScheduleOrganizationDeletionDocument, { id: A })).scheduleOrganizationDeletion;
      await until(async () => (await lockWaiters(sql)) >= 1, 'the 11th chunk to wait for the held user');
      const before = await jobRow(sql, scheduled.id);
      expect(before).toMatchObject({ status: 'RUNNING', processed_members: 10 * CHUNK, next_step: 10 });
      expect(before.processed_members).toBeGreaterThan(0);
      expect(before.processed_members).toBeLessThan(before.total_members);

      first.child.kill('SIGKILL');
      expect(await first.exited).toBeNull();
      await lock.release();
      released = true;
      // The dead process's open transaction rolls back: still ten chunks done.
      await until(async () => (await lockWaiters(sql)) === 0, 'the dead process’s backend to go');
      expect(await jobRow(sql, scheduled.id)).toMatchObject({ processed_members: 10 * CHUNK, next_step: 10 });
      expect(await sql(`SELECT 1 FROM memberships WHERE organization_id = $1 AND user_id = $2`, [A, stuck])).toHaveLength(1);

      const second = await startServerProcess({ ...env, DATABASE_URL: first.databaseUrl });
      processes.push(second);
      const ended = await until(async () => {
        const row = await jobRow(sql, scheduled.id);
        return row.status === 'SUCCEEDED' || row.status === 'FAILED' ? row : undefined;
      }, 'the job to end after the restart');
      expect(ended).toMatchObject({ status: 'SUCCEEDED', processed_members: MEMBERS, error: null });
      // Resumed through the queue: the step the dead process held expired and was delivered again.
      const [step10] = await sql<{ retry_count: number }>(
        `SELECT retry_count FROM pgboss.job WHERE name = 'organization_deletion' AND (data->>'step')::int = 10 AND data->>'jobId' = $1`,
        [scheduled.id],
      );
      expect(step10.retry_count).toBeGreaterThanOrEqual(1);

      const b = (await must(second, ScheduleOrganizationDeletionDocument, { id: B })).scheduleOrganizationDeletion;
      await until(async () => (await jobRow(sql, b.id)).status === 'SUCCEEDED', 'B’s job to succeed');
    } finally {
      if (!released) await lock.release();
    }

    expectSameTables(expected, await normalizedTables(sql));
    // Nothing written twice: per type, as many events as the synchronous deletions wrote.
    expect(await eventCounts(sql)).toEqual(expectedEventCounts);
    const got = await receipts(sql);
    expect(got.map(({ subject_id, terminated_session_count, removed_membership_count, cascaded_user_count, digest }) => ({
      subject_id, terminated_session_count, removed_membership_count, cascaded_user_count, digest,
    }))).toEqual(expectedReceipts.map(({ subject_id, terminated_session_count, removed_membership_count, cascaded_user_count, digest }) => ({
      subject_id, terminated_session_count, removed_membership_count, cascaded_user_count, digest,
    })));
    await expectDisjointChunks(sql, got[0], MEMBERS, CHUNK);
  }, 180_000);

  it('two workers at once never run the same chunk, even when a step outlives its expiry and is delivered to both', async () => {
    const CHUNK = 97;
    const app = await startTestApp({ DB_LOCK_TIMEOUT_MS: '60000' });
    apps.push(app);
    await seedEqualityData(app.sql);
    const env = {
      DELETION_JOB_CHUNK_MEMBERS: String(CHUNK),
      DELETION_JOB_STEP_EXPIRY_SECONDS: '2',
      DELETION_JOB_RETRY_DELAY_SECONDS: '0',
      DELETION_JOB_MAX_ATTEMPTS: '10',
    };
    workers.push(await startJobWorker(app, env), await startJobWorker(app, env));

    // Step 5 waits on a member we hold past the step's expiry: the queue hands the same step out
    // again while the first delivery still runs; the second delivery waits for the organization
    // row the first holds, then finds its step done and changes nothing.
    const lock = await holdUserLock(app.databaseUrl, userId(5 * CHUNK + 3));
    let released = false;
    try {
      const scheduled = ok(await app.gql(ScheduleOrganizationDeletionDocument, { id: A })).scheduleOrganizationDeletion;
      await until(async () => {
        const [step5] = await app.sql<{ retry_count: number }>(
          `SELECT retry_count FROM pgboss.job WHERE name = 'organization_deletion' AND (data->>'step')::int = 5 AND data->>'jobId' = $1`,
          [scheduled.id],
        );
        return (step5?.retry_count ?? 0) >= 1 && (await lockWaiters(app.sql)) >= 2;
      }, 'step 5 to be delivered a second time while the first delivery waits');
      expect(await jobRow(app.sql, scheduled.id)).toMatchObject({ status: 'RUNNING', processed_members: 5 * CHUNK, next_step: 5 });
      await lock.release();
      released = true;
      const job = await untilJobEnds(app, scheduled.id);
      expect(job).toMatchObject({ status: 'SUCCEEDED', processedMembers: MEMBERS, error: null });
    } finally {
      if (!released) await lock.release();
    }
    const b = ok(await app.gql(ScheduleOrganizationDeletionDocument, { id: B })).scheduleOrganizationDeletion;
    expect(await untilJobEnds(app, b.id)).toMatchObject({ status: 'SUCCEEDED' });

    expectSameTables(expected, await normalizedTables(app.sql));
    expect(await eventCounts(app.sql)).toEqual(expectedEventCounts);
    const [a] = await receipts(app.sql);
    await expectDisjointChunks(app.sql, a, MEMBERS, CHUNK);
  }, 120_000);
});
