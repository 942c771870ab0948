import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Args, Authorized, Ctx, FieldResolver, ID, Info, Mutation, Query, Resolver, Root } from 'type-graphql';
import { ApiKeyScope } from '../api-keys/api-key.entity';
import { ViewerKind, type AccessRule } from '../auth/principal';
import type { Context } from '../http/context';
import { fieldsNamed } from '../http/selection';
import { parseId } from '../ids';
import { Membership, MembershipConnection } from '../memberships/membership.entity';
import { decodeCursor, emptyPage, PageArgs, type Page } from '../pagination';
import { Organization, OrganizationConnection, OrganizationDomain } from './organization.entity';
import { GraphQLJSONObject } from 'graphql-scalars';
import { CreateOrganizationInput, OrganizationFilter, UpdateOrganizationInput } from './organization.inputs';
import { OrganizationService } from './organization.service';

@Resolver(() => Organization)
export class OrganizationResolver {
  private readonly service = new OrganizationService();

  @Authorized<AccessRule>(ViewerKind.ADMIN, ViewerKind.SESSION, ApiKeyScope.ORGANIZATIONS_READ)
  @Query(() => Organization, { nullable: true, description: 'Null when it does not exist or the caller may not see it.' })
  async organization(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<Organization | null> {
    const organizationId = parseId('organization', id, 'id');
    if (!(await ctx.access.canReadOrganization(organizationId))) return null;
    return ctx.loaders.organizationById.load(organizationId);
  }

  @Authorized<AccessRule>(ViewerKind.ADMIN, ViewerKind.SESSION, ApiKeyScope.ORGANIZATIONS_READ)
  @Query(() => OrganizationConnection, {
    description:
      'Every organization for an admin and keys; their own for a session user. With a filter, those that match all its ' +
      'fields (issue 12): domain by its A-label, held verified; externalId exactly.',
  })
  organizations(
    @Args(() => PageArgs) args: PageArgs,
    @Arg('filter', () => OrganizationFilter, { nullable: true }) filter: OrganizationFilter | null,
    @Ctx() ctx: Context,
  ): Promise<Page<Organization>> {
    return this.service.list(ctx.reader, ctx.access, args, filter);
  }

  @Authorized<AccessRule>(ViewerKind.ADMIN, ViewerKind.SESSION, ApiKeyScope.ORGANIZATIONS_WRITE)
  @Mutation(() => Organization, {
    description:
      'A session caller becomes the OWNER of the new organization, and its domains are unverified claims. ' +
      "The admin's and API keys' domains are verified: CONFLICT when another organization holds one verified.",
  })
  createOrganization(@Arg('input') input: CreateOrganizationInput, @Ctx() ctx: Context): Promise<Organization> {
    return ctx.transaction((manager) => this.service.create(manager, ctx.principal, input));
  }

  @Authorized<AccessRule>(ViewerKind.ADMIN, ApiKeyScope.ORGANIZATIONS_WRITE)
  @Mutation(() => OrganizationDomain, {
    description:
      'Marks a domain the organization holds as verified (issue 9). NOT_FOUND when it does not hold it; ' +
      'CONFLICT when another organization holds it verified; the domain unchanged when it is verified already.',
  })
  verifyOrganizationDomain(
    @Arg('organizationId', () => ID) organizationId: string,
    @Arg('domain', { description: 'Any spelling UTS #46 accepts: münchen.example, xn--mnchen-3ya.example.' }) domain: string,
    @Ctx() ctx: Context,
  ): Promise<OrganizationDomain> {
    return ctx.transaction((manager) => this.service.verifyDomain(manager, organizationId, domain));
  }

  @Authorized<AccessRule>(ViewerKind.ADMIN, ViewerKind.SESSION, ApiKeyScope.ORGANIZATIONS_WRITE)
  @Mutation(() => Organization, {
    description:
      'Changes an organization (issue 12): name, externalId (null clears it), settings (replaced whole). The admin, ' +
      'ORGANIZATIONS_WRITE keys, or an OWNER or ADMIN of it; a MEMBER gets FORBIDDEN, a non-member NOT_FOUND.',
  })
  updateOrganization(@Arg('input') input: UpdateOrganizationInput, @Ctx() ctx: Context): Promise<Organization> {
    return ctx.transaction((manager) => this.service.update(manager, ctx.principal, input));
  }

  @Authorized<AccessRule>(ViewerKind.ADMIN, ViewerKind.SESSION, ApiKeyScope.ORGANIZATIONS_WRITE)
  @Mutation(() => OrganizationDomain, {
    description:
      'Adds a domain (issue 12, with issue 9\'s rules): verified from the admin and ORGANIZATIONS_WRITE keys (CONFLICT when ' +
      'another organization holds it verified), an unverified claim from an OWNER or ADMIN (never CONFLICT). A domain ' +
      'the organization holds already comes back as it is (a claim is verified in place by the admin or a key).',
  })
  addOrganizationDomain(
    @Arg('organizationId', () => ID) organizationId: string,
    @Arg('domain', { description: 'Any spelling UTS #46 accepts: münchen.example, xn--mnchen-3ya.example.' }) domain: string,
    @Ctx() ctx: Context,
  ): Promise<OrganizationDomain> {
    return ctx.transaction((manager) => this.service.addDomain(manager, ctx.principal, organizationId, domain));
  }

  @Authorized<AccessRule>(ViewerKind.ADMIN, ViewerKind.SESSION, ApiKeyScope.ORGANIZATIONS_WRITE)
  @Mutation(() => OrganizationDomain, {
    description:
      'Removes a domain and returns it as it was (issue 12). NOT_FOUND when the organization does not hold it. An OWNER ' +
      'or ADMIN may remove unverified claims; a verified domain only the admin or an ORGANIZATIONS_WRITE key (FORBIDDEN).',
  })
  removeOrganizationDomain(
    @Arg('organizationId', () => ID) organizationId: string,
    @Arg('domain', { description: 'Any spelling UTS #46 accepts.' }) domain: string,
    @Ctx() ctx: Context,
  ): Promise<OrganizationDomain> {
    return ctx.transaction((manager) => this.service.removeDomain(manager, ctx.principal, organizationId, domain));
  }

  /*
   * An Organization object can reach a caller who may not read the organization (an
   * invitee sees the organization of their invitation: its id and name only). Its
   * member list and domains are then empty.
   */

  @FieldResolver(() => [OrganizationDomain], {
    description: 'In domain order. Empty for a caller who may see only the name (an invitee who is not a member).',
  })
  async domains(@Root() organization: Organization, @Ctx() ctx: Context): Promise<OrganizationDomain[]> {
    if (!(await ctx.access.canReadOrganization(organization.id))) return [];
    return ctx.loaders.domainsByOrganization.load(organization.id);
  }

  @FieldResolver(() => GraphQLJSONObject, {
    description:
      'The organization\'s settings object (issue 12), {} until set. Empty for a caller who may see only the name.',
  })
  async settings(@Root() organization: Organization, @Ctx() ctx: Context): Promise<Record<string, unknown>> {
    if (!(await ctx.access.canReadOrganization(organization.id))) return {};
    return ctx.loaders.settingsByOrganization.load(organization.id);
  }

  @FieldResolver(() => MembershipConnection, {
    description: 'Empty for a caller who may see only the name (an invitee who is not a member).',
  })
  async memberships(
    @Root() organization: Organization,
    @Args(() => PageArgs) args: PageArgs,
    @Ctx() ctx: Context,
    @Info() info: GraphQLResolveInfo,
  ): Promise<Page<Membership>> {
    const afterId = decodeCursor('membership', args.after);
    if (!(await ctx.access.canReadOrganization(organization.id))) return emptyPage();
    const page = await ctx.loaders.membershipPage.load({ organizationId: organization.id, first: args.first, afterId });
    if (selectsMemberSessions(info)) await loadMemberSessions(ctx, page.nodes);
    return { ...page, get totalCount() { return ctx.loaders.membershipCountByOrganization.load(organization.id); } };
  }
}

/** Whether the member list's selection reaches `nodes { user { sessions } }` (aliases, fragments and @skip/@include followed). */
function selectsMemberSessions(info: GraphQLResolveInfo): boolean {
  const nodes = fieldsNamed(info, info.fieldNodes.map((field) => field.selectionSet), ['nodes']);
  const users = fieldsNamed(info, nodes.map((field) => field.selectionSet), ['user']);
  return fieldsNamed(info, users.map((field) => field.selectionSet), ['sessions']).length > 0;
}

/**
 * Loads the sessions of a page's members in one batch before the page is returned, so that
 * each `User.sessions` below finds them settled and answers without a promise of its own
 * (issue 13: the member-list read). The same statement and snapshot the fields would have
 * caused one tick later; only the members whose sessions the caller may read
 * (User.sessions answers [] for the others without loading). A failed batch is not thrown
 * here: DataLoader forgets the keys of a failed batch, so each is primed with its error,
 * and each field's `load` rejects with it, as it did when the fields loaded them (without
 * the prime they would send the statement a second time).
 */
async function loadMemberSessions(ctx: Context, memberships: readonly Membership[]): Promise<void> {
  const readable = memberships.map((membership) => membership.userId).filter((userId) => ctx.access.canReadSessionsOf(userId));
  if (readable.length === 0) return;
  const results = await ctx.loaders.sessionsByUser.loadMany(readable);
  results.forEach((result, index) => {
    if (result instanceof Error) ctx.loaders.sessionsByUser.prime(readable[index]!, result);
  });
}
