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
  ledgerFor,
} from './inference-helpers';

const BC = 'breast-cancer';
const breastCancer = exampleBundle(BC);
const instance = smokeInstances(breastCancer)[0]!;

/** A promise resolved from outside: the tests' barriers, instead of counting event-loop turns. */
function deferred<T = void>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** A registry whose manifest reads wait for `open` once `gate` is set. */
class GatedRegistry extends FakeRegistry {
  gate?: Promise<void>;
  override async readText(key: string, maxBytes: number): Promise<string | undefined> {
    if (this.gate !== undefined) await this.gate;
    return super.readText(key, maxBytes);
  }
}

/** A routing table whose reads wait for `gate` when set. */
class GatedRouting extends FakeRouting {
  gate?: Promise<void>;
  override async getDeployment(model: string) {
    if (this.gate !== undefined) await this.gate;
    return super.getDeployment(model);
  }
}

function warmHarness(
  setup: (registry: GatedRegistry, routing: GatedRouting) => void,
  onPrepare: () => void = () => undefined,
) {
  const registry = new GatedRegistry();
  const routing = new GatedRouting();
  setup(registry, routing);
  const base = fakeBackend({ '1.0.0': (xs) => classifierOutputs(xs.length, 0.9) });
  let prepared = 0;
  const backend: InferenceBackend & { loads: string[] } = {
    ...base,
    load: base.load,
    async prepare() {
      prepared++;
      onPrepare();
    },
  };
  const metrics = new InMemoryMetricsSink();
  const logger = new MemoryLogger();
  const app = createInferenceApp({
    models: [BC],
    registry,
    versions: ledgerFor(registry),
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
    await h.app.ready;
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

  it('prepares the backend while the first manifest read is still in flight', async () => {
    const manifestRead = deferred();
    const prepared = deferred();
    const h = warmHarness(
      (registry, routing) => {
        publish(registry, breastCancer, '1.0.0');
        routing.set(BC, { stable: '1.0.0' });
        registry.gate = manifestRead.promise;
      },
      () => prepared.resolve(),
    );
    await prepared.promise;
    // The runtime is ready and the manifest has not arrived yet: nothing was loaded.
    expect(h.prepared()).toBe(1);
    expect(h.backend.loads).toEqual([]);
    manifestRead.resolve();
    await h.app.ready;
    expect(h.backend.loads).toEqual(['1.0.0']);
  });

  it('shares its loads with a request that arrives while they are in flight', async () => {
    const routingRead = deferred();
    const h = warmHarness((registry, routing) => {
      publish(registry, breastCancer, '1.0.0');
      routing.set(BC, { stable: '1.0.0' });
      routing.gate = routingRead.promise;
    });
    // The warm-up's routing read is held open; the request arrives meanwhile.
    const pending = h.app(invoke(BC, { instances: [instance] }));
    routingRead.resolve();
    const res = await pending;
    expect(res.statusCode).toBe(200);
    await h.app.ready;
    expect(h.routing.reads).toBe(1);
    expect(h.backend.loads).toEqual(['1.0.0']);
  });

  it('fails quietly when there is nothing to serve yet: the request answers 503 as without warm-up', async () => {
    const h = warmHarness(() => undefined);
    await h.app.ready;
    expect(h.backend.loads).toEqual([]);
    expect(h.logger.lines.map((l) => l.message)).toContain(
      'warm-up stopped; requests will load what they need',
    );
    const res = await h.app(invoke(BC, { instances: [instance] }));
    expect(res.statusCode).toBe(503);
  });

  it('fails quietly on a tampered artifact: the request is refused with the integrity failure counted once', async () => {
    const h = warmHarness((registry, routing) => {
      publish(registry, breastCancer, '1.0.0', { tamper: true });
      routing.set(BC, { stable: '1.0.0' });
    });
    await h.app.ready;
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
