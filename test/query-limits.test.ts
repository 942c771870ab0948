import fs from 'node:fs';
import path from 'node:path';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import { maxDirectivesRule } from '@escape.tech/graphql-armor-max-directives';
import { MaxTokensParserWLexer } from '@escape.tech/graphql-armor-max-tokens';
import {
  getNullableType,
  isEnumType,
  isInputObjectType,
  isListType,
  isNonNullType,
  Kind,
  parse,
  typeFromAST,
  validate,
  type GraphQLInputType,
  type GraphQLNamedType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type ValidationRule,
} from 'graphql';
import manifest from '../src/generated/persisted-documents.json';
import { buildAppSchema } from '../src/http/schema';
import { operationNodeCount, QUERY_LIMITS } from '../src/http/query-limits';
import { MAX_PAGE_SIZE } from '../src/pagination';
import { startTestApp, type GraphQLResponse, type TestApp } from './support/app';
import { errorCode } from './support/factory';

/**
 * graphql-armor's limits (src/http/query-limits.ts): one past each limit is refused
 * during validation, before any resolver or SQL runs; one at the limit is not.
 * All requests here are the admin's, whose authentication costs no SQL, so any
 * statement counted would come from executing the refused document.
 */

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app?.close());

const LIMIT_MESSAGES = [
  'Query is nested too deeply',
  'Query uses too many aliases',
  'Query uses too many directives',
  'Query is too long',
  'Query is too expensive',
];

function limitErrors(response: GraphQLResponse<unknown>) {
  return (response.errors ?? []).filter((e) => LIMIT_MESSAGES.some((m) => e.message.includes(m)));
}

/** Sends the document and returns the response with the SQL statements it cost. */
async function measured(query: string) {
  const before = app.queries.count;
  const response = await app.gql(query);
  return { response, statements: app.queries.count - before };
}

async function expectRefused(query: string, message: string, code = 'GRAPHQL_VALIDATION_FAILED') {
  const { response, statements } = await measured(query);
  expect(response.status).toBe(400);
  expect(response.data ?? undefined).toBeUndefined();
  expect(response.errors).toHaveLength(1);
  expect(errorCode(response)).toBe(code);
  expect(response.errors![0].message).toContain(message);
  expect(response.errors![0]).not.toHaveProperty('locations');
  // exposeLimits: false, the client learns neither the limit nor what it sent.
  expect(response.errors![0].message).not.toMatch(/\d/);
  expect(statements).toBe(0);
}

async function expectAccepted(query: string) {
  const { response } = await measured(query);
  expect(limitErrors(response)).toEqual([]);
  expect(response.errors?.map((e) => e.extensions?.code) ?? []).not.toContain('GRAPHQL_VALIDATION_FAILED');
  return response;
}

/**
 * `{ viewer { user { memberships { organization { memberships(first: 1) { nodes { organization … } } } } } } }`
 * with `levels` levels of fields: pages of one keep its node count small, so only the depth can refuse it.
 */
function nested(levels: number): string {
  const fields = ['viewer', 'user', 'memberships', 'organization'];
  const cycle = ['memberships(first: 1)', 'nodes', 'organization'];
  while (fields.length < levels - 1) fields.push(cycle[(fields.length - 4) % cycle.length]);
  fields.push(fields[fields.length - 1].startsWith('memberships(') ? 'totalCount' : 'id');
  return fields.reduceRight((inner, field) => (inner ? `${field} { ${inner} }` : field), '').replace(/^/, '{ ') + ' }';
}

const aliased = (count: number) =>
  `{ ${Array.from({ length: count }, (_, i) => `v${i}: viewer { kind }`).join(' ')} }`;
const directed = (count: number) =>
  `{ viewer { ${Array.from({ length: count }, () => 'kind @include(if: true)').join(' ')} } }`;
/**
 * Exactly `count` tokens: 15 around a list of count - 15 strings (commas are not tokens).
 * A list argument rather than repeated fields, which graphql's overlap check would refuse.
 */
