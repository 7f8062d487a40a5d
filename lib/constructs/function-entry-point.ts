import { Aws, Duration, Token, Validations } from 'aws-cdk-lib';
import type { ScalableTarget } from 'aws-cdk-lib/aws-applicationautoscaling';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement, type Grant, type IGrantable } from 'aws-cdk-lib/aws-iam';
import { Alias, FunctionUrlAuthType } from 'aws-cdk-lib/aws-lambda';
import type { FunctionUrl } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';
import { DEFAULT_INFERENCE, DEFAULT_PROVISIONED_CONCURRENCY } from '../config';
import { MODEL_NAME_PATTERN } from '../../lambdas/core/manifest';
import { MODEL_SIGNING_KEY_ENV } from '../../lambdas/core/ports';
import { MODEL_VERSIONS_TABLE, REGISTRY_BUCKET_ENV } from '../../lambdas/core/tables';
import { INFERENCE_ENV } from '../../lambdas/shared/env';
import type { ArtifactRegistry } from './artifact-registry';
import { MetadataTables } from './metadata-tables';
import type { ModelSigningKey } from './signing-key';
import { ConstructPropsError, ModelOpsFunction } from './modelops-function';
import type { ModelOpsFunctionProps } from './modelops-function';

/** The alias every entry point invokes; provisioned concurrency and scaling live on it. */
export const LIVE_ALIAS_NAME = 'live';

/** Request limits, routing cache and capture of a serving function (`models[].inference` in the config). */
export interface ServingSettings {
  /** Deployments records are cached this long; a routing change takes effect within it. */
  readonly routingCacheTtlSeconds: number;
  /** A larger request body is answered 413. */
  readonly maxBodyBytes: number;
  /** More instances in one request are answered 413. */
  readonly maxBatch: number;
  readonly capture: {
    /** Share (0–1) of requests captured to `capture/<model>/`; 0 disables capture and its S3 permission. */
    readonly sampleRate: number;
    /** Records per capture object. */
    readonly batchRecords: number;
  };
}

/** Provisioned concurrency of the alias `live` and its target tracking (`models[].provisionedConcurrency`). */
export interface ProvisionedConcurrencySettings {
  /** Provisioned concurrency at deployment and the scaling floor; at least 1 when `max` > 0. */
  readonly min: number;
  /** Scaling ceiling; 0 means no provisioned concurrency and no scaling. */
  readonly max: number;
  /** Target `LambdaProvisionedConcurrencyUtilization`, 0.1–0.9. */
  readonly targetUtilization: number;
}

/** What both serving constructs (`InferenceEndpoint`, `SageMakerEndpoint`) take for their function. */
export interface ServingFunctionOptions extends Pick<
  ModelOpsFunctionProps,
  'metricsNamespace' | 'logRetention' | 'logEncryptionKey'
> {
  /** The model this function serves (`MODEL_NAME`); requests for any other model get 404. */
  readonly modelName: string;
  /** Registry: the function reads `models/*` (manifests, artifacts) and, with capture on, writes `capture/<model>/`. */
  readonly registry: ArtifactRegistry;
  /** The routing table (`MetadataTables.deployments`); the function only reads it. */
  readonly deployments: ITable;
  /**
   * The version ledger (`MetadataTables.modelVersions`): the function only `GetItem`s a version's record, once per
   * version, to check its manifest and artifact against it.
   */
  readonly modelVersions: ITable;
  /**
   * Function memory in MB.
   * @default 1024
   */
  readonly memorySize?: number;
  /**
   * Function timeout.
   * @default Duration.seconds(10)
   */
  readonly timeout?: Duration;
  /**
   * Reserved concurrency of the function; must be at least `provisionedConcurrency.max`.
   * @default - no reservation (the account's unreserved pool)
   */
  readonly reservedConcurrentExecutions?: number;
  /**
   * Provisioned concurrency on the alias `live` and its scaling.
   * @default DEFAULT_PROVISIONED_CONCURRENCY (none: `{ min: 0, max: 0 }`)
   */
  readonly provisionedConcurrency?: ProvisionedConcurrencySettings;
  /**
   * Request limits, routing cache TTL and capture.
   * @default DEFAULT_INFERENCE (lib/config.ts)
   */
  readonly serving?: ServingSettings;
  /**
   * Key that signs registered versions: the function gets its ARN as `MODEL_SIGNING_KEY_ID` and may verify with it
   * (`kms:Verify`, `kms:GetPublicKey`), never sign.
   * @default - no signing key: no variable, no KMS permission
   */
  readonly signingKey?: ModelSigningKey;
  /**
   * The model's latency SLO threshold (`slo.latency.thresholdMs`): the handler counts answered requests slower than
   * this as `SlowRequests` 1 (`SLO_LATENCY_THRESHOLD_MS`).
   * @default - the handler's default, 250 ms (DEFAULT_SLO)
   */
  readonly latencyThresholdMs?: number;
}

