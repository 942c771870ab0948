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
  /** Where the embedded database and the generated admin key live. */
  dataDir: string;
  /** Admin credential; when absent one is generated at first start and kept in dataDir. */
  adminApiKey?: string;
  logLevel: string;
  dbPoolSize: number;
  defaultSessionTtlSeconds: number;
  /** Deletions give up with a clear error instead of waiting for ever on a lock. */
  deletionLockTimeoutMs: number;
  deletionStatementTimeoutMs: number;
}

export class ConfigError extends Error {}

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be an integer between ${min} and ${max}, got "${raw}"`);
  }
  return value;
}

function text(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const raw = env[name]?.trim();
  return raw ? raw : undefined;
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
  return {
    nodeEnv,
    host: text(env, 'HOST') ?? '127.0.0.1',
    port: integer(env, 'PORT', 4000, 0, 65535),
    databaseUrl: text(env, 'DATABASE_URL'),
    dataDir: path.resolve(text(env, 'DATA_DIR') ?? '.data'),
    adminApiKey,
    logLevel: text(env, 'LOG_LEVEL') ?? (nodeEnv === 'test' ? 'silent' : 'info'),
    dbPoolSize: integer(env, 'DB_POOL_SIZE', 10, 1, 200),
    defaultSessionTtlSeconds: integer(env, 'SESSION_TTL_SECONDS', 86_400, 60, 31_536_000),
    deletionLockTimeoutMs: integer(env, 'DELETION_LOCK_TIMEOUT_MS', 5_000, 100, 600_000),
    deletionStatementTimeoutMs: integer(env, 'DELETION_STATEMENT_TIMEOUT_MS', 120_000, 1_000, 3_600_000),
  };
}
