import * as path from 'node:path';
import { Duration, RemovalPolicy, Token, Validations } from 'aws-cdk-lib';
import { EventField, Rule, RuleTargetInput } from 'aws-cdk-lib/aws-events';
import { SfnStateMachine } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { DefinitionBody, LogLevel, StateMachine, StateMachineType } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { MAX_ARTIFACT_BYTES_ENV, PREFIX, REGISTRY_BUCKET_ENV } from '../../lambdas/core/tables';
import type { ArtifactRegistry } from './artifact-registry';
import type { MetadataTables } from './metadata-tables';
import {
  ConstructPropsError,
  handlerEntry,
  ManagedPolicyRole,
  ModelOpsFunction,
  PROJECT_ROOT,
} from './modelops-function';

/** Environment variable listing the configured model names, comma-separated. */
export const CONFIGURED_MODELS_ENV = 'CONFIGURED_MODELS';

/** The release state machine definition, loaded as is; `${…FunctionArn}` placeholders are substituted. */
export const RELEASE_ASL_PATH = path.join(PROJECT_ROOT, 'stepfunctions', 'release.asl.json');

/** Object keys whose creation starts a release: a bundle's manifest, written last by the CLI. */
export const RELEASE_TRIGGER_KEY_PATTERN = `${PREFIX.incoming}*/*/manifest.json`;

export interface ReleasePipelineProps {
  readonly registry: ArtifactRegistry;
  readonly tables: MetadataTables;
  /** Largest artifact ValidateArtifact accepts, in bytes (`config.registry.maxArtifactBytes`). */
  readonly maxArtifactBytes: number;
  /** Names of the configured models; a bundle for any other model is rejected. */
  readonly configuredModels: readonly string[];
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
   * Reserved concurrency of each release function. Uploads are rare; the cap keeps a burst of pushes from starving
   * inference functions of account concurrency, and throttles are retried by the state machine.
   * @default 5
   */
  readonly reservedConcurrency?: number;
}

/**
 * The first half of the release pipeline: an S3 "Object Created" event for `incoming/<model>/<version>/manifest.json`
 * starts the release state machine (`stepfunctions/release.asl.json`), which validates the bundle and registers
 * the version or records the rejection. Undeliverable events go to a dead-letter queue.
 */
export class ReleasePipeline extends Construct {
  public readonly validateArtifact: ModelOpsFunction;
  public readonly registerVersion: ModelOpsFunction;
  public readonly recordRejection: ModelOpsFunction;
  public readonly stateMachine: StateMachine;
  public readonly stateMachineLogGroup: LogGroup;
  public readonly rule: Rule;
  public readonly deadLetterQueue: Queue;

