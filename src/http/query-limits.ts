import { ApolloArmor } from '@escape.tech/graphql-armor';
import type { ApolloServerPlugin } from '@apollo/server';
import {
  getNamedType,
  getNullableType,
  getVariableValues,
  GraphQLError,
  isLeafType,
  isListType,
  isObjectType,
  type DocumentNode,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type ValueNode,
  visit,
} from 'graphql';
import { getComplexity, type ComplexityEstimator } from 'graphql-query-complexity';
import { MAX_PAGE_SIZE } from '../pagination';

/**
 * Query limits (OWASP GraphQL cheat sheet). Depth, aliases and directives are counted by
 * graphql-armor during validation, tokens by graphql's parser; the node count once the
 * operation and its variables are known (nodeLimit). All of them before any resolver or
 * SQL runs. Every trusted operation in schema/operations passes with room to spare
 * (test/query-limits.test.ts checks it); the README's "Query limits" section explains
 * them. Limits are never echoed to clients.
 */
export const QUERY_LIMITS = {
  maxDepth: 10,
  maxAliases: 15,
  maxDirectives: 10,
  maxTokens: 1_000,
  /** The most objects a response may hold, as nodeCountEstimator counts them (issue 11). */
  maxNodes: 10_000,
} as const;

/**
 * How many items a list without a page size (User.memberships, User.sessions,
 * Organization.domains, apiKeys) is assumed to hold. The deletion payloads' lists are pages
 * since issue 13 and count by their `first`.
 * An estimate, not a cap: such lists are small in practice (a person belongs to a few
 * organizations and has a few live sessions).
 */
export const UNPAGINATED_LIST_SIZE = 20;

export const QUERY_TOO_EXPENSIVE = 'Query is too expensive';

export function queryLimits() {
  const armor = new ApolloArmor({
    maxDepth: { n: QUERY_LIMITS.maxDepth, exposeLimits: false, flattenFragments: true, errorMessage: 'Query is nested too deeply' },
    // armor leaves `__typename` aliases uncounted by default; here they count like any other (issue 11).
    maxAliases: { n: QUERY_LIMITS.maxAliases, allowList: [], exposeLimits: false, errorMessage: 'Query uses too many aliases' },
    maxDirectives: { n: QUERY_LIMITS.maxDirectives, exposeLimits: false, errorMessage: 'Query uses too many directives' },
    // Counted by graphql's own parser instead (parseOptions below): the armor counts in a
    // parsingDidStart hook, and Apollo 5 answers anything thrown there with a 500.
    maxTokens: { enabled: false },
    // armor's cost counts depth and fields, not list sizes, and ignores variables (issue 11):
    // nodeLimit replaces it.
    costLimit: { enabled: false },
    blockFieldSuggestion: { enabled: true },
  }).protect();
  return {
    validationRules: armor.validationRules,
    plugins: [...armor.plugins, hideTokenLimit(), nodeLimit(), intOutOfRange()],
    // The parser stops at the limit, before building the document: 400 GRAPHQL_PARSE_FAILED.
    parseOptions: { maxTokens: QUERY_LIMITS.maxTokens },
  };
}

/** A list field's page size: `first` (or `last`) as the resolver will see it, within the range it accepts. */
function pageSize(args: Record<string, unknown>): number {
  const size = args.first ?? args.last;
  // Out of range (0, negative, > MAX_PAGE_SIZE, null) the resolver refuses it with
  // BAD_USER_INPUT; clamped, the cost stays an upper bound of what can come back.
  return typeof size === 'number' ? Math.min(Math.max(size, 0), MAX_PAGE_SIZE) : MAX_PAGE_SIZE;
}

/**
 * The node count of one field, GitHub's node limit and Shopify's calculated cost in one
 * rule: every object that can come back counts 1, scalars and enums 0, and list sizes
 * multiply along each path.
 *
 * - A field with a `first`/`last` argument (a connection): 1, plus its selection counted
 *   `first` times. The argument is the value the resolver gets: a literal, a variable, or
 *   the argument's default (20; `events` 50), clamped to 0..MAX_PAGE_SIZE.
 * - The `nodes` list of a connection: its items, once each (the connection multiplied them).
 * - Any other list of objects: UNPAGINATED_LIST_SIZE items.
 * - An object: 1 plus its selection.
 * - Introspection: 0; it reads the schema, never the database, and is bounded by the schema's size.
 *
 * An upper bound of the objects in the response as long as unpaginated lists stay within
 * UNPAGINATED_LIST_SIZE (the connection's pageInfo is counted `first` times, not once).
 * Of the arguments it reads only `first` and `last`, through pageSize: operationNodeCount's
 * cache key (countKey) relies on that, so an estimate from any other argument must go there too.
 */
