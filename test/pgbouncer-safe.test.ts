import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { QueryFailedError } from 'typeorm';
import {
  CreateOrganizationDocument,
  DeleteOrganizationDocument,
  DeleteUserDocument,
  GetOrganizationDocument,
  UpdateUserDocument,
  ViewerDocument,
} from '../src/generated/graphql';
import { loadConfig } from '../src/config';
import { beginStatement, inTransaction } from '../src/database/transaction';
import { createErrorFormatter, DATABASE_UNREACHABLE, errorCodeOf, SERVER_BUSY } from '../src/errors';
import { ReadSnapshot } from '../src/http/read-snapshot';
import { newId } from '../src/ids';
import { createLogger } from '../src/logger';
import { startWebhookWorker, type WebhookWorker } from '../src/webhooks/webhook-worker';
import { onEveryPoolConnection, startTestApp, type TestApp } from './support/app';
import { errorCode, factory, ok } from './support/factory';
import { startWebhookReceiver, type WebhookReceiver } from './support/webhook-receiver';

/**
 * Issue 14, "PgBouncer-safe database use": behind PgBouncer in transaction mode a client
 * connection is lent a server connection for one transaction at a time, so nothing the
 * gateway does may live on a connection between transactions:
 *
 * - its lock and statement timeouts come with every BEGIN as SET LOCAL, in the BEGIN's one
 *   round trip (src/database/transaction.ts beginStatement), and the autocommit deleteUser
 *   sets its own lock timeout (delete_user_v2); no session SET of a timeout. A direct
 *   connection carries the same values as startup parameters, the ceiling of statements
 *   outside a transaction: a setting of that client connection ('client' in pg_settings),
 *   which PgBouncer drops (ignore_startup_parameters) and so never hands to another client
 *   (test/timeout-ceiling.test.ts);
 * - no named prepared statement (with DB_PREPARED_STATEMENTS=false, as ops/cluster.ts runs
 *   the gateways), no session-level advisory lock, no LISTEN, no session SET, from the
 *   gateway or from pg-boss (the webhook queue);
 * - PgBouncer's own refusals (query_wait_timeout, "server conn crashed?", …) are
 *   SERVICE_UNAVAILABLE, "nothing ran, try again", never INTERNAL_SERVER_ERROR.
 *
 * Runs in `npm test` (directly) and in `npm run test:cluster` with the app's pool through
 * PgBouncer (jest.cluster.config.js, project "pgbouncer"): the checks hold on both paths.
 */

// Timeouts no server has by default, so a setting seen can only be ours.
const LOCK_TIMEOUT_MS = 700;
const STATEMENT_TIMEOUT_MS = 2_000;
const ENV = {
  // What a gateway behind PgBouncer 1.18 runs with (the default, and ops/cluster.ts says so; test/prepared-statements.test.ts has it on).
  DB_PREPARED_STATEMENTS: 'false',
  DB_LOCK_TIMEOUT_MS: String(LOCK_TIMEOUT_MS),
  DB_STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS),
  WEBHOOK_ALLOW_PRIVATE_ADDRESSES: 'true',
  WEBHOOK_RETRY_SCHEDULE: '1,1,1',
  WEBHOOK_TIMEOUT_MS: '1500',
  WEBHOOK_POLL_INTERVAL_MS: '100',
};

/** Whether the app's pool goes through PgBouncer (`npm run test:cluster`, project "pgbouncer"). */
const POOLED = Boolean(process.env.TEST_POOLER_URL);

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp(ENV);
});
afterAll(() => app.close());

const unique = () => randomBytes(4).toString('hex');

/** What a server connection carries between transactions that PgBouncer would hand to the next client. */
interface SessionState {
  prepared: string[];
  listening: string[];
  advisoryLocks: number;
  /**
   * lock_timeout / statement_timeout set by a session SET ('session'), which would stay on
   * the server connection for the next client. Not the startup parameters ('client'): a
   * direct connection's own, and never sent on by PgBouncer.
   */
  timeouts: string[];
}

