/**
 * A model's alarm rules as data (docs/alarms.md): SLO burn-rate alarms, the canary candidate's alarms, label-feedback
 * floors and the drift alarm. Pure and CDK-free: lib/constructs/model-alarms.ts turns the rules into CloudWatch
 * alarms, and lambdas/core/alarm-evaluation.ts evaluates the same rules against a MetricsReader (local mode), so the
 * two cannot disagree on a metric, window or threshold.
 */
import {
  ARM_DIMENSION,
  DRIFT_METRICS,
  FEEDBACK_METRICS,
  INFERENCE_METRICS,
  METRIC_DIMENSIONS,
  RETRAIN_METRICS,
  type MetricStat,
} from './ports';
import { MODEL_NAME_PATTERN } from './names';
import { burnRateAlarmRules, cloudWatchWindowIssues, type BurnRateAlarmRule, type SloObjective } from './slo';

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;
const DAY_MS = 24 * HOUR_MS;

export type AlarmSeverity = 'page' | 'ticket';

/** One runbook per kind: docs/runbooks/<kind>.md. */
export const ALARM_KINDS = [
  'availability-burn',
  'latency-burn',
  'candidate-errors',
  'candidate-latency',
  'accuracy',
  'drift',
  'drift-monitor-errors',
  'retrain-failed',
] as const;
export type AlarmKind = (typeof ALARM_KINDS)[number];

/** What a missing data point means; the CloudWatch `TreatMissingData` values used here. */
export type MissingData = 'notBreaching' | 'missing' | 'ignore';

/** One CloudWatch series (the namespace is the stack's `monitoring.namespace`, added by the consumer). */
export interface MetricRef {
  readonly metricName: string;
  readonly dimensions: Readonly<Record<string, string>>;
  readonly stat: MetricStat;
}

interface RuleBase {
  /** Unique within the model; becomes part of the CloudWatch alarm name. */
  readonly id: string;
  readonly kind: AlarmKind;
  readonly severity: AlarmSeverity;
  readonly description: string;
  /** Repository-relative, e.g. `docs/runbooks/availability-burn.md`. */
  readonly runbook: string;
  /** Whether the alarm notifies (the SNS topic) itself; a composite's window alarms do not. */
  readonly notify: boolean;
}

/** `bad / total` summed over one window, compared with a bad-ratio threshold (one burn-rate window). */
export interface RatioAlarmRule extends RuleBase {
  readonly type: 'ratio';
  readonly bad: MetricRef;
  readonly total: MetricRef;
  /** The window is one CloudWatch period of this length, evaluated once (see docs/alarms.md). */
  readonly windowMs: number;
  /** Fires when the ratio is strictly above this. */
  readonly threshold: number;
  readonly burnRate: number;
  readonly treatMissingData: MissingData;
}

/** One statistic of one series per period, compared with a threshold. */
export interface MetricAlarmRule extends RuleBase {
  readonly type: 'metric';
  readonly metric: MetricRef;
  readonly periodMs: number;
  readonly evaluationPeriods: number;
  readonly comparison: 'GreaterThanThreshold' | 'GreaterThanOrEqualToThreshold' | 'LessThanThreshold';
  readonly threshold: number;
  readonly treatMissingData: MissingData;
}

/** ALARM when every listed rule is in ALARM (the multiwindow AND). */
export interface CompositeAlarmRule extends RuleBase {
  readonly type: 'composite';
  readonly allOf: readonly string[];
}

export type AlarmRule = RatioAlarmRule | MetricAlarmRule | CompositeAlarmRule;

/** The parts of a model's config (lib/config.ts) the rules use; lambdas/ does not import lib/. */
export interface AlarmRulesInput {
  readonly name: string;
  readonly slo: {
    readonly periodDays: number;
    readonly availability: { readonly target: number };
    readonly latency: { readonly target: number; readonly thresholdMs: number };
  };
  readonly feedback?: { readonly accuracyFloor?: number; readonly maeCeiling?: number };
  /** `monitoring.driftScheduleMinutes`: the drift alarm's period is at least two runs of the monitor. */
  readonly driftScheduleMinutes?: number;
  /** @default true: the model has a drift monitor emitting DriftAlarm */
  readonly drift?: boolean;
  /** @default false: the model has `retrain.enabled` (RecordRetrainOutcome emits RetrainsFailed) */
  readonly retrain?: boolean;
}

export const runbookPath = (kind: AlarmKind): string => `docs/runbooks/${kind}.md`;

