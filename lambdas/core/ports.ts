/**
 * Ports: the only ways core logic and handlers reach storage. `lambdas/adapters/` implements them with the AWS SDK;
 * local mode uses the same adapters pointed at the emulators (DESIGN.md decision 4).
 */
import type { Readable } from 'node:stream';
import type { WindowCounts as DriftWindowCounts } from './drift';
import type { LoggedPrediction, RecordLabelResult } from './feedback';
import type { Instance } from './features';
import type { Manifest } from './manifest';
import type { OutputValue } from './model-runtime';
import type { RuntimeManifest } from './runtime-manifest';

export interface ObjectHead {
  readonly key: string;
  readonly sizeBytes: number;
  /** Quoted or unquoted ETag as the store reports it; used to pin the exact object validated. */
  readonly etag: string;
}

/** The S3 artifact registry bucket. Keys are full keys (`incoming/…`, `models/…`). */
export interface RegistryStore {
  head(key: string): Promise<ObjectHead | undefined>;
  /** The object's text, or undefined when absent. Refuses (throws) objects larger than `maxBytes`. */
  readText(key: string, maxBytes: number): Promise<string | undefined>;
  readStream(key: string): Promise<Readable>;
  readBytes(key: string): Promise<Uint8Array>;
  /**
   * Copies `fromKey` to `toKey` unless `toKey` already exists; never overwrites. `expectedEtag` pins the source
   * to the object that was validated, so a re-upload between validation and copy cannot slip through.
   */
  /** `lock`: S3 Object Lock retention put on the new object (ignored by s3rver in local mode). */
  copyIfAbsent(
    fromKey: string,
    toKey: string,
    expectedEtag: string,
    options?: { readonly lock?: ObjectLockRetention },
  ): Promise<'copied' | 'exists'>;
  putText(key: string, body: string, contentType: string): Promise<void>;
  list(prefix: string): Promise<readonly string[]>;
}

export const VERSION_STATUSES = ['REGISTERED', 'REJECTED'] as const;
export type VersionStatus = (typeof VERSION_STATUSES)[number];

/** Object Lock retention of one object: the mode and the date until which it cannot be deleted or overwritten. */
export interface ObjectLockRetention {
  readonly mode: 'GOVERNANCE' | 'COMPLIANCE';
  readonly retainUntil: Date;
}

export interface VersionRecord {
  readonly model: string;
  readonly version: string;
  readonly status: VersionStatus;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Set once registered: the content-addressed `models/<name>/<version>/<sha256>.onnx`. */
  readonly artifactKey?: string;
  /**
   * Set once registered: immutable copy of the manifest next to the artifact, content-addressed
   * (`models/<name>/<version>/manifest-<sha256>.json`); records written before that name `manifest.json`.
   */
  readonly manifestKey?: string;
  /** Set once registered (records written since manifests are content-addressed): sha256 of the manifest bytes. */
  readonly manifestSha256?: string;
  readonly sha256?: string;
  readonly sizeBytes?: number;
  readonly framework?: Manifest['framework'];
  readonly owner?: string;
  readonly metrics?: Readonly<Record<string, number>>;
  readonly lineage?: Manifest['lineage'];
  readonly approval?: Manifest['approval'];
  /** A release's approval request for this version; written only through `ApprovalStore` (in place, conditionally). */
  readonly approvalRequest?: ApprovalRequest;
  /** The version's stage (LIVE, STANDBY, ROLLED_BACK); written only through `VersionStageStore`. */
  readonly stage?: VersionStage;
  /** Every reason a REJECTED version was refused. */
  readonly reasons?: readonly string[];
  /** The execution or actor that wrote this record. */
  readonly source?: string;
  /** The uploaded manifest key the record was registered from (`incoming/…/manifest.json`). */
  readonly sourceKey?: string;
  /** The upload id of the push the record was registered from, when it used the upload-id layout. */
  readonly uploadId?: string;
  /**
   * Base64 DER ECDSA signature over the 32 bytes of `sha256`, made by RegisterVersion's ModelSigner before the record
   * was written; serving verifies it before the first load. Absent on records registered without a signer.
   */
  readonly signature?: string;
  /** The `ModelSigner.keyId` that made `signature`. */
  readonly signingKeyId?: string;
}

export type DeploymentMode = 'canary' | 'shadow';

