/**
 * ValidateArtifact: every check a bundle must pass before it may be registered. Collects every reason at once and
 * skips only checks that depend on one that failed. Throws only for infrastructure failures (store errors).
 */
import { auditEvent, sourceDetails } from './audit';
import { InvalidUtf8Error, ObjectTooLargeError } from './errors';
import { evaluateGates, type Champion } from './gates';
import { DEFAULT_INFERENCE_LIMITS } from './inference-request';
import { ledgerSegment, MANIFEST_FILE, parseIncomingKey } from './keys';
import { MAX_MANIFEST_BYTES, parseManifestText, type Manifest } from './manifest';
import type { ModelRuntime } from './model-runtime';
import type { AuditLogStore, DeploymentStore, ObjectHead, RegistryStore, VersionStore } from './ports';
import { boundReasons, type ValidationResult } from './release-events';
import { digestStream, sha256OfBytes } from './sha256';
import { ownValue } from './own';
import { serveContractIssues } from './serve-contract';
import { signatureIssues } from './signature';
import { smokeSampleIssues } from './smoke';

export interface ValidationSettings {
  /** Largest artifact accepted (config `registry.maxArtifactBytes`). */
  readonly maxArtifactBytes: number;
  /** Model names from the config; undefined or empty accepts any model. */
  readonly configuredModels?: readonly string[];
  /**
   * Per model (config `models[].inference.maxBatch`): most instances per inference request it will be served with;
   * the synthetic batch of the serve-time contract check (./serve-contract.ts) has this many instances.
   * @default DEFAULT_INFERENCE_LIMITS.maxBatch for a model not listed
   */
  readonly maxBatchByModel?: Readonly<Record<string, number>>;
}

export interface ValidationDeps {
  readonly registry: RegistryStore;
  /** Read for the champion's recorded metrics. */
  readonly versions: VersionStore;
  /** Read for the champion (the stable version). */
  readonly deployments: DeploymentStore;
  readonly audit: AuditLogStore;
  readonly runtime: ModelRuntime;
  readonly settings: ValidationSettings;
}

interface ManifestRead {
  readonly manifest?: Manifest;
  readonly head?: ObjectHead;
  readonly sha256?: string;
}

/** Validates the bundle whose manifest is at `event.key`; appends VALIDATION_PASSED when it passes. */
export async function validateRelease(
  deps: ValidationDeps,
  event: { readonly key: string; readonly executionId: string },
): Promise<ValidationResult> {
  const reasons: string[] = [];
  const checks: string[] = [];
  const key = parseIncomingKey(event.key);
  reasons.push(...key.issues);
  const keyOk = key.issues.length === 0;

  // 1. Manifest.
  const {
    manifest,
    head: manifestHead,
    sha256: manifestSha256,
  } = await readManifest(deps.registry, event.key, reasons);
  if (manifest) {
    checks.push(`manifest: valid (framework ${manifest.framework})`);
    if (keyOk && manifest.name !== key.model) {
      reasons.push(
        `name: the manifest names model "${manifest.name}" but was uploaded under model "${key.model}"; upload it to incoming/${manifest.name}/${manifest.version}/`,
      );
    }
    if (keyOk && manifest.version !== key.version) {
      reasons.push(
        `version: the manifest names version "${manifest.version}" but was uploaded under version "${key.version}"; upload it to incoming/${manifest.name}/${manifest.version}/`,
      );
    }
  }

  // 2. Model configured.
  const model = keyOk ? key.model : manifest?.name;
  const configured = deps.settings.configuredModels ?? [];
  if (model !== undefined && configured.length > 0) {
    if (configured.includes(model)) checks.push(`model "${model}" is configured`);
    else {
      reasons.push(
        `model "${model}" is not configured (configured: ${configured.join(', ')}); add { name: '${model}', owner: … } to models in modelops.config.ts and deploy`,
      );
    }
  }

  // 3-7. Artifact: presence and size, sha256, load, signature, smoke samples.
  let artifact: { head: ObjectHead; sha256: string } | undefined;
  if (manifest && keyOk) {
    artifact = await checkArtifact(deps, manifest, `${key.dir}${manifest.artifact.file}`, reasons, checks);
  } else if (manifest) {
    checks.push('artifact: not checked (the key is not a valid bundle location)');
  }

  // 8. Metric gates and champion comparison.
  if (manifest) {
    const champion = await findChampion(deps, manifest.name, checks);
    const gates = evaluateGates(manifest.metrics, manifest.gates, champion);
    reasons.push(...gates.reasons);
    checks.push(...gates.checks.map((c) => `gate: ${c}`));
  }

  if (reasons.length > 0 || !manifest || !artifact || !manifestHead || !manifestSha256) {
    if (reasons.length === 0) reasons.push('the bundle could not be validated');
    // The raw key segments, as RecordRejection records them: the rejection is filed where the upload was made.
    return {
      valid: false,
      model: ledgerSegment(key.model),
      version: ledgerSegment(key.version),
      reasons: boundReasons(reasons),
    };
  }

  const result = {
    valid: true as const,
    model: manifest.name,
    version: manifest.version,
    manifestKey: event.key,
    manifestEtag: manifestHead.etag,
    manifestSha256,
    artifactKey: artifact.head.key,
    sha256: artifact.sha256,
    sizeBytes: artifact.head.sizeBytes,
    etag: artifact.head.etag,
    checks: boundReasons(checks),
  };
  await deps.audit.appendAudit(
    auditEvent({
      model: result.model,
      version: result.version,
      type: 'VALIDATION_PASSED',
      actor: event.executionId,
      details: {
        ...sourceDetails(event.key),
        sha256: result.sha256,
        sizeBytes: result.sizeBytes,
        checks: result.checks,
      },
    }),
  );
  return result;
}

