import { Client } from 'pg';
import { DeleteUserDocument, ListUsersDocument } from '../src/generated/graphql';
import { RETRY_AFTER_SECONDS, SERVER_BUSY } from '../src/errors';
import { startTestApp, type TestApp } from './support/app';
import { errorCode, factory, ok } from './support/factory';

let app: TestApp;
beforeAll(async () => {
  // One connection, and lock waits long enough that the pool stays busy.
  app = await startTestApp({ DB_POOL_SIZE: '1', DB_LOCK_TIMEOUT_MS: '60000' });
});
afterAll(() => app.close());

it('a request never waits for ever for a connection: with the pool busy it fails after the acquisition timeout, as SERVICE_UNAVAILABLE (busy)', async () => {
  const user = await factory(app).user();
  const blocker = new Client({ connectionString: app.databaseUrl });
  await blocker.connect();
  try {
    await blocker.query('BEGIN');
    await blocker.query('SELECT 1 FROM users WHERE id = $1 FOR UPDATE', [user.id]);
    // The deletion takes the pool's only connection and waits on the lock held above.
    const stuck = app.gql(DeleteUserDocument, { id: user.id });
    for (let attempt = 0; attempt < 200; attempt += 1) {
      const waiting = await blocker.query(
        `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
      );
      if (waiting.rowCount) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }

    // The admin's authentication needs no SQL; the read then waits for a connection (5 s) and gives up.
    // PostgreSQL is up: the answer says the server is busy, not that the database is down (issue 10).
    const starved = await app.gql(ListUsersDocument, {});
    expect(errorCode(starved)).toBe('SERVICE_UNAVAILABLE');
    expect(starved.errors?.[0]?.message).toBe(SERVER_BUSY);
    expect(starved.status).toBe(503);
    expect(starved.headers.get('retry-after')).toBe(String(RETRY_AFTER_SECONDS));

    await blocker.query('ROLLBACK');
    expect(ok(await stuck).deleteUser.deletedUserId).toBe(user.id);
    expect((await blocker.query('SELECT 1 FROM users WHERE id = $1', [user.id])).rowCount).toBe(0);
    // And the pool serves again.
    const [{ count }] = await app.sql<{ count: number }>('SELECT count(*)::int AS count FROM users');
    expect(ok(await app.gql(ListUsersDocument, {})).users.totalCount).toBe(count);
  } finally {
    await blocker.end();
  }
});
