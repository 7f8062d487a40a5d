/**
 * The deploy-target port of the release state machine (DeployCandidate → … → Promote | Rollback → Retire), and the
 * pure planning of the SageMaker target: which models and endpoint configs a rollout needs, what they are named, and
 * how to judge a DescribeEndpoint answer. No AWS SDK here: lambdas/adapters/sagemaker-rollout-target.ts sends what
 * this module plans, and the CDK construct (lib/constructs/sagemaker-endpoint.ts) scopes its IAM grant with the same
 * name prefix, so a name the adapter creates is always one the grant allows.
 */
import { variantNameFor } from './keys';
import { MODEL_NAME_PATTERN, VERSION_PATTERN } from './names';
import { sha256OfBytes } from './sha256';

// ---------------------------------------------------------------------------------------------------------------
// The port
// ---------------------------------------------------------------------------------------------------------------

/**
 * Where a target stands after a call. `pending` asks the state machine to wait `pollSeconds` and call
 * `pollCandidate` (or `retire` again); `detail` is recorded in the audit log as is, so it holds plain JSON.
 */
export type TargetProgress =
  | { readonly status: 'ready'; readonly detail: Readonly<Record<string, unknown>> }
  | {
      readonly status: 'pending';
      readonly pollSeconds: number;
      readonly detail: Readonly<Record<string, unknown>>;
    };

export interface RolloutTargetRequest {
  readonly model: string;
  readonly stable: string;
  readonly candidate: string;
}

/** What every deploy target (Lambda, SageMaker) implements; the release state machine calls only this. */
export interface RolloutTarget {
  /** Make the candidate servable next to stable; idempotent (a repeat after a crash finds the work done). */
  deployCandidate(req: RolloutTargetRequest): Promise<TargetProgress>;
  /** Poll a pending deploy; throws TargetDeployFailedError on failure (incl. silent rollback). */
  pollCandidate(req: RolloutTargetRequest): Promise<TargetProgress>;
  /** After promote (keep = candidate) or rollback (keep = stable): remove the other version's capacity; idempotent. */
  retire(req: RolloutTargetRequest & { readonly keep: string }): Promise<TargetProgress>;
}

/**
 * The candidate cannot be served: the target failed, rolled itself back, or can never run it. Not retried: the
 * ASL catches it by name and rolls the release back. `reasonCode` goes to the audit log next to the message.
 */
