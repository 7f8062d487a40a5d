/**
 * Tensor features (docs/manifest.md "Tensor features"): the schema rules in both manifest parsers, encoding (nested
 * and base64 give identical feeds), request validation (one 400 per kind of bad tensor), the baseline from JSON
 * lines against the committed digits example (Python twin), drift counting of `<feature>.norm` / `.mean`, and the
 * signature rule.
 */
/* eslint-disable @typescript-eslint/no-explicit-any */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { computeBaseline, computeInstanceBaseline, parseReferenceJsonl } from '../../lambdas/core/baseline';
import { DriftCounter } from '../../lambdas/core/drift-counter';
import { FeatureEncodingError } from '../../lambdas/core/errors';
import { encodeInstances } from '../../lambdas/core/features';
import { compileInstanceValidator, type FieldError } from '../../lambdas/core/inference-request';
import { parseManifest, type Manifest } from '../../lambdas/core/manifest';
import { parseRuntimeManifest } from '../../lambdas/core/runtime-manifest';
import { tensorFeatureOf, tensorInputShapeIssues } from '../../lambdas/core/tensor-signature';
import { compileTensorStats } from '../../lambdas/core/tensor-values';
import { tinyManifest } from './manifest-fixtures';

const DIGITS_DIR = path.join(__dirname, '..', '..', 'examples', 'digits');
const digitsManifest = (): Record<string, any> =>
  JSON.parse(readFileSync(path.join(DIGITS_DIR, 'manifest.json'), 'utf8')) as Record<string, any>;

/** A manifest with one tensor feature `image` ([2, 3] by default) feeding graph input `x`. */
function tensorManifest(
  elementType = 'float32',
  shape: number[] = [2, 3],
  extra: Record<string, unknown> = {},
): Record<string, any> {
  const m = tinyManifest();
  m.inputs = {
    features: [{ name: 'image', type: 'tensor', elementType, shape, ...extra }],
    tensors: [{ name: 'x', elementType, features: ['image'] }],
  };
  delete m.baseline;
  m.smokeSamples = [];
  return m;
}

function parsed(m: Record<string, any>): Manifest {
  const r = parseManifest(m);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.manifest;
}

const issuesOf = (m: unknown) => {
  const r = parseManifest(m);
  return r.ok ? [] : r.issues;
};

const le = (type: 'f32' | 'f64' | 'i32' | 'i64', values: readonly number[]): string => {
  const buf = Buffer.alloc(values.length * (type === 'f32' || type === 'i32' ? 4 : 8));
  values.forEach((v, i) => {
    if (type === 'f32') buf.writeFloatLE(v, i * 4);
    else if (type === 'f64') buf.writeDoubleLE(v, i * 8);
    else if (type === 'i32') buf.writeInt32LE(v, i * 4);
    else buf.writeBigInt64LE(BigInt(v), i * 8);
  });
  return buf.toString('base64');
};

