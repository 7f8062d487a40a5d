/**
 * The version loader: one load path for both backend kinds. A version is loaded once (concurrent requests share the
 * load): its registered manifest and its ModelVersions record (the ledger) are read concurrently, the manifest is
 * checked against the record (status REGISTERED, manifest bytes' sha256, `artifact.sha256`), the validator,
 * formatter and pii stripper are compiled, then the model is made ready — for an in-process backend by fetching the
 * record's `artifactKey`, verifying its bytes against the record's sha256 and handing them to `backend.load`
 * (through the model cache, which also evicts and refuses), for a remote backend by `backend.load` alone. The record
 * is read once per version (versions are immutable), never per request. A failure of any step is remembered for
 * `failureTtlMs` (the routing TTL), so a broken version costs one attempt per TTL, not one per request; an integrity
 * refusal (a hash that disagrees with the ledger) is remembered for good.
 */
import { createPiiStripper, type PiiStripper } from '../core/capture';
import { compileInstanceValidator, type InstanceValidator } from '../core/inference-request';
import { registeredManifestKey } from '../core/keys';
import { createModelCache, type ModelCache, type ModelRef } from '../core/model-cache';
import type {
  BackendModel,
  InferenceBackend,
  ModelSigner,
  RegistryStore,
  StructuredLogger,
  VersionReader,
  VersionRecord,
} from '../core/ports';
import { createPredictionFormatter, type PredictionFormatter } from '../core/predictions';
import {
  MAX_REGISTERED_MANIFEST_BYTES,
  parseRuntimeManifest,
  type RuntimeManifest,
} from '../core/runtime-manifest';
import { sha256OfBytes } from '../core/sha256';
import { jsonHeaders } from './http';
import { errorName } from './settings';

/** A version's manifest could not be read or used; it is not served (and not retried within the routing TTL). */
export class VersionUnavailableError extends Error {
  override name = 'VersionUnavailableError';
}

/** Which check of a version against its ModelVersions record failed. */
export type LedgerCheck =
  /** No record, or a REGISTERED record without `sha256`/`artifactKey`. */
  | 'record'
  /** The record is not REGISTERED (e.g. REJECTED). */
  | 'status'
  /** The record's `manifestKey` is not the manifest the runtime reads. */
  | 'manifestKey'
  /** The manifest's bytes do not hash to the record's `manifestSha256`. */
  | 'manifestSha256'
  /** The manifest's `artifact.sha256` is not the record's `sha256`. */
  | 'artifactSha256'
  /**
   * With a signer configured: the record has no signature, was signed by another key, or its signature does not
   * verify over the record's sha256.
   */
  | 'signature';

/**
 * A version does not match its ModelVersions record, or has no REGISTERED record: it is refused and counted like an
 * artifact hash mismatch (`IntegrityFailures`). Hash disagreements are permanent (the record is immutable); a missing
 * or not-REGISTERED record is retried after the TTL (a REJECTED version may be registered again).
 */
export class LedgerMismatchError extends Error {
  override name = 'LedgerMismatchError';
  constructor(
    readonly version: string,
    readonly check: LedgerCheck,
    /** The record's value (or what the check needs), never feature values. */
    readonly expected: string | undefined,
    readonly actual: string | undefined,
    message: string,
  ) {
    super(message);
  }

  /** Whether the refusal holds for the life of the execution environment. */
  get permanent(): boolean {
    return this.check !== 'record' && this.check !== 'status';
  }
}

/** Everything kept per model version: compiled once, versions being immutable. */
export interface VersionState {
  readonly version: string;
  readonly manifest: RuntimeManifest;
  /** The 200 response's headers, shared by every response of this version (frozen). */
  readonly headers: Readonly<Record<string, string>>;
  readonly validate: InstanceValidator;
  readonly format: PredictionFormatter;
  readonly stripPii: PiiStripper;
  readonly ref: VersionRef;
}

/** The model cache's key, carrying the manifest `backend.load` needs. */
interface VersionRef extends ModelRef {
  readonly manifest: RuntimeManifest;
}

/** A version ready to serve. */
export interface LoadedVersion {
  readonly state: VersionState;
  readonly model: BackendModel;
}

export interface VersionLoader {
  /** The version if it is loaded, synchronously (the warm path: no promise, no allocation); else undefined. */
  peek(version: string): LoadedVersion | undefined;
  /** The loaded version, loading it once if needed. Rejects with the load's error (remembered for the TTL). */
  load(version: string): Promise<LoadedVersion>;
}

export interface VersionLoaderOptions {
  readonly model: string;
  readonly registry: RegistryStore;
  /** The ModelVersions table: each version's record, read once, is what its manifest and artifact must match. */
  readonly versions: VersionReader;
  readonly backend: InferenceBackend;
  readonly logger: StructuredLogger;
  /** Field errors reported per request at most (validator setting). */
  readonly maxErrors: number;
  /** How long a failed load is answered from memory before it is tried again (ms). */
  readonly failureTtlMs: number;
  readonly now: () => number;
  /** In-process backends: loaded models kept at once. @default 3 */
  readonly maxLoadedVersions?: number;
  /**
   * Verifies each record's `signature` over its sha256 before the first load. When set, a record without a signature
   * is refused (every record registered with a signer has one); unset, signatures are not checked.
   */
  readonly signer?: ModelSigner;
}

