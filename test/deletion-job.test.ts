import {
  DeleteOrganizationDocument,
  DeleteUserDocument,
  DeletionReceiptCascadedUsersDocument,
  DeletionReceiptRemovedMembershipsDocument,
  DeletionReceiptRetainedUsersDocument,
  DeletionReceiptTerminatedSessionsDocument,
  GetDeletionJobDocument,
  ScheduleOrganizationDeletionDocument,
} from '../src/generated/graphql';
import type { DeletionJobWorker } from '../src/deletion/deletion-job.worker';
import { startTestApp, type TestApp } from './support/app';
import { expectedDigest } from './support/deletion-fixtures';
import { startJobWorker, untilJobEnds } from './support/deletion-jobs';
import { seedLargeOrganization } from './support/deletion-seed';
import { errorCode, factory, ok, tableCounts } from './support/factory';

/**
 * Issue 15: scheduleOrganizationDeletion deletes an organization in steps of
 * DELETION_JOB_CHUNK_MEMBERS members, each its own transaction, and writes one receipt whose
 * lists page through every chunk and reproduce its digest.
 */
let app: TestApp;
let worker: DeletionJobWorker | undefined;
beforeAll(async () => {
  app = await startTestApp({ SYNC_DELETION_MAX_MEMBERS: '100' });
});
afterEach(async () => {
  await worker?.stop(5_000);
  worker = undefined;
});
afterAll(() => app.close());

const PAGES = {
  terminatedSessions: DeletionReceiptTerminatedSessionsDocument,
  removedMemberships: DeletionReceiptRemovedMembershipsDocument,
  cascadedUsers: DeletionReceiptCascadedUsersDocument,
  retainedUsers: DeletionReceiptRetainedUsersDocument,
} as const;

/** Every node of a receipt's list, 37 at a time (a page size that straddles the chunks). */
async function wholeList(subjectId: string, list: keyof typeof PAGES): Promise<Array<{ id: string }>> {
  const nodes: Array<{ id: string }> = [];
  let after: string | null | undefined = null;
  for (;;) {
    const data = ok(await app.gql(PAGES[list] as never, { subjectId, first: 37, after } as never)) as {
      deletionReceipt: Record<string, { nodes: Array<{ id: string }>; pageInfo: { hasNextPage: boolean; endCursor: string | null } }>;
    };
    const page = data.deletionReceipt[list];
    nodes.push(...page.nodes);
    if (!page.pageInfo.hasNextPage) return nodes;
    after = page.pageInfo.endCursor;
  }
}

describe('an organization above SYNC_DELETION_MAX_MEMBERS', () => {
  it('deleteOrganization refuses with CONFLICT naming scheduleOrganizationDeletion, dry run too, and changes nothing', async () => {
    const seeded = await seedLargeOrganization(app, 101, 1);
    const before = await tableCounts(app);
    for (const dryRun of [false, true]) {
      const response = await app.gql(DeleteOrganizationDocument, { id: seeded.organizationId, dryRun });
      expect(errorCode(response)).toBe('CONFLICT');
      expect(response.errors?.[0].message).toContain('scheduleOrganizationDeletion');
      expect(response.errors?.[0].extensions).toMatchObject({ members: 101, maxMembers: 100 });
    }
    expect(await tableCounts(app)).toEqual(before);
  });
});

