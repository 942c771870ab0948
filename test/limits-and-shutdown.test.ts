import http from 'node:http';
import net from 'node:net';
import { print } from 'graphql';
import { Client } from 'pg';
import {
  AddMemberDocument,
  CreateOrganizationDocument,
  CreateUserDocument,
  DeleteOrganizationDocument,
} from '../src/generated/graphql';
import { CreateSessionDocument } from './generated/graphql';
import { RETRY_AFTER_SECONDS } from '../src/errors';
import { BODY_LIMIT_BYTES } from '../src/http/server';
import { startTestApp, type TestApp } from './support/app';
import { accepts, must, startServerProcess, type ServerProcess } from './support/server-process';

/** The one JSON error body of every error answer (issue 10): exactly errors[{ message, extensions: { code } }]. */
function expectErrorBody(text: string, code: string) {
  const body = JSON.parse(text);
  expect(body).toEqual({ errors: [{ message: expect.any(String), extensions: { code } }] });
  expect(text).not.toMatch(/Error:|node_modules|<html|<pre/i);
}

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * One TCP connection on which the test writes HTTP/1.1 requests when it chooses
 * (pipelining, which fetch cannot do) and reads the responses in order. Responses are
 * parsed by Content-Length, which every answer of this server carries.
 */
class RawConnection {
  private buffer = Buffer.alloc(0);
  private closed = false;
  private readonly wakers: Array<() => void> = [];

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  static open(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host: '127.0.0.1' }, () => resolve(new RawConnection(socket)));
      socket.once('error', reject);
    });
  }

  private wake() {
    for (const waker of this.wakers.splice(0)) waker();
  }

  write(text: string) {
    this.socket.write(text);
  }

  post(path: string, body: string, headers: Record<string, string>) {
    const lines = [`POST ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`];
    for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
    this.write(`${lines.join('\r\n')}\r\n\r\n${body}`);
  }

  /** The next complete response; rejects if the connection closes first. */
  async next(): Promise<RawResponse> {
    for (;;) {
      const end = this.buffer.indexOf('\r\n\r\n');
      if (end >= 0) {
        const [statusLine, ...headerLines] = this.buffer.subarray(0, end).toString('latin1').split('\r\n');
        const headers: Record<string, string> = {};
        for (const line of headerLines) {
          const colon = line.indexOf(':');
          headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        }
        const length = Number(headers['content-length'] ?? 0);
        if (this.buffer.length >= end + 4 + length) {
          const body = this.buffer.subarray(end + 4, end + 4 + length).toString('utf8');
          this.buffer = this.buffer.subarray(end + 4 + length);
          return { status: Number(statusLine.split(' ')[1]), headers, body };
        }
      }
      if (this.closed) throw new Error(`connection closed with ${this.buffer.length} unparsed bytes`);
      await new Promise<void>((resolve) => this.wakers.push(resolve));
    }
  }

  /** Resolves once the server has closed the connection. */
  async closedByServer(): Promise<void> {
    while (!this.closed) await new Promise<void>((resolve) => this.wakers.push(resolve));
  }

  destroy() {
    this.socket.destroy();
  }
}

/** Raw POST over a fresh connection (fetch would not let a body stream past the limit cleanly). */
function rawPost(url: string, body: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; contentType?: string; body: string }>((resolve, reject) => {
    const request = http.request(url, { method: 'POST', agent: false, headers: { 'content-type': 'application/json', ...headers } }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => (text += chunk));
      response.on('end', () => resolve({ status: response.statusCode!, contentType: response.headers['content-type'], body: text }));
    });
    request.on('error', reject);
    request.end(body);
  });
}

