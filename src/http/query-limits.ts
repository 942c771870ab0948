import { ApolloArmor } from '@escape.tech/graphql-armor';
import type { ApolloServerPlugin } from '@apollo/server';

/**
 * Query limits (OWASP GraphQL cheat sheet), enforced by graphql-armor during
 * validation (tokens: by graphql's parser), before any resolver or SQL runs. Every trusted operation in
 * schema/operations passes with room to spare (test/query-limits.test.ts checks it);
 * the README's operations section lists them. Limits are never echoed to clients.
 */
export const QUERY_LIMITS = {
  maxDepth: 10,
  maxAliases: 15,
  maxDirectives: 10,
  maxTokens: 1_000,
  maxCost: 5_000,
} as const;

export function queryLimits() {
  const armor = new ApolloArmor({
    maxDepth: { n: QUERY_LIMITS.maxDepth, exposeLimits: false, flattenFragments: true, errorMessage: 'Query is nested too deeply' },
    maxAliases: { n: QUERY_LIMITS.maxAliases, exposeLimits: false, errorMessage: 'Query uses too many aliases' },
    maxDirectives: { n: QUERY_LIMITS.maxDirectives, exposeLimits: false, errorMessage: 'Query uses too many directives' },
    // Counted by graphql's own parser instead (parseOptions below): the armor counts in a
    // parsingDidStart hook, and Apollo 5 answers anything thrown there with a 500.
    maxTokens: { enabled: false },
    costLimit: { maxCost: QUERY_LIMITS.maxCost, exposeLimits: false, errorMessage: 'Query is too expensive' },
    blockFieldSuggestion: { enabled: true },
  }).protect();
  return {
    validationRules: armor.validationRules,
    plugins: [...armor.plugins, hideTokenLimit()],
    // The parser stops at the limit, before building the document: 400 GRAPHQL_PARSE_FAILED.
    parseOptions: { maxTokens: QUERY_LIMITS.maxTokens },
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
