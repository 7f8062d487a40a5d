/**
 * The shape of a state machine's wiring table (DESIGN.md decision 8): one row per Lambda function behind the
 * `${<Id>FunctionArn}` placeholders of its ASL file. The CDK construct, local mode and the ASL tests all read the
 * rows, so a function's timeout, memory, grants and environment are written once.
 *
 * Pure data and types: local mode and tests load this without aws-cdk-lib. The CDK side maps the access names below
 * onto `ModelOpsFunction.bindTable` and the `ArtifactRegistry` grant methods; its types refuse a name it cannot map.
 */
import {
  APPROVAL_POLICIES_ENV,
  AUDIT_LOG_TABLE,
  CANDIDATE_WARM_URL_ENV,
  EVENT_BUS_NAME_ENV,
  DEPLOYMENTS_TABLE,
  DRIFT_COUNTERS_TABLE,
  MAX_ARTIFACT_BYTES_ENV,
  METRICS_READ_URL_ENV,
  MODEL_VERSIONS_TABLE,
  MONITOR_STATE_TABLE,
  PREDICTION_LOG_TABLE,
  REGISTRY_BUCKET_ENV,
  ROLLOUT_POLICIES_ENV,
  ROLLOUT_TARGETS_ENV,
  type TableDefinition,
} from '../../lambdas/core/tables';
import { MODEL_LOCK_DAYS_ENV, MODEL_LOCK_MODE_ENV } from '../../lambdas/core/object-lock';
import { MODEL_SIGNING_KEY_ENV } from '../../lambdas/core/ports';
import { CONFIGURED_MODELS_ENV, MODEL_MAX_BATCH_ENV } from '../../lambdas/shared/env';
import { RETRAIN_POLICIES_ENV } from '../../lambdas/core/retrain-env';

/**
 * The metadata tables a function can be bound to, named as the `MetadataTables` fields that hold them (driftCounters,
 * which has no field, after its definition); CDK finds each in `MetadataTables.tables` by its definition id.
 */
export const WORKFLOW_TABLES = {
  modelVersions: MODEL_VERSIONS_TABLE,
  deployments: DEPLOYMENTS_TABLE,
  auditLog: AUDIT_LOG_TABLE,
  /** The live drift counters the inference path ADDs to; AnalyzeCanary reads the versions' prediction bins. */
  driftCounters: DRIFT_COUNTERS_TABLE,
  /** Per model and kind: the drift state (drift monitor) and the retrain state (retrain Guard and RecordOutcome). */
  monitorState: MONITOR_STATE_TABLE,
  /** Sampled predictions joined with their labels: PrepareTrainingData reads the labelled ones of a data window. */
  predictionLog: PREDICTION_LOG_TABLE,
} as const satisfies Record<string, TableDefinition>;
export type WorkflowTable = keyof typeof WORKFLOW_TABLES;

/** DynamoDB access levels, as `ModelOpsFunction.bindTable` takes them (`TABLE_ACCESS_ACTIONS`). */
export type TableAccess = 'read' | 'write' | 'append' | 'update' | 'patch';

/** Registry prefix grants; each is the `ArtifactRegistry` method `grant<Name>` (e.g. `grantReadIncoming`). */
export type BucketAccess = 'readIncoming' | 'publishModels' | 'readModels';

/**
 * Deployment settings a function can receive, each as one environment variable. CDK takes the values from the
 * construct's props, local mode from the config and the emulators; both must supply every setting (the record type
 * below makes a new setting a compile error on both sides until it is supplied).
 */
export const WORKFLOW_SETTINGS = {
  /** The artifact registry bucket's name. */
  registryBucket: REGISTRY_BUCKET_ENV,
  /** `config.registry.maxArtifactBytes`. */
  maxArtifactBytes: MAX_ARTIFACT_BYTES_ENV,
  /** The configured model names, comma-separated. */
  configuredModels: CONFIGURED_MODELS_ENV,
  /** `config.registry.objectLock.mode`: Object Lock mode of each copy into models/. */
  modelLockMode: MODEL_LOCK_MODE_ENV,
  /** `config.registry.objectLock.days`: retention of each copy into models/, in days. */
  modelLockDays: MODEL_LOCK_DAYS_ENV,
  /** The key RegisterVersion signs with: the ModelSigningKey ARN in AWS, `local-dir:<data dir>` locally. */
  modelSigningKeyId: MODEL_SIGNING_KEY_ENV,
  rolloutPolicies: ROLLOUT_POLICIES_ENV,
  metricsReadUrl: METRICS_READ_URL_ENV,
  /** Per model: approvalRequired, riskTier, approvalTimeoutSeconds (lambdas/core/approval-events.ts). */
  approvalPolicies: APPROVAL_POLICIES_ENV,
  /** Per model: the most instances per request, the size of the serve-time contract's synthetic batch. */
  modelMaxBatch: MODEL_MAX_BATCH_ENV,
  /** The EventBridge bus for approval requests: `default` in AWS, empty locally (no bus emulator). */
  eventBusName: EVENT_BUS_NAME_ENV,
  /**
   * Per model with a canary: its deploy target (lambdas/core/candidate-deploy.ts) — the inference function's alias
   * `live` or the SageMaker endpoint's rollout settings in AWS, the kind only locally.
   */
  rolloutTargets: ROLLOUT_TARGETS_ENV,
  /** Local mode only: the inference server DeployCandidate warms candidates in; empty in AWS. */
  candidateWarmUrl: CANDIDATE_WARM_URL_ENV,
  /** Per model with retrain enabled: guard, champion gate and training settings (lambdas/core/retrain-policy.ts). */
  retrainPolicies: RETRAIN_POLICIES_ENV,
} as const;
export type WorkflowSetting = keyof typeof WORKFLOW_SETTINGS;
export type WorkflowSettingValues = Readonly<Record<WorkflowSetting, string>>;

