/**
 * The canary judge: candidate vs stable over the same window, one verdict per AnalyzeCanary look. Pure.
 *
 * Error rate, slow-request share and invalid-input rate are judged by the always-valid sequential test of
 * ./sequential-test.ts on cumulative counts (α split equally across the three, so the whole rollout's false-rollback
 * probability from them is ≤ α by the union bound). The error and slow-share tests must also have enough candidate
 * samples to have seen the policy's minimum detectable effect before a step may pass; until then the verdict is
 * `inconclusive` (extend the bake). The other checks are guards with documented thresholds. See
 * docs/rollout-judge.md.
 */
import { jsDistance } from './drift';
import { gTestHomogeneity } from './chi-square';
import {
  mixtureAlternatives,
  rateRatioTest,
  samplesNeeded,
  type ArmCounts,
  type CountLook,
} from './sequential-test';

export type { ArmCounts, CountLook } from './sequential-test';

export const REASON_CODES = [
  'ERROR_RATE_REGRESSION',
  'SLOW_SHARE_REGRESSION',
  'INVALID_INPUT',
  'FALLBACKS',
  'P99_RATIO',
  'P99_CEILING',
  'PREDICTION_SHIFT',
  'BURN_RATE',
  'SHADOW_ERRORS',
  'SHADOW_DISAGREEMENT',
  'INSUFFICIENT_SAMPLES',
  'EXTENSIONS_EXHAUSTED',
  'BAKING',
  'HEALTHY',
] as const;
export type ReasonCode = (typeof REASON_CODES)[number];

export type Decision = 'promote-step' | 'continue' | 'rollback' | 'inconclusive' | 'exhausted';
export type CheckDecision = 'pass' | 'fail' | 'inconclusive' | 'skipped';

/** The judge's policy; every field has a default (resolveCanaryPolicy fills them). */
export interface CanaryPolicy {
  /**
   * Bound on the probability that a rollout of a candidate no worse than stable is rolled back by the tests.
   * @default 0.05
   */
  readonly alpha: number;
  /**
   * Smallest relative regression of error rate and slow share the judge must be able to see (0.5: 1.5 × stable).
   * @default 0.5
   */
  readonly minDetectableEffect: number;
  /** Probability of seeing a regression of exactly the MDE once `samplesNeeded` is reached. @default 0.8 */
  readonly power: number;
  /** Smallest stable rate used in the power calculation (a stable rate of 0 has no relative MDE). @default 0.001 */
  readonly baselineRateFloor: number;
  /** Bakes a step may be extended by when inconclusive; then the verdict is `exhausted`. @default 3 */
  readonly maxExtensionsPerStep: number;
  /**
   * What the caller does on `exhausted`: roll back, or hold the current weight for an operator.
   * @default 'rollback'
   */
  readonly onExhausted: 'rollback' | 'hold';
  /** Largest allowed candidate p99 / stable p99. @default 1.5 */
  readonly maxP99Ratio: number;
  /** Absolute ceiling on the candidate's p99 in ms; none when undefined. @default - no ceiling */
  readonly p99CeilingMs?: number;
  /**
   * Candidate requests in the latency window below which the p99 guards are inconclusive (p99 is too noisy).
   * @default 500
   */
  readonly minRequestsForP99: number;
  /** H0 of the invalid-input test: candidate invalid-input rate ≤ this × stable's. @default 1.5 */
  readonly maxInvalidInputRatio: number;
  /** Largest allowed Jensen–Shannon distance (base 2) between candidate and stable prediction bins. @default 0.1 */
  readonly maxPredictionShift: number;
  /**
   * A smaller shift fails too once the samples prove it: when the G-test of homogeneity rejects "same distribution"
   * at `predictionShiftAlpha` (per look) and the distance is at least `minPredictionShift`. @default 0.01
   */
  readonly minPredictionShift: number;
  /** Per-look significance of that test (small: it is applied at every look). @default 0.001 */
  readonly predictionShiftAlpha: number;
  /** The candidate breaches the SLO when its burn rate exceeds this × stable's ... @default 2 */
  readonly maxBurnRateRatio: number;
  /** ... and is at least this (burning below budget is not a breach). @default 1 */
  readonly minBurnRate: number;
}

