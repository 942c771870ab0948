import { randomBytes } from 'node:crypto';
import { print, type DocumentNode } from 'graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import { Client, type Pool, type PoolClient } from 'pg';
import type { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { loadConfig, type Config } from '../../src/config';
import { configuredDataSource } from '../../ormconfig';
import { QueryCounter } from '../../src/database/query-counter';
import { buildAppSchema } from '../../src/http/schema';
import { startServer, type RunningServer } from '../../src/http/server';
import { createLogger } from '../../src/logger';
import type { DestinationStream } from 'pino';

export interface TestAppOptions {
  /** Where the server's JSON log lines go (e.g. a LogCapture); LOG_LEVEL in env decides how many. */
  logStream?: DestinationStream;
  /** A PostgreSQL URL whose server gets this file's fresh database; TEST_DATABASE_URL by default. */
  baseUrl?: string;
  /**
   * A PgBouncer in front of that server: the app's pool (the server's DATABASE_URL) reaches
   * the fresh database through it. TEST_POOLER_URL by default when no baseUrl is given
   * (`npm run test:cluster` sets it: test/cluster/pgbouncer-setup.ts); unset, directly.
   */
  poolerUrl?: string;
}

export interface GraphQLResponse<T> {
  status: number;
  headers: Headers;
  data?: T | null;
  errors?: Array<{ message: string; path?: string[]; extensions?: Record<string, unknown> & { code?: string } }>;
}

export interface TestApp {
  url: string;
  adminKey: string;
  dataSource: DataSource;
  /** This file's database, directly (the test's own connections: lockers, watchers, pg_stat_activity). */
  databaseUrl: string;
  /** What the server's pool connects to: databaseUrl, or the same database through PgBouncer (poolerUrl). */
  serverDatabaseUrl: string;
  queries: QueryCounter;
  /** Sends a document (typed or text) over HTTP, as the admin unless a token is given. */
  gql<TData, TVariables>(
    document: TypedDocumentNode<TData, TVariables> | DocumentNode | string,
    variables?: TVariables,
    options?: { token?: string | null },
  ): Promise<GraphQLResponse<TData>>;
  /** Runs SQL straight against this file's database (for setting up and for checking afterwards). */
  sql<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/**
 * Runs `read` on every connection of the app's pool at once (all checked out together, so
 * each is a different connection; behind PgBouncer each in a transaction of `read`'s own
 * is a different server connection), for what a connection holds between requests.
 */
export async function onEveryPoolConnection<T>(dataSource: DataSource, read: (client: PoolClient) => Promise<T>): Promise<T[]> {
  const pool = (dataSource.driver as PostgresDriver).master as Pool;
  const clients: PoolClient[] = [];
  try {
    for (let index = 0; index < pool.options.max!; index += 1) clients.push(await pool.connect());
    return await Promise.all(clients.map(read));
  } finally {
    for (const client of clients) client.release();
  }
}

/**
 * A fresh, migrated database and a server on an ephemeral port, for one test file.
 * Files run in parallel, each on its own database.
 */
export async function startTestApp(env: Record<string, string> = {}, options: TestAppOptions = {}): Promise<TestApp> {
  const baseUrl = options.baseUrl ?? process.env.TEST_DATABASE_URL;
  if (!baseUrl) throw new Error('TEST_DATABASE_URL is not set: run the tests through jest (global setup)');
  const database = `test_${randomBytes(6).toString('hex')}`;
  const admin = new Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  await admin.end();

  const databaseUrl = withDatabase(baseUrl, database);
  const poolerUrl = options.poolerUrl ?? (options.baseUrl ? undefined : process.env.TEST_POOLER_URL);
  const serverDatabaseUrl = poolerUrl ? withDatabase(poolerUrl, database) : databaseUrl;
  // Through PgBouncer 1.18 in transaction mode, as ops/cluster.ts's gateways: no named statements.
  const config: Config = loadConfig({ NODE_ENV: 'test', ...(poolerUrl ? { DB_PREPARED_STATEMENTS: 'false' } : {}), ...env });
  const logger = createLogger(config.logLevel, options.logStream);
  // With a log stream the SQL traces (level trace) go to the log as well, as in src/database/database.ts.
  const queries = new QueryCounter(options.logStream ? logger : undefined);
  // Migrations too run through the pooler when there is one, as a gateway's start does.
  const dataSource = configuredDataSource(serverDatabaseUrl, config, queries);
  await dataSource.initialize();
  await dataSource.runMigrations({ transaction: 'each' });

  const adminKey = `adm_test_${randomBytes(16).toString('hex')}`;
  const server: RunningServer = await startServer(
    { config, dataSource, schema: await buildAppSchema(), logger, adminApiKey: adminKey },
    { host: '127.0.0.1', port: 0 },
  );

  return {
    url: server.url,
    adminKey,
    dataSource,
    databaseUrl,
    serverDatabaseUrl,
    queries,
    async gql(document, variables, options = {}) {
      const token = options.token === undefined ? adminKey : options.token;
      const response = await fetch(server.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify({ query: typeof document === 'string' ? document : print(document), variables }),
      });
      const body = (await response.json()) as { data?: never; errors?: never };
      return { status: response.status, headers: response.headers, data: body.data, errors: body.errors };
    },
    sql: (text, params) => dataSource.query(text, params),
    async close() {
      await server.stop();
      await dataSource.destroy();
      const cleanup = new Client({ connectionString: baseUrl });
      await cleanup.connect();
      await cleanup.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
      await cleanup.end();
    },
  };
}
