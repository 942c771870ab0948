import {
  AddOrganizationDomainDocument,
  DeleteOrganizationDocument,
  GetOrganizationSettingsDocument,
  RemoveOrganizationDomainDocument,
  UpdateOrganizationDocument,
  UpdateUserDocument,
} from '../src/generated/graphql';
import { SETTINGS_MAX_BYTES } from '../src/organizations/settings';
import { startTestApp, type TestApp } from './support/app';
import { asKey, createApiKey } from './support/keys';
import {
  databaseSnapshot,
  errorCode,
  factory,
  fieldsOf,
  invariantViolations,
  ok,
  UNKNOWN_ORGANIZATION,
  UNKNOWN_USER,
} from './support/factory';

/**
 * Issue 12, "Find and change": updateUser, updateOrganization (with Organization.settings),
 * addOrganizationDomain and removeOrganizationDomain, over HTTP as the admin, as each role,
 * and as keys with and without the scope; the database checked afterwards. A refused call
 * changes no row at all (databaseSnapshot before and after).
 */

let app: TestApp;
let make: ReturnType<typeof factory>;
beforeAll(async () => {
  app = await startTestApp();
  make = factory(app);
});
afterAll(() => app.close());

let counter = 0;
const fresh = (stem: string) => `${stem}-${(counter += 1)}-${Date.now().toString(36)}`;

function userRow(id: string) {
  return app
    .sql<{ email: string; email_key: string; name: string | null; external_id: string | null }>(
      'SELECT email, email_key, name, external_id FROM users WHERE id = $1',
      [id],
    )
    .then((rows) => rows[0]);
}

function organizationRow(id: string) {
  return app
    .sql<{ name: string; external_id: string | null; data: unknown }>(
      `SELECT o.name, o.external_id, s.data FROM organizations o JOIN organization_settings s ON s.organization_id = o.id WHERE o.id = $1`,
      [id],
    )
    .then((rows) => rows[0]);
}

function domainRows(organizationId: string) {
  return app.sql<{ domain: string; verified: boolean }>(
    'SELECT domain, verified FROM organization_domains WHERE organization_id = $1 ORDER BY domain',
    [organizationId],
  );
}

/** Sends a call that must be refused with `code`, and proves no row anywhere changed. */
async function expectRefusedUnchanged(send: () => Promise<{ errors?: unknown[]; data?: unknown }>, code: string) {
  const before = await databaseSnapshot(app);
  const response = await send();
  expect(errorCode(response as never)).toBe(code);
  expect(response.data ?? null).toBeNull();
  expect(await databaseSnapshot(app)).toEqual(before);
  return response;
}

/** An organization with a signed-in OWNER, ADMIN and MEMBER, and a signed-in outsider. */
async function organizationWithRoles() {
  const organization = await make.organization({ name: fresh('Org') });
  const owner = await make.signedInMember(organization.id, 'OWNER');
  const admin = await make.signedInMember(organization.id, 'ADMIN');
  const member = await make.signedInMember(organization.id, 'MEMBER');
  const outsider = await make.user();
  const { token: outsiderToken } = await make.session(outsider.id);
  return { organization, owner, admin, member, outsider: { user: outsider, token: outsiderToken } };
}

