/**
 * Reads a model bundle directory and prepares the manifest to push: fills the artifact's sha256 and size (streamed,
 * a model can be large), optionally computes the baseline profile from reference data, then validates the result
 * with the same `parseManifest` the pipeline uses. Nothing here touches the network.
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { computeBaseline, ReferenceDataError } from '../lambdas/core/baseline';
import { MANIFEST_FILE } from '../lambdas/core/keys';
import { parseManifest, type Manifest, type ManifestIssue } from '../lambdas/core/manifest';
import { parseReferenceCsv } from '../lambdas/core/reference-csv';
import { digestStream } from '../lambdas/core/sha256';
import { decodeUtf8Strict } from '../lambdas/core/utf8';
import { CliError, UsageError } from './errors';

export interface PreparedBundle {
  readonly dir: string;
  readonly manifest: Manifest;
  /** The manifest as it will be uploaded: the author's JSON with artifact sha256/size (and baseline) filled in. */
  readonly manifestText: string;
  readonly artifactPath: string;
  readonly sha256: string;
  readonly sizeBytes: number;
  /** Declared values that did not match the files and were corrected. */
  readonly warnings: readonly string[];
  /** What was filled in besides (baseline computed, …). */
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
  if (artifact.sha256 !== undefined && artifact.sha256 !== sha256) {
    warnings.push(
      `artifact.sha256 in the manifest was ${String(artifact.sha256)}; replaced with ${sha256} (${file})`,
    );
  }
  if (artifact.sizeBytes !== undefined && artifact.sizeBytes !== sizeBytes) {
    warnings.push(
      `artifact.sizeBytes in the manifest was ${String(artifact.sizeBytes)}; replaced with ${sizeBytes}`,
    );
  }
  artifact.sha256 = sha256;
  artifact.sizeBytes = sizeBytes;

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
      const { rows } = parseReferenceCsv(
        csv,
        features.map((f) => f.name),
      );
      json.baseline = computeBaseline(features, rows);
    } catch (err) {
      if (err instanceof ReferenceDataError) {
        throw new CliError(`--reference ${options.reference}: ${err.message}; nothing was uploaded`, 1);
      }
      throw err;
    }
    notes.push(`baseline computed from ${path.basename(csvPath)} (${rows(json.baseline)} rows)`);
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

function rows(baseline: unknown): number {
  return isRecord(baseline) && typeof baseline.referenceCount === 'number' ? baseline.referenceCount : 0;
}
