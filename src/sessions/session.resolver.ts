import { Arg, Authorized, Ctx, FieldResolver, ID, Mutation, Resolver, Root } from 'type-graphql';
import { ApiKeyScope } from '../api-keys/api-key.entity';
import { ViewerKind, type AccessRule } from '../auth/principal';
import type { Context } from '../http/context';
import { Organization } from '../organizations/organization.entity';
import { User } from '../users/user.entity';
import { Session, TerminatedSession } from './session.entity';
import { CreateSessionInput, CreateSessionPayload } from './session.inputs';
import { SessionService } from './session.service';

@Resolver(() => Session)
export class SessionResolver {
  private readonly service = new SessionService();

  // Issue 9, "credentials cannot grow": a session is what the app's own backend issues after
  // signing the person in. A partner key, whatever its scopes, could otherwise mint a token
  // for any user (an OWNER) that does more than the key itself may.
  @Authorized<AccessRule>(ViewerKind.ADMIN)
  @Mutation(() => CreateSessionPayload, { description: 'The admin only: the app\'s backend, after it has signed the person in.' })
  async createSession(@Arg('input') input: CreateSessionInput, @Ctx() ctx: Context): Promise<CreateSessionPayload> {
    const { session, token, user } = await ctx.transaction((manager) =>
      this.service.create(manager, input, ctx.config.defaultSessionTtlSeconds),
    );
    // The payload shows the user as the session was issued to them, even if deleteUser commits right after.
    ctx.loaders.userById.prime(user.id, user);
    return { session, token };
  }

  @Authorized<AccessRule>(ViewerKind.ADMIN, ViewerKind.SESSION, ApiKeyScope.SESSIONS_WRITE)
  @Mutation(() => TerminatedSession, {
    description:
      'Admin, SESSIONS_WRITE keys, or the session user for their own sessions. Writes a session.terminated event when ' +
      'the session was active (issue 12); ending an ended session again writes none.',
  })
  terminateSession(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<TerminatedSession> {
    return ctx.transaction((manager) => this.service.terminate(manager, ctx.principal, id));
  }

  @Authorized<AccessRule>(ViewerKind.ADMIN, ViewerKind.SESSION, ApiKeyScope.SESSIONS_WRITE)
  @Mutation(() => [TerminatedSession], {
    description:
      'Signs a user out everywhere without deleting them (issue 12, the first step of offboarding): ends every active ' +
      'session, in ID order, and writes one session.terminated event each. The admin, SESSIONS_WRITE keys, or the ' +
      'signed-in user for themselves (FORBIDDEN for anyone else). NOT_FOUND for an unknown user; [] when none was active.',
  })
  terminateUserSessions(@Arg('userId', () => ID) userId: string, @Ctx() ctx: Context): Promise<TerminatedSession[]> {
    return ctx.transaction((manager) => this.service.terminateAllOfUser(manager, ctx.principal, userId));
  }

  @FieldResolver(() => User)
  async user(@Root() session: Session, @Ctx() ctx: Context): Promise<User> {
    return (await ctx.loaders.userById.load(session.userId))!;
  }

  @FieldResolver(() => Organization, { nullable: true })
  async organization(@Root() session: Session, @Ctx() ctx: Context): Promise<Organization | null> {
    if (!session.organizationId || !(await ctx.access.canReadOrganization(session.organizationId))) return null;
    return ctx.loaders.organizationById.load(session.organizationId);
  }
}