const tokens = (count: number) =>
  `{ events(first: 1, types: [${Array.from({ length: count - 15 }, () => '"a"').join(', ')}]) { totalCount } }`;
describe('query limits', () => {
  it(`depth: ${QUERY_LIMITS.maxDepth + 1} levels are refused before any SQL, ${QUERY_LIMITS.maxDepth} pass`, async () => {
    await expectRefused(nested(QUERY_LIMITS.maxDepth + 1), 'Query is nested too deeply');
    const atLimit = await expectAccepted(nested(QUERY_LIMITS.maxDepth));
    expect(atLimit.status).toBe(200);
    expect(atLimit.data).toEqual({ viewer: { user: null } });
  });

  it('depth counts fragments as if they were inlined', async () => {
    const levels = nested(QUERY_LIMITS.maxDepth + 1).replace('{ viewer {', '{ viewer { ...V } } fragment V on Viewer {');
    await expectRefused(levels.replace(/ } }$/, ' }'), 'Query is nested too deeply');
  });

  it(`aliases: ${QUERY_LIMITS.maxAliases + 1} are refused before any SQL, ${QUERY_LIMITS.maxAliases} pass`, async () => {
    await expectRefused(aliased(QUERY_LIMITS.maxAliases + 1), 'Query uses too many aliases');
    const atLimit = await expectAccepted(aliased(QUERY_LIMITS.maxAliases));
    expect(Object.keys(atLimit.data as object)).toHaveLength(QUERY_LIMITS.maxAliases);
  });

  it(`directives: ${QUERY_LIMITS.maxDirectives + 1} are refused before any SQL, ${QUERY_LIMITS.maxDirectives} pass`, async () => {
    await expectRefused(directed(QUERY_LIMITS.maxDirectives + 1), 'Query uses too many directives');
    const atLimit = await expectAccepted(directed(QUERY_LIMITS.maxDirectives));
    expect(atLimit.data).toEqual({ viewer: { kind: 'ADMIN' } });
  });

  it(`tokens: ${QUERY_LIMITS.maxTokens + 1} are refused before any SQL, ${QUERY_LIMITS.maxTokens} pass`, async () => {
    // The parser itself stops counting at the limit, so this one is a parse failure.
    await expectRefused(tokens(QUERY_LIMITS.maxTokens + 1), 'Query is too long', 'GRAPHQL_PARSE_FAILED');
    const atLimit = await expectAccepted(tokens(QUERY_LIMITS.maxTokens));
    // Parsed and validated; the resolver may still refuse a list this long (BAD_USER_INPUT).
    expect(errorCode(atLimit)).not.toBe('GRAPHQL_PARSE_FAILED');
    expect(atLimit.status).toBe(200);
  });

  it('a misspelt field gets no "Did you mean" suggestion', async () => {
    const response = await app.gql('{ viewer { kinf } }');
    expect(response.status).toBe(400);
    expect(errorCode(response)).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(response.errors![0].message).toContain('kinf');
    expect(response.errors![0].message).not.toMatch(/did you mean/i);
    expect(response.errors![0].message).not.toContain('"kind"');
  });

  it('pagination stays capped at 100 rows a page', async () => {
    for (const query of [
      '{ users(first: 101) { nodes { id } } }',
      '{ organizations(first: 101) { nodes { id } } }',
      '{ events(first: 101) { nodes { id } } }',
    ]) {
      const response = await app.gql(query);
      expect(errorCode(response)).toBe('BAD_USER_INPUT');
      expect(response.data).toBeNull();
    }
    expect(errorCode(await app.gql('{ users(first: 100) { nodes { id } } }'))).toBeUndefined();
    const variables = await app.gql('query ($n: Int) { users(first: $n) { nodes { id } } }', { n: 101 });
    expect(errorCode(variables)).toBe('BAD_USER_INPUT');
  });
});

