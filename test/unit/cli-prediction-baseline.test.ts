/**
 * `modelops push --reference` profiles predictions: prepareBundle over the example bundles runs the ONNX model on
 * the reference rows and writes `baseline.predictions`; serving the same rows through the inference app with the
 * drift hook counts exactly those bins (the CLI and serving share the backend, the formatter and the bin rule).
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ManifestRejectedError, prepareBundle } from '../../cli/bundle';
import { CliError } from '../../cli/errors';
import { OnnxModelRuntime } from '../../lambdas/adapters/onnx-model-runtime';
import { createOnnxBackend } from '../../lambdas/adapters/onnx-backend';
import { referenceValue } from '../../lambdas/core/baseline';
import type { WindowCounts } from '../../lambdas/core/drift';
import { datasetDrift, sumCounts } from '../../lambdas/core/drift';
import { parseManifestText } from '../../lambdas/core/manifest';
import type { DriftCounterStore } from '../../lambdas/core/ports';
import { seededRandom } from '../../lambdas/core/random';
import { parseReferenceCsv } from '../../lambdas/core/reference-csv';
import { createDriftHook } from '../../lambdas/inference/drift-hook';
import { createInferenceApp } from '../../lambdas/inference/inference-app';
import { InMemoryMetricsSink } from '../../lambdas/adapters/in-memory-metrics-sink';
import { FakeRegistry } from './fakes';
import { FakeRouting, invoke, ledgerFor, MemoryLogger, publish } from './inference-helpers';

const EXAMPLES = path.join(__dirname, '..', '..', 'examples');

let work: string | undefined;
afterEach(async () => {
  if (work) await rm(work, { recursive: true, force: true });
  work = undefined;
});

/** A copy of an example bundle, its manifest (and reference.csv) edited. */
async function bundleCopy(
  example: string,
  edit: { manifest?: (m: Record<string, unknown>) => void; csv?: (lines: string[]) => void } = {},
): Promise<string> {
  work = await mkdtemp(path.join(tmpdir(), 'modelops-predbase-'));
  const dir = path.join(work, example);
  await cp(path.join(EXAMPLES, example), dir, { recursive: true });
  const manifestFile = path.join(dir, 'manifest.json');
  const manifest = JSON.parse(await readFile(manifestFile, 'utf8')) as Record<string, unknown>;
  delete manifest.baseline;
  edit.manifest?.(manifest);
  await writeFile(manifestFile, JSON.stringify(manifest, null, 2));
  if (edit.csv) {
    const csvFile = path.join(dir, 'reference.csv');
    const lines = (await readFile(csvFile, 'utf8')).split('\n');
    edit.csv(lines);
    await writeFile(csvFile, lines.join('\n'));
  }
  return dir;
}

