import { describe, expect, it } from 'vitest';
import {
  alarmRules,
  type AlarmRule,
  type AlarmRulesInput,
  type CompositeAlarmRule,
  type RatioAlarmRule,
} from '../../lambdas/core/alarm-rules';
import {
  alarmStateChangeEvent,
  evaluateAlarmRules,
  type AlarmStateValue,
} from '../../lambdas/core/alarm-evaluation';
import type { MetricReadRequest, MetricReadSeries, MetricsReader } from '../../lambdas/core/ports';
import { TimeSeriesMetricsStore } from '../../lambdas/adapters/local-metric-store';
import type { ExecutionResult } from '../../local/asl-runner';
import { retrainFailureMetric } from '../../local/retrain-scheduler';

/** A minute boundary, so the emitted point and the evaluation window line up. */
const T = Date.parse('2026-06-01T12:00:00Z');

const MODEL: AlarmRulesInput = {
  name: 'bc',
  slo: { periodDays: 30, availability: { target: 0.999 }, latency: { target: 0.99, thresholdMs: 250 } },
  feedback: { accuracyFloor: 0.9, maeCeiling: 3 },
  driftScheduleMinutes: 60,
};

const byId = (rules: AlarmRule[]) => new Map(rules.map((r) => [r.id, r]));

describe('alarmRules', () => {
  const rules = alarmRules(MODEL);
  const ids = byId(rules);

  it('derives the SRE tiers per SLI with the exact bad-ratio thresholds', () => {
    const t = (id: string) => (ids.get(id) as RatioAlarmRule).threshold;
    expect(t('availability-burn-page-1h-long')).toBeCloseTo(0.0144, 12);
    expect(t('availability-burn-page-1h-short')).toBeCloseTo(0.0144, 12);
    expect(t('availability-burn-page-6h-long')).toBeCloseTo(0.006, 12);
    expect(t('availability-burn-ticket-3d-long')).toBeCloseTo(0.001, 12);
    expect(t('latency-burn-page-1h-long')).toBeCloseTo(0.144, 12);
    expect(t('latency-burn-ticket-3d-short')).toBeCloseTo(0.01, 12);
    const w = (id: string) => (ids.get(id) as RatioAlarmRule).windowMs / 60_000;
    expect([w('availability-burn-page-1h-long'), w('availability-burn-page-1h-short')]).toEqual([60, 5]);
    expect([w('availability-burn-page-6h-long'), w('availability-burn-page-6h-short')]).toEqual([360, 30]);
    expect([w('availability-burn-ticket-3d-long'), w('availability-burn-ticket-3d-short')]).toEqual([
      4320, 360,
    ]);
  });

  it('uses Errors/Requests for availability, SlowRequests/Requests for latency, {Model, Arm} for the candidate', () => {
    const a = ids.get('availability-burn-page-1h-long') as RatioAlarmRule;
    expect(a.bad).toEqual({ metricName: 'Errors', dimensions: { Model: 'bc' }, stat: 'Sum' });
    expect(a.total).toEqual({ metricName: 'Requests', dimensions: { Model: 'bc' }, stat: 'Sum' });
    expect((ids.get('latency-burn-page-1h-short') as RatioAlarmRule).bad.metricName).toBe('SlowRequests');
    const c = ids.get('candidate-latency-page-1h-long') as RatioAlarmRule;
    expect(c.bad.dimensions).toEqual({ Model: 'bc', Arm: 'candidate' });
    expect(c.threshold).toBeCloseTo(0.144, 12);
    expect(a.treatMissingData).toBe('notBreaching');
  });

  it('pages on the AND of long and short windows, tickets on the slow tier; windows alone do not notify', () => {
    const composites = rules.filter((r): r is CompositeAlarmRule => r.type === 'composite');
    expect(composites.map((r) => `${r.id}:${r.severity}`)).toEqual([
      'availability-burn-page-1h:page',
      'availability-burn-page-6h:page',
      'availability-burn-ticket-3d:ticket',
      'candidate-errors-page-1h:page',
      'latency-burn-page-1h:page',
      'latency-burn-page-6h:page',
      'latency-burn-ticket-3d:ticket',
      'candidate-latency-page-1h:page',
    ]);
    expect(composites[0]!.allOf).toEqual([
      'availability-burn-page-1h-long',
      'availability-burn-page-1h-short',
    ]);
    expect(rules.filter((r) => r.type === 'ratio').every((r) => !r.notify)).toBe(true);
    expect(composites.every((r) => r.notify)).toBe(true);
    for (const r of rules) expect(r.runbook).toBe(`docs/runbooks/${r.kind}.md`);
    expect(new Set(rules.map((r) => r.id)).size).toBe(rules.length);
  });

  it('adds accuracy, MAE and drift rules from feedback and the monitor schedule', () => {
    expect(ids.get('accuracy-floor')).toMatchObject({
      metric: { metricName: 'PredictionCorrect', stat: 'Average' },
      comparison: 'LessThanThreshold',
      threshold: 0.9,
      treatMissingData: 'missing',
    });
    expect(ids.get('mae-ceiling')).toMatchObject({
      metric: { metricName: 'PredictionAbsoluteError', stat: 'Average' },
      comparison: 'GreaterThanThreshold',
      threshold: 3,
    });
    expect(ids.get('drift')).toMatchObject({
      metric: { metricName: 'DriftAlarm', stat: 'Maximum' },
      comparison: 'GreaterThanOrEqualToThreshold',
      threshold: 1,
      periodMs: 2 * 3_600_000,
    });
    expect(ids.get('drift-monitor-errors')).toMatchObject({
      metric: { metricName: 'DriftMonitorErrors', stat: 'Sum' },
      comparison: 'GreaterThanOrEqualToThreshold',
      threshold: 1,
      periodMs: 2 * 3_600_000,
      treatMissingData: 'notBreaching',
      notify: true,
    });
    const plain = byId(alarmRules({ ...MODEL, feedback: {}, drift: false }));
    for (const id of ['accuracy-floor', 'mae-ceiling', 'drift', 'drift-monitor-errors']) {
      expect(plain.has(id)).toBe(false);
    }
  });

  it('adds retrain-failed only for a model with retrain enabled, and a failed run raises it', async () => {
    expect(byId(alarmRules(MODEL)).has('retrain-failed')).toBe(false);
    const rule = byId(alarmRules({ ...MODEL, retrain: true })).get('retrain-failed')!;
    expect(rule).toMatchObject({
      kind: 'retrain-failed',
      severity: 'ticket',
      runbook: 'docs/runbooks/retrain-failed.md',
      metric: { metricName: 'RetrainsFailed', dimensions: { Model: 'bc' }, stat: 'Sum' },
      threshold: 1,
      treatMissingData: 'notBreaching',
    });
    const store = new TimeSeriesMetricsStore({ now: () => T });
    const [idle] = await evaluateAlarmRules([rule], store, T + 60_000);
    expect(idle!.value).toBe('OK');
    // What local mode's retrain trigger service emits when a retrain execution ends in RetrainFailed.
    const failed = retrainFailureMetric({
      kind: 'finished',
      stateMachine: 'retrain',
      result: { status: 'FAILED', error: 'RetrainFailed', input: { model: 'bc' } } as ExecutionResult,
    })!;
    store.emit(failed.dimensions, failed.data);
    // Judged once its 5-minute period is complete, as CloudWatch evaluates it.
    const [raised] = await evaluateAlarmRules([rule], store, T + 6 * 60_000);
    expect(raised!.value).toBe('ALARM');
    // A retrain that was skipped or succeeded, or failed on bad input before any step, emits nothing.
    expect(
      retrainFailureMetric({
        kind: 'finished',
        stateMachine: 'retrain',
        result: { status: 'FAILED', error: 'InvalidInput', input: { model: 'bc' } } as ExecutionResult,
      }),
    ).toBeUndefined();
  });

  it('keeps the budget shares for a shorter SLO period and refuses an unusable one, naming the field', () => {
    const week = byId(alarmRules({ ...MODEL, slo: { ...MODEL.slo, periodDays: 7 } }));
    // 2 % of a 7-day budget in 1 h: burn rate 3.36.
    expect((week.get('availability-burn-page-1h-long') as RatioAlarmRule).burnRate).toBeCloseTo(3.36, 10);
    expect(() => alarmRules({ ...MODEL, slo: { ...MODEL.slo, periodDays: 2 } })).toThrow(
      /model "bc": slo.availability: .*long window/,
    );
    expect(() => alarmRules({ ...MODEL, slo: { ...MODEL.slo, availability: { target: 1 } } })).toThrow(
      /slo.availability: target must be between 0 and 1/,
    );
  });
});