export const nodeCountEstimator: ComplexityEstimator = ({ type, field, args, childComplexity }) => {
  if (type.name.startsWith('__') || field.name.startsWith('__')) return 0;
  const named = getNamedType(field.type);
  if (isLeafType(named)) return 0;
  if (field.args.some((arg) => arg.name === 'first' || arg.name === 'last')) return 1 + pageSize(args) * childComplexity;
  if (isListType(getNullableType(field.type))) {
    const items = isConnection(type) ? 1 : UNPAGINATED_LIST_SIZE;
    return items * (1 + childComplexity);
  }
  return 1 + childComplexity;
};

/** `XConnection { nodes, pageInfo, totalCount }` (src/pagination.ts). */
function isConnection(type: { name: string }): boolean {
  return isObjectType(type) && 'nodes' in type.getFields() && 'pageInfo' in type.getFields();
}

/**
 * The node count of the operation with these variables (graphql-query-complexity with
 * nodeCountEstimator), or undefined when the variables are invalid: execution refuses
 * those with BAD_USER_INPUT before any resolver runs. Infinity for a document the library
 * will not walk (more than its 10,000 selections, e.g. fragments spread many times over).
 *
 * Remembered per document and operation (Apollo's document store hands the same
 * DocumentNode to every request of a text), under a key made of what the count can
 * depend on (countKey): walking the document cost 3-5% of deleteUser's CPU per request
 * (issue 13, bench/profile-2026-11-30.md candidate J). The variables are still checked on
 * every request.
 */
export function operationNodeCount(
  schema: GraphQLSchema,
  document: DocumentNode,
  operation: OperationDefinitionNode,
  variables: Record<string, unknown> = {},
): number | undefined {
  // Only whether there is any error: one per bad item of a 100,000-item list took seconds.
  const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], variables, { maxErrors: 1 });
  if (coerced.errors) return undefined;
  const plan = costPlan(schema, document, operation);
  const key = countKey(plan, operation, coerced.coerced);
  const known = plan.counts.get(key);
  if (known !== undefined) return known;
  let count: number;
  try {
    count = getComplexity({
      schema,
      query: document,
      operationName: operation.name?.value,
      variables,
      estimators: [nodeCountEstimator],
    });
  } catch {
    count = Infinity;
  }
  if (plan.counts.size >= MAX_COUNTS_PER_OPERATION) plan.counts.clear();
  plan.counts.set(key, count);
  return count;
}

/** Counts kept per operation, one per distinct countKey; beyond that the oldest are dropped together. */
const MAX_COUNTS_PER_OPERATION = 64;

interface CostPlan {
  schema: GraphQLSchema;
  /** Variables given to a `first`/`last` argument anywhere in the document: the count reads their (clamped) values. */
  pageSizeVariables: ReadonlySet<string>;
  /** Variables given to a directive (@skip/@include decide what is counted): their exact values matter. */
  directiveVariables: ReadonlySet<string>;
  counts: Map<string, number>;
}

const costPlans = new WeakMap<DocumentNode, Map<OperationDefinitionNode, CostPlan>>();

function costPlan(schema: GraphQLSchema, document: DocumentNode, operation: OperationDefinitionNode): CostPlan {
  let byOperation = costPlans.get(document);
  if (!byOperation) costPlans.set(document, (byOperation = new Map()));
  let plan = byOperation.get(operation);
  if (!plan || plan.schema !== schema) {
    const pageSizeVariables = new Set<string>();
    const directiveVariables = new Set<string>();
    const collect = (value: ValueNode, into: Set<string>) =>
      visit(value, {
        Variable(variable) {
          into.add(variable.name.value);
        },
      });
    visit(document, {
      Field(field) {
        for (const arg of field.arguments ?? []) {
          if (arg.name.value === 'first' || arg.name.value === 'last') collect(arg.value, pageSizeVariables);
        }
      },
      Directive(directive) {
        for (const arg of directive.arguments ?? []) collect(arg.value, directiveVariables);
      },
    });
    plan = { schema, pageSizeVariables, directiveVariables, counts: new Map() };
    byOperation.set(operation, plan);
  }
  return plan;
}

