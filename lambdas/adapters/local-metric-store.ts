/**
 * Local mode's metric time series: what CloudWatch stores in AWS (DESIGN.md decision 4; no CloudWatch emulator
 * exists). {@link TimeSeriesMetricsStore} is a MetricsSink (the inference app emits into it) and a MetricsReader (the
 * CLI, the local alarm evaluator and the canary judge read it back with the same requests they send GetMetricData).
 *
 * Each datum lands in two buckets of its metric + dimension set: a 10-second one (kept 3 hours, as CloudWatch keeps
 * high-resolution data) and a 1-minute one (kept 7 days). A bucket keeps count, sum, min, max and a log-bucketed
 * histogram, so Sum, SampleCount, Average, Minimum and Maximum are exact and pNN is within
 * {@link HISTOGRAM_RELATIVE_ACCURACY} (relative) of the nearest-rank percentile of the values.
 *
 * Memory: per series at most 1,080 fine + 10,080 minute buckets; a bucket is ~120 bytes plus ~50 bytes per occupied
 * histogram bin (0/1 metrics occupy two, a latency minute typically a few dozen). Series beyond `maxSeries` are not
 * recorded (counted in `droppedSeries`), so a runaway dimension cannot exhaust the process.
 */
import { MetricReadError, planMetricRead, type MetricReadPlan, type ParsedStat } from '../core/metric-read';
import type {
  MetricDatum,
  MetricDimensions,
  MetricReadRequest,
  MetricReadSeries,
  MetricsReader,
  MetricsSink,
} from '../core/ports';
import { dimensionKey } from './in-memory-metrics-sink';

export const FINE_BUCKET_MS = 10_000;
export const FINE_RETENTION_MS = 3 * 3_600_000;
export const MINUTE_BUCKET_MS = 60_000;
export const MINUTE_RETENTION_MS = 7 * 86_400_000;
/** Relative error bound of percentiles (α): a value v is kept as a bin whose representative is within α·v of v. */
export const HISTOGRAM_RELATIVE_ACCURACY = 0.01;
/** Bins grow by γ = (1 + α) / (1 − α); a bin k holds (γ^(k−1), γ^k]. */
const GAMMA = (1 + HISTOGRAM_RELATIVE_ACCURACY) / (1 - HISTOGRAM_RELATIVE_ACCURACY);
const LOG_GAMMA = Math.log(GAMMA);
/** Magnitudes below this count as zero (they would need bins far below any metric's precision). */
const MIN_MAGNITUDE = 1e-9;

class Bucket {
  count = 0;
  sum = 0;
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;
  zeros = 0;
  positive: Map<number, number> | undefined;
  negative: Map<number, number> | undefined;
  constructor(readonly start: number) {}

  add(value: number, bin: number): void {
    this.count++;
    this.sum += value;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
    if (bin === 0) this.zeros++;
    else if (value > 0) {
      const m = (this.positive ??= new Map());
      m.set(bin, (m.get(bin) ?? 0) + 1);
    } else {
      const m = (this.negative ??= new Map());
      m.set(bin, (m.get(bin) ?? 0) + 1);
    }
  }

  merge(other: Bucket): void {
    this.count += other.count;
    this.sum += other.sum;
    if (other.min < this.min) this.min = other.min;
    if (other.max > this.max) this.max = other.max;
    this.zeros += other.zeros;
    for (const [side, from] of [
      ['positive', other.positive],
      ['negative', other.negative],
    ] as const) {
      if (from === undefined) continue;
      const into = (this[side] ??= new Map());
      for (const [k, n] of from) into.set(k, (into.get(k) ?? 0) + n);
    }
  }
}

/** The histogram bin of a value: 0 for zero, else ⌈log_γ |v|⌉ offset so it is never 0 (sign kept by the bucket). */
function binOf(value: number): number {
  const magnitude = Math.abs(value);
  if (!(magnitude >= MIN_MAGNITUDE)) return 0;
  const k = Math.ceil(Math.log(magnitude) / LOG_GAMMA);
  // k ranges about ±1,100 for 1e-9..1e9; shifting by 1e6 keeps every non-zero bin away from 0.
  return k + 1_000_000;
}

function binValue(bin: number): number {
  return (2 * Math.pow(GAMMA, bin - 1_000_000)) / (GAMMA + 1);
}

