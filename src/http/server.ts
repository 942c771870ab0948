import http from 'node:http';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginLandingPageDisabled } from '@apollo/server/plugin/disabled';
import { expressMiddleware } from '@as-integrations/express5';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { GraphQLSchema } from 'graphql';
import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { Authenticator } from '../auth/principal';
import type { Config } from '../config';
import { createErrorFormatter } from '../errors';
import { currentLogger, requestLogging } from '../logger';
import { createContextFactory, type Context } from './context';
import { Metrics, type PoolStats } from './metrics';
import { queryLimits } from './query-limits';
import { graphiqlRouter } from './graphiql/graphiql';
import { corsMiddleware, graphqlResponseStatusPlugin } from './http-conventions';
import { createPersistedQueryCache, TrustedDocuments, trustedDocumentsPlugin } from './persisted-queries';

export interface ServerDeps {
  config: Config;
  dataSource: DataSource;
  schema: GraphQLSchema;
  logger: Logger;
  adminApiKey: string;
}

export interface RunningServer {
  url: string;
  httpServer: http.Server;
  metrics: Metrics;
  /** Stops accepting, lets in-flight requests finish (up to the grace period), then closes. */
  stop(): Promise<void>;
}

/** Request bodies above this are refused with 413 before any parsing. */
export const BODY_LIMIT_BYTES = 1024 * 1024;

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
  app.use(requestLogging(logger));
  const httpServer = http.createServer(app);

  const trusted = new TrustedDocuments();
  const persistedQueries = createPersistedQueryCache(trusted, { redisUrl: config.redisUrl, logger });
  const metrics = new Metrics({
    operationNames: trusted.operationNames,
    pool: () => poolStats(deps.dataSource),
  });
  const limits = queryLimits();
  const production = config.nodeEnv === 'production';
  const apollo = new ApolloServer<Context>({
    schema: deps.schema,
    formatError: createErrorFormatter(logger),
    includeStacktraceInErrorResponses: false,
    hideSchemaDetailsFromClientErrors: production,
    introspection: config.introspection,
    csrfPrevention: true,
    allowBatchedHttpRequests: false,
    // Registrations expire after a week; trusted documents never do (they come from the manifest).
    persistedQueries: { cache: persistedQueries.cache, ttl: 7 * 24 * 3600 },
    validationRules: limits.validationRules,
    parseOptions: limits.parseOptions,
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer, stopGracePeriodMillis: config.shutdownGraceMs }),
      ApolloServerPluginLandingPageDisabled(),
      ...limits.plugins,
      trustedDocumentsPlugin(trusted),
      graphqlResponseStatusPlugin(),
      metrics.plugin(),
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
      res.json({ status: 'ready' });
    } catch {
      res.status(503).json({ status: 'database unreachable' });
    }
  });

  const authenticator = new Authenticator(deps.dataSource, deps.adminApiKey);
  // CORS first, so preflights are answered before GraphiQL's routes can claim /graphql.
  app.use('/graphql', corsMiddleware(config.corsOrigins));
  if (config.graphiql) app.use(graphiqlRouter()); // before Apollo: browsers' GET /graphql gets the page
  app.use(
    '/graphql',
    express.json({ limit: BODY_LIMIT_BYTES }),
    expressMiddleware(apollo, {
      context: createContextFactory({ dataSource: deps.dataSource, authenticator, config, metrics, logger }),
    }),
  );
  app.use(bodyErrorHandler);
  // Anything else that escaped a route: logged, and answered without Express's default
  // page (which shows a stack trace outside production).
  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    currentLogger(logger).error({ err: error }, 'unhandled error in an HTTP route');
    if (res.headersSent) return;
    res.status(500).json({ errors: [{ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] });
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
      await apollo.stop();
      await persistedQueries.close();
    },
  };
}

/**
 * Body-parser failures as GraphQL-shaped errors: 413 for an oversized body, and the
 * parser's own 4xx (400 malformed JSON, 415 an unknown content encoding) otherwise.
 */
function bodyErrorHandler(error: { type?: string; status?: number }, _req: Request, res: Response, next: NextFunction) {
  if (error.type === 'entity.too.large') {
    res.status(413).json({
      errors: [{ message: `Request body larger than ${BODY_LIMIT_BYTES} bytes`, extensions: { code: 'BAD_REQUEST' } }],
    });
  } else if (error.status !== undefined && error.status >= 400 && error.status < 500) {
    res.status(error.status).json({ errors: [{ message: 'Malformed request body', extensions: { code: 'BAD_REQUEST' } }] });
  } else {
    next(error);
  }
}