/** A metric store: points by name and dimensions, aggregated per period like GetMetricData. */
class FakeReader implements MetricsReader {
  private readonly points: { name: string; dims: string; t: number; v: number }[] = [];
  put(name: string, dims: Record<string, string>, t: number, v: number, times = 1): void {
    for (let i = 0; i < times; i++) this.points.push({ name, dims: key(dims), t, v });
  }
  async read(req: MetricReadRequest): Promise<readonly MetricReadSeries[]> {
    const p = req.periodSeconds * 1000;
    const start = Math.floor(req.startMs / p) * p;
    return req.queries.map((q) => {
      const mine = this.points.filter((x) => x.name === q.metricName && x.dims === key(q.dimensions));
      const timestamps: number[] = [];
      const values: (number | null)[] = [];
      for (let t = start; t < req.endMs; t += p) {
        const vs = mine.filter((x) => x.t >= t && x.t < t + p).map((x) => x.v);
        timestamps.push(t);
        if (vs.length === 0) values.push(null);
        else if (q.stat === 'Sum') values.push(vs.reduce((a, b) => a + b, 0));
        else if (q.stat === 'Average') values.push(vs.reduce((a, b) => a + b, 0) / vs.length);
        else if (q.stat === 'Maximum') values.push(Math.max(...vs));
        else throw new Error(`fake reader: ${q.stat} unsupported`);
      }
      return { id: q.id, timestamps, values };
    });
  }
}
const key = (d: Record<string, string>) =>
  Object.keys(d)
    .sort()
    .map((k) => `${k}=${d[k]}`)
    .join(',');