const SESSION_STATE = `
  SELECT (SELECT coalesce(array_agg(name::text ORDER BY name), '{}') FROM pg_prepared_statements) AS prepared,
         (SELECT coalesce(array_agg(channel ORDER BY channel), '{}') FROM pg_listening_channels() channel) AS listening,
         (SELECT count(*)::int FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()) AS "advisoryLocks",
         (SELECT coalesce(array_agg(name || ' (' || source || ')' ORDER BY name), '{}') FROM pg_settings
           WHERE name IN ('lock_timeout', 'statement_timeout') AND source = 'session') AS timeouts`;

/**
 * The session state of the server connection behind `client`, read in a transaction of
 * its own: behind PgBouncer the BEGIN pins one server connection, the one this client is
 * lent, and a fresh transaction holds no transaction-level lock or SET LOCAL yet.
 */
async function sessionStateOf(client: { query(text: string): Promise<{ rows: unknown[] }> }): Promise<SessionState> {
  await client.query('BEGIN');
  try {
    return (await client.query(SESSION_STATE)).rows[0] as SessionState;
  } finally {
    await client.query('COMMIT');
  }
}

/**
 * Every connection of the app's pool at once (each in its own transaction, so behind
 * PgBouncer each reads a different server connection), with what each holds.
 */
function poolSessionStates(): Promise<SessionState[]> {
  return onEveryPoolConnection(app.dataSource, sessionStateOf);
}

const CLEAN: SessionState = { prepared: [], listening: [], advisoryLocks: 0, timeouts: [] };

/** Statements sent by every pg client of this process meanwhile: the app's pool and pg-boss's. */
async function sentDuring<T>(work: () => Promise<T>): Promise<{ result: T; calls: unknown[][]; server: string[] }> {
  const spy = jest.spyOn(Client.prototype, 'query');
  try {
    const result = await work();
    const calls = spy.mock.calls.map((call) => [...call]);
    const server = spy.mock.calls
      .filter((_call, index) => spy.mock.contexts[index] instanceof app.queries.pgClient)
      .map(([first]) => (typeof first === 'string' ? first : String((first as { text?: unknown }).text)));
    return { result, calls, server };
  } finally {
    spy.mockRestore();
  }
}

/**
 * Statements that leave session state: a named (prepared) statement, PREPARE, LISTEN,
 * a session-level advisory lock (pg_advisory_lock, not pg_advisory_xact_lock), or a SET
 * that is not SET LOCAL / SET TRANSACTION.
 */
