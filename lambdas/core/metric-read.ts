/**
 * The rules every MetricsReader shares (CloudWatch in AWS, the local metric store in local mode): which requests are
 * valid, how the range is aligned to the period, and how points become a series with one slot per period. Both readers
 * call {@link planMetricRead} first, so the same request is refused with the same message by either.
 */
import type { MetricQuery, MetricReadRequest, MetricReadSeries, MetricStat } from './ports';

/** A request the readers refuse; the message names the field and the fix. */
export class MetricReadError extends Error {
  override name = 'MetricReadError';
}

/** CloudWatch query id rule: a lower-case letter, then letters, digits and `_`. */
export const METRIC_QUERY_ID = /^[a-z][a-zA-Z0-9_]{0,254}$/;
/** `Sum`, `SampleCount`, `Average`, `Minimum`, `Maximum`, or `pNN` / `pNN.NN` (0–100). */
const PERCENTILE = /^p(\d{1,3}(?:\.\d{1,10})?)$/;
const BASIC_STATS = new Set(['Sum', 'SampleCount', 'Average', 'Minimum', 'Maximum']);

/** CloudWatch's default MaxDatapoints per GetMetricData call; also the most periods one query may ask for here. */
export const MAX_PERIODS_PER_QUERY = 100_800;

/** CloudWatch keeps sub-minute (high-resolution) data for 3 hours, 1-minute data 15 days, 5-minute data 63 days. */
export const RESOLUTION_AGES = [
  { olderThanMs: 63 * 86_400_000, periodMultipleSeconds: 3600 },
  { olderThanMs: 15 * 86_400_000, periodMultipleSeconds: 300 },
  { olderThanMs: 3 * 3_600_000, periodMultipleSeconds: 60 },
] as const;

export type ParsedStat =
  | { readonly kind: 'Sum' | 'SampleCount' | 'Average' | 'Minimum' | 'Maximum' }
  | { readonly kind: 'percentile'; readonly percentile: number };

/** The statistic, or a MetricReadError naming the query. */
export function parseStat(stat: MetricStat | string, id: string): ParsedStat {
  if (BASIC_STATS.has(stat)) return { kind: stat as 'Sum' };
  const m = PERCENTILE.exec(stat);
  const p = m ? Number(m[1]) : Number.NaN;
  if (!(p >= 0 && p <= 100)) {
    throw new MetricReadError(
      `queries[${id}].stat "${stat}" is not supported; use Sum, SampleCount, Average, Minimum, Maximum or pNN (e.g. p99, p99.9)`,
    );
  }
  return { kind: 'percentile', percentile: p };
}

/** A validated request: the aligned range and the grid of period starts every series reports. */
export interface MetricReadPlan {
  readonly queries: readonly MetricQuery[];
  readonly stats: readonly ParsedStat[];
  readonly periodMs: number;
  /** `startMs` aligned down to a multiple of the period (epoch-aligned). */
  readonly startMs: number;
  /** `endMs` aligned up to a multiple of the period. */
  readonly endMs: number;
  readonly periods: number;
}

/**
 * Validates a request and aligns its range: start down, end up, to multiples of the period since the epoch.
 * `nowMs` applies CloudWatch's retention rule (a period finer than the data kept at the start's age returns nothing in
 * CloudWatch, so it is refused here instead of silently reading as missing).
 */