/** One routing record per model (DESIGN.md decision 1). Written by later issues; read here for the champion. */
export interface DeploymentRecord {
  readonly model: string;
  readonly stable?: string;
  readonly candidate?: string;
  /** Share of traffic (0–1) for the candidate. */
  readonly weight: number;
  readonly mode: DeploymentMode;
  readonly revision: number;
  readonly updatedAt: string;
  /**
   * The rollout lock (lambdas/core/rollout.ts): the release execution that owns the model's canary. In the routing
   * record itself, so taking the lock, every weight change and the final promote or rollback (which clears it) are
   * each one conditional write of one item.
   */
  readonly rollout?: RolloutLock;
  /**
   * Set when a rollout was ended by someone other than its execution (a candidate alarm, `modelops rollback`,
   * `modelops unlock`), in the same write that released the lock: the execution reads it to record why it stopped.
   */
  readonly endedRollout?: RolloutEnding;
  /**
   * The release step that wrote this record (lambdas/core/rollout.ts advanceRollout): a retried Task recognises its
   * own landed write by it and re-appends the audit event under the same id, so a crash between the routing write
   * and the audit append loses no event and a retry appends none twice.
   */
  readonly lastChange?: RolloutChange;
  /**
   * The audit event of the CLI command (`modelops promote`, `route`, `rollback`, `unlock`) that wrote this revision,
   * kept in that same write: a crash between the routing write and the audit append would otherwise lose the event
   * for good (the command's inputs cannot rebuild it), so the command's next run appends it under its own id.
   */
  readonly manualEvent?: AuditEvent;
}

export interface RolloutChange {
  readonly executionId: string;
  /** The step: `step-<n>`, `promote`, `rollback`, `abort`, `finish-dry-run`. */
  readonly action: string;
  /** The write's time; the audit event of the step carries the same. */
  readonly at: string;
}

export interface RolloutEnding {
  /** The release execution whose rollout was ended. */
  readonly executionId: string;
  readonly candidate: string;
  /** ROLLED_BACK: the candidate was cleared and stable serves 100 %. UNLOCKED: the lock was released by hand. */
  readonly outcome: 'ROLLED_BACK' | 'UNLOCKED';
  /** A reason code: ALARM, MANUAL_ROLLBACK, MANUAL_UNLOCK. */
  readonly reason: string;
  /** Who ended it: `alarm:<alarm name>` or the CLI actor. */
  readonly actor: string;
  readonly at: string;
  /** Free text: the alarm's state reason, the operator's --reason. */
  readonly detail?: string;
}

export interface RolloutLock {
  /** The release execution that holds the lock; only it may change the weight or finish the rollout. */
  readonly executionId: string;
  readonly candidate: string;
  readonly startedAt: string;
  /** After this instant another release may take the lock over (a dead execution cannot hold a model forever). */
  readonly expiresAt: string;
  /**
   * The first canary weight (possibly capped by the error budget) that BeginCanary routes once the candidate is
   * deployed; until then the candidate is named at weight 0. Kept here so a retried StartRollout resumes with it.
   */
  readonly plannedWeight?: number;
}