describe('request bodies', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(() => app?.close());

  it(`over ${BODY_LIMIT_BYTES} bytes are refused with 413, before any SQL`, async () => {
    expect(BODY_LIMIT_BYTES).toBe(1024 * 1024);
    const padding = 'x'.repeat(BODY_LIMIT_BYTES);
    const before = app.queries.count;
    const response = await rawPost(app.url, JSON.stringify({ query: '{ viewer { kind } }', variables: { padding } }), {
      authorization: `Bearer ${app.adminKey}`,
    });
    expect(response.status).toBe(413);
    expect(response.contentType).toMatch(/^application\/json/);
    expectErrorBody(response.body, 'BAD_REQUEST');
    expect(app.queries.count - before).toBe(0);
  });

  it('just under the limit is served', async () => {
    const query = '{ viewer { kind } }';
    const envelope = JSON.stringify({ query, variables: { padding: '' } });
    const padding = 'x'.repeat(BODY_LIMIT_BYTES - envelope.length);
    const body = JSON.stringify({ query, variables: { padding } });
    expect(Buffer.byteLength(body)).toBe(BODY_LIMIT_BYTES);
    const response = await rawPost(app.url, body, { authorization: `Bearer ${app.adminKey}` });
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body).data).toEqual({ viewer: { kind: 'ADMIN' } });
  });

  it('malformed JSON is refused with 400 BAD_REQUEST', async () => {
    for (const malformed of ['{"query": "{ viewer { kind } }"', '{query: 1}', 'null garbage']) {
      const response = await rawPost(app.url, malformed, { authorization: `Bearer ${app.adminKey}` });
      expect(response.status).toBe(400);
      expect(response.contentType).toMatch(/^application\/json/);
      const body = JSON.parse(response.body);
      expect(body.errors[0].extensions.code).toBe('BAD_REQUEST');
      expect(response.body).not.toMatch(/SyntaxError|at JSON\.parse|node_modules/);
    }
  });

  it('a body in an unknown content encoding is refused with 415 BAD_REQUEST, not a stack trace', async () => {
    const response = await rawPost(app.url, '{"query": "{ viewer { kind } }"}', {
      authorization: `Bearer ${app.adminKey}`,
      'content-encoding': 'bogus',
    });
    expect(response.status).toBe(415);
    expect(response.contentType).toMatch(/^application\/json/);
    expectErrorBody(response.body, 'BAD_REQUEST');
  });

  it('a body in an unsupported charset is refused with 415 and the JSON error body', async () => {
    const response = await rawPost(app.url, '{"query": "{ viewer { kind } }"}', {
      authorization: `Bearer ${app.adminKey}`,
      'content-type': 'application/json; charset=latin1',
    });
    expect(response.status).toBe(415);
    expect(response.contentType).toMatch(/^application\/json/);
    expectErrorBody(response.body, 'BAD_REQUEST');
  });
});

