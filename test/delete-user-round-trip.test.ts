import { Client } from 'pg';
import { loadConfig } from '../src/config';
import { beginStatement, inTransaction } from '../src/database/transaction';
import { newId } from '../src/ids';
import {
  CALL_DELETE_USER,
  DELETE_USER_FUNCTION,
  DELETE_USER_PARAMETER_TYPES,
  deleteUserFunctionBody,
} from '../src/deletion/deletion.sql';
import { startTestApp, type GraphQLResponse, type TestApp } from './support/app';
import { seedMemberships, seedOrganizations, seedSessions, seedUsers } from './support/deletion-seed';
import { databaseSnapshot, errorCode, ok, UNKNOWN_USER } from './support/factory';

/**
 * Issue 13: deleteUser is one statement, the delete_user function (src/deletion/deletion.sql.ts)
 * called in autocommit, so one round trip to PostgreSQL; a dry run is BEGIN (with its SET
 * LOCAL timeouts, one statement: issue 14), the call, ROLLBACK. The statements are seen at the driver (pg's Client.prototype.query, which
 * every pooled client runs), independently of the server's own QueryCounter, and the two
 * must agree. The function's refusals keep their codes; its body in the database is the
 * one deletion.sql.ts generates (a changed DELETE_USER without a new migration fails here).
 */
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app.close());

const DELETE_USER = `mutation DeleteUserRoundTrip($id: ID!, $dryRun: Boolean) {
  deleteUser(id: $id, dryRun: $dryRun) {
    deletedUserId
    dryRun
    receipt { id subjectId terminatedSessionCount removedMembershipCount digest }
  }
}`;
type DeleteUserData = {
  deleteUser: {
    deletedUserId: string;
    dryRun: boolean;
    receipt: { id: string; subjectId: string; terminatedSessionCount: number; removedMembershipCount: number; digest: string } | null;
  };
};

/** The response and the statement texts the server's pg clients sent meanwhile (and the QueryCounter's count). */
async function sent<T>(request: () => Promise<GraphQLResponse<T>>): Promise<{ response: GraphQLResponse<T>; statements: string[]; counted: number }> {
  const spy = jest.spyOn(Client.prototype, 'query');
  const before = app.queries.count;
  try {
    const response = await request();
    // Only the server's pool (its clients are the QueryCounter's class), not this test's own connections.
    const statements = spy.mock.calls
      .filter((_call, index) => spy.mock.contexts[index] instanceof app.queries.pgClient)
      .map(([first]) => (typeof first === 'string' ? first : String((first as { text?: unknown }).text)));
    return { response, statements, counted: app.queries.count - before };
  } finally {
    spy.mockRestore();
  }
}

function deleteUser(id: string, dryRun = false) {
  return app.gql<DeleteUserData, { id: string; dryRun: boolean }>(DELETE_USER, { id, dryRun });
}

async function count(sql: string, params: unknown[]): Promise<number> {
  const [{ n }] = await app.sql<{ n: number }>(`SELECT count(*)::int AS n FROM (${sql}) rows`, params);
  return n;
}

it('deleteUser sends exactly one statement, the function call, and commits it', async () => {
  const organizations = await seedOrganizations(app, 3);
  const [user] = await seedUsers(app, 1);
  await seedMemberships(app, organizations.map((organizationId): [string, string] => [organizationId, user]));
  await seedSessions(app, [user], 2, organizations[0]);

  const { response, statements, counted } = await sent(() => deleteUser(user));
  const payload = ok(response).deleteUser;

  expect(statements).toEqual([CALL_DELETE_USER]);
  expect(counted).toBe(1);
  expect(payload).toMatchObject({
    deletedUserId: user,
    dryRun: false,
    receipt: { subjectId: user, terminatedSessionCount: 2, removedMembershipCount: 3 },
  });
  // Committed: visible from another connection, receipt and events included.
  expect(await count(`SELECT 1 FROM users WHERE id = $1`, [user])).toBe(0);
  expect(await count(`SELECT 1 FROM memberships WHERE user_id = $1`, [user])).toBe(0);
  expect(await count(`SELECT 1 FROM sessions WHERE user_id = $1`, [user])).toBe(0);
  expect(await count(`SELECT 1 FROM deletion_receipts WHERE id = $1 AND subject_id = $2`, [payload.receipt!.id, user])).toBe(1);
  expect(await count(`SELECT 1 FROM events WHERE type = 'user.deleted' AND data->>'userId' = $1`, [user])).toBe(1);
});