describe('updateUser', () => {
  it('as the admin: changes name, email (with its canonical key) and externalId; fields left out stay', async () => {
    const user = await make.user({ email: `${fresh('ada')}@example.com`, name: 'Ada' });
    const email = `${fresh('Ada.Lovelace')}@MÜNCHEN.example`;
    const updated = ok(await app.gql(UpdateUserDocument, { input: { id: user.id, email, externalId: 'hr-42' } })).updateUser;
    expect(updated).toMatchObject({ id: user.id, email, name: 'Ada', externalId: 'hr-42' });
    const row = await userRow(user.id);
    expect(row).toEqual({
      email,
      email_key: `${email.slice(0, email.indexOf('@')).toLowerCase()}@xn--mnchen-3ya.example`,
      name: 'Ada',
      external_id: 'hr-42',
    });

    const renamed = ok(await app.gql(UpdateUserDocument, { input: { id: user.id, name: '  Ada King  ' } })).updateUser;
    expect(renamed).toMatchObject({ name: 'Ada King', email, externalId: 'hr-42' });
    expect(await userRow(user.id)).toEqual({ ...row, name: 'Ada King' });
  });

  it('clears externalId on an explicit null, and changes nothing with an input of only the id', async () => {
    const user = await make.user();
    ok(await app.gql(UpdateUserDocument, { input: { id: user.id, externalId: 'x-1' } }));
    const cleared = ok(await app.gql(UpdateUserDocument, { input: { id: user.id, externalId: null } })).updateUser;
    expect(cleared.externalId).toBeNull();
    const before = await userRow(user.id);
    expect(before.external_id).toBeNull();
    ok(await app.gql(UpdateUserDocument, { input: { id: user.id } }));
    expect(await userRow(user.id)).toEqual(before);
  });

  it('lets a user change only the case of their own address (same canonical key, new display form)', async () => {
    const local = fresh('grace');
    const user = await make.user({ email: `${local}@example.com` });
    const updated = ok(await app.gql(UpdateUserDocument, { input: { id: user.id, email: `${local.toUpperCase()}@Example.COM` } }));
    expect(updated.updateUser.email).toBe(`${local.toUpperCase()}@Example.COM`);
    expect((await userRow(user.id)).email_key).toBe(`${local}@example.com`);
  });

  it.each([
    ['upper case', (local: string) => `${local.toUpperCase()}@EXAMPLE.com`],
    ['full width', (local: string) => `${local}@example.com`.replace(/[!-~]/g, (c) => String.fromCodePoint(c.codePointAt(0)! + 0xfee0))],
    ['NFD and an A-label domain', (local: string) => `${local}ü@xn--mnchen-3ya.example`.normalize('NFD')],
  ])("answers CONFLICT for another account's address in %s, and changes nothing", async (_label, spell) => {
    const local = fresh('alice');
    const emailOf = (l: string) => (l.includes('@') ? l : `${l}@example.com`);
    // The holder's address as stored; for the Unicode case, the holder has the Unicode address.
    const holderEmail = _label.startsWith('NFD') ? `${local}ü@münchen.example` : emailOf(local);
    await make.user({ email: holderEmail });
    const other = await make.user();
    await expectRefusedUnchanged(() => app.gql(UpdateUserDocument, { input: { id: other.id, email: spell(local) } }), 'CONFLICT');
  });

  it.each([
    ['a null name', { name: null }, 'input.name'],
    ['a null email', { email: null }, 'input.email'],
    ['a malformed email', { email: 'not-an-email' }, 'input.email'],
    ['a blank name', { name: '   ' }, 'name'],
    ['an over-long name', { name: 'n'.repeat(201) }, 'name'],
    ['an empty externalId', { externalId: '' }, 'externalId'],
    ['an over-long externalId', { externalId: 'e'.repeat(256) }, 'externalId'],
  ])('refuses %s with BAD_USER_INPUT naming the field, and changes nothing', async (_label, fields, field) => {
    const user = await make.user();
    const response = await expectRefusedUnchanged(
      () => app.gql(UpdateUserDocument, { input: { id: user.id, ...fields } as never }),
      'BAD_USER_INPUT',
    );
    expect(fieldsOf(response as never)).toContain(field);
  });

  it('answers NOT_FOUND for an unknown user and BAD_USER_INPUT for a malformed ID', async () => {
    await expectRefusedUnchanged(() => app.gql(UpdateUserDocument, { input: { id: UNKNOWN_USER, name: 'X' } }), 'NOT_FOUND');
    const malformed = await expectRefusedUnchanged(
      () => app.gql(UpdateUserDocument, { input: { id: 'org_01ARZ3NDEKTSV4RRFFQ69G5FAV', name: 'X' } }),
      'BAD_USER_INPUT',
    );
    expect(fieldsOf(malformed as never)).toEqual(['input.id']);
  });

  describe('as a signed-in user', () => {
    it('changes their own name', async () => {
      const user = await make.user({ name: 'Old' });
      const { token } = await make.session(user.id);
      const updated = ok(await app.gql(UpdateUserDocument, { input: { id: user.id, name: 'New' } }, { token })).updateUser;
      expect(updated.name).toBe('New');
      expect((await userRow(user.id)).name).toBe('New');
    });

    it.each([
      ['their own email', { email: 'new-address@example.com' }],
      ['their own email, even to the same value', null],
      ['their own externalId', { externalId: 'mine' }],
      ['their own externalId, to null', { externalId: null }],
    ])('is FORBIDDEN to change %s, and nothing changes', async (_label, fields) => {
      const user = await make.user();
      const { token } = await make.session(user.id);
      const input = { id: user.id, name: 'Also this', ...(fields ?? { email: user.email }) };
      await expectRefusedUnchanged(() => app.gql(UpdateUserDocument, { input }, { token }), 'FORBIDDEN');
    });

    it("is FORBIDDEN to change anyone else's name, a fellow member's or an unknown user's alike", async () => {
      const { organization, owner, member } = await organizationWithRoles();
      void organization;
      await expectRefusedUnchanged(
        () => app.gql(UpdateUserDocument, { input: { id: member.user.id, name: 'Hijacked' } }, { token: owner.token }),
        'FORBIDDEN',
      );
      await expectRefusedUnchanged(
        () => app.gql(UpdateUserDocument, { input: { id: UNKNOWN_USER, name: 'X' } }, { token: owner.token }),
        'FORBIDDEN',
      );
    });
  });

  describe('as a partner key (trusted UpdateUser)', () => {
    it('with USERS_WRITE: changes email and externalId', async () => {
      const { secret } = await createApiKey(app, ['USERS_WRITE']);
      const user = await make.user();
      const email = `${fresh('moved')}@example.org`;
      const response = await asKey(app, secret, 'UpdateUser', { input: { id: user.id, email, externalId: 'crm-7' } });
      expect(ok(response).updateUser).toMatchObject({ id: user.id, email, externalId: 'crm-7' });
      expect(await userRow(user.id)).toMatchObject({ email, email_key: email, external_id: 'crm-7' });
    });

    it('without USERS_WRITE (every other scope): FORBIDDEN and nothing changes', async () => {
      const { secret } = await createApiKey(app, ['USERS_READ', 'USERS_DELETE', 'ORGANIZATIONS_WRITE', 'SESSIONS_WRITE']);
      const user = await make.user();
      await expectRefusedUnchanged(() => asKey(app, secret, 'UpdateUser', { input: { id: user.id, name: 'No' } }), 'FORBIDDEN');
    });
  });
});

