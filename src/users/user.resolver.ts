import { Arg, Args, Authorized, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';
import { ApiKeyScope } from '../api-keys/api-key.entity';
import { ViewerKind, type AccessRule } from '../auth/principal';
import type { Context } from '../http/context';
import { parseId } from '../ids';
import { Membership } from '../memberships/membership.entity';
import { PageArgs, type Page } from '../pagination';
import { Session, SessionStatus } from '../sessions/session.entity';
import { User, UserConnection } from './user.entity';
import { CreateUserInput, UpdateUserInput, UserFilter } from './user.inputs';
import { UserService } from './user.service';

@Resolver(() => User)
export class UserResolver {
  private readonly service = new UserService();

  @Authorized<AccessRule>(ViewerKind.ADMIN, ViewerKind.SESSION, ApiKeyScope.USERS_READ)
  @Query(() => User, { nullable: true, description: 'Null when it does not exist or the caller may not see it.' })
  async user(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<User | null> {
    const userId = parseId('user', id, 'id');
    if (!(await ctx.access.canReadUser(userId))) return null;
    return ctx.loaders.userById.load(userId);
  }

  @Authorized<AccessRule>(ViewerKind.ADMIN, ApiKeyScope.USERS_READ)
  @Query(() => UserConnection, {
    description:
      'Every user, in ID order; with a filter, those that match all its fields (issue 12): email by its canonical key, ' +
      'so any spelling of an address finds its one account, externalId exactly.',
  })
  users(
    @Args(() => PageArgs) args: PageArgs,
    @Arg('filter', () => UserFilter, { nullable: true }) filter: UserFilter | null,
    @Ctx() ctx: Context,
  ): Promise<Page<User>> {
    return this.service.list(ctx.reader, args, filter);
  }

  @Authorized<AccessRule>(ViewerKind.ADMIN, ApiKeyScope.USERS_WRITE)
  @Mutation(() => User)
  createUser(@Arg('input') input: CreateUserInput, @Ctx() ctx: Context): Promise<User> {
    return ctx.transaction((manager) => this.service.create(manager, input));
  }

  @Authorized<AccessRule>(ViewerKind.ADMIN, ViewerKind.SESSION, ApiKeyScope.USERS_WRITE)
  @Mutation(() => User, {
    description:
      'Changes a user (issue 12): fields left out stay, externalId: null clears it. The admin and USERS_WRITE keys change any ' +
      'field of anyone; a signed-in user only their own name (FORBIDDEN otherwise). CONFLICT when the email is, ' +
      'canonically, another account\'s.',
  })
  updateUser(@Arg('input') input: UpdateUserInput, @Ctx() ctx: Context): Promise<User> {
    return ctx.transaction((manager) => this.service.update(manager, ctx.principal, input));
  }

  @FieldResolver(() => [Membership], {
    description: "For a session caller, only memberships of organizations the caller belongs to.",
  })
  async memberships(@Root() user: User, @Ctx() ctx: Context): Promise<Membership[]> {
    const memberships = await ctx.loaders.membershipsByUser.load(user.id);
    if (ctx.access.isPlatformWide) return memberships;
    const visible = await ctx.access.organizationIds();
    return memberships.filter((membership) => visible.has(membership.organizationId));
  }

  @FieldResolver(() => [Session], { description: "A session caller sees only their own sessions." })
  sessions(
    @Root() user: User,
    @Arg('status', () => SessionStatus, { nullable: true }) status: SessionStatus | null,
    @Ctx() ctx: Context,
  ): Session[] | Promise<Session[]> {
    if (!ctx.access.canReadSessionsOf(user.id)) return [];
    const byStatus = (sessions: Session[]) => (status ? sessions.filter((session) => session.status === status) : sessions);
    // Settled when the member list loaded them ahead (Organization.memberships).
    const settled = ctx.loaders.sessionsByUser.settled(user.id);
    return settled ? byStatus(settled) : ctx.loaders.sessionsByUser.load(user.id).then(byStatus);
  }
}
