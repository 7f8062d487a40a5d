/**
 * What `modelops init` reads from an ONNX graph: its inputs (element type, shape, the categories an in-graph
 * OneHotEncoder knows), its outputs and what each one is (probabilities, a class, a regression value, or something
 * serving cannot return, with the fix), and the class labels a classifier node names. Pure over a decoded
 * `ModelProto` (onnx-proto), so each export pattern is testable without ONNX Runtime.
 */
import { onnx } from 'onnx-proto';
import type { OutputKind, TensorElementType } from '../lambdas/core/manifest';
import {
  attribute,
  BOOLEAN_OPS,
  CLASSIFIER_OPS,
  toNumber,
  utf8,
  VALUE_PRESERVING_OPS,
  type OnnxNode,
} from '../lambdas/core/onnx-nodes';
import { tensorShapeIssues } from '../lambdas/core/tensor-values';

/** A dimension: a whole number when the graph fixes it, a name (or '?') when it is symbolic. */
export type Dim = number | string;

export interface GraphValue {
  readonly name: string;
  /** 'tensor', or what else it is ('sequence', 'map', …): only tensors can be fed or served. */
  readonly valueKind: 'tensor' | 'sequence' | 'map' | 'optional' | 'sparse' | 'unknown';
  /** ONNX Runtime's name of the element type ('float32', 'int64', 'string', 'bool', 'uint8', …). */
  readonly elementType?: string;
  /** Undefined when the graph declares no shape. */
  readonly dims?: readonly Dim[];
}

export interface GraphInput extends GraphValue {
  /** Categories of the OneHotEncoder that reads this input (directly or through reshapes/casts). */
  readonly categories?: { readonly strings?: readonly string[]; readonly int64s?: readonly number[] };
}

/** The class labels the graph itself names, and where. */
export interface GraphClasses {
  /** Class ids (`classlabels_int64s`/`classlabels_ints`) or label strings (`classlabels_strings`). */
  readonly values?: readonly (number | string)[];
  /** How many classes, when known (from the labels, a probability width or a boolean label). */
  readonly count?: number;
  readonly from: string;
}

export type OutputRole =
  | { readonly kind: OutputKind; readonly why: string }
  /** Serving cannot return it; `fix` says how to export it instead. */
  | { readonly kind: 'unservable'; readonly why: string; readonly fix: string }
  /** The graph does not say (no declared shape): running the model decides. */
  | { readonly kind: 'undetermined'; readonly why: string };

export interface GraphOutput extends GraphValue {
  readonly role: OutputRole;
  /** Set for class and probability outputs whose classes the graph states. */
  readonly classes?: GraphClasses;
}

export interface GraphSummary {
  readonly inputs: readonly GraphInput[];
  readonly outputs: readonly GraphOutput[];
  /** Opset imports, e.g. `ai.onnx 17, ai.onnx.ml 3`, for the printed summary. */
  readonly opsets: string;
}

/** The file is not an ONNX model (protobuf decoding failed, or it holds no graph). */
export class NotOnnxError extends Error {
  override name = 'NotOnnxError';
}

/** Decodes ONNX bytes; throws `NotOnnxError` when they are not a model with a graph. */
export function decodeOnnx(bytes: Uint8Array): onnx.ModelProto {
  let model: onnx.ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (err) {
    throw new NotOnnxError(`it is not an ONNX model (protobuf decoding failed: ${(err as Error).message})`);
  }
  // Protobuf decodes many byte strings without error; a real model has an IR version, a graph and graph inputs.
  if (toNumber(model.irVersion) < 1 || !model.graph || (model.graph.input ?? []).length === 0) {
    throw new NotOnnxError('it is not an ONNX model (no IR version, graph or graph inputs)');
  }
  return model;
}

