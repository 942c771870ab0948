import { Field, ID, InputType } from 'type-graphql';
import { MembershipRole } from './membership.entity';

@InputType()
export class AddMemberInput {
  @Field(() => ID)
  organizationId: string;

  @Field(() => ID)
  userId: string;

  @Field(() => MembershipRole, { nullable: true, defaultValue: MembershipRole.MEMBER })
  role?: MembershipRole | null;
}

/** updateMemberRole (issue 9): the member `userId` of `organizationId` gets `role`. */
@InputType()
export class UpdateMemberRoleInput {
  @Field(() => ID)
  organizationId: string;

  @Field(() => ID)
  userId: string;

  @Field(() => MembershipRole)
  role: MembershipRole;
}
