import path from 'node:path';

/**
 * Every environment variable the server reads, parsed and validated once.
 * The README's settings table mirrors this file; keep them in step.
 */
export interface Config {
  nodeEnv: 'development' | 'production' | 'test';
  host: string;
  port: number;
  /** External PostgreSQL; when absent an embedded server is started under dataDir. */
  databaseUrl?: string;
  /**
   * Optional read replica (issue 14), DATABASE_REPLICA_URL: a hot standby of the
   * DATABASE_URL database. Plain queries (outside a mutation) read their snapshot there;
   * authentication, mutations and their payloads, `viewer` and `deletionReceipt` stay on
   * the primary (src/database/replica.ts). Needs DATABASE_URL: the embedded server has no replica.
   */
  databaseReplicaUrl?: string;
  /**
   * Connections this process keeps to the replica at most (DB_REPLICA_POOL_SIZE, default
   * DB_POOL_SIZE). Direct to the replica, or through a pooler of its own.
   */
  dbReplicaPoolSize: number;
  /** Where the embedded database and the generated admin key live. */
  dataDir: string;
  /** Admin credential; when absent one is generated at first start and kept in dataDir. */
  adminApiKey?: string;
  logLevel: string;
  dbPoolSize: number;
  /**
   * Deletions (deleteUser, deleteOrganization, dry runs included) that may hold a pool
   * connection at once (issue 10): the rest of the pool always stays for other traffic.
   * Below DB_POOL_SIZE; half the pool by default (at least 1).
   */
  dbDeletionConcurrency: number;
  /**
   * How long a deletion waits, in arrival order, for one of those slots before it is
   * refused with SERVICE_UNAVAILABLE ("busy"), in ms. Waiting holds no connection.
   */
  dbDeletionQueueTimeoutMs: number;
  defaultSessionTtlSeconds: number;
  /** How long an invitation stays acceptable (issue 9); after that it reads as EXPIRED. */
  invitationTtlSeconds: number;
  /**
   * PostgreSQL lock_timeout and statement_timeout, in ms: a statement waiting on a stuck
   * lock, or running away, ends with a clear error (CONFLICT) instead of a hung request.
   * Sent as SET LOCAL with every BEGIN, in its round trip (issue 14: they hold behind
   * PgBouncer in transaction mode; src/database/transaction.ts beginStatement); the
   * autocommit deleteUser passes the lock timeout to delete_user_v2, which sets it itself.
   */
  dbLockTimeoutMs: number;
  dbStatementTimeoutMs: number;
  /**
   * Send the loaders' fixed statements as named prepared statements (DB_PREPARED_STATEMENTS,
   * default false; src/plain-rows.ts runStatement): PostgreSQL parses and plans each once per
   * connection instead of on every request (issue 13: the member-list read's PostgreSQL CPU
   * 2.7 → 1.8 ms). Off by default because it is safe only where every connection reaches one
   * PostgreSQL session: directly, or through a pooler that tracks protocol-level prepared
   * statements (PgBouncer 1.21+ with max_prepared_statements > 0; not Debian's 1.18 of
   * ops/cluster.ts), and because a connection that prepared a statement before a migration
   * changed the type of a column it returns fails it ("cached plan must not change result
   * type") until that connection closes: restart the gateways after such a migration. The
   * bench turns it on (bench/harness.ts).
   */
  dbPreparedStatements: boolean;
  /**
   * Run queries on graphql-jit (GRAPHQL_JIT, default true; src/http/jit-executor.ts): each
   * query document is compiled once into a function, 6–8% less server CPU per member-list
   * read (issue 13). `false` runs every operation on graphql-js, as mutations
   * always are: the switch to turn it off should graphql-jit ever answer differently.
   */
  graphqlJit: boolean;
  /** Serve the self-hosted GraphiQL page at /graphiql and to browsers at GET /graphql. */
  graphiql: boolean;
  /** Shared store for automatic persisted queries; in-memory per instance when absent. */
  redisUrl?: string;
  /** Origins browser apps may call from; `localhost` means any http(s)://localhost or 127.0.0.1 port. */
  corsOrigins: string[];
  /** Schema introspection; off in production unless enabled. */
  introspection: boolean;
  /** How long SIGTERM waits for in-flight requests (a running deletion included). */
  shutdownGraceMs: number;
  /** Webhook delivery settings (issue 12); src/webhooks/webhook-worker.ts. */
  webhooks: WebhookConfig;
  /** Organization deletion jobs (issue 15); src/deletion/deletion-job.worker.ts. */
  deletionJobs: DeletionJobConfig;
}

