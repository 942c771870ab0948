import { randomBytes } from 'node:crypto';
import {
  DeleteOrganizationDocument,
  InviteMemberDocument,
  RevokeInvitationDocument,
  ViewerDocument,
  type MembershipRole,
} from '../src/generated/graphql';
import { startTestApp, type GraphQLResponse, type TestApp } from './support/app';
import { soon } from './support/races';
import { errorCode, factory, invariantViolations, ok } from './support/factory';

/**
 * Issue 9, "Consent: invitations": an invitation is accepted at most once, even under
 * concurrency, and an acceptance never leaves an orphan membership. Each scenario runs
 * ROUNDS rounds of real parallel HTTP requests on fresh rows; every outcome a round may
 * have is listed and checked against the database, and the invariants below hold after
 * every round. Any other error code (a surfaced deadlock would be INTERNAL_SERVER_ERROR)
 * fails the round.
 */
const ROUNDS = 20;

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app.close());

const ACCEPT = `mutation AcceptInvitation($id: ID!) { acceptInvitation(id: $id) { id role organization { id } user { id } } }`;
interface AcceptResult {
  acceptInvitation: { id: string; role: MembershipRole; organization: { id: string }; user: { id: string } };
}

/**
 * Invitation rules on top of the general invariants (test/support/factory.ts): an ACCEPTED
 * invitation has its membership; an invitation that was not accepted has none beside it;
 * a person is a member of an organization once and accepts its invitation once.
 */
const INVITATION_VIOLATIONS = `
  WITH member_keys AS (
    SELECT m.organization_id, u.email_key FROM memberships m JOIN users u ON u.id = m.user_id
  )
  SELECT 'accepted invitation without its membership' AS problem, i.id FROM invitations i
   WHERE i.status = 'ACCEPTED'
     AND NOT EXISTS (SELECT 1 FROM member_keys k WHERE k.organization_id = i.organization_id AND k.email_key = i.email_key)
  UNION ALL
  SELECT 'membership beside an invitation that was not accepted', i.id FROM invitations i
   WHERE i.status <> 'ACCEPTED'
     AND EXISTS (SELECT 1 FROM member_keys k WHERE k.organization_id = i.organization_id AND k.email_key = i.email_key)
  UNION ALL
  SELECT 'two memberships of one person in one organization', min(m.id) FROM memberships m
   GROUP BY m.organization_id, m.user_id HAVING count(*) > 1
  UNION ALL
  SELECT 'two accepted invitations of one person to one organization', min(i.id) FROM invitations i
   WHERE i.status = 'ACCEPTED' GROUP BY i.organization_id, i.email_key HAVING count(*) > 1
  UNION ALL
  SELECT 'invitation of a missing organization', i.id FROM invitations i
   WHERE NOT EXISTS (SELECT 1 FROM organizations o WHERE o.id = i.organization_id)`;

async function expectInvariants() {
  expect(await invariantViolations(app)).toEqual([]);
  expect(await app.sql(INVITATION_VIOLATIONS)).toEqual([]);
}

const accept = (token: string, id: string) => app.gql<AcceptResult, { id: string }>(ACCEPT, { id }, { token });
const revoke = (token: string, id: string) => app.gql(RevokeInvitationDocument, { id }, { token });

/** A fresh organization with a signed-in OWNER, and a signed-in person (in no organization) invited to it. */
async function invitedPerson() {
  const f = factory(app);
  const organization = await f.organization();
  const owner = await f.signedInMember(organization.id, 'OWNER');
  const person = await f.user({ email: `racer-${randomBytes(4).toString('hex')}@example.com` });
  const { token } = await f.session(person.id);
  const invitation = ok(
    await app.gql(InviteMemberDocument, { input: { organizationId: organization.id, email: person.email } }, { token: owner.token }),
  ).inviteMember;
  return { f, organization, owner, person, token, invitation };
}

async function invitationStatus(id: string): Promise<string | undefined> {
  const [row] = await app.sql<{ status: string }>(`SELECT status FROM invitations WHERE id = $1`, [id]);
  return row?.status;
}

async function membershipsOf(userId: string) {
  return app.sql<{ id: string; organization_id: string }>(
    `SELECT id, organization_id FROM memberships WHERE user_id = $1 ORDER BY organization_id`,
    [userId],
  );
}

async function invitationEvents(id: string): Promise<string[]> {
  const rows = await app.sql<{ type: string }>(`SELECT type FROM events WHERE data->>'invitationId' = $1 ORDER BY position`, [id]);
  return rows.map((row) => row.type);
}

const succeeded = (response: GraphQLResponse<unknown>) => response.errors === undefined && response.data != null;

it('acceptInvitation racing revokeInvitation: exactly one wins, ACCEPTED with its membership or REVOKED with none', async () => {
  const outcomes = { accepted: 0, revoked: 0 };
  for (let round = 0; round < ROUNDS; round += 1) {
    const { organization, owner, person, token, invitation } = await invitedPerson();
    // The OWNER revokes in even rounds, the platform admin in odd ones.
    const revoker = round % 2 === 0 ? owner.token : app.adminKey;

    const [accepted, revoked] = await Promise.all([soon(() => accept(token, invitation.id)), soon(() => revoke(revoker, invitation.id))]);

    if (succeeded(accepted)) {
      outcomes.accepted += 1;
      expect(errorCode(revoked)).toBe('CONFLICT');
      const membership = ok(accepted).acceptInvitation;
      expect(await invitationStatus(invitation.id)).toBe('ACCEPTED');
      expect(await membershipsOf(person.id)).toEqual([{ id: membership.id, organization_id: organization.id }]);
      expect(await invitationEvents(invitation.id)).toEqual(['invitation.created', 'invitation.accepted']);
    } else {
      outcomes.revoked += 1;
      expect(errorCode(accepted)).toBe('CONFLICT');
      expect(ok(revoked).revokeInvitation.status).toBe('REVOKED');
      expect(await invitationStatus(invitation.id)).toBe('REVOKED');
      expect(await membershipsOf(person.id)).toEqual([]);
      expect(await invitationEvents(invitation.id)).toEqual(['invitation.created', 'invitation.revoked']);
    }
    await expectInvariants();
  }
  expect(outcomes.accepted + outcomes.revoked).toBe(ROUNDS);
});