// TensorProto.DataType → ONNX Runtime's element type names (what TensorMeta.elementType and the manifest use).
const ELEMENT_TYPES: Readonly<Record<number, string>> = {
  1: 'float32',
  2: 'uint8',
  3: 'int8',
  4: 'uint16',
  5: 'int16',
  6: 'int32',
  7: 'int64',
  8: 'string',
  9: 'bool',
  10: 'float16',
  11: 'float64',
  12: 'uint32',
  13: 'uint64',
  14: 'complex64',
  15: 'complex128',
  16: 'bfloat16',
};

type Node = OnnxNode;

const ints = (node: Node, name: string): number[] => (attribute(node, name)?.ints ?? []).map(toNumber);
const strings = (node: Node, name: string): string[] =>
  (attribute(node, name)?.strings ?? []).map((s) => utf8.decode(s));
const text = (node: Node, name: string): string | undefined => {
  const s = attribute(node, name)?.s;
  return s && s.length > 0 ? utf8.decode(s) : undefined;
};

function valueOf(info: onnx.IValueInfoProto): GraphValue {
  const name = info.name ?? '';
  const type = info.type;
  if (type?.tensorType) {
    const dims = type.tensorType.shape?.dim?.map((d): Dim => {
      const which = (d as onnx.TensorShapeProto.Dimension).value;
      if (which === 'dimValue') return toNumber(d.dimValue);
      return d.dimParam ? d.dimParam : '?';
    });
    const elementType = ELEMENT_TYPES[toNumber(type.tensorType.elemType)] ?? 'unknown';
    return { name, valueKind: 'tensor', elementType, ...(type.tensorType.shape ? { dims } : {}) };
  }
  const valueKind = type?.sequenceType
    ? 'sequence'
    : type?.mapType
      ? 'map'
      : type?.optionalType
        ? 'optional'
        : type?.sparseTensorType
          ? 'sparse'
          : 'unknown';
  return { name, valueKind };
}

/** Ops that keep a score tensor's class axis (normalising scores into probabilities). */
const SCORE_PRESERVING = new Set([...VALUE_PRESERVING_OPS, 'Normalizer', 'Softmax', 'Sigmoid', 'LogSoftmax']);
const REGRESSORS = new Set(['TreeEnsembleRegressor', 'LinearRegressor', 'SVMRegressor']);

interface Origin {
  readonly node: Node;
  /** Which output of `node` the traced tensor is. */
  readonly outputIndex: number;
}

/** The first node upstream of `name` that is not in `through` (its first input followed), or undefined. */
function originOf(
  producer: ReadonlyMap<string, Node>,
  name: string,
  through: ReadonlySet<string>,
): Origin | undefined {
  let current = name;
  for (let depth = 0; depth < 64; depth++) {
    const node = producer.get(current);
    if (!node) return undefined;
    if (!through.has(node.opType ?? '')) return { node, outputIndex: (node.output ?? []).indexOf(current) };
    current = node.input?.[0] ?? '';
  }
  return undefined;
}

function classifierClasses(node: Node): GraphClasses | undefined {
  const op = node.opType ?? '';
  // TreeEnsembleClassifier names integer labels classlabels_int64s; LinearClassifier and SVMClassifier classlabels_ints.
  for (const attr of ['classlabels_int64s', 'classlabels_ints']) {
    const values = ints(node, attr);
    if (values.length > 0) return { values, count: values.length, from: `${op} ${attr}` };
  }
  const labels = strings(node, 'classlabels_strings');
  if (labels.length > 0) return { values: labels, count: labels.length, from: `${op} classlabels_strings` };
  return undefined;
}

const ZIPMAP_FIX =
  're-export with probabilities as a tensor: skl2onnx `to_onnx(model, X, options={"zipmap": False})` (or ' +
  '`convert_sklearn(..., options={id(model): {"zipmap": False}})`)';

const fixedDim = (d: Dim | undefined): number | undefined =>
  typeof d === 'number' && d >= 0 ? d : undefined;

