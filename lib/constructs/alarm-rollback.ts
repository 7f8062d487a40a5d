import { Duration, Token, Validations } from 'aws-cdk-lib';
import type { Alarm } from 'aws-cdk-lib/aws-cloudwatch';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { Rule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { ALARM_NAME_PREFIX_ENV, ALARM_ROLLBACK_MODELS_ENV } from '../../lambdas/core/alarm-rollback';
import { alarmName } from '../../lambdas/core/alarm-rules';
import { MODEL_NAME_PATTERN } from '../../lambdas/core/names';
import { deadLetterAlarm, deadLetterQueue } from './dead-letter-alarm';
import { ConstructPropsError, handlerEntry, ModelOpsFunction } from './modelops-function';

/** EventBridge's default limit on the size of one event pattern, in characters (adjustable to 4096). */
export const MAX_EVENT_PATTERN_CHARS = 2_048;

export interface AlarmRollbackProps {
  /** The models whose candidate alarms roll back: those with `canary.enabled`; at least one. */
  readonly models: readonly string[];
  /** What the models' alarm names start with, `<project>-<stage>`: the `alarmNamePrefix` given to `ModelAlarms`. */
  readonly alarmNamePrefix: string;
  /** The Deployments table (routing records): read and conditionally replaced. */
  readonly deployments: ITable;
  /** The AuditLog table: appended to. */
  readonly auditLog: ITable;
  /** The ModelVersions table: the rolled-back candidate's stage is updated in place (conditional UpdateItem). */
  readonly modelVersions: ITable;
  /** Powertools metrics namespace of the function (`config.monitoring.namespace`). */
  readonly metricsNamespace: string;
  /** Retention of the function's log group (`config.retention.logDays`). */
  readonly logRetention: RetentionDays;
  /**
   * KMS key encrypting the function's log group; its key policy must allow the CloudWatch Logs service principal.
   * @default - log group encrypted with the CloudWatch Logs service key
   */
  readonly logEncryptionKey?: IKey;
  /**
   * Where the dead-letter alarm notifies (an alarm event that could not be acted on).
   * @default - no action: the alarm only records its state
   */
  readonly alarmTopic?: ITopic;
  /**
   * How long an undelivered or failing alarm event is retried before it goes to the dead-letter queue. Later than
   * this, a person should look at the candidate instead (the alarm also paged them).
   * @default Duration.hours(2)
   */
  readonly maxEventAge?: Duration;
  /**
   * Reserved concurrency of the function: the rollback must run exactly when the account may be busy or throttled.
   * @default 2
   */
  readonly reservedConcurrency?: number;
}

/**
 * `<prefix>-<model>-candidate-` per model: the start of the names of the model's candidate alarms, the composites
 * and their window alarms (`candidate-errors-page-1h`, `…-long`, `…-short`, and the same for latency). The function
 * acts on the composites only and re-checks every name (lambdas/core/alarm-rollback.ts).
 */
export function candidateAlarmNamePrefixes(prefix: string, models: readonly string[]): string[] {
  return models.map((model) => alarmName(prefix, model, 'candidate-'));
}

/**
 * Alarm-triggered rollback (docs/rollout.md): an EventBridge rule on the default bus matches CloudWatch's "CloudWatch
 * Alarm State Change" events of the models' candidate alarms entering ALARM and invokes one function, which clears
 * the model's candidate in one conditional write of its routing record and audits ROLLED_BACK; the release execution
 * holding the rollout lock then ends RolledBack with the alarm as its reason.
 *
 * Delivery: the rule target retries undelivered events and the function's asynchronous invocation retries failures
 * (every retry is idempotent), both for at most `maxEventAge`; what still fails lands in one dead-letter queue whose
 * alarm notifies `alarmTopic`. The function may read and conditionally replace routing records, append to the
 * AuditLog and update version items (their stage), nothing else.
 */
export class AlarmRollback extends Construct {
  public readonly function: ModelOpsFunction;
  public readonly rule: Rule;
  /** Undeliverable events (rule target) and failed invocations (the function's on-failure destination). */
  public readonly deadLetterQueue: Queue;
  public readonly deadLetterAlarm: Alarm;
  /** The models whose candidate alarms roll back. */
  public readonly models: readonly string[];

  constructor(scope: Construct, id: string, props: AlarmRollbackProps) {
    super(scope, id);
    const maxEventAge = props.maxEventAge ?? Duration.hours(2);
    const reservedConcurrency = props.reservedConcurrency ?? 2;
    const eventPattern = {
      source: ['aws.cloudwatch'],
      detailType: ['CloudWatch Alarm State Change'],
      detail: {
        alarmName: candidateAlarmNamePrefixes(props.alarmNamePrefix, props.models).map((prefix) => ({
          prefix,
        })),
        state: { value: ['ALARM'] },
      },
    };
    validateProps(props, eventPattern, maxEventAge, reservedConcurrency);
    this.models = [...props.models];

    this.function = new ModelOpsFunction(this, 'Function', {
      entry: handlerEntry('alarm-rollback'),
      serviceName: 'alarm-rollback',
      description: 'Rolls back the canary candidate of a model whose candidate alarm entered ALARM',
      metricsNamespace: props.metricsNamespace,
      logRetention: props.logRetention,
      logEncryptionKey: props.logEncryptionKey,
      reservedConcurrentExecutions: reservedConcurrency,
      environment: {
        [ALARM_NAME_PREFIX_ENV]: props.alarmNamePrefix,
        [ALARM_ROLLBACK_MODELS_ENV]: props.models.join(','),
      },
    });
    this.function
      .bindTable(props.deployments, 'write')
      .bindTable(props.auditLog, 'append')
      .bindTable(props.modelVersions, 'patch');

    this.deadLetterQueue = deadLetterQueue(
      this,
      'DeadLetterQueue',
      'the alarm rule target and the on-failure destination of the rollback function',
    );
    this.function.function.configureAsyncInvoke({
      retryAttempts: 2,
      maxEventAge,
      onFailure: new SqsDestination(this.deadLetterQueue),
    });
    Validations.of(this.function.function).acknowledge({
      id: 'NIST.800.53.R5::NIST.800.53.R5-LambdaDLQ',
      reason:
        'Failed asynchronous invocations go to the on-failure destination (the DeadLetterQueue, with the error), which ' +
        'cdk-nag does not recognize; a DeadLetterConfig would deliver the same events without the error.',
    });

    this.deadLetterAlarm = deadLetterAlarm(this, 'DeadLetterAlarm', {
      queue: this.deadLetterQueue,
      description:
        'A candidate alarm event could not be acted on: the candidate may still be routed. Check the model with ' +
        '`modelops status`, roll the candidate back by hand if it is, then delete the message. Runbook: ' +
        'docs/rollout.md#alarm-triggered-rollback',
      topic: props.alarmTopic,
    });

    this.rule = new Rule(this, 'CandidateAlarm', {
      description: `Rolls back the candidate when a candidate alarm of ${props.models.join(', ')} enters ALARM`,
      eventPattern,
    });
    this.rule.addTarget(
      new LambdaFunction(this.function.function, {
        deadLetterQueue: this.deadLetterQueue,
        retryAttempts: 10,
        maxEventAge,
      }),
    );
  }
}

function validateProps(
  props: AlarmRollbackProps,
  eventPattern: object,
  maxEventAge: Duration,
  reservedConcurrency: number,
): void {
  if (props.models.length === 0) {
    throw new ConstructPropsError(
      'AlarmRollback: models must list at least one model with canary.enabled, got []; create the construct only ' +
        'when some model has a canary',
    );
  }
  const bad = props.models.find((m) => !MODEL_NAME_PATTERN.test(m));
  if (bad !== undefined) {
    throw new ConstructPropsError(
      `AlarmRollback: models entries must be model names (${MODEL_NAME_PATTERN}), got ${JSON.stringify(bad)}`,
    );
  }
  if (!Token.isUnresolved(props.alarmNamePrefix) && props.alarmNamePrefix.trim() === '') {
    throw new ConstructPropsError(
      'AlarmRollback: alarmNamePrefix must be the prefix of the alarm names (`<project>-<stage>`), got ""',
    );
  }
  const age = maxEventAge.toSeconds();
  if (!maxEventAge.isUnresolved() && (age < 60 || age > 6 * 3600)) {
    throw new ConstructPropsError(
      `AlarmRollback: maxEventAge must be between 1 minute and 6 hours, got ${maxEventAge.toHumanString()}`,
    );
  }
  if (
    !Token.isUnresolved(reservedConcurrency) &&
    (!Number.isInteger(reservedConcurrency) || reservedConcurrency < 1)
  ) {
    throw new ConstructPropsError(
      `AlarmRollback: reservedConcurrency must be a whole number >= 1, got ${reservedConcurrency}`,
    );
  }
  // The pattern as EventBridge stores it (CDK renames detailType to detail-type: same length + 1 per key).
  const size = JSON.stringify(eventPattern).length + 1;
  if (size > MAX_EVENT_PATTERN_CHARS) {
    throw new ConstructPropsError(
      `AlarmRollback: the event pattern for ${props.models.length} models takes ${size} characters, above ` +
        `EventBridge's default limit of ${MAX_EVENT_PATTERN_CHARS}; shorten the model names or the project/stage ` +
        'prefix, or split the models across stacks',
    );
  }
}
