import { describe, expect, it } from 'vitest';
import {
  binWasserstein,
  datasetDrift,
  DEFAULT_MIN_LIVE_COUNT,
  DriftCountsError,
  featureDrift,
  jsDistance,
  missingRateDelta,
  psi,
  sumCounts,
  type WindowCounts,
} from '../../lambdas/core/drift';
import type { Baseline, FeatureBins } from '../../lambdas/core/manifest';

const numeric = (counts: number[], missing = 0): FeatureBins => ({
  kind: 'numeric',
  edges: Array.from({ length: counts.length - 1 }, (_, i) => i),
  counts,
  missing,
});
const categorical = (categories: string[], counts: number[], missing = 0): FeatureBins => ({
  kind: 'categorical',
  categories,
  counts,
  missing,
});

describe('distances', () => {
  it('are 0 for identical and proportional vectors', () => {
    for (const [p, q] of [
      [
        [0, 10, 20, 30, 0],
        [0, 10, 20, 30, 0],
      ],
      [
        [0, 1, 2, 3, 0],
        [0, 7, 14, 21, 0],
      ],
    ]) {
      expect(jsDistance(p!, q!)).toBe(0);
      expect(psi(p!, q!)).toBeCloseTo(0, 15);
      expect(binWasserstein(p!, q!)).toBeCloseTo(0, 15);
    }
  });

  it('gives JS distance 1 and the largest Wasserstein for disjoint supports at the two ends', () => {
    expect(jsDistance([5, 0, 0], [0, 0, 9])).toBe(1);
    expect(binWasserstein([5, 0, 0], [0, 0, 9])).toBe(1);
    expect(psi([5, 0, 0], [0, 0, 9])).toBeGreaterThan(18);
  });

  it('needs no smoothing for JS when a reference bin is empty, but PSI does', () => {
    const js = jsDistance([10, 0, 10], [9, 2, 9]);
    expect(Number.isFinite(js)).toBe(true);
    expect(js).toBeGreaterThan(0);
    const value = psi([10, 0, 10], [9, 2, 9]);
    expect(Number.isFinite(value)).toBe(true);
    // The empty bin's term dominates: (0.1 − ε') · ln(0.1 / ε') with ε' ≈ 1e-4.
    expect(value).toBeGreaterThan(0.6);
    expect(psi([10, 0, 10], [9, 2, 9], 1e-2)).toBeLessThan(value);
  });

  it('treats bin positions as ordinal in Wasserstein: one bin of shift over k − 1 positions', () => {
    expect(binWasserstein([0, 4, 0, 0, 0], [0, 0, 4, 0, 0])).toBe(0.25);
    expect(binWasserstein([7], [3])).toBe(0);
  });

  it('rejects vectors of different lengths, negative or fractional counts, and empty sides', () => {
    expect(() => jsDistance([1, 2], [1, 2, 3])).toThrow(/reference has 2 bins and live has 3/);
    expect(() => psi([1, -1], [1, 1])).toThrow(DriftCountsError);
    expect(() => binWasserstein([1, 0.5], [1, 1])).toThrow(/whole number/);
    expect(() => jsDistance([0, 0], [1, 1])).toThrow(/reference counts are all zero/);
    expect(() => psi([1, 1], [1, 1], 0)).toThrow(/epsilon/);
  });

  it('measures the missing-rate delta over present and missing values', () => {
    expect(missingRateDelta({ counts: [90, 0], missing: 10 }, { counts: [60, 10], missing: 30 })).toBeCloseTo(
      0.2,
      15,
    );
    expect(missingRateDelta({ counts: [5], missing: 5 }, { counts: [10], missing: 0 })).toBe(-0.5);
  });
});

