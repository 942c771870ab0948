import type { ApolloServerOptionsWithGateway, BaseContext } from '@apollo/server';
import { BREAK, execute, GraphQLError, Kind, visit, type DocumentNode, type ExecutionResult, type GraphQLSchema } from 'graphql';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import { holdsStringLiterals } from './persisted-queries';

/** Apollo's gateway interface, as @apollo/server exports it (its own package is not a dependency of ours). */
type GatewayInterface = ApolloServerOptionsWithGateway<BaseContext>['gateway'];
type GatewayExecutor = NonNullable<Awaited<ReturnType<GatewayInterface['load']>>['executor']>;

/**
 * Queries run on graphql-jit (issue 13, candidate F of bench/profile-2026-11-30.md): the
 * document is compiled once into a JavaScript function that resolves its selection set
 * directly, instead of graphql-js walking the document for every object of every request.
 * Measured on the member-list read (100 members with users and sessions; README,
 * Benchmarks): 6–8% less server CPU per read and 5–8% more reads per second, at 1 and 8
 * clients. Mutations stay on graphql-js: they run once per request and their result is small.
 *
 * What is compiled: a query whose document holds no string literal, once per parsed
 * document, the object Apollo's document store keeps (src/http/persisted-queries.ts
 * createDocumentStore); the compiled function lives as long as that document. A document
 * with string literals is not kept by the store (nothing personal in caches, issue 11),
 * is parsed anew for each request and would be compiled for each: it runs on graphql-js,
 * as does every mutation, a document with `@skip` or `@include` (see compilable) and a
 * query graphql-jit cannot compile.
 *
 * What a client sees is graphql-js's answer:
 * - Variables graphql-jit refuses (it answers with errors and no data, before any
 *   resolver runs) are refused again by graphql-js, whose messages are the ones Apollo
 *   turns into BAD_USER_INPUT with HTTP 400 (its isBadUserInputGraphQLError).
 * - An operation Apollo could not pick (no `operation`) goes to graphql-js, whose error
 *   Apollo answers with 400 OPERATION_RESOLUTION_FAILURE.
 * - graphql-jit's errors are its own GraphQLError function (read-only properties, no
 *   `extensions` unless the cause has some): each is rebuilt as graphql-js's (asGraphQLJsError).
 * - graphql-jit reads a field that has no resolver as a plain property and serializes it
 *   at once; a promise there would be serialized as `{}` and run after the request's
 *   snapshot ended. So a field whose value may be a promise needs a resolver, which
 *   graphql-jit calls and awaits: the connections' lazily counted totalCount has one
 *   (`simple: false`, src/pagination.ts).
 * - A property read that throws inside graphql-jit's promise callbacks is never caught
 *   (graphql-jit/dist/runtime.js resolvePromise): the request would never settle. A plain
 *   field must therefore never be a getter that can throw. Getters declared with @Field
 *   (Session.status, Invitation.status) are not plain: type-graphql makes each an internal
 *   field resolver, which graphql-jit calls inside its error handling (test/jit-executor.test.ts
 *   makes Session.status throw); the only other getters are the plain rows' timestamps
 *   (src/plain-rows.ts), which parse PostgreSQL's own output.
 *
 * Known differences left as they are: where several items of a list fail, graphql-js reports
 * the first and graphql-jit each (same data, same codes); graphql-jit names each field's
 * `info` by its path joined with `_`, so two paths can share one (`c { a_b }` and `c_a { b }`):
 * only Organization.memberships reads `info` (to prefetch sessions), so at worst it prefetches
 * or not for the wrong selection, never answers differently.
 *
 * Wired as Apollo's gateway executor (the one hook Apollo Server has for another
 * executor); Apollo's plugins run as before. No plugin here uses willResolveField: Apollo
 * would wrap the schema's resolvers for it, and a query compiled before would keep the
 * unwrapped ones.
 */
export function jitGateway(schema: GraphQLSchema): GatewayInterface {
  return {
    onSchemaLoadOrUpdate(callback) {
      callback({ apiSchema: schema, coreSupergraphSdl: '' });
      return () => undefined;
    },
    async load() {
      return { executor: jitExecutor(schema) };
    },
    async stop() {},
  };
}

/** The compiled queries of one document, by operation name ('' for an unnamed one); null: runs on graphql-js. */
type Compiled = Map<string, CompiledQuery | null>;

export function jitExecutor(schema: GraphQLSchema): GatewayExecutor {
  const compiledByDocument = new WeakMap<DocumentNode, Compiled>();

  function compiled(document: DocumentNode, operationName: string | undefined): CompiledQuery | null {
    let byName = compiledByDocument.get(document);
    if (!byName) {
      byName = new Map();
      compiledByDocument.set(document, byName);
    }
    const key = operationName ?? '';
    let query = byName.get(key);
    if (query === undefined) {
      const made = compilable(document) ? compileQuery(schema, document, operationName) : undefined;
      query = made && isCompiledQuery(made) ? made : null;
      byName.set(key, query);
    }
    return query;
  }

  return async ({ document, operation, request, context }) => {
    // The name the client sent, not the one Apollo resolved (absent when it resolved none).
    const operationName = request.operationName ?? undefined;
    const variableValues = request.variables ?? {};
    const query = operation?.operation === 'query' ? compiled(document, operationName) : null;
    if (query) {
      const result = (await query.query(undefined, context, variableValues)) as ExecutionResult;
      // No data: the variables failed graphql-jit's coercion before any resolver ran.
      if (result.data !== undefined) return result.errors ? { ...result, errors: result.errors.map(asGraphQLJsError) } : result;
    }
    return (await execute({ schema, document, operationName, variableValues, contextValue: context })) as ExecutionResult;
  };
}

/**
 * Whether graphql-jit may compile `document`: no string literal (see above) and no `@skip`
 * or `@include`. graphql-jit writes a document's skip conditions onto the document's own
 * nodes (graphql-jit/dist/ast.js) and marks a fragment as seen even where its spread is
 * skipped: `{ a: organization(id: $id) { ...F @skip(if: $s) } b: organization(id: $id) { ...F } }`
 * answered `b: {}` instead of its fields, and the condition then leaked into another
 * operation of the same cached document (review of 2026-12-01). Such documents run on graphql-js.
 */
function compilable(document: DocumentNode): boolean {
  if (holdsStringLiterals(document)) return false;
  let skipsOrIncludes = false;
  visit(document, {
    [Kind.DIRECTIVE](node) {
      if (node.name.value !== 'skip' && node.name.value !== 'include') return undefined;
      skipsOrIncludes = true;
      return BREAK;
    },
  });
  return !skipsOrIncludes;
}

/**
 * graphql-jit's error as graphql-js's. An error graphql-jit raised itself (a null in a
 * non-null field, a value its scalar or enum cannot serialize, a non-list for a list) has no
 * originalError; graphql-js gives such errors one (locatedError of an Error), which is what
 * makes src/errors.ts log them and answer "Internal server error" instead of their message,
 * which may quote a stored value. So they get one here too.
 */
function asGraphQLJsError(error: GraphQLError): GraphQLError {
  const rebuilt = new GraphQLError(error.message, {
    path: error.path,
    originalError: error.originalError ?? new Error(error.message),
    extensions: error.extensions,
  });
  (rebuilt as { locations?: unknown }).locations = error.locations;
  return rebuilt;
}
