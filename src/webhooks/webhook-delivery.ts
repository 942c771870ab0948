import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Logger } from 'pino';
import { Webhook } from 'standardwebhooks';
import type { DataSource, EntityManager } from 'typeorm';
import type { WebhookConfig } from '../config';
import { inTransaction } from '../database/transaction';
import { newId } from '../ids';
import { appendEvent } from '../outbox';
import { enqueueDeliveries } from './webhook-queue';
import { checkDestination, RefusedDestinationError } from './webhook-ssrf';

/**
 * Delivery of webhook messages (issue 12), following the Standard Webhooks specification
 * (https://www.standardwebhooks.com): a POST of the message's frozen JSON body with
 * `webhook-id` (the message ID, the same on every retry, so a receiver can deduplicate),
 * `webhook-timestamp` (the attempt's time, Unix seconds) and `webhook-signature`
 * (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, computed by the `standardwebhooks`
 * package, not by code of ours).
 *
 * Each attempt: 2xx is success; anything else (3xx included: redirects are not
 * followed), a timeout (WEBHOOK_TIMEOUT_MS for connect, send and answer) or a refused
 * destination (webhook-ssrf.ts) is a failure, retried on WEBHOOK_RETRY_SCHEDULE with ±20%
 * jitter, then FAILED. Every attempt is a webhook_deliveries row.
 *
 * Never the same (message, attempt) twice: an attempt's number is claimed (messages.attempts
 * + 1, with its webhook_deliveries row) and committed before the request is sent, so two
 * workers holding the same job (one of them presumed dead after its job expired) claim
 * different numbers, and a claimed attempt whose worker died stays in the log with no
 * result. At least once: a message is DELIVERED only after a 2xx.
 */

/** At most this much of a response body is kept (webhook_deliveries.response_body, issue 12). */
export const RESPONSE_BODY_LIMIT = 1024;
const ERROR_TEXT_LIMIT = 500;
/** What an attempt's row says until its result is recorded; it stays if the worker dies. */
export const NO_RESULT = 'no result recorded: the worker stopped during this attempt';

const agents = {
  http: new http.Agent({ keepAlive: true, maxSockets: 50 }),
  https: new https.Agent({ keepAlive: true, maxSockets: 50 }),
};

export interface AttemptResult {
  ok: boolean;
  httpStatus: number | null;
  durationMs: number;
  error: string | null;
  responseBody: string | null;
}

/** Text PostgreSQL accepts (no NUL), cut to `limit` characters. */
function storable(text: string, limit: number): string {
  return text.replace(/\u0000/g, '').slice(0, limit);
}

/** An error as a short line without the URL (which may carry a token in its path or query). */
function describeError(error: unknown): string {
  if (error instanceof RefusedDestinationError) return error.message;
  const code = (error as NodeJS.ErrnoException)?.code;
  const message = error instanceof Error ? error.message : String(error);
  return storable(code && !message.includes(code) ? `${code}: ${message}` : message, ERROR_TEXT_LIMIT);
}

/** Bytes as UTF-8 text, without a character the byte limit cut in two (streaming decode holds it back). */
function utf8Prefix(bytes: Buffer): string {
  return new TextDecoder('utf-8').decode(bytes, { stream: true });
}

/** What a non-2xx answer means for the log; null for a success. */
function statusError(status: number | null): string | null {
  if (status === null) return 'no status in the answer';
  if (status >= 200 && status < 300) return null;
  if (status >= 300 && status < 400) return `redirect not followed (HTTP ${status})`;
  return `the endpoint answered HTTP ${status}`;
}

/**
 * POSTs `body` to `url` once: resolves and checks the host (webhook-ssrf.ts), connects to
 * the checked address (the Host header and TLS server name stay the URL's host), does not
 * follow redirects, gives up after `timeoutMs`, and keeps at most RESPONSE_BODY_LIMIT bytes
 * of the answer. Never throws: failures are results.
 */
