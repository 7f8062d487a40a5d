import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { chiSquareSurvival, gTestHomogeneity } from '../../lambdas/core/chi-square';
import { jsDistance } from '../../lambdas/core/drift';

const golden = JSON.parse(
  readFileSync(path.join(import.meta.dirname, '../fixtures/canary/chi-square-golden.json'), 'utf8'),
) as {
  survival: { x: number; df: number; sf: number }[];
  tables: { a: number[]; b: number[]; g: number; df: number; p: number }[];
};

/** Relative agreement, with an absolute floor for tails near 0. */
const close = (got: number, want: number) =>
  Math.abs(got - want) <= 1e-9 * Math.max(1e-12, Math.abs(want)) + 1e-15;

describe('chiSquareSurvival', () => {
  it.each(golden.survival)('agrees with scipy.stats.chi2.sf(x=$x, df=$df)', ({ x, df, sf }) => {
    expect(close(chiSquareSurvival(x, df), sf)).toBe(true);
  });

  it('refuses df <= 0', () => {
    expect(() => chiSquareSurvival(1, 0)).toThrow(/degrees of freedom must be > 0/);
  });
});

describe('gTestHomogeneity', () => {
  it.each(golden.tables)('agrees with scipy chi2_contingency(lambda_="log-likelihood") on $a vs $b', (t) => {
    const r = gTestHomogeneity(t.a, t.b);
    expect(r.df).toBe(t.df);
    expect(Math.abs(r.g - t.g)).toBeLessThan(1e-9 * Math.max(1, t.g));
    expect(close(r.pValue, t.p)).toBe(true);
  });

  it('is 2·N times the sample-weighted JS divergence: equal samples give 2·N·JSD(nats)', () => {
    const a = [400, 300, 300];
    const b = [300, 300, 400];
    const jsdNats = jsDistance(a, b) ** 2 * Math.LN2;
    expect(gTestHomogeneity(a, b).g).toBeCloseTo(2 * 2000 * jsdNats, 6);
  });

  it('has nothing to compare when a sample is empty or one bin holds everything', () => {
    expect(gTestHomogeneity([0, 0], [5, 5])).toEqual({ g: 0, df: 1, pValue: 1 });
    expect(gTestHomogeneity([7, 0], [9, 0]).pValue).toBe(1);
  });
});
