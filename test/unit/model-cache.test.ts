import { createHash } from 'node:crypto';
import { describe, it, expect } from 'vitest';
import {
  ArtifactIntegrityError,
  createModelCache,
  type ModelCacheEvent,
  type ModelRef,
} from '../../lambdas/core/model-cache';

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** A registry of artifacts by key, counting fetches and loads; a loaded "model" is the artifact's text. */
function setup(options: { maxEntries?: number } = {}) {
  const objects = new Map<string, Uint8Array>();
  const fetches: string[] = [];
  const loads: string[] = [];
  const events: ModelCacheEvent[] = [];
  let failFetch = 0;
  let failLoad = 0;
  let clock = 0;
  const cache = createModelCache<string>({
    fetch: async (key) => {
      fetches.push(key);
      if (failFetch > 0) {
        failFetch--;
        throw new Error(`NoSuchKey ${key}`);
      }
      const bytes = objects.get(key);
      if (!bytes) throw new Error(`NoSuchKey ${key}`);
      return bytes;
    },
    load: async (bytes) => {
      const text = Buffer.from(bytes).toString('utf8');
      loads.push(text);
      clock += 25;
      if (failLoad > 0) {
        failLoad--;
        throw new Error('invalid ONNX graph');
      }
      return `session(${text})`;
    },
    sha256,
    maxEntries: options.maxEntries,
    onEvent: (e) => events.push(e),
    now: () => clock,
  });
  /** Stores an artifact and returns the reference the registry would hold for it. */
  const publish = (version: string, content: string, registeredContent = content): ModelRef => {
    const bytes = Buffer.from(content);
    const ref = {
      version,
      artifactKey: `models/m/${version}/${sha256(Buffer.from(registeredContent))}.onnx`,
      sha256: sha256(Buffer.from(registeredContent)),
    };
    objects.set(ref.artifactKey, bytes);
    return ref;
  };
  return {
    cache,
    fetches,
    loads,
    events,
    publish,
    failNextFetch: () => failFetch++,
    failNextLoad: () => failLoad++,
  };
}

