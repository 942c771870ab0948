import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { expressMiddleware } from '@as-integrations/express5';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { GraphQLSchema } from 'graphql';
import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { Authenticator, ViewerKind } from '../auth/principal';
import type { Config } from '../config';
import { createErrorFormatter, ErrorCode, SERVICE_UNAVAILABLE_HEADERS } from '../errors';
import { DatabaseOutage } from '../database/outage';
import type { ReplicaReads } from '../database/replica';
import { currentLogger, requestLogging } from '../logger';
import { DeletionBulkhead } from '../deletion/deletion-bulkhead';
import { createContextFactory, type Context } from './context';
import { InFlightRequests, type InFlightRequest } from './in-flight';
import { jitGateway } from './jit-executor';
import { Metrics, type PoolStats } from './metrics';
import { queryLimits } from './query-limits';
import { graphiqlRouter } from './graphiql/graphiql';
import { corsMiddleware, getNeedsNoPreflight, graphqlResponseStatusPlugin } from './http-conventions';
import { boundedErrorsPlugin, freeFormInputFields, refuseWideVariables, widestInputObject } from './bounded-errors';
import {
  createDocumentStore,
  createPersistedQueryCache,
  graphQLParams,
  refuseUntrustedDocument,
  TrustedDocuments,
  trustedDocumentsPlugin,
} from './persisted-queries';
import { readSnapshotPlugin } from './read-snapshot';

export interface ServerDeps {
  config: Config;
  dataSource: DataSource;
  /** The read replica plain queries read from (DATABASE_REPLICA_URL, issue 14); absent: the primary. */
  replica?: ReplicaReads;
  schema: GraphQLSchema;
  logger: Logger;
  adminApiKey: string;
}

export interface RunningServer {
  url: string;
  httpServer: http.Server;
  metrics: Metrics;
  /**
   * Stops accepting (requests that still arrive get 503 SERVICE_UNAVAILABLE), lets
   * in-flight requests finish within the grace period, then cuts the connections of
   * those that did not. Resolves with those abandoned requests (none when the drain
   * was clean); their work may still be running, and is the caller's to cut off.
   */
  stop(): Promise<{ abandoned: InFlightRequest[] }>;
}

/** Request bodies above this are refused with 413 before any parsing. */
export const BODY_LIMIT_BYTES = 1024 * 1024;

/**
 * The one JSON error body of every error answer outside GraphQL execution (404, 413,
 * 415, 431, 503 while shutting down, …), shaped like a GraphQL response's errors so a
 * client reads all failures the same way (issue 10).
 */
export function errorBody(message: string, code: string): { errors: Array<{ message: string; extensions: { code: string } }> } {
  return { errors: [{ message, extensions: { code } }] };
}

function poolStats(dataSource: DataSource): PoolStats {
  const pool = (dataSource.driver as PostgresDriver).master as
    | { totalCount: number; idleCount: number; waitingCount: number }
    | undefined;
  return { total: pool?.totalCount ?? 0, idle: pool?.idleCount ?? 0, waiting: pool?.waitingCount ?? 0 };
}

/**
 * Apollo + Express wiring: /graphql (CORS, APQ, trusted documents for API keys,
 * query limits), /healthz, /readyz, /metrics, GraphiQL, request ids on every log line.
 */
