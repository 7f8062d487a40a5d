/**
 * `metricsReaderFor(target)`: the MetricsReader a CLI command reads series through. A deployed stack (no endpoint
 * overrides) reads CloudWatch with GetMetricData; local mode reads the time-series store of `npm start`'s inference
 * server over its local-only `POST /metrics/read` route (local/inference-server.ts).
 */
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { CloudWatchMetricsReader } from '../lambdas/adapters/cloudwatch-metrics-reader';
import { MetricReadError } from '../lambdas/core/metric-read';
import type { MetricReadRequest, MetricReadSeries, MetricsReader } from '../lambdas/core/ports';
import { CliError } from './errors';
import { DEFAULT_INFERENCE_URL } from './invoke';
import type { Target } from './target';

/** Mirrors METRICS_READ_PATH of local/inference-server.ts; a literal so the CLI does not load the server. */
export const LOCAL_METRICS_READ_PATH = '/metrics/read';
/** The config's default `monitoring.namespace`. */
export const DEFAULT_METRICS_NAMESPACE = 'ModelOps';

export interface HttpMetricsReaderOptions {
  /** Base URL of the local inference server. @default MODELOPS_INFERENCE_URL or DEFAULT_INFERENCE_URL */
  readonly baseUrl?: string;
  /** @default globalThis.fetch */
  readonly fetch?: typeof globalThis.fetch;
  /** @default 10 */
  readonly timeoutSeconds?: number;
}

/** Reads the local metric store over HTTP. A refused request (400) becomes a MetricReadError with the server's text. */
export class HttpMetricsReader implements MetricsReader {
  private readonly url: string;
  private readonly fetch: typeof globalThis.fetch;
  private readonly timeoutMs: number;

  constructor(options: HttpMetricsReaderOptions = {}) {
    const base = options.baseUrl ?? process.env.MODELOPS_INFERENCE_URL ?? DEFAULT_INFERENCE_URL;
    this.url = `${base.replace(/\/+$/, '')}${LOCAL_METRICS_READ_PATH}`;
    this.fetch = options.fetch ?? globalThis.fetch;
    this.timeoutMs = (options.timeoutSeconds ?? 10) * 1000;
  }

  async read(request: MetricReadRequest): Promise<readonly MetricReadSeries[]> {
    let response: Response;
    try {
      response = await this.fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(request),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new CliError(
        `reading metrics from ${this.url} failed: ${(err as Error).message} (is \`npm start\` running?)`,
      );
    }
    const text = await response.text();
    let body: { series?: MetricReadSeries[]; error?: { message?: string } } | undefined;
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      body = undefined;
    }
    if (response.status === 400) {
      throw new MetricReadError(body?.error?.message ?? text.slice(0, 500));
    }
    if (!response.ok || !Array.isArray(body?.series)) {
      throw new CliError(
        `reading metrics from ${this.url} answered ${response.status}: ${body?.error?.message ?? text.slice(0, 200)}`,
      );
    }
    return body.series;
  }
}

export interface MetricsReaderForOptions {
  /** CloudWatch namespace in AWS (the config's `monitoring.namespace`). @default DEFAULT_METRICS_NAMESPACE */
  readonly namespace?: string;
  /** Local mode's inference server. @default MODELOPS_INFERENCE_URL or DEFAULT_INFERENCE_URL */
  readonly inferenceUrl?: string;
}

/** True for a deployed stack: the target overrides no endpoint (local mode and `--endpoint-url` targets do). */
export function targetsAws(target: Target): boolean {
  return target.s3Endpoint === undefined && target.dynamodbEndpoint === undefined;
}

/** CloudWatch in AWS, the local server's store otherwise. */
export function metricsReaderFor(target: Target, options: MetricsReaderForOptions = {}): MetricsReader {
  if (targetsAws(target)) {
    return new CloudWatchMetricsReader({
      namespace: options.namespace ?? DEFAULT_METRICS_NAMESPACE,
      client: new CloudWatchClient({
        region: target.region,
        ...(target.credentials ? { credentials: target.credentials } : {}),
      }),
    });
  }
  return new HttpMetricsReader(options.inferenceUrl === undefined ? {} : { baseUrl: options.inferenceUrl });
}
