/**
 * The judge of the shadow phase (docs/rollout.md "Shadow phase"): before any client is answered by the candidate,
 * every request is also run on it (routing mode `shadow`, lambdas/inference/shadow-hook.ts) and only the comparison
 * is recorded under the candidate's version: `ShadowDisagreement` (0 or 1 per compared request) and `ShadowErrors`
 * (the candidate failed where stable answered). Pure.
 *
 * Two always-valid tests, each at half the phase's α, so the phase's false-rollback rate is bounded by α however many
 * looks it takes (the canary after it has its own α):
 *
 * - Errors: the candidate's failures per shadowed request against stable's errors per request, with the canary's
 *   two-sample test (lambdas/core/sequential-test.ts). Both arms saw the same requests, so the rate ratio compares
 *   like with like.
 * - Disagreement: H0 "the candidate disagrees with stable on at most `maxShadowDisagreement` of the requests".
 *   Disagreements are Bernoulli(p) per compared request; for alternatives p_k > p0 the likelihood ratio
 *   (p_k/p0)^S ((1 − p_k)/(1 − p0))^(n − S) of S disagreements in n comparisons is a nonnegative supermartingale for
 *   every p ≤ p0, and so is a fixed-weight mixture over k; by Ville's inequality rejecting when it reaches 1/α keeps
 *   the type-I error ≤ α for any number of looks. A pass needs the comparisons required to see p0·(1 + mde) with the
 *   policy's power, as the canary's rate checks do: never a pass on no data.
 */
import {
  judgeRate,
  type CanaryPolicy,
  type CanaryVerdict,
  type CheckResult,
  type CountLook,
} from './canary-judge';
import { mixtureAlternatives, normalQuantile } from './sequential-test';

/** Cumulative counts since the shadow phase started, one per look. */
export interface ShadowLook {
  /** Requests the candidate answered in shadow (the SampleCount of ShadowDisagreement). */
  readonly compared: number;
  /** Of those, answers that differed from stable's beyond the shadow tolerance. */
  readonly disagreed: number;
  /** Requests the candidate failed in shadow (ShadowErrors). */
  readonly candidateErrors: number;
  /** Stable's requests and errors over the same window. */
  readonly stableRequests: number;
  readonly stableErrors: number;
}

export interface ShadowPolicy {
  /** Largest tolerated share of compared requests on which the candidate's answer differs from stable's. */
  readonly maxShadowDisagreement: number;
}

export interface ShadowObservation {
  readonly looks: readonly ShadowLook[];
  /** Extensions of the phase's bake so far (inconclusive looks). */
  readonly extensions: number;
}

/** The tests of the phase share its α: each runs at α / SHADOW_TESTS. */
const SHADOW_TESTS = 2;

export class ShadowSeriesError extends Error {
  override name = 'ShadowSeriesError';
}

function checkLooks(looks: readonly ShadowLook[]): void {
  let previous: ShadowLook | undefined;
  for (const [i, look] of looks.entries()) {
    const fields = Object.entries(look) as [keyof ShadowLook, number][];
    for (const [field, value] of fields) {
      if (!Number.isInteger(value) || value < 0) {
        throw new ShadowSeriesError(`looks[${i}].${field} must be a whole number >= 0, got ${value}`);
      }
      if (previous !== undefined && value < previous[field]) {
        throw new ShadowSeriesError(
          `looks[${i}].${field} decreased (${previous[field]} -> ${value}): counts are cumulative`,
        );
      }
    }
    if (look.disagreed > look.compared) {
      throw new ShadowSeriesError(
        `looks[${i}].disagreed (${look.disagreed}) exceeds compared (${look.compared})`,
      );
    }
    if (look.stableErrors > look.stableRequests) {
      throw new ShadowSeriesError(`looks[${i}].stableErrors exceeds stableRequests`);
    }
    previous = look;
  }
}

/** log of the mixture likelihood ratio for S disagreements in n comparisons (log-sum-exp for large n). */
function logMixture(
  alternatives: readonly { p: number; weight: number }[],
  p0: number,
  s: number,
  n: number,
) {
  const terms = alternatives.map(
    ({ p, weight }) => Math.log(weight) + s * Math.log(p / p0) + (n - s) * Math.log((1 - p) / (1 - p0)),
  );
  const top = Math.max(...terms);
  return top + Math.log(terms.reduce((a, t) => a + Math.exp(t - top), 0));
}

