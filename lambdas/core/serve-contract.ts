/**
 * The serve-time contract, checked at validation (docs/manifest.md "What validation guarantees"): a version that
 * passes ValidateArtifact answers every request the ingress validator accepts, within the configured limits, with a
 * 2xx. Three parts, each pure:
 *
 * - {@link outputShapeIssues}: each declared output's shape in the graph fits its kind (`[batch]` / `[batch, 1]` for
 *   class and regression, `[batch, labels.length]` for probability);
 * - {@link classLabelCoverage}: the class indices a class output can emit, read from the graph where the graph says
 *   (classifier `classlabels_*`, ArgMax over a tensor of known width, Cast of a boolean), against its labels;
 * - {@link serveContractIssues}: the real ingress validator, the in-process backend's batched run and the real
 *   prediction formatter over a synthetic batch of the maximum batch size built by {@link syntheticInstances} from
 *   the declared ranges and categories and the baseline. Where the graph leaves a shape or the classes symbolic, this
 *   run is the proof that is left.
 */
import { onnx } from 'onnx-proto';
import { batchedPredict, graphBatchSize } from './batch-runs';
import { FeatureEncodingError } from './errors';
import type { FeatureValue, Instance } from './features';
import { compileInstanceValidator, DEFAULT_INFERENCE_LIMITS } from './inference-request';
import type { Feature, FeatureBins, Manifest, Output, TensorElementType } from './manifest';
import type { LoadedModel, TensorMeta } from './model-runtime';
import {
  attribute,
  BOOLEAN_OPS,
  CLASSIFIER_OPS,
  toNumber,
  utf8,
  VALUE_PRESERVING_OPS,
  type OnnxNode,
} from './onnx-nodes';
import { ownValue } from './own';
import { createPredictionFormatter, PredictionFormatError } from './predictions';

const show = (v: unknown): string => JSON.stringify(v) ?? String(v);

function describeShape(shape: readonly (number | string)[]): string {
  return `[${shape.map((d) => (typeof d === 'number' ? String(d) : JSON.stringify(d))).join(', ')}]`;
}

/** A fixed, known dimension (>= 0), or undefined when symbolic (a name, or negative). */
const fixed = (dim: number | string | undefined): number | undefined =>
  typeof dim === 'number' && dim >= 0 ? dim : undefined;

// ---------------------------------------------------------------------------------------------------------------
// Output shapes
// ---------------------------------------------------------------------------------------------------------------

/**
 * Why the graph's shape of `output` cannot be formatted as its kind, or undefined when it can (or the graph leaves
 * the shape unknown: then only the synthetic run can tell). An empty shape is unknown: ONNX Runtime reports no
 * dimensions both for a scalar and for an output whose shape the graph does not declare.
 */
export function outputShapeIssue(output: Output, meta: TensorMeta): string | undefined {
  const shape = meta.shape ?? [];
  if (shape.length === 0) return undefined;
  const where = `outputs "${output.name}"`;
  const got = describeShape(shape);
  if (output.kind === 'probability') {
    const labels = output.labels?.length ?? 0;
    if (shape.length !== 2) {
      return `${where}: the model returns shape ${got}; a probability output must be [batch, ${labels}] (one score per label); export the scores as a 2-D tensor`;
    }
    const width = fixed(shape[1]);
    if (width !== undefined && width !== labels) {
      return `${where}: the model returns ${width} probabilities per row but labels lists ${labels}; list one label per score, in the model's class order`;
    }
    return undefined;
  }
  const width = shape.length === 2 ? fixed(shape[1]) : undefined;
  if (shape.length > 2 || (width !== undefined && width !== 1)) {
    const values = width !== undefined ? `${width} values` : 'several values';
    const fix =
      output.kind === 'regression'
        ? 'a regression output must have one value per instance ([batch] or [batch, 1]); export one output per target (e.g. Split or Gather in the graph) and declare each'
        : 'a class output must have one class per instance ([batch] or [batch, 1]); declare scores as kind "probability", or take their ArgMax in the graph';
    return `${where}: the model returns shape ${got} (${values} per instance); ${fix}`;
  }
  return undefined;
}

