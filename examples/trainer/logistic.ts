/**
 * The example trainer's model: binary logistic regression (ml-logistic-regression, gradient ascent) on a design
 * vector built from the parent manifest's tensors, in tensor order — numeric columns standardised, one categorical
 * per string tensor one-hot over its declared categories, booleans as 0/1. The same layout is written to ONNX by
 * ./onnx-export.ts, so `predictRows` here and the exported graph compute the same probabilities.
 */
import LogisticRegression from 'ml-logistic-regression';
import { Matrix } from 'ml-matrix';
import { referenceValue } from '../../lambdas/core/baseline';
import type { FeatureValue } from '../../lambdas/core/features';
import type { Feature, Manifest } from '../../lambdas/core/manifest';
import { seededRandom } from '../../lambdas/core/random';
import type { InputBlock, LogisticGraph } from './onnx-export';

/** How one design column is read from a row. */
type Column =
  | { readonly kind: 'number'; readonly feature: string }
  | { readonly kind: 'onehot'; readonly feature: string; readonly category: string };

export interface Layout {
  readonly blocks: readonly InputBlock[];
  readonly columns: readonly Column[];
  readonly labels: readonly [string, string];
  readonly probabilities: LogisticGraph['probabilities'];
  readonly label: LogisticGraph['label'];
}

/** The design layout of a parent manifest, or an error naming what this trainer cannot train. */
export function layoutOf(manifest: Manifest): Layout {
  const features = new Map(manifest.inputs.features.map((f) => [f.name, f]));
  const blocks: InputBlock[] = [];
  const columns: Column[] = [];
  for (const t of manifest.inputs.tensors) {
    const fs = t.features.map((name) => features.get(name)!);
    const tensor = fs.find((f) => f.type === 'tensor');
    if (tensor)
      throw new Error(`feature "${tensor.name}" is a tensor; this trainer trains tabular models only`);
    if (t.elementType === 'string') {
      const f = fs[0] as Extract<Feature, { type: 'categorical' }>;
      if (fs.length !== 1 || f.type !== 'categorical') {
        throw new Error(
          `tensor "${t.name}": a string tensor must hold exactly one categorical feature for this trainer`,
        );
      }
      blocks.push({ name: t.name, elementType: 'string', width: 1, categories: f.categories });
      for (const category of f.categories) columns.push({ kind: 'onehot', feature: f.name, category });
    } else {
      const bad = fs.find((f) => f.type === 'categorical');
      if (bad) throw new Error(`tensor "${t.name}": categorical "${bad.name}" must come as a string tensor`);
      blocks.push({ name: t.name, elementType: t.elementType, width: fs.length });
      for (const f of fs) columns.push({ kind: 'number', feature: f.name });
    }
  }
  const probability = manifest.outputs.find((o) => o.kind === 'probability');
  const cls = manifest.outputs.find((o) => o.kind === 'class');
  if (manifest.outputs.length !== 2 || !probability || !cls || probability.labels?.length !== 2) {
    throw new Error(
      'outputs: this trainer writes binary classifiers with one class output and one probability output of 2 labels',
    );
  }
  if (cls.elementType !== 'int64' && cls.elementType !== 'int32') {
    throw new Error(`outputs "${cls.name}": the class output must be int64 or int32 (an index into labels)`);
  }
  const labels = probability.labels as [string, string];
  return {
    blocks,
    columns,
    labels,
    probabilities: { name: probability.name, elementType: probability.elementType as 'float32' | 'float64' },
    label: { name: cls.name, elementType: cls.elementType },
  };
}

/** A training row as typed values: feature values (null when missing) and the label's index. */
export interface TypedRow {
  readonly values: Readonly<Record<string, FeatureValue>>;
  readonly y: number;
}

/** Types CSV rows by the parent's features and labels; throws naming the row and column of a bad cell. */
export function typeRows(
  manifest: Manifest,
  labels: readonly string[],
  rows: readonly Readonly<Record<string, string>>[],
): TypedRow[] {
  return rows.map((cells, i) => {
    const row = i + 1;
    const values: Record<string, FeatureValue> = {};
    for (const f of manifest.inputs.features) values[f.name] = referenceValue(f, cells[f.name] ?? '', row);
    const label = (cells.label ?? '').trim();
    const y = labels.indexOf(label);
    if (y < 0) {
      throw new Error(
        `row ${row}: label "${label}" is not one of ${labels.map((l) => `"${l}"`).join(', ')}; fix the label column`,
      );
    }
    return { values, y };
  });
}

/** Design row with NaN for a missing number (imputed by `imputeAndScale`). */
function designRow(columns: readonly Column[], values: Readonly<Record<string, FeatureValue>>): number[] {
  return columns.map((c) => {
    const v = values[c.feature];
    if (c.kind === 'onehot') return v === c.category ? 1 : 0;
    if (v === null || v === undefined) return Number.NaN;
    return typeof v === 'boolean' ? (v ? 1 : 0) : Number(v);
  });
}

