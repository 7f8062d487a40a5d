/**
 * MetricsSink: the port through which the inference app emits its metrics. In Lambda it is Powertools Metrics
 * (EMF, lambdas/adapters/powertools-metrics-sink.ts); in local mode and tests it is {@link InMemoryMetricsSink}.
 */

/** Metric names the inference path emits; dashboards, alarms and the canary analysis read these. */
export const INFERENCE_METRICS = {
  /** 1 per request that reached a served model (0/1 style: sum = count). */
  requests: 'Requests',
  /** 0 or 1 per request: 1 when the service failed it (5xx), and per integrity refusal. */
  errors: 'Errors',
  /** 0 or 1 per request: 1 when the caller's input was refused (400 or 413). */
  invalidInput: 'InvalidInput',
  /** Milliseconds from the request's arrival to its response being ready (high resolution). */
  latency: 'Latency',
  /** Shadow mode: 0 or 1 per request, under the candidate's version: whether it disagreed with stable. */
  shadowDisagreement: 'ShadowDisagreement',
  /** Shadow mode: the candidate failed to answer a request (the caller still got stable's answer). */
  shadowErrors: 'ShadowErrors',
  /** 1 on the first request of a process. */
  coldStart: 'ColdStart',
  /** A version's artifact hash did not match the registry; the version was refused. */
  integrityFailures: 'IntegrityFailures',
  /** A capture batch could not be written (the request was served anyway). */
  captureErrors: 'CaptureErrors',
} as const;
export type InferenceMetricName = (typeof INFERENCE_METRICS)[keyof typeof INFERENCE_METRICS];

/** Dimension names: every metric is emitted per {Model, Version} and per {Model}. */
export const METRIC_DIMENSIONS = { model: 'Model', version: 'Version' } as const;

export type MetricUnitName = 'Count' | 'Milliseconds';

export interface MetricDatum {
  readonly name: string;
  readonly unit: MetricUnitName;
  readonly value: number;
  /** 1-second storage resolution (CloudWatch high-resolution metric). */
  readonly highResolution?: boolean;
}

export type MetricDimensions = Readonly<Record<string, string>>;

export interface MetricsSink {
  /**
   * Records a group of metrics, each under every dimension set (one EMF blob in Lambda). Must not throw: metrics
   * never fail a request.
   */
  emit(dimensionSets: readonly MetricDimensions[], data: readonly MetricDatum[]): void;
  /** Publishes what `emit` buffered; the app calls it at the end of every request. */
  flush(): void;
}

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