/** {@link outputShapeIssue} for every declared output the graph returns as a tensor. */
export function outputShapeIssues(
  manifest: Pick<Manifest, 'outputs'>,
  outputs: readonly TensorMeta[],
): string[] {
  const byName = new Map(outputs.map((o) => [o.name, o]));
  const issues: string[] = [];
  for (const output of manifest.outputs) {
    const meta = byName.get(output.name);
    if (!meta?.isTensor) continue;
    const issue = outputShapeIssue(output, meta);
    if (issue !== undefined) issues.push(issue);
  }
  return issues;
}

// ---------------------------------------------------------------------------------------------------------------
// Class label coverage, from the graph
// ---------------------------------------------------------------------------------------------------------------

/** What a class output can emit, as far as the graph proves it. */
export type ClassCoverage =
  | {
      readonly output: string;
      readonly proven: true;
      /** Every value the output can hold: class indices (numeric outputs) or labels (string outputs). */
      readonly values: readonly (number | string)[];
      /** How the graph proves it, for the check line. */
      readonly how: string;
    }
  | { readonly output: string; readonly proven: false; readonly why: string };

type Node = OnnxNode;
/** Ops whose output has the width of their first input. */
const SAME_WIDTH = new Set([
  'Identity',
  'Cast',
  'Softmax',
  'LogSoftmax',
  'Sigmoid',
  'Relu',
  'LeakyRelu',
  'Tanh',
  'Exp',
  'Log',
  'Abs',
  'Neg',
  'Clip',
  'Dropout',
  'Erf',
  'Sqrt',
  'Reciprocal',
  'Normalizer',
]);
const BROADCAST = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum', 'Mean']);

/** The graph, indexed for tracing a tensor back to what produced it. */
interface GraphIndex {
  readonly producer: ReadonlyMap<string, Node>;
  /** Declared shapes: graph inputs, outputs and value_info. */
  readonly shapes: ReadonlyMap<string, readonly (number | undefined)[]>;
  readonly initializers: ReadonlyMap<string, readonly number[]>;
}

function indexGraph(graph: onnx.IGraphProto): GraphIndex {
  const producer = new Map<string, Node>();
  for (const node of graph.node ?? []) for (const out of node.output ?? []) producer.set(out, node);
  const shapes = new Map<string, (number | undefined)[]>();
  for (const info of [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.valueInfo ?? [])]) {
    const dims = info.type?.tensorType?.shape?.dim;
    if (!info.name || !dims) continue;
    shapes.set(
      info.name,
      dims.map((d) => (d.dimValue !== undefined && d.dimValue !== null ? toNumber(d.dimValue) : undefined)),
    );
  }
  const initializers = new Map<string, number[]>();
  for (const t of graph.initializer ?? []) if (t.name) initializers.set(t.name, (t.dims ?? []).map(toNumber));
  return { producer, shapes, initializers };
}

/** The size of the last dimension of `name` (the class axis of `[batch, classes]`), with where it was read. */
function widthOf(g: GraphIndex, name: string, depth = 0): { width: number; from: string } | undefined {
  if (depth > 50) return undefined;
  const declared = g.shapes.get(name);
  const last = declared?.at(-1);
  if (declared && declared.length >= 2 && last !== undefined && last > 0) {
    return { width: last, from: `"${name}" declared ${describeShape(declared.map((d) => d ?? '?'))}` };
  }
  const init = g.initializers.get(name);
  if (init)
    return {
      width: init.length === 0 ? 1 : init.at(-1)!,
      from: `initializer "${name}" ${describeShape(init)}`,
    };
  const node = g.producer.get(name);
  if (!node) return undefined;
  const inputs = node.input ?? [];
  const op = node.opType ?? '';
  if (SAME_WIDTH.has(op)) return widthOf(g, inputs[0] ?? '', depth + 1);
  if (op === 'MatMul') return widthOf(g, inputs[1] ?? '', depth + 1);
  if (op === 'Gemm') {
    const b = g.initializers.get(inputs[1] ?? '');
    if (!b || b.length !== 2) return undefined;
    const transB = toNumber(attribute(node, 'transB')?.i ?? 0) === 1;
    return { width: transB ? b[0]! : b[1]!, from: `Gemm weight "${inputs[1]}" ${describeShape(b)}` };
  }
  if (BROADCAST.has(op)) {
    const widths = inputs.map((i) => widthOf(g, i, depth + 1));
    const wide = widths.filter((w) => w !== undefined && w.width > 1);
    if (wide.length > 0) return wide.reduce((a, b) => (b!.width > a!.width ? b : a));
    return widths.every((w) => w !== undefined) ? { width: 1, from: `${op} of width-1 inputs` } : undefined;
  }
  if (op === 'Concat') {
    const axis = toNumber(attribute(node, 'axis')?.i ?? 0);
    if (axis !== -1 && axis !== 1) return undefined;
    const widths = inputs.map((i) => widthOf(g, i, depth + 1));
    if (widths.some((w) => w === undefined)) return undefined;
    const total = widths.reduce((s, w) => s + w!.width, 0);
    return { width: total, from: `Concat of ${widths.map((w) => w!.from).join(' and ')}` };
  }
  return undefined;
}