describe('requests refused before Express runs, and unknown routes', () => {
  let app: TestApp;
  let port: number;
  beforeAll(async () => {
    app = await startTestApp();
    port = Number(new URL(app.url).port);
  });
  afterAll(() => app?.close());

  async function exchange(text: string): Promise<RawResponse> {
    const connection = await RawConnection.open(port);
    try {
      connection.write(text);
      const response = await connection.next();
      await connection.closedByServer(); // a refused request's connection is not reused
      return response;
    } finally {
      connection.destroy();
    }
  }

  it('headers over 16 KB get 431 with the JSON error body and a request id, and change nothing', async () => {
    const before = app.queries.count;
    const mutation = JSON.stringify({ query: 'mutation { createOrganization(input: { name: "Big Headers" }) { id } }' });
    const response = await exchange(
      [
        'POST /graphql HTTP/1.1',
        'Host: 127.0.0.1',
        `Authorization: Bearer ${app.adminKey}`,
        'Content-Type: application/json',
        `Content-Length: ${Buffer.byteLength(mutation)}`,
        `X-Padding: ${'a'.repeat(20 * 1024)}`,
        '',
        mutation,
      ].join('\r\n'),
    );
    expect(response.status).toBe(431);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(response.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(response.headers.connection).toBe('close');
    expectErrorBody(response.body, 'BAD_REQUEST');
    expect(app.queries.count - before).toBe(0);
    expect(await app.sql(`SELECT 1 FROM organizations WHERE name = 'Big Headers'`)).toHaveLength(0);
  });

  it('a URL over the header limit gets 431 with the JSON error body', async () => {
    const response = await exchange(`GET /graphql?query=${'a'.repeat(20 * 1024)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    expect(response.status).toBe(431);
    expectErrorBody(response.body, 'BAD_REQUEST');
  });

  it('bytes that are not HTTP get 400 with the JSON error body', async () => {
    for (const garbage of ['HELLO WORLD\r\n\r\n', 'GET / HTTP/9.9\r\n\r\n', 'POST /graphql HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n']) {
      const response = await exchange(garbage);
      expect(response.status).toBe(400);
      expect(response.headers['content-type']).toMatch(/^application\/json/);
      expectErrorBody(response.body, 'BAD_REQUEST');
    }
  });

  it('the server keeps serving after refusing them', async () => {
    const { status, data } = await app.gql('{ viewer { kind } }');
    expect(status).toBe(200);
    expect(data).toEqual({ viewer: { kind: 'ADMIN' } });
  });

  it('an unknown route gets 404 NOT_FOUND with the JSON error body, not an HTML page', async () => {
    for (const [method, path] of [['GET', '/nope'], ['POST', '/nope'], ['DELETE', '/healthz']]) {
      const response = await fetch(new URL(path, app.url), { method });
      expect(response.status).toBe(404);
      expect(response.headers.get('content-type')).toMatch(/^application\/json/);
      expectErrorBody(await response.text(), 'NOT_FOUND');
    }
  });
});

describe('SIGTERM', () => {
  const servers: ServerProcess[] = [];
  afterAll(() => Promise.all(servers.map((server) => server.cleanup())));

  async function start(env: Record<string, string>): Promise<ServerProcess> {
    const server = await startServerProcess(env);
    servers.push(server);
    return server;
  }

  /** An organization with a member only there (cascaded) and one also elsewhere (retained), each with a session. */
  async function seed(server: ServerProcess, tag: string) {
    const org = (await must(server, CreateOrganizationDocument, { input: { name: `${tag} Org` } })).createOrganization;
    const other = (await must(server, CreateOrganizationDocument, { input: { name: 'Elsewhere' } })).createOrganization;
    const only = (await must(server, CreateUserDocument, { input: { email: `only@${tag}.example`, name: 'Only' } })).createUser;
    const both = (await must(server, CreateUserDocument, { input: { email: `both@${tag}.example`, name: 'Both' } })).createUser;
    await must(server, AddMemberDocument, { input: { organizationId: org.id, userId: only.id, role: 'OWNER' } });
    await must(server, AddMemberDocument, { input: { organizationId: org.id, userId: both.id } });
    await must(server, AddMemberDocument, { input: { organizationId: other.id, userId: both.id } });
    await must(server, CreateSessionDocument, { input: { userId: only.id, organizationId: org.id } });
    await must(server, CreateSessionDocument, { input: { userId: both.id, organizationId: org.id } });
    return { org, other, only, both };
  }

  /** Sends deleteOrganization on the connection, as the admin, under the given request id. */
  function sendDeletion(server: ServerProcess, connection: RawConnection, organizationId: string, requestId: string) {
    connection.post('/graphql', JSON.stringify({ query: print(DeleteOrganizationDocument), variables: { id: organizationId } }), {
      Authorization: `Bearer ${server.adminKey}`,
      'X-Request-Id': requestId,
    });
  }

  async function until(what: string, condition: () => Promise<boolean> | boolean) {
    for (let attempt = 0; attempt < 400; attempt++) {
      if (await condition()) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`timed out waiting until ${what}`);
  }

  /** Until one of the server's connections waits on a lock (the deletion, behind the test's row lock). */
  const deletionWaits = (db: Client) =>
    until('the deletion waits on the lock', async () => {
      const rows = await db.query(
        `SELECT 1 FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'identity-gateway' AND wait_event_type = 'Lock'`,
      );
      return rows.rowCount === 1;
    });

  const serverConnections = async (db: Client) =>
    (
      await db.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'identity-gateway'`,
      )
    ).rows[0].n as number;

  const logEntries = (server: ServerProcess): Array<Record<string, any>> =>
    server
      .output()
      .split('\n')
      .flatMap((line) => {
        try {
          return line.startsWith('{') ? [JSON.parse(line)] : [];
        } catch {
          return []; // a line still being written
        }
      });

  const count = async (db: Client, sql: string, params: unknown[]) => (await db.query(sql, params)).rowCount;

  it('stops accepting, answers a request that still arrives with 503, lets the in-flight deletion finish, closes the pool and exits 0', async () => {
    const server = await start({ SHUTDOWN_GRACE_MS: '30000', DB_LOCK_TIMEOUT_MS: '60000' });
    const { org, only, both, other } = await seed(server, 'sigterm');

    // Hold the organization's row lock so the deletion is in flight, waiting, when SIGTERM comes.
    const db = new Client({ connectionString: server.databaseUrl });
    await db.connect();
    const connection = await RawConnection.open(server.port);
    try {
      await db.query('BEGIN');
      await db.query('SELECT 1 FROM organizations WHERE id = $1 FOR UPDATE', [org.id]);
      sendDeletion(server, connection, org.id, 'sigterm-finished-deletion');
      await deletionWaits(db);

      server.child.kill('SIGTERM');
      // New connections are refused soon after (bounded wait, no timing assertion).
      await until('new connections are refused', async () => !(await accepts(server.port)));
      expect(server.child.exitCode).toBeNull(); // still draining: the deletion holds it open

      // More signals while draining (an impatient operator, a supervisor) change nothing:
      // Node's default action would end the process at once.
      server.child.kill('SIGTERM');
      server.child.kill('SIGHUP');
      await until('the repeated signals are noted', () =>
        logEntries(server).filter((entry) => entry.msg === 'already shutting down; the signal is ignored').length === 2,
      );
      expect(server.child.exitCode).toBeNull();

      // A request that still arrives on the open connection (pipelined behind the
      // deletion) is refused as "try again", not served by a server going away.
      connection.post('/graphql', JSON.stringify({ query: '{ viewer { kind } }' }), {
        Authorization: `Bearer ${server.adminKey}`,
        'X-Request-Id': 'after-shutdown-began',
      });
      await until('the late request is refused', () =>
        logEntries(server).some((entry) => entry.reqId === 'after-shutdown-began' && entry.msg === 'refused: the server is shutting down'),
      );

      await db.query('ROLLBACK'); // release the lock: the deletion goes on
      const deletion = await connection.next();
      expect(deletion.status).toBe(200);
      const body = JSON.parse(deletion.body);
      expect(body.errors).toBeUndefined();
      const payload = body.data.deleteOrganization;
      expect(payload.deletedOrganizationId).toBe(org.id);
      expect(payload.cascadedUsers.nodes).toEqual([{ id: only.id }]);
      expect(payload.retainedUsers.nodes).toEqual([{ id: both.id }]);
      expect(payload.terminatedSessions.nodes).toHaveLength(2);
      expect(payload.receipt).toMatchObject({ kind: 'ORGANIZATION', subjectId: org.id, cascadedUserCount: 1, removedMembershipCount: 2 });

      const late = await connection.next();
      expect(late.status).toBe(503);
      expect(late.headers['retry-after']).toBe(String(RETRY_AFTER_SECONDS));
      expect(late.headers['content-type']).toMatch(/^application\/json/);
      expect(late.headers['x-request-id']).toBe('after-shutdown-began');
      expectErrorBody(late.body, 'SERVICE_UNAVAILABLE');
      await connection.closedByServer();

      expect(await server.exited).toBe(0);
      const stopped = logEntries(server).filter((entry) => entry.msg?.startsWith('stopped'));
      expect(stopped).toEqual([expect.objectContaining({ msg: 'stopped: every in-flight request finished', abandonedRequests: 0 })]);
      expect(server.output()).not.toContain('abandoned at the end');

      // The pool was closed: no connection of the server is left.
      expect(await serverConnections(db)).toBe(0);

      // The deletion was applied fully.
      expect(await count(db, 'SELECT 1 FROM organizations WHERE id = $1', [org.id])).toBe(0);
      expect(await count(db, 'SELECT 1 FROM memberships WHERE organization_id = $1', [org.id])).toBe(0);
      expect(await count(db, 'SELECT 1 FROM users WHERE id = $1', [only.id])).toBe(0);
      expect(await count(db, 'SELECT 1 FROM sessions WHERE user_id = $1', [only.id])).toBe(0);
      expect(await count(db, 'SELECT 1 FROM users WHERE id = $1', [both.id])).toBe(1);
      expect(await count(db, 'SELECT 1 FROM memberships WHERE user_id = $1 AND organization_id = $2', [both.id, other.id])).toBe(1);
      expect(await count(db, 'SELECT 1 FROM sessions WHERE user_id = $1 AND terminated_at IS NULL', [both.id])).toBe(0);
      expect(await count(db, 'SELECT 1 FROM deletion_receipts WHERE subject_id = $1', [org.id])).toBe(1);
    } finally {
      connection.destroy();
      await db.end();
    }
  });

  it('a deletion that outlasts SHUTDOWN_GRACE_MS is cut off and rolled back, named in the log, and the exit status is 1', async () => {
    const graceMs = 1000;
    const server = await start({ SHUTDOWN_GRACE_MS: String(graceMs), DB_LOCK_TIMEOUT_MS: '60000' });
    const { org, only, both } = await seed(server, 'abandoned');

    const db = new Client({ connectionString: server.databaseUrl });
    await db.connect();
    const connection = await RawConnection.open(server.port);
    try {
      const snapshot = async () =>
        (
          await db.query(
            `SELECT (SELECT count(*) FROM organizations)::int AS organizations, (SELECT count(*) FROM users)::int AS users,
                    (SELECT count(*) FROM memberships)::int AS memberships,
                    (SELECT count(*) FROM sessions WHERE terminated_at IS NULL)::int AS active_sessions,
                    (SELECT count(*) FROM deletion_receipts)::int AS receipts`,
          )
        ).rows[0];
      const before = await snapshot();
      expect(before).toEqual({ organizations: 2, users: 2, memberships: 3, active_sessions: 2, receipts: 0 });

      // The lock is held past the grace period: the deletion cannot finish in time.
      await db.query('BEGIN');
      await db.query('SELECT 1 FROM organizations WHERE id = $1 FOR UPDATE', [org.id]);
      sendDeletion(server, connection, org.id, 'sigterm-abandoned-deletion');
      await deletionWaits(db);

      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(1);
      // Its connection was cut without an answer.
      await expect(connection.next()).rejects.toThrow(/connection closed/);

      const entries = logEntries(server);
      const abandoned = entries.filter((entry) => entry.msg?.startsWith('abandoned at the end of the shutdown grace period'));
      expect(abandoned).toEqual([
        expect.objectContaining({
          level: 50,
          reqId: 'sigterm-abandoned-deletion',
          operationName: 'DeleteOrganization',
          operationType: 'mutation',
          runningMs: expect.any(Number),
        }),
      ]);
      // It had run at least the whole grace period: it started before SIGTERM.
      expect(Number.isInteger(abandoned[0].runningMs)).toBe(true);
      expect(abandoned[0].runningMs).toBeGreaterThanOrEqual(graceMs - 5);
      const stopped = entries.filter((entry) => entry.msg?.startsWith('stopped'));
      expect(stopped).toEqual([
        expect.objectContaining({ msg: 'stopped with abandoned requests', abandonedRequests: 1, graceMs, exitCode: 1 }),
      ]);
      expect(server.output()).not.toContain('shutdown did not finish in time');

      // Release the lock: the cut-off connection's transaction can only roll back (no
      // COMMIT was ever sent). Once PostgreSQL has ended it, nothing was deleted.
      await db.query('ROLLBACK');
      await until('the server has no connection left', async () => (await serverConnections(db)) === 0);
      expect(await snapshot()).toEqual(before);
      expect(await count(db, 'SELECT 1 FROM organizations WHERE id = $1', [org.id])).toBe(1);
      expect(await count(db, 'SELECT 1 FROM users WHERE id = ANY($1)', [[only.id, both.id]])).toBe(2);
      expect(await count(db, 'SELECT 1 FROM memberships WHERE organization_id = $1', [org.id])).toBe(2);
      expect(await count(db, 'SELECT 1 FROM sessions WHERE organization_id = $1 AND terminated_at IS NULL', [org.id])).toBe(2);
    } finally {
      connection.destroy();
      await db.end();
    }
  });

  it('exits 0 and says so when nothing is in flight', async () => {
    const server = await start({ SHUTDOWN_GRACE_MS: '1000' });
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    const stopped = logEntries(server).filter((entry) => entry.msg?.startsWith('stopped'));
    expect(stopped).toEqual([expect.objectContaining({ msg: 'stopped: every in-flight request finished', abandonedRequests: 0 })]);
  });
});
