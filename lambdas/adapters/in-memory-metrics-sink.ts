/**
 * MetricsSink implementations that keep nothing outside the process: {@link InMemoryMetricsSink} for local mode and
 * tests, {@link NoopMetricsSink} for benchmarks.
 */
import type { MetricDatum, MetricDimensions, MetricsSink, MetricUnitName } from '../core/ports';

/** The aggregate of one metric under one dimension set. */
export interface MetricSeries {
  readonly name: string;
  readonly unit: MetricUnitName;
  readonly dimensions: MetricDimensions;
  /** Values recorded. */
  readonly count: number;
  readonly sum: number;
  readonly min: number;
  readonly max: number;
}

/** Canonical text of a dimension set: `Model=a,Version=1`, keys sorted. */
export function dimensionKey(dimensions: MetricDimensions): string {
  return Object.keys(dimensions)
    .sort()
    .map((k) => `${k}=${dimensions[k]}`)
    .join(',');
}

interface MutableSeries {
  name: string;
  unit: MetricUnitName;
  dimensions: MetricDimensions;
  count: number;
  sum: number;
  min: number;
  max: number;
}

/**
 * Keeps counters by metric name and dimension set, for local mode (`GET` a snapshot from the local server) and
 * tests. Values are aggregated as CloudWatch statistics would (count, sum, min, max); samples are not kept, so
 * memory stays bounded by the number of series.
 */
export class InMemoryMetricsSink implements MetricsSink {
  private readonly series = new Map<string, MutableSeries>();
  /**
   * Series by dimension-set object, then by metric name. The app reuses one dimension-set object per version, so a
   * request finds its series with two lookups and no string building.
   */
  private byDimensions = new WeakMap<MetricDimensions, Map<string, MutableSeries>>();

  emit(dimensionSets: readonly MetricDimensions[], data: readonly MetricDatum[]): void {
    for (const dimensions of dimensionSets) {
      let named = this.byDimensions.get(dimensions);
      if (named === undefined) {
        named = new Map();
        this.byDimensions.set(dimensions, named);
      }
      for (const datum of data) {
        const s = named.get(datum.name) ?? this.seriesFor(datum, dimensions, named);
        s.count++;
        s.sum += datum.value;
        if (datum.value < s.min) s.min = datum.value;
        if (datum.value > s.max) s.max = datum.value;
      }
    }
  }

  /** The series of a metric under a dimension set first seen through this object: shared with equal sets. */
  private seriesFor(
    datum: MetricDatum,
    dimensions: MetricDimensions,
    named: Map<string, MutableSeries>,
  ): MutableSeries {
    const key = `${datum.name}|${dimensionKey(dimensions)}`;
    let s = this.series.get(key);
    if (s === undefined) {
      s = {
        name: datum.name,
        unit: datum.unit,
        dimensions: { ...dimensions },
        count: 0,
        sum: 0,
        min: Number.POSITIVE_INFINITY,
        max: Number.NEGATIVE_INFINITY,
      };
      this.series.set(key, s);
    }
    named.set(datum.name, s);
    return s;
  }

  flush(): void {
    // Nothing buffered: every emit is aggregated at once.
  }

  /** Every series, sorted by name then dimensions; copies, so later requests do not change them. */
  snapshot(): MetricSeries[] {
    return [...this.series.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, s]) => ({ ...s, dimensions: { ...s.dimensions } }));
  }

  /** One series, or undefined when nothing was recorded under exactly these dimensions. */
  get(name: string, dimensions: MetricDimensions): MetricSeries | undefined {
    const s = this.series.get(`${name}|${dimensionKey(dimensions)}`);
    return s === undefined ? undefined : { ...s, dimensions: { ...s.dimensions } };
  }

  /** Sum of a metric under exactly these dimensions; 0 when never recorded. */
  sum(name: string, dimensions: MetricDimensions): number {
    return this.get(name, dimensions)?.sum ?? 0;
  }

  reset(): void {
    this.series.clear();
    this.byDimensions = new WeakMap();
  }
}

/** Discards everything: for benchmarks that measure the handler without metrics. */
export class NoopMetricsSink implements MetricsSink {
  emit(): void {}
  flush(): void {}
}
