/**
 * The inference app: `POST /models/{name}/invoke` → validated, routed, predicted, measured and (optionally)
 * captured. One implementation behind the Lambda Function URL (ONNX in-process), the SageMaker router and the local
 * server; only the backend differs.
 *
 * Request contract: lambdas/core/inference-request.ts. Response 200:
 * `{"model":"breast-cancer","version":"1.0.0","requestId":"…","predictions":[{"label":"benign","probabilities":{…}}]}`
 * with header `x-modelops-version`. Errors: `{"error":{"code","message","details"?},"requestId"}` with 400
 * InvalidInput, 404 ModelNotFound, 405 MethodNotAllowed, 413 PayloadTooLarge, 502 BadGateway (remote backend),
 * 503 ModelNotServable, 500 InternalError (bugs only; bad input never gets there).
 */
import {
  captureObjectKey,
  captureSettingsIssues,
  createCaptureBuffer,
  createPiiStripper,
  DEFAULT_CAPTURE_SETTINGS,
  randomSuffix,
  shouldCapture,
  toJsonLines,
  type CaptureBatch,
  type CaptureSettings,
  type CaptureWriter,
  type PiiStripper,
} from '../core/capture';
import { BackendError, FeatureEncodingError } from '../core/errors';
import type { Instance } from '../core/features';
import {
  compileInstanceValidator,
  DEFAULT_INFERENCE_LIMITS,
  parseInferenceBody,
  type FieldError,
  type InferenceLimits,
  type InstanceValidator,
} from '../core/inference-request';
import { registeredArtifactKey, registeredManifestKey } from '../core/keys';
import {
  ArtifactIntegrityError,
  createModelCache,
  type ModelCache,
  type ModelRef,
} from '../core/model-cache';
import {
  INFERENCE_METRICS as M,
  METRIC_DIMENSIONS,
  type BackendModel,
  type DeploymentRecord,
  type InferenceBackend,
  type MetricDatum,
  type MetricDimensions,
  type MetricsSink,
  type RegistryStore,
  type RoutingSource,
  type StructuredLogger,
} from '../core/ports';
import {
  createPredictionFormatter,
  PredictionFormatError,
  type Prediction,
  type PredictionFormatter,
} from '../core/predictions';
import { chooseVersion, createTtlCache, findDisagreement, ModelNotServableError } from '../core/routing';
import { sha256OfBytes } from '../core/sha256';
import { errorResponse, jsonHeaders, type HttpRequest, type HttpResponse } from './http';
import {
  MAX_REGISTERED_MANIFEST_BYTES,
  parseRuntimeManifest,
  type RuntimeManifest,
} from '../core/runtime-manifest';

export interface InferenceSettings {
  /** How long a routing record is used before it is read again (ms). @default 5000 */
  readonly routingCacheTtlMs: number;
  readonly limits: InferenceLimits;
  readonly capture: CaptureSettings;
  /** Shadow mode: largest absolute difference of a probability or value that still counts as agreement. @default 1e-6 */
  readonly shadowTolerance: number;
}

export interface InferenceSettingsInput {
  readonly routingCacheTtlMs?: number;
  readonly limits?: Partial<InferenceLimits>;
  readonly capture?: Partial<CaptureSettings>;
  readonly shadowTolerance?: number;
}

export const DEFAULT_ROUTING_CACHE_TTL_MS = 5_000;
export const DEFAULT_SHADOW_TOLERANCE = 1e-6;

