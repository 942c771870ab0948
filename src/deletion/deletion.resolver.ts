import { Max, Min } from 'class-validator';
import { Arg, Args, ArgsType, Authorized, Ctx, Field, ID, Info, Int, Mutation, Query, Resolver } from 'type-graphql';
import type { GraphQLResolveInfo } from 'graphql';
import { ViewerKind } from '../auth/principal';
import type { Context } from '../http/context';
import { selectedFieldNames } from '../http/selection';
import { MAX_PAGE_SIZE, type Page } from '../pagination';
import { DeletionLogService } from './deletion-log.service';
import { DeletionService, type ListSelection } from './deletion.service';
import { DeleteOrganizationPayload, DeleteUserPayload, DeletionReceipt, Event, EventConnection } from './deletion.types';

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

  private transactionOptions(ctx: Context, dryRun: boolean) {
    return {
      rollbackOnly: dryRun,
      settings: {
        lock_timeout: `${ctx.config.deletionLockTimeoutMs}ms`,
        statement_timeout: `${ctx.config.deletionStatementTimeoutMs}ms`,
      },
    };
  }

  @Authorized(ViewerKind.ADMIN)
  @Mutation(() => DeleteUserPayload, {
    description:
      "Terminates the user's active sessions, removes their memberships and permanently deletes the account. " +
      'With dryRun the same work runs and is rolled back.',
  })
  async deleteUser(
    @Arg('id', () => ID) id: string,
    @Arg('dryRun', () => Boolean, { nullable: true, defaultValue: false }) dryRun: boolean | null,
    @Ctx() ctx: Context,
    @Info() info: GraphQLResolveInfo,
  ): Promise<DeleteUserPayload> {
    const isDryRun = dryRun === true;
    const result = await ctx.transaction(
      (manager) => this.deletions.deleteUser(manager, ctx.principal, id, listSelection(info)),
      this.transactionOptions(ctx, isDryRun),
    );
    return { ...result, dryRun: isDryRun, receipt: isDryRun ? null : result.receipt };
  }

  @Authorized(ViewerKind.ADMIN, ViewerKind.SESSION)
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
    const result = await ctx.transaction(
      (manager) => this.deletions.deleteOrganization(manager, ctx.principal, id, listSelection(info)),
      this.transactionOptions(ctx, isDryRun),
    );
    return { ...result, dryRun: isDryRun, receipt: isDryRun ? null : result.receipt };
  }

  @Authorized(ViewerKind.ADMIN)
  @Query(() => DeletionReceipt, {
    nullable: true,
    description: 'The receipt of a deleteUser or deleteOrganization call on this subject; null if none happened.',
  })
  deletionReceipt(@Arg('subjectId', () => ID) subjectId: string, @Ctx() ctx: Context): Promise<DeletionReceipt | null> {
    return this.log.receipt(ctx.reader, subjectId);
  }

  @Authorized(ViewerKind.ADMIN)
  @Query(() => EventConnection, { description: 'Deletion events, oldest first; poll with after: endCursor.' })
  events(@Args(() => EventArgs) args: EventArgs, @Ctx() ctx: Context): Promise<Page<Event>> {
    return this.log.events(ctx.reader, args);
  }
}