function sessionStatefulCalls(calls: unknown[][]): string[] {
  const found: string[] = [];
  for (const [first] of calls) {
    const config = typeof first === 'object' && first !== null ? (first as { name?: unknown; text?: unknown }) : undefined;
    const text = typeof first === 'string' ? first : String(config?.text ?? '');
    if (config?.name) found.push(`named statement "${String(config.name)}": ${text.slice(0, 80)}`);
    for (const statement of text.split(';')) {
      if (/^\s*(PREPARE|LISTEN)\b/i.test(statement)) found.push(statement.trim().slice(0, 80));
      if (/^\s*SET\s+(?!LOCAL\b|TRANSACTION\b|CONSTRAINTS\b)/i.test(statement)) found.push(statement.trim().slice(0, 80));
      if (/pg_(try_)?advisory_lock(_shared)?\s*\(/i.test(statement)) found.push(statement.trim().slice(0, 80));
    }
  }
  return found;
}

describe('the checks can fail', () => {
  it('a connection holding each kind of session state is seen as such', async () => {
    const client = new Client({ connectionString: app.databaseUrl, application_name: 'pgbouncer-safe-test' });
    await client.connect();
    try {
      const { calls } = await sentDuring(async () => {
        await client.query({ name: 'pgbouncer_safe_probe', text: 'SELECT 1' });
        await client.query('SELECT pg_advisory_lock(14)');
        await client.query('LISTEN pgbouncer_safe_probe');
        await client.query(`SET lock_timeout = ${LOCK_TIMEOUT_MS}`);
      });
      expect(sessionStatefulCalls(calls)).toHaveLength(4);
      expect(await sessionStateOf(client)).toEqual({
        prepared: ['pgbouncer_safe_probe'],
        listening: ['pgbouncer_safe_probe'],
        advisoryLocks: 1,
        timeouts: ['lock_timeout (session)'],
      });
    } finally {
      await client.end();
    }
  });
});

describe('timeouts per transaction, never a session SET', () => {
  it('every transaction opens with one statement: BEGIN and SET LOCAL of both timeouts', async () => {
    expect(beginStatement(app.dataSource)).toBe(
      `BEGIN; SET LOCAL lock_timeout = ${LOCK_TIMEOUT_MS}; SET LOCAL statement_timeout = ${STATEMENT_TIMEOUT_MS}`,
    );
    const before = app.queries.count;
    const mutation = await sentDuring(() => app.gql(CreateOrganizationDocument, { input: { name: `Org ${unique()}` } }));
    const organization = ok(mutation.result).createOrganization;
    expect(mutation.server[0]).toBe(beginStatement(app.dataSource));
    expect(mutation.server).toContain('COMMIT');
    const query = await sentDuring(() => app.gql(GetOrganizationDocument, { id: organization.id }));
    ok(query.result);
    expect(query.server[0]).toBe(
      `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL lock_timeout = ${LOCK_TIMEOUT_MS}; SET LOCAL statement_timeout = ${STATEMENT_TIMEOUT_MS}`,
    );
    // One round trip each: the driver-level count (issue 13) counts every query() call once.
    expect(app.queries.count - before).toBe(mutation.server.length + query.server.length);
  });

  it('in force inside every transaction; outside one only the startup ceiling of a direct connection', async () => {
    const read = (manager: { query(sql: string): Promise<Array<{ lock: string; statement: string }>> }) =>
      manager.query(`SELECT current_setting('lock_timeout') AS lock, current_setting('statement_timeout') AS statement`);
    expect(await inTransaction(app.dataSource, read)).toEqual([{ lock: '700ms', statement: '2s' }]);
    const snapshot = new ReadSnapshot(app.dataSource);
    try {
      expect(await read(snapshot.manager)).toEqual([{ lock: '700ms', statement: '2s' }]);
    } finally {
      await snapshot.end();
    }
    // Outside a transaction (autocommit): directly, the same values as startup parameters (the
    // ceiling, ormconfig.ts); through PgBouncer, which drops them, nothing of the gateway's
    // (there the role's settings are the ceiling, ops/cluster.ts).
    const [outside] = await read(app.dataSource.manager);
    if (POOLED) expect(outside).not.toEqual({ lock: '700ms', statement: '2s' });
    else expect(outside).toEqual({ lock: '700ms', statement: '2s' });
    expect(await poolSessionStates()).toEqual(Array(loadConfig({ NODE_ENV: 'test', ...ENV }).dbPoolSize).fill(CLEAN));
  });

  it('a transaction waiting for a lock ends after DB_LOCK_TIMEOUT_MS (55P03), a mutation with CONFLICT', async () => {
    const user = await factory(app).user();
    const locker = new Client({ connectionString: app.databaseUrl, application_name: 'pgbouncer-safe-test' });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('SELECT id FROM users WHERE id = $1 FOR UPDATE', [user.id]);

      let started = Date.now();
      const failure = await inTransaction(app.dataSource, (manager) => manager.query('SELECT id FROM users WHERE id = $1 FOR UPDATE', [user.id])).then(
        () => undefined,
        (error: unknown) => error,
      );
      let waited = Date.now() - started;
      expect((failure as { driverError?: { code?: string } }).driverError?.code).toBe('55P03');
      expect(waited).toBeGreaterThanOrEqual(LOCK_TIMEOUT_MS - 50);
      expect(waited).toBeLessThan(LOCK_TIMEOUT_MS + 3_000);

      started = Date.now();
      const update = await app.gql(UpdateUserDocument, { input: { id: user.id, name: 'Waited' } });
      waited = Date.now() - started;
      expect(errorCode(update)).toBe('CONFLICT');
      expect(waited).toBeLessThan(LOCK_TIMEOUT_MS + 3_000);
    } finally {
      await locker.query('ROLLBACK').catch(() => undefined);
      await locker.end();
    }
    expect(await app.sql('SELECT name FROM users WHERE id = $1', [user.id])).toEqual([{ name: user.name }]);
    ok(await app.gql(UpdateUserDocument, { input: { id: user.id, name: 'Not waiting' } }));
    expect(await app.sql('SELECT name FROM users WHERE id = $1', [user.id])).toEqual([{ name: 'Not waiting' }]);
  });

  it('the autocommit deleteUser bounds its own lock waits (delete_user_v2), and leaves nothing behind', async () => {
    const user = await factory(app).user();
    const locker = new Client({ connectionString: app.databaseUrl, application_name: 'pgbouncer-safe-test' });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('SELECT id FROM users WHERE id = $1 FOR SHARE', [user.id]);
      const started = Date.now();
      const response = await app.gql(DeleteUserDocument, { id: user.id });
      const waited = Date.now() - started;
      expect(errorCode(response)).toBe('CONFLICT');
      // The server's default (none) would wait for ever; the configured 700 ms ends it.
      expect(waited).toBeGreaterThanOrEqual(LOCK_TIMEOUT_MS - 50);
      expect(waited).toBeLessThan(LOCK_TIMEOUT_MS + 3_000);
    } finally {
      await locker.query('ROLLBACK').catch(() => undefined);
      await locker.end();
    }
    expect(await app.sql('SELECT 1 FROM users WHERE id = $1', [user.id])).toHaveLength(1);
    expect(await poolSessionStates()).toEqual(Array(loadConfig({ NODE_ENV: 'test', ...ENV }).dbPoolSize).fill(CLEAN));
    ok(await app.gql(DeleteUserDocument, { id: user.id }));
    expect(await app.sql('SELECT 1 FROM users WHERE id = $1', [user.id])).toEqual([]);
  });

  it('a statement running longer than DB_STATEMENT_TIMEOUT_MS is cancelled (57014), in a mutation and in a read snapshot', async () => {
    for (const run of [
      () => inTransaction(app.dataSource, (manager) => manager.query('SELECT pg_sleep(10)')),
      async () => {
        const snapshot = new ReadSnapshot(app.dataSource);
        try {
          return await snapshot.manager.query('SELECT pg_sleep(10)');
        } finally {
          await snapshot.end();
        }
      },
    ]) {
      const started = Date.now();
      const failure = await run().then(
        () => undefined,
        (error: unknown) => error,
      );
      const took = Date.now() - started;
      expect((failure as { driverError?: { code?: string } }).driverError?.code).toBe('57014');
      expect(took).toBeGreaterThanOrEqual(STATEMENT_TIMEOUT_MS - 50);
      expect(took).toBeLessThan(STATEMENT_TIMEOUT_MS + 4_000);
    }
  });
});

