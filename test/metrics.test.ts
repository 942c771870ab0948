import { DeleteOrganizationDocument, DeleteUserDocument, ViewerDocument } from '../src/generated/graphql';
import { startTestApp, type TestApp } from './support/app';
import { errorCode, factory, ok } from './support/factory';
import { createApiKey } from './support/keys';
import { persistedQuery, postJson, trustedDocument } from './support/protocol';

/** GET /metrics (src/http/metrics.ts): Prometheus text with bounded labels. */

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app?.close());

async function scrape() {
  const response = await fetch(new URL('/metrics', app.url));
  return { status: response.status, contentType: response.headers.get('content-type'), text: await response.text() };
}

/** The value of one sample, by exact metric name and labels (0 when absent). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([key, value]) => found[key] === value) && Object.keys(found).length === Object.keys(labels).length) {
      return Number(match[3]);
    }
  }
  return 0;
}

describe('GET /metrics', () => {
  it('is Prometheus text format, without credentials', async () => {
    const { status, contentType, text } = await scrape();
    expect(status).toBe(200);
    expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    for (const [name, type] of [
      ['graphql_requests_total', 'counter'],
      ['graphql_request_duration_seconds', 'histogram'],
      ['deletions_total', 'counter'],
      ['deletion_rows_removed', 'histogram'],
      ['db_pool_connections_in_use', 'gauge'],
      ['db_pool_waiting_requests', 'gauge'],
    ]) {
      expect(text).toContain(`# TYPE ${name} ${type}`);
    }
    expect(text).toMatch(/^db_pool_connections_in_use \d+$/m);
    expect(text).toMatch(/^db_pool_waiting_requests \d+$/m);
    expect(text).toContain('process_cpu_user_seconds_total'); // default metrics too
  });

  it('counts GraphQL requests by trusted operation name and outcome; other documents by their root fields', async () => {
    const partnerKey = (await createApiKey(app, ['USERS_READ'])).secret;
    const viewer = trustedDocument('Viewer');
    const before = (await scrape()).text;
    // The trusted document ran: by hash (a partner key), and as its exact text (the admin).
    const byHash = await postJson(app.url, { extensions: persistedQuery(viewer.hash) }, partnerKey);
    expect(byHash.body?.data?.viewer.kind).toBe('API_KEY');
    ok(await app.gql(viewer.text));
    // The same operation in the client's own text (the generated document, printed): its root field.
    ok(await app.gql(ViewerDocument));
    ok(await app.gql('query MyOwnInvention { viewer { kind } }'));
    expect(errorCode(await app.gql('query Viewer { viewer { nope } }'))).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(errorCode(await app.gql(ViewerDocument, {}, { token: 'sst_not-a-session' }))).toBe('UNAUTHENTICATED');
    const after = (await scrape()).text;

    const delta = (labels: Record<string, string>) =>
      sample(after, 'graphql_requests_total', labels) - sample(before, 'graphql_requests_total', labels);
    expect(delta({ operation: 'Viewer', outcome: 'success' })).toBe(2);
    expect(delta({ operation: 'viewer', outcome: 'success' })).toBe(2);
    expect(delta({ operation: 'other', outcome: 'success' })).toBe(0);
    expect(sample(after, 'graphql_requests_total', { operation: 'MyOwnInvention', outcome: 'success' })).toBe(0);
    expect(after).not.toContain('MyOwnInvention');
    // A document that failed validation never resolved an operation: "other".
    expect(delta({ operation: 'other', outcome: 'GRAPHQL_VALIDATION_FAILED' })).toBe(1);
    // Refused while authenticating, before the document is even parsed.
    expect(delta({ operation: 'other', outcome: 'UNAUTHENTICATED' })).toBe(1);
    const count = (text: string) =>
      sample(text, 'graphql_request_duration_seconds_count', { operation: 'Viewer', outcome: 'success' });
    expect(count(after) - count(before)).toBe(2);
  });

  it('labels an operation by what ran, never by the name the client chose (issue 11)', async () => {
    const make = factory(app);
    const user = await make.user();
    const before = (await scrape()).text;

    // Named like the trusted deletion, running nothing of it.
    ok(await app.gql('query DeleteUser { __typename }'));
    ok(await app.gql('mutation DeleteUser { __typename }'));
    // A real deletion under an innocent name.
    const deleted = ok(
      await app.gql<{ deleteUser: { deletedUserId: string } }, { id: string }>(
        'mutation LooksHarmless($id: ID!) { deleteUser(id: $id) { deletedUserId } }',
        { id: user.id },
      ),
    );
    expect(deleted.deleteUser.deletedUserId).toBe(user.id);
    // Root fields by name, not alias, sorted; what @skip left out did not run; fragments count.
    ok(await app.gql('query Whatever { b: viewer { kind } a: organizations { totalCount } c: viewer { kind } }'));
    ok(await app.gql('query Whatever { viewer { kind } organizations @skip(if: true) { totalCount } }'));
    ok(await app.gql('query Whatever($skip: Boolean!) { viewer { kind } organizations @skip(if: $skip) { totalCount } }', { skip: true }));
    ok(await app.gql('query Whatever { ...Root } fragment Root on Query { users { totalCount } }'));
    // More than two distinct root fields: "multiple", a bounded label.
    ok(await app.gql('query Whatever { viewer { kind } users { totalCount } organizations { totalCount } }'));
    // The client's free text never becomes a label.
    ok(await app.gql('query alice_at_example_com { viewer { kind } }'));
    const after = (await scrape()).text;

    const delta = (name: string, labels: Record<string, string>) => sample(after, name, labels) - sample(before, name, labels);
    expect(delta('graphql_requests_total', { operation: 'DeleteUser', outcome: 'success' })).toBe(0);
    expect(delta('graphql_requests_total', { operation: '__typename', outcome: 'success' })).toBe(2);
    expect(delta('graphql_requests_total', { operation: 'deleteUser', outcome: 'success' })).toBe(1);
    expect(delta('graphql_requests_total', { operation: 'organizations+viewer', outcome: 'success' })).toBe(1);
    expect(delta('graphql_requests_total', { operation: 'viewer', outcome: 'success' })).toBe(3);
    expect(delta('graphql_requests_total', { operation: 'users', outcome: 'success' })).toBe(1);
    expect(delta('graphql_requests_total', { operation: 'multiple', outcome: 'success' })).toBe(1);
    expect(after).not.toContain('LooksHarmless');
    expect(after).not.toContain('Whatever');
    expect(after).not.toContain('alice_at_example_com');
    // Only the real deletion counted as one, and the database agrees.
    expect(delta('deletions_total', { kind: 'USER', outcome: 'success' })).toBe(1);
    expect(await app.sql('SELECT 1 FROM users WHERE id = $1', [user.id])).toEqual([]);
  });

  it('counts deletions by kind and outcome and observes the rows each removed', async () => {
    const make = factory(app);
    const organization = await make.organization();
    const { user } = await make.signedInMember(organization.id, 'MEMBER');
    await make.session(user.id, organization.id); // a second active session
    const member = await make.signedInMember(organization.id, 'MEMBER');
    const before = (await scrape()).text;

    const deleted = ok(await app.gql(DeleteUserDocument, { id: user.id })).deleteUser;
    expect(deleted.terminatedSessions.nodes).toHaveLength(2);
    const refused = await app.gql(DeleteOrganizationDocument, { id: organization.id }, { token: member.token });
    expect(errorCode(refused)).toBe('FORBIDDEN');
    expect(ok(await app.gql(DeleteUserDocument, { id: member.user.id, dryRun: true })).deleteUser.dryRun).toBe(true);
    const after = (await scrape()).text;

    const delta = (name: string, labels: Record<string, string>) => sample(after, name, labels) - sample(before, name, labels);
    expect(delta('deletions_total', { kind: 'USER', outcome: 'success' })).toBe(1);
    expect(delta('deletions_total', { kind: 'USER', outcome: 'dry_run' })).toBe(1);
    expect(delta('deletions_total', { kind: 'ORGANIZATION', outcome: 'FORBIDDEN' })).toBe(1);
    expect(delta('deletions_total', { kind: 'ORGANIZATION', outcome: 'success' })).toBe(0);
    // The admin's and the member's own texts of these operations: labelled by root field.
    expect(delta('graphql_requests_total', { operation: 'deleteUser', outcome: 'success' })).toBe(2);
    expect(delta('graphql_requests_total', { operation: 'deleteOrganization', outcome: 'FORBIDDEN' })).toBe(1);

    // Rows removed: observed for the committed deletion only, not for the dry run (it removed
    // nothing) nor for the refusal.
    expect(delta('deletion_rows_removed_count', { kind: 'USER', what: 'sessions' })).toBe(1);
    expect(delta('deletion_rows_removed_sum', { kind: 'USER', what: 'sessions' })).toBe(2);
    expect(delta('deletion_rows_removed_sum', { kind: 'USER', what: 'memberships' })).toBe(1);
    expect(delta('deletion_rows_removed_sum', { kind: 'USER', what: 'users' })).toBe(1);
    expect(delta('deletion_rows_removed_count', { kind: 'ORGANIZATION', what: 'sessions' })).toBe(0);

    // The database agrees.
    expect(await app.sql('SELECT 1 FROM users WHERE id = $1', [user.id])).toEqual([]);
    expect(await app.sql('SELECT 1 FROM users WHERE id = $1', [member.user.id])).toHaveLength(1);
    expect(await app.sql('SELECT 1 FROM organizations WHERE id = $1', [organization.id])).toHaveLength(1);
  });

  it('reports the pool: connections in use while a request holds one', async () => {
    const holder = await app.dataSource.createQueryRunner();
    await holder.connect();
    try {
      const { text } = await scrape();
      expect(sample(text, 'db_pool_connections_in_use')).toBeGreaterThanOrEqual(1);
      expect(sample(text, 'db_pool_waiting_requests')).toBe(0);
    } finally {
      await holder.release();
    }
  });
});
