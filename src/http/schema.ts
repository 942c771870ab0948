import { lexicographicSortSchema, printSchema, type GraphQLSchema } from 'graphql';
import { buildSchema, getMetadataStorage, type AuthChecker } from 'type-graphql';
import { ApiKeyResolver } from '../api-keys/api-key.resolver';
import { sessionRefusalHint } from '../auth/access';
import { ViewerKind } from '../auth/principal';
import { ViewerResolver } from '../auth/viewer.resolver';
import {
  DeleteOrganizationPayloadResolver,
  DeleteUserPayloadResolver,
  DeletionReceiptResolver,
  DeletionResolver,
} from '../deletion/deletion.resolver';
import { AppError } from '../errors';
import { DeletionJobResolver } from '../deletion/deletion-job.resolver';
import { InvitationResolver, OrganizationInvitationsResolver, ViewerInvitationsResolver } from '../invitations/invitation.resolver';
import { MembershipResolver } from '../memberships/membership.resolver';
import { OrganizationResolver } from '../organizations/organization.resolver';
import { SessionResolver } from '../sessions/session.resolver';
import { UserResolver } from '../users/user.resolver';
import { WebhookEndpointResolver } from '../webhooks/webhook-endpoint.resolver';
import type { Context } from './context';

export const resolvers = [
  ViewerResolver,
  OrganizationResolver,
  UserResolver,
  MembershipResolver,
  SessionResolver,
  DeletionResolver,
  DeleteUserPayloadResolver,
  DeleteOrganizationPayloadResolver,
  DeletionReceiptResolver,
  DeletionJobResolver,
  ApiKeyResolver,
  InvitationResolver,
  OrganizationInvitationsResolver,
  ViewerInvitationsResolver,
  WebhookEndpointResolver,
] as const;

/**
 * @Authorized(...rules) on an operation lists who may run it: kinds of caller (ADMIN,
 * SESSION, API_KEY for any key) and API key scopes (a key needs one of them). Finer
 * rules (is the caller an OWNER of this organization?) live in src/auth/access.ts.
 * A refusal is FORBIDDEN; a signed-in user refused an operation that another one serves
 * (addMember: inviteMember) is told which.
 */
const authChecker: AuthChecker<Context, string> = ({ context: { principal }, info }, rules) => {
  if (rules.includes(principal.kind)) return true;
  if (principal.kind === ViewerKind.API_KEY && rules.some((rule) => principal.scopes.has(rule))) return true;
  const hint = principal.kind === ViewerKind.SESSION ? sessionRefusalHint(`${info.parentType.name}.${info.fieldName}`) : undefined;
  if (hint) throw AppError.forbidden(hint);
  return false;
};

/**
 * Plain fields (a property read, no @Authorized, no middleware) resolve by graphql-js's
 * default resolver instead of type-graphql's wrapper around each one (issue 13: about a
 * tenth of the member-list read's CPU with Apollo's own wrapper, bench/profile-2026-11-30.md).
 * Authorization is declared on root operations and decided in field resolvers
 * (src/auth/access.ts), never on a plain field; should one ever get @Authorized, a
 * middleware or a schema name of its own, this refuses to build rather than silently
 * skip it.
 */
function resolvePlainFieldsByDefault(): void {
  const storage = getMetadataStorage();
  const objectTypes = new Set<Function>(storage.objectTypes.map((type) => type.target));
  const guarded = [...storage.authorizedFields, ...storage.middlewares].filter((entry) => objectTypes.has(entry.target));
  const renamed = storage.fields.filter((field) => objectTypes.has(field.target) && field.schemaName !== field.name);
  const offending = [...guarded.map((entry) => `${entry.target.name}.${entry.fieldName}`), ...renamed.map((f) => `${f.target.name}.${f.name}`)];
  if (offending.length > 0) {
    throw new Error(`Plain fields must not carry @Authorized, middleware or another schema name: ${offending.join(', ')}`);
  }
  for (const type of storage.objectTypes) type.simpleResolvers ??= true;
}

export function buildAppSchema(): Promise<GraphQLSchema> {
  resolvePlainFieldsByDefault();
  return buildSchema({
    resolvers,
    authChecker,
    // type-graphql leaves class-validator off unless asked; every input is validated.
    validate: { forbidUnknownValues: false, stopAtFirstError: false },
  });
}

/** The SDL committed as schema/schema.graphql (sorted, so diffs show real changes only). */
export function printAppSchema(schema: GraphQLSchema): string {
  return printSchema(lexicographicSortSchema(schema)) + '\n';
}