export interface FunctionEntryPointProps
  extends
    ServingFunctionOptions,
    Pick<ModelOpsFunctionProps, 'entry' | 'serviceName' | 'onnxRuntime' | 'environment'> {
  /** Console description of the function. */
  readonly description: string;
}

/**
 * A serving function and its authenticated HTTPS entry point, shared by `InferenceEndpoint` (ONNX in process) and
 * `SageMakerEndpoint` (router): the function with the inference environment, read access to `models/*`,
 * GetItem/Query on the Deployments table and GetItem on ModelVersions only (plus `capture/<model>/` writes when
 * capture is on); the alias `live`
 * on the current version with provisioned concurrency and target-tracking scaling when configured; a Function URL
 * on the alias with AWS_IAM auth and no CORS.
 *
 * Application-level routing (DESIGN.md decision 1) is why there is one alias with no weights: the function picks
 * the model version per request, so the alias can carry provisioned concurrency.
 */
export class FunctionEntryPoint extends Construct {
  public readonly function: ModelOpsFunction;
  /** The alias `live` on the function's current version; the Function URL and scaling target it. */
  public readonly alias: Alias;
  /** HTTPS entry point, AWS_IAM auth: callers sign with SigV4 (service `lambda`). */
  public readonly functionUrl: FunctionUrl;
  /** Application Auto Scaling target of the alias' provisioned concurrency; only when `provisionedConcurrency.max` > 0. */
  public readonly scalableTarget?: ScalableTarget;
  /** Provisioned concurrency's minimum: environments that are always initialised (0 without provisioned concurrency). */
  public readonly provisionedConcurrencyMin: number;

  constructor(scope: Construct, id: string, props: FunctionEntryPointProps) {
    super(scope, id);
    const serving = props.serving ?? DEFAULT_INFERENCE;
    const pc = props.provisionedConcurrency ?? DEFAULT_PROVISIONED_CONCURRENCY;
    validateProps(props, serving, pc);
    this.provisionedConcurrencyMin = pc.max > 0 ? pc.min : 0;
    const { registry, modelName } = props;
    const captureOn = serving.capture.sampleRate > 0;

    this.function = new ModelOpsFunction(this, 'Function', {
      entry: props.entry,
      serviceName: props.serviceName,
      description: props.description,
      metricsNamespace: props.metricsNamespace,
      logRetention: props.logRetention,
      logEncryptionKey: props.logEncryptionKey,
      memorySize: props.memorySize ?? 1024,
      timeout: props.timeout ?? Duration.seconds(10),
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      onnxRuntime: props.onnxRuntime,
      environment: {
        [INFERENCE_ENV.modelName]: modelName,
        [INFERENCE_ENV.routingCacheTtlMs]: String(Math.round(serving.routingCacheTtlSeconds * 1000)),
        [INFERENCE_ENV.maxBodyBytes]: String(serving.maxBodyBytes),
        [INFERENCE_ENV.maxBatch]: String(serving.maxBatch),
        [INFERENCE_ENV.captureSampleRate]: String(serving.capture.sampleRate),
        [INFERENCE_ENV.captureBatchRecords]: String(serving.capture.batchRecords),
        [REGISTRY_BUCKET_ENV]: registry.bucket.bucketName,
        ...(props.signingKey ? { [MODEL_SIGNING_KEY_ENV]: props.signingKey.keyArn } : {}),
        ...(props.latencyThresholdMs === undefined
          ? {}
          : { [INFERENCE_ENV.sloLatencyThresholdMs]: String(props.latencyThresholdMs) }),
        ...props.environment,
      },
    });
    // The runtime reads the routing record, each served version's ledger record and immutable models/ only.
    this.function.bindTable(props.deployments, 'read').bindBucket((g) => registry.grantReadModels(g));
    bindLedgerRead(this.function, props.modelVersions);
    if (captureOn) this.function.bindBucket((g) => registry.grantWriteCapture(g, modelName));
    if (props.signingKey) props.signingKey.grantVerify(this.function.role);

    const provisioned = pc.max > 0;
    this.alias = new Alias(this, 'LiveAlias', {
      aliasName: LIVE_ALIAS_NAME,
      version: this.function.function.currentVersion,
      description: `Entry point of ${modelName}: provisioned concurrency and Function URL live here`,
      provisionedConcurrentExecutions: provisioned ? pc.min : undefined,
    });
    if (provisioned) {
      this.alias
        .addAutoScaling({ minCapacity: pc.min, maxCapacity: pc.max })
        .scaleOnUtilization({ utilizationTarget: pc.targetUtilization });
      // addAutoScaling returns only the scaling interface; the target is its child 'Target'.
      this.scalableTarget = this.alias.node
        .findChild('AliasScaling')
        .node.findChild('Target') as ScalableTarget;
    }
    this.functionUrl = this.alias.addFunctionUrl({ authType: FunctionUrlAuthType.AWS_IAM });

    Validations.of(this.function.function).acknowledge({
      id: 'NIST.800.53.R5::NIST.800.53.R5-LambdaDLQ',
      reason:
        'Invoked only synchronously through its IAM-authenticated Function URL; the caller receives every error ' +
        'as an HTTP status. A Lambda DLQ applies to asynchronous invocations only.',
    });
    if (props.reservedConcurrentExecutions === undefined) {
      Validations.of(this.function.function).acknowledge({
        id: 'NIST.800.53.R5::NIST.800.53.R5-LambdaConcurrency',
        reason:
          `models[].reservedConcurrency is not set for ${modelName}: a serving function's fair share depends on ` +
          'the account quota and the other models, so reserving is an explicit choice of the deployer (the release ' +
          'functions always reserve).',
      });
    }
  }

