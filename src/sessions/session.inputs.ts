import { IsOptional, Max, Min } from 'class-validator';
import { Field, ID, InputType, Int, ObjectType } from 'type-graphql';
import { Session } from './session.entity';

@InputType()
export class CreateSessionInput {
  @Field(() => ID)
  userId: string;

  @Field(() => ID, { nullable: true, description: 'An organization the user belongs to, as the session context.' })
  organizationId?: string | null;

  @Field(() => Int, { nullable: true, description: 'Lifetime in seconds: 60 to 31536000; default from SESSION_TTL_SECONDS.' })
  @IsOptional()
  @Min(60)
  @Max(31_536_000)
  ttlSeconds?: number | null;
}

@ObjectType()
export class CreateSessionPayload {
  @Field(() => Session)
  session: Session;

  @Field({ description: 'The bearer token. Shown once; only its SHA-256 hash is stored.' })
  token: string;
}
