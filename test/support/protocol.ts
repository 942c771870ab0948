import { createHash } from 'node:crypto';
import manifest from '../../src/generated/persisted-documents.json';

/** Protocol-level helpers: raw HTTP for what app.gql cannot send (hash-only requests, GET, headers). */

export const sha256Hex = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

export interface RawResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON when the body is JSON, else undefined (see text). */
  body?: {
    data?: Record<string, any> | null;
    errors?: Array<{ message: string; extensions?: Record<string, unknown> & { code?: string } }>;
  };
  text: string;
}

export async function send(url: string, init: RequestInit): Promise<RawResponse> {
  const response = await fetch(url, init);
  const text = await response.text();
  let body: RawResponse['body'];
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.status, headers: response.headers, body, text };
}

/** A POST of any JSON body, with a bearer token unless null. */
export function postJson(url: string, body: unknown, token: string | null, headers: Record<string, string> = {}) {
  return send(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

export const persistedQuery = (sha256Hash: string) => ({ persistedQuery: { version: 1, sha256Hash } });

/** The trusted documents, keyed by bare-hex hash as the server and Apollo's APQ protocol use them. */
export const trustedDocuments: Array<{ hash: string; key: string; text: string }> = Object.entries(
  manifest as Record<string, string>,
).map(([key, text]) => ({ key, hash: key.replace(/^sha256:/, ''), text }));

/** The manifest entry whose document defines the named operation. */
export function trustedDocument(operationName: string): { hash: string; text: string } {
  const pattern = new RegExp(`\\b(query|mutation|subscription) ${operationName}\\b`);
  const found = trustedDocuments.filter((entry) => pattern.test(entry.text));
  if (found.length !== 1) throw new Error(`expected one trusted document for ${operationName}, found ${found.length}`);
  return found[0];
}

/** Counts and one code of a response's errors, for compact assertions. */
export const codeOf = (response: RawResponse) => response.body?.errors?.[0]?.extensions?.code;