interface Entry {
  state?: VersionState;
  /** Remote backends: the loaded model (in-process models live in the cache, which may evict them). */
  remote?: BackendModel;
  pending?: Promise<LoadedVersion>;
  failure?: { readonly error: unknown; readonly atMs: number };
  /** A permanent ledger refusal: answered from memory for the life of the loader. */
  refused?: LedgerMismatchError;
  /** The last result handed out, reused while the model behind it is still the loaded one. */
  loaded?: LoadedVersion;
}

/** Creates the loader of one model's versions. */
export function createVersionLoader(options: VersionLoaderOptions): VersionLoader {
  const { model: name, registry, versions, backend, logger, now } = options;
  const entries = new Map<string, Entry>();
  const cache: ModelCache<BackendModel, VersionRef> | undefined =
    backend.kind === 'in-process'
      ? createModelCache<BackendModel, VersionRef>({
          fetch: (key) => registry.readBytes(key),
          sha256: sha256OfBytes,
          load: (bytes, ref) => backend.load(ref.version, ref.manifest, bytes),
          maxEntries: options.maxLoadedVersions ?? 3,
          onEvent: (event) => {
            if (event.type === 'refused') {
              logger.error('artifact hash mismatch: version refused', {
                model: name,
                version: event.version,
                check: 'artifact bytes vs ModelVersions sha256',
                expectedSha256: event.expected,
                actualSha256: event.actual,
              });
            } else if (event.type === 'loaded') {
              logger.info('model loaded', {
                model: name,
                version: event.version,
                sizeBytes: event.sizeBytes,
                durationMs: Math.round(event.durationMs),
              });
            } else if (event.type === 'failed') {
              logger.error('model failed to load', {
                model: name,
                version: event.version,
                error: event.error as Error,
              });
            }
          },
        })
      : undefined;

  const readManifest = async (key: string): Promise<string> => {
    let text: string | undefined;
    try {
      text = await registry.readText(key, MAX_REGISTERED_MANIFEST_BYTES);
    } catch (err) {
      throw new VersionUnavailableError(`manifest ${key} could not be read (${errorName(err)})`, {
        cause: err,
      });
    }
    if (text === undefined) throw new VersionUnavailableError(`manifest ${key} does not exist`);
    return text;
  };

  const readRecord = async (version: string): Promise<VersionRecord | undefined> => {
    try {
      return await versions.getVersion(name, version);
    } catch (err) {
      // A failed read is not a verdict on the version: retried after the TTL like any load failure.
      throw new VersionUnavailableError(
        `the ModelVersions record of ${name} ${version} could not be read (${errorName(err)})`,
        { cause: err },
      );
    }
  };

  const refuse = (
    version: string,
    check: LedgerCheck,
    expected: string | undefined,
    actual: string | undefined,
    message: string,
  ): never => {
    const error = new LedgerMismatchError(version, check, expected, actual, message);
    logger.error('version refused: it does not match its ModelVersions record', {
      model: name,
      version,
      check,
      expected,
      actual,
    });
    throw error;
  };

  /** The record's sha256 and artifactKey once the record is REGISTERED and the manifest agrees with it. */
  const checkLedger = (
    version: string,
    key: string,
    text: string,
    record: VersionRecord | undefined,
  ): { readonly sha256: string; readonly artifactKey: string } => {
    if (record === undefined) {
      return refuse(
        version,
        'record',
        undefined,
        undefined,
        `${name} ${version} has no ModelVersions record`,
      );
    }
    if (record.status !== 'REGISTERED') {
      return refuse(
        version,
        'status',
        'REGISTERED',
        record.status,
        `${name} ${version} is ${record.status} in ModelVersions, not REGISTERED`,
      );
    }
    if (record.sha256 === undefined || record.artifactKey === undefined) {
      return refuse(
        version,
        'record',
        undefined,
        undefined,
        `the ModelVersions record of ${name} ${version} has no sha256 or artifactKey`,
      );
    }
    // With manifestSha256 the bytes themselves are checked below, whichever copy they came from (RegisterVersion
    // writes the fixed manifest.json with the same bytes as the record's content-addressed manifestKey, before the
    // record); an older record without it must name the copy read.
    if (
      record.manifestSha256 === undefined &&
      record.manifestKey !== undefined &&
      record.manifestKey !== key
    ) {
      return refuse(
        version,
        'manifestKey',
        record.manifestKey,
        key,
        `the ModelVersions record of ${name} ${version} names manifest ${record.manifestKey}, not ${key}`,
      );
    }
    // Records written before manifestSha256 existed skip this check; the artifact check below still applies.
    if (record.manifestSha256 !== undefined) {
      const actual = sha256OfBytes(text);
      if (actual !== record.manifestSha256.toLowerCase()) {
        return refuse(
          version,
          'manifestSha256',
          record.manifestSha256,
          actual,
          `manifest ${key} has sha256 ${actual}, the ModelVersions record has ${record.manifestSha256}`,
        );
      }
    }
    return { sha256: record.sha256.toLowerCase(), artifactKey: record.artifactKey };
  };

  /**
   * The record's signature must verify over its sha256 with the serving signer. The artifact bytes are checked
   * against that same sha256 when fetched, so a verified signature covers the bytes served. A signer error (KMS
   * unreachable) is not a refusal: it fails this load, retried after the TTL.
   */
  const checkSignature = async (version: string, record: VersionRecord, sha256: string): Promise<void> => {
    const signer = options.signer;
    if (signer === undefined) return;
    if (record.signature === undefined) {
      return refuse(
        version,
        'signature',
        signer.keyId,
        undefined,
        `the ModelVersions record of ${name} ${version} has no signature; register it again with signing enabled`,
      );
    }
    if (record.signingKeyId !== signer.keyId) {
      return refuse(
        version,
        'signature',
        signer.keyId,
        record.signingKeyId,
        `${name} ${version} was signed by ${record.signingKeyId ?? 'an unknown key'}, not by ${signer.keyId}`,
      );
    }
    const valid = await signer.verify(Buffer.from(sha256, 'hex'), Buffer.from(record.signature, 'base64'));
    if (!valid) {
      refuse(
        version,
        'signature',
        signer.keyId,
        undefined,
        `the signature of ${name} ${version} does not verify over sha256 ${sha256} with ${signer.keyId}`,
      );
    }
  };

  const readState = async (version: string): Promise<VersionState> => {
    const key = registeredManifestKey(name, version);
    // Both reads at once: the ledger check adds one GetItem to the first load, not one round trip.
    const [text, record] = await Promise.all([readManifest(key), readRecord(version)]);
    const registered = checkLedger(version, key, text, record);
    await checkSignature(version, record!, registered.sha256);
    // The registered copy was validated in full by the release pipeline; see runtime-manifest.ts.
    const parsed = parseRuntimeManifest(text);
    if (!parsed.ok) {
      const issues = parsed.issues.slice(0, 5).map((i) => `${i.path}: ${i.message}`);
      throw new VersionUnavailableError(`manifest ${key} is invalid: ${issues.join('; ')}`);
    }
    const manifest = parsed.manifest;
    if (manifest.name !== name || manifest.version !== version) {
      throw new VersionUnavailableError(
        `manifest ${key} describes ${manifest.name} ${manifest.version}, not ${name} ${version}`,
      );
    }
    if (manifest.artifact.sha256.toLowerCase() !== registered.sha256) {
      refuse(
        version,
        'artifactSha256',
        registered.sha256,
        manifest.artifact.sha256,
        `manifest ${key} names artifact sha256 ${manifest.artifact.sha256}, the ModelVersions record has ${registered.sha256}`,
      );
    }
    return {
      version,
      manifest,
      headers: jsonHeaders(version),
      validate: compileInstanceValidator(manifest, { maxErrors: options.maxErrors }),
      format: createPredictionFormatter(manifest.outputs),
      stripPii: createPiiStripper(manifest),
      // The model cache verifies the fetched bytes against the ledger's hash, at the ledger's key.
      ref: { version, artifactKey: registered.artifactKey, sha256: registered.sha256, manifest },
    };
  };

  const loadEntry = async (entry: Entry, version: string): Promise<LoadedVersion> => {
    const state = entry.state ?? (entry.state = await readState(version));
    let model: BackendModel;
    if (cache !== undefined) {
      model = await cache.get(state.ref);
    } else {
      model = entry.remote ?? (entry.remote = await backend.load(version, state.manifest));
    }
    return (entry.loaded = { state, model });
  };

  const peek = (version: string): LoadedVersion | undefined => {
    const entry = entries.get(version);
    const state = entry?.state;
    if (entry === undefined || state === undefined) return undefined;
    const model = cache !== undefined ? cache.peek(state.ref) : entry.remote;
    if (model === undefined) return undefined;
    let loaded = entry.loaded;
    if (loaded === undefined || loaded.model !== model) entry.loaded = loaded = { state, model };
    return loaded;
  };

  return {
    peek,
    load(version: string): Promise<LoadedVersion> {
      const hit = peek(version);
      if (hit !== undefined) return Promise.resolve(hit);
      let entry = entries.get(version);
      if (entry === undefined) entries.set(version, (entry = {}));
      if (entry.pending !== undefined) return entry.pending;
      if (entry.refused !== undefined) return Promise.reject(entry.refused);
      if (entry.failure !== undefined && now() - entry.failure.atMs < options.failureTtlMs) {
        return Promise.reject(entry.failure.error);
      }
      const e = entry;
      const pending = loadEntry(e, version).then(
        (loaded) => {
          e.pending = undefined;
          e.failure = undefined;
          return loaded;
        },
        (error: unknown) => {
          e.pending = undefined;
          if (error instanceof LedgerMismatchError && error.permanent) e.refused = error;
          e.failure = { error, atMs: now() };
          throw error;
        },
      );
      e.pending = pending;
      return pending;
    },
  };
}
