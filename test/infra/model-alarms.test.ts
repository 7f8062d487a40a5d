import { Template } from 'aws-cdk-lib/assertions';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { beforeAll, describe, expect, it } from 'vitest';
import { ModelAlarms } from '../../lib/constructs/model-alarms';
import { synthApp, testStack } from './helpers';
import type { SynthResult } from './helpers';

const MODEL = {
  name: 'bc',
  slo: { periodDays: 30, availability: { target: 0.999 }, latency: { target: 0.99, thresholdMs: 250 } },
  feedback: { accuracyFloor: 0.9, maeCeiling: 3 },
  driftScheduleMinutes: 10,
};

type Json = Record<string, unknown>;

function build() {
  const stack = testStack();
  const topic = new Topic(stack, 'Topic');
  new ModelAlarms(stack, 'Alarms', {
    model: MODEL,
    namespace: 'ModelOps',
    topic,
    alarmNamePrefix: 'mo-test',
  });
  const template = Template.fromStack(stack);
  const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')).map(
    (r) => r.Properties as Json,
  );
  const composites = Object.values(template.findResources('AWS::CloudWatch::CompositeAlarm')).map(
    (r) => r.Properties as Json,
  );
  const byName = new Map(alarms.map((a) => [a.AlarmName as string, a]));
  return { template, alarms, composites, byName };
}

