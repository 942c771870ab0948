import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { print } from 'graphql';
import { Client } from 'pg';

/** A free TCP port on loopback (src/database/embedded.ts has one too, but jest cannot load that module). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Whether a new TCP connection to the port is accepted. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export interface ServerProcess {
  child: ChildProcess;
  port: number;
  url: string;
  adminKey: string;
  databaseUrl: string;
  output: () => string;
  /** Resolves with the exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  /** Kills the process if still running, drops its database and data directory. */
  cleanup(): Promise<void>;
}

/**
 * The real server (src/main.ts through ts-node, as `npm start` runs it compiled) in a
 * child process, on a fresh database of TEST_DATABASE_URL's server.
 */
export async function startServerProcess(env: Record<string, string> = {}): Promise<ServerProcess> {
  const baseUrl = process.env.TEST_DATABASE_URL;
  if (!baseUrl) throw new Error('TEST_DATABASE_URL is not set: run the tests through jest (global setup)');
  const database = `test_proc_${randomBytes(6).toString('hex')}`;
  const admin = new Client({ connectionString: baseUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  await admin.end();
  const parsed = new URL(baseUrl);
  parsed.pathname = `/${database}`;
  const databaseUrl = parsed.toString();

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'identity-gateway-proc-'));
  const port = await freePort();
  const adminKey = `adm_proc_${randomBytes(16).toString('hex')}`;
  const root = path.join(__dirname, '..', '..');
  const child = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/main.ts'], {
    cwd: root,
    env: {
      ...process.env,
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      HOST: '127.0.0.1',
      PORT: String(port),
      DATABASE_URL: databaseUrl,
      ADMIN_API_KEY: adminKey,
      DATA_DIR: dataDir,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

  const cleanup = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    const drop = new Client({ connectionString: baseUrl });
    await drop.connect();
    await drop.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await drop.end();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };

  const ready = await Promise.race([
    (async () => {
      for (let attempt = 0; attempt < 600 && !output.includes('GraphQL API ready at'); attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      return output.includes('GraphQL API ready at');
    })(),
    exited.then(() => false),
  ]);
  if (!ready) {
    await cleanup();
    throw new Error(`the server did not start:\n${output}`);
  }
  return { child, port, url: `http://127.0.0.1:${port}/graphql`, adminKey, databaseUrl, output: () => output, exited, cleanup };
}

/** Sends `document` to a server process as its admin; its data, or throws with the errors. */
export async function must<T = any>(server: ServerProcess, document: Parameters<typeof print>[0], variables: Record<string, unknown>): Promise<T> {
  const response = await fetch(server.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${server.adminKey}` },
    body: JSON.stringify({ query: print(document), variables }),
  });
  const body = (await response.json()) as { data?: T; errors?: unknown[] };
  if (body.errors || !body.data) throw new Error(JSON.stringify(body.errors));
  return body.data;
}
