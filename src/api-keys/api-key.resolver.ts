import { Arg, Authorized, Ctx, ID, Mutation, Query, Resolver } from 'type-graphql';
import { ViewerKind } from '../auth/principal';
import type { Context } from '../http/context';
import { ApiKey, CreateApiKeyPayload } from './api-key.entity';
import { ApiKeyService, CreateApiKeyInput } from './api-key.service';

@Resolver(() => ApiKey)
export class ApiKeyResolver {
  private readonly service = new ApiKeyService();

  @Authorized(ViewerKind.ADMIN)
  @Mutation(() => CreateApiKeyPayload, { description: 'A partner API key; its secret is shown once.' })
  createApiKey(@Arg('input') input: CreateApiKeyInput, @Ctx() ctx: Context): Promise<CreateApiKeyPayload> {
    return ctx.transaction((manager) => this.service.create(manager, input));
  }

  @Authorized(ViewerKind.ADMIN)
  @Mutation(() => ApiKey)
  revokeApiKey(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<ApiKey> {
    return ctx.transaction((manager) => this.service.revoke(manager, id));
  }

  @Authorized(ViewerKind.ADMIN)
  @Query(() => [ApiKey])
  apiKeys(@Ctx() ctx: Context): Promise<ApiKey[]> {
    return this.service.list(ctx.reader);
  }
}
