/**
 * The prediction baseline: how a model's outputs on its reference rows are distributed, in the bins that drift
 * monitoring counts served predictions into (docs/manifest.md `baseline.predictions`, docs/drift.md "Prediction
 * drift"). One bins object per output, keyed by output name, in the `FeatureBins` shape:
 *
 * - `class`: categorical bins over the output's labels, in label order, then `__OTHER__` — the class shares;
 * - `probability`: numeric bins at the deciles of the predicted class's probability (the row's largest probability);
 * - `regression`: numeric bins at the deciles of the value.
 *
 * The values binned are the formatted predictions of the inference response (./predictions.ts). `predictionBinner`
 * is the one assignment rule: `computePredictionBaseline` counts the reference predictions with it and the drift
 * counter (./drift-counter.ts) counts every served prediction with it; numeric edges come from `quantileEdges` and
 * numeric values go through `binIndex`, the feature profile's rules (./baseline.ts).
 *
 * Pure and zod-free: the inference path imports it.
 */
import { binIndex, DEFAULT_BASELINE_BINS, positiveInteger, quantileEdges } from './baseline';
import type { FeatureBins, Output } from './manifest';
import type { OutputKind } from './names';
import { ownValue } from './own';

/** Bins kind the prediction baseline holds for each output kind. */
export const PREDICTION_BINS_KIND: Readonly<Record<OutputKind, FeatureBins['kind']>> = {
  class: 'categorical',
  probability: 'numeric',
  regression: 'numeric',
};

/** Most categories a bins object may hold (manifest.ts `categoricalBinsSchema`); larger label sets are skipped. */
export const MAX_PREDICTION_CATEGORIES = 1_000;

export interface PredictionBaselineOptions {
  /**
   * Quantile bins per numeric output (before duplicate edges collapse).
   * @default 10
   */
  readonly bins?: number;
}

export interface PredictionBaselineResult {
  /** Per output name; the manifest's `baseline.predictions`. */
  readonly predictions: Record<string, FeatureBins>;
  /** Outputs left out, with the reason (a class output with more labels than bins can hold). */
  readonly skipped: readonly { readonly output: string; readonly reason: string }[];
}

/** Assigns one formatted prediction value of an output to a bin of its prediction bins. */
export type PredictionBinner = (value: unknown) => number | 'missing';

/**
 * The predicted class's probability of a probability output's `{ label: p }` value: the largest p. Undefined when
 * the object is empty or holds anything but finite numbers. Iterates with `for … in` (no array per call): it runs
 * per served instance. The formatter builds these objects from `{}` with every label as an own key.
 */
export function topProbability(value: Readonly<Record<string, unknown>>): number | undefined {
  let top = Number.NEGATIVE_INFINITY;
  let seen = false;
  for (const label in value) {
    const p = value[label];
    if (typeof p !== 'number' || !Number.isFinite(p)) return undefined;
    if (p > top) top = p;
    seen = true;
  }
  return seen ? top : undefined;
}

/**
 * The assignment rule of one output's prediction bins, compiled once per version. Categorical bins (a class
 * output): a label string goes to its index, an unknown label to `__OTHER__` (the last count), anything else is
 * missing; labels are matched exactly (a class called `None` is a class, not a missing value). Numeric bins: a
 * finite number (regression) or the top probability of a `{ label: p }` object, through `binIndex`; NaN, ±Infinity
 * and anything else are missing.
 *
 * @example
 * const bin = predictionBinner(manifest.baseline.predictions.label);
 * bin('benign'); // 1
 */
export function predictionBinner(bins: FeatureBins): PredictionBinner {
  if (bins.kind === 'categorical') {
    const index = new Map<string, number>();
    // First index wins, should a label repeat.
    bins.categories.forEach((c, i) => {
      if (!index.has(c)) index.set(c, i);
    });
    const other = bins.categories.length;
    return (value) => (typeof value === 'string' ? (index.get(value) ?? other) : 'missing');
  }
  return (value) => {
    let x: number | undefined;
    if (typeof value === 'number') x = value;
    else if (typeof value === 'object' && value !== null) {
      x = topProbability(value as Readonly<Record<string, unknown>>);
    }
    return x !== undefined && Number.isFinite(x) ? binIndex(bins, x) : 'missing';
  };
}

/** The number a numeric output's prediction bins count, or undefined when it counts as missing. */
function scalarOf(kind: OutputKind, value: unknown): number | undefined {
  let x: number | undefined;
  if (kind === 'regression' && typeof value === 'number') x = value;
  else if (kind === 'probability' && typeof value === 'object' && value !== null) {
    x = topProbability(value as Readonly<Record<string, unknown>>);
  }
  return x !== undefined && Number.isFinite(x) ? x : undefined;
}

/**
 * Profiles a model's predictions on its reference rows into the manifest's `baseline.predictions`. `predictions`
 * are formatted as the inference response formats them (one per served reference row); each declared output gets
 * bins by its kind (see the module comment). An output a prediction lacks counts as missing for that row.
 *
 * @example
 * const format = createPredictionFormatter(manifest.outputs);
 * const { predictions } = computePredictionBaseline(manifest.outputs, format(await model.run(feeds), rows.length));
 * manifest.baseline.predictions = predictions;
 */
export function computePredictionBaseline(
  outputs: readonly Output[],
  predictions: readonly Readonly<Record<string, unknown>>[],
  options: PredictionBaselineOptions = {},
): PredictionBaselineResult {
  const binsOption = positiveInteger(options.bins, DEFAULT_BASELINE_BINS, 'bins');
  const out: Record<string, FeatureBins> = {};
  const skipped: { output: string; reason: string }[] = [];
  for (const output of outputs) {
    const values = predictions.map((p) => ownValue(p, output.name));
    let shape: FeatureBins;
    if (PREDICTION_BINS_KIND[output.kind] === 'categorical') {
      const labels = output.labels ?? [];
      if (labels.length > MAX_PREDICTION_CATEGORIES) {
        skipped.push({
          output: output.name,
          reason: `${labels.length} labels; prediction bins hold at most ${MAX_PREDICTION_CATEGORIES} classes`,
        });
        continue;
      }
      shape = { kind: 'categorical', categories: [...labels], counts: [], missing: 0 };
    } else {
      const finite: number[] = [];
      for (const v of values) {
        const x = scalarOf(output.kind, v);
        if (x !== undefined) finite.push(x);
      }
      shape = {
        kind: 'numeric',
        edges: quantileEdges(Float64Array.from(finite), binsOption),
        counts: [],
        missing: 0,
      };
    }
    const bin = predictionBinner(shape);
    const counts = new Array<number>(
      (shape.kind === 'numeric' ? shape.edges.length : shape.categories.length) + 1,
    ).fill(0);
    let missing = 0;
    for (const v of values) {
      const i = bin(v);
      if (i === 'missing') missing++;
      else counts[i]!++;
    }
    out[output.name] = { ...shape, counts, missing };
  }
  return { predictions: out, skipped };
}
