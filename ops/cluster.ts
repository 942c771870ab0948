/**
 * `npm run cluster` (issue 14): the production topology on this machine's loopback, in a
 * temporary folder, read top to bottom like a compose file:
 *
 *   client ──► HAProxy :haproxy            roundrobin, health checks on /readyz   (haproxy.cfg)
 *                ├─► gateway gw1 :port      node dist/src/main.js
 *                ├─► gateway gw2 :port        DATABASE_URL  → PgBouncer
 *                │                            DATABASE_REPLICA_URL → replica, direct (plain queries)
 *                └─► gateway gw3 :port        REDIS_URL     → Redis (shared APQ store)
 *   gateways ──► PgBouncer :pgbouncer       transaction pooling                    (pgbouncer.ini)
 *                └─► PostgreSQL primary     initdb + pg_ctl, never the machine's service
 *                      (postgresql.conf, pg_hba.conf)
 *                      └─► replica          pg_basebackup, hot standby, streaming from slot "replica"
 *   gateways ──► Redis :redis               no persistence                         (redis.conf)
 *
 * Every port is a free one found at start; the machine's own PostgreSQL (5432), Redis
 * (6379), PgBouncer and HAProxy services are never touched. Migrations run once, directly
 * against the primary (ops/migrate.js), before the first gateway starts.
 *
 * Nothing is installed: a missing program ends start() with MissingPackagesError, naming
 * the Debian packages and the apt-get line. As root, PostgreSQL and PgBouncer (which both
 * refuse to run as root) run as the `postgres` system user.
 *
 * CLI: prints the URL and the admin key, and tears everything down on Ctrl-C (SIGINT) or
 * SIGTERM: HAProxy, then the gateways (SIGTERM, they finish what is in flight), Redis,
 * PgBouncer, the replica and the primary (pg_ctl stop -m fast), then the folder. Set
 * CLUSTER_KEEP=1 to keep the folder (logs/) after the teardown.
 *
 * API (for `npm run test:cluster`): `start()` returns the URLs and ports, `stop()`, and
 * handles to stop, start and restart each part (fault tests, rolling restarts).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { loadConfig } from '../src/config';

const ROOT = path.resolve(__dirname, '..');
const OPS = __dirname;
/**
 * The build the gateways and migrations run: dist/ (built when stale), or CLUSTER_DIST, a
 * folder built elsewhere (`npx tsc -p tsconfig.build.json --outDir <folder>`, with a
 * node_modules next to it), used as it is: never rebuilt, so one topology can run a
 * private build while another uses dist/.
 */
const DIST = process.env.CLUSTER_DIST ? path.resolve(process.env.CLUSTER_DIST) : path.join(ROOT, 'dist');

// ─── What the topology needs from the machine ───────────────────────────────────────────

/** The programs the cluster runs, as absolute paths. */
export interface Binaries {
  initdb: string;
  pgCtl: string;
  pgBasebackup: string;
  pgbouncer: string;
  haproxy: string;
  redisServer: string;
}

/** Thrown by start() (and findBinaries()) when a program is missing: what to install, and how. */
export class MissingPackagesError extends Error {
  constructor(
    readonly missing: Array<{ program: string; debianPackage: string }>,
  ) {
    const packages = [...new Set(missing.map((item) => item.debianPackage))];
    super(
      `The local cluster needs programs that are not installed: ${missing
        .map((item) => `${item.program} (Debian package ${item.debianPackage})`)
        .join(', ')}.\n` +
        `Install them with:\n  sudo apt-get install -y ${packages.join(' ')}\n` +
        '(as root, without sudo). Their own system services are not used: the cluster starts its own instances on free ports.',
    );
    this.name = 'MissingPackagesError';
  }
}

/**
 * Where programs are looked for: PostgreSQL's versioned folders (/usr/lib/postgresql/<v>/bin,
 * newest first, where Debian puts initdb and pg_ctl), then PATH, then the sbin folders
 * Debian installs pgbouncer and haproxy into (not on a normal user's PATH).
 */
export function defaultSearchDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  const versioned = fs.existsSync('/usr/lib/postgresql')
    ? fs
        .readdirSync('/usr/lib/postgresql')
        .filter((name) => /^\d+$/.test(name))
        .sort((a, b) => Number(b) - Number(a))
        .map((version) => `/usr/lib/postgresql/${version}/bin`)
    : [];
  const fromPath = (env.PATH ?? '').split(path.delimiter).filter(Boolean);
  return [...new Set([...versioned, ...fromPath, '/usr/local/sbin', '/usr/sbin', '/sbin'])];
}

