import type { GetMetricDataCommand, GetMetricDataCommandOutput } from '@aws-sdk/client-cloudwatch';
import { describe, expect, it } from 'vitest';
import {
  CloudWatchMetricsReader,
  MAX_QUERIES_PER_CALL,
} from '../../lambdas/adapters/cloudwatch-metrics-reader';
import { TransientStoreError } from '../../lambdas/core/errors';
import { MetricReadError } from '../../lambdas/core/metric-read';
import type { MetricReadRequest } from '../../lambdas/core/ports';
import { cloudWatchFixture, DIMS, FakeCloudWatch, NOW, T0 } from './metrics-reader-fakes';

const one: MetricReadRequest = {
  queries: [{ id: 'requests', metricName: 'Requests', dimensions: DIMS, stat: 'Sum' }],
  startMs: T0,
  endMs: T0 + 5 * 60_000,
  periodSeconds: 60,
};

function reader(fake: FakeCloudWatch) {
  return new CloudWatchMetricsReader({ namespace: 'ModelOps', client: fake, now: () => NOW });
}

/** Answers every requested id with its query index at 06:00, so batching and merging can be checked. */
function echo(input: GetMetricDataCommand['input']): GetMetricDataCommandOutput {
  return {
    $metadata: {},
    MetricDataResults: input.MetricDataQueries!.map((q) => ({
      Id: q.Id,
      Timestamps: [new Date(T0)],
      Values: [Number(q.Id!.slice(1))],
      StatusCode: 'Complete',
    })),
  };
}

describe('CloudWatchMetricsReader', () => {
  it('splits 1,201 queries into calls of at most 500 and returns every series in request order', async () => {
    const fake = new FakeCloudWatch(echo);
    const queries = Array.from({ length: 1201 }, (_, i) => ({
      id: `q${i}`,
      metricName: 'Requests',
      dimensions: DIMS,
      stat: 'Sum' as const,
    }));
    const series = await reader(fake).read({ ...one, queries });
    expect(fake.inputs.map((i) => i.MetricDataQueries!.length)).toEqual([MAX_QUERIES_PER_CALL, 500, 201]);
    expect(series).toHaveLength(1201);
    expect(series[700]).toEqual({
      id: 'q700',
      timestamps: [0, 1, 2, 3, 4].map((m) => T0 + m * 60_000),
      values: [700, null, null, null, null],
    });
  });

  it('fails a query CloudWatch answers Forbidden, naming the permission', async () => {
    const fake = new FakeCloudWatch([cloudWatchFixture('get-metric-data-forbidden')]);
    const read = reader(fake).read(one);
    await expect(read).rejects.toThrow(MetricReadError);
    await expect(
      reader(new FakeCloudWatch([cloudWatchFixture('get-metric-data-forbidden')])).read(one),
    ).rejects.toThrow(/Forbidden: Forbidden Insufficient permissions.*grant cloudwatch:GetMetricData/);
  });

  it('fails PartialData that comes without a NextToken instead of returning a short series', async () => {
    const fake = new FakeCloudWatch([cloudWatchFixture('get-metric-data-partial-no-token')]);
    await expect(reader(fake).read(one)).rejects.toThrow(/requests PartialData without a NextToken/);
  });

  it('fails a NextToken that repeats instead of paging forever', async () => {
    const page = { ...cloudWatchFixture('get-metric-data-paged-page1'), NextToken: 'same' };
    const fake = new FakeCloudWatch([page, page, page]);
    await expect(reader(fake).read(one)).rejects.toThrow(/same NextToken twice/);
    expect(fake.inputs).toHaveLength(2);
  });

  it('maps throttling to TransientStoreError and other SDK errors to MetricReadError with a hint', async () => {
    const throttled = Object.assign(new Error('Rate exceeded'), {
      name: 'Throttling',
      $metadata: { httpStatusCode: 400 },
    });
    await expect(reader(new FakeCloudWatch([throttled])).read(one)).rejects.toThrow(TransientStoreError);
    const denied = Object.assign(new Error('not authorized to perform: cloudwatch:GetMetricData'), {
      name: 'AccessDenied',
      $metadata: { httpStatusCode: 403 },
    });
    await expect(reader(new FakeCloudWatch([denied])).read(one)).rejects.toThrow(
      /refused the read \(AccessDenied: not authorized.*\); grant cloudwatch:GetMetricData/,
    );
    const invalid = Object.assign(new Error('The value 7 for parameter Period is not valid.'), {
      name: 'InvalidParameterValueException',
      $metadata: { httpStatusCode: 400 },
    });
    await expect(reader(new FakeCloudWatch([invalid])).read(one)).rejects.toThrow(/namespace "ModelOps"/);
  });

  it('keeps the first value of a period and drops points outside the range', async () => {
    const fake = new FakeCloudWatch([
      {
        $metadata: {},
        MetricDataResults: [
          {
            Id: 'requests',
            Timestamps: [
              new Date(T0 - 60_000),
              new Date(T0),
              new Date(T0 + 30_000),
              new Date(T0 + 5 * 60_000),
            ],
            Values: [99, 4, 5, 98],
            StatusCode: 'Complete',
          },
        ],
      },
    ]);
    const [s] = await reader(fake).read(one);
    expect(s!.values).toEqual([4, null, null, null, null]);
  });

  it('rejects an empty namespace', () => {
    expect(() => new CloudWatchMetricsReader({ namespace: '' })).toThrow(/namespace is empty/);
  });
});
