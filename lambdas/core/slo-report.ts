/**
 * A model's SLO report for `modelops status`: budget remaining over the period, burn rates over the SRE windows and
 * the alarms that are firing, all read through the MetricsReader port (CloudWatch in AWS, the local metric store in
 * local mode) and computed by slo.ts and the alarm rules the stack deploys.
 */
import { evaluateAlarmRules, type AlarmState } from './alarm-evaluation';
import { alarmRules, type AlarmRulesInput } from './alarm-rules';
import { INFERENCE_METRICS, METRIC_DIMENSIONS, type MetricsReader } from './ports';
import { budgetRemaining, burnRate, type BudgetStatus } from './slo';

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

/** Windows shown: the short and long windows of the two page tiers. */
export const REPORT_WINDOWS_MS = [5 * MINUTE_MS, HOUR_MS, 6 * HOUR_MS] as const;

export interface ObjectiveReport {
  readonly sli: 'availability' | 'latency';
  readonly target: number;
  readonly thresholdMs?: number;
  readonly budget: BudgetStatus;
  /** Burn rate per window (ms → rate); undefined where the window had no request (never reported as 0). */
  readonly burnRates: ReadonlyMap<number, number | undefined>;
}

export interface SloReport {
  readonly objectives: readonly ObjectiveReport[];
  /** Rules in ALARM, as the deployed alarms evaluate them. */
  readonly firing: readonly AlarmState[];
}

export async function sloReport(
  model: AlarmRulesInput,
  reader: MetricsReader,
  nowMs: number,
): Promise<SloReport> {
  const dimensions = { [METRIC_DIMENSIONS.model]: model.name };
  const periodMs = model.slo.periodDays * DAY_MS;
  const end = Math.floor(nowMs / MINUTE_MS) * MINUTE_MS;
  const sums = async (
    windowMs: number,
    periodSeconds: number,
  ): Promise<{ total: number; errors: number; slow: number } | undefined> => {
    const names = {
      total: INFERENCE_METRICS.requests,
      errors: INFERENCE_METRICS.errors,
      slow: INFERENCE_METRICS.slowRequests,
    };
    const series = await reader.read({
      queries: Object.entries(names).map(([id, metricName]) => ({
        id,
        metricName,
        dimensions,
        stat: 'Sum' as const,
      })),
      startMs: end - windowMs,
      endMs: end,
      periodSeconds,
    });
    const sum = (id: string): number | undefined => {
      let total: number | undefined;
      for (const v of series.find((s) => s.id === id)?.values ?? []) if (v !== null) total = (total ?? 0) + v;
      return total;
    };
    const total = sum('total');
    if (total === undefined) return undefined;
    return { total, errors: sum('errors') ?? 0, slow: sum('slow') ?? 0 };
  };

  // The period in whole days (the reader's coarsest common resolution), the windows in minutes.
  const period = await sums(periodMs, 86_400);
  const windows = new Map<number, Awaited<ReturnType<typeof sums>>>();
  for (const w of REPORT_WINDOWS_MS) windows.set(w, await sums(w, 60));

  const objective = (
    sli: 'availability' | 'latency',
    target: number,
    bad: 'errors' | 'slow',
    thresholdMs?: number,
  ): ObjectiveReport => ({
    sli,
    target,
    ...(thresholdMs !== undefined ? { thresholdMs } : {}),
    budget: budgetRemaining({ total: period?.total ?? 0, bad: period?.[bad] ?? 0 }, target),
    burnRates: new Map(
      REPORT_WINDOWS_MS.map((w) => {
        const c = windows.get(w);
        return [w, c === undefined || c.total <= 0 ? undefined : burnRate(c[bad] / c.total, target)];
      }),
    ),
  });

  const states = await evaluateAlarmRules(alarmRules(model), reader, nowMs);
  return {
    objectives: [
      objective('availability', model.slo.availability.target, 'errors'),
      objective('latency', model.slo.latency.target, 'slow', model.slo.latency.thresholdMs),
    ],
    firing: states.filter((s) => s.value === 'ALARM'),
  };
}
