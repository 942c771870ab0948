import { randomBytes } from 'node:crypto';
import {
  AddMemberDocument,
  CreateOrganizationDocument,
  CreateUserDocument,
  type MembershipRole,
} from '../../src/generated/graphql';
// Not a trusted operation (issue 9: createSession is admin only): typed from test/operations.
import { CreateSessionDocument } from '../generated/graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import type { GraphQLResponse, TestApp } from './app';

/** Unwraps a response that must have succeeded, with the errors in the failure message otherwise. */
export function ok<T>(response: GraphQLResponse<T>): T {
  if (response.errors?.length || !response.data) {
    throw new Error(`expected success, got ${response.status}: ${JSON.stringify(response.errors)}`);
  }
  return response.data;
}

/** Well-formed IDs that name nothing. */
export const UNKNOWN_ORGANIZATION = 'org_01ARZ3NDEKTSV4RRFFQ69G5FAV';
export const UNKNOWN_USER = 'usr_01ARZ3NDEKTSV4RRFFQ69G5FAV';
export const UNKNOWN_SESSION = 'ses_01ARZ3NDEKTSV4RRFFQ69G5FAV';

/** The `fields` a BAD_USER_INPUT error names. */
export function fieldsOf(response: { errors?: Array<{ extensions?: Record<string, unknown> }> }): string[] {
  const fields = (response.errors?.[0]?.extensions?.fields ?? []) as Array<{ field: string }>;
  return fields.map((f) => f.field);
}

/** The code of the one error a refused call must carry. */
export function errorCode(response: GraphQLResponse<unknown>): string | undefined {
  return response.errors?.[0]?.extensions?.code;
}

const unique = () => randomBytes(4).toString('hex');

/** Small builders that go through the API as the admin, as a client would. */
export function factory(app: TestApp) {
  return {
    async user(overrides: { email?: string; name?: string } = {}) {
      const input = { email: overrides.email ?? `user-${unique()}@example.com`, name: overrides.name ?? 'Test User' };
      return ok(await app.gql(CreateUserDocument, { input })).createUser;
    },
    async organization(overrides: { name?: string; domains?: string[] } = {}) {
      const input = { name: overrides.name ?? `Org ${unique()}`, domains: overrides.domains };
      return ok(await app.gql(CreateOrganizationDocument, { input })).createOrganization;
    },
    async member(organizationId: string, userId: string, role: MembershipRole = 'MEMBER') {
      return ok(await app.gql(AddMemberDocument, { input: { organizationId, userId, role } })).addMember;
    },
    async session(userId: string, organizationId?: string) {
      return ok(await app.gql(CreateSessionDocument, { input: { userId, organizationId } })).createSession;
    },
    /** A user with a membership of the given role and an active session: returns the user and their token. */
    async signedInMember(organizationId: string, role: MembershipRole) {
      const user = await this.user();
      await this.member(organizationId, user.id, role);
      const { token, session } = await this.session(user.id, organizationId);
      return { user, token, session };
    },
  };
}

/**
 * Sends a call that must be refused with `code` (and HTTP `status`), returning no data,
 * and proves it changed no row count.
 */
export async function expectRefused<TData, TVariables>(
  app: TestApp,
  document: TypedDocumentNode<TData, TVariables>,
  variables: TVariables,
  expected: { token: string | null; code: string; status?: number },
): Promise<GraphQLResponse<TData>> {
  const before = await tableCounts(app);
  const response = await app.gql(document, variables, { token: expected.token });
  expect(errorCode(response)).toBe(expected.code);
  expect(response.status).toBe(expected.status ?? 200);
  expect(response.data ?? null).toBeNull();
  expect(await tableCounts(app)).toEqual(before);
  return response;
}

const tablesByApp = new WeakMap<TestApp, Promise<string[]>>();

/** The application's tables (the migrations' bookkeeping excluded), read once per app. */
export function dataTables(app: TestApp): Promise<string[]> {
  let tables = tablesByApp.get(app);
  if (!tables) {
    tables = app
      .sql<{ table_name: string }>(
        `SELECT table_name FROM information_schema.tables
          WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> 'migrations'
          ORDER BY table_name`,
      )
      .then((rows) => rows.map((row) => row.table_name));
    tablesByApp.set(app, tables);
  }
  return tables;
}