/** Nearest-rank percentile of a merged bucket, within α of the true one, clamped to the exact min and max. */
function percentileOf(b: Bucket, p: number): number {
  if (p <= 0) return b.min;
  const rank = Math.max(1, Math.ceil((p / 100) * b.count));
  if (rank >= b.count) return b.max;
  let seen = 0;
  const clamp = (v: number) => Math.min(b.max, Math.max(b.min, v));
  // Ascending order: most negative first (largest magnitude bin), then zero, then positive bins upwards.
  if (b.negative !== undefined) {
    for (const k of [...b.negative.keys()].sort((x, y) => y - x)) {
      seen += b.negative.get(k)!;
      if (seen >= rank) return clamp(-binValue(k));
    }
  }
  seen += b.zeros;
  if (seen >= rank) return clamp(0);
  if (b.positive !== undefined) {
    for (const k of [...b.positive.keys()].sort((x, y) => x - y)) {
      seen += b.positive.get(k)!;
      if (seen >= rank) return clamp(binValue(k));
    }
  }
  return b.max;
}

function statOf(b: Bucket, stat: ParsedStat): number {
  switch (stat.kind) {
    case 'Sum':
      return b.sum;
    case 'SampleCount':
      return b.count;
    case 'Average':
      return b.sum / b.count;
    case 'Minimum':
      return b.min;
    case 'Maximum':
      return b.max;
    case 'percentile':
      return percentileOf(b, stat.percentile);
  }
}

/** Buckets of one resolution, ascending by start, pruned to the retention as new buckets open. */
class Tier {
  readonly buckets: Bucket[] = [];
  constructor(
    readonly bucketMs: number,
    readonly retentionMs: number,
  ) {}

  add(nowMs: number, value: number, bin: number): void {
    const start = nowMs - (((nowMs % this.bucketMs) + this.bucketMs) % this.bucketMs);
    const buckets = this.buckets;
    const last = buckets[buckets.length - 1];
    if (last !== undefined && last.start === start) {
      last.add(value, bin);
      return;
    }
    if (last === undefined || start > last.start) {
      const b = new Bucket(start);
      b.add(value, bin);
      buckets.push(b);
      // Pruned only when a bucket opens (every 10 s or minute per series), never per datum.
      let drop = 0;
      while (drop < buckets.length && buckets[drop]!.start <= nowMs - this.retentionMs) drop++;
      if (drop > 0) buckets.splice(0, drop);
      return;
    }
    // The clock stepped back: find or insert the bucket in order (rare, so a search is fine).
    const i = this.firstAtOrAfter(start);
    if (buckets[i]?.start === start) buckets[i]!.add(value, bin);
    else {
      const b = new Bucket(start);
      b.add(value, bin);
      buckets.splice(i, 0, b);
    }
  }

