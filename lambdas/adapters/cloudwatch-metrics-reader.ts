/**
 * MetricsReader over CloudWatch `GetMetricData`: the AWS side of the port (the local side is
 * lambdas/adapters/local-metric-store.ts). One call carries at most 500 queries, so larger requests are split into
 * batches; each batch follows `NextToken` until CloudWatch has returned every datapoint (a result marked
 * `PartialData` continues on the next page) and the pages are merged per query id.
 */
import {
  CloudWatchClient,
  GetMetricDataCommand,
  type GetMetricDataCommandInput,
  type GetMetricDataCommandOutput,
  type MetricDataQuery,
} from '@aws-sdk/client-cloudwatch';
import { TransientStoreError } from '../core/errors';
import { MetricReadError, planMetricRead, seriesOnGrid, type MetricReadPlan } from '../core/metric-read';
import type { MetricQuery, MetricReadRequest, MetricReadSeries, MetricsReader } from '../core/ports';
import { isTransientSdkError } from './clients';

/** GetMetricData's limit of MetricDataQueries per call. */
export const MAX_QUERIES_PER_CALL = 500;
/** A guard against a service that keeps returning tokens: no real read of ≤ 100,800 points per query needs more. */
export const MAX_PAGES_PER_BATCH = 1000;

/** What the reader needs of a CloudWatch client: `send` of GetMetricData (a fake in tests). */
export interface GetMetricDataSender {
  send(command: GetMetricDataCommand): Promise<GetMetricDataCommandOutput>;
}

export interface CloudWatchMetricsReaderOptions {
  /** The namespace the functions emit to (`monitoring.namespace` of the config, `POWERTOOLS_METRICS_NAMESPACE`). */
  readonly namespace: string;
  /** @default a new CloudWatchClient with the default region and credential chain */
  readonly client?: GetMetricDataSender;
  /** Used only to apply CloudWatch's retention rule to the period. @default Date.now */
  readonly now?: () => number;
}

function metricDataQuery(q: MetricQuery, namespace: string, periodSeconds: number): MetricDataQuery {
  return {
    Id: q.id,
    MetricStat: {
      Metric: {
        Namespace: namespace,
        MetricName: q.metricName,
        // Sorted so one dimension set always reads as the same request (dimension order does not matter to CloudWatch).
        Dimensions: Object.keys(q.dimensions)
          .sort()
          .map((Name) => ({ Name, Value: q.dimensions[Name]! })),
      },
      Period: periodSeconds,
      Stat: q.stat,
    },
    ReturnData: true,
  };
}

function describe(err: unknown): string {
  const e = err as { name?: string; message?: string };
  return `${e?.name ?? 'Error'}: ${e?.message ?? String(err)}`;
}

/** An SDK failure as the reader reports it: transient ones retryable, the rest with what to check. */
function mapError(err: unknown, namespace: string): Error {
  if (isTransientSdkError(err)) {
    return new TransientStoreError(`CloudWatch GetMetricData failed transiently (${describe(err)}); retry`, {
      cause: err,
    });
  }
  const name = (err as { name?: string })?.name ?? '';
  const hint =
    name === 'AccessDenied' || name === 'AccessDeniedException'
      ? 'grant cloudwatch:GetMetricData to the caller'
      : name === 'InvalidNextToken'
        ? 'the paging token expired; read again'
        : `check the metric names, dimensions and period of the queries in namespace "${namespace}"`;
  return new MetricReadError(`CloudWatch GetMetricData refused the read (${describe(err)}); ${hint}`, {
    cause: err,
  });
}

export class CloudWatchMetricsReader implements MetricsReader {
  private readonly namespace: string;
  private readonly client: GetMetricDataSender;
  private readonly now: () => number;

  constructor(options: CloudWatchMetricsReaderOptions) {
    if (typeof options.namespace !== 'string' || options.namespace.length === 0) {
      throw new MetricReadError('namespace is empty; pass the config monitoring.namespace (e.g. ModelOps)');
    }
    this.namespace = options.namespace;
    this.client = options.client ?? new CloudWatchClient({});
    this.now = options.now ?? Date.now;
  }

  async read(request: MetricReadRequest): Promise<readonly MetricReadSeries[]> {
    const plan = planMetricRead(request, this.now());
    const points = new Map<string, [number, number][]>(plan.queries.map((q) => [q.id, []]));
    for (let i = 0; i < plan.queries.length; i += MAX_QUERIES_PER_CALL) {
      await this.readBatch(
        plan,
        request.periodSeconds,
        plan.queries.slice(i, i + MAX_QUERIES_PER_CALL),
        points,
      );
    }
    return plan.queries.map((q) => seriesOnGrid(plan, q.id, points.get(q.id)!));
  }

  private async readBatch(
    plan: MetricReadPlan,
    periodSeconds: number,
    queries: readonly MetricQuery[],
    points: Map<string, [number, number][]>,
  ): Promise<void> {
    const base: GetMetricDataCommandInput = {
      MetricDataQueries: queries.map((q) => metricDataQuery(q, this.namespace, periodSeconds)),
      StartTime: new Date(plan.startMs),
      EndTime: new Date(plan.endMs),
      ScanBy: 'TimestampAscending',
    };
    let nextToken: string | undefined;
    const tokens = new Set<string>();
    for (let page = 0; ; page++) {
      if (page >= MAX_PAGES_PER_BATCH) {
        throw new MetricReadError(
          `CloudWatch GetMetricData returned more than ${MAX_PAGES_PER_BATCH} pages; narrow the range or raise the period`,
        );
      }
      let out: GetMetricDataCommandOutput;
      try {
        out = await this.client.send(
          new GetMetricDataCommand(nextToken === undefined ? base : { ...base, NextToken: nextToken }),
        );
      } catch (err) {
        throw mapError(err, this.namespace);
      }
      const partial: string[] = [];
      for (const result of out.MetricDataResults ?? []) {
        const id = result.Id ?? '';
        const into = points.get(id);
        if (into === undefined) continue; // not one of ours: CloudWatch echoes only requested ids
        if (result.StatusCode === 'InternalError' || result.StatusCode === 'Forbidden') {
          const messages = (result.Messages ?? []).map((m) => `${m.Code ?? ''} ${m.Value ?? ''}`.trim());
          const err = new Error(`${result.StatusCode}${messages.length ? `: ${messages.join('; ')}` : ''}`);
          err.name = result.StatusCode === 'Forbidden' ? 'AccessDenied' : 'InternalError';
          throw mapError(err, this.namespace);
        }
        if (result.StatusCode === 'PartialData') partial.push(id);
        const ts = result.Timestamps ?? [];
        const vs = result.Values ?? [];
        for (let i = 0; i < ts.length && i < vs.length; i++) into.push([new Date(ts[i]!).getTime(), vs[i]!]);
      }
      nextToken = out.NextToken || undefined;
      if (nextToken === undefined) {
        if (partial.length > 0) {
          throw new MetricReadError(
            `CloudWatch GetMetricData marked ${partial.join(', ')} PartialData without a NextToken; narrow the range and read again`,
          );
        }
        return;
      }
      if (tokens.has(nextToken)) {
        throw new MetricReadError('CloudWatch GetMetricData returned the same NextToken twice; read again');
      }
      tokens.add(nextToken);
    }
  }
}