export interface InferenceAppOptions {
  /** Names of the models this app serves; a request for any other name gets 404. */
  readonly models: readonly string[];
  /** Reads `models/<name>/<version>/manifest.json` and the artifact. */
  readonly registry: RegistryStore;
  readonly routing: RoutingSource;
  readonly backend: InferenceBackend;
  readonly settings?: InferenceSettingsInput;
  readonly metrics: MetricsSink;
  readonly logger: StructuredLogger;
  /** Where capture batches are written; capture stays off without it, whatever the sample rate. */
  readonly capture?: CaptureWriter;
  /** Wall clock in ms, for the routing TTL and capture times. @default Date.now */
  readonly now?: () => number;
  /** Uniform draws in [0, 1) for routing (requests without a routing key), capture sampling and object names. @default Math.random */
  readonly random?: () => number;
  /**
   * Drift seam (observability issue): called with every validated batch before it is predicted. Left undefined it
   * costs nothing. Must not throw; if it does, the error is logged and the request is served anyway.
   */
  readonly onFeatureValues?: (model: string, version: string, instances: readonly Instance[]) => void;
  /** Loaded models kept per model name (stable, candidate, the previous stable). @default 3 */
  readonly maxLoadedVersions?: number;
  /**
   * Start loading at creation what the first request will need: each model's routing record, then its stable
   * version (manifest, verified artifact, session) and the candidate, with the backend's `prepare` (ONNX Runtime)
   * overlapping the downloads. For the Lambda handler, which creates the app during init: provisioned concurrency
   * then pays for all of it before traffic arrives, and an on-demand cold start overlaps the native runtime's load
   * with the network. Requests arriving meanwhile share the loads in flight. Failures are left for requests to
   * meet and report (a routing record read now is cached for the TTL, as a request's would be).
   * @default false
   */
  readonly warmUp?: boolean;
}

/** Handles one HTTP request. Never rejects: every failure becomes an error response. */
export type InferenceApp = (request: HttpRequest) => Promise<HttpResponse>;

/** A version's manifest could not be read or used; it is not served (and not retried within the routing TTL). */
export class VersionUnavailableError extends Error {
  override name = 'VersionUnavailableError';
}

/** Everything the app keeps per model version: compiled once, versions being immutable. */
interface VersionState {
  readonly version: string;
  readonly manifest: RuntimeManifest;
  /** The 200 response's headers, shared by every response of this version (frozen). */
  readonly headers: Readonly<Record<string, string>>;
  readonly validate: InstanceValidator;
  readonly format: PredictionFormatter;
  readonly stripPii: PiiStripper;
  readonly ref: ModelRef;
}

interface VersionEntry {
  state?: VersionState;
  pending?: Promise<VersionState>;
  failure?: { readonly error: unknown; readonly atMs: number };
  /** Remote backends: the loaded model, once its `load` has settled. */
  remoteModel?: BackendModel;
  /** The last resolution handed out, reused while the model behind it is still the loaded one. */
  resolved?: Resolved;
}

interface ModelState {
  readonly name: string;
  readonly modelDims: readonly MetricDimensions[];
  readonly versionDims: Map<string, readonly MetricDimensions[]>;
  readonly versions: Map<string, VersionEntry>;
  /** In-process backends: verified artifacts, loaded once per version. */
  readonly cache?: ModelCache<BackendModel>;
  /** Remote backends: one `load` per version. */
  readonly remote: Map<string, Promise<BackendModel>>;
  /** Versions whose fallback was already logged, so a refused version does not log on every request. */
  readonly fallbackLogged: Set<string>;
}

interface Resolved {
  readonly state: VersionState;
  readonly model: BackendModel;
}

const PATH = /^\/models\/([^/]+)\/invoke\/?$/;

// The constant data points of the per-request metrics, shared by every request (sinks only read them).
const REQUEST: MetricDatum = { name: M.requests, unit: 'Count', value: 1 };
const ERROR_0: MetricDatum = { name: M.errors, unit: 'Count', value: 0 };
const ERROR_1: MetricDatum = { name: M.errors, unit: 'Count', value: 1 };
const INVALID_0: MetricDatum = { name: M.invalidInput, unit: 'Count', value: 0 };
const INVALID_1: MetricDatum = { name: M.invalidInput, unit: 'Count', value: 1 };
const COLD_START: MetricDatum = { name: M.coldStart, unit: 'Count', value: 1 };
const INTEGRITY_FAILURE: readonly MetricDatum[] = [
  { name: M.integrityFailures, unit: 'Count', value: 1 },
  ERROR_1,
];
const CAPTURE_ERROR: readonly MetricDatum[] = [{ name: M.captureErrors, unit: 'Count', value: 1 }];

