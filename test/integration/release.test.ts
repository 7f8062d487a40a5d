/**
 * The release state machine (real ASL, real handlers) against the emulators: registration of the example bundles,
 * every rejection reason, idempotency, version conflicts and concurrent pushes. Assertions read stored state.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  EXAMPLES,
  loadExample,
  startHarness,
  types,
  type ExampleBundle,
  type ExampleName,
  type Harness,
} from './harness';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.stop();
});

describe('release of the example bundles', () => {
  it.each(EXAMPLES)(
    'registers %s with a content-addressed artifact, record and audit trail',
    async (name) => {
      const { manifest, artifact } = await loadExample(name);
      const key = await h.stage(name, manifest.version, manifest, artifact);
      const result = await h.release(key);
      expect(result.status, JSON.stringify(result)).toBe('SUCCEEDED');

      const artifactKey = `models/${name}/${manifest.version}/${sha256(artifact)}.onnx`;
      expect(await h.keys(`models/${name}/${manifest.version}/`)).toContain(artifactKey);
      expect((await h.object(artifactKey)).equals(artifact)).toBe(true);

      const record = await h.version(name, manifest.version);
      expect(record).toMatchObject({
        model: name,
        version: manifest.version,
        status: 'REGISTERED',
        artifactKey,
        sha256: sha256(artifact),
        sizeBytes: artifact.length,
        lineage: manifest.lineage,
        metrics: manifest.metrics,
      });
      expect(types(await h.audit(name, manifest.version))).toEqual(['VALIDATION_PASSED', 'REGISTERED']);
    },
  );
});

/** Runs a bundle that must be rejected; returns the REJECTED record's reasons after checking nothing registered. */
async function expectRejected(model: string, version: string, manifest: object | string, artifact?: Buffer) {
  const key = await h.stage(model, version, manifest, artifact);
  const result = await h.release(key);
  expect(result.status).toBe('FAILED');
  expect(result.error).toBe('ArtifactRejected');
  expect(await h.keys(`models/${model}/${version}/`)).toEqual([]);
  const record = await h.version(model, version);
  expect(record?.status).toBe('REJECTED');
  expect(types(await h.audit(model, version))).toEqual(['VALIDATION_FAILED']);
  return record!.reasons ?? [];
}

/** `expectRejected` for an example bundle under `version`, after `edit` broke its (fresh, mutable) manifest. */
async function expectExampleRejected(
  name: ExampleName,
  version: string,
  edit: (manifest: ExampleBundle['manifest']) => void,
) {
  const { manifest, artifact } = await loadExample(name);
  edit(manifest);
  return expectRejected(name, version, { ...manifest, version }, artifact);
}

describe('rejected bundles leave nothing under models/ and a REJECTED record with every reason', () => {
  it('rejects a wrong artifact sha256', async () => {
    const reasons = await expectExampleRejected('breast-cancer', 'bad-hash', (m) => {
      m.artifact.sha256 = '0'.repeat(64);
    });
    expect(reasons.join('\n')).toMatch(/sha256/);
  });

  it('rejects a manifest whose input tensor is not in the ONNX graph', async () => {
    const reasons = await expectExampleRejected('breast-cancer', 'bad-graph', (m) => {
      (m.inputs as { tensors: { name: string }[] }).tensors[0]!.name = 'renamed_input';
    });
    expect(reasons.join('\n')).toMatch(/renamed_input/);
  });

  it('rejects a smoke sample whose expected output the model does not produce', async () => {
    const reasons = await expectExampleRejected('credit-risk', 'bad-smoke', (m) => {
      (m.smokeSamples as { expected: Record<string, unknown> }[])[0]!.expected.probabilities = [0.5, 0.5];
    });
    expect(reasons.join('\n')).toMatch(/smoke/i);
  });

  it('rejects metrics that fail a gate', async () => {
    const reasons = await expectExampleRejected('breast-cancer', 'bad-gate', (m) => {
      (m.metrics as Record<string, number>).auc = 0.9;
    });
    expect(reasons.join('\n')).toMatch(/auc/);
  });

  it('rejects malformed manifest JSON', async () => {
    const { artifact } = await loadExample('breast-cancer');
    const reasons = await expectRejected('breast-cancer', 'bad-json', '{ "manifestVersion": 1, ', artifact);
    expect(reasons.join('\n')).toMatch(/JSON/);
  });

  it('rejects a path-traversal model name in the manifest', async () => {
    const reasons = await expectExampleRejected('breast-cancer', 'bad-name', (m) => {
      m.name = '../../etc';
    });
    expect(reasons.join('\n')).toMatch(/name/);
    expect(await h.keys('models/')).not.toContainEqual(expect.stringContaining('etc'));
  });

  it('rejects a bundle with several problems, listing all of them', async () => {
    const reasons = await expectExampleRejected('breast-cancer', 'bad-many', (m) => {
      const metrics = m.metrics as Record<string, number>;
      metrics.auc = 0.5;
      metrics.logloss = 0.9;
      (m.inputs as { tensors: { name: string }[] }).tensors[0]!.name = 'not_in_graph';
    });
    const text = reasons.join('\n');
    expect(text).toMatch(/auc/);
    expect(text).toMatch(/logloss/);
    expect(text).toMatch(/not_in_graph/);
    expect(reasons.length).toBeGreaterThanOrEqual(3);
  });
});

