/**
 * Property: the serve-time contract holds for manifests nobody wrote by hand. Random manifests over the two example
 * graphs (declared ranges, required flags, category lists, labels, output declarations and smoke samples varied)
 * go through the real ValidateArtifact logic with the real ONNX Runtime; every one that passes is then served the
 * way the inference function serves it (the registered manifest read by parseRuntimeManifest, the real ingress
 * validator, the real in-process backend, the real formatter, outcomes classified as serving-pipeline.ts does) with
 * random requests the ingress validator accepts, and none may get a 5xx. In-process, with one ONNX session per graph.
 */
import fc from 'fast-check';
import { beforeAll, expect, it } from 'vitest';
import { createOnnxBackend } from '../../lambdas/adapters/onnx-backend';
import { OnnxModelRuntime } from '../../lambdas/adapters/onnx-model-runtime';
import { FeatureEncodingError } from '../../lambdas/core/errors';
import type { Instance } from '../../lambdas/core/features';
import { compileInstanceValidator } from '../../lambdas/core/inference-request';
import type { LoadedModel, ModelRuntime } from '../../lambdas/core/model-runtime';
import { createPredictionFormatter } from '../../lambdas/core/predictions';
import { parseRuntimeManifest } from '../../lambdas/core/runtime-manifest';
import { sha256OfBytes } from '../../lambdas/core/sha256';
import { validateRelease } from '../../lambdas/core/validation';
import { fakeLedger, FakeRegistry } from '../unit/fakes';
import type { ManifestJson } from '../fixtures/model-contract/manifests';
import { EXAMPLES, loadExample, type ExampleBundle, type ExampleName } from './harness';

const RUNS = Number(process.env.PROPERTY_RUNS ?? 1_000);
const MAX_BATCH = 16;

/** One session per graph, shared by every case (the graphs never change; creating a session is the slow part). */
class SharedSessions implements ModelRuntime {
  private readonly sessions = new Map<string, Promise<LoadedModel>>();
  private readonly real = new OnnxModelRuntime();
  load(bytes: Uint8Array): Promise<LoadedModel> {
    const key = sha256OfBytes(bytes);
    let session = this.sessions.get(key);
    if (!session) {
      session = this.real.load(bytes);
      this.sessions.set(key, session);
    }
    // Validation releases the model after each case; the shared session must outlive it.
    return session.then((m) => ({ ...m, release: async () => undefined }));
  }
}

const runtime = new SharedSessions();
const bundles = new Map<ExampleName, ExampleBundle>();
beforeAll(async () => {
  for (const name of EXAMPLES) bundles.set(name, await loadExample(name));
});

type Json = ManifestJson;

/** A random variation of an example manifest: the declarations a data scientist writes by hand. */
function manifestArb(name: ExampleName): fc.Arbitrary<Json> {
  const base = () => structuredClone(bundles.get(name)!.manifest) as Json;
  const features = base().inputs.features as Json[];
  const featureEdit = (f: Json): fc.Arbitrary<Json> => {
    const required = fc.boolean();
    if (f.type === 'numeric') {
      const bound = fc.oneof(
        fc.constant(undefined),
        fc.double({ min: -1e6, max: 1e6, noNaN: true }),
        fc.integer({ min: -50, max: 300 }),
      );
      return fc.record({ required, lo: bound, hi: bound }).map(({ required, lo, hi }) => {
        const range: Json = {};
        if (lo !== undefined) range.min = hi !== undefined ? Math.min(lo, hi) : lo;
        if (hi !== undefined) range.max = lo !== undefined ? Math.max(lo, hi) : hi;
        const { range: _old, ...rest } = f;
        return Object.keys(range).length > 0 ? { ...rest, required, range } : { ...rest, required };
      });
    }
    if (f.type === 'categorical') {
      const extra = fc.uniqueArray(fc.constantFrom('retired', 'student', 'other', 'x'), { maxLength: 2 });
      return fc
        .record({ required, keep: fc.subarray(f.categories as string[], { minLength: 1 }), extra })
        .map(({ required, keep, extra }) => ({
          ...f,
          required,
          categories: [...new Set([...keep, ...extra])],
        }));
    }
    return required.map((r) => ({ ...f, required: r }));
  };
  const labels = fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'yes', 'no', 'benign', 'malignant'), {
    minLength: 2,
    maxLength: 4,
  });
  const outputs = base().outputs as Json[];
  const outputEdit = (o: Json): fc.Arbitrary<Json | undefined> =>
    fc.oneof(
      { weight: 6, arbitrary: fc.constant(o) },
      { weight: 3, arbitrary: labels.map((l) => ({ ...o, labels: l })) },
      { weight: 1, arbitrary: fc.constant(undefined) }, // not declared (read by nobody)
      {
        weight: 1,
        arbitrary: fc.constant({ name: o.name, kind: 'regression', elementType: o.elementType }),
      },
      {
        weight: 1,
        arbitrary: labels.map((l) => ({
          ...o,
          kind: o.kind === 'class' ? 'probability' : 'class',
          labels: l,
        })),
      },
    );
  return fc
    .record({
      features: fc.tuple(...features.map(featureEdit)),
      outputs: fc.tuple(...outputs.map(outputEdit)),
      smoke: fc.oneof(fc.constant('all'), fc.constant('none'), fc.constant('first')),
    })
    .map(({ features, outputs: declared, smoke }) => {
      const m = base();
      m.inputs.features = features;
      const kept = declared.filter((o): o is Json => o !== undefined);
      m.outputs = kept.length > 0 ? kept : [outputs[0]];
      const names = new Set((m.outputs as Json[]).map((o) => o.name));
      m.smokeSamples =
        smoke === 'none'
          ? []
          : (m.smokeSamples as Json[]).slice(0, smoke === 'first' ? 1 : undefined).map((s) => ({
              ...s,
              expected: Object.fromEntries(Object.entries(s.expected as Json).filter(([k]) => names.has(k))),
            }));
      // The prediction baseline must match the declared outputs; it is not what this property is about.
      if (m.baseline) delete m.baseline.predictions;
      return m;
    });
}

