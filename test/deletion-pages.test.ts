import {
  DeleteOrganizationDocument,
  DeleteUserDocument,
  DeletionReceiptCascadedUsersDocument,
  DeletionReceiptRemovedMembershipsDocument,
  DeletionReceiptRetainedUsersDocument,
  DeletionReceiptTerminatedSessionsDocument,
} from '../src/generated/graphql';
import { randomBytes } from 'node:crypto';
import { Kind, parse, print, type OperationDefinitionNode } from 'graphql';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { migrations } from '../ormconfig';
import { DeletionReceiptPages1764300600000 } from '../src/database/migrations/1764300600000-deletion-receipt-pages';
import { DeletionReceiptPageIndexes1764300600500 } from '../src/database/migrations/1764300600500-deletion-receipt-page-indexes';
import { buildAppSchema } from '../src/http/schema';
import { INT_OUT_OF_RANGE_MESSAGE, operationNodeCount, QUERY_LIMITS } from '../src/http/query-limits';
import { startTestApp, type TestApp } from './support/app';
import { expectedDigest, twoOrganizations } from './support/deletion-fixtures';
import { seedLargeOrganization } from './support/deletion-seed';
import { errorCode, fieldsOf, ok, tableCounts } from './support/factory';
import { asKey, createApiKey } from './support/keys';

/**
 * Issue 13, bounded memory: a deletion's payload lists are connections. The payload holds
 * the first page of each, with its totalCount and an endCursor that continues in the
 * receipt's pages, which are read from the events the deletion wrote. Together they are
 * the whole list, in the order of those events, and reproduce the receipt's digest.
 */
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app.close());

type Page<T> = { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string | null | undefined }; nodes: T[] };

const RECEIPT_PAGES = {
  terminatedSessions: DeletionReceiptTerminatedSessionsDocument,
  removedMemberships: DeletionReceiptRemovedMembershipsDocument,
  cascadedUsers: DeletionReceiptCascadedUsersDocument,
  retainedUsers: DeletionReceiptRetainedUsersDocument,
} as const;
type ListName = keyof typeof RECEIPT_PAGES;

/** Every page of a receipt's list after `after`, as the admin, `first` at a time: the nodes, and the pages seen. */
async function restOf<T>(subjectId: string, list: ListName, after: string | null | undefined, first = 100) {
  const nodes: T[] = [];
  const pages: Array<Page<T>> = [];
  let cursor = after;
  for (;;) {
    const receipt = ok(await app.gql(RECEIPT_PAGES[list] as never, { subjectId, first, after: cursor } as never)) as {
      deletionReceipt: Record<ListName, Page<T>>;
    };
    const page = receipt.deletionReceipt[list];
    pages.push(page);
    nodes.push(...page.nodes);
    expect(page.nodes.length).toBeLessThanOrEqual(first);
    if (!page.pageInfo.hasNextPage) return { nodes, pages };
    expect(page.nodes).toHaveLength(first);
    cursor = page.pageInfo.endCursor;
    expect(cursor).toEqual(expect.any(String));
  }
}

/** The IDs the events of a receipt name, of one type, in position order (the database's own account). */
async function eventIds(receiptId: string, type: string, key: string): Promise<string[]> {
  const rows = await app.sql<{ id: string }>(
    `SELECT data->>$3 AS id FROM events WHERE data->>'receiptId' = $1 AND type = $2 ORDER BY position`,
    [receiptId, type, key],
  );
  return rows.map((row) => row.id);
}

