import { FleetDashboard } from '../constructs/fleet-dashboard';
import { ModelDashboard } from '../constructs/model-dashboard';
import { CfnOutput, Duration, Stack } from 'aws-cdk-lib';
import type { StackProps } from 'aws-cdk-lib';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { alarmRulesInputOf, type ModelOpsConfig } from '../config';
import { approvalPoliciesEnvValue } from '../../lambdas/core/approval-events';
import { alarmNamePrefix } from '../../lambdas/core/alarm-rules';
import { rolloutPoliciesEnvValue } from '../../lambdas/core/rollout-events';
import { retrainPoliciesEnvValue } from '../../lambdas/core/retrain-policy';
import { modelMaxBatchEnvValue } from '../../lambdas/shared/env';
import { AlarmRollback } from '../constructs/alarm-rollback';
import { AlarmTopic } from '../constructs/alarm-topic';
import { ArtifactRegistry } from '../constructs/artifact-registry';
import { DriftMonitor } from '../constructs/drift-monitor';
import type { ServingFunctionOptions } from '../constructs/function-entry-point';
import { InferenceEndpoint } from '../constructs/inference-endpoint';
import { LogsKey } from '../constructs/logs-key';
import { ModelAlarms } from '../constructs/model-alarms';
import { MetadataTables } from '../constructs/metadata-tables';
import type { IModelEndpoint } from '../constructs/model-endpoint';
import { ConstructPropsError } from '../constructs/modelops-function';
import { ReleasePipeline } from '../constructs/release-pipeline';
import { RetrainPipeline, type RetrainModel } from '../constructs/retrain-pipeline';
import { SageMakerEndpoint } from '../constructs/sagemaker-endpoint';
import { ModelSigningKey } from '../constructs/signing-key';
import { UploaderAccess } from '../constructs/uploader-access';
import { DRIFT_COUNTERS_TABLE, MONITOR_STATE_TABLE, PREDICTION_LOG_TABLE } from '../../lambdas/core/tables';

export interface ModelOpsStackProps extends StackProps {
  /** Validated configuration (`parseConfig`). */
  readonly config: ModelOpsConfig;
}

/** Names of the stack outputs; the CLI reads them by name. */
export const STACK_OUTPUTS = {
  registryBucketName: 'RegistryBucketName',
  modelVersionsTableName: 'ModelVersionsTableName',
  deploymentsTableName: 'DeploymentsTableName',
  auditLogTableName: 'AuditLogTableName',
  /** Drift state per model (`modelops status`); the uploader policy may read it. */
  monitorStateTableName: 'MonitorStateTableName',
  releaseStateMachineArn: 'ReleaseStateMachineArn',
  /** Customer-managed policy to attach to whoever runs `modelops push --stack`. */
  uploaderPolicyArn: 'UploaderPolicyArn',
  modelSigningKeyArn: 'ModelSigningKeyArn',
} as const;

/** Stack outputs that exist only with some configuration. */
export const OPTIONAL_STACK_OUTPUTS = {
  /** Only when `config.registry.uploaderRole` is set. */
  uploaderRoleArn: 'UploaderRoleArn',
  /** Only when some model has `retrain.enabled` (`modelops retrain` starts it). */
  retrainStateMachineArn: 'RetrainStateMachineArn',
} as const;

/** `breast-cancer` → `BreastCancer`: the stable construct-id stem of a model (renaming it replaces its resources). */
export function modelConstructStem(model: string): string {
  return model
    .split('-')
    .map((part) => part.charAt(0).toUpperCase() + part.slice(1))
    .join('');
}

/** Name of the stack output holding a model's Function URL, e.g. `BreastCancerInvokeUrl`; the CLI reads it. */
export function invokeUrlOutputName(model: string): string {
  return `${modelConstructStem(model)}InvokeUrl`;
}

/**
 * One environment of serverless-modelops: registry, metadata tables, release pipeline (issue 2, "Foundation"), and
 * one serving endpoint per configured model (issue 3, "Inference"), and the scheduled drift monitor when any model has
 * drift enabled, and the retrain pipeline with its triggers when any model has retrain enabled (issue 11).
 */
