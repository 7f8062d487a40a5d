import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { encodeInstances } from '../../lambdas/core/features';
import { parseManifest } from '../../lambdas/core/manifest';
import { signatureIssues } from '../../lambdas/core/signature';
import { smokeSampleIssues } from '../../lambdas/core/smoke';
import { OnnxModelRuntime } from '../../lambdas/adapters/onnx-model-runtime';
import { FIXTURE_DIR, tinyManifest } from './manifest-fixtures';

const bytes = readFileSync(path.join(FIXTURE_DIR, 'model.onnx'));

function manifest() {
  const r = parseManifest(tinyManifest());
  if (!r.ok) throw new Error('fixture invalid');
  return r.manifest;
}

describe('OnnxModelRuntime (real onnxruntime-node, fixture model)', () => {
  it('reports the graph signature, which matches the fixture manifest', async () => {
    const model = await new OnnxModelRuntime().load(bytes);
    try {
      expect(model.inputs).toEqual([
        { name: 'features', isTensor: true, elementType: 'float32', shape: ['batch', 3] },
      ]);
      expect(model.outputs.map((o) => [o.name, o.elementType])).toEqual([
        ['probabilities', 'float32'],
        ['label', 'int64'],
      ]);
      expect(signatureIssues(manifest(), model)).toEqual([]);
    } finally {
      await model.release();
    }
  });

  it('runs encoded instances in a batch and passes the smoke samples', async () => {
    const m = manifest();
    const model = await new OnnxModelRuntime().load(bytes);
    try {
      const out = await model.run(
        encodeInstances(m, [
          { x1: 1, x2: 2, x3: 0.5 },
          { x1: 0, x2: 0, x3: 2 },
        ]),
      );
      expect(out.probabilities!.dims).toEqual([2, 2]);
      expect(out.probabilities!.data[0]).toBeCloseTo(0.90025, 4);
      expect(Array.from(out.label!.data)).toEqual([0n, 1n]);
      expect(await smokeSampleIssues(m, model)).toEqual([]);
    } finally {
      await model.release();
    }
  });

  it('fails to load bytes that are not an ONNX model', async () => {
    await expect(new OnnxModelRuntime().load(Buffer.from('not a model'))).rejects.toThrow();
  });
});
