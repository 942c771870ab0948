import { IsDefined, Max, Min } from 'class-validator';
import {
  Arg,
  Args,
  ArgsType,
  Authorized,
  Ctx,
  Field,
  FieldResolver,
  ID,
  Info,
  Int,
  Mutation,
  Query,
  Resolver,
  Root,
} from 'type-graphql';
import {
  getArgumentValues,
  getNamedType,
  isObjectType,
  type FieldNode,
  type GraphQLObjectType,
  type GraphQLResolveInfo,
} from 'graphql';
import type { EntityManager } from 'typeorm';
import { ApiKeyScope } from '../api-keys/api-key.entity';
import { authorizeReceiptLists } from '../auth/access';
import { ViewerKind, type AccessRule, type Principal } from '../auth/principal';
import { AppError, errorCodeOf } from '../errors';
import type { Context } from '../http/context';
import { fieldsNamed } from '../http/selection';
import type { RemovedMembership } from '../memberships/membership.entity';
import { MAX_PAGE_SIZE, type Page } from '../pagination';
import type { TerminatedSession } from '../sessions/session.entity';
import { decodeListCursorOf, DeletionLogService, toListPage, type ListPage } from './deletion-log.service';
import { DeletionService, type ListSelection } from './deletion.service';
import type { ListName } from './deletion.sql';
import {
  CascadedUserConnection,
  DeleteOrganizationPayload,
  DeleteUserPayload,
  DeletionKind,
  DeletionReceipt,
  Event,
  EventConnection,
  RemovedMembershipConnection,
  RetainedUserConnection,
  TerminatedSessionConnection,
  type CascadedUser,
  type RetainedUser,
} from './deletion.types';

/**
 * Who may read receipts (Query.deletionReceipt). Their lists are narrower, by the receipt's
 * kind: src/auth/access.ts canReadReceiptLists.
 */
const RECEIPT_READERS: AccessRule[] = [ViewerKind.ADMIN, ApiKeyScope.USERS_DELETE, ApiKeyScope.ORGANIZATIONS_DELETE];

/** The default and the bound of a payload list's page (issue 13): the whole list is in the receipt. */
export const PAYLOAD_PAGE_SIZE = 100;

@ArgsType()
class PayloadListArgs {
  @Field(() => Int, {
    nullable: true,
    defaultValue: PAYLOAD_PAGE_SIZE,
    description: `1 to ${MAX_PAGE_SIZE}. The rest: deletionReceipt(subjectId) { <this list>(after: pageInfo.endCursor) }.`,
  })
  @IsDefined({ message: 'first must not be null' })
  @Min(1)
  @Max(MAX_PAGE_SIZE)
  first: number = PAYLOAD_PAGE_SIZE;
}

@ArgsType()
class ReceiptListArgs {
  @Field(() => Int, {
    nullable: true,
    defaultValue: 50,
    description: `1 to ${MAX_PAGE_SIZE}.`,
  })
  @IsDefined({ message: 'first must not be null' })
  @Min(1)
  @Max(MAX_PAGE_SIZE)
  first: number = 50;

  @Field(() => String, {
    nullable: true,
    description:
      "An endCursor of the same list of the same receipt, from this receipt's page or the deletion's payload; any other " +
      "cursor is BAD_USER_INPUT. In a deletion's payload the receipt is new, so none is accepted there.",
  })
  after?: string | null;
}

@ArgsType()
class EventArgs {
  @Field(() => Int, { nullable: true, defaultValue: 50 })
  @Min(1)
  @Max(MAX_PAGE_SIZE)
  first: number = 50;

  @Field(() => String, { nullable: true })
  after?: string | null;

  @Field(() => [String], {
    nullable: true,
    description: 'Only events of these types.',
  })
  types?: string[] | null;
}

const RECEIPT_LISTS: readonly ListName[] = ['terminatedSessions', 'removedMemberships', 'cascadedUsers', 'retainedUsers'];

/** `first` of a list field as the resolver will see it, or BAD_USER_INPUT naming `first`. */
function checkedFirst(type: GraphQLObjectType, node: FieldNode, info: GraphQLResolveInfo, label: string): Record<string, unknown> {
  const args = getArgumentValues(type.getFields()[node.name.value], node, info.variableValues);
  const { first } = args;
  if (typeof first !== 'number' || first < 1 || first > MAX_PAGE_SIZE) {
    throw AppError.badInput('first', `${label}: first must be between 1 and ${MAX_PAGE_SIZE}`);
  }
  return args;
}