describe('featureDrift', () => {
  const reference = numeric([0, 250, 250, 250, 250, 0], 0);

  it('reports every metric and no drift for the reference itself', () => {
    const r = featureDrift('age', reference, { counts: [0, 250, 250, 250, 250, 0], missing: 0 });
    expect(r).toEqual({
      status: 'evaluated',
      feature: 'age',
      kind: 'numeric',
      jsDistance: 0,
      psi: expect.closeTo(0, 12) as number,
      wasserstein: expect.closeTo(0, 12) as number,
      missingRateDelta: 0,
      referenceCount: 1000,
      liveCount: 1000,
      drifted: false,
    });
  });

  it('drifts when live values land in the overflow bin', () => {
    const r = featureDrift('age', reference, { counts: [0, 250, 250, 250, 0, 250], missing: 0 });
    expect(r.status === 'evaluated' && r.drifted).toBe(true);
  });

  it('is insufficient-data below the minimum, never a zero drift', () => {
    const r = featureDrift('age', reference, { counts: [0, 500, 0, 0, 0, 0], missing: 0 });
    expect(r).toEqual({
      status: 'insufficient-data',
      feature: 'age',
      liveCount: 500,
      minimum: DEFAULT_MIN_LIVE_COUNT,
    });
    expect(
      featureDrift('age', reference, { counts: [0, 5, 0, 0, 0, 0], missing: 0 }, { minLiveCount: 5 }).status,
    ).toBe('evaluated');
  });

  it('counts an all-missing live window as drift with no Wasserstein', () => {
    const r = featureDrift('age', reference, { counts: [0, 0, 0, 0, 0, 0], missing: 2000 });
    expect(r).toMatchObject({ status: 'evaluated', jsDistance: 1, missingRateDelta: 1, drifted: true });
    expect(r).not.toHaveProperty('wasserstein');
  });

  it('sees unseen categories, all counted in __OTHER__, as disjoint from the reference', () => {
    const bins = categorical(['a', 'b'], [600, 400, 0]);
    const r = featureDrift('colour', bins, { counts: [0, 0, 3000], missing: 0 });
    expect(r).toMatchObject({ status: 'evaluated', kind: 'categorical', jsDistance: 1, drifted: true });
    expect(r).not.toHaveProperty('wasserstein');
  });

  it('handles a constant column (one populated bin)', () => {
    const constant = numeric([0, 1000, 0]);
    expect(featureDrift('c', constant, { counts: [0, 1000, 0], missing: 0 })).toMatchObject({
      jsDistance: 0,
      drifted: false,
    });
    expect(featureDrift('c', constant, { counts: [500, 1000, 500], missing: 0 })).toMatchObject({
      drifted: true,
    });
  });

  it('uses only the configured thresholds', () => {
    const live = { counts: [0, 300, 250, 250, 200, 0], missing: 0 };
    const base = featureDrift('x', reference, live);
    expect(base.status === 'evaluated' && base.drifted).toBe(false);
    const strict = featureDrift('x', reference, live, { thresholds: { wasserstein: 0.01 } });
    expect(strict.status === 'evaluated' && strict.drifted).toBe(true);
    const off = featureDrift(
      'x',
      reference,
      { counts: [0, 0, 0, 0, 0, 1000], missing: 0 },
      {
        thresholds: { jsDistance: undefined, psi: undefined },
      },
    );
    expect(off.status === 'evaluated' && off.drifted).toBe(false);
    const missing = featureDrift(
      'x',
      reference,
      { counts: [0, 220, 220, 230, 230, 0], missing: 100 },
      {
        thresholds: { missingRateDelta: 0.05 },
      },
    );
    expect(missing.status === 'evaluated' && missing.drifted).toBe(true);
  });

  it('rejects live counts with a different number of bins, naming the feature and both lengths', () => {
    expect(() => featureDrift('age', reference, { counts: [1, 2, 3], missing: 0 })).toThrow(
      /feature "age": the reference has 6 bins and the live counts have 3/,
    );
  });

  it('rejects thresholds and minimums that are not positive', () => {
    const live = { counts: [0, 250, 250, 250, 250, 0], missing: 0 };
    expect(() => featureDrift('x', reference, live, { thresholds: { psi: 0 } })).toThrow(/psi must be/);
    expect(() => featureDrift('x', reference, live, { minLiveCount: 0 })).toThrow(/minLiveCount/);
  });
});