describe('updateOrganization and Organization.settings', () => {
  it('accepts settings objects wider than any input type (issue 11 bounds input objects, not JSON data)', async () => {
    const organization = await make.organization();
    const settings = Object.fromEntries(
      Array.from({ length: 40 }, (_, i) => [`feature${i}`, Object.fromEntries(Array.from({ length: 12 }, (_, j) => [`k${j}`, j]))]),
    );
    const updated = ok(await app.gql(UpdateOrganizationDocument, { input: { id: organization.id, settings } })).updateOrganization;
    expect(updated.settings).toEqual(settings);
    expect((await organizationRow(organization.id)).data).toEqual(settings);
  });

  it('as the admin: changes name, externalId and settings; settings start as {} and are replaced whole', async () => {
    const organization = await make.organization();
    expect(ok(await app.gql(GetOrganizationSettingsDocument, { id: organization.id })).organization?.settings).toEqual({});
    const settings = { theme: { color: 'blue', dark: true }, seats: 12, tags: ['a', 'ü', null] };
    const updated = ok(
      await app.gql(UpdateOrganizationDocument, { input: { id: organization.id, name: 'Renamed', externalId: 'acct-1', settings } }),
    ).updateOrganization;
    expect(updated).toMatchObject({ id: organization.id, name: 'Renamed', externalId: 'acct-1', settings });
    expect(await organizationRow(organization.id)).toEqual({ name: 'Renamed', external_id: 'acct-1', data: settings });

    const replaced = ok(await app.gql(UpdateOrganizationDocument, { input: { id: organization.id, settings: { seats: 3 } } }));
    expect(replaced.updateOrganization).toMatchObject({ name: 'Renamed', externalId: 'acct-1', settings: { seats: 3 } });
    const cleared = ok(await app.gql(UpdateOrganizationDocument, { input: { id: organization.id, externalId: null, settings: {} } }));
    expect(cleared.updateOrganization).toMatchObject({ name: 'Renamed', externalId: null, settings: {} });
    expect(await organizationRow(organization.id)).toEqual({ name: 'Renamed', external_id: null, data: {} });
  });

  it(`accepts settings of exactly ${SETTINGS_MAX_BYTES} bytes of JSON text (UTF-8) and refuses one byte more, unchanged`, async () => {
    const organization = await make.organization();
    const base = JSON.stringify({ k: '' }).length; // {"k":""} = 8 bytes
    // 'é' is 2 bytes in UTF-8: fill with it, then one ASCII character to land exactly on the limit.
    const fill = SETTINGS_MAX_BYTES - base;
    const exact = { k: 'é'.repeat(Math.floor(fill / 2)) + 'x'.repeat(fill % 2) };
    expect(Buffer.byteLength(JSON.stringify(exact), 'utf8')).toBe(SETTINGS_MAX_BYTES);
    ok(await app.gql(UpdateOrganizationDocument, { input: { id: organization.id, settings: exact } }));
    expect((await organizationRow(organization.id)).data).toEqual(exact);

    const over = { k: `${exact.k}x` };
    const response = await expectRefusedUnchanged(
      () => app.gql(UpdateOrganizationDocument, { input: { id: organization.id, name: 'Not this either', settings: over } }),
      'BAD_USER_INPUT',
    );
    expect(fieldsOf(response as never)).toEqual(['input.settings']);
    expect((await organizationRow(organization.id)).data).toEqual(exact);
  });

  it.each<[string, unknown, string]>([
    ['an array', [1, 2], 'BAD_USER_INPUT'],
    ['a string', 'theme', 'BAD_USER_INPUT'],
    ['null', null, 'BAD_USER_INPUT'],
    ['a NUL character in a string', { a: 'x\u0000y' }, 'BAD_USER_INPUT'],
    ['a NUL character in a key', { 'a\u0000': 1 }, 'BAD_USER_INPUT'],
    ['a lone surrogate', { a: '\ud800' }, 'BAD_USER_INPUT'],
    ['nesting deeper than 10 levels', JSON.parse('{"a":'.repeat(10) + '[1]' + '}'.repeat(10)), 'BAD_USER_INPUT'],
  ])('refuses settings that are %s, and changes nothing', async (_label, settings, code) => {
    const organization = await make.organization();
    await expectRefusedUnchanged(() => app.gql(UpdateOrganizationDocument, { input: { id: organization.id, settings } }), code);
  });

  it('accepts nesting of exactly 10 levels', async () => {
    const organization = await make.organization();
    const settings = JSON.parse('{"a":'.repeat(9) + '{}' + '}'.repeat(9));
    ok(await app.gql(UpdateOrganizationDocument, { input: { id: organization.id, settings } }));
    expect((await organizationRow(organization.id)).data).toEqual(settings);
  });

  it.each([
    ['a null name', { name: null }, 'input.name'],
    ['a blank name', { name: ' ' }, 'name'],
    ['an over-long externalId', { externalId: 'e'.repeat(256) }, 'externalId'],
  ])('refuses %s with BAD_USER_INPUT naming the field', async (_label, fields, field) => {
    const organization = await make.organization();
    const response = await expectRefusedUnchanged(
      () => app.gql(UpdateOrganizationDocument, { input: { id: organization.id, ...fields } as never }),
      'BAD_USER_INPUT',
    );
    expect(fieldsOf(response as never)).toContain(field);
  });

  it('answers NOT_FOUND for an unknown organization', async () => {
    await expectRefusedUnchanged(() => app.gql(UpdateOrganizationDocument, { input: { id: UNKNOWN_ORGANIZATION, name: 'X' } }), 'NOT_FOUND');
  });

  it('lets an OWNER and an ADMIN change their organization; a MEMBER is FORBIDDEN, an outsider gets NOT_FOUND', async () => {
    const { organization, owner, admin, member, outsider } = await organizationWithRoles();
    ok(await app.gql(UpdateOrganizationDocument, { input: { id: organization.id, name: 'By owner' } }, { token: owner.token }));
    ok(await app.gql(UpdateOrganizationDocument, { input: { id: organization.id, settings: { by: 'admin' } } }, { token: admin.token }));
    expect(await organizationRow(organization.id)).toMatchObject({ name: 'By owner', data: { by: 'admin' } });
    await expectRefusedUnchanged(
      () => app.gql(UpdateOrganizationDocument, { input: { id: organization.id, name: 'By member' } }, { token: member.token }),
      'FORBIDDEN',
    );
    await expectRefusedUnchanged(
      () => app.gql(UpdateOrganizationDocument, { input: { id: organization.id, name: 'By outsider' } }, { token: outsider.token }),
      'NOT_FOUND',
    );
    // Members read the settings; an outsider reads no organization at all.
    const read = ok(await app.gql(GetOrganizationSettingsDocument, { id: organization.id }, { token: member.token }));
    expect(read.organization?.settings).toEqual({ by: 'admin' });
    expect(ok(await app.gql(GetOrganizationSettingsDocument, { id: organization.id }, { token: outsider.token })).organization).toBeNull();
  });

  it('lets an ORGANIZATIONS_WRITE key change it (trusted UpdateOrganization); a key without the scope is FORBIDDEN', async () => {
    const organization = await make.organization();
    const writer = await createApiKey(app, ['ORGANIZATIONS_WRITE']);
    const response = await asKey(app, writer.secret, 'UpdateOrganization', { input: { id: organization.id, settings: { sso: true } } });
    expect(ok(response).updateOrganization.settings).toEqual({ sso: true });
    const reader = await createApiKey(app, ['ORGANIZATIONS_READ', 'ORGANIZATIONS_DELETE', 'USERS_WRITE']);
    await expectRefusedUnchanged(
      () => asKey(app, reader.secret, 'UpdateOrganization', { input: { id: organization.id, settings: {} } }),
      'FORBIDDEN',
    );
    const read = await asKey(app, reader.secret, 'GetOrganizationSettings', { id: organization.id });
    expect(ok(read).organization.settings).toEqual({ sso: true });
  });

  it('the settings go with the organization: deleteOrganization leaves no organization_settings row', async () => {
    const organization = await make.organization();
    ok(await app.gql(UpdateOrganizationDocument, { input: { id: organization.id, settings: { secret: 'plan' } } }));
    expect(await app.sql('SELECT 1 FROM organization_settings WHERE organization_id = $1', [organization.id])).toHaveLength(1);
    ok(await app.gql(DeleteOrganizationDocument, { id: organization.id }));
    expect(await app.sql('SELECT 1 FROM organization_settings WHERE organization_id = $1', [organization.id])).toEqual([]);
    expect(await app.sql(`SELECT 1 FROM organization_settings WHERE data::text LIKE '%plan%'`)).toEqual([]);
    expect(await invariantViolations(app)).toEqual([]);
  });
});

