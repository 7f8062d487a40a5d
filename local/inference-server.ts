/**
 * The local inference endpoint: `POST http://127.0.0.1:4570/models/{name}/invoke`, a thin node:http adapter over the
 * very app the Lambda handler runs (lambdas/inference/app.ts), with the ONNX backend and an in-memory metrics sink.
 *
 * The adapter only turns a node request into the app's `HttpRequest` and its `HttpResponse` back into bytes. It
 * adds two local-only routes: `GET /healthz` and `GET /metrics` (the sink's snapshot, which tests assert on).
 * A third, `POST /metrics/read`, answers MetricReadRequests from the local time-series store (the CLI's reader). A
 * fourth, `POST /candidates/warm`, is DeployCandidate's warm-up of a candidate (the Lambda target's direct Invoke in
 * AWS): the app loads the version and runs its smoke samples (lambdas/inference/warm-candidate.ts).
 * It never buffers more than a little over MAX_BODY_BYTES of a body and never lets a bad request take it down.
 *
 * Closed to browsers: a web page the developer has open must not be able to call it. A cross-site `text/plain` POST
 * needs no CORS preflight, so inference requires `Content-Type: application/json` (415 otherwise); any request a
 * browser marks as coming from a page (`Origin`, `Sec-Fetch-Site: cross-site|same-site`) and every OPTIONS is refused
 * with 403 and no CORS header; and a `Host` other than 127.0.0.1, localhost or [::1] is refused (DNS rebinding). These
 * checks run before the body is read, so a refused request never reaches the model.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { DEFAULT_INFERENCE_LIMITS } from '../lambdas/core/inference-request';
import { errorResponse, type HttpResponse } from '../lambdas/inference/http';
import {
  parseWarmCandidateEvent,
  type WarmCandidateRequest,
  type WarmCandidateResult,
} from '../lambdas/core/candidate-warm';
import type { HttpInferenceApp } from '../lambdas/inference/inference-app';
import { InMemoryMetricsSink } from '../lambdas/adapters/in-memory-metrics-sink';
import { FanOutMetricsSink, TimeSeriesMetricsStore } from '../lambdas/adapters/local-metric-store';
import { MetricReadError } from '../lambdas/core/metric-read';
import type { MetricReadRequest, MetricsReader } from '../lambdas/core/ports';
import { INFERENCE_ENV, numberEnv } from '../lambdas/shared/env';
import { modelInferenceLimits } from '../lib/config';
import { DRIFT_COUNTERS_TABLE, PREDICTION_LOG_TABLE } from '../lambdas/core/tables';
import type { LocalLogger } from './logger';
import type { LocalService, RunningService } from './start';

export const DEFAULT_HTTP_PORT = 4570;
export const HTTP_PORT_ENV = 'MODELOPS_HTTP_PORT';
export const INFERENCE_SERVICE_NAME = 'inference (HTTP)';

/**
 * Bytes read beyond MAX_BODY_BYTES before the adapter stops buffering and answers 413 itself. A body just over the
 * limit still reaches the app, which answers with its own 413 message; far beyond it, nothing more is kept.
 */
const BODY_SLACK_BYTES = 64 * 1024;
/**
 * After an early 413 the rest of the body is read and discarded (not kept) so the keep-alive connection stays usable
 * and the client sees the response instead of a reset; past this many discarded bytes the socket is closed.
 */
const MAX_DISCARD_BYTES = 64 * 1024 * 1024;

/** Refusals this adapter answers itself, in the app's error body shape (`{ error: { code, message }, requestId }`). */
const LOCAL_ERROR_STATUS = { Forbidden: 403, UnsupportedMediaType: 415 } as const;
type LocalErrorCode = keyof typeof LOCAL_ERROR_STATUS;

export const CROSS_ORIGIN_MESSAGE = 'cross-origin requests are refused by local mode';

function localError(code: LocalErrorCode, message: string, requestId: string): HttpResponse {
  return {
    statusCode: LOCAL_ERROR_STATUS[code],
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ error: { code, message }, requestId }),
  };
}

