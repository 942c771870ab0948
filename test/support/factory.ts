import { randomBytes } from 'node:crypto';
import {
  AddMemberDocument,
  CreateOrganizationDocument,
  CreateSessionDocument,
  CreateUserDocument,
  type MembershipRole,
} from '../../src/generated/graphql';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import type { GraphQLResponse, TestApp } from './app';

/** Unwraps a response that must have succeeded, with the errors in the failure message otherwise. */
export function ok<T>(response: GraphQLResponse<T>): T {
  if (response.errors?.length || !response.data) {
    throw new Error(`expected success, got ${response.status}: ${JSON.stringify(response.errors)}`);
  }
  return response.data;
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

/** Row counts of every table, to prove that a refused or failed call changed nothing. */
export async function tableCounts(app: TestApp): Promise<Record<string, number>> {
  const tables: Array<{ table_name: string }> = await app.sql(
    `SELECT table_name FROM information_schema.tables
      WHERE table_schema = 'public' AND table_type = 'BASE TABLE' AND table_name <> 'migrations'
      ORDER BY table_name`,
  );
  const counts: Record<string, number> = {};
  for (const { table_name } of tables) {
    const [{ count }] = await app.sql<{ count: number }>(`SELECT count(*)::int AS count FROM "${table_name}"`);
    counts[table_name] = count;
  }
  return counts;
}
