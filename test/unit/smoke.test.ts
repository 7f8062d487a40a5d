import { describe, expect, it } from 'vitest';
import { parseManifest, type Manifest, type Output } from '../../lambdas/core/manifest';
import type { LoadedModel, OutputValue } from '../../lambdas/core/model-runtime';
import { compareOutput, outputRow, showClass, smokeSampleIssues } from '../../lambdas/core/smoke';
import { tinyRuntime } from './fakes';
import { tinyManifest } from './manifest-fixtures';

const prob: Output = { name: 'p', kind: 'probability', elementType: 'float32', labels: ['no', 'yes'] };
const cls: Output = { name: 'c', kind: 'class', elementType: 'int64', labels: ['no', 'yes'] };
const reg: Output = { name: 'r', kind: 'regression', elementType: 'float32' };

describe('compareOutput', () => {
  it('accepts probabilities within the tolerance and rejects those outside, naming the label', () => {
    expect(compareOutput(prob, [0.7, 0.3], [0.70005, 0.29995], 1e-4)).toBeUndefined();
    expect(compareOutput(prob, [0.7, 0.3], [0.71, 0.29], 1e-4)).toMatch(
      /probability\[0\] \(no\) differs by more than 0.0001/,
    );
    expect(compareOutput(prob, [0.7, 0.3, 0], [0.7, 0.3], 1e-4)).toMatch(/expected 3 probabilities, got 2/);
    expect(compareOutput(prob, 1, [0.7, 0.3], 1e-4)).toMatch(/must be an array/);
  });

  it('treats NaN as a mismatch, never as within tolerance', () => {
    expect(compareOutput(prob, [0.5, 0.5], [Number.NaN, 0.5], 1)).toBe(
      'probability[0] (no) differs by more than 1',
    );
    expect(compareOutput(reg, 1, [Number.NaN], 1)).toBe('differs by more than 1');
  });

  it('accepts a class by index or by label, on either side', () => {
    expect(compareOutput(cls, 1, [1n], 0)).toBeUndefined();
    expect(compareOutput(cls, 'yes', [1n], 0)).toBeUndefined();
    expect(compareOutput({ ...cls, elementType: 'string' }, 1, ['yes'], 0)).toBeUndefined();
    expect(compareOutput({ ...cls, elementType: 'string' }, 'yes', ['yes'], 0)).toBeUndefined();
  });

  it('rejects a different class, an unknown label and an out-of-range index', () => {
    expect(compareOutput(cls, 'no', [1n], 0)).toBe('class differs');
    expect(compareOutput(cls, 'maybe', [1n], 0)).toMatch(/"maybe" is not one of labels \["no","yes"\]/);
    expect(compareOutput(cls, 2, [1n], 0)).toMatch(/neither a label nor an index/);
    expect(compareOutput(cls, 0, [5n], 0)).toBe('class differs');
  });

  it('compares regression values with an absolute tolerance', () => {
    expect(compareOutput(reg, 10, [10.05], 0.1)).toBeUndefined();
    expect(compareOutput(reg, 10, [10.2], 0.1)).toMatch(/differs by more than 0.1/);
    expect(compareOutput(reg, [10], [10], 0.1)).toMatch(/must be a number/);
  });
});

describe('outputRow', () => {
  it('slices a row of a [batch, k] output and the value of a [batch] output', () => {
    const p: OutputValue = { elementType: 'float32', dims: [2, 2], data: [0.1, 0.9, 0.8, 0.2] };
    expect(outputRow(p, 1)).toEqual([0.8, 0.2]);
    expect(outputRow({ elementType: 'int64', dims: [2], data: [0n, 1n] }, 1)).toEqual([1n]);
  });
});

function tiny(): Manifest {
  const r = parseManifest(tinyManifest());
  if (!r.ok) throw new Error('fixture invalid');
  return r.manifest;
}

/** The fixture model's math (see test/fixtures/tiny-classifier/make_model.py), in plain JS. */
const tinyModel = (): Promise<LoadedModel> => tinyRuntime().load();

describe('showClass', () => {
  const output: Output = { name: 'label', kind: 'class', elementType: 'int64', labels: ['a', 'b'] };
  it('shows the label with its index, a label as is, and an index without a label as such', () => {
    expect(showClass(output, 1n)).toBe('"b" (index 1)');
    expect(showClass(output, 0)).toBe('"a" (index 0)');
    expect(showClass(output, 'b')).toBe('"b"');
    expect(showClass(output, 5)).toBe('index 5 (no label)');
  });
});

describe('smokeSampleIssues', () => {
  it('passes the fixture samples', async () => {
    expect(await smokeSampleIssues(tiny(), await tinyModel())).toEqual([]);
  });

  it('reports sample index, output, expected and got for each mismatch', async () => {
    const m = tiny();
    const bad = {
      ...m,
      smokeSamples: [
        m.smokeSamples[0]!,
        {
          inputs: { x1: 0, x2: 0, x3: 2 },
          expected: { label: 'benign', probabilities: [0.5, 0.5] },
          tolerance: 1e-4,
        },
      ],
    };
    const issues = await smokeSampleIssues(bad, await tinyModel());
    expect(issues).toHaveLength(2);
    expect(issues[0]).toMatch(
      /^smokeSamples\[1\]\.expected\.label: class differs \(expected "benign", got "malignant" \(index 1\)\)$/,
    );
    expect(issues[1]).toMatch(
      /^smokeSamples\[1\]\.expected\.probabilities: probability\[0\].*expected \[0.5,0.5\], got \[/,
    );
  });

  it('reports samples the ingress validator refuses (type, range), naming the declaration to fix, and a model that fails to run', async () => {
    const m = tiny();
    const bad = {
      ...m,
      smokeSamples: [
        { inputs: { x1: 'x', x2: 1 }, expected: { label: 0 }, tolerance: 0 },
        { inputs: { x1: 11, x2: 1 }, expected: { label: 0 }, tolerance: 0 },
      ],
    };
    expect(await smokeSampleIssues(bad, await tinyModel())).toEqual([
      'smokeSamples[0].inputs.x1: must be a finite number, got "x"; fix the sample or the declaration inputs.features[0] ("x1"): requests like it would get 400',
      'smokeSamples[1].inputs.x1: must be from -10 to 10, got 11; fix the sample or the declaration inputs.features[0] ("x1"): requests like it would get 400',
    ]);
    const broken: LoadedModel = {
      ...(await tinyModel()),
      run: async () => Promise.reject(new Error('shape mismatch')),
    };
    expect(await smokeSampleIssues(m, broken)).toEqual([
      'smokeSamples[0]: the model failed to run: shape mismatch',
      'smokeSamples[1]: the model failed to run: shape mismatch',
    ]);
  });
});
