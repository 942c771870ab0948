import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';
import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';

export enum SessionStatus {
  ACTIVE = 'ACTIVE',
  TERMINATED = 'TERMINATED',
  EXPIRED = 'EXPIRED',
}
registerEnumType(SessionStatus, { name: 'SessionStatus' });

/**
 * Entity and GraphQL type in one class. The token itself is never stored: only its
 * SHA-256 hash, which has no @Field and so can never be selected by a client.
 */
@ObjectType()
@Entity({ name: 'sessions' })
export class Session {
  @Field(() => ID)
  @PrimaryColumn({ type: 'varchar', length: 30 })
  id: string;

  @Column({ name: 'user_id', type: 'varchar', length: 30 })
  userId: string;

  @Column({ name: 'organization_id', type: 'varchar', length: 30, nullable: true })
  organizationId: string | null;

  @Column({ name: 'token_hash', type: 'bytea', select: false })
  tokenHash: Buffer;

  @Field()
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Field()
  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt: Date;

  @Field(() => Date, { nullable: true })
  @Column({ name: 'terminated_at', type: 'timestamptz', nullable: true })
  terminatedAt: Date | null;

  @Column({ name: 'termination_reason', type: 'varchar', length: 64, nullable: true })
  terminationReason: string | null;

  /** Number(), not getTime(): pg reads `infinity` as the number Infinity (a session that never expires). */
  @Field(() => SessionStatus)
  get status(): SessionStatus {
    if (this.terminatedAt) return SessionStatus.TERMINATED;
    return Number(this.expiresAt) <= Date.now() ? SessionStatus.EXPIRED : SessionStatus.ACTIVE;
  }
}

/** What terminateSession, terminateUserSessions (issue 12) and the deletion engine report for a session they ended. */
@ObjectType()
export class TerminatedSession {
  @Field(() => ID)
  id: string;

  @Field(() => ID)
  userId: string;

  @Field(() => ID, { nullable: true })
  organizationId: string | null;

  @Field()
  terminatedAt: Date;
}
