import { Duration, Token, Validations } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { EventBus, Rule, Schedule } from 'aws-cdk-lib/aws-events';
import type { IEventBus } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { runbookPath } from '../../lambdas/core/alarm-rules';
import { DRIFT_DETECTED_DETAIL_TYPE, DRIFT_EVENT_SOURCE } from '../../lambdas/core/drift-monitor';
import { DRIFT_MODELS_ENV, driftModelsEnvValue, type DriftModel } from '../../lambdas/core/drift-schedule';
import { DRIFT_COUNTERS_TABLE, MONITOR_STATE_TABLE, REGISTRY_BUCKET_ENV } from '../../lambdas/core/tables';
import type { ArtifactRegistry } from './artifact-registry';
import type { MetadataTables } from './metadata-tables';
import { ConstructPropsError, handlerEntry, ModelOpsFunction } from './modelops-function';

/**
 * Bytes DRIFT_MODELS may take. Lambda caps a function's whole environment at 4 KB (names and values); the
 * Powertools, Node, bucket and table variables take about 600 bytes. Models on equal drift settings share one
 * ~200-byte settings object (`driftModelsEnvValue`), so this is reached only by many differently tuned models.
 */
export const MAX_DRIFT_MODELS_ENV_BYTES = 3_300;

export interface DriftMonitorProps {
  /**
   * The configured models with their `drift` settings (`config.models`); only those with `drift.enabled` are
   * monitored, and at least one must be.
   */
  readonly models: readonly DriftModel[];
  readonly registry: ArtifactRegistry;
  readonly tables: MetadataTables;
  /** Powertools metrics namespace (`config.monitoring.namespace`): where the drift metrics go. */
  readonly metricsNamespace: string;
  /** Retention of the function's log group (`config.retention.logDays`). */
  readonly logRetention: RetentionDays;
  /**
   * KMS key encrypting the function's log group; its key policy must allow the CloudWatch Logs service principal.
   * @default - log group encrypted with the CloudWatch Logs service key
   */
  readonly logEncryptionKey?: IKey;
  /**
   * Minutes between two runs (`config.monitoring.driftScheduleMinutes`), 1–1440.
   * @default 10
   */
  readonly scheduleMinutes?: number;
  /**
   * Timeout of one run over every model (they run one after the other).
   * @default Duration.minutes(2)
   */
  readonly timeout?: Duration;
  /**
   * Topic notified when the function itself fails (a crash, a timeout or bad DRIFT_MODELS: runs that write no
   * per-model `DriftMonitorErrors`, which the models' `drift-monitor-errors` alarms watch).
   * @default - no alarm on the function
   */
  readonly alarmTopic?: ITopic;
  /** Alarm name prefix, e.g. `modelops-prod`; the alarm is `<prefix>-drift-monitor-failed`. @default 'modelops' */
  readonly alarmNamePrefix?: string;
  /** Prepended to the runbook path in the alarm description. @default '' */
  readonly runbookBaseUrl?: string;
}

/**
 * The scheduled drift monitor (docs/drift.md, "Deployed monitor"): an EventBridge rule every `scheduleMinutes`
 * invokes one function that runs `runDriftMonitor` over the drift-enabled models given in DRIFT_MODELS.
 *
 * Runs never overlap (reserved concurrency 1) and a failed invocation is not retried: the next scheduled run judges
 * the next window, and a retry of a run whose writes partly landed would step those models' states twice. The
 * function reads DriftCounters, Deployments and ModelVersions and the registered manifests under `models/`, writes
 * only its MonitorState items (conditional put on the revision), appends to the AuditLog, and publishes only
 * `ModelDriftDetected` from source `modelops` on the account's default event bus.
 */
export class DriftMonitor extends Construct {
  public readonly function: ModelOpsFunction;
  public readonly rule: Rule;
  /** The bus `ModelDriftDetected` is published on: the account's default bus. */
  public readonly eventBus: IEventBus;
  /** The models the function monitors (those with `drift.enabled`), as written to DRIFT_MODELS. */
  public readonly models: readonly DriftModel[];
  /** Errors of the function itself (only with `alarmTopic`). */
  public readonly failureAlarm?: Alarm;

