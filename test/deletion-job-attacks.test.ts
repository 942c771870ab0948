import { Client } from 'pg';
import {
  AddMemberDocument,
  DeleteOrganizationDocument,
  DeleteUserDocument,
  DeletionReceiptRemovedMembershipsDocument,
  GetDeletionJobDocument,
  InviteMemberDocument,
  ScheduleOrganizationDeletionDocument,
} from '../src/generated/graphql';
import type { DeletionJobWorker } from '../src/deletion/deletion-job.worker';
import { startTestApp, type GraphQLResponse, type TestApp } from './support/app';
import { expectedDigest } from './support/deletion-fixtures';
import { startJobWorker, until, untilJobEnds } from './support/deletion-jobs';
import { seedLargeOrganization } from './support/deletion-seed';
import { errorCode, factory, invariantViolations, ok, tableFingerprints, UNKNOWN_ORGANIZATION, untilEventsVisible } from './support/factory';
import { asKey, createApiKey } from './support/keys';
import { loadConfig } from '../src/config';
import { createLogger } from '../src/logger';
import { startWebhookQueue } from '../src/webhooks/webhook-queue';

/**
 * Issue 15, attacked: scheduleOrganizationDeletion and deletionJob as a new user and as an
 * attacker would call them. Who may schedule and read a job, hostile IDs, concurrent
 * scheduling, writes racing the job (a member joining another organization mid-job must be
 * retained), receipt cursors of other receipts, and the SYNC_DELETION_MAX_MEMBERS boundary.
 * Every refusal is checked against the database as well as the response.
 */

const MAX_SYNC = 5;
let app: TestApp;
let worker: DeletionJobWorker | undefined;
beforeAll(async () => {
  // A long lock timeout: some tests hold a member's row lock to keep the job between chunks.
  app = await startTestApp({ SYNC_DELETION_MAX_MEMBERS: String(MAX_SYNC), DB_LOCK_TIMEOUT_MS: '30000' });
  // pg-boss's schema and queue exist (a worker started once), and no worker runs: jobs wait QUEUED.
  await (await startJobWorker(app)).stop(1_000);
});
afterEach(async () => {
  await worker?.stop(5_000);
  worker = undefined;
});
afterAll(() => app.close());

type AnyResponse = GraphQLResponse<any>;
const gql = (query: string, variables: Record<string, unknown>, token?: string | null): Promise<AnyResponse> =>
  app.gql<any, Record<string, unknown>>(query, variables, { token });

const SCHEDULE = `mutation S($id: ID!) { scheduleOrganizationDeletion(id: $id) { id organizationId status totalMembers processedMembers } }`;
const ACCEPT = `mutation A($id: ID!) { acceptInvitation(id: $id) { id } }`;
const JOB = `query J($id: ID!) { deletionJob(id: $id) { id organizationId status totalMembers processedMembers error receipt { id removedMembershipCount } } }`;

const jobRows = (organizationId: string) =>
  app.sql<{ id: string; status: string; actor: string }>(
    `SELECT id, status, actor FROM organization_deletion_jobs WHERE organization_id = $1`,
    [organizationId],
  );
const markOf = async (organizationId: string) =>
  (await app.sql<{ deletion_job_id: string | null }>(`SELECT deletion_job_id FROM organizations WHERE id = $1`, [organizationId]))[0]
    ?.deletion_job_id;

/** An organization with an OWNER, a second OWNER, an ADMIN and a MEMBER, each signed in; and a signed-in outsider. */
async function organizationWithRoles() {
  const f = factory(app);
  const organization = await f.organization();
  const owner = await f.signedInMember(organization.id, 'OWNER');
  const coOwner = await f.signedInMember(organization.id, 'OWNER');
  const admin = await f.signedInMember(organization.id, 'ADMIN');
  const member = await f.signedInMember(organization.id, 'MEMBER');
  const outsiderUser = await f.user();
  const outsider = { user: outsiderUser, token: (await f.session(outsiderUser.id)).token };
  return { organization, owner, coOwner, admin, member, outsider };
}

/** A job scheduled by the admin on a fresh seeded organization (QUEUED: no worker runs). */
async function queuedJob(members = 2) {
  const seeded = await seedLargeOrganization(app, members, 1);
  const job = ok(await app.gql(ScheduleOrganizationDeletionDocument, { id: seeded.organizationId })).scheduleOrganizationDeletion;
  return { seeded, job };
}

/** A refusal whose data is null, whose code is `code`, and that changed no row of any table. */
async function expectRefusedUnchanged(call: () => Promise<AnyResponse>, code: string): Promise<AnyResponse> {
  const before = await tableFingerprints(app);
  const response = await call();
  expect(errorCode(response)).toBe(code);
  expect(response.data?.scheduleOrganizationDeletion ?? response.data?.deletionJob ?? null).toBeNull();
  expect(await tableFingerprints(app)).toEqual(before);
  return response;
}


/** A connection of the test's own holding one user's row lock (FOR UPDATE) until release(). */
async function holdUserLock(user: string): Promise<{ release(): Promise<void> }> {
  const client = new Client({ connectionString: app.databaseUrl });
  await client.connect();
  await client.query('BEGIN');
  await client.query('SELECT id FROM users WHERE id = $1 FOR UPDATE', [user]);
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      await client.query('ROLLBACK');
      await client.end();
    },
  };
}

