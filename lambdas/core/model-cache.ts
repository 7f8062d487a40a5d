/**
 * In-memory cache of loaded models, one per version, that verifies each artifact's sha256 before loading it
 * (DESIGN.md decision 2: models are data; the runtime refuses an artifact that is not the registered one).
 *
 * Storage and runtime are injected (`fetch` reads S3 or the local emulator, `load` creates an ONNX Runtime
 * session), so this file depends on neither.
 */

/** The fetched artifact is not the one registered: its sha256 differs. The version is refused, not served. */
export class ArtifactIntegrityError extends Error {
  override name = 'ArtifactIntegrityError';
  constructor(
    readonly version: string,
    readonly artifactKey: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(
      `artifact of version "${version}" (${artifactKey}) has sha256 ${actual}, expected ${expected}; ` +
        'refusing to load it. Re-register the version from a verified bundle.',
    );
  }
}

/** Identifies one artifact to serve, as recorded in the ModelVersions table. */
export interface ModelRef {
  readonly version: string;
  /** Registry key, e.g. `models/<name>/<version>/<sha256>.onnx`. */
  readonly artifactKey: string;
  /** Expected sha256 of the artifact bytes, lower-case hex. */
  readonly sha256: string;
}

export type ModelCacheEvent =
  | {
      readonly type: 'loaded';
      readonly version: string;
      readonly sizeBytes: number;
      /** Fetch + verify + load, by the injected clock. */
      readonly durationMs: number;
    }
  | { readonly type: 'refused'; readonly version: string; readonly expected: string; readonly actual: string }
  | { readonly type: 'evicted'; readonly version: string }
  | { readonly type: 'failed'; readonly version: string; readonly error: unknown };

export interface ModelCacheOptions<M, R extends ModelRef = ModelRef> {
  readonly fetch: (artifactKey: string) => Promise<Uint8Array>;
  /** Creates the model from verified bytes; `ref` is the one passed to `get` (it may carry e.g. the manifest). */
  readonly load: (bytes: Uint8Array, ref: R) => Promise<M>;
  /** Lower- or upper-case hex sha256 of the bytes. */
  readonly sha256: (bytes: Uint8Array) => string;
  /**
   * Loaded models kept at once; the least recently used is dropped beyond it. Three covers stable, candidate and
   * the previous stable during a promotion.
   * @default 3
   */
  readonly maxEntries?: number;
  /** Metrics hook. Errors it throws are ignored: metrics must not break serving. */
  readonly onEvent?: (event: ModelCacheEvent) => void;
  /** Clock in ms for `durationMs`. @default performance.now */
  readonly now?: () => number;
}

export interface ModelCache<M, R extends ModelRef = ModelRef> {
  /**
   * The loaded model for `ref`: from memory, else fetched, verified and loaded once (concurrent callers share the
   * work). Rejects with {@link ArtifactIntegrityError} for a refused artifact, or with the fetch/load error.
   */
  get(ref: R): Promise<M>;
  /**
   * The loaded model for `ref` if it is in memory (counting as a use), else undefined; never fetches. The hot path
   * of a warm function: no promise, no await.
   */
  peek(ref: ModelRef): M | undefined;
  /** Versions currently loaded, least recently used first. */
  loadedVersions(): string[];
  /** Whether an artifact of this version was refused for a hash mismatch. */
  isRefused(version: string): boolean;
}

/**
 * Creates a model cache.
 *
 * - The hash is checked before `load` ever sees the bytes. A mismatch refuses that (version, expected hash) for the
 *   life of the cache: later gets reject at once without fetching, while other versions keep working. A refused
 *   artifact is a registry integrity incident; re-fetching it on every request would only add load and latency.
 * - Entries are keyed by version and expected hash. Versions are immutable, so in practice this is one entry per
 *   version; the hash in the key only guarantees that a model loaded under one expectation is never served
 *   under another.
 * - Fetch and load failures are not cached: the next get tries again.
 * - Eviction drops the cache's reference only. The model is not disposed because a request may still be running
 *   on it; the garbage collector frees it once that request is done.
 */