/** Issue 15: organizations deleted by a durable job (README "Deleting a large organization"). */
export interface DeletionJobConfig {
  /** Run the deletion job worker in this process (DELETION_JOBS, default true). */
  enabled: boolean;
  /**
   * Above this many members deleteOrganization answers CONFLICT and names
   * scheduleOrganizationDeletion (SYNC_DELETION_MAX_MEMBERS, default 200,000: about 12 s in
   * one transaction on the bench machine, holding every member's row lock meanwhile).
   */
  syncMaxMembers: number;
  /**
   * Members a job's step processes in its one transaction (DELETION_JOB_CHUNK_MEMBERS, default
   * 2,500): about 0.8 s on the 2-core bench machine at 1,000,000 members, estimated from the
   * 310–350 µs a member measured there with 5,000, which took 1.3–2.9 s a step (issue 15: about
   * 1 s or less), holding those members' row locks meanwhile.
   */
  chunkMembers: number;
  /** Attempts a step gets before the job ends FAILED (DELETION_JOB_MAX_ATTEMPTS, default 5). */
  maxAttempts: number;
  /** Delay before a failed step's first retry, in seconds, doubling after each (DELETION_JOB_RETRY_DELAY_SECONDS, default 5). */
  retryDelaySeconds: number;
  /**
   * How long a step may stay taken before the queue hands it to another worker, in seconds
   * (DELETION_JOB_STEP_EXPIRY_SECONDS, default 120): how soon a job resumes after its worker
   * was killed. A longer step is not done twice: the next worker waits for its lock and then
   * finds the step done.
   */
  stepExpirySeconds: number;
  /** How often an idle worker looks for steps, in ms (DELETION_JOB_POLL_INTERVAL_MS, default 2,000; at least 500). */
  pollIntervalMs: number;
}

/** Issue 12: how webhooks are delivered (README "Webhooks"). */
export interface WebhookConfig {
  /** Run the fan-out and delivery worker in this process (WEBHOOKS, default true). */
  enabled: boolean;
  /**
   * Deliver to loopback, private, link-local and other non-public addresses
   * (WEBHOOK_ALLOW_PRIVATE_ADDRESSES): tests and local development only. Default false.
   */
  allowPrivateAddresses: boolean;
  /**
   * Delay before each retry, in seconds (WEBHOOK_RETRY_SCHEDULE, comma-separated): the
   * message is sent at once, then after each delay (±20% jitter), then marked FAILED.
   * Default the Standard Webhooks / Svix schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
   */
  retryScheduleSeconds: number[];
  /** One attempt's time limit (connect, send, answer), in ms (WEBHOOK_TIMEOUT_MS, default 10 s). */
  timeoutMs: number;
  /** An endpoint failing without a success for longer than this is disabled, in ms (default 5 days, as Svix). */
  disableAfterMs: number;
  /** How often the fan-out reads the events outbox and idle workers look for jobs, in ms. */
  pollIntervalMs: number;
  /** Deliveries in flight at once in this process (WEBHOOK_CONCURRENCY, default 100: 4 workers of 25). */
  concurrency: number;
}

/** Standard Webhooks' suggested retry schedule (as Svix runs it), in seconds. */
export const DEFAULT_WEBHOOK_RETRY_SCHEDULE = [5, 300, 1800, 7200, 18000, 36000, 36000];

function retrySchedule(env: NodeJS.ProcessEnv): number[] {
  const raw = text(env, 'WEBHOOK_RETRY_SCHEDULE');
  if (raw === undefined) return DEFAULT_WEBHOOK_RETRY_SCHEDULE;
  const delays = raw.split(',').map((part) => part.trim());
  // A delay beyond 24 hours would outlive pg-boss's job retention rules; 20 retries is plenty.
  if (delays.length > 20 || delays.some((delay) => !/^\d{1,5}$/.test(delay) || Number(delay) < 1 || Number(delay) > 86_400)) {
    throw new ConfigError(
      `WEBHOOK_RETRY_SCHEDULE must be up to 20 comma-separated delays in seconds, each between 1 and 86400, got "${raw}"`,
    );
  }
  return delays.map(Number);
}

export class ConfigError extends Error {}

function integer(
  env: NodeJS.ProcessEnv,
  name: string,
  fallback: number,
  min: number,
  max: number,
  why?: string,
): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    const reason = why ? ` (${why})` : '';
    throw new ConfigError(`${name} must be an integer between ${min} and ${max}${reason}, got "${raw}"`);
  }
  return value;
}

function text(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = env[name]?.trim();
  return raw ? raw : undefined;
}

function origins(env: NodeJS.ProcessEnv, nodeEnv: string): string[] {
  const raw = text(env, 'CORS_ORIGINS');
  if (raw === undefined) return nodeEnv === 'production' ? [] : ['localhost'];
  const list = raw.split(',').map((origin) => origin.trim()).filter(Boolean);
  for (const origin of list) {
    if (origin !== 'localhost' && !/^https?:\/\/[a-z0-9.-]+(:\d{1,5})?$/i.test(origin)) {
      throw new ConfigError(`CORS_ORIGINS entries must look like https://app.example.com, got "${origin}"`);
    }
  }
  return list;
}

