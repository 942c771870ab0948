import { Column, CreateDateColumn, Entity, PrimaryColumn } from 'typeorm';
import { Field, ID, ObjectType, registerEnumType } from 'type-graphql';
import { Connection } from '../pagination';

export enum MembershipRole {
  OWNER = 'OWNER',
  ADMIN = 'ADMIN',
  MEMBER = 'MEMBER',
}
registerEnumType(MembershipRole, { name: 'MembershipRole' });

/** Entity and GraphQL type in one class; `organization` and `user` are resolved by loaders. */
@ObjectType()
@Entity({ name: 'memberships' })
export class Membership {
  @Field(() => ID)
  @PrimaryColumn({ type: 'varchar', length: 30 })
  id: string;

  @Column({ name: 'organization_id', type: 'varchar', length: 30 })
  organizationId: string;

  @Column({ name: 'user_id', type: 'varchar', length: 30 })
  userId: string;

  @Field(() => MembershipRole)
  @Column({ type: 'varchar', length: 10 })
  role: MembershipRole;

  @Field()
  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;
}

/** What removeMember and the deletion engine report for a membership that no longer exists. */
@ObjectType()
export class RemovedMembership {
  @Field(() => ID)
  id: string;

  @Field(() => ID)
  organizationId: string;

  @Field(() => ID)
  userId: string;

  @Field(() => MembershipRole)
  role: MembershipRole;
}

@ObjectType()
export class MembershipConnection extends Connection(Membership) {}
