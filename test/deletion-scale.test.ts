import {
  DeleteOrganizationDocument,
  DeleteUserDocument,
  DeletionReceiptCascadedUsersDocument,
  DeletionReceiptRemovedMembershipsDocument,
  DeletionReceiptRetainedUsersDocument,
  DeletionReceiptTerminatedSessionsDocument,
} from '../src/generated/graphql';
import { startTestApp, type GraphQLResponse, type TestApp } from './support/app';
import { seedLargeOrganization, seedMemberships, seedOrganizations, seedSessions, seedUsers } from './support/deletion-seed';
import { ok } from './support/factory';

/**
 * Issue 3, "Performance is part of correctness": a deletion runs a fixed number of
 * SQL statements whatever its size (counted by the server's query logger around
 * the HTTP call; authenticating the admin costs none), and a large deletion works
 * and counts right. Data is seeded with set-based SQL. No timings are asserted.
 */
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app.close());

/** The response and the number of SQL statements the server ran to answer it. */
async function counted<T>(request: () => Promise<GraphQLResponse<T>>): Promise<{ response: GraphQLResponse<T>; statements: number }> {
  const start = app.queries.count;
  const response = await request();
  return { response, statements: app.queries.count - start };
}

async function count(sql: string, params: unknown[]): Promise<number> {
  const [{ n }] = await app.sql<{ n: number }>(`SELECT count(*)::int AS n FROM (${sql}) rows`, params);
  return n;
}

type IdPage = { pageInfo: { hasNextPage: boolean; endCursor?: string | null }; nodes: Array<{ id: string }> };

/**
 * Every ID of a deletion's list: the payload's first page, then the receipt's pages from its
 * endCursor on (issue 13), as the admin, 100 at a time.
 */
async function everyId(document: unknown, subjectId: string, first: IdPage): Promise<string[]> {
  const ids = first.nodes.map((node) => node.id);
  let page = first;
  while (page.pageInfo.hasNextPage) {
    const data = ok(await app.gql(document as never, { subjectId, first: 100, after: page.pageInfo.endCursor } as never)) as {
      deletionReceipt: Record<string, IdPage>;
    };
    page = Object.values(data.deletionReceipt).find((value) => typeof value === 'object' && value !== null)!;
    ids.push(...page.nodes.map((node) => node.id));
  }
  return ids;
}

/** The database after deleting a seedLargeOrganization: solo half gone, shared half kept with terminated sessions. */
async function expectOrganizationDeleted(seeded: Awaited<ReturnType<typeof seedLargeOrganization>>, sessionsPerMember = 3) {
  const { organizationId, otherOrganizationId, soloUserIds, sharedUserIds } = seeded;
  expect(await count(`SELECT 1 FROM organizations WHERE id = $1`, [organizationId])).toBe(0);
  expect(await count(`SELECT 1 FROM organization_settings WHERE organization_id = $1`, [organizationId])).toBe(0);
  expect(await count(`SELECT 1 FROM memberships WHERE organization_id = $1`, [organizationId])).toBe(0);
  expect(await count(`SELECT 1 FROM sessions WHERE organization_id = $1`, [organizationId])).toBe(0);
  // Cascaded: accounts, memberships and sessions gone.
  expect(await count(`SELECT 1 FROM users WHERE id = ANY($1)`, [soloUserIds])).toBe(0);
  expect(await count(`SELECT 1 FROM memberships WHERE user_id = ANY($1)`, [soloUserIds])).toBe(0);
  expect(await count(`SELECT 1 FROM sessions WHERE user_id = ANY($1)`, [soloUserIds])).toBe(0);
  // Retained: accounts and their other membership kept, every session kept as TERMINATED with a reason.
  expect(await count(`SELECT 1 FROM users WHERE id = ANY($1)`, [sharedUserIds])).toBe(sharedUserIds.length);
  expect(
    await count(`SELECT 1 FROM memberships WHERE user_id = ANY($1) AND organization_id = $2`, [sharedUserIds, otherOrganizationId]),
  ).toBe(sharedUserIds.length);
  expect(await count(`SELECT 1 FROM memberships WHERE user_id = ANY($1)`, [sharedUserIds])).toBe(sharedUserIds.length);
  expect(await count(`SELECT 1 FROM sessions WHERE user_id = ANY($1)`, [sharedUserIds])).toBe(
    sessionsPerMember * sharedUserIds.length,
  );
  expect(
    await count(
      `SELECT 1 FROM sessions WHERE user_id = ANY($1)
          AND (terminated_at IS NULL OR termination_reason <> 'organization_deleted')`,
      [sharedUserIds],
    ),
  ).toBe(0);
}

