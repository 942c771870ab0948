import {
  DeleteOrganizationDocument,
  DeleteUserDocument,
  EventsDocument,
  GetDeletionReceiptDocument,
  UpdateMemberRoleDocument,
  ViewerDocument,
} from '../src/generated/graphql';
import { startTestApp, type TestApp } from './support/app';
import { expectedDigest, twoOrganizations } from './support/deletion-fixtures';
import { databaseSnapshot, errorCode, factory, ok, tableCounts } from './support/factory';

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp();
});
afterAll(() => app.close());

describe('deleteUser', () => {
  it('terminates active sessions, removes memberships, deletes the account, and leaves no personal data', async () => {
    const { shared, acme, globex, tokens } = await twoOrganizations(app);
    const activeBefore = await app.sql<{ id: string }>(
      `SELECT id FROM sessions WHERE user_id = $1 AND terminated_at IS NULL ORDER BY id`,
      [shared.id],
    );
    const membershipsBefore = await app.sql<{ id: string }>(`SELECT id FROM memberships WHERE user_id = $1`, [shared.id]);

    const payload = ok(await app.gql(DeleteUserDocument, { id: shared.id })).deleteUser;

    expect(payload.deletedUserId).toBe(shared.id);
    expect(payload.dryRun).toBe(false);
    expect(payload.terminatedSessions.nodes.map((s) => s.id).sort()).toEqual(activeBefore.map((s) => s.id).sort());
    expect(payload.terminatedSessions.nodes.every((s) => s.userId === shared.id)).toBe(true);
    expect(payload.removedMemberships.nodes.map((m) => m.organizationId).sort()).toEqual([acme.id, globex.id].sort());
    expect(payload.removedMemberships.nodes.map((m) => m.id).sort()).toEqual(membershipsBefore.map((m) => m.id).sort());
    const receipt = payload.receipt!;
    expect(receipt).toMatchObject({
      kind: 'USER',
      subjectId: shared.id,
      actor: 'admin',
      terminatedSessionCount: 2,
      removedMembershipCount: 2,
      cascadedUserCount: 0,
    });
    expect(receipt.digest).toBe(
      expectedDigest(
        'USER',
        shared.id,
        payload.terminatedSessions.nodes.map((s) => s.id),
        payload.removedMemberships.nodes.map((m) => m.id),
        [shared.id],
      ),
    );

    // The database afterwards: user, memberships and all session rows gone.
    expect(await app.sql(`SELECT 1 FROM users WHERE id = $1`, [shared.id])).toEqual([]);
    expect(await app.sql(`SELECT 1 FROM memberships WHERE user_id = $1`, [shared.id])).toEqual([]);
    expect(await app.sql(`SELECT 1 FROM sessions WHERE user_id = $1`, [shared.id])).toEqual([]);
    // Every row of every table, as text: the deleted person's email and name appear nowhere.
    const dump = JSON.stringify(await databaseSnapshot(app));
    expect(dump).not.toContain(shared.email);
    expect(dump).not.toContain(shared.name);

    // The token fails on the very next request.
    const next = await app.gql(ViewerDocument, {}, { token: tokens.shared });
    expect(next.status).toBe(401);
    expect(errorCode(next)).toBe('UNAUTHENTICATED');

    // Repeating answers NOT_FOUND; the receipt tells what happened.
    expect(errorCode(await app.gql(DeleteUserDocument, { id: shared.id }))).toBe('NOT_FOUND');
    const stored = ok(await app.gql(GetDeletionReceiptDocument, { subjectId: shared.id })).deletionReceipt;
    expect(stored).toEqual(receipt);
  });

  it('a dry run returns the same payload and writes nothing', async () => {
    const { solo } = await twoOrganizations(app);
    const before = await tableCounts(app);
    const dry = ok(await app.gql(DeleteUserDocument, { id: solo.id, dryRun: true })).deleteUser;
    expect(await tableCounts(app)).toEqual(before);
    expect(dry.dryRun).toBe(true);
    expect(dry.receipt).toBeNull();
    const real = ok(await app.gql(DeleteUserDocument, { id: solo.id })).deleteUser;
    const strip = (p: typeof real) => ({
      ...p,
      dryRun: undefined,
      receipt: undefined,
      terminatedSessions: p.terminatedSessions.nodes.map(({ terminatedAt: _t, ...s }) => s),
      removedMemberships: p.removedMemberships.nodes,
    });
    expect(strip(dry)).toEqual(strip(real));
    // The same totals and pages; only a real deletion's cursors continue (in its receipt).
    for (const list of [dry.terminatedSessions, dry.removedMemberships]) expect(list.pageInfo).toEqual({ hasNextPage: false, endCursor: null });
    expect(real.terminatedSessions.totalCount).toBe(dry.terminatedSessions.totalCount);
    expect(real.removedMemberships.totalCount).toBe(dry.removedMemberships.totalCount);
  });

  it('refuses a signed-in user deleting anyone but themselves (FORBIDDEN, existing or not), and bad IDs, changing nothing', async () => {
    const { solo, tokens } = await twoOrganizations(app);
    const before = await tableCounts(app);
    // Not even an OWNER may delete a member of their organization; an unknown ID reads the same.
    expect(errorCode(await app.gql(DeleteUserDocument, { id: solo.id }, { token: tokens.owner }))).toBe('FORBIDDEN');
    expect(errorCode(await app.gql(DeleteUserDocument, { id: solo.id, dryRun: true }, { token: tokens.owner }))).toBe('FORBIDDEN');
    expect(errorCode(await app.gql(DeleteUserDocument, { id: 'usr_01ARZ3NDEKTSV4RRFFQ69G5FAV' }, { token: tokens.owner }))).toBe(
      'FORBIDDEN',
    );
    expect(errorCode(await app.gql(DeleteUserDocument, { id: 'org_01ARZ3NDEKTSV4RRFFQ69G5FAV' }))).toBe('BAD_USER_INPUT');
    expect(errorCode(await app.gql(DeleteUserDocument, { id: 'usr_01ARZ3NDEKTSV4RRFFQ69G5FAV' }))).toBe('NOT_FOUND');
    expect(await tableCounts(app)).toEqual(before);
  });
});

