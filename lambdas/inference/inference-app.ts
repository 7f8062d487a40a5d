/**
 * The inference app's HTTP layer: `POST /models/{name}/invoke` → path and method → body (size, JSON, shape) → the
 * serving pipeline (serving-pipeline.ts: route, resolve, validate, predict, format) → status code and body → the
 * after-response hooks (shadow, capture, and any given in `hooks`). One implementation behind the Lambda Function URL
 * (ONNX in-process), the SageMaker router and the local server; only the backend differs.
 *
 * Request contract: lambdas/core/inference-request.ts. Response 200:
 * `{"model":"breast-cancer","version":"1.0.0","requestId":"…","predictions":[{"label":"benign","probabilities":{…}}]}`
 * with header `x-modelops-version`. Errors: `{"error":{"code","message","details"?},"requestId"}` with 400
 * InvalidInput, 404 ModelNotFound, 405 MethodNotAllowed, 413 PayloadTooLarge, 502 BadGateway (remote backend),
 * 503 ModelNotServable, 500 InternalError (bugs only; bad input never gets there).
 *
 * `POST /models/{name}/feedback` (labels joined with logged predictions) is ./feedback-route.ts.
 */
import { createPiiStripper, type CaptureWriter } from '../core/capture';
import { parseInferenceBody } from '../core/inference-request';
import type {
  InferenceBackend,
  MetricsSink,
  ModelSigner,
  RegistryStore,
  PredictionLogStore,
  RoutingSource,
  StructuredLogger,
  VersionReader,
} from '../core/ports';
import { createCaptureHook } from './capture-hook';
import { createFeedbackRoute, FEEDBACK_PATH } from './feedback-route';
import { composeHooks, type AfterResponseHook } from './hooks';
import { errorResponse, type HttpRequest, type HttpResponse } from './http';
import { createRequestMetrics, type ModelMetrics } from './request-metrics';
import { createServingPipeline, type ServedModel, type ServeOutcome } from './serving-pipeline';
import {
  latencyThresholdFor,
  limitsFor,
  resolveInferenceSettings,
  type InferenceSettingsInput,
} from './settings';
import { createShadowHook } from './shadow-hook';
import { createPredictionLogHook, type FeedbackServingSettings } from './prediction-log-hook';
import { createVersionLoader } from './version-loader';
import { warmUp } from './warm-up';
import { createCandidateWarmer } from './warm-candidate';
import type { WarmCandidateRequest, WarmCandidateResult } from '../core/candidate-warm';

export {
  DEFAULT_ROUTING_CACHE_TTL_MS,
  DEFAULT_SHADOW_TOLERANCE,
  DEFAULT_LATENCY_THRESHOLD_MS,
  resolveInferenceSettings,
  type InferenceSettings,
  type InferenceSettingsInput,
} from './settings';
export { LedgerMismatchError, VersionUnavailableError } from './version-loader';
export type { AfterResponseHook, ServedContext } from './hooks';

export interface InferenceAppOptions {
  /** Names of the models this app serves; a request for any other name gets 404. */
  readonly models: readonly string[];
  /** Reads `models/<name>/<version>/manifest.json` and the artifact. */
  readonly registry: RegistryStore;
  /**
   * The ModelVersions table (one GetItem per version, on its first load): a version is served only if its record is
   * REGISTERED and its manifest and artifact match the record's hashes.
   */
  readonly versions: VersionReader;
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
   * After-response hooks (e.g. the drift counter, the prediction log), run after shadow and capture on every served
   * request, in order. None by default, and then free.
   * @default []
   */
  readonly hooks?: readonly AfterResponseHook[];
  /** Loaded models kept per model name (stable, candidate, the previous stable). @default 3 */
  readonly maxLoadedVersions?: number;
  /** Verifies each version's record signature before its first load (version-loader.ts). @default none: unchecked */
  readonly signer?: ModelSigner;
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
  /**
   * Label feedback (docs/inference.md, Feedback): the prediction log the `prediction-log` hook writes sampled
   * requests to and `POST /models/{name}/feedback` joins labels with. Without it, feedback posts get 404
   * FeedbackNotEnabled; with every model's sample rate 0 no hook runs but labels for logged predictions still join.
   * @default - feedback off
   */
  readonly feedback?: {
    readonly store: PredictionLogStore;
    readonly settings: (model: string) => FeedbackServingSettings | undefined;
  };
}

/** Handles one HTTP request. Never rejects: every failure becomes an error response. */
export interface HttpInferenceApp {
  (request: HttpRequest): Promise<HttpResponse>;
  /** Settles when the warm-up (if any) has finished, successfully or not. Never rejects. */
  readonly ready: Promise<void>;
}

