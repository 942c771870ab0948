import {
  AddOrganizationDomainDocument,
  DeleteOrganizationDocument,
  DeleteUserDocument,
  TerminateUserSessionsDocument,
  UpdateOrganizationDocument,
  UpdateUserDocument,
} from '../src/generated/graphql';
import { startTestApp, type TestApp } from './support/app';
import { errorCode, factory, invariantViolations, ok } from './support/factory';
import { soon } from './support/races';

/**
 * Issue 12's writes against the writes they meet, started together over HTTP, many rounds
 * with different interleavings (soon()). Each names the pair it proves safe: the one that
 * commits second waits on the first's row lock (src/database/locks.ts) and then sees its
 * outcome, so nothing deadlocks, no error is internal, and the database ends consistent.
 */

let app: TestApp;
let make: ReturnType<typeof factory>;
beforeAll(async () => {
  app = await startTestApp();
  make = factory(app);
});
afterAll(() => app.close());

const ROUNDS = 12;
let counter = 0;
const fresh = (stem: string) => `${stem}-${(counter += 1)}-${Date.now().toString(36)}`;

it('terminateUserSessions x deleteUser: the user is signed out once, by one of them; never a deadlock or a second event', async () => {
  for (let round = 0; round < ROUNDS; round += 1) {
    const user = await make.user();
    const sessions = [await make.session(user.id), await make.session(user.id), await make.session(user.id)];
    const [terminated, deleted] = await Promise.all([
      soon(() => app.gql(TerminateUserSessionsDocument, { userId: user.id })),
      soon(() => app.gql(DeleteUserDocument, { id: user.id })),
    ]);
    const receipt = ok(deleted).deleteUser.receipt!;
    if (terminated.errors) {
      // The deletion committed first: the user is gone, and the deletion ended the sessions.
      expect(errorCode(terminated)).toBe('NOT_FOUND');
      expect(receipt.terminatedSessionCount).toBe(3);
    } else {
      expect(ok(terminated).terminateUserSessions).toHaveLength(3);
      expect(receipt.terminatedSessionCount).toBe(0);
    }
    const events = await app.sql<{ session_id: string; reason: string }>(
      `SELECT data->>'sessionId' AS session_id, data->>'reason' AS reason FROM events
        WHERE type = 'session.terminated' AND data->>'userId' = $1 ORDER BY data->>'sessionId'`,
      [user.id],
    );
    // One event per session, whichever of the two ended it.
    expect(events.map((e) => e.session_id)).toEqual(sessions.map((s) => s.session.id).sort());
    expect(new Set(events.map((e) => e.reason)).size).toBe(1);
  }
  expect(await invariantViolations(app)).toEqual([]);
});

it('updateUser x updateUser to one address (in two spellings): exactly one wins, the other is CONFLICT', async () => {
  for (let round = 0; round < ROUNDS; round += 1) {
    const [a, b] = [await make.user(), await make.user()];
    const local = fresh('same');
    const [first, second] = await Promise.all([
      soon(() => app.gql(UpdateUserDocument, { input: { id: a.id, email: `${local}@example.com` } })),
      soon(() => app.gql(UpdateUserDocument, { input: { id: b.id, email: `${local.toUpperCase()}@EXAMPLE.COM` } })),
    ]);
    expect([errorCode(first), errorCode(second)].sort()).toEqual(['CONFLICT', undefined].sort());
    const holders = await app.sql<{ id: string }>(`SELECT id FROM users WHERE email_key = $1`, [`${local}@example.com`]);
    expect(holders).toEqual([{ id: first.errors ? b.id : a.id }]);
  }
});

it('updateUser x deleteUser: the update lands before the deletion, or answers NOT_FOUND after it', async () => {
  for (let round = 0; round < ROUNDS; round += 1) {
    const user = await make.user();
    const [updated, deleted] = await Promise.all([
      soon(() => app.gql(UpdateUserDocument, { input: { id: user.id, name: 'Renamed', externalId: 'x' } })),
      soon(() => app.gql(DeleteUserDocument, { id: user.id })),
    ]);
    ok(deleted);
    if (updated.errors) expect(errorCode(updated)).toBe('NOT_FOUND');
    expect(await app.sql(`SELECT 1 FROM users WHERE id = $1`, [user.id])).toEqual([]);
  }
});

it('updateOrganization x deleteOrganization: settings written before the deletion go with it; after it, NOT_FOUND', async () => {
  for (let round = 0; round < ROUNDS; round += 1) {
    const organization = await make.organization();
    const [updated, deleted] = await Promise.all([
      soon(() => app.gql(UpdateOrganizationDocument, { input: { id: organization.id, settings: { round } } })),
      soon(() => app.gql(DeleteOrganizationDocument, { id: organization.id })),
    ]);
    ok(deleted);
    if (updated.errors) expect(errorCode(updated)).toBe('NOT_FOUND');
    expect(await app.sql(`SELECT 1 FROM organization_settings WHERE organization_id = $1`, [organization.id])).toEqual([]);
  }
  expect(await invariantViolations(app)).toEqual([]);
});

it('addOrganizationDomain x addOrganizationDomain (verified, two organizations): one holds it verified, the other is CONFLICT', async () => {
  for (let round = 0; round < ROUNDS; round += 1) {
    const [a, b] = [await make.organization(), await make.organization()];
    const domain = `${fresh('race')}.example`;
    const [first, second] = await Promise.all([
      soon(() => app.gql(AddOrganizationDomainDocument, { organizationId: a.id, domain })),
      soon(() => app.gql(AddOrganizationDomainDocument, { organizationId: b.id, domain: domain.toUpperCase() })),
    ]);
    expect([errorCode(first), errorCode(second)].sort()).toEqual(['CONFLICT', undefined].sort());
    const rows = await app.sql<{ organization_id: string; verified: boolean }>(
      `SELECT organization_id, verified FROM organization_domains WHERE domain = $1`,
      [domain],
    );
    expect(rows).toEqual([{ organization_id: first.errors ? b.id : a.id, verified: true }]);
  }
});