export async function postOnce(
  urlText: string,
  headers: Record<string, string>,
  body: string,
  options: { timeoutMs: number; allowPrivateAddresses: boolean },
): Promise<AttemptResult> {
  const started = performance.now();
  const done = (partial: Omit<AttemptResult, 'durationMs' | 'ok'>): AttemptResult => ({
    ...partial,
    ok: partial.httpStatus !== null && partial.httpStatus >= 200 && partial.httpStatus < 300,
    durationMs: Math.round(performance.now() - started),
  });
  let url: URL;
  try {
    url = new URL(urlText);
  } catch {
    return done({ httpStatus: null, error: 'refused: the endpoint URL does not parse', responseBody: null });
  }
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), options.timeoutMs);
  });
  try {
    const checked = await Promise.race([checkDestination(url, options.allowPrivateAddresses), deadline]);
    if (checked === 'timeout') {
      return done({ httpStatus: null, error: `timed out after ${options.timeoutMs} ms (resolving the host)`, responseBody: null });
    }
    const secure = url.protocol === 'https:';
    const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    return await new Promise<AttemptResult>((resolve) => {
      let settled = false;
      const finish = (result: AttemptResult) => {
        if (!settled) {
          settled = true;
          resolve(result);
        }
      };
      const request = (secure ? https : http).request({
        method: 'POST',
        // The address that was checked, never a second lookup (DNS rebinding).
        host: checked.address,
        family: checked.family,
        port: url.port || (secure ? 443 : 80),
        path: `${url.pathname}${url.search}`,
        auth: url.username ? `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}` : undefined,
        headers: { ...headers, host: url.host, 'content-length': String(Buffer.byteLength(body)) },
        agent: secure ? agents.https : agents.http,
        // TLS: SNI and certificate check against the URL's name (RFC 6066 forbids an IP as SNI).
        ...(secure && !net.isIP(hostname) ? { servername: hostname } : {}),
      });
      request.on('response', (response) => {
        const status = response.statusCode ?? null;
        const chunks: Buffer[] = [];
        let size = 0;
        const keep = () =>
          finish(
            done({
              httpStatus: status,
              error: statusError(status),
              responseBody: size > 0 ? storable(utf8Prefix(Buffer.concat(chunks)), RESPONSE_BODY_LIMIT) : null,
            }),
          );
        response.on('data', (chunk: Buffer) => {
          if (size >= RESPONSE_BODY_LIMIT) return;
          chunks.push(chunk.subarray(0, RESPONSE_BODY_LIMIT - size));
          size += Math.min(chunk.length, RESPONSE_BODY_LIMIT - size);
          if (size >= RESPONSE_BODY_LIMIT) {
            // Enough for the log: the rest is not read (the socket is not reused).
            keep();
            response.destroy();
          }
        });
        response.on('end', keep);
        response.on('error', keep);
      });
      request.on('error', (error) => finish(done({ httpStatus: null, error: describeError(error), responseBody: null })));
      void deadline.then(() => {
        finish(done({ httpStatus: null, error: `timed out after ${options.timeoutMs} ms`, responseBody: null }));
        request.destroy();
      });
      request.end(body);
    });
  } catch (error) {
    return done({ httpStatus: null, error: describeError(error), responseBody: null });
  } finally {
    clearTimeout(timer);
  }
}

interface ClaimedMessage {
  id: string;
  attempt: number;
  body: { type: string; timestamp: string; data: unknown };
  endpoint_id: string;
  url: string;
  secret: string;
  delivery_id: string;
}

/**
 * Claims the next attempt of each message, in one statement (atomic on its own): for a
 * PENDING message of an enabled endpoint, attempts + 1 and a webhook_deliveries row that
 * reads NO_RESULT until recordResults; a PENDING message whose endpoint is disabled becomes
 * FAILED without an attempt. Messages already DELIVERED or FAILED, or gone with their
 * endpoint, are skipped.
 */
