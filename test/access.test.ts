import type { GraphQLObjectType } from 'graphql';
import { getMetadataStorage } from 'type-graphql';
import {
  authorizeInvitationManagement,
  authorizeInvitationResponse,
  authorizeInvitationRevocation,
  authorizeMembershipChange,
  authorizeOrganizationDeletion,
  authorizeRoleChange,
  addsVerifiedDomains,
  authorizeDomainRemoval,
  authorizeOrganizationUpdate,
  authorizeReceiptLists,
  authorizeUserDeletion,
  authorizeUserSessionsTermination,
  authorizeUserUpdate,
  canListInvitations,
  canReadReceiptLists,
  canSeeInvitationEmail,
  endpointOwnerOf,
  sessionRefusalHint,
} from '../src/auth/access';
import { ViewerKind, type Principal } from '../src/auth/principal';
import { DeletionKind } from '../src/deletion/deletion.types';
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

describe('authorizeRoleChange (updateMemberRole, issue 9)', () => {
  const { OWNER, ADMIN, MEMBER } = MembershipRole;
  const roles = [OWNER, ADMIN, MEMBER];
  const everyChange = roles.flatMap((from) => roles.map((to): [MembershipRole, MembershipRole] => [from, to]));
  const apiKey: Principal = { kind: ViewerKind.API_KEY, apiKeyId: 'key_01ARZ3NDEKTSV4RRFFQ69G5FAV', scopes: new Set(['ORGANIZATIONS_WRITE']) };

  it.each(everyChange)('lets the admin and an API key change %s to %s without being members', (from, to) => {
    expect(outcome(() => authorizeRoleChange(admin, null, ORGANIZATION, from, to))).toBe('ok');
    expect(outcome(() => authorizeRoleChange(apiKey, null, ORGANIZATION, from, to))).toBe('ok');
  });

  it.each(everyChange)('lets an OWNER change %s to %s', (from, to) => {
    expect(outcome(() => authorizeRoleChange(sessionUser, OWNER, ORGANIZATION, from, to))).toBe('ok');
  });

  it.each<[MembershipRole, MembershipRole, string]>([
    [ADMIN, ADMIN, 'ok'],
    [ADMIN, MEMBER, 'ok'],
    [MEMBER, ADMIN, 'ok'],
    [MEMBER, MEMBER, 'ok'],
    [OWNER, OWNER, ErrorCode.FORBIDDEN],
    [OWNER, ADMIN, ErrorCode.FORBIDDEN],
    [OWNER, MEMBER, ErrorCode.FORBIDDEN],
    [ADMIN, OWNER, ErrorCode.FORBIDDEN],
    [MEMBER, OWNER, ErrorCode.FORBIDDEN],
  ])('an ADMIN changing %s to %s: %s (never to or from OWNER)', (from, to, expected) => {
    expect(outcome(() => authorizeRoleChange(sessionUser, ADMIN, ORGANIZATION, from, to))).toBe(expected);
  });

  it.each(everyChange)('refuses a MEMBER changing %s to %s with FORBIDDEN', (from, to) => {
    expect(outcome(() => authorizeRoleChange(sessionUser, MEMBER, ORGANIZATION, from, to))).toBe(ErrorCode.FORBIDDEN);
  });

  it.each(everyChange)('answers a non-member changing %s to %s with NOT_FOUND for the organization', (from, to) => {
    expect(outcome(() => authorizeRoleChange(sessionUser, null, ORGANIZATION, from, to))).toBe(ErrorCode.NOT_FOUND);
  });
});

describe('authorizeUserDeletion (deleteUser, issue 9 self-service erasure)', () => {
  const self = sessionUser.kind === ViewerKind.SESSION ? sessionUser.userId : '';
  const someoneElse = 'usr_01BX5ZZKBKACTAV9WEVGEMMVRZ';
  const apiKey: Principal = { kind: ViewerKind.API_KEY, apiKeyId: 'key_01ARZ3NDEKTSV4RRFFQ69G5FAV', scopes: new Set(['USERS_DELETE']) };

  it.each<[string, string, string, Principal, string]>([
    ['the admin', 'someone', 'ok', admin, someoneElse],
    ['an API key', 'someone', 'ok', apiKey, someoneElse],
    ['a signed-in user', 'themselves', 'ok', sessionUser, self],
    ['a signed-in user', 'someone else', ErrorCode.FORBIDDEN, sessionUser, someoneElse],
  ])('%s deleting %s: %s', (_label, _whom, expected, principal, userId) => {
    expect(outcome(() => authorizeUserDeletion(principal, userId))).toBe(expected);
  });
});