describe('deleteUser by the signed-in user themselves (issue 9, self-service erasure)', () => {
  it('deletes their own account with the same engine: receipt and events name user:<id>, nothing of them is left', async () => {
    const { acme, solo, tokens } = await twoOrganizations(app);
    const sessionsBefore = await app.sql<{ id: string }>(
      `SELECT id FROM sessions WHERE user_id = $1 AND terminated_at IS NULL ORDER BY id`,
      [solo.id],
    );

    const payload = ok(await app.gql(DeleteUserDocument, { id: solo.id }, { token: tokens.solo })).deleteUser;

    expect(payload.deletedUserId).toBe(solo.id);
    expect(payload.removedMemberships.nodes.map((m) => m.organizationId)).toEqual([acme.id]);
    expect(payload.terminatedSessions.nodes.map((s) => s.id).sort()).toEqual(sessionsBefore.map((s) => s.id));
    const receipt = payload.receipt!;
    expect(receipt).toMatchObject({ kind: 'USER', subjectId: solo.id, actor: `user:${solo.id}`, removedMembershipCount: 1 });
    expect(receipt.digest).toBe(
      expectedDigest(
        'USER',
        solo.id,
        payload.terminatedSessions.nodes.map((s) => s.id),
        payload.removedMemberships.nodes.map((m) => m.id),
        [solo.id],
      ),
    );
    // The events of this receipt, written in the same transaction: IDs only.
    const events = await app.sql<{ type: string; data: Record<string, string> }>(
      `SELECT type, data FROM events WHERE data->>'receiptId' = $1 ORDER BY type`,
      [receipt.id],
    );
    expect(events.map((e) => e.type)).toEqual([
      'organization_membership.deleted',
      ...Array(sessionsBefore.length).fill('session.terminated'),
      'user.deleted',
    ]);
    expect(JSON.stringify(events)).not.toContain(solo.email);

    expect(await app.sql(`SELECT 1 FROM users WHERE id = $1`, [solo.id])).toEqual([]);
    expect(await app.sql(`SELECT 1 FROM memberships WHERE user_id = $1`, [solo.id])).toEqual([]);
    expect(await app.sql(`SELECT 1 FROM sessions WHERE user_id = $1`, [solo.id])).toEqual([]);
    const dump = JSON.stringify(await databaseSnapshot(app));
    expect(dump).not.toContain(solo.email);
    expect(dump).not.toContain(solo.name);
    // The token they used is gone with them.
    expect((await app.gql(ViewerDocument, {}, { token: tokens.solo })).status).toBe(401);
    expect(ok(await app.gql(GetDeletionReceiptDocument, { subjectId: solo.id })).deletionReceipt).toEqual(receipt);
  });

  it('a dry run by themselves shows what would go and writes nothing; they stay signed in', async () => {
    const { solo, tokens } = await twoOrganizations(app);
    const before = await databaseSnapshot(app);
    const dry = ok(await app.gql(DeleteUserDocument, { id: solo.id, dryRun: true }, { token: tokens.solo })).deleteUser;
    expect(dry).toMatchObject({ deletedUserId: solo.id, dryRun: true, receipt: null });
    expect(dry.removedMemberships.nodes).toHaveLength(1);
    expect(await databaseSnapshot(app)).toEqual(before);
    expect(ok(await app.gql(ViewerDocument, {}, { token: tokens.solo })).viewer.kind).toBe('SESSION');
  });
});