/** The values tensor `name` can hold, traced back through the graph; undefined when the graph does not say. */
function emitted(
  g: GraphIndex,
  name: string,
  depth = 0,
): { values: (number | string)[]; how: string } | undefined {
  if (depth > 50) return undefined;
  const node = g.producer.get(name);
  if (!node) return undefined;
  const op = node.opType ?? '';
  const inputs = node.input ?? [];
  if (CLASSIFIER_OPS.has(op) && node.output?.[0] === name) {
    // TreeEnsembleClassifier names its integer labels classlabels_int64s; LinearClassifier and SVMClassifier
    // name them classlabels_ints.
    const intsAttr = attribute(node, 'classlabels_int64s') ?? attribute(node, 'classlabels_ints');
    const ints = intsAttr?.ints ?? [];
    const strings = attribute(node, 'classlabels_strings')?.strings ?? [];
    if (ints.length > 0) {
      const values = ints.map(toNumber);
      return { values, how: `${op} ${intsAttr!.name} ${show(values)}` };
    }
    if (strings.length > 0) {
      const values = strings.map((s) => utf8.decode(s));
      return { values, how: `${op} classlabels_strings ${show(values)}` };
    }
    return undefined;
  }
  if (BOOLEAN_OPS.has(op)) return { values: [0, 1], how: `${op} (a boolean: 0 or 1)` };
  if (op === 'ArgMax') {
    const axis = toNumber(attribute(node, 'axis')?.i ?? 0);
    if (axis !== 1 && axis !== -1) return undefined;
    const width = widthOf(g, inputs[0] ?? '');
    if (!width) return undefined;
    return {
      values: Array.from({ length: width.width }, (_, i) => i),
      how: `ArgMax over a tensor of width ${width.width} (${width.from})`,
    };
  }
  if (VALUE_PRESERVING_OPS.has(op)) {
    const inner = emitted(g, inputs[0] ?? '', depth + 1);
    return inner && { values: inner.values, how: `${op} of ${inner.how}` };
  }
  return undefined;
}

/**
 * What each class output of the manifest can emit, proven from the ONNX graph where the graph says; `proven: false`
 * (with why) where it does not, which leaves the synthetic run as the only evidence.
 */
export function classLabelCoverage(
  manifest: Pick<Manifest, 'outputs'>,
  modelBytes: Uint8Array,
): ClassCoverage[] {
  const classes = manifest.outputs.filter((o) => o.kind === 'class');
  if (classes.length === 0) return [];
  let index: GraphIndex;
  try {
    index = indexGraph(onnx.ModelProto.decode(modelBytes).graph ?? {});
  } catch (err) {
    const why = `the graph could not be decoded: ${(err as Error).message}`;
    return classes.map((o) => ({ output: o.name, proven: false as const, why }));
  }
  return classes.map((o): ClassCoverage => {
    const found = emitted(index, o.name);
    if (!found) {
      const op = index.producer.get(o.name)?.opType;
      return {
        output: o.name,
        proven: false,
        why: op ? `it is produced by ${op}, whose classes the graph does not state` : 'no node produces it',
      };
    }
    return { output: o.name, proven: true, values: found.values, how: found.how };
  });
}