describe('sessionRefusalHint', () => {
  it('points a signed-in user refused addMember to inviteMember', () => {
    expect(sessionRefusalHint('Mutation.addMember')).toMatch(/\binviteMember\b/);
  });

  it('has nothing to say for other operations, nor for inherited property names', () => {
    for (const operation of ['Mutation.createSession', 'Mutation.createUser', 'Query.users', 'constructor', '__proto__', 'toString']) {
      expect(sessionRefusalHint(operation)).toBeUndefined();
    }
  });
});

describe('invitations (issue 9): authorizeInvitationManagement, authorizeInvitationRevocation', () => {
  const { OWNER, ADMIN, MEMBER } = MembershipRole;
  const INVITATION = 'inv_01ARZ3NDEKTSV4RRFFQ69G5FAV';
  const writer: Principal = { kind: ViewerKind.API_KEY, apiKeyId: 'key_01ARZ3NDEKTSV4RRFFQ69G5FAV', scopes: new Set(['ORGANIZATIONS_WRITE']) };

  it.each([OWNER, ADMIN, MEMBER])('lets the admin and an API key invite or revoke a %s without being members', (role) => {
    for (const principal of [admin, writer]) {
      expect(outcome(() => authorizeInvitationManagement(principal, null, ORGANIZATION, role))).toBe('ok');
      expect(outcome(() => authorizeInvitationRevocation(principal, null, INVITATION, role))).toBe('ok');
    }
  });

  it.each<[MembershipRole | null, MembershipRole, string]>([
    // caller role, invited role, outcome
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
  ])('a session user whose role is %s inviting, or revoking the invitation of, a %s: %s', (callerRole, role, expected) => {
    expect(outcome(() => authorizeInvitationManagement(sessionUser, callerRole, ORGANIZATION, role))).toBe(expected);
    expect(outcome(() => authorizeInvitationRevocation(sessionUser, callerRole, INVITATION, role))).toBe(expected);
  });

  it('answers a non-member as if the thing asked about did not exist: the organization when inviting, the invitation when revoking', () => {
    const thrown = (run: () => void) => {
      try {
        run();
      } catch (error) {
        return (error as AppError).message;
      }
      throw new Error('expected NOT_FOUND');
    };
    expect(thrown(() => authorizeInvitationManagement(sessionUser, null, ORGANIZATION, MEMBER))).toBe(
      AppError.notFound('Organization', ORGANIZATION).message,
    );
    expect(thrown(() => authorizeInvitationRevocation(sessionUser, null, INVITATION, MEMBER))).toBe(
      AppError.notFound('Invitation', INVITATION).message,
    );
  });
});

describe('invitations (issue 9): authorizeInvitationResponse (accept, decline)', () => {
  const INVITATION = 'inv_01ARZ3NDEKTSV4RRFFQ69G5FAV';
  const key = 'jürgen@xn--mnchen-3ya.example';
  const apiKey: Principal = { kind: ViewerKind.API_KEY, apiKeyId: 'key_01ARZ3NDEKTSV4RRFFQ69G5FAV', scopes: new Set(['ORGANIZATIONS_WRITE']) };

  it.each<[string, Principal, string | null, string]>([
    ['the invitee (same canonical key)', sessionUser, key, 'ok'],
    ['a signed-in user with another key', sessionUser, 'someone@example.com', ErrorCode.NOT_FOUND],
    ['a signed-in user whose key is unknown', sessionUser, null, ErrorCode.NOT_FOUND],
    ['the admin', admin, key, ErrorCode.NOT_FOUND],
    ['an API key', apiKey, key, ErrorCode.NOT_FOUND],
  ])('%s: %s', (_label, principal, callerKey, expected) => {
    expect(outcome(() => authorizeInvitationResponse(principal, callerKey, INVITATION, key))).toBe(expected);
  });

  it('compares keys exactly (canonicalization happens before, in src/identity/canonical.ts)', () => {
    expect(outcome(() => authorizeInvitationResponse(sessionUser, key.toUpperCase(), INVITATION, key))).toBe(ErrorCode.NOT_FOUND);
  });
});

