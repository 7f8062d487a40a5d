/**
 * MetricsReader over local mode's `POST /metrics/read` (local/inference-server.ts): the CLI reads the local metric
 * store with it, and so does AnalyzeCanary when local mode runs the release state machine (METRICS_READ_URL).
 */
import { TransientStoreError } from '../core/errors';
import { MetricReadError } from '../core/metric-read';
import type { MetricReadRequest, MetricReadSeries, MetricsReader } from '../core/ports';

/** Mirrors METRICS_READ_PATH of local/inference-server.ts; a literal so readers do not load the server. */
export const LOCAL_METRICS_READ_PATH = '/metrics/read';

export interface HttpMetricsReaderOptions {
  /** Base URL of the local inference server, e.g. http://127.0.0.1:4570. */
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
  private readonly failure: (message: string) => Error;

  constructor(
    options: HttpMetricsReaderOptions & {
      readonly baseUrl: string;
      /** The error for an unreachable server or a non-400 failure. @default TransientStoreError (retried) */
      readonly failure?: (message: string) => Error;
    },
  ) {
    this.url = `${options.baseUrl.replace(/\/+$/, '')}${LOCAL_METRICS_READ_PATH}`;
    this.fetch = options.fetch ?? globalThis.fetch;
    this.timeoutMs = (options.timeoutSeconds ?? 10) * 1000;
    this.failure = options.failure ?? ((message) => new TransientStoreError(message));
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
      throw this.failure(
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
      throw this.failure(
        `reading metrics from ${this.url} answered ${response.status}: ${body?.error?.message ?? text.slice(0, 200)}`,
      );
    }
    return body.series;
  }
}
