/**
 * The serving pipeline, without HTTP: route (cached routing record → version choice) → resolve (the version
 * loader; the fallback rule when the chosen version cannot serve) → validate → predict → format, with the request's
 * metrics counted by the accounting rule of request-metrics.ts. The HTTP layer (inference-app.ts) parses the body
 * before and maps the outcome to a status code after; tests call `serve` with parsed requests.
 */
import { BackendError, FeatureEncodingError } from '../core/errors';
import type { Instance } from '../core/features';
import type { FieldError } from '../core/inference-request';
import { ArtifactIntegrityError } from '../core/model-cache';
import type {
  ArmValue,
  DeploymentRecord,
  InferenceBackend,
  RoutingSource,
  StructuredLogger,
} from '../core/ports';
import { PredictionFormatError } from '../core/predictions';
import { chooseVersion, fallbackVersion, ModelNotServableError, type RouteDecision } from '../core/routing';
import { createTtlCache } from '../core/ttl-cache';
import type { HookRunner, ServedContext } from './hooks';
import type { ModelMetrics } from './request-metrics';
import { errorName } from './settings';
import { LedgerMismatchError, type LoadedVersion, type VersionLoader } from './version-loader';

/** A parsed request (lambdas/core/inference-request.ts has already checked its shape and size). */
export interface ServeRequest {
  readonly requestId: string;
  readonly instances: readonly unknown[];
  readonly routingKey?: string;
  /** `performance.now()` when the request arrived, for `Latency`. @default when `serve` is called */
  readonly startedAt?: number;
}

/** A served request: also the context the after-response hooks receive. */
export interface ServedOutcome extends ServedContext {
  readonly kind: 'served';
  /** The 200 response's headers for this version (shared, frozen). */
  readonly headers: Readonly<Record<string, string>>;
}

export type ServeOutcome =
  | ServedOutcome
  /** 400: the instances do not fit the version's schema or cannot be encoded. */
  | { readonly kind: 'invalid'; readonly message: string; readonly details: readonly FieldError[] }
  /** 503: nothing to serve (not promoted, routing unreadable, every arm refused or unloadable). */
  | { readonly kind: 'not-servable'; readonly message: string }
  /** 502: the remote backend failed or answered something that does not fit. */
  | { readonly kind: 'backend-failed'; readonly message: string }
  /** A bug: already counted as an error; the HTTP layer logs it and answers 500. */
  | { readonly kind: 'failed'; readonly error: unknown; readonly version: string | undefined };

/** One served model: its loader and its metrics. */
export interface ServedModel {
  readonly name: string;
  readonly loader: VersionLoader;
  readonly metrics: ModelMetrics;
}

export interface ServingPipelineOptions {
  readonly models: readonly ServedModel[];
  readonly routing: RoutingSource;
  readonly backend: Pick<InferenceBackend, 'kind'>;
  readonly routingCacheTtlMs: number;
  readonly logger: StructuredLogger;
  readonly now: () => number;
  readonly random: () => number;
  /** Left undefined when there are no hooks: served requests then cost no hook work at all. */
  readonly afterResponse: HookRunner | undefined;
}

export interface ServingPipeline {
  /** Serves one parsed request for a model. Never rejects. */
  serve(model: string, request: ServeRequest): Promise<ServeOutcome>;
  /** Runs the after-response hooks on a served request; undefined when there is nothing to wait for. */
  afterResponse(outcome: ServedOutcome): Promise<void> | undefined;
  model(name: string): ServedModel | undefined;
  /** The model's routing record through the routing cache (warm-up). */
  routingRecord(model: string): Promise<DeploymentRecord | undefined>;
}

const LEDGER_REASONS: Record<LedgerMismatchError['check'], string> = {
  record: 'it has no usable ModelVersions record',
  status: 'it is not REGISTERED in ModelVersions',
  manifestKey: 'its ModelVersions record names another manifest',
  manifestSha256: 'its manifest does not match the sha256 in ModelVersions',
  artifactSha256: "its manifest's artifact sha256 does not match ModelVersions",
  signature: 'its ModelVersions record has no valid signature',
};

