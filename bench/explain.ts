import 'reflect-metadata';
import type { ClientBase } from 'pg';
import { Client } from 'pg';
import { DELETE_ORGANIZATION, LOCK_MEMBERS, LOCK_ORGANIZATION } from '../src/deletion/deletion.sql';
import { newId } from '../src/ids';
import { floorDeleteOrganization } from './floor';
import { cleanup, runMain, startDatabase } from './harness';
import { resetData, seedOrganizationCase, settle } from './seed';

/**
 * `node dist/bench/explain.js [members] [full]`: EXPLAIN (ANALYZE, BUFFERS) of the
 * server's deleteOrganization statements (src/deletion/deletion.sql.ts, run as the
 * server runs them, then rolled back), and the SQL floor's statements timed one by
 * one, on the same freshly seeded data.
 */
async function main(): Promise<void> {
  const members = Number(process.argv[2] ?? 10_000);
  const full = process.argv[3] === 'full';
  const database = await startDatabase();
  const client = new Client({ connectionString: database.url });
  await client.connect();
  const out = (text: string) => process.stdout.write(text + '\n');
  try {
    await resetData(client);
    const seeded = await seedOrganizationCase(client, 'explain', members);
    await settle(client);
    const id = seeded.organizationId;

    out(`=== server statements, ${members} members, lists ${full ? 'selected' : 'not selected'} ===`);
    await client.query('BEGIN');
    const page = full ? 100 : 0;
    const statements: Array<[string, string, unknown[]]> = [
      ['LOCK_ORGANIZATION', LOCK_ORGANIZATION, [id]],
      ['LOCK_MEMBERS', LOCK_MEMBERS, [id]],
      ['DELETE_ORGANIZATION', DELETE_ORGANIZATION, [id, newId('receipt'), 'admin', page, page, page, page]],
    ];
    for (const [name, sql, params] of statements) {
      const started = performance.now();
      const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS, VERBOSE OFF) ${sql}`, params);
      out(`--- ${name}: ${(performance.now() - started).toFixed(1)} ms`);
      out(rows.map((row) => row['QUERY PLAN']).join('\n'));
    }
    const commitStarted = performance.now();
    await client.query('ROLLBACK');
    out(`--- ROLLBACK: ${(performance.now() - commitStarted).toFixed(1)} ms`);

    out(`\n=== floor statements, ${members} members (fresh seed) ===`);
    await resetData(client);
    await seedOrganizationCase(client, 'explain', members);
    await settle(client);
    const timed = {
      query: async (text: string, params?: unknown[]) => {
        const started = performance.now();
        const result = await client.query(text, params);
        out(`${(performance.now() - started).toFixed(1).padStart(8)} ms  ${text.replace(/\s+/g, ' ').trim().slice(0, 110)}`);
        return result;
      },
    } as unknown as ClientBase;
    const started = performance.now();
    await floorDeleteOrganization(timed, id);
    out(`total ${(performance.now() - started).toFixed(1)} ms`);
  } finally {
    await client.end().catch(() => undefined);
    await cleanup();
  }
}

runMain('explain', main);