/** `5m`, `1h`, `3d`: windows in ids and descriptions. */
export function windowLabel(ms: number): string {
  if (ms % DAY_MS === 0) return `${ms / DAY_MS}d`;
  if (ms % HOUR_MS === 0) return `${ms / HOUR_MS}h`;
  if (ms % MINUTE_MS === 0) return `${ms / MINUTE_MS}m`;
  return `${ms / 1000}s`;
}

/** The period of the accuracy and MAE alarms: labels arrive late and sparsely, so an hour's average. */
export const FEEDBACK_PERIOD_MS = HOUR_MS;
/** The drift alarm's period when the schedule is not given. */
export const DEFAULT_DRIFT_PERIOD_MS = 2 * HOUR_MS;

/**
 * The model's alarm rules, window alarms before the composites that reference them. Throws RangeError naming the
 * field when an objective is unusable or a window does not fit one CloudWatch alarm.
 */
export function alarmRules(model: AlarmRulesInput): AlarmRule[] {
  const periodMs = model.slo.periodDays * DAY_MS;
  const rules: AlarmRule[] = [];
  const modelDims = { [METRIC_DIMENSIONS.model]: model.name };
  const candidateDims = { [METRIC_DIMENSIONS.model]: model.name, [ARM_DIMENSION]: 'candidate' };
  const objectives: {
    objective: SloObjective;
    burn: AlarmKind;
    candidate: AlarmKind;
    bad: string;
    what: string;
  }[] = [
    {
      objective: { sli: 'availability', target: model.slo.availability.target },
      burn: 'availability-burn',
      candidate: 'candidate-errors',
      bad: INFERENCE_METRICS.errors,
      what: 'failed (5xx) requests',
    },
    {
      objective: { sli: 'latency', ...model.slo.latency },
      burn: 'latency-burn',
      candidate: 'candidate-latency',
      bad: INFERENCE_METRICS.slowRequests,
      what: `requests slower than ${model.slo.latency.thresholdMs} ms`,
    },
  ];
  for (const { objective, burn, candidate, bad, what } of objectives) {
    let tiers: BurnRateAlarmRule[];
    try {
      tiers = burnRateAlarmRules(objective, periodMs);
    } catch (err) {
      throw new RangeError(`model "${model.name}": slo.${objective.sli}: ${(err as Error).message}`);
    }
    for (const tier of tiers) {
      rules.push(
        ...burnPair(model.name, burn, tier, objective, what, periodMs, {
          bad: { metricName: bad, dimensions: modelDims, stat: 'Sum' },
          total: { metricName: INFERENCE_METRICS.requests, dimensions: modelDims, stat: 'Sum' },
        }),
      );
    }
    // The candidate arm: the fast page tier only, on {Model, Arm=candidate}. A bad candidate spends budget in
    // proportion to its traffic share, which the {Model} burn rules may not notice at a small canary weight.
    const fast = tiers[0]!;
    rules.push(
      ...burnPair(model.name, candidate, fast, objective, `${what} of the canary candidate`, periodMs, {
        bad: { metricName: bad, dimensions: candidateDims, stat: 'Sum' },
        total: { metricName: INFERENCE_METRICS.requests, dimensions: candidateDims, stat: 'Sum' },
      }),
    );
  }

  const floor = model.feedback?.accuracyFloor;
  if (floor !== undefined) {
    rules.push({
      type: 'metric',
      id: 'accuracy-floor',
      kind: 'accuracy',
      severity: 'ticket',
      description: `${model.name}: accuracy over labelled predictions (1 h) below the floor ${floor}`,
      runbook: runbookPath('accuracy'),
      notify: true,
      metric: { metricName: FEEDBACK_METRICS.correct, dimensions: modelDims, stat: 'Average' },
      periodMs: FEEDBACK_PERIOD_MS,
      evaluationPeriods: 1,
      comparison: 'LessThanThreshold',
      threshold: floor,
      // No labels in an hour says nothing about accuracy: INSUFFICIENT_DATA, never OK.
      treatMissingData: 'missing',
    });
  }
  const ceiling = model.feedback?.maeCeiling;
  if (ceiling !== undefined) {
    rules.push({
      type: 'metric',
      id: 'mae-ceiling',
      kind: 'accuracy',
      severity: 'ticket',
      description: `${model.name}: mean absolute error over labelled predictions (1 h) above the ceiling ${ceiling}`,
      runbook: runbookPath('accuracy'),
      notify: true,
      metric: { metricName: FEEDBACK_METRICS.absoluteError, dimensions: modelDims, stat: 'Average' },
      periodMs: FEEDBACK_PERIOD_MS,
      evaluationPeriods: 1,
      comparison: 'GreaterThanThreshold',
      threshold: ceiling,
      treatMissingData: 'missing',
    });
  }
  if (model.drift !== false) {
    const periodMsDrift =
      model.driftScheduleMinutes === undefined
        ? DEFAULT_DRIFT_PERIOD_MS
        : Math.max(HOUR_MS, 2 * model.driftScheduleMinutes * MINUTE_MS);
    rules.push({
      type: 'metric',
      id: 'drift',
      kind: 'drift',
      severity: 'ticket',
      description: `${model.name}: the drift monitor reports the model's inputs or predictions as drifted`,
      runbook: runbookPath('drift'),
      notify: true,
      metric: { metricName: DRIFT_METRICS.driftAlarm, dimensions: modelDims, stat: 'Maximum' },
      periodMs: periodMsDrift,
      evaluationPeriods: 1,
      comparison: 'GreaterThanOrEqualToThreshold',
      threshold: 1,
      // The monitor writes DriftAlarm once per run; between runs the last state holds.
      treatMissingData: 'ignore',
    });
    // A model whose monitor run keeps failing is never judged: without this, drift would go unseen silently.
    rules.push({
      type: 'metric',
      id: 'drift-monitor-errors',
      kind: 'drift-monitor-errors',
      severity: 'ticket',
      description: `${model.name}: the drift monitor's runs for the model failed (no drift verdict)`,
      runbook: runbookPath('drift-monitor-errors'),
      notify: true,
      metric: { metricName: DRIFT_METRICS.monitorErrors, dimensions: modelDims, stat: 'Sum' },
      periodMs: periodMsDrift,
      evaluationPeriods: 1,
      comparison: 'GreaterThanOrEqualToThreshold',
      threshold: 1,
      // Every run emits 0 or 1 per model; no datapoint means no run, which the monitor function's own alarm covers.
      treatMissingData: 'notBreaching',
    });
  }
  if (model.retrain === true) {
    // A failed retrain backs off the next automatic one: someone should read why (the RETRAIN_FAILED audit event).
    rules.push({
      type: 'metric',
      id: 'retrain-failed',
      kind: 'retrain-failed',
      severity: 'ticket',
      description: `${model.name}: a retrain run failed (training, packaging, champion gate or release); automatic retrains back off`,
      runbook: runbookPath('retrain-failed'),
      notify: true,
      metric: { metricName: RETRAIN_METRICS.failed, dimensions: modelDims, stat: 'Sum' },
      // Short: the notification should follow the failure within minutes (the audit event keeps the details).
      periodMs: 5 * MINUTE_MS,
      evaluationPeriods: 1,
      comparison: 'GreaterThanOrEqualToThreshold',
      threshold: 1,
      // Emitted only when a run ends; no retrain in the hour is not a failure.
      treatMissingData: 'notBreaching',
    });
  }
  for (const rule of rules) {
    const windows = rule.type === 'ratio' ? [rule.windowMs] : rule.type === 'metric' ? [rule.periodMs] : [];
    for (const w of windows) {
      const issues = cloudWatchWindowIssues(w, rule.type === 'metric' ? rule.evaluationPeriods : 1);
      if (issues.length > 0)
        throw new RangeError(`model "${model.name}": alarm ${rule.id}: ${issues.join('; ')}`);
    }
  }
  return rules;
}