describe('deleteOrganization: first page in the payload, the rest from the receipt', () => {
  it('pages together make every list, in event order; totalCount is the receipt count; the IDs reproduce the digest', async () => {
    const seeded = await seedLargeOrganization(app, 250);
    const activeBefore = await app.sql<{ id: string }>(
      `SELECT s.id FROM sessions s JOIN memberships m ON m.user_id = s.user_id AND m.organization_id = $1
        WHERE s.terminated_at IS NULL AND s.expires_at > now()`,
      [seeded.organizationId],
    );
    const membershipsBefore = await app.sql<{ id: string }>(`SELECT id FROM memberships WHERE organization_id = $1`, [
      seeded.organizationId,
    ]);

    const payload = ok(await app.gql(DeleteOrganizationDocument, { id: seeded.organizationId, first: 100 })).deleteOrganization;
    const receipt = payload.receipt!;
    expect(receipt).toMatchObject({ terminatedSessionCount: 750, removedMembershipCount: 250, cascadedUserCount: 125 });
    expect(payload.terminatedSessions.totalCount).toBe(receipt.terminatedSessionCount);
    expect(payload.removedMemberships.totalCount).toBe(receipt.removedMembershipCount);
    expect(payload.cascadedUsers.totalCount).toBe(receipt.cascadedUserCount);
    expect(payload.retainedUsers.totalCount).toBe(receipt.removedMembershipCount - receipt.cascadedUserCount);
    for (const list of [payload.terminatedSessions, payload.removedMemberships, payload.cascadedUsers, payload.retainedUsers]) {
      expect(list.nodes).toHaveLength(100);
      expect(list.pageInfo.hasNextPage).toBe(true);
      expect(list.pageInfo.endCursor).toEqual(expect.any(String));
    }

    const sessions = [
      ...payload.terminatedSessions.nodes,
      ...(await restOf<(typeof payload.terminatedSessions.nodes)[number]>(
        seeded.organizationId,
        'terminatedSessions',
        payload.terminatedSessions.pageInfo.endCursor,
      )).nodes,
    ];
    const memberships = [
      ...payload.removedMemberships.nodes,
      ...(await restOf<(typeof payload.removedMemberships.nodes)[number]>(
        seeded.organizationId,
        'removedMemberships',
        payload.removedMemberships.pageInfo.endCursor,
        7,
      )).nodes,
    ];
    const cascaded = [
      ...payload.cascadedUsers.nodes,
      ...(await restOf<{ id: string }>(seeded.organizationId, 'cascadedUsers', payload.cascadedUsers.pageInfo.endCursor)).nodes,
    ];
    const retained = [
      ...payload.retainedUsers.nodes,
      ...(await restOf<{ id: string }>(seeded.organizationId, 'retainedUsers', payload.retainedUsers.pageInfo.endCursor, 1)).nodes,
    ];

    // In the order the deletion wrote its events, and each exactly once.
    expect(sessions.map((s) => s.id)).toEqual(await eventIds(receipt.id, 'session.terminated', 'sessionId'));
    expect(memberships.map((m) => m.id)).toEqual(await eventIds(receipt.id, 'organization_membership.deleted', 'membershipId'));
    expect(cascaded.map((u) => u.id)).toEqual(await eventIds(receipt.id, 'user.deleted', 'userId'));
    // What was there before, and who went where.
    expect(sessions.map((s) => s.id).sort()).toEqual(activeBefore.map((s) => s.id).sort());
    expect(memberships.map((m) => m.id).sort()).toEqual(membershipsBefore.map((m) => m.id).sort());
    expect(cascaded.map((u) => u.id).sort()).toEqual(seeded.soloUserIds);
    expect(retained.map((u) => u.id).sort()).toEqual(seeded.sharedUserIds);
    // Nodes carry their fields as in the payload.
    const terminatedAt = new Set(sessions.map((s) => new Date(s.terminatedAt).getTime()));
    expect(terminatedAt.size).toBe(1);
    expect([...terminatedAt][0]).toBe(new Date(receipt.deletedAt).getTime());
    expect(new Set(memberships.map((m) => m.organizationId))).toEqual(new Set([seeded.organizationId]));
    expect(memberships.filter((m) => m.role === 'OWNER')).toHaveLength(1);

    expect(receipt.digest).toBe(
      expectedDigest(
        'ORGANIZATION',
        seeded.organizationId,
        sessions.map((s) => s.id),
        memberships.map((m) => m.id),
        cascaded.map((u) => u.id),
      ),
    );

    // Without a cursor, the receipt's pages give the same list from its start.
    const fromStart = await restOf<{ id: string }>(seeded.organizationId, 'removedMemberships', null, 100);
    expect(fromStart.nodes.map((m) => m.id)).toEqual(memberships.map((m) => m.id));
    expect(fromStart.pages.map((page) => page.totalCount)).toEqual([250, 250, 250]);
    expect(fromStart.pages.map((page) => page.nodes[0].id)).toEqual([memberships[0].id, memberships[100].id, memberships[200].id]);

    // The database: the receipt names the deletion's transaction, which every one of its events carries.
    const txids = await app.sql<{ receipt: string; events: string[] }>(
      `SELECT r.txid::text AS receipt, array(SELECT DISTINCT e.txid::text FROM events e WHERE e.data->>'receiptId' = r.id) AS events
         FROM deletion_receipts r WHERE r.id = $1`,
      [receipt.id],
    );
    expect(txids).toEqual([{ receipt: expect.stringMatching(/^\d+$/), events: [txids[0].receipt] }]);
  });

  it('refuses a page size outside 1..100 (BAD_USER_INPUT) before deleting anything, and a cursor it did not issue', async () => {
    const seeded = await seedLargeOrganization(app, 4);
    const before = await tableCounts(app);
    for (const first of [0, 101, -1]) {
      const response = await app.gql(DeleteOrganizationDocument, { id: seeded.organizationId, first });
      expect(errorCode(response)).toBe('BAD_USER_INPUT');
      expect(fieldsOf(response)).toEqual(['first']);
      expect(response.data ?? null).toBeNull();
    }
    // One list out of range, the others fine: still nothing happens.
    const oneBad = await app.gql(
      `mutation($id: ID!) { deleteOrganization(id: $id) { cascadedUsers { totalCount } retainedUsers(first: 500) { totalCount } } }`,
      { id: seeded.organizationId },
    );
    expect(errorCode(oneBad)).toBe('BAD_USER_INPUT');
    const explicitNull = await app.gql(
      `mutation($id: ID!) { deleteOrganization(id: $id) { terminatedSessions(first: null) { totalCount } } }`,
      { id: seeded.organizationId },
    );
    expect(errorCode(explicitNull)).toBe('BAD_USER_INPUT');
    expect(await tableCounts(app)).toEqual(before);
    expect(await app.sql(`SELECT 1 FROM organizations WHERE id = $1`, [seeded.organizationId])).toHaveLength(1);

    ok(await app.gql(DeleteOrganizationDocument, { id: seeded.organizationId }));
    for (const first of [0, 101]) {
      const response = await app.gql(DeletionReceiptTerminatedSessionsDocument, { subjectId: seeded.organizationId, first });
      expect(errorCode(response)).toBe('BAD_USER_INPUT');
    }
    const foreign = [
      'not-a-cursor',
      Buffer.from('c1:ses_01ARZ3NDEKTSV4RRFFQ69G5FAV').toString('base64url'), // another connection's
      Buffer.from('d1:42').toString('base64url'), // the first version's, without list and receipt
      Buffer.from('d2:terminatedSessions:1:99999999999999999999').toString('base64url'), // past bigint
      Buffer.from('d2:terminatedSessions:99999999999999999999:1').toString('base64url'), // past xid8
    ];
    for (const after of foreign) {
      const response = await app.gql(DeletionReceiptTerminatedSessionsDocument, { subjectId: seeded.organizationId, after });
      expect(errorCode(response)).toBe('BAD_USER_INPUT');
      expect(fieldsOf(response)).toEqual(['after']);
    }
  });

  it('aliases of one list with different page sizes each get their own page', async () => {
    const seeded = await seedLargeOrganization(app, 6);
    const payload = ok(
      await app.gql<
        { deleteOrganization: { small: Page<{ id: string }>; large: Page<{ id: string }>; receipt: { id: string } } },
        { id: string }
      >(
        `mutation($id: ID!) { deleteOrganization(id: $id) {
           small: terminatedSessions(first: 2) { totalCount pageInfo { hasNextPage endCursor } nodes { id } }
           large: terminatedSessions(first: 17) { totalCount pageInfo { hasNextPage endCursor } nodes { id } }
           receipt { id } } }`,
        { id: seeded.organizationId },
      ),
    ).deleteOrganization;
    const all = await eventIds(payload.receipt.id, 'session.terminated', 'sessionId');
    expect(all).toHaveLength(18);
    expect(payload.small.nodes.map((s) => s.id)).toEqual(all.slice(0, 2));
    expect(payload.small.pageInfo.hasNextPage).toBe(true);
    expect(payload.large.nodes.map((s) => s.id)).toEqual(all.slice(0, 17));
    expect(payload.large.pageInfo.hasNextPage).toBe(true);
    const rest = await restOf<{ id: string }>(seeded.organizationId, 'terminatedSessions', payload.large.pageInfo.endCursor);
    expect(rest.nodes.map((s) => s.id)).toEqual(all.slice(17));
    expect(rest.pages).toHaveLength(1);
    expect(rest.pages[0].pageInfo).toEqual({ hasNextPage: false, endCursor: expect.any(String) });
  });

  it("the payload's receipt pages its lists too, once the deletion has committed", async () => {
    const seeded = await seedLargeOrganization(app, 3);
    const payload = ok(
      await app.gql<
        { deleteOrganization: { terminatedSessions: Page<{ id: string }>; receipt: { id: string; terminatedSessions: Page<{ id: string }> } } },
        { id: string }
      >(
        `mutation($id: ID!) { deleteOrganization(id: $id) {
           terminatedSessions(first: 4) { totalCount pageInfo { hasNextPage endCursor } nodes { id } }
           receipt { id terminatedSessions(first: 100) { totalCount pageInfo { hasNextPage endCursor } nodes { id } } } } }`,
        { id: seeded.organizationId },
      ),
    ).deleteOrganization;
    const all = await eventIds(payload.receipt.id, 'session.terminated', 'sessionId');
    expect(all).toHaveLength(9);
    expect(payload.receipt.terminatedSessions.nodes.map((s) => s.id)).toEqual(all);
    expect(payload.receipt.terminatedSessions.totalCount).toBe(9);
    expect(payload.terminatedSessions.nodes.map((s) => s.id)).toEqual(all.slice(0, 4));
  });

  it('a dry run gives the exact first page and totalCount, hasNextPage, and no endCursor (no receipt to continue in)', async () => {
    const seeded = await seedLargeOrganization(app, 40);
    const before = await tableCounts(app);
    const dry = ok(await app.gql(DeleteOrganizationDocument, { id: seeded.organizationId, dryRun: true, first: 30 })).deleteOrganization;
    expect(await tableCounts(app)).toEqual(before);
    expect(dry.receipt).toBeNull();
    expect(dry.terminatedSessions).toMatchObject({ totalCount: 120, pageInfo: { hasNextPage: true, endCursor: null } });
    expect(dry.terminatedSessions.nodes).toHaveLength(30);
    expect(dry.removedMemberships).toMatchObject({ totalCount: 40, pageInfo: { hasNextPage: true, endCursor: null } });
    expect(dry.cascadedUsers).toMatchObject({ totalCount: 20, pageInfo: { hasNextPage: false, endCursor: null } });
    expect(dry.cascadedUsers.nodes.map((u) => u.id).sort()).toEqual(seeded.soloUserIds);
    expect(dry.retainedUsers).toMatchObject({ totalCount: 20, pageInfo: { hasNextPage: false, endCursor: null } });
    expect(dry.retainedUsers.nodes.map((u) => u.id).sort()).toEqual(seeded.sharedUserIds);

    const real = ok(await app.gql(DeleteOrganizationDocument, { id: seeded.organizationId, first: 30 })).deleteOrganization;
    expect(real.terminatedSessions.totalCount).toBe(120);
    expect(real.terminatedSessions.pageInfo).toEqual({ hasNextPage: true, endCursor: expect.any(String) });
    // The same work: the same first page (times aside).
    const ids = (page: { nodes: Array<{ id: string }> }) => page.nodes.map((node) => node.id);
    expect(ids(dry.terminatedSessions)).toEqual(ids(real.terminatedSessions));
    expect(ids(dry.removedMemberships)).toEqual(ids(real.removedMemberships));
  });
});

