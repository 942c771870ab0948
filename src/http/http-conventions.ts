import type { ApolloServerPlugin } from '@apollo/server';
import cors from 'cors';
import { ErrorCode, SERVICE_UNAVAILABLE_HEADERS } from '../errors';
import type { Context } from './context';

const LOCALHOST_ORIGIN = /^https?:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$/i;

/**
 * CORS for browser apps on other origins: an allowlist from CORS_ORIGINS, where the
 * entry `localhost` admits any localhost port (the development default). Preflight
 * requests are answered; the Authorization header is allowed, cookies are not used.
 */
export function corsMiddleware(allowed: string[]) {
  const exact = new Set(allowed.filter((origin) => origin !== 'localhost'));
  const anyLocalhost = allowed.includes('localhost');
  return cors({
    origin: (origin, callback) =>
      callback(null, origin !== undefined && (exact.has(origin) || (anyLocalhost && LOCALHOST_ORIGIN.test(origin)))),
    methods: ['GET', 'POST', 'OPTIONS'],
    allowedHeaders: ['Authorization', 'Content-Type', 'Apollo-Require-Preflight', 'X-Apollo-Operation-Name'],
    exposedHeaders: ['X-Request-Id'],
    maxAge: 600,
  });
}

const STATUS_BY_CODE: Record<string, number> = { UNAUTHENTICATED: 401, FORBIDDEN: 403 };

/**
 * HTTP status codes of GraphQL answers.
 *
 * - SERVICE_UNAVAILABLE anywhere in the answer (the database unreachable, the pool or the
 *   deletion queue exhausted, the server shutting down) makes the whole response 503 with
 *   `Retry-After` (RETRY_AFTER_SECONDS), for every kind of caller and both media types
 *   (issue 10): a client or proxy retries on the status alone. Apollo would apply an
 *   error's `extensions.http` too, but only for errors that carry it; resolver failures
 *   such as a lost connection do not, hence this one place. (Errors of the context
 *   function never reach a plugin: requestLevelError gives them the same status and header.)
 * - GraphQL over HTTP: a client that asks for application/graphql-response+json learns
 *   from the status code when a request failed for authentication (401) or
 *   authorization (403), i.e. when no data came back. Apollo already answers 400 for
 *   parse and validation errors in that mode; application/json stays 200 as before.
 */
export function graphqlResponseStatusPlugin(): ApolloServerPlugin<Context> {
  return {
    async requestDidStart({ request }) {
      const wantsGraphQLResponse = (request.http?.headers.get('accept') ?? '').includes(
        'application/graphql-response+json',
      );
      return {
        async willSendResponse({ response }) {
          if (response.body.kind !== 'single') return;
          const { data, errors } = response.body.singleResult;
          if (errors?.some((error) => error.extensions?.code === ErrorCode.SERVICE_UNAVAILABLE)) {
            response.http.status = 503;
            for (const [name, value] of Object.entries(SERVICE_UNAVAILABLE_HEADERS)) response.http.headers.set(name, value);
            return;
          }
          if (!wantsGraphQLResponse) return;
          if (data !== null && data !== undefined) return;
          const status = STATUS_BY_CODE[String(errors?.[0]?.extensions?.code)];
          if (status) response.http.status = status;
        },
      };
    },
  };
}