/**
 * What the node count can depend on besides the document, one part per declared
 * variable (coerced, defaults applied): a directive's variable by its value; a page
 * size's by the value pageSize makes of it (clamped to 0..MAX_PAGE_SIZE; null and
 * absent apart, since `first: null` falls back to `last` and an absent one to the
 * argument's default); any other variable only by whether it is absent, null or given,
 * the one thing about it that can make the library's argument coercion fail (Infinity).
 */
function countKey(plan: CostPlan, operation: OperationDefinitionNode, coerced: Record<string, unknown>): string {
  const parts: string[] = [];
  for (const definition of operation.variableDefinitions ?? []) {
    const name = definition.variable.name.value;
    const value = coerced[name];
    if (value === undefined) parts.push('u');
    else if (plan.directiveVariables.has(name)) parts.push(JSON.stringify(value));
    else if (value === null) parts.push('n');
    else if (!plan.pageSizeVariables.has(name)) parts.push('v');
    else parts.push(typeof value === 'number' ? String(pageSize({ first: value })) : 's');
  }
  return parts.join(',');
}

/**
 * Refuses an operation whose node count exceeds QUERY_LIMITS.maxNodes: 400
 * GRAPHQL_VALIDATION_FAILED, before any resolver or SQL runs. In didResolveOperation,
 * the pattern Apollo documents for graphql-query-complexity: the variables are known
 * there, so `first: $n` counts as `first: 100` does, and every document goes through it,
 * whether sent as text, by a trusted document's hash or as an APQ registration (which
 * Apollo stores only after this hook passed).
 */
function nodeLimit(): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ schema, document, operation, request }) {
          if (!operation) return; // Apollo resolved none: it has answered already
          const nodes = operationNodeCount(schema, document, operation, request.variables);
          if (nodes === undefined || nodes <= QUERY_LIMITS.maxNodes) return;
          throw new GraphQLError(QUERY_TOO_EXPENSIVE, {
            extensions: { code: 'GRAPHQL_VALIDATION_FAILED', http: { status: 400 } },
          });
        },
      };
    },
  };
}

const TOKEN_LIMIT = /Document contains more th\w* \d+ tokens/;

/** graphql's message names the limit, and its location tells where it was hit: replace both. */
function hideTokenLimit(): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async didEncounterErrors({ errors }) {
          for (const error of errors) {
            if (!TOKEN_LIMIT.test(error.message)) continue;
            error.message = 'Syntax Error: Query is too long';
            (error as { locations?: unknown }).locations = undefined;
          }
        },
      };
    },
  };
}

const INT_OUT_OF_RANGE = /^Int cannot represent non 32-bit signed integer value/;

/** What a client reads for an Int literal out of range: graphql's own message ends with the literal. */
export const INT_OUT_OF_RANGE_MESSAGE = 'Int out of range: a 32-bit signed integer is expected';

/**
 * A literal beyond GraphQL's 32-bit Int (`first: 2147483648`) fails validation; as a
 * variable the same value is BAD_USER_INPUT. Every numeric argument out of range is
 * BAD_USER_INPUT (issue 11), so the literal's code is made the variable's. Still 400.
 * graphql's message ("… value: 99999999999") echoes the literal, and no error echoes an
 * input value (issue 11): it becomes INT_OUT_OF_RANGE_MESSAGE (the location stays).
 */
function intOutOfRange(): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async didEncounterErrors({ errors }) {
          for (const error of errors) {
            if (!INT_OUT_OF_RANGE.test(error.message)) continue;
            (error.extensions as Record<string, unknown>).code = 'BAD_USER_INPUT';
            error.message = INT_OUT_OF_RANGE_MESSAGE;
          }
        },
      };
    },
  };
}
