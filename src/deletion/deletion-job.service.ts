import type { DataSource, EntityManager } from 'typeorm';
import { authorizeOrganizationDeletion } from '../auth/access';
import { actorOf, ViewerKind, type Principal } from '../auth/principal';
import { insertJobs, QueueNotStartedError } from '../database/job-queue';
import { roleIn } from '../database/locks';
import { inTransaction } from '../database/transaction';
import { AppError } from '../errors';
import { newId, parseId } from '../ids';
import { toReceipt } from './deletion.service';
import { DELETE_CHUNK, FINISH_ORGANIZATION_JOB, LOCK_CHUNK } from './deletion.sql';
import { DeletionJob, DeletionJobStatus } from './deletion-job.types';
import type { DeletionReceipt } from './deletion.types';

/**
 * Issue 15: an organization deleted as a durable job, in steps.
 *
 * 1. schedule(), in the caller's transaction: locks the organization row, checks authority
 *    as deleteOrganization does, sets organizations.deletion_job_id (from then on it is
 *    "being deleted": unreadable, closed to new members, invitations, sessions and domains),
 *    inserts the job row and enqueues its step 0, all in that one transaction.
 * 2. runStep(step), each in a short transaction of its own (a worker runs it,
 *    deletion-job.worker.ts): the next chunkMembers members, as the synchronous deletion
 *    treats them (deletion.sql.ts DELETE_CHUNK), and step + 1 enqueued in the same
 *    transaction. When no member is left, the same transaction finishes the job
 *    (FINISH_ORGANIZATION_JOB): the organization's own rows, the receipt, organization.deleted.
 *
 * Exactly once per step: a step does its work only while the job row's next_step equals
 * the step it carries, checked under the organization's row lock and advanced in the same
 * transaction. A queue job delivered twice (a worker killed after its commit, a step that
 * outlived its expiry) finds its step done and changes nothing; two workers never run the
 * same chunk, since the second waits for the first's organization lock.
 */

export const DELETION_JOB_QUEUE = 'organization_deletion';

/** A step of a job, as the queue carries it. */
export interface DeletionStep {
  jobId: string;
  step: number;
}

/** What runStep did. */
export type StepOutcome =
  | { kind: 'chunk'; removedMemberships: number; next: number }
  | { kind: 'finished'; receipt: DeletionReceipt }
  /** The step was done already (a duplicate delivery), or the job is no longer running. */
  | { kind: 'skipped' };

