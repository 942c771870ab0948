import { lexicographicSortSchema, printSchema, type GraphQLSchema } from 'graphql';
import { buildSchema, type AuthChecker } from 'type-graphql';
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
] as const;

/**
 * @Authorized(...kinds) on an operation lists the kinds of caller that may run it;
 * finer rules (is the caller an OWNER of this organization?) live in src/auth/access.ts.
 */
const authChecker: AuthChecker<Context, string> = ({ context }, kinds) => kinds.includes(context.principal.kind);

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
