import DataLoader from 'dataloader';

/**
 * A DataLoader that also answers synchronously for keys whose value it already holds
 * (issue 13). `load` always returns a promise, even for a cached key, and graphql-js
 * completes a field whose resolver returns a promise asynchronously: a promise, a
 * microtask and a `Promise.all` over its parent's fields, for each of the page's 100
 * `Membership.user`. A resolver that asks `settled(key)` first returns the value itself
 * when the loader has it (primed, or loaded by an earlier batch) and falls back to `load`.
 *
 * The values are the ones `load` resolves to, the same objects: a batch's results and
 * primed values are recorded as they enter the cache, and only those (a prime that
 * DataLoader ignores, because the key is cached already, records nothing). A key whose
 * batch failed is not recorded: its resolver calls `load` and gets the error from it.
 * `clear` and `clearAll` forget the recorded values with the cached promises.
 */
export class SettledLoader<K, V, C = K> extends DataLoader<K, V, C> {
  private readonly values: Map<C, V>;
  private readonly cached: Map<C, Promise<V>>;
  private readonly keyOf: (key: K) => C;

  constructor(batch: DataLoader.BatchLoadFn<K, V>, options: Omit<DataLoader.Options<K, V, C>, 'cache' | 'cacheMap'> = {}) {
    const values = new Map<C, V>();
    const cached = new Map<C, Promise<V>>();
    const keyOf = options.cacheKeyFn ?? ((key: K) => key as unknown as C);
    super(
      async (keys) => {
        const results = await batch(keys);
        for (let index = 0; index < results.length; index += 1) {
          const value = results[index]!;
          if (!(value instanceof Error)) values.set(keyOf(keys[index]!), value);
        }
        return results;
      },
      { ...options, cacheMap: cached },
    );
    this.values = values;
    this.cached = cached;
    this.keyOf = keyOf;
  }

  /** The value `load(key)` would resolve to, if this loader holds it already; otherwise undefined. */
  settled(key: K): V | undefined {
    return this.values.get(this.keyOf(key));
  }

  prime(key: K, value: V | PromiseLike<V> | Error): this {
    const cacheKey = this.keyOf(key);
    if (!this.cached.has(cacheKey) && !(value instanceof Error) && !isPromiseLike(value)) this.values.set(cacheKey, value);
    return super.prime(key, value);
  }

  clear(key: K): this {
    this.values.delete(this.keyOf(key));
    return super.clear(key);
  }

  clearAll(): this {
    this.values.clear();
    return super.clearAll();
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}
