import { CreateOrganizationDocument, GetOrganizationDocument, VerifyOrganizationDomainDocument } from '../src/generated/graphql';
import { startTestApp, type TestApp } from './support/app';
import { createApiKey } from './support/keys';
import {
  databaseSnapshot,
  errorCode,
  expectRefused,
  factory,
  fieldsOf,
  invariantViolations,
  ok,
  tableCounts,
  UNKNOWN_ORGANIZATION,
} from './support/factory';
import { codeOf, persistedQuery, postJson, trustedDocument } from './support/protocol';

/**
 * Issue 9, "Domains: claimed versus verified", and case 5 of its "Why": a signed-in
 * user's domains are unverified claims that block nobody, never answer CONFLICT and reveal
 * nothing; the admin's and ORGANIZATIONS_WRITE keys' domains are verified and unique
 * across organizations; domains compare and are stored as UTS #46 A-labels.
 */

let app: TestApp;
let make: ReturnType<typeof factory>;
beforeAll(async () => {
  app = await startTestApp();
  make = factory(app);
});
afterAll(() => app.close());

let counter = 0;
/** A fresh label, so that each test's domains are its own. */
const fresh = (stem: string) => `${stem}${(counter += 1)}`;

/** A signed-in user who belongs to no organization yet. */
async function signedInUser() {
  const user = await make.user();
  const { token } = await make.session(user.id);
  return { user, token };
}

async function createAs(token: string | null, name: string, domains: string[]) {
  return app.gql(CreateOrganizationDocument, { input: { name, domains } }, { token });
}

function domainRows(domain: string) {
  return app.sql<{ organization_id: string; verified: boolean }>(
    'SELECT organization_id, verified FROM organization_domains WHERE domain = $1 ORDER BY organization_id',
    [domain],
  );
}

const ALL_SCOPES = [
  'USERS_READ',
  'USERS_WRITE',
  'USERS_DELETE',
  'ORGANIZATIONS_READ',
  'ORGANIZATIONS_WRITE',
  'ORGANIZATIONS_DELETE',
  'SESSIONS_WRITE',
];

async function apiKey(scopes: string[]): Promise<string> {
  return (await createApiKey(app, scopes)).secret;
}

/** What a partner sends: a trusted operation by hash. */
function asKey(secret: string, operationName: string, variables: Record<string, unknown>) {
  return postJson(app.url, { operationName, variables, extensions: persistedQuery(trustedDocument(operationName).hash) }, secret);
}

