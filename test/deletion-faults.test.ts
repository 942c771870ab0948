import { Client } from 'pg';
import {
  DeleteOrganizationDocument,
  DeleteUserDocument,
  GetDeletionReceiptDocument,
  ViewerDocument,
} from '../src/generated/graphql';
import { DATABASE_UNREACHABLE, RETRY_AFTER_SECONDS } from '../src/errors';
import { startTestApp, type GraphQLResponse, type TestApp } from './support/app';
import { twoOrganizations } from './support/deletion-fixtures';
import { seedMemberships, seedOrganizations, seedSessions, seedUsers } from './support/deletion-seed';
import { databaseSnapshot, errorCode, ok } from './support/factory';

/**
 * Issue 3: a deletion that fails midway, whether by an error inside its statements, a
 * killed connection or a lock it cannot get, leaves every table exactly as it was,
 * answers with a clear code, and leaves the server able to serve.
 *
 * The faults are injected from outside the application: a test-only trigger that
 * raises inside the deletion's statement, pg_terminate_backend on the deletion's
 * connection, and row locks held by a separate connection. Production code has no
 * test hooks.
 */
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app.close());

/** A separate connection to the app's database, outside the app's pool. */
async function connect(target: TestApp): Promise<Client> {
  const client = new Client({ connectionString: target.databaseUrl, application_name: 'deletion-faults-test' });
  await client.connect();
  return client;
}

/** The failure leaks nothing: one error, a fixed message, only a code in extensions. */
function expectOpaqueInternalError(response: GraphQLResponse<unknown>, message = 'Internal server error') {
  expect(response.data ?? null).toBeNull();
  expect(response.errors).toHaveLength(1);
  const [error] = response.errors!;
  expect(error.message).toBe(message);
  expect(error.extensions).toEqual({ code: 'INTERNAL_SERVER_ERROR' });
  expect(Object.keys(error).sort()).toEqual(['extensions', 'locations', 'message', 'path']);
  expect(JSON.stringify(response.errors)).not.toMatch(/injected|terminating|stack|SELECT |DELETE FROM|INSERT INTO|\.ts:/);
}

const SAFE_ID = /^[a-z]{3}_[0-9A-HJKMNP-TV-Z]{26}$/;

/** Installs a trigger that raises inside the deletion's statement; returns its remover. */
async function injectFault(table: string, timing: 'BEFORE DELETE' | 'AFTER INSERT', when: string, subjectId: string) {
  if (!SAFE_ID.test(subjectId)) throw new Error(`unexpected id ${subjectId}`);
  await app.sql(`
    CREATE OR REPLACE FUNCTION test_injected_fault() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'injected fault in % on %', TG_NAME, TG_TABLE_NAME;
    END $$`);
  await app.sql(
    `CREATE TRIGGER test_injected_fault ${timing} ON ${table} FOR EACH ROW
       WHEN (${when.replace('$subject', `'${subjectId}'`)}) EXECUTE FUNCTION test_injected_fault()`,
  );
  return async () => {
    await app.sql(`DROP TRIGGER test_injected_fault ON ${table}`);
    await app.sql(`DROP FUNCTION test_injected_fault()`);
  };
}

describe('an error raised midway through the deletion', () => {
  it('deleteOrganization: failing inside its big statement, while removing the settings, changes nothing', async () => {
    const { acme, owner, solo, shared, tokens } = await twoOrganizations(app);
    // Fires inside the one data-modifying statement, alongside the removal of memberships, sessions and cascaded users.
    const removeFault = await injectFault('organization_settings', 'BEFORE DELETE', 'OLD.organization_id = $subject', acme.id);
    const before = await databaseSnapshot(app);

    const response = await app.gql(DeleteOrganizationDocument, { id: acme.id });

    expectOpaqueInternalError(response);
    expect(await databaseSnapshot(app)).toEqual(before);
    expect(ok(await app.gql(GetDeletionReceiptDocument, { subjectId: acme.id })).deletionReceipt).toBeNull();
    for (const token of [tokens.owner, tokens.solo, tokens.shared]) {
      expect((await app.gql(ViewerDocument, {}, { token })).status).toBe(200);
    }

    // What the failed call left is whole: without the fault the same deletion goes through.
    await removeFault();
    const payload = ok(await app.gql(DeleteOrganizationDocument, { id: acme.id })).deleteOrganization;
    expect(payload.cascadedUsers.nodes.map((u) => u.id).sort()).toEqual([owner.id, solo.id].sort());
    expect(payload.retainedUsers.nodes.map((r) => r.id)).toEqual([shared.id]);
  });

  it('deleteUser: failing at the last step (writing the user.deleted event) changes nothing', async () => {
    const { shared, tokens } = await twoOrganizations(app);
    const removeFault = await injectFault(
      'events',
      'AFTER INSERT',
      `NEW.type = 'user.deleted' AND NEW.data->>'userId' = $subject`,
      shared.id,
    );
    const before = await databaseSnapshot(app);

    const response = await app.gql(DeleteUserDocument, { id: shared.id });

    expectOpaqueInternalError(response);
    expect(await databaseSnapshot(app)).toEqual(before);
    expect((await app.gql(ViewerDocument, {}, { token: tokens.shared })).status).toBe(200);

    await removeFault();
    const payload = ok(await app.gql(DeleteUserDocument, { id: shared.id })).deleteUser;
    expect(payload.removedMemberships.nodes).toHaveLength(2);
  });
});

