import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { create as createTar } from 'tar';
import { beforeAll, describe, expect, it } from 'vitest';
import { createOnnxBackend } from '../../lambdas/adapters/onnx-backend';
import { OnnxModelRuntime } from '../../lambdas/adapters/onnx-model-runtime';
import { registeredManifestKey, trainingDataKey } from '../../lambdas/core/keys';
import { parseManifestText, type Manifest } from '../../lambdas/core/manifest';
import {
  packageRetrained,
  retrainedVersion,
  RetrainPackageError,
  type ArtifactWriter,
  type PackageDeps,
  type PackageInput,
} from '../../lambdas/core/retrain-package';
import { trainFromCsv, type TrainResult } from '../../examples/trainer/train';
import { FakeRegistry } from './fakes';

const ROOT = path.resolve(import.meta.dirname, '../..');
const MODEL = 'breast-cancer';
const PARENT = '1.0.0';
const parentText = readFileSync(path.join(ROOT, 'examples', MODEL, 'manifest.json'), 'utf8');
const csv = readFileSync(path.join(ROOT, 'examples', MODEL, 'reference.csv'), 'utf8');
const parent = (() => {
  const parsed = parseManifestText(parentText);
  if (!parsed.ok) throw new Error('examples/breast-cancer/manifest.json is invalid');
  return parsed.manifest;
})();

const INPUT: PackageInput = {
  model: MODEL,
  parentVersion: PARENT,
  runId: 'r3',
  trigger: { kind: 'drift', reason: 'dataset drift 0.6 in 3 of 3 windows', evidence: { datasetDrift: 0.6 } },
  dataWindow: { fromMs: Date.UTC(2026, 10, 1), toMs: Date.UTC(2026, 11, 1) },
  trainingJob: 'breast-cancer-r3-0123abcd',
  outputPrefix: `training/${MODEL}/r3/output/breast-cancer-r3-0123abcd/output/`,
};

class RecordingWriter implements ArtifactWriter {
  readonly writes: string[] = [];
  constructor(private readonly registry: FakeRegistry) {}
  async putBytes(key: string, body: Uint8Array): Promise<void> {
    this.writes.push(key);
    this.registry.put(key, body);
  }
}

let trained: TrainResult;
beforeAll(() => {
  trained = trainFromCsv(parent, csv);
});

/** A registry holding the parent, the run's training CSV and (unless `output` is false) the trainer's two files. */
function setup(report: unknown = trained.report, output = true) {
  const registry = new FakeRegistry();
  registry.put(registeredManifestKey(MODEL, PARENT), parentText);
  registry.put(trainingDataKey(MODEL, INPUT.runId), csv);
  if (output) {
    registry.put(`${INPUT.outputPrefix}model.onnx`, trained.onnx);
    registry.put(`${INPUT.outputPrefix}report.json`, JSON.stringify(report));
  }
  const writer = new RecordingWriter(registry);
  const deps: PackageDeps = { registry, writer, backend: createOnnxBackend(new OnnxModelRuntime()) };
  return { registry, writer, deps };
}

function storedManifest(registry: FakeRegistry, key: string): Manifest {
  const parsed = parseManifestText(registry.objects.get(key)!.toString('utf8'));
  if (!parsed.ok) throw new Error(`${key} is not a valid manifest`);
  return parsed.manifest;
}

describe('retrainedVersion', () => {
  it('appends the run id to the parent version', () => {
    expect(retrainedVersion('1.0.0', 'r3')).toBe('1.0.0-r3');
    expect(retrainedVersion('1.0.0-r2', 'r5')).toBe('1.0.0-r2-r5');
  });

  it('keeps a long parent within 64 characters and distinct parents apart', () => {
    const a = retrainedVersion(`${'1'.repeat(62)}a`, 'r12');
    const b = retrainedVersion(`${'1'.repeat(62)}b`, 'r12');
    expect(a.length).toBeLessThanOrEqual(64);
    expect(a).toMatch(/-[0-9a-f]{8}-r12$/);
    expect(a).not.toBe(b);
  });
});