describe('deleteUser: the last-OWNER guard (issue 9)', () => {
  it('is CONFLICT listing, sorted, exactly the organizations the user is the last OWNER of; nothing changes', async () => {
    const f = factory(app);
    const person = await f.user();
    // Last OWNER of three (one where they are the only member at all), co-OWNER of one, MEMBER of one.
    const lastOwned = await Promise.all([f.organization(), f.organization(), f.organization()]);
    const [coOwned, memberOf] = [await f.organization(), await f.organization()];
    for (const organization of lastOwned) await f.member(organization.id, person.id, 'OWNER');
    await f.member(lastOwned[0].id, (await f.user()).id, 'ADMIN');
    await f.member(lastOwned[1].id, (await f.user()).id, 'MEMBER');
    await f.member(coOwned.id, person.id, 'OWNER');
    await f.member(coOwned.id, (await f.user()).id, 'OWNER');
    await f.member(memberOf.id, person.id, 'MEMBER');
    await f.member(memberOf.id, (await f.user()).id, 'OWNER');
    await f.session(person.id);
    const before = await databaseSnapshot(app);

    for (const dryRun of [false, true]) {
      const response = await app.gql(DeleteUserDocument, { id: person.id, dryRun });
      expect(response.data ?? null).toBeNull();
      expect(response.errors).toHaveLength(1);
      const [error] = response.errors!;
      expect(error.extensions).toEqual({ code: 'CONFLICT', organizationIds: lastOwned.map((o) => o.id).sort() });
      expect(error.message).toMatch(/promote another member to OWNER/);
      expect(error.message).toMatch(/delete the organization/);
      expect(error.message).not.toContain(person.email);
      expect(await databaseSnapshot(app)).toEqual(before);
    }
    expect(ok(await app.gql(GetDeletionReceiptDocument, { subjectId: person.id })).deletionReceipt).toBeNull();

    // Resolve each: delete one organization (they are retained: they have others), promote a member in the others.
    ok(await app.gql(DeleteOrganizationDocument, { id: lastOwned[2].id }));
    const promote = async (organizationId: string) => {
      const [{ user_id: userId }] = await app.sql<{ user_id: string }>(
        `SELECT user_id FROM memberships WHERE organization_id = $1 AND user_id <> $2`,
        [organizationId, person.id],
      );
      ok(await app.gql(UpdateMemberRoleDocument, { input: { organizationId, userId, role: 'OWNER' } }));
    };
    await promote(lastOwned[0].id);
    const stillOne = await app.gql(DeleteUserDocument, { id: person.id });
    expect(stillOne.errors?.[0]?.extensions).toEqual({ code: 'CONFLICT', organizationIds: [lastOwned[1].id] });
    await promote(lastOwned[1].id);

    const payload = ok(await app.gql(DeleteUserDocument, { id: person.id })).deleteUser;
    expect(payload.removedMemberships.nodes.map((m) => m.organizationId).sort()).toEqual(
      [lastOwned[0].id, lastOwned[1].id, coOwned.id, memberOf.id].sort(),
    );
    // Every organization that still has members still has an OWNER.
    expect(
      await app.sql(
        `SELECT organization_id FROM memberships GROUP BY organization_id HAVING NOT bool_or(role = 'OWNER')
          INTERSECT SELECT id FROM organizations WHERE id = ANY($1)`,
        [[...lastOwned, coOwned, memberOf].map((o) => o.id)],
      ),
    ).toEqual([]);
  });

  it('does not hold back deleteOrganization: its sole OWNER, with no other organization, is deleted with it', async () => {
    const { acme, owner } = await twoOrganizations(app);
    expect(errorCode(await app.gql(DeleteUserDocument, { id: owner.id }))).toBe('CONFLICT');
    const payload = ok(await app.gql(DeleteOrganizationDocument, { id: acme.id })).deleteOrganization;
    expect(payload.cascadedUsers.nodes.map((u) => u.id)).toContain(owner.id);
    expect(await app.sql(`SELECT 1 FROM users WHERE id = $1`, [owner.id])).toEqual([]);
  });
});

