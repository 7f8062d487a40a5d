/**
 * A per-key TTL cache with single-flight loads and stale-if-error serving; the inference app keeps its routing
 * records in one (DESIGN.md decision 1: a routing change takes effect within the TTL).
 *
 * Pure: no AWS SDK; the clock is injected.
 */

export interface TtlCacheOptions<K, V> {
  /** How long a loaded value is served without reloading, in ms, counted from the start of its load. */
  readonly ttlMs: number;
  readonly load: (key: K) => Promise<V>;
  /** Clock in ms. @default Date.now */
  readonly now?: () => number;
  /**
   * When a reload fails, keep serving the previous value while it is younger than this (ms since its load started);
   * older than this, the load error is thrown. 0 turns stale serving off.
   * @default 300_000 (5 minutes)
   */
  readonly staleIfErrorMs?: number;
  /** Called when a stale value is served because a reload failed, e.g. to count a metric. Must not throw. */
  readonly onStale?: (key: K, error: unknown, ageMs: number) => void;
}

export interface TtlCache<K, V> {
  /** The cached value if younger than the TTL, else a (shared) reload. */
  get(key: K): Promise<V>;
  /**
   * The cached entry if younger than the TTL, else undefined (the caller then uses `get`). Synchronous, for the hot
   * path; the entry object is the cache's own, so reading it allocates nothing.
   */
  peek(key: K): { readonly value: V } | undefined;
}

/**
 * A per-key TTL cache for routing records, with single-flight loads.
 *
 * - A value younger than `ttlMs` (measured from when its load started, so a value is never older than the TTL plus
 *   one load when served) is returned without loading; a rollback therefore takes effect within the TTL.
 * - Otherwise the value is loaded; concurrent gets for the same key share one load, including gets that arrive while
 *   a refresh of a stale value is in flight (they wait for it rather than getting the stale value).
 * - A failed load is never cached: the next get tries again. If an earlier value exists and is younger than
 *   `staleIfErrorMs`, it is returned instead of the error and `onStale` is called; a storage hiccup should not take
 *   a model offline, but a value older than that is no longer trusted.
 * - Keys are never evicted: an inference function caches one routing record per model it serves.
 */
export function createTtlCache<K, V>(options: TtlCacheOptions<K, V>): TtlCache<K, V> {
  const { ttlMs, load } = options;
  const now = options.now ?? Date.now;
  const staleIfErrorMs = options.staleIfErrorMs ?? 300_000;
  if (!Number.isFinite(ttlMs) || ttlMs < 0) throw new RangeError(`ttlMs must be >= 0, got ${ttlMs}`);
  if (Number.isNaN(staleIfErrorMs) || staleIfErrorMs < 0) {
    throw new RangeError(`staleIfErrorMs must be >= 0, got ${staleIfErrorMs}`);
  }

  const entries = new Map<K, { readonly value: V; readonly loadedAt: number }>();
  const inFlight = new Map<K, Promise<V>>();

  const refresh = (key: K): Promise<V> => {
    const startedAt = now();
    // `load` runs in a microtask so that even a synchronous throw settles the promise after it is registered as
    // in flight, and the `finally` below always removes the registration.
    const promise = Promise.resolve()
      .then(() => load(key))
      .then(
        (value) => {
          entries.set(key, { value, loadedAt: startedAt });
          return value;
        },
        (error: unknown) => {
          const previous = entries.get(key);
          if (previous === undefined) throw error;
          const age = now() - previous.loadedAt;
          if (age >= staleIfErrorMs) throw error;
          try {
            options.onStale?.(key, error, age);
          } catch {
            // A metrics hook must not turn a served value into an error.
          }
          return previous.value;
        },
      )
      .finally(() => inFlight.delete(key));
    inFlight.set(key, promise);
    return promise;
  };

  return {
    get(key: K): Promise<V> {
      const entry = entries.get(key);
      if (entry !== undefined && now() - entry.loadedAt < ttlMs) return Promise.resolve(entry.value);
      return inFlight.get(key) ?? refresh(key);
    },
    peek(key: K): { readonly value: V } | undefined {
      const entry = entries.get(key);
      return entry !== undefined && now() - entry.loadedAt < ttlMs ? entry : undefined;
    },
  };
}