/** Backends of this database waiting for a row lock. */
async function rowLockWaiters(): Promise<number> {
  const [{ n }] = await app.sql<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
        AND wait_event IN ('transactionid', 'tuple')`,
  );
  return n;
}

describe('who may schedule a deletion job', () => {
  it('an ADMIN or MEMBER of the organization is FORBIDDEN, an outsider gets NOT_FOUND worded as for no such organization; nothing changes', async () => {
    const w = await organizationWithRoles();
    for (const caller of [w.admin, w.member]) {
      const response = await expectRefusedUnchanged(() => gql(SCHEDULE, { id: w.organization.id }, caller.token), 'FORBIDDEN');
      expect(response.errors?.[0].message).toContain('OWNER');
    }
    const real = await expectRefusedUnchanged(() => gql(SCHEDULE, { id: w.organization.id }, w.outsider.token), 'NOT_FOUND');
    const unknown = await expectRefusedUnchanged(() => gql(SCHEDULE, { id: UNKNOWN_ORGANIZATION }, w.outsider.token), 'NOT_FOUND');
    expect(real.errors?.[0].message.replace(w.organization.id, '<id>')).toBe(unknown.errors?.[0].message.replace(UNKNOWN_ORGANIZATION, '<id>'));
    expect(await markOf(w.organization.id)).toBeNull();
    expect(await jobRows(w.organization.id)).toEqual([]);
  });

  it('API keys: without ORGANIZATIONS_DELETE FORBIDDEN (the same answer for a real and an unknown organization); with it, the job is scheduled', async () => {
    const w = await organizationWithRoles();
    for (const scopes of [['ORGANIZATIONS_WRITE', 'ORGANIZATIONS_READ'], ['USERS_DELETE']]) {
      const { secret } = await createApiKey(app, scopes);
      const real = await expectRefusedUnchanged(
        () => asKey(app, secret, 'ScheduleOrganizationDeletion', { id: w.organization.id }),
        'FORBIDDEN',
      );
      const unknown = await expectRefusedUnchanged(
        () => asKey(app, secret, 'ScheduleOrganizationDeletion', { id: UNKNOWN_ORGANIZATION }),
        'FORBIDDEN',
      );
      expect(real.errors?.[0].message).toBe(unknown.errors?.[0].message);
    }
    expect(await markOf(w.organization.id)).toBeNull();

    const deleter = await createApiKey(app, ['ORGANIZATIONS_DELETE']);
    const job = ok(await asKey<any>(app, deleter.secret, 'ScheduleOrganizationDeletion', { id: w.organization.id }))
      .scheduleOrganizationDeletion;
    expect(job).toMatchObject({ organizationId: w.organization.id, status: 'QUEUED', totalMembers: 4 });
    expect(await jobRows(w.organization.id)).toEqual([{ id: job.id, status: 'QUEUED', actor: `api_key:${deleter.id}` }]);
    expect(await markOf(w.organization.id)).toBe(job.id);
  });

  it('on an organization already being deleted: its ADMIN/MEMBER stay FORBIDDEN and an outsider NOT_FOUND; the job is unchanged', async () => {
    const w = await organizationWithRoles();
    const job = ok(await gql(SCHEDULE, { id: w.organization.id }, w.owner.token)).scheduleOrganizationDeletion;
    await expectRefusedUnchanged(() => gql(SCHEDULE, { id: w.organization.id }, w.member.token), 'FORBIDDEN');
    await expectRefusedUnchanged(() => gql(SCHEDULE, { id: w.organization.id }, w.admin.token), 'FORBIDDEN');
    await expectRefusedUnchanged(() => gql(SCHEDULE, { id: w.organization.id }, w.outsider.token), 'NOT_FOUND');
    expect(await jobRows(w.organization.id)).toEqual([{ id: job.id, status: 'QUEUED', actor: `user:${w.owner.user.id}` }]);
  });

  it('a second OWNER who schedules an organization already being deleted gets the job back and can follow it with deletionJob', async () => {
    const w = await organizationWithRoles();
    const first = ok(await gql(SCHEDULE, { id: w.organization.id }, w.owner.token)).scheduleOrganizationDeletion;
    const again = ok(await gql(SCHEDULE, { id: w.organization.id }, w.coOwner.token)).scheduleOrganizationDeletion;
    expect(again.id).toBe(first.id);
    expect(await jobRows(w.organization.id)).toHaveLength(1);
    // The API just handed this OWNER the job's ID as "your job": following it must not read null.
    const followed = ok(await gql(JOB, { id: again.id }, w.coOwner.token)).deletionJob;
    expect(followed).toMatchObject({ id: first.id, organizationId: w.organization.id });
  });
});

describe('who may read a deletion job', () => {
  it('the scheduling OWNER reads it; another signed-in user (even a co-OWNER of the organization) reads null, as for no such job', async () => {
    const w = await organizationWithRoles();
    const job = ok(await gql(SCHEDULE, { id: w.organization.id }, w.owner.token)).scheduleOrganizationDeletion;
    expect(ok(await gql(JOB, { id: job.id }, w.owner.token)).deletionJob).toMatchObject({ id: job.id, status: 'QUEUED' });
    for (const caller of [w.outsider, w.member, w.admin]) {
      const real = await gql(JOB, { id: job.id }, caller.token);
      const unknown = await gql(JOB, { id: 'djb_01ARZ3NDEKTSV4RRFFQ69G5FAV' }, caller.token);
      expect(real.errors).toBeUndefined();
      expect(real.data).toEqual({ deletionJob: null });
      expect(real.data).toEqual(unknown.data);
    }
  });

  it('a key with USERS_DELETE only is FORBIDDEN for every job ID alike; a key with ORGANIZATIONS_DELETE reads any job', async () => {
    const { job } = await queuedJob();
    const usersKey = await createApiKey(app, ['USERS_DELETE', 'ORGANIZATIONS_READ']);
    const real = await asKey(app, usersKey.secret, 'GetDeletionJob', { id: job.id });
    const unknown = await asKey(app, usersKey.secret, 'GetDeletionJob', { id: 'djb_01ARZ3NDEKTSV4RRFFQ69G5FAV' });
    expect(errorCode(real)).toBe('FORBIDDEN');
    expect(real.data?.deletionJob ?? null).toBeNull();
    expect(real.errors?.[0].message).toBe(unknown.errors?.[0].message);
    expect(JSON.stringify(real.errors)).not.toContain(job.id);

    const orgKey = await createApiKey(app, ['ORGANIZATIONS_DELETE']);
    expect(ok(await asKey<any>(app, orgKey.secret, 'GetDeletionJob', { id: job.id })).deletionJob).toMatchObject({
      id: job.id,
      status: 'QUEUED',
    });
  });

  it('no token: UNAUTHENTICATED for both operations, nothing changes', async () => {
    const { seeded: other } = { seeded: await seedLargeOrganization(app, 1, 1) };
    await expectRefusedUnchanged(() => gql(SCHEDULE, { id: other.organizationId }, null), 'UNAUTHENTICATED');
    await expectRefusedUnchanged(() => gql(JOB, { id: 'djb_01ARZ3NDEKTSV4RRFFQ69G5FAV' }, null), 'UNAUTHENTICATED');
    expect(await markOf(other.organizationId)).toBeNull();
  });
});

describe('hostile IDs', () => {
  const hostile = (valid: string) => [
    '',
    `${valid.slice(0, 10)}\u0000${valid.slice(11)}`,
    `${valid}\u0000`,
    valid.toLowerCase(),
    `${valid}X`,
    `${valid}' OR '1'='1`,
    `ZZZ_${'9'.repeat(26)}`,
    `${valid.slice(0, 4)}${'A'.repeat(20_000)}`,
  ];

  it('scheduleOrganizationDeletion: BAD_USER_INPUT naming id, no echo, no change, for malformed IDs and IDs of other kinds', async () => {
    const { seeded, job } = await queuedJob(1);
    const target = await seedLargeOrganization(app, 1, 1);
    const inputs = [
      ...hostile(target.organizationId),
      job.id,
      seeded.soloUserIds[0],
      // An organization ID's body under the wrong prefix.
      `usr_${target.organizationId.slice(4)}`,
    ];
    for (const id of inputs) {
      const response = await expectRefusedUnchanged(() => gql(SCHEDULE, { id }), 'BAD_USER_INPUT');
      expect(response.errors?.[0].extensions?.fields).toEqual([expect.objectContaining({ field: 'id' })]);
      if (id.length >= 6) expect(JSON.stringify(response.errors)).not.toContain(JSON.stringify(id).slice(1, -1));
    }
    expect(await markOf(target.organizationId)).toBeNull();
  });

  it('deletionJob: BAD_USER_INPUT for malformed IDs and IDs of other kinds (an organization, a receipt), never a 500, no echo', async () => {
    const { seeded, job } = await queuedJob(1);
    for (const id of [...hostile(job.id), seeded.organizationId, `drc_${job.id.slice(4)}`]) {
      const response = await gql(JOB, { id });
      expect(response.status).toBe(200);
      expect(errorCode(response)).toBe('BAD_USER_INPUT');
      expect(response.data?.deletionJob ?? null).toBeNull();
      if (id.length >= 6) expect(JSON.stringify(response.errors)).not.toContain(JSON.stringify(id).slice(1, -1));
    }
  });
});

describe('no deletion worker ever started', () => {
  it('with only webhook delivery having started pg-boss (DELETION_JOBS=false everywhere), scheduling answers SERVICE_UNAVAILABLE, never a job whose step was not enqueued', async () => {
    // A database of its own: this file's has had a deletion worker start already.
    const other = await startTestApp();
    try {
      const config = loadConfig({ NODE_ENV: 'test' });
      const queue = await startWebhookQueue(other.serverDatabaseUrl, config.webhooks, createLogger(config.logLevel));
      await queue.stop(1_000);
      const organization = await factory(other).organization();
      const before = await tableFingerprints(other);
      const response = await other.gql(ScheduleOrganizationDeletionDocument, { id: organization.id });
      if (!response.errors) {
        // Accepted: then its first step must be in the queue, or no worker will ever run the job and the
        // organization stays unreadable and closed to writes for good (scheduling again returns the same QUEUED job).
        // Nor does it recover once a deletion worker starts and the caller schedules again.
        const job = response.data!.scheduleOrganizationDeletion;
        await (await startJobWorker(other)).stop(1_000);
        const again = ok(await other.gql(ScheduleOrganizationDeletionDocument, { id: organization.id })).scheduleOrganizationDeletion;
        const [{ steps }] = await other.sql<{ steps: number }>(
          `SELECT count(*)::int AS steps FROM pgboss.job WHERE data->>'jobId' = $1`,
          [job.id],
        );
        expect({ accepted: job.status, again: again.id === job.id, queuedSteps: steps }).toEqual({ accepted: 'QUEUED', again: true, queuedSteps: 1 });
      }
      expect(errorCode(response)).toBe('SERVICE_UNAVAILABLE');
      expect(await tableFingerprints(other)).toEqual(before);
      expect(await other.sql(`SELECT 1 FROM organizations WHERE id = $1 AND deletion_job_id IS NULL`, [organization.id])).toHaveLength(1);
    } finally {
      await other.close();
    }
  });
});

describe('races with the scheduling', () => {
  it('five concurrent schedules of one organization (admin, a key, its OWNER) make one job, and all five answers name it', async () => {
    const w = await organizationWithRoles();
    const key = await createApiKey(app, ['ORGANIZATIONS_DELETE']);
    const responses = await Promise.all([
      gql(SCHEDULE, { id: w.organization.id }),
      gql(SCHEDULE, { id: w.organization.id }),
      gql(SCHEDULE, { id: w.organization.id }, w.owner.token),
      asKey<any>(app, key.secret, 'ScheduleOrganizationDeletion', { id: w.organization.id }),
      gql(SCHEDULE, { id: w.organization.id }),
    ]);
    const ids = responses.map((response) => ok(response).scheduleOrganizationDeletion.id);
    expect(new Set(ids).size).toBe(1);
    const rows = await jobRows(w.organization.id);
    expect(rows).toHaveLength(1);
    expect(rows[0].id).toBe(ids[0]);
    expect(await markOf(w.organization.id)).toBe(ids[0]);
    // One step 0 enqueued, not five.
    const [{ steps }] = await app.sql<{ steps: number }>(
      `SELECT count(*)::int AS steps FROM pgboss.job WHERE name = 'organization_deletion' AND data->>'jobId' = $1`,
      [ids[0]],
    );
    expect(steps).toBe(1);
  });

  it('deleteOrganization and scheduleOrganizationDeletion at once: exactly one wins, the other answers NOT_FOUND, no half state', async () => {
    const outcomes: string[] = [];
    for (let round = 0; round < 4; round++) {
      const seeded = await seedLargeOrganization(app, 4, 1);
      const calls = [
        app.gql(DeleteOrganizationDocument, { id: seeded.organizationId }),
        app.gql(ScheduleOrganizationDeletionDocument, { id: seeded.organizationId }),
      ] as const;
      const [deleted, scheduled] = round % 2 ? await Promise.all(calls) : (await Promise.all([calls[1], calls[0]])).reverse();
      const deleteWon = !deleted.errors;
      const scheduleWon = !scheduled.errors;
      expect(deleteWon !== scheduleWon).toBe(true);
      const jobs = await jobRows(seeded.organizationId);
      if (deleteWon) {
        expect(errorCode(scheduled as AnyResponse)).toBe('NOT_FOUND');
        expect(jobs).toEqual([]);
        expect(await app.sql(`SELECT 1 FROM organizations WHERE id = $1`, [seeded.organizationId])).toHaveLength(0);
        outcomes.push('deleted');
      } else {
        expect(errorCode(deleted as AnyResponse)).toBe('NOT_FOUND');
        expect(jobs).toHaveLength(1);
        expect(await markOf(seeded.organizationId)).toBe(jobs[0].id);
        expect(await app.sql(`SELECT 1 FROM memberships WHERE organization_id = $1`, [seeded.organizationId])).toHaveLength(4);
        expect(await app.sql(`SELECT 1 FROM deletion_receipts WHERE subject_id = $1`, [seeded.organizationId])).toHaveLength(0);
        outcomes.push('scheduled');
      }
    }
    expect(await invariantViolations(app)).toEqual([]);
  });

  it('addMember racing the scheduling: each call joins before the mark (and the job removes it) or answers NOT_FOUND; totalMembers counts exactly the joined', async () => {
    const seeded = await seedLargeOrganization(app, 2, 1);
    const f = factory(app);
    const newcomers = await Promise.all(Array.from({ length: 8 }, () => f.user()));
    const adds = newcomers.map((user) => app.gql(AddMemberDocument, { input: { organizationId: seeded.organizationId, userId: user.id, role: 'MEMBER' } }));
    const [scheduled, ...added] = await Promise.all([app.gql(ScheduleOrganizationDeletionDocument, { id: seeded.organizationId }), ...adds]);
    const job = ok(scheduled).scheduleOrganizationDeletion;
    const joined = newcomers.filter((_, i) => !added[i].errors);
    added.filter((response) => response.errors).forEach((response) => expect(errorCode(response)).toBe('NOT_FOUND'));
    expect(job.totalMembers).toBe(2 + joined.length);

    worker = await startJobWorker(app, { DELETION_JOB_CHUNK_MEMBERS: '3' });
    const done = await untilJobEnds(app, job.id);
    expect(done).toMatchObject({ status: 'SUCCEEDED', totalMembers: 2 + joined.length, processedMembers: 2 + joined.length });
    // The newcomers had no other organization: those who joined were cascaded; the others are untouched.
    expect(await app.sql(`SELECT 1 FROM users WHERE id = ANY($1)`, [joined.map((u) => u.id)])).toHaveLength(0);
    const refused = newcomers.filter((u) => !joined.includes(u)).map((u) => u.id);
    expect(await app.sql(`SELECT 1 FROM users WHERE id = ANY($1)`, [refused])).toHaveLength(refused.length);
    expect(await invariantViolations(app)).toEqual([]);
  });
});

describe('sessions racing the scheduling and the job', () => {
  it('createSession in the organization’s context, racing the scheduling and then the chunks: NOT_FOUND or a session the job ends; none survives', async () => {
    const seeded = await seedLargeOrganization(app, 6, 1);
    const users = [...seeded.soloUserIds, ...seeded.sharedUserIds].sort();
    const create = (userId: string) =>
      gql(`mutation C($input: CreateSessionInput!) { createSession(input: $input) { session { id } } }`, {
        input: { userId, organizationId: seeded.organizationId },
      });
    const [scheduled, ...racing] = await Promise.all([
      app.gql(ScheduleOrganizationDeletionDocument, { id: seeded.organizationId }),
      ...users.map(create),
    ]);
    const job = ok(scheduled).scheduleOrganizationDeletion;
    worker = await startJobWorker(app, { DELETION_JOB_CHUNK_MEMBERS: '1' });
    // More attempts while the chunks run: every one must be refused.
    const during = await Promise.all(users.flatMap((user) => [create(user), create(user)]));
    await untilJobEnds(app, job.id);
    for (const response of [...racing, ...during]) {
      if (response.errors) expect(errorCode(response)).toBe('NOT_FOUND');
    }
    for (const response of during) expect(errorCode(response)).toBe('NOT_FOUND');
    expect(await app.sql(`SELECT 1 FROM sessions WHERE user_id = ANY($1) AND terminated_at IS NULL`, [users])).toEqual([]);
    expect(await app.sql(`SELECT 1 FROM sessions WHERE organization_id = $1`, [seeded.organizationId])).toEqual([]);
    expect(await invariantViolations(app)).toEqual([]);
  });
});

describe('writes while the job runs (held between chunks by a member row lock)', () => {
  it('solo members who join another organization mid-job (addMember, acceptInvitation) are retained; one already cascaded cannot join; deleteUser of a later member goes through', async () => {
    // 10 members, chunks of 2: users 1..10 in ID order; odd ones are solo, even ones also in `other`.
    const seeded = await seedLargeOrganization(app, 10, 1);
    const users = [...seeded.soloUserIds, ...seeded.sharedUserIds].sort();
    const f = factory(app);
    const elsewhere = await f.organization();
    const [{ email: inviteeEmail }] = await app.sql<{ email: string }>(`SELECT email FROM users WHERE id = $1`, [users[8]]);
    const inviteeToken = (await f.session(users[8])).token;
    const invitation = ok(await app.gql(InviteMemberDocument, { input: { organizationId: elsewhere.id, email: inviteeEmail } })).inviteMember;
    const job = ok(await app.gql(ScheduleOrganizationDeletionDocument, { id: seeded.organizationId })).scheduleOrganizationDeletion;

    // Hold user 3 (first of chunk 2): chunk 1 commits, chunk 2 waits in LOCK_CHUNK.
    const lock = await holdUserLock(users[2]);
    try {
      worker = await startJobWorker(app, { DELETION_JOB_CHUNK_MEMBERS: '2', DELETION_JOB_MAX_ATTEMPTS: '10', DELETION_JOB_RETRY_DELAY_SECONDS: '0' });
      await until(async () => (await rowLockWaiters()) > 0 && (await jobRows(seeded.organizationId))[0].status === 'RUNNING', 'chunk 2 to wait');
      const [{ processed_members: processed }] = await app.sql<{ processed_members: number }>(
        `SELECT processed_members FROM organization_deletion_jobs WHERE id = $1`,
        [job.id],
      );
      expect(processed).toBe(2);

      // User 1 (solo, chunk 1) is gone already: joining answers NOT_FOUND.
      expect(errorCode(await app.gql(AddMemberDocument, { input: { organizationId: elsewhere.id, userId: users[0], role: 'MEMBER' } }))).toBe(
        'NOT_FOUND',
      );
      // While the job runs: user 5 (solo, chunk 3) is added to another organization, user 9 (solo, chunk 5) accepts an
      // invitation to it, user 7 (solo, chunk 4) deletes their account.
      ok(await app.gql(AddMemberDocument, { input: { organizationId: elsewhere.id, userId: users[4], role: 'MEMBER' } }));
      ok(await gql(ACCEPT, { id: invitation.id }, inviteeToken));
      ok(await app.gql(DeleteUserDocument, { id: users[6] }));
    } finally {
      await lock.release();
    }
    const done = await untilJobEnds(app, job.id);
    expect(done).toMatchObject({ status: 'SUCCEEDED', totalMembers: 10, processedMembers: 9 });
    expect(done.receipt).toMatchObject({ removedMembershipCount: 9, cascadedUserCount: 2 });

    // Users 5 and 9 kept their accounts and their new memberships; their sessions were ended as a kept member's are.
    for (const kept of [users[4], users[8]]) {
      expect(await app.sql(`SELECT organization_id FROM memberships WHERE user_id = $1`, [kept])).toEqual([{ organization_id: elsewhere.id }]);
      expect(await app.sql(`SELECT 1 FROM sessions WHERE user_id = $1 AND terminated_at IS NULL`, [kept])).toHaveLength(0);
    }
    // Users 1 and 3 cascaded; user 7 deleted by deleteUser (its own receipt); the others kept.
    const keptIds = [users[1], users[3], users[4], users[5], users[7], users[8], users[9]];
    expect(await app.sql(`SELECT id FROM users WHERE id = ANY($1) ORDER BY id`, [users])).toEqual(keptIds.map((id) => ({ id })));
    expect(await app.sql(`SELECT 1 FROM deletion_receipts WHERE subject_id = $1 AND kind = 'USER'`, [users[6]])).toHaveLength(1);
    // The job's receipt lists them as retained, not cascaded.
    const retained = await app.sql<{ user_id: string }>(
      `SELECT e.data->>'userId' AS user_id FROM events e WHERE e.type = 'organization_membership.deleted' AND e.data->>'receiptId' = $1
          AND NOT EXISTS (SELECT 1 FROM events u WHERE u.type = 'user.deleted' AND u.data->>'userId' = e.data->>'userId' AND u.data->>'receiptId' = $1)
        ORDER BY 1`,
      [done.receipt!.id],
    );
    expect(retained.map((r) => r.user_id)).toEqual(keptIds);
    expect(await invariantViolations(app)).toEqual([]);
  });

  it('deleteUser of the only OWNER of an organization being deleted is not refused on account of that organization', async () => {
    // User 1 of the seed is the organization's only OWNER, and a member of it only.
    const { seeded, job } = await queuedJob(3);
    const [owner] = seeded.soloUserIds;
    const response = await app.gql(DeleteUserDocument, { id: owner });
    // The organization reads as gone (issue 15); naming it as the reason to refuse erasure confirms it and blocks the user
    // for as long as the job runs, or forever once it is FAILED.
    expect(response.errors).toBeUndefined();
    expect(JSON.stringify(response.errors ?? [])).not.toContain(seeded.organizationId);
    expect(await app.sql(`SELECT 1 FROM users WHERE id = $1`, [owner])).toHaveLength(0);
    expect(await markOf(seeded.organizationId)).toBe(job.id);
  });

  it('the OWNER who scheduled, kept by the job (member elsewhere), reads the finished job and its receipt with a new session', async () => {
    const f = factory(app);
    const organization = await f.organization();
    const elsewhere = await f.organization();
    const owner = await f.signedInMember(organization.id, 'OWNER');
    await f.member(elsewhere.id, owner.user.id, 'OWNER');
    await f.signedInMember(organization.id, 'MEMBER');
    const job = ok(await gql(SCHEDULE, { id: organization.id }, owner.token)).scheduleOrganizationDeletion;
    worker = await startJobWorker(app, { DELETION_JOB_CHUNK_MEMBERS: '1' });
    const done = await untilJobEnds(app, job.id);
    expect(done.status).toBe('SUCCEEDED');
    // Their session was ended by the job (as deleteOrganization ends it).
    expect(errorCode(await gql(JOB, { id: job.id }, owner.token))).toBe('UNAUTHENTICATED');
    const fresh = (await f.session(owner.user.id)).token;
    const read = ok(await gql(JOB, { id: job.id }, fresh)).deletionJob;
    expect(read).toMatchObject({ id: job.id, status: 'SUCCEEDED', receipt: { id: done.receipt!.id, removedMembershipCount: 2 } });
  });
});

describe('a FAILED job', () => {
  it('three concurrent resumes queue its step once; it then ends SUCCEEDED with every fact written once, visible in events', async () => {
    const seeded = await seedLargeOrganization(app, 6, 1);
    const users = [...seeded.soloUserIds, ...seeded.sharedUserIds].sort();
    const victim = users[4];
    await app.sql(`CREATE FUNCTION refuse_attack_victim() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$`);
    await app.sql(
      `CREATE TRIGGER refuse_attack_victim BEFORE DELETE ON users FOR EACH ROW WHEN (OLD.id = '${victim}') EXECUTE FUNCTION refuse_attack_victim()`,
    );
    let jobId: string;
    try {
      jobId = ok(await app.gql(ScheduleOrganizationDeletionDocument, { id: seeded.organizationId })).scheduleOrganizationDeletion.id;
      worker = await startJobWorker(app, { DELETION_JOB_CHUNK_MEMBERS: '2', DELETION_JOB_MAX_ATTEMPTS: '2', DELETION_JOB_RETRY_DELAY_SECONDS: '0' });
      const failed = await untilJobEnds(app, jobId);
      expect(failed).toMatchObject({ status: 'FAILED', processedMembers: 4 });
      expect(failed.error).not.toMatch(/injected|trigger|users|SELECT|DELETE/i);
      await worker.stop(5_000);
      worker = undefined;
    } finally {
      await app.sql(`DROP TRIGGER IF EXISTS refuse_attack_victim ON users`);
      await app.sql(`DROP FUNCTION IF EXISTS refuse_attack_victim()`);
    }
    // The FAILED organization stays unreadable: neither the admin nor deleteOrganization reach it.
    expect(ok(await gql(`query O($id: ID!) { organization(id: $id) { id } }`, { id: seeded.organizationId })).organization).toBeNull();
    expect(errorCode(await app.gql(DeleteOrganizationDocument, { id: seeded.organizationId }))).toBe('NOT_FOUND');

    const key = await createApiKey(app, ['ORGANIZATIONS_DELETE']);
    const resumed = await Promise.all([
      gql(SCHEDULE, { id: seeded.organizationId }),
      gql(SCHEDULE, { id: seeded.organizationId }),
      asKey<any>(app, key.secret, 'ScheduleOrganizationDeletion', { id: seeded.organizationId }),
    ]);
    for (const response of resumed) expect(ok(response).scheduleOrganizationDeletion).toMatchObject({ id: jobId!, status: 'RUNNING' });
    const [{ pending }] = await app.sql<{ pending: number }>(
      `SELECT count(*)::int AS pending FROM pgboss.job WHERE name = 'organization_deletion' AND data->>'jobId' = $1 AND state = 'created'`,
      [jobId!],
    );
    expect(pending).toBe(1);

    worker = await startJobWorker(app, { DELETION_JOB_CHUNK_MEMBERS: '2' });
    const done = await untilJobEnds(app, jobId!);
    expect(done).toMatchObject({ status: 'SUCCEEDED', processedMembers: 6, error: null });
    expect(done.receipt).toMatchObject({ removedMembershipCount: 6, cascadedUserCount: 3, terminatedSessionCount: 6 });
    const perType = await app.sql<{ type: string; n: number; distinct_subjects: number }>(
      `SELECT type, count(*)::int AS n,
              count(DISTINCT coalesce(data->>'sessionId', data->>'membershipId', data->>'userId', data->>'organizationId'))::int AS distinct_subjects
         FROM events WHERE data->>'receiptId' = $1 GROUP BY type ORDER BY type`,
      [done.receipt!.id],
    );
    expect(perType).toEqual([
      { type: 'organization.deleted', n: 1, distinct_subjects: 1 },
      { type: 'organization_membership.deleted', n: 6, distinct_subjects: 6 },
      { type: 'session.terminated', n: 6, distinct_subjects: 6 },
      { type: 'user.deleted', n: 3, distinct_subjects: 3 },
    ]);
    // The events feed (what webhook fan-out reads) carries organization.deleted once, with the receipt's ID.
    await untilEventsVisible(app);
    let after: string | null = null;
    const deletedEvents: Array<{ data: Record<string, string> }> = [];
    for (;;) {
      const page: any = ok(await gql(`query E($after: String) { events(first: 100, after: $after, types: ["organization.deleted"]) { pageInfo { hasNextPage endCursor } nodes { data } } }`, { after })).events;
      deletedEvents.push(...page.nodes.filter((node: { data: Record<string, string> }) => node.data.organizationId === seeded.organizationId));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(deletedEvents).toEqual([{ data: { organizationId: seeded.organizationId, receiptId: done.receipt!.id } }]);
  });
});

describe("a job receipt's cursors", () => {
  const cursor = (text: string) => Buffer.from(text, 'utf8').toString('base64url');
  const decoded = (value: string) => Buffer.from(value, 'base64url').toString('utf8');
  const page = (subjectId: string, after: string | null, first = 2) =>
    app.gql(DeletionReceiptRemovedMembershipsDocument, { subjectId, first, after });

  it('refuse a sync receipt’s cursor, another job’s cursor, a tampered txid or list, with BAD_USER_INPUT and no echo; a valid one pages on', async () => {
    worker = await startJobWorker(app, { DELETION_JOB_CHUNK_MEMBERS: '2' });
    const a = await queuedJob(5);
    const b = await queuedJob(4);
    await untilJobEnds(app, a.job.id);
    await untilJobEnds(app, b.job.id);
    const sync = await seedLargeOrganization(app, 3, 1);
    ok(await app.gql(DeleteOrganizationDocument, { id: sync.organizationId }));

    const firstA = ok(await page(a.seeded.organizationId, null)).deletionReceipt!.removedMemberships;
    const firstB = ok(await page(b.seeded.organizationId, null)).deletionReceipt!.removedMemberships;
    const firstSync = ok(await page(sync.organizationId, null)).deletionReceipt!.removedMemberships;
    const [, , txidA, positionA] = decoded(firstA.pageInfo.endCursor!).split(':');
    const chunkTxids = (
      await app.sql<{ t: string[] }>(`SELECT chunk_txids::text[] AS t FROM deletion_receipts WHERE subject_id = $1`, [a.seeded.organizationId])
    )[0].t;
    expect(chunkTxids).toHaveLength(3);
    expect(chunkTxids).toContain(txidA);

    const refused = [
      firstSync.pageInfo.endCursor!, // a synchronous receipt's cursor on a job's receipt
      firstB.pageInfo.endCursor!, // another job's cursor
      cursor(`d2:removedMemberships:${BigInt(txidA) + 1000n}:${positionA}`), // a txid of no chunk of it
      cursor(`d2:removedMemberships:0${txidA}:${positionA}`), // the same number, spelled otherwise
      cursor(`d2:removedMemberships:99999999999999999999:${positionA}`), // beyond xid8
      cursor(`d2:removedMemberships:${txidA}:99999999999999999999`), // beyond bigint
      cursor(`d2:terminatedSessions:${txidA}:${positionA}`), // another list of the same receipt
      cursor(`d2:removedMemberships:${txidA}:-1`),
      cursor(`d2:removedMemberships:${txidA}:${positionA}\u0000`),
      `${firstA.pageInfo.endCursor}=`,
    ];
    for (const after of refused) {
      const response = await page(a.seeded.organizationId, after);
      expect(response.status).toBe(200);
      expect(errorCode(response)).toBe('BAD_USER_INPUT');
      expect(JSON.stringify(response.errors)).not.toContain(after);
      expect(JSON.stringify(response.errors)).not.toContain(txidA);
    }
    // And the other way round: a job's cursor on the synchronous receipt.
    expect(errorCode(await page(sync.organizationId, firstA.pageInfo.endCursor!))).toBe('BAD_USER_INPUT');

    // A real cursor continues through all chunks: 5 memberships, no repeats.
    const ids = firstA.nodes.map((node) => node.id);
    let after = firstA.pageInfo.endCursor;
    for (;;) {
      const next = ok(await page(a.seeded.organizationId, after)).deletionReceipt!.removedMemberships;
      ids.push(...next.nodes.map((node) => node.id));
      if (!next.pageInfo.hasNextPage) break;
      after = next.pageInfo.endCursor;
    }
    expect(new Set(ids).size).toBe(5);
    // A position past the end of a chunk of it reads on in the later chunks, or nothing: never an error.
    const late = await page(a.seeded.organizationId, cursor(`d2:removedMemberships:${chunkTxids[0]}:9223372036854775807`));
    expect(late.errors).toBeUndefined();
    expect(late.data!.deletionReceipt!.removedMemberships.nodes).toEqual([]);
  });

  it('a job of an organization with no members finishes with an empty receipt whose digest is the synchronous one', async () => {
    const organization = await factory(app).organization();
    worker = await startJobWorker(app);
    const job = ok(await app.gql(ScheduleOrganizationDeletionDocument, { id: organization.id })).scheduleOrganizationDeletion;
    expect(job.totalMembers).toBe(0);
    const done = await untilJobEnds(app, job.id);
    expect(done).toMatchObject({ status: 'SUCCEEDED', totalMembers: 0, processedMembers: 0 });
    expect(done.receipt).toMatchObject({ removedMembershipCount: 0, cascadedUserCount: 0, terminatedSessionCount: 0 });
    expect(done.receipt!.digest).toBe(expectedDigest('ORGANIZATION', organization.id, [], [], []));
    const empty = ok(await page(organization.id, null)).deletionReceipt!.removedMemberships;
    expect(empty).toMatchObject({ totalCount: 0, nodes: [], pageInfo: { hasNextPage: false, endCursor: null } });
    expect(await app.sql(`SELECT 1 FROM organizations WHERE id = $1`, [organization.id])).toHaveLength(0);
    const events = await app.sql<{ type: string }>(`SELECT type FROM events WHERE data->>'receiptId' = $1`, [done.receipt!.id]);
    expect(events).toEqual([{ type: 'organization.deleted' }]);
  });
});

describe('SYNC_DELETION_MAX_MEMBERS at its edge', () => {
  it(`exactly ${MAX_SYNC} members: dry run and deletion are allowed; ${MAX_SYNC + 1}: both CONFLICT, nothing changed`, async () => {
    const atLimit = await seedLargeOrganization(app, MAX_SYNC, 1);
    const dry = ok(await app.gql(DeleteOrganizationDocument, { id: atLimit.organizationId, dryRun: true })).deleteOrganization;
    expect(dry).toMatchObject({ dryRun: true, removedMemberships: { totalCount: MAX_SYNC } });
    ok(await app.gql(DeleteOrganizationDocument, { id: atLimit.organizationId }));
    expect(await app.sql(`SELECT 1 FROM organizations WHERE id = $1`, [atLimit.organizationId])).toHaveLength(0);

    const above = await seedLargeOrganization(app, MAX_SYNC + 1, 1);
    for (const dryRun of [true, false]) {
      const before = await tableFingerprints(app);
      const response = await app.gql(DeleteOrganizationDocument, { id: above.organizationId, dryRun });
      expect(errorCode(response)).toBe('CONFLICT');
      expect(response.errors?.[0].message).toContain('scheduleOrganizationDeletion');
      expect(response.errors?.[0].extensions).toMatchObject({ members: MAX_SYNC + 1, maxMembers: MAX_SYNC });
      expect(await tableFingerprints(app)).toEqual(before);
    }
  });

  it('a MEMBER (not OWNER) of an organization above the threshold is FORBIDDEN, not told its member count', async () => {
    const above = await seedLargeOrganization(app, MAX_SYNC + 1, 1);
    const f = factory(app);
    const member = await f.signedInMember(above.organizationId, 'MEMBER');
    const response = await expectRefusedUnchanged(
      () => app.gql(DeleteOrganizationDocument, { id: above.organizationId, dryRun: true }, { token: member.token }) as Promise<AnyResponse>,
      'FORBIDDEN',
    );
    expect(response.errors?.[0].extensions?.members).toBeUndefined();
  });
});
