import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';
import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';

/** Per-operation permissions of a partner key, as identity platforms' management APIs scope theirs. */
export enum ApiKeyScope {
  USERS_READ = 'USERS_READ',
  USERS_WRITE = 'USERS_WRITE',
  USERS_DELETE = 'USERS_DELETE',
  ORGANIZATIONS_READ = 'ORGANIZATIONS_READ',
  ORGANIZATIONS_WRITE = 'ORGANIZATIONS_WRITE',
  ORGANIZATIONS_DELETE = 'ORGANIZATIONS_DELETE',
  SESSIONS_WRITE = 'SESSIONS_WRITE',
  /** Issue 12: the trusted Events operation (the outbox, polled). */
  EVENTS_READ = 'EVENTS_READ',
  /** Issue 12: the key's own webhook endpoints. */
  WEBHOOKS_WRITE = 'WEBHOOKS_WRITE',
}
registerEnumType(ApiKeyScope, { name: 'ApiKeyScope' });

/** Entity and GraphQL type in one class; the secret's hash has no @Field. */
@ObjectType()
@Entity({ name: 'api_keys' })
export class ApiKey {
  @Field(() => ID)
  @PrimaryColumn({ type: 'varchar', length: 30 })
  id: string;

  @Field()
  @Column({ type: 'varchar', length: 100 })
  name: string;

  @Field(() => [ApiKeyScope])
  @Column({ type: 'text', array: true })
  scopes: ApiKeyScope[];

  @Column({ name: 'secret_hash', type: 'bytea', select: false })
  secretHash: Buffer;

  @Field()
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Field(() => Date, { nullable: true })
  @Column({ name: 'revoked_at', type: 'timestamptz', nullable: true })
  revokedAt: Date | null;
}

@ObjectType()
export class CreateApiKeyPayload {
  @Field(() => ApiKey)
  apiKey: ApiKey;

  @Field({ description: 'The bearer secret. Shown once; only its SHA-256 hash is stored.' })
  secret: string;
}