/** The app: its HTTP handling, and the candidate warm-up DeployCandidate invokes. */
export interface InferenceApp extends HttpInferenceApp {
  /**
   * DeployCandidate's warm-up (./warm-candidate.ts): loads `version` through the model's loader and runs its smoke
   * samples through the serving stages; never rejects. Reached only by a direct invocation (the Lambda handler) or
   * local mode's guarded `POST /candidates/warm`, never by an HTTP request to the app.
   */
  readonly warmCandidate: (request: WarmCandidateRequest) => Promise<WarmCandidateResult>;
}

const PATH = /^\/models\/([^/]+)\/invoke\/?$/;

/**
 * Creates the app. See the file header for the flow; metrics accounting is request-metrics.ts.
 *
 * @example
 * const app = createInferenceApp({ models: ['breast-cancer'], registry, versions, routing, backend, metrics, logger });
 * const res = await app({ method: 'POST', path: '/models/breast-cancer/invoke', headers: {}, body, requestId: 'r1' });
 */
export function createInferenceApp(options: InferenceAppOptions): InferenceApp {
  const { registry, backend, logger } = options;
  const settings = resolveInferenceSettings(options.settings);
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const defaultLimits = settings.limits;
  const limitsOf = new Map(options.models.map((name) => [name, limitsFor(settings, name)]));
  const accounting = createRequestMetrics(options.metrics, logger);

  const served: ServedModel[] = options.models.map((name) => ({
    name,
    metrics: accounting.forModel(name, latencyThresholdFor(settings, name)),
    loader: createVersionLoader({
      model: name,
      registry,
      versions: options.versions,
      backend,
      logger,
      maxErrors: limitsFor(settings, name).maxErrors,
      failureTtlMs: settings.routingCacheTtlMs,
      now,
      ...(options.maxLoadedVersions === undefined ? {} : { maxLoadedVersions: options.maxLoadedVersions }),
      ...(options.signer === undefined ? {} : { signer: options.signer }),
    }),
  }));
  const byName = new Map(served.map((m) => [m.name, m]));
  const metricsOf = (name: string): ModelMetrics | undefined => byName.get(name)?.metrics;

  const hooks: AfterResponseHook[] = [
    createShadowHook({ model: (name) => byName.get(name), tolerance: settings.shadowTolerance, logger }),
  ];
  if (options.capture !== undefined && settings.capture.sampleRate > 0) {
    hooks.push(
      createCaptureHook({
        settings: settings.capture,
        writer: options.capture,
        stripPii: (ctx) =>
          byName.get(ctx.model)?.loader.peek(ctx.version)?.state.stripPii ?? createPiiStripper(ctx.manifest),
        metrics: metricsOf,
        logger,
        now,
        random,
      }),
    );
  }
  if (options.feedback !== undefined) {
    const hook = createPredictionLogHook({ ...options.feedback, logger, now }, options.models);
    if (hook !== undefined) hooks.push(hook);
  }
  hooks.push(...(options.hooks ?? []));
  const feedbackRoute = createFeedbackRoute({
    store: options.feedback?.store,
    maxBodyBytes: defaultLimits.maxBodyBytes,
    now,
  });

  const pipeline = createServingPipeline({
    models: served,
    routing: options.routing,
    backend,
    routingCacheTtlMs: settings.routingCacheTtlMs,
    logger,
    now,
    random,
    afterResponse: composeHooks(hooks, logger),
  });

  // The exact paths of the served models, so the common request skips the path regex.
  const routes = new Map(served.map((m) => [`/models/${m.name}/invoke`, m]));

  const respond = (outcome: ServeOutcome, requestId: string): HttpResponse => {
    switch (outcome.kind) {
      case 'served':
        return {
          statusCode: 200,
          headers: outcome.headers,
          body: JSON.stringify({
            model: outcome.model,
            version: outcome.version,
            requestId,
            predictions: outcome.predictions,
          }),
        };
      case 'invalid':
        return errorResponse('InvalidInput', outcome.message, requestId, outcome.details);
      case 'not-servable':
        return errorResponse('ModelNotServable', outcome.message, requestId);
      case 'backend-failed':
        return errorResponse('BadGateway', outcome.message, requestId);
      case 'failed':
        throw outcome.error;
    }
  };

  /** The model a request addresses, or the 404/405 answer. */
  const route = (request: HttpRequest): ServedModel | HttpResponse => {
    const requestId = request.requestId;
    let m = routes.get(request.path);
    if (m === undefined) {
      const match = PATH.exec(request.path);
      if (match === null) {
        return errorResponse(
          'ModelNotFound',
          'no such route; POST /models/{name}/invoke with {"instances":[...]}',
          requestId,
        );
      }
      m = byName.get(match[1]!);
      if (m === undefined) {
        return errorResponse(
          'ModelNotFound',
          `model "${match[1]!.slice(0, 64)}" is not served here (models: ${[...byName.keys()].join(', ')})`,
          requestId,
        );
      }
    }
    if (request.method !== 'POST' && request.method.toUpperCase() !== 'POST') {
      return errorResponse('MethodNotAllowed', `use POST on /models/${m.name}/invoke`, requestId, undefined, {
        allow: 'POST',
      });
    }
    return m;
  };

  /** Per-request context, so the last-resort handler knows what to count the failure under. */
  interface RequestContext {
    model?: ServedModel;
    version?: string;
    counted?: boolean;
  }

  /** `POST /models/{name}/feedback`: same model and method rules as invoke; not counted as an inference request. */
  const feedback = (
    request: HttpRequest,
    ctx: RequestContext,
    name: string,
  ): Promise<HttpResponse> | HttpResponse => {
    const m = byName.get(name);
    if (m === undefined) {
      return errorResponse(
        'ModelNotFound',
        `model "${name.slice(0, 64)}" is not served here (models: ${[...byName.keys()].join(', ')})`,
        request.requestId,
      );
    }
    if (request.method.toUpperCase() !== 'POST') {
      return errorResponse(
        'MethodNotAllowed',
        `use POST on /models/${m.name}/feedback`,
        request.requestId,
        undefined,
        {
          allow: 'POST',
        },
      );
    }
    ctx.model = m;
    ctx.counted = true; // a failure is logged, but never counted as an inference error
    return feedbackRoute(m, request);
  };

  const handle = async (request: HttpRequest, ctx: RequestContext): Promise<HttpResponse> => {
    const startedAt = performance.now();
    const requestId = request.requestId;
    if (!routes.has(request.path)) {
      const fb = FEEDBACK_PATH.exec(request.path);
      if (fb !== null) return feedback(request, ctx, fb[1]!);
    }
    const m = route(request);
    if (!('loader' in m)) return m;
    ctx.model = m;
    // The model's own limits (config models[].inference); one app may serve several models (local mode).
    const limits = limitsOf.get(m.name) ?? defaultLimits;

    // Body: size before decoding or parsing, so an oversized body costs no more than its length check.
    let text = request.body;
    if (text === undefined || text === null) {
      m.metrics.request(m.metrics.modelDims, 'invalid');
      return errorResponse('InvalidInput', 'the request has no body', requestId, [
        { path: '(body)', message: 'is missing; send a JSON object with "instances"' },
      ]);
    }
    if (request.isBase64Encoded === true) {
      if (Math.floor((text.length * 3) / 4) > limits.maxBodyBytes + 2) {
        m.metrics.request(m.metrics.modelDims, 'invalid');
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
      m.metrics.request(m.metrics.modelDims, 'invalid');
      return parsed.status === 413
        ? errorResponse('PayloadTooLarge', 'the request is too large', requestId, parsed.errors)
        : errorResponse('InvalidInput', 'the request is invalid', requestId, parsed.errors);
    }
    const { instances, routingKey } = parsed.request;
    const outcome = await pipeline.serve(
      m.name,
      routingKey === undefined
        ? { requestId, instances, startedAt }
        : { requestId, instances, routingKey, startedAt },
    );
    if (outcome.kind === 'failed') {
      // The pipeline counted it already.
      ctx.version = outcome.version;
      ctx.counted = true;
      throw outcome.error;
    }
    const response = respond(outcome, requestId);
    // After the answer is computed; awaited because Lambda freezes the environment once the response is returned.
    if (outcome.kind === 'served') {
      const after = pipeline.afterResponse(outcome);
      if (after !== undefined) await after;
    }
    return response;
  };

  const answered = (response: HttpResponse): HttpResponse => {
    accounting.flush();
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
      if (ctx.model !== undefined && ctx.counted !== true) {
        ctx.model.metrics.request(ctx.model.metrics.modelDims, 'error');
      }
      return errorResponse('InternalError', `internal error; quote request id ${requestId}`, requestId);
    } finally {
      accounting.flush();
    }
  };

  const ready =
    options.warmUp === true ? warmUp(pipeline, options.models, backend, logger) : Promise.resolve();

  // `then` on the handler's promise rather than an async wrapper awaiting it: one promise turn less per request.
  const app = (request: HttpRequest): Promise<HttpResponse> => {
    const ctx: RequestContext = {};
    return handle(request, ctx).then(answered, (err: unknown) => failed(request, ctx, err));
  };
  const warmCandidate = createCandidateWarmer({
    models: byName,
    registry,
    versions: options.versions,
    logger,
  });
  return Object.assign(app, { ready, warmCandidate });
}
