import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { parseManifestText, type Manifest } from '../../lambdas/core/manifest';

const EXAMPLES = path.join(__dirname, '..', '..', 'examples');

/** Every directory under examples/ that holds a manifest is a bundle. */
const bundles = readdirSync(EXAMPLES, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .filter((name) => {
    try {
      return statSync(path.join(EXAMPLES, name, 'manifest.json')).isFile();
    } catch {
      return false;
    }
  });

function load(name: string): Manifest {
  const result = parseManifestText(readFileSync(path.join(EXAMPLES, name, 'manifest.json'), 'utf8'));
  if (!result.ok) {
    throw new Error(
      `${name}/manifest.json: ${result.issues.map((i) => `${i.path} ${i.message}`).join('; ')}`,
    );
  }
  return result.manifest;
}

/**
 * Feeds one smoke sample straight into ONNX Runtime. Deliberately independent of the runtime's own feature
 * encoder, so a bug there cannot hide a broken example (and the other way round).
 */
function feeds(manifest: Manifest, inputs: Readonly<Record<string, unknown>>): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const t of manifest.inputs.tensors) {
    const only = manifest.inputs.features.find((f) => f.name === t.features[0]);
    if (only?.type === 'tensor') {
      // A tensor feature: a nested array (flattened row-major) or base64 of little-endian float32 bytes.
      const value = inputs[only.name] as unknown[] | { b64: string };
      const data = Array.isArray(value)
        ? Float32Array.from(value.flat(only.shape.length) as number[])
        : new Float32Array(new Uint8Array(Buffer.from(value.b64, 'base64')).buffer);
      out[t.name] = new Tensor('float32', data, [1, ...only.shape]);
      continue;
    }
    const values = t.features.map((f) => inputs[f]);
    const dims = [1, values.length];
    switch (t.elementType) {
      case 'float32':
        out[t.name] = new Tensor('float32', Float32Array.from(values as number[]), dims);
        break;
      case 'float64':
        out[t.name] = new Tensor('float64', Float64Array.from(values as number[]), dims);
        break;
      case 'string':
        out[t.name] = new Tensor('string', values.map(String), dims);
        break;
      case 'bool':
        out[t.name] = new Tensor('bool', Uint8Array.from(values.map((v) => (v ? 1 : 0))), dims);
        break;
      default:
        throw new Error(`this test does not feed ${t.elementType} tensors yet`);
    }
  }
  return out;
}

const ORT_TYPE: Record<string, string> = {
  float32: 'float32',
  float64: 'float64',
  int64: 'int64',
  string: 'string',
  bool: 'bool',
};

describe('examples/ bundles', () => {
  it('include the two documented examples', () => {
    expect(bundles).toEqual(expect.arrayContaining(['breast-cancer', 'credit-risk']));
  });

  describe.each(bundles)('%s', (name) => {
    it('has a manifest that passes parseManifest and is named after its directory', () => {
      const manifest = load(name);
      expect(manifest.name).toBe(name);
      expect(manifest.framework).toBe('onnx');
      expect(manifest.baseline).toBeDefined();
      expect(manifest.smokeSamples.length).toBeGreaterThanOrEqual(4);
    });

    it('declares the sha256 and size of its artifact', () => {
      const manifest = load(name);
      const bytes = readFileSync(path.join(EXAMPLES, name, manifest.artifact.file));
      expect(bytes.length).toBe(manifest.artifact.sizeBytes);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(manifest.artifact.sha256);
    });

    it('keeps its reference data (reference.csv, or reference.jsonl for tensor inputs) under 1 MB', () => {
      const tensor = load(name).inputs.features.some((f) => f.type === 'tensor');
      const file = tensor ? 'reference.jsonl' : 'reference.csv';
      expect(statSync(path.join(EXAMPLES, name, file)).size).toBeLessThan(1_000_000);
    });

    it('loads in ONNX Runtime with the declared inputs and outputs, and reproduces its smoke samples', async () => {
      const manifest = load(name);
      const session = await InferenceSession.create(path.join(EXAMPLES, name, manifest.artifact.file));
      try {
        const signature = (meta: readonly InferenceSession.ValueMetadata[]) =>
          meta.map((m) =>
            m.isTensor ? { name: m.name, type: m.type, rank: m.shape.length } : { name: m.name },
          );
        expect(signature(session.inputMetadata)).toEqual(
          manifest.inputs.tensors.map((t) => {
            const only = manifest.inputs.features.find((f) => f.name === t.features[0]);
            const rank = only?.type === 'tensor' ? 1 + only.shape.length : 2;
            return { name: t.name, type: ORT_TYPE[t.elementType], rank };
          }),
        );
        expect(signature(session.outputMetadata)).toEqual(
          manifest.outputs.map((o) => ({
            name: o.name,
            type: ORT_TYPE[o.elementType],
            rank: o.kind === 'probability' ? 2 : 1,
          })),
        );

        for (const [i, sample] of manifest.smokeSamples.entries()) {
          const result = await session.run(feeds(manifest, sample.inputs));
          for (const [output, expected] of Object.entries(sample.expected)) {
            const got = Array.from(result[output]!.data as ArrayLike<number | bigint>, Number);
            const want = Array.isArray(expected) ? expected : [expected];
            expect(got, `sample ${i} output ${output}`).toHaveLength(want.length);
            want.forEach((w, j) => {
              expect(Math.abs(got[j]! - Number(w)), `sample ${i} ${output}[${j}]`).toBeLessThanOrEqual(
                sample.tolerance,
              );
            });
          }
        }
      } finally {
        await session.release();
      }
    });
  });
});