describe('datasetDrift', () => {
  const baseline: Baseline = {
    referenceCount: 1000,
    features: {
      a: numeric([0, 500, 500, 0]),
      b: numeric([0, 500, 500, 0]),
      constructor: categorical(['x', 'y'], [500, 500, 0]),
    },
  };
  const calm = { counts: [0, 1000, 1000, 0], missing: 0 };
  const moved = { counts: [0, 0, 0, 2000], missing: 0 };

  it('is the share of drifted features', () => {
    const r = datasetDrift(baseline, {
      total: 2000,
      features: { a: moved, b: calm, constructor: { counts: [1000, 1000, 0], missing: 0 } },
    });
    expect(r).toMatchObject({ status: 'evaluated', share: 1 / 3, drifted: false, driftedFeatures: ['a'] });
    const two = datasetDrift(baseline, {
      total: 2000,
      features: { a: moved, b: moved, constructor: { counts: [1000, 1000, 0], missing: 0 } },
    });
    expect(two).toMatchObject({ share: 2 / 3, drifted: true, driftedFeatures: ['a', 'b'] });
  });

  it('is insufficient-data for a window below the minimum', () => {
    expect(datasetDrift(baseline, { total: 999, features: { a: calm } })).toEqual({
      status: 'insufficient-data',
      liveCount: 999,
      minimum: 1000,
    });
  });

  it('leaves features without live counts out of the share, and is insufficient when none has any', () => {
    const r = datasetDrift(baseline, { total: 2000, features: { a: moved } });
    expect(r).toMatchObject({ status: 'evaluated', share: 1, driftedFeatures: ['a'] });
    expect(
      r.status === 'evaluated' && r.features.filter((f) => f.status === 'insufficient-data'),
    ).toHaveLength(2);
    // `constructor` is a feature here, not Object.prototype.constructor.
    expect(datasetDrift(baseline, { total: 2000, features: {} }).status).toBe('insufficient-data');
  });
});

describe('sumCounts', () => {
  const w = (a: number[], missing: number, total: number): WindowCounts => ({
    features: { a: { counts: a, missing } },
    total,
  });

  it('sums counts, missing values and totals exactly', () => {
    expect(sumCounts([w([1, 2, 3], 1, 7), w([10, 20, 30], 0, 60)])).toEqual(w([11, 22, 33], 1, 67));
    expect(sumCounts([])).toEqual({ features: {}, total: 0 });
  });

  it('keeps large counts exact', () => {
    const big = 2 ** 52;
    expect(sumCounts([w([big, 1], 0, big + 1), w([1, 1], 0, 2)]).features.a!.counts).toEqual([big + 1, 2]);
    expect(() => sumCounts([w([2 ** 53 - 1], 0, 1), w([1], 0, 1)])).toThrow(/2\^53/);
  });

  it('sums features present in only some windows, and predictions when any window has them', () => {
    const s = sumCounts([
      { features: { a: { counts: [1], missing: 0 } }, total: 1 },
      {
        features: { b: { counts: [2, 2], missing: 1 } },
        predictions: { label: { counts: [3, 4, 0], missing: 0 } },
        total: 5,
      },
    ]);
    expect(s).toEqual({
      features: { a: { counts: [1], missing: 0 }, b: { counts: [2, 2], missing: 1 } },
      predictions: { label: { counts: [3, 4, 0], missing: 0 } },
      total: 6,
    });
  });

  it('treats feature names such as constructor and __proto__ as features', () => {
    const proto = JSON.parse('{"__proto__": {"counts": [1, 1], "missing": 0}}') as WindowCounts['features'];
    const s = sumCounts([
      { features: { constructor: { counts: [1, 2], missing: 0 }, ...proto }, total: 3 },
      { features: { constructor: { counts: [3, 4], missing: 1 } }, total: 8 },
    ]);
    expect(Object.hasOwn(s.features, 'constructor')).toBe(true);
    expect(s.features.constructor).toEqual({ counts: [4, 6], missing: 1 });
    expect(Object.hasOwn(s.features, '__proto__')).toBe(true);
    expect(Object.getPrototypeOf(s.features)).toBe(Object.prototype);
  });

  it('rejects mismatched bin lengths, naming the feature and both lengths', () => {
    expect(() => sumCounts([w([1, 2, 3], 0, 6), w([1, 2], 0, 3)])).toThrow(
      /feature "a" has 3 bins in earlier windows and 2 in window 1/,
    );
    try {
      sumCounts([w([1, 2, 3], 0, 6), w([1, 2], 0, 3)]);
    } catch (err) {
      expect(err).toBeInstanceOf(DriftCountsError);
      expect((err as DriftCountsError).feature).toBe('a');
    }
  });

  it('rejects counts and totals that are not whole numbers >= 0', () => {
    expect(() => sumCounts([w([1, -1], 0, 0)])).toThrow(/window 0 feature "a"/);
    expect(() => sumCounts([w([1, 1], 0.5, 2)])).toThrow(/missing/);
    expect(() => sumCounts([w([1, 1], 0, Number.NaN)])).toThrow(/total/);
  });
});
