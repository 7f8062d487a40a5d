/**
 * cli/onnx-graph.ts reads export patterns from the graph alone: the fixtures in test/fixtures/init/ (built by
 * make_fixtures.py beside them), the two examples, and small graphs written here as plain ModelProto objects.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { onnx } from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { chooseSmokeRows, parseLabels, planInputs, planOutputs, tensorFeatureFor } from '../../cli/init';
import {
  decodeOnnx,
  fixedBatch,
  inputLayout,
  NotOnnxError,
  readGraph,
  type GraphSummary,
} from '../../cli/onnx-graph';
import { parseReferenceCsv } from '../../lambdas/core/reference-csv';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'init');
const EXAMPLES = path.join(__dirname, '..', '..', 'examples');
const fixture = (name: string): GraphSummary =>
  readGraph(decodeOnnx(readFileSync(path.join(FIXTURES, `${name}.onnx`))));
const example = (name: string): GraphSummary =>
  readGraph(decodeOnnx(readFileSync(path.join(EXAMPLES, name, 'model.onnx'))));

const FLOAT = 1;
const INT64 = 7;
const UINT8 = 2;
type Dim = number | string;
function tensorInfo(name: string, elemType: number, dims: Dim[]): onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: {
          dim: dims.map((d) =>
            typeof d === 'number'
              ? ({ dimValue: d, value: 'dimValue' } as onnx.TensorShapeProto.IDimension)
              : ({ dimParam: d, value: 'dimParam' } as onnx.TensorShapeProto.IDimension),
          ),
        },
      },
    },
  };
}
function model(graph: onnx.IGraphProto): onnx.IModelProto {
  return { irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph };
}

describe('readGraph: outputs', () => {
  it('marks a ZipMap output unservable and says how to re-export it with zipmap=False', () => {
    const g = fixture('zipmap');
    const [label, probability] = g.outputs;
    expect(label).toMatchObject({
      name: 'output_label',
      role: { kind: 'class' },
      classes: { values: [0, 1, 2] },
    });
    expect(probability!.valueKind).toBe('sequence');
    expect(probability!.role).toMatchObject({ kind: 'unservable', why: expect.stringMatching(/ZipMap/) });
    expect(probability!.role.kind === 'unservable' && probability!.role.fix).toMatch(/"zipmap": False/);
  });

  it('reads a regressor output as regression', () => {
    const g = fixture('regression');
    expect(g.outputs).toEqual([
      expect.objectContaining({
        name: 'variable',
        role: { kind: 'regression', why: 'the output of LinearRegressor' },
      }),
    ]);
  });

  it('reads an ArgMax label as a class and Softmax scores as probabilities with their width', () => {
    const g = fixture('argmax');
    const byName = Object.fromEntries(g.outputs.map((o) => [o.name, o]));
    expect(byName.label!.role.kind).toBe('class');
    expect(byName.label!.role.kind === 'class' && byName.label!.role.why).toMatch(/ArgMax/);
    expect(byName.probabilities).toMatchObject({ role: { kind: 'probability' }, classes: { count: 3 } });
  });

  it("reads a classifier's string labels and the categories of a one-hot encoded string input", () => {
    const g = fixture('string_labels');
    expect(g.outputs.map((o) => [o.name, o.role.kind, o.elementType])).toEqual([
      ['label', 'class', 'string'],
      ['probabilities', 'probability', 'float32'],
    ]);
    expect(g.outputs[0]!.classes).toMatchObject({
      values: ['no', 'yes'],
      from: 'LinearClassifier classlabels_strings',
    });
    expect(g.inputs.find((i) => i.name === 'color')!.categories).toEqual({
      strings: ['red', 'green', 'blue'],
    });
    expect(g.inputs.find((i) => i.name === 'size')!.categories).toBeUndefined();
  });

  it('reads the examples: classlabels_int64s of a TreeEnsembleClassifier, a boolean label of a Greater', () => {
    const bc = example('breast-cancer');
    expect(bc.outputs.map((o) => [o.name, o.role.kind, o.classes?.values])).toEqual([
      ['label', 'class', [0, 1]],
      ['probabilities', 'probability', [0, 1]],
    ]);
    const cr = example('credit-risk');
    expect(cr.outputs.map((o) => [o.name, o.role.kind, o.classes?.count])).toEqual([
      ['label', 'class', 2],
      ['probabilities', 'probability', 2],
    ]);
    expect(cr.inputs.find((i) => i.name === 'employment')!.categories).toEqual({
      strings: ['salaried', 'self_employed', 'contract', 'unemployed'],
    });
  });

  it('refuses integer class ids that are not 0..k-1 (a class output is read as an index into its labels)', () => {
    const g = readGraph(
      model({
        node: [
          {
            opType: 'LinearClassifier',
            domain: 'ai.onnx.ml',
            input: ['x'],
            output: ['label', 'scores'],
            attribute: [{ name: 'classlabels_ints', ints: [3, 7] }],
          },
        ],
        input: [tensorInfo('x', FLOAT, ['N', 2])],
        output: [tensorInfo('label', INT64, ['N']), tensorInfo('scores', FLOAT, ['N', 2])],
      }),
    );
    expect(g.outputs[0]!.role).toMatchObject({ kind: 'unservable', fix: expect.stringMatching(/0\.\.k-1/) });
    expect(g.outputs[1]!.role.kind).toBe('probability');
  });

  it('leaves a float output without a declared shape to the model run', () => {
    const g = readGraph(
      model({
        node: [{ opType: 'Relu', input: ['x'], output: ['y'] }],
        input: [tensorInfo('x', FLOAT, ['N', 2])],
        output: [{ name: 'y', type: { tensorType: { elemType: FLOAT } } }],
      }),
    );
    expect(g.outputs[0]!.role.kind).toBe('undetermined');
  });

  it('does not list initializers as inputs (IR < 4 exports list them among graph inputs)', () => {
    const g = readGraph(
      model({
        node: [{ opType: 'MatMul', input: ['x', 'W'], output: ['y'] }],
        input: [tensorInfo('x', FLOAT, ['N', 2]), tensorInfo('W', FLOAT, [2, 1])],
        initializer: [{ name: 'W', dims: [2, 1], dataType: FLOAT, floatData: [1, 2] }],
        output: [tensorInfo('y', FLOAT, ['N', 1])],
      }),
    );
    expect(g.inputs.map((i) => i.name)).toEqual(['x']);
  });
});

describe('readGraph and inputLayout: inputs', () => {
  it('feeds a rank-4 image input as one tensor feature of its per-instance shape', () => {
    const g = fixture('image');
    const image = g.inputs[0]!;
    expect(image.dims).toEqual(['batch', 1, 8, 8]);
    const layout = inputLayout(image);
    expect(layout).toEqual({ kind: 'tensor', elementType: 'float32', shape: [1, 8, 8] });
    const { feature, tensor } = tensorFeatureFor(image, layout as Extract<typeof layout, { kind: 'tensor' }>);
    expect(feature).toMatchObject({
      name: 'image',
      type: 'tensor',
      elementType: 'float32',
      shape: [1, 8, 8],
    });
    expect(tensor).toEqual({ name: 'image', elementType: 'float32', features: ['image'] });
  });

  it('reads a fixed batch dimension (torch.onnx.export without dynamic_axes) and still feeds columns', () => {
    const g = fixture('fixed_batch');
    expect(g.inputs[0]!.dims).toEqual([1, 2]);
    expect(fixedBatch(g.inputs[0]!)).toBe(1);
    expect(inputLayout(g.inputs[0]!)).toEqual({ kind: 'columns', elementType: 'float32', width: 2 });
    expect(fixedBatch(fixture('argmax').inputs[0]!)).toBeUndefined();
    // A fixed batch of 1 makes the output [1, 1]: one value per row, a regression.
    expect(g.outputs[0]!.role.kind).toBe('regression');
  });

  it('refuses inputs a request cannot feed, naming the input and the fix', () => {
    const uint8 = inputLayout({
      name: 'img',
      valueKind: 'tensor',
      elementType: 'uint8',
      dims: ['N', 3, 4, 4],
    });
    expect(uint8).toMatchObject({ kind: 'unservable', why: expect.stringMatching(/"img".*uint8/) });
    const symbolic = inputLayout({
      name: 'seq',
      valueKind: 'tensor',
      elementType: 'float32',
      dims: ['N', 'T', 8],
    });
    expect(symbolic).toMatchObject({ kind: 'unservable', fix: expect.stringMatching(/dynamic_axes/) });
    const rank1 = inputLayout({ name: 'v', valueKind: 'tensor', elementType: 'float32', dims: ['N'] });
    expect(rank1.kind).toBe('unservable');
    const huge = inputLayout({
      name: 'h',
      valueKind: 'tensor',
      elementType: 'float32',
      dims: ['N', 1000, 1000, 2],
    });
    expect(huge).toMatchObject({ kind: 'unservable', why: expect.stringMatching(/elements/) });
    const g = readGraph(
      model({
        node: [],
        input: [tensorInfo('img', UINT8, ['N', 3, 4, 4])],
        output: [tensorInfo('img', UINT8, ['N'])],
      }),
    );
    expect(() => planInputs(g)).toThrow(/"img" has element type uint8.*Cast/);
  });

  it('feeds a very wide numeric input as one tensor feature instead of thousands of columns', () => {
    expect(
      inputLayout({ name: 'emb', valueKind: 'tensor', elementType: 'float32', dims: ['N', 4096] }),
    ).toEqual({
      kind: 'tensor',
      elementType: 'float32',
      shape: [4096],
    });
  });
});

describe('decodeOnnx', () => {
  it('refuses bytes that are not an ONNX model', () => {
    expect(() => decodeOnnx(readFileSync(path.join(EXAMPLES, 'README.md')))).toThrow(NotOnnxError);
    expect(() => decodeOnnx(new Uint8Array(0))).toThrow(/not an ONNX model/);
  });
});

describe('planInputs', () => {
  it('names columns from the reference header, a one-column input by its own column, and skips the label', () => {
    const ref = parseReferenceCsv(
      'income,loan_amount,age,employment,has_guarantor,label\n1,2,30,salaried,true,repaid\n',
    );
    const plan = planInputs(example('credit-risk'), ref);
    expect(plan.tensors).toEqual([
      { name: 'numeric', elementType: 'float32', features: ['income', 'loan_amount', 'age'] },
      { name: 'employment', elementType: 'string', features: ['employment'] },
      { name: 'has_guarantor', elementType: 'bool', features: ['has_guarantor'] },
    ]);
    expect(plan.features.map((f) => f.type)).toEqual([
      'numeric',
      'numeric',
      'numeric',
      'categorical',
      'boolean',
    ]);
    expect(plan.ignoredColumns).toEqual(['label']);
  });

  it('names columns <input>_<i> without a reference, and says they are placeholders', () => {
    const plan = planInputs(fixture('argmax'));
    expect(plan.tensors[0]!.features).toEqual(['features_0', 'features_1', 'features_2', 'features_3']);
    expect(plan.todo.join('\n')).toMatch(/placeholder names/);
  });

  it('takes categories from the reference when the graph has no encoder for the input', () => {
    const g: GraphSummary = {
      opsets: '',
      outputs: [],
      inputs: [{ name: 'city', valueKind: 'tensor', elementType: 'string', dims: ['N', 1] }],
    };
    const plan = planInputs(g, parseReferenceCsv('city\nOslo\nBergen\nOslo\n\n'));
    expect(plan.features[0]).toMatchObject({ type: 'categorical', categories: ['Bergen', 'Oslo'] });
    expect(planInputs(g).features[0]).toMatchObject({ categories: [expect.stringMatching(/^TODO:/)] });
  });

  it('fails when the reference columns fit no input, naming the input and the header', () => {
    const ref = parseReferenceCsv('a,b\n1,2\n');
    expect(() => planInputs(example('breast-cancer'), ref)).toThrow(
      /--reference: graph input "input" \(float32 \[N, 30\]\) needs 30 numeric column\(s\).*header: a, b/,
    );
    // A text column cannot feed a numeric input.
    const text = parseReferenceCsv('x,y,z\n1,2,three\n');
    expect(() => planInputs(fixture('regression'), text)).toThrow(/needs 3 numeric column/);
    // A one-column input's own column must hold its type.
    const g: GraphSummary = {
      opsets: '',
      outputs: [],
      inputs: [{ name: 'flag', valueKind: 'tensor', elementType: 'bool', dims: ['N', 1] }],
    };
    expect(() => planInputs(g, parseReferenceCsv('flag\nmaybe\n'))).toThrow(/column "flag".*boolean/);
  });

  it('refuses CSV reference data for a tensor input', () => {
    expect(() => planInputs(fixture('image'), parseReferenceCsv('image\n1\n'))).toThrow(
      /tensor feature.*JSON lines/,
    );
  });
});

describe('planOutputs', () => {
  it('names integer class ids with --labels and refuses a count that differs from the graph', () => {
    const g = example('breast-cancer');
    const plan = planOutputs(g, ['malignant', 'benign'], undefined);
    expect(plan.outputs.map((o) => o.labels)).toEqual([
      ['malignant', 'benign'],
      ['malignant', 'benign'],
    ]);
    expect(() => planOutputs(g, ['a', 'b', 'c'], undefined)).toThrow(
      /--labels lists 3 label\(s\).*the model has 2 classes \(TreeEnsembleClassifier classlabels_int64s\)/,
    );
    // Without --labels: the class ids, listed as a to-do.
    const ids = planOutputs(g, undefined, undefined);
    expect(ids.outputs[0]!.labels).toEqual(['0', '1']);
    expect(ids.todo.join('\n')).toMatch(/--labels/);
  });

  it("uses a classifier's string labels and refuses other --labels", () => {
    const g = fixture('string_labels');
    expect(planOutputs(g, undefined, undefined).outputs[0]).toEqual({
      name: 'label',
      kind: 'class',
      elementType: 'string',
      labels: ['no', 'yes'],
    });
    expect(() => planOutputs(g, ['yes', 'no'], undefined)).toThrow(/disagrees with the graph.*drop --labels/);
  });

  it('writes TODO placeholders when only the number of classes is known', () => {
    const plan = planOutputs(fixture('argmax'), undefined, undefined);
    expect(plan.outputs[0]!.labels).toEqual(['TODO:class-0', 'TODO:class-1', 'TODO:class-2']);
  });

  it('leaves out a ZipMap output with a warning, and fails when no output is left', () => {
    const plan = planOutputs(fixture('zipmap'), undefined, undefined);
    expect(plan.outputs.map((o) => o.name)).toEqual(['output_label']);
    expect(plan.warnings.join('\n')).toMatch(/output_probability.*zipmap/);
    const onlyZipMap: GraphSummary = { ...fixture('zipmap'), outputs: [fixture('zipmap').outputs[1]!] };
    expect(() => planOutputs(onlyZipMap, undefined, undefined)).toThrow(/no output serving can return/);
  });

  it('decides an undeclared shape from what the model returned', () => {
    const g = readGraph(
      model({
        node: [{ opType: 'Relu', input: ['x'], output: ['y'] }],
        input: [tensorInfo('x', FLOAT, ['N', 2])],
        output: [{ name: 'y', type: { tensorType: { elemType: FLOAT } } }],
      }),
    );
    const run = { y: { elementType: 'float32', dims: [4, 1], data: new Float32Array(4) } };
    expect(planOutputs(g, undefined, run).outputs[0]!.kind).toBe('regression');
    expect(() => planOutputs(g, undefined, undefined)).toThrow(/no output serving can return.*--reference/);
  });
});

describe('parseLabels and chooseSmokeRows', () => {
  it('rejects one label, empty labels and duplicates', () => {
    expect(parseLabels(' a, b ')).toEqual(['a', 'b']);
    expect(() => parseLabels('a')).toThrow(/at least two/);
    expect(() => parseLabels('a,,b')).toThrow(/non-empty/);
    expect(() => parseLabels('a,b,a')).toThrow(/"a" twice/);
  });

  it('covers every predicted class first, then spreads the rest; deterministic', () => {
    const classOf = [0, 0, 0, 0, 0, 0, 0, 0, 1, 0];
    const rows = chooseSmokeRows(10, classOf, undefined);
    expect(rows).toHaveLength(5);
    expect(rows.slice(0, 2)).toEqual([0, 8]);
    expect(new Set(rows).size).toBe(5);
    expect(chooseSmokeRows(10, classOf, undefined)).toEqual(rows);
    expect(chooseSmokeRows(3, [0, 1, 2], undefined)).toEqual([0, 1, 2]);
    // Regression: the rows at the prediction's quantiles, smallest to largest.
    expect(chooseSmokeRows(5, undefined, [5, 1, 4, 2, 3])).toEqual([1, 3, 4, 2, 0]);
  });
});
