import { IsOptional, Length, Matches, MaxLength } from 'class-validator';
import { Field, InputType } from 'type-graphql';

@InputType()
export class CreateUserInput {
  /** Checked and canonicalized by src/identity/canonical.ts (NFC, case folding, UTS #46). */
  @Field()
  @MaxLength(320)
  email: string;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @Length(1, 200)
  @Matches(/\S/, { message: 'name must not be blank' })
  name?: string | null;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @Length(1, 255)
  externalId?: string | null;
}