/** Finds every program, or throws MissingPackagesError naming all that are missing. */
export function findBinaries(searchDirs: string[] = defaultSearchDirs()): Binaries {
  const find = (program: string, dirs = searchDirs) =>
    dirs.map((dir) => path.join(dir, program)).find((file) => isExecutable(file));
  const missing: Array<{ program: string; debianPackage: string }> = [];
  // initdb, pg_ctl and pg_basebackup must be of one PostgreSQL version: taken from initdb's folder.
  const initdb = find('initdb');
  const pgDir = initdb ? path.dirname(fs.realpathSync(initdb)) : undefined;
  const fromPg = (program: string) => {
    const file = pgDir ? find(program, [pgDir]) : undefined;
    if (!file) missing.push({ program, debianPackage: 'postgresql' });
    return file ?? '';
  };
  const other = (program: string, debianPackage: string) => {
    const file = find(program);
    if (!file) missing.push({ program, debianPackage });
    return file ?? '';
  };
  const binaries: Binaries = {
    initdb: fromPg('initdb'),
    pgCtl: fromPg('pg_ctl'),
    pgBasebackup: fromPg('pg_basebackup'),
    pgbouncer: other('pgbouncer', 'pgbouncer'),
    haproxy: other('haproxy', 'haproxy'),
    redisServer: other('redis-server', 'redis-server'),
  };
  if (missing.length > 0) throw new MissingPackagesError(missing);
  return binaries;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** As root: the `postgres` system user that PostgreSQL and PgBouncer run as. Otherwise ourselves. */
interface RunAs {
  uid: number;
  gid: number;
}

function serverUser(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
  const uid = id('-u');
  const gid = id('-g');
  if (uid.status !== 0 || gid.status !== 0) {
    throw new Error(
      'PostgreSQL and PgBouncer refuse to run as root, and there is no "postgres" user to run them as. ' +
        'Installing the Debian package postgresql creates it (or: useradd --system postgres).',
    );
  }
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

// ─── The public shape ───────────────────────────────────────────────────────────────────

export interface ClusterOptions {
  /** How many gateway instances (default 3). */
  gateways?: number;
  /** Extra environment for every gateway (e.g. DB_POOL_SIZE), over the cluster's own. */
  gatewayEnv?: Record<string, string>;
  /**
   * Start only these parts (default: all). `['primary', 'pgbouncer']` is what the suite runs
   * through PgBouncer on (test/cluster/pgbouncer-setup.ts): no build and no migrations
   * unless a gateway is among them. Any other part can still be started with startService.
   */
  only?: ServiceName[];
  /** Run `npm run build` first when dist/ is older than the sources (default true; CLUSTER_BUILD=0: false). */
  build?: boolean;
  /** Keep the temporary folder (its logs/) after stop() (default: CLUSTER_KEEP=1). */
  keep?: boolean;
  /** Progress lines (the CLI prints them); silent by default. */
  log?: (line: string) => void;
  /** Aborting it during start() tears down what was started and rejects. */
  signal?: AbortSignal;
}

export interface GatewayInfo {
  name: string;
  port: number;
  /** http://127.0.0.1:<port>/graphql, bypassing HAProxy. */
  url: string;
  /** The running process's id, or undefined while it is stopped. */
  pid(): number | undefined;
}

/** The parts that can be stopped and started again: `gw1`…`gwN` and these. */
export type ServiceName = 'primary' | 'replica' | 'pgbouncer' | 'redis' | 'haproxy' | `gw${number}`;

export interface Cluster {
  /** The GraphQL endpoint through HAProxy. */
  url: string;
  /** The admin credential every gateway accepts (ADMIN_API_KEY). */
  adminApiKey: string;
  /** The temporary folder; its logs/ holds each part's output. */
  dir: string;
  haproxy: { port: number; url: string; socket: string };
  gateways: GatewayInfo[];
  /** The gateways' database URL (role `gateway`, database `gateway`). */
  pgbouncer: { port: number; url: string };
  /** `url`: the superuser `postgres` (inspection, faults); `appUrl`: the gateways' role, direct. */
  primary: { port: number; url: string; appUrl: string };
  replica: { port: number; url: string; appUrl: string };
  redis: { port: number; url: string };
  /**
   * Stops one part and waits until it is gone: a program with `signal` (SIGTERM by default;
   * for PgBouncer SIGINT is its safe shutdown), PostgreSQL with pg_ctl stop -m fast, or
   * -m immediate (a crash) for SIGKILL or SIGQUIT.
   */
  stopService(name: ServiceName, signal?: NodeJS.Signals): Promise<void>;
  /** Starts a stopped part again, on the same port, and waits until it is ready. */
  startService(name: ServiceName): Promise<void>;
  /** A running part's process id (for PostgreSQL, the postmaster's); undefined when stopped. */
  pid(name: ServiceName): number | undefined;
  /** One command on HAProxy's runtime API (`show stat`, `set server gateways/gw1 state drain`). */
  haproxyCommand(command: string): Promise<string>;
  /** Tears everything down and removes the folder (unless kept). Idempotent. */
  stop(): Promise<void>;
}

// ─── The topology ───────────────────────────────────────────────────────────────────────

/** One part: how it starts (and is ready), and how it stops. */
interface Service {
  name: ServiceName | 'migrations';
  up: () => Promise<void>;
  down: (signal?: NodeJS.Signals) => Promise<void>;
  running: boolean;
  /** Runs to completion at start (migrations): nothing to stop. */
  oneShot?: boolean;
}

export async function start(options: ClusterOptions = {}): Promise<Cluster> {
  const binaries = findBinaries();
  const runAs = serverUser();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'identity-cluster-'));
  let topology: Topology;
  try {
    topology = new Topology(dir, binaries, runAs, options);
  } catch (error) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  try {
    await topology.up();
  } catch (error) {
    await topology.stop().catch(() => undefined);
    throw error;
  }
  return topology;
}