it('acceptInvitation twice at once (two sessions of the invitee): one membership, one success, the other CONFLICT', async () => {
  for (let round = 0; round < ROUNDS; round += 1) {
    const { f, organization, person, token, invitation } = await invitedPerson();
    const { token: otherToken } = await f.session(person.id);

    const responses = await Promise.all([soon(() => accept(token, invitation.id)), soon(() => accept(otherToken, invitation.id))]);

    const winners = responses.filter(succeeded);
    expect(winners).toHaveLength(1);
    expect(responses.filter((response) => !succeeded(response)).map(errorCode)).toEqual(['CONFLICT']);
    const membership = ok(winners[0]).acceptInvitation;
    expect(membership).toMatchObject({ role: 'MEMBER', organization: { id: organization.id }, user: { id: person.id } });
    expect(await membershipsOf(person.id)).toEqual([{ id: membership.id, organization_id: organization.id }]);
    expect(await invitationStatus(invitation.id)).toBe('ACCEPTED');
    expect(await invitationEvents(invitation.id)).toEqual(['invitation.created', 'invitation.accepted']);
    await expectInvariants();
  }
});

it('acceptInvitation racing deleteOrganization: no orphan membership, and the invitee is touched only if they had joined', async () => {
  const outcomes = { joinedThenRemoved: 0, refused: 0 };
  for (let round = 0; round < ROUNDS; round += 1) {
    const { f, organization, owner, person, token, invitation } = await invitedPerson();
    const { session: secondSession } = await f.session(person.id);
    // Even rounds: the invitee also belongs to another organization, so a deletion that reaches them keeps their account.
    const elsewhere = round % 2 === 0 ? await f.organization() : null;
    if (elsewhere) await f.member(elsewhere.id, person.id, 'MEMBER');

    const [accepted, deleted] = await Promise.all([
      soon(() => accept(token, invitation.id)),
      soon(() => app.gql(DeleteOrganizationDocument, { id: organization.id }, { token: owner.token })),
    ]);
    // Nothing else deletes the organization, so its deletion always goes through.
    const deletion = ok(deleted).deleteOrganization;
    const personRemoved = deletion.removedMemberships.nodes.filter((m) => m.userId === person.id);
    const sessions = await app.sql<{ id: string; terminated_at: Date | null; termination_reason: string | null }>(
      `SELECT id, terminated_at, termination_reason FROM sessions WHERE user_id = $1 ORDER BY id`,
      [person.id],
    );
    const exists = (await app.sql(`SELECT id FROM users WHERE id = $1`, [person.id])).length === 1;

    if (succeeded(accepted)) {
      outcomes.joinedThenRemoved += 1;
      // The acceptance committed first: they had joined, so the deletion treats them as the member they became.
      const membership = ok(accepted).acceptInvitation;
      expect(personRemoved.map((m) => m.id)).toEqual([membership.id]);
      if (elsewhere) {
        expect(deletion.retainedUsers.nodes.map((r) => r.id)).toContain(person.id);
        expect(exists).toBe(true);
        expect(await membershipsOf(person.id)).toEqual([expect.objectContaining({ organization_id: elsewhere.id })]);
        expect(sessions).toHaveLength(2);
        expect(sessions.every((s) => s.terminated_at !== null && s.termination_reason === 'organization_deleted')).toBe(true);
      } else {
        // Their only organization: the seed's cascade deletes the account with its sessions.
        expect(deletion.cascadedUsers.nodes.map((u) => u.id)).toContain(person.id);
        expect(exists).toBe(false);
        expect(sessions).toEqual([]);
      }
      const next = await app.gql(ViewerDocument, {}, { token });
      expect(next.status).toBe(401);
    } else {
      outcomes.refused += 1;
      // The deletion committed first: the invitation went with the organization, and the invitee never joined.
      expect(errorCode(accepted)).toBe('NOT_FOUND');
      expect(personRemoved).toEqual([]);
      expect(deletion.retainedUsers.nodes.map((r) => r.id)).not.toContain(person.id);
      expect(deletion.cascadedUsers.nodes.map((u) => u.id)).not.toContain(person.id);
      expect(exists).toBe(true);
      expect(await membershipsOf(person.id)).toEqual(elsewhere ? [expect.objectContaining({ organization_id: elsewhere.id })] : []);
      // Not one of their sessions ended.
      expect(sessions.map((s) => [s.terminated_at, s.termination_reason])).toEqual([
        [null, null],
        [null, null],
      ]);
      expect(sessions.map((s) => s.id)).toContain(secondSession.id);
      expect(ok(await app.gql(ViewerDocument, {}, { token })).viewer.user?.id).toBe(person.id);
    }
    // No orphan: nothing of the organization is left.
    expect(await app.sql(`SELECT id FROM memberships WHERE organization_id = $1`, [organization.id])).toEqual([]);
    expect(await app.sql(`SELECT id FROM invitations WHERE organization_id = $1`, [organization.id])).toEqual([]);
    await expectInvariants();
  }
  expect(outcomes.joinedThenRemoved + outcomes.refused).toBe(ROUNDS);
});