export function createModelCache<M, R extends ModelRef = ModelRef>(
  options: ModelCacheOptions<M, R>,
): ModelCache<M, R> {
  const { fetch, load, sha256 } = options;
  const maxEntries = options.maxEntries ?? 3;
  if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
    throw new RangeError(`maxEntries must be a whole number >= 1, got ${maxEntries}`);
  }
  const now = options.now ?? (() => performance.now());

  // Map iteration order is insertion order; re-inserting on every hit makes the first entry the least recently used.
  const loaded = new Map<string, { readonly version: string; readonly model: M }>();
  const inFlight = new Map<string, Promise<M>>();
  const refused = new Map<string, ArtifactIntegrityError>();
  // Callers keep one ref object per version; its key is built once, not per request.
  const keys = new WeakMap<ModelRef, string>();
  const keyOf = (ref: ModelRef): string => {
    let key = keys.get(ref);
    if (key === undefined) {
      key = `${ref.version}\n${ref.sha256.toLowerCase()}`;
      keys.set(ref, key);
    }
    return key;
  };
  let mostRecent: string | undefined;
  /** The entry of `key` if loaded, made the most recently used (a no-op when it already is). */
  const touch = (key: string): { readonly version: string; readonly model: M } | undefined => {
    const hit = loaded.get(key);
    if (hit !== undefined && mostRecent !== key) {
      loaded.delete(key);
      loaded.set(key, hit);
      mostRecent = key;
    }
    return hit;
  };

  const emit = (event: ModelCacheEvent) => {
    try {
      options.onEvent?.(event);
    } catch {
      // Metrics must not break serving.
    }
  };

  const fetchVerifyLoad = async (ref: R, key: string): Promise<M> => {
    const startedAt = now();
    try {
      const bytes = await fetch(ref.artifactKey);
      const actual = sha256(bytes).toLowerCase();
      const expected = ref.sha256.toLowerCase();
      if (actual !== expected) {
        const error = new ArtifactIntegrityError(ref.version, ref.artifactKey, expected, actual);
        refused.set(key, error);
        emit({ type: 'refused', version: ref.version, expected, actual });
        throw error;
      }
      const model = await load(bytes, ref);
      loaded.set(key, { version: ref.version, model });
      mostRecent = key;
      while (loaded.size > maxEntries) {
        const [oldestKey, oldest] = loaded.entries().next().value as [string, { version: string }];
        loaded.delete(oldestKey);
        emit({ type: 'evicted', version: oldest.version });
      }
      emit({
        type: 'loaded',
        version: ref.version,
        sizeBytes: bytes.byteLength,
        durationMs: now() - startedAt,
      });
      return model;
    } catch (error) {
      if (!(error instanceof ArtifactIntegrityError)) emit({ type: 'failed', version: ref.version, error });
      throw error;
    }
  };

  return {
    get(ref: R): Promise<M> {
      const key = keyOf(ref);
      const hit = touch(key);
      if (hit !== undefined) return Promise.resolve(hit.model);
      const refusal = refused.get(key);
      if (refusal !== undefined) return Promise.reject(refusal);
      const pending = inFlight.get(key);
      if (pending !== undefined) return pending;
      // Started in a microtask so that `finally` always runs after the registration, even if fetch throws at once.
      const promise = Promise.resolve()
        .then(() => fetchVerifyLoad(ref, key))
        .finally(() => inFlight.delete(key));
      inFlight.set(key, promise);
      return promise;
    },
    peek(ref: ModelRef): M | undefined {
      return touch(keyOf(ref))?.model;
    },
    loadedVersions(): string[] {
      return [...loaded.values()].map((e) => e.version);
    },
    isRefused(version: string): boolean {
      for (const error of refused.values()) if (error.version === version) return true;
      return false;
    },
  };
}