async function readManifest(registry: RegistryStore, key: string, reasons: string[]): Promise<ManifestRead> {
  const head = await registry.head(key);
  if (!head) {
    reasons.push(`manifest: ${key} does not exist; upload ${MANIFEST_FILE} last, after the artifact`);
    return {};
  }
  if (head.sizeBytes > MAX_MANIFEST_BYTES) {
    reasons.push(
      `manifest: is ${head.sizeBytes} bytes, larger than ${MAX_MANIFEST_BYTES}; keep data out of it`,
    );
    return { head };
  }
  let text: string | undefined;
  try {
    text = await registry.readText(key, MAX_MANIFEST_BYTES);
  } catch (err) {
    if (err instanceof InvalidUtf8Error) {
      reasons.push(`manifest: ${err.message}`);
      return { head };
    }
    if (!(err instanceof ObjectTooLargeError)) throw err;
    reasons.push(`manifest: is larger than ${MAX_MANIFEST_BYTES} bytes; keep data out of it`);
    return { head };
  }
  if (text === undefined) {
    reasons.push(`manifest: ${key} disappeared while being read; upload it again`);
    return { head };
  }
  const parsed = parseManifestText(text);
  if (!parsed.ok) {
    reasons.push(...parsed.issues.map((i) => `${i.path}: ${i.message}`));
    return { head };
  }
  return { manifest: parsed.manifest, head, sha256: sha256OfBytes(text) };
}