/** What an output is, from its type, its shape and the node that computes it. */
function outputRole(
  value: GraphValue,
  producer: ReadonlyMap<string, Node>,
): { role: OutputRole; classes?: GraphClasses } {
  if (value.valueKind !== 'tensor') {
    const zipMap = producer.get(value.name)?.opType === 'ZipMap';
    return {
      role: {
        kind: 'unservable',
        why: zipMap
          ? 'it is a ZipMap (a sequence of maps, one {class: probability} per row), not a tensor'
          : `it is a ${value.valueKind}, not a tensor`,
        fix: zipMap ? ZIPMAP_FIX : 'export it as a tensor',
      },
    };
  }
  const type = value.elementType ?? 'unknown';
  const dims = value.dims;
  const origin = originOf(producer, value.name, SCORE_PRESERVING);
  const op = origin?.node.opType ?? '';
  if (origin && CLASSIFIER_OPS.has(op)) {
    const classes = classifierClasses(origin.node);
    if (origin.outputIndex === 0) return classOutput(value, classes, `the label output of ${op}`);
    const postTransform = text(origin.node, 'post_transform') ?? 'NONE';
    return probabilityOutput(
      value,
      classes,
      `the scores output of ${op} (post_transform ${postTransform}${postTransform === 'NONE' ? ': raw scores, not probabilities' : ''})`,
    );
  }
  if (origin && REGRESSORS.has(op)) {
    const targets = attribute(origin.node, op === 'TreeEnsembleRegressor' ? 'n_targets' : 'targets')?.i;
    const n = targets !== undefined && targets !== null ? toNumber(targets) : 1;
    if (n > 1) {
      return {
        role: {
          kind: 'unservable',
          why: `${op} predicts ${n} targets per row`,
          fix: 'serve one target per output: split the targets in the graph (Split or Gather) and declare each',
        },
      };
    }
    return { role: { kind: 'regression', why: `the output of ${op}` } };
  }
  const passOrigin = originOf(producer, value.name, VALUE_PRESERVING_OPS);
  if (passOrigin?.node.opType === 'ArgMax') {
    return classOutput(value, argMaxClasses(passOrigin.node, producer), 'the ArgMax of scores');
  }
  if (type === 'int64' || type === 'int32' || type === 'string') {
    if (passOrigin && BOOLEAN_OPS.has(passOrigin.node.opType ?? '')) {
      return classOutput(
        value,
        { values: [0, 1], count: 2, from: `a true/false ${passOrigin.node.opType} (classes 0 and 1)` },
        `a cast of ${passOrigin.node.opType}`,
      );
    }
    return classOutput(value, undefined, `a ${type} tensor`);
  }
  if (type === 'float32' || type === 'float64') {
    if (dims === undefined || dims.length === 0) {
      return {
        role: { kind: 'undetermined', why: 'the graph declares no shape for it; running the model decides' },
      };
    }
    const last = dims.length === 2 ? dims[1] : undefined;
    if (dims.length === 1 || fixedDim(last) === 1)
      return { role: { kind: 'regression', why: `a float tensor of one value per row` } };
    if (dims.length === 2)
      return probabilityOutput(value, undefined, 'a float tensor of several values per row');
    return {
      role: {
        kind: 'unservable',
        why: `its shape [${dims.join(', ')}] has more than two dimensions`,
        fix: 'serve one value or one score vector per row ([batch], [batch, 1] or [batch, classes])',
      },
    };
  }
  return {
    role: {
      kind: 'unservable',
      why: `its element type is ${type}`,
      fix: 'Cast it in the graph to float32 (values, probabilities), int64 (class indices) or string (labels)',
    },
  };
}