describe('deleteOrganization', () => {
  it('cascades to single-organization members, keeps the others, and removes the organization data', async () => {
    const { acme, globex, owner, solo, shared, other, tokens } = await twoOrganizations(app);
    const memberIds = [owner.id, solo.id, shared.id];
    const active = await app.sql<{ id: string }>(
      `SELECT id FROM sessions WHERE user_id = ANY($1) AND terminated_at IS NULL ORDER BY id`,
      [memberIds],
    );

    const payload = ok(await app.gql(DeleteOrganizationDocument, { id: acme.id }, { token: tokens.owner }))
      .deleteOrganization;

    expect(payload.deletedOrganizationId).toBe(acme.id);
    expect(payload.cascadedUsers.nodes.map((u) => u.id).sort()).toEqual([owner.id, solo.id].sort());
    expect(payload.retainedUsers.nodes.map((u) => u.id)).toEqual([shared.id]);
    expect(payload.removedMemberships.nodes).toHaveLength(3);
    expect(payload.terminatedSessions.nodes.map((s) => s.id).sort()).toEqual(active.map((s) => s.id).sort());
    expect(payload.receipt).toMatchObject({
      kind: 'ORGANIZATION',
      subjectId: acme.id,
      actor: `user:${owner.id}`,
      terminatedSessionCount: 6,
      removedMembershipCount: 3,
      cascadedUserCount: 2,
    });
    expect(payload.receipt!.digest).toBe(
      expectedDigest(
        'ORGANIZATION',
        acme.id,
        payload.terminatedSessions.nodes.map((s) => s.id),
        payload.removedMemberships.nodes.map((m) => m.id),
        payload.cascadedUsers.nodes.map((u) => u.id),
      ),
    );

    // Organization and everything it owned: gone.
    for (const table of ['organizations', 'organization_domains', 'organization_settings', 'memberships']) {
      const column = table === 'organizations' ? 'id' : 'organization_id';
      expect(await app.sql(`SELECT 1 FROM ${table} WHERE ${column} = $1`, [acme.id])).toEqual([]);
    }
    expect(await app.sql(`SELECT 1 FROM sessions WHERE organization_id = $1`, [acme.id])).toEqual([]);
    // Cascaded users gone with their sessions; the shared member keeps account, globex membership, and TERMINATED rows.
    expect(await app.sql(`SELECT id FROM users WHERE id = ANY($1)`, [[owner.id, solo.id]])).toEqual([]);
    expect(await app.sql(`SELECT 1 FROM sessions WHERE user_id = ANY($1)`, [[owner.id, solo.id]])).toEqual([]);
    expect(await app.sql(`SELECT organization_id FROM memberships WHERE user_id = $1`, [shared.id])).toEqual([
      { organization_id: globex.id },
    ]);
    const sharedSessions = await app.sql<{ terminated_at: Date | null; termination_reason: string | null }>(
      `SELECT terminated_at, termination_reason FROM sessions WHERE user_id = $1`,
      [shared.id],
    );
    expect(sharedSessions).toHaveLength(3);
    expect(sharedSessions.every((s) => s.terminated_at !== null)).toBe(true);
    expect(sharedSessions.filter((s) => s.termination_reason === 'organization_deleted')).toHaveLength(2);
    // A non-member's account and sessions are untouched.
    expect(
      await app.sql(`SELECT count(*)::int AS n FROM sessions WHERE user_id = $1 AND terminated_at IS NULL`, [other.id]),
    ).toEqual([{ n: 2 }]);
    // Every row of every table, as text: the deleted person's email and name appear nowhere.
    const dump = JSON.stringify(await databaseSnapshot(app));
    for (const gone of [owner.email, solo.email, owner.name!, solo.name!]) expect(dump).not.toContain(gone);

    for (const token of [tokens.owner, tokens.solo, tokens.shared]) {
      expect((await app.gql(ViewerDocument, {}, { token })).status).toBe(401);
    }
    expect((await app.gql(ViewerDocument, {}, { token: tokens.other })).status).toBe(200);
  });

  it('events: a poller paging with endCursor gets every event in transaction order, across txids of different lengths', async () => {
    // Transactions 95 to 106: as text, "100" sorts before "95", and a cursor past "106" would skip 95 to 99.
    const marker = `order-${Date.now()}`;
    await app.sql(
      `INSERT INTO events (txid, type, data)
       SELECT t::text::xid8, 'user.deleted', jsonb_build_object('userId', $1 || '-' || t) FROM generate_series(106, 95, -1) t`,
      [marker],
    );
    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 1000; page += 1) {
      const events: { nodes: Array<{ data: unknown }>; pageInfo: { hasNextPage: boolean; endCursor?: string | null } } = ok(
        await app.gql(EventsDocument, { first: 3, after, types: ['user.deleted'] }),
      ).events;
      seen.push(...events.nodes.map((e) => String((e.data as { userId: string }).userId)).filter((id) => id.startsWith(marker)));
      if (!events.pageInfo.hasNextPage) break;
      after = events.pageInfo.endCursor ?? null;
    }
    expect(seen).toEqual(Array.from({ length: 12 }, (_, i) => `${marker}-${95 + i}`));
  });

  it('writes one event per fact, in the same transaction, with IDs only', async () => {
    const { acme, owner, solo, shared } = await twoOrganizations(app);
    const head = ok(await app.gql(EventsDocument, { first: 100 })).events;
    let after = head.pageInfo.endCursor;
    while ((await app.gql(EventsDocument, { first: 100, after })).data?.events.pageInfo.hasNextPage) {
      after = ok(await app.gql(EventsDocument, { first: 100, after })).events.pageInfo.endCursor;
    }
    const payload = ok(await app.gql(DeleteOrganizationDocument, { id: acme.id })).deleteOrganization;
    // Events show once every older transaction in the cluster has ended (see the events
    // migration); other test files' transactions on the same server can hold that back
    // for a moment, so poll as a client would.
    // Earlier deletions' events held back the same way may show up after the cursor too:
    // keep only this deletion's, by its receipt.
    const receiptId = payload.receipt!.id;
    const ours = async () =>
      ok(await app.gql(EventsDocument, { first: 100, after })).events.nodes.filter(
        (e) => (e.data as { receiptId?: string }).receiptId === receiptId,
      );
    let events = await ours();
    for (let attempt = 0; attempt < 600 && !events.some((e) => e.type === 'organization.deleted'); attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      events = await ours();
    }
    const byType = (type: string) => events.filter((e) => e.type === type);
    expect(byType('organization.deleted').map((e) => (e.data as { organizationId: string }).organizationId)).toEqual([
      acme.id,
    ]);
    expect(byType('user.deleted').map((e) => (e.data as { userId: string }).userId).sort()).toEqual(
      [owner.id, solo.id].sort(),
    );
    expect(byType('organization_membership.deleted')).toHaveLength(3);
    expect(byType('session.terminated')).toHaveLength(payload.terminatedSessions.totalCount);
    expect(events.map((e) => e.type)).toEqual([
      ...Array(payload.terminatedSessions.totalCount).fill('session.terminated'),
      ...Array(3).fill('organization_membership.deleted'),
      'user.deleted',
      'user.deleted',
      'organization.deleted',
    ]);
    const text = JSON.stringify(events);
    for (const secret of [owner.email, solo.email, shared.email, owner.name!]) expect(text).not.toContain(secret);
    const filtered = ok(await app.gql(EventsDocument, { first: 100, after, types: ['user.deleted'] })).events;
    const filteredOurs = filtered.nodes.filter((e) => (e.data as { receiptId?: string }).receiptId === receiptId);
    expect(filteredOurs.map((e) => e.type)).toEqual(['user.deleted', 'user.deleted']);
    expect(filtered.nodes.every((e) => e.type === 'user.deleted')).toBe(true);
  });

  it('refuses a non-owner member with FORBIDDEN and a non-member with NOT_FOUND, changing nothing', async () => {
    const { acme, tokens } = await twoOrganizations(app);
    const before = await tableCounts(app);
    expect(errorCode(await app.gql(DeleteOrganizationDocument, { id: acme.id }, { token: tokens.solo }))).toBe(
      'FORBIDDEN',
    );
    expect(errorCode(await app.gql(DeleteOrganizationDocument, { id: acme.id }, { token: tokens.other }))).toBe(
      'NOT_FOUND',
    );
    expect(await tableCounts(app)).toEqual(before);
  });

  it("an OWNER deleting their only organization deletes their own account too, and the dry run says so first (README, issue 9)", async () => {
    const f = factory(app);
    const organization = await f.organization();
    const { user: owner, token } = await f.signedInMember(organization.id, 'OWNER');
    const before = await databaseSnapshot(app);

    const dry = ok(await app.gql(DeleteOrganizationDocument, { id: organization.id, dryRun: true }, { token })).deleteOrganization;
    expect(dry.cascadedUsers.nodes.map((u) => u.id)).toEqual([owner.id]);
    expect(await databaseSnapshot(app)).toEqual(before);

    const real = ok(await app.gql(DeleteOrganizationDocument, { id: organization.id }, { token })).deleteOrganization;
    expect(real.cascadedUsers.nodes.map((u) => u.id)).toEqual([owner.id]);
    expect(real.receipt?.actor).toBe(`user:${owner.id}`);
    expect(await app.sql(`SELECT 1 FROM users WHERE id = $1`, [owner.id])).toEqual([]);
    expect((await app.gql(ViewerDocument, {}, { token })).status).toBe(401);
  });

  it('a dry run writes nothing: no receipt, no events', async () => {
    const { acme } = await twoOrganizations(app);
    const before = await tableCounts(app);
    const dry = ok(await app.gql(DeleteOrganizationDocument, { id: acme.id, dryRun: true })).deleteOrganization;
    expect(dry.receipt).toBeNull();
    expect(dry.cascadedUsers.nodes).toHaveLength(2);
    expect(await tableCounts(app)).toEqual(before);
    expect(ok(await app.gql(GetDeletionReceiptDocument, { subjectId: acme.id })).deletionReceipt).toBeNull();
  });
});
