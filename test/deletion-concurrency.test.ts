import { Client } from 'pg';
import {
  AddMemberDocument,
  DeleteOrganizationDocument,
  DeleteUserDocument,
  GetDeletionReceiptDocument,
  RemoveMemberDocument,
  TerminateSessionDocument,
  ViewerDocument,
} from '../src/generated/graphql';
import { CreateSessionDocument } from './generated/graphql';
import { startTestApp, type TestApp } from './support/app';
import { soon } from './support/races';
import { seedMemberships, seedOrganizations, seedSessions, seedUsers } from './support/deletion-seed';
import { errorCode, factory, invariantViolations, ok, tableCounts } from './support/factory';

/**
 * Issue 3, "Correctness under concurrency and faults": each scenario runs many rounds
 * of real parallel HTTP requests (the server's pool has 10 connections), each round on
 * fresh rows seeded with SQL. Every outcome a round may have is listed and checked
 * against the database; anything else, or any error code outside the allowed ones
 * (a surfaced deadlock would be INTERNAL_SERVER_ERROR), fails the round.
 */
const ROUNDS = 20;

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app.close());

const deleteOrganization = (id: string) => soon(() => app.gql(DeleteOrganizationDocument, { id }));
const deleteUser = (id: string, maxDelayMs?: number) => soon(() => app.gql(DeleteUserDocument, { id }), maxDelayMs);

async function existingUsers(ids: string[]): Promise<string[]> {
  const rows = await app.sql<{ id: string }>(`SELECT id FROM users WHERE id = ANY($1) ORDER BY id`, [ids]);
  return rows.map((r) => r.id);
}

async function membershipsOf(userId: string): Promise<Array<{ id: string; organization_id: string }>> {
  return app.sql(`SELECT id, organization_id FROM memberships WHERE user_id = $1 ORDER BY organization_id`, [userId]);
}

async function sessionsOf(userId: string) {
  return app.sql<{ id: string; terminated_at: Date | null; termination_reason: string | null }>(
    `SELECT id, terminated_at, termination_reason FROM sessions WHERE user_id = $1 ORDER BY id`,
    [userId],
  );
}

const sorted = (ids: string[]) => [...ids].sort();

afterEach(async () => {
  // Across every round of every scenario: nothing refers to a user or organization that is gone.
  expect(await invariantViolations(app)).toEqual([]);
});

it('organizations deleted concurrently, whose members each belong to exactly two of them, leave none of those users', async () => {
  for (let round = 0; round < ROUNDS; round += 1) {
    const orgs = await seedOrganizations(app, 5);
    // One user for every pair of organizations, and a second one for neighbours in a ring.
    const pairs: Array<[number, number]> = [];
    for (let i = 0; i < orgs.length; i += 1) {
      for (let j = i + 1; j < orgs.length; j += 1) pairs.push([i, j]);
      pairs.push([i, (i + 1) % orgs.length]);
    }
    const users = await seedUsers(app, pairs.length);
    await seedMemberships(
      app,
      pairs.flatMap(([i, j], n): Array<[string, string]> => [
        [orgs[i], users[n]],
        [orgs[j], users[n]],
      ]),
    );
    await seedSessions(app, users, 2);

    const responses = await Promise.all(orgs.map((id) => deleteOrganization(id)));
    const payloads = responses.map((r) => ok(r).deleteOrganization);

    expect(await existingUsers(users)).toEqual([]);
    expect(await app.sql(`SELECT id FROM memberships WHERE user_id = ANY($1) OR organization_id = ANY($2)`, [users, orgs])).toEqual([]);
    expect(await app.sql(`SELECT id FROM sessions WHERE user_id = ANY($1)`, [users])).toEqual([]);
    expect(await app.sql(`SELECT id FROM organizations WHERE id = ANY($1)`, [orgs])).toEqual([]);
    // Each user was kept by the first of its two organizations' deletions and deleted by the second.
    expect(sorted(payloads.flatMap((p) => p.cascadedUsers.nodes.map((u) => u.id)))).toEqual(users);
    expect(sorted(payloads.flatMap((p) => p.retainedUsers.nodes.map((r) => r.id)))).toEqual(users);
    expect(payloads.reduce((sum, p) => sum + p.receipt!.cascadedUserCount, 0)).toBe(users.length);
    expect(payloads.reduce((sum, p) => sum + p.receipt!.removedMembershipCount, 0)).toBe(2 * users.length);
  }
});