describe('no session state after a representative workload', () => {
  let worker: WebhookWorker | undefined;
  let receiver: WebhookReceiver | undefined;
  afterAll(async () => {
    await worker?.stop();
    await receiver?.close();
  });

  it('no named prepared statement, session advisory lock, LISTEN or session SET, from the gateway or pg-boss', async () => {
    // The webhook worker (fan-out, pg-boss's queue and maintenance) on the server's own URL:
    // through PgBouncer when the suite runs there.
    const config = loadConfig({ NODE_ENV: 'test', ...ENV });
    receiver = await startWebhookReceiver();
    const { calls } = await sentDuring(async () => {
      worker = await startWebhookWorker({
        dataSource: app.dataSource,
        databaseUrl: app.serverDatabaseUrl,
        config: config.webhooks,
        logger: createLogger('silent'),
      });
      await app.sql(`INSERT INTO webhook_endpoints (id, url, event_types, secret, api_key_id) VALUES ($1, $2, $3, $4, NULL)`, [
        newId('webhookEndpoint'),
        receiver!.url,
        ['user.deleted', 'organization.deleted', 'session.terminated'],
        `whsec_${randomBytes(24).toString('base64')}`,
      ]);
      const f = factory(app);
      const organization = await f.organization();
      const owner = await f.signedInMember(organization.id, 'OWNER');
      const member = await f.signedInMember(organization.id, 'MEMBER');
      // Authentication (autocommit lookups), a read snapshot, a mutation, its payload.
      ok(await app.gql(ViewerDocument, {}, { token: member.token }));
      ok(await app.gql(GetOrganizationDocument, { id: organization.id }, { token: owner.token }));
      ok(await app.gql(UpdateUserDocument, { input: { id: member.user.id, name: 'Renamed' } }));
      // A dry run (BEGIN … ROLLBACK), the autocommit deleteUser, the organization's deletion.
      ok(await app.gql(DeleteUserDocument, { id: member.user.id, dryRun: true }));
      ok(await app.gql(DeleteUserDocument, { id: member.user.id }));
      ok(await app.gql(DeleteOrganizationDocument, { id: organization.id }));
      // user.deleted ×2, organization.deleted, session.terminated ×2: delivered through pg-boss.
      await receiver!.waitFor(5, 30_000);
    });

    expect(calls.length).toBeGreaterThan(20);
    expect(sessionStatefulCalls(calls)).toEqual([]);
    // Nothing held by any connection of the app's pool…
    expect(await poolSessionStates()).toEqual(Array(config.dbPoolSize).fill(CLEAN));
    // …and no advisory lock held by a session that is not in a transaction (pg-boss's pool
    // and, behind PgBouncer, every server connection of this database included).
    const direct = new Client({ connectionString: app.databaseUrl, application_name: 'pgbouncer-safe-test' });
    await direct.connect();
    try {
      const { rows } = await direct.query<{ held: number }>(
        `SELECT count(*)::int AS held FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE l.locktype = 'advisory' AND a.datname = current_database() AND a.state = 'idle'`,
      );
      expect(rows).toEqual([{ held: 0 }]);
    } finally {
      await direct.end();
    }
  });
});

