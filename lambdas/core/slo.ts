/**
 * Error-budget arithmetic for a model's SLOs: burn rates, multiwindow alarm thresholds and budget remaining. Pure;
 * the CloudWatch alarms, the local alarm evaluator, `modelops status` and the rollout gate all use it (DESIGN.md
 * decision 6).
 *
 * Both SLIs are ratios of counts the inference handler emits per request: availability = 1 − Errors/Requests;
 * latency = 1 − SlowRequests/Requests, where SlowRequests counts answered requests slower than the SLO's threshold.
 * A count (rather than CloudWatch's percentile-rank statistic) keeps the latency SLI exact, mergeable across windows
 * and instances, computable from the local metric store, and usable by the canary judge's tests on counts.
 */

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

/** One objective: the share of requests that must be good over the SLO period. */
export interface SloObjective {
  readonly sli: 'availability' | 'latency';
  /** e.g. 0.999: at most 0.1 % of requests may be bad over the period. */
  readonly target: number;
  /** Latency SLI only: a request answered in more than this many milliseconds is bad. */
  readonly thresholdMs?: number;
}

/** One tier of the SRE workbook's multiwindow, multi-burn-rate alerting (chapter 5, "Alerting on SLOs"). */
export interface BurnRateTier {
  readonly severity: 'page' | 'ticket';
  /** Share of the period's error budget that, spent within `longWindowMs`, fires this tier. */
  readonly budgetShare: number;
  readonly longWindowMs: number;
  /** A twelfth of the long window: the alert resets soon after the burn stops. */
  readonly shortWindowMs: number;
}

/**
 * The workbook's recommended tiers for a 30-day SLO: page on 2 % of the budget in 1 h (burn rate 14.4) or 5 % in 6 h
 * (6), ticket on 10 % in 3 days (1); each also requires its short window to burn at the same rate.
 */
export const SRE_WORKBOOK_TIERS: readonly BurnRateTier[] = [
  { severity: 'page', budgetShare: 0.02, longWindowMs: HOUR_MS, shortWindowMs: 5 * 60_000 },
  { severity: 'page', budgetShare: 0.05, longWindowMs: 6 * HOUR_MS, shortWindowMs: 30 * 60_000 },
  { severity: 'ticket', budgetShare: 0.1, longWindowMs: 3 * DAY_MS, shortWindowMs: 6 * HOUR_MS },
];

export const DEFAULT_SLO_PERIOD_MS = 30 * DAY_MS;

/** The rate at which spending `budgetShare` of the budget within `windowMs` consumes a budget meant for `periodMs`. */
export function burnRateForBudgetShare(budgetShare: number, windowMs: number, periodMs: number): number {
  return (budgetShare * periodMs) / windowMs;
}

/** How fast an observed bad-request ratio spends the budget: 1 spends exactly the whole budget over the period. */
export function burnRate(badRatio: number, target: number): number {
  return badRatio / (1 - target);
}

/** The bad-request ratio at which the budget burns at `rate`: rate × (1 − target). */
export function badRatioThreshold(rate: number, target: number): number {
  return rate * (1 - target);
}

/** Counts over one window: requests and the bad ones among them (errors, or slow requests). */
export interface WindowCounts {
  readonly total: number;
  readonly bad: number;
}

export type BudgetStatus =
  | {
      readonly status: 'ok' | 'exhausted';
      /** 1 = untouched, 0 = spent, negative = overspent. */
      readonly remaining: number;
      readonly badRatio: number;
      readonly total: number;
    }
  /** No request in the period: nothing is known about the budget, which is reported as such, never as full. */
  | { readonly status: 'no-data'; readonly total: 0 };

/** Budget remaining over the SLO period, from the period's counts. */
export function budgetRemaining(period: WindowCounts, target: number): BudgetStatus {
  if (period.total <= 0) return { status: 'no-data', total: 0 };
  const badRatio = period.bad / period.total;
  const remaining = 1 - burnRate(badRatio, target);
  return { status: remaining > 0 ? 'ok' : 'exhausted', remaining, badRatio, total: period.total };
}