/** Seeded, stratified split: `heldOutShare` of each class is held out. */
export function splitRows<R extends { readonly y: number }>(
  rows: readonly R[],
  heldOutShare: number,
  seed: number,
): { train: R[]; heldOut: R[] } {
  const random = seededRandom(seed);
  const train: R[] = [];
  const heldOut: R[] = [];
  for (const cls of [0, 1]) {
    const idx = rows.flatMap((r, i) => (r.y === cls ? [i] : []));
    for (let i = idx.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [idx[i], idx[j]] = [idx[j]!, idx[i]!];
    }
    const cut = Math.round(idx.length * heldOutShare);
    idx.forEach((k, n) => (n < cut ? heldOut : train).push(rows[k]!));
  }
  return { train, heldOut };
}

export interface TrainedModel {
  readonly layout: Layout;
  readonly mean: number[];
  readonly scale: number[];
  readonly weights: number[];
  readonly intercept: number;
  /** Per design column: the value a missing number is imputed with (the training mean). */
  readonly impute: number[];
}

export interface FitOptions {
  /** Gradient steps. @default 800 */
  readonly steps?: number;
  /** Step size on the mean gradient. @default 0.5 */
  readonly learningRate?: number;
}

/**
 * Fits the model on `rows`: standardises number columns (population standard deviation; a constant column keeps
 * scale 1), imputes a missing number with its column mean (a `pii` feature absent from captured live rows, see
 * docs/retrain.md), then runs ml-logistic-regression with an intercept column.
 */
export function fit(layout: Layout, rows: readonly TypedRow[], options: FitOptions = {}): TrainedModel {
  const width = layout.columns.length;
  const design = rows.map((r) => designRow(layout.columns, r.values));
  const mean = new Array<number>(width).fill(0);
  const scale = new Array<number>(width).fill(1);
  const impute = new Array<number>(width).fill(0);
  layout.columns.forEach((c, j) => {
    if (c.kind !== 'number') return;
    const present = design.map((d) => d[j]!).filter((v) => !Number.isNaN(v));
    if (present.length === 0) throw new Error(`feature "${c.feature}" has no value in any training row`);
    const m = present.reduce((a, b) => a + b, 0) / present.length;
    const variance = present.reduce((a, b) => a + (b - m) ** 2, 0) / present.length;
    mean[j] = m;
    impute[j] = m;
    // Booleans stay 0/1 like the one-hot columns (as the parent graphs do); only numeric features are scaled.
    const isBoolean = rows.some((r) => typeof r.values[c.feature] === 'boolean');
    if (isBoolean) mean[j] = 0;
    else scale[j] = variance > 0 ? Math.sqrt(variance) : 1;
    for (const d of design) if (Number.isNaN(d[j])) d[j] = m;
  });
  const X = new Matrix(design.map((d) => [...d.map((v, j) => (v - mean[j]!) / scale[j]!), 1]));
  const y = Matrix.columnVector(rows.map((r) => r.y));
  const steps = options.steps ?? 800;
  // ml-logistic-regression sums the gradient over rows; dividing the rate by the row count makes it a mean step.
  const lr = new LogisticRegression({
    numSteps: steps,
    learningRate: (options.learningRate ?? 0.5) / rows.length,
  });
  lr.train(X, y);
  // One-vs-all with classes {0, 1}: classifiers[0] scores "not class 0", i.e. P(class 1).
  const w = lr.classifiers[0]!.weights.to1DArray();
  return { layout, mean, scale, weights: w.slice(0, width), intercept: w[width]!, impute };
}

/** P(labels[1]) per row, in float64, with the fitted imputation. */
export function predictRows(model: TrainedModel, rows: readonly { values: TypedRow['values'] }[]): number[] {
  return rows.map((r) => {
    const d = designRow(model.layout.columns, r.values);
    let z = model.intercept;
    d.forEach((v, j) => {
      const x = Number.isNaN(v) ? model.impute[j]! : v;
      z += ((x - model.mean[j]!) / model.scale[j]!) * model.weights[j]!;
    });
    return 1 / (1 + Math.exp(-z));
  });
}

/** The graph description ./onnx-export.ts writes. */
export function graphOf(model: TrainedModel, docString?: string): LogisticGraph {
  return {
    inputs: model.layout.blocks,
    mean: model.mean,
    scale: model.scale,
    weights: model.weights,
    intercept: model.intercept,
    probabilities: model.layout.probabilities,
    label: model.layout.label,
    ...(docString !== undefined ? { docString } : {}),
  };
}