  constructor(scope: Construct, id: string, props: DriftMonitorProps) {
    super(scope, id);
    const scheduleMinutes = props.scheduleMinutes ?? 10;
    const timeout = props.timeout ?? Duration.minutes(2);
    this.models = props.models.filter((m) => m.drift.enabled);
    const driftModels = validateProps(props, this.models, scheduleMinutes);
    const { registry, tables } = props;
    const period = Duration.minutes(scheduleMinutes);
    // An event older than one period is superseded by the next run; Lambda accepts 1 minute to 6 hours.
    const maxEventAge = Duration.seconds(Math.min(Math.max(period.toSeconds(), 60), 6 * 3600));

    this.function = new ModelOpsFunction(this, 'Function', {
      entry: handlerEntry('drift-monitor'),
      serviceName: 'drift-monitor',
      description: `Drift monitor: judges the live window of each drift-enabled model every ${scheduleMinutes} min`,
      metricsNamespace: props.metricsNamespace,
      logRetention: props.logRetention,
      logEncryptionKey: props.logEncryptionKey,
      timeout,
      // One run at a time: twin runs are safe (conditional state writes) but only waste reads.
      reservedConcurrentExecutions: 1,
      environment: {
        [DRIFT_MODELS_ENV]: driftModels,
        [REGISTRY_BUCKET_ENV]: registry.bucket.bucketName,
      },
    });
    this.function.function.configureAsyncInvoke({ retryAttempts: 0, maxEventAge });
    this.function
      .bindTable(tables.tables[DRIFT_COUNTERS_TABLE.id]!, 'read')
      .bindTable(tables.tables[MONITOR_STATE_TABLE.id]!, 'write')
      .bindTable(tables.deployments, 'read')
      .bindTable(tables.modelVersions, 'read')
      .bindTable(tables.auditLog, 'append')
      // Registered manifests (the baselines) live under models/; the bucket policy denies writes there, not reads.
      .bindBucket((g) => registry.grantReadModels(g));

    this.eventBus = EventBus.fromEventBusName(this, 'DefaultBus', 'default');
    this.function.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'PublishModelDriftDetected',
        actions: ['events:PutEvents'],
        resources: [this.eventBus.eventBusArn],
        conditions: {
          StringEquals: {
            'events:source': [DRIFT_EVENT_SOURCE],
            'events:detail-type': [DRIFT_DETECTED_DETAIL_TYPE],
          },
        },
      }),
    );

    this.rule = new Rule(this, 'Schedule', {
      description: `Runs the drift monitor every ${scheduleMinutes} min (monitoring.driftScheduleMinutes)`,
      schedule: Schedule.rate(period),
    });
    this.rule.addTarget(
      new LambdaFunction(this.function.function, {
        // Delivery retries only (the invocation is asynchronous); a delivery older than a period is pointless.
        retryAttempts: 2,
        maxEventAge,
      }),
    );

    if (props.alarmTopic !== undefined) {
      this.failureAlarm = new Alarm(this, 'FailedAlarm', {
        alarmName: `${props.alarmNamePrefix ?? 'modelops'}-drift-monitor-failed`,
        alarmDescription:
          'The drift monitor function failed (crash, timeout or bad configuration): no model was judged. ' +
          `Severity: ticket. Runbook: ${props.runbookBaseUrl ?? ''}${runbookPath('drift-monitor-errors')}`,
        // Two periods so one failed run among healthy ones is enough, and the alarm clears after a good run.
        metric: this.function.function.metricErrors({
          period: Duration.minutes(Math.max(scheduleMinutes, 5) * 2),
        }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: TreatMissingData.NOT_BREACHING,
      });
      const action = new SnsAction(props.alarmTopic);
      this.failureAlarm.addAlarmAction(action);
      this.failureAlarm.addOkAction(action);
    }

    Validations.of(this.function.function).acknowledge({
      id: 'NIST.800.53.R5::NIST.800.53.R5-LambdaDLQ',
      reason:
        'Invoked only by its EventBridge schedule, with async retries off and events expiring after one period: ' +
        'a failed run is superseded by the next scheduled run (which also delivers any pending outbox), so a ' +
        'dead-letter queue would only hold stale schedule ticks. Failures are logged, counted per model ' +
        '(DriftMonitorErrors, alarmed per model) and, for the function itself, alarmed on its Errors metric.',
    });
  }
}

function validateProps(
  props: DriftMonitorProps,
  enabled: readonly DriftModel[],
  scheduleMinutes: number,
): string {
  if (
    !Token.isUnresolved(scheduleMinutes) &&
    (!Number.isInteger(scheduleMinutes) || scheduleMinutes < 1 || scheduleMinutes > 1_440)
  ) {
    throw new ConstructPropsError(
      `DriftMonitor: scheduleMinutes must be a whole number of minutes from 1 to 1440, got ${scheduleMinutes}`,
    );
  }
  if (enabled.length === 0) {
    throw new ConstructPropsError(
      `DriftMonitor: models must include at least one model with drift.enabled, got ` +
        `${JSON.stringify(props.models.map((m) => m.name))}; create the monitor only when drift is on somewhere`,
    );
  }
  const value = driftModelsEnvValue(enabled);
  const bytes = Buffer.byteLength(value, 'utf8');
  if (bytes > MAX_DRIFT_MODELS_ENV_BYTES) {
    throw new ConstructPropsError(
      `DriftMonitor: the drift settings of ${enabled.length} models take ${bytes} bytes of ${DRIFT_MODELS_ENV}, ` +
        `above the ${MAX_DRIFT_MODELS_ENV_BYTES} bytes Lambda's 4 KB environment leaves for it; turn drift off ` +
        '(models[].drift.enabled: false) for some models or split the models across stacks',
    );
  }
  return value;
}
