import * as path from 'node:path';
import { Arn, ArnFormat, Aws, Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, MathExpression, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type { IAlarm } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { EventField, Rule, RuleTargetInput, Schedule } from 'aws-cdk-lib/aws-events';
import { SfnStateMachine } from 'aws-cdk-lib/aws-events-targets';
import { Grant, PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IGrantable } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { CfnBucket } from 'aws-cdk-lib/aws-s3';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { DefinitionBody, LogLevel, StateMachine, StateMachineType } from 'aws-cdk-lib/aws-stepfunctions';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { DRIFT_DETECTED_DETAIL_TYPE, DRIFT_EVENT_SOURCE } from '../../lambdas/core/drift-monitor';
import { MODEL_NAME_PATTERN } from '../../lambdas/core/manifest';
import { PREFIX } from '../../lambdas/core/tables';
import { ECR_IMAGE_URI_PATTERN, RETRAIN_SCHEDULE_PATTERN } from '../config';
import { RETRAIN_WORKFLOW, type TrainingAccess } from '../workflows/retrain';
import {
  functionArnPlaceholder,
  type BucketAccess,
  type TableAccess,
  WORKFLOW_SETTINGS,
  type WorkflowSetting,
  type WorkflowTable,
} from '../workflows/types';
import type { ArtifactRegistry } from './artifact-registry';
import { deadLetterAlarm, deadLetterQueue } from './dead-letter-alarm';
import type { MetadataTables } from './metadata-tables';
import {
  ConstructPropsError,
  handlerEntry,
  type BucketGrant,
  ManagedPolicyRole,
  ModelOpsFunction,
  PROJECT_ROOT,
} from './modelops-function';

/** The retrain state machine definition, loaded as is; its placeholders are substituted (`RETRAIN_WORKFLOW`). */
export const RETRAIN_ASL_PATH = path.join(PROJECT_ROOT, 'stepfunctions', RETRAIN_WORKFLOW.aslFile);

/** Training runs live under `training/<model>/<runId>/` (lambdas/core/keys.ts `trainingRunPrefix`). */
export const TRAINING_PREFIX = 'training/';

/** Where SageMaker training jobs write their logs (a fixed, service-owned log group name). */
export const SAGEMAKER_TRAINING_LOG_GROUP = '/aws/sagemaker/TrainingJobs';

/**
 * The rules Step Functions creates in the account to learn when a `.sync` job ends: SageMaker training jobs and nested
 * executions (https://docs.aws.amazon.com/step-functions/latest/dg/sagemaker-iam.html,
 * https://docs.aws.amazon.com/step-functions/latest/dg/stepfunctions-iam.html).
 */
export const SYNC_MANAGED_RULES = [
  'StepFunctionsGetEventsForSageMakerTrainingJobsRule',
  'StepFunctionsGetEventsForStepFunctionsExecutionRule',
] as const;

/** The start input's `trigger` of each automatic trigger (lambdas/core/retrain-policy.ts `TRIGGER_KINDS`). */
export const RETRAIN_TRIGGERS = { drift: 'drift', schedule: 'schedule', accuracy: 'accuracy' } as const;

/**
 * The name prefix of every training job of `model`: what lambdas/core/retrain-guard.ts `trainingJobName` puts in
 * front of `-<runId>-<hash>`. The state machine may create, describe and stop only jobs with these prefixes.
 */
export function trainingJobNamePrefix(model: string): string {
  return `${model.slice(0, 40).replace(/-+$/, '')}-`;
}

function trainingJobPrefixes(props: RetrainPipelineProps): string[] {
  return [...new Set(props.models.map((m) => trainingJobNamePrefix(m.name)))];
}

/** The training jobs the retrain runs may create: `trainingJobNamePrefix(model)*` of each model, in this stack. */
function trainingJobArns(props: RetrainPipelineProps): string[] {
  const stack = Stack.of(props.registry);
  return trainingJobPrefixes(props).map((p) =>
    stack.formatArn({ service: 'sagemaker', resource: 'training-job', resourceName: `${p}*` }),
  );
}

/** `breast-cancer` → `BreastCancer`: the construct-id stem of a model's triggers (ids are part of the contract). */
function stemOf(model: string): string {
  return model
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

/** One model with `retrain.enabled`, as the retrain pipeline needs it. */
export interface RetrainModel {
  /** The model's name (`models[].name`). */
  readonly name: string;
  /**
   * The SageMaker training image (`models[].retrain.trainer.sagemaker.image`); the training role may pull only the
   * repositories of these images. Required in AWS: a model with only a local `trainer.command` cannot train there.
   */
  readonly trainingImage: string;
  /**
   * Extra trigger on a timetable (`models[].retrain.schedule`): `rate(7 days)` or `cron(0 3 ? * MON *)`.
   * @default - no scheduled retrain
   */
  readonly schedule?: string;
  /**
   * The model's accuracy alarms (the `accuracy-floor` / `mae-ceiling` rules of `ModelAlarms`): each entering ALARM
   * starts a retrain with trigger `accuracy`.
   * @default - no accuracy trigger
   */
  readonly accuracyAlarms?: readonly IAlarm[];
}

export interface RetrainPipelineProps {
  readonly registry: ArtifactRegistry;
  readonly tables: MetadataTables;
  /** The release state machine the retrained bundle is released through (nested `startExecution.sync:2`). */
  readonly releaseStateMachine: IStateMachine;
  /** The models with `retrain.enabled` (at least one). */
  readonly models: readonly RetrainModel[];
  /** `retrainPoliciesEnvValue(config.models)`: guard, champion gate and training settings of those models. */
  readonly retrainPolicies: string;
  /** Powertools metrics namespace of the functions, usually the project name. */
  readonly metricsNamespace: string;
  /** Retention of the functions' and the state machine's log groups (`config.retention.logDays`). */
  readonly logRetention: RetentionDays;
  /**
   * KMS key encrypting the log groups; its key policy must allow the CloudWatch Logs service principal.
   * @default - log groups encrypted with the CloudWatch Logs service key
   */
  readonly logEncryptionKey?: IKey;
  /**
   * Reserved concurrency of each retrain function: retrains are rare (daily cap), so a small cap keeps them from
   * taking account concurrency from inference; throttles are retried by the state machine.
   * @default 2
   */
  readonly reservedConcurrency?: number;
  /**
   * Where the failure and dead-letter alarms notify.
   * @default - no alarm action: the alarms are created and visible in CloudWatch, but notify no one
   */
  readonly alarmTopic?: ITopic;
  /**
   * How long EventBridge retries delivering a trigger to the state machine before the event goes to the dead-letter
   * queue.
   * @default Duration.hours(2)
   */
  readonly maxEventAge?: Duration;
}

/**
 * The retrain pipeline (docs/retrain.md): the retrain state machine (`stepfunctions/retrain.asl.json`) with one
 * function per row of its wiring table (lib/workflows/retrain.ts), the SageMaker training role its Train state passes,
 * and per model the triggers that start it — `ModelDriftDetected` from the drift monitor, the model's schedule and
 * its accuracy alarms entering ALARM — each with the documented start input (lambdas/core/retrain-policy.ts
 * `retrainStartSchema`). Undeliverable triggers go to a dead-letter queue; failed or timed-out runs raise an alarm.
 */
export class RetrainPipeline extends Construct {
  public readonly retrainGuard: ModelOpsFunction;
  public readonly prepareTrainingData: ModelOpsFunction;
  public readonly packageRetrained: ModelOpsFunction;
  public readonly championGate: ModelOpsFunction;
  public readonly recordRetrainOutcome: ModelOpsFunction;
  /** Every function of the wiring table, in row order. */
  public readonly functions: readonly ModelOpsFunction[];
  /** Assumed by SageMaker for the Train state's training jobs; passed by the state machine only. */
  public readonly trainingRole: ManagedPolicyRole;
  public readonly stateMachine: StateMachine;
  public readonly stateMachineRole: ManagedPolicyRole;
  public readonly stateMachineLogGroup: LogGroup;
  /** Assumed by EventBridge: starts executions of this state machine only. */
  public readonly triggerRole: ManagedPolicyRole;
  /** Every trigger rule, by construct id (`<Stem>DriftDetected`, `<Stem>Schedule`, `<Stem>AccuracyAlarm`). */
  public readonly triggers: Readonly<Record<string, Rule>>;
  public readonly deadLetterQueue: Queue;
  /** In alarm while any trigger event sits in the dead-letter queue. */
  public readonly deadLetterAlarm: Alarm;
  /** In alarm when a retrain execution failed (RecordFailure → RetrainFailed) or timed out. */
  public readonly failureAlarm: Alarm;

  constructor(scope: Construct, id: string, props: RetrainPipelineProps) {
    super(scope, id);
    const reservedConcurrency = props.reservedConcurrency ?? 2;
    const maxEventAge = props.maxEventAge ?? Duration.hours(2);
    validateProps(props, reservedConcurrency, maxEventAge);
    const { registry, tables } = props;
    const stack = Stack.of(this);
    const bucketLogicalId = stack.getLogicalId(registry.bucket.node.defaultChild as CfnBucket);
    const modelNames = props.models.map((m) => m.name);

    // Only the settings retrain rows bind; a row asking for another fails synthesis here instead of getting ''.
    const settings: Partial<Record<WorkflowSetting, string>> = {
      registryBucket: registry.bucket.bucketName,
      retrainPolicies: props.retrainPolicies,
    };
    const kmsViaS3 = { StringEquals: { 'kms:ViaService': `s3.${Aws.REGION}.amazonaws.com` } };
    const acknowledgeObjects = (grantee: IGrantable, keys: string, why: string) => {
      const principal = grantee.grantPrincipal;
      if (!Construct.isConstruct(principal)) return;
      Validations.of(principal).acknowledge({
        id: `AwsSolutions::AwsSolutions-IAM5[Resource::<${bucketLogicalId}.Arn>/${keys}]`,
        reason: `${why}; the grant covers ${keys} only, no other prefix of the bucket.`,
      });
    };
    /**
     * Objects matching `keys` (a key pattern, e.g. `training/*`) plus the registry key through S3 only, as
     * ArtifactRegistry's own grants do.
     */
    const grantObjects = (
      grantee: IGrantable,
      actions: string[],
      keys: string,
      kms: string[],
      why: string,
    ) => {
      acknowledgeObjects(grantee, keys, why);
      return Grant.addToPrincipal({
        grantee,
        actions,
        resourceArns: [registry.bucket.arnForObjects(keys)],
      }).combine(
        Grant.addToPrincipal({
          grantee,
          actions: kms,
          resourceArns: [registry.key.keyArn],
          conditions: kmsViaS3,
        }),
      );
    };
    /** `s3:ListBucket` for list prefixes matching `patterns` only (e.g. `training/*`). */
    const grantList = (grantee: IGrantable, patterns: string[]) =>
      Grant.addToPrincipal({
        grantee,
        actions: ['s3:ListBucket'],
        resourceArns: [registry.bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': patterns } },
      });
    const runKeys = 'Training run keys (training/<model>/<runId>/...) are chosen at run time';
    // Only the capture prefixes of the models with retrain enabled.
    const capturePrefixes = modelNames.map((m) => `${PREFIX.capture}${m}/*`);
    const bucketGrants: Record<BucketAccess | TrainingAccess, BucketGrant> = {
      readIncoming: (g) => registry.grantReadIncoming(g),
      publishModels: (g) => registry.grantPublishModels(g),
      readModels: (g) => registry.grantReadModels(g),
      uploadIncoming: (g) => registry.grantUploadIncoming(g),
      writeTrainingData: (g) =>
        grantObjects(
          g,
          ['s3:PutObject'],
          `${TRAINING_PREFIX}*`,
          ['kms:Encrypt', 'kms:GenerateDataKey', 'kms:Decrypt'],
          runKeys,
        ),
      // PrepareTrainingData joins the captured requests of the data window (capture/<model>/<yyyy>/<mm>/<dd>/...,
      // lambdas/core/training-data.ts) with their labels.
      readCapture: (g) =>
        capturePrefixes
          .map((prefix) =>
            grantObjects(
              g,
              ['s3:GetObject'],
              prefix,
              ['kms:Decrypt'],
              'Captured request objects (capture/<model>/<date>/...) are named at run time',
            ),
          )
          .reduce((all, grant) => all.combine(grant))
          .combine(grantList(g, capturePrefixes)),
      // ListBucket too: PackageRetrained lists the trainer's output (model.tar.gz, or model.onnx + report.json).
      readTrainingOutput: (g) =>
        grantObjects(g, ['s3:GetObject'], `${TRAINING_PREFIX}*`, ['kms:Decrypt'], runKeys).combine(
          grantList(g, [`${TRAINING_PREFIX}*`]),
        ),
    };

    const byId = new Map<string, ModelOpsFunction>();
    const substitutions: Record<string, string> = {};
    for (const row of RETRAIN_WORKFLOW.functions) {
      const environment: Record<string, string> = {};
      for (const setting of row.settings as readonly WorkflowSetting[]) {
        const value = settings[setting];
        if (value === undefined) {
          throw new ConstructPropsError(
            `RetrainPipeline: wiring row ${row.id} binds setting "${setting}", which RetrainPipeline does not ` +
              'supply; add its value to the settings in lib/constructs/retrain-pipeline.ts',
          );
        }
        environment[WORKFLOW_SETTINGS[setting]] = value;
      }
      const fn = new ModelOpsFunction(this, row.id, {
        entry: handlerEntry(row.handler),
        serviceName: row.serviceName,
        description: row.description,
        memorySize: row.memoryMb,
        timeout: Duration.seconds(row.timeoutSeconds),
        onnxRuntime: row.onnxRuntime,
        metricsNamespace: props.metricsNamespace,
        logRetention: props.logRetention,
        logEncryptionKey: props.logEncryptionKey,
        reservedConcurrentExecutions: reservedConcurrency,
        environment,
      });
      fn.bindBucket(
        ...[...row.bucket, ...row.training].map((b: BucketAccess | TrainingAccess) => bucketGrants[b]),
      );
      for (const [table, access] of Object.entries(row.tables) as [WorkflowTable, TableAccess][]) {
        fn.bindTable(tables.workflowTable(table, 'RetrainPipeline'), access);
      }
      Validations.of(fn.function).acknowledge({
        id: 'NIST.800.53.R5::NIST.800.53.R5-LambdaDLQ',
        reason:
          'Invoked only synchronously by the retrain state machine, which retries and catches every failure ' +
          '(RecordFailure -> RETRAIN_FAILED audit event); a Lambda DLQ applies to asynchronous invocations only.',
      });
      byId.set(row.id, fn);
      substitutions[functionArnPlaceholder(row)] = fn.function.functionArn;
    }
    const functionOf = (fnId: (typeof RETRAIN_WORKFLOW.functions)[number]['id']) => byId.get(fnId)!;
    this.retrainGuard = functionOf('RetrainGuard');
    this.prepareTrainingData = functionOf('PrepareTrainingData');
    this.packageRetrained = functionOf('PackageRetrained');
    this.championGate = functionOf('ChampionGate');
    this.recordRetrainOutcome = functionOf('RecordRetrainOutcome');
    this.functions = [...byId.values()];

    this.trainingRole = this.createTrainingRole(props, grantObjects, grantList);

    this.stateMachineLogGroup = new LogGroup(this, 'StateMachineLogGroup', {
      retention: props.logRetention,
      encryptionKey: props.logEncryptionKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.stateMachineRole = new ManagedPolicyRole(this, 'StateMachineRole', {
      assumedBy: new ServicePrincipal('states.amazonaws.com'),
      description:
        'Retrain state machine: invokes the retrain functions, runs its training jobs, starts the release',
    });
    this.grantStateMachine(props);
    this.stateMachine = new StateMachine(this, 'StateMachine', {
      stateMachineType: StateMachineType.STANDARD,
      definitionBody: DefinitionBody.fromFile(RETRAIN_ASL_PATH),
      definitionSubstitutions: {
        ...substitutions,
        RegistryBucketName: registry.bucket.bucketName,
        RegistryKeyArn: registry.key.keyArn,
        TrainingRoleArn: this.trainingRole.roleArn,
        ReleaseStateMachineArn: props.releaseStateMachine.stateMachineArn,
      } satisfies Record<(typeof RETRAIN_WORKFLOW.substitutions)[number], string> & Record<string, string>,
      role: this.stateMachineRole,
      tracingEnabled: true,
      logs: { destination: this.stateMachineLogGroup, level: LogLevel.ALL, includeExecutionData: true },
    });

    this.failureAlarm = new Alarm(this, 'RetrainFailedAlarm', {
      alarmDescription:
        'A retrain execution failed (RetrainFailed after RecordFailure, or RetrainOutcomeNotRecorded) or timed out; ' +
        'nothing past the failed step was released. RETRAIN_FAILED in the audit log names the step and its error; ' +
        'automatic retrains of the model back off (retrain.backoffMinutes). Runbook: docs/retrain.md',
      metric: new MathExpression({
        expression: 'FILL(failed, 0) + FILL(timedOut, 0)',
        usingMetrics: {
          failed: this.stateMachine.metricFailed({ period: Duration.minutes(5), statistic: 'Sum' }),
          timedOut: this.stateMachine.metricTimedOut({ period: Duration.minutes(5), statistic: 'Sum' }),
        },
        period: Duration.minutes(5),
        label: 'Retrain executions failed or timed out',
      }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
    if (props.alarmTopic) {
      this.failureAlarm.addAlarmAction(new SnsAction(props.alarmTopic));
    } else {
      Validations.of(this.failureAlarm).acknowledge({
        id: 'NIST.800.53.R5::NIST.800.53.R5-CloudWatchAlarmAction',
        reason:
          'No alarmTopic was given (ModelOpsStack always passes its alarm topic); the alarm still records ' +
          'its state in CloudWatch, and an action is added as soon as a topic is configured.',
      });
    }

    this.deadLetterQueue = deadLetterQueue(this, 'DeadLetterQueue', 'the retrain trigger rules');
    this.deadLetterAlarm = deadLetterAlarm(this, 'DeadLetterAlarm', {
      queue: this.deadLetterQueue,
      description:
        'A retrain trigger (drift, schedule or accuracy alarm) could not be delivered to the retrain state machine; ' +
        'no retrain started for it. Read the message for the model, start a retrain by hand if still wanted ' +
        '(docs/retrain.md#manual-start), then delete the message.',
      topic: props.alarmTopic,
    });

    this.triggerRole = new ManagedPolicyRole(this, 'TriggerRole', {
      assumedBy: new ServicePrincipal('events.amazonaws.com'),
      description: 'Retrain triggers: start executions of the retrain state machine only',
    });
    this.triggers = this.createTriggers(props, maxEventAge);
  }

  /**
   * The role of the training jobs (https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-roles.html, the
   * CreateTrainingJob execution role): read the run's training CSV and the parent's manifest, write the run's output,
   * pull the configured images, write the training job logs.
   */
  private createTrainingRole(
    props: RetrainPipelineProps,
    grantObjects: (g: IGrantable, actions: string[], prefix: string, kms: string[], why: string) => Grant,
    grantList: (g: IGrantable, prefixes: string[]) => Grant,
  ): ManagedPolicyRole {
    const stack = Stack.of(this);
    const role = new ManagedPolicyRole(this, 'TrainingRole', {
      // Confused-deputy protection (SageMaker's "Cross-service confused deputy prevention", training jobs): only
      // SageMaker acting for this account's retrain jobs, named by trainingJobNamePrefix, may assume it.
      assumedBy: new ServicePrincipal('sagemaker.amazonaws.com', {
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: { 'aws:SourceArn': trainingJobArns(props) },
        },
      }),
      description: "Retrain training jobs: read a run's data and parent manifest, write its output",
    });
    const dataWhy = 'Run ids and parent versions are chosen at run time';
    const listPrefixes: string[] = [];
    for (const { name } of props.models) {
      const run = `${TRAINING_PREFIX}${name}/*/`;
      const manifest = `${PREFIX.models}${name}/*/manifest.json`;
      grantObjects(role, ['s3:GetObject'], `${run}data/*`, ['kms:Decrypt'], dataWhy);
      grantObjects(role, ['s3:GetObject'], manifest, ['kms:Decrypt'], dataWhy);
      grantObjects(
        role,
        ['s3:PutObject'],
        `${run}output/*`,
        ['kms:Encrypt', 'kms:GenerateDataKey', 'kms:Decrypt'],
        dataWhy,
      );
      // S3Prefix channels list their prefix (the CSV's key, the manifest's key).
      listPrefixes.push(`${run}data/*`, manifest);
    }
    grantList(role, listPrefixes);

    const repositories = [...new Set(props.models.map((m) => ecrRepositoryArn(m.trainingImage)))];
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'PullTrainingImages',
        actions: ['ecr:BatchCheckLayerAvailability', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchGetImage'],
        resources: repositories,
      }),
    );
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'EcrAuthorization',
        actions: ['ecr:GetAuthorizationToken'],
        resources: ['*'],
      }),
    );
    const logGroupArn = stack.formatArn({
      service: 'logs',
      resource: 'log-group',
      resourceName: SAGEMAKER_TRAINING_LOG_GROUP,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'CreateTrainingLogGroup',
        actions: ['logs:CreateLogGroup', 'logs:DescribeLogStreams'],
        resources: [`${logGroupArn}:*`],
      }),
    );
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'WriteTrainingLogs',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        // Streams are `<training job name>/algo-<n>-<time>`: only this pipeline's job name prefixes.
        resources: props.models.map((m) => `${logGroupArn}:log-stream:${trainingJobNamePrefix(m.name)}*`),
      }),
    );
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'PutTrainingMetrics',
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': SAGEMAKER_TRAINING_LOG_GROUP } },
      }),
    );
    Validations.of(role).acknowledge(
      {
        id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
        reason:
          'ecr:GetAuthorizationToken and cloudwatch:PutMetricData support no resource-level permissions ' +
          '(PutMetricData is limited to the /aws/sagemaker/TrainingJobs namespace by condition). Image pulls name ' +
          'the configured repositories; S3 statements name prefixes.',
      },
      {
        id: `AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:${SAGEMAKER_TRAINING_LOG_GROUP}:*]`,
        reason:
          'SageMaker writes training job logs to the service-owned log group /aws/sagemaker/TrainingJobs and may ' +
          'create it; the `:*` suffix is how IAM names a log group (and its streams) in CreateLogGroup and ' +
          'DescribeLogStreams.',
      },
      ...props.models.map((m) => ({
        id: `AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:${SAGEMAKER_TRAINING_LOG_GROUP}:log-stream:${trainingJobNamePrefix(m.name)}*]`,
        reason:
          `Log streams of ${m.name}'s training jobs are named after the job, which the retrain guard names ` +
          `${trainingJobNamePrefix(m.name)}<runId>-<hash> at run time.`,
      })),
    );
    return role;
  }

  /**
   * The state machine role: the documented policies of `sagemaker:createTrainingJob.sync`
   * (https://docs.aws.amazon.com/step-functions/latest/dg/sagemaker-iam.html) and of the nested
   * `states:startExecution.sync:2` (https://docs.aws.amazon.com/step-functions/latest/dg/stepfunctions-iam.html),
   * narrowed to this pipeline's job name prefixes, training role and release state machine.
   */
  private grantStateMachine(props: RetrainPipelineProps): void {
    const stack = Stack.of(this);
    const role = this.stateMachineRole;
    // The ASL calls the functions by unqualified ARN, so no `:*` (version/alias) wildcard is needed.
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'InvokeRetrainFunctions',
        actions: ['lambda:InvokeFunction'],
        resources: this.functions.map((f) => f.function.functionArn),
      }),
    );
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'RunTrainingJobs',
        actions: [
          'sagemaker:CreateTrainingJob',
          'sagemaker:DescribeTrainingJob',
          'sagemaker:StopTrainingJob',
        ],
        resources: trainingJobArns(props),
      }),
    );
    // In the documented .sync policy: the integration reads the job's tags.
    role.addToPrincipalPolicy(
      new PolicyStatement({ sid: 'ReadTrainingJobTags', actions: ['sagemaker:ListTags'], resources: ['*'] }),
    );
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'PassTrainingRole',
        actions: ['iam:PassRole'],
        resources: [this.trainingRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'sagemaker.amazonaws.com' } },
      }),
    );
    props.releaseStateMachine.grantStartExecution(role);
    props.releaseStateMachine.grantExecution(role, 'states:DescribeExecution', 'states:StopExecution');
    role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'SyncCompletionRules',
        actions: ['events:PutTargets', 'events:PutRule', 'events:DescribeRule'],
        resources: SYNC_MANAGED_RULES.map((rule) =>
          stack.formatArn({ service: 'events', resource: 'rule', resourceName: rule }),
        ),
      }),
    );
    Validations.of(role).acknowledge(
      {
        id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
        reason:
          'Resource "*" only where AWS supports nothing narrower: sagemaker:ListTags (in the documented policy of ' +
          'createTrainingJob.sync), CloudWatch Logs vended log delivery (logs:CreateLogDelivery, ..., ' +
          'DescribeLogGroups) and X-Ray (PutTraceSegments, PutTelemetryRecords, GetSamplingRules, ' +
          'GetSamplingTargets). Every other statement names its resources.',
      },
      ...trainingJobPrefixes(props).map((p) => ({
        id: `AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:training-job/${p}*]`,
        reason:
          `Training job names are chosen per run by the retrain guard (${p}<runId>-<hash>); the grant covers ` +
          "this model's jobs only, as the documented createTrainingJob.sync policy does with a name prefix.",
      })),
    );
    // The executions of the release state machine (`execution:<name>:*`, as `grantExecution` renders the name).
    const releaseName = Arn.split(
      props.releaseStateMachine.stateMachineArn,
      ArnFormat.COLON_RESOURCE_NAME,
    ).resourceName;
    const rendered = Token.isUnresolved(releaseName)
      ? JSON.stringify(stack.resolve(releaseName))
      : releaseName;
    Validations.of(role).acknowledge({
      id: `AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:${rendered}:*]`,
      reason:
        'states:DescribeExecution and StopExecution on the executions of the release state machine only: the ' +
        'nested release execution is named when it starts (documented startExecution.sync:2 policy).',
    });
  }

  private createTriggers(props: RetrainPipelineProps, maxEventAge: Duration): Record<string, Rule> {
    const triggers: Record<string, Rule> = {};
    const target = (input: RuleTargetInput) =>
      new SfnStateMachine(this.stateMachine, {
        role: this.triggerRole,
        input,
        deadLetterQueue: this.deadLetterQueue,
        retryAttempts: 10,
        maxEventAge,
      });
    for (const model of props.models) {
      const stem = stemOf(model.name);
      const drift = new Rule(this, `${stem}DriftDetected`, {
        description: `Starts a retrain of ${model.name} on its ModelDriftDetected event (the guard checks persistence)`,
        eventPattern: {
          source: [DRIFT_EVENT_SOURCE],
          detailType: [DRIFT_DETECTED_DETAIL_TYPE],
          detail: { model: [model.name] },
        },
      });
      drift.addTarget(
        target(
          RuleTargetInput.fromObject({
            model: model.name,
            trigger: RETRAIN_TRIGGERS.drift,
            reason:
              `ModelDriftDetected on ${EventField.fromPath('$.detail.version')}: share ` +
              `${EventField.fromPath('$.detail.share')} of features drifted in the window ending ` +
              `${EventField.fromPath('$.detail.windowEnd')}`,
            // The whole detail: the guard checks evidence.persistence.recent.
            evidence: EventField.fromPath('$.detail'),
            // Redeliveries of one drift event carry the same id: the guard starts one retrain.
            eventId: EventField.fromPath('$.detail.eventId'),
          }),
        ),
      );
      triggers[`${stem}DriftDetected`] = drift;

      if (model.schedule !== undefined) {
        const scheduled = new Rule(this, `${stem}Schedule`, {
          description: `Starts a retrain of ${model.name} on its schedule ${model.schedule}`,
          schedule: Schedule.expression(model.schedule),
        });
        scheduled.addTarget(
          target(
            RuleTargetInput.fromObject({
              model: model.name,
              trigger: RETRAIN_TRIGGERS.schedule,
              reason: `scheduled retrain (models[].retrain.schedule ${model.schedule})`,
              evidence: { schedule: model.schedule, time: EventField.time },
              eventId: EventField.eventId,
            }),
          ),
        );
        triggers[`${stem}Schedule`] = scheduled;
      }

      const alarms = model.accuracyAlarms ?? [];
      if (alarms.length > 0) {
        const accuracy = new Rule(this, `${stem}AccuracyAlarm`, {
          description: `Starts a retrain of ${model.name} when an accuracy alarm of it enters ALARM`,
          eventPattern: {
            source: ['aws.cloudwatch'],
            detailType: ['CloudWatch Alarm State Change'],
            resources: alarms.map((a) => a.alarmArn),
            detail: { state: { value: ['ALARM'] } },
          },
        });
        accuracy.addTarget(
          target(
            RuleTargetInput.fromObject({
              model: model.name,
              trigger: RETRAIN_TRIGGERS.accuracy,
              reason: `accuracy alarm ${EventField.fromPath('$.detail.alarmName')} entered ALARM`,
              evidence: {
                alarmName: EventField.fromPath('$.detail.alarmName'),
                reason: EventField.fromPath('$.detail.state.reason'),
                timestamp: EventField.fromPath('$.detail.state.timestamp'),
              },
              eventId: EventField.eventId,
            }),
          ),
        );
        triggers[`${stem}AccuracyAlarm`] = accuracy;
      }
    }
    return triggers;
  }
}