describe('packageRetrained', () => {
  it('bundles model.onnx and report.json with the parent contract, lineage, baseline and smoke samples', async () => {
    const { registry, writer, deps } = setup();
    const result = await packageRetrained(deps, INPUT);
    expect(result).toEqual({
      model: MODEL,
      version: '1.0.0-r3',
      manifestKey: `incoming/${MODEL}/1.0.0-r3/retrain-r3/manifest.json`,
      metrics: trained.report.metrics,
    });
    // The model before the manifest: the manifest's arrival is what starts a release.
    expect(writer.writes).toEqual([`incoming/${MODEL}/1.0.0-r3/retrain-r3/model.onnx`]);
    const manifest = storedManifest(registry, result.manifestKey);
    expect(manifest).toMatchObject({
      name: MODEL,
      version: '1.0.0-r3',
      inputs: parent.inputs,
      outputs: parent.outputs,
      gates: parent.gates,
      metrics: trained.report.metrics,
      artifact: { file: 'model.onnx', sizeBytes: trained.onnx.length },
    });
    expect(manifest.lineage).toMatchObject({
      parentVersion: PARENT,
      trainer: trained.report.trainer,
      retrain: {
        runId: 'r3',
        trigger: 'drift',
        trainingJob: INPUT.trainingJob,
        dataWindow: INPUT.dataWindow,
      },
    });
    expect(manifest.smokeSamples).toHaveLength(3);
    for (const s of manifest.smokeSamples) {
      expect(Object.keys(s.inputs).sort()).toEqual(parent.inputs.features.map((f) => f.name).sort());
    }
    expect(manifest.baseline?.referenceCount).toBe(csv.trim().split('\n').length - 1);
  });

  it('writes the same bytes on a second run of the same inputs (no clock)', async () => {
    const a = setup();
    const b = setup();
    const ra = await packageRetrained(a.deps, INPUT);
    await packageRetrained(b.deps, INPUT);
    expect(b.registry.objects.get(ra.manifestKey)!.equals(a.registry.objects.get(ra.manifestKey)!)).toBe(
      true,
    );
  });

  it('returns the uploaded manifest on a retry without writing again', async () => {
    const { writer, deps } = setup();
    const first = await packageRetrained(deps, INPUT);
    const again = await packageRetrained(deps, INPUT);
    expect(again).toEqual(first);
    expect(writer.writes).toHaveLength(1);
  });

  it("reads SageMaker's model.tar.gz", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'retrain-package-'));
    try {
      await writeFile(path.join(dir, 'model.onnx'), trained.onnx);
      await writeFile(path.join(dir, 'report.json'), JSON.stringify(trained.report));
      const chunks: Buffer[] = [];
      for await (const c of createTar({ gzip: true, cwd: dir }, ['model.onnx', 'report.json'])) {
        chunks.push(c as Buffer);
      }
      const { registry, deps } = setup(undefined, false);
      registry.put(`${INPUT.outputPrefix}model.tar.gz`, Buffer.concat(chunks));
      const result = await packageRetrained(deps, INPUT);
      expect(storedManifest(registry, result.manifestKey).artifact.sizeBytes).toBe(trained.onnx.length);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('fails naming the missing files when the trainer wrote nothing', async () => {
    const { deps } = setup(undefined, false);
    await expect(packageRetrained(deps, INPUT)).rejects.toThrow(
      /has no model\.tar\.gz and no model\.onnx or report\.json/,
    );
  });

  it('fails when report.json lacks a metric the parent reports', async () => {
    const { auc: _dropped, ...metrics } = trained.report.metrics;
    const { deps } = setup({ ...trained.report, metrics });
    await expect(packageRetrained(deps, INPUT)).rejects.toThrow(/report\.json has no "auc"/);
  });

  it('fails when report.json breaks the trainer contract, naming the field', async () => {
    const { deps } = setup({ ...trained.report, rows: { train: 0, heldOut: 1 } });
    await expect(packageRetrained(deps, INPUT)).rejects.toThrow(
      /does not follow the trainer contract: rows\.train/,
    );
  });

  it('rejects an output prefix outside the run', async () => {
    const { deps, writer } = setup();
    const err = await packageRetrained(deps, {
      ...INPUT,
      outputPrefix: `training/${MODEL}/r2/output/`,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetrainPackageError);
    expect((err as Error).message).toMatch(/outputPrefix .* must lie under training\/breast-cancer\/r3\//);
    expect(writer.writes).toEqual([]);
  });
});
