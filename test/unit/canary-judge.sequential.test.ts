import { describe, expect, it } from 'vitest';
import {
  CountSeriesError,
  badShare,
  mixtureAlternatives,
  normalQuantile,
  rateRatioTest,
  samplesNeeded,
  type CountLook,
} from '../../lambdas/core/sequential-test';
import { seededRandom } from '../../lambdas/core/random';

const look = (rc: number, bc: number, rs: number, bs: number): CountLook => ({
  candidate: { requests: rc, bad: bc },
  stable: { requests: rs, bad: bs },
});
const single = (ratio: number) => ({ alpha: 0.05, nullRatio: 1, alternatives: [{ ratio, weight: 1 }] });

describe('rateRatioTest', () => {
  it('is 1.5^10 for 10 candidate-only bad events at half the traffic against θ = 3', () => {
    const r = rateRatioTest([look(100, 10, 100, 0)], single(3));
    expect(r.eValue).toBeCloseTo(1.5 ** 10, 9);
    expect(r.rejected).toBe(true);
    expect(r.rejectedAtLook).toBe(0);
    expect(r.pValue).toBeCloseTo(1 / 1.5 ** 10, 12);
  });

  it('multiplies per-increment ratios, each with its own traffic share', () => {
    // Look 1: ρ = 0.5, 2 bad, both candidate: (0.75/0.5)^2 = 2.25.
    // Increment 2: ρ = 100/400 = 0.25, q1 = 0.5, 1 candidate + 1 stable bad: (0.5/0.25)·(0.5/0.75) = 4/3.
    const r = rateRatioTest([look(100, 2, 100, 0), look(200, 3, 400, 1)], single(3));
    expect(r.eValue).toBeCloseTo(3, 12);
    expect(r.maxEValue).toBeCloseTo(3, 12);
    expect(r.rejected).toBe(false);
  });

  it('averages the products over the mixture weights', () => {
    const options = {
      alpha: 0.05,
      nullRatio: 1,
      alternatives: [
        { ratio: 3, weight: 0.25 },
        { ratio: 2, weight: 0.75 },
      ],
    };
    // ρ = 0.5: q(3) = 0.75, q(2) = 2/3; 1 candidate bad, 1 stable bad.
    const e = 0.25 * (1.5 * 0.5) + 0.75 * ((4 / 3) * (2 / 3));
    expect(rateRatioTest([look(100, 1, 100, 1)], options).eValue).toBeCloseTo(e, 12);
  });

  it('is 1 with no bad events or no traffic, and when one arm had no requests in an increment', () => {
    expect(rateRatioTest([look(100, 0, 100, 0)], single(2)).eValue).toBe(1);
    expect(rateRatioTest([], single(2))).toMatchObject({ eValue: 1, pValue: 1, rejected: false });
    expect(rateRatioTest([look(0, 0, 100, 5)], single(2)).eValue).toBe(1);
  });

  it('tests a shifted null θ0 against the shifted share', () => {
    // θ0 = 2 at ρ = 1/3: q0 = 0.5; θ1 = 6: q1 = 0.75; 4 candidate bad: 1.5^4.
    const r = rateRatioTest([look(100, 4, 200, 0)], {
      alpha: 0.05,
      nullRatio: 2,
      alternatives: [{ ratio: 6, weight: 1 }],
    });
    expect(badShare(1 / 3, 2)).toBeCloseTo(0.5, 12);
    expect(r.eValue).toBeCloseTo(1.5 ** 4, 9);
  });

  it('never decreases as the candidate has more of the bad events', () => {
    const options = { alpha: 0.05, nullRatio: 1, alternatives: mixtureAlternatives(1, 0.5) };
    let previous = 0;
    for (let x = 0; x <= 20; x++) {
      const e = rateRatioTest([look(1000, x, 9000, 20 - x)], options).eValue;
      expect(e).toBeGreaterThanOrEqual(previous);
      previous = e;
    }
  });

  it('rejects counts that are not cumulative, naming the look', () => {
    expect(() => rateRatioTest([look(10, 1, 10, 1), look(5, 1, 20, 1)], single(2))).toThrow(CountSeriesError);
    expect(() => rateRatioTest([look(10, 1, 10, 1), look(5, 1, 20, 1)], single(2))).toThrow(
      /looks\[1\]\.candidate must be cumulative/,
    );
    expect(() => rateRatioTest([look(10, 11, 10, 1)], single(2))).toThrow(/looks\[0\]\.candidate/);
  });

  it('keeps the false-rejection rate of 20 looks with changing traffic share below alpha (simulated null)', () => {
    const rng = seededRandom(7);
    const poisson = (mean: number): number => {
      let k = 0;
      for (let t = -Math.log(1 - rng()); t < mean; t -= Math.log(1 - rng())) k++;
      return k;
    };
    const options = { alpha: 0.1, nullRatio: 1, alternatives: mixtureAlternatives(1, 0.5) };
    let rejections = 0;
    const runs = 1000;
    for (let run = 0; run < runs; run++) {
      const looks: CountLook[] = [];
      let [rc, bc, rs, bs] = [0, 0, 0, 0];
      for (let t = 0; t < 20; t++) {
        const share = [0.05, 0.25, 0.5][Math.floor(t / 7)]!;
        rc += 200 * share;
        rs += 200 * (1 - share);
        bc += poisson(200 * share * 0.05);
        bs += poisson(200 * (1 - share) * 0.05);
        looks.push(look(rc, bc, rs, bs));
      }
      if (rateRatioTest(looks, options).rejected) rejections++;
    }
    expect(rejections / runs).toBeLessThanOrEqual(0.1);
  });
});

describe('samplesNeeded', () => {
  const base = {
    stableRate: 0.01,
    rho: 0.01,
    nullRatio: 1,
    detectRatio: 1.5,
    weight: 0.5,
    alpha: 0.05 / 3,
    power: 0.8,
  };

  it('needs fewer samples for a higher stable rate, more for more power', () => {
    expect(samplesNeeded({ ...base, stableRate: 0.05 })).toBeLessThan(samplesNeeded(base));
    expect(samplesNeeded({ ...base, power: 0.95 })).toBeGreaterThan(samplesNeeded(base));
  });

  it('detects the MDE with about the promised power once the samples are in (simulated)', () => {
    const n = samplesNeeded(base);
    const rng = seededRandom(11);
    const normalCount = (mean: number): number => {
      const z = Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
      return Math.max(0, Math.round(mean + Math.sqrt(mean) * z));
    };
    const options = { alpha: base.alpha, nullRatio: 1, alternatives: mixtureAlternatives(1, 0.5) };
    let detected = 0;
    for (let run = 0; run < 400; run++) {
      const stable = n * 99;
      const r = rateRatioTest([look(n, normalCount(n * 0.015), stable, normalCount(stable * 0.01))], options);
      if (r.rejected) detected++;
    }
    expect(detected / 400).toBeGreaterThan(0.7);
    expect(detected / 400).toBeLessThan(0.9);
  });
});

describe('normalQuantile', () => {
  it('matches known quantiles', () => {
    expect(normalQuantile(0.95)).toBeCloseTo(1.644854, 5);
    expect(normalQuantile(0.8)).toBeCloseTo(0.841621, 5);
    expect(normalQuantile(0.001)).toBeCloseTo(-3.090232, 5);
  });
});