describe('claimed (session) versus verified (admin, ORGANIZATIONS_WRITE) domains, issue 9 case 5', () => {
  it('THE ISSUE: a squatter never blocks the real company; the admin creates it with the domain verified, the claim stays unverified', async () => {
    const domain = `${fresh('bigcorp')}.example`;
    const squatter = await signedInUser();
    const claimed = ok(await createAs(squatter.token, 'Not BigCorp', [domain])).createOrganization;
    expect(claimed.domains).toEqual([{ domain, verified: false, createdAt: expect.any(String) }]);

    const real = ok(await createAs(app.adminKey, 'BigCorp', [domain])).createOrganization;
    expect(real.domains).toEqual([{ domain, verified: true, createdAt: expect.any(String) }]);

    expect(await domainRows(domain)).toEqual(
      [
        { organization_id: claimed.id, verified: false },
        { organization_id: real.id, verified: true },
      ].sort((a, b) => (a.organization_id < b.organization_id ? -1 : 1)),
    );
    // The squatter, reading their own organization, sees their claim unverified and nothing of BigCorp.
    const own = ok(await app.gql(GetOrganizationDocument, { id: claimed.id }, { token: squatter.token })).organization;
    expect(own?.domains).toEqual([{ domain, verified: false, createdAt: expect.any(String) }]);
    expect(ok(await app.gql(GetOrganizationDocument, { id: real.id }, { token: squatter.token })).organization).toBeNull();
    expect(await invariantViolations(app)).toEqual([]);
  });

  it('a session caller claiming a domain another organization already holds verified succeeds, unverified, and learns nothing', async () => {
    const domain = `${fresh('verified-first')}.example`;
    const holder = ok(await createAs(app.adminKey, 'Holder', [domain])).createOrganization;
    const { user, token } = await signedInUser();
    const response = await createAs(token, 'Late claimer', [domain, `${fresh('other')}.example`]);
    expect(response.errors).toBeUndefined();
    const claimed = ok(response).createOrganization;
    expect(claimed.domains.map((d) => d.verified)).toEqual([false, false]);
    // Nothing in the answer names or hints at the holder.
    expect(JSON.stringify(response.data)).not.toContain(holder.id);
    expect(JSON.stringify(response.data)).not.toContain('Holder');
    expect(await domainRows(domain)).toEqual(
      [
        { organization_id: holder.id, verified: true },
        { organization_id: claimed.id, verified: false },
      ].sort((a, b) => (a.organization_id < b.organization_id ? -1 : 1)),
    );
    expect(await app.sql('SELECT user_id, role FROM memberships WHERE organization_id = $1', [claimed.id])).toEqual([
      { user_id: user.id, role: 'OWNER' },
    ]);
  });

  it('many signed-in users may claim one domain; none blocks another', async () => {
    const domain = `${fresh('popular')}.example`;
    const organizations = [];
    for (let i = 0; i < 3; i += 1) {
      const { token } = await signedInUser();
      organizations.push(ok(await createAs(token, `Claimer ${i}`, [domain])).createOrganization.id);
    }
    expect(await domainRows(domain)).toEqual(organizations.sort().map((id) => ({ organization_id: id, verified: false })));
  });

  it('a key with ORGANIZATIONS_WRITE adds verified domains, and is refused with CONFLICT like the admin', async () => {
    const secret = await apiKey(['ORGANIZATIONS_WRITE']);
    const domain = `${fresh('provisioned')}.example`;
    const created = await asKey(secret, 'CreateOrganization', { input: { name: 'Provisioned', domains: [domain] } });
    expect(created.body?.errors).toBeUndefined();
    expect(created.body?.data?.createOrganization.domains).toEqual([{ domain, verified: true, createdAt: expect.any(String) }]);
    expect(await domainRows(domain)).toEqual([{ organization_id: created.body?.data?.createOrganization.id, verified: true }]);

    const before = await tableCounts(app);
    const again = await asKey(secret, 'CreateOrganization', { input: { name: 'Again', domains: [domain.toUpperCase()] } });
    expect(codeOf(again)).toBe('CONFLICT');
    expect(again.body?.errors?.[0]?.message).toContain(domain.toUpperCase());
    expect(await tableCounts(app)).toEqual(before);
  });

  it('as the admin: münchen.example, MÜNCHEN.example and xn--mnchen-3ya.example are one domain; only the first organization gets it', async () => {
    const first = ok(await createAs(app.adminKey, 'München 1', ['münchen.example'])).createOrganization;
    expect(first.domains).toEqual([{ domain: 'xn--mnchen-3ya.example', verified: true, createdAt: expect.any(String) }]);
    for (const spelling of ['MÜNCHEN.example', 'xn--mnchen-3ya.example']) {
      const response = await expectRefused(
        app,
        CreateOrganizationDocument,
        { input: { name: 'München n', domains: [spelling] } },
        {
          token: app.adminKey,
          code: 'CONFLICT',
        },
      );
      // Names the domain as sent, and nothing about the organization holding it.
      expect(response.errors?.[0]?.message).toContain(spelling);
      expect(response.errors?.[0]?.message).not.toContain(first.id);
      expect(response.errors?.[0]?.message).not.toContain('München 1');
    }
    expect(await domainRows('xn--mnchen-3ya.example')).toEqual([{ organization_id: first.id, verified: true }]);
    expect(await app.sql(`SELECT 1 FROM organizations WHERE name = 'München n'`)).toEqual([]);
  });

  it.each<[string, (label: string) => string, (label: string) => string, (label: string) => string]>([
    // label, first spelling, second spelling, stored A-label
    ['NFC, then NFD', (l) => `${l}.bücher.example`, (l) => `${l}.bu\u0308cher.example`, (l) => `${l}.xn--bcher-kva.example`],
    ['NFD, then NFC', (l) => `${l}.bu\u0308cher.example`, (l) => `${l}.bücher.example`, (l) => `${l}.xn--bcher-kva.example`],
    [
      'full-width, then ASCII',
      (l) => `${l}．ｅｘａｍｐｌｅ－ｆｗ．ｃｏｍ`,
      (l) => `${l}.example-fw.com`,
      (l) => `${l}.example-fw.com`,
    ],
    [
      'lower, then upper case (ASCII)',
      (l) => `${l}.acme.example`,
      (l) => `${l.toUpperCase()}.ACME.EXAMPLE`,
      (l) => `${l}.acme.example`,
    ],
    [
      'lower, then upper case (non-ASCII)',
      (l) => `${l}.bücher.example`,
      (l) => `${l.toUpperCase()}.BÜCHER.EXAMPLE`,
      (l) => `${l}.xn--bcher-kva.example`,
    ],
    [
      'U-label, then A-label',
      (l) => `${l}.münchen.example`,
      (l) => `${l}.xn--mnchen-3ya.example`,
      (l) => `${l}.xn--mnchen-3ya.example`,
    ],
    [
      'A-label, then U-label',
      (l) => `${l}.xn--mnchen-3ya.example`,
      (l) => `${l}.münchen.example`,
      (l) => `${l}.xn--mnchen-3ya.example`,
    ],
  ])(
    'Unicode, %s: stored as the A-label; the second verified claim is CONFLICT; a session claim of it still succeeds',
    async (_label, first, second, stored) => {
      const label = fresh('u');
      const holder = ok(await createAs(app.adminKey, 'Holder', [first(label)])).createOrganization;
      expect(holder.domains.map((d) => d.domain)).toEqual([stored(label)]);
      expect(await domainRows(stored(label))).toEqual([{ organization_id: holder.id, verified: true }]);

      const refused = await expectRefused(
        app,
        CreateOrganizationDocument,
        { input: { name: 'Second', domains: [second(label)] } },
        {
          token: app.adminKey,
          code: 'CONFLICT',
        },
      );
      expect(refused.errors?.[0]?.message).toContain(second(label).normalize('NFC'));

      const { token } = await signedInUser();
      const claim = ok(await createAs(token, 'Claim', [second(label)])).createOrganization;
      expect(claim.domains).toEqual([{ domain: stored(label), verified: false, createdAt: expect.any(String) }]);
    },
  );

  it('de-duplicates spellings of one domain within a request, after canonicalization', async () => {
    const label = fresh('dedupe');
    const created = ok(
      await createAs(app.adminKey, 'Dedupe', [
        `${label}.münchen.example`,
        `${label.toUpperCase()}.MÜNCHEN.example`,
        `${label}.mu\u0308nchen.example`,
        `${label}.xn--mnchen-3ya.example`,
        `  ${label}.example.com `,
        `${label}.EXAMPLE.com`,
      ]),
    ).createOrganization;
    expect(created.domains.map((d) => d.domain)).toEqual([`${label}.example.com`, `${label}.xn--mnchen-3ya.example`]);
    expect(
      await app.sql('SELECT domain FROM organization_domains WHERE organization_id = $1 ORDER BY domain COLLATE "C"', [
        created.id,
      ]),
    ).toEqual([{ domain: `${label}.example.com` }, { domain: `${label}.xn--mnchen-3ya.example` }]);
  });

  it.each<[string, string]>([
    ['a Punycode label that decodes to nothing valid', 'xn--zz.example'],
    ['a label starting with a hyphen', '-bad.example'],
    ['an underscore', 'bad_domain.example'],
    ['a zero-width joiner', 'exa\u200Dmple.com'],
    ['a single label', 'localhost'],
    ['a space', 'not a domain'],
    ['an IP address', '10.0.0.1'],
  ])(
    'refuses %s with BAD_USER_INPUT naming input.domains, for the admin and a session user, writing nothing',
    async (_label, domain) => {
      const { token } = await signedInUser();
      for (const caller of [app.adminKey, token]) {
        const response = await expectRefused(
          app,
          CreateOrganizationDocument,
          { input: { name: 'Invalid', domains: ['fine.example', domain] } },
          {
            token: caller,
            code: 'BAD_USER_INPUT',
          },
        );
        expect(fieldsOf(response)).toEqual(['input.domains']);
      }
    },
  );
});