describe('invitations (issue 9): canListInvitations, canSeeInvitationEmail', () => {
  const { OWNER, ADMIN, MEMBER } = MembershipRole;
  const keyWith = (...scopes: string[]): Principal => ({ kind: ViewerKind.API_KEY, apiKeyId: 'key_01ARZ3NDEKTSV4RRFFQ69G5FAV', scopes: new Set(scopes) });

  it.each<[string, Principal, MembershipRole | null, boolean, boolean]>([
    // caller, role in the organization, may list, sees the email
    ['the admin', admin, null, true, true],
    ['a key with ORGANIZATIONS_READ', keyWith('ORGANIZATIONS_READ'), null, true, false],
    ['a key with every other scope', keyWith('ORGANIZATIONS_WRITE', 'ORGANIZATIONS_DELETE', 'USERS_READ', 'USERS_WRITE', 'USERS_DELETE', 'SESSIONS_WRITE'), null, false, false],
    ['an OWNER', sessionUser, OWNER, true, true],
    ['an ADMIN', sessionUser, ADMIN, true, true],
    ['a MEMBER', sessionUser, MEMBER, false, false],
    ['a non-member (the invitee, for one)', sessionUser, null, false, false],
  ])('%s (role %s): lists %s, sees the email %s', (_label, principal, role, lists, seesEmail) => {
    expect(canListInvitations(principal, role)).toBe(lists);
    expect(canSeeInvitationEmail(principal, role)).toBe(seesEmail);
  });
});

describe('issue 12, find and change: authorizeUserUpdate', () => {
  const self = sessionUser.kind === ViewerKind.SESSION ? sessionUser.userId : '';
  const someoneElse = 'usr_01BX5ZZKBKACTAV9WEVGEMMVRZ';
  const writer: Principal = { kind: ViewerKind.API_KEY, apiKeyId: 'key_01ARZ3NDEKTSV4RRFFQ69G5FAV', scopes: new Set(['USERS_WRITE']) };
  const nameOnly = { email: false, externalId: false };

  it.each<[string, string, Principal, string, { email: boolean; externalId: boolean }]>([
    ['the admin, any field of anyone', 'ok', admin, someoneElse, { email: true, externalId: true }],
    ['a USERS_WRITE key, any field of anyone', 'ok', writer, someoneElse, { email: true, externalId: true }],
    ['a signed-in user, their own name', 'ok', sessionUser, self, nameOnly],
    ['a signed-in user, their own email', ErrorCode.FORBIDDEN, sessionUser, self, { email: true, externalId: false }],
    ['a signed-in user, their own externalId', ErrorCode.FORBIDDEN, sessionUser, self, { email: false, externalId: true }],
    ["a signed-in user, someone else's name", ErrorCode.FORBIDDEN, sessionUser, someoneElse, nameOnly],
  ])('%s: %s', (_label, expected, principal, userId, changes) => {
    expect(outcome(() => authorizeUserUpdate(principal, userId, changes))).toBe(expected);
  });
});

describe('issue 12, find and change: authorizeOrganizationUpdate, addsVerifiedDomains, authorizeDomainRemoval', () => {
  const { OWNER, ADMIN, MEMBER } = MembershipRole;
  const writer: Principal = { kind: ViewerKind.API_KEY, apiKeyId: 'key_01ARZ3NDEKTSV4RRFFQ69G5FAV', scopes: new Set(['ORGANIZATIONS_WRITE']) };

  it.each<[string, string, Principal, MembershipRole | null]>([
    ['the admin (not a member)', 'ok', admin, null],
    ['an ORGANIZATIONS_WRITE key (not a member)', 'ok', writer, null],
    ['an OWNER', 'ok', sessionUser, OWNER],
    ['an ADMIN', 'ok', sessionUser, ADMIN],
    ['a MEMBER', ErrorCode.FORBIDDEN, sessionUser, MEMBER],
    ['a non-member (told nothing)', ErrorCode.NOT_FOUND, sessionUser, null],
  ])('changing the organization or its domains, %s: %s', (_label, expected, principal, role) => {
    expect(outcome(() => authorizeOrganizationUpdate(principal, role, ORGANIZATION))).toBe(expected);
  });

  it('adds verified domains for the admin and keys, unverified claims for signed-in users (issue 9)', () => {
    expect([admin, writer, sessionUser].map(addsVerifiedDomains)).toEqual([true, true, false]);
  });

  it.each<[string, string, Principal, boolean]>([
    ['the admin, a verified domain', 'ok', admin, true],
    ['a key, a verified domain', 'ok', writer, true],
    ['an OWNER or ADMIN, an unverified claim', 'ok', sessionUser, false],
    ['an OWNER or ADMIN, a verified domain', ErrorCode.FORBIDDEN, sessionUser, true],
  ])('removing a domain, %s: %s', (_label, expected, principal, verified) => {
    expect(outcome(() => authorizeDomainRemoval(principal, verified))).toBe(expected);
  });
});