export const DEFAULT_CANARY_POLICY: CanaryPolicy = {
  alpha: 0.05,
  minDetectableEffect: 0.5,
  power: 0.8,
  baselineRateFloor: 0.001,
  maxExtensionsPerStep: 3,
  onExhausted: 'rollback',
  maxP99Ratio: 1.5,
  minRequestsForP99: 500,
  maxInvalidInputRatio: 1.5,
  maxPredictionShift: 0.1,
  minPredictionShift: 0.01,
  predictionShiftAlpha: 0.0001,
  maxBurnRateRatio: 2,
  minBurnRate: 1,
};

/** A policy field is out of range; the message names the field, the value and the allowed range. */
export class CanaryPolicyError extends Error {
  override name = 'CanaryPolicyError';
}

function requireRange(field: string, value: unknown, ok: (v: number) => boolean, range: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || !ok(value)) {
    throw new CanaryPolicyError(`canary.${field} must be ${range}, got ${JSON.stringify(value)}`);
  }
}

/** Fills defaults and validates; throws CanaryPolicyError naming the first bad field. */
export function resolveCanaryPolicy(overrides: Partial<CanaryPolicy> = {}): CanaryPolicy {
  const policy: CanaryPolicy = { ...DEFAULT_CANARY_POLICY, ...overrides };
  requireRange('alpha', policy.alpha, (v) => v > 0 && v <= 0.5, 'a number in (0, 0.5]');
  requireRange('minDetectableEffect', policy.minDetectableEffect, (v) => v > 0 && v <= 10, 'in (0, 10]');
  requireRange('power', policy.power, (v) => v >= 0.5 && v < 1, 'in [0.5, 1)');
  requireRange('baselineRateFloor', policy.baselineRateFloor, (v) => v > 0 && v < 1, 'in (0, 1)');
  requireRange(
    'maxExtensionsPerStep',
    policy.maxExtensionsPerStep,
    (v) => Number.isInteger(v) && v >= 0,
    'an integer >= 0',
  );
  if (policy.onExhausted !== 'rollback' && policy.onExhausted !== 'hold') {
    throw new CanaryPolicyError(
      `canary.onExhausted must be "rollback" or "hold", got ${JSON.stringify(policy.onExhausted)}`,
    );
  }
  requireRange('maxP99Ratio', policy.maxP99Ratio, (v) => v >= 1, 'a number >= 1');
  if (policy.p99CeilingMs !== undefined)
    requireRange('p99CeilingMs', policy.p99CeilingMs, (v) => v > 0, 'a number > 0');
  requireRange(
    'minRequestsForP99',
    policy.minRequestsForP99,
    (v) => Number.isInteger(v) && v >= 100,
    'an integer >= 100',
  );
  requireRange('maxInvalidInputRatio', policy.maxInvalidInputRatio, (v) => v >= 1, 'a number >= 1');
  requireRange('maxPredictionShift', policy.maxPredictionShift, (v) => v > 0 && v <= 1, 'in (0, 1]');
  requireRange(
    'minPredictionShift',
    policy.minPredictionShift,
    (v) => v > 0 && v <= policy.maxPredictionShift,
    `in (0, maxPredictionShift ${policy.maxPredictionShift}]`,
  );
  requireRange(
    'predictionShiftAlpha',
    policy.predictionShiftAlpha,
    (v) => v > 0 && v <= 0.05,
    'in (0, 0.05]',
  );
  requireRange('maxBurnRateRatio', policy.maxBurnRateRatio, (v) => v >= 1, 'a number >= 1');
  requireRange('minBurnRate', policy.minBurnRate, (v) => v >= 0, 'a number >= 0');
  return policy;
}

