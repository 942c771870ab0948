import { IsOptional, Length, Matches, MaxLength } from 'class-validator';
import { Field, ID, InputType } from 'type-graphql';

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

/**
 * updateUser (issue 12). A field left out stays as it is; `externalId: null` clears it;
 * `name: null` and `email: null` are BAD_USER_INPUT (a name is cleared by the admin only by
 * setting another). The email is checked and canonicalized as createUser's is, and answers
 * CONFLICT when another account has the same canonical key.
 */
@InputType()
export class UpdateUserInput {
  @Field(() => ID)
  id: string;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @Length(1, 200)
  @Matches(/\S/, { message: 'name must not be blank' })
  name?: string | null;

  @Field(() => String, { nullable: true, description: 'Admin and USERS_WRITE keys only: FORBIDDEN for a signed-in user.' })
  @IsOptional()
  @MaxLength(320)
  email?: string | null;

  @Field(() => String, {
    nullable: true,
    description: 'Null clears it. Admin and USERS_WRITE keys only: FORBIDDEN for a signed-in user.',
  })
  @IsOptional()
  @Length(1, 255)
  externalId?: string | null;
}

/**
 * users(filter:) (issue 12). Both fields, when given, must match. `email` compares by the
 * canonical key (src/identity/canonical.ts), so any spelling of an address finds its
 * account (`ALICE@Example.COM`, NFD, full width, A-label domain); `externalId` matches exactly.
 * A null field is no condition.
 */
@InputType()
export class UserFilter {
  @Field(() => String, { nullable: true })
  @IsOptional()
  @MaxLength(320)
  email?: string | null;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @Length(1, 255)
  externalId?: string | null;
}