interface JobRow {
  id: string;
  organization_id: string;
  receipt_id: string;
  actor: string;
  requested_by: string[];
  status: DeletionJobStatus;
  total_members: number;
  processed_members: number;
  next_step: number;
  last_user_id: string | null;
  chunk_txids: string[] | string;
  error: string | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

const JOB_COLUMNS = `id, organization_id, receipt_id, actor, requested_by::text[] AS requested_by, status, total_members, processed_members, next_step, last_user_id,
                     chunk_txids::text[] AS chunk_txids, error, created_at, started_at, finished_at`;

function toJob(row: JobRow): DeletionJob {
  return {
    id: row.id,
    organizationId: row.organization_id,
    status: row.status,
    totalMembers: row.total_members,
    processedMembers: row.processed_members,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    error: row.error,
    receiptId: row.receipt_id,
    actor: row.actor,
    requestedBy: row.requested_by,
  };
}

/** Enqueues steps of jobs in the caller's transaction, in one statement; SERVICE_UNAVAILABLE if no worker ever started on this database. */
async function enqueueSteps(manager: EntityManager, steps: DeletionStep[]): Promise<void> {
  try {
    await insertJobs<DeletionStep>(manager, steps.map((data) => ({ name: DELETION_JOB_QUEUE, data })));
  } catch (error) {
    if (error instanceof QueueNotStartedError) {
      throw AppError.serviceUnavailable('Deletion jobs have not been started on this database yet (DELETION_JOBS=false everywhere)');
    }
    throw error;
  }
}

export class DeletionJobService {
  /**
   * scheduleOrganizationDeletion (issue 15). Returns the new job, QUEUED. On an organization
   * already being deleted, the caller (with the same authority) gets that job back; a FAILED
   * one is queued again from the step where it stopped. NOT_FOUND for no such organization,
   * FORBIDDEN for a member who is not an OWNER (src/auth/access.ts authorizeOrganizationDeletion).
   */
  async schedule(manager: EntityManager, principal: Principal, id: string): Promise<DeletionJob> {
    const organizationId = parseId('organization', id, 'id');
    const locked: Array<{ deletion_job_id: string | null }> = await manager.query(
      `SELECT deletion_job_id FROM organizations WHERE id = $1 FOR UPDATE`,
      [organizationId],
    );
    if (locked.length === 0) throw AppError.notFound('Organization', organizationId);
    const callerRole = principal.kind === ViewerKind.SESSION ? await roleIn(manager, organizationId, principal.userId) : null;
    authorizeOrganizationDeletion(principal, callerRole, organizationId);

    const existing = locked[0].deletion_job_id;
    if (existing) {
      // The caller may follow it from now on (canReadDeletionJob); a FAILED job is queued again.
      // As a CTE: TypeORM answers a bare UPDATE with [rows, count].
      const [before]: Array<{ status: DeletionJobStatus }> = await manager.query(
        `SELECT status FROM organization_deletion_jobs WHERE id = $1 FOR UPDATE`,
        [existing],
      );
      const [job]: JobRow[] = await manager.query(
        `WITH returned AS (
           UPDATE organization_deletion_jobs
              SET requested_by = CASE WHEN $2 = ANY (requested_by) THEN requested_by ELSE requested_by || $2::varchar END,
                  status = CASE WHEN status <> 'FAILED' THEN status WHEN started_at IS NULL THEN 'QUEUED' ELSE 'RUNNING' END,
                  finished_at = CASE WHEN status = 'FAILED' THEN NULL ELSE finished_at END
            WHERE id = $1
            RETURNING *)
         SELECT ${JOB_COLUMNS} FROM returned`,
        [existing, actorOf(principal)],
      );
      if (before.status === DeletionJobStatus.FAILED) await enqueueSteps(manager, [{ jobId: existing, step: job.next_step }]);
      return toJob(job);
    }

    const jobId = newId('deletionJob');
    const [row]: JobRow[] = await manager.query(
      `INSERT INTO organization_deletion_jobs (id, organization_id, receipt_id, actor, requested_by, total_members)
       VALUES ($1, $2::varchar, $3, $4::varchar, ARRAY[$4::varchar], (SELECT count(*) FROM memberships WHERE organization_id = $2::varchar))
       RETURNING ${JOB_COLUMNS}`,
      [jobId, organizationId, newId('receipt'), actorOf(principal)],
    );
    await manager.query(`UPDATE organizations SET deletion_job_id = $2 WHERE id = $1`, [organizationId, jobId]);
    await enqueueSteps(manager, [{ jobId, step: 0 }]);
    return toJob(row);
  }

  /**
   * Queues the current step again for every unfinished job (QUEUED or RUNNING) that has no
   * step waiting or running in the queue: a step lost outside our transactions (pg-boss
   * archives a step left waiting past its retention, 14 days by default, while every worker
   * was down). The worker runs it at start. A step queued twice is harmless (runStep).
   * Returns how many it queued.
   */
  async requeueStranded(dataSource: DataSource): Promise<number> {
    return inTransaction(dataSource, async (manager) => {
      const stranded: Array<{ id: string; next_step: number }> = await manager.query(
        `SELECT j.id, j.next_step FROM organization_deletion_jobs j
          WHERE j.status IN ('QUEUED', 'RUNNING')
            AND NOT EXISTS (SELECT 1 FROM pgboss.job q
                             WHERE q.name = $1 AND q.state IN ('created', 'retry', 'active') AND q.data->>'jobId' = j.id)`,
        [DELETION_JOB_QUEUE],
      );
      await enqueueSteps(manager, stranded.map((job) => ({ jobId: job.id, step: job.next_step })));
      return stranded.length;
    });
  }

  /** A job by ID, or null (BAD_USER_INPUT when the ID is not a job's). Who may see it is the resolver's question. */
  async job(manager: EntityManager, id: string): Promise<DeletionJob | null> {
    const jobId = parseId('deletionJob', id, 'id');
    const rows: JobRow[] = await manager.query(`SELECT ${JOB_COLUMNS} FROM organization_deletion_jobs WHERE id = $1`, [jobId]);
    return rows.length ? toJob(rows[0]) : null;
  }

  /** The receipt of a SUCCEEDED job; null before. */
  async receipt(manager: EntityManager, job: DeletionJob): Promise<DeletionReceipt | null> {
    if (job.status !== DeletionJobStatus.SUCCEEDED) return null;
    const rows = await manager.query(`SELECT * FROM deletion_receipts WHERE id = $1`, [job.receiptId]);
    return rows.length ? toReceipt(rows[0]) : null;
  }

