import { Field, ID, Int, ObjectType } from 'type-graphql';
import { Connection } from '../pagination';

/**
 * A partner's webhook endpoint (issue 12): where events of the types it subscribed to are
 * sent, signed the Standard Webhooks way. Read with raw SQL (ENDPOINT_COLUMNS): the signing
 * secret is never selected into this class, so no decorator can make it public; it leaves
 * the server once, in the payload of createWebhookEndpoint or rotateWebhookSecret.
 *
 * `apiKeyId` is the key that created it (null: the admin's), the one key that may see and
 * change it (src/auth/access.ts, endpointOwnerOf).
 */
@ObjectType({ description: 'Where signed webhooks go (issue 12). A key sees only the endpoints it created; the admin sees all.' })
export class WebhookEndpoint {
  @Field(() => ID)
  id: string;

  apiKeyId: string | null;

  @Field({ description: 'An http or https URL, as normalized by the WHATWG URL standard.' })
  url: string;

  @Field(() => [String], { description: 'The event types sent here (see the events query), without duplicates.' })
  eventTypes: string[];

  @Field(() => String, { nullable: true })
  description: string | null;

  @Field({ description: 'False once disabled, by updateWebhookEndpoint or after failing without pause (disabledReason says which).' })
  enabled: boolean;

  @Field(() => String, { nullable: true })
  disabledReason: string | null;

  @Field(() => Date, {
    nullable: true,
    description: 'When the current run of failed attempts began; null after a success. Long enough, and the endpoint is disabled.',
  })
  failingSince: Date | null;

  @Field()
  createdAt: Date;

  @Field()
  updatedAt: Date;
}

@ObjectType()
export class WebhookEndpointConnection extends Connection(WebhookEndpoint) {}

/** The columns of `webhook_endpoints` under WebhookEndpoint's property names; the secret is not among them. */
export const ENDPOINT_COLUMNS = `id, api_key_id AS "apiKeyId", url, event_types AS "eventTypes", description, enabled,
  disabled_reason AS "disabledReason", failing_since AS "failingSince", created_at AS "createdAt", updated_at AS "updatedAt"`;

/** Builds a WebhookEndpoint from a row selected with ENDPOINT_COLUMNS. */
export function toWebhookEndpoint(row: Record<string, unknown>): WebhookEndpoint {
  return Object.assign(new WebhookEndpoint(), row);
}

/** The largest response body a delivery attempt shows, in UTF-8 bytes (issue 12: "cut to 1 KB"). */
export const MAX_RESPONSE_BODY_BYTES = 1024;

/**
 * One HTTP attempt to deliver one message (a row of webhook_deliveries, written by the
 * delivery worker), as WebhookEndpoint.deliveries lists them, newest first.
 */
@ObjectType({ description: 'One HTTP attempt to deliver one message to an endpoint.' })
export class WebhookDelivery {
  @Field(() => ID)
  id: string;

  endpointId: string;

  @Field(() => ID, { description: "The message's ID: the webhook-id header, the same on every retry of one message." })
  messageId: string;

  @Field({ description: 'The type of the event the message carries.' })
  eventType: string;

  @Field(() => Int, { description: '1 for the first attempt of a message, 2 for its first retry, and so on.' })
  attempt: number;

  @Field()
  attemptedAt: Date;

  @Field(() => Int, { nullable: true, description: 'The HTTP status the endpoint answered; null when no answer came (see error).' })
  httpStatus: number | null;

  @Field(() => Int, { description: 'From the start of the request to the end of the answer (or the failure), in milliseconds.' })
  durationMs: number;

  @Field(() => String, { nullable: true, description: 'Why the attempt failed (timeout, refused address, status, ...); null on success.' })
  error: string | null;

  @Field(() => String, { nullable: true, description: `The start of the response body, at most ${MAX_RESPONSE_BODY_BYTES} bytes of UTF-8.` })
  responseBody: string | null;
}

@ObjectType()
export class WebhookDeliveryConnection extends Connection(WebhookDelivery) {}

/** The columns of a delivery joined with its message (alias `d` and `m`), under WebhookDelivery's property names. */
export const DELIVERY_COLUMNS = `d.id, d.endpoint_id AS "endpointId", d.message_id AS "messageId", m.event_type AS "eventType",
  d.attempt, d.attempted_at AS "attemptedAt", d.http_status AS "httpStatus", d.duration_ms AS "durationMs", d.error,
  d.response_body AS "responseBody"`;

/** Builds a WebhookDelivery from a row selected with DELIVERY_COLUMNS, cutting the response body again to be sure. */
export function toWebhookDelivery(row: Record<string, unknown>): WebhookDelivery {
  const delivery = Object.assign(new WebhookDelivery(), row);
  delivery.responseBody = delivery.responseBody === null ? null : cutToUtf8Bytes(delivery.responseBody, MAX_RESPONSE_BODY_BYTES);
  return delivery;
}

/** The longest prefix of `text` whose UTF-8 encoding fits in `maxBytes`, never splitting a character. */
export function cutToUtf8Bytes(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text, 'utf8') <= maxBytes) return text;
  let bytes = 0;
  let end = 0;
  for (const char of text) {
    const size = Buffer.byteLength(char, 'utf8');
    if (bytes + size > maxBytes) break;
    bytes += size;
    end += char.length;
  }
  return text.slice(0, end);
}

@ObjectType({ description: 'An endpoint and its signing secret, which is shown this once.' })
export class CreateWebhookEndpointPayload {
  @Field(() => WebhookEndpoint)
  endpoint: WebhookEndpoint;

  @Field({
    description:
      'The Standard Webhooks signing secret, whsec_ followed by the base64 of 32 random bytes. Shown once: keep it where the receiver verifies signatures.',
  })
  secret: string;
}

@ObjectType({ description: 'The endpoint and its new signing secret, which is shown this once; the old one signs nothing more.' })
export class RotateWebhookSecretPayload {
  @Field(() => WebhookEndpoint)
  endpoint: WebhookEndpoint;

  @Field({ description: 'The new Standard Webhooks signing secret (whsec_…). Shown once.' })
  secret: string;
}

@ObjectType()
export class DeleteWebhookEndpointPayload {
  @Field(() => ID)
  deletedEndpointId: string;
}

@ObjectType()
export class ReplayWebhookEventsPayload {
  @Field(() => WebhookEndpoint)
  endpoint: WebhookEndpoint;

  @Field(() => Int, {
    description: 'Messages queued for the endpoint: the events after the cursor of the types it subscribes to, at most 1000 per call.',
  })
  queuedMessageCount: number;

  @Field(() => String, {
    nullable: true,
    description:
      'When more events remain (a call queues at most 1000): the cursor of the last event queued; call again with it as `after`. Null when the replay is complete.',
  })
  nextCursor: string | null;
}