async function claimAttempts(manager: EntityManager | DataSource, messageIds: string[]): Promise<ClaimedMessage[]> {
  const deliveryIds = messageIds.map(() => newId('webhookDelivery'));
  return manager.query(
    `WITH input AS (
       SELECT * FROM unnest($1::text[], $2::text[]) AS i (message_id, delivery_id)
     ), claimed AS (
       UPDATE webhook_messages m SET attempts = m.attempts + 1
         FROM webhook_endpoints ep, input i
        WHERE m.id = i.message_id AND m.status = 'PENDING' AND ep.id = m.endpoint_id AND ep.enabled
       RETURNING m.id, m.attempts AS attempt, m.body, ep.id AS endpoint_id, ep.url, ep.secret, i.delivery_id
     ), skipped AS (
       UPDATE webhook_messages m SET status = 'FAILED'
         FROM webhook_endpoints ep
        WHERE m.id = ANY ($1) AND m.status = 'PENDING' AND ep.id = m.endpoint_id AND NOT ep.enabled
     ), logged AS (
       INSERT INTO webhook_deliveries (id, message_id, endpoint_id, attempt, duration_ms, error)
       SELECT c.delivery_id, c.id, c.endpoint_id, c.attempt, 0, $3 FROM claimed c
     )
     SELECT * FROM claimed`,
    [messageIds, deliveryIds, NO_RESULT],
  );
}

/** The frozen body as the bytes that are signed and sent: the same on every attempt. */
export function bodyText(body: ClaimedMessage['body']): string {
  return JSON.stringify({ type: body.type, timestamp: body.timestamp, data: body.data });
}

/** Retry delay after failed attempt `attempt` (1-based), in ms with ±20% jitter; null when none is left. */
export function retryDelayMs(schedule: number[], attempt: number, random = Math.random): number | null {
  const seconds = schedule[attempt - 1];
  if (seconds === undefined) return null;
  return Math.round(seconds * 1000 * (0.8 + 0.4 * random()));
}

/**
 * Records a batch's results in one transaction: each attempt's row, DELIVERED messages
 * (or FAILED when the schedule is used up), the endpoints' failing_since (set at the
 * first failure, cleared by a success), disables endpoints failing for longer than
 * disableAfterMs with a `webhook_endpoint.disabled` event, and enqueues the retries.
 */
