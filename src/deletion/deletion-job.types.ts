import { Field, ID, Int, ObjectType, registerEnumType } from 'type-graphql';

/** Issue 15: where an organization deletion job is. */
export enum DeletionJobStatus {
  /** Scheduled; the organization is already being deleted (unreadable, closed to new members). */
  QUEUED = 'QUEUED',
  /** At least one step has run. */
  RUNNING = 'RUNNING',
  /** The organization is gone and the receipt written. */
  SUCCEEDED = 'SUCCEEDED',
  /** A step failed DELETION_JOB_MAX_ATTEMPTS times; the organization stays "being deleted" (error says why). */
  FAILED = 'FAILED',
}
registerEnumType(DeletionJobStatus, {
  name: 'DeletionJobStatus',
  valuesConfig: {
    QUEUED: { description: 'Scheduled; the organization is already being deleted (unreadable, closed to new members).' },
    RUNNING: { description: 'At least one step has run.' },
    SUCCEEDED: { description: 'The organization is gone; receipt is set.' },
    FAILED: {
      description:
        'A step kept failing; the organization stays being deleted, never half visible. error says why; ' +
        'scheduleOrganizationDeletion again resumes it where it stopped.',
    },
  },
});

@ObjectType({
  description:
    'An organization deleted in steps (issue 15): scheduleOrganizationDeletion returns it, deletionJob(id) follows it. ' +
    'The end state and the receipt are those deleteOrganization would have produced.',
})
export class DeletionJob {
  @Field(() => ID)
  id: string;

  @Field(() => ID)
  organizationId: string;

  @Field(() => DeletionJobStatus)
  status: DeletionJobStatus;

  @Field(() => Int, { description: 'Members when the job was scheduled.' })
  totalMembers: number;

  @Field(() => Int, {
    description:
      'Memberships removed so far. Ends at totalMembers, or below it when members were deleted by deleteUser meanwhile.',
  })
  processedMembers: number;

  @Field()
  createdAt: Date;

  @Field(() => Date, { nullable: true, description: 'When the first step ran.' })
  startedAt: Date | null;

  @Field(() => Date, { nullable: true, description: 'When the job SUCCEEDED or FAILED.' })
  finishedAt: Date | null;

  @Field(() => String, {
    nullable: true,
    description: 'Why the last attempt of a step failed (no SQL, no personal data); null once a later step succeeds.',
  })
  error: string | null;

  /** Not in the schema: the receipt's ID, fixed when the job is scheduled (every event of the job carries it). */
  receiptId: string;

  /** Not in the schema: "admin", "user:<id>" or "api_key:<id>", who scheduled it (the receipt's actor). */
  actor: string;

  /** Not in the schema: the actor and every caller scheduleOrganizationDeletion returned the job to since. */
  requestedBy: string[];
}
