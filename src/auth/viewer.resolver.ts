import { Ctx, Field, ObjectType, Query, Resolver, Authorized } from 'type-graphql';
import type { Context } from '../http/context';
import { Session } from '../sessions/session.entity';
import { User } from '../users/user.entity';
import { ViewerKind } from './principal';

@ObjectType({ description: 'Who is calling.' })
export class Viewer {
  @Field(() => ViewerKind)
  kind: ViewerKind;

  @Field(() => User, { nullable: true })
  user: User | null;

  @Field(() => Session, { nullable: true })
  session: Session | null;
}

@Resolver()
export class ViewerResolver {
  @Authorized(ViewerKind.ADMIN, ViewerKind.SESSION, ViewerKind.API_KEY)
  @Query(() => Viewer)
  async viewer(@Ctx() ctx: Context): Promise<Viewer> {
    const { principal } = ctx;
    if (principal.kind !== ViewerKind.SESSION) return { kind: principal.kind, user: null, session: null };
    const [user, session] = await Promise.all([
      ctx.loaders.userById.load(principal.userId),
      ctx.loaders.sessionById.load(principal.sessionId),
    ]);
    return { kind: principal.kind, user, session };
  }
}