/** `<account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repository>:<tag>` → the repository's ARN. */
export function ecrRepositoryArn(image: string): string {
  const match = ECR_IMAGE_URI_PATTERN.exec(image);
  if (match === null) {
    throw new ConstructPropsError(
      `RetrainPipeline: trainingImage must be an ECR image URI such as ` +
        `123456789012.dkr.ecr.eu-west-1.amazonaws.com/trainer:1.0, got ${JSON.stringify(image)}`,
    );
  }
  const [, account, region, china, repository] = match;
  return `arn:${china ? 'aws-cn' : Aws.PARTITION}:ecr:${region}:${account}:repository/${repository}`;
}

function validateProps(
  props: RetrainPipelineProps,
  reservedConcurrency: number,
  maxEventAge: Duration,
): void {
  if (props.models.length === 0) {
    throw new ConstructPropsError(
      'RetrainPipeline: models must list at least one model with retrain.enabled, got []; create the construct ' +
        'only when some model retrains',
    );
  }
  const seen = new Set<string>();
  for (const model of props.models) {
    if (!MODEL_NAME_PATTERN.test(model.name)) {
      throw new ConstructPropsError(
        `RetrainPipeline: models[].name must be a model name (a-z, 0-9, "-"), got ${JSON.stringify(model.name)}`,
      );
    }
    if (seen.has(model.name)) {
      throw new ConstructPropsError(
        `RetrainPipeline: model "${model.name}" is listed twice; list each model once`,
      );
    }
    seen.add(model.name);
    ecrRepositoryArn(model.trainingImage);
    if (model.schedule !== undefined) validateSchedule(model.name, model.schedule);
  }
  if (
    !Token.isUnresolved(reservedConcurrency) &&
    (!Number.isInteger(reservedConcurrency) || reservedConcurrency < 1)
  ) {
    throw new ConstructPropsError(
      `RetrainPipeline: reservedConcurrency must be a whole number >= 1, got ${reservedConcurrency}`,
    );
  }
  const age = maxEventAge.toSeconds();
  if (!maxEventAge.isUnresolved() && (age < 60 || age > 24 * 3600)) {
    throw new ConstructPropsError(
      `RetrainPipeline: maxEventAge must be between 1 minute and 24 hours, got ${maxEventAge.toHumanString()}`,
    );
  }
}

/** EventBridge refuses `rate(1 days)` and `rate(2 day)`: the unit is singular exactly when the value is 1. */
function validateSchedule(model: string, schedule: string): void {
  const match = RETRAIN_SCHEDULE_PATTERN.exec(schedule);
  if (match === null) {
    throw new ConstructPropsError(
      `RetrainPipeline: models[${model}].schedule must be rate(<n> minutes|hours|days) or cron(<6 fields>), ` +
        `got ${JSON.stringify(schedule)}`,
    );
  }
  const [, , value, unit] = match;
  if (value === undefined || unit === undefined) return;
  const n = Number(value);
  if (n < 1 || (n === 1) !== !unit.endsWith('s')) {
    const fixed = n === 1 ? unit.replace(/s$/, '') : unit.endsWith('s') ? unit : `${unit}s`;
    throw new ConstructPropsError(
      `RetrainPipeline: models[${model}].schedule ${JSON.stringify(schedule)} is refused by EventBridge: ` +
        (n < 1 ? 'the rate must be at least 1' : `write rate(${n} ${fixed})`),
    );
  }
}
