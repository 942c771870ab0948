import { CreateUserDocument, GetUserDocument } from '../src/generated/graphql';
import { AppError, ErrorCode } from '../src/errors';
import {
  canonicalDomain,
  canonicalDomainOrNull,
  canonicalEmail,
  canonicalEmailOrNull,
  foldCase,
  MAX_EMAIL_LENGTH,
} from '../src/identity/canonical';
import { startTestApp, type TestApp } from './support/app';
import { expectRefused, fieldsOf, ok } from './support/factory';

/**
 * Issue 9, "one person, one account": emails compare by a canonical key (NFC, case folded,
 * the domain by UTS #46 as an A-label); the address is stored as typed, in NFC, for display.
 * Case 4 of the "Why", then the Unicode cases its Tests section lists, for createUser.
 */

const PRECOMPOSED_U = '\u00FC'; // ü
const DECOMPOSED_U = 'u\u0308'; // u + COMBINING DIAERESIS

describe('canonical.ts, directly', () => {
  describe('canonicalEmail', () => {
    it.each<[string, string, string]>([
      // label, typed, key
      ['precomposed ü', `j${PRECOMPOSED_U}rgen@example.com`, 'jürgen@example.com'],
      ['decomposed ü (NFD)', `j${DECOMPOSED_U}rgen@example.com`, 'jürgen@example.com'],
      ['a U-label domain', 'qa@münchen.example', 'qa@xn--mnchen-3ya.example'],
      ['its A-label', 'qa@xn--mnchen-3ya.example', 'qa@xn--mnchen-3ya.example'],
      ['an upper-case A-label', 'qa@XN--MNCHEN-3YA.EXAMPLE', 'qa@xn--mnchen-3ya.example'],
      ['a decomposed U-label', `qa@m${DECOMPOSED_U}nchen.example`, 'qa@xn--mnchen-3ya.example'],
      ['full-width forms, ＠ and the full-width dot', 'ｊｕｅｒｇｅｎ＠ｅｘａｍｐｌｅ．ｃｏｍ', 'juergen@example.com'],
      ['the ideographic full stop', 'a@example。com', 'a@example.com'],
      ['half-width katakana (composed after mapping)', 'ﾊﾟ@example.com', 'パ@example.com'],
      ['upper case in both parts', 'Anna.Schmidt@Example.COM', 'anna.schmidt@example.com'],
      ['non-ASCII upper case in both parts', 'ÄNNE@MÜNCHEN.EXAMPLE', 'änne@xn--mnchen-3ya.example'],
      ['full case folding: ß', 'STRASSE@example.com', 'strasse@example.com'],
      ['full case folding: ß, lower', 'straße@example.com', 'strasse@example.com'],
      ['full case folding: capital ẞ (U+1E9E)', 'STRAẞE@example.com', 'strasse@example.com'],
      ['full case folding: final sigma', 'ΟΔΟΣ@example.com', 'οδος@example.com'],
      ['full case folding: a ligature', 'ﬁnn@example.com', 'finn@example.com'],
      ['surrounding white space, including the ideographic space', '\u3000 a@example.com \t', 'a@example.com'],
      ['a soft hyphen in the local part (invisible)', 'ju\u00ADergen@example.com', 'juergen@example.com'],
      ['a zero-width space in the local part', 'jue\u200Brgen@example.com', 'juergen@example.com'],
      ['a bidi override in the local part', 'juergen\u202E@example.com', 'juergen@example.com'],
      ['a soft hyphen in the domain (UTS #46 maps it away)', 'a@exam\u00ADple.com', 'a@example.com'],
      ['a non-transitional ß in the domain', 'a@faß.de', 'a@xn--fa-hia.de'],
    ])('%s: %j has the key %j', (_label, typed, key) => {
      expect(canonicalEmail(typed, 'input.email')).toEqual({ display: typed.trim().normalize('NFC'), key });
    });

    it('keeps what the person typed, trimmed and in NFC, as the display form', () => {
      expect(canonicalEmail(`  J${DECOMPOSED_U}rgen@M${'U\u0308'}NCHEN.example `, 'f').display).toBe('Jürgen@MÜNCHEN.example');
      expect(canonicalEmail('ｊｕｅｒｇｅｎ@ｅｘａｍｐｌｅ．ｃｏｍ', 'f').display).toBe('ｊｕｅｒｇｅｎ@ｅｘａｍｐｌｅ．ｃｏｍ');
    });

    it.each<[string, string]>([
      ['no @', 'not-an-email'],
      ['an empty local part', '@example.com'],
      ['an empty domain', 'a@'],
      ['a Punycode label that decodes to nothing valid', 'a@xn--zz.example'],
      ['a label starting with a hyphen', 'a@-bad.example'],
      ['an underscore (STD3 rules)', 'a@bad_domain.example'],
      ['a zero-width joiner in the domain (CheckJoiners)', 'a@exa\u200Dmple.com'],
      ['a single-label domain', 'a@localhost'],
      ['an IP address', 'a@1.2.3.4'],
      ['a bracketed IP literal', 'a@[127.0.0.1]'],
      ['an empty label', 'a@example..com'],
      ['a trailing dot', 'a@example.com.'],
      ['a label over 63 octets', `a@${'x'.repeat(64)}.com`],
      ['two dots in the local part', 'a..b@example.com'],
      ['a space in the local part', 'a b@example.com'],
      ['a control character', 'a\u0001@example.com'],
      ['a local part that is only invisible characters', '\u200B@example.com'],
      ['a lone surrogate in the local part', '\uD800@example.com'],
      ['a lone surrogate in the domain', 'a@exa\uDC00mple.com'],
      ['an over-long address', `${'a'.repeat(MAX_EMAIL_LENGTH)}@example.com`],
      ['a local part over 64 octets', `${'a'.repeat(65)}@example.com`],
    ])('refuses %s: %j (BAD_USER_INPUT naming the field, never a throw of another kind)', (_label, typed) => {
      expect(canonicalEmailOrNull(typed)).toBeNull();
      let thrown: unknown;
      try {
        canonicalEmail(typed, 'input.email');
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(AppError);
      expect((thrown as AppError).code).toBe(ErrorCode.BAD_USER_INPUT);
      expect((thrown as AppError).fields.map((f) => f.field)).toEqual(['input.email']);
      // The message does not echo the input.
      expect((thrown as AppError).message).not.toContain(typed);
    });
  });

  describe('canonicalDomain', () => {
    it.each<[string, string]>([
      ['münchen.example', 'xn--mnchen-3ya.example'],
      ['MÜNCHEN.example', 'xn--mnchen-3ya.example'],
      [`m${DECOMPOSED_U}nchen.example`, 'xn--mnchen-3ya.example'],
      ['xn--mnchen-3ya.example', 'xn--mnchen-3ya.example'],
      ['XN--MNCHEN-3YA.Example', 'xn--mnchen-3ya.example'],
      ['ｍüｎｃｈｅｎ．ｅｘａｍｐｌｅ', 'xn--mnchen-3ya.example'],
      ['  Acme.COM  ', 'acme.com'],
      ['bücher.example', 'xn--bcher-kva.example'],
      ['faß.de', 'xn--fa-hia.de'],
    ])('%j is %j', (typed, canonical) => {
      expect(canonicalDomain(typed, 'input.domains')).toBe(canonical);
      expect(canonicalDomainOrNull(typed)).toBe(canonical);
    });

    it.each([
      'xn--zz.example',
      '-bad.example',
      'bad_domain.example',
      'localhost',
      '',
      ' ',
      'example.com.',
      '1.2.3.4',
      'a b.example',
      '*.example.com',
      'exa\u200Dmple.com',
      '\uD800.example',
      `${'x'.repeat(64)}.com`,
      `${'abcdefghi.'.repeat(26)}com`,
    ])('refuses %j with BAD_USER_INPUT naming the field', (typed) => {
      expect(canonicalDomainOrNull(typed)).toBeNull();
      expect(() => canonicalDomain(typed, 'input.domains')).toThrow(AppError);
      try {
        canonicalDomain(typed, 'input.domains');
      } catch (error) {
        expect((error as AppError).code).toBe(ErrorCode.BAD_USER_INPUT);
        expect((error as AppError).fields.map((f) => f.field)).toEqual(['input.domains']);
      }
    });
  });

  describe('foldCase (also the migration fallback for an address that no longer parses)', () => {
    it.each<[string, string]>([
      ['Grüße', 'grüsse'],
      [`GRU${'\u0308'}SSE`, 'grüsse'],
      ['ǅ', 'ǆ'],
      ['Old@Bad_Domain.Example', 'old@bad_domain.example'],
    ])('%j folds to %j (NFC before and after)', (text, folded) => {
      expect(foldCase(text)).toBe(folded);
      expect(foldCase(folded)).toBe(folded);
    });
  });
});

describe('createUser compares emails by the canonical key (issue 9, case 4)', () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp();
  });
  afterAll(() => app.close());

  async function rowsWithKey(key: string) {
    return app.sql<{ id: string; email: string; email_key: string }>(
      'SELECT id, email, email_key FROM users WHERE email_key = $1',
      [key],
    );
  }

  it.each<[string, string, string, string]>([
    // label, first as typed, second as typed, the shared key
    ['THE ISSUE: precomposed ü, then u + U+0308', 'jürgen@example.com', `j${DECOMPOSED_U}rgen@example.com`, 'jürgen@example.com'],
    [
      'THE ISSUE: a U-label domain, then its A-label',
      'qa@münchen.example',
      'qa@xn--mnchen-3ya.example',
      'qa@xn--mnchen-3ya.example',
    ],
    [
      'an A-label, then the U-label in upper case',
      'qb@xn--mnchen-3ya.example',
      'qb@MÜNCHEN.EXAMPLE',
      'qb@xn--mnchen-3ya.example',
    ],
    ['NFD first, then NFC', `b${DECOMPOSED_U}cher@example.com`, 'bücher@example.com', 'bücher@example.com'],
    [
      'a decomposed U-label domain, then the precomposed one',
      `qc@m${DECOMPOSED_U}nchen.example`,
      'qc@münchen.example',
      'qc@xn--mnchen-3ya.example',
    ],
    ['full-width forms, then ASCII', 'ｊｕｅｒｇｅｎ@ｅｘａｍｐｌｅ．ｃｏｍ', 'juergen@example.com', 'juergen@example.com'],
    [
      'lower case, then upper case in the local part',
      'anna.schmidt@example.com',
      'ANNA.SCHMIDT@example.com',
      'anna.schmidt@example.com',
    ],
    ['lower case, then upper case in the domain', 'berta@example.org', 'berta@EXAMPLE.ORG', 'berta@example.org'],
    ['non-ASCII case in both parts', 'änne@münchen.example', 'ÄNNE@MÜNCHEN.EXAMPLE', 'änne@xn--mnchen-3ya.example'],
    ['ß, then SS', 'straße@example.com', 'STRASSE@example.com', 'strasse@example.com'],
    ['ss, then capital ẞ (U+1E9E)', 'fassade@example.com', 'FAẞADE@example.com', 'fassade@example.com'],
    ['plain, then with an invisible soft hyphen', 'carla@example.com', 'car\u00ADla@example.com', 'carla@example.com'],
  ])('%s: the second is CONFLICT and one row holds the key', async (_label, first, second, key) => {
    const created = ok(await app.gql(CreateUserDocument, { input: { email: first, name: 'First' } })).createUser;
    // Stored and shown as typed, in NFC.
    expect(created.email).toBe(first.normalize('NFC'));
    expect(await rowsWithKey(key)).toEqual([{ id: created.id, email: first.normalize('NFC'), email_key: key }]);

    const refused = await expectRefused(
      app,
      CreateUserDocument,
      { input: { email: second, name: 'Second' } },
      { token: app.adminKey, code: 'CONFLICT' },
    );
    expect(refused.errors?.[0]?.message).toBe('A user with this email already exists');
    expect(await rowsWithKey(key)).toEqual([{ id: created.id, email: first.normalize('NFC'), email_key: key }]);
  });

  it('stores a decomposed address in NFC, and reads it back that way', async () => {
    const typed = `  D${'U\u0308'}RER@M${'U\u0308'}NCHEN.example `;
    const created = ok(await app.gql(CreateUserDocument, { input: { email: typed } })).createUser;
    expect(created.email).toBe('DÜRER@MÜNCHEN.example');
    expect(created.email).not.toContain('\u0308');
    expect(await app.sql('SELECT email, email_key FROM users WHERE id = $1', [created.id])).toEqual([
      { email: 'DÜRER@MÜNCHEN.example', email_key: 'dürer@xn--mnchen-3ya.example' },
    ]);
    expect(ok(await app.gql(GetUserDocument, { id: created.id })).user?.email).toBe('DÜRER@MÜNCHEN.example');
  });

  it('keeps full-width forms in the display form while the key is ASCII', async () => {
    const created = ok(await app.gql(CreateUserDocument, { input: { email: 'ｄｏｒａ@ｅｘａｍｐｌｅ．ｃｏｍ' } })).createUser;
    expect(await app.sql('SELECT email, email_key FROM users WHERE id = $1', [created.id])).toEqual([
      { email: 'ｄｏｒａ@ｅｘａｍｐｌｅ．ｃｏｍ', email_key: 'dora@example.com' },
    ]);
  });

  it.each<[string, string]>([
    ['a Punycode label that decodes to nothing valid', 'a@xn--zz.example'],
    ['a label starting with a hyphen', 'a@-bad.example'],
    ['an underscore in the domain', 'a@bad_domain.example'],
    ['a zero-width joiner in the domain', 'a@exa\u200Dmple.com'],
    ['a single-label domain', 'a@localhost'],
    ['no @ at all', 'not-an-email'],
    ['a lone surrogate (JSON can carry one)', '\uD800@example.com'],
  ])('refuses %s with BAD_USER_INPUT naming input.email, and writes nothing', async (_label, email) => {
    const response = await expectRefused(
      app,
      CreateUserDocument,
      { input: { email } },
      { token: app.adminKey, code: 'BAD_USER_INPUT' },
    );
    expect(fieldsOf(response)).toEqual(['input.email']);
  });
});
