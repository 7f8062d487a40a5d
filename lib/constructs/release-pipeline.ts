import * as path from 'node:path';
import { Duration, Lazy, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import type { Alarm } from 'aws-cdk-lib/aws-cloudwatch';
import { EventField, Rule, RuleTargetInput } from 'aws-cdk-lib/aws-events';
import { SfnStateMachine, SnsTopic } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import { DefinitionBody, LogLevel, StateMachine, StateMachineType } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { APPROVAL_REQUESTED_EVENT } from '../../lambdas/core/approval';
import { MAX_WARM_CONCURRENCY, type RolloutTargetConfig } from '../../lambdas/core/candidate-deploy';
import { RELEASE_TRIGGER_KEY_WILDCARD, releaseTriggerKeyFilter } from '../../lambdas/core/release-trigger';
import { RELEASE_WORKFLOW } from '../workflows/release';
import {
  functionArnPlaceholder,
  settingsEnvironment,
  type BucketAccess,
  type TableAccess,
  type WorkflowSettingValues,
  type WorkflowTable,
} from '../workflows/types';
import type { ArtifactRegistry } from './artifact-registry';
import { deadLetterAlarm, deadLetterQueue } from './dead-letter-alarm';
import type { MetadataTables } from './metadata-tables';
import type { IModelEndpoint } from './model-endpoint';
import { SageMakerEndpoint } from './sagemaker-endpoint';
import type { ModelSigningKey } from './signing-key';
import {
  ConstructPropsError,
  handlerEntry,
  type BucketGrant,
  ManagedPolicyRole,
  ModelOpsFunction,
  PROJECT_ROOT,
} from './modelops-function';

/** The bus approval requests are published on: the account's default bus, where EventBridge rules match them. */
export const APPROVAL_EVENT_BUS = 'default';

/** The error of the release's CanaryHeld Fail state (stepfunctions/release.asl.json). */
export const CANARY_HELD_ERROR = 'CanaryHeld';

/** The release state machine definition, loaded as is; `${…FunctionArn}` placeholders are substituted. */
export const RELEASE_ASL_PATH = path.join(PROJECT_ROOT, 'stepfunctions', RELEASE_WORKFLOW.aslFile);

export interface ReleasePipelineProps {
  readonly registry: ArtifactRegistry;
  readonly tables: MetadataTables;
  /**
   * The key RegisterVersion signs each registered artifact's digest with (granted kms:Sign here).
   * @default - no signing: records carry no signature, and serving that verifies refuses them
   */
  readonly signingKey?: ModelSigningKey;
  /** Largest artifact ValidateArtifact accepts, in bytes (`config.registry.maxArtifactBytes`). */
  readonly maxArtifactBytes: number;
  /** Names of the configured models; a bundle for any other model is rejected. */
  readonly configuredModels: readonly string[];
  /**
   * Per model, the most instances per request (`modelMaxBatchEnvValue(config.models)`): validation serves a
   * synthetic batch of that size. @default '{}' (every model the default limit)
   */
  readonly modelMaxBatch?: string;
  /** Powertools metrics namespace of the functions, usually the project name; AnalyzeCanary reads it back. */
  readonly metricsNamespace: string;
  /**
   * The canary policies of the models with `canary.enabled` (`rolloutPoliciesEnvValue(config.models)`).
   * @default '{}' - no model is rolled out: registered versions wait for `modelops promote`
   */
  readonly rolloutPolicies?: string;
  /**
   * Every model's approval policy (`approvalPoliciesEnvValue(config.models)`).
   * @default - no policies: only a manifest's `approval.required` or a high risk tier asks for approval
   */
  readonly approvalPolicies?: string;
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
  /**
   * Where the dead-letter alarm notifies (an undeliverable trigger event means a push that silently went nowhere).
   * @default - no alarm action: the alarm is created and visible in CloudWatch, but notifies no one
   */
  readonly alarmTopic?: ITopic;
}

/**
 * The first half of the release pipeline: an S3 "Object Created" event for `incoming/<model>/<version>/manifest.json`
 * starts the release state machine (`stepfunctions/release.asl.json`), which validates the bundle and registers
 * the version or records the rejection. Undeliverable events go to a dead-letter queue, watched by an alarm.
 */
export class ReleasePipeline extends Construct {
  public readonly validateArtifact: ModelOpsFunction;
  public readonly registerVersion: ModelOpsFunction;
  public readonly recordRejection: ModelOpsFunction;
  /** Reads metrics (cloudwatch:GetMetricData) for the error-budget gate before the canary. */
  public readonly startRollout: ModelOpsFunction;
  /** Reads metrics (cloudwatch:GetMetricData) for the canary judge. */
  public readonly analyzeCanary: ModelOpsFunction;
  /** Asks for and expires approvals; publishes approval requests (events:PutEvents on the default bus). */
  public readonly approval: ModelOpsFunction;
  /**
   * Deploys each candidate before it gets traffic, polls it, and retires the loser after the decision, on the
   * targets added with `addRolloutTarget` (their grants go to this function's role).
   */
  public readonly deployCandidate: ModelOpsFunction;
  /** Forwards approval requests to `alarmTopic` (no target without one). */
  public readonly approvalRequestedRule: Rule;
  /** Notifies `alarmTopic` when an execution ends CanaryHeld (no target without one). */
  public readonly canaryHeldRule: Rule;
  /** Every function of the wiring table (lib/workflows/release.ts), in row order. */
  public readonly functions: readonly ModelOpsFunction[];
  public readonly stateMachine: StateMachine;
  public readonly stateMachineLogGroup: LogGroup;
  public readonly rule: Rule;
  public readonly deadLetterQueue: Queue;
  /** In alarm while any trigger event sits in the dead-letter queue. */
  public readonly deadLetterAlarm: Alarm;
  /** ROLLOUT_TARGETS of DeployCandidate, filled by `addRolloutTarget` and rendered at synthesis. */
  private readonly rolloutTargets = new Map<string, RolloutTargetConfig>();

  constructor(scope: Construct, id: string, props: ReleasePipelineProps) {
    super(scope, id);
    const reservedConcurrency = props.reservedConcurrency ?? 5;
    validateProps(props);
    const { registry, tables } = props;

    const settings: WorkflowSettingValues = {
      registryBucket: registry.bucket.bucketName,
      maxArtifactBytes: String(props.maxArtifactBytes),
      configuredModels: props.configuredModels.join(','),
      modelMaxBatch: props.modelMaxBatch ?? '{}',
      // The registry's lock: RegisterVersion puts it on each object it writes under models/.
      modelLockMode: registry.objectLock.mode,
      modelLockDays: String(registry.objectLock.days),
      // Empty without a key: RegisterVersion then signs nothing (modelSignerFromEnv).
      modelSigningKeyId: props.signingKey?.keyArn ?? '',
      rolloutPolicies: props.rolloutPolicies ?? '{}',
      approvalPolicies: props.approvalPolicies ?? '{}',
      eventBusName: APPROVAL_EVENT_BUS,
      // Local mode only; empty in AWS, where StartRollout and AnalyzeCanary read CloudWatch.
      metricsReadUrl: '',
      // The endpoints are created after this construct (they do not depend on it): rendered once they are added.
      rolloutTargets: Lazy.string({
        produce: () => Stack.of(this).toJsonString(Object.fromEntries(this.rolloutTargets)),
      }),
      // Local mode only; empty in AWS, where DeployCandidate invokes the inference functions' aliases.
      candidateWarmUrl: '',
      // No release row binds it (RetrainPipeline's rows do).
      retrainPolicies: '{}',
    };
    // The row's access names onto the construct's grants; the record types refuse a name with no mapping here.
    const bucketGrants: Record<BucketAccess, BucketGrant> = {
      readIncoming: (g) => registry.grantReadIncoming(g),
      publishModels: (g) => registry.grantPublishModels(g),
      readModels: (g) => registry.grantReadModels(g),
    };
    const byId = new Map<string, ModelOpsFunction>();
    const substitutions: Record<string, string> = {};
    for (const row of RELEASE_WORKFLOW.functions) {
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
        environment: settingsEnvironment(row, settings),
      });
      fn.bindBucket(...row.bucket.map((b: BucketAccess) => bucketGrants[b]));
      for (const [table, access] of Object.entries(row.tables) as [WorkflowTable, TableAccess][]) {
        fn.bindTable(tables.workflowTable(table, 'ReleasePipeline'), access);
      }
      byId.set(row.id, fn);
      substitutions[functionArnPlaceholder(row)] = fn.function.functionArn;
    }
    const functionOf = (id: (typeof RELEASE_WORKFLOW.functions)[number]['id']) => byId.get(id)!;
    this.validateArtifact = functionOf('ValidateArtifact');
    this.registerVersion = functionOf('RegisterVersion');
    props.signingKey?.grantSign(this.registerVersion.role);
    // The bucket policy denies models/ writes and deletes to every other principal (ArtifactRegistry).
    registry.restrictModelsWritesTo(this.registerVersion.role);
    this.recordRejection = functionOf('RecordRejection');
    this.startRollout = functionOf('StartRollout');
    this.analyzeCanary = functionOf('AnalyzeCanary');
    // The only two readers of metrics: the budget gate (the model's series) and the judge (per version).
    for (const [fn, what] of [
      [this.startRollout, "the error-budget gate reads the model's request, error and slow-request sums"],
      [this.analyzeCanary, "the canary judge reads the candidate and stable versions' metrics"],
    ] as const) {
      fn.role.addToPrincipalPolicy(
        new PolicyStatement({
          sid: 'ReadCanaryMetrics',
          actions: ['cloudwatch:GetMetricData'],
          resources: ['*'],
        }),
      );
      Validations.of(fn.role).acknowledge({
        id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
        reason:
          `cloudwatch:GetMetricData (${what}) and the X-Ray statement support no resource-level permissions; ` +
          'GetMetricData only reads. Every other statement names its resources.',
      });
    }
    this.approval = functionOf('Approval');
    this.deployCandidate = functionOf('DeployCandidate');
    // Approval requests go on the default bus; a rule below forwards them to the notification topic.
    this.approval.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'PublishApprovalRequests',
        actions: ['events:PutEvents'],
        conditions: {
          StringEquals: {
            'events:source': [APPROVAL_REQUESTED_EVENT.source],
            'events:detail-type': [APPROVAL_REQUESTED_EVENT.detailType],
          },
        },
        resources: [
          Stack.of(this).formatArn({
            service: 'events',
            resource: 'event-bus',
            resourceName: APPROVAL_EVENT_BUS,
          }),
        ],
      }),
    );
    this.approvalRequestedRule = new Rule(this, 'ApprovalRequested', {
      description: 'Notifies the alarm topic when a release waits for modelops approve|reject',
      eventPattern: {
        source: [APPROVAL_REQUESTED_EVENT.source],
        detailType: [APPROVAL_REQUESTED_EVENT.detailType],
      },
    });
    if (props.alarmTopic) {
      this.approvalRequestedRule.addTarget(
        new SnsTopic(props.alarmTopic, {
          message: RuleTargetInput.fromText(
            `Release of ${EventField.fromPath('$.detail.model')} ${EventField.fromPath('$.detail.version')} ` +
              `waits for approval until ${EventField.fromPath('$.detail.expiresAt')} ` +
              `(${EventField.fromPath('$.detail.why')}). Decide with: ${EventField.fromPath('$.detail.approve')} ` +
              `or ${EventField.fromPath('$.detail.reject')}`,
          ),
        }),
      );
    }
    this.functions = [...byId.values()];

    for (const fn of this.functions) {
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
      description: 'Release state machine: invokes the release functions only',
    });
    // The ASL calls the functions by unqualified ARN, so no `:*` (version/alias) wildcard is needed.
    stateMachineRole.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'InvokeReleaseFunctions',
        actions: ['lambda:InvokeFunction'],
        resources: this.functions.map((f) => f.function.functionArn),
      }),
    );
    this.stateMachine = new StateMachine(this, 'StateMachine', {
      stateMachineType: StateMachineType.STANDARD,
      definitionBody: DefinitionBody.fromFile(RELEASE_ASL_PATH),
      definitionSubstitutions: substitutions,
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
        'lambda:InvokeFunction names the release functions.',
    });
    // A held canary needs a person: Step Functions' own status-change event, narrowed to this machine and error.
    this.canaryHeldRule = new Rule(this, 'CanaryHeld', {
      description: 'Notifies the alarm topic when a release holds its canary for an operator (CanaryHeld)',
      eventPattern: {
        source: ['aws.states'],
        detailType: ['Step Functions Execution Status Change'],
        detail: {
          status: ['FAILED'],
          stateMachineArn: [this.stateMachine.stateMachineArn],
          error: [CANARY_HELD_ERROR],
        },
      },
    });
    if (props.alarmTopic) {
      this.canaryHeldRule.addTarget(
        new SnsTopic(props.alarmTopic, {
          message: RuleTargetInput.fromText(
            `Release ${EventField.fromPath('$.detail.name')} holds its canary: inconclusive past ` +
              'canary.judge.maxExtensionsPerStep; the candidate keeps its weight. Decide with modelops promote, ' +
              'modelops rollback or modelops unlock (docs/rollout.md#holding-an-inconclusive-canary).',
          ),
        }),
      );
    }

    this.deadLetterQueue = deadLetterQueue(this, 'DeadLetterQueue', 'the EventBridge rule target');

    this.deadLetterAlarm = deadLetterAlarm(this, 'DeadLetterAlarm', {
      queue: this.deadLetterQueue,
      description:
        'A release trigger event could not be delivered to the release state machine; the bundle was not ' +
        'released. Runbook: docs/runbooks/release-dead-letter.md (re-push the bundle or start the execution by hand, ' +
        'then delete the message).',
      topic: props.alarmTopic,
    });

    this.rule = new Rule(this, 'ManifestUploaded', {
      description: `Starts a release when ${RELEASE_TRIGGER_KEY_WILDCARD} is created in the registry`,
      eventPattern: {
        source: ['aws.s3'],
        detailType: ['Object Created'],
        // Raw pattern: CDK's typed matchers have no `wildcard`. Nested keys match too, on purpose: see
        // lambdas/core/release-trigger.ts.
        detail: {
          bucket: { name: [registry.bucket.bucketName] },
          object: { key: releaseTriggerKeyFilter() },
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

  /**
   * Lets DeployCandidate deploy and retire the candidates of `endpoint`'s model: for a SageMaker endpoint its
   * `grantRollout()` (the variant next to stable, on that endpoint only); for both, `lambda:InvokeFunction` on the
   * serving function's alias `live` only (the warm-up invocation — the inference function, or the SageMaker router
   * that smoke-tests the candidate's variant; the function's other versions and aliases stay out of reach).
   * Call it once per model whose canary is enabled; a model without a target fails its rollout with
   * TARGET_NOT_CONFIGURED before any traffic reaches the candidate.
   *
   * @example release.addRolloutTarget(endpoints['breast-cancer']);
   */
  addRolloutTarget(endpoint: IModelEndpoint): void {
    const model = endpoint.modelName;
    if (this.rolloutTargets.has(model)) {
      throw new ConstructPropsError(
        `ReleasePipeline: addRolloutTarget was called twice for model "${model}"; call it once per model`,
      );
    }
    // Both targets warm the candidate through the serving function's alias `live`: the inference function, or the
    // SageMaker router once the candidate's variant is InService (the smoke samples through the router).
    endpoint.alias.grantInvoke(this.deployCandidate.role);
    const warm = {
      warmConcurrency: Math.min(endpoint.warmEnvironments, MAX_WARM_CONCURRENCY),
    };
    if (endpoint instanceof SageMakerEndpoint) {
      endpoint.grantRollout(this.deployCandidate.role);
      this.rolloutTargets.set(model, {
        kind: 'sagemaker',
        settings: endpoint.rolloutSettings,
        routerFunctionArn: endpoint.alias.functionArn,
        ...warm,
      });
    } else {
      this.rolloutTargets.set(model, { kind: 'lambda', functionArn: endpoint.alias.functionArn, ...warm });
    }
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