export const AUDIT_EVENT_TYPES = [
  'VALIDATION_PASSED',
  'VALIDATION_FAILED',
  'REGISTERED',
  'REGISTER_IDEMPOTENT',
  'VERSION_CONFLICT',
  'RELEASE_FAILED',
  /** A version became the stable one (`modelops promote`, later the rollout). Details: previous and new stable. */
  'PROMOTED',
  /** The candidate, weight or mode of a model's routing changed (`modelops route`). Details: before and after. */
  'ROUTING_CHANGED',
  /** A local-mode execution a crash interrupted was ended, not resumed. Details: execution, input, reason. */
  'RELEASE_INTERRUPTED',
  /** The drift monitor raised a model's drift alarm. Details: features with scores, window, persistence. */
  'DRIFT_DETECTED',
  /** The drift monitor cleared a model's drift alarm (n calm windows in a row). Details: window. */
  'DRIFT_CLEARED',
  /** A release took the model's rollout lock and routed the first canary step. Details: stable, weight, steps. */
  'ROLLOUT_STARTED',
  /** One canary analysis: the judge's decision with every check's numbers. */
  'CANARY_VERDICT',
  /** The rollout moved the candidate to its next weight. */
  'TRAFFIC_SHIFTED',
  /**
   * DeployCandidate made the candidate servable before any traffic reached it (Lambda: loaded and smoke-tested in
   * the serving function; SageMaker: its variant InService next to stable). Details: target, what was checked.
   */
  'CANDIDATE_DEPLOYED',
  /** The candidate could not be deployed; the rollout is rolled back (DEPLOY_FAILED). Details: reason code, detail. */
  'CANDIDATE_DEPLOY_FAILED',
  /** After promote or rollback, the losing version's capacity was removed (SageMaker). Details: kept version. */
  'CANDIDATE_RETIRED',
  /** Removing the losing version's capacity failed or timed out; the decision stands. Details: reason, detail. */
  'CANDIDATE_RETIRE_FAILED',
  /** The rollout cleared the candidate (stable serves 100 %). Details: reason code, verdict. */
  'ROLLED_BACK',
  /** A rollout step failed; the candidate was cleared and the lock released. Details: the error. */
  'ROLLOUT_ABORTED',
  /** Someone released a model's rollout lock by hand (`modelops unlock`); the candidate was cleared. Details: why. */
  'ROLLOUT_UNLOCKED',
  /**
   * No canary started: the model's error budget is exhausted (or too small for the smallest first step); nothing
   * else was written. Details: reason code, message naming the objective and how to force, the budget.
   */
  'ROLLOUT_REFUSED',
  /** A version listed in `canary.budget.force` was rolled out past the budget gate. Details: reason, the budget. */
  'ROLLOUT_FORCED',
  /** A release waits for a person's approval before any traffic reaches the version. Details: why, expiry. */
  'APPROVAL_REQUESTED',
  /** `modelops approve`: the release goes on. Details: who (the actor) and why. */
  'APPROVAL_GRANTED',
  /**
   * `modelops prune --rejected`: a REJECTED version record is being deleted (appended before the delete, so no delete
   * goes unaudited). Details: the record's updatedAt, createdAt and reasons, the --older-than filter.
   */
  'VERSION_PRUNED',
  /** A VERSION_PRUNED delete found the record changed (re-pushed) and deleted nothing. Details: what stood instead. */
  'VERSION_PRUNE_CANCELLED',
  /** `modelops reject`: the release ends without traffic. Details: who and why. */
  'APPROVAL_REJECTED',
  /** Nobody decided within the configured timeout: the release ended as rejected. */
  'APPROVAL_TIMED_OUT',
  /**
   * `modelops approve|reject` found the release that asked for approval already ended (stopped, timed out): the request
   * was closed instead of decided, since no one waits for it. Details: the execution's status.
   */
  'APPROVAL_ABANDONED',
  /** The retrain guard let a retrain start (lambdas/core/retrain-guard.ts). Details: runId, trigger, data window. */
  'RETRAIN_STARTED',
  /** The retrain guard refused a trigger (cooldown, cap, backoff, running, no persistence). Details: code, reason. */
  'RETRAIN_SKIPPED',
  /** The retrained version did not beat LIVE (lambdas/core/champion-gate.ts); nothing was released. Details: numbers. */
  'RETRAIN_REJECTED',
  /** A retrain released its version; details say whether the canary promoted it. */
  'RETRAIN_SUCCEEDED',
  /** A retrain step failed (training, packaging, release); backoff starts. Details: step, error, cause tail. */
  'RETRAIN_FAILED',
] as const;
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

export interface AuditEvent {
  readonly model: string;
  /** `<ISO timestamp>#<random suffix>`: sorts by time, unique. */
  readonly eventId: string;
  readonly at: string;
  readonly type: AuditEventType;
  readonly version?: string;
  /** Who or what decided: an execution id, a CLI user, a function name. */
  readonly actor: string;
  readonly details: Readonly<Record<string, unknown>>;
}

/*
 * Stores: one port per table, one adapter per table (lambdas/adapters/dynamo-*.ts). A function is bound only to its
 * own tables (least privilege), so it builds only those tables' adapters, and deps name each store by its table.
 * Each new table (drift counters, the rollout lock) gets its own port here, never a method on another table's port.
 */

