import { afterEach, describe, expect, it } from 'vitest';
import { InMemoryMetricsSink } from '../../lambdas/adapters/in-memory-metrics-sink';
import {
  FanOutMetricsSink,
  FINE_RETENTION_MS,
  HISTOGRAM_RELATIVE_ACCURACY,
  MINUTE_RETENTION_MS,
  TimeSeriesMetricsStore,
} from '../../lambdas/adapters/local-metric-store';
import { MetricReadError } from '../../lambdas/core/metric-read';
import type { MetricQuery, MetricReadRequest } from '../../lambdas/core/ports';
import { HttpMetricsReader, metricsReaderFor, targetsAws } from '../../cli/metrics-reader';
import { startInferenceServer, type RunningInferenceServer } from '../../local/inference-server';
import type { Target } from '../../cli/target';
import { DIMS, T0 } from './metrics-reader-fakes';

function storeAt(start: number) {
  const clock = { now: start };
  return { clock, store: new TimeSeriesMetricsStore({ now: () => clock.now }) };
}

const q = (id: string, stat: MetricQuery['stat'], metricName = 'Latency'): MetricQuery => ({
  id,
  metricName,
  dimensions: DIMS,
  stat,
});

describe('TimeSeriesMetricsStore', () => {
  it('answers exact count, sum, min, max, average and percentiles within the documented accuracy', () => {
    const { clock, store } = storeAt(T0);
    // 1..1000 in a scrambled order, all in one minute.
    for (let i = 0; i < 1000; i++) {
      clock.now = T0 + (i % 60) * 1000;
      store.emit([DIMS], [{ name: 'Latency', unit: 'Milliseconds', value: ((i * 367) % 1000) + 1 }]);
    }
    clock.now = T0 + 120_000;
    const stats = [
      'SampleCount',
      'Sum',
      'Minimum',
      'Maximum',
      'Average',
      'p50',
      'p90',
      'p99',
      'p99.9',
      'p0',
      'p100',
    ] as const;
    const series = store.readNow({
      queries: stats.map((s, i) => q(`s${i}`, s)),
      startMs: T0,
      endMs: T0 + 60_000,
      periodSeconds: 60,
    });
    const v = series.map((s) => s.values[0]!);
    expect(v.slice(0, 5)).toEqual([1000, 500_500, 1, 1000, 500.5]);
    // Nearest rank of 1..1000: p50 → 500, p90 → 900, p99 → 990, p99.9 → 999.
    [500, 900, 990, 999].forEach((exact, i) => {
      expect(Math.abs(v[5 + i]! - exact) / exact).toBeLessThanOrEqual(HISTOGRAM_RELATIVE_ACCURACY);
    });
    expect(v.slice(9)).toEqual([1, 1000]);
  });

  it('handles zero and negative values in percentiles', () => {
    const { clock, store } = storeAt(T0);
    for (const value of [-50, -5, 0, 0, 3, 40]) store.emit([DIMS], [{ name: 'Delta', unit: 'Count', value }]);
    clock.now = T0 + 60_000;
    const [p10, p40, p90] = store.readNow({
      queries: ['p10', 'p40', 'p90'].map((s) => q(s, s as 'p10', 'Delta')),
      startMs: T0,
      endMs: T0 + 60_000,
      periodSeconds: 60,
    });
    // rank 1: the most negative value, within α.
    expect(Math.abs(p10!.values[0]! + 50) / 50).toBeLessThanOrEqual(HISTOGRAM_RELATIVE_ACCURACY);
    expect(p40!.values[0]).toBe(0);
    expect(Math.abs(p90!.values[0]! - 40) / 40).toBeLessThanOrEqual(HISTOGRAM_RELATIVE_ACCURACY);
  });

  it('serves 10-second periods from the fine buckets and merges them into larger periods', () => {
    const { clock, store } = storeAt(T0);
    for (const offset of [1_000, 9_999, 15_000, 31_000]) {
      clock.now = T0 + offset;
      store.emit([DIMS], [{ name: 'Requests', unit: 'Count', value: 1 }]);
    }
    clock.now = T0 + 60_000;
    const base = { queries: [q('r', 'Sum', 'Requests')], startMs: T0, endMs: T0 + 40_000 };
    expect(store.readNow({ ...base, periodSeconds: 10 })[0]!.values).toEqual([2, 1, null, 1]);
    expect(store.readNow({ ...base, periodSeconds: 20 })[0]!.values).toEqual([3, 1]);
    expect(store.readNow({ ...base, periodSeconds: 60 })[0]!.values).toEqual([4]);
  });

  it('rejects periods finer than its 10-second buckets', () => {
    const { store } = storeAt(T0);
    expect(() =>
      store.readNow({ queries: [q('r', 'Sum')], startMs: T0, endMs: T0 + 10_000, periodSeconds: 5 }),
    ).toThrow(/finer than the local metric store's 10-second buckets/);
  });

  it('drops fine buckets after 3 hours and minute buckets after 7 days', () => {
    const { clock, store } = storeAt(T0);
    const emit = () => store.emit([DIMS], [{ name: 'Requests', unit: 'Count', value: 1 }]);
    emit();
    const minuteOfT0 = (): (number | null)[] =>
      store.readNow({
        queries: [q('r', 'Sum', 'Requests')],
        startMs: T0,
        endMs: T0 + 60_000,
        periodSeconds: 60,
      })[0]!.values as (number | null)[];
    clock.now = T0 + FINE_RETENTION_MS + 10_000;
    emit(); // opening a bucket prunes the old ones
    expect(minuteOfT0()).toEqual([1]);
    const internal = store as unknown as {
      series: Map<string, { fine: { buckets: unknown[] }; minute: { buckets: unknown[] } }>;
    };
    const s = [...internal.series.values()][0]!;
    expect(s.fine.buckets).toHaveLength(1);
    expect(s.minute.buckets).toHaveLength(2);
    clock.now = T0 + MINUTE_RETENTION_MS + 60_000;
    emit();
    expect(minuteOfT0()).toEqual([null]);
    // T0's minute is gone; the one 3 hours later is still within 7 days.
    expect(s.minute.buckets).toHaveLength(2);
  });

  it('files a datum whose clock stepped back into its own bucket', () => {
    const { clock, store } = storeAt(T0 + 120_000);
    store.emit([DIMS], [{ name: 'Requests', unit: 'Count', value: 1 }]);
    clock.now = T0;
    store.emit([DIMS], [{ name: 'Requests', unit: 'Count', value: 2 }]);
    clock.now = T0 + 180_000;
    const [s] = store.readNow({
      queries: [q('r', 'Sum', 'Requests')],
      startMs: T0,
      endMs: T0 + 180_000,
      periodSeconds: 60,
    });
    expect(s!.values).toEqual([2, null, 1]);
  });

  it('stops recording new series at maxSeries and counts what it dropped', () => {
    const store = new TimeSeriesMetricsStore({ now: () => T0, maxSeries: 2 });
    for (const v of ['1', '2', '3'])
      store.emit([{ Model: 'm', Version: v }], [{ name: 'Requests', unit: 'Count', value: 1 }]);
    expect(store.droppedSeries).toBe(1);
    const [s] = store.readNow({
      queries: [{ id: 'r', metricName: 'Requests', dimensions: { Model: 'm', Version: '3' }, stat: 'Sum' }],
      startMs: T0,
      endMs: T0 + 60_000,
      periodSeconds: 60,
    });
    expect(s!.values).toEqual([null]);
  });

  it('fans out beside InMemoryMetricsSink without changing its snapshot', () => {
    const totals = new InMemoryMetricsSink();
    const alone = new InMemoryMetricsSink();
    const store = new TimeSeriesMetricsStore({ now: () => T0 });
    const sink = new FanOutMetricsSink([totals, store]);
    const data = [{ name: 'Latency', unit: 'Milliseconds' as const, value: 12 }];
    sink.emit([DIMS, { Model: 'iris' }], data);
    sink.flush();
    alone.emit([DIMS, { Model: 'iris' }], data);
    expect(totals.snapshot()).toEqual(alone.snapshot());
    expect(
      store.readNow({ queries: [q('l', 'Maximum')], startMs: T0, endMs: T0 + 60_000, periodSeconds: 60 })[0]!
        .values,
    ).toEqual([12]);
  });
});

describe('POST /metrics/read and the CLI reader', () => {
  let server: RunningInferenceServer | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  const request: MetricReadRequest = {
    queries: [q('r', 'Sum', 'Requests')],
    startMs: T0,
    endMs: T0 + 120_000,
    periodSeconds: 60,
  };

  async function start(withReader = true) {
    let clock = T0 + 61_000;
    const store = new TimeSeriesMetricsStore({ now: () => clock });
    store.emit([DIMS], [{ name: 'Requests', unit: 'Count', value: 1 }]);
    clock = T0 + 130_000;
    server = await startInferenceServer({
      app: Object.assign(
        async () => ({ statusCode: 200, headers: { 'content-type': 'application/json' }, body: '{}' }),
        { ready: Promise.resolve() },
      ),
      port: 0,
      ...(withReader ? { metricsReader: store } : {}),
    });
    return server;
  }

  it('reads the same series over HTTP as in process', async () => {
    const running = await start();
    const series = await new HttpMetricsReader({ baseUrl: running.url }).read(request);
    expect(series).toEqual([{ id: 'r', timestamps: [T0, T0 + 60_000], values: [null, 1] }]);
  });

  it('answers a refused request 400 and the reader rethrows it as MetricReadError', async () => {
    const running = await start();
    const read = new HttpMetricsReader({ baseUrl: running.url }).read({ ...request, periodSeconds: 7 });
    await expect(read).rejects.toThrow(MetricReadError);
    await expect(
      new HttpMetricsReader({ baseUrl: running.url }).read({ ...request, periodSeconds: 7 }),
    ).rejects.toThrow(/periodSeconds 7 is not a CloudWatch period/);
  });

  it.each(['null', '[]', '42', '"queries"'])(
    'answers a JSON body %s that is not an object 400',
    async (body) => {
      const running = await start();
      const res = await fetch(`${running.url}/metrics/read`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      expect(res.status).toBe(400);
      expect(await res.text()).toMatch(
        /the request must be an object \{ queries, startMs, endMs, periodSeconds \}/,
      );
    },
  );

  it('keeps the local guards: POST only, JSON only, no browser origins, 404 without a store', async () => {
    const running = await start();
    const url = `${running.url}/metrics/read`;
    expect((await fetch(url)).status).toBe(405);
    expect(
      (await fetch(url, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' })).status,
    ).toBe(415);
    const fromPage = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: 'https://evil.example' },
      body: JSON.stringify(request),
    });
    expect(fromPage.status).toBe(403);
    expect(
      (await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' }))
        .status,
    ).toBe(400);
    await running.stop();
    const bare = await start(false);
    const res = await fetch(`${bare.url}/metrics/read`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(request),
    });
    expect(res.status).toBe(404);
  });

  it('metricsReaderFor picks CloudWatch for a stack and HTTP for local targets', () => {
    const stack: Target = { description: 'stack s', region: 'eu-west-1', bucket: 'b', tables: {} };
    const local: Target = {
      ...stack,
      description: 'local',
      s3Endpoint: 'http://127.0.0.1:4568',
      dynamodbEndpoint: 'http://127.0.0.1:4567',
    };
    expect(targetsAws(stack)).toBe(true);
    expect(targetsAws(local)).toBe(false);
    expect(metricsReaderFor(stack, { namespace: 'X' }).constructor.name).toBe('CloudWatchMetricsReader');
    expect(metricsReaderFor(local)).toBeInstanceOf(HttpMetricsReader);
  });
});
