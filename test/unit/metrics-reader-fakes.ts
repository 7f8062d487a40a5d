/**
 * Fakes shared by the MetricsReader tests: a GetMetricData client that answers from recorded responses
 * (test/fixtures/cloudwatch/*.json), and the scenario those responses record.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GetMetricDataCommand, GetMetricDataCommandOutput } from '@aws-sdk/client-cloudwatch';
import type { GetMetricDataSender } from '../../lambdas/adapters/cloudwatch-metrics-reader';
import type { MetricDimensions, MetricReadRequest } from '../../lambdas/core/ports';

const FIXTURES = join(__dirname, '..', 'fixtures', 'cloudwatch');

/** A recorded response, timestamps revived into Dates as the SDK deserialises them. */
export function cloudWatchFixture(name: string): GetMetricDataCommandOutput {
  const raw = JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), 'utf8')) as {
    MetricDataResults?: { Timestamps?: string[] }[];
  };
  for (const r of raw.MetricDataResults ?? []) {
    (r as { Timestamps?: unknown }).Timestamps = (r.Timestamps ?? []).map((t) => new Date(t));
  }
  return raw as unknown as GetMetricDataCommandOutput;
}

/** Answers each send with the next response (or what `respond` computes) and records every command input. */
export class FakeCloudWatch implements GetMetricDataSender {
  readonly inputs: GetMetricDataCommand['input'][] = [];
  constructor(
    private readonly respond:
      | readonly (GetMetricDataCommandOutput | Error)[]
      | ((input: GetMetricDataCommand['input']) => GetMetricDataCommandOutput),
  ) {}

  async send(command: GetMetricDataCommand): Promise<GetMetricDataCommandOutput> {
    this.inputs.push(command.input);
    if (typeof this.respond === 'function') return this.respond(command.input);
    const next = this.respond[this.inputs.length - 1];
    if (next === undefined)
      throw new Error(`fake CloudWatch: no response recorded for call ${this.inputs.length}`);
    if (next instanceof Error) throw next;
    return next;
  }
}

export const T0 = Date.parse('2026-12-02T06:00:00.000Z');
/** The clock both readers see: ten minutes after the scenario starts (within CloudWatch's 3-hour fine data). */
export const NOW = T0 + 10 * 60_000;
export const DIMS: MetricDimensions = { Model: 'iris', Version: '3' };

/**
 * The scenario the paged fixtures record, per minute 0..4: requests per minute, errors (undefined = none emitted:
 * the period is missing, not zero), latencies 20 + j ms for request j.
 */
export const SCENARIO = {
  requests: [10, 12, 3, 7, 9],
  errorsEmitted: [
    [1, 0, 0, 0, 0, 0, 0, 0, 0, 0],
    new Array<number>(12).fill(0),
    undefined,
    [1, 0, 1, 0, 0, 0, 0],
    undefined,
  ],
} as const;

/** An unaligned range: [06:00:05, 06:04:30) aligns to [06:00, 06:05), five 1-minute periods. */
export const SCENARIO_REQUEST: MetricReadRequest = {
  queries: [
    { id: 'requests', metricName: 'Requests', dimensions: DIMS, stat: 'Sum' },
    { id: 'errors', metricName: 'Errors', dimensions: { Version: '3', Model: 'iris' }, stat: 'Sum' },
    { id: 'latency', metricName: 'Latency', dimensions: DIMS, stat: 'p99' },
  ],
  startMs: T0 + 5_000,
  endMs: T0 + 4 * 60_000 + 30_000,
  periodSeconds: 60,
};

export const SCENARIO_EXPECTED = {
  timestamps: [0, 1, 2, 3, 4].map((m) => T0 + m * 60_000),
  requests: [10, 12, 3, 7, 9],
  errors: [1, 0, null, 2, null],
  /** Nearest-rank p99 of 20 + j for j < n: the largest value when n < 100. */
  latency: [29, 31, 22, 26, 28],
};
