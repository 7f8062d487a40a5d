/**
 * RegisterVersion: turns a validated bundle into an immutable, content-addressed version.
 *
 * Commit point: the one conditional write of the REGISTERED record (`putVersionUnlessRegistered`). Everything the
 * record names is written before it, and only ever copy-if-absent to keys whose content cannot differ: the artifact
 * to `<sha256>.onnx`, the manifest to `manifest-<sha256>.json`, and the same manifest bytes to the fixed
 * `manifest.json` that serving reads today. A crash before the record leaves only orphan objects, which a retry (or a
 * re-push of the same bundle) finds in place and reuses; a REGISTERED record therefore always has its objects.
 *
 * The fixed `manifest.json` cannot be content-addressed, so it is claimed: after the copy-if-absent it is read back,
 * and a push whose manifest is not the one stored there never writes the record (VersionConflictError naming both
 * manifest hashes). Serving and the record therefore always describe the same manifest.
 *
 * The REGISTERED audit event follows the record, with an event id derived from the record (its writer and time), so
 * any later run of the step that finds the record — the same execution's retry or another push of the same bundle —
 * appends it again idempotently: a crash between the two writes heals on the next attempt.
 */
import { appendAuditOnce, auditEvent, derivedEventId, sourceDetails } from './audit';
import { SourceChangedError, TransientStoreError, VersionConflictError } from './errors';
import { contentAddressedManifestKey, registeredArtifactKey, registeredManifestKey } from './keys';
import { MAX_MANIFEST_BYTES, parseManifestText } from './manifest';
import type {
  AuditEvent,
  AuditLogStore,
  ModelSigner,
  RegistryStore,
  VersionRecord,
  VersionStore,
} from './ports';
import type { ValidationPassed } from './release-events';
import { retainUntil, type ModelLockMode } from './object-lock';
import { sha256OfBytes } from './sha256';

export interface RegistrationDeps {
  readonly registry: RegistryStore;
  readonly versions: VersionStore;
  readonly audit: AuditLogStore;
  readonly now?: () => Date;
  /** Object Lock retention of each copy into models/ (`config.registry.objectLock`); unset: no lock is requested. */
  readonly lock?: { readonly mode: ModelLockMode; readonly days: number };
  /** Signs the artifact's sha256; the signature is stored on the record. Unset: records carry no signature. */
  readonly signer?: ModelSigner;
}

export interface RegistrationResult {
  readonly model: string;
  readonly version: string;
  readonly status: 'REGISTERED';
  readonly artifactKey: string;
  readonly manifestKey: string;
  readonly manifestSha256?: string;
  readonly idempotent: boolean;
}

/**
 * The REGISTERED audit event of a record, always the same for the same record: its id is the record's time plus a
 * hash of its writer, so appending it twice is a no-op (the ledger refuses the duplicate id).
 */
export function registeredAuditEvent(record: VersionRecord): AuditEvent {
  const writer = record.source ?? 'unknown';
  return {
    model: record.model,
    eventId: derivedEventId(record.createdAt, `${record.model}\n${record.version}\n${writer}\nREGISTERED`),
    at: record.createdAt,
    type: 'REGISTERED',
    version: record.version,
    actor: writer,
    details: {
      ...(record.sourceKey !== undefined ? sourceDetails(record.sourceKey) : {}),
      sha256: record.sha256 ?? null,
      sizeBytes: record.sizeBytes ?? null,
      artifactKey: record.artifactKey ?? null,
      manifestKey: record.manifestKey ?? null,
      manifestSha256: record.manifestSha256 ?? null,
      owner: record.owner ?? null,
      signature: record.signature ?? null,
      signingKeyId: record.signingKeyId ?? null,
    },
  };
}

/**
 * Registrations of one version in this process, one at a time through the object copies and the claim. Local mode
 * runs every execution in one process against s3rver, whose concurrent writes to one key can interleave (a torn
 * fixed manifest.json, an aborted read); in Lambda each invocation has its own process and this never waits. The
 * guarantees across processes come from the conditional writes, not from this.
 */
const claimsInProgress = new Map<string, Promise<unknown>>();

async function oneAtATime<T>(key: string, run: () => Promise<T>): Promise<T> {
  const previous = claimsInProgress.get(key) ?? Promise.resolve();
  const current = previous.then(run, run);
  const settled = current.catch(() => undefined);
  claimsInProgress.set(key, settled);
  try {
    return await current;
  } finally {
    if (claimsInProgress.get(key) === settled) claimsInProgress.delete(key);
  }
}

