import type { GraphQLObjectType } from 'graphql';
import { getMetadataStorage } from 'type-graphql';
import { authorizeMembershipChange, authorizeOrganizationDeletion } from '../src/auth/access';
import { ViewerKind, type Principal } from '../src/auth/principal';
import { AppError, ErrorCode } from '../src/errors';
import { buildAppSchema } from '../src/http/schema';
import { MembershipRole } from '../src/memberships/membership.entity';

const ORGANIZATION = 'org_01ARZ3NDEKTSV4RRFFQ69G5FAV';
const admin: Principal = { kind: ViewerKind.ADMIN };
const sessionUser: Principal = { kind: ViewerKind.SESSION, userId: 'usr_01ARZ3NDEKTSV4RRFFQ69G5FAV', sessionId: 'ses_01ARZ3NDEKTSV4RRFFQ69G5FAV' };

/** 'ok', or the code of the AppError the rule threw. */
function outcome(run: () => void): string {
  try {
    run();
    return 'ok';
  } catch (error) {
    if (error instanceof AppError) return error.code;
    throw error;
  }
}

describe('authorizeMembershipChange', () => {
  const { OWNER, ADMIN, MEMBER } = MembershipRole;
  const roles = [OWNER, ADMIN, MEMBER];

  it.each(roles)('lets the platform admin add or remove a %s without being a member', (target) => {
    expect(outcome(() => authorizeMembershipChange(admin, null, ORGANIZATION, target))).toBe('ok');
  });

  it.each<[MembershipRole | null, MembershipRole, string]>([
    // caller role, target role, outcome
    [OWNER, OWNER, 'ok'],
    [OWNER, ADMIN, 'ok'],
    [OWNER, MEMBER, 'ok'],
    [ADMIN, OWNER, ErrorCode.FORBIDDEN],
    [ADMIN, ADMIN, 'ok'],
    [ADMIN, MEMBER, 'ok'],
    [MEMBER, OWNER, ErrorCode.FORBIDDEN],
    [MEMBER, ADMIN, ErrorCode.FORBIDDEN],
    [MEMBER, MEMBER, ErrorCode.FORBIDDEN],
    [null, OWNER, ErrorCode.NOT_FOUND],
    [null, ADMIN, ErrorCode.NOT_FOUND],
    [null, MEMBER, ErrorCode.NOT_FOUND],
  ])('a session user whose role is %s changing a %s membership: %s', (callerRole, target, expected) => {
    expect(outcome(() => authorizeMembershipChange(sessionUser, callerRole, ORGANIZATION, target))).toBe(expected);
  });

  it('answers a non-member as if the organization did not exist, naming only the ID asked for', () => {
    try {
      authorizeMembershipChange(sessionUser, null, ORGANIZATION, MembershipRole.MEMBER);
      throw new Error('expected NOT_FOUND');
    } catch (error) {
      expect(error).toBeInstanceOf(AppError);
      expect((error as AppError).message).toBe(AppError.notFound('Organization', ORGANIZATION).message);
    }
  });
});

describe('authorizeOrganizationDeletion', () => {
  it.each<[string, Principal, MembershipRole | null, string]>([
    ['the admin', admin, null, 'ok'],
    ['a session user', sessionUser, MembershipRole.OWNER, 'ok'],
    ['a session user', sessionUser, MembershipRole.ADMIN, ErrorCode.FORBIDDEN],
    ['a session user', sessionUser, MembershipRole.MEMBER, ErrorCode.FORBIDDEN],
    ['a session user', sessionUser, null, ErrorCode.NOT_FOUND],
  ])('%s whose role is %s: %s', (_label, principal, callerRole, expected) => {
    expect(outcome(() => authorizeOrganizationDeletion(principal, callerRole, ORGANIZATION))).toBe(expected);
  });
});

/**
 * Who may call each operation, as declared with @Authorized on the resolvers. Any
 * change of access shows up as a diff of this table. ADMIN is the admin API key,
 * SESSION a session token; finer rules (OWNER/ADMIN of the organization) are in
 * src/auth/access.ts and tested above and in the feature test files.
 */
