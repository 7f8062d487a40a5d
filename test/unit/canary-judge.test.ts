import { describe, expect, it } from 'vitest';
import {
  CanaryPolicyError,
  DEFAULT_CANARY_POLICY,
  REASON_CODES,
  judgeBurnRate,
  judgeCanary,
  judgeFallbacks,
  judgeLatency,
  judgePredictionShift,
  resolveCanaryPolicy,
  type CanaryObservation,
  type CountLook,
  type Decision,
} from '../../lambdas/core/canary-judge';

const policy = resolveCanaryPolicy();
const look = (rc: number, bc: number, rs: number, bs: number): CountLook => ({
  candidate: { requests: rc, bad: bc },
  stable: { requests: rs, bad: bs },
});

/** A healthy, well-powered bake: 20,000 candidate requests at 10 % weight, equal rates everywhere. */
function healthy(overrides: Partial<CanaryObservation> = {}): CanaryObservation {
  return {
    errors: [look(20_000, 200, 180_000, 1800)],
    slow: [look(20_000, 1000, 180_000, 9000)],
    invalidInput: [look(20_000, 40, 180_000, 360)],
    latency: { candidateP99Ms: 310, stableP99Ms: 300, candidateRequests: 20_000 },
    candidateFallbacks: 0,
    predictionBins: { candidate: [5000, 5000, 10_000], stable: [45_000, 45_000, 90_000] },
    burnRate: { candidate: 0.5, stable: 0.5 },
    candidateWeight: 0.1,
    bakeComplete: true,
    extensions: 0,
    ...overrides,
  };
}

const RANK: Record<Decision, number> = {
  rollback: 0,
  exhausted: 1,
  inconclusive: 1,
  continue: 2,
  'promote-step': 2,
};