class Topology implements Cluster {
  readonly url: string;
  readonly adminApiKey = `adm_${randomBytes(24).toString('base64url')}`;
  readonly haproxy: Cluster['haproxy'];
  readonly gateways: GatewayInfo[];
  readonly pgbouncer: Cluster['pgbouncer'];
  readonly primary: Cluster['primary'];
  readonly replica: Cluster['replica'];
  readonly redis: Cluster['redis'];

  private readonly log: (line: string) => void;
  private readonly services: Service[] = [];
  private readonly children = new Map<string, ChildProcess>();
  private readonly passwords = { postgres: secret(), gateway: secret(), replicator: secret() };
  private readonly runDir: string;
  private readonly logDir: string;
  private readonly ports: Ports;
  private stopping?: Promise<void>;
  private readonly onExit = () => this.emergencyStop();

  constructor(
    readonly dir: string,
    private readonly bin: Binaries,
    private readonly runAs: RunAs | undefined,
    private readonly options: ClusterOptions,
  ) {
    this.log = options.log ?? (() => undefined);
    this.runDir = path.join(dir, 'run');
    this.logDir = path.join(dir, 'logs');
    // The postgres user must reach its folders inside; nothing else here is secret to it.
    fs.chmodSync(dir, 0o711);
    for (const sub of [this.runDir, this.logDir]) this.ownedDir(sub);
    process.on('exit', this.onExit);

    const count = options.gateways ?? 3;
    this.ports = allocatePortsSync(5 + count);
    const { postgres, gateway } = this.passwords;
    const at = (port: number) => `127.0.0.1:${port}`;
    this.primary = {
      port: this.ports.primary,
      url: `postgres://postgres:${postgres}@${at(this.ports.primary)}/postgres`,
      appUrl: `postgres://gateway:${gateway}@${at(this.ports.primary)}/gateway`,
    };
    this.replica = {
      port: this.ports.replica,
      url: `postgres://postgres:${postgres}@${at(this.ports.replica)}/postgres`,
      appUrl: `postgres://gateway:${gateway}@${at(this.ports.replica)}/gateway`,
    };
    this.pgbouncer = { port: this.ports.pgbouncer, url: `postgres://gateway:${gateway}@${at(this.ports.pgbouncer)}/gateway` };
    this.redis = { port: this.ports.redis, url: `redis://${at(this.ports.redis)}` };
    this.gateways = this.ports.gateways.map((port, index) => {
      const name = `gw${index + 1}`;
      return { name, port, url: `http://${at(port)}/graphql`, pid: () => this.children.get(name)?.pid };
    });
    this.haproxy = {
      port: this.ports.haproxy,
      url: `http://${at(this.ports.haproxy)}/graphql`,
      socket: path.join(this.runDir, 'haproxy.sock'),
    };
    this.url = this.haproxy.url;

    // The parts, in the order they start (and the reverse of the order they stop).
    this.services.push(
      this.service('primary', () => this.startPrimary(), (signal) => this.pgCtlStop('primary', signal)),
      this.service('replica', () => this.startReplica(), (signal) => this.pgCtlStop('replica', signal)),
      this.service('pgbouncer', () => this.startPgBouncer(), (signal) => this.stopChild('pgbouncer', signal ?? 'SIGTERM')),
      this.service('redis', () => this.startRedis(), (signal) => this.stopChild('redis', signal ?? 'SIGTERM')),
      { ...this.service('migrations', () => this.runMigrations(), async () => undefined), oneShot: true },
      ...this.gateways.map((gateway) =>
        this.service(gateway.name as ServiceName, () => this.startGateway(gateway), (signal) => this.stopChild(gateway.name, signal ?? 'SIGTERM', 45_000)),
      ),
      this.service('haproxy', () => this.startHaproxy(), (signal) => this.stopChild('haproxy', signal ?? 'SIGTERM')),
    );
  }