describe('createModelCache', () => {
  it('fetches, verifies and loads a version once, then serves it from memory', async () => {
    const t = setup();
    const v1 = t.publish('1.0.0', 'model one');
    expect(await t.cache.get(v1)).toBe('session(model one)');
    expect(await t.cache.get(v1)).toBe('session(model one)');
    expect(t.fetches).toHaveLength(1);
    expect(t.loads).toEqual(['model one']);
    expect(t.events).toEqual([{ type: 'loaded', version: '1.0.0', sizeBytes: 9, durationMs: 25 }]);
  });

  it('refuses an artifact whose hash does not match, before loading it, naming version and both hashes', async () => {
    const t = setup();
    const tampered = t.publish('2.0.0', 'tampered bytes', 'registered bytes');
    const error = await t.cache.get(tampered).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ArtifactIntegrityError);
    const integrity = error as ArtifactIntegrityError;
    expect(integrity.name).toBe('ArtifactIntegrityError');
    expect(integrity.version).toBe('2.0.0');
    expect(integrity.expected).toBe(sha256(Buffer.from('registered bytes')));
    expect(integrity.actual).toBe(sha256(Buffer.from('tampered bytes')));
    expect(integrity.message).toContain('"2.0.0"');
    expect(integrity.message).toContain(integrity.expected);
    expect(integrity.message).toContain(integrity.actual);
    expect(t.loads).toEqual([]);
    expect(t.events).toEqual([
      { type: 'refused', version: '2.0.0', expected: integrity.expected, actual: integrity.actual },
    ]);
  });

  it('rejects a refused version again without re-fetching it, while other versions keep serving', async () => {
    const t = setup();
    const good = t.publish('1.0.0', 'good');
    const tampered = t.publish('2.0.0', 'tampered', 'registered');
    await expect(t.cache.get(tampered)).rejects.toThrow(ArtifactIntegrityError);
    await expect(t.cache.get(tampered)).rejects.toThrow(ArtifactIntegrityError);
    await expect(t.cache.get(tampered)).rejects.toThrow(ArtifactIntegrityError);
    expect(await t.cache.get(good)).toBe('session(good)');
    expect(t.fetches.filter((k) => k === tampered.artifactKey)).toHaveLength(1);
    expect(t.cache.isRefused('2.0.0')).toBe(true);
    expect(t.cache.isRefused('1.0.0')).toBe(false);
    expect(t.cache.loadedVersions()).toEqual(['1.0.0']);
  });

  it('compares hashes case-insensitively', async () => {
    const t = setup();
    const ref = t.publish('1.0.0', 'model');
    expect(await t.cache.get({ ...ref, sha256: ref.sha256.toUpperCase() })).toBe('session(model)');
  });

  it('loads each version exactly once under concurrent gets', async () => {
    const t = setup();
    const v1 = t.publish('1.0.0', 'one');
    const v2 = t.publish('2.0.0', 'two');
    const results = await Promise.all([
      ...Array.from({ length: 20 }, () => t.cache.get(v1)),
      ...Array.from({ length: 20 }, () => t.cache.get(v2)),
    ]);
    expect(new Set(results)).toEqual(new Set(['session(one)', 'session(two)']));
    expect(t.fetches).toHaveLength(2);
    expect(t.loads.sort()).toEqual(['one', 'two']);
  });

  it('shares one refusal between concurrent gets of a tampered artifact', async () => {
    const t = setup();
    const tampered = t.publish('2.0.0', 'tampered', 'registered');
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => t.cache.get(tampered)));
    expect(results.every((r) => r.status === 'rejected' && r.reason instanceof ArtifactIntegrityError)).toBe(
      true,
    );
    expect(t.fetches).toHaveLength(1);
  });

  it('fails a fetch without caching the failure, and the next get retries', async () => {
    const t = setup();
    const v1 = t.publish('1.0.0', 'one');
    t.failNextFetch();
    await expect(t.cache.get(v1)).rejects.toThrow(/NoSuchKey/);
    expect(await t.cache.get(v1)).toBe('session(one)');
    expect(t.fetches).toHaveLength(2);
    expect(t.cache.isRefused('1.0.0')).toBe(false);
    expect(t.events.map((e) => e.type)).toEqual(['failed', 'loaded']);
  });

  it('fails a load without caching it as success, and the next get retries', async () => {
    const t = setup();
    const v1 = t.publish('1.0.0', 'one');
    t.failNextLoad();
    const concurrent = await Promise.allSettled([t.cache.get(v1), t.cache.get(v1)]);
    expect(concurrent.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(t.cache.loadedVersions()).toEqual([]);
    expect(await t.cache.get(v1)).toBe('session(one)');
    expect(t.loads).toEqual(['one', 'one']);
  });

  it('evicts the least recently used version beyond maxEntries', async () => {
    const t = setup({ maxEntries: 2 });
    const [v1, v2, v3] = ['1', '2', '3'].map((v) => t.publish(v, `model ${v}`));
    await t.cache.get(v1!);
    await t.cache.get(v2!);
    await t.cache.get(v1!); // v2 is now the least recently used
    await t.cache.get(v3!);
    expect(t.cache.loadedVersions()).toEqual(['1', '3']);
    expect(t.events.filter((e) => e.type === 'evicted')).toEqual([{ type: 'evicted', version: '2' }]);
    await t.cache.get(v2!);
    expect(t.loads).toEqual(['model 1', 'model 2', 'model 3', 'model 2']);
  });

  it('keeps serving when the metrics hook throws', async () => {
    const cache = createModelCache<string>({
      fetch: async () => Buffer.from('x'),
      load: async () => 'model',
      sha256,
      onEvent: () => {
        throw new Error('metrics down');
      },
    });
    expect(await cache.get({ version: '1', artifactKey: 'k', sha256: sha256(Buffer.from('x')) })).toBe(
      'model',
    );
  });

  it('rejects a maxEntries below 1', () => {
    expect(() =>
      createModelCache({ fetch: async () => new Uint8Array(), load: async () => 1, sha256, maxEntries: 0 }),
    ).toThrow(RangeError);
  });
});