/** One value per table, computed by `expression` over the table's rows `t`, in one statement. */
async function perTable<T>(app: TestApp, expression: string): Promise<Record<string, T>> {
  const tables = await dataTables(app);
  const [row] = await app.sql<Record<string, T>>(
    `SELECT ${tables.map((table) => `(SELECT ${expression} FROM "${table}" t) AS "${table}"`).join(', ')}`,
  );
  return row;
}

/** Row counts of every table, to prove that a refused or failed call changed nothing. */
export function tableCounts(app: TestApp): Promise<Record<string, number>> {
  return perTable<number>(app, 'count(*)::int');
}

/** Every row of every table as JSON text, sorted: equal snapshots mean an unchanged database. */
export function databaseSnapshot(app: TestApp): Promise<Record<string, string[]>> {
  return perTable<string[]>(app, `coalesce(json_agg(row_to_json(t)::text ORDER BY row_to_json(t)::text), '[]')`);
}

/** Per table: row count and an md5 of every row's text (cheaper than a snapshot, as strict). */
export function tableFingerprints(app: TestApp): Promise<Record<string, string>> {
  return perTable<string>(app, `count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text COLLATE "C")), '')`);
}

/**
 * Rows that must never exist, whatever ran concurrently or was refused: each names the
 * broken rule and the offending ID. (The foreign keys forbid most of them too; this is
 * the check that would notice one being dropped or deferred.)
 */
export const INVARIANT_VIOLATIONS = `
  SELECT 'membership without its organization' AS problem, m.id FROM memberships m
   WHERE NOT EXISTS (SELECT 1 FROM organizations o WHERE o.id = m.organization_id)
  UNION ALL
  SELECT 'membership without its user', m.id FROM memberships m
   WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = m.user_id)
  UNION ALL
  SELECT 'session of a missing user', s.id FROM sessions s
   WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = s.user_id)
  UNION ALL
  SELECT 'session of a missing organization', s.id FROM sessions s
   WHERE s.organization_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM organizations o WHERE o.id = s.organization_id)
  UNION ALL
  SELECT 'organization without its settings', o.id FROM organizations o
   WHERE NOT EXISTS (SELECT 1 FROM organization_settings st WHERE st.organization_id = o.id)
  UNION ALL
  SELECT 'settings of a missing organization', st.organization_id FROM organization_settings st
   WHERE NOT EXISTS (SELECT 1 FROM organizations o WHERE o.id = st.organization_id)
  UNION ALL
  SELECT 'domain of a missing organization', d.domain FROM organization_domains d
   WHERE NOT EXISTS (SELECT 1 FROM organizations o WHERE o.id = d.organization_id)
  UNION ALL
  SELECT 'deleted subject still exists', r.subject_id FROM deletion_receipts r
   WHERE (r.kind = 'USER' AND EXISTS (SELECT 1 FROM users u WHERE u.id = r.subject_id))
      OR (r.kind = 'ORGANIZATION' AND EXISTS (SELECT 1 FROM organizations o WHERE o.id = r.subject_id))`;

export function invariantViolations(app: TestApp): Promise<Array<{ problem: string; id: string }>> {
  return app.sql(INVARIANT_VIOLATIONS);
}

/**
 * Waits until every event committed so far is visible to the events query, webhook fan-out
 * and replay: they show only events of transactions older than every running one (txid
 * below the snapshot's xmin, src/deletion/deletion-log.service.ts), and that xmin is the
 * whole PostgreSQL server's, so another test file's open transaction can hold them back.
 */
export async function untilEventsVisible(app: TestApp): Promise<void> {
  const started = Date.now();
  for (;;) {
    const [{ hidden }] = await app.sql<{ hidden: number }>(
      `SELECT count(*)::int AS hidden FROM events WHERE txid >= pg_snapshot_xmin(pg_current_snapshot())`,
    );
    if (hidden === 0) return;
    if (Date.now() - started > 30_000) throw new Error(`${hidden} committed events stayed invisible for 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