  async up(): Promise<void> {
    const only = this.options.only;
    const withGateways = !only || only.some((name) => name.startsWith('gw'));
    // Migrations run before the first gateway, so only when one starts.
    const wanted = (service: Service) => !only || (service.name === 'migrations' ? withGateways : only.includes(service.name));
    if (withGateways && !process.env.CLUSTER_DIST && (this.options.build ?? process.env.CLUSTER_BUILD !== '0')) await this.buildIfStale();
    const gateways = this.services.filter((service) => service.name.startsWith('gw') && wanted(service));
    for (const service of this.services) {
      this.checkAborted();
      if (!wanted(service)) continue;
      // The first gateway alone (it creates pg-boss's schema), then the others together.
      if (service.name.startsWith('gw') && service !== gateways[0]) continue;
      await this.bring(service);
      if (service === gateways[0]) await Promise.all(gateways.slice(1).map((other) => this.bring(other)));
    }
    this.log(`cluster ready in ${this.dir}`);
  }

  async stop(): Promise<void> {
    this.stopping ??= this.teardown();
    return this.stopping;
  }

  async stopService(name: ServiceName, signal?: NodeJS.Signals): Promise<void> {
    const service = this.find(name);
    if (!service.running) return;
    await service.down(signal);
    service.running = false;
  }

  async startService(name: ServiceName): Promise<void> {
    const service = this.find(name);
    if (service.running) throw new Error(`${name} is already running`);
    await this.bring(service);
  }