it('addMember(u, C) racing deleteOrganization(A), A being u’s only organization: u ends in C or addMember answers NOT_FOUND', async () => {
  const outcomes = { joined: 0, refused: 0 };
  for (let round = 0; round < ROUNDS; round += 1) {
    const [a, c] = await seedOrganizations(app, 2);
    const [u, ownerA, ownerC] = await seedUsers(app, 3);
    await seedMemberships(app, [[a, u]]);
    await seedMemberships(app, [[a, ownerA], [c, ownerC]], 'OWNER');
    await seedSessions(app, [u], 2, a);

    const [added, deleted] = await Promise.all([
      soon(() => app.gql(AddMemberDocument, { input: { organizationId: c, userId: u, role: 'MEMBER' } })),
      deleteOrganization(a),
    ]);
    const deletion = ok(deleted).deleteOrganization;
    expect(deletion.removedMemberships.nodes.map((m) => m.userId).sort()).toEqual(sorted([u, ownerA]));
    expect(deletion.cascadedUsers.nodes.map((x) => x.id)).toContain(ownerA);

    if (added.errors === undefined) {
      outcomes.joined += 1;
      // addMember committed first: the deletion saw the new membership and kept u.
      const membership = ok(added).addMember;
      expect(deletion.retainedUsers.nodes.map((r) => r.id)).toEqual([u]);
      expect(await existingUsers([u])).toEqual([u]);
      expect(await membershipsOf(u)).toEqual([{ id: membership.id, organization_id: c }]);
      const sessions = await sessionsOf(u);
      expect(sessions).toHaveLength(2);
      expect(sessions.every((s) => s.terminated_at !== null && s.termination_reason === 'organization_deleted')).toBe(true);
    } else {
      outcomes.refused += 1;
      // The deletion committed first and took u with it: addMember finds no user.
      expect(errorCode(added)).toBe('NOT_FOUND');
      expect(deletion.cascadedUsers.nodes.map((x) => x.id).sort()).toEqual(sorted([u, ownerA]));
      expect(deletion.retainedUsers.nodes.map((r) => r.id)).toEqual([]);
      expect(await existingUsers([u])).toEqual([]);
      expect(await membershipsOf(u)).toEqual([]);
      expect(await sessionsOf(u)).toEqual([]);
    }
    // Never an orphan: every surviving user of the round still has an organization.
    expect(await existingUsers([u, ownerA, ownerC])).toEqual(expect.arrayContaining([ownerC]));
    for (const id of await existingUsers([u, ownerA, ownerC])) expect((await membershipsOf(id)).length).toBeGreaterThan(0);
  }
  expect(outcomes.joined + outcomes.refused).toBe(ROUNDS);
});


it('createSession(u) racing deleteUser(u) never leaves an ACTIVE session of a deleted user', async () => {
  for (let round = 0; round < ROUNDS; round += 1) {
    const [a] = await seedOrganizations(app, 1);
    const [u, owner] = await seedUsers(app, 2);
    await seedMemberships(app, [[a, u]]);
    await seedMemberships(app, [[a, owner]], 'OWNER');
    await seedSessions(app, [u], 1);
    // Half the rounds create the session in the organization's context (another lock path).
    const organizationId = round % 2 === 0 ? a : undefined;

    const [created, deleted] = await Promise.all([
      soon(() => app.gql(CreateSessionDocument, { input: { userId: u, organizationId } })),
      deleteUser(u),
    ]);
    const deletion = ok(deleted).deleteUser;
    const terminatedIds = deletion.terminatedSessions.nodes.map((s) => s.id);

    if (created.errors === undefined) {
      // The session was issued before the deletion, so the deletion ended it with the account.
      const { session, token } = ok(created).createSession;
      expect(terminatedIds).toContain(session.id);
      expect(terminatedIds).toHaveLength(2);
      const next = await app.gql(ViewerDocument, {}, { token });
      expect(next.status).toBe(401);
      expect(errorCode(next)).toBe('UNAUTHENTICATED');
    } else {
      expect(errorCode(created)).toBe('NOT_FOUND');
      expect(terminatedIds).toHaveLength(1);
    }
    expect(await existingUsers([u])).toEqual([]);
    expect(await sessionsOf(u)).toEqual([]);
    expect(await membershipsOf(u)).toEqual([]);
    expect(
      await app.sql(
        `SELECT id FROM sessions s WHERE terminated_at IS NULL AND NOT EXISTS (SELECT 1 FROM users WHERE id = s.user_id)`,
      ),
    ).toEqual([]);
  }
});