describe('the trusted operations in schema/operations', () => {
  let schema: GraphQLSchema;
  beforeAll(async () => {
    schema = await buildAppSchema();
  });

  const operations = Object.values(manifest as Record<string, string>);

  /**
   * The measures graphql-armor takes of a document, with its own visitors, and its node
   * count (src/http/query-limits.ts) with every page size variable at MAX_PAGE_SIZE.
   */
  function measure(text: string) {
    const seen: Record<string, number> = {};
    const record = (name: string) => [(_: unknown, { n }: { n: number }) => (seen[name] = n)];
    const unlimited = { exposeLimits: true, propagateOnRejection: false };
    const rules = [
      maxDepthRule({ ...unlimited, n: Infinity, flattenFragments: true, onAccept: record('depth') }),
      maxAliasesRule({ ...unlimited, n: Infinity, onAccept: record('aliases') }),
      maxDirectivesRule({ ...unlimited, n: Infinity, onAccept: record('directives') }),
    ] as ValidationRule[];
    expect(validate(schema, parse(text), rules)).toEqual([]);
    const parser = new MaxTokensParserWLexer(text, { n: Infinity, onAccept: record('tokens') } as never);
    parser.parseDocument();
    const document = parse(text);
    const operation = document.definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION)!;
    const variables = Object.fromEntries(
      (operation.variableDefinitions ?? []).map((v) => [
        v.variable.name.value,
        ['first', 'last'].includes(v.variable.name.value) ? MAX_PAGE_SIZE : sampleValue(typeFromAST(schema, v.type) as GraphQLInputType),
      ]),
    );
    seen.nodes = operationNodeCount(schema, document, operation, variables) ?? NaN;
    return seen as { depth: number; aliases: number; directives: number; nodes: number; tokens: number };
  }

  /** A value the variable's type accepts (required input fields filled in), for counting nodes. */
  function sampleValue(type: GraphQLInputType): unknown {
    const nullable = getNullableType(type);
    if (isListType(nullable)) return [sampleValue(nullable.ofType)];
    if (isEnumType(nullable)) return nullable.getValues()[0].value;
    if (isInputObjectType(nullable)) {
      return Object.fromEntries(
        Object.values(nullable.getFields())
          .filter((field) => isNonNullType(field.type))
          .map((field) => [field.name, sampleValue(field.type)]),
      );
    }
    return { Int: 1, Boolean: false }[(nullable as GraphQLNamedType).name] ?? 'x';
  }

  it('are every operation in the .graphql files', () => {
    const dir = path.join(__dirname, '..', 'schema', 'operations');
    const names = fs
      .readdirSync(dir)
      .filter((file) => file.endsWith('.graphql'))
      .flatMap((file) => [...fs.readFileSync(path.join(dir, file), 'utf8').matchAll(/^(?:query|mutation)\s+(\w+)/gm)].map((m) => m[1]));
    const manifestNames = operations.flatMap((text) => [...text.matchAll(/(?:query|mutation)\s+(\w+)/g)].map((m) => m[1]));
    expect(manifestNames.sort()).toEqual(names.sort());
  });

  it.each(operations.map((text) => [/(?:query|mutation)\s+(\w+)/.exec(text)![1], text]))(
    '%s passes every limit with room to spare',
    async (_name, text) => {
      const measures = measure(text);
      expect(measures.depth).toBeLessThanOrEqual(QUERY_LIMITS.maxDepth - 2);
      expect(measures.aliases).toBeLessThanOrEqual(QUERY_LIMITS.maxAliases / 2);
      expect(measures.directives).toBeLessThanOrEqual(QUERY_LIMITS.maxDirectives / 2);
      expect(measures.tokens).toBeLessThanOrEqual(QUERY_LIMITS.maxTokens / 2);
      expect(measures.nodes).toBeLessThanOrEqual(QUERY_LIMITS.maxNodes / 2);

      // And the server itself: whatever the missing variables cause, never a validation failure.
      const response = await app.gql(text);
      expect(limitErrors(response)).toEqual([]);
      expect(response.errors?.map((e) => e.extensions?.code) ?? []).not.toContain('GRAPHQL_VALIDATION_FAILED');
    },
  );
});
