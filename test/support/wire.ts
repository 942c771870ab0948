import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * What a GraphQL client sends and gets back, recorded for tests that assert on the wire
 * (issue 12: the APQ miss, the registration, then the hash alone; GET or POST). In the
 * test's process through a recording fetch (recordWire), or for a client in a child
 * process through a recording HTTP proxy in front of the server (startRecordingProxy).
 */

/** One request: the GraphQL parameters from the body (POST) or the URL (GET), and the answer. */
export interface WireExchange {
  method: string;
  /** The `query` text sent, if any. */
  query?: string;
  operationName?: string;
  variables?: Record<string, unknown>;
  /** extensions.persistedQuery.sha256Hash, if sent. */
  sha256Hash?: string;
  authorization: string | null;
  /** Every request header, names in lower case. */
  headers: Record<string, string>;
  status: number;
  /** The code of the response's first error, if any. */
  code?: string;
  /** The response body, parsed. */
  body: { data?: any; errors?: Array<{ message: string; extensions?: { code?: string } }> } | undefined;
}

const parseJson = (text: string | null | undefined): any => {
  if (text === null || text === undefined || text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
};

/** Forwards `request` with fetch and describes the exchange; the response is returned unread. */
async function forward(request: Request): Promise<{ response: Response; exchange: WireExchange }> {
  const method = request.method;
  const params: Record<string, any> =
    method === 'GET'
      ? Object.fromEntries(
          [...new URL(request.url).searchParams].map(([name, value]) => [
            name,
            name === 'query' || name === 'operationName' ? value : parseJson(value),
          ]),
        )
      : (parseJson(await request.clone().text()) ?? {});
  const response = await fetch(request);
  const body = parseJson(await response.clone().text());
  const exchange: WireExchange = {
    method,
    query: params.query ?? undefined,
    operationName: params.operationName ?? undefined,
    variables: params.variables,
    sha256Hash: params.extensions?.persistedQuery?.sha256Hash,
    authorization: request.headers.get('authorization'),
    headers: Object.fromEntries(request.headers),
    status: response.status,
    code: body?.errors?.[0]?.extensions?.code,
    body,
  };
  return { response, exchange };
}

export interface Wire {
  fetch: typeof fetch;
  exchanges: WireExchange[];
}

/** A fetch for a client in this process, recording each exchange. */
export function recordWire(): Wire {
  const exchanges: WireExchange[] = [];
  const recording: typeof fetch = async (input, init) => {
    const { response, exchange } = await forward(new Request(input, init));
    exchanges.push(exchange);
    return response;
  };
  return { fetch: recording, exchanges };
}

export interface RecordingProxy {
  /** The proxy's URL for `target`'s path, to give a client in place of the server's. */
  url: string;
  exchanges: WireExchange[];
  close(): Promise<void>;
}

/** An HTTP proxy on loopback in front of `target` (a URL), recording each exchange. */
export async function startRecordingProxy(target: string): Promise<RecordingProxy> {
  const exchanges: WireExchange[] = [];
  const origin = new URL(target).origin;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      try {
        const headers = new Headers();
        for (const [name, value] of Object.entries(req.headers)) {
          if (value === undefined || ['host', 'connection', 'content-length'].includes(name)) continue;
          headers.set(name, Array.isArray(value) ? value.join(', ') : value);
        }
        const body = chunks.length > 0 ? Buffer.concat(chunks) : undefined;
        const { response, exchange } = await forward(
          new Request(new URL(req.url ?? '/', origin), { method: req.method, headers, body }),
        );
        exchanges.push(exchange);
        const responseHeaders: Record<string, string> = {};
        response.headers.forEach((value, name) => {
          if (!['content-length', 'content-encoding', 'transfer-encoding', 'connection'].includes(name)) responseHeaders[name] = value;
        });
        res.writeHead(response.status, responseHeaders);
        res.end(Buffer.from(await response.arrayBuffer()));
      } catch (error) {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(String(error));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = new URL(target);
  url.host = `127.0.0.1:${port}`;
  return {
    url: url.toString(),
    exchanges,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