function classOutput(
  value: GraphValue,
  classes: GraphClasses | undefined,
  why: string,
): { role: OutputRole; classes?: GraphClasses } {
  const type = value.elementType ?? 'unknown';
  if (type !== 'int64' && type !== 'int32' && type !== 'string') {
    return {
      role: {
        kind: 'unservable',
        why: `${why}, of element type ${type}`,
        fix: 'Cast the class to int64 (an index into the labels) or string (the label)',
      },
    };
  }
  const ids = classes?.values?.filter((v): v is number => typeof v === 'number');
  if (ids && ids.length > 0 && ids.some((v, i) => v !== i)) {
    // A manifest reads an integer class as an index into `labels`; ids like [3, 7] index nothing.
    return {
      role: {
        kind: 'unservable',
        why: `${why}: it emits class ids ${JSON.stringify(ids)}, and a class output's integer is read as an index into its labels`,
        fix: 're-export with classes encoded 0..k-1 (e.g. LabelEncoder before training) or as string labels',
      },
      classes,
    };
  }
  return { role: { kind: 'class', why }, ...(classes ? { classes } : {}) };
}

function probabilityOutput(
  value: GraphValue,
  classes: GraphClasses | undefined,
  why: string,
): { role: OutputRole; classes?: GraphClasses } {
  const width = value.dims?.length === 2 ? fixedDim(value.dims[1]) : undefined;
  const known: GraphClasses | undefined =
    classes ??
    (width !== undefined ? { count: width, from: `the width of output "${value.name}"` } : undefined);
  return { role: { kind: 'probability', why }, ...(known ? { classes: known } : {}) };
}

/** The classes of an ArgMax over a classifier's scores or over a tensor of declared width. */
function argMaxClasses(node: Node, producer: ReadonlyMap<string, Node>): GraphClasses | undefined {
  const scores = node.input?.[0] ?? '';
  const origin = originOf(producer, scores, SCORE_PRESERVING);
  if (origin && CLASSIFIER_OPS.has(origin.node.opType ?? '')) return classifierClasses(origin.node);
  return undefined;
}

/** The graph input (through pass-through ops) a tensor comes from, or undefined. */
function sourceInput(
  producer: ReadonlyMap<string, Node>,
  name: string,
  inputs: ReadonlySet<string>,
): string | undefined {
  let current = name;
  for (let depth = 0; depth < 64; depth++) {
    if (inputs.has(current)) return current;
    const node = producer.get(current);
    if (!node || !VALUE_PRESERVING_OPS.has(node.opType ?? '')) return undefined;
    current = node.input?.[0] ?? '';
  }
  return undefined;
}

/**
 * Reads a decoded model: the graph inputs a request must feed (initializers listed as inputs, as IR < 4 exports do,
 * are not), every output with its role, and the categories of in-graph one-hot encoders.
 *
 * @example
 * const graph = readGraph(decodeOnnx(await readFile('model.onnx')));
 * graph.outputs.map((o) => `${o.name}: ${o.role.kind}`); // ['label: class', 'probabilities: probability']
 */
export function readGraph(model: onnx.IModelProto): GraphSummary {
  const graph = model.graph ?? {};
  const nodes = graph.node ?? [];
  const producer = new Map<string, Node>();
  for (const node of nodes) for (const out of node.output ?? []) producer.set(out, node);
  const initializers = new Set((graph.initializer ?? []).map((t) => t.name ?? ''));
  const fed = (graph.input ?? []).filter((i) => !initializers.has(i.name ?? ''));
  const inputNames = new Set(fed.map((i) => i.name ?? ''));

  const categories = new Map<string, NonNullable<GraphInput['categories']>>();
  for (const node of nodes) {
    if (node.opType !== 'OneHotEncoder') continue;
    const source = sourceInput(producer, node.input?.[0] ?? '', inputNames);
    if (source === undefined) continue;
    const s = strings(node, 'cats_strings');
    const n = ints(node, 'cats_int64s');
    categories.set(source, {
      ...(s.length > 0 ? { strings: s } : {}),
      ...(n.length > 0 ? { int64s: n } : {}),
    });
  }

  const inputs = fed.map((info): GraphInput => {
    const value = valueOf(info);
    const cats = categories.get(value.name);
    return cats ? { ...value, categories: cats } : value;
  });
  const outputs = (graph.output ?? []).map((info): GraphOutput => {
    const value = valueOf(info);
    const { role, classes } = outputRole(value, producer);
    return { ...value, role, ...(classes ? { classes } : {}) };
  });
  const opsets = (model.opsetImport ?? [])
    .map((o) => `${o.domain ? o.domain : 'ai.onnx'} ${toNumber(o.version)}`)
    .join(', ');
  return { inputs, outputs, opsets };
}

