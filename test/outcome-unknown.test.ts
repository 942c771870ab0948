import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Client } from 'pg';
import {
  CreateUserDocument,
  DeleteOrganizationDocument,
  DeleteUserDocument,
  GetDeletionReceiptDocument,
} from '../src/generated/graphql';
import { DELETE_USER_FUNCTION } from '../src/deletion/deletion.sql';
import { DATABASE_READ_ONLY, ErrorCode, OUTCOME_UNKNOWN_MESSAGE, RETRY_AFTER_SECONDS } from '../src/errors';
import { startTestApp, type GraphQLResponse, type TestApp } from './support/app';
import { twoOrganizations } from './support/deletion-fixtures';
import { databaseSnapshot, ok } from './support/factory';

/**
 * Issue 14: what a client is told when the database connection is lost depends on when.
 * - Before COMMIT (or before a unit's one autocommit statement) was sent, nothing can have
 *   committed: SERVICE_UNAVAILABLE, 503, which HAProxy retries on another gateway
 *   (test/deletion-faults.test.ts, test/database-outage.test.ts).
 * - After it was sent, PostgreSQL may have committed: OUTCOME_UNKNOWN, HTTP 200 (never the
 *   503 that HAProxy would replay), and the client reads deletionReceipt(subjectId).
 * Both outcomes behind OUTCOME_UNKNOWN are produced here, from outside the application:
 * - committed, answer lost: the app reaches PostgreSQL through a TCP relay of this file's
 *   own (CuttingRelay) that forwards a statement and, once PostgreSQL has answered it
 *   (ReadyForQuery: the transaction is over), closes the connection instead of passing
 *   the answer on;
 * - rolled back: a deferred constraint trigger created in the test database sleeps at
 *   commit time, so COMMIT itself is slow, and the test terminates the backend then
 *   (pg_terminate_backend).
 * And SQLSTATE 25006 (a write reaching a read-only server, e.g. during a failover) is
 * SERVICE_UNAVAILABLE: nothing ran. Production code has no test hooks.
 */

/**
 * A TCP relay between the app's pool and PostgreSQL. Armed with a marker (the subject's
 * ID, which the unit of work sends as a parameter) and a statement, the connection that
 * sends the marker has PostgreSQL's answer to its next such statement held back up to
 * its ReadyForQuery message, and is then closed on both sides: the statement ran to its
 * end on the server (ReadyForQuery: its transaction is over), the client only learns that
 * its connection is gone.
 */
class CuttingRelay {
  private armed: { marker: Buffer; statement: Buffer; cut: () => void } | undefined;
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(target: { host: string; port: number }): Promise<CuttingRelay> {
    let relay: CuttingRelay | undefined;
    const server = net.createServer((client) => relay!.relay(client, target));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    relay = new CuttingRelay(server, (server.address() as net.AddressInfo).port);
    return relay;
  }

  /** Resolves once the connection that sent `marker` was cut after PostgreSQL's answer to its `statement`. */
  cutAfterAnswerTo(marker: string, statement: Buffer): Promise<void> {
    return new Promise((resolve) => {
      this.armed = { marker: Buffer.from(marker), statement, cut: resolve };
    });
  }

