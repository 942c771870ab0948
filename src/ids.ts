import { monotonicFactory } from 'ulid';
import { AppError } from './errors';

/**
 * Opaque, prefixed, time-sortable identifiers (`org_01J…`), as the platform this API
 * mirrors uses: the prefix tells a reader what an ID names, the ULID body sorts by
 * creation time, so keyset pagination can order by ID alone.
 */
export const ID_PREFIX = {
  organization: 'org',
  user: 'usr',
  membership: 'mem',
  session: 'ses',
  receipt: 'drc',
  event: 'evt',
  apiKey: 'key',
  invitation: 'inv',
  webhookEndpoint: 'ep',
  webhookMessage: 'msg',
  webhookDelivery: 'att',
} as const;
export type IdKind = keyof typeof ID_PREFIX;

const ulid = monotonicFactory();
const ULID_BODY = /^[0-9A-HJKMNP-TV-Z]{26}$/;

export function newId(kind: IdKind): string {
  return `${ID_PREFIX[kind]}_${ulid()}`;
}

export function isId(kind: IdKind, value: string): boolean {
  const prefix = `${ID_PREFIX[kind]}_`;
  return value.startsWith(prefix) && ULID_BODY.test(value.slice(prefix.length));
}

/** Rejects an ID of the wrong prefix or shape before it reaches SQL, naming the argument. */
export function parseId(kind: IdKind, value: string, field: string): string {
  if (!isId(kind, value)) {
    throw AppError.badInput(field, `${field} must be an ID of the form ${ID_PREFIX[kind]}_<26 characters>`);
  }
  return value;
}
