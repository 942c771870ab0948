import { Arg, Authorized, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';
import { ApiKeyScope } from '../api-keys/api-key.entity';
import { canReadDeletionJob } from '../auth/access';
import { ViewerKind, type AccessRule } from '../auth/principal';
import type { Context } from '../http/context';
import { DeletionJobService } from './deletion-job.service';
import { DeletionJob } from './deletion-job.types';
import { DeletionReceipt } from './deletion.types';

/** Who may schedule an organization's deletion: deleteOrganization's callers (issue 15). */
const ORGANIZATION_DELETERS: AccessRule[] = [ViewerKind.ADMIN, ViewerKind.SESSION, ApiKeyScope.ORGANIZATIONS_DELETE];

@Resolver(() => DeletionJob)
export class DeletionJobResolver {
  private readonly jobs = new DeletionJobService();

  @Authorized<AccessRule>(...ORGANIZATION_DELETERS)
  @Mutation(() => DeletionJob, {
    description:
      'Deletes an organization of any size as a durable job (issue 15), with the same outcome and receipt as ' +
      'deleteOrganization: at once the organization becomes unreadable and takes no new members, invitations, ' +
      'sessions or domains; then its members are processed in short steps; last the organization goes and the receipt ' +
      'is written. Follow it with deletionJob(id). The same callers as deleteOrganization: the admin, an API key with ' +
      'ORGANIZATIONS_DELETE, or an OWNER. Called again on an organization being deleted, it returns that job (a FAILED ' +
      'one resumes where it stopped). NOT_FOUND, FORBIDDEN as for deleteOrganization.',
  })
  scheduleOrganizationDeletion(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<DeletionJob> {
    return ctx.transaction((manager) => this.jobs.schedule(manager, ctx.principal, id));
  }

  @Authorized<AccessRule>(...ORGANIZATION_DELETERS)
  @Query(() => DeletionJob, {
    nullable: true,
    description:
      'An organization deletion job (issue 15), read from the primary. The admin, API keys with ORGANIZATIONS_DELETE, ' +
      'and the signed-in users scheduleOrganizationDeletion returned it to; null for anyone else and for no such job.',
  })
  async deletionJob(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<DeletionJob | null> {
    const job = await this.jobs.job(ctx.reader, id);
    return job && canReadDeletionJob(ctx.principal, job) ? job : null;
  }

  @FieldResolver(() => DeletionReceipt, {
    nullable: true,
    description:
      "Set once SUCCEEDED: the organization's deletion receipt, as deletionReceipt(subjectId: organizationId) returns " +
      'it; its lists page through every chunk of the job.',
  })
  receipt(@Root() job: DeletionJob, @Ctx() ctx: Context): Promise<DeletionReceipt | null> {
    return this.jobs.receipt(ctx.reader, job);
  }
}