/** The record fields of a signature over the artifact's sha256 (hex, as validated) as its 32 raw bytes. */
async function signDigest(
  signer: ModelSigner,
  sha256Hex: string,
): Promise<{ readonly signature: string; readonly signingKeyId: string }> {
  const signature = await signer.sign(Buffer.from(sha256Hex, 'hex'));
  return { signature: Buffer.from(signature).toString('base64'), signingKeyId: signer.keyId };
}

export async function registerRelease(
  deps: RegistrationDeps,
  event: { readonly executionId: string; readonly validation: ValidationPassed },
): Promise<RegistrationResult> {
  const { registry, versions, audit } = deps;
  const now = deps.now ?? (() => new Date());
  const v = event.validation;
  const actor = event.executionId;
  const source = sourceDetails(v.manifestKey);
  const fixedManifestKey = registeredManifestKey(v.model, v.version);
  const manifestKey = contentAddressedManifestKey(v.model, v.version, v.manifestSha256);

  const conflict = async (registered: {
    sha256: string | undefined;
    manifestSha256: string | undefined;
    reason: string;
  }): Promise<never> => {
    await audit.appendAudit(
      auditEvent({
        model: v.model,
        version: v.version,
        type: 'VERSION_CONFLICT',
        actor,
        details: {
          ...source,
          registeredSha256: registered.sha256 ?? null,
          pushedSha256: v.sha256,
          registeredManifestSha256: registered.manifestSha256 ?? null,
          pushedManifestSha256: v.manifestSha256,
          reason: registered.reason,
        },
      }),
    );
    throw new VersionConflictError(v.model, v.version, registered.sha256, v.sha256, {
      registeredManifestSha256: registered.manifestSha256,
      pushedManifestSha256: v.manifestSha256,
    });
  };

  /** The manifest hash of a record; records from before content-addressed manifests are hashed from their copy. */
  const recordedManifestSha256 = async (current: VersionRecord): Promise<string | undefined> => {
    if (current.manifestSha256 !== undefined) return current.manifestSha256;
    const text = await registry.readText(current.manifestKey ?? fixedManifestKey, MAX_MANIFEST_BYTES);
    return text === undefined ? undefined : sha256OfBytes(text);
  };

  /**
   * On S3 the copy-if-absent of the fixed manifest.json is atomic (If-None-Match), so it always holds the record's
   * manifest. Stores without conditional writes (s3rver, local mode) can let a concurrent loser's copy land over it;
   * both the winner (after its record) and the loser (when it settles, after its own copy) put the record's bytes
   * back, so the key converges to the record's manifest. Never triggers where copy-if-absent is atomic.
   */
  const repairFixedManifest = async (current: VersionRecord): Promise<void> => {
    if (current.manifestSha256 === undefined || current.manifestKey === undefined) return;
    if (current.manifestKey === fixedManifestKey) return;
    const fixed = await registry.readText(fixedManifestKey, MAX_MANIFEST_BYTES);
    if (fixed !== undefined && sha256OfBytes(fixed) === current.manifestSha256) return;
    const own = await registry.readText(current.manifestKey, MAX_MANIFEST_BYTES);
    if (own === undefined || sha256OfBytes(own) !== current.manifestSha256) return;
    await registry.putText(fixedManifestKey, own, 'application/json');
  };

  const settle = async (current: VersionRecord): Promise<RegistrationResult> => {
    await repairFixedManifest(current);
    // The writer may have crashed between its record and its audit event: complete its REGISTERED event first,
    // whatever this push turns out to be.
    await appendAuditOnce(audit, registeredAuditEvent(current));
    const registeredManifest = await recordedManifestSha256(current);
    if (current.sha256 !== v.sha256 || (registeredManifest ?? v.manifestSha256) !== v.manifestSha256) {
      return conflict({
        sha256: current.sha256,
        manifestSha256: registeredManifest,
        reason: current.sha256 !== v.sha256 ? 'artifact differs' : 'manifest differs',
      });
    }
    const result = {
      model: v.model,
      version: v.version,
      status: 'REGISTERED' as const,
      artifactKey:
        current.artifactKey ?? registeredArtifactKey(v.model, v.version, v.sha256, current.framework),
      manifestKey: current.manifestKey ?? fixedManifestKey,
      ...(registeredManifest !== undefined ? { manifestSha256: registeredManifest } : {}),
    };
    // This execution's own record (a retry after a crash past the commit point): its outcome is REGISTERED.
    if (current.source === actor) return { ...result, idempotent: false };
    await audit.appendAudit(
      auditEvent({
        model: v.model,
        version: v.version,
        type: 'REGISTER_IDEMPOTENT',
        actor,
        details: {
          ...source,
          sha256: v.sha256,
          manifestSha256: v.manifestSha256,
          artifactKey: result.artifactKey,
          manifestKey: result.manifestKey,
        },
      }),
    );
    return { ...result, idempotent: true };
  };

  const existing = await versions.getVersion(v.model, v.version);
  if (existing?.status === 'REGISTERED') return settle(existing);

  // Only the small manifest is read again: the record's lineage and metrics come from it, and its hash proves it
  // is the manifest that was validated.
  const text = await registry.readText(v.manifestKey, MAX_MANIFEST_BYTES);
  if (text === undefined || sha256OfBytes(text) !== v.manifestSha256) {
    throw new SourceChangedError(
      `${v.manifestKey} changed or disappeared after validation; push the bundle again to validate it`,
    );
  }
  const parsed = parseManifestText(text);
  if (!parsed.ok || parsed.manifest.name !== v.model || parsed.manifest.version !== v.version) {
    throw new SourceChangedError(`${v.manifestKey} no longer matches the validation result; push again`);
  }
  const manifest = parsed.manifest;
  const artifactKey = registeredArtifactKey(v.model, v.version, v.sha256, manifest.framework);

  // Objects first, each copy-if-absent from the validated object (ETag-pinned) to a key whose content is fixed.
  // Every object under models/ is locked from the moment it is written (a copy that finds its key taken keeps the
  // lock the first writer gave it).
  const copyOptions = deps.lock
    ? { lock: { mode: deps.lock.mode, retainUntil: retainUntil(now(), deps.lock.days) } }
    : {};
  const claimed = await oneAtATime(fixedManifestKey, async () => {
    await registry.copyIfAbsent(v.artifactKey, artifactKey, v.etag, copyOptions);
    await registry.copyIfAbsent(v.manifestKey, manifestKey, v.manifestEtag, copyOptions);
    await registry.copyIfAbsent(v.manifestKey, fixedManifestKey, v.manifestEtag, copyOptions);
    return registry.readText(fixedManifestKey, MAX_MANIFEST_BYTES);
  });
  const claimedSha256 = claimed === undefined ? undefined : sha256OfBytes(claimed);
  if (claimedSha256 !== v.manifestSha256) {
    const current = await versions.getVersion(v.model, v.version);
    if (current?.status === 'REGISTERED') return settle(current);
    if (claimedSha256 === undefined) {
      throw new TransientStoreError(`${fixedManifestKey} disappeared during registration; retrying`);
    }
    // Another push of this version got its manifest there first and has not written its record yet (or crashed
    // before it): the version is reserved for that manifest. Re-pushing that bundle completes it.
    return conflict({
      sha256: undefined,
      manifestSha256: claimedSha256,
      reason: `${fixedManifestKey} holds another manifest (its registration has not completed)`,
    });
  }

  // Signed before the commit point: the record, written last, is complete or absent, never unsigned-then-signed.
  const signed = deps.signer ? await signDigest(deps.signer, v.sha256) : undefined;
  const at = now().toISOString();
  const record: VersionRecord = {
    model: v.model,
    version: v.version,
    status: 'REGISTERED',
    createdAt: at,
    updatedAt: at,
    artifactKey,
    manifestKey,
    manifestSha256: v.manifestSha256,
    sha256: v.sha256,
    sizeBytes: v.sizeBytes,
    framework: manifest.framework,
    owner: manifest.owner,
    metrics: manifest.metrics,
    lineage: manifest.lineage,
    approval: manifest.approval,
    source: actor,
    sourceKey: v.manifestKey,
    ...(source.uploadId !== undefined ? { uploadId: source.uploadId } : {}),
    ...(signed ?? {}),
  };
  // The commit point.
  const { written, current } = await versions.putVersionUnlessRegistered(record);
  if (!written) {
    if (current.status === 'REGISTERED') return settle(current);
    throw new TransientStoreError(`${v.model} ${v.version} changed during registration; retrying`);
  }
  await repairFixedManifest(record);
  await appendAuditOnce(audit, registeredAuditEvent(record));
  return {
    model: v.model,
    version: v.version,
    status: 'REGISTERED',
    artifactKey,
    manifestKey,
    manifestSha256: v.manifestSha256,
    idempotent: false,
  };
}