describe('modelops push --reference: prediction baseline', () => {
  it('profiles class shares and predicted-class probability deciles of every reference row', async () => {
    const dir = await bundleCopy('credit-risk');
    const bundle = await prepareBundle(dir, { reference: path.join(dir, 'reference.csv') });
    const predictions = bundle.manifest.baseline?.predictions;
    expect(Object.keys(predictions ?? {})).toEqual(['label', 'probabilities']);
    const label = predictions!.label!;
    expect(label).toMatchObject({ kind: 'categorical', categories: ['repaid', 'defaulted'], missing: 0 });
    expect(label.counts.reduce((a, b) => a + b, 0)).toBe(2250);
    expect(label.counts[2]).toBe(0);
    const top = predictions!.probabilities!;
    expect(top.kind).toBe('numeric');
    if (top.kind !== 'numeric') return;
    // Binary classifier: the predicted class's probability is at least one half; deciles of 2250 rows.
    expect(top.edges[0]).toBeGreaterThanOrEqual(0.5);
    expect(top.edges.at(-1)).toBeLessThanOrEqual(1);
    expect(top.edges).toHaveLength(11);
    expect(top.counts.reduce((a, b) => a + b, 0)).toBe(2250);
    expect(bundle.notes.join('\n')).toMatch(/prediction baseline computed from 2250 reference rows/);
    // What is uploaded carries it, and validates as the pipeline validates it.
    const uploaded = parseManifestText(bundle.manifestText);
    expect(uploaded.ok && uploaded.manifest.baseline?.predictions).toEqual(predictions);
  });

  it('counts served predictions of the reference rows into exactly the profiled bins', async () => {
    const dir = await bundleCopy('breast-cancer');
    const csvPath = path.join(dir, 'reference.csv');
    const bundle = await prepareBundle(dir, { reference: csvPath });
    const manifest = bundle.manifest;

    const registry = new FakeRegistry();
    const routing = new FakeRouting();
    const bytes = await readFile(path.join(dir, 'model.onnx'));
    publish(registry, { manifest: manifest as never, bytes }, manifest.version);
    routing.set(manifest.name, { stable: manifest.version });
    const writes: WindowCounts[] = [];
    const store: DriftCounterStore = {
      addCounts: async (_m, _v, _b, counts) => void writes.push(counts),
      readWindow: async () => ({ counts: undefined, itemsRead: 0 }),
    };
    const drift = createDriftHook({ store, logger: new MemoryLogger(), now: () => 0, flushSeconds: 3600 });
    const app = createInferenceApp({
      models: [manifest.name],
      registry,
      versions: ledgerFor(registry),
      routing,
      backend: createOnnxBackend(new OnnxModelRuntime()),
      metrics: new InMemoryMetricsSink(),
      logger: new MemoryLogger(),
      random: seededRandom(1),
      hooks: [drift],
    });

    const { rows } = parseReferenceCsv(await readFile(csvPath, 'utf8'));
    const instances = rows.map((r, i) =>
      Object.fromEntries(manifest.inputs.features.map((f) => [f.name, referenceValue(f, r[f.name]!, i + 1)])),
    );
    for (let i = 0; i < instances.length; i += 64) {
      const res = await app(invoke(manifest.name, { instances: instances.slice(i, i + 64) }));
      expect(res.statusCode, res.body).toBe(200);
    }
    await drift.close();
    const live = sumCounts(writes);

    expect(live.total).toBe(455);
    for (const [output, bins] of Object.entries(manifest.baseline!.predictions!)) {
      expect(live.predictions?.[output], output).toEqual({ counts: bins.counts, missing: bins.missing });
    }
    const judged = datasetDrift(manifest.baseline!, live, { minLiveCount: 100 });
    expect(judged.status === 'evaluated' && judged.predictions).toEqual([
      expect.objectContaining({ output: 'label', status: 'evaluated', jsDistance: 0 }),
      expect.objectContaining({ output: 'probabilities', status: 'evaluated', jsDistance: 0 }),
    ]);
  });

  it('skips reference rows the inference path would refuse, naming them in a warning', async () => {
    // age has range.min 18: a row with age 5 profiles as a feature but is never served, so it is not predicted.
    const dir = await bundleCopy('credit-risk', {
      csv: (lines) => {
        const cells = lines[3]!.split(',');
        cells[2] = '5';
        lines[3] = cells.join(',');
      },
    });
    const bundle = await prepareBundle(dir, { reference: path.join(dir, 'reference.csv') });
    expect(bundle.warnings.join('\n')).toMatch(
      /prediction baseline: skipped 1 reference row\(s\) the inference path would refuse: row 3 \(age: /,
    );
    expect(bundle.manifest.baseline?.referenceCount).toBe(2250);
    const label = bundle.manifest.baseline!.predictions!.label!;
    expect(label.counts.reduce((a, b) => a + b, 0)).toBe(2249);
  });

  it('fails naming the row when the model cannot predict it, uploading nothing', async () => {
    const dir = await bundleCopy('breast-cancer', {
      manifest: (m) => {
        // The graph returns no output "score": formatting the first row fails.
        const outputs = m.outputs as Record<string, unknown>[];
        outputs.push({ name: 'score', kind: 'regression', elementType: 'float32' });
      },
    });
    const attempt = prepareBundle(dir, { reference: path.join(dir, 'reference.csv') });
    await expect(attempt).rejects.toBeInstanceOf(CliError);
    await expect(attempt).rejects.toThrow(
      /--reference .*reference\.csv, row 1: the model could not predict it \(the model returned no output "score"\); .*nothing was uploaded/,
    );
  });

  it('rejects a hand-written prediction baseline whose class labels do not match the output', async () => {
    const dir = await bundleCopy('breast-cancer', {
      manifest: (m) => {
        m.baseline = {
          referenceCount: 2,
          features: {},
          predictions: {
            label: {
              kind: 'categorical',
              categories: ['benign', 'malignant'],
              counts: [1, 1, 0],
              missing: 0,
            },
          },
        };
      },
    });
    const attempt = prepareBundle(dir);
    await expect(attempt).rejects.toBeInstanceOf(ManifestRejectedError);
    await expect(attempt).rejects.toThrow(
      /baseline\.predictions\.label\.categories: must equal outputs\[0\]\.labels in order \(\["malignant","benign"\]\)/,
    );
  });
});