/** One Lambda function of a state machine. */
export interface WorkflowFunction {
  /** Construct id inside the pipeline construct, PascalCase. Part of the contract: renaming replaces the function. */
  readonly id: string;
  /** The directory of `lambdas/<handler>/handler.ts`. */
  readonly handler: string;
  /**
   * The handler module, loaded lazily by local mode (after it has prepared the environment). A literal specifier
   * in each row, so tsx and vitest resolve it relative to the table's file on any OS.
   */
  readonly import: () => Promise<unknown>;
  /** Powertools service name. */
  readonly serviceName: string;
  /** Shown in the Lambda console. */
  readonly description: string;
  /**
   * Lambda timeout. Every ASL Task calling this function has `TimeoutSeconds` equal to it (checked by
   * `wiringProblems`): shorter would let Step Functions give up, retry or compensate while the function still runs
   * and writes; longer only delays the failure Lambda reports anyway.
   */
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
  /** Attach the ONNX Runtime layer (and keep onnxruntime-node out of the bundle). */
  readonly onnxRuntime: boolean;
  /** The tables it is bound to and how; each sets that table's environment variable. */
  readonly tables: Readonly<Partial<Record<WorkflowTable, TableAccess>>>;
  /** Registry prefix grants. Enforced by IAM in AWS only: s3rver has no access control. */
  readonly bucket: readonly BucketAccess[];
  /** Deployment settings it receives as environment variables. */
  readonly settings: readonly WorkflowSetting[];
}

/** A state machine's ASL file and the functions behind its placeholders. */
export interface Workflow {
  /** State machine name in local mode and in log lines, e.g. `release`. */
  readonly name: string;
  /** File name in `stepfunctions/`, e.g. `release.asl.json`. */
  readonly aslFile: string;
  readonly functions: readonly WorkflowFunction[];
  /**
   * Placeholders of the ASL file that are not functions (a state machine ARN, a role ARN, a bucket name), each
   * substituted by CDK and by local mode. @default none
   */
  readonly substitutions?: readonly string[];
}

/** `ValidateArtifact` → `ValidateArtifactFunctionArn`: the ASL placeholder (and substitution key) of a function. */
export function functionArnPlaceholder(fn: Pick<WorkflowFunction, 'id'>): string {
  return `${fn.id}FunctionArn`;
}

/** The variables of a row's settings, with their values (CDK sets the tables' variables through `bindTable`). */
export function settingsEnvironment(
  fn: Pick<WorkflowFunction, 'settings'>,
  settings: WorkflowSettingValues,
): Record<string, string> {
  return Object.fromEntries(fn.settings.map((setting) => [WORKFLOW_SETTINGS[setting], settings[setting]]));
}

/** Every environment variable a row binds, with its value: its settings, then its tables' variables. */
export function functionEnvironment(
  fn: WorkflowFunction,
  settings: WorkflowSettingValues,
  tableNames: Readonly<Record<WorkflowTable, string>>,
): Record<string, string> {
  const environment = settingsEnvironment(fn, settings);
  for (const table of Object.keys(fn.tables) as WorkflowTable[]) {
    environment[WORKFLOW_TABLES[table].envVar] = tableNames[table];
  }
  return environment;
}

/** The names of the environment variables a row binds (no values). */
export function boundVariableNames(fn: WorkflowFunction): string[] {
  return [
    ...fn.settings.map((s) => WORKFLOW_SETTINGS[s]),
    ...(Object.keys(fn.tables) as WorkflowTable[]).map((t) => WORKFLOW_TABLES[t].envVar),
  ].sort();
}