  private relay(client: net.Socket, target: { host: string; port: number }) {
    const upstream = net.connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        this.sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    let marked: { statement: Buffer; cut: () => void } | undefined;
    let cutting: (() => void) | undefined;
    let held = Buffer.alloc(0);
    client.on('data', (chunk) => {
      if (this.armed && !marked && chunk.includes(this.armed.marker)) {
        marked = this.armed;
        this.armed = undefined;
      }
      if (marked && !cutting && chunk.includes(marked.statement)) cutting = marked.cut;
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => {
      if (!cutting) {
        client.write(chunk);
        return;
      }
      held = Buffer.concat([held, chunk]);
      if (!containsReadyForQuery(held)) return;
      client.destroy();
      upstream.destroy();
      cutting();
    });
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** Whether the backend messages in `data` (type byte, int32 length) include a ReadyForQuery ('Z'). */
function containsReadyForQuery(data: Buffer): boolean {
  for (let at = 0; at + 5 <= data.length; at += 1 + data.readInt32BE(at + 1)) {
    if (data[at] === 0x5a) return true;
  }
  return false;
}

/** The simple-protocol query message TypeORM's commitTransaction sends: 'Q', length, "COMMIT\0". */
const COMMIT_MESSAGE = Buffer.concat([Buffer.from('Q'), Buffer.from([0, 0, 0, 11]), Buffer.from('COMMIT\0')]);
/** deleteUser's one statement (src/deletion/deletion.sql.ts), as its Parse message carries it. */
const DELETE_USER_STATEMENT = Buffer.from(`${DELETE_USER_FUNCTION}(`);

let app: TestApp;
let relay: CuttingRelay;
beforeAll(async () => {
  const base = new URL(process.env.TEST_DATABASE_URL!);
  relay = await CuttingRelay.start({ host: base.hostname, port: Number(base.port || 5432) });
  const viaRelay = new URL(base);
  viaRelay.hostname = '127.0.0.1';
  viaRelay.port = String(relay.port);
  // The app's pool goes through the relay; the test's own connections (databaseUrl) do not.
  app = await startTestApp({}, { poolerUrl: viaRelay.toString() });
}, 120_000);
afterAll(async () => {
  await app?.close();
  await relay?.close();
});

/** A connection of the test's own, straight to the app's database. */
async function connect(): Promise<Client> {
  const client = new Client({ connectionString: app.databaseUrl, application_name: 'outcome-unknown-test' });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** The answer a lost commit must get: one OUTCOME_UNKNOWN error, HTTP 200, no Retry-After, no driver detail. */
function expectOutcomeUnknown(response: GraphQLResponse<unknown>) {
  expect(response.status).toBe(200);
  expect(response.headers.get('retry-after')).toBeNull();
  expect(response.data ?? null).toBeNull();
  expect(response.errors).toHaveLength(1);
  expect(response.errors![0].message).toBe(OUTCOME_UNKNOWN_MESSAGE);
  expect(response.errors![0].extensions).toEqual({ code: 'OUTCOME_UNKNOWN' });
  expect(JSON.stringify(response.errors)).not.toMatch(/terminat|Connection|stack|SELECT |DELETE FROM|\.ts:/);
}

const receiptOf = async (subjectId: string) => ok(await app.gql(GetDeletionReceiptDocument, { subjectId })).deletionReceipt;

describe('the connection lost after PostgreSQL committed, before the answer arrived', () => {
  it('deleteOrganization (an explicit transaction): OUTCOME_UNKNOWN, and the deletion is complete', async () => {
    const { acme, owner, solo } = await twoOrganizations(app);
    const cut = relay.cutAfterAnswerTo(acme.id, COMMIT_MESSAGE);

    const response = await app.gql(DeleteOrganizationDocument, { id: acme.id });
    await cut;

    expectOutcomeUnknown(response);
    // Fully committed: the organization, its only members and their memberships are gone, with a receipt.
    const receipt = await receiptOf(acme.id);
    expect(receipt).toMatchObject({ kind: 'ORGANIZATION', subjectId: acme.id });
    expect(await app.sql('SELECT id FROM organizations WHERE id = $1', [acme.id])).toEqual([]);
    expect(await app.sql('SELECT id FROM users WHERE id = ANY($1)', [[owner.id, solo.id]])).toEqual([]);
    expect(await app.sql('SELECT 1 FROM memberships WHERE organization_id = $1', [acme.id])).toEqual([]);
  });

  it('deleteUser (one autocommit statement): OUTCOME_UNKNOWN, and the deletion is complete', async () => {
    const { solo, acme } = await twoOrganizations(app);
    const cut = relay.cutAfterAnswerTo(solo.id, DELETE_USER_STATEMENT);

    const response = await app.gql(DeleteUserDocument, { id: solo.id });
    await cut;

    expectOutcomeUnknown(response);
    expect(await receiptOf(solo.id)).toMatchObject({ kind: 'USER', subjectId: solo.id });
    expect(await app.sql('SELECT id FROM users WHERE id = $1', [solo.id])).toEqual([]);
    expect(await app.sql('SELECT 1 FROM memberships WHERE user_id = $1', [solo.id])).toEqual([]);
    expect(await app.sql('SELECT 1 FROM sessions WHERE user_id = $1 AND terminated_at IS NULL', [solo.id])).toEqual([]);
    // What the client does next: the receipt says it happened, so it does not send it again.
    expect(await app.sql('SELECT id FROM organizations WHERE id = $1', [acme.id])).toHaveLength(1);
  });
});

describe('the backend terminated while its commit runs (a slow deferred trigger)', () => {
  const SAFE_ID = /^[a-z]{3}_[0-9A-HJKMNP-TV-Z]{26}$/;

  /** A deferred constraint trigger on the subject's receipt: it sleeps at COMMIT time. Returns its remover. */
  async function slowCommitFor(subjectId: string) {
    if (!SAFE_ID.test(subjectId)) throw new Error(`unexpected id ${subjectId}`);
    await app.sql(`
      CREATE OR REPLACE FUNCTION test_slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_sleep(60);
        RETURN NULL;
      END $$`);
    await app.sql(
      `CREATE CONSTRAINT TRIGGER test_slow_commit AFTER INSERT ON deletion_receipts
         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
         WHEN (NEW.subject_id = '${subjectId}') EXECUTE FUNCTION test_slow_commit()`,
    );
    return async () => {
      await app.sql('DROP TRIGGER test_slow_commit ON deletion_receipts');
      await app.sql('DROP FUNCTION test_slow_commit()');
    };
  }

  /** Waits for the app's backend sleeping in the trigger, checks what it runs, and terminates it. */
  async function terminateSleeping(watcher: Client, query: RegExp) {
    let row: { pid: number; query: string } | undefined;
    for (let attempt = 0; attempt < 400 && !row; attempt += 1) {
      const { rows } = await watcher.query<{ pid: number; query: string }>(
        `SELECT pid, query FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'identity-gateway' AND wait_event = 'PgSleep'`,
      );
      row = rows[0];
      if (!row) await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(row?.query).toMatch(query);
    const { rows: killed } = await watcher.query<{ ok: boolean }>('SELECT pg_terminate_backend($1) AS ok', [row!.pid]);
    expect(killed).toEqual([{ ok: true }]);
  }

  it('deleteOrganization, killed during COMMIT: OUTCOME_UNKNOWN, and nothing changed', async () => {
    const { acme } = await twoOrganizations(app);
    const removeTrigger = await slowCommitFor(acme.id);
    const watcher = await connect();
    try {
      const before = await databaseSnapshot(app);
      const pending = app.gql(DeleteOrganizationDocument, { id: acme.id });
      await terminateSleeping(watcher, /^COMMIT$/);

      expectOutcomeUnknown(await pending);
      // Rolled back as a whole: the other outcome a client of OUTCOME_UNKNOWN must expect.
      expect(await databaseSnapshot(app)).toEqual(before);
      expect(await receiptOf(acme.id)).toBeNull();
    } finally {
      await watcher.end();
      await removeTrigger();
    }
    // The receipt said nothing happened, so the client sends it again, and it goes through.
    ok(await app.gql(DeleteOrganizationDocument, { id: acme.id }));
    expect(await receiptOf(acme.id)).toMatchObject({ subjectId: acme.id });
  });

  it('deleteUser, killed while its autocommit statement commits: OUTCOME_UNKNOWN, and nothing changed', async () => {
    const { solo } = await twoOrganizations(app);
    const removeTrigger = await slowCommitFor(solo.id);
    const watcher = await connect();
    try {
      const before = await databaseSnapshot(app);
      const pending = app.gql(DeleteUserDocument, { id: solo.id });
      await terminateSleeping(watcher, new RegExp(`${DELETE_USER_FUNCTION}\\(`));

      expectOutcomeUnknown(await pending);
      expect(await databaseSnapshot(app)).toEqual(before);
      expect(await receiptOf(solo.id)).toBeNull();
    } finally {
      await watcher.end();
      await removeTrigger();
    }
    ok(await app.gql(DeleteUserDocument, { id: solo.id }));
    expect(await receiptOf(solo.id)).toMatchObject({ subjectId: solo.id });
  });
});

describe('a write reaching a read-only server (SQLSTATE 25006)', () => {
  /** Sets the database's default_transaction_read_only and makes the app's pool open new connections. */
  async function setReadOnly(on: boolean) {
    const admin = await connect();
    try {
      const database = (await admin.query<{ db: string }>('SELECT current_database() AS db')).rows[0].db;
      // This session may itself have started read-only.
      await admin.query('SET default_transaction_read_only = off');
      await admin.query(`ALTER DATABASE "${database}" ${on ? 'SET default_transaction_read_only = on' : 'RESET default_transaction_read_only'}`);
      // Settings of ALTER DATABASE apply to new sessions: end the app's, its pool opens fresh ones.
      await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'identity-gateway'`,
      );
      for (let attempt = 0; attempt < 200; attempt += 1) {
        const { rowCount } = await admin.query(
          `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'identity-gateway'`,
        );
        // pg-pool drops an idle client when its connection ends.
        const pool = (app.dataSource.driver as unknown as { master: { totalCount: number } }).master;
        if (!rowCount && pool.totalCount === 0) return;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      throw new Error("the app's connections did not go away");
    } finally {
      await admin.end();
    }
  }

  it('is SERVICE_UNAVAILABLE with 503 and Retry-After, in a transaction and in autocommit, and nothing changed', async () => {
    const { acme, solo } = await twoOrganizations(app);
    const before = await databaseSnapshot(app);
    await setReadOnly(true);
    try {
      const answers = [
        await app.gql(CreateUserDocument, { input: { email: 'read-only@example.com', name: 'Never' } }),
        await app.gql(DeleteOrganizationDocument, { id: acme.id }),
        await app.gql(DeleteUserDocument, { id: solo.id }),
      ];
      for (const response of answers) {
        expect(response.status).toBe(503);
        expect(response.headers.get('retry-after')).toBe(String(RETRY_AFTER_SECONDS));
        expect(response.data ?? null).toBeNull();
        expect(response.errors).toHaveLength(1);
        expect(response.errors![0].message).toBe(DATABASE_READ_ONLY);
        expect(response.errors![0].extensions).toEqual({ code: 'SERVICE_UNAVAILABLE' });
      }
      expect(await databaseSnapshot(app)).toEqual(before);
    } finally {
      await setReadOnly(false);
    }
    // Writable again: the same deletion goes through.
    ok(await app.gql(DeleteUserDocument, { id: solo.id }));
    expect(await receiptOf(solo.id)).toMatchObject({ subjectId: solo.id });
  });
});

it("every code of src/errors.ts's ErrorCode is in the README's Errors table, and nothing else", () => {
  const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## Errors\n'), readme.indexOf('\n### Bounded errors\n'));
  const documented = [...section.matchAll(/^\| `([A-Z_]+)` \|/gm)].map((match) => match[1]);
  expect(documented.sort()).toEqual(Object.values(ErrorCode).sort());
  expect(documented).toContain('OUTCOME_UNKNOWN');
});
