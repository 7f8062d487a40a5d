/**
 * The error-budget input of StartRollout (DESIGN.md decision 6; docs/rollout.md "Error-budget gate"): read the model's
 * budget over its SLO period through the MetricsReader port, refuse a canary while it is exhausted, and cap the first
 * step so that a fully broken candidate could burn at most `maxFirstStepBudgetShare` of what remains before the first
 * analysis. Pure apart from the reader; the budget arithmetic is slo.ts's (`budgetRemaining`).
 *
 * The budget is the MODEL's ({Model} series), not the stable version's: the SLO is what clients saw whichever version
 * answered, the burn-rate alarms and `modelops status` measure the same series, and budget spent by earlier canaries
 * (or by a stable version since replaced) is spent all the same.
 */
import { INFERENCE_METRICS, METRIC_DIMENSIONS, type MetricQuery, type MetricsReader } from './ports';
import { budgetRemaining, type BudgetStatus } from './slo';

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

/** The model's SLO as config `models[].slo` resolves it (lib/config.ts; lambdas/ does not import lib/). */
export interface BudgetSlo {
  readonly periodDays: number;
  readonly availability: { readonly target: number };
  readonly latency: { readonly target: number; readonly thresholdMs: number };
}

/** A version released past the gate, and why (audited as ROLLOUT_FORCED). */
export interface ForcedRelease {
  readonly version: string;
  readonly reason: string;
}

/** `models[].canary.budget` with the model's SLO (rolloutPoliciesEnvValue adds `slo`). */
export interface RolloutBudgetPolicy {
  /** Refuse a canary while any objective's budget is exhausted, and cap the first step. Off: nothing is read. */
  readonly gate: boolean;
  /** Share of the remaining budget a fully broken candidate may burn at the first step before its analysis. */
  readonly maxFirstStepBudgetShare: number;
  readonly force: readonly ForcedRelease[];
  readonly slo: BudgetSlo;
}

/**
 * Smallest first-step weight routed. A cap below it is refused rather than floored: a floor would break the promise
 * that a broken candidate burns at most the policy's share, and a canary this small rarely gets the samples the judge
 * needs anyway.
 */
export const MIN_FIRST_STEP_WEIGHT = 0.001;
/**
 * The exposure counted for the first step is the bake, but at least one metric period: a look reads whole minutes,
 * so even `bakeSeconds: 0` leaves the candidate routed for about a minute before any analysis can act on it.
 */
export const MIN_EXPOSURE_SECONDS = 60;
/** The recent window the traffic rate over the bake is predicted from. */
export const RECENT_WINDOW_MS = HOUR_MS;
/** The period is read in hours: precise to an hour over up to 90 days, well inside GetMetricData's limits. */
const PERIOD_READ_SECONDS = 3600;

export interface ObjectiveBudget {
  readonly sli: 'availability' | 'latency';
  readonly target: number;
  readonly status: BudgetStatus['status'];
  /** 1 = untouched, 0 = spent, negative = overspent; null without data. */
  readonly remaining: number | null;
  /** Bad requests in the period (errors, or slow requests). */
  readonly bad: number;
  /** What the rest of the budget allows: remaining × (1 − target) × the period's requests; null without data. */
  readonly remainingBadRequests: number | null;
}

/** The model's budget at one moment, as StartRollout reads it. */
export interface ModelBudget {
  readonly periodDays: number;
  /** Requests in the period, model-wide. 0: no traffic history (a new model, a fresh local metric store). */
  readonly requests: number;
  /**
   * Requests per second expected over the bake: the larger of the last hour's rate and the period's mean, so an
   * hour without traffic does not predict a silent bake. null without traffic history.
   */
  readonly requestRate: number | null;
  /** The model had traffic on the period's first day: its requests are the whole period's. */
  readonly historyCoversPeriod: boolean;
  /**
   * The requests the period's budget is measured on: the observed ones; for a model younger than its period, the
   * period at `requestRate` (its budget is what a full period at today's traffic allows, not the few hours seen).
   */
  readonly periodRequests: number;
  readonly objectives: readonly ObjectiveBudget[];
}

/**
 * Reads the model's period and recent traffic (two GetMetricData calls of Sum on {Model}) and computes each
 * objective's budget with slo.ts.
 */
