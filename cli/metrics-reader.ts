/**
 * `metricsReaderFor(target)`: the MetricsReader a CLI command reads series through. A deployed stack (no endpoint
 * overrides) reads CloudWatch with GetMetricData; local mode reads the time-series store of `npm start`'s inference
 * server over its local-only `POST /metrics/read` route (local/inference-server.ts).
 */
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { CloudWatchMetricsReader } from '../lambdas/adapters/cloudwatch-metrics-reader';
import {
  HttpMetricsReader as BaseHttpMetricsReader,
  type HttpMetricsReaderOptions,
} from '../lambdas/adapters/http-metrics-reader';
import type { MetricsReader } from '../lambdas/core/ports';
import { CliError } from './errors';
import { DEFAULT_INFERENCE_URL } from './invoke';
import type { Target } from './target';

export { LOCAL_METRICS_READ_PATH } from '../lambdas/adapters/http-metrics-reader';
/** The config's default `monitoring.namespace`. */
export const DEFAULT_METRICS_NAMESPACE = 'ModelOps';

export type { HttpMetricsReaderOptions } from '../lambdas/adapters/http-metrics-reader';

/** The adapter with the CLI's defaults: MODELOPS_INFERENCE_URL or the local server, and CliError on failures. */
export class HttpMetricsReader extends BaseHttpMetricsReader {
  constructor(options: HttpMetricsReaderOptions = {}) {
    super({
      ...options,
      baseUrl: options.baseUrl ?? process.env.MODELOPS_INFERENCE_URL ?? DEFAULT_INFERENCE_URL,
      failure: (message) => new CliError(message),
    });
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