it('deleteUser(u) racing deleteOrganization(A), u in A: each succeeds or answers NOT_FOUND, and exactly one removes the membership', async () => {
  for (let round = 0; round < ROUNDS; round += 1) {
    const [a, b] = await seedOrganizations(app, 2);
    const [u, ownerA, ownerB] = await seedUsers(app, 3);
    // Odd rounds: u also belongs to B, so the organization deletion keeps the account.
    const alsoInB = round % 2 === 1;
    await seedMemberships(app, alsoInB ? [[a, u], [b, u]] : [[a, u]]);
    await seedMemberships(app, [[a, ownerA], [b, ownerB]], 'OWNER');
    await seedSessions(app, [u, ownerA, ownerB], 2, null);

    // deleteOrganization runs one statement more before it reaches u: in half the rounds it gets a head start.
    const headStart = round % 4 < 2 ? 12 : 4;
    const [userResponse, organizationResponse] = await Promise.all([deleteUser(u, headStart), deleteOrganization(a)]);
    for (const response of [userResponse, organizationResponse]) {
      expect([undefined, 'NOT_FOUND']).toContain(errorCode(response));
    }
    // Nothing else deletes A, so its deletion always goes through.
    const orgDeletion = ok(organizationResponse).deleteOrganization;
    const orgRemovedU = orgDeletion.removedMemberships.nodes.some((m) => m.userId === u);

    if (userResponse.errors === undefined) {
      const userDeletion = ok(userResponse).deleteUser;
      const userRemovedA = userDeletion.removedMemberships.nodes.some((m) => m.organizationId === a);
      expect(userRemovedA).toBe(!orgRemovedU);
      // If the organization went first it could only have kept u (u is in B); a cascade would make deleteUser NOT_FOUND.
      if (orgRemovedU) expect(orgDeletion.retainedUsers.nodes.map((r) => r.id)).toEqual([u]);
      expect(orgDeletion.cascadedUsers.nodes.map((x) => x.id)).toEqual([ownerA]);
      expect(ok(await app.gql(GetDeletionReceiptDocument, { subjectId: u })).deletionReceipt?.kind).toBe('USER');
    } else {
      // deleteOrganization went first and deleted u with it.
      expect(alsoInB).toBe(false);
      expect(orgDeletion.cascadedUsers.nodes.map((x) => x.id).sort()).toEqual(sorted([u, ownerA]));
      expect(ok(await app.gql(GetDeletionReceiptDocument, { subjectId: u })).deletionReceipt).toBeNull();
    }

    expect(await existingUsers([u, ownerA, ownerB])).toEqual([ownerB]);
    expect(await membershipsOf(u)).toEqual([]);
    expect(await sessionsOf(u)).toEqual([]);
    expect(await membershipsOf(ownerB)).toEqual([{ id: expect.any(String), organization_id: b }]);
    expect((await sessionsOf(ownerB)).every((s) => s.terminated_at === null)).toBe(true);
    expect(await app.sql(`SELECT id FROM organizations WHERE id = ANY($1) ORDER BY id`, [[a, b]])).toEqual([{ id: b }]);
  }
});

it('removeMember(B, u) racing deleteOrganization(A), u in A and B: a user the deletion kept still exists', async () => {
  for (let round = 0; round < ROUNDS; round += 1) {
    const [a, b] = await seedOrganizations(app, 2);
    const [u, ownerA, ownerB] = await seedUsers(app, 3);
    await seedMemberships(app, [[a, u], [b, u]]);
    await seedMemberships(app, [[a, ownerA], [b, ownerB]], 'OWNER');
    await seedSessions(app, [u], 2, b);

    const [removed, deleted] = await Promise.all([
      soon(() => app.gql(RemoveMemberDocument, { organizationId: b, userId: u })),
      deleteOrganization(a),
    ]);
    // Both always succeed: whichever runs second still finds what it needs.
    expect(ok(removed).removeMember).toMatchObject({ organizationId: b, userId: u });
    const deletion = ok(deleted).deleteOrganization;
    const cascaded = deletion.cascadedUsers.nodes.map((x) => x.id);

    if (cascaded.includes(u)) {
      // removeMember committed first: A was u's last organization, so u went with it.
      expect(deletion.retainedUsers.nodes.map((r) => r.id)).toEqual([]);
      expect(await existingUsers([u])).toEqual([]);
      expect(await sessionsOf(u)).toEqual([]);
    } else {
      // The deletion went first, saw u in B and kept the account; removeMember came after.
      expect(deletion.retainedUsers.nodes.map((r) => r.id)).toEqual([u]);
      expect(await existingUsers([u])).toEqual([u]);
      const sessions = await sessionsOf(u);
      expect(sessions).toHaveLength(2);
      expect(sessions.every((s) => s.termination_reason === 'organization_deleted')).toBe(true);
    }
    expect(sorted(cascaded)).toEqual(sorted(cascaded.includes(u) ? [u, ownerA] : [ownerA]));
    // The invariant: whoever an organization deletion retained still exists.
    expect(await existingUsers(deletion.retainedUsers.nodes.map((r) => r.id))).toEqual(sorted(deletion.retainedUsers.nodes.map((r) => r.id)));
    expect(await membershipsOf(u)).toEqual([]);
    expect(await existingUsers([ownerA, ownerB])).toEqual([ownerB]);
  }
});

