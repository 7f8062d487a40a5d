/**
 * Ports: the only ways core logic and handlers reach storage. `lambdas/adapters/` implements them with the AWS SDK;
 * local mode uses the same adapters pointed at the emulators (DESIGN.md decision 4).
 */
import type { Readable } from 'node:stream';
import type { Manifest } from './manifest';

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
  copyIfAbsent(fromKey: string, toKey: string, expectedEtag: string): Promise<'copied' | 'exists'>;
  putText(key: string, body: string, contentType: string): Promise<void>;
  list(prefix: string): Promise<readonly string[]>;
}

export const VERSION_STATUSES = ['REGISTERED', 'REJECTED'] as const;
export type VersionStatus = (typeof VERSION_STATUSES)[number];

export interface VersionRecord {
  readonly model: string;
  readonly version: string;
  readonly status: VersionStatus;
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Set once registered: the content-addressed `models/<name>/<version>/<sha256>.onnx`. */
  readonly artifactKey?: string;
  /** Set once registered: immutable copy of the manifest next to the artifact. */
  readonly manifestKey?: string;
  readonly sha256?: string;
  readonly sizeBytes?: number;
  readonly framework?: Manifest['framework'];
  readonly owner?: string;
  readonly metrics?: Readonly<Record<string, number>>;
  readonly lineage?: Manifest['lineage'];
  readonly approval?: Manifest['approval'];
  /** Every reason a REJECTED version was refused. */
  readonly reasons?: readonly string[];
  /** The execution or actor that wrote this record. */
  readonly source?: string;
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

export interface MetadataStore {
  getVersion(model: string, version: string): Promise<VersionRecord | undefined>;
  listVersions(model?: string): Promise<readonly VersionRecord[]>;
  /**
   * One conditional write: creates the record, or replaces a REJECTED one (a fixed bundle may be pushed again under
   * the same version). Returns the record that stands afterwards and whether this call wrote it.
   */
  putVersionUnlessRegistered(
    record: VersionRecord,
  ): Promise<{ readonly written: boolean; readonly current: VersionRecord }>;
  getDeployment(model: string): Promise<DeploymentRecord | undefined>;
  /**
   * One conditional write of a model's routing record: it succeeds only if the stored record's revision is still
   * `expectedRevision` (`undefined`: no record may exist yet). Otherwise someone else changed routing in between
   * and it throws `RoutingConflictError` (lambdas/core/promotion.ts); read again and retry.
   */
  putDeployment(
    record: DeploymentRecord,
    options: { readonly expectedRevision: number | undefined },
  ): Promise<void>;
  /** Append-only: a conditional put that never overwrites an existing event. */
  appendAudit(event: AuditEvent): Promise<void>;
  listAudit(
    model: string,
    options?: { readonly limit?: number; readonly since?: string },
  ): Promise<readonly AuditEvent[]>;
}