  pid(name: ServiceName): number | undefined {
    if (name !== 'primary' && name !== 'replica') return this.children.get(name)?.pid;
    if (!this.find(name).running) return undefined;
    const pidFile = path.join(this.dir, name, 'postmaster.pid');
    return fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]) : undefined;
  }

  async haproxyCommand(command: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(this.haproxy.socket);
      let answer = '';
      socket.setEncoding('utf8');
      socket.on('connect', () => socket.end(`${command}\n`));
      socket.on('data', (chunk: string) => (answer += chunk));
      socket.on('end', () => resolve(answer));
      socket.on('error', reject);
    });
  }

  // ── PostgreSQL primary: initdb, our settings, pg_ctl start, roles and database ──

  private async startPrimary(): Promise<void> {
    const data = path.join(this.dir, 'primary');
    if (!fs.existsSync(path.join(data, 'PG_VERSION'))) {
      this.ownedDir(data);
      const pwfile = path.join(this.runDir, 'postgres.pw');
      this.ownedFile(pwfile, `${this.passwords.postgres}\n`);
      await this.run('initdb', this.bin.initdb, [
        '-D', data, '-U', 'postgres', `--pwfile=${pwfile}`, '--auth-local=trust', '--auth-host=scram-sha-256',
        '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync',
      ], { asServerUser: true });
      fs.rmSync(pwfile);
      this.ownedFile(path.join(data, 'cluster.conf'), this.render('postgresql.conf'));
      fs.appendFileSync(path.join(data, 'postgresql.conf'), "\ninclude 'cluster.conf'   # ops/postgresql.conf\n");
      this.ownedFile(path.join(data, 'pg_hba.conf'), fs.readFileSync(path.join(OPS, 'pg_hba.conf'), 'utf8'));
      await this.pgCtlStart('primary');
      await this.sql(this.primary.url, [
        `CREATE ROLE gateway LOGIN PASSWORD '${this.passwords.gateway}'`,
        // The ceiling of the gateways' statements outside a transaction: through PgBouncer their
        // startup parameters are ignored (ops/pgbouncer.ini), so the role carries the same values
        // as DB_LOCK_TIMEOUT_MS / DB_STATEMENT_TIMEOUT_MS (their defaults, or gatewayEnv's). Inside
        // a transaction the gateway's SET LOCAL overrides them. Production does the same (README
        // "Timeouts without session state").
        ...this.roleTimeouts().map((setting) => `ALTER ROLE gateway SET ${setting}`),
        'CREATE DATABASE gateway OWNER gateway',
        `CREATE ROLE replicator LOGIN REPLICATION PASSWORD '${this.passwords.replicator}'`,
      ]);
      return;
    }
    await this.pgCtlStart('primary');
  }

  /** `lock_timeout = <ms>` and `statement_timeout = <ms>`: the gateways' configured values (src/config.ts). */
  private roleTimeouts(): string[] {
    const config = loadConfig({ NODE_ENV: 'production', ...this.options.gatewayEnv });
    return [`lock_timeout = ${config.dbLockTimeoutMs}`, `statement_timeout = ${config.dbStatementTimeoutMs}`];
  }

  // ── Replica: pg_basebackup (-R: standby.signal + primary_conninfo), streaming from a slot ──

  private async startReplica(): Promise<void> {
    const data = path.join(this.dir, 'replica');
    if (!fs.existsSync(path.join(data, 'PG_VERSION'))) {
      this.ownedDir(data);
      await this.run('pg_basebackup', this.bin.pgBasebackup, [
        '-h', '127.0.0.1', '-p', String(this.ports.primary), '-U', 'replicator', '-D', data,
        '-R', '-X', 'stream', '-C', '-S', 'replica', '-c', 'fast', '--no-sync',
      ], { asServerUser: true, env: { PGPASSWORD: this.passwords.replicator } });
    }
    await this.pgCtlStart('replica');
    await this.waitFor('the replica to stream from the primary', 30_000, async () => {
      const rows = await this.sql(this.primary.url, [
        "SELECT state FROM pg_stat_replication WHERE application_name = 'replica'",
      ]);
      return rows[0]?.state === 'streaming';
    });
  }

  // ── PgBouncer: transaction pooling in front of the primary ──

  private async startPgBouncer(): Promise<void> {
    const folder = path.join(this.dir, 'pgbouncer');
    this.ownedDir(folder);
    const ini = path.join(folder, 'pgbouncer.ini');
    this.ownedFile(ini, this.render('pgbouncer.ini'));
    this.ownedFile(
      path.join(folder, 'userlist.txt'),
      `"gateway" "${this.passwords.gateway}"\n"postgres" "${this.passwords.postgres}"\n`,
    );
    this.launch('pgbouncer', this.bin.pgbouncer, [ini], { asServerUser: true });
    await this.waitFor('PgBouncer to answer', 20_000, async () => {
      await this.sql(this.pgbouncer.url, ['SELECT 1']);
      return true;
    });
  }

  // ── Redis: the shared store of automatic persisted queries ──

  private async startRedis(): Promise<void> {
    const folder = path.join(this.dir, 'redis');
    fs.mkdirSync(folder, { recursive: true });
    const conf = path.join(folder, 'redis.conf');
    fs.writeFileSync(conf, this.render('redis.conf'));
    this.launch('redis', this.bin.redisServer, [conf]);
    await this.waitFor('Redis to answer PING', 20_000, () => redisPing(this.ports.redis));
  }

  // ── Migrations: once, directly on the primary, before any gateway ──

  private async runMigrations(): Promise<void> {
    await this.run('migrate', process.execPath, [path.join(OPS, 'migrate.js')], {
      env: { DATABASE_URL: this.primary.appUrl, CLUSTER_DIST: DIST },
    });
  }

  // ── Gateways: node dist/src/main.js, through PgBouncer, sharing Redis ──

  private async startGateway(gateway: GatewayInfo): Promise<void> {
    const dataDir = path.join(this.dir, gateway.name);
    fs.mkdirSync(dataDir, { recursive: true });
    this.launch(gateway.name, process.execPath, [path.join(DIST, 'src/main.js')], {
      env: {
        NODE_ENV: 'production',
        HOST: '127.0.0.1',
        PORT: String(gateway.port),
        DATABASE_URL: this.pgbouncer.url,
        // The default, said here because it must hold: PgBouncer 1.18 in transaction mode keeps
        // no prepared statement from one transaction to the next (src/plain-rows.ts runStatement).
        DB_PREPARED_STATEMENTS: 'false',
        // Plain queries read their snapshot here, direct (src/database/replica.ts); the rest goes through PgBouncer.
        DATABASE_REPLICA_URL: this.replica.appUrl,
        REDIS_URL: this.redis.url,
        ADMIN_API_KEY: this.adminApiKey,
        DATA_DIR: dataDir,
        LOG_LEVEL: 'info',
        ...this.options.gatewayEnv,
      },
    });
    const readyz = `http://127.0.0.1:${gateway.port}/readyz`;
    await this.waitFor(`${gateway.name} to be ready`, 90_000, async () => (await fetch(readyz, { signal: AbortSignal.timeout(2_000) })).status === 200, gateway.name);
  }

  // ── HAProxy: one port, roundrobin over the gateways that pass /readyz ──

  private async startHaproxy(): Promise<void> {
    const folder = path.join(this.dir, 'haproxy');
    fs.mkdirSync(folder, { recursive: true });
    const cfg = path.join(folder, 'haproxy.cfg');
    fs.writeFileSync(cfg, this.render('haproxy.cfg'));
    await this.run('haproxy-check', this.bin.haproxy, ['-c', '-f', cfg]);
    this.launch('haproxy', this.bin.haproxy, ['-db', '-f', cfg]);
    // Up once every gateway has passed a health check (HAProxy counts servers up at start).
    await this.waitFor('HAProxy to see every gateway healthy', 30_000, async () => {
      const stats = parseStats(await this.haproxyCommand('show stat'));
      const servers = stats.filter((row) => row.pxname === 'gateways' && row.svname.startsWith('gw'));
      return servers.length === this.gateways.length && servers.every((row) => row.status === 'UP' && row.check_status === 'L7OK');
    });
  }

  // ── Teardown ──

  private async teardown(): Promise<void> {
    const errors: string[] = [];
    for (const service of [...this.services].reverse()) {
      if (!service.running) continue;
      this.log(`stopping ${service.name}`);
      await service.down().catch((error: unknown) => errors.push(`${service.name}: ${message(error)}`));
      service.running = false;
    }
    // Anything still alive (a part that failed to stop) is killed.
    for (const [name, child] of this.children) {
      errors.push(`${name} was still running: killed`);
      killGroup(child, 'SIGKILL');
    }
    for (const name of this.quitPostmasters()) errors.push(`${name} was still running: stopped with SIGQUIT`);
    process.off('exit', this.onExit);
    if (this.options.keep ?? process.env.CLUSTER_KEEP === '1') this.log(`kept ${this.dir}`);
    else fs.rmSync(this.dir, { recursive: true, force: true });
    if (errors.length > 0) throw new Error(`teardown: ${errors.join('; ')}`);
  }

  /** Last resort when the process exits without stop(): no PostgreSQL or gateway left behind. */
  private emergencyStop(): void {
    for (const child of this.children.values()) killGroup(child, 'SIGKILL');
    this.quitPostmasters();
    if (!(this.options.keep ?? process.env.CLUSTER_KEEP === '1')) fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** SIGQUIT (PostgreSQL's immediate shutdown, which ends its backends too) to a postmaster left running. */
  private quitPostmasters(): string[] {
    const quit: string[] = [];
    for (const name of ['replica', 'primary']) {
      const pidFile = path.join(this.dir, name, 'postmaster.pid');
      const pid = fs.existsSync(pidFile) ? Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]) : NaN;
      if (pid > 0 && alive(pid)) {
        tryKill(pid, 'SIGQUIT');
        quit.push(name);
      }
    }
    return quit;
  }

  // ── Helpers ──

  private service(name: Service['name'], up: () => Promise<void>, down: Service['down']): Service {
    return { name, up, down, running: false };
  }

  private find(name: ServiceName): Service {
    const service = this.services.find((candidate) => candidate.name === name);
    if (!service) throw new Error(`no part named ${name}`);
    return service;
  }

  private async bring(service: Service): Promise<void> {
    this.log(`starting ${service.name}`);
    // Marked running first: a part that fails halfway is still stopped by the teardown.
    service.running = true;
    await service.up();
    if (service.oneShot) service.running = false;
  }

  private checkAborted(): void {
    if (this.options.signal?.aborted) throw new Error('cluster start aborted');
  }

  private async buildIfStale(): Promise<void> {
    const target = path.join(ROOT, 'dist/src/main.js');
    const built = fs.existsSync(target) ? fs.statSync(target).mtimeMs : 0;
    const sources = ['src', 'ormconfig.ts', 'package.json', 'tsconfig.json', 'tsconfig.build.json'];
    if (built > 0 && newestMtime(sources.map((source) => path.join(ROOT, source))) <= built) return;
    this.log('dist/ is older than the sources: npm run build');
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    await this.run('build', npm, ['run', 'build', '--silent'], { cwd: ROOT });
  }

  /** Renders ops/<file>: every {{NAME}} replaced; an unknown name is an error. */
  private render(file: string): string {
    const values: Record<string, string> = {
      RUN_DIR: this.runDir,
      PRIMARY_PORT: String(this.ports.primary),
      PGBOUNCER_PORT: String(this.ports.pgbouncer),
      PGBOUNCER_DIR: path.join(this.dir, 'pgbouncer'),
      REDIS_PORT: String(this.ports.redis),
      REDIS_DIR: path.join(this.dir, 'redis'),
      HAPROXY_PORT: String(this.ports.haproxy),
      SERVERS: this.gateways.map((gateway) => `    server ${gateway.name} 127.0.0.1:${gateway.port} check`).join('\n'),
    };
    return fs.readFileSync(path.join(OPS, file), 'utf8').replace(/\{\{(\w+)\}\}/g, (_match, name: string) => {
      const value = values[name];
      if (value === undefined) throw new Error(`ops/${file}: unknown placeholder {{${name}}}`);
      return value;
    });
  }

  private ownedDir(dir: string): void {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (this.runAs) fs.chownSync(dir, this.runAs.uid, this.runAs.gid);
  }

  private ownedFile(file: string, content: string): void {
    fs.writeFileSync(file, content, { mode: 0o600 });
    if (this.runAs) fs.chownSync(file, this.runAs.uid, this.runAs.gid);
  }

  private spawnOptions(name: string, options: { asServerUser?: boolean; env?: Record<string, string>; cwd?: string }) {
    const out = fs.openSync(path.join(this.logDir, `${name}.log`), 'a');
    const user = options.asServerUser ? this.runAs : undefined;
    return {
      out,
      spawn: {
        cwd: options.cwd ?? (user ? this.dir : ROOT),
        env: { ...process.env, ...(user ? { HOME: this.dir } : {}), ...options.env },
        // A process group of its own: a terminal's Ctrl-C reaches only the orchestrator,
        // which stops the parts in order.
        detached: true,
        stdio: ['ignore', out, out] as ['ignore', number, number],
        ...(user ? { uid: user.uid, gid: user.gid } : {}),
      },
    };
  }

  /** Runs a program to completion; a failure carries the end of its log. */
  private async run(name: string, file: string, args: string[], options: { asServerUser?: boolean; env?: Record<string, string>; cwd?: string } = {}): Promise<void> {
    const { out, spawn: spawnOptions } = this.spawnOptions(name, options);
    const child = spawn(file, args, spawnOptions);
    fs.closeSync(out);
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (status) => resolve(status));
    });
    if (code !== 0) throw new Error(`${name} failed (exit ${code}):\n${this.logTail(name)}`);
  }

  /** Starts a long-running program, remembered under `name` until it exits. */
  private launch(name: string, file: string, args: string[], options: { asServerUser?: boolean; env?: Record<string, string> } = {}): void {
    const { out, spawn: spawnOptions } = this.spawnOptions(name, options);
    const child = spawn(file, args, spawnOptions);
    fs.closeSync(out);
    child.on('error', () => undefined);
    this.children.set(name, child);
    child.once('exit', () => {
      if (this.children.get(name) === child) this.children.delete(name);
    });
  }

  /** Signals a program's process group and waits for it to exit (SIGKILL after `graceMs`). */
  private async stopChild(name: string, signal: NodeJS.Signals, graceMs = 15_000): Promise<void> {
    const child = this.children.get(name);
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    killGroup(child, signal);
    const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }

  private async pgCtlStart(name: 'primary' | 'replica'): Promise<void> {
    const port = name === 'primary' ? this.ports.primary : this.ports.replica;
    await this.run(`pg_ctl-${name}`, this.bin.pgCtl, [
      'start', '-w', '-t', '60', '-D', path.join(this.dir, name), '-l', path.join(this.logDir, `${name}.log`),
      '-o', `-p ${port} -c cluster_name=${name}`,
    ], { asServerUser: true });
  }

  /** pg_ctl stop: `-m fast` (sessions ended, a clean shutdown); SIGKILL or SIGQUIT: `-m immediate` (a crash). */
  private async pgCtlStop(name: 'primary' | 'replica', signal?: NodeJS.Signals): Promise<void> {
    const mode = signal === 'SIGKILL' || signal === 'SIGQUIT' ? 'immediate' : 'fast';
    await this.run(`pg_ctl-${name}`, this.bin.pgCtl, ['stop', '-w', '-t', '60', '-m', mode, '-D', path.join(this.dir, name)], {
      asServerUser: true,
    });
  }

  /** Runs statements in order on one connection; returns the last one's rows. */
  private async sql(url: string, statements: string[]): Promise<Array<Record<string, unknown>>> {
    const client = new Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
    client.on('error', () => undefined);
    await client.connect();
    try {
      let rows: Array<Record<string, unknown>> = [];
      for (const statement of statements) rows = (await client.query(statement)).rows;
      return rows;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** Polls `ready` until true; fails after `timeoutMs`, on abort, or when `child` exits. */
  private async waitFor(what: string, timeoutMs: number, ready: () => Promise<boolean>, child?: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      this.checkAborted();
      try {
        if (await ready()) return;
      } catch (error) {
        last = error;
      }
      if (child && !this.children.has(child)) throw new Error(`${child} exited while waiting for ${what}:\n${this.logTail(child)}`);
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for ${what}${last ? ` (${message(last)})` : ''}${child ? `:\n${this.logTail(child)}` : ''}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  private logTail(name: string, lines = 20): string {
    const file = path.join(this.logDir, `${name}.log`);
    if (!fs.existsSync(file)) return '(no output)';
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  }
}

// ─── Small pieces ───────────────────────────────────────────────────────────────────────

function secret(): string {
  return randomBytes(18).toString('hex');
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function tryKill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  tryKill(-child.pid, signal);
}

/**
 * Distinct free loopback ports, found by binding port 0 with all the sockets open at once,
 * then releasing them (in a short child process, so the constructor stays synchronous).
 */
type Ports = Record<'primary' | 'replica' | 'pgbouncer' | 'redis' | 'haproxy', number> & { gateways: number[] };

function allocatePortsSync(count: number): Ports {
  const script = `
    const net = require('node:net');
    const servers = Array.from({ length: ${count} }, () => net.createServer());
    Promise.all(servers.map((s) => new Promise((ok) => s.listen(0, '127.0.0.1', ok)))).then(() => {
      process.stdout.write(JSON.stringify(servers.map((s) => s.address().port)));
      servers.forEach((s) => s.close());
    });`;
  const result = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`could not find free ports: ${result.stderr}`);
  const [primary, replica, pgbouncer, redis, haproxy, ...gateways] = JSON.parse(result.stdout) as number[];
  return { primary, replica, pgbouncer, redis, haproxy, gateways };
}

function newestMtime(paths: string[]): number {
  let newest = 0;
  for (const file of paths) {
    if (!fs.existsSync(file)) continue;
    const stat = fs.statSync(file);
    if (stat.isDirectory()) {
      newest = Math.max(newest, newestMtime(fs.readdirSync(file).map((entry) => path.join(file, entry))));
    } else {
      newest = Math.max(newest, stat.mtimeMs);
    }
  }
  return newest;
}

function redisPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let reply = '';
    const done = (answer: boolean) => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.on('error', () => done(false));
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      if (reply.includes('\r\n')) done(reply.startsWith('+PONG'));
    });
  });
}