it('terminateSession racing deleteOrganization(A) on a session in A’s context: each succeeds or answers NOT_FOUND', async () => {
  for (let round = 0; round < ROUNDS; round += 1) {
    const [a, b] = await seedOrganizations(app, 2);
    const [u, ownerA, ownerB] = await seedUsers(app, 3);
    // Even rounds: u also belongs to B, so the deletion keeps u and ends the session in place.
    const kept = round % 2 === 0;
    await seedMemberships(app, kept ? [[a, u], [b, u]] : [[a, u]]);
    await seedMemberships(app, [[a, ownerA], [b, ownerB]], 'OWNER');
    await seedSessions(app, [u], 1, a);
    const [{ id: sessionId }] = await app.sql<{ id: string }>(`SELECT id FROM sessions WHERE user_id = $1`, [u]);

    const [terminated, deleted] = await Promise.all([
      soon(() => app.gql(TerminateSessionDocument, { id: sessionId })),
      deleteOrganization(a),
    ]);
    const deletion = ok(deleted).deleteOrganization;
    const rows = await app.sql<{ organization_id: string | null; termination_reason: string | null }>(
      `SELECT organization_id, termination_reason FROM sessions WHERE id = $1`,
      [sessionId],
    );
    if (kept) {
      // The session survives with its user, ended by whichever came first, and no longer names A.
      expect(ok(terminated).terminateSession.id).toBe(sessionId);
      expect(deletion.retainedUsers.nodes.map((r) => r.id)).toEqual([u]);
      expect(rows).toHaveLength(1);
      expect(rows[0].organization_id).toBeNull();
      expect(['terminated_by_request', 'organization_deleted']).toContain(rows[0].termination_reason);
    } else {
      expect([undefined, 'NOT_FOUND']).toContain(errorCode(terminated));
      expect(deletion.cascadedUsers.nodes.map((x) => x.id).sort()).toEqual(sorted([u, ownerA]));
      expect(rows).toEqual([]);
    }
  }
});

/**
 * Issue 9: deleteOrganization reads a signed-in caller's role after it holds the
 * organization row, in a statement of its own. Read in the locking statement, the role
 * would come from the snapshot taken before the wait: a promotion committed meanwhile
 * would be refused, and a demotion committed meanwhile would still be allowed to delete.
 */
describe("deleteOrganization by a signed-in caller whose role changes while it waits for the organization's lock", () => {
  async function waitingOnLock(watcher: Client): Promise<void> {
    for (let attempt = 0; attempt < 500; attempt += 1) {
      const { rows } = await watcher.query(
        `SELECT 1 FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'identity-gateway'
            AND wait_event_type = 'Lock' AND query LIKE '%FROM organizations WHERE id = $1 FOR UPDATE%'`,
      );
      if (rows.length > 0) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error('the deletion never waited for the lock');
  }

  it.each([
    ['promoted to OWNER meanwhile: the deletion goes through', 'MEMBER', 'OWNER', undefined],
    ['demoted from OWNER meanwhile: FORBIDDEN, nothing deleted', 'OWNER', 'MEMBER', 'FORBIDDEN'],
  ] as const)('%s', async (_label, roleBefore, roleAfter, expectedCode) => {
    const f = factory(app);
    const organization = await f.organization();
    await f.member(organization.id, (await f.user()).id, 'OWNER');
    const caller = await f.signedInMember(organization.id, roleBefore);
    const locker = new Client({ connectionString: app.databaseUrl, application_name: 'role-change-test' });
    const watcher = new Client({ connectionString: app.databaseUrl, application_name: 'role-change-watcher' });
    await locker.connect();
    await watcher.connect();
    try {
      // What updateMemberRole does: lock the organization, change the role; commit only once the deletion waits.
      await locker.query('BEGIN');
      await locker.query('SELECT id FROM organizations WHERE id = $1 FOR NO KEY UPDATE', [organization.id]);
      await locker.query('UPDATE memberships SET role = $3 WHERE organization_id = $1 AND user_id = $2', [
        organization.id,
        caller.user.id,
        roleAfter,
      ]);
      const before = await tableCounts(app);
      const pending = app.gql(DeleteOrganizationDocument, { id: organization.id }, { token: caller.token });
      await waitingOnLock(watcher);
      await locker.query('COMMIT');
      const response = await pending;

      expect(errorCode(response)).toBe(expectedCode);
      const remaining = await app.sql(`SELECT id FROM organizations WHERE id = $1`, [organization.id]);
      if (expectedCode) {
        expect(remaining).toEqual([{ id: organization.id }]);
        expect(await tableCounts(app)).toEqual(before);
      } else {
        expect(ok(response).deleteOrganization.receipt?.actor).toBe(`user:${caller.user.id}`);
        expect(remaining).toEqual([]);
      }
    } finally {
      await locker.end();
      await watcher.end();
    }
  });
});
