/**
 * Issue 9, the property behind "Consent: invitations": whatever a signed-in user does, no
 * account of a person who did not accept membership of an organization that user owns is
 * deleted, and none of that person's sessions ends.
 *
 * fast-check plays an attacker who controls two accounts (the OWNER of an organization and
 * an accomplice who is ADMIN there) and knows everything about a victim: their user ID,
 * their email (under several spellings), their session IDs, the IDs of the organizations
 * they belong to and of their memberships. The victim belongs to zero, one or two other
 * organizations (owned by somebody else) and never accepts anything. Every mutation a
 * session may send is drawn, with arguments drawn from those pools, in sequences of up to
 * 15 calls. After each sequence the victim's account, memberships and sessions are exactly
 * as they were, and the data invariants hold.
 */
import fc from 'fast-check';
import { startTestApp, type TestApp } from './support/app';
import { factory, invariantViolations, ok } from './support/factory';

const RUNS = Math.max(100, Number(process.env.FUZZ_RUNS) || 0);

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app?.close());

const MUTATIONS = {
  createOrganization: `mutation P($name: String!) { createOrganization(input: { name: $name }) { id } }`,
  addMember: `mutation P($organizationId: ID!, $userId: ID!, $role: MembershipRole) {
    addMember(input: { organizationId: $organizationId, userId: $userId, role: $role }) { id } }`,
  inviteMember: `mutation P($organizationId: ID!, $email: String!, $role: MembershipRole) {
    inviteMember(input: { organizationId: $organizationId, email: $email, role: $role }) { id } }`,
  acceptInvitation: `mutation P($id: ID!) { acceptInvitation(id: $id) { id } }`,
  declineInvitation: `mutation P($id: ID!) { declineInvitation(id: $id) { id } }`,
  revokeInvitation: `mutation P($id: ID!) { revokeInvitation(id: $id) { id } }`,
  updateMemberRole: `mutation P($organizationId: ID!, $userId: ID!, $role: MembershipRole!) {
    updateMemberRole(input: { organizationId: $organizationId, userId: $userId, role: $role }) { id } }`,
  removeMember: `mutation P($organizationId: ID!, $userId: ID!) {
    removeMember(organizationId: $organizationId, userId: $userId) { id } }`,
  deleteOrganization: `mutation P($id: ID!, $dryRun: Boolean) { deleteOrganization(id: $id, dryRun: $dryRun) { dryRun } }`,
  deleteUser: `mutation P($id: ID!, $dryRun: Boolean) { deleteUser(id: $id, dryRun: $dryRun) { dryRun } }`,
  terminateSession: `mutation P($id: ID!) { terminateSession(id: $id) { id } }`,
  createSession: `mutation P($userId: ID!, $organizationId: ID) {
    createSession(input: { userId: $userId, organizationId: $organizationId }) { token } }`,
} as const;
type MutationName = keyof typeof MUTATIONS;

/** One victim and the attacker's two accounts, fresh for every run. */
interface Scene {
  victim: { id: string; email: string; sessionIds: string[]; organizationIds: string[]; membershipIds: string[] };
  attacker: { id: string; token: string; organizationId: string };
  accomplice: { id: string; token: string };
  /** Grows as the attacker creates organizations and invitations. */
  organizationIds: string[];
  invitationIds: string[];
}

async function buildScene(otherOrganizations: number): Promise<Scene> {
  const f = factory(app);
  const victimUser = await f.user({ email: `Jürgen.${Math.random().toString(36).slice(2, 8)}@münchen.example` });
  const organizationIds: string[] = [];
  const membershipIds: string[] = [];
  for (let i = 0; i < otherOrganizations; i += 1) {
    const organization = await f.organization();
    await f.signedInMember(organization.id, 'OWNER'); // somebody else owns it
    membershipIds.push((await f.member(organization.id, victimUser.id, i === 0 ? 'ADMIN' : 'MEMBER')).id);
    organizationIds.push(organization.id);
  }
  const sessionIds = [(await f.session(victimUser.id)).session.id];
  for (const organizationId of organizationIds) sessionIds.push((await f.session(victimUser.id, organizationId)).session.id);

  const attackerOrganization = await f.organization();
  const attacker = await f.signedInMember(attackerOrganization.id, 'OWNER');
  const accomplice = await f.signedInMember(attackerOrganization.id, 'ADMIN');
  return {
    victim: { id: victimUser.id, email: victimUser.email, sessionIds, organizationIds, membershipIds },
    attacker: { id: attacker.user.id, token: attacker.token, organizationId: attackerOrganization.id },
    accomplice: { id: accomplice.user.id, token: accomplice.token },
    organizationIds: [attackerOrganization.id, ...organizationIds],
    invitationIds: [],
  };
}