export function planMetricRead(request: MetricReadRequest, nowMs: number): MetricReadPlan {
  // The request may come straight from a JSON body (the local POST /metrics/read), so its shape is not trusted.
  if (typeof request !== 'object' || request === null || Array.isArray(request)) {
    throw new MetricReadError('the request must be an object { queries, startMs, endMs, periodSeconds }');
  }
  const { queries, startMs, endMs, periodSeconds } = request;
  if (!Array.isArray(queries) || queries.length === 0) {
    throw new MetricReadError('queries is empty; pass at least one { id, metricName, dimensions, stat }');
  }
  if (
    !Number.isInteger(periodSeconds) ||
    periodSeconds < 1 ||
    !([1, 5, 10, 20, 30].includes(periodSeconds) || periodSeconds % 60 === 0)
  ) {
    throw new MetricReadError(
      `periodSeconds ${String(periodSeconds)} is not a CloudWatch period; use 1, 5, 10, 20, 30 or a multiple of 60`,
    );
  }
  if (!Number.isFinite(startMs) || !Number.isFinite(endMs) || !(startMs < endMs)) {
    throw new MetricReadError(
      `startMs ${String(startMs)} must be a finite epoch millisecond before endMs ${String(endMs)}`,
    );
  }
  const periodMs = periodSeconds * 1000;
  const alignedStart = Math.floor(startMs / periodMs) * periodMs;
  const alignedEnd = Math.ceil(endMs / periodMs) * periodMs;
  const periods = (alignedEnd - alignedStart) / periodMs;
  if (periods > MAX_PERIODS_PER_QUERY) {
    throw new MetricReadError(
      `the range holds ${periods} periods of ${periodSeconds} s, more than ${MAX_PERIODS_PER_QUERY}; narrow startMs..endMs or raise periodSeconds`,
    );
  }
  for (const rule of RESOLUTION_AGES) {
    if (nowMs - alignedStart > rule.olderThanMs && periodSeconds % rule.periodMultipleSeconds !== 0) {
      throw new MetricReadError(
        `periodSeconds ${periodSeconds} is finer than the data kept ${Math.round(rule.olderThanMs / 3_600_000)} h back; ` +
          `for a start that old use a multiple of ${rule.periodMultipleSeconds}`,
      );
    }
  }
  const seen = new Set<string>();
  const stats = queries.map((q, i) => {
    if (typeof q?.id !== 'string' || !METRIC_QUERY_ID.test(q.id)) {
      throw new MetricReadError(
        `queries[${i}].id "${String(q?.id)}" must start with a lower-case letter, then letters, digits or "_"`,
      );
    }
    if (seen.has(q.id))
      throw new MetricReadError(`queries[${i}].id "${q.id}" is used twice; ids must be unique`);
    seen.add(q.id);
    if (typeof q.metricName !== 'string' || q.metricName.length === 0) {
      throw new MetricReadError(`queries[${q.id}].metricName is empty; name the metric (e.g. Requests)`);
    }
    if (typeof q.dimensions !== 'object' || q.dimensions === null) {
      throw new MetricReadError(`queries[${q.id}].dimensions must be an object of name → value`);
    }
    for (const [name, value] of Object.entries(q.dimensions)) {
      if (typeof value !== 'string' || value.length === 0) {
        throw new MetricReadError(`queries[${q.id}].dimensions.${name} must be a non-empty string`);
      }
    }
    return parseStat(q.stat, q.id);
  });
  return { queries, stats, periodMs, startMs: alignedStart, endMs: alignedEnd, periods };
}

/** The period starts of a plan, ascending. */
export function periodStarts(plan: MetricReadPlan): number[] {
  const out = new Array<number>(plan.periods);
  for (let i = 0; i < plan.periods; i++) out[i] = plan.startMs + i * plan.periodMs;
  return out;
}

/**
 * One series on the plan's grid from points keyed by timestamp: a point belongs to the period it falls in; periods
 * without a point are `null` (never zero). Points outside [start, end) are dropped.
 */
export function seriesOnGrid(
  plan: MetricReadPlan,
  id: string,
  points: Iterable<readonly [number, number]>,
): MetricReadSeries {
  const values = new Array<number | null>(plan.periods).fill(null);
  for (const [t, v] of points) {
    if (t < plan.startMs || t >= plan.endMs || !Number.isFinite(v)) continue;
    const i = Math.floor((t - plan.startMs) / plan.periodMs);
    if (values[i] === null) values[i] = v;
  }
  return { id, timestamps: periodStarts(plan), values };
}