describe("PgBouncer's own errors are SERVICE_UNAVAILABLE", () => {
  /** An error as pg reports a PgBouncer ErrorResponse, bare (a connect) or as TypeORM wraps it (a statement). */
  const fromPgBouncer = (message: string, code: string) => {
    const driverError = Object.assign(new Error(message), { name: 'error', code, severity: 'FATAL' });
    return [driverError, new QueryFailedError('SELECT 1', [], driverError)];
  };
  const format = createErrorFormatter(createLogger('silent'));
  const formatted = (error: unknown) =>
    format({ message: 'unexpected', extensions: { code: 'INTERNAL_SERVER_ERROR' } }, error) as { message: string; extensions: { code: string } };

  it.each([
    // PgBouncer 1.18 sends its own errors as 08P01; later versions give query_wait_timeout 57014.
    ['query_wait_timeout', '08P01', SERVER_BUSY],
    ['query_wait_timeout', '57014', SERVER_BUSY],
    ['no more connections allowed (max_client_conn)', '08P01', SERVER_BUSY],
    ['no more connections allowed (max_db_connections)', '53300', SERVER_BUSY],
    ['server conn crashed?', '08P01', DATABASE_UNREACHABLE],
    ['server login has been failing, try again later (server_login_retry)', '08P01', DATABASE_UNREACHABLE],
    ['pgbouncer cannot connect to server', '08P01', DATABASE_UNREACHABLE],
    ['server shutting down', '08P01', DATABASE_UNREACHABLE],
  ])('"%s" (%s): %s', (message, code, expected) => {
    for (const error of fromPgBouncer(message, code)) {
      expect(errorCodeOf(error)).toBe('SERVICE_UNAVAILABLE');
      expect(formatted(error)).toMatchObject({ message: expected, extensions: { code: 'SERVICE_UNAVAILABLE' } });
    }
  });

  it("PostgreSQL's own 57014 (a statement timeout) stays CONFLICT", () => {
    const [bare, wrapped] = fromPgBouncer('canceling statement due to statement timeout', '57014');
    expect(errorCodeOf(bare)).toBe('CONFLICT');
    expect(errorCodeOf(wrapped)).toBe('CONFLICT');
  });
});
