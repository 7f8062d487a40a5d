/**
 * Writes a binary logistic regression as an ONNX graph with onnx-proto, laid out exactly like the parent manifest's
 * tensors and outputs (same names, element types and shapes), so the retrained model is a drop-in for its parent:
 *
 *   per input tensor: float32 as is | other numbers and bool → Cast(float) | one string categorical →
 *   ai.onnx.ml OneHotEncoder(zeros=1) → Flatten;  Concat → Sub(mean) → Div(scale) → MatMul(coef) → Add(intercept)
 *   → logit;  Sigmoid → [1 - p, p] = probabilities [N, 2];  logit > 0 → Cast(int64) → Reshape → label [N].
 *
 * `zeros=1` encodes an unseen category as all zeros instead of failing the request (the same choice the parents'
 * graphs make). The label follows the logit's sign, as scikit-learn's `predict` does.
 */
import { onnx } from 'onnx-proto';

type ElementType = 'float32' | 'float64' | 'int32' | 'int64' | 'string' | 'bool';

/** One graph input and how its columns enter the design vector. */
export interface InputBlock {
  readonly name: string;
  readonly elementType: ElementType;
  /** Columns of the graph input (its second dimension). */
  readonly width: number;
  /** For a string input of one categorical feature: its categories, one design column each. */
  readonly categories?: readonly string[];
}

export interface LogisticGraph {
  readonly inputs: readonly InputBlock[];
  /** Per design column: subtracted, then divided by `scale` (identity for one-hot and boolean columns: 0 and 1). */
  readonly mean: readonly number[];
  readonly scale: readonly number[];
  readonly weights: readonly number[];
  readonly intercept: number;
  /** Output names and element types, as the parent manifest declares them. */
  readonly probabilities: { readonly name: string; readonly elementType: 'float32' | 'float64' };
  readonly label: { readonly name: string; readonly elementType: 'int64' | 'int32' };
  readonly docString?: string;
}

const T = onnx.TensorProto.DataType;
const A = onnx.AttributeProto.AttributeType;
const DATA_TYPE: Readonly<Record<ElementType, number>> = {
  float32: T.FLOAT,
  float64: T.DOUBLE,
  int32: T.INT32,
  int64: T.INT64,
  string: T.STRING,
  bool: T.BOOL,
};

function valueInfo(name: string, elemType: number, dims: (number | string)[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function floats(name: string, values: readonly number[], dims: number[]): onnx.ITensorProto {
  return { name, dataType: T.FLOAT, dims, floatData: [...values] };
}

function node(
  opType: string,
  input: string[],
  output: string[],
  attrs: onnx.IAttributeProto[] = [],
  domain = '',
): onnx.INodeProto {
  return { opType, input, output, name: output[0], attribute: attrs, domain };
}

const intAttr = (name: string, i: number): onnx.IAttributeProto => ({ name, type: A.INT, i });

/** The serialized ONNX model. Throws naming the input when a block cannot be expressed. */
export function exportLogisticOnnx(g: LogisticGraph): Uint8Array {
  const width = g.mean.length;
  if (g.scale.length !== width || g.weights.length !== width) {
    throw new Error(`mean, scale and weights must have one entry per design column (${width})`);
  }
  const nodes: onnx.INodeProto[] = [];
  const blocks: string[] = [];
  let columns = 0;
  for (const input of g.inputs) {
    if (input.elementType === 'string') {
      if (input.width !== 1 || input.categories === undefined) {
        throw new Error(`input "${input.name}": a string input must hold one categorical feature`);
      }
      nodes.push(
        node(
          'OneHotEncoder',
          [input.name],
          [`${input.name}__onehot3d`],
          [
            { name: 'cats_strings', type: A.STRINGS, strings: input.categories.map((c) => Buffer.from(c)) },
            intAttr('zeros', 1),
          ],
          'ai.onnx.ml',
        ),
        node('Flatten', [`${input.name}__onehot3d`], [`${input.name}__onehot`], [intAttr('axis', 1)]),
      );
      blocks.push(`${input.name}__onehot`);
      columns += input.categories.length;
    } else if (input.elementType === 'float32') {
      blocks.push(input.name);
      columns += input.width;
    } else {
      nodes.push(node('Cast', [input.name], [`${input.name}__float`], [intAttr('to', T.FLOAT)]));
      blocks.push(`${input.name}__float`);
      columns += input.width;
    }
  }
  if (columns !== width) {
    throw new Error(`the inputs make ${columns} design columns but the model has ${width} weights`);
  }
  const p = g.probabilities.name;
  const lastProbability = g.probabilities.elementType === 'float32' ? p : `${p}__float32`;
  nodes.push(
    node('Concat', blocks, ['design'], [intAttr('axis', 1)]),
    node('Sub', ['design', 'scaler_mean'], ['centered']),
    node('Div', ['centered', 'scaler_scale'], ['scaled']),
    node('MatMul', ['scaled', 'coef'], ['linear']),
    node('Add', ['linear', 'intercept'], ['logit']),
    node('Sigmoid', ['logit'], ['p_positive']),
    node('Sub', ['one', 'p_positive'], ['p_negative']),
    node('Concat', ['p_negative', 'p_positive'], [lastProbability], [intAttr('axis', 1)]),
    node('Greater', ['logit', 'zero'], ['is_positive']),
    node('Cast', ['is_positive'], ['label_2d'], [intAttr('to', DATA_TYPE[g.label.elementType])]),
    node('Reshape', ['label_2d', 'flat_shape'], [g.label.name]),
  );
  if (lastProbability !== p) nodes.push(node('Cast', [lastProbability], [p], [intAttr('to', T.DOUBLE)]));

  const model: onnx.IModelProto = {
    irVersion: 8,
    producerName: 'serverless-modelops examples/trainer',
    producerVersion: '1',
    docString: g.docString ?? 'Logistic regression written by the example trainer.',
    opsetImport: [
      { domain: '', version: 17 },
      { domain: 'ai.onnx.ml', version: 3 },
    ],
    graph: {
      name: 'retrained_logreg',
      node: nodes,
      input: g.inputs.map((i) => valueInfo(i.name, DATA_TYPE[i.elementType], ['N', i.width])),
      output: [
        valueInfo(g.label.name, DATA_TYPE[g.label.elementType], ['N']),
        valueInfo(p, DATA_TYPE[g.probabilities.elementType], ['N', 2]),
      ],
      initializer: [
        floats('scaler_mean', g.mean, [width]),
        floats('scaler_scale', g.scale, [width]),
        floats('coef', g.weights, [width, 1]),
        floats('intercept', [g.intercept], [1]),
        floats('one', [1], [1]),
        floats('zero', [0], [1]),
        { name: 'flat_shape', dataType: T.INT64, dims: [1], int64Data: [-1] },
      ],
    },
  };
  return onnx.ModelProto.encode(onnx.ModelProto.fromObject(model)).finish();
}