it('deleteOrganization runs as many statements for 1,000 members as for 10', async () => {
  const runs = [];
  for (const members of [10, 1_000]) {
    const seeded = await seedLargeOrganization(app, members);
    const { response, statements } = await counted(() => app.gql(DeleteOrganizationDocument, { id: seeded.organizationId }));
    const payload = ok(response).deleteOrganization;

    // Issue 13: the payload holds a bounded first page of each list, the receipt the rest.
    expect(payload.removedMemberships.totalCount).toBe(members);
    expect(payload.terminatedSessions.totalCount).toBe(3 * members);
    expect(payload.terminatedSessions.nodes).toHaveLength(Math.min(100, 3 * members));
    const sessions = await everyId(DeletionReceiptTerminatedSessionsDocument, seeded.organizationId, payload.terminatedSessions);
    expect(sessions).toHaveLength(3 * members);
    expect(new Set(sessions).size).toBe(3 * members);
    expect(await everyId(DeletionReceiptRemovedMembershipsDocument, seeded.organizationId, payload.removedMemberships)).toHaveLength(
      members,
    );
    expect((await everyId(DeletionReceiptCascadedUsersDocument, seeded.organizationId, payload.cascadedUsers)).sort()).toEqual(
      seeded.soloUserIds,
    );
    expect((await everyId(DeletionReceiptRetainedUsersDocument, seeded.organizationId, payload.retainedUsers)).sort()).toEqual(
      seeded.sharedUserIds,
    );
    expect(payload.receipt).toMatchObject({
      terminatedSessionCount: 3 * members,
      removedMembershipCount: members,
      cascadedUserCount: members / 2,
    });
    await expectOrganizationDeleted(seeded);
    runs.push(statements);
  }
  expect(runs[1]).toBe(runs[0]);
  // Locks, the deletion statement, transaction control: a handful, and counted at all.
  expect(runs[0]).toBeGreaterThanOrEqual(3);
  expect(runs[0]).toBeLessThan(10);
});

it('deleteUser runs as many statements for 50 memberships as for 1', async () => {
  const runs = [];
  for (const memberships of [1, 50]) {
    const organizations = await seedOrganizations(app, memberships);
    const [user] = await seedUsers(app, 1);
    await seedMemberships(app, organizations.map((organizationId): [string, string] => [organizationId, user]));
    await seedSessions(app, [user], 3, organizations[0]);

    const { response, statements } = await counted(() => app.gql(DeleteUserDocument, { id: user }));
    const payload = ok(response).deleteUser;

    expect(payload.removedMemberships.totalCount).toBe(memberships);
    expect(payload.removedMemberships.nodes.map((m) => m.organizationId).sort()).toEqual(organizations);
    expect(payload.terminatedSessions.nodes).toHaveLength(3);
    expect(payload.receipt).toMatchObject({ terminatedSessionCount: 3, removedMembershipCount: memberships });
    expect(await count(`SELECT 1 FROM users WHERE id = $1`, [user])).toBe(0);
    expect(await count(`SELECT 1 FROM memberships WHERE user_id = $1`, [user])).toBe(0);
    expect(await count(`SELECT 1 FROM sessions WHERE user_id = $1`, [user])).toBe(0);
    expect(await count(`SELECT 1 FROM organizations WHERE id = ANY($1)`, [organizations])).toBe(memberships);
    runs.push(statements);
  }
  expect(runs[1]).toBe(runs[0]);
  // Issue 13: one statement, the delete_user function called in autocommit (no BEGIN/COMMIT).
  expect(runs[0]).toBe(1);
});

/** Selects no list, as a client deleting a very large organization should. */
const DELETE_ORGANIZATION_RECEIPT_ONLY = `mutation DeleteOrganizationReceipt($id: ID!) {
  deleteOrganization(id: $id) {
    deletedOrganizationId
    receipt { id kind subjectId terminatedSessionCount removedMembershipCount cascadedUserCount }
  }
}`;
type ReceiptOnly = {
  deleteOrganization: {
    deletedOrganizationId: string;
    receipt: {
      id: string;
      kind: string;
      subjectId: string;
      terminatedSessionCount: number;
      removedMembershipCount: number;
      cascadedUserCount: number;
    };
  };
};

it('deletes an organization of 10,000 members (30,000 sessions) selecting only the receipt, with the right counts', async () => {
  const small = await seedLargeOrganization(app, 10);
  const smallRun = await counted(() => app.gql<ReceiptOnly, { id: string }>(DELETE_ORGANIZATION_RECEIPT_ONLY, { id: small.organizationId }));
  ok(smallRun.response);

  const seeded = await seedLargeOrganization(app, 10_000);
  const { response, statements } = await counted(() =>
    app.gql<ReceiptOnly, { id: string }>(DELETE_ORGANIZATION_RECEIPT_ONLY, { id: seeded.organizationId }),
  );
  const payload = ok(response).deleteOrganization;

  expect(payload.deletedOrganizationId).toBe(seeded.organizationId);
  expect(payload.receipt).toMatchObject({
    kind: 'ORGANIZATION',
    subjectId: seeded.organizationId,
    terminatedSessionCount: 30_000,
    removedMembershipCount: 10_000,
    cascadedUserCount: 5_000,
  });
  expect(statements).toBe(smallRun.statements);
  await expectOrganizationDeleted(seeded);
  // One event per fact, in the same transaction.
  const events = await app.sql<{ type: string; n: number }>(
    `SELECT type, count(*)::int AS n FROM events WHERE data->>'receiptId' = $1 GROUP BY type ORDER BY type`,
    [payload.receipt.id],
  );
  expect(events).toEqual([
    { type: 'organization.deleted', n: 1 },
    { type: 'organization_membership.deleted', n: 10_000 },
    { type: 'session.terminated', n: 30_000 },
    { type: 'user.deleted', n: 5_000 },
  ]);
});