function burnPair(
  model: string,
  kind: AlarmKind,
  tier: BurnRateAlarmRule,
  objective: SloObjective,
  what: string,
  periodMs: number,
  series: { bad: MetricRef; total: MetricRef },
): AlarmRule[] {
  const base = `${kind}-${tier.severity}-${windowLabel(tier.longWindowMs)}`;
  const rate = round(tier.burnRate);
  const budget = `${round(tier.budgetShare * 100)} % of the ${windowLabel(periodMs)} error budget`;
  const window = (which: 'long' | 'short', windowMs: number): RatioAlarmRule => ({
    type: 'ratio',
    id: `${base}-${which}`,
    kind,
    severity: tier.severity,
    description:
      `${model}: share of ${what} over ${windowLabel(windowMs)} above ${round(tier.badRatioThreshold)} ` +
      `(burn rate ${rate} of the ${objective.target} ${objective.sli} SLO)`,
    runbook: runbookPath(kind),
    notify: false,
    ...series,
    windowMs,
    threshold: tier.badRatioThreshold,
    burnRate: tier.burnRate,
    // No request in a window spends no budget: missing data is not a burn.
    treatMissingData: 'notBreaching',
  });
  const long = window('long', tier.longWindowMs);
  const short = window('short', tier.shortWindowMs);
  return [
    long,
    short,
    {
      type: 'composite',
      id: base,
      kind,
      severity: tier.severity,
      description:
        `${model}: ${objective.sli} SLO burning at ${rate}x over both ${windowLabel(tier.longWindowMs)} and ` +
        `${windowLabel(tier.shortWindowMs)} (${what}; at this rate ${budget} is spent in ` +
        `${windowLabel(tier.longWindowMs)})`,
      runbook: runbookPath(kind),
      notify: true,
      allOf: [long.id, short.id],
    },
  ];
}