describe('addOrganizationDomain and removeOrganizationDomain (issue 9 rules)', () => {
  it('the admin adds a verified domain in any UTS #46 spelling; CONFLICT when another organization holds it verified', async () => {
    const label = fresh('münchen');
    const first = await make.organization();
    const added = ok(await app.gql(AddOrganizationDomainDocument, { organizationId: first.id, domain: `${label.toUpperCase()}.example` }));
    const aLabel = new URL(`http://${label}.example`).hostname;
    expect(added.addOrganizationDomain).toMatchObject({ domain: aLabel, verified: true });
    expect(await domainRows(first.id)).toEqual([{ domain: aLabel, verified: true }]);
    // Again: as it is, nothing added.
    ok(await app.gql(AddOrganizationDomainDocument, { organizationId: first.id, domain: aLabel }));
    expect(await domainRows(first.id)).toEqual([{ domain: aLabel, verified: true }]);

    const second = await make.organization();
    const conflict = await expectRefusedUnchanged(
      () => app.gql(AddOrganizationDomainDocument, { organizationId: second.id, domain: `${label}.example` }),
      'CONFLICT',
    );
    expect(JSON.stringify(conflict.errors)).not.toContain(label);
  });

  it('an OWNER or ADMIN adds an unverified claim, even for a domain held verified elsewhere (never CONFLICT)', async () => {
    const domain = `${fresh('bigcorp')}.example`;
    const real = await make.organization({ domains: [domain] });
    const { organization, owner, admin, member, outsider } = await organizationWithRoles();
    const claimed = ok(await app.gql(AddOrganizationDomainDocument, { organizationId: organization.id, domain }, { token: owner.token }));
    expect(claimed.addOrganizationDomain).toMatchObject({ domain, verified: false });
    const other = `${fresh('other')}.example`;
    ok(await app.gql(AddOrganizationDomainDocument, { organizationId: organization.id, domain: other }, { token: admin.token }));
    expect(await domainRows(organization.id)).toEqual(
      [{ domain, verified: false }, { domain: other, verified: false }].sort((a, b) => (a.domain < b.domain ? -1 : 1)),
    );
    expect(await domainRows(real.id)).toEqual([{ domain, verified: true }]);
    await expectRefusedUnchanged(
      () => app.gql(AddOrganizationDomainDocument, { organizationId: organization.id, domain: `${fresh('m')}.example` }, { token: member.token }),
      'FORBIDDEN',
    );
    await expectRefusedUnchanged(
      () => app.gql(AddOrganizationDomainDocument, { organizationId: organization.id, domain: `${fresh('o')}.example` }, { token: outsider.token }),
      'NOT_FOUND',
    );
  });

  it('the admin verifies a claim in place by adding it; a session adding a verified domain leaves it verified', async () => {
    const domain = `${fresh('claim')}.example`;
    const { organization, owner } = await organizationWithRoles();
    ok(await app.gql(AddOrganizationDomainDocument, { organizationId: organization.id, domain }, { token: owner.token }));
    expect(ok(await app.gql(AddOrganizationDomainDocument, { organizationId: organization.id, domain })).addOrganizationDomain.verified).toBe(true);
    const again = ok(await app.gql(AddOrganizationDomainDocument, { organizationId: organization.id, domain }, { token: owner.token }));
    expect(again.addOrganizationDomain.verified).toBe(true);
    expect(await domainRows(organization.id)).toEqual([{ domain, verified: true }]);
  });

  it('refuses an invalid domain with BAD_USER_INPUT naming domain, and a malformed organization ID naming organizationId', async () => {
    const organization = await make.organization();
    const bad = await expectRefusedUnchanged(
      () => app.gql(AddOrganizationDomainDocument, { organizationId: organization.id, domain: 'not a domain' }),
      'BAD_USER_INPUT',
    );
    expect(fieldsOf(bad as never)).toEqual(['domain']);
    const malformed = await expectRefusedUnchanged(
      () => app.gql(RemoveOrganizationDomainDocument, { organizationId: 'usr_01ARZ3NDEKTSV4RRFFQ69G5FAV', domain: 'a.example' }),
      'BAD_USER_INPUT',
    );
    expect(fieldsOf(malformed as never)).toEqual(['organizationId']);
  });

  it('removes: an OWNER or ADMIN their unverified claims, not a verified domain (FORBIDDEN); the admin any; NOT_FOUND when not held', async () => {
    const claim = `${fresh('claim')}.example`;
    const verified = `${fresh('verified')}.example`;
    const { organization, owner, admin, member } = await organizationWithRoles();
    ok(await app.gql(AddOrganizationDomainDocument, { organizationId: organization.id, domain: claim }, { token: owner.token }));
    ok(await app.gql(AddOrganizationDomainDocument, { organizationId: organization.id, domain: verified }));

    await expectRefusedUnchanged(
      () => app.gql(RemoveOrganizationDomainDocument, { organizationId: organization.id, domain: claim }, { token: member.token }),
      'FORBIDDEN',
    );
    await expectRefusedUnchanged(
      () => app.gql(RemoveOrganizationDomainDocument, { organizationId: organization.id, domain: verified }, { token: owner.token }),
      'FORBIDDEN',
    );
    const removed = ok(
      await app.gql(RemoveOrganizationDomainDocument, { organizationId: organization.id, domain: claim.toUpperCase() }, { token: admin.token }),
    );
    expect(removed.removeOrganizationDomain).toMatchObject({ domain: claim, verified: false });
    expect(await domainRows(organization.id)).toEqual([{ domain: verified, verified: true }]);
    await expectRefusedUnchanged(
      () => app.gql(RemoveOrganizationDomainDocument, { organizationId: organization.id, domain: claim }, { token: owner.token }),
      'NOT_FOUND',
    );
    ok(await app.gql(RemoveOrganizationDomainDocument, { organizationId: organization.id, domain: verified }));
    expect(await domainRows(organization.id)).toEqual([]);
  });

  it('keys: ORGANIZATIONS_WRITE adds verified and removes (trusted operations); other scopes are FORBIDDEN', async () => {
    const domain = `${fresh('partner')}.example`;
    const organization = await make.organization();
    const writer = await createApiKey(app, ['ORGANIZATIONS_WRITE']);
    const added = await asKey(app, writer.secret, 'AddOrganizationDomain', { organizationId: organization.id, domain });
    expect(ok(added).addOrganizationDomain).toMatchObject({ domain, verified: true });
    const other = await createApiKey(app, ['ORGANIZATIONS_READ', 'ORGANIZATIONS_DELETE', 'USERS_WRITE', 'SESSIONS_WRITE']);
    await expectRefusedUnchanged(
      () => asKey(app, other.secret, 'RemoveOrganizationDomain', { organizationId: organization.id, domain }),
      'FORBIDDEN',
    );
    await expectRefusedUnchanged(
      () => asKey(app, other.secret, 'AddOrganizationDomain', { organizationId: organization.id, domain: `x${domain}` }),
      'FORBIDDEN',
    );
    const removed = await asKey(app, writer.secret, 'RemoveOrganizationDomain', { organizationId: organization.id, domain });
    expect(ok(removed).removeOrganizationDomain).toMatchObject({ domain, verified: true });
    expect(await domainRows(organization.id)).toEqual([]);
  });

  it('holds at most 50 domains: the 51st is CONFLICT and not stored', async () => {
    const stem = fresh('many');
    const organization = await make.organization({ domains: Array.from({ length: 50 }, (_, i) => `d${i}.${stem}.example`) });
    await expectRefusedUnchanged(
      () => app.gql(AddOrganizationDomainDocument, { organizationId: organization.id, domain: `d50.${stem}.example` }),
      'CONFLICT',
    );
    expect(await domainRows(organization.id)).toHaveLength(50);
  });
});