/** A tier resolved for one objective and period: the windows and the bad-ratio threshold both must exceed. */
export interface BurnRateAlarmRule extends BurnRateTier {
  readonly burnRate: number;
  readonly badRatioThreshold: number;
}

/**
 * The burn-rate alarm rules of an objective. The tiers' budget shares are kept and their burn rates recomputed for
 * the period, so a 7-day SLO pages on the same share of its (smaller) budget as a 30-day one.
 * Throws RangeError naming the bad value.
 */
export function burnRateAlarmRules(
  objective: SloObjective,
  periodMs: number = DEFAULT_SLO_PERIOD_MS,
  tiers: readonly BurnRateTier[] = SRE_WORKBOOK_TIERS,
): BurnRateAlarmRule[] {
  const issues = objectiveIssues(objective);
  if (!(periodMs >= DAY_MS)) issues.push(`the SLO period must be at least 1 day, got ${periodMs} ms`);
  if (issues.length > 0) throw new RangeError(issues.join('; '));
  return tiers.map((tier) => {
    if (tier.longWindowMs > periodMs) {
      throw new RangeError(
        `the ${tier.severity} tier's long window (${tier.longWindowMs} ms) is longer than the SLO period (${periodMs} ms)`,
      );
    }
    const rate = burnRateForBudgetShare(tier.budgetShare, tier.longWindowMs, periodMs);
    return { ...tier, burnRate: rate, badRatioThreshold: badRatioThreshold(rate, objective.target) };
  });
}

/** Why an objective cannot be used; empty when it can. */
export function objectiveIssues(objective: SloObjective): string[] {
  const issues: string[] = [];
  if (!(objective.target > 0 && objective.target < 1)) {
    issues.push(`target must be between 0 and 1 (exclusive), e.g. 0.999; got ${objective.target}`);
  }
  if (objective.sli === 'latency') {
    const t = objective.thresholdMs;
    if (t === undefined || !(t > 0) || !Number.isFinite(t)) {
      issues.push(`a latency objective needs thresholdMs > 0 (milliseconds), got ${t}`);
    }
  }
  return issues;
}

export type TierVerdict = 'firing' | 'ok' | 'insufficient-data';

/**
 * Whether a rule fires: both windows' bad ratios strictly above the threshold. A window with no request is
 * insufficient data (never "ok"), so an outage that stops all traffic is not reported as healthy.
 */
export function evaluateBurnRateRule(
  rule: Pick<BurnRateAlarmRule, 'badRatioThreshold'>,
  longWindow: WindowCounts,
  shortWindow: WindowCounts,
): TierVerdict {
  if (longWindow.total <= 0 || shortWindow.total <= 0) return 'insufficient-data';
  const above = (w: WindowCounts) => w.bad / w.total > rule.badRatioThreshold;
  return above(longWindow) && above(shortWindow) ? 'firing' : 'ok';
}

/**
 * CloudWatch's limits on one alarm's evaluation range (PutMetricAlarm): the period is 10, 20, 30 s or a multiple of
 * 60 s; period × evaluation periods ≤ 7 days, and ≤ 1 day when the period is under an hour. A burn-rate window is
 * one period of that length (sums over the window, evaluated once), so each window must fit on its own.
 */
export function cloudWatchWindowIssues(windowMs: number, evaluationPeriods = 1): string[] {
  const seconds = windowMs / 1000;
  const issues: string[] = [];
  if (!Number.isInteger(seconds) || !([10, 20, 30].includes(seconds) || seconds % 60 === 0)) {
    issues.push(`a CloudWatch period must be 10, 20, 30 s or a multiple of 60 s, got ${seconds} s`);
  }
  const range = seconds * evaluationPeriods;
  const limit = seconds < 3600 ? 86_400 : 604_800;
  if (range > limit) {
    issues.push(
      `period × evaluation periods is ${range} s, over CloudWatch's ${limit} s for a ${seconds < 3600 ? 'sub-hour' : '1 h or longer'} period`,
    );
  }
  return issues;
}
