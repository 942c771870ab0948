import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { registerEnumType } from 'type-graphql';
import type { ApiKeyScope } from '../api-keys/api-key.entity';
import { AppError } from '../errors';

export enum ViewerKind {
  ADMIN = 'ADMIN',
  SESSION = 'SESSION',
  API_KEY = 'API_KEY',
}
registerEnumType(ViewerKind, { name: 'ViewerKind' });

/** Who is calling, established once per request from the bearer token. */
export type Principal =
  | { kind: ViewerKind.ADMIN }
  | { kind: ViewerKind.SESSION; userId: string; sessionId: string }
  | { kind: ViewerKind.API_KEY; apiKeyId: string; scopes: ReadonlySet<string> };

/** What @Authorized lists: kinds of caller, or API key scopes (see src/http/schema.ts). */
export type AccessRule = ViewerKind | ApiKeyScope;

export const SESSION_TOKEN_PREFIX = 'sst_';
export const API_KEY_SECRET_PREFIX = 'isk_';

export function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

export function newSessionToken(): { token: string; hash: Buffer } {
  const token = SESSION_TOKEN_PREFIX + randomBytes(32).toString('base64url');
  return { token, hash: sha256(token) };
}

function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer ([\x21-\x7e]{1,512})$/i.exec(header?.trim() ?? '');
  return match?.[1];
}

/**
 * Turns an Authorization header into a principal. The admin key is compared in
 * constant time (over equal-length digests); a session token is looked up by its
 * SHA-256 hash and accepted only while the session is ACTIVE, an API key only while
 * it is not revoked. There is no cache: a terminated session or a revoked key fails
 * on the very next request.
 */
export class Authenticator {
  private readonly adminKeyDigest: Buffer;

  constructor(
    private readonly dataSource: DataSource,
    adminApiKey: string,
  ) {
    this.adminKeyDigest = sha256(adminApiKey);
  }

  async authenticate(authorization: string | undefined): Promise<Principal> {
    const token = bearerToken(authorization);
    if (!token) throw AppError.unauthenticated('Send an Authorization: Bearer <token> header');
    const digest = sha256(token);
    if (timingSafeEqual(digest, this.adminKeyDigest)) return { kind: ViewerKind.ADMIN };
    if (token.startsWith(SESSION_TOKEN_PREFIX)) {
      const rows: Array<{ id: string; user_id: string }> = await this.dataSource.query(
        `SELECT id, user_id FROM sessions
          WHERE token_hash = $1 AND terminated_at IS NULL AND expires_at > now()`,
        [digest],
      );
      if (rows.length === 1) return { kind: ViewerKind.SESSION, userId: rows[0].user_id, sessionId: rows[0].id };
    }
    if (token.startsWith(API_KEY_SECRET_PREFIX)) {
      const rows: Array<{ id: string; scopes: string[] }> = await this.dataSource.query(
        `SELECT id, scopes FROM api_keys WHERE secret_hash = $1 AND revoked_at IS NULL`,
        [digest],
      );
      if (rows.length === 1) return { kind: ViewerKind.API_KEY, apiKeyId: rows[0].id, scopes: new Set(rows[0].scopes) };
    }
    throw AppError.unauthenticated('The bearer token is invalid, expired or terminated');
  }
}

/** How a receipt names who deleted: an ID, never an email or a name. */
export function actorOf(principal: Principal): string {
  switch (principal.kind) {
    case ViewerKind.ADMIN:
      return 'admin';
    case ViewerKind.SESSION:
      return `user:${principal.userId}`;
    case ViewerKind.API_KEY:
      return `api_key:${principal.apiKeyId}`;
  }
}
