import path from 'node:path';
import type { Logger } from 'pino';
import type { DataSource } from 'typeorm';
import { configuredDataSource } from '../../ormconfig';
import type { Config } from '../config';
import { startEmbeddedPostgres, type EmbeddedDatabase } from './embedded';
import { QueryCounter } from './query-counter';

export interface Database {
  dataSource: DataSource;
  queries: QueryCounter;
  embedded?: EmbeddedDatabase;
  close(): Promise<void>;
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
  return {
    dataSource,
    queries,
    embedded,
    async close() {
      await dataSource.destroy();
      await embedded?.stop();
    },
  };
}
