import { randomBytes } from 'node:crypto';
import { ArrayMinSize, ArrayUnique, Length, Matches } from 'class-validator';
import { Field, InputType } from 'type-graphql';
import type { EntityManager } from 'typeorm';
import { API_KEY_SECRET_PREFIX, sha256 } from '../auth/principal';
import { AppError } from '../errors';
import { newId, parseId } from '../ids';
import { ApiKey, ApiKeyScope } from './api-key.entity';

@InputType()
export class CreateApiKeyInput {
  @Field()
  @Length(1, 100)
  @Matches(/\S/, { message: 'name must not be blank' })
  name: string;

  @Field(() => [ApiKeyScope])
  @ArrayMinSize(1)
  @ArrayUnique()
  scopes: ApiKeyScope[];
}

export class ApiKeyService {
  async create(manager: EntityManager, input: CreateApiKeyInput): Promise<{ apiKey: ApiKey; secret: string }> {
    const secret = API_KEY_SECRET_PREFIX + randomBytes(32).toString('base64url');
    const id = newId('apiKey');
    await manager.insert(ApiKey, { id, name: input.name.trim(), scopes: input.scopes, secretHash: sha256(secret) });
    return { apiKey: await manager.findOneByOrFail(ApiKey, { id }), secret };
  }

  /** Revoking is idempotent; the key fails authentication from the next request on. */
  async revoke(manager: EntityManager, idArg: string): Promise<ApiKey> {
    const id = parseId('apiKey', idArg, 'id');
    const [rows] = await manager.query(
      `UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING id`,
      [id],
    );
    if (rows.length === 0) throw AppError.notFound('API key', id);
    // Issue 12: a revoked key's webhook endpoints stop receiving events in the same
    // transaction (their pending messages end FAILED at delivery, as for any disabled endpoint).
    await manager.query(
      `UPDATE webhook_endpoints SET enabled = false, disabled_reason = 'Its API key was revoked', updated_at = now()
        WHERE api_key_id = $1 AND enabled`,
      [id],
    );
    return manager.findOneByOrFail(ApiKey, { id });
  }

  list(manager: EntityManager): Promise<ApiKey[]> {
    return manager.find(ApiKey, { order: { id: 'ASC' } });
  }
}
