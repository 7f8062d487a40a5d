/**
 * Evaluates a model's alarm rules (lambdas/core/alarm-rules.ts) against a MetricsReader, as CloudWatch would: local
 * mode's alarms, and a check of what the deployed alarms should say. Pure apart from the reader port.
 *
 * Semantics mirrored from CloudWatch: a ratio window sums both series over the window ending now; missing data is
 * handled by the rule's `treatMissingData` (`notBreaching` → OK, `missing` → INSUFFICIENT_DATA, `ignore` → the
 * previous state); a composite is ALARM when all its rules are, OK when any is OK, else INSUFFICIENT_DATA.
 */
import type { AlarmRule, MetricAlarmRule, MissingData, RatioAlarmRule } from './alarm-rules';
import type { MetricQuery, MetricsReader } from './ports';

export type AlarmStateValue = 'OK' | 'ALARM' | 'INSUFFICIENT_DATA';

export interface AlarmState {
  readonly id: string;
  readonly value: AlarmStateValue;
  readonly reason: string;
  /** Ratio rules: the window's bad/total; metric rules: the statistic; absent when there was no data. */
  readonly observed?: number;
}

/** Resolution of local reads: every window is a whole number of minutes (alarmRules checks it). */
const READ_PERIOD_S = 60;

export interface EvaluateOptions {
  /** States of the previous evaluation, for `treatMissingData: 'ignore'`. @default none (INSUFFICIENT_DATA) */
  readonly previous?: ReadonlyMap<string, AlarmStateValue>;
}

/** The state of every rule at `nowMs`, in rule order (composites after the rules they reference). */
export async function evaluateAlarmRules(
  rules: readonly AlarmRule[],
  reader: MetricsReader,
  nowMs: number,
  options: EvaluateOptions = {},
): Promise<AlarmState[]> {
  const states = new Map<string, AlarmState>();
  const end = Math.floor(nowMs / (READ_PERIOD_S * 1000)) * READ_PERIOD_S * 1000;
  const missing = (id: string, treat: MissingData, why: string): AlarmState => {
    if (treat === 'notBreaching') return { id, value: 'OK', reason: `${why}; missing data is not breaching` };
    if (treat === 'ignore') {
      const kept = options.previous?.get(id) ?? 'INSUFFICIENT_DATA';
      return { id, value: kept, reason: `${why}; previous state kept` };
    }
    return { id, value: 'INSUFFICIENT_DATA', reason: why };
  };
  const sum = async (queries: MetricQuery[], windowMs: number): Promise<(number | undefined)[]> => {
    const series = await reader.read({
      queries,
      startMs: end - windowMs,
      endMs: end,
      periodSeconds: READ_PERIOD_S,
    });
    return queries.map((q) => {
      const s = series.find((x) => x.id === q.id);
      let total: number | undefined;
      for (const v of s?.values ?? []) if (v !== null) total = (total ?? 0) + v;
      return total;
    });
  };

  for (const rule of rules) {
    let state: AlarmState;
    if (rule.type === 'ratio') {
      state = await evaluateRatio(rule, sum, missing);
    } else if (rule.type === 'metric') {
      state = await evaluateMetric(rule, reader, end, missing);
    } else {
      const children = rule.allOf.map((id) => {
        const s = states.get(id);
        if (s === undefined)
          throw new RangeError(`composite ${rule.id}: rule ${id} is not evaluated before it`);
        return s.value;
      });
      const value: AlarmStateValue = children.every((v) => v === 'ALARM')
        ? 'ALARM'
        : children.includes('OK')
          ? 'OK'
          : 'INSUFFICIENT_DATA';
      state = {
        id: rule.id,
        value,
        reason: `${rule.allOf.map((id, i) => `${id}=${children[i]}`).join(' AND ')}`,
      };
    }
    states.set(rule.id, state);
  }
  return [...states.values()];
}

