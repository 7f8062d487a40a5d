/**
 * `MetricsSink` on Powertools Metrics: each emitted group becomes one CloudWatch EMF blob (one log line) whose
 * metrics are recorded under every dimension set of the group, e.g. `[["Model","Version"],["Model"]]`.
 *
 * Why groups and not one blob per invocation: an EMF blob carries one value per dimension name, so metrics of
 * another version (the shadow candidate's ShadowDisagreement, an integrity refusal) need their own blob. A request
 * emits one group in the common case.
 *
 * How the sets are expressed: in Powertools 2.x every dimension set (`addDimensions`) is combined with the default
 * dimensions, and each key may be defined by one source only (a key in two sets makes `serializeMetrics` warn
 * `EMF key "Model" is defined as both a dimension set and dimension set`). So the keys every set of a group shares
 * with the same value (`Model`) become the default dimensions for that blob, and each set adds only its own rest:
 * `{Version}` for `[Model, Version]`, and `{}` for `[Model]` alone. Sets that disagree on a shared key's value
 * cannot share a blob and are published one blob each.
 */
import { MetricResolution, Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { MetricDatum, MetricDimensions, MetricsSink, MetricUnitName } from '../core/ports';

const UNITS: Record<MetricUnitName, (typeof MetricUnit)[keyof typeof MetricUnit]> = {
  Count: MetricUnit.Count,
  Milliseconds: MetricUnit.Milliseconds,
};

export interface PowertoolsMetricsSinkOptions {
  /** CloudWatch namespace (config `monitoring.namespace`, env POWERTOOLS_METRICS_NAMESPACE). */
  readonly namespace: string;
  /** @default POWERTOOLS_SERVICE_NAME or "modelops" */
  readonly serviceName?: string;
  /** Tests: a Metrics instance to publish through. */
  readonly metrics?: Metrics;
}

/** A group's dimension sets split into what they share (default dimensions) and what each adds. */
interface DimensionLayout {
  readonly shared: Readonly<Record<string, string>>;
  readonly rests: readonly Readonly<Record<string, string>>[];
}

/**
 * Splits dimension sets into the keys all of them carry with the same value and the remainder of each; undefined
 * when two sets give a shared key different values (they then cannot be in one blob).
 */
export function splitDimensionSets(sets: readonly MetricDimensions[]): DimensionLayout | undefined {
  const shared: Record<string, string> = {};
  const first = sets[0];
  if (first !== undefined) {
    for (const key of Object.keys(first)) {
      if (sets.every((s) => Object.hasOwn(s, key))) {
        if (sets.some((s) => s[key] !== first[key])) return undefined;
        shared[key] = first[key]!;
      }
    }
  }
  const rests = sets.map((s) => {
    const rest: Record<string, string> = {};
    for (const key of Object.keys(s)) if (!Object.hasOwn(shared, key)) rest[key] = s[key]!;
    return rest;
  });
  return { shared, rests };
}

export class PowertoolsMetricsSink implements MetricsSink {
  private readonly metrics: Metrics;
  private readonly pending: { dims: readonly MetricDimensions[]; data: readonly MetricDatum[] }[] = [];
  /** The app reuses one array of sets per version, so each array is split once. */
  private readonly layouts = new WeakMap<readonly MetricDimensions[], DimensionLayout | null>();

  constructor(options: PowertoolsMetricsSinkOptions) {
    this.metrics =
      options.metrics ??
      new Metrics({
        namespace: options.namespace,
        serviceName: options.serviceName ?? process.env.POWERTOOLS_SERVICE_NAME ?? 'modelops',
      });
    // Powertools adds a `service` default dimension to every set; the contract is exactly {Model, Version} and
    // {Model}, which alarms and the canary analysis address by those names alone.
    this.metrics.clearDefaultDimensions();
  }

  emit(dimensionSets: readonly MetricDimensions[], data: readonly MetricDatum[]): void {
    this.pending.push({ dims: dimensionSets, data });
  }

  /** Publishes one EMF blob per emitted group. Called at the end of each request (one per invocation in Lambda). */
  flush(): void {
    if (this.pending.length === 0) return;
    const groups = this.pending.splice(0, this.pending.length);
    for (const group of groups) {
      let layout = this.layouts.get(group.dims);
      if (layout === undefined) {
        layout = splitDimensionSets(group.dims) ?? null;
        this.layouts.set(group.dims, layout);
      }
      if (layout !== null) {
        this.publish(layout, group.data);
      } else {
        for (const dims of group.dims) this.publish({ shared: dims, rests: [{}] }, group.data);
      }
    }
  }

  private publish(layout: DimensionLayout, data: readonly MetricDatum[]): void {
    const m = this.metrics;
    m.clearDefaultDimensions();
    if (Object.keys(layout.shared).length > 0) m.setDefaultDimensions(layout.shared);
    // An empty rest is a set of the default dimensions alone ([Model]).
    for (const rest of layout.rests) m.addDimensions(rest);
    for (const d of data) {
      m.addMetric(
        d.name,
        UNITS[d.unit],
        d.value,
        d.highResolution ? MetricResolution.High : MetricResolution.Standard,
      );
    }
    try {
      m.publishStoredMetrics();
    } finally {
      m.clearDefaultDimensions();
    }
  }
}