  constructor(scope: Construct, id: string, props: ReleasePipelineProps) {
    super(scope, id);
    const reservedConcurrency = props.reservedConcurrency ?? 5;
    validateProps(props);
    const { registry, tables } = props;

    const common = {
      metricsNamespace: props.metricsNamespace,
      logRetention: props.logRetention,
      logEncryptionKey: props.logEncryptionKey,
      reservedConcurrentExecutions: reservedConcurrency,
      environment: {
        [REGISTRY_BUCKET_ENV]: registry.bucket.bucketName,
        [MAX_ARTIFACT_BYTES_ENV]: String(props.maxArtifactBytes),
        [CONFIGURED_MODELS_ENV]: props.configuredModels.join(','),
      },
    };

    // Reads the bundle and the champion; appends VALIDATION_PASSED (a rejection is recorded by RecordRejection).
    this.validateArtifact = new ModelOpsFunction(this, 'ValidateArtifact', {
      ...common,
      entry: handlerEntry('validate-artifact'),
      serviceName: 'validate-artifact',
      description: 'Validates a model bundle uploaded to incoming/',
      memorySize: 3008,
      timeout: Duration.minutes(5),
      onnxRuntime: true,
    });
    this.validateArtifact
      .bindBucket((g) => registry.grantReadIncoming(g))
      .bindTable(tables.modelVersions, 'read')
      .bindTable(tables.deployments, 'read')
      .bindTable(tables.auditLog, 'append');

    this.registerVersion = new ModelOpsFunction(this, 'RegisterVersion', {
      ...common,
      entry: handlerEntry('register-version'),
      serviceName: 'register-version',
      description: 'Copies a validated artifact to models/ and records the REGISTERED version',
      memorySize: 512,
      timeout: Duration.minutes(4),
    });
    this.registerVersion
      .bindBucket(
        (g) => registry.grantReadIncoming(g),
        (g) => registry.grantPublishModels(g),
      )
      .bindTable(tables.modelVersions, 'write')
      .bindTable(tables.auditLog, 'append');

    this.recordRejection = new ModelOpsFunction(this, 'RecordRejection', {
      ...common,
      entry: handlerEntry('record-rejection'),
      serviceName: 'record-rejection',
      description: 'Records a REJECTED version or a failed release in the audit log',
      timeout: Duration.seconds(30),
    });
    this.recordRejection.bindTable(tables.modelVersions, 'write').bindTable(tables.auditLog, 'append');
    const functions = [this.validateArtifact, this.registerVersion, this.recordRejection];
    for (const fn of functions) {
      Validations.of(fn.function).acknowledge({
        id: 'NIST.800.53.R5::NIST.800.53.R5-LambdaDLQ',
        reason:
          'Invoked only synchronously by the release state machine, which retries and catches every failure ' +
          '(RecordFailure -> RELEASE_FAILED audit event); a Lambda DLQ applies to asynchronous invocations only.',
      });
    }

    this.stateMachineLogGroup = new LogGroup(this, 'StateMachineLogGroup', {
      retention: props.logRetention,
      encryptionKey: props.logEncryptionKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const stateMachineRole = new ManagedPolicyRole(this, 'StateMachineRole', {
      assumedBy: new ServicePrincipal('states.amazonaws.com'),
      description: 'Release state machine: invokes the three release functions only',
    });
    // The ASL calls the functions by unqualified ARN, so no `:*` (version/alias) wildcard is needed.
    stateMachineRole.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'InvokeReleaseFunctions',
        actions: ['lambda:InvokeFunction'],
        resources: functions.map((f) => f.function.functionArn),
      }),
    );
    this.stateMachine = new StateMachine(this, 'StateMachine', {
      stateMachineType: StateMachineType.STANDARD,
      definitionBody: DefinitionBody.fromFile(RELEASE_ASL_PATH),
      definitionSubstitutions: {
        ValidateArtifactFunctionArn: this.validateArtifact.function.functionArn,
        RegisterVersionFunctionArn: this.registerVersion.function.functionArn,
        RecordRejectionFunctionArn: this.recordRejection.function.functionArn,
      },
      role: stateMachineRole,
      tracingEnabled: true,
      logs: { destination: this.stateMachineLogGroup, level: LogLevel.ALL, includeExecutionData: true },
    });
    Validations.of(stateMachineRole).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
      reason:
        'Only the statements CDK adds for logging and tracing use Resource "*": CloudWatch Logs vended log delivery ' +
        '(logs:CreateLogDelivery, GetLogDelivery, ..., DescribeLogGroups) and X-Ray (PutTraceSegments, ' +
        'PutTelemetryRecords, GetSamplingRules, GetSamplingTargets) do not support resource-level permissions. ' +
        'lambda:InvokeFunction names the three functions.',
    });

    this.deadLetterQueue = new Queue(this, 'DeadLetterQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions::AwsSolutions-SQS3',
      reason:
        'This queue is itself the dead-letter queue of the EventBridge rule target; cdk-nag only recognizes ' +
        'queue-to-queue redrive. A DLQ of a DLQ would only move the same messages again.',
    });

    this.rule = new Rule(this, 'ManifestUploaded', {
      description: `Starts a release when ${RELEASE_TRIGGER_KEY_PATTERN} is created in the registry`,
      eventPattern: {
        source: ['aws.s3'],
        detailType: ['Object Created'],
        // Raw pattern: CDK's typed matchers have no `wildcard`.
        detail: {
          bucket: { name: [registry.bucket.bucketName] },
          object: { key: [{ wildcard: RELEASE_TRIGGER_KEY_PATTERN }] },
        },
      },
    });
    const targetRole = new ManagedPolicyRole(this, 'RuleTargetRole', {
      assumedBy: new ServicePrincipal('events.amazonaws.com'),
      description: 'Release trigger: starts executions of the release state machine only',
    });
    this.rule.addTarget(
      new SfnStateMachine(this.stateMachine, {
        role: targetRole,
        input: RuleTargetInput.fromObject({
          bucket: EventField.fromPath('$.detail.bucket.name'),
          key: EventField.fromPath('$.detail.object.key'),
        }),
        deadLetterQueue: this.deadLetterQueue,
        retryAttempts: 10,
        maxEventAge: Duration.hours(2),
      }),
    );
  }
}

function validateProps(props: ReleasePipelineProps): void {
  const { maxArtifactBytes, reservedConcurrency } = props;
  if (
    !Token.isUnresolved(maxArtifactBytes) &&
    (!Number.isInteger(maxArtifactBytes) || maxArtifactBytes < 1)
  ) {
    throw new ConstructPropsError(
      `ReleasePipeline: maxArtifactBytes must be a whole number of bytes >= 1, got ${maxArtifactBytes}`,
    );
  }
  if (props.configuredModels.length === 0) {
    throw new ConstructPropsError('ReleasePipeline: configuredModels must list at least one model, got []');
  }
  const badName = props.configuredModels.find((m) => m.includes(',') || m.trim() === '');
  if (badName !== undefined) {
    throw new ConstructPropsError(
      `ReleasePipeline: configuredModels entries must be non-empty and contain no ",", got ${JSON.stringify(badName)}`,
    );
  }
  if (
    reservedConcurrency !== undefined &&
    !Token.isUnresolved(reservedConcurrency) &&
    (!Number.isInteger(reservedConcurrency) || reservedConcurrency < 1)
  ) {
    throw new ConstructPropsError(
      `ReleasePipeline: reservedConcurrency must be a whole number >= 1, got ${reservedConcurrency}`,
    );
  }
}