  /**
   * Runs one step in a transaction of its own, in the engine's lock order: the organization
   * row FOR UPDATE, the job row, then the chunk's user rows FOR UPDATE in ID order
   * (LOCK_CHUNK). Whether each member is kept is decided in DELETE_CHUNK's snapshot, taken
   * after those locks: a member who joined another organization meanwhile is retained.
   * Throws on failure (nothing of the step is left behind); the worker's queue retries it.
   */
  runStep(dataSource: DataSource, { jobId, step }: DeletionStep, chunkMembers: number): Promise<StepOutcome> {
    return inTransaction(dataSource, async (manager): Promise<StepOutcome> => {
      const found: Array<{ organization_id: string }> = await manager.query(
        `SELECT organization_id FROM organization_deletion_jobs WHERE id = $1`,
        [jobId],
      );
      if (found.length === 0) return { kind: 'skipped' };
      const organizationId = found[0].organization_id;
      const organization = await manager.query(`SELECT id FROM organizations WHERE id = $1 FOR UPDATE`, [organizationId]);
      const [job]: JobRow[] = await manager.query(
        `SELECT ${JOB_COLUMNS} FROM organization_deletion_jobs WHERE id = $1 FOR UPDATE`,
        [jobId],
      );
      const running = job.status === DeletionJobStatus.QUEUED || job.status === DeletionJobStatus.RUNNING;
      if (!running || job.next_step !== step || organization.length === 0) return { kind: 'skipped' };

      const [{ user_ids: userIds }]: Array<{ user_ids: string[] }> = await manager.query(LOCK_CHUNK, [
        organizationId,
        chunkMembers,
        job.last_user_id,
      ]);
      let removed = 0;
      if (userIds.length > 0) {
        const [counts]: Array<{ removed_memberships: number }> = await manager.query(DELETE_CHUNK, [
          organizationId,
          job.receipt_id,
          userIds,
        ]);
        removed = counts.removed_memberships;
      }
      const lastUserId = userIds.length > 0 ? userIds[userIds.length - 1] : job.last_user_id;
      const [{ chunk_txids: chunkTxids }]: Array<{ chunk_txids: string[] }> = await manager.query(
        `WITH advanced AS (
           UPDATE organization_deletion_jobs
              SET status = 'RUNNING', started_at = coalesce(started_at, now()), error = NULL,
                  next_step = next_step + 1, processed_members = processed_members + $2, last_user_id = $3,
                  chunk_txids = CASE WHEN $2 > 0 THEN chunk_txids || pg_current_xact_id() ELSE chunk_txids END
            WHERE id = $1
            RETURNING chunk_txids)
         SELECT chunk_txids::text[] AS chunk_txids FROM advanced`,
        [jobId, removed, lastUserId],
      );
      // Members after this chunk; the last step's FINISH_ORGANIZATION_JOB would fail on its
      // foreign keys (and retry) if anyone were left before it.
      const [{ more }]: Array<{ more: boolean }> = await manager.query(
        `SELECT EXISTS (SELECT 1 FROM memberships WHERE organization_id = $1 AND ($2::varchar IS NULL OR user_id > $2::varchar)) AS more`,
        [organizationId, lastUserId],
      );
      if (more) {
        await enqueueSteps(manager, [{ jobId, step: step + 1 }]);
        return { kind: 'chunk', removedMemberships: removed, next: step + 1 };
      }
      const [finished]: Array<{ receipt: Parameters<typeof toReceipt>[0] }> = await manager.query(FINISH_ORGANIZATION_JOB, [
        organizationId,
        job.receipt_id,
        chunkTxids,
        job.actor,
      ]);
      await manager.query(
        // clock_timestamp(): the end of the work, where now() would be this transaction's start
        // (the last step's own time, 23 s at 1,000,000 members, would be missing).
        `UPDATE organization_deletion_jobs SET status = 'SUCCEEDED', finished_at = clock_timestamp() WHERE id = $1`,
        [jobId],
      );
      return { kind: 'finished', receipt: toReceipt(finished.receipt) };
    });
  }

  /**
   * Records why a step's attempt failed, in a transaction of its own (the step's rolled
   * back); with `final` (its last attempt, issue 15: "a job that keeps failing ends FAILED")
   * the job ends FAILED. Only while the job is still at that step and unfinished. The
   * organization stays being deleted either way.
   */
  async recordFailure(dataSource: DataSource, { jobId, step }: DeletionStep, message: string, final: boolean): Promise<void> {
    await dataSource.query(
      `UPDATE organization_deletion_jobs
          SET error = $3,
              status = CASE WHEN $4 THEN 'FAILED' ELSE status END,
              finished_at = CASE WHEN $4 THEN now() ELSE finished_at END
        WHERE id = $1 AND next_step = $2 AND status IN ('QUEUED', 'RUNNING')`,
      [jobId, step, message, final],
    );
  }
}
