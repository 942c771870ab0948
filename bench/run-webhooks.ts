import { Client } from 'pg';
import { cleanup, loadAverage, onCleanup, runMain, startDatabase } from './harness';
import { caseWebhooks } from './webhooks';

/**
 * Case 6 of `npm run bench` alone (issue 12's webhook measurements), for investigating a
 * miss without the other cases' quarter of an hour:
 *
 *   npm run build && node dist/bench/run-webhooks.js [members=100000] [runs=2]
 *
 * Prints the case's JSON (deletion time with 0 and 10 endpoints, deliveries per second)
 * with the load average before and after. Writes nothing to bench/results.
 */
runMain('bench/run-webhooks', async () => {
  const members = Number(process.argv[2] ?? 100_000);
  const runs = Number(process.argv[3] ?? 2);
  const loadBefore = loadAverage();
  const database = await startDatabase();
  const client = new Client({ connectionString: database.url });
  client.on('error', () => undefined);
  await client.connect();
  onCleanup(() => client.end().catch(() => undefined));
  try {
    const result = await caseWebhooks(client, database.url, members, runs);
    process.stdout.write(JSON.stringify({ loadBefore, loadAfter: loadAverage(), ...result }, null, 2) + '\n');
  } finally {
    await cleanup();
  }
});
