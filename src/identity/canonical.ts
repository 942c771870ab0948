import { isEmail } from 'class-validator';
import { toASCII } from 'tr46';
import { AppError } from '../errors';

/**
 * Canonical identity (issue 9, "one person, one account"): the one place where an email
 * address or a domain becomes the key that uniqueness, lookups and invitation matching
 * compare. Used by createUser, inviteMember, organization domains, and the migration that
 * added the keys to existing rows.
 *
 * - Domain: UTS #46 (tr46, nontransitional processing, STD3 rules, DNS lengths checked) to
 *   its ASCII A-label form, which is also lower case: `MÜNCHEN.example`, `münchen.example`
 *   and `xn--mnchen-3ya.example` are one domain; full-width letters and the full-width dot
 *   are mapped to ASCII. At least two labels, the last not all digits.
 * - Local part: full-width and half-width forms mapped to their ordinary forms (RFC 8265
 *   §3.4.1, the width-mapping rule of PRECIS identifiers), Unicode NFC, then case-folded.
 *   Case folding uses ICU's full case mappings (lower, upper, then lower case), so `ß`/`SS`/`ss`,
 *   `ς`/`σ` and `ﬁ`/`fi` fold alike, as Unicode's full case folding (CaseFolding.txt, C+F)
 *   has them; it also folds the dotless `ı` to `i`, which errs on the side of "same person".
 *   Invisible characters (Default_Ignorable_Code_Point: soft hyphen, zero-width space and
 *   joiners, bidi controls, variation selectors) are left out of the key, as UTS #46 maps
 *   them away in the domain and NFKC_Casefold does everywhere: `ju<U+00AD>ergen@…` and
 *   `juergen@…` look alike and are one address. The display form keeps them.
 * - Text that is not well-formed UTF-16 (a lone surrogate, which JSON's `\ud800` escape can
 *   carry) is not an address: refused, never thrown on.
 */

const UTS46_OPTIONS = {
  checkBidi: true,
  checkHyphens: true,
  checkJoiners: true,
  useSTD3ASCIIRules: true,
  transitionalProcessing: false,
  verifyDNSLength: true,
} as const;

/** Halfwidth and Fullwidth Forms (U+FF01–U+FFEE) and the ideographic space: decomposition type <wide> or <narrow>. */
const WIDTH_VARIANTS = /[\u3000\uFF01-\uFFEE]/g;

/** Characters that render as nothing (DerivedCoreProperties.txt); NFKC_Casefold removes them. */
const INVISIBLE = /\p{Default_Ignorable_Code_Point}/gu;

/** A lone UTF-16 surrogate: not text, and validator's isEmail throws on it (encodeURI). */
const LONE_SURROGATE = /\p{Surrogate}/u;

/** The longest address SMTP carries (RFC 5321 §4.5.3.1: 64 octets of local part, 255 of domain), as stored. */
export const MAX_EMAIL_LENGTH = 320;

export interface CanonicalEmail {
  /** What the person typed, trimmed and in NFC: shown back to them. */
  display: string;
  /** `<folded local part>@<A-label domain>`: what uniqueness and matching compare. */
  key: string;
}

/** Full case folding by ICU's case mappings (see above); also the migration's fallback key for an unparsable address. */
export function foldCase(text: string): string {
  // Lower first: the capital sharp s (U+1E9E) has no upper-case mapping of its own, only the
  // lower-case ß, whose upper case is SS. Compared once with Unicode's full case folding
  // (Python's str.casefold) over every code point it changes: no difference but the dotless
  // ı above. The notable cases are in test/canonical-identity.test.ts.
  return text.normalize('NFC').toLowerCase().toUpperCase().toLowerCase().normalize('NFC');
}

function mapWidth(text: string): string {
  return text.replace(WIDTH_VARIANTS, (char) => char.normalize('NFKC'));
}

/** The domain's A-label form, or null when UTS #46 refuses it or it is not a multi-label host name. */
export function canonicalDomainOrNull(raw: string): string | null {
  if (LONE_SURROGATE.test(raw)) return null;
  const ascii = toASCII(raw.trim().normalize('NFC'), UTS46_OPTIONS);
  if (!ascii || ascii.length > 253 || ascii.endsWith('.')) return null;
  const labels = ascii.split('.');
  if (labels.length < 2 || labels.some((label) => label === '') || /^\d+$/.test(labels[labels.length - 1])) return null;
  return ascii;
}

/** The domain's A-label form; BAD_USER_INPUT naming `field` when UTS #46 refuses it. */
export function canonicalDomain(raw: string, field: string): string {
  const domain = canonicalDomainOrNull(raw);
  if (domain === null) {
    throw AppError.badInput(field, `${field} must be a domain name that UTS #46 accepts, such as example.com or münchen.example`);
  }
  return domain;
}

/** Canonical form of an address, or null when it is not one (no '@', a refused domain, a malformed local part). */
export function canonicalEmailOrNull(raw: string): CanonicalEmail | null {
  if (LONE_SURROGATE.test(raw)) return null;
  const display = raw.trim().normalize('NFC');
  if (display.length > MAX_EMAIL_LENGTH) return null;
  const mapped = mapWidth(display); // a full-width '＠' separates too
  const at = mapped.lastIndexOf('@');
  if (at <= 0) return null;
  const domain = canonicalDomainOrNull(mapped.slice(at + 1));
  if (domain === null) return null;
  const local = foldCase(mapped.slice(0, at).replace(INVISIBLE, ''));
  const key = `${local}@${domain}`;
  // Syntax of the folded address (dot-atom local part, UTF-8 allowed), checked on the A-label form.
  if (key.length > MAX_EMAIL_LENGTH || !isEmail(key, { allow_utf8_local_part: true, require_tld: true })) return null;
  return { display, key };
}

/** Canonical form of an address; BAD_USER_INPUT naming `field` when it is not a valid one. */
export function canonicalEmail(raw: string, field: string): CanonicalEmail {
  const email = canonicalEmailOrNull(raw);
  if (email === null) {
    throw AppError.badInput(
      field,
      `${field} must be a valid email address whose domain UTS #46 accepts, such as jürgen@münchen.example`,
    );
  }
  return email;
}