/**
 * Who may run each operation: kinds of caller (ADMIN, SESSION, API_KEY = any key) and
 * the API key scopes that admit a partner key. A change of access shows up here as a diff.
 */
const EXPECTED_ACCESS: Record<string, string[]> = {
  'Query.viewer': ['ADMIN', 'SESSION', 'API_KEY'],
  'Query.organization': ['ADMIN', 'SESSION', 'ORGANIZATIONS_READ'],
  'Query.organizations': ['ADMIN', 'SESSION', 'ORGANIZATIONS_READ'],
  'Query.user': ['ADMIN', 'SESSION', 'USERS_READ'],
  'Query.users': ['ADMIN', 'USERS_READ'],
  'Mutation.createOrganization': ['ADMIN', 'SESSION', 'ORGANIZATIONS_WRITE'],
  'Mutation.createUser': ['ADMIN', 'USERS_WRITE'],
  'Mutation.addMember': ['ADMIN', 'SESSION', 'ORGANIZATIONS_WRITE'],
  'Mutation.removeMember': ['ADMIN', 'SESSION', 'ORGANIZATIONS_WRITE'],
  'Mutation.createSession': ['ADMIN', 'SESSIONS_WRITE'],
  'Mutation.terminateSession': ['ADMIN', 'SESSION', 'SESSIONS_WRITE'],
  // Deletion (issue 3): deleteUser is admin-only (or a key with USERS_DELETE); an OWNER may delete their organization.
  'Mutation.deleteUser': ['ADMIN', 'USERS_DELETE'],
  'Mutation.deleteOrganization': ['ADMIN', 'SESSION', 'ORGANIZATIONS_DELETE'],
  // A partner that timed out may learn from the receipt whether its deletion went through.
  'Query.deletionReceipt': ['ADMIN', 'USERS_DELETE', 'ORGANIZATIONS_DELETE'],
  'Query.events': ['ADMIN'],
  // Partner API keys (issue 4): admin only.
  'Query.apiKeys': ['ADMIN'],
  'Mutation.createApiKey': ['ADMIN'],
  'Mutation.revokeApiKey': ['ADMIN'],
};

describe('permission table', () => {
  let actual: Record<string, string[] | 'NOT DECLARED'>;

  beforeAll(async () => {
    const schema = await buildAppSchema();
    const storage = getMetadataStorage();
    actual = {};
    const operations: Array<[string, GraphQLObjectType | null | undefined, typeof storage.queries]> = [
      ['Query', schema.getQueryType(), storage.queries],
      ['Mutation', schema.getMutationType(), storage.mutations],
      ['Subscription', schema.getSubscriptionType(), storage.subscriptions],
    ];
    for (const [typeName, type, metadata] of operations) {
      for (const fieldName of Object.keys(type?.getFields() ?? {})) {
        const resolver = metadata.find((m) => m.schemaName === fieldName);
        if (!resolver) throw new Error(`no type-graphql metadata for ${typeName}.${fieldName}`);
        const authorized = storage.authorizedFields.find(
          (a) => a.target === resolver.target && a.fieldName === resolver.methodName,
        );
        actual[`${typeName}.${fieldName}`] = authorized ? [...authorized.roles].map(String).sort() : 'NOT DECLARED';
      }
    }
  });

  it('matches the expected table, operation by operation', () => {
    const expected = Object.fromEntries(Object.entries(EXPECTED_ACCESS).map(([op, roles]) => [op, [...roles].sort()]));
    expect(actual).toEqual(expected);
  });

  it('has no operation missing from the table, and none without an @Authorized declaration', () => {
    const missing = Object.keys(actual).filter((operation) => !(operation in EXPECTED_ACCESS));
    expect(missing).toEqual([]);
    const undeclared = Object.entries(actual).filter(([, roles]) => roles === 'NOT DECLARED').map(([operation]) => operation);
    expect(undeclared).toEqual([]);
  });
});