async function recordResults(
  manager: EntityManager,
  claimed: ClaimedMessage[],
  results: AttemptResult[],
  config: WebhookConfig,
): Promise<{ disabled: string[] }> {
  await manager.query(
    `UPDATE webhook_deliveries d
        SET http_status = r.http_status, duration_ms = r.duration_ms, error = r.error, response_body = r.response_body
       FROM unnest($1::text[], $2::int[], $3::int[], $4::text[], $5::text[]) AS r (id, http_status, duration_ms, error, response_body)
      WHERE d.id = r.id`,
    [
      claimed.map((message) => message.delivery_id),
      results.map((result) => result.httpStatus),
      results.map((result) => result.durationMs),
      results.map((result) => result.error),
      results.map((result) => result.responseBody),
    ],
  );
  const delivered = claimed.filter((_, index) => results[index].ok);
  const failed = claimed.filter((_, index) => !results[index].ok);
  // One draw of each failed message's delay (it is random): a retry, or null when the schedule is used up.
  const retries: Array<{ message: ClaimedMessage; delayMs: number }> = [];
  const exhausted: ClaimedMessage[] = [];
  for (const message of failed) {
    const delayMs = retryDelayMs(config.retryScheduleSeconds, message.attempt);
    if (delayMs === null) exhausted.push(message);
    else retries.push({ message, delayMs });
  }
  if (delivered.length > 0) {
    await manager.query(
      `UPDATE webhook_messages SET status = 'DELIVERED', delivered_at = now() WHERE id = ANY ($1) AND status = 'PENDING'`,
      [delivered.map((message) => message.id)],
    );
  }
  if (exhausted.length > 0) {
    await manager.query(`UPDATE webhook_messages SET status = 'FAILED' WHERE id = ANY ($1) AND status = 'PENDING'`, [
      exhausted.map((message) => message.id),
    ]);
  }
  // Endpoints in ID order (deadlock-free between workers); only rows that change are written.
  const succeededEndpoints = [...new Set(delivered.map((message) => message.endpoint_id))].sort();
  const failedEndpoints = [...new Set(failed.map((message) => message.endpoint_id))]
    .filter((id) => !succeededEndpoints.includes(id))
    .sort();
  if (succeededEndpoints.length > 0) {
    await manager.query(`UPDATE webhook_endpoints SET failing_since = NULL WHERE id = ANY ($1) AND failing_since IS NOT NULL`, [
      succeededEndpoints,
    ]);
  }
  const disabled: string[] = [];
  if (failedEndpoints.length > 0) {
    await manager.query(`UPDATE webhook_endpoints SET failing_since = now() WHERE id = ANY ($1) AND failing_since IS NULL`, [
      failedEndpoints,
    ]);
    const rows: Array<{ id: string; failing_ms: string }> = await manager.query(
      // As a SELECT over the UPDATE: TypeORM returns an UPDATE's rows as [rows, count].
      `WITH disabled AS (
         UPDATE webhook_endpoints
            SET enabled = false, updated_at = now(),
                disabled_reason = 'failing without a success for more than ' || $2::bigint || ' ms'
          WHERE id = ANY ($1) AND enabled AND failing_since < now() - $2::bigint * interval '1 millisecond'
          RETURNING id, floor(extract(epoch FROM now() - failing_since) * 1000)::bigint::text AS failing_ms
       )
       SELECT * FROM disabled ORDER BY id`,
      [failedEndpoints, config.disableAfterMs],
    );
    for (const row of rows) {
      disabled.push(row.id);
      await appendEvent(manager, 'webhook_endpoint.disabled', {
        endpointId: row.id,
        failingSinceMs: Number(row.failing_ms),
        reason: `failing without a success for more than ${config.disableAfterMs} ms`,
      });
    }
  }
  await enqueueDeliveries(
    manager,
    retries.map((retry) => ({ messageId: retry.message.id, delayMs: retry.delayMs })),
  );
  return { disabled };
}

/**
 * Delivers one batch of messages (a pg-boss job batch): claims their next attempts, sends
 * them concurrently, records the results. Throws only when the database fails, so that
 * pg-boss retries the jobs; an HTTP failure is a recorded result.
 */
export async function deliverMessages(
  dataSource: DataSource,
  messageIds: string[],
  config: WebhookConfig,
  logger: Logger,
): Promise<void> {
  const claimed = await claimAttempts(dataSource, messageIds);
  if (claimed.length === 0) return;
  const signers = new Map<string, Webhook>();
  const results = await Promise.all(
    claimed.map((message) => {
      let signer = signers.get(message.secret);
      if (!signer) {
        signer = new Webhook(message.secret);
        signers.set(message.secret, signer);
      }
      const body = bodyText(message.body);
      const now = new Date();
      const headers = {
        'content-type': 'application/json',
        'user-agent': 'identity-gateway-webhooks/1',
        'webhook-id': message.id,
        'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
        'webhook-signature': signer.sign(message.id, now, body),
      };
      return postOnce(message.url, headers, body, {
        timeoutMs: config.timeoutMs,
        allowPrivateAddresses: config.allowPrivateAddresses,
      });
    }),
  );
  const { disabled } = await inTransaction(dataSource, (manager) => recordResults(manager, claimed, results, config));
  for (const endpointId of disabled) {
    logger.warn({ endpointId, disableAfterMs: config.disableAfterMs }, 'webhook endpoint disabled: failing without pause');
  }
}
