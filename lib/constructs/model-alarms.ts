import { Duration, Validations } from 'aws-cdk-lib';
import {
  Alarm,
  AlarmRule,
  AlarmState,
  ComparisonOperator,
  CompositeAlarm,
  MathExpression,
  Metric,
  TreatMissingData,
} from 'aws-cdk-lib/aws-cloudwatch';
import type { IAlarm } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import {
  alarmRules,
  type AlarmRule as AlarmRuleData,
  type AlarmRulesInput,
  type MetricRef,
  type MissingData,
} from '../../lambdas/core/alarm-rules';

export interface ModelAlarmsProps {
  /** The model's name, SLOs, feedback floors and drift schedule (a `parseConfig` model plus the monitoring schedule). */
  readonly model: AlarmRulesInput;
  /** CloudWatch namespace the handler and monitors emit to (`monitoring.namespace`). */
  readonly namespace: string;
  /** Where notifying alarms (composites, feedback, drift) send ALARM and OK. */
  readonly topic: ITopic;
  /** Alarm names are `<prefix>-<model>-<rule id>`, e.g. `modelops-prod`. */
  readonly alarmNamePrefix: string;
  /**
   * Prepended to each rule's runbook path in the alarm description, e.g. a repository's blob URL ending in `/`.
   * @default '' (the repository-relative path)
   */
  readonly runbookBaseUrl?: string;
}

const MISSING: Record<MissingData, TreatMissingData> = {
  notBreaching: TreatMissingData.NOT_BREACHING,
  missing: TreatMissingData.MISSING,
  ignore: TreatMissingData.IGNORE,
};

const COMPARISON = {
  GreaterThanThreshold: ComparisonOperator.GREATER_THAN_THRESHOLD,
  GreaterThanOrEqualToThreshold: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
  LessThanThreshold: ComparisonOperator.LESS_THAN_THRESHOLD,
} as const;

/**
 * One model's alarms, built from `alarmRules` (lambdas/core/alarm-rules.ts; docs/alarms.md): per SLI three
 * multiwindow burn-rate tiers (a metric-math alarm `bad / total` per window and a composite AND of the pair), the
 * canary candidate's fast tier on `{Model, Arm=candidate}`, and the accuracy, MAE and drift alarms when configured.
 * Composites, feedback and drift alarms notify `topic`; the window alarms only feed their composite.
 */
export class ModelAlarms extends Construct {
  /** Every alarm by rule id. */
  public readonly alarms: Readonly<Record<string, IAlarm>>;
  public readonly rules: readonly AlarmRuleData[];

  constructor(scope: Construct, id: string, props: ModelAlarmsProps) {
    super(scope, id);
    const rules = alarmRules(props.model);
    this.rules = rules;
    const alarms: Record<string, IAlarm> = {};
    const action = new SnsAction(props.topic);
    const metric = (ref: MetricRef, periodMs: number): Metric =>
      new Metric({
        namespace: props.namespace,
        metricName: ref.metricName,
        dimensionsMap: { ...ref.dimensions },
        statistic: ref.stat,
        period: Duration.millis(periodMs),
      });

    for (const rule of rules) {
      const alarmName = `${props.alarmNamePrefix}-${props.model.name}-${rule.id}`;
      const alarmDescription = `${rule.description}. Severity: ${rule.severity}. Runbook: ${props.runbookBaseUrl ?? ''}${rule.runbook}`;
      let alarm: Alarm | CompositeAlarm;
      if (rule.type === 'composite') {
        alarm = new CompositeAlarm(this, rule.id, {
          compositeAlarmName: alarmName,
          alarmDescription,
          alarmRule: AlarmRule.allOf(
            ...rule.allOf.map((child) => AlarmRule.fromAlarm(alarms[child]!, AlarmState.ALARM)),
          ),
        });
      } else if (rule.type === 'ratio') {
        alarm = new Alarm(this, rule.id, {
          alarmName,
          alarmDescription,
          // One period the length of the window, evaluated once: the sums over the whole window (docs/alarms.md).
          metric: new MathExpression({
            expression: 'bad / total',
            usingMetrics: { bad: metric(rule.bad, rule.windowMs), total: metric(rule.total, rule.windowMs) },
            period: Duration.millis(rule.windowMs),
            label: `${rule.bad.metricName}/${rule.total.metricName} over ${rule.windowMs / 60_000} min`,
          }),
          threshold: rule.threshold,
          evaluationPeriods: 1,
          comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
          treatMissingData: MISSING[rule.treatMissingData],
        });
      } else {
        alarm = new Alarm(this, rule.id, {
          alarmName,
          alarmDescription,
          metric: metric(rule.metric, rule.periodMs),
          threshold: rule.threshold,
          evaluationPeriods: rule.evaluationPeriods,
          comparisonOperator: COMPARISON[rule.comparison],
          treatMissingData: MISSING[rule.treatMissingData],
        });
      }
      if (rule.notify) {
        alarm.addAlarmAction(action);
        alarm.addOkAction(action);
      } else {
        Validations.of(alarm).acknowledge({
          id: 'NIST.800.53.R5::NIST.800.53.R5-CloudWatchAlarmAction',
          reason:
            'One window of a multiwindow burn-rate rule: it notifies nobody by design; the composite alarm ' +
            '(both windows in ALARM) carries the SNS action, so a single window burning does not page.',
        });
      }
      alarms[rule.id] = alarm;
    }
    this.alarms = alarms;
  }
}
