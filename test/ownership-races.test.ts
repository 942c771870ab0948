import { Client } from 'pg';
import {
  CreateOrganizationDocument,
  DeleteUserDocument,
  RemoveMemberDocument,
  UpdateMemberRoleDocument,
  type MembershipRole,
} from '../src/generated/graphql';
import { newSessionToken } from '../src/auth/principal';
import { newId } from '../src/ids';
import { startTestApp, type GraphQLResponse, type TestApp } from './support/app';
import { soon } from './support/races';
import { seedMemberships, seedOrganizations, seedUsers } from './support/deletion-seed';
import { errorCode, invariantViolations, ok } from './support/factory';

/**
 * Issue 9, "Roles and ownership": the last-OWNER rule under concurrency. Each scenario
 * names the pair of mutations it proves safe and runs ROUNDS rounds of both calls sent
 * at once (Promise.all over HTTP; the server's pool has 10 connections), each on fresh
 * rows, with a jitter of a few milliseconds so that rounds cover both orders. After every
 * round: each call's answer is one the scenario allows, the database agrees with the
 * answers, the data invariants hold, and every organization that has members has an
 * OWNER. They share THE lock order of src/database/locks.ts: organization row, then user
 * rows in ID order (lockOwners), with deleteUser's guard folded into its delete statement.
 */
const ROUNDS = 20;

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app.close());

/** A session token for a user, written straight to the table (as createSession would). */
async function signIn(userId: string): Promise<string> {
  const { token, hash } = newSessionToken();
  await app.sql(
    `INSERT INTO sessions (id, user_id, token_hash, expires_at) VALUES ($1, $2, $3, now() + interval '1 hour')`,
    [newId('session'), userId, hash],
  );
  return token;
}

/** A fresh organization whose members have these roles, in this order; returns the organization and the user IDs. */
async function organizationWith(roles: MembershipRole[]): Promise<{ organizationId: string; users: string[] }> {
  const [organizationId] = await seedOrganizations(app, 1);
  const users = await seedUsers(app, roles.length);
  for (const role of ['OWNER', 'ADMIN', 'MEMBER'] as const) {
    const pairs = users.filter((_, i) => roles[i] === role).map((userId): [string, string] => [organizationId, userId]);
    if (pairs.length > 0) await seedMemberships(app, pairs, role);
  }
  return { organizationId, users };
}

async function rolesIn(organizationId: string): Promise<Record<string, string>> {
  const rows = await app.sql<{ user_id: string; role: string }>(
    `SELECT user_id, role FROM memberships WHERE organization_id = $1`,
    [organizationId],
  );
  return Object.fromEntries(rows.map((row) => [row.user_id, row.role]));
}

async function exists(userId: string): Promise<boolean> {
  return (await app.sql(`SELECT 1 FROM users WHERE id = $1`, [userId])).length === 1;
}

const updateRole = (organizationId: string, userId: string, role: MembershipRole, token?: string) =>
  soon(() => app.gql(UpdateMemberRoleDocument, { input: { organizationId, userId, role } }, { token }));
const deleteUser = (id: string, token?: string) => soon(() => app.gql(DeleteUserDocument, { id }, { token }));
const removeMember = (organizationId: string, userId: string, token?: string) =>
  soon(() => app.gql(RemoveMemberDocument, { organizationId, userId }, { token }));

const succeeded = (response: GraphQLResponse<unknown>) => response.errors === undefined && response.data != null;

/** Organizations that have members but no OWNER: must never exist. */
const OWNERLESS = `
  SELECT organization_id FROM memberships GROUP BY organization_id HAVING NOT bool_or(role = 'OWNER')`;

afterEach(async () => {
  expect(await invariantViolations(app)).toEqual([]);
  expect(await app.sql(OWNERLESS)).toEqual([]);
});

async function checkRound(): Promise<void> {
  expect(await invariantViolations(app)).toEqual([]);
  expect(await app.sql(OWNERLESS)).toEqual([]);
}

