import { GraphQLJSON } from 'graphql-scalars';
import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';
import { RemovedMembership } from '../memberships/membership.entity';
import { EVENT_TYPES } from '../outbox';
import { Connection } from '../pagination';
import { TerminatedSession } from '../sessions/session.entity';

export enum DeletionKind {
  USER = 'USER',
  ORGANIZATION = 'ORGANIZATION',
}
registerEnumType(DeletionKind, { name: 'DeletionKind' });

@ObjectType({ description: 'Proof that a deletion happened: IDs, counts, time and actor; never personal data.' })
export class DeletionReceipt {
  @Field(() => ID)
  id: string;

  @Field(() => DeletionKind)
  kind: DeletionKind;

  @Field(() => ID)
  subjectId: string;

  @Field({ description: '"admin", "user:<id>" or "api_key:<id>".' })
  actor: string;

  @Field()
  deletedAt: Date;

  @Field(() => Int)
  terminatedSessionCount: number;

  @Field(() => Int)
  removedMembershipCount: number;

  @Field(() => Int)
  cascadedUserCount: number;

  @Field({
    description:
      'SHA-256 (hex) of "<kind>:<subjectId>\\nsessions:<ids>\\nmemberships:<ids>\\nusers:<ids>", each list of ' +
      'removed IDs sorted in byte order and joined by commas (users: the deleted user, or the cascaded users).',
  })
  digest: string;
}

@ObjectType()
export class CascadedUser {
  @Field(() => ID)
  id: string;
}

@ObjectType()
export class DeleteUserPayload {
  @Field(() => ID)
  deletedUserId: string;

  @Field(() => [TerminatedSession])
  terminatedSessions: TerminatedSession[];

  @Field(() => [RemovedMembership])
  removedMemberships: RemovedMembership[];

  @Field()
  dryRun: boolean;

  @Field(() => DeletionReceipt, { nullable: true, description: 'Null for a dry run.' })
  receipt: DeletionReceipt | null;
}

@ObjectType()
export class DeleteOrganizationPayload {
  @Field(() => ID)
  deletedOrganizationId: string;

  @Field(() => [TerminatedSession], { description: "Every active session of every member, ended." })
  terminatedSessions: TerminatedSession[];

  @Field(() => [RemovedMembership])
  removedMemberships: RemovedMembership[];

  @Field(() => [CascadedUser], { description: 'Members whose only organization this was; now deleted.' })
  cascadedUsers: CascadedUser[];

  @Field(() => [ID], { description: 'Members who belong to other organizations and keep their accounts.' })
  retainedUserIds: string[];

  @Field()
  dryRun: boolean;

  @Field(() => DeletionReceipt, { nullable: true, description: 'Null for a dry run.' })
  receipt: DeletionReceipt | null;
}

@ObjectType({ description: 'One fact, from the transactional outbox.' })
export class Event {
  @Field(() => ID)
  id: string;

  @Field({ description: `One of: ${EVENT_TYPES.join(', ')} (src/outbox.ts).` })
  type: string;

  @Field()
  occurredAt: Date;

  @Field(() => GraphQLJSON)
  data: Record<string, unknown>;
}

@ObjectType()
export class EventConnection extends Connection(Event) {}