export async function startServer(deps: ServerDeps, listen: { host: string; port: number }): Promise<RunningServer> {
  const { config, logger } = deps;
  const app = express();
  app.disable('x-powered-by');
  // No ETag on GraphQL answers: a POST is never revalidated, and Express would SHA-1 every
  // response body for nothing (about 1% of deleteUser's CPU: bench/profile-2026-11-30.md).
  // GraphiQL's static files keep theirs (express.static sets its own).
  app.set('etag', false);
  app.use(requestLogging(logger));
  // Once shutdown began, a request that still arrives (on a kept-alive or pipelining
  // connection) is refused as "try again elsewhere", never half-served.
  let stopping = false;
  app.use((_req: Request, res: Response, next: NextFunction) => {
    if (!stopping) return next();
    currentLogger(logger).info('refused: the server is shutting down');
    res
      .status(503)
      .set({ ...SERVICE_UNAVAILABLE_HEADERS, Connection: 'close' })
      .json(errorBody('The server is shutting down; retry shortly', ErrorCode.SERVICE_UNAVAILABLE));
  });
  const httpServer = http.createServer(app);
  httpServer.on('clientError', clientErrorHandler(logger));
  const inFlight = new InFlightRequests();

  const trusted = new TrustedDocuments();
  const persistedQueries = createPersistedQueryCache(trusted, { redisUrl: config.redisUrl, logger });
  const metrics = new Metrics({
    trusted,
    pool: () => poolStats(deps.dataSource),
  });
  const limits = queryLimits();
  const production = config.nodeEnv === 'production';
  // Logs a database outage once when it starts and once when it ends (issue 10).
  const outage = new DatabaseOutage(logger, deps.dataSource);
  const apollo = new ApolloServer<Context>({
    // Queries on graphql-jit, through Apollo's gateway hook (src/http/jit-executor.ts).
    ...(config.graphqlJit ? { gateway: jitGateway(deps.schema) } : { schema: deps.schema }),
    formatError: createErrorFormatter(logger, outage),
    includeStacktraceInErrorResponses: false,
    hideSchemaDetailsFromClientErrors: production,
    introspection: config.introspection,
    // For POST; a GET needs no preflight-forcing header (getNeedsNoPreflight explains why).
    csrfPrevention: true,
    allowBatchedHttpRequests: false,
    // Registrations expire after a week; trusted documents never do (they come from the manifest).
    persistedQueries: { cache: persistedQueries.cache, ttl: 7 * 24 * 3600 },
    // Parsed documents, cached without those holding string literals (nothing personal in caches).
    documentStore: createDocumentStore(),
    validationRules: limits.validationRules,
    parseOptions: limits.parseOptions,
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer, stopGracePeriodMillis: config.shutdownGraceMs }),
      ApolloServerPluginLandingPageDisabled(),
      // No cache hints are used (no @cacheControl anywhere), and the default cache-control
      // plugin's willResolveField wraps every field's resolver: 6% of a read's CPU
      // (bench/profile-2026-11-30.md).
      ApolloServerPluginCacheControlDisabled(),
      ...limits.plugins,
      trustedDocumentsPlugin(trusted),
      boundedErrorsPlugin(),
      graphqlResponseStatusPlugin(),
      metrics.plugin(),
      inFlight.plugin(),
      readSnapshotPlugin(),
    ],
    logger,
  });
  await apollo.start();

  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    try {
      await deps.dataSource.query('SELECT 1');
      outage.reachable();
      // Readiness is the primary's: an unreachable replica only sends plain queries to the
      // primary (src/database/replica.ts), so it is reported here but never makes this 503.
      res.json(deps.replica ? { status: 'ready', replica: deps.replica.state } : { status: 'ready' });
    } catch {
      res.status(503).json({ status: 'database unreachable' });
    }
  });

  const authenticator = new Authenticator(deps.dataSource, deps.adminApiKey);
  const widestInput = widestInputObject(deps.schema);
  const freeFormFields = freeFormInputFields(deps.schema);
  const deletionBulkhead = new DeletionBulkhead(config.dbDeletionConcurrency, config.dbDeletionQueueTimeoutMs);
  // CORS first, so preflights are answered before GraphiQL's routes can claim /graphql.
  app.use('/graphql', corsMiddleware(config.corsOrigins));
  if (config.graphiql) app.use(graphiqlRouter()); // before Apollo: browsers' GET /graphql gets the page
  app.use(
    '/graphql',
    express.json({ limit: BODY_LIMIT_BYTES }),
    getNeedsNoPreflight(),
    inFlight.track(
      expressMiddleware(apollo, {
        context: createContextFactory({
          dataSource: deps.dataSource,
          replica: deps.replica,
          authenticator,
          config,
          metrics,
          logger,
          deletionBulkhead,
          // Issue 11: a key's document and every request's variables, judged before parsing.
          admit: (req, principal) => {
            const params = graphQLParams(req);
            if (principal.kind === ViewerKind.API_KEY) refuseUntrustedDocument(trusted, params);
            refuseWideVariables(params.variables, widestInput, freeFormFields);
          },
        }),
      }),
    ),
  );
  app.use(bodyErrorHandler);
  // Unknown routes: the JSON error body, not Express's HTML page.
  app.use((req: Request, res: Response) => {
    res.status(404).json(errorBody(`No route for ${req.method} ${req.path}`, ErrorCode.NOT_FOUND));
  });
  // Anything else that escaped a route: logged, and answered without Express's default
  // page (which shows a stack trace outside production).
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    currentLogger(logger).error({ err: error }, 'unhandled error in an HTTP route');
    if (res.headersSent) return;
    res.status(500).json(errorBody('Internal server error', ErrorCode.INTERNAL_SERVER_ERROR));
  });

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(listen.port, listen.host, resolve);
  });
  const { port } = httpServer.address() as { port: number };
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  return {
    url: `http://${host}:${port}/graphql`,
    httpServer,
    metrics,
    async stop() {
      stopping = true;
      // The drain plugin: stop listening, close idle connections, wait up to the grace
      // period for the busy ones, then destroy whatever connection is left.
      await apollo.stop();
      outage.close();
      const abandoned = inFlight.list();
      await persistedQueries.close();
      return { abandoned };
    },
  };
}

