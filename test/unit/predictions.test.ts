import { describe, expect, it } from 'vitest';
import type { Output } from '../../lambdas/core/manifest';
import { createPredictionFormatter, PredictionFormatError } from '../../lambdas/core/predictions';

const labels = ['no', 'yes'];
const outputs: Output[] = [
  { name: 'label', kind: 'class', elementType: 'int64', labels },
  { name: 'probabilities', kind: 'probability', elementType: 'float32', labels },
  { name: 'score', kind: 'regression', elementType: 'float32' },
];

describe('createPredictionFormatter', () => {
  const format = createPredictionFormatter(outputs);

  it('formats class as the label, probability as {label: p}, regression as a number, in manifest order', () => {
    const p = new Float32Array([0.25, 0.75, 0.9, 0.1]);
    const got = format(
      {
        probabilities: { elementType: 'float32', dims: [2, 2], data: p },
        label: { elementType: 'int64', dims: [2], data: new BigInt64Array([1n, 0n]) },
        score: { elementType: 'float32', dims: [2, 1], data: new Float32Array([1.5, -2]) },
        ignored: { elementType: 'float32', dims: [2], data: [0, 0] },
      },
      2,
    );
    expect(got).toEqual([
      { label: 'yes', probabilities: { no: 0.25, yes: 0.75 }, score: 1.5 },
      // Not rounded: the float32 value as a double.
      { label: 'no', probabilities: { no: p[2], yes: p[3] }, score: -2 },
    ]);
    expect(Object.keys(got[0]!)).toEqual(['label', 'probabilities', 'score']);
    expect(got[1]!.probabilities).not.toEqual({ no: 0.9, yes: 0.1 });
  });

  it('passes string class outputs through', () => {
    const f = createPredictionFormatter([{ name: 'label', kind: 'class', elementType: 'string', labels }]);
    expect(f({ label: { elementType: 'string', dims: [1], data: ['yes'] } }, 1)).toEqual([{ label: 'yes' }]);
  });

  it('fails when a declared output is missing', () => {
    expect(() => format({}, 1)).toThrow(PredictionFormatError);
    expect(() => format({}, 1)).toThrow(/no output "label"/);
  });

  it('fails when a class index has no label', () => {
    const f = createPredictionFormatter([outputs[0]!]);
    expect(() => f({ label: { elementType: 'int64', dims: [1], data: [5n] } }, 1)).toThrow(/not an index/);
  });

  it('fails when a probability row does not have one value per label', () => {
    const f = createPredictionFormatter([outputs[1]!]);
    expect(() =>
      f({ probabilities: { elementType: 'float32', dims: [1, 3], data: [0.1, 0.2, 0.7] } }, 1),
    ).toThrow(/3 values per instance, expected one per label \(2\)/);
  });

  it('fails when the values do not divide into the instances', () => {
    const f = createPredictionFormatter([outputs[2]!]);
    expect(() => f({ score: { elementType: 'float32', dims: [3], data: [1, 2, 3] } }, 2)).toThrow(
      /not a whole number per instance/,
    );
  });
});