it('updateMemberRole vs updateMemberRole: two OWNERs demoting each other leave exactly one OWNER', async () => {
  const seen = { aFirst: 0, bFirst: 0 };
  for (let round = 0; round < ROUNDS; round += 1) {
    const { organizationId, users: [a, b, member] } = await organizationWith(['OWNER', 'OWNER', 'MEMBER']);
    // Even rounds: the OWNERs themselves (the one who loses is no OWNER any more: FORBIDDEN).
    // Odd rounds: the admin for both (the second demotion would leave none: CONFLICT).
    const asOwners = round % 2 === 0;
    const [tokenA, tokenB] = asOwners ? [await signIn(a), await signIn(b)] : [undefined, undefined];
    const [demoteB, demoteA] = await Promise.all([
      updateRole(organizationId, b, 'ADMIN', tokenA),
      updateRole(organizationId, a, 'ADMIN', tokenB),
    ]);

    expect([succeeded(demoteB), succeeded(demoteA)].filter(Boolean)).toHaveLength(1);
    const loser = succeeded(demoteB) ? demoteA : demoteB;
    expect(errorCode(loser)).toBe(asOwners ? 'FORBIDDEN' : 'CONFLICT');
    const winner = succeeded(demoteB) ? a : b;
    const demoted = succeeded(demoteB) ? b : a;
    seen[winner === a ? 'aFirst' : 'bFirst'] += 1;
    expect(await rolesIn(organizationId)).toEqual({ [winner]: 'OWNER', [demoted]: 'ADMIN', [member]: 'MEMBER' });
    await checkRound();
  }
  expect(seen.aFirst + seen.bFirst).toBe(ROUNDS);
});

it('deleteUser(A) vs updateMemberRole promoting C, A the only OWNER: the deletion goes through only after the promotion', async () => {
  const outcomes = { both: 0, deletionRefused: 0 };
  for (let round = 0; round < ROUNDS; round += 1) {
    const { organizationId, users: [a, c, other] } = await organizationWith(['OWNER', 'MEMBER', 'MEMBER']);
    // Half the rounds A promotes C themselves, the other half the admin does.
    const tokenA = round % 2 === 0 ? await signIn(a) : undefined;
    const [promoted, deleted] = await Promise.all([updateRole(organizationId, c, 'OWNER', tokenA), deleteUser(a)]);

    // The promotion never fails: if the deletion went first it was refused and A was still there.
    expect(ok(promoted).updateMemberRole.role).toBe('OWNER');
    if (succeeded(deleted)) {
      outcomes.both += 1;
      expect(ok(deleted).deleteUser.removedMemberships.nodes.map((m) => m.role)).toEqual(['OWNER']);
      expect(await exists(a)).toBe(false);
      expect(await rolesIn(organizationId)).toEqual({ [c]: 'OWNER', [other]: 'MEMBER' });
    } else {
      outcomes.deletionRefused += 1;
      expect(errorCode(deleted)).toBe('CONFLICT');
      expect(deleted.errors?.[0]?.extensions?.organizationIds).toEqual([organizationId]);
      expect(await exists(a)).toBe(true);
      expect(await rolesIn(organizationId)).toEqual({ [a]: 'OWNER', [c]: 'OWNER', [other]: 'MEMBER' });
    }
    await checkRound();
  }
  expect(outcomes.both + outcomes.deletionRefused).toBe(ROUNDS);
});