/** `application/json`, optionally with `; charset=utf-8`, in any case and spacing. */
const JSON_CONTENT_TYPE = /^application\/json[ \t]*(?:;[ \t]*charset[ \t]*=[ \t]*(?:utf-8|"utf-8")[ \t]*)?$/i;
/** The `Host` names local mode answers to, with an optional port. */
const LOCAL_HOST = /^(?:127\.0\.0\.1|localhost|\[::1\])(?::\d{1,5})?$/i;

/** Why a request is refused before its body is read, or undefined to serve it. */
function refusal(req: IncomingMessage, method: string, requestId: string): HttpResponse | undefined {
  const host = req.headers.host;
  if (host === undefined || !LOCAL_HOST.test(host)) {
    return localError(
      'Forbidden',
      `Host "${host ?? ''}" is refused: local mode answers only to 127.0.0.1, localhost and [::1]`,
      requestId,
    );
  }
  const site = req.headers['sec-fetch-site'];
  if (
    req.headers.origin !== undefined ||
    site === 'cross-site' ||
    site === 'same-site' ||
    method === 'OPTIONS'
  ) {
    return localError('Forbidden', CROSS_ORIGIN_MESSAGE, requestId);
  }
  return undefined;
}

/** A client that went away mid-request: normal on a network, worth one INFO line, not an ERROR with a stack. */
function isClientAbort(err: Error): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return (
    code === 'ECONNRESET' ||
    code === 'ERR_STREAM_PREMATURE_CLOSE' ||
    code === 'EPIPE' ||
    err.message === 'aborted'
  );
}

/** Drops a refused request's body without keeping it; a body past MAX_DISCARD_BYTES closes the connection. */
function discardBody(req: IncomingMessage): void {
  let discarded = 0;
  req.on('data', (chunk: Buffer) => {
    discarded += chunk.length;
    if (discarded > MAX_DISCARD_BYTES) req.socket.destroy();
  });
  req.on('error', () => undefined);
}

export interface InferenceServerOptions {
  readonly app: HttpInferenceApp;
  /** 0 = any free port. @default DEFAULT_HTTP_PORT */
  readonly port?: number;
  /** @default 127.0.0.1 (local mode is never reachable from other machines) */
  readonly host?: string;
  /** The app's MAX_BODY_BYTES; the adapter reads at most this plus a small slack. @default 1 MiB */
  readonly maxBodyBytes?: number;
  /** `GET /metrics` returns this; absent → 404. */
  readonly metricsSnapshot?: () => unknown;
  /**
   * `POST /metrics/read` (body: a MetricReadRequest, answer: `{ series }`) reads it; absent → 404. Same guards as
   * every route, plus the JSON Content-Type every POST needs.
   */
  readonly metricsReader?: MetricsReader;
  /**
   * `POST /candidates/warm` (body: exactly a warm-up event, answer: the WarmCandidateResult) calls it; absent → 404.
   * Guarded exactly like `POST /metrics/read`.
   */
  readonly warmCandidate?: (request: WarmCandidateRequest) => Promise<WarmCandidateResult>;
  readonly logger?: LocalLogger;
}

/** The local-only route the CLI's HTTP MetricsReader (cli/metrics-reader.ts) posts a MetricReadRequest to. */
export const METRICS_READ_PATH = '/metrics/read';
/** The local-only route DeployCandidate's Lambda target posts a warm-up event to (local mode's stand-in for Invoke). */
export const WARM_CANDIDATE_PATH = '/candidates/warm';

export interface RunningInferenceServer {
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  stop(): Promise<void>;
}

/**
 * Response headers as the flat `[name, value, …]` list `writeHead` takes without copying, per frozen headers object:
 * the app shares one frozen object per version for every 200, so its list is built once rather than spread per
 * response. Other (per-response) objects are converted each time.
 */
const headerLists = new WeakMap<Readonly<Record<string, string>>, readonly string[]>();

function headerList(headers: Readonly<Record<string, string>>): readonly string[] {
  let list = headerLists.get(headers);
  if (list !== undefined) return list;
  const built: string[] = [];
  for (const name of Object.keys(headers)) {
    // content-length is always the body's, computed per response.
    if (name !== 'content-length') built.push(name, headers[name]!);
  }
  list = built;
  if (Object.isFrozen(headers)) headerLists.set(headers, list);
  return list;
}

