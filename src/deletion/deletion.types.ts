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

  /**
   * Not in the schema: the deletion's transaction ID (xid8 as text), which its events carry;
   * the receipt's list pages read them by it (deletion-log.service.ts). Null only for a
   * receipt written before issue 13 whose events were gone when the migration backfilled it.
   */
  txid: string | null;

  /**
   * Not in the schema: for a receipt written by a deletion job (issue 15), the transactions of
   * its chunks, in order, whose events are the receipt's lists; null for a deletion made in
   * one transaction (its events carry txid).
   */
  chunkTxids: string[] | null;

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

@ObjectType({ description: 'A member whose only organization this was; deleted with it.' })
export class CascadedUser {
  @Field(() => ID)
  id: string;
}

@ObjectType({ description: 'A member who belongs to other organizations and keeps their account.' })
export class RetainedUser {
  @Field(() => ID)
  id: string;
}

/*
 * Issue 13, bounded memory: a deletion's lists are pages. The payload carries the first
 * page of each (from the deletion's own statement), with its totalCount (the receipt's
 * count) and an endCursor that continues into the receipt's pages of the same list, read
 * from the events the deletion wrote. Nodes come in the order those events were written.
 */

@ObjectType({ description: 'Sessions a deletion ended, in the order of its session.terminated events.' })
export class TerminatedSessionConnection extends Connection(TerminatedSession) {}

@ObjectType({ description: 'Memberships a deletion removed, in the order of its organization_membership.deleted events.' })
export class RemovedMembershipConnection extends Connection(RemovedMembership) {}

@ObjectType({ description: 'Users an organization deletion deleted with it, in the order of its user.deleted events.' })
export class CascadedUserConnection extends Connection(CascadedUser) {}

@ObjectType({ description: 'Members an organization deletion left with their accounts, in the order of their membership events.' })
export class RetainedUserConnection extends Connection(RetainedUser) {}

/** A list's first entries as the deletion statement returned them (at most first + 1), and its total. */
export interface FirstEntries<T> {
  entries: Array<{ position: string; node: T }>;
  totalCount: number;
}

@ObjectType({
  description:
    'terminatedSessions and removedMemberships are connections: the first page, its totalCount and an endCursor that ' +
    'continues in deletionReceipt(subjectId) { terminatedSessions(after:) … } (issue 13).',
})
export class DeleteUserPayload {
  @Field(() => ID)
  deletedUserId: string;

  /** Not in the schema: the statement's first entries, shaped into pages by DeleteUserPayloadResolver. */
  firstPages: {
    terminatedSessions: FirstEntries<TerminatedSession>;
    removedMemberships: FirstEntries<RemovedMembership>;
  };

  @Field()
  dryRun: boolean;

  @Field(() => DeletionReceipt, { nullable: true, description: 'Null for a dry run.' })
  receipt: DeletionReceipt | null;
}

@ObjectType({
  description:
    'Each list is a connection: the first page, its totalCount and an endCursor that continues in ' +
    'deletionReceipt(subjectId) { terminatedSessions(after:) … } (issue 13).',
})
export class DeleteOrganizationPayload {
  @Field(() => ID)
  deletedOrganizationId: string;

  /** Not in the schema: the statement's first entries, shaped into pages by DeleteOrganizationPayloadResolver. */
  firstPages: {
    terminatedSessions: FirstEntries<TerminatedSession>;
    removedMemberships: FirstEntries<RemovedMembership>;
    cascadedUsers: FirstEntries<CascadedUser>;
    retainedUsers: FirstEntries<RetainedUser>;
  };

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
