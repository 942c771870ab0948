import { randomFillSync } from 'node:crypto';
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
  deletionJob: 'djb',
  event: 'evt',
  apiKey: 'key',
  invitation: 'inv',
  webhookEndpoint: 'ep',
  webhookMessage: 'msg',
  webhookDelivery: 'att',
} as const;
export type IdKind = keyof typeof ID_PREFIX;

/**
 * ulid's default PRNG asks node:crypto for one byte per character (16 calls for each new
 * millisecond's ID: 3-4% of deleteUser's CPU, bench/profile-2026-11-30.md). The same
 * CSPRNG, drawn 4 KiB at a time: a byte / 256 maps evenly onto the 32 Crockford characters.
 */
const randomPool = Buffer.allocUnsafe(4096);
let randomOffset = randomPool.length;
function pooledRandom(): number {
  if (randomOffset >= randomPool.length) {
    randomFillSync(randomPool);
    randomOffset = 0;
  }
  return randomPool[randomOffset++] / 256;
}

const ulid = monotonicFactory(pooledRandom);
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