/** HAProxy's `show stat` CSV as rows keyed by its header (pxname, svname, status, check_status, scur…). */
export function parseStats(csv: string): Array<Record<string, string>> {
  const [header, ...lines] = csv.trim().split('\n');
  const columns = header.replace(/^# /, '').split(',');
  return lines.map((line) => Object.fromEntries(line.split(',').map((value, index) => [columns[index], value])));
}

// ─── CLI: npm run cluster ───────────────────────────────────────────────────────────────

async function cli(): Promise<void> {
  const print = (line: string) => process.stdout.write(`[cluster] ${line}\n`);
  const abort = new AbortController();
  let cluster: Cluster | undefined;
  let stopping = false;
  const shutdown = async (target: Cluster) => {
    try {
      await target.stop();
      print('stopped; everything is gone');
      process.exit(0);
    } catch (error) {
      process.stderr.write(`[cluster] ${message(error)}\n`);
      process.exit(1);
    }
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      if (stopping) return print('already stopping');
      stopping = true;
      print(`${signal}: tearing down`);
      if (cluster) void shutdown(cluster);
      else abort.abort();
    });
  }
  try {
    cluster = await start({ log: print, signal: abort.signal });
  } catch (error) {
    if (abort.signal.aborted) {
      print('stopped before it was ready; everything is gone');
      process.exit(130);
    }
    process.stderr.write(`[cluster] ${message(error)}\n`);
    process.exit(error instanceof MissingPackagesError ? 2 : 1);
  }
  if (stopping) return shutdown(cluster);
  const rows: Array<[string, string]> = [
    ['GraphQL (HAProxy)', cluster.url],
    ['admin key', cluster.adminApiKey],
    ...cluster.gateways.map((gateway): [string, string] => [`gateway ${gateway.name}`, gateway.url]),
    ['PgBouncer', cluster.pgbouncer.url],
    ['primary', cluster.primary.url],
    ['replica', cluster.replica.url],
    ['Redis', cluster.redis.url],
    ['HAProxy runtime API', cluster.haproxy.socket],
    ['logs', path.join(cluster.dir, 'logs')],
  ];
  process.stdout.write(
    `\n${rows.map(([name, value]) => `  ${name.padEnd(20)} ${value}`).join('\n')}\n\n` +
      `Try: curl -sS ${cluster.url} -H 'authorization: Bearer ${cluster.adminApiKey}' -H 'content-type: application/json' -d '{"query":"{ viewer { kind } }"}'\n` +
      'Ctrl-C stops everything and removes the folder.\n\n',
  );
}

if (require.main === module) void cli();
