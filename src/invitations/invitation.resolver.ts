import { Arg, Args, Authorized, Ctx, FieldResolver, ID, Mutation, Resolver, Root } from 'type-graphql';
import { ApiKeyScope } from '../api-keys/api-key.entity';
import { canListInvitations, canSeeInvitationEmail } from '../auth/access';
import { ViewerKind, type AccessRule } from '../auth/principal';
import { Viewer } from '../auth/viewer.resolver';
import type { Context } from '../http/context';
import { Membership, type MembershipRole } from '../memberships/membership.entity';
import { Organization } from '../organizations/organization.entity';
import { decodeCursor, emptyPage, PageArgs, type Page } from '../pagination';
import { Invitation, InvitationConnection, InvitationStatus } from './invitation.entity';
import { InviteMemberInput } from './invitation.inputs';
import { InvitationService } from './invitation.service';

/** Invitations (issue 9): people join an organization by accepting, never by being added. */
@Resolver(() => Invitation)
export class InvitationResolver {
  private readonly service = new InvitationService();

  @Authorized<AccessRule>(ViewerKind.ADMIN, ViewerKind.SESSION, ApiKeyScope.ORGANIZATIONS_WRITE)
  @Mutation(() => Invitation, {
    description:
      'Admin, or an OWNER or ADMIN of the organization (only an OWNER invites an OWNER). Expires after INVITATION_TTL_SECONDS.',
  })
  async inviteMember(@Arg('input') input: InviteMemberInput, @Ctx() ctx: Context): Promise<Invitation> {
    const { invitation, organization } = await ctx.transaction((manager) =>
      this.service.invite(manager, ctx.principal, input, ctx.config.invitationTtlSeconds),
    );
    ctx.loaders.organizationById.prime(organization.id, organization);
    return invitation;
  }

  @Authorized<AccessRule>(ViewerKind.SESSION)
  @Mutation(() => Membership, { description: 'The invitee (a signed-in user whose email matches) joins with the invited role.' })
  async acceptInvitation(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<Membership> {
    const { membership, organization, user } = await ctx.transaction((manager) =>
      this.service.accept(manager, ctx.principal, id),
    );
    // The payload shows both ends as written, even if a deletion removes one right after.
    ctx.loaders.organizationById.prime(organization.id, organization);
    ctx.loaders.userById.prime(user.id, user);
    return membership;
  }

  @Authorized<AccessRule>(ViewerKind.SESSION)
  @Mutation(() => Invitation, { description: 'The invitee (a signed-in user whose email matches) says no.' })
  async declineInvitation(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<Invitation> {
    const { invitation, organization } = await ctx.transaction((manager) => this.service.decline(manager, ctx.principal, id));
    ctx.loaders.organizationById.prime(organization.id, organization);
    return invitation;
  }

  @Authorized<AccessRule>(ViewerKind.ADMIN, ViewerKind.SESSION, ApiKeyScope.ORGANIZATIONS_WRITE)
  @Mutation(() => Invitation, {
    description: 'Admin, or an OWNER or ADMIN of the organization (only an OWNER revokes an OWNER invitation). PENDING ones only.',
  })
  async revokeInvitation(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<Invitation> {
    const { invitation, organization } = await ctx.transaction((manager) => this.service.revoke(manager, ctx.principal, id));
    ctx.loaders.organizationById.prime(organization.id, organization);
    return invitation;
  }

  @FieldResolver(() => Organization, { description: 'Who invites: the invitee sees its ID and name.' })
  async organization(@Root() invitation: Invitation, @Ctx() ctx: Context): Promise<Organization> {
    return (await ctx.loaders.organizationById.load(invitation.organizationId))!;
  }

  @FieldResolver(() => String, {
    nullable: true,
    description: "As typed. Only the inviting organization's OWNERs and ADMINs and the platform admin see it; null for anyone else.",
  })
  async email(@Root() invitation: Invitation, @Ctx() ctx: Context): Promise<string | null> {
    return canSeeInvitationEmail(ctx.principal, await callerRoleIn(ctx, invitation.organizationId)) ? invitation.email : null;
  }
}

/** Organization.invitations; a class of its own here, since src/organizations/ is another feature's folder. */
@Resolver(() => Organization)
export class OrganizationInvitationsResolver {
  @FieldResolver(() => InvitationConnection, {
    description:
      "Oldest first. For the admin, keys with ORGANIZATIONS_READ and the organization's OWNERs and ADMINs; empty for anyone else. " +
      'status PENDING: not expired; EXPIRED: expired, whether or not marked so yet.',
  })
  async invitations(
    @Root() organization: Organization,
    @Arg('status', () => InvitationStatus, { nullable: true }) status: InvitationStatus | null | undefined,
    @Args(() => PageArgs) args: PageArgs,
    @Ctx() ctx: Context,
  ): Promise<Page<Invitation>> {
    const afterId = decodeCursor('invitation', args.after);
    if (!canListInvitations(ctx.principal, await callerRoleIn(ctx, organization.id))) return emptyPage();
    const key = { organizationId: organization.id, status: status ?? null };
    const page = await ctx.loaders.invitationPage.load({ ...key, first: args.first, afterId });
    return {
      ...page,
      get totalCount() {
        return ctx.loaders.invitationCount.load(key);
      },
    };
  }
}

/** Viewer.invitations; a class of its own here, since src/auth/ holds only the Viewer type. */
@Resolver(() => Viewer)
export class ViewerInvitationsResolver {
  private readonly service = new InvitationService();

  @FieldResolver(() => InvitationConnection, {
    description:
      "A signed-in user's pending, unexpired invitations: those addressed to their email, compared canonically. Empty for other callers.",
  })
  async invitations(@Root() _viewer: Viewer, @Args(() => PageArgs) args: PageArgs, @Ctx() ctx: Context): Promise<Page<Invitation>> {
    decodeCursor('invitation', args.after);
    const userId = ctx.access.userId;
    const user = userId ? await ctx.loaders.userById.load(userId) : null;
    if (!user) return emptyPage();
    return this.service.listForInvitee(ctx.reader, user.emailKey, args);
  }
}

/** The session caller's role in the organization (null: not a member, or not a session), from the request's loader. */
async function callerRoleIn(ctx: Context, organizationId: string): Promise<MembershipRole | null> {
  const userId = ctx.access.userId;
  if (!userId) return null;
  const memberships = await ctx.loaders.membershipsByUser.load(userId);
  return memberships.find((membership) => membership.organizationId === organizationId)?.role ?? null;
}