function send(res: ServerResponse, response: HttpResponse): void {
  const list = headerList(response.headers);
  const n = list.length;
  const raw = new Array<string>(n + 2);
  for (let i = 0; i < n; i++) raw[i] = list[i]!;
  raw[n] = 'content-length';
  raw[n + 1] = String(Buffer.byteLength(response.body));
  res.writeHead(response.statusCode, raw);
  res.end(response.body);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  send(res, {
    statusCode: status,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

function flatHeaders(req: IncomingMessage): Record<string, string | undefined> {
  // Node joins repeated request headers into one string, except `set-cookie` (an array): without it, the parsed
  // headers already have the app's shape and need no copy.
  if (req.headers['set-cookie'] === undefined) return req.headers as Record<string, string | undefined>;
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/**
 * Request ids: the caller's `x-request-id` when it is a sane token (it is echoed and logged), else this server's
 * random prefix plus a counter: unique like a UUID per request, without drawing 16 random bytes for each.
 */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
function requestIds(): (req: IncomingMessage | undefined) => string {
  const prefix = randomUUID();
  let next = 0;
  return (req) => {
    const given = req?.headers['x-request-id'];
    return typeof given === 'string' && REQUEST_ID.test(given) ? given : `${prefix}-${(next++).toString(36)}`;
  };
}

/** What {@link readBody} calls once: the text, `undefined` for a body over the cap, or the stream's error. */
type BodyCallback = (error: Error | undefined, body: string | undefined) => void;

/**
 * Reads the body up to `cap` bytes and calls `done` once with the text, or with `undefined` as soon as the body is
 * known to be larger (from Content-Length or while streaming); from then on the rest is discarded as it arrives.
 * A callback rather than a promise: this runs for every request, and the promise's extra turns showed in profiles.
 */
function readBody(req: IncomingMessage, cap: number, done: BodyCallback): void {
  const declared = Number(req.headers['content-length']);
  let chunks: Buffer[] | undefined = [];
  let size = 0;
  let discarded = 0;
  if (Number.isFinite(declared) && declared > cap) {
    chunks = undefined;
    done(undefined, undefined);
  }
  req.on('data', (chunk: Buffer) => {
    if (chunks === undefined) {
      discarded += chunk.length;
      if (discarded > MAX_DISCARD_BYTES) req.socket.destroy();
      return;
    }
    size += chunk.length;
    if (size > cap) {
      chunks = undefined;
      done(undefined, undefined);
    } else {
      chunks.push(chunk);
    }
  });
  req.on('end', () => {
    // The usual small body arrives in one chunk: decode it without copying it into a new buffer first.
    if (chunks !== undefined) {
      const whole = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
      chunks = undefined; // settled: a later 'error' must not call `done` again
      done(undefined, whole.toString('utf8'));
    }
  });
  req.on('error', (err) => {
    if (chunks !== undefined) {
      chunks = undefined;
      done(err, undefined);
    }
  });
}

/** Starts the HTTP adapter. The app is built by the caller (see {@link inferenceService} for local mode's). */
export async function startInferenceServer(options: InferenceServerOptions): Promise<RunningInferenceServer> {
  const { app, logger } = options;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_INFERENCE_LIMITS.maxBodyBytes;
  const cap = maxBodyBytes + BODY_SLACK_BYTES;
  const host = options.host ?? '127.0.0.1';

  const requestIdOf = requestIds();

  /** The app maps every expected failure itself; anything here is a bug in the adapter or the app. */
  const fail = (req: IncomingMessage, res: ServerResponse, err: unknown): void => {
    logger?.error(`inference server: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    if (!res.headersSent) send(res, errorResponse('InternalError', 'internal error', requestIdOf(req)));
    else res.destroy();
  };

  const invoke = (
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    path: string,
    requestId: string,
    body: string,
  ): void => {
    app({ method, path, headers: flatHeaders(req), body, isBase64Encoded: false, requestId }).then(
      (response) => {
        try {
          send(res, response);
        } catch (err) {
          fail(req, res, err);
        }
      },
      (err: unknown) => fail(req, res, err),
    );
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const requestId = requestIdOf(req);
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    const method = req.method ?? 'GET';

    const refused = refusal(req, method, requestId);
    if (refused !== undefined) {
      discardBody(req);
      send(res, refused);
      return;
    }

    if (path === '/healthz' || path === '/metrics') {
      req.resume(); // a GET may still carry a body; drop it so the connection can be reused
      if (method !== 'GET') {
        send(
          res,
          errorResponse('MethodNotAllowed', `${path} accepts GET only`, requestId, [], { allow: 'GET' }),
        );
      } else if (path === '/healthz') {
        json(res, 200, { status: 'ok' });
      } else if (options.metricsSnapshot) {
        json(res, 200, options.metricsSnapshot());
      } else {
        send(res, errorResponse('ModelNotFound', 'metrics are not collected by this server', requestId));
      }
      return;
    }

    if ((path === METRICS_READ_PATH || path === WARM_CANDIDATE_PATH) && method !== 'POST') {
      req.resume();
      send(
        res,
        errorResponse('MethodNotAllowed', `${path} accepts POST only`, requestId, [], { allow: 'POST' }),
      );
      return;
    }

    if (method === 'POST') {
      const type = req.headers['content-type'];
      if (type === undefined || !JSON_CONTENT_TYPE.test(type)) {
        discardBody(req);
        send(
          res,
          localError(
            'UnsupportedMediaType',
            `Content-Type must be application/json, got ${type === undefined ? 'none' : `"${type.slice(0, 100)}"`}`,
            requestId,
          ),
        );
        return;
      }
    }

    readBody(req, cap, (error, body) => {
      try {
        respond(req, res, method, path, requestId, error, body);
      } catch (err) {
        fail(req, res, err);
      }
    });
  };

  const respond = (
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    path: string,
    requestId: string,
    error: Error | undefined,
    body: string | undefined,
  ): void => {
    if (error !== undefined && isClientAbort(error)) {
      // readBody reports once per request, so this is the one line an abort costs.
      logger?.info(
        `inference server: client aborted ${method} ${path} (request ${requestId}): ${error.message}`,
      );
      res.destroy();
    } else if (error !== undefined) {
      fail(req, res, error);
    } else if (body === undefined) {
      send(
        res,
        errorResponse(
          'PayloadTooLarge',
          `the request body is larger than ${maxBodyBytes} bytes; send fewer instances per request`,
          requestId,
          [{ path: '(body)', message: `is larger than ${maxBodyBytes} bytes` }],
        ),
      );
    } else if (path === METRICS_READ_PATH) {
      readMetrics(req, res, requestId, body);
    } else if (path === WARM_CANDIDATE_PATH) {
      warmCandidate(req, res, requestId, body);
    } else {
      invoke(req, res, method, path, requestId, body);
    }
  };

  const readMetrics = (req: IncomingMessage, res: ServerResponse, requestId: string, body: string): void => {
    const reader = options.metricsReader;
    if (reader === undefined) {
      send(res, errorResponse('ModelNotFound', 'metrics are not collected by this server', requestId));
      return;
    }
    let request: MetricReadRequest;
    try {
      request = JSON.parse(body) as MetricReadRequest;
    } catch (err) {
      send(res, errorResponse('InvalidInput', `the body is not JSON: ${(err as Error).message}`, requestId));
      return;
    }
    reader.read(request).then(
      (series) => json(res, 200, { series }),
      (err: unknown) => {
        // The reader validates the request (planMetricRead); anything else is a bug and answers 500.
        if (err instanceof MetricReadError) send(res, errorResponse('InvalidInput', err.message, requestId));
        else fail(req, res, err);
      },
    );
  };

  const warmCandidate = (
    req: IncomingMessage,
    res: ServerResponse,
    requestId: string,
    body: string,
  ): void => {
    const warm = options.warmCandidate;
    if (warm === undefined) {
      send(res, errorResponse('ModelNotFound', 'this server does not warm candidates', requestId));
      return;
    }
    let event: unknown;
    try {
      event = JSON.parse(body);
    } catch (err) {
      send(res, errorResponse('InvalidInput', `the body is not JSON: ${(err as Error).message}`, requestId));
      return;
    }
    const parsed = parseWarmCandidateEvent(event);
    if (parsed.kind !== 'warm') {
      const message =
        parsed.kind === 'refused'
          ? parsed.message
          : 'the body is not a warm-up event ({"modelopsWarmCandidate":…})';
      send(res, errorResponse('InvalidInput', message, requestId));
      return;
    }
    // The app's warm-up never rejects; anything here is a bug and answers 500.
    warm(parsed.request).then(
      (result) => json(res, 200, result),
      (err: unknown) => fail(req, res, err),
    );
  };

  const server = createServer({ keepAlive: true }, (req, res) => {
    try {
      handle(req, res);
    } catch (err) {
      fail(req, res, err);
    }
  });
  // Idle keep-alive connections (autocannon, SDK agents) stay open longer than Node's 5 s default.
  server.keepAliveTimeout = 30_000;
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    // Malformed HTTP (bad request line, headers too large): answer if possible, never throw.
    if (socket.writable && !socket.destroyed) {
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
      const text = errorResponse('InvalidInput', 'malformed HTTP request', requestIdOf(undefined)).body;
      socket.end(
        `HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\n` +
          `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`,
      );
    } else {
      socket.destroy();
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? DEFAULT_HTTP_PORT, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  let stopping: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    port,
    server,
    stop: () =>
      (stopping ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}

export interface InferenceServiceOptions {
  /** 0 = any free port. @default MODELOPS_HTTP_PORT or DEFAULT_HTTP_PORT */
  readonly port?: number;
  /** Models served. @default every model in the config */
  readonly models?: readonly string[];
  /**
   * Environment for the inference app (e.g. `{ ROUTING_CACHE_TTL_MS: '200' }` in tests), applied to process.env
   * before the app is built. The registry bucket and tables come from the local runtime.
   */
  readonly environment?: Readonly<Record<string, string>>;
  /** The local metric store the app emits into; pass one to share it (e.g. with the alarm runner). @default a new one */
  readonly metricStore?: TimeSeriesMetricsStore;
  /** Clock of the drift counters' time buckets (tests pass a fake one, with the drift runner's). @default Date.now */
  readonly driftClock?: () => number;
}

/**
 * Local mode's inference endpoint as a `LocalService`: started after the runtime has pointed process.env at the
 * emulators, so the app's SDK clients (created when its module loads) talk to s3rver and dynalite.
 */
export function inferenceService(options: InferenceServiceOptions = {}): LocalService {
  return {
    name: INFERENCE_SERVICE_NAME,
    async start(context) {
      Object.assign(process.env, options.environment ?? {});
      // Feedback: the emulated PredictionLog table, with each model's own `feedback` settings from the config.
      const predictionLog = context.emulators.tables[PREDICTION_LOG_TABLE.envVar];
      if (predictionLog !== undefined) process.env[PREDICTION_LOG_TABLE.envVar] ??= predictionLog;
      const feedbackOf = new Map(context.runtime.config.models.map((m) => [m.name, m.feedback] as const));
      const models = options.models ?? context.runtime.config.models.map((m) => m.name);
      // Imported here, not at the top: the module creates its SDK clients from process.env when it loads.
      const [
        { createOnnxInferenceAppFromEnv },
        { inferenceSettingsFromEnv },
        { createDriftHook },
        { DynamoDriftCounterStore },
        { dynamoDocumentClient },
        { logger: handlerLogger },
      ] = await Promise.all([
        import('../lambdas/inference/app'),
        import('../lambdas/inference/from-env'),
        import('../lambdas/inference/drift-hook'),
        import('../lambdas/adapters/dynamo-drift-counters'),
        import('../lambdas/adapters/clients'),
        import('../lambdas/inference/logger'),
      ]);
      // Drift counting as CDK enables it per function: on when a served model has drift enabled, flushing at the
      // shortest `drift.flushSeconds` among them (one local server serves every model).
      const drifting = context.runtime.config.models.filter(
        (m) => models.includes(m.name) && m.drift.enabled,
      );
      const driftTable = context.emulators.tables[DRIFT_COUNTERS_TABLE.envVar];
      const driftHook =
        drifting.length > 0 && driftTable !== undefined
          ? createDriftHook({
              store: new DynamoDriftCounterStore(dynamoDocumentClient, driftTable),
              logger: handlerLogger,
              now: options.driftClock ?? Date.now,
              flushSeconds: Math.min(...drifting.map((m) => m.drift.flushSeconds)),
            })
          : undefined;
      const metrics = new InMemoryMetricsSink();
      // Each model's own latency SLO threshold, as CDK sets SLO_LATENCY_THRESHOLD_MS per function.
      const latencyThresholdMsByModel = Object.fromEntries(
        context.runtime.config.models.map((m) => [m.name, m.slo.latency.thresholdMs]),
      );
      const metricStore = options.metricStore ?? new TimeSeriesMetricsStore();
      // Each model's own request limits (models[].inference), as CDK sets MAX_BATCH / MAX_BODY_BYTES per function;
      // a variable given in `environment` (tests, an operator's override) still applies to every model.
      const fixed = options.environment ?? {};
      const limitsByModel = Object.fromEntries(
        context.runtime.config.models
          .filter((m) => models.includes(m.name))
          .map((m) => {
            const limits = modelInferenceLimits(m);
            return [
              m.name,
              {
                ...(fixed[INFERENCE_ENV.maxBatch] === undefined ? { maxBatch: limits.maxBatch } : {}),
                ...(fixed[INFERENCE_ENV.maxBodyBytes] === undefined
                  ? { maxBodyBytes: limits.maxBodyBytes }
                  : {}),
              },
            ];
          }),
      );
      const appMaxBodyBytes =
        inferenceSettingsFromEnv().limits?.maxBodyBytes ?? DEFAULT_INFERENCE_LIMITS.maxBodyBytes;
      const app = createOnnxInferenceAppFromEnv({
        models,
        metrics: new FanOutMetricsSink([metrics, metricStore]),
        feedbackSettings: (model) => feedbackOf.get(model),
        latencyThresholdMsByModel,
        limitsByModel,
        ...(driftHook ? { hooks: [driftHook] } : {}),
      });
      const running = await startInferenceServer({
        app,
        port:
          options.port ?? numberEnv(HTTP_PORT_ENV, DEFAULT_HTTP_PORT, { min: 0, max: 65_535, integer: true }),
        // The largest of the app's limits (one server, several models); the app applies each model's own.
        maxBodyBytes: Math.max(
          appMaxBodyBytes,
          ...Object.values(limitsByModel).map((l) => l.maxBodyBytes ?? appMaxBodyBytes),
        ),
        metricsSnapshot: () => metrics.snapshot(),
        metricsReader: metricStore,
        warmCandidate: app.warmCandidate,
        logger: context.logger,
      });
      // The canary judge (AnalyzeCanary) reads this server's metric store, as it reads CloudWatch in AWS.
      context.runtime.provideSetting('metricsReadUrl', running.url);
      // DeployCandidate warms Lambda-served candidates in this server's app, as it invokes the function in AWS.
      context.runtime.provideSetting('candidateWarmUrl', running.url);
      const service: RunningInferenceService = {
        url: `${running.url}/models/{name}/invoke`,
        baseUrl: running.url,
        port: running.port,
        metrics,
        metricStore,
        ...(driftHook ? { flushDrift: () => driftHook.flush() } : {}),
        stop: async () => {
          await running.stop();
          // After the server stopped taking requests, so the last counts are written.
          await driftHook?.close();
        },
      };
      return service;
    },
  };
}

/** What {@link inferenceService} returns: tests find it in `LocalMode.services` by {@link INFERENCE_SERVICE_NAME}. */
export interface RunningInferenceService extends RunningService {
  /** `http://127.0.0.1:<port>`, without a path. */
  readonly baseUrl: string;
  readonly port: number;
  readonly metrics: InMemoryMetricsSink;
  /** The same metrics as time series: what `POST /metrics/read` answers from. */
  readonly metricStore: TimeSeriesMetricsStore;
  /** Writes the pending drift counts now (tests; otherwise every `drift.flushSeconds`). Absent when drift is off. */
  readonly flushDrift?: () => Promise<void>;
}