/**
 * How many entries of each list the deletion statement returns: the largest `first` the
 * client gave the list (aliases may select it more than once), 0 when not selected
 * (@skip/@include honoured, src/http/selection.ts). Checked here, before anything is
 * deleted, as the fields' own validation would only run after the deletion committed
 * (issue 13 review):
 * - a payload list's `first` outside 1..MAX_PAGE_SIZE is BAD_USER_INPUT;
 * - the receipt's lists selected in the payload: without the right to read this kind of
 *   receipt's lists (src/auth/access.ts canReadReceiptLists), FORBIDDEN; `first` outside
 *   1..MAX_PAGE_SIZE, BAD_USER_INPUT; any `after` is BAD_USER_INPUT too: one that is not a
 *   cursor of that list is refused as on deletionReceipt, and a cursor of that list is of
 *   another receipt, since this deletion's receipt does not exist yet.
 * Nothing is deleted when one of them refuses.
 */
function listSelection(
  info: GraphQLResolveInfo,
  principal: Principal,
  kind: DeletionKind,
  lists: readonly ListName[],
): ListSelection {
  const payloadType = getNamedType(info.returnType);
  if (!isObjectType(payloadType)) throw new Error(`${info.fieldName} does not return an object type`);
  const top = info.fieldNodes.map((node) => node.selectionSet);
  const sizes: ListSelection = {
    terminatedSessions: 0,
    removedMemberships: 0,
    cascadedUsers: 0,
    retainedUsers: 0,
  };
  for (const list of lists) {
    for (const node of fieldsNamed(info, top, [list])) {
      sizes[list] = Math.max(sizes[list], checkedFirst(payloadType, node, info, list).first as number);
    }
  }
  const receiptType = getNamedType(payloadType.getFields().receipt.type);
  if (!isObjectType(receiptType)) throw new Error(`${payloadType.name}.receipt is not an object type`);
  const receiptLists = fieldsNamed(
    info,
    fieldsNamed(info, top, ['receipt']).map((node) => node.selectionSet),
    RECEIPT_LISTS,
  );
  if (receiptLists.length > 0) authorizeReceiptLists(principal, kind);
  for (const node of receiptLists) {
    const list = node.name.value as ListName;
    const { after } = checkedFirst(receiptType, node, info, `receipt.${list}`);
    if (decodeListCursorOf(list, after as string | null | undefined) !== null) {
      throw AppError.badInput(
        'after',
        "after: this deletion's receipt is new, so no cursor of it exists yet; page it afterwards with deletionReceipt(subjectId)",
      );
    }
  }
  return sizes;
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
   * lock is a clear CONFLICT, not a hung request. `singleStatement` (deleteUser, issue 13):
   * the work is one statement, run in autocommit unless it is a dry run (inTransaction).
   */
  private async run<T extends { receipt: DeletionReceipt }>(
    ctx: Context,
    kind: DeletionKind,
    dryRun: boolean,
    work: (manager: EntityManager) => Promise<T>,
    singleStatement = false,
  ): Promise<T> {
    try {
      // Through the deletion bulkhead (issue 10): a permit before the transaction opens,
      // given back after it ends; a wait past DB_DELETION_QUEUE_TIMEOUT_MS answers "busy".
      const result = await ctx.transaction(work, {
        rollbackOnly: dryRun,
        admission: ctx.deletionBulkhead,
        singleStatement,
      });
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
    @Arg('dryRun', () => Boolean, { nullable: true, defaultValue: false })
    dryRun: boolean | null,
    @Ctx() ctx: Context,
    @Info() info: GraphQLResolveInfo,
  ): Promise<DeleteUserPayload> {
    const isDryRun = dryRun === true;
    const lists = listSelection(info, ctx.principal, DeletionKind.USER, ['terminatedSessions', 'removedMemberships']);
    // One statement (issue 13): in autocommit, one round trip; a dry run is BEGIN, it, ROLLBACK.
    const result = await this.run(
      ctx,
      DeletionKind.USER,
      isDryRun,
      (manager) => this.deletions.deleteUser(manager, ctx.principal, id, lists),
      true,
    );
    return {
      ...result,
      dryRun: isDryRun,
      receipt: isDryRun ? null : result.receipt,
    };
  }

  @Authorized<AccessRule>(ViewerKind.ADMIN, ViewerKind.SESSION, ApiKeyScope.ORGANIZATIONS_DELETE)
  @Mutation(() => DeleteOrganizationPayload, {
    description:
      "Admin or OWNER. Terminates every member's active sessions, removes all memberships and the organization's " +
      'data, and deletes the members for whom it was the only organization. With dryRun the same work runs and is rolled back. ' +
      'In one transaction: above SYNC_DELETION_MAX_MEMBERS members (default 200,000) it answers CONFLICT, dry run included; ' +
      'use scheduleOrganizationDeletion (issue 15).',
  })
  async deleteOrganization(
    @Arg('id', () => ID) id: string,
    @Arg('dryRun', () => Boolean, { nullable: true, defaultValue: false })
    dryRun: boolean | null,
    @Ctx() ctx: Context,
    @Info() info: GraphQLResolveInfo,
  ): Promise<DeleteOrganizationPayload> {
    const isDryRun = dryRun === true;
    const lists = listSelection(info, ctx.principal, DeletionKind.ORGANIZATION, RECEIPT_LISTS);
    const result = await this.run(ctx, DeletionKind.ORGANIZATION, isDryRun, (manager) =>
      this.deletions.deleteOrganization(manager, ctx.principal, id, lists, ctx.config.deletionJobs.syncMaxMembers),
    );
    return {
      ...result,
      dryRun: isDryRun,
      receipt: isDryRun ? null : result.receipt,
    };
  }

  @Authorized<AccessRule>(...RECEIPT_READERS)
  @Query(() => DeletionReceipt, {
    nullable: true,
    description: 'The receipt of a deleteUser or deleteOrganization call on this subject; null if none happened.',
  })
  deletionReceipt(@Arg('subjectId', () => ID) subjectId: string, @Ctx() ctx: Context): Promise<DeletionReceipt | null> {
    return this.log.receipt(ctx.reader, subjectId);
  }

  // Issue 12: keys with EVENTS_READ poll the outbox too (the trusted Events operation).
  @Authorized<AccessRule>(ViewerKind.ADMIN, ApiKeyScope.EVENTS_READ)
  @Query(() => EventConnection, {
    description: 'Events of the outbox, oldest first; poll with after: endCursor. The admin, or a key with EVENTS_READ.',
  })
  events(@Args(() => EventArgs) args: EventArgs, @Ctx() ctx: Context): Promise<Page<Event>> {
    return this.log.events(ctx.reader, args);
  }
}

const PAYLOAD_LIST =
  'The first page, in the order the deletion wrote its events; totalCount is the whole list. ' +
  'pageInfo.endCursor continues in deletionReceipt(subjectId) with the same field (null for a dry run, which keeps no receipt).';

/**
 * The payload's pages: the entries the deletion statement returned, shaped per field (issue
 * 13). Their cursors name the receipt's txid, as the receipt's pages do; a dry run has no
 * receipt (null), hence no cursor.
 */
function payloadPage<T>(
  payload: { receipt: DeletionReceipt | null; firstPages: Record<string, unknown> },
  list: ListName,
  first: number,
): ListPage<T> {
  const { entries, totalCount } = payload.firstPages[list] as {
    entries: Array<{ position: string; node: T }>;
    totalCount: number;
  };
  const txid = payload.receipt?.txid ?? null;
  return toListPage(entries, first, totalCount, txid === null ? null : { list, txid });
}

@Resolver(() => DeleteUserPayload)
export class DeleteUserPayloadResolver {
  @FieldResolver(() => TerminatedSessionConnection, {
    description: `The sessions ended. ${PAYLOAD_LIST}`,
  })
  terminatedSessions(
    @Root() payload: DeleteUserPayload,
    @Args(() => PayloadListArgs) args: PayloadListArgs,
  ): ListPage<TerminatedSession> {
    return payloadPage(payload, 'terminatedSessions', args.first);
  }

  @FieldResolver(() => RemovedMembershipConnection, {
    description: `The memberships removed. ${PAYLOAD_LIST}`,
  })
  removedMemberships(
    @Root() payload: DeleteUserPayload,
    @Args(() => PayloadListArgs) args: PayloadListArgs,
  ): ListPage<RemovedMembership> {
    return payloadPage(payload, 'removedMemberships', args.first);
  }
}

@Resolver(() => DeleteOrganizationPayload)
export class DeleteOrganizationPayloadResolver {
  @FieldResolver(() => TerminatedSessionConnection, {
    description: `Every active session of every member, ended. ${PAYLOAD_LIST}`,
  })
  terminatedSessions(
    @Root() payload: DeleteOrganizationPayload,
    @Args(() => PayloadListArgs) args: PayloadListArgs,
  ): ListPage<TerminatedSession> {
    return payloadPage(payload, 'terminatedSessions', args.first);
  }

  @FieldResolver(() => RemovedMembershipConnection, {
    description: `The memberships removed. ${PAYLOAD_LIST}`,
  })
  removedMemberships(
    @Root() payload: DeleteOrganizationPayload,
    @Args(() => PayloadListArgs) args: PayloadListArgs,
  ): ListPage<RemovedMembership> {
    return payloadPage(payload, 'removedMemberships', args.first);
  }

  @FieldResolver(() => CascadedUserConnection, {
    description: `Members whose only organization this was; now deleted. ${PAYLOAD_LIST}`,
  })
  cascadedUsers(
    @Root() payload: DeleteOrganizationPayload,
    @Args(() => PayloadListArgs) args: PayloadListArgs,
  ): ListPage<CascadedUser> {
    return payloadPage(payload, 'cascadedUsers', args.first);
  }

  @FieldResolver(() => RetainedUserConnection, {
    description: `Members who belong to other organizations and keep their accounts. ${PAYLOAD_LIST}`,
  })
  retainedUsers(
    @Root() payload: DeleteOrganizationPayload,
    @Args(() => PayloadListArgs) args: PayloadListArgs,
  ): ListPage<RetainedUser> {
    return payloadPage(payload, 'retainedUsers', args.first);
  }
}

const RECEIPT_LIST =
  "Read from the events the deletion wrote, in their order; after: an endCursor of this list of this receipt, from this " +
  "field or the deletion's payload (another list's or receipt's is BAD_USER_INPUT). The admin; for a USER receipt a key " +
  'with USERS_DELETE, for an ORGANIZATION receipt a key with ORGANIZATIONS_DELETE; FORBIDDEN otherwise.';

/**
 * A receipt's whole lists, page by page (issue 13), from the events the deletion wrote
 * (DeletionLogService.listPage). Who may read them depends on the receipt's kind
 * (src/auth/access.ts canReadReceiptLists), wherever the receipt is reached (a deletion's
 * payload too: there the mutation refuses beforehand, listSelection).
 */
@Resolver(() => DeletionReceipt)
export class DeletionReceiptResolver {
  private readonly log = new DeletionLogService();

  /** One page of `list`, for those who may read this kind of receipt's lists. */
  private page<T>(ctx: Context, receipt: DeletionReceipt, list: ListName, args: ReceiptListArgs): Promise<ListPage<T>> {
    authorizeReceiptLists(ctx.principal, receipt.kind);
    return this.log.listPage<T>(ctx.reader, receipt, list, args);
  }

  @FieldResolver(() => TerminatedSessionConnection, {
    description: `The sessions the deletion ended. ${RECEIPT_LIST}`,
  })
  terminatedSessions(
    @Root() receipt: DeletionReceipt,
    @Args(() => ReceiptListArgs) args: ReceiptListArgs,
    @Ctx() ctx: Context,
  ): Promise<ListPage<TerminatedSession>> {
    return this.page(ctx, receipt, 'terminatedSessions', args);
  }

  @FieldResolver(() => RemovedMembershipConnection, {
    description: `The memberships the deletion removed. ${RECEIPT_LIST}`,
  })
  removedMemberships(
    @Root() receipt: DeletionReceipt,
    @Args(() => ReceiptListArgs) args: ReceiptListArgs,
    @Ctx() ctx: Context,
  ): Promise<ListPage<RemovedMembership>> {
    return this.page(ctx, receipt, 'removedMemberships', args);
  }

  @FieldResolver(() => CascadedUserConnection, {
    description: `The users an organization deletion deleted with it (empty for a user deletion). ${RECEIPT_LIST}`,
  })
  cascadedUsers(
    @Root() receipt: DeletionReceipt,
    @Args(() => ReceiptListArgs) args: ReceiptListArgs,
    @Ctx() ctx: Context,
  ): Promise<ListPage<CascadedUser>> {
    return this.page(ctx, receipt, 'cascadedUsers', args);
  }

  @FieldResolver(() => RetainedUserConnection, {
    description: `The members an organization deletion left with their accounts (empty for a user deletion). ${RECEIPT_LIST}`,
  })
  retainedUsers(
    @Root() receipt: DeletionReceipt,
    @Args(() => ReceiptListArgs) args: ReceiptListArgs,
    @Ctx() ctx: Context,
  ): Promise<ListPage<RetainedUser>> {
    return this.page(ctx, receipt, 'retainedUsers', args);
  }
}