export class TargetDeployFailedError extends Error {
  override name = 'TargetDeployFailedError';
  constructor(
    readonly reasonCode: string,
    message: string,
    readonly detail: Readonly<Record<string, unknown>> = {},
    options?: { readonly cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * The target is busy with a change this rollout did not start (AWS maintenance, a previous update still running);
 * nothing was changed. Worth retrying with backoff — it is not a verdict on the candidate.
 */
export class TargetBusyError extends Error {
  override name = 'TargetBusyError';
}

/** Reason codes of {@link TargetDeployFailedError} raised by the SageMaker target. */
export const SAGEMAKER_FAILURE = {
  /** EndpointStatus `Failed`; the message carries SageMaker's FailureReason. */
  endpointFailed: 'ENDPOINT_FAILED',
  /** EndpointStatus `RollingBack`: SageMaker is undoing the update. */
  rollingBack: 'ENDPOINT_ROLLING_BACK',
  /** InService, but on another endpoint config than the one requested: the update was rolled back silently. */
  silentRollback: 'SILENT_ROLLBACK',
  /** InService on the requested config, yet a variant the config declares is not among ProductionVariants. */
  variantMissing: 'VARIANT_MISSING',
  /** EndpointStatus `OutOfService` or `Deleting`: nothing can be served. */
  outOfService: 'ENDPOINT_OUT_OF_SERVICE',
  /** The endpoint does not exist (deleted, or the stack was never deployed in this account/region). */
  endpointNotFound: 'ENDPOINT_NOT_FOUND',
  /** The version is not a registered SageMaker artifact (no record, not REGISTERED, or not a model.tar.gz). */
  artifactNotServable: 'ARTIFACT_NOT_SERVABLE',
  /** An EndpointStatus this code does not know. */
  unknownStatus: 'ENDPOINT_STATUS_UNKNOWN',
} as const;

// ---------------------------------------------------------------------------------------------------------------
// SageMaker names
// ---------------------------------------------------------------------------------------------------------------

/** SageMaker's rule for model, endpoint-config, endpoint and variant names. */
export const SAGEMAKER_NAME_PATTERN = /^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$/;
export const SAGEMAKER_NAME_MAX_LENGTH = 63;

/** Longest name prefix: leaves room for `-c-` / `-m-` and a 16-hex-digit content hash (40 + 3 + 16 = 59 ≤ 63). */
export const ROLLOUT_NAME_PREFIX_MAX_LENGTH = 40;
const HASH_HEX_DIGITS = 16;

/**
 * The prefix of every model and endpoint config the rollout creates for one endpoint:
 * lower-case, at most 40 characters, ending in 8 hex digits of the endpoint name's sha256 so that two endpoints whose
 * names share their first characters never share a prefix. Lower case because SageMaker lower-cases names in its
 * ARNs, and the IAM grant (`<type>/<prefix>-c-*`) is matched against the ARN.
 *
 * @example rolloutNamePrefix('ModelOps-Test-FraudScoreEndpoint-1A2B3C4D') // 'modelops-test-fraudscoreendpoin-5e0f…'
 */
export function rolloutNamePrefix(endpointName: string): string {
  if (!SAGEMAKER_NAME_PATTERN.test(endpointName)) {
    throw new RangeError(
      `endpointName must be a SageMaker endpoint name ([a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}), got ${JSON.stringify(endpointName)}`,
    );
  }
  const hash = sha256OfBytes(endpointName).slice(0, 8);
  const head = endpointName.toLowerCase().slice(0, ROLLOUT_NAME_PREFIX_MAX_LENGTH - 9);
  return `${head}-${hash}`;
}

/** The name-pattern the IAM grant allows for endpoint configs of `endpointName` (append `*`). */
export function endpointConfigNamePrefix(endpointName: string): string {
  return `${rolloutNamePrefix(endpointName)}-c-`;
}

/** The name-pattern the IAM grant allows for models of `endpointName` (append `*`). */
export function modelNamePrefix(endpointName: string): string {
  return `${rolloutNamePrefix(endpointName)}-m-`;
}

/**
 * A content-addressed name: equal content ⇒ equal name, so a create repeated after a crash meets its own earlier
 * result ("already exists") instead of a half-different resource, and a changed setting (image, instance type)
 * yields a new name rather than silently reusing the stale resource.
 */
function contentName(prefix: string, content: unknown): string {
  return `${prefix}${sha256OfBytes(canonicalJson(content)).slice(0, HASH_HEX_DIGITS)}`;
}

/** JSON with object keys sorted, so the hash does not depend on property order. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

// ---------------------------------------------------------------------------------------------------------------
// Settings and plans (the SDK's input shapes, field for field)
// ---------------------------------------------------------------------------------------------------------------

/** Real-time production variant on dedicated instances. */
export interface RealtimeVariantSettings {
  readonly kind: 'realtime';
  /** e.g. `ml.m5.large`. */
  readonly instanceType: string;
  readonly initialInstanceCount: number;
}

/** Serverless production variant. */
export interface ServerlessVariantSettings {
  readonly kind: 'serverless';
  readonly memorySizeInMb: number;
  readonly maxConcurrency: number;
  readonly provisionedConcurrency?: number;
}

export type VariantSettings = RealtimeVariantSettings | ServerlessVariantSettings;

/**
 * What the SageMaker target needs of the deployed stack; `SageMakerEndpoint.rolloutSettings` provides it. Every
 * version of the model runs in the same image, role and variant shape as the endpoint's initial version.
 */
export interface SageMakerTargetSettings {
  /** The endpoint CloudFormation created; the rollout updates it in place. */
  readonly endpointName: string;
  /** The endpoint's execution role (the models' `ExecutionRoleArn`). */
  readonly executionRoleArn: string;
  /** Inference container image URI. */
  readonly image: string;
  /** The registry bucket: a version's model data is `s3://<bucket>/<artifactKey>`. */
  readonly registryBucketName: string;
  readonly variant: VariantSettings;
  /** Volume KMS key of real-time instances; undefined where SageMaker refuses one (serverless, local NVMe). */
  readonly kmsKeyId?: string;
  /** @default true */
  readonly networkIsolation?: boolean;
}

/** A registered SageMaker artifact of one version. */
export interface VersionArtifact {
  readonly version: string;
  /** sha256 of the `model.tar.gz` (part of the model's name: a different artifact is a different model). */
  readonly sha256: string;
  /** `s3://<bucket>/models/<model>/<version>/<sha256>.tar.gz`. */
  readonly modelDataUrl: string;
}

/** The CreateModel input (`@aws-sdk/client-sagemaker` CreateModelInput). */
export interface ModelPlan {
  readonly ModelName: string;
  readonly ExecutionRoleArn: string;
  readonly EnableNetworkIsolation: boolean;
  readonly PrimaryContainer: {
    readonly Image: string;
    readonly Mode: 'SingleModel';
    readonly ModelDataUrl: string;
  };
}

export interface ProductionVariantPlan {
  readonly VariantName: string;
  readonly ModelName: string;
  readonly InitialVariantWeight: number;
  readonly InstanceType?: string;
  readonly InitialInstanceCount?: number;
  readonly ServerlessConfig?: {
    readonly MemorySizeInMB: number;
    readonly MaxConcurrency: number;
    readonly ProvisionedConcurrency?: number;
  };
}

/** The CreateEndpointConfig input (`@aws-sdk/client-sagemaker` CreateEndpointConfigInput). */
export interface EndpointConfigPlan {
  readonly EndpointConfigName: string;
  readonly ProductionVariants: readonly ProductionVariantPlan[];
  readonly KmsKeyId?: string;
}

/** Everything one target state needs: the models to create (idempotently), then the config to switch to. */
export interface EndpointPlan {
  readonly models: readonly ModelPlan[];
  readonly config: EndpointConfigPlan;
  /** The variant names the endpoint must show once it runs `config`. */
  readonly variants: readonly string[];
}

/** The CreateModel input of one version; its name is derived from everything in it (image, data, role). */
export function modelPlanFor(
  settings: SageMakerTargetSettings,
  model: string,
  artifact: VersionArtifact,
): ModelPlan {
  const content = {
    ExecutionRoleArn: settings.executionRoleArn,
    EnableNetworkIsolation: settings.networkIsolation ?? true,
    PrimaryContainer: {
      Image: settings.image,
      Mode: 'SingleModel' as const,
      ModelDataUrl: artifact.modelDataUrl,
    },
  };
  return {
    ModelName: contentName(modelNamePrefix(settings.endpointName), {
      model,
      version: artifact.version,
      sha256: artifact.sha256,
      ...content,
    }),
    ...content,
  };
}

export interface EndpointConfigRequest {
  readonly settings: SageMakerTargetSettings;
  readonly model: string;
  /** The version that keeps serving (weight 1). */
  readonly stable: VersionArtifact;
  /** The version being rolled out (weight 0); omitted for the single-variant config `retire` switches to. */
  readonly candidate?: VersionArtifact;
}

/**
 * The models and the endpoint config for (model, stable[, candidate]): one production variant per version, named
 * `variantNameFor(version)`, all in the endpoint's variant shape.
 *
 * Weights: stable 1, candidate 0. The router always names the variant (`TargetVariant`), which overrides the
 * weights, so the canary split lives in the Deployments table alone; the weights decide only calls that name no
 * variant (a console test, an operator's `aws sagemaker-runtime invoke-endpoint`), and those should land on the
 * version that is known good, never on an unjudged candidate.
 *
 * The config name is a hash of the whole plan under the endpoint's prefix, so the same request yields the same name
 * (idempotent per model, stable, candidate and settings) and fits SageMaker's 63 characters.
 *
 * @example
 * const plan = endpointConfigFor({ settings, model: 'fraud-score', stable: v1, candidate: v2 });
 * // plan.config.ProductionVariants → [{ VariantName: 'v-1', InitialVariantWeight: 1, … }, { VariantName: 'v-2', InitialVariantWeight: 0, … }]
 */
export function endpointConfigFor(request: EndpointConfigRequest): EndpointPlan {
  const { settings, model, stable, candidate } = request;
  if (!MODEL_NAME_PATTERN.test(model)) {
    throw new RangeError(`model must be a model name (a-z, 0-9, "-"), got ${JSON.stringify(model)}`);
  }
  for (const [field, artifact] of [
    ['stable', stable],
    ['candidate', candidate],
  ] as const) {
    if (
      artifact !== undefined &&
      (!VERSION_PATTERN.test(artifact.version) || artifact.version.includes('..'))
    ) {
      throw new RangeError(
        `${field} must be a registered version (A-Z, a-z, 0-9, ".", "_", "-"), got ${JSON.stringify(artifact.version)}`,
      );
    }
  }
  if (candidate?.version === stable.version) {
    throw new RangeError(
      `candidate must differ from stable (both ${JSON.stringify(stable.version)}); a rollout needs two versions`,
    );
  }
  const versions = candidate === undefined ? [stable] : [stable, candidate];
  const models = versions.map((artifact) => modelPlanFor(settings, model, artifact));
  const ProductionVariants = versions.map((artifact, i) =>
    productionVariant(
      settings.variant,
      variantNameFor(artifact.version),
      models[i]!.ModelName,
      i === 0 ? 1 : 0,
    ),
  );
  const content = {
    ProductionVariants,
    ...(settings.kmsKeyId !== undefined ? { KmsKeyId: settings.kmsKeyId } : {}),
  };
  const EndpointConfigName = contentName(endpointConfigNamePrefix(settings.endpointName), {
    endpointName: settings.endpointName,
    model,
    ...content,
  });
  return {
    models,
    config: { EndpointConfigName, ...content },
    variants: ProductionVariants.map((v) => v.VariantName),
  };
}

function productionVariant(
  variant: VariantSettings,
  VariantName: string,
  ModelName: string,
  InitialVariantWeight: number,
): ProductionVariantPlan {
  if (variant.kind === 'realtime') {
    return {
      VariantName,
      ModelName,
      InitialVariantWeight,
      InstanceType: variant.instanceType,
      InitialInstanceCount: variant.initialInstanceCount,
    };
  }
  return {
    VariantName,
    ModelName,
    InitialVariantWeight,
    ServerlessConfig: {
      MemorySizeInMB: variant.memorySizeInMb,
      MaxConcurrency: variant.maxConcurrency,
      ...(variant.provisionedConcurrency !== undefined
        ? { ProvisionedConcurrency: variant.provisionedConcurrency }
        : {}),
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Judging DescribeEndpoint
// ---------------------------------------------------------------------------------------------------------------

/** The part of a DescribeEndpoint answer the judge reads (the SDK's DescribeEndpointOutput is assignable to it). */
export interface EndpointDescription {
  readonly EndpointName?: string | undefined;
  readonly EndpointConfigName?: string | undefined;
  readonly EndpointStatus?: string | undefined;
  readonly FailureReason?: string | undefined;
  readonly ProductionVariants?: readonly { readonly VariantName?: string | undefined }[] | undefined;
}

export type EndpointVerdict =
  | { readonly state: 'ready'; readonly detail: Readonly<Record<string, unknown>> }
  | { readonly state: 'pending'; readonly detail: Readonly<Record<string, unknown>> }
  | {
      readonly state: 'failed';
      readonly reasonCode: string;
      readonly message: string;
      readonly detail: Readonly<Record<string, unknown>>;
    };

/** Transitional statuses: the endpoint is on its way somewhere; look again later. */
const TRANSITIONAL_STATUSES = new Set(['Creating', 'Updating', 'SystemUpdating']);

/**
 * Whether the endpoint runs `requestedConfigName` with every variant in `expectedVariants`, after an
 * UpdateEndpoint to that config was issued:
 * - `Creating` / `Updating` / `SystemUpdating` → pending;
 * - `Failed` → failed (FailureReason in the message), `RollingBack` → failed, `OutOfService` / `Deleting` → failed;
 * - `InService` on another config → failed, **silent rollback**: SageMaker undid the update (failed health checks,
 *   capacity) and went back to the previous config, often with an empty FailureReason, so InService alone proves
 *   nothing (terraform-provider-aws#48997);
 * - `InService` on the requested config without an expected variant → failed (`VARIANT_MISSING`);
 * - `InService` on the requested config with every expected variant → ready.
 */
export function judgeEndpointState(
  endpoint: EndpointDescription,
  requestedConfigName: string,
  expectedVariants: readonly string[] = [],
): EndpointVerdict {
  const status = endpoint.EndpointStatus ?? '(none)';
  const running = endpoint.EndpointConfigName;
  const variants = (endpoint.ProductionVariants ?? []).map((v) => v.VariantName ?? '');
  const failureReason = endpoint.FailureReason?.trim() || undefined;
  const detail = {
    endpointName: endpoint.EndpointName,
    endpointStatus: status,
    endpointConfigName: running,
    requestedConfigName,
    variants,
    ...(failureReason !== undefined ? { failureReason } : {}),
  };
  const name = endpoint.EndpointName ?? '(unnamed)';
  const because = failureReason !== undefined ? `: ${failureReason}` : '';
  const failed = (reasonCode: string, message: string): EndpointVerdict => ({
    state: 'failed',
    reasonCode,
    message,
    detail,
  });

  if (TRANSITIONAL_STATUSES.has(status)) return { state: 'pending', detail };
  switch (status) {
    case 'Failed':
      return failed(
        SAGEMAKER_FAILURE.endpointFailed,
        `SageMaker endpoint ${name} is Failed${because || ' (no FailureReason given)'}; see its CloudWatch logs ` +
          `/aws/sagemaker/Endpoints/${name}`,
      );
    case 'RollingBack':
      return failed(
        SAGEMAKER_FAILURE.rollingBack,
        `SageMaker endpoint ${name} is RollingBack from config ${requestedConfigName}${because}; the candidate ` +
          'did not come up',
      );
    case 'OutOfService':
    case 'Deleting':
      return failed(
        SAGEMAKER_FAILURE.outOfService,
        `SageMaker endpoint ${name} is ${status}${because}; it cannot serve the candidate or the stable version`,
      );
    case 'InService':
      break;
    default:
      return failed(
        SAGEMAKER_FAILURE.unknownStatus,
        `SageMaker endpoint ${name} reports EndpointStatus ${JSON.stringify(status)}, which the rollout does not ` +
          'know; check the endpoint in the console',
      );
  }
  if (running !== requestedConfigName) {
    return failed(
      SAGEMAKER_FAILURE.silentRollback,
      `SageMaker endpoint ${name} is InService on config ${running ?? '(none)'}, not the requested ` +
        `${requestedConfigName}: SageMaker rolled the update back${because || ' without a FailureReason'}; see ` +
        `/aws/sagemaker/Endpoints/${name} for the candidate's health checks`,
    );
  }
  const missing = expectedVariants.filter((v) => !variants.includes(v));
  if (missing.length > 0) {
    return failed(
      SAGEMAKER_FAILURE.variantMissing,
      `SageMaker endpoint ${name} runs config ${requestedConfigName} but shows variants [${variants.join(', ')}], ` +
        `without ${missing.join(', ')}`,
    );
  }
  return { state: 'ready', detail };
}