it('a dry run is BEGIN with the timeouts, the same call, ROLLBACK, and changes nothing', async () => {
  const [organization] = await seedOrganizations(app, 1);
  const [user] = await seedUsers(app, 1);
  await seedMemberships(app, [[organization, user]]);
  await seedSessions(app, [user], 1, organization);
  const before = await databaseSnapshot(app);

  const { response, statements, counted } = await sent(() => deleteUser(user, true));

  expect(ok(response).deleteUser).toEqual({ deletedUserId: user, dryRun: true, receipt: null });
  expect(statements).toHaveLength(3);
  // One statement, one round trip: BEGIN and the SET LOCAL timeouts together (issue 14).
  expect(statements[0]).toBe(beginStatement(app.dataSource));
  expect(statements[0]).toMatch(/^BEGIN; SET LOCAL lock_timeout = \d+; SET LOCAL statement_timeout = \d+$/);
  expect(statements[1]).toBe(CALL_DELETE_USER);
  expect(statements[2]).toMatch(/^ROLLBACK\b/);
  expect(counted).toBe(3);
  expect(await databaseSnapshot(app)).toEqual(before);
});

it('an unknown user is NOT_FOUND in one statement', async () => {
  const { response, statements } = await sent(() => deleteUser(UNKNOWN_USER));
  expect(errorCode(response)).toBe('NOT_FOUND');
  expect(response.errors![0].message).toBe(`User ${UNKNOWN_USER} was not found`);
  expect(statements).toEqual([CALL_DELETE_USER]);
});

it('the last OWNER is CONFLICT with the organization IDs, in one statement that wrote nothing', async () => {
  const organizations = (await seedOrganizations(app, 3)).sort();
  const [user, coOwner] = await seedUsers(app, 2);
  // The last OWNER of the first two; the third has another OWNER.
  await seedMemberships(app, organizations.map((organizationId): [string, string] => [organizationId, user]), 'OWNER');
  await seedMemberships(app, [[organizations[2], coOwner]], 'OWNER');
  await seedSessions(app, [user], 2, organizations[0]);
  const before = await databaseSnapshot(app);

  const { response, statements } = await sent(() => deleteUser(user));

  expect(errorCode(response)).toBe('CONFLICT');
  expect(response.errors![0].extensions!.organizationIds).toEqual(organizations.slice(0, 2));
  expect(response.errors![0].message).toMatch(/^The user is the last OWNER of 2 organizations/);
  expect(JSON.stringify(response.errors)).not.toMatch(/delete_user|P0001|SELECT|DETAIL/);
  expect(statements).toEqual([CALL_DELETE_USER]);
  expect(await databaseSnapshot(app)).toEqual(before);
});

