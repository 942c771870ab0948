import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Pool } from 'pg';
import { parseStats, type Cluster, type ServiceName } from '../../ops/cluster';
import type { TestApp } from '../support/app';

/**
 * What the fault tests of issue 14 (test/cluster/faults-*.cluster.ts) share: GraphQL over
 * HTTP with a time limit and a measured duration, SQL on the primary, HAProxy's view of
 * each gateway, and waiting for a condition. Not a test file (jest.cluster.config.js runs
 * only *.cluster.ts).
 */

export interface GraphQLError {
  message: string;
  extensions?: { code?: string } & Record<string, unknown>;
}

/** One HTTP exchange: `failure` is set when no HTTP answer came (refused, reset, timed out). */
export interface Exchange {
  status: number;
  headers: Headers | undefined;
  body: { data?: Record<string, any> | null; errors?: GraphQLError[] } | undefined;
  /** The raw text when the body was not JSON. */
  text?: string;
  ms: number;
  failure?: string;
}

export async function gql(
  url: string,
  token: string,
  query: string,
  variables: Record<string, unknown> = {},
  timeoutMs = 60_000,
): Promise<Exchange> {
  const started = performance.now();
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    let body: Exchange['body'];
    try {
      body = JSON.parse(text) as Exchange['body'];
    } catch {
      body = undefined;
    }
    return { status: response.status, headers: response.headers, body, ...(body ? {} : { text }), ms: performance.now() - started };
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return {
      status: 0,
      headers: undefined,
      body: undefined,
      ms: performance.now() - started,
      failure: `${(error as Error).name}: ${(error as Error).message}${cause ? ` (${cause.code ?? cause.message})` : ''}`,
    };
  }
}

/**
 * The same exchange over node:http with a chosen agent: a keep-alive agent whose sockets
 * already carried a request sends this one as a connection's second request, which HAProxy
 * treats differently from a first one when the gateway drops it (see the kill test).
 */
export function gqlVia(
  agent: http.Agent,
  url: string,
  token: string,
  query: string,
  variables: Record<string, unknown> = {},
  timeoutMs = 60_000,
): Promise<Exchange> {
  const started = performance.now();
  const payload = JSON.stringify({ query, variables });
  return new Promise((resolve) => {
    const request = http.request(
      url,
      {
        method: 'POST',
        agent,
        timeout: timeoutMs,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'content-length': Buffer.byteLength(payload) },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: Exchange['body'];
          try {
            body = JSON.parse(text) as Exchange['body'];
          } catch {
            body = undefined;
          }
          const headers = new Headers();
          for (const [name, value] of Object.entries(response.headers)) if (typeof value === 'string') headers.set(name, value);
          resolve({ status: response.statusCode ?? 0, headers, body, ...(body ? {} : { text }), ms: performance.now() - started });
        });
      },
    );
    request.on('timeout', () => request.destroy(new Error(`no answer in ${timeoutMs} ms`)));
    request.on('error', (error: NodeJS.ErrnoException) =>
      resolve({ status: 0, headers: undefined, body: undefined, ms: performance.now() - started, failure: `${error.code ?? error.name}: ${error.message}` }),
    );
    request.end(payload);
  });
}

/** The first error's code, or undefined. */
export const codeOf = (exchange: Exchange) => exchange.body?.errors?.[0]?.extensions?.code;

/** A short line for failure messages. */
export function summary(exchange: Exchange): string {
  if (exchange.failure) return `no answer after ${Math.round(exchange.ms)} ms: ${exchange.failure}`;
  const errors = exchange.body?.errors?.map((error) => `${error.extensions?.code}: ${error.message}`).join('; ');
  return `HTTP ${exchange.status} after ${Math.round(exchange.ms)} ms${errors ? `, ${errors}` : ''}${exchange.text ? `, ${exchange.text.slice(0, 200)}` : ''}`;
}

/** SQL on the primary's `gateway` database as the superuser, outside every gateway and PgBouncer. */
export class Primary {
  readonly pool: Pool;
  readonly url: string;

  constructor(cluster: Cluster) {
    const url = new URL(cluster.primary.url);
    url.pathname = '/gateway';
    this.url = url.toString();
    this.pool = new Pool({ connectionString: this.url, max: 3, connectionTimeoutMillis: 5_000 });
    this.pool.on('error', () => undefined);
  }

  async sql<T = Record<string, any>>(text: string, params: unknown[] = []): Promise<T[]> {
    return (await this.pool.query(text, params)).rows as T[];
  }

  /** For the seeding helpers of test/support/deletion-seed.ts, which take a TestApp. */
  asApp(): TestApp {
    return { sql: (text: string, params?: unknown[]) => this.sql(text, params) } as unknown as TestApp;
  }

  end(): Promise<void> {
    return this.pool.end();
  }
}

export async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined | false>, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (${String(last)})` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** HAProxy's view of each gateway: status (UP, DOWN, DRAIN, MAINT…), current sessions, totals, retries. */
export async function gatewayStats(cluster: Cluster): Promise<Record<string, { status: string; scur: number; stot: number; wretr: number; wredis: number }>> {
  const rows = parseStats(await cluster.haproxyCommand('show stat'));
  return Object.fromEntries(
    rows
      .filter((row) => row.pxname === 'gateways' && row.svname.startsWith('gw'))
      .map((row) => [
        row.svname,
        { status: row.status, scur: Number(row.scur), stot: Number(row.stot), wretr: Number(row.wretr || 0), wredis: Number(row.wredis || 0) },
      ]),
  );
}

/** Waits until HAProxy has `name` in `status` (UP once two checks passed: `rise 2`). */
export async function untilGatewayStatus(cluster: Cluster, name: string, status: string, timeoutMs = 30_000): Promise<void> {
  await until(`HAProxy to see ${name} ${status}`, timeoutMs, async () => (await gatewayStats(cluster))[name]?.status === status, 100);
}

/** A part's log so far (logs/<name>.log in the cluster's folder). */
export function logOf(cluster: Cluster, name: ServiceName): string {
  const file = path.join(cluster.dir, 'logs', `${name}.log`);
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
}

/** How many times `needle` occurs in `text`. */
export const occurrences = (text: string, needle: string) => text.split(needle).length - 1;

/** Rows every fault must leave impossible (test/support/factory.ts's list). */
export { INVARIANT_VIOLATIONS } from '../support/factory';