describe('tensor feature schema', () => {
  it('accepts the digits example and a tensor manifest', () => {
    expect(issuesOf(digitsManifest())).toEqual([]);
    expect(parsed(tensorManifest()).inputs.features[0]).toMatchObject({
      type: 'tensor',
      shape: [2, 3],
      required: true,
      pii: false,
    });
  });

  it.each([
    [[], /1 to 4 dimensions/],
    [[1, 2, 3, 4, 5], /1 to 4 dimensions/],
    [[2, 0], /dimension 1 must be a whole number >= 1/],
    [[2.5], /dimension 0 must be a whole number >= 1/],
    [[1001, 1000], /at most 1000000/],
  ])('rejects shape %j', (shape, message) => {
    const issues = issuesOf(tensorManifest('float32', shape));
    expect(issues).toContainEqual({
      path: 'inputs.features[0].shape',
      message: expect.stringMatching(message),
    });
  });

  it('rejects a string element type', () => {
    const m = tensorManifest();
    m.inputs.features[0].elementType = 'string';
    expect(issuesOf(m).map((i) => i.path)).toContain('inputs.features[0].elementType');
  });

  it('rejects a graph tensor whose element type differs from the tensor feature', () => {
    const m = tensorManifest();
    m.inputs.tensors[0].elementType = 'float64';
    expect(issuesOf(m)).toContainEqual({
      path: 'inputs.tensors[0].elementType',
      message: expect.stringMatching(/is float64 but tensor feature "image" is float32/),
    });
  });

  it('rejects a tensor feature sharing its graph tensor with another feature', () => {
    const m = tensorManifest();
    m.inputs.features.push({ name: 'age', type: 'numeric' });
    m.inputs.tensors[0].features.push('age');
    expect(issuesOf(m)).toContainEqual({
      path: 'inputs.tensors[0].features',
      message: expect.stringMatching(/must feed tensor "x" alone/),
    });
  });

  it('accepts <feature>.norm / .mean baseline keys and rejects bins under the tensor name itself', () => {
    const m = digitsManifest();
    expect(Object.keys(m.baseline.features).sort()).toEqual(['image.mean', 'image.norm']);
    m.baseline.features.image = m.baseline.features['image.norm'];
    expect(issuesOf(m)).toContainEqual({
      path: 'baseline.features.image',
      message: expect.stringMatching(/profiled as "image.norm" and "image.mean"/),
    });
    const cat = digitsManifest();
    cat.baseline.features['image.mean'] = {
      kind: 'categorical',
      categories: ['a'],
      counts: [1, 0],
      missing: 0,
    };
    expect(issuesOf(cat).map((i) => i.path)).toContain('baseline.features.image.mean.kind');
  });

  it('rejects a feature named like a tensor drift key', () => {
    const m = tensorManifest();
    m.inputs.features.push({ name: 'image.norm', type: 'numeric' });
    m.inputs.tensors.push({ name: 'n', elementType: 'float32', features: ['image.norm'] });
    expect(issuesOf(m)).toContainEqual({
      path: 'inputs.features[1].name',
      message: expect.stringMatching(/drift key of tensor feature "image"/),
    });
  });

  it('checks smoke-sample tensor values against the shape', () => {
    const m = tensorManifest();
    m.smokeSamples = [{ inputs: { image: [[1, 2, 3]] }, expected: { label: 0 } }];
    expect(issuesOf(m)).toContainEqual({
      path: 'smokeSamples[0].inputs.image',
      message: expect.stringMatching(/must have 2 entries/),
    });
  });

  it('parses the same rules without zod (runtime manifest)', () => {
    const ok = parseRuntimeManifest(JSON.stringify(digitsManifest()));
    expect(ok.ok).toBe(true);
    if (ok.ok) expect(ok.manifest.inputs.features[0]).toMatchObject({ type: 'tensor', shape: [8, 8] });
    const bad = digitsManifest();
    bad.inputs.features[0].shape = [0];
    bad.inputs.tensors[0].elementType = 'int64';
    const r = parseRuntimeManifest(JSON.stringify(bad));
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.issues.map((i) => i.path)).toEqual(expect.arrayContaining(['inputs.features[0].shape']));
    }
    const mixed = digitsManifest();
    mixed.inputs.tensors[0].elementType = 'int64';
    const m2 = parseRuntimeManifest(JSON.stringify(mixed));
    expect(m2.ok).toBe(false);
    if (!m2.ok) expect(m2.issues.map((i) => i.path)).toContain('inputs.tensors[0].elementType');
    const stray = digitsManifest();
    stray.baseline.features.image = stray.baseline.features['image.norm'];
    const m3 = parseRuntimeManifest(JSON.stringify(stray));
    expect(m3.ok).toBe(false);
  });
});

describe('encodeInstances with a tensor feature', () => {
  const values = [
    [1.5, -2, 3],
    [4, 5.25, -6],
  ];
  const flat = values.flat();

  it.each([
    ['float32', 'f32'],
    ['float64', 'f64'],
    ['int32', 'i32'],
    ['int64', 'i64'],
  ] as const)('%s: nested arrays and base64 give identical [batch, ...shape] feeds', (type, code) => {
    const ints = type.startsWith('int');
    const nums = ints ? flat.map(Math.trunc) : flat;
    const nested = [nums.slice(0, 3), nums.slice(3)];
    const m = parsed(tensorManifest(type));
    const a = encodeInstances(m, [{ image: nested }, { image: { b64: le(code, nums) } }]);
    expect(a.x!.dims).toEqual([2, 2, 3]);
    const data = Array.from(a.x!.data as ArrayLike<number | bigint>, Number);
    expect(data.slice(0, 6)).toEqual(nums);
    expect(data.slice(6)).toEqual(nums);
  });

  it('marks a missing optional float tensor NaN and refuses a missing required one', () => {
    const m = parsed(tensorManifest('float32', [2, 3], { required: false }));
    const feed = encodeInstances(m, [{}, { image: values }]);
    expect(
      Array.from(feed.x!.data as Float32Array)
        .slice(0, 6)
        .every(Number.isNaN),
    ).toBe(true);
    expect(() => encodeInstances(parsed(tensorManifest()), [{}])).toThrow(FeatureEncodingError);
  });

  it('refuses a base64 value of the wrong length', () => {
    expect(() => encodeInstances(parsed(tensorManifest()), [{ image: { b64: le('f32', [1, 2]) } }])).toThrow(
      /b64 must be standard base64 of 24 bytes/,
    );
  });
});

