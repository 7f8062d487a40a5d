/**
 * The MetricsReader a release function reads with: the local inference server's metric store when local mode sets
 * METRICS_READ_URL, else CloudWatch GetMetricData in the function's Powertools namespace (StartRollout's budget gate
 * and AnalyzeCanary read the same series).
 */
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import type { MetricsReader } from '../core/ports';
import { METRICS_READ_URL_ENV } from '../core/tables';
import { currentEnvironment, requireEnv } from '../shared/env';
import { CloudWatchMetricsReader } from './cloudwatch-metrics-reader';
import { HttpMetricsReader } from './http-metrics-reader';

export function metricsReaderFromEnv(): MetricsReader {
  const url = currentEnvironment()[METRICS_READ_URL_ENV];
  if (url !== undefined && url !== '') return new HttpMetricsReader({ baseUrl: url });
  return new CloudWatchMetricsReader({
    namespace: requireEnv('POWERTOOLS_METRICS_NAMESPACE'),
    client: new CloudWatchClient({}),
  });
}
