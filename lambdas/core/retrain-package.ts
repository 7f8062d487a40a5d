/**
 * Package (retrain state machine, docs/retrain.md): turns one retrain run's trainer output into a model bundle the
 * release pipeline validates like any other, uploaded to `incoming/<model>/<version>/retrain-<runId>/`.
 *
 * The manifest keeps the parent's contract (inputs, outputs, gates, model card, approval, owner), reports the
 * trainer's held-out metrics, carries lineage (parent, trainer, training data and the run in `lineage.retrain`),
 * and gets a fresh baseline profile and smoke samples computed from the training CSV with the new model, by the same
 * functions `modelops push --reference` uses (./baseline.ts, ./prediction-baseline.ts, ./reference-csv.ts).
 *
 * Idempotent: a retried run finds its own manifest and returns it without writing; otherwise every byte written is
 * a function of the run's inputs (no clock), so a retry after a partial upload writes the same files again.
 */
import { Parser, type ReadEntry } from 'tar';
import { z } from 'zod';
import { computeBaseline, referenceValue } from './baseline';
import type { FeatureValue, Instance } from './features';
import { compileInstanceValidator } from './inference-request';
import {
  MANIFEST_FILE,
  registeredManifestKey,
  retrainUploadDir,
  RUN_ID_PATTERN,
  trainingDataKey,
  trainingRunPrefix,
} from './keys';
import {
  MAX_MANIFEST_BYTES,
  MODEL_NAME_PATTERN,
  parseManifest,
  parseManifestText,
  VERSION_PATTERN,
  type Baseline,
  type Manifest,
  type SmokeSample,
} from './manifest';
import { computePredictionBaseline } from './prediction-baseline';
import { createPredictionFormatter } from './predictions';
import type { InferenceBackend, RegistryStore } from './ports';
import { parseReferenceCsv } from './reference-csv';
import { TRIGGER_KINDS, type TriggerKind } from './retrain-policy';
import { sha256OfBytes } from './sha256';
import { outputRow } from './smoke';
import { isB64Value } from './tensor-values';
import { LABEL_COLUMN } from './training-data';

/** The run cannot be packaged; the message names what is missing or wrong. */
export class RetrainPackageError extends Error {
  override name = 'RetrainPackageError';
}

export { TRIGGER_KINDS };

export interface PackageInput {
  readonly model: string;
  readonly parentVersion: string;
  readonly runId: string;
  readonly trigger: { readonly kind: TriggerKind; readonly reason: string; readonly evidence?: unknown };
  readonly dataWindow: { readonly fromMs: number; readonly toMs: number };
  readonly trainingJob: string;
  readonly outputPrefix: string;
}

export interface PackageResult {
  readonly model: string;
  readonly version: string;
  readonly manifestKey: string;
  readonly metrics: Readonly<Record<string, number>>;
}

/** Writes binary objects to the registry (RegistryStore writes text only). */
export interface ArtifactWriter {
  putBytes(key: string, body: Uint8Array, contentType: string): Promise<void>;
}

export interface PackageDeps {
  readonly registry: RegistryStore;
  readonly writer: ArtifactWriter;
  /** Runs the new model (in-process ONNX Runtime) for the prediction baseline and the smoke samples. */
  readonly backend: InferenceBackend;
}

/** report.json of the trainer contract; `trainedAt` and `codeCommit` are optional extras a trainer may add. */
export const trainerReportSchema = z.looseObject({
  metrics: z.record(z.string(), z.number().refine(Number.isFinite, { error: 'must be a finite number' })),
  rows: z.strictObject({ train: z.number().int().min(1), heldOut: z.number().int().min(0) }),
  trainer: z.string().trim().min(1).max(256),
  trainedAt: z.iso.datetime().optional(),
  codeCommit: z.string().trim().min(1).max(128).optional(),
});
export type TrainerReport = z.infer<typeof trainerReportSchema>;