describe('deleteUser: pages too', () => {
  it('first: 1 lists one session with a cursor that the receipt continues; totals are the receipt counts', async () => {
    const { shared } = await twoOrganizations(app);
    const payload = ok(await app.gql(DeleteUserDocument, { id: shared.id, first: 1 })).deleteUser;
    const receipt = payload.receipt!;
    expect(payload.terminatedSessions).toMatchObject({ totalCount: 2, pageInfo: { hasNextPage: true } });
    expect(payload.removedMemberships).toMatchObject({ totalCount: 2, pageInfo: { hasNextPage: true } });
    const sessions = [
      ...payload.terminatedSessions.nodes,
      ...(await restOf<{ id: string }>(shared.id, 'terminatedSessions', payload.terminatedSessions.pageInfo.endCursor)).nodes,
    ];
    const memberships = [
      ...payload.removedMemberships.nodes,
      ...(await restOf<{ id: string }>(shared.id, 'removedMemberships', payload.removedMemberships.pageInfo.endCursor)).nodes,
    ];
    expect(sessions.map((s) => s.id)).toEqual(await eventIds(receipt.id, 'session.terminated', 'sessionId'));
    expect(memberships.map((m) => m.id)).toEqual(await eventIds(receipt.id, 'organization_membership.deleted', 'membershipId'));
    expect(receipt.digest).toBe(expectedDigest('USER', shared.id, sessions.map((s) => s.id), memberships.map((m) => m.id), [shared.id]));
    // A user deletion cascades nobody and retains nobody.
    for (const list of ['cascadedUsers', 'retainedUsers'] as const) {
      const rest = await restOf<{ id: string }>(shared.id, list, null);
      expect(rest.nodes).toEqual([]);
      expect(rest.pages[0]).toEqual({ totalCount: 0, pageInfo: { hasNextPage: false, endCursor: null }, nodes: [] });
    }
    // And the account is gone with its memberships and sessions.
    expect(await app.sql('SELECT 1 FROM users WHERE id = $1', [shared.id])).toEqual([]);
    expect(await app.sql('SELECT 1 FROM memberships WHERE user_id = $1', [shared.id])).toEqual([]);
    expect(await app.sql('SELECT 1 FROM sessions WHERE user_id = $1', [shared.id])).toEqual([]);
  });
});