export class ModelOpsStack extends Stack {
  public readonly registry: ArtifactRegistry;
  public readonly tables: MetadataTables;
  public readonly release: ReleasePipeline;
  /** Signs registered versions (RegisterVersion) and verifies them (serving functions). */
  public readonly signingKey: ModelSigningKey;
  /** The uploader managed policy (and role, when configured). */
  public readonly uploader: UploaderAccess;
  /** Encrypts every log group of the stack. */
  public readonly logsKey: LogsKey;
  /** Where every alarm of the stack notifies; e-mail subscribed only when `config.alarmEmail` is set. */
  public readonly alarmTopic: AlarmTopic;
  /**
   * Serving endpoint of each configured model, by model name: an `InferenceEndpoint` (`target: "lambda"`) or a
   * `SageMakerEndpoint`.
   */
  public readonly endpoints: Readonly<Record<string, IModelEndpoint>>;
  /** The CloudWatch dashboard of each model (`<project>-<stage>-<model>`), by model name. */
  public readonly modelDashboards: Readonly<Record<string, ModelDashboard>>;
  /** `<project>-<stage>-fleet`: every model plus the control plane's services. */
  public readonly fleetDashboard: FleetDashboard;
  /** The scheduled drift monitor; only when at least one model has `drift.enabled`. */
  public readonly driftMonitor?: DriftMonitor;
  /** Candidate alarms entering ALARM roll the candidate back; only when at least one model has `canary.enabled`. */
  public readonly alarmRollback?: AlarmRollback;
  /** The retrain pipeline and its triggers; only when at least one model has `retrain.enabled`. */
  public readonly retrain?: RetrainPipeline;