describe('evaluateAlarmRules', () => {
  const NOW = Date.UTC(2026, 0, 10, 12, 0, 0);
  const M = { Model: 'bc' };
  const rules = alarmRules(MODEL);
  const state = (states: { id: string; value: AlarmStateValue }[], id: string) =>
    states.find((s) => s.id === id)?.value;

  it('fires the fast page only when both its windows burn above 14.4x', async () => {
    const r = new FakeReader();
    // 2 % errors in the last 5 minutes, none earlier in the hour: the 1 h ratio stays under 1.44 %.
    r.put('Requests', M, NOW - 2 * 60_000, 1, 100);
    r.put('Errors', M, NOW - 2 * 60_000, 1, 2);
    r.put('Requests', M, NOW - 30 * 60_000, 1, 1000);
    let s = await evaluateAlarmRules(rules, r, NOW);
    expect(state(s, 'availability-burn-page-1h-short')).toBe('ALARM');
    expect(state(s, 'availability-burn-page-1h-long')).toBe('OK');
    expect(state(s, 'availability-burn-page-1h')).toBe('OK');
    // Now the hour burns too: 30 more errors 30 minutes ago.
    r.put('Errors', M, NOW - 30 * 60_000, 1, 30);
    s = await evaluateAlarmRules(rules, r, NOW);
    expect(state(s, 'availability-burn-page-1h-long')).toBe('ALARM');
    expect(state(s, 'availability-burn-page-1h')).toBe('ALARM');
    expect(state(s, 'latency-burn-page-1h')).toBe('OK');
  });

  it('treats no traffic as not burning, missing labels as insufficient data, and keeps the drift state between runs', async () => {
    const r = new FakeReader();
    const previous = new Map<string, AlarmStateValue>([['drift', 'ALARM']]);
    const s = await evaluateAlarmRules(rules, r, NOW, { previous });
    expect(state(s, 'availability-burn-page-1h')).toBe('OK');
    expect(state(s, 'candidate-errors-page-1h')).toBe('OK');
    expect(state(s, 'accuracy-floor')).toBe('INSUFFICIENT_DATA');
    expect(state(s, 'drift')).toBe('ALARM');
  });

  it('judges accuracy, MAE and drift on the latest complete period', async () => {
    const r = new FakeReader();
    const lastHour = NOW - 30 * 60_000;
    for (let i = 0; i < 10; i++) r.put('PredictionCorrect', M, lastHour, i < 8 ? 1 : 0);
    r.put('PredictionAbsoluteError', M, lastHour, 2);
    r.put('DriftAlarm', M, NOW - 90 * 60_000, 1);
    const s = await evaluateAlarmRules(rules, r, NOW);
    expect(s.find((x) => x.id === 'accuracy-floor')).toMatchObject({ value: 'ALARM', observed: 0.8 });
    expect(state(s, 'mae-ceiling')).toBe('OK');
    expect(state(s, 'drift')).toBe('ALARM');
  });

  it('alarms on the candidate arm alone', async () => {
    const r = new FakeReader();
    const C = { Model: 'bc', Arm: 'candidate' };
    r.put('Requests', C, NOW - 60_000, 1, 50);
    r.put('Errors', C, NOW - 60_000, 1, 5);
    r.put('Requests', M, NOW - 60_000, 1, 1000);
    r.put('Errors', M, NOW - 60_000, 1, 5);
    const s = await evaluateAlarmRules(rules, r, NOW);
    expect(state(s, 'candidate-errors-page-1h')).toBe('ALARM');
    expect(state(s, 'availability-burn-page-1h')).toBe('OK');
  });
});

describe('alarmStateChangeEvent', () => {
  it('is shaped like the CloudWatch EventBridge event, and absent when the state did not change', () => {
    const event = alarmStateChangeEvent({
      alarmName: 'modelops-bc-availability-burn-page-1h',
      description: 'd',
      state: { id: 'x', value: 'ALARM', reason: 'r' },
      previous: { value: 'OK', reason: 'p', timeMs: 0 },
      nowMs: Date.UTC(2026, 0, 1),
      eventId: 'e-1',
    });
    expect(event).toMatchObject({
      'detail-type': 'CloudWatch Alarm State Change',
      source: 'aws.cloudwatch',
      time: '2026-01-01T00:00:00.000Z',
      resources: ['arn:aws:cloudwatch:us-east-1:000000000000:alarm:modelops-bc-availability-burn-page-1h'],
      detail: {
        alarmName: 'modelops-bc-availability-burn-page-1h',
        state: { value: 'ALARM', reason: 'r' },
        previousState: { value: 'OK', timestamp: '1970-01-01T00:00:00.000Z' },
      },
    });
    expect(
      alarmStateChangeEvent({
        alarmName: 'a',
        description: 'd',
        state: { id: 'x', value: 'OK', reason: 'r' },
        previous: { value: 'OK', reason: 'p', timeMs: 0 },
        nowMs: 0,
        eventId: 'e',
      }),
    ).toBeUndefined();
  });
});