describe("who may page a receipt: the admin; a user's receipt USERS_DELETE keys, an organization's ORGANIZATIONS_DELETE keys", () => {
  it('an API key with USERS_DELETE pages a receipt; a key without the scope and a signed-in user cannot', async () => {
    const { solo, shared, tokens } = await twoOrganizations(app);
    ok(await app.gql(DeleteUserDocument, { id: shared.id, first: 1 }));
    const { secret } = await createApiKey(app, ['USERS_DELETE']);
    const page = ok(
      await asKey<{ deletionReceipt: { terminatedSessions: Page<{ id: string }> } }>(app, secret, 'DeletionReceiptTerminatedSessions', {
        subjectId: shared.id,
        first: 1,
      }),
    ).deletionReceipt.terminatedSessions;
    expect(page).toMatchObject({ totalCount: 2, pageInfo: { hasNextPage: true } });
    const second = ok(
      await asKey<{ deletionReceipt: { terminatedSessions: Page<{ id: string }> } }>(app, secret, 'DeletionReceiptTerminatedSessions', {
        subjectId: shared.id,
        first: 1,
        after: page.pageInfo.endCursor,
      }),
    ).deletionReceipt.terminatedSessions;
    expect(second.pageInfo.hasNextPage).toBe(false);
    const [stored] = await app.sql<{ id: string }>(`SELECT id FROM deletion_receipts WHERE subject_id = $1`, [shared.id]);
    expect([...page.nodes, ...second.nodes].map((s) => s.id)).toEqual(await eventIds(stored.id, 'session.terminated', 'sessionId'));

    const { secret: reader } = await createApiKey(app, ['USERS_READ']);
    expect(errorCode(await asKey(app, reader, 'DeletionReceiptTerminatedSessions', { subjectId: shared.id }))).toBe('FORBIDDEN');

    // A signed-in user may not read receipts, nor their lists through their own deletion's payload;
    // asked for those, the deletion is refused before anything happens.
    expect(errorCode(await app.gql(DeletionReceiptTerminatedSessionsDocument, { subjectId: shared.id }, { token: tokens.other }))).toBe(
      'FORBIDDEN',
    );
    const before = await tableCounts(app);
    const refused = await app.gql(
      `mutation($id: ID!) { deleteUser(id: $id) { deletedUserId receipt { id terminatedSessions { totalCount } } } }`,
      { id: solo.id },
      { token: tokens.solo },
    );
    expect(errorCode(refused)).toBe('FORBIDDEN');
    expect(await tableCounts(app)).toEqual(before);
    // Their own payload's pages they do get.
    const own = ok(await app.gql(DeleteUserDocument, { id: solo.id, first: 1 }, { token: tokens.solo })).deleteUser;
    expect(own.terminatedSessions).toMatchObject({ totalCount: 2, pageInfo: { hasNextPage: true, endCursor: expect.any(String) } });
    expect(await app.sql(`SELECT 1 FROM users WHERE id = $1`, [solo.id])).toEqual([]);
  });
});

/** What a list cursor holds (tests look inside; clients treat it as opaque). */
const cursorText = (cursor: string | null | undefined) => Buffer.from(cursor ?? '', 'base64url').toString('utf8');

/** A response's error messages, all in one string: none may carry what the client sent (issue 11). */
const messagesOf = (response: { errors?: Array<{ message: string }> }) => (response.errors ?? []).map((e) => e.message).join('\n');

const RECEIPT_LIST_OPERATIONS = [
  'DeletionReceiptTerminatedSessions',
  'DeletionReceiptRemovedMemberships',
  'DeletionReceiptCascadedUsers',
  'DeletionReceiptRetainedUsers',
];

describe("a receipt's lists by the receipt's kind (issue 13 review; src/auth/access.ts canReadReceiptLists)", () => {
  it("a USERS_DELETE key cannot list an organization deletion's people, nor an ORGANIZATIONS_DELETE key a user deletion's; each pages its own kind", async () => {
    const seeded = await seedLargeOrganization(app, 6);
    const { shared } = await twoOrganizations(app);
    ok(await app.gql(DeleteOrganizationDocument, { id: seeded.organizationId, first: 1 }));
    ok(await app.gql(DeleteUserDocument, { id: shared.id, first: 1 }));
    const { secret: usersKey } = await createApiKey(app, ['USERS_DELETE']);
    const { secret: organizationsKey } = await createApiKey(app, ['ORGANIZATIONS_DELETE']);
    const { secret: bothKey } = await createApiKey(app, ['USERS_DELETE', 'ORGANIZATIONS_DELETE']);
    // The retained members still have their accounts: what a USERS_DELETE key could list, then delete.
    const live = await app.sql<{ id: string }>(`SELECT id FROM users WHERE id = ANY($1) ORDER BY id`, [seeded.sharedUserIds]);
    expect(live.map((u) => u.id)).toEqual(seeded.sharedUserIds);

    for (const operation of RECEIPT_LIST_OPERATIONS) {
      const refused = await asKey(app, usersKey, operation, { subjectId: seeded.organizationId });
      expect(errorCode(refused)).toBe('FORBIDDEN');
      expect(JSON.stringify(refused.data ?? null)).not.toContain('usr_');
      expect(errorCode(await asKey(app, organizationsKey, operation, { subjectId: shared.id }))).toBe('FORBIDDEN');
    }
    // The receipt itself (IDs, counts, digest) stays open to either scope.
    for (const [secret, subjectId, kind] of [
      [usersKey, seeded.organizationId, 'ORGANIZATION'],
      [organizationsKey, shared.id, 'USER'],
    ]) {
      const receipt = ok(await asKey<{ deletionReceipt: { kind: string } }>(app, secret, 'GetDeletionReceipt', { subjectId })).deletionReceipt;
      expect(receipt.kind).toBe(kind);
    }

    // Each kind's own scope pages it; a key with both scopes pages both.
    const receiptIds = Object.fromEntries(
      (
        await app.sql<{ subject_id: string; id: string }>(`SELECT subject_id, id FROM deletion_receipts WHERE subject_id = ANY($1)`, [
          [seeded.organizationId, shared.id],
        ])
      ).map((row) => [row.subject_id, row.id]),
    );
    for (const secret of [organizationsKey, bothKey]) {
      const retained = ok(
        await asKey<{ deletionReceipt: { retainedUsers: Page<{ id: string }> } }>(app, secret, 'DeletionReceiptRetainedUsers', {
          subjectId: seeded.organizationId,
        }),
      ).deletionReceipt.retainedUsers;
      expect(retained.nodes.map((u) => u.id).sort()).toEqual(seeded.sharedUserIds);
      const cascaded = ok(
        await asKey<{ deletionReceipt: { cascadedUsers: Page<{ id: string }> } }>(app, secret, 'DeletionReceiptCascadedUsers', {
          subjectId: seeded.organizationId,
        }),
      ).deletionReceipt.cascadedUsers;
      expect(cascaded.nodes.map((u) => u.id)).toEqual(await eventIds(receiptIds[seeded.organizationId], 'user.deleted', 'userId'));
    }
    for (const secret of [usersKey, bothKey]) {
      const sessions = ok(
        await asKey<{ deletionReceipt: { terminatedSessions: Page<{ id: string }> } }>(app, secret, 'DeletionReceiptTerminatedSessions', {
          subjectId: shared.id,
        }),
      ).deletionReceipt.terminatedSessions;
      expect(sessions.nodes.map((s) => s.id)).toEqual(await eventIds(receiptIds[shared.id], 'session.terminated', 'sessionId'));
    }
  });

  it("a signed-in OWNER who selects the receipt's lists in deleteOrganization is refused before anything is deleted", async () => {
    const { acme, tokens } = await twoOrganizations(app);
    const before = await tableCounts(app);
    const refused = await app.gql(
      `mutation($id: ID!) { deleteOrganization(id: $id) { deletedOrganizationId receipt { id retainedUsers { nodes { id } } } } }`,
      { id: acme.id },
      { token: tokens.owner },
    );
    expect(errorCode(refused)).toBe('FORBIDDEN');
    expect(await tableCounts(app)).toEqual(before);
    expect(await app.sql(`SELECT 1 FROM organizations WHERE id = $1`, [acme.id])).toHaveLength(1);
    // Without them, the OWNER deletes it.
    ok(
      await app.gql(`mutation($id: ID!) { deleteOrganization(id: $id) { deletedOrganizationId receipt { id } } }`, { id: acme.id }, {
        token: tokens.owner,
      }),
    );
    expect(await app.sql(`SELECT 1 FROM organizations WHERE id = $1`, [acme.id])).toEqual([]);
  });
});

