/**
 * RegisterVersion: turns a validated bundle into an immutable, content-addressed version. The conflict check runs
 * before anything is copied, so a conflicting push leaves models/ untouched; concurrent pushes of the same version
 * are decided by the one conditional write in `putVersionUnlessRegistered`.
 */
import { auditEvent } from './audit';
import { SourceChangedError, TransientStoreError, VersionConflictError } from './errors';
import { registeredArtifactKey, registeredManifestKey } from './keys';
import { MAX_MANIFEST_BYTES, parseManifestText } from './manifest';
import type { AuditLogStore, RegistryStore, VersionRecord, VersionStore } from './ports';
import type { ValidationPassed } from './release-events';
import { sha256OfBytes } from './sha256';

export interface RegistrationDeps {
  readonly registry: RegistryStore;
  readonly versions: VersionStore;
  readonly audit: AuditLogStore;
  readonly now?: () => Date;
}

export interface RegistrationResult {
  readonly model: string;
  readonly version: string;
  readonly status: 'REGISTERED';
  readonly artifactKey: string;
  readonly manifestKey: string;
  readonly idempotent: boolean;
}

export async function registerRelease(
  deps: RegistrationDeps,
  event: { readonly executionId: string; readonly validation: ValidationPassed },
): Promise<RegistrationResult> {
  const { registry, versions, audit } = deps;
  const now = deps.now ?? (() => new Date());
  const v = event.validation;
  const actor = event.executionId;
  const manifestKey = registeredManifestKey(v.model, v.version);

  const settle = async (current: VersionRecord): Promise<RegistrationResult> => {
    if (current.sha256 !== v.sha256) {
      await audit.appendAudit(
        auditEvent({
          model: v.model,
          version: v.version,
          type: 'VERSION_CONFLICT',
          actor,
          details: { registeredSha256: current.sha256 ?? null, pushedSha256: v.sha256, key: v.manifestKey },
        }),
      );
      throw new VersionConflictError(v.model, v.version, current.sha256, v.sha256);
    }
    // A retry after a crash between the record write and the manifest copy completes the copy here.
    await registry.copyIfAbsent(v.manifestKey, current.manifestKey ?? manifestKey, v.manifestEtag);
    await audit.appendAudit(
      auditEvent({
        model: v.model,
        version: v.version,
        type: 'REGISTER_IDEMPOTENT',
        actor,
        details: { sha256: v.sha256, artifactKey: current.artifactKey ?? null },
      }),
    );
    return {
      model: v.model,
      version: v.version,
      status: 'REGISTERED',
      artifactKey:
        current.artifactKey ?? registeredArtifactKey(v.model, v.version, v.sha256, current.framework),
      manifestKey: current.manifestKey ?? manifestKey,
      idempotent: true,
    };
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

  // Content-addressed: a concurrent push that loses the conditional write below leaves at most an unreferenced
  // object under its own hash, never a changed one.
  await registry.copyIfAbsent(v.artifactKey, artifactKey, v.etag);

  const at = now().toISOString();
  const record: VersionRecord = {
    model: v.model,
    version: v.version,
    status: 'REGISTERED',
    createdAt: at,
    updatedAt: at,
    artifactKey,
    manifestKey,
    sha256: v.sha256,
    sizeBytes: v.sizeBytes,
    framework: manifest.framework,
    owner: manifest.owner,
    metrics: manifest.metrics,
    lineage: manifest.lineage,
    approval: manifest.approval,
    source: actor,
  };
  const { written, current } = await versions.putVersionUnlessRegistered(record);
  if (!written) {
    if (current.status === 'REGISTERED') return settle(current);
    throw new TransientStoreError(`${v.model} ${v.version} changed during registration; retrying`);
  }
  // Copied only by the winner of the conditional write, so the stored manifest always belongs to the record.
  await registry.copyIfAbsent(v.manifestKey, manifestKey, v.manifestEtag);
  await audit.appendAudit(
    auditEvent({
      model: v.model,
      version: v.version,
      type: 'REGISTERED',
      actor,
      details: { sha256: v.sha256, sizeBytes: v.sizeBytes, artifactKey, manifestKey, owner: manifest.owner },
    }),
  );
  return {
    model: v.model,
    version: v.version,
    status: 'REGISTERED',
    artifactKey,
    manifestKey,
    idempotent: false,
  };
}
