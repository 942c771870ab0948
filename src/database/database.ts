import path from 'node:path';
import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { configuredDataSource } from '../../ormconfig';
import type { Config } from '../config';
import { DataFolderInUseError, startEmbeddedPostgres, type EmbeddedDatabase } from './embedded';
import { QueryCounter } from './query-counter';
import { endCheckedOutConnections, ReplicaReads } from './replica';

export interface Database {
  dataSource: DataSource;
  queries: QueryCounter;
  /** The read replica plain queries read from, when DATABASE_REPLICA_URL is set (src/database/replica.ts). */
  replica?: ReplicaReads;
  embedded?: EmbeddedDatabase;
  close(): Promise<void>;
  /**
   * For a shutdown that abandons requests: cuts off every connection still checked out
   * (a transaction in progress) without a COMMIT, so PostgreSQL rolls it back, then
   * closes as close() does. close() alone would wait for that work, and could commit it.
   */
  abort(): Promise<void>;
}

/**
 * Opens the database the configuration names (DATABASE_URL), or starts the embedded
 * PostgreSQL under the data directory, then runs pending migrations (on the primary only:
 * a replica gets them by replication). With DATABASE_REPLICA_URL, also connects to the
 * read replica; one that cannot be reached does not stop the start (ReplicaReads).
 */
export async function openDatabase(config: Config, logger: Logger): Promise<Database> {
  let embedded: EmbeddedDatabase | undefined;
  let url = config.databaseUrl;
  if (!url) {
    logger.info({ dir: config.dataDir }, 'DATABASE_URL is not set: starting the embedded PostgreSQL');
    try {
      embedded = await startEmbeddedPostgres({ dir: path.join(config.dataDir, 'embedded-postgres'), persistent: true });
    } catch (error) {
      // Issue 12: a second server on the same folder says which folder, and who holds it.
      if (error instanceof DataFolderInUseError) {
        throw new Error(
          `the data folder ${path.resolve(config.dataDir)} is in use by another server${error.holderPid ? ` (pid ${error.holderPid})` : ''}; stop it or set DATA_DIR to another folder`,
        );
      }
      throw error;
    }
    if (path.resolve(embedded.clusterDir) !== path.resolve(config.dataDir, 'embedded-postgres', 'pg')) {
      logger.info({ clusterDir: embedded.clusterDir }, 'the embedded PostgreSQL keeps its data where the postgres user can reach it');
    }
    url = embedded.url();
  }
  const queries = new QueryCounter(logger);
  const dataSource = configuredDataSource(url, config, queries);
  try {
    await dataSource.initialize();
    await dataSource.runMigrations({ transaction: 'each' });
  } catch (error) {
    // Not left running behind a server that failed to start.
    if (dataSource.isInitialized) await dataSource.destroy().catch(() => undefined);
    await embedded?.stop().catch(() => undefined);
    throw error;
  }
  let replica: ReplicaReads | undefined;
  if (config.databaseReplicaUrl) {
    replica = new ReplicaReads(dataSource, config.databaseReplicaUrl, config, logger, queries);
    await replica.open();
  }
  const close = async () => {
    await replica?.close().catch((error: unknown) => logger.warn({ err: error }, 'closing the read replica pool failed'));
    await dataSource.destroy();
    await embedded?.stop();
  };
  return {
    dataSource,
    queries,
    replica,
    embedded,
    close,
    async abort() {
      replica?.abortConnections();
      endCheckedOutConnections(dataSource);
      await close();
    },
  };
}