describe("a receipt's lists selected in a deletion's payload are checked before the deletion (issue 13 review)", () => {
  const DELETE_USER_WITH_RECEIPT_PAGE = `mutation($id: ID!, $first: Int, $after: String) {
    deleteUser(id: $id) { deletedUserId receipt { id terminatedSessions(first: $first, after: $after) { totalCount nodes { id } } } } }`;

  it('first out of range, an after that is no cursor, or a cursor of another list or receipt: BAD_USER_INPUT, and nothing is deleted', async () => {
    const { shared, solo } = await twoOrganizations(app);
    // An earlier deletion, for real cursors of another receipt.
    const earlier = ok(await app.gql(DeleteUserDocument, { id: shared.id, first: 1 })).deleteUser;
    const sessionsCursor = earlier.terminatedSessions.pageInfo.endCursor!;
    const membershipsCursor = earlier.removedMemberships.pageInfo.endCursor!;
    expect([sessionsCursor, membershipsCursor]).toEqual([expect.any(String), expect.any(String)]);
    const before = await tableCounts(app);

    const refusals: Array<[string, string, Record<string, unknown>]> = [
      ['first', DELETE_USER_WITH_RECEIPT_PAGE, { first: 0 }],
      ['first', DELETE_USER_WITH_RECEIPT_PAGE, { first: 101 }],
      ['first', DELETE_USER_WITH_RECEIPT_PAGE, { first: null }],
      ['first', `mutation($id: ID!) { deleteUser(id: $id) { receipt { terminatedSessions(first: 0) { totalCount } } } }`, {}],
      ['after', DELETE_USER_WITH_RECEIPT_PAGE, { after: 'bogus!' }],
      ['after', `mutation($id: ID!) { deleteUser(id: $id) { receipt { terminatedSessions(after: "bogus!") { totalCount } } } }`, {}],
      ['after', DELETE_USER_WITH_RECEIPT_PAGE, { after: membershipsCursor }], // another list's
      ['after', DELETE_USER_WITH_RECEIPT_PAGE, { after: sessionsCursor }], // this list's, of another receipt
    ];
    for (const [field, query, variables] of refusals) {
      const response = await app.gql(query, { id: solo.id, ...variables });
      expect(errorCode(response)).toBe('BAD_USER_INPUT');
      expect(fieldsOf(response)).toEqual([field]);
      expect(response.data ?? null).toBeNull();
      if (typeof variables.after === 'string') expect(messagesOf(response)).not.toContain(variables.after);
    }
    expect(await tableCounts(app)).toEqual(before);
    expect(await app.sql(`SELECT 1 FROM users WHERE id = $1`, [solo.id])).toHaveLength(1);
    expect(await app.sql(`SELECT 1 FROM deletion_receipts WHERE subject_id = $1`, [solo.id])).toEqual([]);

    // Within range and without a cursor, the deletion runs and its receipt pages the list.
    const done = ok(
      await app.gql<{ deleteUser: { receipt: { id: string; terminatedSessions: Page<{ id: string }> } } }, Record<string, unknown>>(
        DELETE_USER_WITH_RECEIPT_PAGE,
        { id: solo.id, first: 100 },
      ),
    ).deleteUser;
    expect(await app.sql(`SELECT 1 FROM users WHERE id = $1`, [solo.id])).toEqual([]);
    expect(done.receipt.terminatedSessions.nodes.map((s) => s.id)).toEqual(await eventIds(done.receipt.id, 'session.terminated', 'sessionId'));
    expect(done.receipt.terminatedSessions.totalCount).toBe(2);
  });

  it("deleteOrganization: the receipt's retainedUsers with a bad first or another list's cursor deletes nothing", async () => {
    const seeded = await seedLargeOrganization(app, 4);
    const earlier = await seedLargeOrganization(app, 2);
    const cursor = ok(await app.gql(DeleteOrganizationDocument, { id: earlier.organizationId, first: 1 })).deleteOrganization.removedMemberships
      .pageInfo.endCursor!;
    const before = await tableCounts(app);
    for (const [field, args] of [
      ['first', 'first: 500'],
      ['first', 'first: -1'],
      ['after', `after: "${cursor}"`],
    ]) {
      const response = await app.gql(
        `mutation($id: ID!) { deleteOrganization(id: $id) { deletedOrganizationId receipt { retainedUsers(${args}) { nodes { id } } } } }`,
        { id: seeded.organizationId },
      );
      expect(errorCode(response)).toBe('BAD_USER_INPUT');
      expect(fieldsOf(response)).toEqual([field]);
    }
    expect(await tableCounts(app)).toEqual(before);
    expect(await app.sql(`SELECT 1 FROM organizations WHERE id = $1`, [seeded.organizationId])).toHaveLength(1);
  });
});

