import { describe, expect, it } from 'vitest';
import { FeatureEncodingError } from '../../lambdas/core/errors';
import { encodeInstances } from '../../lambdas/core/features';
import { parseManifest, type Manifest } from '../../lambdas/core/manifest';
import { richManifest, tinyManifest } from './manifest-fixtures';

function manifest(raw: unknown): Manifest {
  const r = parseManifest(raw);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.manifest;
}

const tiny = manifest(tinyManifest());
const rich = manifest(richManifest());

function encodingIssues(m: Manifest, instances: Record<string, unknown>[]) {
  try {
    encodeInstances(m, instances as never);
  } catch (err) {
    if (err instanceof FeatureEncodingError) return err.issues;
    throw err;
  }
  throw new Error('expected encoding to fail');
}

describe('encodeInstances', () => {
  it('packs numeric features row-major into a [batch, features] float32 tensor', () => {
    const feeds = encodeInstances(tiny, [
      { x1: 1, x2: 2, x3: 3 },
      { x1: 4, x2: 5, x3: 6 },
    ]);
    expect(feeds.features!.elementType).toBe('float32');
    expect(feeds.features!.dims).toEqual([2, 3]);
    expect(Array.from(feeds.features!.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('encodes a missing optional float feature as NaN (null or absent)', () => {
    const feeds = encodeInstances(tiny, [
      { x1: 1, x2: 2 },
      { x1: 1, x2: 2, x3: null },
    ]);
    const data = feeds.features!.data as Float32Array;
    expect(Number.isNaN(data[2])).toBe(true);
    expect(Number.isNaN(data[5])).toBe(true);
  });

  it('encodes categorical as strings or as category indexes, and booleans as 0/1', () => {
    const feeds = encodeInstances(rich, [
      { income: 100, age: 30, plan: 'enterprise', region: 'us', active: true },
      { income: 5, plan: 'basic', active: false },
    ]);
    expect(feeds.plan_in).toMatchObject({
      elementType: 'string',
      dims: [2, 1],
      data: ['enterprise', 'basic'],
    });
    expect(feeds.region_in!.elementType).toBe('int64');
    expect(Array.from(feeds.region_in!.data as BigInt64Array)).toEqual([1n, 0n]);
    const numeric = Array.from(feeds.numeric!.data as Float32Array);
    expect(numeric.slice(0, 3)).toEqual([100, 30, 1]);
    expect(numeric[3]).toBe(5);
    expect(Number.isNaN(numeric[4])).toBe(true);
    expect(numeric[5]).toBe(0);
  });

  it('accepts 0/1 for booleans', () => {
    const feeds = encodeInstances(rich, [{ income: 1, plan: 'pro', active: 1 }]);
    expect((feeds.numeric!.data as Float32Array)[2]).toBe(1);
  });

  it('encodes an empty batch as zero-row tensors', () => {
    const feeds = encodeInstances(tiny, []);
    expect(feeds.features!.dims).toEqual([0, 3]);
  });

  it('rejects missing required features, wrong types, unknown categories and unknown features, all at once', () => {
    const issues = encodingIssues(rich, [
      { income: 'a lot', plan: 'gold', active: 'yes', extra: 1 },
      { plan: 'pro', active: true },
    ]);
    expect(issues).toEqual(
      expect.arrayContaining([
        { instance: 0, feature: 'income', message: 'must be a finite number' },
        {
          instance: 0,
          feature: 'plan',
          message: expect.stringMatching(/must be one of "basic", "pro", "enterprise"/),
        },
        { instance: 0, feature: 'active', message: 'must be true or false' },
        { instance: 0, feature: 'extra', message: 'is not a declared feature' },
        { instance: 1, feature: 'income', message: 'is required' },
      ]),
    );
    expect(issues).toHaveLength(5);
  });

  it('rejects undeclared keys by default, and skips that scan when the caller says keys were checked', () => {
    const instances = [{ x1: 1, x2: 2, x3: 3, extra: 9 }];
    expect(encodingIssues(tiny, instances)).toEqual([
      { instance: 0, feature: 'extra', message: 'is not a declared feature' },
    ]);
    expect(() => encodeInstances(tiny, instances, { keysChecked: false })).toThrow(FeatureEncodingError);
    const feeds = encodeInstances(tiny, instances, { keysChecked: true });
    expect(Array.from(feeds.features!.data as Float32Array)).toEqual([1, 2, 3]);
  });

  it('fails on value errors even when keys were checked', () => {
    expect(() => encodeInstances(tiny, [{ x1: 'a', x2: 2 }], { keysChecked: true })).toThrow(
      /instance 0 feature "x1": must be a finite number/,
    );
  });

  it('rejects non-finite numbers and fractional values for integer tensors', () => {
    const m = tinyManifest();
    m.inputs.tensors[0].elementType = 'int32';
    const asInt = manifest(m);
    const issues = encodingIssues(asInt, [{ x1: 1.5, x2: Number.NaN, x3: 2 ** 40 }]);
    expect(issues.map((i) => i.feature)).toEqual(['x1', 'x2', 'x3']);
  });

  it('writes int64 tensors as bigint', () => {
    const m = tinyManifest();
    m.inputs.tensors[0].elementType = 'int64';
    const feeds = encodeInstances(manifest(m), [{ x1: 1, x2: -2, x3: 3 }]);
    expect(Array.from(feeds.features!.data as BigInt64Array)).toEqual([1n, -2n, 3n]);
  });

  it('does not leak feature values into error messages', () => {
    const issues = encodingIssues(tiny, [{ x1: 'secret-value-123', x2: 1 }]);
    expect(JSON.stringify(issues)).not.toContain('secret-value-123');
  });
});