/** The ModelVersions table: one record per (model, version). */
export interface VersionStore {
  getVersion(model: string, version: string): Promise<VersionRecord | undefined>;
  listVersions(model?: string): Promise<readonly VersionRecord[]>;
  /**
   * One conditional write: creates the record, or replaces a REJECTED one (a fixed bundle may be pushed again under
   * the same version). Returns the record that stands afterwards and whether this call wrote it.
   */
  putVersionUnlessRegistered(
    record: VersionRecord,
  ): Promise<{ readonly written: boolean; readonly current: VersionRecord }>;
}

/**
 * The only delete on the ModelVersions table (`modelops prune --rejected`), implemented by the VersionStore adapter.
 * A port of its own so that no handler's deps (and no fake of VersionStore) carry a delete they never use.
 */
export interface RejectedVersionPruner {
  /**
   * One conditional delete: removes the record only while it is still REJECTED and still the one read (`updatedAt`
   * unchanged), so a concurrent re-push that registered (or re-rejected) the version is never deleted. Returns
   * whether it deleted.
   */
  deleteRejectedVersion(model: string, version: string, expectedUpdatedAt: string): Promise<boolean>;
}

export const APPROVAL_STATES = ['PENDING', 'APPROVED', 'REJECTED', 'TIMED_OUT', 'ABANDONED'] as const;
export type ApprovalState = (typeof APPROVAL_STATES)[number];

/**
 * A release's request for approval (lambdas/core/approval.ts), kept on the version's ModelVersions item: the
 * state machine's task token waits here until `modelops approve|reject` decides it or the timeout passes.
 */
export interface ApprovalRequest {
  readonly state: ApprovalState;
  /** The release execution waiting; only its request can be decided. */
  readonly executionId: string;
  /** Step Functions' task token of the waiting state (`$$.Task.Token`); resumes it with SendTaskSuccess/Failure. */
  readonly taskToken: string;
  /** Why approval is required (config, manifest, risk tier). */
  readonly why: string;
  readonly requestedAt: string;
  /** After this instant the request cannot be decided: the release has timed out. */
  readonly expiresAt: string;
  readonly decidedBy?: string;
  readonly decidedAt?: string;
  readonly decisionReason?: string;
  /** Incremented on every write; each write is conditional on the one before. */
  readonly revision: number;
}

/** Thrown by `putApproval` when the stored request is not at `expectedRevision`: someone decided it in between. */
export class ApprovalConflictError extends Error {
  override name = 'ApprovalConflictError';
  constructor(model: string, version: string) {
    super(
      `the approval request of ${model} ${version} changed while this write was in flight; read it again`,
    );
  }
}

/** The approval requests on the ModelVersions table: one per version, changed only by conditional writes. */
export interface ApprovalStore {
  getApproval(model: string, version: string): Promise<ApprovalRequest | undefined>;
  /**
   * One conditional write of the version's request: succeeds only if the version exists and the stored request's
   * revision is `expectedRevision` (`undefined`: no request yet); otherwise `ApprovalConflictError`.
   */
  putApproval(
    model: string,
    version: string,
    request: ApprovalRequest,
    options: { readonly expectedRevision: number | undefined },
  ): Promise<void>;
}

export const VERSION_STAGES = ['LIVE', 'STANDBY', 'ROLLED_BACK'] as const;
export type VersionStageValue = (typeof VERSION_STAGES)[number];

/**
 * A version's stage: a label on its ModelVersions item that follows the routing record, which stays the source of
 * truth (lambdas/core/version-stages.ts). LIVE: the stable version. STANDBY: a stable version a promotion replaced.
 * ROLLED_BACK: a candidate (or stable version) taken out of service by the judge, an alarm or an operator, with why.
 */
export interface VersionStage {
  readonly value: VersionStageValue;
  /** The reason code of a ROLLED_BACK (the verdict's, ALARM, MANUAL_ROLLBACK). */
  readonly reason?: string;
  /** When the routing write that made this stage true happened (the record's `updatedAt`). */
  readonly at: string;
  /** The revision of the routing write that made this stage true; a label only replaces an older one. */
  readonly routingRevision: number;
}

/** The version stages on the ModelVersions table: one attribute per version, changed only by conditional writes. */
export interface VersionStageStore {
  /**
   * One conditional write of the version's stage: applies only if the version exists and its stored stage, if any,
   * has an older `routingRevision`, so a stale or repeated write never replaces a newer label. Returns whether it
   * wrote.
   */
  putStage(model: string, version: string, stage: VersionStage): Promise<boolean>;
}