describe('scheduleOrganizationDeletion', () => {
  it('answers SERVICE_UNAVAILABLE and changes nothing while no worker ever started on the database', async () => {
    const seeded = await seedLargeOrganization(app, 3, 1);
    const before = await tableCounts(app);
    const response = await app.gql(ScheduleOrganizationDeletionDocument, { id: seeded.organizationId });
    expect(errorCode(response)).toBe('SERVICE_UNAVAILABLE');
    expect(response.errors?.[0].message).toContain('DELETION_JOBS');
    expect(await tableCounts(app)).toEqual(before);
    expect(await app.sql(`SELECT 1 FROM organizations WHERE id = $1 AND deletion_job_id IS NULL`, [seeded.organizationId])).toHaveLength(1);
  });

  it('deletes the organization in chunks and writes one receipt whose pages cover every chunk, 37 at a time', async () => {
    const seeded = await seedLargeOrganization(app, 250, 2);
    // A worker started once (pg-boss's schema and queue exist), then stopped: the job waits QUEUED.
    await (await startJobWorker(app)).stop(1_000);
    const scheduled = ok(await app.gql(ScheduleOrganizationDeletionDocument, { id: seeded.organizationId }))
      .scheduleOrganizationDeletion;
    expect(scheduled).toMatchObject({ organizationId: seeded.organizationId, status: 'QUEUED', totalMembers: 250, processedMembers: 0 });
    // Being deleted from the moment it is scheduled, before any worker ran.
    const [organization] = await app.sql<{ deletion_job_id: string }>(`SELECT deletion_job_id FROM organizations WHERE id = $1`, [
      seeded.organizationId,
    ]);
    expect(organization.deletion_job_id).toBe(scheduled.id);

    // 25 chunks: a page reads up to 8 chunks' transactions a statement, so paging crosses statements too.
    worker = await startJobWorker(app, { DELETION_JOB_CHUNK_MEMBERS: '10' });
    const job = await untilJobEnds(app, scheduled.id);
    expect(job).toMatchObject({ status: 'SUCCEEDED', totalMembers: 250, processedMembers: 250, error: null });
    expect(job.startedAt).not.toBeNull();
    expect(job.finishedAt).not.toBeNull();
    const receipt = job.receipt!;
    expect(receipt).toMatchObject({
      kind: 'ORGANIZATION',
      subjectId: seeded.organizationId,
      actor: 'admin',
      removedMembershipCount: 250,
      cascadedUserCount: 125,
      terminatedSessionCount: 500,
    });

    // The database: the organization, its members' memberships and the solo members are gone; shared members stay.
    expect(await app.sql(`SELECT 1 FROM organizations WHERE id = $1`, [seeded.organizationId])).toHaveLength(0);
    expect(await app.sql(`SELECT 1 FROM memberships WHERE organization_id = $1`, [seeded.organizationId])).toHaveLength(0);
    expect(await app.sql(`SELECT 1 FROM users WHERE id = ANY($1)`, [seeded.soloUserIds])).toHaveLength(0);
    expect(await app.sql(`SELECT 1 FROM users WHERE id = ANY($1)`, [seeded.sharedUserIds])).toHaveLength(125);
    expect(
      await app.sql(`SELECT 1 FROM sessions WHERE user_id = ANY($1) AND (terminated_at IS NULL OR organization_id IS NOT NULL)`, [
        seeded.sharedUserIds,
      ]),
    ).toHaveLength(0);
    // 25 chunks of 10 members (the last one also finishes): 25 transactions wrote the events.
    const [{ chunks }] = await app.sql<{ chunks: number }>(
      `SELECT cardinality(chunk_txids)::int AS chunks FROM deletion_receipts WHERE id = $1`,
      [receipt.id],
    );
    expect(chunks).toBe(25);

    const sessions = await wholeList(seeded.organizationId, 'terminatedSessions');
    const memberships = await wholeList(seeded.organizationId, 'removedMemberships');
    const cascaded = await wholeList(seeded.organizationId, 'cascadedUsers');
    const retained = await wholeList(seeded.organizationId, 'retainedUsers');
    expect(sessions).toHaveLength(500);
    expect(new Set(sessions.map((node) => node.id)).size).toBe(500);
    expect(memberships).toHaveLength(250);
    expect(cascaded.map((node) => node.id).sort()).toEqual([...seeded.soloUserIds].sort());
    expect(retained.map((node) => node.id).sort()).toEqual([...seeded.sharedUserIds].sort());
    expect(receipt.digest).toBe(
      expectedDigest(
        'ORGANIZATION',
        seeded.organizationId,
        sessions.map((node) => node.id),
        memberships.map((node) => node.id),
        cascaded.map((node) => node.id),
      ),
    );
  });

  it('a step that keeps failing ends the job FAILED with a clear error, the organization still being deleted; scheduling again resumes it', async () => {
    const seeded = await seedLargeOrganization(app, 30, 1);
    const [victim] = seeded.soloUserIds.slice(-1);
    // A fault only this test has: deleting the last member's account fails.
    await app.sql(`
      CREATE FUNCTION refuse_victim() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'injected fault'; END $$`);
    await app.sql(`CREATE TRIGGER refuse_victim BEFORE DELETE ON users FOR EACH ROW WHEN (OLD.id = '${victim}') EXECUTE FUNCTION refuse_victim()`);
    try {
      const scheduled = ok(await app.gql(ScheduleOrganizationDeletionDocument, { id: seeded.organizationId }))
        .scheduleOrganizationDeletion;
      worker = await startJobWorker(app, {
        DELETION_JOB_CHUNK_MEMBERS: '10',
        DELETION_JOB_MAX_ATTEMPTS: '2',
        DELETION_JOB_RETRY_DELAY_SECONDS: '0',
      });
      const failed = await untilJobEnds(app, scheduled.id);
      expect(failed.status).toBe('FAILED');
      expect(failed.error).toBe('INTERNAL_SERVER_ERROR: An internal error occurred; it was logged');
      expect(failed.receipt).toBeNull();
      // The first two chunks committed; the third rolled back whole, each time.
      expect(failed.processedMembers).toBe(20);
      expect(await app.sql(`SELECT 1 FROM memberships WHERE organization_id = $1`, [seeded.organizationId])).toHaveLength(10);
      const [organization] = await app.sql<{ deletion_job_id: string }>(`SELECT deletion_job_id FROM organizations WHERE id = $1`, [
        seeded.organizationId,
      ]);
      expect(organization.deletion_job_id).toBe(scheduled.id);
      expect(await app.sql(`SELECT 1 FROM deletion_receipts WHERE subject_id = $1`, [seeded.organizationId])).toHaveLength(0);

      await app.sql(`DROP TRIGGER refuse_victim ON users`);
      const resumed = ok(await app.gql(ScheduleOrganizationDeletionDocument, { id: seeded.organizationId }))
        .scheduleOrganizationDeletion;
      expect(resumed).toMatchObject({ id: scheduled.id, status: 'RUNNING', processedMembers: 20 });
      const done = await untilJobEnds(app, scheduled.id);
      expect(done).toMatchObject({ status: 'SUCCEEDED', processedMembers: 30, error: null });
      expect(done.receipt).toMatchObject({ removedMembershipCount: 30, cascadedUserCount: 15, terminatedSessionCount: 30 });
    } finally {
      await app.sql(`DROP TRIGGER IF EXISTS refuse_victim ON users`);
      await app.sql(`DROP FUNCTION IF EXISTS refuse_victim()`);
    }
  });

  it('lets deleteUser delete the last OWNER of an organization being deleted (delete_user_v2), and the job finishes without them', async () => {
    const f = factory(app);
    const organization = await f.organization();
    const owner = await f.user();
    const member = await f.user();
    await f.member(organization.id, owner.id, 'OWNER');
    await f.member(organization.id, member.id, 'MEMBER');
    // Refused while the organization is live: the last-OWNER guard (issue 9) holds.
    expect(errorCode(await app.gql(DeleteUserDocument, { id: owner.id }))).toBe('CONFLICT');

    await (await startJobWorker(app)).stop(1_000);
    const scheduled = ok(await app.gql(ScheduleOrganizationDeletionDocument, { id: organization.id })).scheduleOrganizationDeletion;
    const deleted = ok(await app.gql(DeleteUserDocument, { id: owner.id })).deleteUser;
    expect(deleted.receipt).toMatchObject({ kind: 'USER', subjectId: owner.id, removedMembershipCount: 1 });
    expect(await app.sql(`SELECT 1 FROM users WHERE id = $1`, [owner.id])).toHaveLength(0);

    worker = await startJobWorker(app);
    const job = await untilJobEnds(app, scheduled.id);
    expect(job).toMatchObject({ status: 'SUCCEEDED', totalMembers: 2, processedMembers: 1 });
    expect(job.receipt).toMatchObject({ removedMembershipCount: 1, cascadedUserCount: 1 });
    expect(await app.sql(`SELECT 1 FROM users WHERE id = ANY($1)`, [[owner.id, member.id]])).toHaveLength(0);
  });

  it('queues the step again at worker start for a job whose step left the queue (archived while every worker was down)', async () => {
    const seeded = await seedLargeOrganization(app, 5, 1);
    await (await startJobWorker(app)).stop(1_000);
    const scheduled = ok(await app.gql(ScheduleOrganizationDeletionDocument, { id: seeded.organizationId })).scheduleOrganizationDeletion;
    // What pg-boss's retention does to a step left waiting past keep_until: gone from the queue.
    await app.sql(`DELETE FROM pgboss.job WHERE name = 'organization_deletion' AND data->>'jobId' = $1`, [scheduled.id]);
    expect(await app.sql(`SELECT 1 FROM pgboss.job WHERE data->>'jobId' = $1`, [scheduled.id])).toHaveLength(0);
    worker = await startJobWorker(app);
    expect(await untilJobEnds(app, scheduled.id)).toMatchObject({ status: 'SUCCEEDED', processedMembers: 5 });
  });

  it('reads null for a job ID that names nothing and refuses an ID that is not a job’s', async () => {
    expect(ok(await app.gql(GetDeletionJobDocument, { id: 'djb_01ARZ3NDEKTSV4RRFFQ69G5FAV' })).deletionJob).toBeNull();
    expect(errorCode(await app.gql(GetDeletionJobDocument, { id: 'org_01ARZ3NDEKTSV4RRFFQ69G5FAV' }))).toBe('BAD_USER_INPUT');
  });
});