/** How `init` feeds a graph input, decided from its element type and shape alone. */
export type InputLayout =
  /** `[batch, width]` of a column type: one feature per column. */
  | {
      readonly kind: 'columns';
      readonly elementType: TensorElementType;
      /** Undefined when the graph leaves the width symbolic (the reference header decides). */
      readonly width: number | undefined;
    }
  /** A whole tensor per instance (an image, a sequence): one `tensor` feature of `shape`. */
  | { readonly kind: 'tensor'; readonly elementType: TensorElementType; readonly shape: readonly number[] }
  | { readonly kind: 'unservable'; readonly why: string; readonly fix: string };

const COLUMN_TYPES: ReadonlySet<string> = new Set(['float32', 'float64', 'int64', 'int32', 'string', 'bool']);
const TENSOR_TYPES: ReadonlySet<string> = new Set(['float32', 'float64', 'int32', 'int64']);
/** A manifest declares at most this many features; a wider numeric input is fed as one tensor feature. */
export const MAX_COLUMN_FEATURES = 2_000;

/** The batch dimension when the graph fixes it (torch.onnx.export without dynamic_axes), else undefined. */
export function fixedBatch(input: GraphValue): number | undefined {
  return fixedDim(input.dims?.[0]);
}

export function inputLayout(input: GraphValue): InputLayout {
  const where = `input "${input.name}"`;
  if (input.valueKind !== 'tensor') {
    return {
      kind: 'unservable',
      why: `${where} is a ${input.valueKind}`,
      fix: 'export it as a tensor input',
    };
  }
  const type = input.elementType ?? 'unknown';
  const dims = input.dims;
  if (!COLUMN_TYPES.has(type)) {
    return {
      kind: 'unservable',
      why: `${where} has element type ${type}`,
      fix: 'take float32 (or int64) in the graph and Cast inside it, e.g. an image as float32 0-255',
    };
  }
  if (dims === undefined || dims.length < 2) {
    return {
      kind: 'unservable',
      why: `${where} has shape ${dims ? `[${dims.join(', ')}]` : 'undeclared'}`,
      fix: 'export it with a batch dimension first: [batch, columns] or [batch, ...tensor shape]',
    };
  }
  const elementType = type as TensorElementType;
  const width = dims.length === 2 ? fixedDim(dims[1]) : undefined;
  if (dims.length === 2 && (width === undefined || width <= MAX_COLUMN_FEATURES || !TENSOR_TYPES.has(type))) {
    return { kind: 'columns', elementType, width };
  }
  if (!TENSOR_TYPES.has(type)) {
    return {
      kind: 'unservable',
      why: `${where} is a ${type} tensor of shape [${dims.join(', ')}]`,
      fix: 'a tensor feature is float32, float64, int32 or int64; feed strings and booleans as [batch, columns]',
    };
  }
  const shape = dims.slice(1).map(fixedDim);
  if (shape.some((d) => d === undefined || d < 1)) {
    return {
      kind: 'unservable',
      why: `${where} has shape [${dims.join(', ')}], symbolic beyond the batch dimension`,
      fix: 'export it with every dimension but the first fixed (e.g. torch.onnx.export dynamic_axes={"input": {0: "batch"}} only)',
    };
  }
  const issues = tensorShapeIssues(shape);
  if (issues.length > 0) {
    return {
      kind: 'unservable',
      why: `${where} has shape [${dims.join(', ')}]: a tensor feature's shape ${issues.join('; ')}`,
      fix: 'export a smaller or lower-rank input',
    };
  }
  return { kind: 'tensor', elementType, shape: shape as number[] };
}