describe('judgeCanary', () => {
  it('promotes a healthy, powered step and explains every check', () => {
    const verdict = judgeCanary(policy, healthy());
    expect(verdict).toMatchObject({ decision: 'promote-step', reasonCode: 'HEALTHY' });
    expect(verdict.checks.map((c) => c.metric)).toEqual([
      'fallbacks',
      'errorRate',
      'slowShare',
      'invalidInput',
      'p99Ratio',
      'p99Ceiling',
      'predictionShift',
      'burnRate',
    ]);
    const errors = verdict.checks.find((c) => c.metric === 'errorRate')!;
    expect(errors).toMatchObject({
      decision: 'pass',
      effect: 1,
      stable: { requests: 180_000, bad: 1800 },
      candidate: { requests: 20_000, bad: 200 },
      eThreshold: 60,
    });
    expect(errors.samplesNeeded).toBeLessThanOrEqual(20_000);
    expect(REASON_CODES).toContain(verdict.reasonCode);
  });

  it('never promotes on zero traffic: inconclusive with the samples needed, then exhausted', () => {
    const empty = look(0, 0, 0, 0);
    const none = healthy({
      errors: [empty],
      slow: [empty],
      invalidInput: [empty],
      latency: { candidateP99Ms: null, stableP99Ms: null, candidateRequests: 0 },
      predictionBins: undefined,
      burnRate: undefined,
      candidateWeight: 0.01,
    });
    const verdict = judgeCanary(policy, none);
    expect(verdict).toMatchObject({ decision: 'inconclusive', reasonCode: 'INSUFFICIENT_SAMPLES' });
    expect(verdict.checks.find((c) => c.metric === 'errorRate')!.samplesNeeded).toBeGreaterThan(1000);
    expect(judgeCanary(policy, { ...none, extensions: 3 }).decision).toBe('exhausted');
    expect(judgeCanary(policy, { ...none, errors: [] }).decision).toBe('inconclusive');
  });

  it('is inconclusive, not a pass, when the candidate has too few requests to see the MDE', () => {
    const verdict = judgeCanary(policy, healthy({ errors: [look(500, 5, 49_500, 495)] }));
    expect(verdict.decision).toBe('inconclusive');
    const errors = verdict.checks.find((c) => c.metric === 'errorRate')!;
    expect(errors).toMatchObject({ decision: 'inconclusive', reasonCode: 'INSUFFICIENT_SAMPLES' });
    expect(errors.samplesNeeded).toBeGreaterThan(500);
  });

  it('rolls back on a credible error regression, with the e-value, p-value and lower bound', () => {
    const verdict = judgeCanary(policy, healthy({ errors: [look(20_000, 400, 180_000, 1800)] }));
    expect(verdict).toMatchObject({ decision: 'rollback', reasonCode: 'ERROR_RATE_REGRESSION' });
    const errors = verdict.checks.find((c) => c.metric === 'errorRate')!;
    expect(errors.effect).toBeCloseTo(2, 12);
    expect(errors.eValue).toBeGreaterThanOrEqual(60);
    expect(errors.pValue).toBeLessThanOrEqual(1 / 60);
    expect(errors.confidenceBound).toBeGreaterThan(1);
    expect(errors.confidenceBound).toBeLessThan(2);
  });

  it('rolls back at an interim look, but does not promote before the bake is complete', () => {
    expect(judgeCanary(policy, healthy({ bakeComplete: false }))).toMatchObject({
      decision: 'continue',
      reasonCode: 'BAKING',
    });
    expect(
      judgeCanary(policy, healthy({ bakeComplete: false, slow: [look(20_000, 2000, 180_000, 9000)] })),
    ).toMatchObject({ decision: 'rollback', reasonCode: 'SLOW_SHARE_REGRESSION' });
  });

  it('never gets a better verdict with more candidate errors', () => {
    for (const requests of [0, 300, 3000, 20_000]) {
      let previous = Number.POSITIVE_INFINITY;
      for (let bad = 0; bad <= Math.min(requests, 600); bad += 20) {
        const verdict = judgeCanary(
          policy,
          healthy({
            errors: [look(requests, bad, 180_000, 1800)],
            slow: [look(requests, Math.round(requests * 0.05), 180_000, 9000)],
          }),
        );
        expect(RANK[verdict.decision]).toBeLessThanOrEqual(previous);
        previous = RANK[verdict.decision];
      }
    }
  });

  it('fails on fallbacks, invalid input and burn rate with their reason codes', () => {
    expect(judgeCanary(policy, healthy({ candidateFallbacks: 1 })).reasonCode).toBe('FALLBACKS');
    expect(judgeCanary(policy, healthy({ invalidInput: [look(20_000, 200, 180_000, 360)] })).reasonCode).toBe(
      'INVALID_INPUT',
    );
    expect(judgeCanary(policy, healthy({ burnRate: { candidate: 3, stable: 1 } })).reasonCode).toBe(
      'BURN_RATE',
    );
  });

  it('tolerates invalid input up to maxInvalidInputRatio × stable', () => {
    // 1.4 × stable's invalid-input rate with plenty of data: below the 1.5 null, not a failure.
    const verdict = judgeCanary(policy, healthy({ invalidInput: [look(20_000, 56, 180_000, 360)] }));
    expect(verdict.checks.find((c) => c.metric === 'invalidInput')!.decision).toBe('pass');
  });
});

