import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ValidationResult } from '../../lambdas/core/release-events';
import { validateRelease, type ValidationSettings } from '../../lambdas/core/validation';
import { fakeLedger, FakeRegistry, tinyRuntime, type FakeRuntime } from './fakes';
import { FIXTURE_DIR, tinyManifest } from './manifest-fixtures';

const KEY = 'incoming/tiny-classifier/1.0.0/manifest.json';
const ARTIFACT = 'incoming/tiny-classifier/1.0.0/model.onnx';
const modelBytes = readFileSync(path.join(FIXTURE_DIR, 'model.onnx'));

function setup(
  opts: {
    manifest?: Record<string, unknown> | string;
    key?: string;
    artifact?: Buffer | null;
    runtime?: FakeRuntime;
    settings?: Partial<ValidationSettings>;
  } = {},
) {
  const registry = new FakeRegistry();
  const ledger = fakeLedger();
  const runtime = opts.runtime ?? tinyRuntime();
  const key = opts.key ?? KEY;
  const manifest = opts.manifest ?? tinyManifest();
  registry.put(key, typeof manifest === 'string' ? manifest : JSON.stringify(manifest));
  if (opts.artifact !== null)
    registry.put(key.replace(/manifest\.json$/, 'model.onnx'), opts.artifact ?? modelBytes);
  const settings = { maxArtifactBytes: 10_000, configuredModels: ['tiny-classifier'], ...opts.settings };
  const run = () =>
    validateRelease({ registry, ...ledger, runtime, settings }, { key, executionId: 'exec-1' });
  return { registry, ledger, runtime, run };
}

function reasonsOf(r: ValidationResult): string[] {
  if (r.valid) throw new Error(`expected a rejection, got ${JSON.stringify(r)}`);
  return r.reasons;
}