export const MODEL_FILE = 'model.onnx';
export const REPORT_FILE = 'report.json';
export const MODEL_TARBALL = 'model.tar.gz';
const MAX_VERSION_LENGTH = 64;
const MAX_MODEL_BYTES = 512 * 1024 * 1024;
const MAX_CSV_BYTES = 512 * 1024 * 1024;
const SMOKE_SAMPLES = 3;
const PREDICTION_BATCH = 256;

/**
 * The retrained version: `<parent>-<runId>` (a retrain of `1.0.0-r2` by run `r5` is `1.0.0-r2-r5`). When that
 * exceeds 64 characters the parent is cut to fit and an 8-hex digest of the whole parent keeps distinct parents
 * apart: `<parent prefix>-<sha8(parent)>-<runId>`.
 */
export function retrainedVersion(parentVersion: string, runId: string): string {
  const plain = `${parentVersion}-${runId}`;
  if (plain.length <= MAX_VERSION_LENGTH) return plain;
  const digest = sha256OfBytes(parentVersion).slice(0, 8);
  const keep = MAX_VERSION_LENGTH - runId.length - digest.length - 2;
  const prefix = parentVersion.slice(0, keep).replace(/[._-]+$/, '');
  return `${prefix}-${digest}-${runId}`;
}

/** The named files of a gzip'd tar (SageMaker's model.tar.gz), matched by base name at any depth. */
export async function readTarGz(bytes: Uint8Array, names: readonly string[]): Promise<Map<string, Buffer>> {
  const found = new Map<string, Buffer>();
  await new Promise<void>((resolve, reject) => {
    const parser = new Parser({
      onReadEntry: (entry: ReadEntry) => {
        const base = entry.path.split('/').pop() ?? '';
        if (entry.type !== 'File' || !names.includes(base) || found.has(base)) return entry.resume();
        const chunks: Buffer[] = [];
        entry.on('data', (c: Buffer) => chunks.push(c));
        entry.on('end', () => found.set(base, Buffer.concat(chunks)));
      },
    });
    parser.on('end', () => resolve());
    parser.on('error', (err: Error) => reject(err));
    parser.on('warn', (code: string, message: string) => {
      if (code === 'TAR_BAD_ARCHIVE' || code === 'TAR_ABORT') reject(new Error(message));
    });
    parser.end(Buffer.from(bytes));
  });
  return found;
}

function inputIssues(input: PackageInput): string[] {
  const issues: string[] = [];
  if (!MODEL_NAME_PATTERN.test(input.model)) issues.push(`model "${input.model}" is not a valid model name`);
  if (!VERSION_PATTERN.test(input.parentVersion) || input.parentVersion.includes('..')) {
    issues.push(`parentVersion "${input.parentVersion}" is not a valid version`);
  }
  if (!RUN_ID_PATTERN.test(input.runId))
    issues.push(`runId "${input.runId}" is not a valid run id (e.g. r3)`);
  const runPrefix = trainingRunPrefix(input.model, input.runId);
  if (!input.outputPrefix.startsWith(runPrefix) || input.outputPrefix.includes('..')) {
    issues.push(`outputPrefix "${input.outputPrefix}" must lie under ${runPrefix}`);
  }
  return issues;
}

