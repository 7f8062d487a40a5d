/**
 * PrepareTrainingData (retrain state machine, docs/retrain.md): the training CSV of one retrain run, made of the
 * model's configured reference data plus the labelled predictions served in the run's data window.
 *
 * Where the features of a labelled prediction come from: the PredictionLog table keeps only the compact prediction
 * and, once posted, the labels (./feedback.ts: it never holds feature values). The features are in the captured
 * payloads (`capture/<model>/<yyyy>/<mm>/<dd>/<hh>/…jsonl`, ./capture.ts), joined by request id. So a live row exists
 * only for a request that was both captured and logged-and-labelled.
 *
 * PII: capture drops `pii` features, and nothing else keeps them, so a live row has an empty cell for each pii
 * feature. Training may use pii features — the model needs them as inputs — from the reference data, which the data
 * owner supplies and governs; the trainer imputes the empty live cells. No feature value is ever logged or put in an
 * error message here: errors name rows and columns only.
 *
 * Rows are deduplicated: a live instance once per (request id, instance index) — a retried request may be captured
 * twice — then any row whose every cell (features and label) equals an earlier row's is dropped.
 */
import { parseReferenceCsv } from './reference-csv';
import { type CaptureRecord } from './capture';
import { feedbackTarget, type LoggedPrediction } from './feedback';
import { registeredManifestKey, RUN_ID_PATTERN, trainingDataKey } from './keys';
import {
  MAX_MANIFEST_BYTES,
  MODEL_NAME_PATTERN,
  parseManifestText,
  VERSION_PATTERN,
  type Manifest,
} from './manifest';
import type { PredictionLogStore, RegistryStore } from './ports';
import { PREFIX } from './tables';

/** The training data cannot be assembled; the message names what is missing or wrong and how to fix it. */
export class TrainingDataError extends Error {
  override name = 'TrainingDataError';
}

/** The label column of the training CSV (and of reference data). */
export const LABEL_COLUMN = 'label';

export interface PrepareTrainingDataInput {
  readonly model: string;
  readonly parentVersion: string;
  readonly runId: string;
  readonly dataWindow: { readonly fromMs: number; readonly toMs: number };
}

export interface PrepareTrainingDataResult {
  readonly trainingDataKey: string;
  /** Rows written (after deduplication). */
  readonly rows: number;
  /** Of those, rows from labelled live predictions. */
  readonly labelledRows: number;
  readonly referenceRows: number;
  readonly duplicateRows: number;
  /** Captured instances in the window not used, by reason (unlabelled, label not an output label, …). */
  readonly skipped: Readonly<Record<string, number>>;
}

export interface TrainingDataLimits {
  /** Most capture objects read for one run. @default 20000 */
  readonly maxCaptureObjects?: number;
  /** Largest capture object or reference CSV read, in bytes. @default 64 MiB */
  readonly maxObjectBytes?: number;
}

export interface TrainingDataDeps {
  readonly registry: RegistryStore;
  readonly predictions: PredictionLogStore;
  /** Reads the configured reference data (a registry key in AWS, a project path locally); undefined when absent. */
  readonly readReference: (ref: string) => Promise<string | undefined>;
  readonly limits?: TrainingDataLimits;
}

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** Every problem with the run's input; empty when usable. */
export function trainingInputIssues(input: PrepareTrainingDataInput): string[] {
  const issues: string[] = [];
  if (!MODEL_NAME_PATTERN.test(input.model)) issues.push(`model "${input.model}" is not a valid model name`);
  if (!VERSION_PATTERN.test(input.parentVersion) || input.parentVersion.includes('..')) {
    issues.push(`parentVersion "${input.parentVersion}" is not a valid version`);
  }
  if (!RUN_ID_PATTERN.test(input.runId)) {
    issues.push(`runId "${input.runId}" must be 1-48 characters of A-Z, a-z, 0-9, "_" and "-", e.g. r3`);
  }
  const { fromMs, toMs } = input.dataWindow;
  if (!Number.isSafeInteger(fromMs) || !Number.isSafeInteger(toMs) || fromMs < 0 || fromMs > toMs) {
    issues.push(
      `dataWindow {fromMs: ${fromMs}, toMs: ${toMs}} must be epoch milliseconds with fromMs <= toMs`,
    );
  }
  return issues;
}

