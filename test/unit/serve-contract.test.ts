import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { OnnxModelRuntime } from '../../lambdas/adapters/onnx-model-runtime';
import { compileInstanceValidator } from '../../lambdas/core/inference-request';
import { parseManifest, type Manifest, type Output } from '../../lambdas/core/manifest';
import type { TensorMeta } from '../../lambdas/core/model-runtime';
import {
  classLabelCoverage,
  labelCoverageIssue,
  outputShapeIssue,
  serveContractIssues,
  syntheticInstances,
} from '../../lambdas/core/serve-contract';
import {
  contractManifest,
  graphBytes,
  type ContractGraph,
  type ManifestJson,
} from '../fixtures/model-contract/manifests';
import { FIXTURE_DIR, richManifest } from './manifest-fixtures';

const EXAMPLES = path.join(__dirname, '..', '..', 'examples');

function parsed(raw: unknown): Manifest {
  const r = parseManifest(raw);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.manifest;
}

const tensor = (shape: (number | string)[]): TensorMeta => ({
  name: 'y',
  isTensor: true,
  elementType: 'float32',
  shape,
});
const regression: Output = { name: 'y', kind: 'regression', elementType: 'float32' };
const klass: Output = { name: 'y', kind: 'class', elementType: 'int64', labels: ['a', 'b'] };
const probability: Output = { name: 'y', kind: 'probability', elementType: 'float32', labels: ['a', 'b'] };