/** The trainer's output: the model bytes and the parsed report, from model.tar.gz or the two files. */
async function readTrainerOutput(
  registry: RegistryStore,
  outputPrefix: string,
): Promise<{ model: Uint8Array; report: TrainerReport; source: string }> {
  const prefix = outputPrefix.endsWith('/') ? outputPrefix : `${outputPrefix}/`;
  const keys = new Set(await registry.list(prefix));
  let modelBytes: Uint8Array | undefined;
  let reportText: string | undefined;
  let source: string;
  const tarKey = [...keys].find(
    (k) => k === `${prefix}${MODEL_TARBALL}` || k.endsWith(`/output/${MODEL_TARBALL}`),
  );
  if (tarKey !== undefined) {
    source = tarKey;
    let files: Map<string, Buffer>;
    try {
      files = await readTarGz(await registry.readBytes(tarKey), [MODEL_FILE, REPORT_FILE]);
    } catch (err) {
      throw new RetrainPackageError(`${tarKey} is not a readable gzip'd tar (${(err as Error).message})`);
    }
    modelBytes = files.get(MODEL_FILE);
    reportText = files.get(REPORT_FILE)?.toString('utf8');
    const missing = [MODEL_FILE, REPORT_FILE].filter((f) => !files.has(f));
    if (missing.length > 0) {
      throw new RetrainPackageError(
        `${tarKey} holds no ${missing.join(' or ')}; the trainer must write both to /opt/ml/model`,
      );
    }
  } else {
    source = prefix;
    const missing = [MODEL_FILE, REPORT_FILE].filter((f) => !keys.has(`${prefix}${f}`));
    if (missing.length > 0) {
      throw new RetrainPackageError(
        `the trainer output ${prefix} has no ${MODEL_TARBALL} and no ${missing.join(' or ')}; the trainer must write ${MODEL_FILE} and ${REPORT_FILE}`,
      );
    }
    const head = await registry.head(`${prefix}${MODEL_FILE}`);
    if (head && head.sizeBytes > MAX_MODEL_BYTES) {
      throw new RetrainPackageError(`${prefix}${MODEL_FILE} is larger than ${MAX_MODEL_BYTES} bytes`);
    }
    modelBytes = await registry.readBytes(`${prefix}${MODEL_FILE}`);
    reportText = await registry.readText(`${prefix}${REPORT_FILE}`, MAX_MANIFEST_BYTES);
  }
  let json: unknown;
  try {
    json = JSON.parse(reportText ?? '');
  } catch (err) {
    throw new RetrainPackageError(`${REPORT_FILE} in ${source} is not JSON (${(err as Error).message})`);
  }
  const report = trainerReportSchema.safeParse(json);
  if (!report.success) {
    const why = report.error.issues.map((i) => `${i.path.join('.') || '(report)'}: ${i.message}`).join('; ');
    throw new RetrainPackageError(`${REPORT_FILE} in ${source} does not follow the trainer contract: ${why}`);
  }
  return { model: modelBytes!, report: report.data, source };
}

/** A short, bounded summary of the trigger's evidence for the manifest (the AuditLog keeps the whole of it). */
function evidenceSummary(evidence: unknown): string | undefined {
  if (evidence === undefined || evidence === null) return undefined;
  const text = typeof evidence === 'string' ? evidence : JSON.stringify(evidence);
  return text.length > 2048 ? `${text.slice(0, 2045)}...` : text;
}

/**
 * The values smoke samples use for `pii` features: the training median (numeric) or the most common value, so
 * no person's value is copied into a manifest. Smoke samples then check the model on those synthetic rows.
 */
function piiStandIns(manifest: Manifest, instances: readonly Instance[]): Map<string, FeatureValue> {
  const out = new Map<string, FeatureValue>();
  for (const f of manifest.inputs.features) {
    if (!f.pii) continue;
    const values = instances.map((i) => i[f.name]).filter((v) => v !== null && v !== undefined);
    if (values.length === 0) continue;
    if (f.type === 'numeric') {
      const sorted = (values as number[]).slice().sort((a, b) => a - b);
      out.set(f.name, sorted[Math.floor((sorted.length - 1) / 2)]!);
    } else {
      const tally = new Map<string, { v: FeatureValue; n: number }>();
      for (const v of values) {
        const k = String(v);
        tally.set(k, { v: v as FeatureValue, n: (tally.get(k)?.n ?? 0) + 1 });
      }
      out.set(f.name, [...tally.values()].sort((a, b) => b.n - a.n)[0]!.v);
    }
  }
  return out;
}

/** A feature value as a manifest's smoke sample holds it (mutable JSON: arrays and `{ b64 }` copied). */
function smokeInputValue(value: FeatureValue): SmokeSample['inputs'][string] {
  if (value === null || typeof value !== 'object') return value;
  if (isB64Value(value)) return { b64: value.b64 };
  return [...value];
}

