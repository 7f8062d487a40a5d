/**
 * The version loader: one load path for both backend kinds. A version is loaded once (concurrent requests share the
 * load): its registered manifest is read and parsed, the validator, formatter and pii stripper are compiled, then the
 * model is made ready — for an in-process backend by fetching the artifact, verifying its sha256 and handing the
 * bytes to `backend.load` (through the model cache, which also evicts and refuses), for a remote backend by
 * `backend.load` alone. A failure of any step is remembered for `failureTtlMs` (the routing TTL), so a broken
 * version costs one attempt per TTL, not one per request; an integrity refusal is remembered for good.
 */
import { createPiiStripper, type PiiStripper } from '../core/capture';
import { compileInstanceValidator, type InstanceValidator } from '../core/inference-request';
import { registeredArtifactKey, registeredManifestKey } from '../core/keys';
import { createModelCache, type ModelCache, type ModelRef } from '../core/model-cache';
import type { BackendModel, InferenceBackend, RegistryStore, StructuredLogger } from '../core/ports';
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
  readonly backend: InferenceBackend;
  readonly logger: StructuredLogger;
  /** Field errors reported per request at most (validator setting). */
  readonly maxErrors: number;
  /** How long a failed load is answered from memory before it is tried again (ms). */
  readonly failureTtlMs: number;
  readonly now: () => number;
  /** In-process backends: loaded models kept at once. @default 3 */
  readonly maxLoadedVersions?: number;
}

interface Entry {
  state?: VersionState;
  /** Remote backends: the loaded model (in-process models live in the cache, which may evict them). */
  remote?: BackendModel;
  pending?: Promise<LoadedVersion>;
  failure?: { readonly error: unknown; readonly atMs: number };
  /** The last result handed out, reused while the model behind it is still the loaded one. */
  loaded?: LoadedVersion;
}

/** Creates the loader of one model's versions. */
export function createVersionLoader(options: VersionLoaderOptions): VersionLoader {
  const { model: name, registry, backend, logger, now } = options;
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

  const readState = async (version: string): Promise<VersionState> => {
    const key = registeredManifestKey(name, version);
    let text: string | undefined;
    try {
      text = await registry.readText(key, MAX_REGISTERED_MANIFEST_BYTES);
    } catch (err) {
      throw new VersionUnavailableError(`manifest ${key} could not be read (${errorName(err)})`, {
        cause: err,
      });
    }
    if (text === undefined) throw new VersionUnavailableError(`manifest ${key} does not exist`);
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
    return {
      version,
      manifest,
      headers: jsonHeaders(version),
      validate: compileInstanceValidator(manifest, { maxErrors: options.maxErrors }),
      format: createPredictionFormatter(manifest.outputs),
      stripPii: createPiiStripper(manifest),
      ref: {
        version,
        artifactKey: registeredArtifactKey(name, version, manifest.artifact.sha256, manifest.framework),
        sha256: manifest.artifact.sha256,
        manifest,
      },
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
          e.failure = { error, atMs: now() };
          throw error;
        },
      );
      e.pending = pending;
      return pending;
    },
  };
}
