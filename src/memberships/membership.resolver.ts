import { Arg, Authorized, Ctx, FieldResolver, ID, Mutation, Resolver, Root } from 'type-graphql';
import { ApiKeyScope } from '../api-keys/api-key.entity';
import { ViewerKind, type AccessRule } from '../auth/principal';
import type { Context } from '../http/context';
import { Organization } from '../organizations/organization.entity';
import { User } from '../users/user.entity';
import { Membership, RemovedMembership } from './membership.entity';
import { AddMemberInput, UpdateMemberRoleInput } from './membership.inputs';
import { MembershipService } from './membership.service';

@Resolver(() => Membership)
export class MembershipResolver {
  private readonly service = new MembershipService();

  // Issue 9, consent: server-side provisioning only. Signed-in users invite (inviteMember);
  // the FORBIDDEN they get here says so (SESSION_REFUSAL_HINTS in src/auth/access.ts).
  @Authorized<AccessRule>(ViewerKind.ADMIN, ApiKeyScope.ORGANIZATIONS_WRITE)
  @Mutation(() => Membership, {
    description: 'The admin, or an API key with ORGANIZATIONS_WRITE (provisioning). Signed-in users use inviteMember.',
  })
  async addMember(@Arg('input') input: AddMemberInput, @Ctx() ctx: Context): Promise<Membership> {
    const { membership, organization, user } = await ctx.transaction((manager) =>
      this.service.add(manager, ctx.principal, input),
    );
    // The payload shows both ends as written, even if a deletion removes one right after.
    ctx.loaders.organizationById.prime(organization.id, organization);
    ctx.loaders.userById.prime(user.id, user);
    return membership;
  }

  @Authorized<AccessRule>(ViewerKind.ADMIN, ViewerKind.SESSION, ApiKeyScope.ORGANIZATIONS_WRITE)
  @Mutation(() => RemovedMembership, { description: 'Admin, or an OWNER or ADMIN of the organization.' })
  removeMember(
    @Arg('organizationId', () => ID) organizationId: string,
    @Arg('userId', () => ID) userId: string,
    @Ctx() ctx: Context,
  ): Promise<RemovedMembership> {
    return ctx.transaction((manager) => this.service.remove(manager, ctx.principal, organizationId, userId));
  }

  @Authorized<AccessRule>(ViewerKind.ADMIN, ViewerKind.SESSION, ApiKeyScope.ORGANIZATIONS_WRITE)
  @Mutation(() => Membership, {
    description:
      'Changes a member\'s role. The admin, an API key with ORGANIZATIONS_WRITE, an OWNER of the organization (any change), ' +
      'or an ADMIN (between ADMIN and MEMBER only). The last OWNER cannot be demoted (CONFLICT).',
  })
  updateMemberRole(@Arg('input') input: UpdateMemberRoleInput, @Ctx() ctx: Context): Promise<Membership> {
    return ctx.transaction((manager) => this.service.updateRole(manager, ctx.principal, input));
  }

  @FieldResolver(() => Organization)
  async organization(@Root() membership: Membership, @Ctx() ctx: Context): Promise<Organization> {
    return (await ctx.loaders.organizationById.load(membership.organizationId))!;
  }

  /** Synchronous for a membership of a page, which joined its user (src/memberships/membership.loader.ts). */
  @FieldResolver(() => User)
  user(@Root() membership: Membership, @Ctx() ctx: Context): User | Promise<User> {
    return ctx.loaders.userById.settled(membership.userId) ?? ctx.loaders.userById.load(membership.userId).then((user) => user!);
  }
}
