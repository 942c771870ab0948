import { lexicographicSortSchema, printSchema, type GraphQLSchema } from 'graphql';
import { buildSchema, type AuthChecker } from 'type-graphql';
import { ApiKeyResolver } from '../api-keys/api-key.resolver';
import { ViewerKind } from '../auth/principal';
import { ViewerResolver } from '../auth/viewer.resolver';
import { DeletionResolver } from '../deletion/deletion.resolver';
import { MembershipResolver } from '../memberships/membership.resolver';
import { OrganizationResolver } from '../organizations/organization.resolver';
import { SessionResolver } from '../sessions/session.resolver';
import { UserResolver } from '../users/user.resolver';
import type { Context } from './context';

export const resolvers = [
  ViewerResolver,
  OrganizationResolver,
  UserResolver,
  MembershipResolver,
  SessionResolver,
  DeletionResolver,
  ApiKeyResolver,
] as const;

/**
 * @Authorized(...rules) on an operation lists who may run it: kinds of caller (ADMIN,
 * SESSION, API_KEY for any key) and API key scopes (a key needs one of them). Finer
 * rules (is the caller an OWNER of this organization?) live in src/auth/access.ts.
 */
const authChecker: AuthChecker<Context, string> = ({ context: { principal } }, rules) =>
  rules.includes(principal.kind) ||
  (principal.kind === ViewerKind.API_KEY && rules.some((rule) => principal.scopes.has(rule)));

export function buildAppSchema(): Promise<GraphQLSchema> {
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
