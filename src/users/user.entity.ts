import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';
import { Field, ID, ObjectType } from 'type-graphql';
import { Connection } from '../pagination';

/** Entity and GraphQL type in one class: only properties with @Field are public. */
@ObjectType()
@Entity({ name: 'users' })
export class User {
  @Field(() => ID)
  @PrimaryColumn({ type: 'varchar', length: 30 })
  id: string;

  /** As the person typed it, in NFC, for display (issue 9). */
  @Field()
  @Column({ type: 'varchar', length: 320 })
  email: string;

  /** Canonical key (src/identity/canonical.ts): unique, and what lookups and invitations compare. Not public. */
  @Column({ name: 'email_key', type: 'varchar', length: 320 })
  emailKey: string;

  @Field(() => String, { nullable: true })
  @Column({ type: 'varchar', length: 200, nullable: true })
  name: string | null;

  @Field(() => String, { nullable: true })
  @Column({ name: 'external_id', type: 'varchar', length: 255, nullable: true })
  externalId: string | null;

  @Field()
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}

@ObjectType()
export class UserConnection extends Connection(User) {}