export interface CanaryObservation {
  /** Cumulative Requests / Errors per arm since the canary started, one entry per look, oldest first. */
  readonly errors: readonly CountLook[];
  /** Cumulative answered requests / SlowRequests per arm, one entry per look. */
  readonly slow: readonly CountLook[];
  /** Cumulative Requests / InvalidInput per arm, one entry per look. */
  readonly invalidInput: readonly CountLook[];
  /** p99 latency of each arm over the same window (e.g. the current bake), with the candidate's request count. */
  readonly latency: {
    readonly candidateP99Ms: number | null;
    readonly stableP99Ms: number | null;
    readonly candidateRequests: number;
  };
  /** The candidate's Fallbacks count since the canary started. */
  readonly candidateFallbacks: number;
  /** Prediction-bin counts of each arm over the same window (same bins, same order). */
  readonly predictionBins?: { readonly candidate: readonly number[]; readonly stable: readonly number[] };
  /** SLO burn rates (e.g. from lambdas/core/slo.ts); the check is skipped when absent. */
  readonly burnRate?: { readonly candidate: number; readonly stable: number };
  /** The candidate's traffic share at the current step (0–1); used for samplesNeeded before any traffic. */
  readonly candidateWeight: number;
  /** False for an interim look inside a bake: the judge may roll back but not promote. */
  readonly bakeComplete: boolean;
  /** How many times the current step's bake has already been extended. */
  readonly extensions: number;
}

export type CheckMetric =
  | 'errorRate'
  | 'slowShare'
  | 'invalidInput'
  | 'fallbacks'
  | 'p99Ratio'
  | 'p99Ceiling'
  | 'predictionShift'
  | 'burnRate'
  | 'shadowErrors'
  | 'shadowDisagreement';

export interface CheckResult {
  readonly metric: CheckMetric;
  /** Counts behind the check (cumulative, last look), where it is a count check. */
  readonly stable?: ArmCounts;
  readonly candidate?: ArmCounts;
  /** The observed value compared: rate ratio, p99 ratio, p99 ms, JS distance, burn-rate ratio, fallbacks. */
  readonly effect: number | null;
  /** The policy's limit for `effect`. */
  readonly limit?: number;
  /** Anytime-valid lower confidence bound on the candidate / stable rate ratio (count tests). */
  readonly confidenceBound?: number;
  readonly eValue?: number;
  readonly pValue?: number;
  /** The level the e-value is compared against (1/alpha of this test). */
  readonly eThreshold?: number;
  /** Candidate samples the check needs before it can pass; present while inconclusive. */
  readonly samplesNeeded?: number;
  readonly decision: CheckDecision;
  readonly reasonCode: ReasonCode;
}

export interface CanaryVerdict {
  readonly decision: Decision;
  readonly reasonCode: ReasonCode;
  readonly checks: readonly CheckResult[];
}

const COUNT_TESTS = 3;

function rate(arm: ArmCounts): number {
  return arm.requests === 0 ? 0 : arm.bad / arm.requests;
}

/** Candidate rate / stable rate; null when either arm has no requests or stable has no bad events. */
export function rateRatio(look: CountLook): number | null {
  if (look.candidate.requests === 0 || look.stable.requests === 0 || look.stable.bad === 0) return null;
  return rate(look.candidate) / rate(look.stable);
}

const EMPTY_LOOK: CountLook = { candidate: { requests: 0, bad: 0 }, stable: { requests: 0, bad: 0 } };

/**
 * Largest θ0 ≥ 1 that the sequential test (at the same alpha) still rejects: an anytime-valid lower bound on the
 * rate ratio; 1 when even θ0 = 1 is not rejected (the bound is then "no evidence the candidate is worse").
 */
