import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Issue 12: webhook endpoints, the messages sent to them, and each delivery attempt.
 *
 * - `webhook_endpoints`: a partner's URL and the event types it subscribed to. `api_key_id`
 *   names the key that created it (null: the admin's); a key sees only its own. The signing
 *   secret is kept as `whsec_<base64>` (Standard Webhooks): an HMAC needs the secret itself,
 *   so unlike an API key's it cannot be stored as a hash. `failing_since` is set at the first
 *   failed attempt after a success and cleared by the next success; an endpoint failing
 *   without pause for WEBHOOK_DISABLE_AFTER_MS is disabled (`disabled_reason`).
 * - `webhook_messages`: one event for one endpoint. Its ID is the `webhook-id` header, stable
 *   across retries; `body` is frozen at creation so every retry signs the same bytes.
 * - `webhook_deliveries`: one row per HTTP attempt (time, status, duration, error, the
 *   response body cut to 1 KB), listed by WebhookEndpoint.deliveries.
 * - `webhook_outbox_cursor`: the one row that records how far the fan-out has read the
 *   events outbox, ordered by (txid, position) as the events query is; a fan-out pass locks
 *   it FOR UPDATE SKIP LOCKED, so two instances never fan one event out twice.
 *
 * Deleting an endpoint deletes its messages and attempts. Events stay: they are the outbox.
 */
export class Webhooks1764300400000 implements MigrationInterface {
  name = 'Webhooks1764300400000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE webhook_endpoints (
        id              varchar(30)   PRIMARY KEY,
        api_key_id      varchar(30)   REFERENCES api_keys (id) ON DELETE CASCADE,
        url             varchar(2048) NOT NULL,
        event_types     text[]        NOT NULL,
        description     varchar(500),
        secret          varchar(100)  NOT NULL,
        enabled         boolean       NOT NULL DEFAULT true,
        disabled_reason varchar(200),
        failing_since   timestamptz,
        created_at      timestamptz   NOT NULL DEFAULT now(),
        updated_at      timestamptz   NOT NULL DEFAULT now()
      );
      CREATE INDEX webhook_endpoints_api_key_id_idx ON webhook_endpoints (api_key_id, id);

      CREATE TABLE webhook_messages (
        id             varchar(30)  PRIMARY KEY,
        endpoint_id    varchar(30)  NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
        event_position bigint       NOT NULL,
        event_type     varchar(64)  NOT NULL,
        body           jsonb        NOT NULL,
        status         varchar(12)  NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'DELIVERED', 'FAILED')),
        attempts       integer      NOT NULL DEFAULT 0,
        created_at     timestamptz  NOT NULL DEFAULT now(),
        delivered_at   timestamptz
      );
      CREATE INDEX webhook_messages_endpoint_id_idx ON webhook_messages (endpoint_id, id);

      CREATE TABLE webhook_deliveries (
        id            varchar(30)  PRIMARY KEY,
        message_id    varchar(30)  NOT NULL REFERENCES webhook_messages (id) ON DELETE CASCADE,
        endpoint_id   varchar(30)  NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
        attempt       integer      NOT NULL,
        attempted_at  timestamptz  NOT NULL DEFAULT now(),
        http_status   integer,
        duration_ms   integer      NOT NULL,
        error         varchar(500),
        response_body varchar(1024),
        UNIQUE (message_id, attempt)
      );
      CREATE INDEX webhook_deliveries_endpoint_id_idx ON webhook_deliveries (endpoint_id, id);

      CREATE TABLE webhook_outbox_cursor (
        singleton boolean  PRIMARY KEY DEFAULT true CHECK (singleton),
        txid      xid8,
        position  bigint
      );
      INSERT INTO webhook_outbox_cursor (singleton) VALUES (true);
    `);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE webhook_outbox_cursor, webhook_deliveries, webhook_messages, webhook_endpoints;`);
  }
}