/** Resumes a waiting state machine task: SendTaskSuccess / SendTaskFailure in AWS. */
/**
 * Whether a release execution still runs (DescribeExecution in AWS): `RUNNING`, another Step Functions status once it
 * ended, or undefined when it cannot be told (unknown execution, no permission).
 */
export interface ExecutionStatusReader {
  statusOf(executionId: string): Promise<string | undefined>;
}

export interface TaskCallback {
  succeed(taskToken: string, output: object): Promise<void>;
  fail(taskToken: string, error: string, cause: string): Promise<void>;
}

/** What the serving path needs of the ModelVersions table: one point read per version (the ledger it checks). */
export type VersionReader = Pick<VersionStore, 'getVersion'>;

/** Where routing records come from: what the inference path needs of the Deployments table. */
export interface RoutingSource {
  getDeployment(model: string): Promise<DeploymentRecord | undefined>;
}

/** The Deployments table: one routing record per model, changed only by conditional writes on `revision`. */
export interface DeploymentStore extends RoutingSource {
  /**
   * One conditional write of a model's routing record: it succeeds only if the stored record's revision is still
   * `expectedRevision` (`undefined`: no record may exist yet). Otherwise someone else changed routing in between
   * and it throws `RoutingConflictError` (lambdas/core/promotion.ts); read again and retry.
   */
  putDeployment(
    record: DeploymentRecord,
    options: { readonly expectedRevision: number | undefined },
  ): Promise<void>;
}

/** The AuditLog table: append-only. */
export interface AuditLogStore {
  /** Append-only: a conditional put that never overwrites an existing event. */
  appendAudit(event: AuditEvent): Promise<void>;
  listAudit(
    model: string,
    options?: { readonly limit?: number; readonly since?: string },
  ): Promise<readonly AuditEvent[]>;
}

/**
 * Metric names the inference path emits; the handler that emits them and the constructs, dashboards, alarms and canary
 * analysis that read them all use these constants.
 */
export const INFERENCE_METRICS = {
  /** 1 per request that reached a served model (0/1 style: sum = count). */
  requests: 'Requests',
  /**
   * 0 or 1 per request: 1 when the service failed it (5xx). Under {Model, Version} also 1 when that version was
   * chosen but could not serve and another version answered (see `fallbacks`); {Model} counts what the client saw.
   */
  errors: 'Errors',
  /** 0 or 1 per request: 1 when the caller's input was refused (400 or 413). */
  invalidInput: 'InvalidInput',
  /** Milliseconds from the request's arrival to its response being ready (high resolution). */
  latency: 'Latency',
  /** Shadow mode: 0 or 1 per request, under the candidate's version: whether it disagreed with stable. */
  shadowDisagreement: 'ShadowDisagreement',
  /** Shadow mode: the candidate failed to answer a request (the caller still got stable's answer). */
  shadowErrors: 'ShadowErrors',
  /** 1 on the first request of a process. */
  coldStart: 'ColdStart',
  /** A version's artifact hash did not match the registry; the version was refused. */
  integrityFailures: 'IntegrityFailures',
  /** A capture batch could not be written (the request was served anyway). */
  captureErrors: 'CaptureErrors',
  /**
   * 1 per request, under the CHOSEN version's {Model, Version} only, when that version could not serve (integrity
   * refusal, unreadable manifest, load failure) and the other arm answered. The chosen version also counts
   * `Requests` = `Errors` = 1 there, so a broken candidate shows a 100 % error rate to the canary judge while its
   * clients get answers.
   */
  fallbacks: 'Fallbacks',
  /**
   * 0 or 1 per answered request: 1 when it took longer than the model's latency SLO threshold. The latency SLI is
   * 1 − SlowRequests/Requests (lambdas/core/slo.ts).
   */
  slowRequests: 'SlowRequests',
} as const;
export type InferenceMetricName = (typeof INFERENCE_METRICS)[keyof typeof INFERENCE_METRICS];