/** Comparisons after which the mixture reaches 1/α with probability ≈ power if the share were exactly p1. */
export function comparisonsNeeded(input: {
  readonly p0: number;
  readonly p1: number;
  readonly weight: number;
  readonly alpha: number;
  readonly power: number;
}): number {
  const { p0, p1, weight, alpha, power } = input;
  const up = Math.log(p1 / p0);
  const down = Math.log((1 - p1) / (1 - p0));
  const D = p1 * up + (1 - p1) * down;
  const V = p1 * up * up + (1 - p1) * down * down;
  const c = Math.log(1 / (alpha * weight));
  const z = normalQuantile(power);
  const root = (z * Math.sqrt(V) + Math.sqrt(z * z * V + 4 * D * c)) / (2 * D);
  return Math.ceil(root * root);
}

/** The disagreement check over the looks so far (the e-process is the largest value seen at any look). */
export function judgeDisagreement(
  looks: readonly ShadowLook[],
  policy: Pick<CanaryPolicy, 'alpha' | 'minDetectableEffect' | 'power'> & ShadowPolicy,
): CheckResult {
  const p0 = policy.maxShadowDisagreement;
  const alpha = policy.alpha / SHADOW_TESTS;
  const alternatives = mixtureAlternatives(1, policy.minDetectableEffect)
    .map((a) => ({ p: p0 * a.ratio, weight: a.weight }))
    .filter((a) => a.p < 1);
  const last = looks.at(-1);
  const n = last?.compared ?? 0;
  const s = last?.disagreed ?? 0;
  const base = {
    metric: 'shadowDisagreement' as const,
    candidate: { requests: n, bad: s },
    effect: n > 0 ? s / n : null,
    limit: p0,
    eThreshold: 1 / alpha,
  };
  if (alternatives.length === 0) {
    // p0·(1 + mde) ≥ 1: no disagreement share is "worse than allowed" by the MDE; only an error check remains.
    return { ...base, eValue: 1, decision: 'pass', reasonCode: 'HEALTHY' };
  }
  const total = alternatives.reduce((a, x) => a + x.weight, 0);
  const normalized = alternatives.map((a) => ({ ...a, weight: a.weight / total }));
  const logE = Math.max(0, ...looks.map((l) => logMixture(normalized, p0, l.disagreed, l.compared)));
  const eValue = Math.exp(logE);
  if (logE >= Math.log(1 / alpha)) {
    return {
      ...base,
      eValue,
      pValue: Math.min(1, 1 / eValue),
      decision: 'fail',
      reasonCode: 'SHADOW_DISAGREEMENT',
    };
  }
  const needed = comparisonsNeeded({
    p0,
    p1: normalized[0]!.p,
    weight: normalized[0]!.weight,
    alpha,
    power: policy.power,
  });
  return n < needed
    ? { ...base, eValue, samplesNeeded: needed, decision: 'inconclusive', reasonCode: 'INSUFFICIENT_SAMPLES' }
    : { ...base, eValue, samplesNeeded: needed, decision: 'pass', reasonCode: 'HEALTHY' };
}

/**
 * One verdict of the shadow phase: `rollback` when either check fails, `promote-step` (go on to the canary) when both
 * pass, else `inconclusive` (extend the bake) or `exhausted` after `maxExtensionsPerStep` extensions.
 */
export function judgeShadow(
  policy: CanaryPolicy & ShadowPolicy,
  observation: ShadowObservation,
): CanaryVerdict {
  checkLooks(observation.looks);
  const errorLooks: CountLook[] = observation.looks.map((l) => ({
    candidate: { requests: l.compared + l.candidateErrors, bad: l.candidateErrors },
    stable: { requests: l.stableRequests, bad: l.stableErrors },
  }));
  const checks: CheckResult[] = [
    judgeRate('shadowErrors', errorLooks, policy, {
      nullRatio: 1,
      requirePower: true,
      candidateWeight: 0.5,
      reasonCode: 'SHADOW_ERRORS',
      alpha: policy.alpha / SHADOW_TESTS,
    }),
    judgeDisagreement(observation.looks, policy),
  ];
  const failed = checks.find((c) => c.decision === 'fail');
  if (failed) return { decision: 'rollback', reasonCode: failed.reasonCode, checks };
  if (checks.some((c) => c.decision === 'inconclusive')) {
    return observation.extensions >= policy.maxExtensionsPerStep
      ? { decision: 'exhausted', reasonCode: 'EXTENSIONS_EXHAUSTED', checks }
      : { decision: 'inconclusive', reasonCode: 'INSUFFICIENT_SAMPLES', checks };
  }
  return { decision: 'promote-step', reasonCode: 'HEALTHY', checks };
}