describe('request validation of tensor values', () => {
  const validate = (m: Record<string, any>, instances: unknown[]): FieldError[] =>
    compileInstanceValidator(parsed(m))(instances);
  const good = [
    [1, 2, 3],
    [4, 5, 6],
  ];

  it('accepts both forms', () => {
    expect(validate(tensorManifest(), [{ image: good }, { image: { b64: le('f32', good.flat()) } }])).toEqual(
      [],
    );
  });

  it.each<[string, string, unknown, string, RegExp]>([
    [
      'wrong rank (too few dims)',
      'float32',
      [[1, 2, 3], 7],
      'instances[0].image[1]',
      /must be an array of 3/,
    ],
    [
      'wrong rank (too many dims)',
      'float32',
      [[[1], 2, 3], good[1]],
      'instances[0].image[0][0]',
      /one too many/,
    ],
    [
      'wrong dim length',
      'float32',
      [good[0], [4, 5]],
      'instances[0].image[1]',
      /must have 3 entries .*got 2/,
    ],
    [
      'non-number element',
      'float32',
      [good[0], [4, 'x', 6]],
      'instances[0].image[1][1]',
      /must be a number .*"x"/,
    ],
    [
      'non-finite (float32 overflow)',
      'float32',
      [good[0], [4, 1e39, 6]],
      'instances[0].image[1][1]',
      /float32 range/,
    ],
    [
      'non-integer for int32',
      'int32',
      [good[0], [4, 5.5, 6]],
      'instances[0].image[1][1]',
      /whole number \(int32/,
    ],
    [
      'non-integer for int64',
      'int64',
      [[0.5, 2, 3], good[1]],
      'instances[0].image[0][0]',
      /whole number \(int64/,
    ],
    ['int32 overflow', 'int32', [good[0], [4, 2 ** 31, 6]], 'instances[0].image[1][1]', /int32 range/],
    ['bad base64', 'float32', { b64: 'AAA*' }, 'instances[0].image.b64', /not standard base64/],
    [
      'wrong byte length',
      'float32',
      { b64: le('f32', [1, 2]) },
      'instances[0].image.b64',
      /decodes to 8 bytes.*24/,
    ],
    [
      'b64 plus other keys',
      'float32',
      { b64: le('f32', good.flat()), dtype: 'f4' },
      'instances[0].image',
      /only "b64"; remove "dtype"/,
    ],
    ['b64 not a string', 'float32', { b64: 12 }, 'instances[0].image.b64', /must be a string/],
    ['neither form', 'float32', 'pixels', 'instances[0].image', /nested array of shape \[2, 3\]/],
    ['missing when required', 'float32', undefined, 'instances[0].image', /is required; send a nested array/],
  ])('400: %s', (_what, type, value, pathText, message) => {
    const errors = validate(tensorManifest(type), [value === undefined ? {} : { image: value }]);
    expect(errors).toContainEqual({ path: pathText, message: expect.stringMatching(message) });
  });

  it('400: non-finite values inside base64 name the element', () => {
    const errors = validate(tensorManifest('float64'), [
      { image: { b64: le('f64', [1, 2, 3, 4, Number.NaN, 6]) } },
    ]);
    expect(errors).toEqual([
      { path: 'instances[0].image[1][1]', message: expect.stringMatching(/finite.*NaN/) },
    ]);
  });

  it('redacts pii element values and keeps the error cap', () => {
    const m = tensorManifest('float32', [2, 3], { pii: true });
    const errors = validate(m, [{ image: [good[0], [4, 'secret', 6]] }]);
    expect(errors).toEqual([
      { path: 'instances[0].image[1][1]', message: expect.stringMatching(/redacted: pii/) },
    ]);
    expect(JSON.stringify(errors)).not.toContain('secret');
    const many = compileInstanceValidator(parsed(tensorManifest('float32', [200])), { maxErrors: 5 })([
      { image: Array.from({ length: 200 }, () => 'x') },
    ]);
    expect(many).toHaveLength(6);
    expect(many[5]).toEqual({ path: '(request)', message: '… and 195 more errors' });
  });

  it('accepts an optional tensor as null or absent', () => {
    expect(validate(tensorManifest('float32', [2, 3], { required: false }), [{}, { image: null }])).toEqual(
      [],
    );
  });
});

describe('tensor drift: baseline and live counts', () => {
  const manifest = parsed(digitsManifest());
  const lines = parseReferenceJsonl(readFileSync(path.join(DIGITS_DIR, 'reference.jsonl'), 'utf8'));

  it('recomputes the committed digits baseline from reference.jsonl (Python twin) exactly', () => {
    expect(computeInstanceBaseline(manifest.inputs.features, lines)).toEqual(manifest.baseline);
  });

  it('refuses CSV reference data for tensor features and names the bad JSON line', () => {
    expect(() => computeBaseline(manifest.inputs.features, [{ image: '1' }])).toThrow(/reference.jsonl/);
    expect(() => parseReferenceJsonl('{"image": 1}\n{oops\n')).toThrow(/line 2 is not valid JSON/);
    expect(() => computeInstanceBaseline(manifest.inputs.features, [{ image: [[1]] }])).toThrow(
      /line 1: image must have 8 entries/,
    );
  });

  it('norm and mean are the same for nested and base64 values', () => {
    const stats = compileTensorStats({ elementType: 'float32', shape: [2, 2] });
    const a = new Float64Array(2);
    const b = new Float64Array(2);
    expect(
      stats(
        [
          [3, 0.1],
          [0, 4],
        ],
        a,
      ),
    ).toBe(true);
    expect(stats({ b64: le('f32', [3, 0.1, 0, 4]) }, b)).toBe(true);
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(a[1]).toBeCloseTo((7 + Math.fround(0.1)) / 4, 12);
    expect(stats(null, a)).toBe(false);
  });

  it('counts live instances into image.norm / image.mean bins, both forms alike, missing when absent', () => {
    const counter = new DriftCounter();
    const image = lines[0]!.image as number[][];
    const b64 = le('f32', image.flat());
    counter.count(
      'digits',
      '1.0.0',
      manifest.baseline!,
      [{ image }, { image: { b64 } }, {}],
      0,
      undefined,
      manifest.inputs.features,
    );
    const [delta] = counter.drain();
    const norm = delta!.counts.features['image.norm']!;
    const mean = delta!.counts.features['image.mean']!;
    expect(norm.missing).toBe(1);
    expect(mean.missing).toBe(1);
    expect(norm.counts.reduce((s, c) => s + c, 0)).toBe(2);
    // Both forms land in the same bin.
    expect(norm.counts.filter((c) => c > 0)).toEqual([2]);
    expect(mean.counts.filter((c) => c > 0)).toEqual([2]);
  });
});

describe('tensor signature rule', () => {
  const m = parsed(digitsManifest());
  const tensor = m.inputs.tensors[0]!;
  const feature = tensorFeatureOf(tensor, m.inputs.features)!;

  it('accepts [N, 8, 8] and a size-1 batch', () => {
    expect(feature.name).toBe('image');
    expect(
      tensorInputShapeIssues(tensor, feature, { name: 'image', isTensor: true, shape: ['N', 8, 8] }),
    ).toEqual([]);
    expect(
      tensorInputShapeIssues(tensor, feature, { name: 'image', isTensor: true, shape: [1, 8, -1] }),
    ).toEqual([]);
  });

  it('rejects a wrong rank and a wrong fixed dimension, leaving the batch dimension alone', () => {
    expect(
      tensorInputShapeIssues(tensor, feature, { name: 'image', isTensor: true, shape: ['N', 64] }),
    ).toEqual([expect.stringMatching(/needs rank 3 \[batch, 8, 8\]/)]);
    expect(
      tensorInputShapeIssues(tensor, feature, { name: 'image', isTensor: true, shape: ['N', 8, 7] }),
    ).toEqual([
      expect.stringMatching(/dimension 2 of the model input is 7 but tensor feature "image" declares 8/),
    ]);
    // A fixed batch size is signature.ts's rule for all inputs (served in runs), not this one's.
    expect(
      tensorInputShapeIssues(tensor, feature, { name: 'image', isTensor: true, shape: [32, 8, 8] }),
    ).toEqual([]);
  });

  it('leaves column tensors to signature.ts', () => {
    const tiny = parsed(tinyManifest());
    expect(tensorFeatureOf(tiny.inputs.tensors[0]!, tiny.inputs.features)).toBeUndefined();
  });
});