/** Resolves settings with defaults and checks them; throws RangeError naming the bad value. */
export function resolveInferenceSettings(input: InferenceSettingsInput = {}): InferenceSettings {
  const settings: InferenceSettings = {
    routingCacheTtlMs: input.routingCacheTtlMs ?? DEFAULT_ROUTING_CACHE_TTL_MS,
    limits: { ...DEFAULT_INFERENCE_LIMITS, ...input.limits },
    capture: { ...DEFAULT_CAPTURE_SETTINGS, ...input.capture },
    shadowTolerance: input.shadowTolerance ?? DEFAULT_SHADOW_TOLERANCE,
  };
  const issues = captureSettingsIssues(settings.capture);
  const { maxBodyBytes, maxBatch, maxErrors } = settings.limits;
  for (const [name, v] of Object.entries({ maxBodyBytes, maxBatch, maxErrors })) {
    if (!Number.isSafeInteger(v) || v < 1) issues.push(`${name} must be a whole number >= 1, got ${v}`);
  }
  if (!Number.isFinite(settings.routingCacheTtlMs) || settings.routingCacheTtlMs < 0) {
    issues.push(`routingCacheTtlMs must be >= 0, got ${settings.routingCacheTtlMs}`);
  }
  if (!Number.isFinite(settings.shadowTolerance) || settings.shadowTolerance < 0) {
    issues.push(`shadowTolerance must be >= 0, got ${settings.shadowTolerance}`);
  }
  if (issues.length > 0) throw new RangeError(`invalid inference settings: ${issues.join('; ')}`);
  return settings;
}

const errorName = (err: unknown): string => (err instanceof Error ? err.name : typeof err);

/**
 * Creates the app. Per request: path and method → body (size, JSON, shape) → routing record (TTL cache) and
 * version choice → the version's manifest and model (cached; artifact hash verified before loading; a refused or
 * unloadable version falls back to the other arm) → instance validation → predict → format → respond; then shadow
 * comparison, metrics and capture.
 *
 * Capture batches are kept in memory until full or too old; Lambda may freeze or shut the environment down with a
 * partial batch, which is then lost. That is acceptable for sampled capture, not for an audit trail.
 *
 * @example
 * const app = createInferenceApp({ models: ['breast-cancer'], registry, routing, backend, metrics, logger });
 * const res = await app({ method: 'POST', path: '/models/breast-cancer/invoke', headers: {}, body, requestId: 'r1' });
 */
