import { describe, expect, it } from 'vitest';
import { createModelCache, type ModelRef } from '../../lambdas/core/model-cache';
import { createTtlCache } from '../../lambdas/core/ttl-cache';
import { sha256OfBytes } from '../../lambdas/core/sha256';
import type { InferenceBackend } from '../../lambdas/core/ports';
import { createInferenceApp } from '../../lambdas/inference/inference-app';
import { InMemoryMetricsSink } from '../../lambdas/adapters/in-memory-metrics-sink';
import { FakeRegistry } from './fakes';
import {
  classifierOutputs,
  exampleBundle,
  fakeBackend,
  FakeRouting,
  invoke,
  MemoryLogger,
  publish,
  smokeInstances,
} from './inference-helpers';

const BC = 'breast-cancer';
const breastCancer = exampleBundle(BC);
const instance = smokeInstances(breastCancer)[0]!;

/** Resolves once every pending promise callback and `setImmediate` turn has run. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
};

function warmHarness(setup: (registry: FakeRegistry, routing: FakeRouting) => void) {
  const registry = new FakeRegistry();
  const routing = new FakeRouting();
  setup(registry, routing);
  const base = fakeBackend({ '1.0.0': (xs) => classifierOutputs(xs.length, 0.9) });
  let prepared = 0;
  const backend: InferenceBackend & { loads: string[] } = {
    ...base,
    load: base.load,
    async prepare() {
      prepared++;
    },
  };
  const metrics = new InMemoryMetricsSink();
  const logger = new MemoryLogger();
  const app = createInferenceApp({
    models: [BC],
    registry,
    routing,
    backend,
    metrics,
    logger,
    warmUp: true,
  });
  return { app, registry, routing, backend, metrics, logger, prepared: () => prepared };
}

describe('warm-up', () => {
  it('loads the stable version and prepares the backend before the first request, which then loads nothing', async () => {
    const h = warmHarness((registry, routing) => {
      publish(registry, breastCancer, '1.0.0');
      routing.set(BC, { stable: '1.0.0' });
    });
    await settle();
    expect(h.routing.reads).toBe(1);
    expect(h.backend.loads).toEqual(['1.0.0']);
    expect(h.prepared()).toBe(1);
    const calls = h.registry.calls.length;

    const res = await h.app(invoke(BC, { instances: [instance] }));
    expect(res.statusCode).toBe(200);
    expect(h.routing.reads).toBe(1);
    expect(h.backend.loads).toEqual(['1.0.0']);
    expect(h.registry.calls).toHaveLength(calls);
    // The warm-up is not a request: the first request still counts the cold start.
    expect(h.metrics.sum('ColdStart', { Model: BC, Version: '1.0.0' })).toBe(1);
    expect(h.metrics.sum('Requests', { Model: BC })).toBe(1);
  });

  it('shares its loads with a request that arrives while they are in flight', async () => {
    const h = warmHarness((registry, routing) => {
      publish(registry, breastCancer, '1.0.0');
      routing.set(BC, { stable: '1.0.0' });
    });
    const res = await h.app(invoke(BC, { instances: [instance] }));
    expect(res.statusCode).toBe(200);
    await settle();
    expect(h.routing.reads).toBe(1);
    expect(h.backend.loads).toEqual(['1.0.0']);
  });

  it('fails quietly when there is nothing to serve yet: the request answers 503 as without warm-up', async () => {
    const h = warmHarness(() => undefined);
    await settle();
    expect(h.backend.loads).toEqual([]);
    const res = await h.app(invoke(BC, { instances: [instance] }));
    expect(res.statusCode).toBe(503);
  });

  it('fails quietly on a tampered artifact: the request is refused with the integrity failure counted once', async () => {
    const h = warmHarness((registry, routing) => {
      publish(registry, breastCancer, '1.0.0', { tamper: true });
      routing.set(BC, { stable: '1.0.0' });
    });
    await settle();
    expect(h.backend.loads).toEqual([]);
    const res = await h.app(invoke(BC, { instances: [instance] }));
    expect(res.statusCode).toBe(503);
    expect(h.metrics.sum('IntegrityFailures', { Model: BC, Version: '1.0.0' })).toBe(1);
  });
});

describe('hot-path cache reads', () => {
  it('peeks a fresh routing record synchronously and nothing once it is stale', async () => {
    let now = 0;
    let loads = 0;
    const cache = createTtlCache<string, number>({ ttlMs: 100, now: () => now, load: async () => ++loads });
    expect(cache.peek('m')).toBeUndefined();
    await cache.get('m');
    expect(cache.peek('m')?.value).toBe(1);
    now = 100;
    expect(cache.peek('m')).toBeUndefined();
    expect(loads).toBe(1);
  });

  it('peeks only loaded models, never fetching, and counts a peek as a use for eviction', async () => {
    const bytes = (v: string) => Buffer.from(`model ${v}`);
    const ref = (v: string): ModelRef => ({
      version: v,
      artifactKey: `k/${v}`,
      sha256: sha256OfBytes(bytes(v)),
    });
    const fetched: string[] = [];
    const cache = createModelCache<string>({
      fetch: async (key) => {
        fetched.push(key);
        return bytes(key.slice(2));
      },
      load: async (b) => b.toString(),
      sha256: sha256OfBytes,
      maxEntries: 2,
    });
    const [a, b, c] = [ref('a'), ref('b'), ref('c')];
    expect(cache.peek(a)).toBeUndefined();
    expect(fetched).toEqual([]);
    await cache.get(a);
    await cache.get(b);
    expect(cache.peek(a)).toBe('model a');
    await cache.get(c);
    // `a` was used after `b`, so `b` is the one evicted.
    expect(cache.loadedVersions()).toEqual(['a', 'c']);
    expect(cache.peek(b)).toBeUndefined();
  });
});
