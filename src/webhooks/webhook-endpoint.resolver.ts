import { Arg, Args, Authorized, Ctx, FieldResolver, ID, Mutation, Query, Resolver, Root } from 'type-graphql';
import { ApiKeyScope } from '../api-keys/api-key.entity';
import { ViewerKind, type AccessRule } from '../auth/principal';
import type { Context } from '../http/context';
import { decodeCursor, PageArgs, type Page } from '../pagination';
import {
  CreateWebhookEndpointPayload,
  DeleteWebhookEndpointPayload,
  ReplayWebhookEventsPayload,
  RotateWebhookSecretPayload,
  WebhookDelivery,
  WebhookDeliveryConnection,
  WebhookEndpoint,
  WebhookEndpointConnection,
} from './webhook-endpoint.entity';
import { CreateWebhookEndpointInput, UpdateWebhookEndpointInput } from './webhook-endpoint.inputs';
import { WebhookEndpointService } from './webhook-endpoint.service';

/** WEBHOOK_ALLOW_PRIVATE_ADDRESSES decides whether a URL may name a private address literally. */
function urlOptions(ctx: Context) {
  return { allowPrivateAddresses: ctx.config.webhooks.allowPrivateAddresses };
}

/** Who manages webhook endpoints (issue 12): the admin, and keys with WEBHOOKS_WRITE (each its own). Session users: FORBIDDEN. */
const ENDPOINT_MANAGERS: AccessRule[] = [ViewerKind.ADMIN, ApiKeyScope.WEBHOOKS_WRITE];

/**
 * Webhook endpoints (issue 12). A key sees and changes only the endpoints it created;
 * another key's is NOT_FOUND (or null), never FORBIDDEN. The admin sees all. Delivery
 * itself (fan-out from the outbox, signing, retries) is src/webhooks/webhook-fanout.ts and
 * the worker's.
 */
@Resolver(() => WebhookEndpoint)
export class WebhookEndpointResolver {
  private readonly service = new WebhookEndpointService();

  @Authorized<AccessRule>(...ENDPOINT_MANAGERS)
  @Mutation(() => CreateWebhookEndpointPayload, {
    description:
      'An endpoint for the calling key (or the admin), with a Standard Webhooks signing secret shown this once. ' +
      'It receives the events of its types that happen from now on; older ones only through replayWebhookEvents.',
  })
  createWebhookEndpoint(
    @Arg('input', () => CreateWebhookEndpointInput) input: CreateWebhookEndpointInput,
    @Ctx() ctx: Context,
  ): Promise<CreateWebhookEndpointPayload> {
    return ctx.transaction((manager) => this.service.create(manager, ctx.principal, input, urlOptions(ctx)));
  }

  @Authorized<AccessRule>(...ENDPOINT_MANAGERS)
  @Query(() => WebhookEndpointConnection, { description: "The calling key's endpoints (the admin: every endpoint), oldest first." })
  webhookEndpoints(@Args(() => PageArgs) args: PageArgs, @Ctx() ctx: Context): Promise<Page<WebhookEndpoint>> {
    return this.service.list(ctx.reader, ctx.principal, args);
  }

  @Authorized<AccessRule>(...ENDPOINT_MANAGERS)
  @Query(() => WebhookEndpoint, { nullable: true, description: "One of the calling key's endpoints; null when it does not exist or is another key's." })
  webhookEndpoint(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<WebhookEndpoint | null> {
    return this.service.find(ctx.reader, ctx.principal, id);
  }

  @Authorized<AccessRule>(...ENDPOINT_MANAGERS)
  @Mutation(() => WebhookEndpoint, {
    description:
      'Changes the fields sent; the others keep their values. enabled: true on a disabled endpoint clears disabledReason and failingSince.',
  })
  updateWebhookEndpoint(
    @Arg('input', () => UpdateWebhookEndpointInput) input: UpdateWebhookEndpointInput,
    @Ctx() ctx: Context,
  ): Promise<WebhookEndpoint> {
    return ctx.transaction((manager) => this.service.update(manager, ctx.principal, input, urlOptions(ctx)));
  }

  @Authorized<AccessRule>(...ENDPOINT_MANAGERS)
  @Mutation(() => RotateWebhookSecretPayload, {
    description: 'A new signing secret, shown this once; it signs every attempt from now on, retries of older messages included.',
  })
  rotateWebhookSecret(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<RotateWebhookSecretPayload> {
    return ctx.transaction((manager) => this.service.rotateSecret(manager, ctx.principal, id));
  }

  @Authorized<AccessRule>(...ENDPOINT_MANAGERS)
  @Mutation(() => DeleteWebhookEndpointPayload, { description: 'The endpoint, its queued messages and its delivery log. Events stay.' })
  async deleteWebhookEndpoint(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<DeleteWebhookEndpointPayload> {
    const deletedEndpointId = await ctx.transaction((manager) => this.service.delete(manager, ctx.principal, id));
    return { deletedEndpointId };
  }

  @Authorized<AccessRule>(...ENDPOINT_MANAGERS)
  @Mutation(() => ReplayWebhookEventsPayload, {
    description:
      'Sends again the events after `after` (a cursor of the events query; every event when null) of the types the endpoint ' +
      'subscribes to, as new messages: at most 1000 per call, oldest first; nextCursor continues when more remain. ' +
      'CONFLICT while the endpoint is disabled.',
  })
  replayWebhookEvents(
    @Arg('endpointId', () => ID) endpointId: string,
    @Arg('after', () => String, { nullable: true }) after: string | null | undefined,
    @Ctx() ctx: Context,
  ): Promise<ReplayWebhookEventsPayload> {
    return ctx.transaction((manager) => this.service.replay(manager, ctx.principal, endpointId, after ?? null));
  }

  @FieldResolver(() => WebhookDeliveryConnection, {
    description: 'Each delivery attempt, newest first: when, the HTTP status, how long, the error and the start of the response body.',
  })
  async deliveries(@Root() endpoint: WebhookEndpoint, @Args(() => PageArgs) args: PageArgs, @Ctx() ctx: Context): Promise<Page<WebhookDelivery>> {
    // Only endpoints the caller owns reach here: every query and payload that returns one is scoped to its owner.
    const beforeId = decodeCursor('webhookDelivery', args.after);
    const page = await ctx.loaders.webhookDeliveryPage.load({ endpointId: endpoint.id, first: args.first, beforeId });
    return {
      ...page,
      get totalCount() {
        return ctx.loaders.webhookDeliveryCount.load(endpoint.id);
      },
    };
  }
}