describe('issue 12, offboarding: authorizeUserSessionsTermination', () => {
  const self = sessionUser.kind === ViewerKind.SESSION ? sessionUser.userId : '';
  const someoneElse = 'usr_01BX5ZZKBKACTAV9WEVGEMMVRZ';
  const sessionsKey: Principal = { kind: ViewerKind.API_KEY, apiKeyId: 'key_01ARZ3NDEKTSV4RRFFQ69G5FAV', scopes: new Set(['SESSIONS_WRITE']) };

  it.each<[string, string, Principal, string]>([
    ['the admin, anyone', 'ok', admin, someoneElse],
    ['a SESSIONS_WRITE key, anyone', 'ok', sessionsKey, someoneElse],
    ['a signed-in user, themselves', 'ok', sessionUser, self],
    ['a signed-in user, someone else', ErrorCode.FORBIDDEN, sessionUser, someoneElse],
  ])('%s: %s', (_label, expected, principal, userId) => {
    expect(outcome(() => authorizeUserSessionsTermination(principal, userId))).toBe(expected);
  });
});

describe("issue 13 review: canReadReceiptLists, authorizeReceiptLists (a deletion receipt's lists)", () => {
  const key = (...scopes: string[]): Principal => ({ kind: ViewerKind.API_KEY, apiKeyId: 'key_01ARZ3NDEKTSV4RRFFQ69G5FAV', scopes: new Set(scopes) });
  const { USER, ORGANIZATION } = DeletionKind;

  it.each<[string, Principal, DeletionKind, boolean]>([
    ['the admin, a USER receipt', admin, USER, true],
    ['the admin, an ORGANIZATION receipt', admin, ORGANIZATION, true],
    ['a USERS_DELETE key, a USER receipt', key('USERS_DELETE'), USER, true],
    // The defect: it could list an organization deletion's retained users, live accounts it may then delete.
    ['a USERS_DELETE key, an ORGANIZATION receipt', key('USERS_DELETE'), ORGANIZATION, false],
    ['an ORGANIZATIONS_DELETE key, an ORGANIZATION receipt', key('ORGANIZATIONS_DELETE'), ORGANIZATION, true],
    ['an ORGANIZATIONS_DELETE key, a USER receipt', key('ORGANIZATIONS_DELETE'), USER, false],
    ['a key with both, a USER receipt', key('USERS_DELETE', 'ORGANIZATIONS_DELETE'), USER, true],
    ['a key with both, an ORGANIZATION receipt', key('USERS_DELETE', 'ORGANIZATIONS_DELETE'), ORGANIZATION, true],
    ['a USERS_READ and ORGANIZATIONS_WRITE key, an ORGANIZATION receipt', key('USERS_READ', 'ORGANIZATIONS_WRITE'), ORGANIZATION, false],
    ['a key without scopes, a USER receipt', key(), USER, false],
    ['a signed-in user, a USER receipt', sessionUser, USER, false],
    ['a signed-in user, an ORGANIZATION receipt', sessionUser, ORGANIZATION, false],
  ])('%s', (_label, principal, kind, allowed) => {
    expect(canReadReceiptLists(principal, kind)).toBe(allowed);
    expect(outcome(() => authorizeReceiptLists(principal, kind))).toBe(allowed ? 'ok' : ErrorCode.FORBIDDEN);
  });

  it("names the scope the receipt's kind needs in its FORBIDDEN", () => {
    expect(() => authorizeReceiptLists(key('USERS_DELETE'), ORGANIZATION)).toThrow(/ORGANIZATIONS_DELETE/);
    expect(() => authorizeReceiptLists(key('ORGANIZATIONS_DELETE'), USER)).toThrow(/USERS_DELETE/);
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
  // Issue 9: verification is a statement the platform admin or a provisioning key makes.
  'Mutation.verifyOrganizationDomain': ['ADMIN', 'ORGANIZATIONS_WRITE'],
  'Mutation.createUser': ['ADMIN', 'USERS_WRITE'],
  // Issue 9: provisioning only; signed-in users invite (FORBIDDEN names inviteMember).
  'Mutation.addMember': ['ADMIN', 'ORGANIZATIONS_WRITE'],
  'Mutation.removeMember': ['ADMIN', 'SESSION', 'ORGANIZATIONS_WRITE'],
  // Issue 9: OWNER any change, ADMIN between ADMIN and MEMBER (src/auth/access.ts).
  'Mutation.updateMemberRole': ['ADMIN', 'SESSION', 'ORGANIZATIONS_WRITE'],
  // Issue 9, credentials cannot grow: the app's backend only; keys keep SESSIONS_WRITE for ending sessions.
  'Mutation.createSession': ['ADMIN'],
  'Mutation.terminateSession': ['ADMIN', 'SESSION', 'SESSIONS_WRITE'],
  // Deletion (issue 3): an OWNER may delete their organization. deleteUser: the admin, a key with
  // USERS_DELETE, or (issue 9, self-service erasure) a signed-in user for their own account only.
  'Mutation.deleteUser': ['ADMIN', 'SESSION', 'USERS_DELETE'],
  'Mutation.deleteOrganization': ['ADMIN', 'SESSION', 'ORGANIZATIONS_DELETE'],
  // Issue 15: the same callers as deleteOrganization; a job is read by those who may schedule one, and by the
  // signed-in user who scheduled it (src/auth/access.ts canReadDeletionJob).
  'Mutation.scheduleOrganizationDeletion': ['ADMIN', 'SESSION', 'ORGANIZATIONS_DELETE'],
  'Query.deletionJob': ['ADMIN', 'SESSION', 'ORGANIZATIONS_DELETE'],
  // Invitations (issue 9): OWNERs and ADMINs invite and revoke (src/auth/access.ts); only the invitee, signed in, answers.
  'Mutation.inviteMember': ['ADMIN', 'SESSION', 'ORGANIZATIONS_WRITE'],
  'Mutation.revokeInvitation': ['ADMIN', 'SESSION', 'ORGANIZATIONS_WRITE'],
  'Mutation.acceptInvitation': ['SESSION'],
  'Mutation.declineInvitation': ['SESSION'],
  // A partner that timed out may learn from the receipt whether its deletion went through.
  'Query.deletionReceipt': ['ADMIN', 'USERS_DELETE', 'ORGANIZATIONS_DELETE'],
  // Issue 12: partners poll the outbox with the trusted Events operation.
  'Query.events': ['ADMIN', 'EVENTS_READ'],
  // Webhook endpoints (issue 12): the admin (all of them) and WEBHOOKS_WRITE keys (their own; another
  // key's is NOT_FOUND or null, test/webhook-endpoints.test.ts). Not for signed-in users.
  'Query.webhookEndpoints': ['ADMIN', 'WEBHOOKS_WRITE'],
  'Query.webhookEndpoint': ['ADMIN', 'WEBHOOKS_WRITE'],
  'Mutation.createWebhookEndpoint': ['ADMIN', 'WEBHOOKS_WRITE'],
  'Mutation.updateWebhookEndpoint': ['ADMIN', 'WEBHOOKS_WRITE'],
  'Mutation.rotateWebhookSecret': ['ADMIN', 'WEBHOOKS_WRITE'],
  'Mutation.deleteWebhookEndpoint': ['ADMIN', 'WEBHOOKS_WRITE'],
  'Mutation.replayWebhookEvents': ['ADMIN', 'WEBHOOKS_WRITE'],
  // Issue 12, find and change: filters keep each query's access; a signed-in user changes only their own name
  // (authorizeUserUpdate), OWNERs and ADMINs their organization and its domains (authorizeOrganizationUpdate).
  'Mutation.updateUser': ['ADMIN', 'SESSION', 'USERS_WRITE'],
  'Mutation.updateOrganization': ['ADMIN', 'SESSION', 'ORGANIZATIONS_WRITE'],
  'Mutation.addOrganizationDomain': ['ADMIN', 'SESSION', 'ORGANIZATIONS_WRITE'],
  'Mutation.removeOrganizationDomain': ['ADMIN', 'SESSION', 'ORGANIZATIONS_WRITE'],
  // Issue 12, offboarding: sign a user out everywhere; a signed-in user only themselves.
  'Mutation.terminateUserSessions': ['ADMIN', 'SESSION', 'SESSIONS_WRITE'],
  // Partner API keys (issue 4): admin only.
  'Query.apiKeys': ['ADMIN'],
  'Mutation.createApiKey': ['ADMIN'],
  'Mutation.revokeApiKey': ['ADMIN'],
};

describe('issue 12, webhooks: endpointOwnerOf (whose endpoints a caller sees and changes)', () => {
  it('gives the admin every endpoint, a key its own, and refuses a signed-in user', () => {
    const key: Principal = { kind: ViewerKind.API_KEY, apiKeyId: 'key_01ARZ3NDEKTSV4RRFFQ69G5FAV', scopes: new Set(['WEBHOOKS_WRITE']) };
    expect(endpointOwnerOf(admin)).toBeNull();
    expect(endpointOwnerOf(key)).toBe('key_01ARZ3NDEKTSV4RRFFQ69G5FAV');
    expect(outcome(() => endpointOwnerOf(sessionUser))).toBe(ErrorCode.FORBIDDEN);
  });
});

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
