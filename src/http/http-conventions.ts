import type { ApolloServerPlugin } from '@apollo/server';
import cors from 'cors';
import type { NextFunction, Request, Response } from 'express';
import type { GraphQLError } from 'graphql';
import { ErrorCode, SERVICE_UNAVAILABLE_HEADERS } from '../errors';
import type { Context } from './context';

/** The protection space of RFC 6750 §3's challenge. */
export const AUTH_REALM = 'identity-gateway';

/**
 * The `WWW-Authenticate` challenge of a 401 (RFC 6750 §3): the realm, plus
 * `error="invalid_token"` when the request carried a bearer token that was not accepted
 * (unknown, expired, revoked, a terminated session). A request without one gets no error
 * code, as §3.1 asks; credentials of another scheme (Basic) are not a bearer token.
 */
export function bearerChallenge(authorization: string | undefined): string {
  const sentToken = /^\s*Bearer\s+\S/i.test(authorization ?? '');
  return sentToken ? `Bearer realm="${AUTH_REALM}", error="invalid_token"` : `Bearer realm="${AUTH_REALM}"`;
}

/**
 * Adds the challenge to an error that fails the request with 401 (the context function's
 * UNAUTHENTICATED), through the `extensions.http` headers Apollo applies to the response.
 */
export function withBearerChallenge(error: GraphQLError, authorization: string | undefined): GraphQLError {
  const http = error.extensions.http as { status?: number; headers?: Map<string, string> } | undefined;
  if (http?.status !== 401) return error;
  const headers = new Map(http.headers ?? []);
  headers.set('www-authenticate', bearerChallenge(authorization));
  (error.extensions as Record<string, unknown>).http = { ...http, headers };
  return error;
}

/** Headers whose non-empty presence satisfies Apollo's CSRF prevention (its defaults). */
const PREFLIGHT_HEADERS = ['apollo-require-preflight', 'x-apollo-operation-name'];

/**
 * GET requests need no preflight-forcing header (issue 11): urql and graphql-request send
 * queries over GET with only `Authorization`, and Apollo's CSRF prevention refused them.
 *
 * Why that is safe here: CSRF needs credentials a browser attaches on its own (cookies,
 * HTTP Basic, client certificates). This server uses none of them: it authenticates only
 * `Authorization: Bearer`, which a page can set on a cross-site request only after a CORS
 * preflight, which our CORS allowlist answers. A cross-site GET therefore arrives without
 * a bearer token and is refused with 401 before its document is parsed; a GET that carries
 * one was sent by code holding the token. A GET can run queries only: a mutation over GET
 * stays 405. POST keeps Apollo's check unchanged (a simple content type without a
 * preflight-forcing header is refused as CSRF).
 *
 * Apollo's check is all or nothing per server, so a GET is marked as preflight-safe here,
 * before Apollo reads the headers.
 */
export function getNeedsNoPreflight() {
  return (req: Request, _res: Response, next: NextFunction) => {
    if (req.method === 'GET' && !PREFLIGHT_HEADERS.some((name) => req.headers[name])) {
      req.headers['apollo-require-preflight'] = 'get';
    }
    next();
  };
}

const LOCALHOST_ORIGIN = /^https?:\/\/(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?$/i;

/**
 * CORS for browser apps on other origins: an allowlist from CORS_ORIGINS, where the
 * entry `localhost` admits any localhost port (the development default). Preflight
 * requests are answered; the Authorization header is allowed, cookies are not used.
 */
export function corsMiddleware(allowed: string[]) {
  const exact = new Set(allowed.filter((origin) => origin !== 'localhost'));
  const anyLocalhost = allowed.includes('localhost');
  const handler = cors({
    origin: (origin, callback) =>
      callback(null, origin !== undefined && (exact.has(origin) || (anyLocalhost && LOCALHOST_ORIGIN.test(origin)))),
    methods: ['GET', 'POST', 'OPTIONS'],
    allowedHeaders: ['Authorization', 'Content-Type', 'Apollo-Require-Preflight', 'X-Apollo-Operation-Name'],
    exposedHeaders: ['X-Request-Id'],
    maxAge: 600,
  });
  // Without an Origin header the origin callback above refuses, and cors then adds no
  // header at all (not even Vary) and calls next(): the same, without its per-request
  // option copying (server-to-server callers such as the bench never send one; issue 13).
  return (req: Request, res: Response, next: NextFunction) => {
    if (req.headers.origin === undefined) return next();
    return handler(req, res, next);
  };
}

const STATUS_BY_CODE: Record<string, number> = { UNAUTHENTICATED: 401, FORBIDDEN: 403 };

/**
 * HTTP status codes of GraphQL answers.
 *
 * - SERVICE_UNAVAILABLE anywhere in the answer (the database unreachable, the pool or the
 *   deletion queue exhausted, the server shutting down) makes the whole response 503 with
 *   (unless a mutation field before it committed: then 200, see below)
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
        // Whether a mutation's transaction committed comes from the context (ctx.transaction
        // sets it), not from a willResolveField hook: any such hook makes Apollo wrap every
        // field's resolver for the life of the process (bench/profile-2026-11-30.md).
        async willSendResponse({ response, contextValue }) {
          const committed = contextValue.committed;
          if (response.body.kind !== 'single') return;
          const { data, errors } = response.body.singleResult;
          // Except a mutation one of whose fields ran and committed: a 503 would invite
          // retrying the whole document and doing that field again (whose answer may even
          // be lost: a later non-null field that failed nulls all of `data`). Its answer
          // stays 200, and each field's error says what did not run. The same for a field
          // whose outcome is unknown (OUTCOME_UNKNOWN: it may have committed): a proxy that
          // retries 503s would replay it.
          const mayHaveCommitted = committed || errors?.some((error) => error.extensions?.code === ErrorCode.OUTCOME_UNKNOWN);
          if (!mayHaveCommitted && errors?.some((error) => error.extensions?.code === ErrorCode.SERVICE_UNAVAILABLE)) {
            response.http.status = 503;
            for (const [name, value] of Object.entries(SERVICE_UNAVAILABLE_HEADERS)) response.http.headers.set(name, value);
            return;
          }
          if (!wantsGraphQLResponse) return;
          if (data !== null && data !== undefined) return;
          const status = STATUS_BY_CODE[String(errors?.[0]?.extensions?.code)];
          if (status) response.http.status = status;
          // Every 401 carries the RFC 6750 challenge; this caller's token was accepted.
          if (status === 401) response.http.headers.set('www-authenticate', bearerChallenge(undefined));
        },
      };
    },
  };
}
