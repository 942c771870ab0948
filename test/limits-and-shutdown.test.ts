import http from 'node:http';
import { print } from 'graphql';
import { Client } from 'pg';
import {
  AddMemberDocument,
  CreateOrganizationDocument,
  CreateUserDocument,
  DeleteOrganizationDocument,
} from '../src/generated/graphql';
import { CreateSessionDocument } from './generated/graphql';
import { BODY_LIMIT_BYTES } from '../src/http/server';
import { startTestApp, type TestApp } from './support/app';
import { accepts, startServerProcess, type ServerProcess } from './support/server-process';

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
    const body = JSON.parse(response.body);
    expect(body.errors).toHaveLength(1);
    expect(body.errors[0].extensions).toEqual({ code: 'BAD_REQUEST' });
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
    expect(JSON.parse(response.body).errors[0].extensions.code).toBe('BAD_REQUEST');
    expect(response.body).not.toMatch(/Error:|node_modules|<html|<pre/i);
  });
});

describe('SIGTERM', () => {
  let server: ServerProcess;
  afterAll(() => server?.cleanup());

  async function gql<T = any>(document: Parameters<typeof print>[0], variables: Record<string, unknown>) {
    const response = await fetch(server.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${server.adminKey}` },
      body: JSON.stringify({ query: print(document), variables }),
    });
    return { status: response.status, body: (await response.json()) as { data?: T; errors?: Array<{ message: string; extensions?: { code?: string } }> } };
  }
  async function must<T = any>(document: Parameters<typeof print>[0], variables: Record<string, unknown>): Promise<T> {
    const { body } = await gql<T>(document, variables);
    if (body.errors || !body.data) throw new Error(JSON.stringify(body.errors));
    return body.data;
  }

  it('stops accepting, lets the in-flight deletion finish with its payload, closes the pool and exits 0', async () => {
    server = await startServerProcess({ SHUTDOWN_GRACE_MS: '30000', DB_LOCK_TIMEOUT_MS: '60000' });

    // An organization with a member only here (cascaded) and one also elsewhere (retained).
    const org = (await must(CreateOrganizationDocument, { input: { name: 'Sigterm Org' } })).createOrganization;
    const other = (await must(CreateOrganizationDocument, { input: { name: 'Elsewhere' } })).createOrganization;
    const only = (await must(CreateUserDocument, { input: { email: 'only@sigterm.example', name: 'Only' } })).createUser;
    const both = (await must(CreateUserDocument, { input: { email: 'both@sigterm.example', name: 'Both' } })).createUser;
    await must(AddMemberDocument, { input: { organizationId: org.id, userId: only.id, role: 'OWNER' } });
    await must(AddMemberDocument, { input: { organizationId: org.id, userId: both.id } });
    await must(AddMemberDocument, { input: { organizationId: other.id, userId: both.id } });
    await must(CreateSessionDocument, { input: { userId: only.id, organizationId: org.id } });
    await must(CreateSessionDocument, { input: { userId: both.id, organizationId: org.id } });

    // Hold the organization's row lock so the deletion is in flight, waiting, when SIGTERM comes.
    const db = new Client({ connectionString: server.databaseUrl });
    await db.connect();
    try {
      await db.query('BEGIN');
      await db.query('SELECT 1 FROM organizations WHERE id = $1 FOR UPDATE', [org.id]);
      const deletion = gql(DeleteOrganizationDocument, { id: org.id });
      let waiting = false;
      for (let attempt = 0; attempt < 200 && !waiting; attempt++) {
        const rows = await db.query(
          `SELECT 1 FROM pg_stat_activity
            WHERE datname = current_database() AND application_name = 'identity-gateway' AND wait_event_type = 'Lock'`,
        );
        waiting = rows.rowCount === 1;
        if (!waiting) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(waiting).toBe(true);

      server.child.kill('SIGTERM');
      // New connections are refused soon after (bounded wait, no timing assertion).
      let refused = false;
      for (let attempt = 0; attempt < 100 && !refused; attempt++) {
        refused = !(await accepts(server.port));
        if (!refused) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(refused).toBe(true);
      expect(server.child.exitCode).toBeNull(); // still draining: the deletion holds it open

      await db.query('ROLLBACK'); // release the lock: the deletion goes on
      const { status, body } = await deletion;
      expect(status).toBe(200);
      expect(body.errors).toBeUndefined();
      const payload = body.data.deleteOrganization;
      expect(payload.deletedOrganizationId).toBe(org.id);
      expect(payload.cascadedUsers).toEqual([{ id: only.id }]);
      expect(payload.retainedUserIds).toEqual([both.id]);
      expect(payload.terminatedSessions).toHaveLength(2);
      expect(payload.receipt).toMatchObject({ kind: 'ORGANIZATION', subjectId: org.id, cascadedUserCount: 1, removedMembershipCount: 2 });

      expect(await server.exited).toBe(0);
      expect(server.output()).toContain('"msg":"stopped"');

      // The pool was closed: no connection of the server is left.
      const left = await db.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'identity-gateway'`,
      );
      expect(left.rows[0].n).toBe(0);

      // The deletion was applied fully.
      const count = async (sql: string, params: unknown[]) => (await db.query(sql, params)).rowCount;
      expect(await count('SELECT 1 FROM organizations WHERE id = $1', [org.id])).toBe(0);
      expect(await count('SELECT 1 FROM memberships WHERE organization_id = $1', [org.id])).toBe(0);
      expect(await count('SELECT 1 FROM users WHERE id = $1', [only.id])).toBe(0);
      expect(await count('SELECT 1 FROM sessions WHERE user_id = $1', [only.id])).toBe(0);
      expect(await count('SELECT 1 FROM users WHERE id = $1', [both.id])).toBe(1);
      expect(await count('SELECT 1 FROM memberships WHERE user_id = $1 AND organization_id = $2', [both.id, other.id])).toBe(1);
      expect(await count('SELECT 1 FROM sessions WHERE user_id = $1 AND terminated_at IS NULL', [both.id])).toBe(0);
      expect(await count('SELECT 1 FROM deletion_receipts WHERE subject_id = $1', [org.id])).toBe(1);
    } finally {
      await db.end();
    }
  });
});
