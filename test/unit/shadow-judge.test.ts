/**
 * The shadow phase's judge (lambdas/core/shadow-judge.ts). The statistical claims are checked by simulation with a
 * fixed seed: under H0 (disagreement share exactly at the limit) the disagreement test rejects at most α/2 of the
 * time over 100 looks; at twice the limit it detects almost always.
 */
import { describe, expect, it } from 'vitest';
import { resolveCanaryPolicy } from '../../lambdas/core/canary-judge';
import { seededRandom } from '../../lambdas/core/random';
import {
  comparisonsNeeded,
  judgeDisagreement,
  judgeShadow,
  ShadowSeriesError,
  type ShadowLook,
} from '../../lambdas/core/shadow-judge';

const POLICY = { ...resolveCanaryPolicy(), maxShadowDisagreement: 0.05 };

/** Cumulative looks of a shadow phase where the candidate disagrees with probability p and fails with q. */
function simulate(random: () => number, opts: { p: number; q?: number; perLook: number; looks: number }) {
  const looks: ShadowLook[] = [];
  let compared = 0;
  let disagreed = 0;
  let candidateErrors = 0;
  let stableErrors = 0;
  for (let l = 0; l < opts.looks; l += 1) {
    for (let i = 0; i < opts.perLook; i += 1) {
      if (random() < (opts.q ?? 0)) candidateErrors += 1;
      else {
        compared += 1;
        if (random() < opts.p) disagreed += 1;
      }
      if (random() < 0.001) stableErrors += 1;
    }
    looks.push({
      compared,
      disagreed,
      candidateErrors,
      stableRequests: (l + 1) * opts.perLook,
      stableErrors,
    });
  }
  return looks;
}

/** The first look at which the check fails (1-based), or undefined. */
function firstFailure(looks: readonly ShadowLook[]): number | undefined {
  for (let i = 1; i <= looks.length; i += 1) {
    if (judgeDisagreement(looks.slice(0, i), POLICY).decision === 'fail') return i;
  }
  return undefined;
}

describe('judgeDisagreement', () => {
  it('rejects a candidate at the limit at most α/2 of the time over 100 looks (1,000 simulated phases)', () => {
    const random = seededRandom(7);
    let rejected = 0;
    const runs = 1000;
    for (let r = 0; r < runs; r += 1) {
      const looks = simulate(random, { p: 0.05, perLook: 100, looks: 100 });
      // The e-process only grows by the last look's counts; the maximum over looks is what the judge keeps.
      if (judgeDisagreement(looks, POLICY).decision === 'fail') rejected += 1;
    }
    // α/2 = 0.025, plus three standard errors of the simulated rate.
    expect(rejected / runs).toBeLessThanOrEqual(0.025 + 3 * Math.sqrt((0.025 * 0.975) / runs));
  });

  it('detects twice the limit in at least 95 % of phases within 10,000 comparisons', () => {
    const random = seededRandom(11);
    let detected = 0;
    const runs = 200;
    for (let r = 0; r < runs; r += 1) {
      if (firstFailure(simulate(random, { p: 0.1, perLook: 500, looks: 20 })) !== undefined) detected += 1;
    }
    expect(detected / runs).toBeGreaterThanOrEqual(0.95);
  });

  it('is inconclusive, never a pass, until it has the comparisons to see the MDE', () => {
    const needed = comparisonsNeeded({ p0: 0.05, p1: 0.075, weight: 0.5, alpha: 0.025, power: 0.8 });
    expect(needed).toBeGreaterThan(500);
    const none = judgeDisagreement([], POLICY);
    expect(none).toMatchObject({ decision: 'inconclusive', samplesNeeded: needed, effect: null });
    const few = judgeDisagreement(
      [{ compared: 100, disagreed: 0, candidateErrors: 0, stableRequests: 100, stableErrors: 0 }],
      POLICY,
    );
    expect(few.decision).toBe('inconclusive');
    const enough = judgeDisagreement(
      [{ compared: needed, disagreed: 0, candidateErrors: 0, stableRequests: needed, stableErrors: 0 }],
      POLICY,
    );
    expect(enough.decision).toBe('pass');
  });
});

describe('judgeShadow', () => {
  it('goes on to the canary when both checks have passed with power', () => {
    // At stable's 0.1 % error rate the error check needs ~150k shadowed requests to see a 1.5× regression.
    const looks = simulate(seededRandom(3), { p: 0, perLook: 200_000, looks: 1 });
    const verdict = judgeShadow(POLICY, { looks, extensions: 0 });
    expect(verdict.decision).toBe('promote-step');
    expect(verdict.checks.map((c) => c.metric)).toEqual(['shadowErrors', 'shadowDisagreement']);
  });

  it('rolls back a candidate that fails where stable answers (SHADOW_ERRORS)', () => {
    const looks = simulate(seededRandom(5), { p: 0, q: 0.2, perLook: 200, looks: 1 });
    expect(judgeShadow(POLICY, { looks, extensions: 0 })).toMatchObject({
      decision: 'rollback',
      reasonCode: 'SHADOW_ERRORS',
    });
  });

  it('rolls back a candidate that answers differently (SHADOW_DISAGREEMENT)', () => {
    const looks = simulate(seededRandom(9), { p: 0.3, perLook: 500, looks: 1 });
    expect(judgeShadow(POLICY, { looks, extensions: 0 })).toMatchObject({
      decision: 'rollback',
      reasonCode: 'SHADOW_DISAGREEMENT',
    });
  });

  it('extends an inconclusive phase, then reports it exhausted', () => {
    const looks = simulate(seededRandom(1), { p: 0, perLook: 50, looks: 1 });
    expect(judgeShadow(POLICY, { looks, extensions: 0 }).decision).toBe('inconclusive');
    expect(judgeShadow(POLICY, { looks, extensions: POLICY.maxExtensionsPerStep }).decision).toBe(
      'exhausted',
    );
  });

  it('refuses counts that are not cumulative whole numbers, naming the field', () => {
    const look = { compared: 10, disagreed: 1, candidateErrors: 0, stableRequests: 10, stableErrors: 0 };
    expect(() =>
      judgeShadow(POLICY, { looks: [look, { ...look, compared: 5, disagreed: 0 }], extensions: 0 }),
    ).toThrow(/looks\[1\]\.compared decreased/);
    expect(() => judgeShadow(POLICY, { looks: [{ ...look, disagreed: 11 }], extensions: 0 })).toThrow(
      ShadowSeriesError,
    );
    expect(() => judgeShadow(POLICY, { looks: [{ ...look, compared: 1.5 }], extensions: 0 })).toThrow(
      /looks\[0\]\.compared must be a whole number/,
    );
  });
});