/** Why the labels of `output` do not cover what `coverage` proves it emits; undefined when they do. */
export function labelCoverageIssue(output: Output, coverage: ClassCoverage): string | undefined {
  if (!coverage.proven) return undefined;
  const labels = output.labels ?? [];
  const where = `outputs "${output.name}".labels`;
  const uncovered = coverage.values.filter((v) =>
    typeof v === 'string' ? !labels.includes(v) : !(Number.isInteger(v) && v >= 0 && v < labels.length),
  );
  if (uncovered.length === 0) return undefined;
  const classCount = coverage.values.length;
  const kind = typeof uncovered[0] === 'string' ? 'class' : 'class index';
  return (
    `${where}: the model can emit ${kind} ${uncovered.map((v) => show(v)).join(', ')} (${coverage.how}) but labels lists ` +
    `${labels.length} (${show(labels)}); list one label per class the model can predict (${classCount}), in the model's class order`
  );
}

// ---------------------------------------------------------------------------------------------------------------
// The synthetic batch
// ---------------------------------------------------------------------------------------------------------------

/** What a generator may read besides the feature: the tensor it feeds and its baseline bins. */
interface GeneratorContext {
  readonly elementType: TensorElementType | undefined;
  readonly bins: FeatureBins | undefined;
}

const INT32_MIN = -2_147_483_648;
const INT32_MAX = 2_147_483_647;

function numericValues(feature: Extract<Feature, { type: 'numeric' }>, ctx: GeneratorContext): number[] {
  const lo = feature.range?.min;
  const hi = feature.range?.max;
  const edges = ctx.bins?.kind === 'numeric' ? ctx.bins.edges : [];
  const known = [...edges, ...(lo === undefined ? [] : [lo]), ...(hi === undefined ? [] : [hi])];
  const low = Math.min(...known, 0);
  const high = Math.max(...known, 0);
  // Beyond the reference data on an unbounded side: ten spans out, the kind of value the validator lets through.
  const span = Math.max(1, high - low) * 10;
  const raw = [
    lo ?? low - span,
    hi ?? high + span,
    ...edges,
    0,
    1,
    -1,
    lo !== undefined && hi !== undefined ? (lo + hi) / 2 : (low + high) / 2,
  ];
  const integer = ctx.elementType === 'int32' || ctx.elementType === 'int64';
  let min = lo ?? -Infinity;
  let max = hi ?? Infinity;
  if (ctx.elementType === 'int32') {
    min = Math.max(min, INT32_MIN);
    max = Math.min(max, INT32_MAX);
  }
  const out = new Set<number>();
  for (const v of raw) {
    let x = Math.min(Math.max(v, min), max);
    // Integer tensors accept whole numbers only: round inwards so the extremes stay inside the range.
    if (integer) x = x <= min ? Math.ceil(x) : x >= max ? Math.floor(x) : Math.round(x);
    if (Number.isFinite(x) && x >= min && x <= max) out.add(x);
  }
  return [...out];
}

/** Candidate values of a feature for the synthetic batch; empty when the generator cannot build any. */
function featureValues(feature: Feature, ctx: GeneratorContext): FeatureValue[] {
  let values: FeatureValue[];
  switch (feature.type) {
    case 'numeric':
      values = numericValues(feature, ctx);
      break;
    case 'categorical': {
      // Baseline categories first (the reference data's own), then every other declared one.
      const declared = new Set(feature.categories);
      const seen = ctx.bins?.kind === 'categorical' ? ctx.bins.categories.filter((c) => declared.has(c)) : [];
      values = [...new Set([...seen, ...feature.categories])];
      break;
    }
    case 'boolean':
      values = [true, false];
      break;
    // Tensor features (docs/manifest.md; the "tensor inputs" design) get their generator here, and only here: a
    // nested array of `shape` (or its { b64 } form) per instance, with the element type's extremes, zeros and a
    // random fill. Until then a feature type without a generator makes the synthetic run skip (see below).
    default:
      return [];
  }
  return feature.required ? values : [...values, null];
}

export type SyntheticBatch =
  | { readonly ok: true; readonly instances: Instance[]; readonly values: number }
  | { readonly ok: false; readonly why: string };

/**
 * `count` instances covering every feature's candidate values: the declared range extremes, the baseline's bin
 * edges (clipped to the range), 0, ±1 and a midpoint for numeric features (whole numbers for integer tensors, beyond
 * the reference data on an unbounded side); every declared category; both booleans; null for optional features.
 * Instance i takes value (i + f) mod n of feature f, so every value appears within the first n instances.
 */
