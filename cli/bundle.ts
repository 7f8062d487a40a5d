/**
 * Reads a model bundle directory and prepares the manifest to push: fills the artifact's sha256 and size when the
 * manifest leaves them out (streamed, a model can be large; a declared value is never replaced), optionally
 * computes the baseline profile from reference data — the feature bins, and for
 * an ONNX model the prediction bins of its outputs on the reference rows — then validates the result with the same
 * `parseManifest` the pipeline uses. Nothing here touches the network.
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { createOnnxBackend } from '../lambdas/adapters/onnx-backend';
import { ReferenceDataError } from '../lambdas/core/baseline';
import { FeatureEncodingError } from '../lambdas/core/errors';
import type { Instance } from '../lambdas/core/features';
import { compileInstanceValidator } from '../lambdas/core/inference-request';
import { MANIFEST_FILE } from '../lambdas/core/keys';
import { parseManifest, type FeatureBins, type Manifest, type ManifestIssue } from '../lambdas/core/manifest';
import { computePredictionBaseline } from '../lambdas/core/prediction-baseline';
import { createPredictionFormatter, type Prediction } from '../lambdas/core/predictions';
import type { OnnxModelRuntime } from '../lambdas/adapters/onnx-model-runtime';
import type { ModelRuntime } from '../lambdas/core/model-runtime';
import type { BackendModel } from '../lambdas/core/ports';
import { profileReference } from '../lambdas/core/reference-data';
import { digestStream } from '../lambdas/core/sha256';
import { decodeUtf8Strict } from '../lambdas/core/utf8';
import { parseConfig, type ModelOpsConfig } from '../lib/config';
import { CliError, UsageError } from './errors';

export interface PreparedBundle {
  readonly dir: string;
  readonly manifest: Manifest;
  /** The manifest as it will be uploaded: the author's JSON with artifact sha256/size (and baseline) filled in. */
  readonly manifestText: string;
  readonly artifactPath: string;
  readonly sha256: string;
  readonly sizeBytes: number;
  /** What the author should look at (reference rows skipped while profiling, …). */
  readonly warnings: readonly string[];
  /** What was filled in (missing artifact sha256/size, baseline computed, …). */
  readonly notes: readonly string[];
}