describe('verifyOrganizationDomain', () => {
  /** An organization a signed-in user created, claiming `domains` (unverified). */
  async function claimedBySession(domains: string[]) {
    const owner = await signedInUser();
    const organization = ok(await createAs(owner.token, 'Claimed', domains)).createOrganization;
    return { organization, owner };
  }

  it('verifies a claimed domain, given in any spelling, and is idempotent', async () => {
    const label = fresh('v');
    const { organization, owner } = await claimedBySession([`${label}.münchen.example`]);
    const stored = `${label}.xn--mnchen-3ya.example`;
    const verified = ok(
      await app.gql(VerifyOrganizationDomainDocument, {
        organizationId: organization.id,
        domain: `${label.toUpperCase()}.MÜNCHEN.example`,
      }),
    ).verifyOrganizationDomain;
    expect(verified).toEqual({ domain: stored, verified: true, createdAt: organization.domains[0].createdAt });
    expect(await domainRows(stored)).toEqual([{ organization_id: organization.id, verified: true }]);
    // The owner sees it verified.
    const own = ok(await app.gql(GetOrganizationDocument, { id: organization.id }, { token: owner.token })).organization;
    expect(own?.domains).toEqual([verified]);

    const snapshot = await databaseSnapshot(app);
    const again = ok(
      await app.gql(VerifyOrganizationDomainDocument, { organizationId: organization.id, domain: stored }),
    ).verifyOrganizationDomain;
    expect(again).toEqual(verified);
    expect(await databaseSnapshot(app)).toEqual(snapshot);
  });

  it('is CONFLICT when another organization holds the domain verified, naming only the domain, and changes nothing', async () => {
    const domain = `${fresh('contested')}.example`;
    const holder = ok(await createAs(app.adminKey, 'Rightful Holder', [domain])).createOrganization;
    const { organization } = await claimedBySession([domain]);
    const snapshot = await databaseSnapshot(app);
    const response = await expectRefused(
      app,
      VerifyOrganizationDomainDocument,
      { organizationId: organization.id, domain: domain.toUpperCase() },
      {
        token: app.adminKey,
        code: 'CONFLICT',
      },
    );
    expect(response.errors?.[0]?.message).toContain(domain.toUpperCase());
    expect(response.errors?.[0]?.message).not.toContain(holder.id);
    expect(response.errors?.[0]?.message).not.toContain('Rightful');
    expect(await databaseSnapshot(app)).toEqual(snapshot);
  });

  it('is NOT_FOUND when the organization does not hold the domain, or does not exist', async () => {
    const { organization } = await claimedBySession([`${fresh('held')}.example`]);
    const otherOrganizationsDomain = `${fresh('elsewhere')}.example`;
    await claimedBySession([otherOrganizationsDomain]);
    for (const variables of [
      { organizationId: organization.id, domain: `${fresh('never')}.example` },
      { organizationId: organization.id, domain: otherOrganizationsDomain },
      { organizationId: UNKNOWN_ORGANIZATION, domain: otherOrganizationsDomain },
    ]) {
      await expectRefused(app, VerifyOrganizationDomainDocument, variables, { token: app.adminKey, code: 'NOT_FOUND' });
    }
    expect(await domainRows(otherOrganizationsDomain)).toEqual([{ organization_id: expect.any(String), verified: false }]);
  });

  it.each<[string, string, { organizationId?: string; domain: string }]>([
    ['an invalid IDNA domain', 'domain', { domain: 'xn--zz.example' }],
    ['an underscore', 'domain', { domain: 'bad_domain.example' }],
    ['a malformed organization ID', 'organizationId', { organizationId: 'usr_01ARZ3NDEKTSV4RRFFQ69G5FAV', domain: 'ok.example' }],
  ])('refuses %s with BAD_USER_INPUT naming %s', async (_label, field, variables) => {
    const { organization } = await claimedBySession(['ok.example']);
    const response = await expectRefused(
      app,
      VerifyOrganizationDomainDocument,
      { organizationId: organization.id, ...variables },
      {
        token: app.adminKey,
        code: 'BAD_USER_INPUT',
      },
    );
    expect(fieldsOf(response)).toEqual([field]);
  });

  it('is for the admin and ORGANIZATIONS_WRITE keys only: an OWNER, other keys and anonymous callers are refused', async () => {
    const domain = `${fresh('authz')}.example`;
    const { organization, owner } = await claimedBySession([domain]);
    const variables = { organizationId: organization.id, domain };
    const withoutScope = await apiKey(ALL_SCOPES.filter((scope) => scope !== 'ORGANIZATIONS_WRITE'));
    const snapshot = await databaseSnapshot(app);

    await expectRefused(app, VerifyOrganizationDomainDocument, variables, { token: owner.token, code: 'FORBIDDEN' });
    await expectRefused(app, VerifyOrganizationDomainDocument, variables, { token: null, code: 'UNAUTHENTICATED', status: 401 });
    const refused = await asKey(withoutScope, 'VerifyOrganizationDomain', variables);
    expect(codeOf(refused)).toBe('FORBIDDEN');
    expect(refused.body?.data ?? null).toBeNull();
    expect(await databaseSnapshot(app)).toEqual(snapshot);

    const withScope = await apiKey(['ORGANIZATIONS_WRITE']);
    const verified = await asKey(withScope, 'VerifyOrganizationDomain', variables);
    expect(verified.body?.errors).toBeUndefined();
    expect(verified.body?.data?.verifyOrganizationDomain).toMatchObject({ domain, verified: true });
    expect(await domainRows(domain)).toEqual([{ organization_id: organization.id, verified: true }]);
  });

  it('RACE, 20 rounds: two organizations verifying one domain at once; exactly one wins, the other is CONFLICT', async () => {
    for (let round = 0; round < 20; round += 1) {
      const domain = `${fresh('race')}.example`;
      const a = (await claimedBySession([domain])).organization;
      const b = (await claimedBySession([domain])).organization;
      const responses = await Promise.all(
        [a, b].map((organization) => app.gql(VerifyOrganizationDomainDocument, { organizationId: organization.id, domain })),
      );
      expect(responses.map(errorCode).sort()).toEqual(['CONFLICT', undefined]);
      const winner = [a, b][responses.findIndex((response) => !response.errors)];
      expect(await domainRows(domain)).toEqual(
        [a, b]
          .map((o) => ({ organization_id: o.id, verified: o.id === winner.id }))
          .sort((x, y) => (x.organization_id < y.organization_id ? -1 : 1)),
      );
    }
    expect(await app.sql('SELECT domain FROM organization_domains WHERE verified GROUP BY domain HAVING count(*) > 1')).toEqual(
      [],
    );
    expect(await invariantViolations(app)).toEqual([]);
  });

  it('RACE, 20 rounds: the admin creating an organization with a domain while another organization verifies it; exactly one holds it verified', async () => {
    for (let round = 0; round < 20; round += 1) {
      const domain = `${fresh('race-create')}.example`;
      const claimed = (await claimedBySession([domain])).organization;
      const [verify, create] = await Promise.all([
        app.gql(VerifyOrganizationDomainDocument, { organizationId: claimed.id, domain }),
        createAs(app.adminKey, `Racer ${round}`, [domain]),
      ]);
      expect([errorCode(verify), errorCode(create)].sort()).toEqual(['CONFLICT', undefined]);
      const rows = await app.sql<{ organization_id: string; verified: boolean }>(
        'SELECT organization_id, verified FROM organization_domains WHERE domain = $1 AND verified',
        [domain],
      );
      expect(rows).toHaveLength(1);
      expect(rows[0].organization_id).toBe(verify.errors ? create.data?.createOrganization.id : claimed.id);
      if (create.errors) expect(await app.sql(`SELECT 1 FROM organizations WHERE name = $1`, [`Racer ${round}`])).toEqual([]);
    }
    expect(await invariantViolations(app)).toEqual([]);
  });
});