export function syntheticInstances(
  manifest: Pick<Manifest, 'inputs' | 'baseline'>,
  count: number,
  offset = 0,
): SyntheticBatch {
  const elementTypeOf = new Map<string, TensorElementType>();
  for (const t of manifest.inputs.tensors) for (const f of t.features) elementTypeOf.set(f, t.elementType);
  const columns: { name: string; values: FeatureValue[] }[] = [];
  for (const feature of manifest.inputs.features) {
    const bins = manifest.baseline ? ownValue(manifest.baseline.features, feature.name) : undefined;
    const values = featureValues(feature, { elementType: elementTypeOf.get(feature.name), bins });
    if (values.length === 0) {
      return {
        ok: false,
        why: `no value of feature "${feature.name}" (${feature.type}) can be generated`,
      };
    }
    columns.push({ name: feature.name, values });
  }
  const instances: Instance[] = [];
  for (let i = 0; i < count; i++) {
    const instance: Record<string, FeatureValue> = {};
    columns.forEach((c, f) => {
      instance[c.name] = c.values[(offset + i + f) % c.values.length]!;
    });
    instances.push(instance);
  }
  return { ok: true, instances, values: Math.max(...columns.map((c) => c.values.length)) };
}

// ---------------------------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------------------------

export interface ServeContractOptions {
  /** Most instances per request (`DEFAULT_INFERENCE_LIMITS.maxBatch` unless the model's config says otherwise). */
  readonly maxBatch?: number;
  /** The artifact's bytes, to prove class coverage from the graph; without them coverage is left to the run. */
  readonly modelBytes?: Uint8Array;
}

/** Synthetic batches run at most, so a feature with thousands of categories stays a bounded validation cost. */
export const MAX_SYNTHETIC_BATCHES = 16;

const kindFix: Record<Output['kind'], string> = {
  class: 'list one label per class the model can predict, in its class order (and one class per instance)',
  probability: 'list one label per score the model returns per instance',
  regression: 'a regression output must return one value per instance ([batch] or [batch, 1])',
};

/**
 * Checks the serve-time contract on a loaded model; returns the reasons it is broken and the check lines that say
 * what was proven. The graph's batch size must be consistent (else nothing is run).
 */
export async function serveContractIssues(
  manifest: Pick<Manifest, 'inputs' | 'outputs' | 'baseline'>,
  model: Pick<LoadedModel, 'inputs' | 'outputs' | 'run'>,
  options: ServeContractOptions = {},
): Promise<{ issues: string[]; checks: string[] }> {
  const issues: string[] = [];
  const checks: string[] = [];
  const maxBatch = options.maxBatch ?? DEFAULT_INFERENCE_LIMITS.maxBatch;
  const size = graphBatchSize(
    model.inputs,
    manifest.inputs.tensors.map((t) => t.name),
  );
  if (!size.ok) return { issues: [size.issue], checks };
  checks.push(
    size.batchSize === undefined
      ? 'batch: the graph takes any batch size'
      : `batch: the graph fixes the batch size to ${size.batchSize}; served in runs of ${size.batchSize}${size.batchSize > 1 ? ' (the last padded)' : ''}`,
  );

  // Class coverage from the graph.
  const outputs = new Map(manifest.outputs.map((o) => [o.name, o]));
  const unproven: string[] = [];
  /** Outputs whose labels the graph already proved short: the synthetic run failing on them adds nothing. */
  const reported = new Set<string>();
  if (options.modelBytes) {
    for (const coverage of classLabelCoverage(manifest, options.modelBytes)) {
      const output = outputs.get(coverage.output)!;
      if (!coverage.proven) {
        unproven.push(`class labels of "${coverage.output}": not provable from the graph (${coverage.why})`);
        continue;
      }
      const issue = labelCoverageIssue(output, coverage);
      if (issue !== undefined) {
        issues.push(issue);
        reported.add(coverage.output);
      } else
        checks.push(
          `class labels of "${coverage.output}": cover every class the graph can emit (${coverage.how})`,
        );
    }
  } else {
    for (const o of manifest.outputs) {
      if (o.kind === 'class')
        unproven.push(`class labels of "${o.name}": not provable from the graph (no bytes)`);
    }
  }

  // The synthetic batches, through the real validator, the batched run and the real formatter.
  const validate = compileInstanceValidator(manifest, { maxErrors: 5 });
  const predict = batchedPredict(model, manifest);
  const format = createPredictionFormatter(manifest.outputs);
  const first = syntheticInstances(manifest, maxBatch);
  if (!first.ok) {
    checks.push(`synthetic batch: skipped (${first.why})`, ...unproven.map((u) => `${u}; not run`));
    return { issues, checks };
  }
  const batches = Math.min(MAX_SYNTHETIC_BATCHES, Math.ceil(first.values / maxBatch));
  const runs: { label: string; instances: Instance[] }[] = [];
  for (let b = 0; b < batches; b++) {
    const batch = b === 0 ? first : syntheticInstances(manifest, maxBatch, b * maxBatch);
    if (batch.ok)
      runs.push({ label: `synthetic batch ${b + 1} (${maxBatch} instances)`, instances: batch.instances });
  }
  // One instance too: a graph whose output shapes only work for some batch sizes fails one of the two.
  runs.push({ label: 'synthetic single instance', instances: first.instances.slice(0, 1) });
  let passed = true;
  for (const { label, instances } of runs) {
    const problem = await runOne(label, instances, { validate, predict, format, outputs });
    if (problem !== undefined) {
      if (problem.output === undefined || !reported.has(problem.output)) issues.push(problem.message);
      passed = false;
      break;
    }
  }
  if (passed) {
    checks.push(
      `synthetic batch: ${runs.length} run${runs.length === 1 ? '' : 's'} of up to ${maxBatch} instances (range extremes, baseline edges, every category, both booleans, null for optional features) validated, served and formatted`,
      ...unproven.map((u) => `${u}; the synthetic runs emitted only classes that labels cover`),
    );
  } else {
    checks.push(...unproven);
  }
  return { issues, checks };
}