/** The day prefixes `capture/<model>/<yyyy>/<mm>/<dd>/` that can hold records of the window. */
export function captureDayPrefixes(model: string, fromMs: number, toMs: number): string[] {
  const out: string[] = [];
  for (let day = Math.floor(fromMs / DAY_MS) * DAY_MS; day <= toMs; day += DAY_MS) {
    const d = new Date(day);
    out.push(
      `${PREFIX.capture}${model}/${pad(d.getUTCFullYear(), 4)}/${pad(d.getUTCMonth() + 1)}/${pad(d.getUTCDate())}/`,
    );
  }
  return out;
}

/** Whether a capture key's hour folder overlaps the window (keys outside the layout are not read). */
function keyInWindow(key: string, fromMs: number, toMs: number): boolean {
  const m = /\/(\d{4})\/(\d{2})\/(\d{2})\/(\d{2})\/[^/]+\.jsonl$/.exec(key);
  if (!m) return false;
  const hour = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]));
  return hour <= toMs && hour + HOUR_MS > fromMs;
}

/** A feature value as CSV cell text, in the forms reference data uses (./baseline.ts `referenceValue` reads back). */
function cellOf(value: unknown): string | undefined {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : undefined;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'string') return value;
  return undefined;
}

/** RFC 4180: quote a cell holding a comma, quote or line break (or leading/trailing space, kept as data). */
export function csvCell(cell: string): string {
  return /[",\r\n]|^[ \t]|[ \t]$/.test(cell) ? `"${cell.replace(/"/g, '""')}"` : cell;
}

function parseCaptureLines(text: string): { records: CaptureRecord[]; malformed: number } {
  const records: CaptureRecord[] = [];
  let malformed = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    try {
      const r = JSON.parse(line) as CaptureRecord;
      if (typeof r.requestId === 'string' && typeof r.time === 'string' && Array.isArray(r.instances))
        records.push(r);
      else malformed++;
    } catch {
      malformed++;
    }
  }
  return { records, malformed };
}

interface LiveRow {
  readonly atMs: number;
  readonly requestId: string;
  readonly index: number;
  readonly cells: readonly string[];
}

/** Builds and writes the run's training CSV. Throws `TrainingDataError` naming what is missing. */
export async function prepareTrainingData(
  deps: TrainingDataDeps,
  input: PrepareTrainingDataInput,
  referenceData: string | undefined,
): Promise<PrepareTrainingDataResult> {
  const issues = trainingInputIssues(input);
  if (issues.length > 0) throw new TrainingDataError(`PrepareTrainingData input: ${issues.join('; ')}`);
  const maxObjects = deps.limits?.maxCaptureObjects ?? 20_000;
  const maxBytes = deps.limits?.maxObjectBytes ?? 64 * 1024 * 1024;
  const { model, parentVersion, runId } = input;
  const { fromMs, toMs } = input.dataWindow;

  const manifestKey = registeredManifestKey(model, parentVersion);
  const manifestText = await deps.registry.readText(manifestKey, MAX_MANIFEST_BYTES);
  if (manifestText === undefined) {
    throw new TrainingDataError(
      `parent manifest ${manifestKey} does not exist; retrain a registered version (parentVersion "${parentVersion}")`,
    );
  }
  const parsed = parseManifestText(manifestText);
  if (!parsed.ok) {
    throw new TrainingDataError(
      `parent manifest ${manifestKey} is invalid: ${parsed.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    );
  }
  const manifest: Manifest = parsed.manifest;
  const features = manifest.inputs.features;
  const tensor = features.find((f) => f.type === 'tensor');
  if (tensor) {
    throw new TrainingDataError(
      `feature "${tensor.name}" is a tensor; CSV training data holds tabular features only — give this model a trainer that reads captured JSON lines`,
    );
  }
  const target = feedbackTarget(manifest.outputs);
  const labelSet =
    target?.kind === 'classification'
      ? new Set(manifest.outputs.find((o) => o.name === target.output)?.labels ?? [])
      : undefined;

  // Reference data.
  if (referenceData === undefined) {
    throw new TrainingDataError(
      `model "${model}" has no retrain.referenceData in modelops.config.ts; set it to the reference CSV (header = feature names + "${LABEL_COLUMN}")`,
    );
  }
  const referenceText = await deps.readReference(referenceData);
  if (referenceText === undefined) {
    throw new TrainingDataError(
      `retrain.referenceData "${referenceData}" of model "${model}" does not exist; upload the reference CSV there or fix the setting`,
    );
  }
  const header = [...features.map((f) => f.name), LABEL_COLUMN];
  let reference;
  try {
    reference = parseReferenceCsv(referenceText, header);
  } catch (err) {
    throw new TrainingDataError(`retrain.referenceData "${referenceData}": ${(err as Error).message}`);
  }
  const referenceRows = reference.rows.map((r, i) => {
    const label = (r[LABEL_COLUMN] ?? '').trim();
    if (label === '') {
      throw new TrainingDataError(
        `retrain.referenceData "${referenceData}" row ${i + 1} has no ${LABEL_COLUMN}; every reference row must be labelled`,
      );
    }
    if (labelSet && !labelSet.has(label)) {
      throw new TrainingDataError(
        `retrain.referenceData "${referenceData}" row ${i + 1}: ${LABEL_COLUMN} is not one of the output labels ${[...labelSet].map((l) => `"${l}"`).join(', ')}`,
      );
    }
    return header.map((c) => (c === LABEL_COLUMN ? label : (r[c] ?? '')));
  });

  // Labelled live predictions in the window: captured features joined with logged labels by request id.
  const skipped: Record<string, number> = {};
  const skip = (reason: string, n = 1) => (skipped[reason] = (skipped[reason] ?? 0) + n);
  const keys: string[] = [];
  for (const prefix of captureDayPrefixes(model, fromMs, toMs)) {
    for (const key of await deps.registry.list(prefix)) if (keyInWindow(key, fromMs, toMs)) keys.push(key);
  }
  if (keys.length > maxObjects) {
    throw new TrainingDataError(
      `the data window holds ${keys.length} capture objects, more than ${maxObjects}; shorten retrain.dataWindowDays`,
    );
  }
  keys.sort();
  const live = new Map<string, LiveRow>();
  const logged = new Map<string, LoggedPrediction | undefined>();
  for (const key of keys) {
    const text = await deps.registry.readText(key, maxBytes);
    if (text === undefined) continue;
    const { records, malformed } = parseCaptureLines(text);
    if (malformed > 0) skip('malformed capture line', malformed);
    for (const record of records) {
      const atMs = Date.parse(record.time);
      if (!(atMs >= fromMs && atMs <= toMs) || record.model !== model) continue;
      if (!logged.has(record.requestId)) {
        logged.set(record.requestId, await deps.predictions.getPrediction(model, record.requestId));
      }
      const item = logged.get(record.requestId);
      if (item?.labels === undefined) {
        skip('not labelled', record.instances.length);
        continue;
      }
      if (item.labels.length !== record.instances.length) {
        skip('label count differs from instance count', record.instances.length);
        continue;
      }
      record.instances.forEach((instance, index) => {
        const label = String(item.labels![index]);
        if (labelSet && !labelSet.has(label)) return skip('label not an output label');
        const cells: string[] = [];
        for (const f of features) {
          const has = Object.hasOwn(instance, f.name);
          // A pii feature is never captured: its cell stays empty (missing), for the trainer to impute.
          const cell = has ? cellOf(instance[f.name]) : f.pii || !f.required ? '' : undefined;
          if (cell === undefined)
            return skip(has ? 'feature value not tabular' : 'required feature not captured');
          cells.push(cell);
        }
        cells.push(label);
        const id = `${record.requestId}#${index}`;
        if (!live.has(id)) live.set(id, { atMs, requestId: record.requestId, index, cells });
        else skip('captured twice');
      });
    }
  }
  // Served time, then request id: the same window always makes the same bytes (a retried step rewrites them).
  const liveRows = [...live.values()].sort(
    (a, b) =>
      a.atMs - b.atMs || (a.requestId < b.requestId ? -1 : a.requestId > b.requestId ? 1 : a.index - b.index),
  );

  const seen = new Set<string>();
  const lines = [header.map(csvCell).join(',')];
  let duplicateRows = 0;
  let labelledRows = 0;
  const add = (cells: readonly string[], isLive: boolean) => {
    const line = cells.map(csvCell).join(',');
    if (seen.has(line)) return duplicateRows++;
    seen.add(line);
    lines.push(line);
    if (isLive) labelledRows++;
  };
  for (const cells of referenceRows) add(cells, false);
  for (const row of liveRows) add(row.cells, true);
  const rows = lines.length - 1;
  if (rows === 0) {
    throw new TrainingDataError(
      `no training rows: retrain.referenceData "${referenceData}" has no data rows and the window has no labelled predictions`,
    );
  }
  const key = trainingDataKey(model, runId);
  await deps.registry.putText(key, `${lines.join('\n')}\n`, 'text/csv');
  return {
    trainingDataKey: key,
    rows,
    labelledRows,
    referenceRows: referenceRows.length,
    duplicateRows,
    skipped,
  };
}
