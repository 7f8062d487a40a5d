/**
 * The one definition of the metadata tables' key schemas. The CDK construct (`MetadataTables`) and local mode
 * (`local/emulators.ts`) both build their tables from this object, so the stack and the laptop cannot drift apart.
 */

export type KeyType = 'S' | 'N';

export interface KeyAttribute {
  readonly name: string;
  readonly type: KeyType;
}

export interface IndexDefinition {
  readonly indexName: string;
  readonly partitionKey: KeyAttribute;
  readonly sortKey?: KeyAttribute;
}

export interface TableDefinition {
  /** Logical id of the table inside the `MetadataTables` construct; stable (renaming replaces the table). */
  readonly id: string;
  /** Name of the environment variable through which handlers learn the table's physical name. */
  readonly envVar: string;
  readonly partitionKey: KeyAttribute;
  readonly sortKey?: KeyAttribute;
  readonly globalSecondaryIndexes: readonly IndexDefinition[];
  /**
   * Attribute holding an epoch-seconds expiry, when items expire (DynamoDB TTL). The local emulator has no TTL:
   * readers must treat an item past its expiry as absent.
   */
  readonly timeToLiveAttribute?: string;
}

export const MODEL_VERSIONS_TABLE = {
  id: 'ModelVersions',
  envVar: 'MODEL_VERSIONS_TABLE',
  partitionKey: { name: 'model', type: 'S' },
  sortKey: { name: 'version', type: 'S' },
  globalSecondaryIndexes: [
    {
      indexName: 'ByStatus',
      partitionKey: { name: 'status', type: 'S' },
      sortKey: { name: 'updatedAt', type: 'S' },
    },
  ],
} as const satisfies TableDefinition;

/** One routing record per model: `{stable, candidate, weight, mode, revision}` (DESIGN.md decision 1). */
export const DEPLOYMENTS_TABLE = {
  id: 'Deployments',
  envVar: 'DEPLOYMENTS_TABLE',
  partitionKey: { name: 'model', type: 'S' },
  globalSecondaryIndexes: [],
} as const satisfies TableDefinition;

/** Append-only ledger; `eventId` sorts by time (`<ISO timestamp>#<random suffix>`). */
export const AUDIT_LOG_TABLE = {
  id: 'AuditLog',
  envVar: 'AUDIT_LOG_TABLE',
  partitionKey: { name: 'model', type: 'S' },
  sortKey: { name: 'eventId', type: 'S' },
  globalSecondaryIndexes: [],
} as const satisfies TableDefinition;

/**
 * Live drift counters (DESIGN.md decision 5): one item per (model, version, time bucket), every counter a number
 * attribute incremented with atomic `ADD`. `series` = `<model>#<version>`, `bucket` = the bucket's start (epoch ms).
 */
export const DRIFT_COUNTERS_TABLE = {
  id: 'DriftCounters',
  envVar: 'DRIFT_COUNTERS_TABLE',
  partitionKey: { name: 'series', type: 'S' },
  sortKey: { name: 'bucket', type: 'N' },
  globalSecondaryIndexes: [],
  timeToLiveAttribute: 'expiresAt',
} as const satisfies TableDefinition;

/**
 * Monitoring state per model and kind (`drift`, later `retrain`): one item changed only by conditional writes on
 * `revision`, like the routing record.
 */
export const MONITOR_STATE_TABLE = {
  id: 'MonitorState',
  envVar: 'MONITOR_STATE_TABLE',
  partitionKey: { name: 'model', type: 'S' },
  sortKey: { name: 'kind', type: 'S' },
  globalSecondaryIndexes: [],
} as const satisfies TableDefinition;

/** Sampled predictions by request id, joined with labels posted later (feedback); items expire. */
export const PREDICTION_LOG_TABLE = {
  id: 'PredictionLog',
  envVar: 'PREDICTION_LOG_TABLE',
  partitionKey: { name: 'model', type: 'S' },
  sortKey: { name: 'requestId', type: 'S' },
  globalSecondaryIndexes: [],
  timeToLiveAttribute: 'expiresAt',
} as const satisfies TableDefinition;

export const TABLE_DEFINITIONS: readonly TableDefinition[] = [
  MODEL_VERSIONS_TABLE,
  DEPLOYMENTS_TABLE,
  AUDIT_LOG_TABLE,
  DRIFT_COUNTERS_TABLE,
  MONITOR_STATE_TABLE,
  PREDICTION_LOG_TABLE,
];

/** Environment variable holding the artifact registry bucket's name. */
export const REGISTRY_BUCKET_ENV = 'REGISTRY_BUCKET';
/** JSON object: model name → canary policy (lambdas/core/rollout-events.ts), for the models with `canary.enabled`. */
export const ROLLOUT_POLICIES_ENV = 'ROLLOUT_POLICIES';
/** JSON object: model name → approval policy (lambdas/core/approval-events.ts), for every configured model. */
export const APPROVAL_POLICIES_ENV = 'APPROVAL_POLICIES';
/** The EventBridge bus approval requests are published on; empty locally, where the log shows them instead. */
export const EVENT_BUS_NAME_ENV = 'EVENT_BUS_NAME';
/** Set by local mode only: the local inference server whose metric store StartRollout and AnalyzeCanary read (else CloudWatch). */
export const METRICS_READ_URL_ENV = 'METRICS_READ_URL';
/** JSON object: model name → its deploy target (lambdas/core/candidate-deploy.ts), for the models with a canary. */
export const ROLLOUT_TARGETS_ENV = 'ROLLOUT_TARGETS';
/**
 * Set by local mode only: the local inference server whose app DeployCandidate warms Lambda-served candidates in
 * (`POST /candidates/warm`); empty in AWS, where it invokes the inference function's alias `live`.
 */
export const CANDIDATE_WARM_URL_ENV = 'CANDIDATE_WARM_URL';
/** Environment variable holding the largest artifact, in bytes, that validation accepts. */
export const MAX_ARTIFACT_BYTES_ENV = 'MAX_ARTIFACT_BYTES';

/** Key prefixes of the artifact registry bucket. */
export const PREFIX = {
  incoming: 'incoming/',
  models: 'models/',
  capture: 'capture/',
} as const;
