/**
 * One contract for both MetricsReaders: the local metric store (fed the scenario through its MetricsSink side, on a
 * fake clock) and the CloudWatch adapter (answering from the responses CloudWatch gives for that scenario). The same
 * request must give the same series: sums, zeros kept as zeros, missing periods as null, the same grid.
 */
import { describe, expect, it } from 'vitest';
import { CloudWatchMetricsReader } from '../../lambdas/adapters/cloudwatch-metrics-reader';
import { TimeSeriesMetricsStore } from '../../lambdas/adapters/local-metric-store';
import { MetricReadError } from '../../lambdas/core/metric-read';
import type { MetricsReader } from '../../lambdas/core/ports';
import {
  cloudWatchFixture,
  DIMS,
  FakeCloudWatch,
  NOW,
  SCENARIO,
  SCENARIO_EXPECTED,
  SCENARIO_REQUEST,
  T0,
} from './metrics-reader-fakes';

function localReader(): MetricsReader {
  let clock = T0;
  const store = new TimeSeriesMetricsStore({ now: () => clock });
  SCENARIO.requests.forEach((n, minute) => {
    for (let j = 0; j < n; j++) {
      clock = T0 + minute * 60_000 + j * 1000;
      store.emit(
        [DIMS],
        [
          { name: 'Requests', unit: 'Count', value: 1 },
          { name: 'Latency', unit: 'Milliseconds', value: 20 + j, highResolution: true },
        ],
      );
      const error = SCENARIO.errorsEmitted[minute]?.[j];
      // A fresh but equal dimension object: series are keyed by content, not identity.
      if (error !== undefined) store.emit([{ ...DIMS }], [{ name: 'Errors', unit: 'Count', value: error }]);
    }
  });
  clock = NOW;
  return store;
}

function cloudWatchReader(): { reader: MetricsReader; fake: FakeCloudWatch } {
  const fake = new FakeCloudWatch([
    cloudWatchFixture('get-metric-data-paged-page1'),
    cloudWatchFixture('get-metric-data-paged-page2'),
  ]);
  return {
    reader: new CloudWatchMetricsReader({ namespace: 'ModelOps', client: fake, now: () => NOW }),
    fake,
  };
}

const readers: [string, () => MetricsReader][] = [
  ['local metric store', localReader],
  ['CloudWatch adapter', () => cloudWatchReader().reader],
];

describe.each(readers)('MetricsReader contract: %s', (_, make) => {
  it('answers every period of the aligned range, sums exact, zero kept, missing as null', async () => {
    const series = await make().read(SCENARIO_REQUEST);
    expect(series.map((s) => s.id)).toEqual(['requests', 'errors', 'latency']);
    for (const s of series) expect(s.timestamps).toEqual(SCENARIO_EXPECTED.timestamps);
    expect(series[0]!.values).toEqual(SCENARIO_EXPECTED.requests);
    expect(series[1]!.values).toEqual(SCENARIO_EXPECTED.errors);
    const latency = series[2]!.values;
    SCENARIO_EXPECTED.latency.forEach((v, i) => expect(latency[i]).toBeCloseTo(v, 6));
  });

  it('answers a series never recorded with nulls over the whole grid', async () => {
    const reader = make();
    const series = await reader.read({
      ...SCENARIO_REQUEST,
      queries: [{ id: 'other', metricName: 'Requests', dimensions: { Model: 'nope' }, stat: 'Sum' }],
    });
    // The CloudWatch fixture has no "other" result: the id is filled with nulls, not dropped.
    expect(series).toEqual([
      { id: 'other', timestamps: SCENARIO_EXPECTED.timestamps, values: [null, null, null, null, null] },
    ]);
  });

  it.each([
    [{ queries: [] }, /queries is empty/],
    [
      { queries: [{ id: 'Bad', metricName: 'Requests', dimensions: DIMS, stat: 'Sum' }] },
      /queries\[0\]\.id "Bad"/,
    ],
    [
      {
        queries: [
          { id: 'a', metricName: 'Requests', dimensions: DIMS, stat: 'Sum' },
          { id: 'a', metricName: 'Errors', dimensions: DIMS, stat: 'Sum' },
        ],
      },
      /used twice/,
    ],
    [
      { queries: [{ id: 'a', metricName: 'Requests', dimensions: DIMS, stat: 'Median' }] },
      /stat "Median" is not supported/,
    ],
    [{ queries: [{ id: 'a', metricName: 'Requests', dimensions: DIMS, stat: 'p101' }] }, /stat "p101"/],
    [{ periodSeconds: 45 }, /periodSeconds 45 is not a CloudWatch period/],
    [{ startMs: T0, endMs: T0 }, /must be a finite epoch millisecond before endMs/],
    [{ startMs: NOW - 4 * 3_600_000, endMs: NOW, periodSeconds: 30 }, /finer than the data kept 3 h back/],
    [{ startMs: NOW - 20 * 86_400_000, endMs: NOW, periodSeconds: 120 }, /multiple of 300/],
    [{ startMs: T0 - 200 * 86_400_000, endMs: T0, periodSeconds: 60 }, /more than 100800/],
  ])('rejects an invalid request the same way (%#)', async (override, message) => {
    const reader = make();
    const read = reader.read({ ...SCENARIO_REQUEST, ...override } as typeof SCENARIO_REQUEST);
    await expect(read).rejects.toThrow(MetricReadError);
    await expect(
      reader.read({ ...SCENARIO_REQUEST, ...override } as typeof SCENARIO_REQUEST),
    ).rejects.toThrow(message);
  });
});

describe('CloudWatch adapter: the request it sends for the contract scenario', () => {
  it('aligns the range to the period, scans ascending, sorts dimensions and follows NextToken', async () => {
    const { reader, fake } = cloudWatchReader();
    await reader.read(SCENARIO_REQUEST);
    expect(fake.inputs).toHaveLength(2);
    const [first, second] = fake.inputs;
    expect(first!.StartTime).toEqual(new Date('2026-12-02T06:00:00.000Z'));
    expect(first!.EndTime).toEqual(new Date('2026-12-02T06:05:00.000Z'));
    expect(first!.ScanBy).toBe('TimestampAscending');
    expect(first!.NextToken).toBeUndefined();
    expect(second!.NextToken).toBe('tok-1-eyJwYWdlIjoyfQ');
    expect(first!.MetricDataQueries![1]).toEqual({
      Id: 'errors',
      MetricStat: {
        Metric: {
          Namespace: 'ModelOps',
          MetricName: 'Errors',
          Dimensions: [
            { Name: 'Model', Value: 'iris' },
            { Name: 'Version', Value: '3' },
          ],
        },
        Period: 60,
        Stat: 'Sum',
      },
      ReturnData: true,
    });
  });
});
