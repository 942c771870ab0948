import { createHash } from 'node:crypto';
import type { ApolloServerPlugin } from '@apollo/server';
import type { Request } from 'express';
import { BREAK, GraphQLError, Kind, parse, visit, type DocumentNode } from 'graphql';
import { ErrorsAreMissesCache, InMemoryLRUCache, type KeyValueCache } from '@apollo/utils.keyvaluecache';
import { KeyvAdapter } from '@apollo/utils.keyvadapter';
import KeyvRedis from '@keyv/redis';
import { Keyv } from 'keyv';
import type { Logger } from 'pino';
import { ViewerKind } from '../auth/principal';
import { AppError, ErrorCode } from '../errors';
import manifest from '../generated/persisted-documents.json';
import type { Context } from './context';

const sha256Hex = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/**
 * The trusted documents partners may run: schema/operations/*.graphql, emitted by
 * GraphQL Code Generator as src/generated/persisted-documents.json. The preset writes
 * keys as `sha256:<hex>`; Apollo's APQ protocol uses bare hex, so keys are normalised
 * to bare hex here, and each is checked against its text once at start.
 */
export class TrustedDocuments {
  readonly byHash: ReadonlyMap<string, string>;

  constructor(entries: Record<string, string> = manifest) {
    const byHash = new Map<string, string>();
    for (const [key, text] of Object.entries(entries)) {
      const hash = key.replace(/^sha256:/, '');
      if (sha256Hex(text) !== hash) throw new Error(`persisted document ${key} does not match its text`);
      byHash.set(hash, text);
    }
    this.byHash = byHash;
  }

  isTrusted(source: string | undefined): boolean {
    return source !== undefined && this.byHash.has(sha256Hex(source));
  }

  /**
   * Whether the document Apollo ran is a trusted one, judged from Apollo's own `queryHash`
   * (which it computed from the text, or was given and resolved through the APQ store)
   * instead of hashing the text again (issue 13, bench/profile-2026-11-30.md): true when
   * the trusted document of that hash is exactly `source`, which proves `source` trusted
   * whatever the hash's origin. Otherwise, `exact` hashes the text (isTrusted), so the
   * answer is isTrusted's in every case; without it a text is taken as untrusted unless
   * found by its hash, which differs from isTrusted only if the APQ store handed back a
   * trusted text under another document's hash.
   */
  ranTrusted(queryHash: string | undefined, source: string | undefined, exact = false): boolean {
    if (queryHash !== undefined && source !== undefined && this.byHash.get(queryHash) === source) return true;
    return exact && this.isTrusted(source);
  }

  /**
   * Whether a request names exactly a trusted document, judged on the HTTP request alone
   * (issue 11): its `query` text hashes to a trusted document, or its
   * extensions.persistedQuery.sha256Hash is a trusted hash, and when both are sent they
   * agree. An unknown hash is not admitted either, so a key cannot tell which documents
   * others registered through APQ.
   */
  admits({ query, extensions }: GraphQLParams): boolean {
    const persisted = isRecord(extensions) ? extensions.persistedQuery : undefined;
    if (persisted !== undefined && !isRecord(persisted)) return false;
    const byHash = persisted?.sha256Hash;
    if (persisted !== undefined && typeof byHash !== 'string') return false;
    if (query !== undefined && typeof query !== 'string') return false;
    const byText = query === undefined ? undefined : sha256Hex(query);
    if (byHash === undefined && byText === undefined) return false;
    if (byHash !== undefined && byText !== undefined && byHash !== byText) return false;
    return this.byHash.has((byText ?? byHash) as string);
  }
}

/** What a GraphQL-over-HTTP request carries, read before Apollo parses anything. */
export interface GraphQLParams {
  query?: unknown;
  variables?: unknown;
  extensions?: unknown;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The request's query, variables and extensions read the way Apollo reads them: the JSON
 * body of a POST; for a GET, the URL's search parameters (each only when given once, the
 * JSON ones parsed; unparsable JSON is left as its text). Reading them as Apollo does
 * means the gate judges the very document Apollo would run.
 */
export function graphQLParams(req: Request): GraphQLParams {
  if (req.method !== 'GET') {
    const body: unknown = req.body;
    return isRecord(body) ? { query: body.query, variables: body.variables, extensions: body.extensions } : {};
  }
  // Not url.parse: deprecated (DEP0169), and Node 24 warns about it on the first GET.
  const query = req.url.indexOf('?');
  const search = new URLSearchParams(query === -1 ? '' : req.url.slice(query + 1).split('#')[0]);
  const once = (name: string) => {
    const values = search.getAll(name);
    return values.length === 1 ? values[0] : values.length === 0 ? undefined : values;
  };
  const json = (name: string) => {
    const value = once(name);
    if (typeof value !== 'string') return value;
    try {
      return JSON.parse(value) as unknown;
    } catch {
      return value;
    }
  };
  return { query: once('query'), variables: json('variables'), extensions: json('extensions') };
}

export const UNTRUSTED_DOCUMENT_MESSAGE = 'API keys may only run the trusted operations in schema/operations, sent by their sha256Hash';

function untrustedDocument(): GraphQLError {
  const error = new AppError(ErrorCode.FORBIDDEN, UNTRUSTED_DOCUMENT_MESSAGE).toGraphQLError();
  error.extensions.http = { status: 403 };
  return error;
}