async function evaluateRatio(
  rule: RatioAlarmRule,
  sum: (q: MetricQuery[], windowMs: number) => Promise<(number | undefined)[]>,
  missing: (id: string, treat: MissingData, why: string) => AlarmState,
): Promise<AlarmState> {
  const [bad, total] = await sum(
    [
      { id: 'bad', metricName: rule.bad.metricName, dimensions: rule.bad.dimensions, stat: 'Sum' },
      { id: 'total', metricName: rule.total.metricName, dimensions: rule.total.dimensions, stat: 'Sum' },
    ],
    rule.windowMs,
  );
  if (total === undefined || total <= 0)
    return missing(rule.id, rule.treatMissingData, 'no request in the window');
  const ratio = (bad ?? 0) / total;
  const value = ratio > rule.threshold ? 'ALARM' : 'OK';
  return {
    id: rule.id,
    value,
    observed: ratio,
    reason: `${bad ?? 0}/${total} = ${ratio} ${value === 'ALARM' ? '>' : '<='} ${rule.threshold}`,
  };
}

async function evaluateMetric(
  rule: MetricAlarmRule,
  reader: MetricsReader,
  end: number,
  missing: (id: string, treat: MissingData, why: string) => AlarmState,
): Promise<AlarmState> {
  const periodS = rule.periodMs / 1000;
  const alignedEnd = Math.floor(end / rule.periodMs) * rule.periodMs;
  // The latest complete periods, as CloudWatch evaluates them.
  const [series] = await reader.read({
    queries: [{ id: 'm', ...rule.metric }],
    startMs: alignedEnd - rule.evaluationPeriods * rule.periodMs,
    endMs: alignedEnd,
    periodSeconds: periodS,
  });
  const values = (series?.values ?? []).filter((v): v is number => v !== null);
  if (values.length === 0)
    return missing(rule.id, rule.treatMissingData, 'no data point in the evaluation range');
  const breaches = (v: number) =>
    rule.comparison === 'LessThanThreshold'
      ? v < rule.threshold
      : rule.comparison === 'GreaterThanThreshold'
        ? v > rule.threshold
        : v >= rule.threshold;
  const value = values.every(breaches) ? 'ALARM' : 'OK';
  const last = values[values.length - 1]!;
  return { id: rule.id, value, observed: last, reason: `${rule.metric.stat} ${last} vs ${rule.threshold}` };
}

/** The EventBridge event CloudWatch sends on an alarm's state change (detail-type "CloudWatch Alarm State Change"). */
export interface AlarmStateChangeEvent {
  readonly version: '0';
  readonly id: string;
  readonly 'detail-type': 'CloudWatch Alarm State Change';
  readonly source: 'aws.cloudwatch';
  readonly account: string;
  readonly time: string;
  readonly region: string;
  readonly resources: readonly string[];
  readonly detail: {
    readonly alarmName: string;
    readonly state: { readonly value: AlarmStateValue; readonly reason: string; readonly timestamp: string };
    readonly previousState: {
      readonly value: AlarmStateValue;
      readonly reason: string;
      readonly timestamp: string;
    };
    readonly configuration: { readonly description: string };
  };
}

export interface StateChangeInput {
  readonly alarmName: string;
  readonly description: string;
  readonly state: AlarmState;
  readonly previous: { readonly value: AlarmStateValue; readonly reason: string; readonly timeMs: number };
  readonly nowMs: number;
  readonly eventId: string;
  /** @default '000000000000' (local mode) */
  readonly account?: string;
  /** @default 'us-east-1' */
  readonly region?: string;
}

/** The state-change event of one alarm; undefined when the state did not change (CloudWatch sends none then). */
export function alarmStateChangeEvent(input: StateChangeInput): AlarmStateChangeEvent | undefined {
  if (input.state.value === input.previous.value) return undefined;
  const account = input.account ?? '000000000000';
  const region = input.region ?? 'us-east-1';
  const time = new Date(input.nowMs).toISOString();
  return {
    version: '0',
    id: input.eventId,
    'detail-type': 'CloudWatch Alarm State Change',
    source: 'aws.cloudwatch',
    account,
    time,
    region,
    resources: [`arn:aws:cloudwatch:${region}:${account}:alarm:${input.alarmName}`],
    detail: {
      alarmName: input.alarmName,
      state: { value: input.state.value, reason: input.state.reason, timestamp: time },
      previousState: {
        value: input.previous.value,
        reason: input.previous.reason,
        timestamp: new Date(input.previous.timeMs).toISOString(),
      },
      configuration: { description: input.description },
    },
  };
}