/** Packages the run; see the module comment. Throws `RetrainPackageError` naming what is missing or invalid. */
export async function packageRetrained(deps: PackageDeps, input: PackageInput): Promise<PackageResult> {
  const issues = inputIssues(input);
  if (issues.length > 0) throw new RetrainPackageError(`Package input: ${issues.join('; ')}`);
  const { model, parentVersion, runId } = input;
  const version = retrainedVersion(parentVersion, runId);
  const dir = retrainUploadDir(model, version, runId);
  const manifestKey = `${dir}${MANIFEST_FILE}`;

  // A retry of a run whose manifest is already uploaded returns it: the upload happened, never make a second one.
  const existing = await deps.registry.readText(manifestKey, MAX_MANIFEST_BYTES);
  if (existing !== undefined) {
    const parsed = parseManifestText(existing);
    if (parsed.ok) return { model, version, manifestKey, metrics: parsed.manifest.metrics };
    throw new RetrainPackageError(
      `${manifestKey} exists but is not a valid manifest; delete it and retry the run`,
    );
  }

  const parentKey = registeredManifestKey(model, parentVersion);
  const parentText = await deps.registry.readText(parentKey, MAX_MANIFEST_BYTES);
  if (parentText === undefined) {
    throw new RetrainPackageError(
      `parent manifest ${parentKey} does not exist; retrain a registered version`,
    );
  }
  const parentParsed = parseManifestText(parentText);
  if (!parentParsed.ok) throw new RetrainPackageError(`parent manifest ${parentKey} is invalid`);
  const parent = parentParsed.manifest;
  if (parent.framework !== 'onnx') {
    throw new RetrainPackageError(
      `parent ${model} ${parentVersion} is a ${parent.framework} model; Package bundles ONNX models only`,
    );
  }

  const output = await readTrainerOutput(deps.registry, input.outputPrefix);
  const { report } = output;
  const metricsMissing = Object.keys(parent.metrics).filter((m) => !Object.hasOwn(report.metrics, m));
  if (metricsMissing.length > 0) {
    throw new RetrainPackageError(
      `${REPORT_FILE} has no ${metricsMissing.map((m) => `"${m}"`).join(', ')}, which the parent reports and gates may check; the trainer must report every parent metric`,
    );
  }

  // Baseline from the training CSV (the data the model learnt from), exactly as `push --reference` profiles.
  const dataKey = trainingDataKey(model, runId);
  const csv = await deps.registry.readText(dataKey, MAX_CSV_BYTES);
  if (csv === undefined)
    throw new RetrainPackageError(`training data ${dataKey} does not exist; run PrepareTrainingData first`);
  const features = parent.inputs.features;
  let rows: readonly Readonly<Record<string, string>>[];
  let featureBaseline: Baseline;
  try {
    rows = parseReferenceCsv(csv, [...features.map((f) => f.name), LABEL_COLUMN]).rows;
    featureBaseline = computeBaseline(features, rows);
  } catch (err) {
    throw new RetrainPackageError(`training data ${dataKey}: ${(err as Error).message}`);
  }

  const sha256 = sha256OfBytes(output.model);
  const draft = {
    manifestVersion: 1 as const,
    name: model,
    version,
    framework: 'onnx' as const,
    owner: parent.owner,
    description: `Retrained from ${model} ${parentVersion} by retrain run ${runId} (${input.trigger.kind}).`,
    artifact: { file: MODEL_FILE, sha256, sizeBytes: output.model.length },
    inputs: parent.inputs,
    outputs: parent.outputs,
    metrics: report.metrics,
    gates: parent.gates,
  };

  // Rows the inference path would accept (a live row lacks its pii features; it is profiled, never served here).
  const validate = compileInstanceValidator(parent, { maxErrors: 1 });
  const served: Instance[] = [];
  rows.forEach((cells, i) => {
    const instance: Record<string, FeatureValue> = {};
    for (const f of features) instance[f.name] = referenceValue(f, cells[f.name] ?? '', i + 1);
    if (validate([instance]).length === 0) served.push(instance);
  });
  if (served.length === 0) {
    throw new RetrainPackageError(
      `training data ${dataKey} has no row the model can be served, so no smoke samples`,
    );
  }
  let loaded;
  try {
    loaded = await deps.backend.load(version, draft as unknown as Manifest, output.model);
  } catch (err) {
    throw new RetrainPackageError(
      `${MODEL_FILE} from ${output.source} cannot be loaded (${(err as Error).message})`,
    );
  }
  const format = createPredictionFormatter(parent.outputs);
  const predictions = [];
  for (let start = 0; start < served.length; start += PREDICTION_BATCH) {
    const batch = served.slice(start, start + PREDICTION_BATCH);
    predictions.push(...format(await loaded.predict(batch), batch.length));
  }
  const { predictions: predictionBins } = computePredictionBaseline(parent.outputs, predictions);

  const standIns = piiStandIns(parent, served);
  const picks = Array.from({ length: Math.min(SMOKE_SAMPLES, served.length) }, (_, k) =>
    Math.floor((k * served.length) / Math.min(SMOKE_SAMPLES, served.length)),
  );
  const smokeInputs = picks.map((i) => {
    const inputs: SmokeSample['inputs'] = {};
    for (const [name, value] of Object.entries(served[i]!)) {
      if (value !== undefined) inputs[name] = smokeInputValue(value);
    }
    for (const [name, value] of standIns) inputs[name] = smokeInputValue(value);
    return inputs;
  });
  const raw = await loaded.predict(smokeInputs);
  const smokeSamples: SmokeSample[] = smokeInputs.map((inputs, row) => {
    const expected: SmokeSample['expected'] = {};
    for (const o of parent.outputs) {
      const values = outputRow(raw[o.name]!, row).map((v) => (typeof v === 'bigint' ? Number(v) : v));
      expected[o.name] = o.kind === 'probability' ? (values as number[]) : (values[0] as number | string);
    }
    return { inputs, expected, tolerance: 1e-4 };
  });

  const window = `${new Date(input.dataWindow.fromMs).toISOString()}..${new Date(input.dataWindow.toMs).toISOString()}`;
  const manifestJson = {
    ...draft,
    baseline: { ...featureBaseline, predictions: predictionBins },
    smokeSamples,
    lineage: {
      trainingData:
        `${dataKey} (${rows.length} rows: reference data + labelled predictions ${window}; ` +
        `${report.rows.train} trained, ${report.rows.heldOut} held out)`,
      codeCommit: report.codeCommit ?? 'unknown',
      parentVersion,
      trainer: report.trainer,
      // The trainer's time, else the window's end: no clock here, so a retried run writes the same bytes.
      trainedAt: report.trainedAt ?? new Date(input.dataWindow.toMs).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      retrain: {
        runId,
        trigger: input.trigger.kind,
        reason: input.trigger.reason.slice(0, 1024),
        ...(evidenceSummary(input.trigger.evidence) !== undefined
          ? { evidence: evidenceSummary(input.trigger.evidence) }
          : {}),
        dataWindow: { fromMs: input.dataWindow.fromMs, toMs: input.dataWindow.toMs },
        trainingJob: input.trainingJob,
      },
    },
    modelCard: parent.modelCard,
    approval: parent.approval,
  };
  const checked = parseManifest(manifestJson);
  if (!checked.ok) {
    throw new RetrainPackageError(
      `the retrained manifest is invalid: ${checked.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    );
  }

  // The model first, the manifest last: the manifest's arrival is what starts a release.
  await deps.writer.putBytes(`${dir}${MODEL_FILE}`, output.model, 'application/octet-stream');
  await deps.registry.putText(manifestKey, `${JSON.stringify(manifestJson, null, 2)}\n`, 'application/json');
  return { model, version, manifestKey, metrics: report.metrics };
}