/** An integrity refusal: the version's objects disagree with the ledger (counted as `IntegrityFailures`). */
const isIntegrityRefusal = (error: unknown): boolean =>
  error instanceof ArtifactIntegrityError || error instanceof LedgerMismatchError;

const describeFailure = (version: string, error: unknown): string =>
  error instanceof ArtifactIntegrityError
    ? `version "${version}" was refused: its artifact does not match the registered sha256`
    : error instanceof LedgerMismatchError
      ? `version "${version}" was refused: ${LEDGER_REASONS[error.check]}`
      : `version "${version}" could not be loaded (${errorName(error)})`;

type Resolution = { readonly kind: 'loaded'; readonly loaded: LoadedVersion } | ServeOutcome;

export function createServingPipeline(options: ServingPipelineOptions): ServingPipeline {
  const { logger, random, afterResponse } = options;
  const randomDraw = { random };
  const remote = options.backend.kind === 'remote';
  const models = new Map(options.models.map((m) => [m.name, m]));
  // Versions whose fallback was already logged, so a refused version does not log on every request.
  const fallbackLogged = new Map(options.models.map((m) => [m.name, new Set<string>()]));
  const routingCache = createTtlCache<string, DeploymentRecord | undefined>({
    ttlMs: options.routingCacheTtlMs,
    load: (model) => options.routing.getDeployment(model),
    now: options.now,
    onStale: (model, error, ageMs) =>
      logger.warn('routing record could not be read; serving the previous one', {
        model,
        ageMs,
        error: errorName(error),
      }),
  });

  /** The chosen version, else the other arm by {@link fallbackVersion}; counts every arm that could not serve. */
  const resolve = async (
    m: ServedModel,
    decision: RouteDecision,
    record: DeploymentRecord,
    requestId: string,
  ): Promise<Resolution> => {
    const logged = fallbackLogged.get(m.name)!;
    const failed: string[] = [];
    const reasons: string[] = [];
    for (let v = fallbackVersion(decision, record, failed); v !== undefined;) {
      try {
        const loaded = m.loader.peek(v) ?? (await m.loader.load(v));
        if (failed.length === 0) {
          if (logged.size > 0) logged.delete(v);
        } else {
          const chosen = failed[0]!;
          m.metrics.failedArm(chosen, true, armOf(record, chosen));
          if (!logged.has(chosen)) {
            logged.add(chosen);
            logger.warn('chosen version cannot serve; serving the other arm', {
              requestId,
              model: m.name,
              chosen,
              served: v,
              reason: reasons[0],
            });
          }
        }
        return { kind: 'loaded', loaded };
      } catch (error) {
        if (isIntegrityRefusal(error)) m.metrics.integrityFailure(v);
        failed.push(v);
        reasons.push(describeFailure(v, error));
        v = fallbackVersion(decision, record, failed);
      }
    }
    // Nothing can serve: the request fails under the chosen version; any other arm tried counts its own failure.
    const chosen = failed[0]!;
    m.metrics.request(m.metrics.version(chosen, armOf(record, chosen)).both, 'error');
    for (const other of failed.slice(1)) m.metrics.failedArm(other, false, armOf(record, other));
    if (failed.length > 1) {
      logger.error('no version of the model can serve', {
        requestId,
        model: m.name,
        versions: failed,
        reasons,
      });
    } else {
      logger.error('the only version of the model cannot serve', {
        requestId,
        model: m.name,
        version: chosen,
        reason: reasons[0],
      });
    }
    return { kind: 'not-servable', message: `model "${m.name}" cannot be served right now: ${reasons[0]}` };
  };

  const serveModel = async (m: ServedModel, request: ServeRequest): Promise<ServeOutcome> => {
    const startedAt = request.startedAt ?? performance.now();
    const { requestId, routingKey } = request;
    // Route: the cached record synchronously while it is fresh (the common case), else a shared load.
    let record: DeploymentRecord | undefined;
    let decision: RouteDecision;
    try {
      const fresh = routingCache.peek(m.name);
      record = fresh !== undefined ? fresh.value : await routingCache.get(m.name);
      decision = chooseVersion(record, routingKey === undefined ? randomDraw : { routingKey, random });
    } catch (err) {
      m.metrics.request(m.metrics.modelDims, 'error');
      if (err instanceof ModelNotServableError) {
        logger.warn('model not servable', { requestId, model: m.name, reason: err.message });
        return {
          kind: 'not-servable',
          message: `${err.message}. Promote a registered version first (locally: modelops promote ${m.name} <version>).`,
        };
      }
      logger.error('routing record could not be read', { requestId, model: m.name, error: err as Error });
      return {
        kind: 'not-servable',
        message: `the routing record of model "${m.name}" could not be read; retry shortly`,
      };
    }

    // Resolve: synchronously once the chosen version is loaded, else through the loader and the fallback rule.
    const chosen = decision.serve;
    let version: string | undefined;
    try {
      let loaded = m.loader.peek(chosen);
      if (loaded === undefined) {
        const resolution = await resolve(m, decision, record!, requestId);
        if (resolution.kind !== 'loaded') return resolution;
        loaded = resolution.loaded;
      }
      const { state, model } = loaded;
      version = state.version;
      const dims = m.metrics.version(version, armOf(record!, version)).both;
      // Validate: every field error of every instance; pii values are redacted by the validator.
      const fieldErrors = state.validate(request.instances);
      if (fieldErrors.length > 0) {
        m.metrics.request(dims, 'invalid');
        return {
          kind: 'invalid',
          message: "the instances do not match the model's input schema",
          details: fieldErrors,
        };
      }
      const instances = request.instances as readonly Instance[];
      let predictions;
      try {
        predictions = state.format(await model.predict(instances), instances.length);
      } catch (err) {
        if (err instanceof FeatureEncodingError) {
          m.metrics.request(dims, 'invalid');
          const details = err.issues.map((i) => ({
            path: `instances[${i.instance}].${i.feature}`,
            message: i.message,
          }));
          return { kind: 'invalid', message: 'the instances cannot be encoded for this model', details };
        }
        if (err instanceof BackendError || (remote && err instanceof PredictionFormatError)) {
          m.metrics.request(dims, 'error');
          logger.error('backend failed', { requestId, model: m.name, version, error: errorName(err) });
          return { kind: 'backend-failed', message: err.message };
        }
        throw err;
      }
      m.metrics.request(dims, 'ok', performance.now() - startedAt);
      return {
        kind: 'served',
        requestId,
        model: m.name,
        version,
        chosenVersion: chosen,
        shadowVersion: decision.shadow,
        instances,
        predictions,
        manifest: state.manifest,
        headers: state.headers,
      };
    } catch (error) {
      m.metrics.request(
        version === undefined
          ? m.metrics.modelDims
          : m.metrics.version(version, record === undefined ? undefined : armOf(record, version)).both,
        'error',
      );
      return { kind: 'failed', error, version };
    }
  };

  return {
    serve(name, request) {
      const m = models.get(name);
      if (m === undefined) {
        const error = new RangeError(`model "${name}" is not served here`);
        return Promise.resolve({ kind: 'failed', error, version: undefined });
      }
      return serveModel(m, request);
    },
    afterResponse: afterResponse === undefined ? () => undefined : afterResponse,
    model: (name) => models.get(name),
    routingRecord: (model) => routingCache.get(model),
  };
}

/**
 * The `Arm` a version's metrics also carry: only while a canary routes traffic (a candidate other than stable, not
 * in shadow mode, where the candidate never answers), so `{Model, Arm=candidate}` exists exactly during a rollout.
 */
export function armOf(record: DeploymentRecord, version: string): ArmValue | undefined {
  const { stable, candidate } = record;
  if (candidate === undefined || candidate === null || candidate === '' || candidate === stable)
    return undefined;
  if (record.mode === 'shadow') return undefined;
  return version === candidate ? 'candidate' : 'stable';
}
