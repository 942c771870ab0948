import { randomBytes } from 'node:crypto';
import { CreateUserDocument } from '../src/generated/graphql';
import { startTestApp, type TestApp } from './support/app';
import { errorCode, ok } from './support/factory';
import { LogCapture } from './support/log-capture';

/**
 * NODE_ENV=production: introspection off unless INTROSPECTION=true, validation errors
 * without schema details, and unexpected errors masked for the client while the
 * server log keeps the real error (and no personal data).
 */

let app: TestApp;
let introspective: TestApp;
/** LOG_LEVEL=warn, as the bench runs: the request logging takes its lighter path (src/logger.ts). */
let quiet: TestApp;
const log = new LogCapture();
const quietLog = new LogCapture();
beforeAll(async () => {
  [app, introspective, quiet] = await Promise.all([
    startTestApp({ NODE_ENV: 'production', LOG_LEVEL: 'info' }, { logStream: log }),
    startTestApp({ NODE_ENV: 'production', INTROSPECTION: 'true' }),
    startTestApp({ NODE_ENV: 'production', LOG_LEVEL: 'warn' }, { logStream: quietLog }),
  ]);
});
afterAll(() => Promise.all([app?.close(), introspective?.close(), quiet?.close()]));

const SCHEMA_QUERY = '{ __schema { queryType { name } types { name } } }';
const TYPE_QUERY = '{ __type(name: "User") { fields { name } } }';

describe('introspection in production', () => {
  it('is refused by default', async () => {
    for (const query of [SCHEMA_QUERY, TYPE_QUERY]) {
      const response = await app.gql(query);
      expect(response.status).toBe(400);
      expect(errorCode(response)).toBe('GRAPHQL_VALIDATION_FAILED');
      expect(response.errors![0].message).toMatch(/introspection is not allowed/i);
      expect(response.data ?? undefined).toBeUndefined();
    }
  });

  it('is served when INTROSPECTION=true', async () => {
    const schema = ok(await introspective.gql<{ __schema: { queryType: { name: string }; types: Array<{ name: string }> } }, never>(SCHEMA_QUERY));
    expect(schema.__schema.queryType.name).toBe('Query');
    expect(schema.__schema.types.map((t) => t.name)).toContain('DeleteUserPayload');
    const type = ok(await introspective.gql<{ __type: { fields: Array<{ name: string }> } }, never>(TYPE_QUERY));
    expect(type.__type.fields.map((f) => f.name)).toContain('email');
  });
});

describe.each([
  ['info', () => ({ app, log })],
  ['warn', () => ({ app: quiet, log: quietLog })],
])('unexpected errors in production at LOG_LEVEL=%s', (level, server) => {
  it('reach the client as a bare INTERNAL_SERVER_ERROR and the log with the real cause', async () => {
    const { app, log } = server();
    const email = `prod-${randomBytes(5).toString('hex')}@masked.example`;
    const name = `Masked Person ${randomBytes(5).toString('hex')}`;
    // A real fault inside a resolver: the column the INSERT names has gone.
    await app.sql('ALTER TABLE users RENAME COLUMN name TO name_gone');
    try {
      log.clear();
      const response = await app.gql(CreateUserDocument, { input: { email, name } });
      expect(response.status).toBe(200); // application/json: GraphQL ran, the field failed
      expect(response.data).toBeNull();
      expect(response.errors).toHaveLength(1);
      const [error] = response.errors!;
      expect(error.message).toBe('Internal server error');
      expect(error.extensions).toEqual({ code: 'INTERNAL_SERVER_ERROR' });
      const sent = JSON.stringify(response.errors);
      for (const leak of ['stacktrace', 'INSERT', 'name_gone', 'relation', 'does not exist', '42703', 'users', 'QueryFailedError', email, name]) {
        expect(sent).not.toContain(leak);
      }

      const requestId = response.headers.get('x-request-id');
      const logged = log.entries().find((entry) => entry.msg === 'unexpected error while serving a GraphQL request');
      expect(logged).toBeDefined();
      expect(logged!.level).toBe(50);
      expect(logged!.err.type).toBe('QueryFailedError');
      expect(logged!.err.message).toBe('column "name" of relation "users" does not exist');
      expect(logged!.err.code).toBe('42703');
      expect(logged!.err.stack).toContain('QueryFailedError');
      expect(logged!.req.id).toBe(requestId);
      // The statement's parameters were the new user's email and name: never logged.
      expect(log.text()).not.toContain(email);
      expect(log.text()).not.toContain(name);
    } finally {
      await app.sql('ALTER TABLE users RENAME COLUMN name_gone TO name');
    }
    // Nothing was written, and the server serves normally once the fault is gone.
    expect(await app.sql('SELECT 1 FROM users WHERE email = $1', [email])).toEqual([]);
    expect(ok(await app.gql(CreateUserDocument, { input: { email, name } })).createUser.email).toBe(email);
    // The request's last line is written at info only.
    expect(log.entries().some((entry) => entry.msg === 'request completed')).toBe(level === 'info');
  });
});

describe('validation errors in production', () => {
  it('do not suggest field, argument or enum names', async () => {
    const attempts = [
      { query: '{ viewer { kinf } }', hidden: '"kind"' },
      { query: '{ users(frist: 1) { totalCount } }', hidden: '"first"' },
      // graphql-armor's suggestion mask misses this form; hideSchemaDetailsFromClientErrors does not.
      { query: '{ users { nodes { sessions(status: ACTIV) { id } } } }', hidden: 'ACTIVE' },
    ];
    for (const { query, hidden } of attempts) {
      const response = await app.gql(query);
      expect(response.status).toBe(400);
      expect(errorCode(response)).toBe('GRAPHQL_VALIDATION_FAILED');
      const message = response.errors![0].message;
      expect(message).not.toMatch(/did you mean/i);
      expect(message).not.toContain(hidden);
      expect(response.errors![0].extensions).toEqual({ code: 'GRAPHQL_VALIDATION_FAILED' });
    }
  });
});