describe('outputShapeIssue', () => {
  it('accepts [batch] and [batch, 1] for regression and class, [batch, labels] for probability, and unknown shapes', () => {
    for (const output of [regression, klass]) {
      for (const shape of [['N'], ['N', 1], [1], [1, 1], ['N', 'k'], []]) {
        expect(
          outputShapeIssue(output, tensor(shape)),
          `${output.kind} ${JSON.stringify(shape)}`,
        ).toBeUndefined();
      }
    }
    expect(outputShapeIssue(probability, tensor(['N', 2]))).toBeUndefined();
    expect(outputShapeIssue(probability, tensor(['N', 'k']))).toBeUndefined();
  });

  it('rejects a regression output with several values per instance, naming the shape and the fix', () => {
    expect(outputShapeIssue(regression, tensor(['N', 2]))).toBe(
      'outputs "y": the model returns shape ["N", 2] (2 values per instance); a regression output must have one value per instance ([batch] or [batch, 1]); export one output per target (e.g. Split or Gather in the graph) and declare each',
    );
    expect(outputShapeIssue(regression, tensor(['N', 1, 1]))).toMatch(/shape \["N", 1, 1\] \(several values/);
  });

  it('rejects a class output of scores and a probability output of the wrong rank or width', () => {
    expect(outputShapeIssue(klass, tensor(['N', 2]))).toMatch(/declare scores as kind "probability"/);
    expect(outputShapeIssue(probability, tensor(['N']))).toMatch(/must be \[batch, 2\]/);
    expect(outputShapeIssue(probability, tensor(['N', 3]))).toMatch(
      /3 probabilities per row but labels lists 2/,
    );
  });
});

describe('classLabelCoverage (from the ONNX graph)', () => {
  const cover = (bytes: Uint8Array, outputs: Output[]) => classLabelCoverage({ outputs }, bytes);
  const label3: Output = { name: 'label', kind: 'class', elementType: 'int64', labels: ['a', 'b'] };

  it('reads ArgMax over an initializer of known width, and LinearClassifier classlabels_ints', () => {
    expect(cover(graphBytes('class-argmax-3'), [label3])).toEqual([
      {
        output: 'label',
        proven: true,
        values: [0, 1, 2],
        how: 'ArgMax over a tensor of width 3 (initializer "W" [3, 3])',
      },
    ]);
    expect(cover(graphBytes('linear-classifier-3'), [label3])).toEqual([
      { output: 'label', proven: true, values: [0, 1, 2], how: 'LinearClassifier classlabels_ints [0,1,2]' },
    ]);
  });

  it('reads the examples: TreeEnsembleClassifier classlabels_int64s, and a Cast of a boolean through Reshape', () => {
    const bc = readFileSync(path.join(EXAMPLES, 'breast-cancer', 'model.onnx'));
    expect(cover(bc, [label3])[0]).toMatchObject({
      proven: true,
      values: [0, 1],
      how: 'TreeEnsembleClassifier classlabels_int64s [0,1]',
    });
    const cr = readFileSync(path.join(EXAMPLES, 'credit-risk', 'model.onnx'));
    expect(cover(cr, [label3])[0]).toMatchObject({
      proven: true,
      values: [0, 1],
      how: 'Reshape of Cast of Greater (a boolean: 0 or 1)',
    });
    const tiny = readFileSync(path.join(FIXTURE_DIR, 'model.onnx'));
    expect(cover(tiny, [label3])[0]).toMatchObject({ proven: true, values: [0, 1] });
  });

  it('says when the graph does not state the classes, and when the bytes are not a graph', () => {
    expect(cover(graphBytes('class-opaque'), [label3])).toEqual([
      {
        output: 'label',
        proven: false,
        why: 'it is produced by Squeeze, whose classes the graph does not state',
      },
    ]);
    const garbage = cover(Uint8Array.from([0xff, 0xff, 0xff, 0xff]), [label3]);
    expect(garbage[0]).toMatchObject({ proven: false, why: expect.stringMatching(/could not be decoded/) });
  });

  it('labelCoverageIssue names the uncovered index, how it was proven, the labels and the fix', () => {
    const [coverage] = cover(graphBytes('class-argmax-3'), [label3]);
    expect(labelCoverageIssue(label3, coverage!)).toBe(
      'outputs "label".labels: the model can emit class index 2 (ArgMax over a tensor of width 3 (initializer "W" [3, 3])) but labels lists 2 (["a","b"]); list one label per class the model can predict (3), in the model\'s class order',
    );
    expect(labelCoverageIssue({ ...label3, labels: ['a', 'b', 'c'] }, coverage!)).toBeUndefined();
    // String classes must be listed labels.
    const strings = { output: 'label', proven: true as const, values: ['a', 'z'], how: 'X' };
    expect(labelCoverageIssue({ ...label3, elementType: 'string' }, strings)).toMatch(/can emit class "z"/);
  });
});

describe('syntheticInstances', () => {
  it('covers range extremes, baseline edges, every category, both booleans and null for optional features; the ingress validator accepts every instance', () => {
    const m = parsed(richManifest());
    const batch = syntheticInstances(m, 64);
    if (!batch.ok) throw new Error(batch.why);
    expect(batch.instances).toHaveLength(64);
    expect(compileInstanceValidator(m)(batch.instances)).toEqual([]);
    const values = (f: string) => new Set(batch.instances.map((i) => i[f]));
    // income: range min 0 (no max); baseline edges 0, 1000, 5000; beyond the reference data on the open side.
    expect([...values('income')]).toEqual(expect.arrayContaining([0, 1000, 5000, 55_000]));
    expect(values('age').has(null)).toBe(true); // optional
    expect(values('plan')).toEqual(new Set(['basic', 'pro', 'enterprise']));
    expect(values('region')).toEqual(new Set(['eu', 'us', null]));
    expect(values('active')).toEqual(new Set([true, false]));
  });

  it('keeps integer-tensor values whole and inside the range, rounding the extremes inwards', () => {
    const raw = richManifest();
    raw.inputs.features[0].range = { min: 0.5, max: 7.5 };
    raw.inputs.tensors[0].elementType = 'int32';
    const m = parsed(raw);
    const batch = syntheticInstances(m, 32);
    if (!batch.ok) throw new Error(batch.why);
    const incomes = batch.instances.map((i) => i.income as number);
    expect(incomes.every((v) => Number.isInteger(v) && v >= 1 && v <= 7)).toBe(true);
    expect(new Set(incomes)).toEqual(new Set([1, 7, 4]));
    expect(compileInstanceValidator(m)(batch.instances)).toEqual([]);
  });
});

describe('serveContractIssues (real onnxruntime-node)', () => {
  const runtime = new OnnxModelRuntime();
  async function contract(graph: ContractGraph, edit: (m: ManifestJson) => void = () => undefined) {
    const raw = contractManifest(graph);
    edit(raw);
    const m = parsed(raw);
    const bytes = graphBytes(graph);
    const model = await runtime.load(bytes);
    try {
      return await serveContractIssues(m, model, { modelBytes: bytes, maxBatch: 64 });
    } finally {
      await model.release();
    }
  }

  it('passes a fixed-batch-4 graph, served in padded runs, and says so', async () => {
    const r = await contract('fixed-batch-4');
    expect(r.issues).toEqual([]);
    expect(r.checks).toContain(
      'batch: the graph fixes the batch size to 4; served in runs of 4 (the last padded)',
    );
    expect(r.checks.join('\n')).toMatch(
      /synthetic batch: 2 runs of up to 64 instances .* validated, served and formatted/,
    );
  });

  it('rejects a regression output whose symbolic width turns out to be 2 when run', async () => {
    const r = await contract('multi-regression-symbolic');
    expect(r.issues).toEqual([
      'outputs "value": on the synthetic batch 1 (64 instances) the model\'s output cannot be formatted: regression output "value" must have one value per instance, got 2; a regression output must return one value per instance ([batch] or [batch, 1])',
    ]);
  });

  it('rejects a class output whose graph proves more classes than labels', async () => {
    const r = await contract('class-argmax-3', (m) => {
      m.outputs = [{ ...m.outputs[0], labels: ['low', 'mid'] }];
    });
    expect(r.issues).toEqual([
      expect.stringMatching(/^outputs "label"\.labels: the model can emit class index 2 \(ArgMax/),
    ]);
  });

  it('where the graph does not state the classes: fails when the synthetic run emits an uncovered index, else records "not provable from the graph"', async () => {
    const missing = await contract('class-opaque', (m) => {
      m.outputs[0].labels = ['zero', 'one'];
    });
    expect(missing.issues).toEqual([
      'outputs "label": on the synthetic batch 1 (64 instances) the model\'s output cannot be formatted: class output "label" returned 2, which is not an index into its 2 labels; list one label per class the model can predict, in its class order (and one class per instance)',
    ]);
    expect(missing.checks).toContain(
      'class labels of "label": not provable from the graph (it is produced by Squeeze, whose classes the graph does not state)',
    );
    // x1 within [0, 1]: the model only ever emits 0 and 1, which two labels cover.
    const covered = await contract('class-opaque', (m) => {
      m.outputs[0].labels = ['zero', 'one'];
      m.inputs.features[0].range = { min: 0, max: 1 };
      m.baseline.features.x1.edges = [0, 0.5, 1];
    });
    expect(covered.issues).toEqual([]);
    expect(covered.checks).toContain(
      'class labels of "label": not provable from the graph (it is produced by Squeeze, whose classes the graph does not state); the synthetic runs emitted only classes that labels cover',
    );
  });

  it('rejects a graph that fails on values the validator accepts, naming the run and the fix', async () => {
    const m = parsed(contractManifest('class-argmax-3'));
    const model = await runtime.load(graphBytes('class-argmax-3'));
    try {
      const failing = { ...model, run: () => Promise.reject(new Error('Invalid rank for input: input')) };
      const r = await serveContractIssues(m, failing, { maxBatch: 8 });
      expect(r.issues).toEqual([
        'artifact: the model fails on the synthetic batch 1 (8 instances) (values within the declared ranges and categories, which the ingress validator accepts): Invalid rank for input: input; export the graph with a batch dimension that accepts 1 to 8 rows and handle every declared value',
      ]);
    } finally {
      await model.release();
    }
  });
});
