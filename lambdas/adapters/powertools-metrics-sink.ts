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
 *
 * Why blobs are serialised from templates: going through Powertools for every blob (`setDefaultDimensions`,
 * `addDimensions`, `addMetric` per datum, `serializeMetrics`, `publishStoredMetrics`) cost ~15–20 µs per request,
 * most of the inference handler's overhead at batch 1 and its p99: every call validates and copies (dimension
 * sanitising, `Object.values(MetricUnits).includes` per metric, Sets and spreads for the dimension projection, the
 * key-collision check), and the garbage they leave shows up as GC pauses. Versions and metric groups repeat, so
 * the first blob of each shape (dimension layout × metric names, units and resolutions) is serialised by Powertools
 * itself and cut into a text template (checked once to reproduce Powertools' text exactly); later blobs of that
 * shape are the template's parts joined with the timestamp and the values, written through Powertools' console
 * (the same line Powertools would print). Anything unusual (a repeated metric name, a non-finite value, a huge
 * group) takes the Powertools path as before.
 */
import { MetricResolution, Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { MetricDatum, MetricDimensions, MetricsSink, MetricUnitName } from '../core/ports';

const UNITS: Record<MetricUnitName, (typeof MetricUnit)[keyof typeof MetricUnit]> = {
  Count: MetricUnit.Count,
  Milliseconds: MetricUnit.Milliseconds,
  None: MetricUnit.NoUnit,
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

/** A blob of one shape, as Powertools serialised it; reused with a new timestamp and values. */
interface EmfTemplate {
  /**
   * The blob's JSON text cut at its variable parts: `parts[0]`, the timestamp, `parts[1]`, the value of
   * `data[slots[0]]`, `parts[2]`, … — so a blob is a handful of string concatenations, no object walk.
   */
  readonly parts: readonly string[];
  readonly slots: readonly number[];
}

type EmfBlob = { _aws: { Timestamp: number; CloudWatchMetrics: unknown } } & Record<string, unknown>;

/** Cuts Powertools' blob into a template; undefined when its layout is not the one expected. */
function templateOf(blob: EmfBlob, data: readonly MetricDatum[]): EmfTemplate | undefined {
  const aws = blob._aws;
  if (Object.keys(aws).join() !== 'Timestamp,CloudWatchMetrics') return undefined;
  const index = new Map(data.map((d, i) => [d.name, i]));
  const parts: string[] = [];
  const slots: number[] = [];
  let text = '{';
  let first = true;
  for (const key of Object.keys(blob)) {
    text += `${first ? '' : ','}${JSON.stringify(key)}:`;
    first = false;
    if (key === '_aws') {
      parts.push(`${text}{"Timestamp":`);
      text = `,"CloudWatchMetrics":${JSON.stringify(aws.CloudWatchMetrics)}}`;
    } else if (index.has(key)) {
      parts.push(text);
      slots.push(index.get(key)!);
      text = '';
    } else {
      text += JSON.stringify(blob[key]);
    }
  }
  parts.push(`${text}}`);
  const template = { parts, slots };
  // Checked once against Powertools' own text: a template that would write anything else is not used.
  return render(template, aws.Timestamp, data) === JSON.stringify(blob) ? template : undefined;
}

/** The blob's text (finite numbers print the same with `String` as with `JSON.stringify`). */
function render(template: EmfTemplate, timestamp: number, data: readonly MetricDatum[]): string {
  const { parts, slots } = template;
  let line = parts[0]! + timestamp;
  for (let i = 0; i < slots.length; i++) line += parts[i + 1]! + data[slots[i]!]!.value;
  return line + parts[slots.length + 1]!;
}

/** Groups larger than this take the Powertools path (it splits blobs at 100 metrics). */
const MAX_TEMPLATE_METRICS = 50;

/** The shape of a group's data: names, units and resolutions in order; undefined when no template applies. */
function shapeOf(data: readonly MetricDatum[]): string | undefined {
  if (data.length > MAX_TEMPLATE_METRICS) return undefined;
  let key = '';
  for (const d of data) {
    if (typeof d.value !== 'number' || !Number.isFinite(d.value)) return undefined;
    key +=
      d.unit === 'Count' && d.highResolution !== true
        ? `${d.name}\n`
        : `${d.name}\t${d.unit}\t${d.highResolution === true ? 'h' : 's'}\n`;
  }
  return key;
}

export class PowertoolsMetricsSink implements MetricsSink {
  private readonly metrics: Metrics;
  private readonly pendingDims: (readonly MetricDimensions[])[] = [];
  private readonly pendingData: (readonly MetricDatum[])[] = [];
  /** The app reuses one array of sets per version, so each array is split once. */
  private readonly layouts = new WeakMap<readonly MetricDimensions[], DimensionLayout | null>();
  /** Per layout, per data shape: the template, or null when the shape must go through Powertools each time. */
  private readonly templates = new WeakMap<DimensionLayout, Map<string, EmfTemplate | null>>();
  /** POWERTOOLS_METRICS_DISABLED, as Powertools read it at construction. */
  private readonly disabled: boolean;

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
    this.disabled = (this.metrics as unknown as { isDisabled(): boolean }).isDisabled();
  }

  emit(dimensionSets: readonly MetricDimensions[], data: readonly MetricDatum[]): void {
    this.pendingDims.push(dimensionSets);
    this.pendingData.push(data);
  }

  /** Publishes one EMF blob per emitted group. Called at the end of each request (one per invocation in Lambda). */
  flush(): void {
    const count = this.pendingDims.length;
    if (count === 0) return;
    try {
      for (let i = 0; i < count; i++) {
        const dims = this.pendingDims[i]!;
        const data = this.pendingData[i]!;
        let layout = this.layouts.get(dims);
        if (layout === undefined) {
          layout = splitDimensionSets(dims) ?? null;
          this.layouts.set(dims, layout);
        }
        if (layout !== null) {
          this.publish(layout, data);
        } else {
          for (const set of dims) this.publish({ shared: set, rests: [{}] }, data);
        }
      }
    } finally {
      this.pendingDims.length = 0;
      this.pendingData.length = 0;
    }
  }

  private publish(layout: DimensionLayout, data: readonly MetricDatum[]): void {
    if (this.disabled) return;
    const shape = shapeOf(data);
    if (shape === undefined) return this.publishWithPowertools(layout, data);
    let byShape = this.templates.get(layout);
    if (byShape === undefined) {
      byShape = new Map();
      this.templates.set(layout, byShape);
    }
    let template = byShape.get(shape);
    if (template === undefined) {
      template = this.compile(layout, data);
      byShape.set(shape, template);
    }
    if (template === null) return this.publishWithPowertools(layout, data);
    (this.metrics as unknown as { console: Pick<Console, 'log'> }).console.log(
      render(template, Date.now(), data),
    );
  }

  /** Serialises the group with Powertools once; null when its names repeat (Powertools then keeps value arrays). */
  private compile(layout: DimensionLayout, data: readonly MetricDatum[]): EmfTemplate | null {
    if (new Set(data.map((d) => d.name)).size !== data.length) return null;
    const m = this.metrics;
    try {
      this.stage(layout, data);
      return templateOf(m.serializeMetrics() as EmfBlob, data) ?? null;
    } finally {
      m.clearMetrics();
      m.clearDimensions();
      m.clearMetadata();
      m.clearDefaultDimensions();
    }
  }

  /** Puts the group into the Powertools instance: default dimensions, dimension sets, metrics. */
  private stage(layout: DimensionLayout, data: readonly MetricDatum[]): void {
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
  }

  private publishWithPowertools(layout: DimensionLayout, data: readonly MetricDatum[]): void {
    const m = this.metrics;
    this.stage(layout, data);
    try {
      m.publishStoredMetrics();
    } finally {
      m.clearDefaultDimensions();
    }
  }
}