describe('list cursors are bound to their list and their receipt (issue 13 review)', () => {
  it("carry the list and the receipt's txid; another list's or another receipt's cursor is BAD_USER_INPUT, never read as a position", async () => {
    const seeded = await seedLargeOrganization(app, 4);
    const elsewhere = await seedLargeOrganization(app, 4);
    const payload = ok(await app.gql(DeleteOrganizationDocument, { id: seeded.organizationId, first: 1 })).deleteOrganization;
    const otherPayload = ok(await app.gql(DeleteOrganizationDocument, { id: elsewhere.organizationId, first: 1 })).deleteOrganization;
    const cursors = {
      terminatedSessions: payload.terminatedSessions.pageInfo.endCursor!,
      removedMemberships: payload.removedMemberships.pageInfo.endCursor!,
      cascadedUsers: payload.cascadedUsers.pageInfo.endCursor!,
      retainedUsers: payload.retainedUsers.pageInfo.endCursor!,
    };

    // The database: each cursor names its list, the receipt's transaction and the event of the page's last node.
    const [stored] = await app.sql<{ id: string; txid: string }>(
      `SELECT id, txid::text AS txid FROM deletion_receipts WHERE subject_id = $1`,
      [seeded.organizationId],
    );
    const positionOf = async (type: string, key: string, id: string) =>
      (
        await app.sql<{ position: string }>(
          `SELECT position::text AS position FROM events WHERE txid = $1::xid8 AND type = $2 AND data->>$3 = $4`,
          [stored.txid, type, key, id],
        )
      )[0].position;
    expect(cursorText(cursors.terminatedSessions)).toBe(
      `d2:terminatedSessions:${stored.txid}:${await positionOf('session.terminated', 'sessionId', payload.terminatedSessions.nodes[0].id)}`,
    );
    expect(cursorText(cursors.retainedUsers)).toBe(
      `d2:retainedUsers:${stored.txid}:${await positionOf('organization_membership.deleted', 'userId', payload.retainedUsers.nodes[0].id)}`,
    );
    // The receipt's own pages issue the same cursors.
    const receiptPage = ok(await app.gql(DeletionReceiptTerminatedSessionsDocument, { subjectId: seeded.organizationId, first: 1 }))
      .deletionReceipt!.terminatedSessions;
    expect(receiptPage.pageInfo.endCursor).toBe(cursors.terminatedSessions);

    const mismatched: Array<[ListName, string]> = [
      ['removedMemberships', cursors.terminatedSessions], // read as a position: duplicates
      ['terminatedSessions', cursors.removedMemberships], // read as a position: an empty, "finished" page
      ['retainedUsers', cursors.removedMemberships], // the same events, another list
      ['removedMemberships', cursors.retainedUsers],
      ['cascadedUsers', cursors.terminatedSessions],
      ['terminatedSessions', otherPayload.terminatedSessions.pageInfo.endCursor!], // another receipt's
      ['retainedUsers', otherPayload.retainedUsers.pageInfo.endCursor!],
    ];
    for (const [list, after] of mismatched) {
      const response = await app.gql(RECEIPT_PAGES[list] as never, { subjectId: seeded.organizationId, after } as never);
      expect(errorCode(response)).toBe('BAD_USER_INPUT');
      expect(fieldsOf(response)).toEqual(['after']);
      expect(messagesOf(response)).not.toContain(after);
    }
    // A user deletion's cursor on an organization's receipt, the same list: another receipt too.
    const { other } = await twoOrganizations(app);
    const userCursor = ok(await app.gql(DeleteUserDocument, { id: other.id, first: 1 })).deleteUser.terminatedSessions.pageInfo.endCursor!;
    expect(errorCode(await app.gql(DeletionReceiptTerminatedSessionsDocument, { subjectId: seeded.organizationId, after: userCursor }))).toBe(
      'BAD_USER_INPUT',
    );

    // Each list's own cursor continues it: every entry once, in event order.
    for (const [list, type, key] of [
      ['terminatedSessions', 'session.terminated', 'sessionId'],
      ['removedMemberships', 'organization_membership.deleted', 'membershipId'],
      ['cascadedUsers', 'user.deleted', 'userId'],
    ] as const) {
      const first = (payload[list].nodes as Array<{ id: string }>).map((node) => node.id);
      const rest = (await restOf<{ id: string }>(seeded.organizationId, list, cursors[list], 2)).nodes.map((node) => node.id);
      expect([...first, ...rest]).toEqual(await eventIds(stored.id, type, key));
    }
  });
});

