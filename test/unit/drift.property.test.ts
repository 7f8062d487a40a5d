import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { binWasserstein, jsDistance, psi, sumCounts, type WindowCounts } from '../../lambdas/core/drift';

const count = fc.oneof(fc.nat(20), fc.nat(1_000_000), fc.constant(0));
/** Two count vectors over the same k bins, each with at least one count. */
const pair = fc
  .integer({ min: 1, max: 24 })
  .chain((k) =>
    fc
      .tuple(fc.array(count, { minLength: k, maxLength: k }), fc.array(count, { minLength: k, maxLength: k }))
      .filter(([p, q]) => p.some((c) => c > 0) && q.some((c) => c > 0)),
  );
const vector = pair.map(([p]) => p);

describe('drift distances (properties)', () => {
  it('are finite and >= 0; JS distance and Wasserstein stay within [0, 1]', () => {
    fc.assert(
      fc.property(pair, ([p, q]) => {
        for (const d of [jsDistance(p, q), psi(p, q), binWasserstein(p, q)]) {
          expect(Number.isFinite(d)).toBe(true);
          expect(d).toBeGreaterThanOrEqual(0);
        }
        expect(jsDistance(p, q)).toBeLessThanOrEqual(1);
        expect(binWasserstein(p, q)).toBeLessThanOrEqual(1 + 1e-15);
      }),
    );
  });

  it('are symmetric (JS exactly up to rounding; PSI and Wasserstein too)', () => {
    fc.assert(
      fc.property(pair, ([p, q]) => {
        expect(jsDistance(p, q)).toBeCloseTo(jsDistance(q, p), 12);
        expect(psi(p, q)).toBeCloseTo(psi(q, p), 9);
        expect(binWasserstein(p, q)).toBeCloseTo(binWasserstein(q, p), 12);
      }),
    );
  });

  it('are 0 for a vector and any positive multiple of it', () => {
    fc.assert(
      fc.property(vector, fc.integer({ min: 1, max: 1_000 }), (p, k) => {
        const kp = p.map((c) => c * k);
        expect(jsDistance(p, kp)).toBeLessThan(1e-7);
        expect(psi(p, kp)).toBeLessThan(1e-12);
        expect(binWasserstein(p, kp)).toBeLessThan(1e-12);
        expect(jsDistance(p, p)).toBe(0);
      }),
    );
  });
});

const K = 4;
const windowArb: fc.Arbitrary<WindowCounts> = fc
  .record({
    a: fc.array(fc.nat(1_000), { minLength: K, maxLength: K }),
    constructor: fc.option(fc.array(fc.nat(1_000), { minLength: 2, maxLength: 2 }), { nil: undefined }),
    missing: fc.nat(50),
  })
  .map(({ a, constructor, missing }) => {
    const entries: [string, { counts: number[]; missing: number }][] = [['a', { counts: a, missing }]];
    if (constructor) entries.push(['constructor', { counts: constructor, missing: 0 }]);
    const features = Object.fromEntries(entries);
    const total = a.reduce((s, c) => s + c, 0) + missing;
    return { features, total };
  });

describe('sumCounts (properties)', () => {
  it('is associative and commutative', () => {
    fc.assert(
      fc.property(windowArb, windowArb, windowArb, (a, b, c) => {
        const left = sumCounts([sumCounts([a, b]), c]);
        const right = sumCounts([a, sumCounts([b, c])]);
        expect(left).toEqual(right);
        expect(sumCounts([c, a, b])).toEqual(sumCounts([a, b, c]));
        expect(sumCounts([a, b, c])).toEqual(left);
      }),
    );
  });

  it('conserves every count', () => {
    fc.assert(
      fc.property(fc.array(windowArb, { maxLength: 8 }), (windows) => {
        const sum = sumCounts(windows);
        const expected = windows.reduce((s, w) => s + w.features.a!.counts.reduce((x, y) => x + y, 0), 0);
        expect(sum.features.a?.counts.reduce((x, y) => x + y, 0) ?? 0).toBe(expected);
        expect(sum.total).toBe(windows.reduce((s, w) => s + w.total, 0));
      }),
    );
  });
});