it('deleteUser(A) vs updateMemberRole demoting co-owner B (what lockOwners is for): exactly one goes through', async () => {
  const outcomes = { deleted: 0, demoted: 0 };
  for (let round = 0; round < ROUNDS; round += 1) {
    const { organizationId, users: [a, b, member] } = await organizationWith(['OWNER', 'OWNER', 'MEMBER']);
    // Half the rounds B steps down themselves, the other half the admin demotes B.
    const tokenB = round % 2 === 0 ? await signIn(b) : undefined;
    const [demoted, deleted] = await Promise.all([updateRole(organizationId, b, 'MEMBER', tokenB), deleteUser(a)]);

    expect([succeeded(demoted), succeeded(deleted)].filter(Boolean)).toHaveLength(1);
    if (succeeded(deleted)) {
      outcomes.deleted += 1;
      // A went first: B is the last OWNER now and stays one.
      expect(errorCode(demoted)).toBe('CONFLICT');
      expect(await exists(a)).toBe(false);
      expect(await rolesIn(organizationId)).toEqual({ [b]: 'OWNER', [member]: 'MEMBER' });
    } else {
      outcomes.demoted += 1;
      // B stepped down first: A is the last OWNER and cannot be deleted.
      expect(errorCode(deleted)).toBe('CONFLICT');
      expect(deleted.errors?.[0]?.extensions?.organizationIds).toEqual([organizationId]);
      expect(await exists(a)).toBe(true);
      expect(await rolesIn(organizationId)).toEqual({ [a]: 'OWNER', [b]: 'MEMBER', [member]: 'MEMBER' });
    }
    await checkRound();
  }
  expect(outcomes.deleted + outcomes.demoted).toBe(ROUNDS);
});

it('removeMember(A) vs deleteUser(B), A and B the only OWNERs: exactly one goes through', async () => {
  const outcomes = { removed: 0, deleted: 0 };
  for (let round = 0; round < ROUNDS; round += 1) {
    const { organizationId, users: [a, b, member] } = await organizationWith(['OWNER', 'OWNER', 'MEMBER']);
    // Half the rounds A leaves by themselves, the other half the admin removes A.
    const tokenA = round % 2 === 0 ? await signIn(a) : undefined;
    const [removed, deleted] = await Promise.all([removeMember(organizationId, a, tokenA), deleteUser(b)]);

    expect([succeeded(removed), succeeded(deleted)].filter(Boolean)).toHaveLength(1);
    if (succeeded(removed)) {
      outcomes.removed += 1;
      expect(ok(removed).removeMember).toMatchObject({ userId: a, role: 'OWNER' });
      expect(errorCode(deleted)).toBe('CONFLICT');
      expect(await exists(b)).toBe(true);
      expect(await rolesIn(organizationId)).toEqual({ [b]: 'OWNER', [member]: 'MEMBER' });
    } else {
      outcomes.deleted += 1;
      expect(errorCode(removed)).toBe('CONFLICT');
      expect(await exists(b)).toBe(false);
      expect(await rolesIn(organizationId)).toEqual({ [a]: 'OWNER', [member]: 'MEMBER' });
    }
    expect(await exists(a)).toBe(true);
    await checkRound();
  }
  expect(outcomes.removed + outcomes.deleted).toBe(ROUNDS);
});

it('deleteUser(A) vs deleteUser(B), A and B the only OWNERs: exactly one goes through', async () => {
  const outcomes = { a: 0, b: 0 };
  for (let round = 0; round < ROUNDS; round += 1) {
    const { organizationId, users: [a, b, member] } = await organizationWith(['OWNER', 'OWNER', 'MEMBER']);
    // Half the rounds each deletes their own account (self-service), the other half the admin deletes both.
    const [tokenA, tokenB] = round % 2 === 0 ? [await signIn(a), await signIn(b)] : [undefined, undefined];
    const [deletedA, deletedB] = await Promise.all([deleteUser(a, tokenA), deleteUser(b, tokenB)]);

    expect([succeeded(deletedA), succeeded(deletedB)].filter(Boolean)).toHaveLength(1);
    const [winner, loser, refused] = succeeded(deletedA) ? [a, b, deletedB] : [b, a, deletedA];
    outcomes[winner === a ? 'a' : 'b'] += 1;
    expect(errorCode(refused)).toBe('CONFLICT');
    expect(refused.errors?.[0]?.extensions?.organizationIds).toEqual([organizationId]);
    expect(await exists(winner)).toBe(false);
    expect(await rolesIn(organizationId)).toEqual({ [loser]: 'OWNER', [member]: 'MEMBER' });
    await checkRound();
  }
  expect(outcomes.a + outcomes.b).toBe(ROUNDS);
});

/**
 * The case deleteUser's second look at the owned organizations exists for: A becomes an
 * OWNER of an organization (beside its only OWNER C) while deleteUser(A) has already locked
 * the organizations A owned before, and deleteUser(C) runs at the same time. Without the
 * start-over, each deletion would see the other OWNER still there and both would go
 * through, leaving the organization with members and no OWNER. Deterministic: a second
 * connection plays updateMemberRole and commits only once both deletions wait for it.
 */