describe('@skip and @include in a deletion payload (issue 13 review; src/http/selection.ts)', () => {
  const GUARDED = `mutation($id: ID!, $with: Boolean!, $skip: Boolean!) {
    deleteUser(id: $id) {
      deletedUserId
      terminatedSessions(first: 0) @include(if: $with) { totalCount }
      ...Memberships @include(if: $with)
      ... @skip(if: $skip) { receipt { id terminatedSessions(after: "bogus!") { totalCount } } }
      receipt { id }
    }
  }
  fragment Memberships on DeleteUserPayload { removedMemberships(first: 500) { totalCount } }`;

  it('a field, inline fragment or fragment spread that will not run is not checked; one that runs still is', async () => {
    const { other } = await twoOrganizations(app);
    const before = await tableCounts(app);
    for (const variables of [
      { with: true, skip: false },
      { with: true, skip: true }, // first: 0 and first: 500 still run
      { with: false, skip: false }, // after: "bogus!" still runs
    ]) {
      const response = await app.gql(GUARDED, { id: other.id, ...variables });
      expect(errorCode(response)).toBe('BAD_USER_INPUT');
    }
    expect(await tableCounts(app)).toEqual(before);
    expect(await app.sql(`SELECT 1 FROM users WHERE id = $1`, [other.id])).toHaveLength(1);

    const done = ok(
      await app.gql<{ deleteUser: Record<string, unknown> & { receipt: { id: string } } }, Record<string, unknown>>(GUARDED, {
        id: other.id,
        with: false,
        skip: true,
      }),
    ).deleteUser;
    expect(Object.keys(done).sort()).toEqual(['deletedUserId', 'receipt']);
    expect(await app.sql(`SELECT 1 FROM users WHERE id = $1`, [other.id])).toEqual([]);
    expect(await app.sql(`SELECT id FROM deletion_receipts WHERE subject_id = $1`, [other.id])).toEqual([{ id: done.receipt.id }]);
  });

  it("a signed-in user's own deletion with the receipt's lists skipped is not refused", async () => {
    const { solo, tokens } = await twoOrganizations(app);
    const response = await app.gql(
      `mutation($id: ID!, $lists: Boolean!) { deleteUser(id: $id) { deletedUserId
         receipt { id terminatedSessions @include(if: $lists) { totalCount } ...ReceiptLists @skip(if: true) } } }
       fragment ReceiptLists on DeletionReceipt { removedMemberships { totalCount } }`,
      { id: solo.id, lists: false },
      { token: tokens.solo },
    );
    expect(ok(response)).toEqual({ deleteUser: { deletedUserId: solo.id, receipt: { id: expect.any(String) } } });
    expect(await app.sql(`SELECT 1 FROM users WHERE id = $1`, [solo.id])).toEqual([]);
  });
});

describe('an Int literal out of range (issue 11, found in the issue 13 review)', () => {
  it('is BAD_USER_INPUT with a message that does not echo the literal; nothing is deleted', async () => {
    const seeded = await seedLargeOrganization(app, 2);
    const before = await tableCounts(app);
    for (const query of [
      `mutation($id: ID!) { deleteOrganization(id: $id) { terminatedSessions(first: 99999999999) { totalCount } } }`,
      `mutation($id: ID!) { deleteOrganization(id: $id) { receipt { retainedUsers(first: -99999999999) { totalCount } } } }`,
      `query($id: ID!) { deletionReceipt(subjectId: $id) { cascadedUsers(first: 99999999999) { totalCount } } }`,
    ]) {
      const response = await app.gql(query, { id: seeded.organizationId });
      expect(response.status).toBe(400);
      expect(errorCode(response)).toBe('BAD_USER_INPUT');
      expect(response.errors!.map((e) => e.message)).toEqual([INT_OUT_OF_RANGE_MESSAGE]);
      expect(JSON.stringify(response.errors)).not.toContain('99999999999');
    }
    expect(await tableCounts(app)).toEqual(before);
    expect(await app.sql(`SELECT 1 FROM organizations WHERE id = $1`, [seeded.organizationId])).toHaveLength(1);
  });
});

describe('the node limit counts the lists by their first (src/http/query-limits.ts)', () => {
  it('DeleteOrganization: 1 + 4 lists × (1 + first × (nodes + pageInfo)) + the receipt', async () => {
    const schema = await buildAppSchema();
    const document = parse(print(DeleteOrganizationDocument));
    const operation = document.definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION)!;
    const count = (variables: Record<string, unknown>) => operationNodeCount(schema, document, operation, { id: 'x', ...variables });
    expect(count({})).toBe(1 + 4 * (1 + 100 * 2) + 1);
    expect(count({ first: 5 })).toBe(1 + 4 * (1 + 5 * 2) + 1);
    // Out of range it is refused by the resolver; counted at the bound meanwhile.
    expect(count({ first: 100_000 })).toBe(count({ first: 100 }));
    expect(count({})).toBeLessThanOrEqual(QUERY_LIMITS.maxNodes / 2);
    const receiptPages = parse(print(DeletionReceiptTerminatedSessionsDocument));
    const receiptOperation = receiptPages.definitions.find((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION)!;
    expect(operationNodeCount(schema, receiptPages, receiptOperation, { subjectId: 'x', first: 10 })).toBe(1 + 1 + 10 * 2);
  });
});

/** A receipt row as the schema before the migration held it (counts and digest do not matter here). */
const OLD_RECEIPT = `INSERT INTO deletion_receipts
  (id, kind, subject_id, actor, terminated_session_count, removed_membership_count, cascaded_user_count, digest)
  VALUES ($1, $2, $3, 'admin', 0, 0, 0, repeat('0', 64))`;