export function createInferenceApp(options: InferenceAppOptions): InferenceApp {
  const { registry, backend, metrics, logger, onFeatureValues } = options;
  const settings = resolveInferenceSettings(options.settings);
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const randomDraw = { random };
  const limits = settings.limits;
  const captureWriter = options.capture;
  const captureOn = captureWriter !== undefined && settings.capture.sampleRate > 0;
  const captureBuffer = createCaptureBuffer(settings.capture);
  let coldStart = true;

  const routingCache = createTtlCache<string, DeploymentRecord | undefined>({
    ttlMs: settings.routingCacheTtlMs,
    load: (model) => options.routing.getDeployment(model),
    now,
    onStale: (model, error, ageMs) =>
      logger.warn('routing record could not be read; serving the previous one', {
        model,
        ageMs,
        error: errorName(error),
      }),
  });

  const models = new Map<string, ModelState>();
  for (const name of options.models) {
    const state: ModelState = {
      name,
      modelDims: [{ [METRIC_DIMENSIONS.model]: name }],
      versionDims: new Map(),
      versions: new Map(),
      remote: new Map(),
      fallbackLogged: new Set(),
      ...(backend.kind === 'in-process'
        ? {
            cache: createModelCache<BackendModel>({
              fetch: (key) => registry.readBytes(key),
              sha256: sha256OfBytes,
              load: (bytes, ref) => {
                const entry = state.versions.get(ref.version)?.state;
                // The app resolves the manifest before asking for the model, so this holds; guard anyway.
                if (entry === undefined)
                  throw new VersionUnavailableError(`manifest of ${ref.version} not loaded`);
                return backend.load(ref.version, entry.manifest, bytes);
              },
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
            }),
          }
        : {}),
    };
    models.set(name, state);
  }
  // The exact paths of the served models, so the common request skips the path regex.
  const routes = new Map([...models.values()].map((ms) => [`/models/${ms.name}/invoke`, ms]));

  const dimsFor = (ms: ModelState, version: string): readonly MetricDimensions[] => {
    let dims = ms.versionDims.get(version);
    if (dims === undefined) {
      dims = [{ [METRIC_DIMENSIONS.model]: ms.name, [METRIC_DIMENSIONS.version]: version }, ms.modelDims[0]!];
      ms.versionDims.set(version, dims);
    }
    return dims;
  };

  const emit = (dims: readonly MetricDimensions[], data: readonly MetricDatum[]): void => {
    try {
      metrics.emit(dims, data);
    } catch (err) {
      logger.warn('metrics sink failed', { error: errorName(err) });
    }
  };

  /** The per-request metrics: Requests, Errors and InvalidInput as 0/1, Latency for answered requests. */
  const emitRequest = (
    dims: readonly MetricDimensions[],
    outcome: 'ok' | 'invalid' | 'error',
    latencyMs?: number,
  ): void => {
    const data: MetricDatum[] = [
      REQUEST,
      outcome === 'error' ? ERROR_1 : ERROR_0,
      outcome === 'invalid' ? INVALID_1 : INVALID_0,
    ];
    // Latency of successful requests only: the latency SLI must not be flattered by fast refusals.
    if (latencyMs !== undefined) {
      data.push({ name: M.latency, unit: 'Milliseconds', value: latencyMs, highResolution: true });
    }
    if (coldStart) {
      coldStart = false;
      data.push(COLD_START);
    }
    emit(dims, data);
  };

  const loadVersionState = async (ms: ModelState, version: string): Promise<VersionState> => {
    const key = registeredManifestKey(ms.name, version);
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
      throw new VersionUnavailableError(
        `manifest ${key} is invalid: ${parsed.issues
          .slice(0, 5)
          .map((i) => `${i.path}: ${i.message}`)
          .join('; ')}`,
      );
    }
    const manifest = parsed.manifest;
    if (manifest.name !== ms.name || manifest.version !== version) {
      throw new VersionUnavailableError(
        `manifest ${key} describes ${manifest.name} ${manifest.version}, not ${ms.name} ${version}`,
      );
    }
    return {
      version,
      manifest,
      headers: jsonHeaders(version),
      validate: compileInstanceValidator(manifest, { maxErrors: limits.maxErrors }),
      format: createPredictionFormatter(manifest.outputs),
      stripPii: createPiiStripper(manifest),
      ref: {
        version,
        artifactKey: registeredArtifactKey(ms.name, version, manifest.artifact.sha256, manifest.framework),
        sha256: manifest.artifact.sha256,
      },
    };
  };

  /** The version's compiled state: cached forever once loaded; a failure is remembered for one routing TTL. */
  const versionState = (ms: ModelState, version: string): VersionState | Promise<VersionState> => {
    let entry = ms.versions.get(version);
    if (entry?.state !== undefined) return entry.state;
    if (entry?.pending !== undefined) return entry.pending;
    if (entry?.failure !== undefined && now() - entry.failure.atMs < settings.routingCacheTtlMs) {
      return Promise.reject(entry.failure.error);
    }
    entry ??= {};
    ms.versions.set(version, entry);
    const e = entry;
    const pending = loadVersionState(ms, version).then(
      (state) => {
        e.state = state;
        e.pending = undefined;
        e.failure = undefined;
        return state;
      },
      (error: unknown) => {
        e.pending = undefined;
        e.failure = { error, atMs: now() };
        throw error;
      },
    );
    e.pending = pending;
    return pending;
  };

  const remoteModel = (ms: ModelState, state: VersionState): Promise<BackendModel> => {
    let pending = ms.remote.get(state.version);
    if (pending === undefined) {
      pending = backend.load(state.version, state.manifest);
      ms.remote.set(state.version, pending);
      const entry = ms.versions.get(state.version);
      pending.then(
        (model) => {
          if (entry !== undefined) entry.remoteModel = model;
        },
        // Failures are not kept: the next request tries again.
        () => ms.remote.delete(state.version),
      );
    }
    return pending;
  };

  /**
   * The version's state and model if both are already loaded, synchronously: the warm path of every request after
   * the first (no promise, no allocation). Undefined otherwise; {@link tryResolve} then loads (or refuses) them.
   */
  const loadedResolution = (ms: ModelState, version: string): Resolved | undefined => {
    const entry = ms.versions.get(version);
    const state = entry?.state;
    if (entry === undefined || state === undefined) return undefined;
    const model = ms.cache !== undefined ? ms.cache.peek(state.ref) : entry.remoteModel;
    if (model === undefined) return undefined;
    let resolved = entry.resolved;
    if (resolved === undefined || resolved.model !== model) entry.resolved = resolved = { state, model };
    return resolved;
  };

  const resolve = async (ms: ModelState, version: string): Promise<Resolved> => {
    const state = await versionState(ms, version);
    const model = ms.cache !== undefined ? await ms.cache.get(state.ref) : await remoteModel(ms, state);
    return { state, model };
  };

  /** Resolves a version; counts an integrity refusal (IntegrityFailures + Errors under that version). */
  const tryResolve = async (
    ms: ModelState,
    version: string,
  ): Promise<{ ok: true; resolved: Resolved } | { ok: false; error: unknown }> => {
    try {
      return { ok: true, resolved: await resolve(ms, version) };
    } catch (error) {
      if (error instanceof ArtifactIntegrityError) {
        emit(dimsFor(ms, version), INTEGRITY_FAILURE);
      }
      return { ok: false, error };
    }
  };

  const describeFailure = (version: string, error: unknown): string =>
    error instanceof ArtifactIntegrityError
      ? `version "${version}" was refused: its artifact does not match the registered sha256`
      : `version "${version}" could not be loaded (${errorName(error)})`;

  const runShadow = async (
    ms: ModelState,
    candidate: string,
    instances: readonly Instance[],
    served: readonly Prediction[],
    requestId: string,
    stable: string,
  ): Promise<void> => {
    const dims = dimsFor(ms, candidate);
    try {
      const attempt = await tryResolve(ms, candidate);
      if (!attempt.ok) throw attempt.error;
      const { state, model } = attempt.resolved;
      const errors = state.validate(instances);
      if (errors.length > 0) {
        throw new VersionUnavailableError(
          `the candidate's input schema refuses the request (${errors.length} field errors)`,
        );
      }
      const predictions = state.format(await model.predict(instances), instances.length);
      const where = findDisagreement(served, predictions, settings.shadowTolerance);
      emit(dims, [{ name: M.shadowDisagreement, unit: 'Count', value: where === undefined ? 0 : 1 }]);
      if (where !== undefined) {
        // The location only (e.g. "[0].probabilities.benign"), never the values.
        logger.info('shadow disagreement', { requestId, model: ms.name, stable, candidate, at: where });
      }
    } catch (err) {
      emit(dims, [{ name: M.shadowErrors, unit: 'Count', value: 1 }]);
      logger.warn('shadow candidate failed; the stable answer was returned', {
        requestId,
        model: ms.name,
        stable,
        candidate,
        error: errorName(err),
        reason: err instanceof Error ? err.message : String(err),
      });
    }
  };

  const writeBatch = async (batch: CaptureBatch, nowMs: number): Promise<void> => {
    const key = captureObjectKey(batch.model, nowMs, randomSuffix(random));
    try {
      await captureWriter!.write(key, toJsonLines(batch.records));
    } catch (err) {
      const ms = models.get(batch.model);
      if (ms !== undefined) emit(ms.modelDims, CAPTURE_ERROR);
      logger.error('capture batch could not be written; its records are dropped', {
        model: batch.model,
        key,
        records: batch.records.length,
        error: err as Error,
      });
    }
  };

  const capture = async (
    ms: ModelState,
    state: VersionState,
    instances: readonly Instance[],
    predictions: readonly Prediction[],
    requestId: string,
  ): Promise<void> => {
    const nowMs = now();
    const batches: CaptureBatch[] = [];
    if (shouldCapture(settings.capture.sampleRate, random)) {
      const full = captureBuffer.add(
        {
          requestId,
          time: new Date(nowMs).toISOString(),
          model: ms.name,
          version: state.version,
          instances: state.stripPii(instances),
          predictions,
        },
        nowMs,
      );
      if (full !== undefined) batches.push(full);
    }
    if (captureBuffer.size > 0) batches.push(...captureBuffer.takeExpired(nowMs));
    for (const batch of batches) await writeBatch(batch, nowMs);
  };

  /** Per-request context, so the last-resort handler knows which dimensions to count the failure under. */
  interface RequestContext {
    model?: ModelState;
    version?: string;
  }

  const handle = async (request: HttpRequest, ctx: RequestContext): Promise<HttpResponse> => {
    const startedAt = performance.now();
    const requestId = request.requestId;
    let ms = routes.get(request.path);
    if (ms === undefined) {
      const match = PATH.exec(request.path);
      if (match === null) {
        return errorResponse(
          'ModelNotFound',
          'no such route; POST /models/{name}/invoke with {"instances":[...]}',
          requestId,
        );
      }
      ms = models.get(match[1]!);
      if (ms === undefined) {
        return errorResponse(
          'ModelNotFound',
          `model "${match[1]!.slice(0, 64)}" is not served here (models: ${[...models.keys()].join(', ')})`,
          requestId,
        );
      }
    }
    if (request.method !== 'POST' && request.method.toUpperCase() !== 'POST') {
      return errorResponse(
        'MethodNotAllowed',
        `use POST on /models/${ms.name}/invoke`,
        requestId,
        undefined,
        { allow: 'POST' },
      );
    }
    ctx.model = ms;

    // Body: size before decoding or parsing, so an oversized body costs no more than its length check.
    let text = request.body;
    if (text === undefined || text === null) {
      emitRequest(ms.modelDims, 'invalid');
      return errorResponse('InvalidInput', 'the request has no body', requestId, [
        { path: '(body)', message: 'is missing; send a JSON object with "instances"' },
      ]);
    }
    if (request.isBase64Encoded === true) {
      if (Math.floor((text.length * 3) / 4) > limits.maxBodyBytes + 2) {
        emitRequest(ms.modelDims, 'invalid');
        return errorResponse('PayloadTooLarge', 'the request is too large', requestId, [
          {
            path: '(body)',
            message: `is larger than ${limits.maxBodyBytes} bytes; send fewer instances per request`,
          },
        ]);
      }
      text = Buffer.from(text, 'base64').toString('utf8');
    }
    const parsed = parseInferenceBody(text, limits);
    if (!parsed.ok) {
      emitRequest(ms.modelDims, 'invalid');
      return parsed.status === 413
        ? errorResponse('PayloadTooLarge', 'the request is too large', requestId, parsed.errors)
        : errorResponse('InvalidInput', 'the request is invalid', requestId, parsed.errors);
    }
    const { instances, routingKey } = parsed.request;

    // Routing: the cached record synchronously while it is fresh (the common case), else a shared load.
    let record: DeploymentRecord | undefined;
    let decision: ReturnType<typeof chooseVersion>;
    try {
      const fresh = routingCache.peek(ms.name);
      record = fresh !== undefined ? fresh.value : await routingCache.get(ms.name);
      decision = chooseVersion(record, routingKey === undefined ? randomDraw : { routingKey, random });
    } catch (err) {
      emitRequest(ms.modelDims, 'error');
      if (err instanceof ModelNotServableError) {
        logger.warn('model not servable', { requestId, model: ms.name, reason: err.message });
        return errorResponse(
          'ModelNotServable',
          `${err.message}. Promote a registered version first (locally: modelops promote ${ms.name} <version>).`,
          requestId,
        );
      }
      logger.error('routing record could not be read', { requestId, model: ms.name, error: err as Error });
      return errorResponse(
        'ModelNotServable',
        `the routing record of model "${ms.name}" could not be read; retry shortly`,
        requestId,
      );
    }

    // The version and its model (synchronously once both are loaded), falling back to the other arm when the chosen
    // one cannot serve.
    let version = decision.serve;
    let resolved = loadedResolution(ms, version);
    let fellBack = false;
    if (resolved === undefined) {
      let attempt = await tryResolve(ms, version);
      if (!attempt.ok) {
        const first = attempt.error;
        const stable = record!.stable;
        const candidate = typeof record!.candidate === 'string' ? record!.candidate : undefined;
        const other = version === stable ? candidate : stable;
        if (other !== undefined && other !== version) {
          const second = await tryResolve(ms, other);
          if (second.ok) {
            if (!ms.fallbackLogged.has(version)) {
              ms.fallbackLogged.add(version);
              logger.warn('chosen version cannot serve; serving the other arm', {
                requestId,
                model: ms.name,
                chosen: version,
                served: other,
                reason: describeFailure(version, first),
              });
            }
            attempt = second;
            version = other;
            fellBack = true;
          } else {
            logger.error('no version of the model can serve', {
              requestId,
              model: ms.name,
              versions: [version, other],
              reasons: [describeFailure(version, first), describeFailure(other, second.error)],
            });
          }
        } else {
          logger.error('the only version of the model cannot serve', {
            requestId,
            model: ms.name,
            version,
            reason: describeFailure(version, first),
          });
        }
        if (!attempt.ok) {
          ctx.version = version;
          emitRequest(dimsFor(ms, version), 'error');
          return errorResponse(
            'ModelNotServable',
            `model "${ms.name}" cannot be served right now: ${describeFailure(version, first)}`,
            requestId,
          );
        }
      }
      resolved = attempt.resolved;
    }
    if (!fellBack && ms.fallbackLogged.size > 0) ms.fallbackLogged.delete(version);
    const { state, model } = resolved;
    ctx.version = version;
    const dims = dimsFor(ms, version);

    // Validation: every field error of every instance; pii values are redacted by the validator.
    const fieldErrors = state.validate(instances);
    if (fieldErrors.length > 0) {
      emitRequest(dims, 'invalid');
      return errorResponse(
        'InvalidInput',
        "the instances do not match the model's input schema",
        requestId,
        fieldErrors,
      );
    }
    const valid = instances as readonly Instance[];
    if (onFeatureValues !== undefined) {
      try {
        onFeatureValues(ms.name, version, valid);
      } catch (err) {
        logger.warn('feature value hook failed', {
          requestId,
          model: ms.name,
          version,
          error: errorName(err),
        });
      }
    }

    let predictions: Prediction[];
    try {
      predictions = state.format(await model.predict(valid), valid.length);
    } catch (err) {
      if (err instanceof FeatureEncodingError) {
        emitRequest(dims, 'invalid');
        const details: FieldError[] = err.issues.map((i) => ({
          path: `instances[${i.instance}].${i.feature}`,
          message: i.message,
        }));
        return errorResponse(
          'InvalidInput',
          'the instances cannot be encoded for this model',
          requestId,
          details,
        );
      }
      if (
        err instanceof BackendError ||
        (backend.kind === 'remote' && err instanceof PredictionFormatError)
      ) {
        emitRequest(dims, 'error');
        logger.error('backend failed', { requestId, model: ms.name, version, error: errorName(err) });
        return errorResponse('BadGateway', err.message, requestId);
      }
      throw err;
    }

    const response: HttpResponse = {
      statusCode: 200,
      headers: state.headers,
      body: JSON.stringify({ model: ms.name, version, requestId, predictions }),
    };
    // No per-request log line on success: Requests and Latency per version carry it, and a Powertools log call
    // costs even when its level is filtered out (it reads the environment). Refusals and failures are logged.
    emitRequest(dims, 'ok', performance.now() - startedAt);

    // After the answer is computed; awaited because Lambda freezes the environment once the response is returned.
    if (decision.shadow !== undefined && !fellBack) {
      await runShadow(ms, decision.shadow, valid, predictions, requestId, version);
    }
    if (captureOn) await capture(ms, state, valid, predictions, requestId);
    return response;
  };

  /** The warm-up of one model: its routing record, then its versions (stable first). Never rejects. */
  const warmModel = async (ms: ModelState, afterFirstRead: () => Promise<void>): Promise<void> => {
    try {
      const record = await routingCache.get(ms.name);
      const decision = chooseVersion(record, randomDraw);
      const stable = resolve(ms, record?.stable ?? decision.serve);
      // Handled now, awaited below: it may settle while the runtime loads.
      stable.catch(() => undefined);
      // The manifest read is under way: load the runtime while it (and then the artifact) downloads.
      await afterFirstRead();
      await stable;
      const candidate = record?.candidate;
      if (typeof candidate === 'string' && candidate !== record?.stable) await resolve(ms, candidate);
    } catch (err) {
      logger.debug('warm-up stopped; requests will load what they need', {
        model: ms.name,
        error: errorName(err),
      });
    }
  };

  if (options.warmUp === true) {
    let prepared: Promise<void> | undefined;
    // Two turns of the event loop let the socket connect and write the request before the backend's synchronous
    // load (ONNX Runtime's native module) blocks the loop; its response then arrives while that load runs.
    const prepareOnce = (): Promise<void> =>
      (prepared ??= new Promise<void>((r) => setImmediate(r))
        .then(() => new Promise<void>((r) => setImmediate(r)))
        .then(() => backend.prepare?.()));
    for (const ms of models.values()) void warmModel(ms, prepareOnce);
  }

  const flush = (): void => {
    try {
      metrics.flush();
    } catch (err) {
      logger.warn('metrics flush failed', { error: errorName(err) });
    }
  };

  const answered = (response: HttpResponse): HttpResponse => {
    flush();
    return response;
  };

  const failed = (request: HttpRequest, ctx: RequestContext, err: unknown): HttpResponse => {
    try {
      const requestId = typeof request?.requestId === 'string' ? request.requestId : 'unknown';
      logger.error('unexpected error', {
        requestId,
        model: ctx.model?.name,
        version: ctx.version,
        error: err as Error,
      });
      if (ctx.model !== undefined) {
        emitRequest(
          ctx.version === undefined ? ctx.model.modelDims : dimsFor(ctx.model, ctx.version),
          'error',
        );
      }
      return errorResponse('InternalError', `internal error; quote request id ${requestId}`, requestId);
    } finally {
      flush();
    }
  };

  // `then` on the handler's promise rather than an async wrapper awaiting it: one promise turn less per request.
  return (request) => {
    const ctx: RequestContext = {};
    return handle(request, ctx).then(answered, (err: unknown) => failed(request, ctx, err));
  };
}
