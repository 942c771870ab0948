import { ArrayMaxSize, IsOptional, Length, Matches } from 'class-validator';
import { Field, InputType } from 'type-graphql';

@InputType()
export class CreateOrganizationInput {
  @Field()
  @Length(1, 200)
  @Matches(/\S/, { message: 'name must not be blank' })
  name: string;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @Length(1, 255)
  externalId?: string | null;

  /**
   * Plain domain names, in any spelling UTS #46 accepts (`münchen.example`, `MÜNCHEN.example`,
   * `xn--mnchen-3ya.example` are one domain): canonicalized by src/identity/canonical.ts and
   * stored as A-labels. Verified when the admin or a key adds them, unverified from a session.
   */
  @Field(() => [String], { nullable: true })
  @IsOptional()
  @ArrayMaxSize(50)
  @Length(1, 253, { each: true })
  domains?: string[] | null;
}
