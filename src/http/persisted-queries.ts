import { createHash } from 'node:crypto';
import type { ApolloServerPlugin } from '@apollo/server';
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
  /** Their operation names, a bounded set for metric labels. */
  readonly operationNames: ReadonlySet<string>;

  constructor(entries: Record<string, string> = manifest) {
    const byHash = new Map<string, string>();
    for (const [key, text] of Object.entries(entries)) {
      const hash = key.replace(/^sha256:/, '');
      if (sha256Hex(text) !== hash) throw new Error(`persisted document ${key} does not match its text`);
      byHash.set(hash, text);
    }
    this.byHash = byHash;
    this.operationNames = new Set(
      [...byHash.values()].flatMap((text) => [...text.matchAll(/\b(?:query|mutation|subscription)\s+([A-Za-z_]\w*)/g)].map((m) => m[1])),
    );
  }

  isTrusted(source: string | undefined): boolean {
    return source !== undefined && this.byHash.has(sha256Hex(source));
  }
}

/**
 * The APQ store: Redis when REDIS_URL is set (so every instance shares registrations),
 * else in memory. A Redis failure is a cache miss, never a failed request. Trusted
 * documents are always found by hash, whatever the store holds.
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
    set: (key, value, setOptions) => store.set(key, value, setOptions),
    delete: (key) => store.delete(key),
  };
  return { cache, close };
}

/**
 * Requests authenticated by an API key may only run trusted documents, sent by hash
 * (extensions.persistedQuery.sha256Hash) or as their exact text. Checked once the
 * operation is resolved: refusing earlier in Apollo's pipeline turns into a 500.
 */
export function trustedDocumentsPlugin(trusted: TrustedDocuments): ApolloServerPlugin<Context> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ contextValue, source }) {
          if (contextValue.principal.kind !== ViewerKind.API_KEY || trusted.isTrusted(source)) return;
          const error = new AppError(
            ErrorCode.FORBIDDEN,
            'API keys may only run the trusted operations in schema/operations, sent by their sha256Hash',
          ).toGraphQLError();
          error.extensions.http = { status: 403 };
          throw error;
        },
      };
    },
  };
}