/** The bundle's manifest does not validate; nothing was uploaded. */
export class ManifestRejectedError extends CliError {
  override name = 'ManifestRejectedError';
  constructor(
    readonly manifestPath: string,
    readonly issues: readonly ManifestIssue[],
  ) {
    super(
      `${manifestPath} is invalid; nothing was uploaded. Fix:\n${issues.map((i) => `  - ${i.path}: ${i.message}`).join('\n')}`,
      1,
    );
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export interface PrepareOptions {
  /** CSV of reference data (header = feature names) to profile into `baseline`. */
  readonly reference?: string;
}

export async function prepareBundle(
  bundleDir: string,
  options: PrepareOptions = {},
): Promise<PreparedBundle> {
  const dir = path.resolve(bundleDir);
  const dirStat = await stat(dir).catch(() => undefined);
  if (!dirStat?.isDirectory()) {
    throw new UsageError(
      `<bundle-dir> "${bundleDir}" is not a directory; pass the folder holding ${MANIFEST_FILE} and the model file`,
    );
  }
  const manifestPath = path.join(dir, MANIFEST_FILE);
  const bytes = await readFile(manifestPath).catch(() => undefined);
  if (bytes === undefined) {
    throw new UsageError(
      `<bundle-dir> "${bundleDir}" has no ${MANIFEST_FILE}; write one (see docs/manifest.md)`,
    );
  }
  let text: string;
  try {
    text = decodeUtf8Strict(bytes, MANIFEST_FILE);
  } catch (err) {
    throw new ManifestRejectedError(manifestPath, [{ path: '(manifest)', message: (err as Error).message }]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ManifestRejectedError(manifestPath, [
      { path: '(manifest)', message: `is not valid JSON (${(err as Error).message}); fix the syntax` },
    ]);
  }
  if (!isRecord(json)) {
    throw new ManifestRejectedError(manifestPath, [{ path: '(manifest)', message: 'must be a JSON object' }]);
  }

  const warnings: string[] = [];
  const notes: string[] = [];
  const artifact = isRecord(json.artifact) ? json.artifact : undefined;
  const file = typeof artifact?.file === 'string' ? artifact.file : undefined;
  if (!artifact || !file) {
    // Let the schema name the exact problem (missing artifact, missing file, …).
    const parsed = parseManifest(json);
    throw new ManifestRejectedError(manifestPath, parsed.ok ? [] : parsed.issues);
  }
  // Refuse anything but a plain file name before touching the file system with it.
  if (path.basename(file) !== file || file === '.' || file === '..') {
    throw new ManifestRejectedError(manifestPath, [
      { path: 'artifact.file', message: 'must be a plain file name inside the bundle, e.g. model.onnx' },
    ]);
  }
  const artifactPath = path.join(dir, file);
  const artifactStat = await stat(artifactPath).catch(() => undefined);
  if (!artifactStat?.isFile()) {
    throw new ManifestRejectedError(manifestPath, [
      {
        path: 'artifact.file',
        message: `names "${file}", which is not a file in ${dir}; put the model there`,
      },
    ]);
  }
  const { sha256, sizeBytes } = await digestStream(createReadStream(artifactPath));
  // Fill only what the author left out. A declared value that disagrees with the file is kept: validation (the
  // pipeline's, which `modelops validate` and `push` run first) rejects it naming both values, because a wrong hash
  // usually means the wrong file, and silently replacing it would push that file.
  if (artifact.sha256 === undefined) {
    artifact.sha256 = sha256;
    notes.push(`artifact.sha256 filled in: ${sha256} (${file})`);
  }
  if (artifact.sizeBytes === undefined) {
    artifact.sizeBytes = sizeBytes;
    notes.push(`artifact.sizeBytes filled in: ${sizeBytes}`);
  }

  let parsed = parseManifest(json);
  if (!parsed.ok) throw new ManifestRejectedError(manifestPath, parsed.issues);

  if (options.reference !== undefined) {
    const csvPath = path.resolve(options.reference);
    const csv = await readFile(csvPath, 'utf8').catch(() => undefined);
    if (csv === undefined) {
      throw new UsageError(
        `--reference "${options.reference}" cannot be read; pass a CSV file of reference data`,
      );
    }
    const features = parsed.manifest.inputs.features;
    try {
      // reference.csv, or reference.jsonl (one instance per line) for tensor features: lambdas/core/reference-data.ts.
      const { baseline, instances } = profileReference(csv, csvPath, features);
      json.baseline = baseline;
      notes.push(`baseline computed from ${path.basename(csvPath)} (${baseline.referenceCount} rows)`);
      if (parsed.manifest.framework === 'onnx') {
        const profile = await predictionProfile(parsed.manifest, artifactPath, instances, options.reference);
        json.baseline = { ...baseline, predictions: profile.predictions };
        warnings.push(...profile.warnings);
        notes.push(profile.note);
      } else {
        notes.push(
          `prediction baseline not computed: a ${parsed.manifest.framework} model runs in its container, not in the CLI`,
        );
      }
    } catch (err) {
      if (err instanceof ReferenceDataError) {
        throw new CliError(`--reference ${options.reference}: ${err.message}; nothing was uploaded`, 1);
      }
      throw err;
    }
    parsed = parseManifest(json);
    if (!parsed.ok) throw new ManifestRejectedError(manifestPath, parsed.issues);
  }

  return {
    dir,
    manifest: parsed.manifest,
    manifestText: `${JSON.stringify(json, null, 2)}\n`,
    artifactPath,
    sha256,
    sizeBytes,
    warnings,
    notes,
  };
}

/**
 * Loads one of the project's TypeScript modules on demand. `import()` works under tsx and vitest; under cli/bin.cjs
 * (tsx's CommonJS hook) only `require` loads a .ts file, so that is the fallback. The first error is the one reported.
 */
export async function loadSource<T>(viaImport: () => Promise<T>, viaRequire: () => T): Promise<T> {
  try {
    return await viaImport();
  } catch (err) {
    try {
      return viaRequire();
    } catch {
      throw err;
    }
  }
}

/** The project's modelops.config.ts, parsed (throws with the reason when it cannot be loaded or is invalid). */
export async function loadProjectConfig(): Promise<ModelOpsConfig> {
  const mod = await loadSource(
    () => import('../modelops.config') as Promise<{ default: unknown }>,
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the bin.cjs fallback (loadSource)
    () => require('../modelops.config') as { default: unknown },
  );
  return parseConfig(mod.default);
}

/** The ONNX Runtime adapter, loaded only when a command runs a model (the native engine costs ~0.3 s to load). */
export async function loadOnnxModelRuntime(): Promise<ModelRuntime> {
  const mod = await loadSource(
    () => import('../lambdas/adapters/onnx-model-runtime'),
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the bin.cjs fallback (loadSource)
    () => require('../lambdas/adapters/onnx-model-runtime') as { OnnxModelRuntime: typeof OnnxModelRuntime },
  );
  return new mod.OnnxModelRuntime();
}

/**
 * Rows per model run while profiling predictions. A model whose graph fixes the batch dimension fails a larger
 * batch; then the rows are re-run one at a time (which also finds the row at fault when one fails).
 */
const PREDICTION_BATCH = 256;
/** Skipped rows named in the warning; the rest are counted. */
const SKIPPED_ROWS_SHOWN = 3;

/**
 * The prediction baseline of the reference rows: each row parsed by the profile's cell rules, validated by the
 * serving validator (rows the inference path would refuse are skipped with a warning: live counting never sees
 * such requests either), run through the ONNX backend the inference function uses and formatted by its formatter,
 * so the binned outputs are the ones serving returns. Throws `CliError` naming the row when the model fails on one.
 */
async function predictionProfile(
  manifest: Manifest,
  artifactPath: string,
  instances: readonly Instance[],
  reference: string,
): Promise<{ predictions: Record<string, FeatureBins>; warnings: string[]; note: string }> {
  const where = `--reference ${reference}`;
  const validate = compileInstanceValidator(manifest, { maxErrors: 3 });
  const valid: { row: number; instance: Instance }[] = [];
  const skipped: string[] = [];
  instances.forEach((instance, i) => {
    const row = i + 1;
    const errors = validate([instance]);
    if (errors.length === 0) valid.push({ row, instance });
    else {
      const why = errors.map((e) => `${e.path.replace(/^instances\[0\]\.?/, '') || 'row'}: ${e.message}`);
      skipped.push(`row ${row} (${why.join('; ')})`);
    }
  });
  if (valid.length === 0) {
    throw new CliError(
      `${where}: no reference row is a valid inference request, so no prediction baseline can be profiled ` +
        `(${skipped.slice(0, SKIPPED_ROWS_SHOWN).join(', ')}); nothing was uploaded`,
      1,
    );
  }

  let model: BackendModel;
  try {
    const backend = createOnnxBackend(loadOnnxModelRuntime);
    model = await backend.load(manifest.version, manifest, await readFile(artifactPath));
  } catch (err) {
    throw new CliError(
      `${where}: ${path.basename(artifactPath)} could not be loaded in ONNX Runtime to profile its predictions ` +
        `(${(err as Error).message}); nothing was uploaded`,
      1,
    );
  }
  const format = createPredictionFormatter(manifest.outputs);
  const run = async (batch: readonly { instance: Instance }[]): Promise<Prediction[]> =>
    format(await model.predict(batch.map((b) => b.instance)), batch.length);
  const predictions: Prediction[] = [];
  let size = PREDICTION_BATCH;
  let start = 0;
  while (start < valid.length) {
    const batch = valid.slice(start, start + size);
    start += batch.length;
    try {
      predictions.push(...(await run(batch)));
      continue;
    } catch (err) {
      if (batch.length === 1) throw rowFailure(where, batch[0]!.row, err);
    }
    // One row at a time: either a row is at fault (named below) or the graph fixes the batch size (keep it at one).
    for (const one of batch) {
      try {
        predictions.push(...(await run([one])));
      } catch (err) {
        throw rowFailure(where, one.row, err);
      }
    }
    size = 1;
  }

  const { predictions: bins, skipped: skippedOutputs } = computePredictionBaseline(
    manifest.outputs,
    predictions,
  );
  const warnings: string[] = [];
  if (skipped.length > 0) {
    const more = skipped.length - SKIPPED_ROWS_SHOWN;
    warnings.push(
      `prediction baseline: skipped ${skipped.length} reference row(s) the inference path would refuse: ` +
        `${skipped.slice(0, SKIPPED_ROWS_SHOWN).join(', ')}${more > 0 ? ` and ${more} more` : ''}`,
    );
  }
  for (const s of skippedOutputs)
    warnings.push(`prediction baseline: output "${s.output}" left out (${s.reason})`);
  const outputs = Object.keys(bins);
  return {
    predictions: bins,
    warnings,
    note: `prediction baseline computed from ${predictions.length} reference rows run through ${path.basename(artifactPath)} (outputs: ${outputs.join(', ') || 'none'})`,
  };
}

function rowFailure(where: string, row: number, err: unknown): CliError {
  const reason =
    err instanceof FeatureEncodingError
      ? err.issues.map((i) => `${i.feature}: ${i.message}`).join('; ')
      : (err as Error).message;
  return new CliError(
    `${where}, row ${row}: the model could not predict it (${reason}); fix the row or the model; nothing was uploaded`,
    1,
  );
}