/**
 * Issue 11, keys refused before parsing: for an API key, anything but exactly a trusted
 * document, by text or by hash, is refused with 403 FORBIDDEN from the context function,
 * which Apollo runs before it parses or validates. So a key never sees a parse or
 * validation message (which would reveal the schema it may not introspect), nor
 * PERSISTED_QUERY_NOT_FOUND for a hash (which would reveal what others registered).
 */
export function refuseUntrustedDocument(trusted: TrustedDocuments, params: GraphQLParams): void {
  if (!trusted.admits(params)) throw untrustedDocument();
}

/**
 * Whether a document holds a string literal anywhere: an argument's value (also inside
 * an input object or a list, e.g. `createUser(input: {email: "…"})` or `user(id: "usr_…")`),
 * a variable's default, a directive's argument. Such literals are where personal data
 * sits when a client writes it inline; with variables it never enters the document.
 * A document that does not parse counts as holding some (it is never stored).
 */
export function holdsStringLiterals(document: string | DocumentNode): boolean {
  let found = false;
  try {
    visit(typeof document === 'string' ? parse(document, { noLocation: true }) : document, {
      [Kind.STRING](): typeof BREAK {
        found = true;
        return BREAK;
      },
    });
  } catch {
    return true;
  }
  return found;
}

/**
 * The APQ store: Redis when REDIS_URL is set (so every instance shares registrations),
 * else in memory. A Redis failure is a cache miss, never a failed request. Trusted
 * documents are always found by hash, whatever the store holds.
 *
 * Nothing personal in caches (issue 11): a registration whose document holds string
 * literals (holdsStringLiterals) is not stored. The request still runs; its hash stays
 * unknown, so the client sends the full text again next time. A registration would
 * otherwise keep an email or a name for the TTL (a week), past the person's erasure,
 * where deleteUser cannot reach it. Documents that take their values as variables are
 * stored as before.
 */
export function createPersistedQueryCache(
  trusted: TrustedDocuments,
  options: { redisUrl?: string; logger: Logger },
): { cache: KeyValueCache<string>; close(): Promise<void> } {
  let store: KeyValueCache<string>;
  let close = async () => undefined as void;
  if (options.redisUrl) {
    const redis = new KeyvRedis(
      {
        url: options.redisUrl,
        disableOfflineQueue: true,
        socket: { connectTimeout: 1_000, reconnectStrategy: (retries: number) => Math.min(100 * 2 ** retries, 2_000) },
      },
      { namespace: 'identity-gateway:apq', throwOnConnectError: false, throwOnErrors: true, connectionTimeout: 1_000 },
    );
    redis.on('error', (error: unknown) => options.logger.warn({ err: error }, 'APQ store (Redis) error'));
    // Keyv hands its namespace to the Redis adapter, which prefixes keys; Keyv must not add a second one.
    const keyv = new Keyv<string>({ store: redis, namespace: 'identity-gateway:apq', useKeyPrefix: false, throwOnErrors: true });
    keyv.on('error', () => undefined);
    store = new ErrorsAreMissesCache(new KeyvAdapter(keyv), options.logger);
    close = async () => {
      await redis.disconnect().catch(() => undefined);
    };
  } else {
    store = new InMemoryLRUCache<string>({ maxSize: 16 * 1024 * 1024 });
  }
  const cache: KeyValueCache<string> = {
    // Apollo prefixes APQ keys with "apq:".
    async get(key) {
      return trusted.byHash.get(key.replace(/^apq:/, '')) ?? store.get(key);
    },
    async set(key, value, setOptions) {
      if (holdsStringLiterals(value)) {
        options.logger.debug('APQ registration not stored: its document holds string literals');
        return;
      }
      await store.set(key, value, setOptions);
    },
    delete: (key) => store.delete(key),
  };
  return { cache, close };
}

/**
 * Apollo's cache of parsed and validated documents (its `documentStore`), in memory as
 * Apollo's default, but under the same rule as the APQ store: a document holding string
 * literals is not kept, so an inline email does not outlive the request in this cache
 * either. Such a document is parsed and validated again on each request.
 */
export function createDocumentStore(): KeyValueCache<DocumentNode> {
  const store = new InMemoryLRUCache<DocumentNode>();
  return {
    get: (key) => store.get(key),
    async set(key, document, setOptions) {
      if (!holdsStringLiterals(document)) await store.set(key, document, setOptions);
    },
    delete: (key) => store.delete(key),
  };
}

/**
 * Requests authenticated by an API key may only run trusted documents, sent by hash
 * (extensions.persistedQuery.sha256Hash) or as their exact text. The decision is made
 * before parsing (refuseUntrustedDocument, from the context function); this re-checks the
 * document Apollo actually resolved, so that no difference between how the gate and
 * Apollo read a request can ever let an untrusted document run.
 */
export function trustedDocumentsPlugin(trusted: TrustedDocuments): ApolloServerPlugin<Context> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ contextValue, source, queryHash }) {
          if (contextValue.principal.kind !== ViewerKind.API_KEY || trusted.ranTrusted(queryHash, source, true)) return;
          throw untrustedDocument();
        },
      };
    },
  };
}