describe('the migration (DeletionReceiptPages1764300600000)', () => {
  it("gives existing receipts their deletion's txid from its events, and NULL to one whose events are gone", async () => {
    const baseUrl = process.env.TEST_DATABASE_URL!;
    const name = `test_migration_${randomBytes(6).toString('hex')}`;
    const admin = new Client({ connectionString: baseUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    const url = new URL(baseUrl);
    url.pathname = `/${name}`;
    const before = migrations.slice(0, migrations.indexOf(DeletionReceiptPages1764300600000));
    const old = new DataSource({ type: 'postgres', url: url.toString(), migrations: before, entities: [] });
    try {
      await old.initialize();
      await old.runMigrations({ transaction: 'each' });
      // A deletion as the old schema wrote it: receipt and events in one transaction.
      const written = await old.transaction(async (manager) => {
        await manager.query(OLD_RECEIPT, ['rcp_01ARZ3NDEKTSV4RRFFQ69G5FA1', 'USER', 'usr_01ARZ3NDEKTSV4RRFFQ69G5FA1']);
        await manager.query(`INSERT INTO events (type, data) VALUES ('user.deleted', $1)`, [
          JSON.stringify({ userId: 'usr_01ARZ3NDEKTSV4RRFFQ69G5FA1', receiptId: 'rcp_01ARZ3NDEKTSV4RRFFQ69G5FA1' }),
        ]);
        const [{ txid }] = await manager.query(`SELECT pg_current_xact_id()::text AS txid`);
        return txid as string;
      });
      // One whose events are gone.
      await old.query(OLD_RECEIPT, ['rcp_01ARZ3NDEKTSV4RRFFQ69G5FA2', 'ORGANIZATION', 'org_01ARZ3NDEKTSV4RRFFQ69G5FA2']);
      await old.destroy();
      const current = new DataSource({ type: 'postgres', url: url.toString(), migrations, entities: [] });
      await current.initialize();
      try {
        await current.runMigrations({ transaction: 'each' });
        expect(await current.query(`SELECT id, txid::text AS txid FROM deletion_receipts ORDER BY id`)).toEqual([
          { id: 'rcp_01ARZ3NDEKTSV4RRFFQ69G5FA1', txid: written },
          { id: 'rcp_01ARZ3NDEKTSV4RRFFQ69G5FA2', txid: null },
        ]);
        // New receipts get their transaction's ID by default.
        const fresh = await current.transaction(async (manager) => {
          await manager.query(OLD_RECEIPT, ['rcp_01ARZ3NDEKTSV4RRFFQ69G5FA3', 'USER', 'usr_01ARZ3NDEKTSV4RRFFQ69G5FA3']);
          const [{ txid }] = await manager.query(`SELECT pg_current_xact_id()::text AS txid`);
          return txid as string;
        });
        const [latest] = await current.query(`SELECT txid::text AS txid FROM deletion_receipts WHERE id = $1`, [
          'rcp_01ARZ3NDEKTSV4RRFFQ69G5FA3',
        ]);
        expect(latest).toEqual({ txid: fresh });
      } finally {
        await current.destroy();
      }
    } finally {
      if (old.isInitialized) await old.destroy();
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    }
  });
});

/** Waits until `condition` holds, polling every 50 ms, for at most 20 s. */
async function until(condition: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('timed out waiting for the condition');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('the migration of the indexes (DeletionReceiptPageIndexes1764300600500)', () => {
  it('builds them CONCURRENTLY outside a transaction: writes to events go on meanwhile, and an index a failed build left INVALID is built again', async () => {
    const baseUrl = process.env.TEST_DATABASE_URL!;
    const name = `test_migration_${randomBytes(6).toString('hex')}`;
    const admin = new Client({ connectionString: baseUrl });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    const url = new URL(baseUrl);
    url.pathname = `/${name}`;
    const old = new DataSource({
      type: 'postgres',
      url: url.toString(),
      migrations: migrations.slice(0, migrations.indexOf(DeletionReceiptPageIndexes1764300600500)),
      entities: [],
    });
    const current = new DataSource({ type: 'postgres', url: url.toString(), migrations, entities: [] });
    // `writer` keeps a write to events open; `bystander` writes to events while the indexes are built.
    const writer = new Client({ connectionString: url.toString() });
    const bystander = new Client({ connectionString: url.toString() });
    const insertEvent = (client: Client) => client.query(`INSERT INTO events (type, data) VALUES ('user.deleted', '{}')`);
    const validity = async () =>
      Object.fromEntries(
        (
          await bystander.query<{ name: string; valid: boolean }>(
            `SELECT c.relname AS name, i.indisvalid AS valid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
              WHERE c.relname IN ('events_txid_type_position_idx', 'events_deleted_user_idx')`,
          )
        ).rows.map((row) => [row.name, row.valid]),
      );
    try {
      await old.initialize();
      await old.runMigrations({ transaction: 'each' });
      await old.destroy();
      expect(new DeletionReceiptPageIndexes1764300600500().transaction).toBe(false);
      await writer.connect();
      await bystander.connect();
      await writer.query('BEGIN');
      await insertEvent(writer);

      // A build that gave up part way (here: waiting for the open write) leaves an INVALID index.
      await bystander.query(`SET lock_timeout = '300ms'`);
      await expect(
        bystander.query(`CREATE INDEX CONCURRENTLY events_txid_type_position_idx ON events (txid, type, position)`),
      ).rejects.toThrow(/timeout/);
      expect(await validity()).toEqual({ events_txid_type_position_idx: false });

      // The migration waits for the open write, as a concurrent build does; meanwhile events take writes.
      // (A plain CREATE INDEX queues a SHARE lock that every later INSERT would wait behind.)
      await current.initialize();
      const migrating = current.runMigrations({ transaction: 'each' });
      await until(
        async () =>
          (
            await bystander.query(
              `SELECT 1 FROM pg_stat_activity
                WHERE datname = current_database() AND pid <> pg_backend_pid() AND wait_event_type = 'Lock' AND query ILIKE '%INDEX%'`,
            )
          ).rows.length > 0,
      );
      await bystander.query(`SET lock_timeout = '5s'`);
      await insertEvent(bystander);
      await writer.query('COMMIT');
      const ran = (await migrating).map((migration) => migration.name);
      expect(ran).toContain('DeletionReceiptPageIndexes1764300600500');

      expect(await validity()).toEqual({ events_txid_type_position_idx: true, events_deleted_user_idx: true });
      const definitions = await bystander.query<{ definition: string }>(
        `SELECT pg_get_indexdef(c.oid) AS definition FROM pg_class c
          WHERE c.relname IN ('events_txid_type_position_idx', 'events_deleted_user_idx') ORDER BY c.relname DESC`,
      );
      expect(definitions.rows.map((row) => row.definition)).toEqual([
        expect.stringMatching(/ON public\.events USING btree \(txid, type, "?position"?\)$/),
        expect.stringMatching(/ON public\.events USING btree \(\(\(data ->> 'userId'::text\)\)\) WHERE .*'user\.deleted'/),
      ]);
      expect((await bystander.query(`SELECT count(*)::int AS count FROM events`)).rows).toEqual([{ count: 2 }]);
      // Run again, it finds nothing to do.
      expect(await current.runMigrations({ transaction: 'each' })).toEqual([]);
    } finally {
      await writer.end().catch(() => undefined);
      await bystander.end().catch(() => undefined);
      if (current.isInitialized) await current.destroy();
      if (old.isInitialized) await old.destroy();
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.end();
    }
  });
});
