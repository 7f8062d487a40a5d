import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { binIndex } from '../../lambdas/core/baseline';
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
  const { name, version, framework, artifact, inputs, outputs, baseline } = full.manifest;
  return { name, version, framework, artifact, inputs, outputs, ...(baseline ? { baseline } : {}) };
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
        baseline: undefined,
      }),
    ).toEqual([
      'inputs.features[0].type: must be "numeric", "categorical", "boolean" or "tensor"',
      'inputs.features[1]: must be an object with a name',
      'inputs.tensors[0]: must have a name, an elementType and a list of feature names',
      'outputs: must be a non-empty array',
    ]);
  });

  it('bounds registered manifests like the release pipeline does', () => {
    expect(MAX_REGISTERED_MANIFEST_BYTES).toBe(MAX_MANIFEST_BYTES);
  });
});

describe('parseRuntimeManifest: baseline bins', () => {
  const base = exampleBundle('breast-cancer').manifest as unknown as {
    baseline: { referenceCount: number; features: Record<string, Record<string, unknown>> };
  };
  const withBaseline = (features: Record<string, unknown>, referenceCount: unknown = 10) => ({
    ...exampleBundle('breast-cancer').manifest,
    baseline: { referenceCount, features },
  });
  const numeric = { kind: 'numeric', edges: [1, 2, 3], counts: [1, 2, 3, 4], missing: 0 };

  it('keeps the baseline, so a hook can bin live values without reading the manifest again', () => {
    const parsed = parseRuntimeManifest(JSON.stringify(base));
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
    expect(parsed.manifest.baseline).toEqual(base.baseline);
    const bins = parsed.manifest.baseline!.features.mean_radius!;
    expect(binIndex(bins, 6.9)).toBe(0);
    expect(binIndex(bins, 1e9)).toBe(bins.counts.length - 1);
    expect(binIndex(bins, null)).toBe('missing');
  });

  it('keeps categorical bins and reads a manifest without a baseline as having none', () => {
    const parsed = parseRuntimeManifest(JSON.stringify(withBaseline({ mean_radius: numeric }, 4)));
    expect(parsed.ok && parsed.manifest.baseline).toEqual({
      referenceCount: 4,
      features: { mean_radius: numeric },
    });
    const credit = exampleBundle('credit-risk').manifest as unknown as {
      inputs: { features: { name: string; type: string; categories?: string[] }[] };
    };
    const categorical = credit.inputs.features.find((f) => f.type === 'categorical')!;
    const bins = {
      kind: 'categorical',
      categories: categorical.categories,
      counts: [...categorical.categories!.map(() => 1), 0],
      missing: 2,
    };
    const parsedCredit = parseRuntimeManifest(
      JSON.stringify({ ...credit, baseline: { referenceCount: 3, features: { [categorical.name]: bins } } }),
    );
    if (!parsedCredit.ok) throw new Error(JSON.stringify(parsedCredit.issues));
    const kept = parsedCredit.manifest.baseline!.features[categorical.name]!;
    expect(kept).toEqual(bins);
    expect(binIndex(kept, 'not a category')).toBe(categorical.categories!.length);
    const { baseline: _dropped, ...without } = base;
    const none = parseRuntimeManifest(JSON.stringify(without));
    expect(none.ok && none.manifest.baseline).toBeUndefined();
  });

  it('rejects a baseline of the wrong shape', () => {
    expect(issuesOf({ ...exampleBundle('breast-cancer').manifest, baseline: [] })).toEqual([
      'baseline: must be { referenceCount, features }',
    ]);
    expect(issuesOf(withBaseline({}, 0))).toEqual(['baseline.referenceCount: must be a whole number >= 1']);
  });

  it('rejects bins of undeclared features and of the wrong kind for the feature', () => {
    expect(
      issuesOf(
        withBaseline({
          nope: numeric,
          mean_radius: { kind: 'categorical', categories: ['a'], counts: [1, 0], missing: 0 },
        }),
      ),
    ).toEqual([
      'baseline.features.nope: names undeclared feature "nope"',
      'baseline.features.mean_radius.kind: must be "numeric" for a numeric feature',
    ]);
  });

  it('rejects malformed bins, naming each field', () => {
    expect(
      issuesOf(
        withBaseline({
          mean_radius: { ...numeric, edges: [1, 3, 2] },
          mean_texture: { ...numeric, counts: [1, 2, 3] },
          mean_perimeter: { ...numeric, counts: [1, -2, 3, 4], missing: 0.5 },
          mean_area: { kind: 'histogram', counts: [], missing: 0 },
          mean_smoothness: 'bins',
        }),
      ),
    ).toEqual([
      'baseline.features.mean_radius.edges: must be 1 to 1000 finite numbers, strictly increasing',
      'baseline.features.mean_texture.counts: must have 4 entries (edges + 1), got 3',
      'baseline.features.mean_perimeter.missing: must be a whole number >= 0',
      'baseline.features.mean_perimeter.counts: must be a list of whole numbers >= 0',
      'baseline.features.mean_area.kind: must be "numeric" or "categorical"',
      'baseline.features.mean_smoothness: must be an object with kind, counts and missing',
    ]);
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
