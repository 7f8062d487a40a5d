/**
 * Live drift counting for the inference path (DESIGN.md decision 5, docs/drift.md): every served instance's
 * features are counted into its version's baseline bins (`binIndex`) plus a missing count, and — when the version
 * has a prediction baseline — its prediction into the prediction bins (`predictionBinner`), per (version, time
 * bucket), in memory; `drain()` hands the pending deltas to a DriftCounterStore, which ADDs them atomically.
 * Feature and prediction counts are separate groups (`features`, `predictions` of `WindowCounts`), so an output
 * and a feature of the same name never share a counter.
 *
 * Pure: no I/O, no clock (callers pass `nowMs`). The hot path allocates nothing per instance: each version gets a
 * plan (feature name → bins, output name → binner, precomputed once) and each bucket a set of typed arrays that
 * are only incremented. A version without a prediction baseline has an empty prediction plan: no extra work.
 * A tensor feature is counted by its per-instance statistics (baseline keys `<feature>.norm`, `<feature>.mean`;
 * ./tensor-values.ts), computed once per instance for both keys.
 */
import { binIndex } from './baseline';
import type { BinCounts, WindowCounts } from './drift';
import type { Baseline, Feature } from './manifest';
import type { DriftLayout } from './ports';
import { predictionBinner, type PredictionBinner } from './prediction-baseline';
import { compileTensorStats, TENSOR_STATS, tensorStatKey, type TensorStats } from './tensor-values';

/**
 * Width of one counter bucket: 5 minutes. Small enough that the drift monitor's windows (whole hours, or the
 * configured schedule) align on bucket starts, large enough that one busy instance writes one item per version
 * every few minutes rather than per request.
 */
export const DRIFT_BUCKET_MS = 5 * 60 * 1000;

/** Pending (version, bucket) pairs above which `count` reports that a flush is due. */
export const DEFAULT_MAX_PENDING_BUCKETS = 64;

/**
 * Bins per feature and, with a prediction baseline, per output (missing excluded) of a baseline: how the store
 * reads counters back into arrays.
 */
export function layoutOf(baseline: Baseline): DriftLayout {
  const features: Record<string, number> = {};
  for (const name of Object.keys(baseline.features)) features[name] = baseline.features[name]!.counts.length;
  if (baseline.predictions === undefined) return { features };
  const predictions: Record<string, number> = {};
  for (const name of Object.keys(baseline.predictions)) {
    predictions[name] = baseline.predictions[name]!.counts.length;
  }
  return { features, predictions };
}

/** Start of the bucket holding `ms`. */
export function bucketStart(ms: number): number {
  return Math.floor(ms / DRIFT_BUCKET_MS) * DRIFT_BUCKET_MS;
}

interface Plan {
  readonly names: readonly string[];
  readonly bins: readonly Baseline['features'][string][];
  /** Outputs with prediction bins; empty without a prediction baseline. */
  readonly outputs: readonly string[];
  readonly binners: readonly PredictionBinner[];
  /** Bins per output (missing excluded), in `outputs` order. */
  readonly outputBins: readonly number[];
  /** Per baseline key: -1 for a feature read by name, else `2 * t + s` (tensor feature t, statistic s). */
  readonly source: Int32Array;
  readonly tensors: readonly { readonly feature: string; readonly stats: TensorStats }[];
  /** Per tensor feature: [norm, mean] of the current instance, and whether it had a value. */
  readonly tensorOut: Float64Array;
  readonly tensorOk: Uint8Array;
}

interface Pending {
  readonly model: string;
  readonly version: string;
  readonly bucket: number;
  /** Per feature: one slot per bin, then the missing count in the last slot. */
  readonly counts: Float64Array[];
  /** Per output of the plan, laid out like `counts`. */
  readonly predictions: Float64Array[];
  total: number;
}

function planOf(baseline: Baseline, features: readonly Feature[]): Plan {
  const names = Object.keys(baseline.features);
  const p = baseline.predictions;
  const outputs = p === undefined ? [] : Object.keys(p);
  const statKeys = new Map<string, number>();
  const tensors: { feature: string; stats: TensorStats }[] = [];
  for (const f of features) {
    if (f.type !== 'tensor') continue;
    const used = TENSOR_STATS.filter((stat) => Object.hasOwn(baseline.features, tensorStatKey(f.name, stat)));
    if (used.length === 0) continue;
    const t = tensors.length;
    tensors.push({ feature: f.name, stats: compileTensorStats(f) });
    TENSOR_STATS.forEach((stat, s) => statKeys.set(tensorStatKey(f.name, stat), 2 * t + s));
  }
  return {
    source: Int32Array.from(names, (n) => statKeys.get(n) ?? -1),
    tensors,
    tensorOut: new Float64Array(2 * tensors.length),
    tensorOk: new Uint8Array(tensors.length),
    names,
    bins: names.map((n) => baseline.features[n]!),
    outputs,
    binners: outputs.map((o) => predictionBinner(p![o]!)),
    outputBins: outputs.map((o) => p![o]!.counts.length),
  };
}

