/**
 * Metric gates: absolute minimums/maximums on the manifest's offline metrics, and the largest allowed regression
 * against the champion (the model's current stable version). Pure.
 */
import type { Gates } from './manifest';
import { ownValue } from './own';

/** The version currently serving as stable, with the metrics it was registered with. */
export interface Champion {
  readonly version: string;
  readonly metrics: Readonly<Record<string, number>>;
}

export interface GateResult {
  /** Why the candidate fails; empty when it passes. */
  readonly reasons: string[];
  /** Human summary of what was checked, for the validation result. */
  readonly checks: string[];
}

// Metrics are often computed in float and written as decimals; do not fail a gate on representation noise.
const EPSILON = 1e-12;

/**
 * @example
 * evaluateGates({ auc: 0.97 }, { minimums: { auc: 0.9 }, maximums: {}, maxRegression: { auc: 0.01 } },
 *   { version: '1.0.0', metrics: { auc: 0.985 } }) // → reasons: ['gates.maxRegression.auc: …']
 */
export function evaluateGates(
  metrics: Readonly<Record<string, number>>,
  gates: Gates,
  champion: Champion | undefined,
): GateResult {
  const reasons: string[] = [];
  const checks: string[] = [];

  for (const [metric, min] of Object.entries(gates.minimums)) {
    const value = ownValue(metrics, metric);
    if (value === undefined) reasons.push(`gates.minimums.${metric}: metrics has no "${metric}"; report it`);
    else if (value < min - EPSILON)
      reasons.push(`gates.minimums.${metric}: ${metric} is ${value}, below the minimum ${min}`);
    else checks.push(`${metric} ${value} >= ${min}`);
  }
  for (const [metric, max] of Object.entries(gates.maximums)) {
    const value = ownValue(metrics, metric);
    if (value === undefined) reasons.push(`gates.maximums.${metric}: metrics has no "${metric}"; report it`);
    else if (value > max + EPSILON)
      reasons.push(`gates.maximums.${metric}: ${metric} is ${value}, above the maximum ${max}`);
    else checks.push(`${metric} ${value} <= ${max}`);
  }

  const regressionMetrics = Object.entries(gates.maxRegression);
  if (regressionMetrics.length === 0) return { reasons, checks };
  if (!champion) {
    checks.push('no champion: regression gates skipped (first stable version of this model)');
    return { reasons, checks };
  }
  for (const [metric, limit] of regressionMetrics) {
    const value = ownValue(metrics, metric);
    const base = ownValue(champion.metrics, metric);
    if (value === undefined) {
      reasons.push(`gates.maxRegression.${metric}: metrics has no "${metric}"; report it`);
      continue;
    }
    if (base === undefined) {
      checks.push(`${metric}: champion ${champion.version} did not report it; regression gate skipped`);
      continue;
    }
    const lowerIsBetter = Object.hasOwn(gates.maximums, metric);
    const regression = lowerIsBetter ? value - base : base - value;
    const summary = `${metric} ${value} vs champion ${champion.version} ${base} (${lowerIsBetter ? 'lower' : 'higher'} is better)`;
    if (regression > limit + EPSILON) {
      reasons.push(
        `gates.maxRegression.${metric}: ${summary} regresses by ${round(regression)}, more than the allowed ${limit}`,
      );
    } else {
      checks.push(`${summary}: within the allowed regression ${limit}`);
    }
  }
  return { reasons, checks };
}

function round(v: number): number {
  return Number(v.toPrecision(6));
}
