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

  it('rejects a wrong rank, a fixed batch other than 1, and a wrong column count', () => {
    expect(signatureIssues(manifest(), { inputs: [input({ shape: ['N'] })], outputs: outputs() })[0]).toMatch(
      /expected rank 2/,
    );
    expect(
      signatureIssues(manifest(), { inputs: [input({ shape: [8, 3] })], outputs: outputs() })[0],
    ).toMatch(/fixes the batch dimension to 8/);
    expect(
      signatureIssues(manifest(), { inputs: [input({ shape: ['N', 4] })], outputs: outputs() })[0],
    ).toMatch(/expects 4 columns but the tensor lists 3 features/);
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
    expect(issues).toEqual([expect.stringMatching(/returns 3 probabilities per row but labels lists 2/)]);
  });

  it('rejects a non-tensor input', () => {
    const issues = signatureIssues(manifest(), {
      inputs: [{ name: 'features', isTensor: false }],
      outputs: outputs(),
    });
    expect(issues[0]).toMatch(/not a tensor/);
  });
});
