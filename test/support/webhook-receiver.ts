import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request a receiver got: headers lower-cased, the raw body as text. */
export interface ReceivedRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** How the receiver answers a request: a status (and body, headers), or never ('hold'). */
export type Reply = { status: number; body?: string; headers?: Record<string, string> } | 'hold';

export interface WebhookReceiver {
  /** http://127.0.0.1:<port>/hook */
  url: string;
  port: number;
  requests: ReceivedRequest[];
  /** Resolves once `count` requests arrived (or the predicate holds), fails after timeoutMs. */
  waitFor(count: number | (() => boolean), timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * A partner's webhook receiver on 127.0.0.1 (tests run with
 * WEBHOOK_ALLOW_PRIVATE_ADDRESSES=true): records every request, answers as `reply` says
 * (200 by default; `index` counts this receiver's requests from 0).
 */
export async function startWebhookReceiver(
  reply: (request: ReceivedRequest, index: number) => Reply = () => ({ status: 200 }),
): Promise<WebhookReceiver> {
  const requests: ReceivedRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) headers[name] = Array.isArray(value) ? value.join(', ') : String(value);
      const request = { method: req.method ?? '', path: req.url ?? '', headers, body: Buffer.concat(chunks).toString('utf8') };
      const index = requests.length;
      requests.push(request);
      const answer = reply(request, index);
      if (answer === 'hold') return;
      res.writeHead(answer.status, { 'content-type': 'text/plain', ...answer.headers });
      res.end(answer.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    port,
    requests,
    async waitFor(count, timeoutMs = 20_000) {
      const done = typeof count === 'number' ? () => requests.length >= count : count;
      const started = Date.now();
      while (!done()) {
        if (Date.now() - started > timeoutMs) {
          throw new Error(`the receiver got ${requests.length} requests, still waiting after ${timeoutMs} ms`);
        }
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
