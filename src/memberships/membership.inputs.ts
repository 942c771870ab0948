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
