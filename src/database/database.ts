import path from 'node:path';
import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import type { PostgresDriver } from 'typeorm/driver/postgres/PostgresDriver';
import { configuredDataSource } from '../../ormconfig';
import type { Config } from '../config';
import { startEmbeddedPostgres, type EmbeddedDatabase } from './embedded';
import { QueryCounter } from './query-counter';

export interface Database {
  dataSource: DataSource;
  queries: QueryCounter;
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
 * PostgreSQL under the data directory, then runs pending migrations.
 */
export async function openDatabase(config: Config, logger: Logger): Promise<Database> {
  let embedded: EmbeddedDatabase | undefined;
  let url = config.databaseUrl;
  if (!url) {
    logger.info({ dir: config.dataDir }, 'DATABASE_URL is not set: starting the embedded PostgreSQL');
    embedded = await startEmbeddedPostgres({ dir: path.join(config.dataDir, 'embedded-postgres'), persistent: true });
    url = embedded.url();
  }
  const queries = new QueryCounter(logger);
  const dataSource = configuredDataSource(url, config, queries);
  await dataSource.initialize();
  await dataSource.runMigrations({ transaction: 'each' });
  const close = async () => {
    await dataSource.destroy();
    await embedded?.stop();
  };
  return {
    dataSource,
    queries,
    embedded,
    close,
    async abort() {
      const driver = dataSource.driver as PostgresDriver;
      for (const runner of driver.connectedQueryRunners) {
        // pg's Client.end() destroys the socket when a query is running, else sends Terminate;
        // either way the client is ending and the pool will not hand it out again.
        const client = (runner as unknown as { databaseConnection?: { end(): Promise<void> } }).databaseConnection;
        client?.end().catch(() => undefined);
      }
      await close();
    },
  };
}