/** A reference into one of the scene's pools, resolved when the call is made. */
type Pick = { pool: 'organization' | 'user' | 'session' | 'invitation' | 'email'; index: number };
const pick = (pool: Pick['pool']) => fc.record({ pool: fc.constant(pool), index: fc.nat(20) });

interface Call {
  mutation: MutationName;
  as: 'attacker' | 'accomplice';
  args: Record<string, Pick | string | boolean | null>;
}

const role = fc.constantFrom('OWNER', 'ADMIN', 'MEMBER');
const ARGS: Record<MutationName, fc.Arbitrary<Call['args']>> = {
  createOrganization: fc.record({ name: fc.constantFrom('Trap', 'Acme') }),
  addMember: fc.record({ organizationId: pick('organization'), userId: pick('user'), role }),
  inviteMember: fc.record({ organizationId: pick('organization'), email: pick('email'), role }),
  acceptInvitation: fc.record({ id: pick('invitation') }),
  declineInvitation: fc.record({ id: pick('invitation') }),
  revokeInvitation: fc.record({ id: pick('invitation') }),
  updateMemberRole: fc.record({ organizationId: pick('organization'), userId: pick('user'), role }),
  removeMember: fc.record({ organizationId: pick('organization'), userId: pick('user') }),
  deleteOrganization: fc.record({ id: pick('organization'), dryRun: fc.boolean() }),
  deleteUser: fc.record({ id: pick('user'), dryRun: fc.boolean() }),
  terminateSession: fc.record({ id: pick('session') }),
  createSession: fc.record({ userId: pick('user'), organizationId: fc.option(pick('organization'), { nil: null }) }),
};
const call: fc.Arbitrary<Call> = fc.oneof(
  ...(Object.keys(ARGS) as MutationName[]).map((mutation) =>
    fc.record({ mutation: fc.constant(mutation), as: fc.constantFrom('attacker', 'accomplice'), args: ARGS[mutation] }),
  ),
);

/**
 * A sequence in which each of the attacker's destructive calls succeeds once: the pools are
 * [attacker's organization, the victim's other organization, the one created here] and
 * users [victim, victim, attacker, accomplice] (resolve()).
 */
const ATTACKER_EXAMPLE: Call[] = [
  { mutation: 'inviteMember', as: 'attacker', args: { organizationId: { pool: 'organization', index: 0 }, email: { pool: 'email', index: 0 }, role: 'MEMBER' } },
  { mutation: 'revokeInvitation', as: 'attacker', args: { id: { pool: 'invitation', index: 0 } } },
  { mutation: 'createOrganization', as: 'attacker', args: { name: 'Trap' } },
  { mutation: 'updateMemberRole', as: 'attacker', args: { organizationId: { pool: 'organization', index: 0 }, userId: { pool: 'user', index: 3 }, role: 'MEMBER' } },
  { mutation: 'deleteOrganization', as: 'attacker', args: { id: { pool: 'organization', index: 2 }, dryRun: false } },
];

/** The victim's address as an attacker might spell it: as stored, upper-cased, decomposed, as an A-label. */
function emailSpellings(email: string): string[] {
  const [local, domain] = email.split('@');
  return [email, email.toUpperCase(), email.normalize('NFD'), `${local}@xn--mnchen-3ya.example`, `${local.toLowerCase()}@MÜNCHEN.example`];
}

