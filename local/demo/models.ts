/**
 * The demo's model bundles, built from examples/breast-cancer in-process (no Python, no files left behind):
 *
 * - the example bundle as `modelops push --reference` prepares it (cli/bundle.ts: prediction baseline from
 *   reference.csv, which the canary judge's prediction-shift guard needs);
 * - a broken candidate: the example trainer (examples/trainer/train.ts `trainFromCsv`) fitted on a copy of the
 *   reference rows whose area features were exported in the wrong unit (÷ 100). Its offline metrics are excellent
 *   (they are computed on the same wrong-unit rows), its smoke samples are its own answers, so it passes
 *   ValidateArtifact; on live traffic in the right unit it calls almost everything one class: the canary judge
 *   rolls it back on the prediction shift;
 * - the drifted population: the reference rows as a new scanner reports them (texture, smoothness and symmetry
 *   read higher),
 *   labels kept, which the demo sends as traffic and uploads as the retrain's new reference data.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { prepareBundle } from '../../cli/bundle';
import { createOnnxBackend } from '../../lambdas/adapters/onnx-backend';
import type { Instance } from '../../lambdas/core/features';
import { parseManifestText, type Manifest } from '../../lambdas/core/manifest';
import { parseReferenceCsv } from '../../lambdas/core/reference-csv';
import { outputRow } from '../../lambdas/core/smoke';
import { trainFromCsv } from '../../examples/trainer/train';

export const EXAMPLE_DIR = path.resolve(__dirname, '..', '..', 'examples', 'breast-cancer');
const LABEL = 'label';

/** Features the broken candidate's training export got in the wrong unit (÷ 100). */
export const WRONG_UNIT_FEATURES = ['mean_area', 'area_error', 'worst_area'] as const;
/**
 * Features the new scanner of the drift step reports higher, and by how much (× factor): mean texture, smoothness and
 * symmetry, which the example's trees barely use, so the stable model's answers stay put while its inputs drift (the
 * drift monitor catches what the canary judge cannot, and the retrained model answers much like it).
 */
export const DRIFTED_FEATURES: Readonly<Record<string, number>> = {
  mean_texture: 1.6,
  texture_error: 1.6,
  mean_smoothness: 1.35,
  mean_symmetry: 1.3,
  symmetry_error: 1.3,
};

/** One reference row: feature name → cell text, plus `label`. */
export type Row = Readonly<Record<string, string>>;

export interface DemoData {
  readonly manifest: Manifest;
  readonly manifestJson: Record<string, unknown>;
  readonly artifact: Buffer;
  readonly csv: string;
  readonly header: readonly string[];
  readonly rows: readonly Row[];
}

export async function loadDemoData(): Promise<DemoData> {
  const text = await readFile(path.join(EXAMPLE_DIR, 'manifest.json'), 'utf8');
  const parsed = parseManifestText(text);
  if (!parsed.ok) throw new Error(`examples/breast-cancer/manifest.json: ${JSON.stringify(parsed.issues)}`);
  const csv = await readFile(path.join(EXAMPLE_DIR, 'reference.csv'), 'utf8');
  const header = csv.slice(0, csv.indexOf('\n')).trim().split(',');
  const { rows } = parseReferenceCsv(csv, header);
  return {
    manifest: parsed.manifest,
    manifestJson: JSON.parse(text) as Record<string, unknown>,
    artifact: await readFile(path.join(EXAMPLE_DIR, parsed.manifest.artifact.file)),
    csv,
    header,
    rows: rows as Row[],
  };
}

/** The rows with some numeric features multiplied. */
export function scaled(rows: readonly Row[], factors: Readonly<Record<string, number>>): Row[] {
  return rows.map((r) => {
    const out: Record<string, string> = { ...r };
    for (const [name, f] of Object.entries(factors)) out[name] = String(Number(r[name]) * f);
    return out;
  });
}

export function toCsv(header: readonly string[], rows: readonly Row[]): string {
  return `${header.join(',')}\n${rows.map((r) => header.map((h) => r[h]).join(',')).join('\n')}\n`;
}

/** A row as a request instance (numbers, the label dropped). */
export function instanceOf(row: Row): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(row)) if (k !== LABEL) out[k] = Number(v);
  return out;
}

