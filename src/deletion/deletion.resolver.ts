import { Max, Min } from 'class-validator';
import { Arg, Args, ArgsType, Authorized, Ctx, Field, ID, Info, Int, Mutation, Query, Resolver } from 'type-graphql';
import type { GraphQLResolveInfo } from 'graphql';
import type { EntityManager } from 'typeorm';
import { ApiKeyScope } from '../api-keys/api-key.entity';
import { ViewerKind, type AccessRule } from '../auth/principal';
import { errorCodeOf } from '../errors';
import type { Context } from '../http/context';
import { selectedFieldNames } from '../http/selection';
import { MAX_PAGE_SIZE, type Page } from '../pagination';
import { DeletionLogService } from './deletion-log.service';
import { DeletionService, type ListSelection } from './deletion.service';
import {
  DeleteOrganizationPayload,
  DeleteUserPayload,
  DeletionKind,
  DeletionReceipt,
  Event,
  EventConnection,
} from './deletion.types';

@ArgsType()
class EventArgs {
  @Field(() => Int, { nullable: true, defaultValue: 50 })
  @Min(1)
  @Max(MAX_PAGE_SIZE)
  first: number = 50;

  @Field(() => String, { nullable: true })
  after?: string | null;

  @Field(() => [String], { nullable: true, description: 'Only events of these types.' })
  types?: string[] | null;
}

function listSelection(info: GraphQLResolveInfo): ListSelection {
  const selected = selectedFieldNames(info);
  return {
    terminatedSessions: selected.has('terminatedSessions'),
    removedMemberships: selected.has('removedMemberships'),
    cascadedUsers: selected.has('cascadedUsers'),
    retainedUserIds: selected.has('retainedUserIds'),
  };
}

@Resolver()
export class DeletionResolver {
  private readonly deletions = new DeletionService();
  private readonly log = new DeletionLogService();

  /**
   * Runs one deletion in the mutation's transaction (rolled back for a dry run) and
   * records metrics. At most DB_DELETION_CONCURRENCY deletions hold a connection at
   * once; the others wait in arrival order (DeletionBulkhead). Every connection has lock
   * and statement timeouts (DB_LOCK_TIMEOUT_MS, DB_STATEMENT_TIMEOUT_MS), so a stuck
   * lock is a clear CONFLICT, not a hung request.
   */
  private async run<T extends { receipt: DeletionReceipt }>(
    ctx: Context,
    kind: DeletionKind,
    dryRun: boolean,
    work: (manager: EntityManager) => Promise<T>,
  ): Promise<T> {
    try {
      // Through the deletion bulkhead (issue 10): a permit before the transaction opens,
      // given back after it ends; a wait past DB_DELETION_QUEUE_TIMEOUT_MS answers "busy".
      const result = await ctx.transaction(work, { rollbackOnly: dryRun, admission: ctx.deletionBulkhead });
      const { terminatedSessionCount, removedMembershipCount, cascadedUserCount } = result.receipt;
      // A dry run removed nothing: it is counted, but observes no rows.
      ctx.metrics.recordDeletion(
        kind,
        dryRun ? 'dry_run' : 'success',
        dryRun
          ? undefined
          : {
              sessions: terminatedSessionCount,
              memberships: removedMembershipCount,
              users: kind === DeletionKind.USER ? 1 : cascadedUserCount,
            },
      );
      return result;
    } catch (error) {
      ctx.metrics.recordDeletion(kind, errorCodeOf(error));
      throw error;
    }
  }

  @Authorized<AccessRule>(ViewerKind.ADMIN, ViewerKind.SESSION, ApiKeyScope.USERS_DELETE)
  @Mutation(() => DeleteUserPayload, {
    description:
      "Terminates the user's active sessions, removes their memberships and permanently deletes the account. " +
      'The admin, an API key with USERS_DELETE, or a signed-in user for their own account. ' +
      'CONFLICT, with extensions.organizationIds, while the user is the last OWNER of an organization. ' +
      'With dryRun the same work runs and is rolled back.',
  })
  async deleteUser(
    @Arg('id', () => ID) id: string,
    @Arg('dryRun', () => Boolean, { nullable: true, defaultValue: false }) dryRun: boolean | null,
    @Ctx() ctx: Context,
    @Info() info: GraphQLResolveInfo,
  ): Promise<DeleteUserPayload> {
    const isDryRun = dryRun === true;
    const result = await this.run(ctx, DeletionKind.USER, isDryRun, (manager) =>
      this.deletions.deleteUser(manager, ctx.principal, id, listSelection(info)),
    );
    return { ...result, dryRun: isDryRun, receipt: isDryRun ? null : result.receipt };
  }

  @Authorized<AccessRule>(ViewerKind.ADMIN, ViewerKind.SESSION, ApiKeyScope.ORGANIZATIONS_DELETE)
  @Mutation(() => DeleteOrganizationPayload, {
    description:
      "Admin or OWNER. Terminates every member's active sessions, removes all memberships and the organization's " +
      'data, and deletes the members for whom it was the only organization. With dryRun the same work runs and is rolled back.',
  })
  async deleteOrganization(
    @Arg('id', () => ID) id: string,
    @Arg('dryRun', () => Boolean, { nullable: true, defaultValue: false }) dryRun: boolean | null,
    @Ctx() ctx: Context,
    @Info() info: GraphQLResolveInfo,
  ): Promise<DeleteOrganizationPayload> {
    const isDryRun = dryRun === true;
    const result = await this.run(ctx, DeletionKind.ORGANIZATION, isDryRun, (manager) =>
      this.deletions.deleteOrganization(manager, ctx.principal, id, listSelection(info)),
    );
    return { ...result, dryRun: isDryRun, receipt: isDryRun ? null : result.receipt };
  }

  @Authorized<AccessRule>(ViewerKind.ADMIN, ApiKeyScope.USERS_DELETE, ApiKeyScope.ORGANIZATIONS_DELETE)
  @Query(() => DeletionReceipt, {
    nullable: true,
    description: 'The receipt of a deleteUser or deleteOrganization call on this subject; null if none happened.',
  })
  deletionReceipt(@Arg('subjectId', () => ID) subjectId: string, @Ctx() ctx: Context): Promise<DeletionReceipt | null> {
    return this.log.receipt(ctx.reader, subjectId);
  }

  // Issue 12: keys with EVENTS_READ poll the outbox too (the trusted Events operation).
  @Authorized<AccessRule>(ViewerKind.ADMIN, ApiKeyScope.EVENTS_READ)
  @Query(() => EventConnection, { description: 'Events of the outbox, oldest first; poll with after: endCursor. The admin, or a key with EVENTS_READ.' })
  events(@Args(() => EventArgs) args: EventArgs, @Ctx() ctx: Context): Promise<Page<Event>> {
    return this.log.events(ctx.reader, args);
  }
}