/** Rounds floating-point noise away for text (14.399999 → 14.4); thresholds themselves stay exact. */
function round(x: number): number {
  return Number(x.toPrecision(6));
}

// --- Alarm names ------------------------------------------------------------------------------------------------

/**
 * `<project>-<stage>`: what every alarm name of a deployment starts with (the stack's `alarmNamePrefix`, local mode's
 * `localAlarmName`).
 */
export function alarmNamePrefix(deployment: { readonly project: string; readonly stage: string }): string {
  return `${deployment.project}-${deployment.stage}`;
}

/**
 * The CloudWatch alarm name of one rule: `<prefix>-<model>-<rule id>`, e.g.
 * `modelops-prod-breast-cancer-candidate-errors-page-1h`. The one definition of the format: the CDK alarms, the local
 * evaluator and {@link parseAlarmName} (the alarm-triggered rollback) all go through it.
 */
export function alarmName(prefix: string, model: string, ruleId: string): string {
  return `${prefix}-${model}-${ruleId}`;
}

/** What an alarm name says: whose alarm it is and which rule. */
export interface ParsedAlarmName {
  readonly model: string;
  readonly ruleId: string;
  readonly kind: AlarmKind;
  /** Set for one window of a multiwindow burn-rate pair; absent for the composite (the rule that notifies). */
  readonly window?: 'long' | 'short';
}

const BURN_KINDS = ['availability-burn', 'latency-burn', 'candidate-errors', 'candidate-latency'] as const;
/**
 * Every rule id `alarmRules` produces, as a grammar: `burnPair` ids (`<kind>-<severity>-<window label>` plus
 * `-long`/`-short` for the windows) and the fixed ids of the feedback and drift rules. No rule id ends in `-<another
 * rule id>`, so a name splits into model and rule in at most one way (test/unit/alarm-rollback.test.ts checks the
 * grammar against every rule `alarmRules` generates).
 */
const RULE_ID_GRAMMAR =
  `(?<burn>(?<burnKind>${BURN_KINDS.join('|')})-(?:page|ticket)-\\d+(?:\\.\\d+)?[smhd](?:-(?<window>long|short))?)` +
  '|(?<fixed>accuracy-floor|mae-ceiling|drift-monitor-errors|retrain-failed|drift)';
const FIXED_RULE_KINDS: Readonly<Record<string, AlarmKind>> = {
  'accuracy-floor': 'accuracy',
  'mae-ceiling': 'accuracy',
  drift: 'drift',
  'retrain-failed': 'retrain-failed',
  'drift-monitor-errors': 'drift-monitor-errors',
};
const ALARM_NAME_TAIL = new RegExp(`^(?<model>[a-z0-9-]+)-(?<rule>${RULE_ID_GRAMMAR})$`);

/**
 * The inverse of {@link alarmName} for names under `prefix`: undefined for a name of another deployment, of an alarm
 * that is not a model rule (e.g. `<prefix>-drift-monitor-failed`) or with a model name that `MODEL_NAME_PATTERN`
 * refuses.
 *
 * @example
 * parseAlarmName('modelops-prod-bc-candidate-errors-page-1h', 'modelops-prod')
 * // → { model: 'bc', ruleId: 'candidate-errors-page-1h', kind: 'candidate-errors' }
 */
export function parseAlarmName(name: string, prefix: string): ParsedAlarmName | undefined {
  if (!name.startsWith(`${prefix}-`)) return undefined;
  const groups = ALARM_NAME_TAIL.exec(name.slice(prefix.length + 1))?.groups;
  if (groups === undefined || !MODEL_NAME_PATTERN.test(groups.model!)) return undefined;
  const kind = groups.burn !== undefined ? (groups.burnKind as AlarmKind) : FIXED_RULE_KINDS[groups.fixed!]!;
  const window = groups.window as 'long' | 'short' | undefined;
  return { model: groups.model!, ruleId: groups.rule!, kind, ...(window !== undefined ? { window } : {}) };
}