describe('guards', () => {
  const latency = (c: number, s: number, n = 1000) => ({
    candidateP99Ms: c,
    stableP99Ms: s,
    candidateRequests: n,
  });

  it('passes a p99 ratio of exactly the limit and fails just above it', () => {
    expect(judgeLatency(latency(450, 300), policy)[0]).toMatchObject({ decision: 'pass', effect: 1.5 });
    expect(judgeLatency(latency(450.1, 300), policy)[0]).toMatchObject({
      decision: 'fail',
      reasonCode: 'P99_RATIO',
    });
  });

  it('is inconclusive on p99 below minRequestsForP99', () => {
    expect(judgeLatency(latency(900, 300, 499), policy)[0]).toMatchObject({
      decision: 'inconclusive',
      samplesNeeded: 500,
    });
  });

  it('applies the p99 ceiling only when the policy sets one', () => {
    expect(judgeLatency(latency(800, 800), policy)[1]!.decision).toBe('skipped');
    const ceiling = resolveCanaryPolicy({ p99CeilingMs: 800 });
    expect(judgeLatency(latency(800, 800), ceiling)[1]!.decision).toBe('pass');
    expect(judgeLatency(latency(801, 800), ceiling)[1]).toMatchObject({
      decision: 'fail',
      reasonCode: 'P99_CEILING',
    });
  });

  it('fails on the first fallback', () => {
    expect(judgeFallbacks(0).decision).toBe('pass');
    expect(judgeFallbacks(1)).toMatchObject({ decision: 'fail', reasonCode: 'FALLBACKS', effect: 1 });
  });

  it('judges prediction shift against the limit once the samples beat the noise floor', () => {
    // k = 2 bins, limit 0.1: n_eff ≥ 1/(2·ln 2·0.01) ≈ 73.
    const few = judgePredictionShift({ candidate: [30, 30], stable: [1000, 1000] }, policy);
    expect(few).toMatchObject({ decision: 'inconclusive', reasonCode: 'INSUFFICIENT_SAMPLES' });
    expect(few.samplesNeeded).toBe(Math.ceil((73 * 2000) / (2000 - 73)));
    expect(judgePredictionShift({ candidate: [500, 500], stable: [1000, 1000] }, policy).decision).toBe(
      'pass',
    );
    expect(judgePredictionShift({ candidate: [800, 200], stable: [1000, 1000] }, policy)).toMatchObject({
      decision: 'fail',
      reasonCode: 'PREDICTION_SHIFT',
    });
  });

  it('fails a small shift once the samples prove it, and only then (G-test at predictionShiftAlpha, floor minPredictionShift)', () => {
    // 60/40 vs 55/45: JS distance ≈ 0.04, well under maxPredictionShift 0.1 but above the 0.01 floor.
    const small = { candidate: [1200, 800], stable: [5500, 4500] };
    expect(judgePredictionShift(small, policy)).toMatchObject({
      decision: 'fail',
      reasonCode: 'PREDICTION_SHIFT',
      limit: 0.01,
    });
    expect(judgePredictionShift(small, policy).pValue).toBeLessThan(0.0001);
    // The same shares on a tenth of the traffic are not significant: judged against the hard limit, and pass.
    const fewer = { candidate: [120, 80], stable: [550, 450] };
    expect(judgePredictionShift(fewer, policy).decision).toBe('pass');
    // Significant but below the floor: 10,000,000 samples make a 0.2 pp shift significant, and it still passes.
    const trivial = { candidate: [5_010_000, 4_990_000], stable: [5_000_000, 5_000_000] };
    expect(judgePredictionShift(trivial, policy).decision).toBe('pass');
  });

  it('fails burn rate only above both the ratio and the minimum burn rate', () => {
    expect(judgeBurnRate({ candidate: 2, stable: 1 }, policy).decision).toBe('pass');
    expect(judgeBurnRate({ candidate: 2.01, stable: 1 }, policy).decision).toBe('fail');
    expect(judgeBurnRate({ candidate: 0.9, stable: 0.1 }, policy).decision).toBe('pass');
    expect(judgeBurnRate({ candidate: 1, stable: 0 }, policy).decision).toBe('fail');
    expect(judgeBurnRate(undefined, policy).decision).toBe('skipped');
  });
});

describe('resolveCanaryPolicy', () => {
  it('fills the defaults', () => {
    expect(resolveCanaryPolicy()).toEqual(DEFAULT_CANARY_POLICY);
  });

  it.each([
    [{ alpha: 0 }, /canary\.alpha must be a number in \(0, 0\.5\], got 0/],
    [{ alpha: Number.NaN }, /canary\.alpha/],
    [{ minDetectableEffect: -1 }, /canary\.minDetectableEffect/],
    [{ power: 1 }, /canary\.power/],
    [{ maxExtensionsPerStep: 1.5 }, /canary\.maxExtensionsPerStep must be an integer >= 0, got 1\.5/],
    [{ maxP99Ratio: 0.9 }, /canary\.maxP99Ratio/],
    [{ p99CeilingMs: 0 }, /canary\.p99CeilingMs/],
    [{ minRequestsForP99: 10 }, /canary\.minRequestsForP99/],
    [{ maxPredictionShift: 2 }, /canary\.maxPredictionShift/],
    [{ onExhausted: 'panic' as 'hold' }, /canary\.onExhausted must be "rollback" or "hold", got "panic"/],
  ])('rejects %o naming the field', (overrides, message) => {
    expect(() => resolveCanaryPolicy(overrides)).toThrow(CanaryPolicyError);
    expect(() => resolveCanaryPolicy(overrides)).toThrow(message);
  });
});
