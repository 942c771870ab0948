import 'reflect-metadata';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { cleanup, closedLoop, runMain, startChildServer, startDatabase } from './harness';
import { resetData, seedOrganizationCase, seedUserPool, settle } from './seed';

/**
 * `node dist/bench/profile.js [deleteUser|read] [connections] [seconds]`: runs the
 * server under `node --cpu-prof` with autocannon load and prints where its CPU time
 * went (self time by function and by package). The raw profile is kept for Chrome
 * DevTools / speedscope.
 */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

function summarize(file: string): string {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as {
    nodes: ProfileNode[];
    startTime: number;
    endTime: number;
    samples: number[];
    timeDeltas: number[];
  };
  const total = profile.samples.length;
  const byFunction = new Map<string, number>();
  const byPackage = new Map<string, number>();
  const hits = new Map<number, number>();
  for (const sample of profile.samples) hits.set(sample, (hits.get(sample) ?? 0) + 1);
  for (const node of profile.nodes) {
    const count = hits.get(node.id) ?? 0;
    if (!count) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url.replace(/^file:\/\//, '').replace(/^.*node_modules\//, '');
    const fn = `${functionName || '(anonymous)'} ${where}:${lineNumber + 1}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + count);
    const pkg = !url
      ? functionName.startsWith('(') ? functionName : '(native)'
      : url.includes('node_modules/')
        ? url.replace(/^.*node_modules\/((@[^/]+\/)?[^/]+).*$/, '$1')
        : url.startsWith('node:')
          ? 'node:internal'
          : url.includes('/dist/')
            ? 'app'
            : url;
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + count);
  }
  const top = (map: Map<string, number>, n: number) =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, count]) => `  ${((100 * count) / total).toFixed(1).padStart(5)}%  ${name}`)
      .join('\n');
  const idle = byPackage.get('(idle)') ?? 0;
  return [
    `samples: ${total}, busy ${(100 - (100 * idle) / total).toFixed(1)}%`,
    'self time by package:',
    top(byPackage, 15),
    'self time by function:',
    top(byFunction, 30),
  ].join('\n');
}

async function main(): Promise<void> {
  const what = process.argv[2] ?? 'deleteUser';
  const connections = Number(process.argv[3] ?? 32);
  const seconds = Number(process.argv[4] ?? 5);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'identity-gateway-cpuprof-'));
  const database = await startDatabase();
  const client = new Client({ connectionString: database.url });
  await client.connect();
  try {
    await resetData(client);
    let body: () => string;
    if (what === 'read') {
      const seeded = await seedOrganizationCase(client, 'prof', 1_000, 1_000);
      const query = `query($id: ID!) { organization(id: $id) { memberships(first: 100) { nodes { user { id email sessions { id } } } } } }`;
      body = () => JSON.stringify({ query, variables: { id: seeded.organizationId } });
    } else {
      const ids = await seedUserPool(client, 'prof', 20_000);
      let cursor = 0;
      const query = `mutation($id: ID!) { deleteUser(id: $id) { deletedUserId receipt { id digest } } }`;
      body = () => JSON.stringify({ query, variables: { id: ids[cursor++] ?? 'usr_00000000000000000000000000' } });
    }
    await settle(client);
    const server = await startChildServer(database.url, ['--cpu-prof', `--cpu-prof-dir=${dir}`]);
    const run = await closedLoop(server.url, server.adminKey, connections, seconds, body);
    process.stdout.write(
      `${what} x${connections}: ${Math.round(run.ok / run.seconds)} req/s, p50 ${run.p50Ms} ms, p99 ${run.p99Ms} ms, failed ${run.errors}${run.firstError ? ` (first: ${run.firstError})` : ''}\n`,
    );
    await server.stop();
    const [file] = fs.readdirSync(dir).filter((name) => name.endsWith('.cpuprofile'));
    if (!file) throw new Error('no profile written');
    process.stdout.write(summarize(path.join(dir, file)) + `\nprofile: ${path.join(dir, file)}\n`);
  } finally {
    await client.end().catch(() => undefined);
    await cleanup();
  }
}

runMain('profile', main);