it('deleteUser(A) and deleteUser(C) while A is being promoted beside C, the only OWNER: one of them is refused', async () => {
  const watcher = new Client({ connectionString: app.databaseUrl, application_name: 'ownership-watcher' });
  await watcher.connect();
  try {
    for (let round = 0; round < 10; round += 1) {
      const { organizationId, users: [c, a, member] } = await organizationWith(['OWNER', 'MEMBER', 'MEMBER']);
      const promoter = new Client({ connectionString: app.databaseUrl, application_name: 'ownership-promoter' });
      await promoter.connect();
      try {
        // What updateMemberRole(A -> OWNER) holds until it commits: the organization, and A's and C's rows (lockOwners).
        await promoter.query('BEGIN');
        await promoter.query('SELECT id FROM organizations WHERE id = $1 FOR NO KEY UPDATE', [organizationId]);
        await promoter.query('SELECT id FROM users WHERE id = ANY ($1) ORDER BY id FOR SHARE', [[a, c]]);
        await promoter.query(`UPDATE memberships SET role = 'OWNER' WHERE organization_id = $1 AND user_id = $2`, [organizationId, a]);
        const deletions = [deleteUser(a, undefined), deleteUser(c, undefined)];
        await waitForLockWaits(watcher, 2);
        await promoter.query('COMMIT');
        const [deletedA, deletedC] = await Promise.all(deletions);
        expect([succeeded(deletedA), succeeded(deletedC)].filter(Boolean)).toHaveLength(1);
        const refused = succeeded(deletedA) ? deletedC : deletedA;
        expect(errorCode(refused)).toBe('CONFLICT');
        expect(refused.errors?.[0]?.extensions?.organizationIds).toEqual([organizationId]);
        const survivor = succeeded(deletedA) ? c : a;
        expect(await rolesIn(organizationId)).toEqual({ [survivor]: 'OWNER', [member]: 'MEMBER' });
      } finally {
        await promoter.end();
      }
      await checkRound();
    }
  } finally {
    await watcher.end();
  }
});

/** Until `count` of the server's statements wait for a row lock. */
async function waitForLockWaits(watcher: Client, count: number): Promise<void> {
  for (let attempt = 0; attempt < 500; attempt += 1) {
    const { rows } = await watcher.query(
      `SELECT count(*)::int AS waiting FROM pg_stat_activity
        WHERE datname = current_database() AND application_name = 'identity-gateway' AND wait_event_type = 'Lock'`,
    );
    if (rows[0].waiting >= count) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`fewer than ${count} statements ever waited for a lock`);
}

it("createOrganization by a signed-in user vs deleteUser of that user: the new organization's OWNER exists, or nothing is created", async () => {
  const outcomes = { created: 0, deleted: 0 };
  for (let round = 0; round < ROUNDS; round += 1) {
    const [user] = await seedUsers(app, 1);
    const [creatorToken, deleterToken] = [await signIn(user), await signIn(user)];
    const [created, deleted] = await Promise.all([
      soon(() => app.gql(CreateOrganizationDocument, { input: { name: 'Raced' } }, { token: creatorToken })),
      deleteUser(user, round % 2 === 0 ? deleterToken : undefined),
    ]);
    if (succeeded(created)) {
      // The organization came first: its one OWNER is the user, whom deleteUser then may not delete.
      outcomes.created += 1;
      expect(errorCode(deleted)).toBe('CONFLICT');
      expect(await rolesIn(ok(created).createOrganization.id)).toEqual({ [user]: 'OWNER' });
    } else {
      outcomes.deleted += 1;
      expect(succeeded(deleted)).toBe(true);
      expect(['NOT_FOUND', 'UNAUTHENTICATED']).toContain(errorCode(created));
      expect(await exists(user)).toBe(false);
    }
    await checkRound();
  }
  expect(outcomes.created + outcomes.deleted).toBe(ROUNDS);
});