export async function readModelBudget(
  reader: MetricsReader,
  model: string,
  slo: BudgetSlo,
  nowMs: number,
): Promise<ModelBudget> {
  const dimensions = { [METRIC_DIMENSIONS.model]: model };
  const sum = (id: string, metricName: string): MetricQuery => ({ id, metricName, dimensions, stat: 'Sum' });
  const periodMs = slo.periodDays * DAY_MS;
  const [period, recent] = await Promise.all([
    reader.read({
      queries: [
        sum('total', INFERENCE_METRICS.requests),
        sum('errors', INFERENCE_METRICS.errors),
        sum('slow', INFERENCE_METRICS.slowRequests),
      ],
      startMs: nowMs - periodMs,
      endMs: nowMs,
      periodSeconds: PERIOD_READ_SECONDS,
    }),
    reader.read({
      queries: [sum('recent', INFERENCE_METRICS.requests)],
      startMs: nowMs - RECENT_WINDOW_MS,
      endMs: nowMs,
      periodSeconds: 60,
    }),
  ]);
  const values = (series: typeof period, id: string) => series.find((s) => s.id === id)?.values ?? [];
  const total = (series: typeof period, id: string) =>
    values(series, id).reduce<number>((a, v) => a + (v ?? 0), 0);
  const requests = total(period, 'total');
  const firstDay = values(period, 'total').slice(0, DAY_MS / (PERIOD_READ_SECONDS * 1000));
  const historyCoversPeriod = firstDay.some((v) => v !== null && v > 0);
  const requestRate =
    requests > 0
      ? Math.max(total(recent, 'recent') / (RECENT_WINDOW_MS / 1000), requests / (periodMs / 1000))
      : null;
  // requestRate ≥ the period's mean, so the extrapolation never counts fewer requests than were observed.
  const periodRequests =
    requestRate === null || historyCoversPeriod ? requests : (requestRate * periodMs) / 1000;
  const objective = (
    sli: ObjectiveBudget['sli'],
    target: number,
    badId: 'errors' | 'slow',
  ): ObjectiveBudget => {
    const bad = total(period, badId);
    const status = budgetRemaining({ total: requests, bad }, target);
    const remaining = status.status === 'no-data' ? null : status.remaining;
    return {
      sli,
      target,
      status: status.status,
      remaining,
      bad,
      remainingBadRequests: remaining === null ? null : remaining * (1 - target) * periodRequests,
    };
  };
  return {
    periodDays: slo.periodDays,
    requests,
    requestRate,
    historyCoversPeriod,
    periodRequests,
    objectives: [
      objective('availability', slo.availability.target, 'errors'),
      objective('latency', slo.latency.target, 'slow'),
    ],
  };
}

/** What StartRollout does with the budget. */
export type FirstStepPlan =
  | {
      readonly outcome: 'route';
      readonly weight: number;
      /** The largest affordable first-step weight; null when nothing caps it (no traffic history). */
      readonly cap: number | null;
      /** `steps[0]`, when the cap lowered it. */
      readonly cappedFrom?: number;
      readonly note: string;
    }
  | {
      readonly outcome: 'refuse';
      /** EXHAUSTED: an objective's budget is <= 0. TOO_LOW: the cap is below MIN_FIRST_STEP_WEIGHT. */
      readonly code: 'BUDGET_EXHAUSTED' | 'BUDGET_TOO_LOW';
      readonly objective: ObjectiveBudget;
      readonly cap?: number;
      readonly reason: string;
    };

const percent = (share: number) => `${Number((share * 100).toPrecision(4))} %`;

/**
 * The first step under the budget. A fully broken candidate at weight w fails (or is slow for) w × rate × exposure
 * requests before the first analysis; each objective allows `maxFirstStepBudgetShare × remainingBadRequests` of them,
 * so w ≤ share × remainingBadRequests / (rate × exposure), the smallest over the objectives, rounded down to 0.01 %.
 *
 * @example
 * // 10 req/s, 30-day history, target 0.999, half the budget left, bake 600 s, share 0.1:
 * // 0.1 × 0.5 × 0.001 × 25,920,000 / (10 × 600) = 0.216: a first step of 0.25 is capped to 0.216.
 */