  /**
   * Lets `grantee` call the Function URL: `lambda:InvokeFunctionUrl` (auth type AWS_IAM) and
   * `lambda:InvokeFunction` (only via a Function URL) on the alias `live`, nothing else.
   */
  grantInvoke(grantee: IGrantable): Grant {
    return this.functionUrl.grantInvokeUrl(grantee);
  }
}

/**
 * `dynamodb:GetItem` on the ModelVersions table and nothing else on it (no Query, no index, no write), with its
 * environment variable: `bindTable(…, 'read')` would also grant Query on the table and its status index.
 */
function bindLedgerRead(fn: ModelOpsFunction, table: ITable): void {
  const definition = MetadataTables.definitionOf(table);
  if (definition.id !== MODEL_VERSIONS_TABLE.id) {
    throw new ConstructPropsError(
      `FunctionEntryPoint: modelVersions must be the ${MODEL_VERSIONS_TABLE.id} table, got the ${definition.id} table`,
    );
  }
  fn.addEnvironment(MODEL_VERSIONS_TABLE.envVar, table.tableName);
  fn.role.addToPrincipalPolicy(
    new PolicyStatement({ actions: ['dynamodb:GetItem'], resources: [table.tableArn] }),
  );
  if (table.encryptionKey) {
    fn.role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['kms:Decrypt'],
        resources: [table.encryptionKey.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `dynamodb.${Aws.REGION}.amazonaws.com` } },
      }),
    );
  }
}

function validateProps(
  props: FunctionEntryPointProps,
  serving: ServingSettings,
  pc: ProvisionedConcurrencySettings,
): void {
  const fail = (message: string): never => {
    throw new ConstructPropsError(`FunctionEntryPoint: ${message}`);
  };
  if (!Token.isUnresolved(props.modelName) && !MODEL_NAME_PATTERN.test(props.modelName)) {
    fail(`modelName must be a model name (a-z, 0-9, "-"), got ${JSON.stringify(props.modelName)}`);
  }
  const wholeAtLeast = (name: string, value: number, min: number): void => {
    if (!Token.isUnresolved(value) && (!Number.isInteger(value) || value < min)) {
      fail(`${name} must be a whole number >= ${min}, got ${value}`);
    }
  };
  wholeAtLeast('provisionedConcurrency.min', pc.min, 0);
  wholeAtLeast('provisionedConcurrency.max', pc.max, 0);
  if (pc.max > 0) {
    if (pc.min < 1 || pc.min > pc.max) {
      fail(
        `provisionedConcurrency.min must be between 1 and max (${pc.max}) when max > 0, got ${pc.min}; ` +
          'utilization scaling cannot start from 0',
      );
    }
    if (pc.targetUtilization < 0.1 || pc.targetUtilization > 0.9) {
      fail(
        `provisionedConcurrency.targetUtilization must be between 0.1 and 0.9, got ${pc.targetUtilization}`,
      );
    }
  } else if (pc.min !== 0) {
    fail(`provisionedConcurrency.min must be 0 when max is 0, got ${pc.min}`);
  }
  const reserved = props.reservedConcurrentExecutions;
  if (reserved !== undefined && !Token.isUnresolved(reserved) && pc.max > reserved) {
    fail(
      `provisionedConcurrency.max (${pc.max}) must not exceed reservedConcurrentExecutions (${reserved}); ` +
        'Lambda cannot provision more than it reserves',
    );
  }
  wholeAtLeast('serving.maxBodyBytes', serving.maxBodyBytes, 1);
  wholeAtLeast('serving.maxBatch', serving.maxBatch, 1);
  wholeAtLeast('serving.capture.batchRecords', serving.capture.batchRecords, 1);
  if (!(serving.routingCacheTtlSeconds >= 0)) {
    fail(`serving.routingCacheTtlSeconds must be >= 0, got ${serving.routingCacheTtlSeconds}`);
  }
  if (!(serving.capture.sampleRate >= 0 && serving.capture.sampleRate <= 1)) {
    fail(`serving.capture.sampleRate must be between 0 and 1, got ${serving.capture.sampleRate}`);
  }
}
