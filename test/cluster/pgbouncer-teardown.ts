import { startedCluster } from './pgbouncer-setup';

/** Stops what test/cluster/pgbouncer-setup.ts started: PgBouncer, the primary, the folder. */
export default async function pgbouncerTeardown(): Promise<void> {
  await startedCluster()?.stop();
}