function flag(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = text(env, name)?.toLowerCase();
  if (raw === undefined) return fallback;
  if (raw === 'true' || raw === '1') return true;
  if (raw === 'false' || raw === '0') return false;
  throw new ConfigError(`${name} must be true or false, got "${env[name]}"`);
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const nodeEnv = text(env, 'NODE_ENV') ?? 'development';
  if (nodeEnv !== 'development' && nodeEnv !== 'production' && nodeEnv !== 'test') {
    throw new ConfigError(`NODE_ENV must be development, production or test, got "${nodeEnv}"`);
  }
  const adminApiKey = text(env, 'ADMIN_API_KEY');
  if (adminApiKey !== undefined && adminApiKey.length < 16) {
    throw new ConfigError('ADMIN_API_KEY must be at least 16 characters long');
  }
  const dbPoolSize = integer(env, 'DB_POOL_SIZE', 10, 1, 200);
  const databaseUrl = text(env, 'DATABASE_URL');
  const databaseReplicaUrl = text(env, 'DATABASE_REPLICA_URL');
  if (databaseReplicaUrl !== undefined) {
    if (databaseUrl === undefined) {
      throw new ConfigError('DATABASE_REPLICA_URL needs DATABASE_URL: the embedded PostgreSQL has no replica');
    }
    if (!/^postgres(ql)?:\/\/[^\s]+$/i.test(databaseReplicaUrl)) {
      throw new ConfigError('DATABASE_REPLICA_URL must be a postgres:// or postgresql:// URL');
    }
  }
  // With a pool of one connection nothing can be kept back from deletions.
  const deletionCeiling = Math.max(1, dbPoolSize - 1);
  return {
    nodeEnv,
    host: text(env, 'HOST') ?? '127.0.0.1',
    port: integer(env, 'PORT', 4000, 0, 65535),
    databaseUrl,
    databaseReplicaUrl,
    dbReplicaPoolSize: integer(env, 'DB_REPLICA_POOL_SIZE', dbPoolSize, 1, 200),
    dataDir: path.resolve(text(env, 'DATA_DIR') ?? '.data'),
    adminApiKey,
    logLevel: text(env, 'LOG_LEVEL') ?? (nodeEnv === 'test' ? 'silent' : 'info'),
    dbPoolSize,
    dbDeletionConcurrency: integer(
      env,
      'DB_DELETION_CONCURRENCY',
      Math.max(1, Math.floor(dbPoolSize / 2)),
      1,
      deletionCeiling,
      'below DB_POOL_SIZE',
    ),
    dbDeletionQueueTimeoutMs: integer(env, 'DB_DELETION_QUEUE_TIMEOUT_MS', 30_000, 0, 600_000),
    defaultSessionTtlSeconds: integer(env, 'SESSION_TTL_SECONDS', 86_400, 60, 31_536_000),
    invitationTtlSeconds: integer(env, 'INVITATION_TTL_SECONDS', 604_800, 60, 31_536_000),
    dbLockTimeoutMs: integer(env, 'DB_LOCK_TIMEOUT_MS', 5_000, 100, 600_000),
    dbStatementTimeoutMs: integer(env, 'DB_STATEMENT_TIMEOUT_MS', 120_000, 1_000, 3_600_000),
    dbPreparedStatements: flag(env, 'DB_PREPARED_STATEMENTS', false),
    graphqlJit: flag(env, 'GRAPHQL_JIT', true),
    // A developer's tool: on unless NODE_ENV=production, where GRAPHIQL=true turns it on deliberately.
    graphiql: flag(env, 'GRAPHIQL', nodeEnv !== 'production'),
    redisUrl: text(env, 'REDIS_URL'),
    corsOrigins: origins(env, nodeEnv),
    introspection: flag(env, 'INTROSPECTION', nodeEnv !== 'production'),
    shutdownGraceMs: integer(env, 'SHUTDOWN_GRACE_MS', 30_000, 0, 600_000),
    webhooks: {
      enabled: flag(env, 'WEBHOOKS', true),
      allowPrivateAddresses: flag(env, 'WEBHOOK_ALLOW_PRIVATE_ADDRESSES', false),
      retryScheduleSeconds: retrySchedule(env),
      timeoutMs: integer(env, 'WEBHOOK_TIMEOUT_MS', 10_000, 100, 60_000),
      disableAfterMs: integer(env, 'WEBHOOK_DISABLE_AFTER_MS', 5 * 86_400_000, 0, 90 * 86_400_000),
      pollIntervalMs: integer(env, 'WEBHOOK_POLL_INTERVAL_MS', 1_000, 50, 60_000),
      concurrency: integer(env, 'WEBHOOK_CONCURRENCY', 100, 1, 500),
    },
    deletionJobs: {
      enabled: flag(env, 'DELETION_JOBS', true),
      syncMaxMembers: integer(env, 'SYNC_DELETION_MAX_MEMBERS', 200_000, 0, 100_000_000),
      chunkMembers: integer(env, 'DELETION_JOB_CHUNK_MEMBERS', 2_500, 1, 100_000),
      maxAttempts: integer(env, 'DELETION_JOB_MAX_ATTEMPTS', 5, 1, 100),
      retryDelaySeconds: integer(env, 'DELETION_JOB_RETRY_DELAY_SECONDS', 5, 0, 3_600),
      stepExpirySeconds: integer(env, 'DELETION_JOB_STEP_EXPIRY_SECONDS', 120, 1, 3_600),
      pollIntervalMs: integer(env, 'DELETION_JOB_POLL_INTERVAL_MS', 2_000, 500, 60_000),
    },
  };
}