/** Metric names of the drift monitor, per {Model, Feature} (features) and per {Model} (dataset, predictions). */
/** What RecordRetrainOutcome emits per model (dimension `model`); the retrain-failed alarm rule reads the first. */
export const RETRAIN_METRICS = {
  /** 1 per retrain run that ended failed (training, packaging, gate or release step). */
  failed: 'RetrainsFailed',
  /** 1 per retrain run that ended any other way (promoted, released, rejected by the champion gate). */
  ended: 'RetrainsEnded',
} as const;

export const DRIFT_METRICS = {
  /** Jensen–Shannon distance (base 2) of a feature's window against the baseline. */
  featureJsDistance: 'FeatureDriftJsDistance',
  featurePsi: 'FeatureDriftPsi',
  /** Share of evaluated features that drifted in the window. */
  datasetDrift: 'DatasetDriftShare',
  /** JS distance of the prediction bins against the prediction baseline. */
  predictionDrift: 'PredictionDriftJsDistance',
  /** Live instances in the window the monitor judged. */
  windowCount: 'DriftWindowCount',
  /** 1 when the window had too few instances to judge (never reported as zero drift). */
  insufficientData: 'DriftInsufficientData',
  /** 1 while the model's drift state is ALARM, else 0. */
  driftAlarm: 'DriftAlarm',
  /** Per {Model} on every run: 1 when the model's run failed (logged with its error), 0 otherwise. */
  monitorErrors: 'DriftMonitorErrors',
} as const;

/** Metric names of label feedback, per {Model, Version} and {Model}. */
export const FEEDBACK_METRICS = {
  /** 0 or 1 per labelled classification prediction: whether it was right (Average = accuracy). */
  correct: 'PredictionCorrect',
  /** Absolute error per labelled regression prediction (Average = MAE). */
  absoluteError: 'PredictionAbsoluteError',
  /** Seconds from the prediction to its label. */
  labelLag: 'LabelLagSeconds',
  labels: 'LabelsReceived',
} as const;

/** Extra dimension names: `Feature` for per-feature drift metrics. */
export const FEATURE_DIMENSION = 'Feature';
/** `Output` (a manifest output name) for per-output prediction drift metrics (`PredictionDriftJsDistance`). */
export const OUTPUT_DIMENSION = 'Output';

/**
 * `{Model, Arm}` with Arm = `candidate` | `stable`: emitted by the inference path only while a canary is routing
 * traffic (the record has a candidate and is not in shadow mode), so alarms on a static `{Model, Arm=candidate}`
 * series follow whichever version is the candidate (docs/alarms.md, Candidate rules).
 */
export const ARM_DIMENSION = 'Arm';
export type ArmValue = 'candidate' | 'stable';

/** Dimension names: every metric is emitted per {Model, Version} and per {Model}. */
export const METRIC_DIMENSIONS = { model: 'Model', version: 'Version' } as const;

/** `None`: a dimensionless score (drift distances, shares, 0/1 states). */
export type MetricUnitName = 'Count' | 'Milliseconds' | 'None';

export interface MetricDatum {
  readonly name: string;
  readonly unit: MetricUnitName;
  readonly value: number;
  /** 1-second storage resolution (CloudWatch high-resolution metric). */
  readonly highResolution?: boolean;
}

export type MetricDimensions = Readonly<Record<string, string>>;

/**
 * Where the inference path emits its metrics: Powertools Metrics (EMF) in Lambda
 * (lambdas/adapters/powertools-metrics-sink.ts), an in-memory store in local mode and tests.
 */
export interface MetricsSink {
  /**
   * Records a group of metrics, each under every dimension set (one EMF blob in Lambda). Must not throw: metrics
   * never fail a request.
   */
  emit(dimensionSets: readonly MetricDimensions[], data: readonly MetricDatum[]): void;
  /** Publishes what `emit` buffered; the app calls it at the end of every request. */
  flush(): void;
}

/** Structured logging; Powertools Logger fits. Attributes never carry feature values. */
export interface StructuredLogger {
  debug(message: string, attributes: Record<string, unknown>): void;
  info(message: string, attributes: Record<string, unknown>): void;
  warn(message: string, attributes: Record<string, unknown>): void;
  error(message: string, attributes: Record<string, unknown>): void;
}

/** A version ready to answer. */
export interface BackendModel {
  /**
   * Predicts instances the app validated against this version's manifest (undeclared keys already refused; the
   * ONNX backend relies on that); returns the raw outputs by output name, each with a leading batch dimension.
   * May throw `FeatureEncodingError` (the app answers 400) or `BackendError` (502).
   */
  predict(instances: readonly Instance[]): Promise<Readonly<Record<string, OutputValue>>>;
}