  constructor(scope: Construct, id: string, props: ModelOpsStackProps) {
    super(scope, id, props);
    const { config } = props;
    // LOG_RETENTION_DAYS in lib/config.ts is exactly the set of RetentionDays values.
    const logRetention = config.retention.logDays as RetentionDays;

    // Both constructs add no construct level: these ids are the logical ids of deployed stacks (see their docs).
    this.logsKey = new LogsKey(this, 'LogsKey', {
      description: `${config.project}-${config.stage} CloudWatch Logs`,
    });
    // Always created, so every alarm has somewhere to go; the e-mail subscription is optional.
    this.alarmTopic = new AlarmTopic(this, 'AlarmTopic', {
      displayName: `${config.project}-${config.stage} alarms`,
      keyDescription: `${config.project}-${config.stage} alarm topic`,
      email: config.alarmEmail,
    });

    this.registry = new ArtifactRegistry(this, 'Registry', {
      noncurrentVersionExpirationDays: config.registry.noncurrentVersionExpirationDays,
      incomingExpirationDays: config.registry.incomingExpirationDays,
      captureExpirationDays: config.registry.captureExpirationDays,
      accessLogDays: config.retention.accessLogDays,
      objectLock: config.registry.objectLock,
    });
    this.tables = new MetadataTables(this, 'Tables', {
      keyDescription: `${config.project}-${config.stage} metadata tables`,
    });
    this.signingKey = new ModelSigningKey(this, 'ModelSigningKey', {
      aliasName: `${config.project}-${config.stage}-model-signing`,
      description: `${config.project}-${config.stage} model signing (RegisterVersion signs, serving verifies)`,
    });
    this.release = new ReleasePipeline(this, 'Release', {
      registry: this.registry,
      // RegisterVersion signs with it (setting and kms:Sign grant in ReleasePipeline).
      signingKey: this.signingKey,
      alarmTopic: this.alarmTopic,
      tables: this.tables,
      maxArtifactBytes: config.registry.maxArtifactBytes,
      reservedConcurrency: config.release.reservedConcurrency,
      configuredModels: config.models.map((m) => m.name),
      modelMaxBatch: modelMaxBatchEnvValue(config.models),
      rolloutPolicies: rolloutPoliciesEnvValue(config.models),
      approvalPolicies: approvalPoliciesEnvValue(config.models),
      metricsNamespace: config.monitoring.namespace,
      logRetention,
      logEncryptionKey: this.logsKey,
    });

    this.uploader = new UploaderAccess(this, 'Uploader', {
      registry: this.registry,
      // MonitorState: `modelops status` shows each model's drift state.
      readableTables: [
        this.tables.modelVersions,
        this.tables.auditLog,
        this.tables.tables[MONITOR_STATE_TABLE.id]!,
      ],
      assumedBy: config.registry.uploaderRole?.principalArns,
    });

    const endpoints: Record<string, IModelEndpoint> = {};
    const modelAlarms: Record<string, ModelAlarms> = {};
    const stems = new Map<string, string>();
    for (const model of config.models) {
      const stem = modelConstructStem(model.name);
      const clash = stems.get(stem);
      if (clash !== undefined) {
        throw new ConstructPropsError(
          `ModelOpsStack: models "${clash}" and "${model.name}" map to the same construct id "${stem}Endpoint"; ` +
            'rename one of them',
        );
      }
      stems.set(stem, model.name);
      const serving: ServingFunctionOptions = {
        modelName: model.name,
        registry: this.registry,
        deployments: this.tables.deployments,
        modelVersions: this.tables.modelVersions,
        metricsNamespace: config.monitoring.namespace,
        logRetention,
        logEncryptionKey: this.logsKey,
        memorySize: model.memoryMb,
        timeout: Duration.seconds(model.timeoutSeconds),
        reservedConcurrentExecutions: model.reservedConcurrency,
        provisionedConcurrency: model.provisionedConcurrency,
        serving: model.inference,
        signingKey: this.signingKey,
        latencyThresholdMs: model.slo.latency.thresholdMs,
      };
      const id = `${stem}Endpoint`;
      let endpoint: IModelEndpoint;
      if (model.target === 'sagemaker') {
        if (model.sagemaker === undefined) {
          // parseConfig refuses this already; a hand-built config must not silently fall back to Lambda.
          throw new ConstructPropsError(
            `ModelOpsStack: model "${model.name}" has target "sagemaker" but no sagemaker settings`,
          );
        }
        endpoint = new SageMakerEndpoint(this, id, { ...serving, ...model.sagemaker });
      } else {
        endpoint = new InferenceEndpoint(this, id, {
          ...serving,
          // Feedback: the prediction log only for models that sample predictions (models[].feedback).
          ...(model.feedback.sampleRate > 0
            ? { predictionLog: this.tables.tables[PREDICTION_LOG_TABLE.id]!, feedback: model.feedback }
            : {}),
          ...(model.drift.enabled
            ? {
                driftCounters: this.tables.tables[DRIFT_COUNTERS_TABLE.id]!,
                driftFlushSeconds: model.drift.flushSeconds,
              }
            : {}),
        });
      }
      endpoints[model.name] = endpoint;
      // DeployCandidate reaches only the endpoints of models that are rolled out (invoke its alias, or update its
      // SageMaker endpoint); a model without a canary is promoted by hand.
      if (model.canary.enabled) this.release.addRolloutTarget(endpoint);
      // SLO burn-rate, candidate, feedback and drift alarms of the model (docs/alarms.md).
      modelAlarms[model.name] = new ModelAlarms(this, `${stem}Alarms`, {
        model: alarmRulesInputOf(model, config),
        namespace: config.monitoring.namespace,
        topic: this.alarmTopic,
        alarmNamePrefix: `${config.project}-${config.stage}`,
      });
      new CfnOutput(this, invokeUrlOutputName(model.name), {
        value: endpoint.url,
        description: `Function URL (AWS_IAM auth): POST <url>models/${model.name}/invoke signed with SigV4, service lambda`,
      });
    }
    this.endpoints = endpoints;

    if (config.models.some((m) => m.drift.enabled)) {
      this.driftMonitor = new DriftMonitor(this, 'DriftMonitor', {
        models: config.models.map((m) => ({ name: m.name, drift: m.drift })),
        scheduleMinutes: config.monitoring.driftScheduleMinutes,
        registry: this.registry,
        tables: this.tables,
        metricsNamespace: config.monitoring.namespace,
        logRetention,
        logEncryptionKey: this.logsKey,
        alarmTopic: this.alarmTopic,
        alarmNamePrefix: `${config.project}-${config.stage}`,
      });
    }

    // Automatic rollback is part of the canary a model opts into (models[].canary). A model without one is routed
    // only by hand (`modelops route`): its candidate alarms page the operator who routed it, and nothing overrides
    // that decision behind their back.
    const rollbackModels = config.models.filter((m) => m.canary.enabled).map((m) => m.name);
    if (rollbackModels.length > 0) {
      this.alarmRollback = new AlarmRollback(this, 'AlarmRollback', {
        models: rollbackModels,
        alarmNamePrefix: alarmNamePrefix(config),
        deployments: this.tables.deployments,
        auditLog: this.tables.auditLog,
        modelVersions: this.tables.modelVersions,
        metricsNamespace: config.monitoring.namespace,
        logRetention,
        logEncryptionKey: this.logsKey,
        alarmTopic: this.alarmTopic,
      });
    }

    const retrainModels = config.models.filter((m) => m.retrain.enabled);
    if (retrainModels.length > 0) {
      this.retrain = new RetrainPipeline(this, 'Retrain', {
        registry: this.registry,
        tables: this.tables,
        releaseStateMachine: this.release.stateMachine,
        models: retrainModels.map((m): RetrainModel => {
          const sagemaker = m.retrain.trainer?.sagemaker;
          if (sagemaker === undefined) {
            // Local mode runs trainer.command; the Train state in AWS is a SageMaker training job.
            throw new ConstructPropsError(
              `ModelOpsStack: model "${m.name}" has retrain.enabled but no retrain.trainer.sagemaker; add ` +
                'trainer.sagemaker: { image: "<ECR image URI>" } to retrain it in AWS, or set retrain.enabled false',
            );
          }
          const alarms = modelAlarms[m.name]!;
          return {
            name: m.name,
            trainingImage: sagemaker.image,
            schedule: m.retrain.schedule,
            // The feedback alarms (accuracy floor, MAE ceiling): labels say the model got worse.
            accuracyAlarms: alarms.rules
              .filter((r) => r.kind === 'accuracy')
              .map((r) => alarms.alarms[r.id]!),
          };
        }),
        retrainPolicies: retrainPoliciesEnvValue(config.models),
        metricsNamespace: config.monitoring.namespace,
        logRetention,
        logEncryptionKey: this.logsKey,
        alarmTopic: this.alarmTopic,
      });
    }

    const dashboardNamePrefix = `${config.project}-${config.stage}`;
    const dashboards: Record<string, ModelDashboard> = {};
    for (const model of config.models) {
      const endpoint = endpoints[model.name]!;
      dashboards[model.name] = new ModelDashboard(this, `${modelConstructStem(model.name)}Dashboard`, {
        endpoint,
        namespace: config.monitoring.namespace,
        slo: model.slo,
        memoryMb: model.memoryMb,
        dashboardNamePrefix,
      });
    }
    this.modelDashboards = dashboards;
    this.fleetDashboard = new FleetDashboard(this, 'FleetDashboard', {
      dashboardNamePrefix,
      endpoints: Object.values(endpoints),
      functions: [
        ...this.release.functions,
        ...(this.driftMonitor ? [this.driftMonitor.function] : []),
        ...(this.alarmRollback ? [this.alarmRollback.function] : []),
        ...(this.retrain ? this.retrain.functions : []),
      ],
      stateMachines: [this.release.stateMachine, ...(this.retrain ? [this.retrain.stateMachine] : [])],
      deadLetterQueues: [
        this.release.deadLetterQueue,
        ...(this.alarmRollback ? [this.alarmRollback.deadLetterQueue] : []),
        ...(this.retrain ? [this.retrain.deadLetterQueue] : []),
      ],
      tables: Object.values(this.tables.tables),
    });

    new CfnOutput(this, STACK_OUTPUTS.registryBucketName, { value: this.registry.bucket.bucketName });
    new CfnOutput(this, STACK_OUTPUTS.modelVersionsTableName, { value: this.tables.modelVersions.tableName });
    new CfnOutput(this, STACK_OUTPUTS.deploymentsTableName, { value: this.tables.deployments.tableName });
    new CfnOutput(this, STACK_OUTPUTS.auditLogTableName, { value: this.tables.auditLog.tableName });
    new CfnOutput(this, STACK_OUTPUTS.monitorStateTableName, {
      value: this.tables.tables[MONITOR_STATE_TABLE.id]!.tableName,
    });
    new CfnOutput(this, STACK_OUTPUTS.releaseStateMachineArn, {
      value: this.release.stateMachine.stateMachineArn,
    });
    new CfnOutput(this, STACK_OUTPUTS.uploaderPolicyArn, {
      value: this.uploader.policy.managedPolicyArn,
      description: 'Attach to the users or roles that run `modelops push --stack`: write incoming/ only',
    });
    if (this.uploader.role) {
      new CfnOutput(this, OPTIONAL_STACK_OUTPUTS.uploaderRoleArn, {
        value: this.uploader.role.roleArn,
        description: 'Assume this role to push bundles (config.registry.uploaderRole.principalArns may)',
      });
    }
    if (this.retrain) {
      new CfnOutput(this, OPTIONAL_STACK_OUTPUTS.retrainStateMachineArn, {
        value: this.retrain.stateMachine.stateMachineArn,
        description: 'Start a manual retrain: { "model": "<name>", "trigger": "manual", "reason": "<why>" }',
      });
    }
    new CfnOutput(this, STACK_OUTPUTS.modelSigningKeyArn, {
      value: this.signingKey.keyArn,
      description:
        'Asymmetric KMS key (ECC_NIST_P256) signing registered versions; GetPublicKey to verify offline',
    });
  }
}