it('the connection killed with pg_terminate_backend midway: the call fails with a clear code, nothing changes, the pool recovers', async () => {
  const { acme, shared, tokens } = await twoOrganizations(app);
  const before = await databaseSnapshot(app);
  const locker = await connect(app);
  const watcher = await connect(app);
  try {
    // Hold a lock the deletion needs (one member's user row), so that it stops midway: organization locked, members not yet.
    await locker.query('BEGIN');
    await locker.query('SELECT id FROM users WHERE id = $1 FOR SHARE', [shared.id]);

    const pending = app.gql(DeleteOrganizationDocument, { id: acme.id });
    let pid: number | undefined;
    for (let attempt = 0; attempt < 200 && pid === undefined; attempt += 1) {
      const { rows } = await watcher.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'identity-gateway'
            AND wait_event_type = 'Lock' AND query LIKE '%FOR UPDATE OF u%'`,
      );
      pid = rows[0]?.pid;
      if (pid === undefined) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(pid).toBeDefined();
    const { rows: killed } = await watcher.query<{ ok: boolean }>('SELECT pg_terminate_backend($1) AS ok', [pid]);
    expect(killed).toEqual([{ ok: true }]);

    const response = await pending;
    // A lost connection is reported as such (errors.ts): "try again", 503 with Retry-After,
    // with no driver or SQL detail (issue 10).
    expect(response.data ?? null).toBeNull();
    expect(response.errors).toHaveLength(1);
    expect(response.errors![0].message).toBe(DATABASE_UNREACHABLE);
    expect(response.errors![0].extensions).toEqual({ code: 'SERVICE_UNAVAILABLE' });
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe(String(RETRY_AFTER_SECONDS));
    expect(JSON.stringify(response.errors)).not.toMatch(/terminating|stack|SELECT |DELETE FROM|\.ts:/);
    await locker.query('ROLLBACK');

    expect(await databaseSnapshot(app)).toEqual(before);
    expect(ok(await app.gql(GetDeletionReceiptDocument, { subjectId: acme.id })).deletionReceipt).toBeNull();
  } finally {
    await locker.end();
    await watcher.end();
  }

  // The pool recovers: more parallel requests than it has connections all succeed…
  const reads = await Promise.all(
    Array.from({ length: 15 }, () => app.gql(ViewerDocument, {}, { token: tokens.shared })),
  );
  expect(reads.map((r) => r.status)).toEqual(Array(15).fill(200));
  // …and the deletion, run again, goes through on what the failed call left intact.
  const payload = ok(await app.gql(DeleteOrganizationDocument, { id: acme.id })).deleteOrganization;
  expect(payload.retainedUsers.nodes.map((r) => r.id)).toEqual([shared.id]);
  expect(payload.removedMemberships.nodes).toHaveLength(3);
});

it('a stuck lock yields CONFLICT after DB_LOCK_TIMEOUT_MS, not a hung request, and changes nothing', async () => {
  const impatient = await startTestApp({ DB_LOCK_TIMEOUT_MS: '300' });
  const locker = await connect(impatient);
  try {
    const [organization, otherOrganization] = await seedOrganizations(impatient, 2);
    const [owner, member, shared] = await seedUsers(impatient, 3);
    await seedMemberships(impatient, [[organization, owner]], 'OWNER');
    await seedMemberships(impatient, [[organization, member], [organization, shared], [otherOrganization, shared]]);
    await seedSessions(impatient, [owner, member, shared], 2, organization);
    const before = await databaseSnapshot(impatient);

    // Each case holds, from another connection, a lock that one of the deletion's lock statements must wait for.
    const cases = [
      { lock: 'SELECT id FROM organizations WHERE id = $1 FOR KEY SHARE', id: organization, run: 'organization' },
      { lock: 'SELECT id FROM users WHERE id = $1 FOR SHARE', id: member, run: 'organization' },
      { lock: 'SELECT id FROM users WHERE id = $1 FOR SHARE', id: shared, run: 'user' },
    ] as const;
    for (const { lock, id, run } of cases) {
      await locker.query('BEGIN');
      await locker.query(lock, [id]);
      const response =
        run === 'organization'
          ? await impatient.gql(DeleteOrganizationDocument, { id: organization })
          : await impatient.gql(DeleteUserDocument, { id: shared });
      await locker.query('ROLLBACK');

      expect(errorCode(response)).toBe('CONFLICT');
      expect(response.errors).toHaveLength(1);
      expect(response.errors![0].message).not.toMatch(/lock|timeout|SELECT|users|organizations/i);
      expect(await databaseSnapshot(impatient)).toEqual(before);
    }

    // Once the lock is gone the same calls go through.
    ok(await impatient.gql(DeleteUserDocument, { id: shared }));
    const payload = ok(await impatient.gql(DeleteOrganizationDocument, { id: organization })).deleteOrganization;
    expect(payload.cascadedUsers.nodes.map((u) => u.id).sort()).toEqual([owner, member].sort());
  } finally {
    await locker.end();
    await impatient.close();
  }
});