/**
 * What computes predictions for the inference app. Two implementations share everything else (validation, routing,
 * metrics, capture):
 * - in-process ONNX Runtime (lambdas/adapters/onnx-backend.ts): the app fetches the artifact, verifies its sha256 and
 *   hands the bytes to `load`;
 * - a remote SageMaker endpoint (lambdas/adapters/sagemaker-backend.ts): the endpoint holds the model, `load` gets
 *   no bytes and only binds the version to its production variant.
 */
export interface InferenceBackend {
  /**
   * `in-process`: `load` needs the version's verified artifact bytes. `remote`: it does not; and outputs that do
   * not fit the manifest are the remote's fault (502), not a bug of this function (500).
   */
  readonly kind: 'in-process' | 'remote';
  /** Prepares one version. Called once per version (concurrent requests share the call); failures are retried. */
  load(version: string, manifest: RuntimeManifest, bytes?: Uint8Array): Promise<BackendModel>;
  /**
   * Optional: loads what every version will need (ONNX Runtime itself), ahead of the first `load`, so that a
   * warm-up can do it while the first artifact is still downloading. Must not reject.
   */
  prepare?(): Promise<void>;
}

// --- ModelSigner -------------------------------------------------------------------------------------------------

/**
 * Environment variable holding the signing key a function uses (`ModelSigningKey.keyArn` in AWS). Set by CDK on
 * RegisterVersion (sign) and on every serving function (verify).
 */
export const MODEL_SIGNING_KEY_ENV = 'MODEL_SIGNING_KEY_ID';

/** Length of the digests a signer accepts: SHA-256. */
export const MODEL_DIGEST_BYTES = 32;

/**
 * Signs and verifies the SHA-256 digest of a registered artifact (the same digest that names it,
 * `models/<name>/<version>/<sha256>.onnx`). RegisterVersion signs at registration and records the signature with the
 * version; serving verifies before it loads a model. ECDSA P-256. A signature is only meaningful to the signer that
 * made it (the KMS key in AWS, the local key pair in local mode), identified by `keyId`.
 */
export interface ModelSigner {
  /** Identifies the key (a KMS key ARN, or `local:<fingerprint>`); record it beside each signature. */
  readonly keyId: string;
  /** DER-encoded ECDSA signature over `digest` (32 bytes; anything else is refused with a RangeError). */
  sign(digest: Uint8Array): Promise<Uint8Array>;
  /** True only when `signature` was made by this key over exactly `digest`; false for any mismatch. */
  verify(digest: Uint8Array, signature: Uint8Array): Promise<boolean>;
}

// --- Drift counters (DriftCounters table) ------------------------------------------------------------------------

/** Bins per feature (and per prediction output), missing bin excluded: how to read counters back into arrays. */
export interface DriftLayout {
  readonly features: Readonly<Record<string, number>>;
  readonly predictions?: Readonly<Record<string, number>>;
}

/**
 * Live drift counts per (model, version, time bucket) (DESIGN.md decision 5). The inference path adds; the drift
 * monitor reads windows. Counts use drift.ts's `WindowCounts` shape.
 */
export interface DriftCounterStore {
  /** Adds `counts` to the item of one bucket with one atomic ADD (creating it when absent). */
  addCounts(model: string, version: string, bucketStartMs: number, counts: DriftWindowCounts): Promise<void>;
  /**
   * The sum of the buckets of one version whose start is in [fromMs, toMs), read back in `layout`; `counts` is
   * undefined when no bucket exists. `itemsRead` counts items (the monitor's cost does not grow with traffic).
   */
  readWindow(
    model: string,
    version: string,
    fromMs: number,
    toMs: number,
    layout: DriftLayout,
  ): Promise<{ readonly counts: DriftWindowCounts | undefined; readonly itemsRead: number }>;
}

// --- MetricsReader ------------------------------------------------------------------------------------------------

/** CloudWatch statistics the readers support. */
export type MetricStat = 'Sum' | 'SampleCount' | 'Average' | 'Minimum' | 'Maximum' | `p${number}`;

