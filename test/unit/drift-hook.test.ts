import { describe, expect, it } from 'vitest';

import type { WindowCounts } from '../../lambdas/core/drift';
import { DRIFT_BUCKET_MS } from '../../lambdas/core/drift-counter';
import type { Baseline } from '../../lambdas/core/manifest';
import type { DriftCounterStore, StructuredLogger } from '../../lambdas/core/ports';
import { createDriftHook } from '../../lambdas/inference/drift-hook';
import type { ServedContext } from '../../lambdas/inference/hooks';

const baseline: Baseline = {
  referenceCount: 2,
  features: { x: { kind: 'numeric', edges: [0, 1], counts: [0, 2, 0], missing: 0 } },
};

class MemoryStore implements DriftCounterStore {
  writes: { model: string; version: string; bucket: number; counts: WindowCounts }[] = [];
  failNext = 0;
  async addCounts(model: string, version: string, bucket: number, counts: WindowCounts): Promise<void> {
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('throttled');
    }
    this.writes.push({ model, version, bucket, counts });
  }
  async readWindow(): Promise<{ counts: undefined; itemsRead: number }> {
    return { counts: undefined, itemsRead: 0 };
  }
}

const logs: string[] = [];
const logger = {
  info: () => {},
  warn: (m: string) => logs.push(m),
  error: (m: string) => logs.push(m),
  debug: () => {},
} as unknown as StructuredLogger;

function ctx(withBaseline: boolean, x: unknown): ServedContext {
  return {
    requestId: 'r',
    model: 'm',
    version: 'v1',
    chosenVersion: 'v1',
    shadowVersion: undefined,
    instances: [{ x }] as ServedContext['instances'],
    predictions: [],
    manifest: (withBaseline ? { baseline } : {}) as ServedContext['manifest'],
  };
}

describe('drift hook', () => {
  it('counts nothing and returns at once for a version without a baseline', async () => {
    const store = new MemoryStore();
    let t = 0;
    const hook = createDriftHook({ store, logger, now: () => t, flushSeconds: 1 });
    expect(hook.onServed(ctx(false, 0.5))).toBeUndefined();
    t = 10_000;
    expect(hook.onServed(ctx(false, 0.5))).toBeUndefined();
    await hook.close();
    expect(store.writes).toEqual([]);
  });

  it('flushes on the interval and on close, keeping failed deltas for the next flush', async () => {
    const store = new MemoryStore();
    let t = 0;
    const hook = createDriftHook({ store, logger, now: () => t, flushSeconds: 60 });
    expect(hook.onServed(ctx(true, 0.5))).toBeUndefined();
    store.failNext = 1;
    t = 60_000;
    await hook.onServed(ctx(true, null));
    expect(store.writes).toEqual([]);
    expect(hook.failedFlushes).toBe(1);
    t = DRIFT_BUCKET_MS;
    await hook.onServed(ctx(true, 5));
    await hook.close();
    expect(store.writes).toEqual([
      {
        model: 'm',
        version: 'v1',
        bucket: 0,
        counts: { total: 2, features: { x: { counts: [0, 1, 0], missing: 1 } } },
      },
      {
        model: 'm',
        version: 'v1',
        bucket: DRIFT_BUCKET_MS,
        counts: { total: 1, features: { x: { counts: [0, 0, 1], missing: 0 } } },
      },
    ]);
  });

  it('counts the served predictions when the version has a prediction baseline', async () => {
    const store = new MemoryStore();
    const hook = createDriftHook({ store, logger, now: () => 0, flushSeconds: 300 });
    const predicted: Baseline = {
      ...baseline,
      predictions: { y: { kind: 'categorical', categories: ['a', 'b'], counts: [1, 1, 0], missing: 0 } },
    };
    const served: ServedContext = {
      ...ctx(true, 0.5),
      predictions: [{ y: 'b' }],
      manifest: { baseline: predicted } as ServedContext['manifest'],
    };
    expect(hook.onServed(served)).toBeUndefined();
    // Without a prediction baseline the same predictions are not counted.
    expect(hook.onServed({ ...ctx(true, 0.5), version: 'v2', predictions: [{ y: 'b' }] })).toBeUndefined();
    await hook.close();
    expect(store.writes.map((w) => [w.version, w.counts])).toEqual([
      [
        'v1',
        {
          total: 1,
          features: { x: { counts: [0, 1, 0], missing: 0 } },
          predictions: { y: { counts: [0, 1, 0], missing: 0 } },
        },
      ],
      ['v2', { total: 1, features: { x: { counts: [0, 1, 0], missing: 0 } } }],
    ]);
  });

  it('flushes at the size bound', async () => {
    const store = new MemoryStore();
    const hook = createDriftHook({ store, logger, now: () => 0, flushSeconds: 300, maxPendingBuckets: 1 });
    await hook.onServed(ctx(true, 0.5));
    expect(store.writes).toHaveLength(1);
  });
});