/** A value the ingress validator accepts for `f`. */
function valueArb(f: Json): fc.Arbitrary<unknown> {
  const missing = f.required === false ? [fc.constant(null), fc.constant(undefined)] : [];
  if (f.type === 'numeric') {
    const lo = f.range?.min ?? -1e7;
    const hi = f.range?.max ?? 1e7;
    return fc.oneof(
      fc.constant(lo),
      fc.constant(hi),
      fc.double({ min: lo, max: hi, noNaN: true, noDefaultInfinity: true }),
      ...(Math.ceil(lo) <= Math.floor(hi) ? [fc.integer({ min: Math.ceil(lo), max: Math.floor(hi) })] : []),
      ...missing,
    );
  }
  if (f.type === 'categorical') return fc.oneof(fc.constantFrom(...(f.categories as string[])), ...missing);
  return fc.oneof(fc.boolean(), ...missing);
}

function requestsArb(m: Json): fc.Arbitrary<Instance[][]> {
  const instance = fc.tuple(...(m.inputs.features as Json[]).map(valueArb)).map((values) => {
    const out: Record<string, unknown> = {};
    (m.inputs.features as Json[]).forEach((f, i) => {
      if (values[i] !== undefined) out[f.name] = values[i];
    });
    return out as Instance;
  });
  return fc.array(fc.array(instance, { minLength: 1, maxLength: MAX_BATCH }), { minLength: 1, maxLength: 3 });
}

/** The status the inference function answers a request with, by serving-pipeline.ts's classification. */
async function serve(
  text: string,
  bytes: Uint8Array,
  instances: readonly Instance[],
): Promise<{ status: number; detail?: string }> {
  const parsed = parseRuntimeManifest(text);
  if (!parsed.ok) return { status: 503, detail: JSON.stringify(parsed.issues) };
  const manifest = parsed.manifest;
  const validate = compileInstanceValidator(manifest);
  const errors = validate(instances);
  if (errors.length > 0) return { status: 400, detail: JSON.stringify(errors) };
  try {
    const model = await createOnnxBackend(runtime).load(manifest.version, manifest, bytes);
    const predictions = createPredictionFormatter(manifest.outputs)(
      await model.predict(instances),
      instances.length,
    );
    if (predictions.length !== instances.length) return { status: 500, detail: 'wrong prediction count' };
    return { status: 200 };
  } catch (err) {
    if (err instanceof FeatureEncodingError) return { status: 400, detail: err.message };
    return { status: 500, detail: `${(err as Error).name}: ${(err as Error).message}` };
  }
}

it(`serves every request the ingress validator accepts with a 2xx, for ${RUNS} random manifests that pass validation`, async () => {
  const tally = { passed: 0, rejected: 0, requests: 0, ok: 0, invalid: 0 };
  const caseArb = fc
    .constantFrom(...EXAMPLES)
    .chain((name) =>
      manifestArb(name).chain((m) => fc.tuple(fc.constant(name), fc.constant(m), requestsArb(m))),
    );
  await fc.assert(
    fc.asyncProperty(caseArb, async ([name, m, requests]) => {
      const bytes = bundles.get(name)!.artifact;
      const text = JSON.stringify(m);
      const registry = new FakeRegistry();
      const key = `incoming/${name}/${m.version}/manifest.json`;
      registry.put(key, text);
      registry.put(`incoming/${name}/${m.version}/model.onnx`, bytes);
      const result = await validateRelease(
        {
          registry,
          ...fakeLedger(),
          runtime,
          settings: { maxArtifactBytes: 10_000_000, maxBatchByModel: { [m.name]: MAX_BATCH } },
        },
        { key, executionId: 'property' },
      );
      if (!result.valid) {
        tally.rejected++;
        return;
      }
      tally.passed++;
      for (const instances of requests) {
        const outcome = await serve(text, bytes, instances);
        tally.requests++;
        if (outcome.status === 200) tally.ok++;
        else if (outcome.status < 500) tally.invalid++;
        else {
          throw new Error(
            `a validated manifest answered ${outcome.status} (${outcome.detail}) to ${JSON.stringify(instances).slice(0, 400)}`,
          );
        }
      }
    }),
    { numRuns: RUNS },
  );
  console.info(`serve-contract property: ${JSON.stringify(tally)}`);
  expect(tally.passed + tally.rejected).toBe(RUNS);
  // The mix exercised both sides of validation, and served many requests of the manifests it let through.
  expect(tally.passed).toBeGreaterThan(RUNS / 10);
  expect(tally.rejected).toBeGreaterThan(RUNS / 10);
  expect(tally.requests).toBeGreaterThan(RUNS / 5);
  // Every generated request is one the ingress validator (and the encoder) accepts: none was refused.
  expect(tally.invalid).toBe(0);
}, 120_000);