export function firstStepPlan(
  budget: ModelBudget,
  policy: {
    readonly steps: readonly number[];
    readonly bakeSeconds: number;
    readonly maxFirstStepBudgetShare: number;
  },
  release: { readonly model: string; readonly version: string },
): FirstStepPlan {
  const first = policy.steps[0]!;
  const forceHint =
    `to release anyway, add { version: "${release.version}", reason: "…" } to the ${release.model} model's ` +
    'canary.budget.force in modelops.config.ts, deploy, and start the release again';
  const exhausted = budget.objectives.find((o) => o.status === 'exhausted');
  if (exhausted !== undefined) {
    return {
      outcome: 'refuse',
      code: 'BUDGET_EXHAUSTED',
      objective: exhausted,
      reason:
        `the ${exhausted.sli} error budget of ${release.model} is exhausted: ${percent(exhausted.remaining!)} remaining ` +
        `over the last ${budget.periodDays} days (${exhausted.bad} bad of ${budget.requests} requests, target ` +
        `${exhausted.target}); no canary starts until it recovers; ${forceHint}`,
    };
  }
  if (budget.requestRate === null) {
    return {
      outcome: 'route',
      weight: first,
      cap: null,
      note:
        `no request of ${release.model} in the last ${budget.periodDays} days (a new model or a fresh metric store): ` +
        'the budget is unknown, not exhausted, and the first step is not capped',
    };
  }
  const rate = budget.requestRate;
  const exposureSeconds = Math.max(policy.bakeSeconds, MIN_EXPOSURE_SECONDS);
  let cap = Number.POSITIVE_INFINITY;
  let binding = budget.objectives[0]!;
  for (const o of budget.objectives) {
    const c = (policy.maxFirstStepBudgetShare * o.remainingBadRequests!) / (rate * exposureSeconds);
    if (c < cap) [cap, binding] = [c, o];
  }
  // Down to 0.01 % (the epsilon keeps 0.0072 from flooring to 0.0071 through a float's last digit).
  const rounded = Math.floor(cap * 10_000 + 1e-9) / 10_000;
  const basis =
    `${binding.sli}: ${percent(binding.remaining!)} of the budget left (~${Math.floor(binding.remainingBadRequests!)} ` +
    `bad requests), ${Number(rate.toPrecision(3))} req/s expected over ${exposureSeconds} s` +
    (budget.historyCoversPeriod ? '' : `, budget extrapolated to ${budget.periodDays} days at that rate`);
  if (rounded >= first) {
    return { outcome: 'route', weight: first, cap: rounded, note: `first step within the cap (${basis})` };
  }
  if (rounded < MIN_FIRST_STEP_WEIGHT) {
    return {
      outcome: 'refuse',
      code: 'BUDGET_TOO_LOW',
      objective: binding,
      cap: rounded,
      reason:
        `the ${binding.sli} error budget of ${release.model} is nearly exhausted: even a first step of ` +
        `${percent(MIN_FIRST_STEP_WEIGHT)} could spend more than canary.budget.maxFirstStepBudgetShare ` +
        `(${percent(policy.maxFirstStepBudgetShare)}) of what remains before the first analysis (${basis}); wait for ` +
        `it to recover, shorten canary.bakeSeconds or raise maxFirstStepBudgetShare; ${forceHint}`,
    };
  }
  return {
    outcome: 'route',
    weight: rounded,
    cap: rounded,
    cappedFrom: first,
    note: `first step capped from ${first} to ${rounded} (${basis})`,
  };
}

/** The budget as the audit log and the execution carry it (JSON- and DynamoDB-safe: no undefined, no Infinity). */
export function budgetSummary(budget: ModelBudget, plan: FirstStepPlan): Record<string, unknown> {
  return {
    periodDays: budget.periodDays,
    requests: budget.requests,
    periodRequests: Math.round(budget.periodRequests),
    requestRate: budget.requestRate,
    historyCoversPeriod: budget.historyCoversPeriod,
    objectives: budget.objectives.map((o) => ({
      sli: o.sli,
      target: o.target,
      status: o.status,
      remaining: o.remaining,
      bad: o.bad,
    })),
    firstStepCap: plan.cap ?? null,
    note: plan.outcome === 'route' ? plan.note : plan.reason,
  };
}