function lowerBound(looks: readonly CountLook[], alpha: number, mde: number): number {
  const rejects = (ratio: number): boolean =>
    rateRatioTest(looks, { alpha, nullRatio: ratio, alternatives: mixtureAlternatives(ratio, mde) }).rejected;
  if (!rejects(1)) return 1;
  let lo = 1;
  let hi = 2;
  while (rejects(hi) && hi < 1e6) [lo, hi] = [hi, hi * 2];
  for (let i = 0; i < 30; i++) {
    const mid = Math.sqrt(lo * hi);
    if (rejects(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

/**
 * Sequential rate check: fail on rejection of "candidate rate ≤ nullRatio × stable rate"; with `requirePower`,
 * inconclusive until the candidate has the samples needed to see the MDE.
 */
export function judgeRate(
  metric: 'errorRate' | 'slowShare' | 'invalidInput' | 'shadowErrors',
  looks: readonly CountLook[],
  policy: CanaryPolicy,
  options: {
    nullRatio: number;
    requirePower: boolean;
    candidateWeight: number;
    reasonCode: ReasonCode;
    /** This test's level. @default policy.alpha split over the canary's count tests */
    alpha?: number;
  },
): CheckResult {
  const alpha = options.alpha ?? policy.alpha / COUNT_TESTS;
  const alternatives = mixtureAlternatives(options.nullRatio, policy.minDetectableEffect);
  const result = rateRatioTest(looks, { alpha, nullRatio: options.nullRatio, alternatives, name: metric });
  const last = looks.at(-1) ?? EMPTY_LOOK;
  const base = {
    metric,
    stable: last.stable,
    candidate: last.candidate,
    effect: rateRatio(last),
    limit: options.nullRatio,
    eValue: result.maxEValue,
    pValue: result.pValue,
    eThreshold: 1 / alpha,
  };
  if (result.rejected) {
    return {
      ...base,
      confidenceBound: lowerBound(looks, alpha, policy.minDetectableEffect),
      decision: 'fail',
      reasonCode: options.reasonCode,
    };
  }
  if (!options.requirePower) return { ...base, confidenceBound: 1, decision: 'pass', reasonCode: 'HEALTHY' };
  const totalRequests = last.candidate.requests + last.stable.requests;
  const rho = totalRequests > 0 ? last.candidate.requests / totalRequests : options.candidateWeight;
  const needed =
    rho > 0 && rho < 1
      ? samplesNeeded({
          stableRate: Math.max(rate(last.stable), policy.baselineRateFloor),
          rho,
          nullRatio: options.nullRatio,
          detectRatio: alternatives[0]!.ratio,
          weight: alternatives[0]!.weight,
          alpha,
          power: policy.power,
        })
      : Number.POSITIVE_INFINITY;
  if (last.candidate.requests < needed) {
    return {
      ...base,
      confidenceBound: 1,
      samplesNeeded: Number.isFinite(needed) ? needed : Number.MAX_SAFE_INTEGER,
      decision: 'inconclusive',
      reasonCode: 'INSUFFICIENT_SAMPLES',
    };
  }
  return { ...base, confidenceBound: 1, samplesNeeded: needed, decision: 'pass', reasonCode: 'HEALTHY' };
}

/** Fails when the candidate answered any request from the fallback path. */
export function judgeFallbacks(candidateFallbacks: number): CheckResult {
  const fail = candidateFallbacks > 0;
  return {
    metric: 'fallbacks',
    effect: candidateFallbacks,
    limit: 0,
    decision: fail ? 'fail' : 'pass',
    reasonCode: fail ? 'FALLBACKS' : 'HEALTHY',
  };
}

/** p99 ratio and absolute ceiling; inconclusive below `minRequestsForP99` candidate requests in the window. */
export function judgeLatency(latency: CanaryObservation['latency'], policy: CanaryPolicy): CheckResult[] {
  const { candidateP99Ms: c, stableP99Ms: s, candidateRequests } = latency;
  const enough = candidateRequests >= policy.minRequestsForP99 && c !== null;
  const pending = { decision: 'inconclusive', reasonCode: 'INSUFFICIENT_SAMPLES' } as const;
  const samples = { samplesNeeded: policy.minRequestsForP99 };
  const ratio = c !== null && s !== null && s > 0 ? c / s : null;
  const ratioCheck: CheckResult = !enough
    ? { metric: 'p99Ratio', effect: ratio, limit: policy.maxP99Ratio, ...samples, ...pending }
    : ratio === null
      ? {
          metric: 'p99Ratio',
          effect: null,
          limit: policy.maxP99Ratio,
          decision: 'skipped',
          reasonCode: 'HEALTHY',
        }
      : {
          metric: 'p99Ratio',
          effect: ratio,
          limit: policy.maxP99Ratio,
          decision: ratio > policy.maxP99Ratio ? 'fail' : 'pass',
          reasonCode: ratio > policy.maxP99Ratio ? 'P99_RATIO' : 'HEALTHY',
        };
  const ceiling = policy.p99CeilingMs;
  const ceilingCheck: CheckResult =
    ceiling === undefined
      ? { metric: 'p99Ceiling', effect: c, decision: 'skipped', reasonCode: 'HEALTHY' }
      : !enough
        ? { metric: 'p99Ceiling', effect: c, limit: ceiling, ...samples, ...pending }
        : {
            metric: 'p99Ceiling',
            effect: c,
            limit: ceiling,
            decision: c! > ceiling ? 'fail' : 'pass',
            reasonCode: c! > ceiling ? 'P99_CEILING' : 'HEALTHY',
          };
  return [ratioCheck, ceilingCheck];
}

/**
 * Prediction shift guard, in two tiers:
 * - a shift the samples prove fails at any look: the G-test of homogeneity (./chi-square.ts) rejects at
 *   `predictionShiftAlpha` and the JS distance is at least `minPredictionShift` (so a 5 % flip of predictions is
 *   caught once traffic makes it significant, and a trivial but significant shift on huge traffic is not);
 * - otherwise the distance is judged against `maxPredictionShift`. Sampling noise alone gives JS divergence
 *   ≈ (k − 1)/(8·n·ln 2) bits for k bins and n effective samples (chi-square approximation), so this tier is
 *   inconclusive until that noise distance is at most half the limit: n_eff = n_c·n_s/(n_c + n_s) ≥
 *   (k − 1)/(2·ln 2·limit²).
 */
export function judgePredictionShift(
  bins: CanaryObservation['predictionBins'],
  policy: CanaryPolicy,
): CheckResult {
  const limit = policy.maxPredictionShift;
  if (bins === undefined)
    return { metric: 'predictionShift', effect: null, limit, decision: 'skipped', reasonCode: 'HEALTHY' };
  const nc = bins.candidate.reduce((s, v) => s + v, 0);
  const ns = bins.stable.reduce((s, v) => s + v, 0);
  const k = bins.stable.length;
  const neededEffective = Math.ceil((k - 1) / (2 * Math.LN2 * limit * limit));
  const effective = nc > 0 && ns > 0 ? (nc * ns) / (nc + ns) : 0;
  if (nc > 0 && ns > 0) {
    const distance = jsDistance(bins.candidate, bins.stable);
    const test = gTestHomogeneity(bins.candidate, bins.stable);
    if (test.pValue < policy.predictionShiftAlpha && distance >= policy.minPredictionShift) {
      return {
        metric: 'predictionShift',
        effect: distance,
        // The limit the distance is beyond: the hard one when it is, else the floor the test proved it above.
        limit: distance > limit ? limit : policy.minPredictionShift,
        pValue: test.pValue,
        decision: 'fail',
        reasonCode: 'PREDICTION_SHIFT',
      };
    }
  }
  if (effective < neededEffective) {
    // Candidate samples that reach neededEffective with stable's count held fixed.
    const neededCandidate =
      ns > neededEffective
        ? Math.ceil((neededEffective * ns) / (ns - neededEffective))
        : Number.MAX_SAFE_INTEGER;
    return {
      metric: 'predictionShift',
      effect: nc > 0 && ns > 0 ? jsDistance(bins.candidate, bins.stable) : null,
      limit,
      samplesNeeded: neededCandidate,
      decision: 'inconclusive',
      reasonCode: 'INSUFFICIENT_SAMPLES',
    };
  }
  const distance = jsDistance(bins.candidate, bins.stable);
  return {
    metric: 'predictionShift',
    effect: distance,
    limit,
    decision: distance > limit ? 'fail' : 'pass',
    reasonCode: distance > limit ? 'PREDICTION_SHIFT' : 'HEALTHY',
  };
}

/** SLO breach: the candidate burns more than `maxBurnRateRatio` × stable's rate and at least `minBurnRate`. */
export function judgeBurnRate(burn: CanaryObservation['burnRate'], policy: CanaryPolicy): CheckResult {
  if (burn === undefined)
    return { metric: 'burnRate', effect: null, decision: 'skipped', reasonCode: 'HEALTHY' };
  const ratio = burn.stable > 0 ? burn.candidate / burn.stable : burn.candidate > 0 ? Number.MAX_VALUE : 1;
  const fail = burn.candidate >= policy.minBurnRate && ratio > policy.maxBurnRateRatio;
  return {
    metric: 'burnRate',
    effect: ratio,
    limit: policy.maxBurnRateRatio,
    decision: fail ? 'fail' : 'pass',
    reasonCode: fail ? 'BURN_RATE' : 'HEALTHY',
  };
}

/**
 * One verdict for one look. Rollback when any check fails (the first in this order: fallbacks, error rate, slow
 * share, invalid input, p99 ratio, p99 ceiling, prediction shift, burn rate); otherwise at an interim look
 * `continue`; at the end of a bake `promote-step` when every check passes, `inconclusive` when some check still
 * needs samples, `exhausted` when it does and the step has used its extensions.
 *
 * @example
 * judgeCanary(resolveCanaryPolicy(), observation).decision // 'inconclusive' on the first bake at 10 req/min
 */
export function judgeCanary(policy: CanaryPolicy, observation: CanaryObservation): CanaryVerdict {
  const shared = { candidateWeight: observation.candidateWeight };
  const checks: CheckResult[] = [
    judgeFallbacks(observation.candidateFallbacks),
    judgeRate('errorRate', observation.errors, policy, {
      ...shared,
      nullRatio: 1,
      requirePower: true,
      reasonCode: 'ERROR_RATE_REGRESSION',
    }),
    judgeRate('slowShare', observation.slow, policy, {
      ...shared,
      nullRatio: 1,
      requirePower: true,
      reasonCode: 'SLOW_SHARE_REGRESSION',
    }),
    judgeRate('invalidInput', observation.invalidInput, policy, {
      ...shared,
      nullRatio: policy.maxInvalidInputRatio,
      requirePower: false,
      reasonCode: 'INVALID_INPUT',
    }),
    ...judgeLatency(observation.latency, policy),
    judgePredictionShift(observation.predictionBins, policy),
    judgeBurnRate(observation.burnRate, policy),
  ];
  const failed = checks.find((c) => c.decision === 'fail');
  if (failed) return { decision: 'rollback', reasonCode: failed.reasonCode, checks: checks };
  if (!observation.bakeComplete) return { decision: 'continue', reasonCode: 'BAKING', checks: checks };
  if (checks.some((c) => c.decision === 'inconclusive')) {
    return observation.extensions >= policy.maxExtensionsPerStep
      ? { decision: 'exhausted', reasonCode: 'EXTENSIONS_EXHAUSTED', checks: checks }
      : { decision: 'inconclusive', reasonCode: 'INSUFFICIENT_SAMPLES', checks: checks };
  }
  return { decision: 'promote-step', reasonCode: 'HEALTHY', checks: checks };
}