describe('ModelAlarms', () => {
  const { alarms, composites, byName } = build();

  it.each([
    ['availability-burn-page-1h-long', 0.0144, 3600, 'Errors'],
    ['availability-burn-page-1h-short', 0.0144, 300, 'Errors'],
    ['availability-burn-page-6h-long', 0.006, 21600, 'Errors'],
    ['availability-burn-page-6h-short', 0.006, 1800, 'Errors'],
    ['availability-burn-ticket-3d-long', 0.001, 259200, 'Errors'],
    ['availability-burn-ticket-3d-short', 0.001, 21600, 'Errors'],
    ['latency-burn-page-1h-long', 0.144, 3600, 'SlowRequests'],
    ['latency-burn-page-1h-short', 0.144, 300, 'SlowRequests'],
    ['latency-burn-page-6h-long', 0.06, 21600, 'SlowRequests'],
    ['latency-burn-page-6h-short', 0.06, 1800, 'SlowRequests'],
    ['latency-burn-ticket-3d-long', 0.01, 259200, 'SlowRequests'],
    ['latency-burn-ticket-3d-short', 0.01, 21600, 'SlowRequests'],
    ['candidate-errors-page-1h-long', 0.0144, 3600, 'Errors'],
    ['candidate-errors-page-1h-short', 0.0144, 300, 'Errors'],
    ['candidate-latency-page-1h-long', 0.144, 3600, 'SlowRequests'],
    ['candidate-latency-page-1h-short', 0.144, 300, 'SlowRequests'],
  ])(
    '%s: bad/total above %s over one period of %s s (%s), no action of its own',
    (id, threshold, period, bad) => {
      const a = byName.get(`mo-test-bc-${id}`)!;
      expect(a).toBeDefined();
      expect(a.Threshold).toBeCloseTo(threshold, 12);
      expect(a.EvaluationPeriods).toBe(1);
      expect(a.ComparisonOperator).toBe('GreaterThanThreshold');
      expect(a.TreatMissingData).toBe('notBreaching');
      expect(a.AlarmActions).toBeUndefined();
      const metrics = a.Metrics as Json[];
      const expr = metrics.find((m) => m.Expression !== undefined)!;
      expect(expr.Expression).toBe('bad / total');
      const stat = (qid: string) => metrics.find((m) => m.Id === qid)!.MetricStat as Json;
      for (const [qid, name] of [
        ['bad', bad],
        ['total', 'Requests'],
      ] as const) {
        const s = stat(qid);
        expect(s.Period).toBe(period);
        expect(s.Stat).toBe('Sum');
        expect((s.Metric as Json).MetricName).toBe(name);
        const dims = (s.Metric as Json).Dimensions as { Name: string; Value: string }[];
        expect(dims).toEqual(
          id.startsWith('candidate')
            ? expect.arrayContaining([
                { Name: 'Model', Value: 'bc' },
                { Name: 'Arm', Value: 'candidate' },
              ])
            : [{ Name: 'Model', Value: 'bc' }],
        );
      }
      expect(a.AlarmDescription).toContain(
        `Runbook: docs/runbooks/${id.replace(/-(page|ticket)-.*$/, '')}.md`,
      );
    },
  );

  it('has a composite per tier: the AND of both windows, notifying the topic on ALARM and OK', () => {
    const names = composites.map((c) => c.AlarmName).sort();
    expect(names).toEqual(
      [
        'availability-burn-page-1h',
        'availability-burn-page-6h',
        'availability-burn-ticket-3d',
        'latency-burn-page-1h',
        'latency-burn-page-6h',
        'latency-burn-ticket-3d',
        'candidate-errors-page-1h',
        'candidate-latency-page-1h',
      ]
        .map((n) => `mo-test-bc-${n}`)
        .sort(),
    );
    for (const c of composites) {
      const rule = JSON.stringify(c.AlarmRule);
      expect(rule).toMatch(/ALARM\(.*\) AND ALARM\(/);
      // References the pair by logical id (Fn::GetAtt): the rule id without dashes, long and short.
      const stem = (c.AlarmName as string).replace(/^mo-test-bc-/, '').replaceAll('-', '');
      expect(rule).toMatch(new RegExp(`${stem}long.*${stem}short`));
      expect((c.AlarmActions as unknown[]).length).toBe(1);
      expect((c.OKActions as unknown[]).length).toBe(1);
      expect(c.AlarmDescription).toMatch(/Severity: (page|ticket)\. Runbook: docs\/runbooks\/[a-z-]+\.md$/);
    }
    const ticket = composites.find((c) => c.AlarmName === 'mo-test-bc-latency-burn-ticket-3d')!;
    expect(ticket.AlarmDescription).toContain('Severity: ticket');
  });

  it('alarms on accuracy below the floor, MAE above the ceiling, DriftAlarm >= 1 and failed monitor runs, notifying the topic', () => {
    expect(byName.get('mo-test-bc-accuracy-floor')).toMatchObject({
      MetricName: 'PredictionCorrect',
      Statistic: 'Average',
      Period: 3600,
      ComparisonOperator: 'LessThanThreshold',
      Threshold: 0.9,
      TreatMissingData: 'missing',
    });
    expect(byName.get('mo-test-bc-mae-ceiling')).toMatchObject({
      MetricName: 'PredictionAbsoluteError',
      Statistic: 'Average',
      ComparisonOperator: 'GreaterThanThreshold',
      Threshold: 3,
    });
    expect(byName.get('mo-test-bc-drift')).toMatchObject({
      MetricName: 'DriftAlarm',
      Statistic: 'Maximum',
      Period: 3600,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 1,
      TreatMissingData: 'ignore',
    });
    expect(byName.get('mo-test-bc-drift-monitor-errors')).toMatchObject({
      MetricName: 'DriftMonitorErrors',
      Statistic: 'Sum',
      Period: 3600,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Threshold: 1,
      TreatMissingData: 'notBreaching',
    });
    for (const n of ['accuracy-floor', 'mae-ceiling', 'drift', 'drift-monitor-errors']) {
      expect((byName.get(`mo-test-bc-${n}`)!.AlarmActions as unknown[]).length).toBe(1);
    }
    expect(alarms).toHaveLength(16 + 4);
  });
});

describe('ModelOpsStack: alarms per model', () => {
  let synth: SynthResult;
  beforeAll(() => {
    synth = synthApp();
  });

  it('creates the alarms of every configured model with the topic as action', () => {
    const composites = Object.values(synth.template.findResources('AWS::CloudWatch::CompositeAlarm'));
    const names = composites.map((c) => (c.Properties as Json).AlarmName as string);
    for (const model of ['breast-cancer', 'credit-risk']) {
      expect(names).toContain(`modelops-test-${model}-availability-burn-page-1h`);
      expect(names).toContain(`modelops-test-${model}-latency-burn-ticket-3d`);
    }
    expect(composites).toHaveLength(16);
  });

  it("gives each inference function its model's latency SLO threshold", () => {
    const fns = Object.values(synth.template.findResources('AWS::Lambda::Function'))
      .map(
        (f) =>
          ((f.Properties as Json).Environment as { Variables?: Record<string, unknown> } | undefined)
            ?.Variables,
      )
      .filter((v) => v?.MODEL_NAME !== undefined);
    expect(fns.length).toBeGreaterThanOrEqual(2);
    for (const v of fns) expect(v!.SLO_LATENCY_THRESHOLD_MS).toBe('250');
  });
});
