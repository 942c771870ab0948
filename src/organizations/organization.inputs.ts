import { ArrayMaxSize, IsOptional, Length, Matches, MaxLength } from 'class-validator';
import { GraphQLJSONObject } from 'graphql-scalars';
import { Field, ID, InputType } from 'type-graphql';

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

/**
 * updateOrganization (issue 12). A field left out stays as it is; `externalId: null`
 * clears it; `name: null` and `settings: null` are BAD_USER_INPUT (send `{}` to empty the
 * settings). `settings` replaces the whole object (no merge): a JSON object, not an array,
 * of at most SETTINGS_MAX_BYTES bytes and SETTINGS_MAX_DEPTH levels (src/organizations/settings.ts).
 */
@InputType()
export class UpdateOrganizationInput {
  @Field(() => ID)
  id: string;

  @Field(() => String, { nullable: true })
  @IsOptional()
  @Length(1, 200)
  @Matches(/\S/, { message: 'name must not be blank' })
  name?: string | null;

  @Field(() => String, { nullable: true, description: 'Null clears it.' })
  @IsOptional()
  @Length(1, 255)
  externalId?: string | null;

  @Field(() => GraphQLJSONObject, {
    nullable: true,
    description:
      'Replaces the settings whole. A JSON object of at most 16384 bytes (the UTF-8 length of its JSON text, ' +
      'JSON.stringify without spaces) and 10 levels of nesting; no string or key may contain U+0000.',
  })
  settings?: Record<string, unknown> | null;
}

/**
 * organizations(filter:) (issue 12). Both fields, when given, must match. `domain` is any
 * spelling UTS #46 accepts, compared as its A-label, and matches the organization that
 * holds it verified only: unverified claims (anyone signed in can make one, issue 9) say
 * nothing about who the domain belongs to, and a partner looking an organization up by its
 * domain must not be handed a squatter. `externalId` matches exactly. A null field is no condition.
 */
@InputType()
export class OrganizationFilter {
  @Field(() => String, { nullable: true })
  @IsOptional()
  @Length(1, 255)
  externalId?: string | null;

  @Field(() => String, { nullable: true, description: 'Matches the organization holding this domain verified (unverified claims do not match).' })
  @IsOptional()
  @MaxLength(253)
  domain?: string | null;
}
