import { MaxLength } from 'class-validator';
import { Field, ID, InputType } from 'type-graphql';
import { MembershipRole } from '../memberships/membership.entity';

@InputType()
export class InviteMemberInput {
  @Field(() => ID)
  organizationId: string;

  /**
   * Checked and canonicalized by src/identity/canonical.ts (NFC, case folding, UTS #46):
   * the invitee is the account whose canonical key matches, whenever they sign up.
   */
  @Field()
  @MaxLength(320)
  email: string;

  @Field(() => MembershipRole, { nullable: true, defaultValue: MembershipRole.MEMBER })
  role?: MembershipRole | null;
}