describe('versions are immutable', () => {
  it('accepts the same version with the same content again (idempotent)', async () => {
    const { manifest, artifact } = await loadExample('breast-cancer');
    const m = { ...manifest, version: 'idem-1' };
    const first = await h.release(await h.stage('breast-cancer', 'idem-1', m, artifact));
    expect(first.status).toBe('SUCCEEDED');
    const before = await h.version('breast-cancer', 'idem-1');
    const second = await h.release(await h.stage('breast-cancer', 'idem-1', m, artifact));
    expect(second.status).toBe('SUCCEEDED');
    expect(await h.version('breast-cancer', 'idem-1')).toEqual(before);
    expect(await h.keys('models/breast-cancer/idem-1/')).toContain(before!.artifactKey);
    expect(types(await h.audit('breast-cancer', 'idem-1'))).toEqual([
      'VALIDATION_PASSED',
      'REGISTERED',
      'VALIDATION_PASSED',
      'REGISTER_IDEMPOTENT',
    ]);
  });

  it('fails with VersionConflict for the same version with other content, leaving the original untouched', async () => {
    const original = await loadExample('credit-risk');
    const first = await h.release(
      await h.stage(
        'credit-risk',
        'conflict-1',
        { ...original.manifest, version: 'conflict-1' },
        original.artifact,
      ),
    );
    expect(first.status).toBe('SUCCEEDED');
    const before = await h.version('credit-risk', 'conflict-1');

    // The other example's model under this name and version, with a manifest consistent with that model.
    const other = await loadExample('breast-cancer');
    const second = await h.release(
      await h.stage(
        'credit-risk',
        'conflict-1',
        { ...other.manifest, name: 'credit-risk', version: 'conflict-1' },
        other.artifact,
      ),
    );
    expect(second.status).toBe('FAILED');
    expect(second.error).toBe('VersionConflict');
    expect(await h.version('credit-risk', 'conflict-1')).toEqual(before);
    expect(await h.keys('models/credit-risk/conflict-1/')).toEqual(
      [before!.artifactKey!, before!.manifestKey!, 'models/credit-risk/conflict-1/manifest.json'].sort(),
    );
    expect((await h.object(before!.artifactKey!)).equals(original.artifact)).toBe(true);
    expect(types(await h.audit('credit-risk', 'conflict-1'))).toEqual([
      'VALIDATION_PASSED',
      'REGISTERED',
      'VALIDATION_PASSED',
      'VERSION_CONFLICT',
    ]);
  });

  it('registers two versions pushed concurrently', async () => {
    const { manifest, artifact } = await loadExample('breast-cancer');
    const keys = await Promise.all(
      ['conc-a', 'conc-b'].map((v) => h.stage('breast-cancer', v, { ...manifest, version: v }, artifact)),
    );
    const results = await Promise.all(keys.map((k) => h.release(k)));
    expect(results.map((r) => r.status)).toEqual(['SUCCEEDED', 'SUCCEEDED']);
    for (const v of ['conc-a', 'conc-b']) {
      expect((await h.version('breast-cancer', v))?.status).toBe('REGISTERED');
      expect(await h.keys(`models/breast-cancer/${v}/`)).toContain(
        `models/breast-cancer/${v}/${sha256(artifact)}.onnx`,
      );
    }
  });
});