interface Stages {
  readonly validate: ReturnType<typeof compileInstanceValidator>;
  readonly predict: ReturnType<typeof batchedPredict>;
  readonly format: ReturnType<typeof createPredictionFormatter>;
  readonly outputs: ReadonlyMap<string, Output>;
}

/** One synthetic request through validate → predict → format; the reason it fails (and the output), or undefined. */
async function runOne(
  label: string,
  instances: Instance[],
  stages: Stages,
): Promise<{ message: string; output?: string } | undefined> {
  const failure = await runStages(label, instances, stages);
  return typeof failure === 'string' ? { message: failure } : failure;
}

async function runStages(
  label: string,
  instances: Instance[],
  stages: Stages,
): Promise<string | { message: string; output?: string } | undefined> {
  const errors = stages.validate(instances);
  if (errors.length > 0) {
    const e = errors[0]!;
    return `inputs.features: the ${label} built from the declared ranges and categories is refused by the ingress validator (${e.path}: ${e.message}); make each feature's range admit a value its tensor can carry`;
  }
  let raw;
  try {
    raw = await stages.predict(instances);
  } catch (err) {
    if (err instanceof FeatureEncodingError) {
      const i = err.issues[0]!;
      return `inputs.features.${i.feature}: the ${label} cannot be encoded (instances[${i.instance}] ${show(instances[i.instance]?.[i.feature])}: ${i.message}); make the range admit only values its tensor can carry`;
    }
    const message = ((err as Error)?.message ?? String(err)).split('\n')[0]!.slice(0, 400);
    return `artifact: the model fails on the ${label} (values within the declared ranges and categories, which the ingress validator accepts): ${message}; export the graph with a batch dimension that accepts 1 to ${instances.length} rows and handle every declared value`;
  }
  try {
    stages.format(raw, instances.length);
  } catch (err) {
    if (!(err instanceof PredictionFormatError)) throw err;
    const name = /output "([^"]+)"/.exec(err.message)?.[1];
    const output = name === undefined ? undefined : stages.outputs.get(name);
    const where = output ? `outputs "${output.name}"` : 'outputs';
    const fix = output ? kindFix[output.kind] : 'declare the outputs as the model returns them';
    return {
      message: `${where}: on the ${label} the model's output cannot be formatted: ${err.message}; ${fix}`,
      ...(output ? { output: output.name } : {}),
    };
  }
  return undefined;
}
