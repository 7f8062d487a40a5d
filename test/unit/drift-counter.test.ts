import { describe, expect, it } from 'vitest';

import { DRIFT_BUCKET_MS, DriftCounter, layoutOf } from '../../lambdas/core/drift-counter';
import type { Baseline } from '../../lambdas/core/manifest';

const baseline: Baseline = {
  referenceCount: 10,
  features: {
    x: { kind: 'numeric', edges: [0, 1, 2], counts: [0, 5, 5, 0], missing: 0 },
    color: { kind: 'categorical', categories: ['red', 'blue'], counts: [6, 4, 0], missing: 0 },
  },
};

describe('DriftCounter', () => {
  it('counts every instance into its bins, missing and __OTHER__ exactly', () => {
    const c = new DriftCounter();
    const t = 3 * DRIFT_BUCKET_MS + 17;
    c.count(
      'm',
      'v1',
      baseline,
      [
        { x: -1, color: 'red' },
        { x: 0.5, color: 'blue' },
        { x: 1.5, color: 'green' },
        { x: 9, color: null },
        { color: 'red' },
        { x: Number.NaN, color: '' },
      ],
      t,
    );
    const [delta, ...rest] = c.drain();
    expect(rest).toEqual([]);
    expect(delta).toEqual({
      model: 'm',
      version: 'v1',
      bucketStartMs: 3 * DRIFT_BUCKET_MS,
      counts: {
        total: 6,
        features: {
          x: { counts: [1, 1, 1, 1], missing: 2 },
          color: { counts: [2, 1, 1], missing: 2 },
        },
      },
    });
    expect(c.drain()).toEqual([]);
  });

  it('keeps versions and buckets apart and reports the size bound', () => {
    const c = new DriftCounter(2);
    expect(c.count('m', 'v1', baseline, [{ x: 0 }], 0)).toBe(false);
    expect(c.count('m', 'v1', baseline, [{ x: 0 }], DRIFT_BUCKET_MS - 1)).toBe(false);
    expect(c.count('m', 'v2', baseline, [{ x: 0 }], 0)).toBe(true);
    const drained = c.drain();
    expect(drained.map((d) => [d.version, d.bucketStartMs, d.counts.total])).toEqual([
      ['v1', 0, 2],
      ['v2', 0, 1],
    ]);
    expect(c.pendingBuckets).toBe(0);
  });

  it('lays out bins per feature, missing excluded', () => {
    expect(layoutOf(baseline)).toEqual({ features: { x: 4, color: 3 } });
  });

  // Outputs named like features (`x`) are counted in their own group: the two never share a counter.
  const withPredictions: Baseline = {
    ...baseline,
    predictions: {
      x: { kind: 'categorical', categories: ['no', 'yes'], counts: [5, 5, 0], missing: 0 },
      p: { kind: 'numeric', edges: [0.5, 0.7, 1], counts: [0, 5, 5, 0], missing: 0 },
    },
  };

  it('counts each prediction into the prediction bins, apart from the features', () => {
    const c = new DriftCounter();
    c.count('m', 'v1', withPredictions, [{ x: 0.5 }, { x: 1.5 }, { x: 2 }, {}], 0, [
      { x: 'yes', p: { no: 0.2, yes: 0.8 } },
      { x: 'no', p: { no: 0.6, yes: 0.4 } },
      { x: 'maybe', p: { no: Number.NaN, yes: 0.5 } },
      {},
    ]);
    const [delta] = c.drain();
    expect(delta!.counts).toEqual({
      total: 4,
      features: {
        x: { counts: [0, 1, 2, 0], missing: 1 },
        color: { counts: [0, 0, 0], missing: 4 },
      },
      predictions: {
        x: { counts: [1, 1, 1], missing: 1 },
        p: { counts: [0, 1, 1, 0], missing: 2 },
      },
    });
    expect(layoutOf(withPredictions)).toEqual({ features: { x: 4, color: 3 }, predictions: { x: 3, p: 4 } });
  });

  it('counts instances without predictions as missing predictions, and none without a prediction baseline', () => {
    const c = new DriftCounter();
    c.count('m', 'v1', withPredictions, [{ x: 0.5 }], 0);
    c.count('m', 'v2', baseline, [{ x: 0.5 }], 0, [{ x: 'yes' }]);
    const [v1, v2] = c.drain();
    expect(v1!.counts.predictions).toEqual({
      x: { counts: [0, 0, 0], missing: 1 },
      p: { counts: [0, 0, 0, 0], missing: 1 },
    });
    expect(v2!.counts).not.toHaveProperty('predictions');
  });
});