export interface Bundle {
  readonly version: string;
  readonly manifestText: string;
  readonly artifact: Buffer;
  readonly file: string;
}

/**
 * Prepares a bundle as `modelops push --reference` does: sha256, size, baseline kept, prediction baseline computed
 * by running `artifact` on the reference rows.
 */
export async function prepareDemoBundle(
  manifestJson: Record<string, unknown>,
  artifact: Uint8Array,
  reference: string,
): Promise<Bundle> {
  const dir = await mkdtemp(path.join(tmpdir(), 'modelops-demo-bundle-'));
  try {
    await writeFile(path.join(dir, 'model.onnx'), artifact);
    await writeFile(path.join(dir, 'reference.csv'), reference);
    await writeFile(
      path.join(dir, 'manifest.json'),
      JSON.stringify({ ...manifestJson, artifact: { file: 'model.onnx' } }),
    );
    const bundle = await prepareBundle(dir, { reference: path.join(dir, 'reference.csv') });
    return {
      version: bundle.manifest.version,
      manifestText: bundle.manifestText,
      artifact: Buffer.from(artifact),
      file: 'model.onnx',
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The example bundle under `version` (same model bytes), prepared with its reference rows. */
export function exampleBundle(data: DemoData, version: string): Promise<Bundle> {
  return prepareDemoBundle({ ...data.manifestJson, version }, data.artifact, data.csv);
}

/** What a model answers for each instance: the raw outputs in manifest form (smoke sample `expected`). */
async function answers(
  manifest: Manifest,
  onnx: Uint8Array,
  instances: readonly Instance[],
): Promise<Record<string, unknown>[]> {
  const { OnnxModelRuntime } = await import('../../lambdas/adapters/onnx-model-runtime');
  const loaded = await createOnnxBackend(new OnnxModelRuntime()).load('demo', manifest, onnx);
  const raw = await loaded.predict(instances);
  return instances.map((_, row) => {
    const expected: Record<string, unknown> = {};
    for (const o of manifest.outputs) {
      const values = outputRow(raw[o.name]!, row).map((v) => (typeof v === 'bigint' ? Number(v) : v));
      expected[o.name] = o.kind === 'probability' ? values : values[0];
    }
    return expected;
  });
}

/**
 * The broken candidate (see the file header): trained on wrong-unit rows, smoke-tested on wrong-unit inputs, its
 * metrics from its own held-out wrong-unit rows. Everything ValidateArtifact checks is consistent; only live traffic
 * shows the bug.
 */
export async function wrongUnitBundle(data: DemoData, version: string): Promise<Bundle> {
  const factors = Object.fromEntries(WRONG_UNIT_FEATURES.map((f) => [f, 0.01]));
  const wrong = scaled(data.rows, factors);
  const { onnx, report } = trainFromCsv(data.manifest, toCsv(data.header, wrong));
  const smokeInputs = (data.manifestJson.smokeSamples as { inputs: Record<string, number> }[]).map((s) => {
    const inputs = { ...s.inputs };
    for (const f of WRONG_UNIT_FEATURES) inputs[f] = inputs[f]! * 0.01;
    return inputs;
  });
  const expected = await answers(data.manifest, onnx, smokeInputs);
  const manifestJson = {
    ...data.manifestJson,
    version,
    description: 'Logistic regression retrained by hand on an export whose area features are in cm² (÷ 100).',
    metrics: report.metrics,
    smokeSamples: smokeInputs.map((inputs, i) => ({ inputs, expected: expected[i], tolerance: 1e-4 })),
  };
  // Profiled, as its author would have, on the export it was trained on (`modelops push --reference <export>`).
  return prepareDemoBundle(manifestJson, onnx, toCsv(data.header, wrong));
}

/** Class shares a model gives the rows (prototype checks and the demo's own sanity output). */
export async function classShares(
  manifest: Manifest,
  onnx: Uint8Array,
  rows: readonly Row[],
): Promise<Record<string, number>> {
  const out = await answers(manifest, onnx, rows.map(instanceOf));
  const labelOutput = manifest.outputs.find((o) => o.kind === 'class')!;
  const counts: Record<string, number> = {};
  for (const a of out) {
    const k = String(a[labelOutput.name]);
    counts[k] = (counts[k] ?? 0) + 1 / out.length;
  }
  return counts;
}
