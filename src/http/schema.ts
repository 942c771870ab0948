import { getNamedType, isLeafType, isObjectType, lexicographicSortSchema, printSchema, type GraphQLSchema } from 'graphql';
import { buildSchema, getMetadataStorage, type AuthChecker, type BuildSchemaOptions } from 'type-graphql';
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

/** A field resolver for resolveDirectly: its class and method, and the GraphQL type and field it resolves. */
export interface DirectFieldResolver {
  resolver: Function;
  method: string;
  type: string;
  field: string;
}

/**
 * The fields the member-list read resolves directly (issue 13): 100 of each per read.
 * Membership.user added 2026-12-01: type-graphql's getParams and applyMiddlewares around it
 * were 2.3–2.8% of the read's Node CPU (`node dist/bench/profile.js read 8 10`, inclusive).
 */
export const DIRECT_FIELD_RESOLVERS: ReadonlyArray<DirectFieldResolver> = [
  { resolver: UserResolver, method: 'sessions', type: 'User', field: 'sessions' },
  { resolver: MembershipResolver, method: 'user', type: 'Membership', field: 'user' },
];

/** buildSchema's options, also read by resolveDirectly: it must know there is no global middleware or validateFn. */
const SCHEMA_OPTIONS = {
  resolvers,
  authChecker,
  // type-graphql leaves class-validator off unless asked; every input is validated.
  validate: { forbidUnknownValues: false, stopAtFirstError: false },
} satisfies Omit<BuildSchemaOptions, 'resolvers'> & { resolvers: typeof resolvers };

/**
 * Replaces type-graphql's resolver of each listed field by a direct call of the same method
 * (issue 13). type-graphql passes every @Arg through validateArg, an async function even when
 * there is nothing to validate (class-validator validates objects; a scalar or enum argument
 * is returned as is), so a field with an argument always resolves through a promise, and so
 * do its parent object, the parent's parent and the list around them: for `User.sessions` in
 * the member list, 100 promises and a promise per user and per membership above them, per read.
 *
 * Only fields that lose nothing by it, else the schema refuses to build: the metadata is the
 * field's (its schema name and object type), no @Authorized, no middleware, no global
 * middleware or validateFn in `options`, parameters only @Root and @Ctx (whole, no property
 * name), @Info, and @Arg of a scalar or enum type with no validateFn of its own. A root that is
 * not an instance of the field's type (type-graphql would convert it) goes to type-graphql's
 * resolver, kept as the fallback. The method runs on an instance of its own, as type-graphql's
 * default container makes one per resolver class; resolver classes here hold no state.
 */
export function resolveDirectly(
  schema: GraphQLSchema,
  fields: ReadonlyArray<DirectFieldResolver> = DIRECT_FIELD_RESOLVERS,
  options: object = SCHEMA_OPTIONS,
): void {
  const storage = getMetadataStorage();
  for (const { resolver, method, type, field } of fields) {
    const metadata = storage.fieldResolvers.find((entry) => entry.target === resolver && entry.methodName === method);
    const objectType = schema.getType(type);
    const graphqlField = isObjectType(objectType) ? objectType.getFields()[field] : undefined;
    const rootType = metadata?.getObjectType?.();
    const named = storage.objectTypes.find((entry) => entry.target === rootType)?.name;
    if (!metadata || !graphqlField || !graphqlField.resolve || !rootType || named !== type || metadata.schemaName !== field) {
      throw new Error(`${type}.${field}: no such field resolver`);
    }
    const guarded =
      metadata.roles !== undefined ||
      (metadata.middlewares?.length ?? 0) > 0 ||
      storage.authorizedFields.some((entry) => entry.target === resolver && entry.fieldName === method) ||
      storage.middlewares.some((entry) => entry.target === resolver && entry.fieldName === method) ||
      'globalMiddlewares' in options ||
      'validateFn' in options;
    const params = [...(metadata.params ?? [])].sort((a, b) => a.index - b.index);
    const plain = params.every((param) => {
      if (param.kind === 'root' || param.kind === 'context') return param.propertyName === undefined;
      if (param.kind === 'info') return true;
      return (
        param.kind === 'arg' &&
        param.validateFn === undefined &&
        graphqlField.args.some((arg) => arg.name === param.name && isLeafType(getNamedType(arg.type)))
      );
    });
    if (guarded || !plain) throw new Error(`${type}.${field} cannot be resolved directly: it has a guard or an argument to validate`);
    const instance = new (resolver as new () => Record<string, (...args: unknown[]) => unknown>)();
    const handler = instance[method]!;
    const pick = params.map((param) => {
      if (param.kind === 'root') return (root: unknown) => root;
      if (param.kind === 'context') return (_root: unknown, _args: Record<string, unknown>, context: unknown) => context;
      if (param.kind === 'info') return (_root: unknown, _args: Record<string, unknown>, _context: unknown, info: unknown) => info;
      const name = (param as { name: string }).name;
      return (_root: unknown, args: Record<string, unknown>) => args[name];
    });
    const typeGraphql = graphqlField.resolve;
    graphqlField.resolve = (root, args, context, info) =>
      root instanceof rootType
        ? handler.apply(instance, pick.map((value) => value(root, args, context, info)))
        : typeGraphql(root, args, context, info);
  }
}

export async function buildAppSchema(): Promise<GraphQLSchema> {
  resolvePlainFieldsByDefault();
  const schema = await buildSchema(SCHEMA_OPTIONS);
  resolveDirectly(schema);
  return schema;
}

/** The SDL committed as schema/schema.graphql (sorted, so diffs show real changes only). */
export function printAppSchema(schema: GraphQLSchema): string {
  return printSchema(lexicographicSortSchema(schema)) + '\n';
}
