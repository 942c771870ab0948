import { Field, ID, InputType } from 'type-graphql';

/** The longest description, in characters (webhook_endpoints.description). */
export const MAX_DESCRIPTION_LENGTH = 500;

/**
 * createWebhookEndpoint's input (issue 12). Every field is checked in the service
 * (src/webhooks/webhook-endpoint.service.ts), so that each refusal names its field the same
 * way (`input.url`): the URL by parseWebhookUrl, the event types against the outbox's list
 * (src/outbox.ts, EVENT_TYPES), the description by parseDescription.
 */
@InputType()
export class CreateWebhookEndpointInput {
  @Field({ description: 'An http or https URL without user name or password, at most 2048 characters.' })
  url: string;

  @Field(() => [String], { description: 'At least one; each a type the events query lists. Duplicates are dropped.' })
  eventTypes: string[];

  @Field(() => String, { nullable: true, description: 'At most 500 characters; blank means none.' })
  description?: string | null;
}

/**
 * updateWebhookEndpoint's input: a field left out keeps its value. `url`, `eventTypes` and
 * `enabled` cannot be null (leave them out instead); `description: null` removes it.
 */
@InputType()
export class UpdateWebhookEndpointInput {
  @Field(() => ID)
  id: string;

  @Field(() => String, { nullable: true })
  url?: string | null;

  @Field(() => [String], { nullable: true })
  eventTypes?: string[] | null;

  @Field(() => Boolean, {
    nullable: true,
    description: 'false stops deliveries; true after a disable (by hand or for failing) clears disabledReason and failingSince.',
  })
  enabled?: boolean | null;

  @Field(() => String, { nullable: true, description: 'Null removes it.' })
  description?: string | null;
}