export interface DriftDelta {
  readonly model: string;
  readonly version: string;
  readonly bucketStartMs: number;
  readonly counts: WindowCounts;
}

export class DriftCounter {
  private readonly plans = new Map<string, Plan>();
  private readonly pending = new Map<string, Pending>();

  constructor(private readonly maxPendingBuckets = DEFAULT_MAX_PENDING_BUCKETS) {
    if (!Number.isSafeInteger(maxPendingBuckets) || maxPendingBuckets < 1) {
      throw new RangeError(`maxPendingBuckets must be a whole number >= 1, got ${maxPendingBuckets}`);
    }
  }

  /**
   * Counts `instances` (one record of feature values each) into the bins of `model`'s `version` for the bucket
   * of `nowMs`, and `predictions` (one formatted prediction per instance, as in the response) into the prediction
   * bins when the baseline has them. The version's plan is built from `baseline` (and `features`, which say which
   * baseline keys are tensor statistics) on first sight; a version's baseline never changes. Returns true when the
   * pending buckets reached the size bound: the caller should flush now.
   */
  count(
    model: string,
    version: string,
    baseline: Baseline,
    instances: readonly Readonly<Record<string, unknown>>[],
    nowMs: number,
    predictions?: readonly Readonly<Record<string, unknown>>[],
    features: readonly Feature[] = [],
  ): boolean {
    const series = `${model}#${version}`;
    let plan = this.plans.get(series);
    if (plan === undefined) {
      plan = planOf(baseline, features);
      this.plans.set(series, plan);
    }
    const bucket = bucketStart(nowMs);
    const key = `${series}\u0000${bucket}`;
    let p = this.pending.get(key);
    if (p === undefined) {
      p = {
        model,
        version,
        bucket,
        counts: plan.bins.map((b) => new Float64Array(b.counts.length + 1)),
        predictions: plan.outputBins.map((n) => new Float64Array(n + 1)),
        total: 0,
      };
      this.pending.set(key, p);
    }
    const { names, bins, outputs, binners, source, tensors, tensorOut, tensorOk } = plan;
    for (const instance of instances) {
      for (let t = 0; t < tensors.length; t++) {
        const { feature, stats } = tensors[t]!;
        const value = Object.hasOwn(instance, feature) ? instance[feature] : undefined;
        tensorOk[t] = stats(value, tensorOut, 2 * t) ? 1 : 0;
      }
      for (let f = 0; f < names.length; f++) {
        const arr = p.counts[f]!;
        const from = source[f]!;
        const value =
          from >= 0
            ? tensorOk[from >> 1] === 1
              ? tensorOut[from]
              : undefined
            : Object.hasOwn(instance, names[f]!)
              ? instance[names[f]!]
              : undefined;
        const i = binIndex(bins[f]!, value);
        arr[i === 'missing' ? arr.length - 1 : i]! += 1;
      }
    }
    if (outputs.length > 0) {
      // Every counted instance adds one to each output, in a bin or in missing (a prediction absent too), so
      // each output's counts sum to `total` like a feature's.
      for (let r = 0; r < instances.length; r++) {
        const prediction = predictions?.[r];
        for (let o = 0; o < outputs.length; o++) {
          const arr = p.predictions[o]!;
          const value =
            prediction !== undefined && Object.hasOwn(prediction, outputs[o]!)
              ? prediction[outputs[o]!]
              : undefined;
          const i = binners[o]!(value);
          arr[i === 'missing' ? arr.length - 1 : i]! += 1;
        }
      }
    }
    p.total += instances.length;
    return this.pending.size >= this.maxPendingBuckets;
  }

  /** Pending (version, bucket) pairs. */
  get pendingBuckets(): number {
    return this.pending.size;
  }

  /** Takes every pending delta out of the counter (oldest bucket first). */
  drain(): DriftDelta[] {
    const out: DriftDelta[] = [];
    for (const p of this.pending.values()) {
      if (p.total === 0) continue;
      const plan = this.plans.get(`${p.model}#${p.version}`)!;
      const group = (
        names: readonly string[],
        arrays: readonly Float64Array[],
      ): Record<string, BinCounts> => {
        const g: Record<string, BinCounts> = {};
        names.forEach((name, f) => {
          const arr = arrays[f]!;
          g[name] = { counts: Array.from(arr.subarray(0, arr.length - 1)), missing: arr[arr.length - 1]! };
        });
        return g;
      };
      const features = group(plan.names, p.counts);
      out.push({
        model: p.model,
        version: p.version,
        bucketStartMs: p.bucket,
        counts:
          plan.outputs.length === 0
            ? { features, total: p.total }
            : { features, predictions: group(plan.outputs, p.predictions), total: p.total },
      });
    }
    this.pending.clear();
    return out.sort((a, b) => a.bucketStartMs - b.bucketStartMs);
  }
}
