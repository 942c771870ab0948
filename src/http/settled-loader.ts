import DataLoader from 'dataloader';

/**
 * A DataLoader that also answers synchronously for keys whose value it already holds
 * (issue 13). `load` always returns a promise, even for a cached key, and graphql-js
 * completes a field whose resolver returns a promise asynchronously: a promise, a
 * microtask and a `Promise.all` over its parent's fields, for each of the page's 100
 * `Membership.user`. A resolver that asks `settled(key)` first returns the value itself
 * when the loader has it (primed, or loaded by an earlier batch) and falls back to `load`.
 *
 * A value is recorded against the very promise DataLoader caches for its key (the batch's
 * results as they arrive, a prime as DataLoader caches it), and `settled` reads the key's
 * cached promise first: so it is always what `load(key)` resolves to, and nothing once
 * `clear` or `clearAll` dropped the key, also when that happens while its batch is in
 * flight. A key whose batch failed, or that was primed with an error, holds nothing:
 * its resolver calls `load` and gets the error from it.
 */
export class SettledLoader<K, V, C = K> extends DataLoader<K, V, C> {
  private readonly values: WeakMap<Promise<V>, V>;
  private readonly cached: Map<C, Promise<V>>;
  private readonly keyOf: (key: K) => C;

  constructor(batch: DataLoader.BatchLoadFn<K, V>, options: Omit<DataLoader.Options<K, V, C>, 'cache' | 'cacheMap'> = {}) {
    const values = new WeakMap<Promise<V>, V>();
    const cached = new Map<C, Promise<V>>();
    const keyOf = options.cacheKeyFn ?? ((key: K) => key as unknown as C);
    super(
      async (keys) => {
        // The promises this batch will settle: what the cache holds for its keys as it is dispatched.
        const promises = keys.map((key) => cached.get(keyOf(key)));
        const results = await batch(keys);
        for (let index = 0; index < results.length; index += 1) {
          const value = results[index]!;
          const promise = promises[index];
          if (promise && !(value instanceof Error)) values.set(promise, value);
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
    const promise = this.cached.get(this.keyOf(key));
    return promise && this.values.get(promise);
  }

  prime(key: K, value: V | PromiseLike<V> | Error): this {
    const cacheKey = this.keyOf(key);
    const had = this.cached.has(cacheKey);
    super.prime(key, value);
    const promise = this.cached.get(cacheKey);
    if (!had && promise && !(value instanceof Error) && !isPromiseLike(value)) this.values.set(promise, value);
    return this;
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function';
}