it('a user made an OWNER while the call waits for its row is retried (40001), then deleted once', async () => {
  const [organization] = await seedOrganizations(app, 1);
  const [user, owner] = await seedUsers(app, 2);
  await seedMemberships(app, [[organization, owner]], 'OWNER');
  await seedMemberships(app, [[organization, user]]);

  // Another connection holds the user's row, so the call has locked the organizations it owns (none)
  // and waits for the row; meanwhile that connection makes the user an OWNER and commits.
  const locker = new Client({ connectionString: app.databaseUrl, application_name: 'round-trip-test' });
  const watcher = new Client({ connectionString: app.databaseUrl, application_name: 'round-trip-test' });
  await locker.connect();
  await watcher.connect();
  try {
    await locker.query('BEGIN');
    await locker.query('SELECT id FROM users WHERE id = $1 FOR UPDATE', [user]);
    const deletion = sent(() => deleteUser(user));
    for (let waited = 0; ; waited += 20) {
      const {
        rows: [{ waiting }],
      } = await watcher.query<{ waiting: number }>(
        `SELECT count(*)::int AS waiting FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE $1`,
        [`%${DELETE_USER_FUNCTION}(%`],
      );
      if (waiting > 0) break;
      if (waited > 10_000) throw new Error('the deletion never waited for the row lock');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await locker.query(`UPDATE memberships SET role = 'OWNER' WHERE user_id = $1 AND organization_id = $2`, [user, organization]);
    await locker.query('COMMIT');

    const { response, statements } = await deletion;
    ok(response);
    // The first call raised 40001 and rolled back; the second locked the organization and went through.
    expect(statements).toEqual([CALL_DELETE_USER, CALL_DELETE_USER]);
    expect(await count(`SELECT 1 FROM users WHERE id = $1`, [user])).toBe(0);
    expect(await count(`SELECT 1 FROM deletion_receipts WHERE subject_id = $1`, [user])).toBe(1);
    expect(await count(`SELECT 1 FROM events WHERE type = 'user.deleted' AND data->>'userId' = $1`, [user])).toBe(1);
    expect(await count(`SELECT 1 FROM memberships WHERE organization_id = $1 AND role = 'OWNER'`, [organization])).toBe(1);
  } finally {
    await locker.end();
    await watcher.end();
  }
});

it("the database's function is the one deletion.sql.ts generates (a changed statement needs a new migration)", async () => {
  const rows = await app.sql<{ body: string; args: string; returns: string; volatility: string; language: string }>(
    `SELECT p.prosrc AS body, pg_get_function_identity_arguments(p.oid) AS args, p.prorettype::regtype::text AS returns,
            p.provolatile AS volatility, l.lanname AS language
       FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
      WHERE p.proname = $1`,
    [DELETE_USER_FUNCTION],
  );
  expect(rows).toHaveLength(1);
  const [fn] = rows;
  expect(fn.args).toBe(DELETE_USER_PARAMETER_TYPES.join(', '));
  expect({ returns: fn.returns, volatility: fn.volatility, language: fn.language }).toEqual({
    returns: 'json',
    volatility: 'v', // VOLATILE: a fresh snapshot for each statement, after the locks
    language: 'plpgsql',
  });
  expect(fn.body).toBe(deleteUserFunctionBody());
});

it("the function bounds its own lock waits: DB_LOCK_TIMEOUT_MS for the call's transaction only (issue 14)", async () => {
  const config = loadConfig({ NODE_ENV: 'test' });
  const [user] = await seedUsers(app, 1);
  // On a connection of the test's own: the function's last argument sets lock_timeout with
  // set_config(…, true), which lasts until the transaction that ran it ends.
  const client = new Client({ connectionString: app.databaseUrl, application_name: 'round-trip-test' });
  await client.connect();
  try {
    const setting = async () => (await client.query<{ value: string }>(`SELECT setting AS value FROM pg_settings WHERE name = 'lock_timeout'`)).rows[0].value;
    const outside = await setting();
    expect(outside).not.toBe(String(config.dbLockTimeoutMs));
    await client.query('BEGIN');
    await client.query(CALL_DELETE_USER, [user, newId('receipt'), 'admin', 0, 0, config.dbLockTimeoutMs]);
    expect(await setting()).toBe(String(config.dbLockTimeoutMs));
    await client.query('ROLLBACK');
    expect(await setting()).toBe(outside);
    // 0 keeps the server's own: the function sets nothing.
    await client.query('BEGIN');
    await client.query(CALL_DELETE_USER, [user, newId('receipt'), 'admin', 0, 0, 0]);
    expect(await setting()).toBe(outside);
    await client.query('ROLLBACK');
  } finally {
    await client.end();
  }
  expect(await count(`SELECT 1 FROM users WHERE id = $1`, [user])).toBe(1);
});

describe('inTransaction with singleStatement', () => {
  it('runs without BEGIN, on a connection that holds no SET of ours (the statement brings its own lock timeout)', async () => {
    const config = loadConfig({ NODE_ENV: 'test' });
    const spy = jest.spyOn(Client.prototype, 'query');
    try {
      const rows: Array<{ lock_timeout: string; lock_source: string; statement_timeout: string; statement_source: string; in_block: boolean }> =
        await inTransaction(
          app.dataSource,
          (manager) =>
            manager.query(
              `SELECT l.setting AS lock_timeout, l.source AS lock_source, s.setting AS statement_timeout, s.source AS statement_source,
                      now() = statement_timestamp() AS in_block
                 FROM pg_settings l, pg_settings s
                WHERE l.name = 'lock_timeout' AND s.name = 'statement_timeout'`,
            ),
          { singleStatement: true },
        );
      expect(spy).toHaveBeenCalledTimes(1);
      // Issue 14: no SET left behind ('session'). The only timeouts outside a transaction are
      // the ceiling: startup parameters ('client') of a direct connection (ormconfig.ts), which
      // PgBouncer drops (there the role's settings are the ceiling). Inside, the timeouts come
      // with each BEGIN (beginStatement) or, for delete_user_v2, from its own argument.
      expect([rows[0].lock_source, rows[0].statement_source]).not.toContain('session');
      if (process.env.TEST_POOLER_URL) {
        expect([rows[0].lock_source, rows[0].statement_source]).not.toContain('client');
      } else {
        expect(rows[0]).toMatchObject({ lock_source: 'client', statement_source: 'client' });
        expect([Number(rows[0].lock_timeout), Number(rows[0].statement_timeout)]).toEqual([config.dbLockTimeoutMs, config.dbStatementTimeoutMs]);
      }
      // In autocommit the statement is its own transaction: it started when the statement did.
      expect(rows[0].in_block).toBe(true);
    } finally {
      spy.mockRestore();
    }
  });

  it('refuses a second statement before sending it', async () => {
    const spy = jest.spyOn(Client.prototype, 'query');
    try {
      await expect(
        inTransaction(
          app.dataSource,
          async (manager) => {
            await manager.query('SELECT 1');
            await manager.query('SELECT 2');
          },
          { singleStatement: true },
        ),
      ).rejects.toThrow('a singleStatement unit of work sent a second statement');
      expect(spy.mock.calls.map(([text]) => text)).toEqual(['SELECT 1']);
    } finally {
      spy.mockRestore();
    }
  });
});