export interface MetricQuery {
  /** CloudWatch query id rules: starts with a lower-case letter, then letters, digits, `_`. */
  readonly id: string;
  readonly metricName: string;
  readonly dimensions: MetricDimensions;
  readonly stat: MetricStat;
}

export interface MetricReadRequest {
  readonly queries: readonly MetricQuery[];
  /** Inclusive; aligned down to the period by the reader. */
  readonly startMs: number;
  /** Exclusive. */
  readonly endMs: number;
  readonly periodSeconds: number;
}

export interface MetricReadSeries {
  readonly id: string;
  /** Start of every period in [start, end), ascending, whether or not it has data. */
  readonly timestamps: readonly number[];
  /** One per timestamp; `null` where the period has no data (missing is never reported as zero). */
  readonly values: readonly (number | null)[];
}

/**
 * Reads metric time series back (DESIGN.md decision 4): `GetMetricData` in AWS, the local metric store in local mode.
 * Used by the local alarm evaluator, `modelops status` and the canary judge.
 */
export interface MetricsReader {
  read(request: MetricReadRequest): Promise<readonly MetricReadSeries[]>;
}

// --- Prediction log (PredictionLog table) ------------------------------------------------------------------------

/**
 * Sampled predictions by (model, requestId), joined with labels posted later (lambdas/core/feedback.ts). Items
 * carry `expiresAt` (DynamoDB TTL); readers judge expiry themselves (`isExpired`), the emulator never deletes.
 */
export interface PredictionLogStore {
  /** Writes one logged prediction (a request id is logged once; a retried request overwrites the same item). */
  putPrediction(item: LoggedPrediction): Promise<void>;
  getPrediction(model: string, requestId: string): Promise<LoggedPrediction | undefined>;
  /**
   * One conditional write: stores `labels` only if the item exists and has none yet. A lost write reads the standing
   * labels back: the same labels → `duplicate` (idempotent), different ones → `conflict`. Of two concurrent
   * different labels exactly one is `recorded`.
   */
  recordLabel(
    item: LoggedPrediction,
    labels: readonly (string | number)[],
    labelledAt: string,
  ): Promise<RecordLabelResult>;
}

// --- Drift monitor state (MonitorState table, kind `drift`) and events ---------------------------------------------

/** One persisted monitor state of a model: `state` is the drift state of `version` (the stable it was judged for). */
export interface MonitorStateRecord<S = unknown> {
  readonly model: string;
  readonly kind: string;
  readonly version: string;
  readonly state: S;
  readonly revision: number;
  readonly updatedAt: string;
  /**
   * Events and audit entries decided by the write that stored this state and not yet delivered (transactional
   * outbox): written with the state in one conditional put, delivered after it, then cleared. A run that crashes in
   * between leaves them here and the next run delivers them; absent when nothing is pending.
   */
  readonly outbox?: MonitorOutbox;
}

/** What a monitor state change must still tell the world: bus events first, then the audit entries. */
export interface MonitorOutbox {
  readonly events: readonly DomainEvent[];
  /** Complete entries (their `eventId` fixed when decided), so a redelivery appends the same ids, never new ones. */
  readonly audits: readonly AuditEvent[];
}

/** Thrown by `putState` when the stored revision is not `expectedRevision`: a twin run wrote first; read again. */
export class MonitorStateConflictError extends Error {
  override name = 'MonitorStateConflictError';
  constructor(
    readonly model: string,
    readonly kind: string,
    readonly expectedRevision: number | undefined,
  ) {
    super(
      `the ${kind} monitor state of ${model} changed while this run was writing it (expected ` +
        `${expectedRevision === undefined ? 'no record' : `revision ${expectedRevision}`}); another run wrote first, read it again`,
    );
  }
}

export interface MonitorStateStore {
  getState(model: string, kind: string): Promise<MonitorStateRecord | undefined>;
  /** One conditional write: succeeds only if the stored revision is `expectedRevision` (undefined: none may exist). */
  putState(
    record: MonitorStateRecord,
    options: { readonly expectedRevision: number | undefined },
  ): Promise<void>;
}

/** A domain event for the bus (EventBridge in AWS, an in-process bus locally). */
export interface DomainEvent {
  readonly source: string;
  readonly detailType: string;
  readonly detail: Readonly<Record<string, unknown>>;
}

export interface EventPublisher {
  publish(event: DomainEvent): Promise<void>;
}
