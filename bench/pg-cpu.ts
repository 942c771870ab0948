import 'reflect-metadata';
import fs from 'node:fs';
import path from 'node:path';
import { Client, Pool, type PoolClient } from 'pg';
import { loadConfig } from '../src/config';
import { CALL_DELETE_USER } from '../src/deletion/deletion.sql';
import { newId } from '../src/ids';
import { floorDeleteUser } from './floor';
import { backendCpu, backendCpuSince, cleanup, machine, median, paced, runMain, startDatabase } from './harness';
import { resetData, seedUserPool, settle } from './seed';

/**
 * `node dist/bench/pg-cpu.js [seconds] [rate]`: PostgreSQL's CPU per deleteUser (issue 13's
 * "PG CPU/req" column) for the server's statement and for the floor, both sent straight from
 * a pg Pool of 8 connections, with no server in between:
 *
 *   - `function`: CALL_DELETE_USER, the server's one statement (SELECT delete_user_v2(…),
 *     unnamed, as TypeORM sends it), with the server's default lock timeout
 *     (DB_LOCK_TIMEOUT_MS), so the function sets it as it does for the server;
 *   - `floor`: bench/floor.ts floorDeleteUser (three named prepared statements, one Sync).
 *
 * Each runs twice: closed loop (8 connections, each sends its next request when the last one
 * answers: as fast as PostgreSQL goes) and open loop at `rate` req/s (default 1,000, about the
 * server's deleteUser throughput at 8 clients in the runs where that target was missed),
 * evenly spaced, at most 8 in flight. A fresh pool of users is seeded before each run; nothing
 * else is connected to the database (bench/harness.ts startDatabase applies the migrations).
 * The question it answers: is PostgreSQL's CPU per request a property of the statement, or of
 * the rate the statements arrive at? Writes bench/results/pg-cpu.md.
 */
async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 5);
  const rate = Number(process.argv[3] ?? 1_000);
  const lockTimeoutMs = loadConfig({}).dbLockTimeoutMs;
  const database = await startDatabase();
  const control = new Client({ connectionString: database.url });
  await control.connect();
  const out = (text: string) => process.stdout.write(text + '\n');
  const statements = {
    function: async (client: PoolClient, id: string) => {
      await client.query(CALL_DELETE_USER, [id, newId('receipt'), 'bench', 0, 0, lockTimeoutMs]);
      return true;
    },
    floor: async (client: PoolClient, id: string) => (await floorDeleteUser(client, id)) === 'deleted',
  };
  const rows: string[] = [];
  try {
    for (const mode of ['closed', 'open'] as const) {
      for (const [name, statement] of Object.entries(statements)) {
        await resetData(control);
        // Closed loop: room for 10,000 req/s; open loop: the rate. Plus the warm-up's 200.
        const users = Math.ceil((mode === 'closed' ? 10_000 : rate) * seconds) + 400;
        const ids = await seedUserPool(control, `cpu-${name}-${mode}`, users);
        await settle(control);
        const pool = new Pool({ connectionString: database.url, max: 8 });
        const clients = await Promise.all(Array.from({ length: 8 }, () => pool.connect()));
        // Warm-up: each connection plans its statements (200 users); then back in the pool, where
        // the run takes the same 8 connections (a request finding all 8 busy waits in its queue).
        for (let i = 0; i < 200; i += 1) await statement(clients[i % 8], ids.pop()!);
        for (const client of clients) client.release();
        const withClient = async (work: (client: PoolClient) => Promise<void>) => {
          const client = await pool.connect();
          try {
            await work(client);
          } finally {
            client.release();
          }
        };
        const latencies: number[] = [];
        let failed = 0;
        const one = async (client: PoolClient, dueAt: number) => {
          const id = ids.pop();
          if (!id) throw new Error('the pool of users ran out');
          if (await statement(client, id)) latencies.push(performance.now() - dueAt);
          else failed += 1;
        };
        const pgBefore = await backendCpu(control);
        const started = performance.now();
        if (mode === 'closed') {
          const end = started + seconds * 1000;
          await Promise.all(
            Array.from({ length: 8 }, () =>
              withClient(async (client) => {
                while (performance.now() < end) await one(client, performance.now());
              }),
            ),
          );
        } else {
          // Evenly spaced arrivals (harness.ts paced).
          await paced(rate, seconds, (dueAt) => withClient((client) => one(client, dueAt)));
        }
        const elapsed = (performance.now() - started) / 1000;
        const pgCpu = backendCpuSince(pgBefore, await backendCpu(control));
        await pool.end();
        const ok = latencies.length;
        const row = `| ${name} | ${mode === 'closed' ? 'closed loop, 8 connections' : `${rate} req/s, evenly spaced, ≤ 8 connections`} | ${(ok / elapsed).toFixed(0)} | ${median(latencies).toFixed(2)} ms | ${(pgCpu / ok).toFixed(3)} ms | ${failed} |`;
        out(row);
        rows.push(row);
      }
    }
    const m = machine(database.version, database.embedded);
    const markdown =
      `**Machine:** ${m.cpu}, ${m.cores} cores; Node.js ${m.node}; PostgreSQL ${m.postgres} (${m.postgresSource}). ` +
      `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC with \`node dist/bench/pg-cpu.js ${seconds} ${rate}\` (bench/pg-cpu.ts): ` +
      `deleteUser sent straight from a pg Pool, no server; PG CPU is the sum over the backends of the bench database (/proc), per request.\n\n` +
      '| statement | load | req/s | p50 (from when due) | PG CPU/req | failed |\n| --- | --- | --- | --- | --- | --- |\n' +
      rows.join('\n') +
      '\n';
    const file = path.resolve(__dirname, '../../bench/results/pg-cpu.md');
    fs.writeFileSync(file, markdown);
    out('\n' + markdown + `\nWritten to bench/results/pg-cpu.md`);
  } finally {
    await control.end().catch(() => undefined);
    await cleanup();
  }
}

runMain('pg-cpu', main);