  /** Index of the first bucket starting at or after `t`. */
  firstAtOrAfter(t: number): number {
    let lo = 0;
    let hi = this.buckets.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.buckets[mid]!.start < t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

interface Series {
  readonly fine: Tier;
  readonly minute: Tier;
}

export interface TimeSeriesMetricsStoreOptions {
  /** @default Date.now */
  readonly now?: () => number;
  /** Metric + dimension sets recorded at most; later ones are dropped. @default 10000 */
  readonly maxSeries?: number;
}

export class TimeSeriesMetricsStore implements MetricsSink, MetricsReader {
  private readonly now: () => number;
  private readonly maxSeries: number;
  private readonly series = new Map<string, Series>();
  /** As in InMemoryMetricsSink: the app reuses one dimension-set object per version, so two lookups find a series. */
  private readonly byDimensions = new WeakMap<MetricDimensions, Map<string, Series | null>>();
  /** Every recorded series' name and dimensions, in the order first seen (what {@link listSeries} answers). */
  private readonly index: { readonly metricName: string; readonly dimensions: MetricDimensions }[] = [];
  /** Series not recorded because `maxSeries` was reached. */
  droppedSeries = 0;

  constructor(options: TimeSeriesMetricsStoreOptions = {}) {
    this.now = options.now ?? Date.now;
    this.maxSeries = options.maxSeries ?? 10_000;
  }

  emit(dimensionSets: readonly MetricDimensions[], data: readonly MetricDatum[]): void {
    const nowMs = this.now();
    for (const dimensions of dimensionSets) {
      let named = this.byDimensions.get(dimensions);
      if (named === undefined) {
        named = new Map();
        this.byDimensions.set(dimensions, named);
      }
      for (const datum of data) {
        let s = named.get(datum.name);
        if (s === undefined) s = this.seriesFor(datum.name, dimensions, named);
        if (s === null || !Number.isFinite(datum.value)) continue;
        const bin = binOf(datum.value);
        s.fine.add(nowMs, datum.value, bin);
        s.minute.add(nowMs, datum.value, bin);
      }
    }
  }

  private seriesFor(
    name: string,
    dimensions: MetricDimensions,
    named: Map<string, Series | null>,
  ): Series | null {
    const key = `${name}|${dimensionKey(dimensions)}`;
    let s: Series | null | undefined = this.series.get(key);
    if (s === undefined) {
      if (this.series.size >= this.maxSeries) {
        this.droppedSeries++;
        s = null;
      } else {
        s = {
          fine: new Tier(FINE_BUCKET_MS, FINE_RETENTION_MS),
          minute: new Tier(MINUTE_BUCKET_MS, MINUTE_RETENTION_MS),
        };
        this.series.set(key, s);
        this.index.push({ metricName: name, dimensions: { ...dimensions } });
      }
    }
    named.set(name, s);
    return s;
  }

  /**
   * The series recorded so far (metric name and dimensions), e.g. for the local console to find each feature's drift
   * series; CloudWatch's ListMetrics is the AWS counterpart.
   */
  listSeries(): readonly { readonly metricName: string; readonly dimensions: MetricDimensions }[] {
    return this.index;
  }

  flush(): void {
    // Nothing buffered: every emit lands in its buckets at once.
  }

  async read(request: MetricReadRequest): Promise<readonly MetricReadSeries[]> {
    return this.readNow(request);
  }

  /** {@link read} without the promise, for callers in the same process. */
  readNow(request: MetricReadRequest): MetricReadSeries[] {
    const plan = planMetricRead(request, this.now());
    if (plan.periodMs % FINE_BUCKET_MS !== 0) {
      throw new MetricReadError(
        `periodSeconds ${request.periodSeconds} is finer than the local metric store's 10-second buckets; use 10, 20, 30 or a multiple of 60`,
      );
    }
    return plan.queries.map((q, i) => {
      const s = this.series.get(`${q.metricName}|${dimensionKey(q.dimensions)}`);
      const tier = s === undefined ? undefined : plan.periodMs % MINUTE_BUCKET_MS === 0 ? s.minute : s.fine;
      return this.seriesOf(plan, q.id, tier, plan.stats[i]!);
    });
  }

  private seriesOf(
    plan: MetricReadPlan,
    id: string,
    tier: Tier | undefined,
    stat: ParsedStat,
  ): MetricReadSeries {
    const timestamps = new Array<number>(plan.periods);
    const values = new Array<number | null>(plan.periods).fill(null);
    for (let p = 0; p < plan.periods; p++) timestamps[p] = plan.startMs + p * plan.periodMs;
    if (tier === undefined) return { id, timestamps, values };
    const buckets = tier.buckets;
    let i = tier.firstAtOrAfter(plan.startMs);
    for (let p = 0; p < plan.periods && i < buckets.length; p++) {
      const end = timestamps[p]! + plan.periodMs;
      let merged: Bucket | undefined;
      for (; i < buckets.length && buckets[i]!.start < end; i++) {
        if (merged === undefined) merged = new Bucket(timestamps[p]!);
        merged.merge(buckets[i]!);
      }
      if (merged !== undefined && merged.count > 0) values[p] = statOf(merged, stat);
    }
    return { id, timestamps, values };
  }
}

/** Emits into every sink in order (local mode: the totals GET /metrics shows, and the time series). */
export class FanOutMetricsSink implements MetricsSink {
  constructor(private readonly sinks: readonly MetricsSink[]) {}

  emit(dimensionSets: readonly MetricDimensions[], data: readonly MetricDatum[]): void {
    for (const sink of this.sinks) sink.emit(dimensionSets, data);
  }

  flush(): void {
    for (const sink of this.sinks) sink.flush();
  }
}
