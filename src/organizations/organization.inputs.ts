import { ArrayMaxSize, IsFQDN, IsOptional, Length, Matches } from 'class-validator';
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

  @Field(() => [String], { nullable: true })
  @IsOptional()
  @ArrayMaxSize(50)
  @IsFQDN({ require_tld: true }, { each: true, message: 'each domain must be a fully qualified domain name' })
  @Length(1, 253, { each: true })
  domains?: string[] | null;
}
