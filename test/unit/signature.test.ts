import { describe, expect, it } from 'vitest';
import { parseManifest, type Manifest } from '../../lambdas/core/manifest';
import type { TensorMeta } from '../../lambdas/core/model-runtime';
import { signatureIssues } from '../../lambdas/core/signature';
import { tinyManifest } from './manifest-fixtures';

function manifest(raw: unknown = tinyManifest()): Manifest {
  const r = parseManifest(raw);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.manifest;
}

const input = (over: Partial<TensorMeta> = {}): TensorMeta => ({
  name: 'features',
  isTensor: true,
  elementType: 'float32',
  shape: ['batch', 3],
  ...over,
});
const outputs = (): TensorMeta[] => [
  { name: 'probabilities', isTensor: true, elementType: 'float32', shape: ['batch', 2] },
  { name: 'label', isTensor: true, elementType: 'int64', shape: ['batch'] },
];

describe('signatureIssues', () => {
  it('accepts a graph that matches, with a symbolic, -1 or 1 batch dimension', () => {
    for (const batch of ['N', -1, 1] as const) {
      expect(
        signatureIssues(manifest(), { inputs: [input({ shape: [batch, 3] })], outputs: outputs() }),
      ).toEqual([]);
    }
  });

  it('accepts extra graph outputs the manifest does not read', () => {
    const extra = [
      ...outputs(),
      { name: 'logits', isTensor: true, elementType: 'float32', shape: ['batch', 2] },
    ];
    expect(signatureIssues(manifest(), { inputs: [input()], outputs: extra })).toEqual([]);
  });

  it('rejects missing and extra inputs, naming both', () => {
    const issues = signatureIssues(manifest(), { inputs: [input({ name: 'X' })], outputs: outputs() });
    expect(issues).toEqual([
      expect.stringMatching(/"features": the model has no input named "features" \(model inputs: X\)/),
      expect.stringMatching(/input "X" that no manifest tensor feeds/),
    ]);
  });

  it('rejects a different element type', () => {
    const issues = signatureIssues(manifest(), {
      inputs: [input({ elementType: 'float64' })],
      outputs: outputs(),
    });
    expect(issues).toEqual([expect.stringMatching(/elementType is float32 but the model expects float64/)]);
  });

  it('accepts a fixed batch dimension of any size (served in runs of that size)', () => {
    for (const batch of [1, 4, 8]) {
      expect(
        signatureIssues(manifest(), { inputs: [input({ shape: [batch, 3] })], outputs: outputs() }),
      ).toEqual([]);
    }
  });

  it('rejects a wrong rank and a wrong column count', () => {
    expect(signatureIssues(manifest(), { inputs: [input({ shape: ['N'] })], outputs: outputs() })[0]).toMatch(
      /expected rank 2/,
    );
    expect(
      signatureIssues(manifest(), { inputs: [input({ shape: ['N', 4] })], outputs: outputs() })[0],
    ).toMatch(/expects 4 columns but the tensor lists 3 features/);
  });

  it('rejects inputs that fix different batch sizes, naming each', () => {
    const raw = tinyManifest();
    raw.inputs.tensors = [
      { name: 'features', elementType: 'float32', features: ['x1', 'x2'] },
      { name: 'extra', elementType: 'float32', features: ['x3'] },
    ];
    const issues = signatureIssues(manifest(raw), {
      inputs: [input({ shape: [1, 2] }), input({ name: 'extra', shape: [4, 1] })],
      outputs: outputs(),
    });
    expect(issues).toEqual([
      'inputs.tensors: the model\'s inputs fix different batch sizes ("features" 1, "extra" 4); export them with one batch dimension (or a symbolic one)',
    ]);
    // A fixed and a symbolic batch dimension agree: every run has the fixed size.
    expect(
      signatureIssues(manifest(raw), {
        inputs: [input({ shape: [1, 2] }), input({ name: 'extra', shape: ['N', 1] })],
        outputs: outputs(),
      }),
    ).toEqual([]);
  });

  it('rejects output shapes that do not fit their kind: class with several values, probability of rank 1', () => {
    const issues = signatureIssues(manifest(), {
      inputs: [input()],
      outputs: [
        { name: 'probabilities', isTensor: true, elementType: 'float32', shape: ['N'] },
        { name: 'label', isTensor: true, elementType: 'int64', shape: ['N', 3] },
      ],
    });
    expect(issues).toEqual([
      'outputs "probabilities": the model returns shape ["N"]; a probability output must be [batch, 2] (one score per label); export the scores as a 2-D tensor',
      'outputs "label": the model returns shape ["N", 3] (3 values per instance); a class output must have one class per instance ([batch] or [batch, 1]); declare scores as kind "probability", or take their ArgMax in the graph',
    ]);
    // [batch, 1] is one value per instance.
    expect(
      signatureIssues(manifest(), {
        inputs: [input()],
        outputs: [outputs()[0]!, { name: 'label', isTensor: true, elementType: 'int64', shape: ['N', 1] }],
      }),
    ).toEqual([]);
  });

  it('rejects a missing output, a non-tensor output and a wrong output type', () => {
    const issues = signatureIssues(manifest(), {
      inputs: [input()],
      outputs: [
        { name: 'probabilities', isTensor: false },
        { name: 'other', isTensor: true, elementType: 'int64', shape: ['N'] },
      ],
    });
    expect(issues).toEqual([
      expect.stringMatching(/"probabilities": the model output is not a tensor.*zipmap=False/),
      expect.stringMatching(/"label": the model has no output named "label"/),
    ]);
    const typed = signatureIssues(manifest(), {
      inputs: [input()],
      outputs: [outputs()[0]!, { name: 'label', isTensor: true, elementType: 'string', shape: ['N'] }],
    });
    expect(typed).toEqual([
      expect.stringMatching(/"label": elementType is int64 but the model returns string/),
    ]);
  });

  it('rejects a probability output whose fixed width differs from the labels', () => {
    const issues = signatureIssues(manifest(), {
      inputs: [input()],
      outputs: [
        { name: 'probabilities', isTensor: true, elementType: 'float32', shape: ['N', 3] },
        outputs()[1]!,
      ],
    });
    expect(issues).toEqual([
      expect.stringMatching(/returns 3 probabilities per row but labels lists 2; list one label per score/),
    ]);
  });

  it('rejects a non-tensor input', () => {
    const issues = signatureIssues(manifest(), {
      inputs: [{ name: 'features', isTensor: false }],
      outputs: outputs(),
    });
    expect(issues[0]).toMatch(/not a tensor/);
  });
});
