import 'reflect-metadata';
import { DataSource, type Logger } from 'typeorm';
import type { Config } from './src/config';
import { InitialSchema1764300000000 } from './src/database/migrations/1764300000000-initial-schema';
import { DeletionReceiptsAndEvents1764300100000 } from './src/database/migrations/1764300100000-deletion-receipts-and-events';
import { ApiKeys1764300200000 } from './src/database/migrations/1764300200000-api-keys';
import { ConsentAndCanonicalIdentity1764300300000 } from './src/database/migrations/1764300300000-consent-and-canonical-identity';
import { Webhooks1764300400000 } from './src/database/migrations/1764300400000-webhooks';
import { LookupIndexes1764300500000 } from './src/database/migrations/1764300500000-lookup-indexes';
import { DeletionReceiptPages1764300600000 } from './src/database/migrations/1764300600000-deletion-receipt-pages';
import { DeletionReceiptPageIndexes1764300600500 } from './src/database/migrations/1764300600500-deletion-receipt-page-indexes';
import { DeleteUserFunction1764300601000 } from './src/database/migrations/1764300601000-delete-user-function';
import { OrganizationDeletionJobs1764300700000 } from './src/database/migrations/1764300700000-organization-deletion-jobs';
import { DeleteUserFunctionV21764300701000 } from './src/database/migrations/1764300701000-delete-user-function-v2';
import { MembershipPageIndex1764300800000 } from './src/database/migrations/1764300800000-membership-page-index';
import { countingClientOf } from './src/database/query-counter';
import { setPreparedStatements } from './src/plain-rows';
import { setTransactionTimeouts } from './src/database/transaction';
import { Invitation } from './src/invitations/invitation.entity';
import { ApiKey } from './src/api-keys/api-key.entity';
import { Organization, OrganizationDomain, OrganizationSettings } from './src/organizations/organization.entity';
import { User } from './src/users/user.entity';
import { Membership } from './src/memberships/membership.entity';
import { Session } from './src/sessions/session.entity';

/**
 * The one place that knows how to reach the database, for the server, the tests and
 * the TypeORM migration CLI (`npx typeorm -d ormconfig.ts …` with DATABASE_URL set).
 * `synchronize` is never on: the schema comes from migrations only.
 */
export const entities = [Organization, OrganizationDomain, OrganizationSettings, User, Membership, Session, ApiKey, Invitation];
export const migrations = [
  InitialSchema1764300000000,
  DeletionReceiptsAndEvents1764300100000,
  ApiKeys1764300200000,
  ConsentAndCanonicalIdentity1764300300000,
  Webhooks1764300400000,
  LookupIndexes1764300500000,
  DeletionReceiptPages1764300600000,
  DeletionReceiptPageIndexes1764300600500,
  DeleteUserFunction1764300601000,
  OrganizationDeletionJobs1764300700000,
  DeleteUserFunctionV21764300701000,
  MembershipPageIndex1764300800000,
];

export interface DataSourceOptions {
  url: string;
  poolSize?: number;
  /**
   * PostgreSQL lock_timeout / statement_timeout, in ms: for every transaction the gateway
   * opens, sent as SET LOCAL with each BEGIN (src/database/transaction.ts beginStatement), so
   * they hold behind PgBouncer in transaction mode (issue 14); and as startup parameters, the
   * ceiling of statements outside a transaction on a direct connection (PgBouncer ignores them;
   * there the role's settings are the ceiling).
   */
  lockTimeoutMs?: number;
  statementTimeoutMs?: number;
  logger?: Logger;
  applicationName?: string;
  /**
   * Loader statements as named prepared statements (config.ts DB_PREPARED_STATEMENTS;
   * src/plain-rows.ts runStatement). Default false: safe behind any pooler.
   */
  preparedStatements?: boolean;
}

export function createDataSource(options: DataSourceOptions): DataSource {
  const dataSource = new DataSource({
    type: 'postgres',
    url: options.url,
    entities,
    migrations,
    migrationsRun: false,
    // Each migration in its own transaction, unless it says `transaction = false` (an index
    // built CONCURRENTLY, 1764300600500). The server, tests and ops/migrate.js pass 'each'
    // too; this is the TypeORM CLI's default, which would otherwise be 'all' and refuse.
    migrationsTransactionMode: 'each',
    synchronize: false,
    logging: ['query', 'error', 'warn', 'migration'],
    logger: options.logger,
    maxQueryExecutionTime: 1_000,
    applicationName: options.applicationName ?? 'identity-gateway',
    extra: {
      max: options.poolSize ?? 10,
      // A ceiling for statements outside a transaction (authentication lookups, a mutation's
      // payload reads, /readyz, the outage probe, the autocommit deleteUser): startup parameters
      // of a direct connection, so a lock held elsewhere fails them with lock_not_available
      // instead of hanging the request. Inside a transaction SET LOCAL rules (setTransactionTimeouts
      // below), the same values. A startup parameter is this client connection's own: PgBouncer
      // 1.18 drops these two (ignore_startup_parameters, ops/pgbouncer.ini), and there the
      // ceiling is a setting of the gateway's role instead (ops/cluster.ts; README "Timeouts
      // without session state").
      lock_timeout: options.lockTimeoutMs,
      statement_timeout: options.statementTimeoutMs,
      // A request never waits for ever on a connection.
      connectionTimeoutMillis: 5_000,
      idleTimeoutMillis: 30_000,
      // A QueryCounter as logger counts statements at the driver (src/database/query-counter.ts).
      ...countingClientOf(options.logger),
    },
  });
  setTransactionTimeouts(dataSource, { lockTimeoutMs: options.lockTimeoutMs, statementTimeoutMs: options.statementTimeoutMs });
  setPreparedStatements(dataSource, options.preparedStatements ?? false);
  return dataSource;
}

/** A DataSource with the server configuration's pool size, timeouts and prepared statements (server, tests, bench). */
export function configuredDataSource(
  url: string,
  config: Pick<Config, 'dbPoolSize' | 'dbLockTimeoutMs' | 'dbStatementTimeoutMs' | 'dbPreparedStatements'>,
  logger?: Logger,
): DataSource {
  return createDataSource({
    url,
    poolSize: config.dbPoolSize,
    lockTimeoutMs: config.dbLockTimeoutMs,
    statementTimeoutMs: config.dbStatementTimeoutMs,
    preparedStatements: config.dbPreparedStatements,
    logger,
  });
}

export default createDataSource({ url: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres' });