async function checkArtifact(
  deps: ValidationDeps,
  manifest: Manifest,
  artifactKey: string,
  reasons: string[],
  checks: string[],
): Promise<{ head: ObjectHead; sha256: string } | undefined> {
  const { registry, settings } = deps;
  const declared = manifest.artifact;
  if (declared.file === MANIFEST_FILE) {
    reasons.push(`artifact.file: must name the model file, not ${MANIFEST_FILE}`);
    return undefined;
  }
  const head = await registry.head(artifactKey);
  if (!head) {
    reasons.push(
      `artifact.file: ${artifactKey} does not exist; upload ${declared.file} next to ${MANIFEST_FILE} (and the manifest last)`,
    );
    return undefined;
  }
  if (head.sizeBytes > settings.maxArtifactBytes) {
    reasons.push(
      `artifact: ${declared.file} is ${head.sizeBytes} bytes, larger than the ${settings.maxArtifactBytes} bytes allowed by registry.maxArtifactBytes in modelops.config.ts`,
    );
    return undefined;
  }
  let failed = false;
  if (head.sizeBytes !== declared.sizeBytes) {
    failed = true;
    reasons.push(
      `artifact.sizeBytes: the manifest says ${declared.sizeBytes} bytes but ${declared.file} is ${head.sizeBytes} bytes`,
    );
  }

  // An ONNX model is loaded from memory anyway, so one read both hashes it and keeps the bytes, which makes the bytes
  // loaded the bytes hashed even if an upload races the validation. A SageMaker artifact is only hashed: streamed.
  const bytes = manifest.framework === 'sagemaker' ? undefined : await registry.readBytes(artifactKey);
  const digest = bytes
    ? { sha256: sha256OfBytes(bytes), sizeBytes: bytes.byteLength }
    : await digestStream(await registry.readStream(artifactKey));
  if (digest.sizeBytes !== head.sizeBytes) {
    reasons.push(
      `artifact: ${declared.file} changed while being read (${digest.sizeBytes} bytes read, ${head.sizeBytes} expected); push again`,
    );
    return undefined;
  }
  if (digest.sha256 !== declared.sha256) {
    reasons.push(
      `artifact.sha256: the manifest says ${declared.sha256} but ${declared.file} hashes to ${digest.sha256}`,
    );
    return undefined;
  }
  if (failed) return undefined;
  checks.push(`artifact: ${declared.file} ${head.sizeBytes} bytes, sha256 ${digest.sha256} matches`);

  if (!bytes) {
    checks.push(
      'model load, signature and smoke samples: skipped for framework "sagemaker" (served by SageMaker)',
    );
    return { head, sha256: digest.sha256 };
  }

  let model;
  try {
    model = await deps.runtime.load(bytes);
  } catch (err) {
    reasons.push(`artifact: ${declared.file} does not load in ONNX Runtime: ${firstLine(err)}`);
    return undefined;
  }
  try {
    const signature = signatureIssues(manifest, model);
    if (signature.length > 0) {
      reasons.push(...signature);
      return undefined;
    }
    checks.push(
      `signature: inputs ${manifest.inputs.tensors.map((t) => t.name).join(', ')} and outputs ${manifest.outputs.map((o) => o.name).join(', ')} match the model`,
    );
    let failed = false;
    if (manifest.smokeSamples.length === 0) {
      checks.push('smoke samples: none declared');
    } else {
      const smoke = await smokeSampleIssues(manifest, model);
      if (smoke.length > 0) {
        reasons.push(...smoke);
        failed = true;
      } else {
        checks.push(
          `smoke samples: ${manifest.smokeSamples.length} of ${manifest.smokeSamples.length} accepted by the ingress validator, served, formatted and matching`,
        );
      }
    }
    // The serve-time contract: every request the ingress validator accepts within maxBatch gets a 2xx.
    const contract = await serveContractIssues(manifest, model, {
      maxBatch: ownValue(settings.maxBatchByModel ?? {}, manifest.name) ?? DEFAULT_INFERENCE_LIMITS.maxBatch,
      modelBytes: bytes,
    });
    checks.push(...contract.checks.map((c) => `serve contract: ${c}`));
    if (contract.issues.length > 0) {
      reasons.push(...contract.issues);
      failed = true;
    }
    if (failed) return undefined;
  } finally {
    await model.release();
  }
  return { head, sha256: digest.sha256 };
}

async function findChampion(
  stores: Pick<ValidationDeps, 'versions' | 'deployments'>,
  model: string,
  checks: string[],
): Promise<Champion | undefined> {
  const deployment = await stores.deployments.getDeployment(model);
  if (!deployment?.stable) {
    checks.push('champion: no champion (no stable version deployed)');
    return undefined;
  }
  const record = await stores.versions.getVersion(model, deployment.stable);
  if (!record?.metrics) {
    checks.push(`champion: stable version ${deployment.stable} has no recorded metrics; comparison skipped`);
    return undefined;
  }
  checks.push(`champion: ${deployment.stable}`);
  return { version: deployment.stable, metrics: record.metrics };
}

function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return (message.split('\n')[0] ?? message).slice(0, 500);
}