describe('validateRelease', () => {
  it('accepts the fixture bundle, describes every check and audits VALIDATION_PASSED', async () => {
    const { run, ledger, runtime } = setup();
    const r = await run();
    expect(r).toMatchObject({
      valid: true,
      model: 'tiny-classifier',
      version: '1.0.0',
      manifestKey: KEY,
      artifactKey: ARTIFACT,
      sha256: 'e7a2caa4a3189f92d89f49f9e335589831c1ba7c0ec93fe733e3cbb30166de66',
      sizeBytes: modelBytes.length,
    });
    if (!r.valid) return;
    expect(r.etag).toMatch(/[0-9a-f]{32}/);
    expect(r.manifestSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(r.checks.join('\n')).toMatch(
      /signature: .*smoke samples: 2 of 2 accepted by the ingress validator, served, formatted and matching.*serve contract: .*no champion/s,
    );
    expect(r.checks).toContain(
      'serve contract: class labels of "label": cover every class the graph can emit (ArgMax over a tensor of width 2 (initializer "W" [3, 2]))',
    );
    expect(ledger.audit.types()).toEqual(['VALIDATION_PASSED']);
    expect(runtime.released).toBe(1);
  });

  it('rejects a bundle with many problems and reports all of them at once', async () => {
    const m = tinyManifest();
    m.metrics.auc = 0.5; // below the gate minimum
    m.artifact.sizeBytes = 1; // wrong size
    const { run, runtime, ledger } = setup({ manifest: m, settings: { configuredModels: ['other'] } });
    const reasons = reasonsOf(await run());
    expect(reasons).toEqual([
      expect.stringMatching(/^model "tiny-classifier" is not configured.*modelops\.config\.ts/),
      expect.stringMatching(/^artifact\.sizeBytes: the manifest says 1 bytes but model\.onnx is 369 bytes/),
      expect.stringMatching(/^gates\.minimums\.auc: auc is 0.5, below the minimum 0.9/),
    ]);
    // Loading depends on the artifact check, which failed.
    expect(runtime.loads).toBe(0);
    expect(ledger.audit.events).toEqual([]);
  });

  it('rejects every schema issue as "<path>: <message>" and skips checks that need a valid manifest', async () => {
    const m = tinyManifest();
    m.artifact.sha256 = 'xyz';
    delete m.owner;
    const { run, registry } = setup({ manifest: m });
    const reasons = reasonsOf(await run());
    expect(reasons).toEqual(
      expect.arrayContaining([
        'owner: is required',
        expect.stringMatching(/^artifact\.sha256: must be 64 lower-case hex/),
      ]),
    );
    expect(registry.calls.filter((c) => c.includes('model.onnx') && c.startsWith('read'))).toEqual([]);
  });

  it('rejects invalid JSON and a missing manifest', async () => {
    expect(reasonsOf(await setup({ manifest: '{' }).run())[0]).toMatch(/^\(manifest\): is not valid JSON/);
    const { registry, ledger, runtime } = setup();
    registry.objects.delete(KEY);
    const r = await validateRelease(
      { registry, ...ledger, runtime, settings: { maxArtifactBytes: 10_000 } },
      { key: KEY, executionId: 'e' },
    );
    expect(reasonsOf(r)).toEqual([expect.stringMatching(/manifest: .* does not exist/)]);
  });

  it('rejects a manifest uploaded under another model or version', async () => {
    const key = 'incoming/tiny-classifier/9.9.9/manifest.json';
    const reasons = reasonsOf(await setup({ key }).run());
    expect(reasons).toEqual([
      expect.stringMatching(
        /^version: the manifest names version "1.0.0" but was uploaded under version "9.9.9"/,
      ),
    ]);
  });

  it('rejects path traversal in the key with a clear reason and does not read the artifact', async () => {
    const key = 'incoming/tiny-classifier/../../models/x/manifest.json';
    const { run, registry } = setup({ key });
    const r = await run();
    expect(reasonsOf(r)[0]).toMatch(/must be incoming\/<model>\/<version>\/manifest\.json/);
    expect(registry.calls.some((c) => c.includes('model.onnx'))).toBe(false);
    expect(r).toMatchObject({ model: 'tiny-classifier', version: '../../models/x' });
  });

  it('rejects a missing artifact', async () => {
    const reasons = reasonsOf(await setup({ artifact: null }).run());
    expect(reasons).toEqual([
      expect.stringMatching(/^artifact\.file: incoming\/tiny-classifier\/1.0.0\/model\.onnx does not exist/),
    ]);
  });

  it('rejects an artifact larger than registry.maxArtifactBytes, naming both numbers, without hashing it', async () => {
    const { run, registry } = setup({ settings: { maxArtifactBytes: 100 } });
    const reasons = reasonsOf(await run());
    expect(reasons).toEqual([
      expect.stringMatching(/369 bytes, larger than the 100 bytes allowed by registry\.maxArtifactBytes/),
    ]);
    expect(registry.calls.filter((c) => c.includes('model.onnx') && c.startsWith('read'))).toEqual([]);
  });

  it('rejects a sha256 mismatch and does not load the model', async () => {
    const tampered = Buffer.from(modelBytes);
    tampered[tampered.length - 1] = tampered[tampered.length - 1]! ^ 1;
    const { run, runtime } = setup({ artifact: tampered });
    const reasons = reasonsOf(await run());
    expect(reasons).toEqual([
      expect.stringMatching(
        /^artifact\.sha256: the manifest says e7a2.* but model\.onnx hashes to [0-9a-f]{64}$/,
      ),
    ]);
    expect(runtime.loads).toBe(0);
  });

  it('reads an ONNX artifact once, hashing and loading the same bytes', async () => {
    const { run, registry } = setup();
    expect((await run()).valid).toBe(true);
    expect(registry.calls.filter((c) => c.startsWith('read') && c.endsWith(ARTIFACT))).toEqual([
      `readBytes ${ARTIFACT}`,
    ]);
  });

  it('rejects an artifact whose bytes read differ in size from what the store reported', async () => {
    const { run, registry } = setup();
    const readBytes = registry.readBytes.bind(registry);
    // An upload racing the validation: HEAD saw the fixture, the read returns a shorter object.
    registry.readBytes = async (key) => (await readBytes(key)).subarray(1);
    expect(reasonsOf(await run())).toEqual([
      expect.stringMatching(
        /^artifact: model\.onnx changed while being read \(368 bytes read, 369 expected\)/,
      ),
    ]);
  });

  it('rejects a model that does not load', async () => {
    const { run } = setup({
      runtime: tinyRuntime({ failLoad: 'Load model failed: protobuf parsing\nmore' }),
    });
    expect(reasonsOf(await run())).toEqual([
      'artifact: model.onnx does not load in ONNX Runtime: Load model failed: protobuf parsing',
    ]);
  });

  it('rejects a signature mismatch and skips the smoke samples', async () => {
    const runtime = tinyRuntime({
      inputs: [{ name: 'input', isTensor: true, elementType: 'float32', shape: ['N', 3] }],
    });
    const reasons = reasonsOf(await setup({ runtime }).run());
    expect(reasons).toHaveLength(2);
    expect(reasons.join()).not.toMatch(/smokeSamples/);
    expect(runtime.released).toBe(1);
  });

  it('rejects smoke samples that do not match', async () => {
    const m = tinyManifest();
    m.smokeSamples[1].expected.label = 'benign';
    const reasons = reasonsOf(await setup({ manifest: m }).run());
    expect(reasons).toEqual([
      'smokeSamples[1].expected.label: class differs (expected "benign", got "malignant" (index 1))',
    ]);
  });

  it('compares against the champion and rejects a regression beyond the limit', async () => {
    const { run, ledger } = setup();
    ledger.deployments.records.set('tiny-classifier', {
      model: 'tiny-classifier',
      stable: '0.9.0',
      weight: 0,
      mode: 'canary',
      revision: 3,
      updatedAt: '2026-01-01T00:00:00Z',
    });
    ledger.versions.records.set('tiny-classifier#0.9.0', {
      model: 'tiny-classifier',
      version: '0.9.0',
      status: 'REGISTERED',
      createdAt: '',
      updatedAt: '',
      metrics: { auc: 0.99 },
    });
    expect(reasonsOf(await run())).toEqual([
      expect.stringMatching(
        /^gates\.maxRegression\.auc: auc 0.95 vs champion 0.9.0 0.99 .* more than the allowed 0.02/,
      ),
    ]);
  });

  it('skips load, signature and smoke for framework sagemaker with a note', async () => {
    const m = { ...tinyManifest(), framework: 'sagemaker', image: 'repo/image:1' };
    const { run, runtime, registry } = setup({ manifest: m });
    const r = await run();
    expect(r.valid).toBe(true);
    if (r.valid) expect(r.checks.join()).toMatch(/skipped for framework "sagemaker"/);
    expect(runtime.loads).toBe(0);
    // Only hashed, so streamed rather than held in memory.
    expect(registry.calls.filter((c) => c.startsWith('read') && c.endsWith(ARTIFACT))).toEqual([
      `readStream ${ARTIFACT}`,
    ]);
  });

  it('accepts any model when no models are configured', async () => {
    const r = await setup({ settings: { configuredModels: [] } }).run();
    expect(r.valid).toBe(true);
  });

  it('bounds a huge list of reasons', async () => {
    const m = tinyManifest();
    m.inputs.features = Array.from({ length: 300 }, (_, i) => ({ name: `f${i}`, type: 'numeric' }));
    const reasons = reasonsOf(await setup({ manifest: m }).run());
    expect(reasons).toHaveLength(101);
    expect(reasons[100]).toMatch(/and \d+ more problems/);
  });
});
