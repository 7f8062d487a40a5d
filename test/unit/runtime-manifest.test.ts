import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_MANIFEST_BYTES, parseManifestText } from '../../lambdas/core/manifest';
import {
  MAX_REGISTERED_MANIFEST_BYTES,
  parseRuntimeManifest,
  type RuntimeManifest,
} from '../../lambdas/core/runtime-manifest';
import { exampleBundle } from './inference-helpers';

const REPO = path.join(__dirname, '..', '..');

function runtimeFieldsOf(text: string): RuntimeManifest {
  const full = parseManifestText(text);
  if (!full.ok) throw new Error('example manifest invalid');
  const { name, version, framework, artifact, inputs, outputs } = full.manifest;
  return { name, version, framework, artifact, inputs, outputs };
}

function issuesOf(manifest: unknown): string[] {
  const parsed = parseRuntimeManifest(JSON.stringify(manifest));
  return parsed.ok ? [] : parsed.issues.map((i) => `${i.path}: ${i.message}`);
}

describe('parseRuntimeManifest', () => {
  it.each(['breast-cancer', 'credit-risk'] as const)(
    'reads %s exactly as the full schema does (defaults included)',
    (name) => {
      const text = JSON.stringify(exampleBundle(name).manifest);
      const parsed = parseRuntimeManifest(text);
      expect(parsed.ok).toBe(true);
      expect(parsed.ok && parsed.manifest).toEqual(runtimeFieldsOf(text));
    },
  );

  it('applies the schema defaults: required unless false, pii only when true', () => {
    const manifest = structuredClone(exampleBundle('breast-cancer').manifest) as {
      inputs: { features: Record<string, unknown>[] };
    };
    manifest.inputs.features[0] = { ...manifest.inputs.features[0], required: false, pii: true };
    delete manifest.inputs.features[1]!.required;
    delete manifest.inputs.features[1]!.pii;
    const parsed = parseRuntimeManifest(JSON.stringify(manifest));
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    expect(parsed.manifest.inputs.features[0]).toMatchObject({ required: false, pii: true });
    expect(parsed.manifest.inputs.features[1]).toMatchObject({ required: true, pii: false });
  });

  it('rejects text that is not a JSON object', () => {
    expect(parseRuntimeManifest('{not json').ok).toBe(false);
    expect(parseRuntimeManifest('[]').ok).toBe(false);
  });

  it('rejects what the runtime cannot serve from, naming every field', () => {
    const base = exampleBundle('breast-cancer').manifest;
    const broken = {
      ...base,
      framework: 'tensorflow',
      artifact: { ...base.artifact, sha256: 'ABC' },
      inputs: {
        features: [...base.inputs.features, { name: 'colour', type: 'categorical', categories: [] }],
        tensors: [{ ...base.inputs.tensors[0]!, features: ['mean_radius', 'nope'] }],
      },
      outputs: [{ name: 'label', kind: 'class', elementType: 'int64' }],
    };
    expect(issuesOf(broken)).toEqual([
      'framework: must be "onnx" or "sagemaker"',
      'artifact.sha256: must be 64 lower-case hex characters',
      'inputs.features[30].categories: must be a non-empty list of strings',
      'inputs.tensors[0].features: names undeclared features: nope',
      'outputs[0].labels: a class output needs its labels',
    ]);
  });

  it('rejects features, tensors and outputs of the wrong shape', () => {
    const base = exampleBundle('breast-cancer').manifest;
    expect(
      issuesOf({
        ...base,
        inputs: { features: [{ name: 'x', type: 'text' }, 7], tensors: [{ name: 't' }] },
        outputs: [],
      }),
    ).toEqual([
      'inputs.features[0].type: must be "numeric", "categorical" or "boolean"',
      'inputs.features[1]: must be an object with a name',
      'inputs.tensors[0]: must have a name, an elementType and a list of feature names',
      'outputs: must be a non-empty array',
    ]);
  });

  it('bounds registered manifests like the release pipeline does', () => {
    expect(MAX_REGISTERED_MANIFEST_BYTES).toBe(MAX_MANIFEST_BYTES);
  });
});

describe('inference bundle', () => {
  it('fails if zod or the X-Ray SDK is on the inference function import graph', async () => {
    const { build } = await import('esbuild');
    const result = await build({
      entryPoints: [path.join(REPO, 'lambdas', 'inference', 'handler.ts')],
      bundle: true,
      write: false,
      metafile: true,
      platform: 'node',
      format: 'cjs',
      external: ['onnxruntime-node'],
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.some((f) => f.includes('lambdas/inference/inference-app.ts'))).toBe(true);
    expect(
      inputs.filter((f) => /node_modules\/(zod|aws-xray-sdk-core|@aws-lambda-powertools\/tracer)\//.test(f)),
    ).toEqual([]);
    expect(inputs).not.toContain('lambdas/core/manifest.ts');
  }, 30_000);
});