function resolve(scene: Scene, value: Pick | string | boolean | null): string | boolean | null {
  if (value === null || typeof value !== 'object') return value;
  const from = (pool: string[]) => pool[value.index % pool.length];
  switch (value.pool) {
    case 'organization':
      return from(scene.organizationIds);
    case 'user':
      return from([scene.victim.id, scene.victim.id, scene.attacker.id, scene.accomplice.id]);
    case 'session':
      return from(scene.victim.sessionIds);
    case 'invitation':
      return scene.invitationIds.length ? from(scene.invitationIds) : 'inv_01ARZ3NDEKTSV4RRFFQ69G5FAV';
    case 'email':
      return from(emailSpellings(scene.victim.email));
  }
}

/** The victim's rows that must come through untouched. */
async function victimState(scene: Scene) {
  const [state] = await app.sql<{ account: string | null; memberships: string[]; sessions: string[] }>(
    `SELECT (SELECT row_to_json(u)::text FROM users u WHERE u.id = $1) AS account,
            (SELECT coalesce(json_agg(m.id || ':' || m.organization_id || ':' || m.role ORDER BY m.id), '[]')
               FROM memberships m WHERE m.user_id = $1) AS memberships,
            (SELECT coalesce(json_agg(s.id || ':' || (s.terminated_at IS NULL) ORDER BY s.id), '[]')
               FROM sessions s WHERE s.user_id = $1) AS sessions`,
    [scene.victim.id],
  );
  return state;
}

it(
  'no sequence of session calls deletes, or signs out, a person who accepted nothing',
  async () => {
    let runs = 0;
    const succeeded = new Map<MutationName, number>();
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 2 }), fc.array(call, { minLength: 1, maxLength: 15 }), async (others, calls) => {
        runs += 1;
        const scene = await buildScene(others);
        const before = await victimState(scene);
        expect(before.sessions).toHaveLength(others + 1);
        expect((before.sessions as string[]).every((session) => session.endsWith(':true'))).toBe(true);
        for (const step of calls) {
          const variables = Object.fromEntries(Object.entries(step.args).map(([name, value]) => [name, resolve(scene, value)]));
          const token = step.as === 'attacker' ? scene.attacker.token : scene.accomplice.token;
          const response = await app.gql<Record<string, { id?: string } | null>, Record<string, unknown>>(
            MUTATIONS[step.mutation],
            variables,
            { token },
          );
          for (const error of response.errors ?? []) {
            expect(['FORBIDDEN', 'NOT_FOUND', 'BAD_USER_INPUT', 'CONFLICT', 'UNAUTHENTICATED']).toContain(error.extensions?.code);
          }
          if (response.data?.[step.mutation]) succeeded.set(step.mutation, (succeeded.get(step.mutation) ?? 0) + 1);
          const created = response.data?.[step.mutation]?.id;
          if (created && step.mutation === 'createOrganization') scene.organizationIds.push(created);
          if (created && step.mutation === 'inviteMember') scene.invitationIds.push(created);
        }
        expect(await victimState(scene)).toEqual(before);
        expect(await invariantViolations(app)).toEqual([]);
      }),
      // Besides the drawn sequences, one written out that makes every call the check below
      // expects go through (an invitation revoked, a role changed, an organization deleted):
      // drawn sequences alone let revokeInvitation succeed only 2 to 8 times in 100 runs, so
      // "not vacuous" failed by chance now and then.
      { numRuns: RUNS, examples: [[1, ATTACKER_EXAMPLE]] },
    );
    expect(runs).toBeGreaterThanOrEqual(RUNS);
    // Not vacuous: the attacker's own calls did go through, including the destructive ones.
    const expected: MutationName[] = ['createOrganization', 'inviteMember', 'revokeInvitation', 'updateMemberRole', 'deleteOrganization'];
    expect(expected.filter((mutation) => !succeeded.get(mutation))).toEqual([]);
  },
  600_000,
);

it('the property is not vacuous: the same calls by the platform admin do reach the victim', async () => {
  const scene = await buildScene(1);
  const before = await victimState(scene);
  ok(await app.gql(MUTATIONS.addMember, { organizationId: scene.attacker.organizationId, userId: scene.victim.id, role: 'MEMBER' }));
  ok(await app.gql(MUTATIONS.terminateSession, { id: scene.victim.sessionIds[0] }));
  expect(await victimState(scene)).not.toEqual(before);
});