/**
 * Body-parser failures as GraphQL-shaped errors: 413 for an oversized body, and the
 * parser's own 4xx (400 malformed JSON, 415 an unknown content encoding) otherwise.
 */
function bodyErrorHandler(error: { type?: string; status?: number }, _req: Request, res: Response, next: NextFunction) {
  if (error.type === 'entity.too.large') {
    res.status(413).json(errorBody(`Request body larger than ${BODY_LIMIT_BYTES} bytes`, 'BAD_REQUEST'));
  } else if (error.status === 415) {
    res.status(415).json(errorBody('Unsupported content encoding or charset of the request body', 'BAD_REQUEST'));
  } else if (error.status !== undefined && error.status >= 400 && error.status < 500) {
    res.status(error.status).json(errorBody('Malformed request body', 'BAD_REQUEST'));
  } else {
    next(error);
  }
}

/** What Node's HTTP parser refuses before Express runs, as status and message. */
function parserRefusal(code: string | undefined): { status: number; message: string } {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, message: 'Request header fields too large' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, message: 'Request timed out' };
    default:
      return { status: 400, message: 'Malformed HTTP request' };
  }
}

/**
 * Requests Node's HTTP parser refuses (headers over its 16 KB limit, garbage, a bad
 * chunk) never reach Express, and Node answers them with a bare status line. Here they
 * get the same JSON error body as every other error answer (issue 10), with a request id,
 * then the connection is closed: after a parse error its byte stream cannot be trusted.
 */
function clientErrorHandler(logger: Logger) {
  return (error: Error & { code?: string }, socket: Duplex) => {
    // A response already partly written on this connection cannot be followed by
    // another status line (the test Node's own handler makes).
    const busy = (socket as Duplex & { _httpMessage?: { _headerSent?: boolean } })._httpMessage?._headerSent;
    if (error.code === 'ECONNRESET' || !socket.writable || busy) {
      socket.destroy();
      return;
    }
    const { status, message } = parserRefusal(error.code);
    const requestId = randomUUID();
    const body = JSON.stringify(errorBody(message, 'BAD_REQUEST'));
    logger.info({ reqId: requestId, res: { statusCode: status }, parserError: error.code }, 'refused by the HTTP parser');
    socket.end(
      [
        `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}`,
        'Content-Type: application/json; charset=utf-8',
        `Content-Length: ${Buffer.byteLength(body)}`,
        `X-Request-Id: ${requestId}`,
        'Connection: close',
        '',
        body,
      ].join('\r\n'),
    );
  };
}
