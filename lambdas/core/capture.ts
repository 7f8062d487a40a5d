/**
 * Sampled capture of requests and responses (pure part): the sampling decision, dropping `pii` features, batching
 * records and naming the batch objects `capture/<model>/<yyyy>/<mm>/<dd>/<hh>/<time>-<random>.jsonl`.
 *
 * Writing the objects is an adapter's job (lambdas/adapters/capture-writer.ts) behind {@link CaptureWriter}.
 */
import type { Manifest } from './manifest';
import type { Prediction } from './predictions';
import { PREFIX } from './tables';

/** Where batches go: S3 in Lambda and local mode (the emulator), memory in tests. */
export interface CaptureWriter {
  /** Writes one batch object; `body` is JSON Lines. */
  write(key: string, body: string): Promise<void>;
}

export interface CaptureSettings {
  /** Share of requests captured, 0–1; 0 turns capture off. @default 0 */
  readonly sampleRate: number;
  /** Records per batch object. @default 100 */
  readonly batchRecords: number;
  /** A partial batch whose oldest record is older than this (ms) is written at the next request. @default 60000 */
  readonly maxAgeMs: number;
}

export const DEFAULT_CAPTURE_SETTINGS: CaptureSettings = {
  sampleRate: 0,
  batchRecords: 100,
  maxAgeMs: 60_000,
};

/** Every problem with capture settings; empty when usable. */
export function captureSettingsIssues(s: CaptureSettings): string[] {
  const issues: string[] = [];
  if (!(s.sampleRate >= 0 && s.sampleRate <= 1)) {
    issues.push(`capture sample rate must be from 0 to 1, got ${s.sampleRate}`);
  }
  if (!Number.isSafeInteger(s.batchRecords) || s.batchRecords < 1) {
    issues.push(`capture batch records must be a whole number >= 1, got ${s.batchRecords}`);
  }
  if (!Number.isFinite(s.maxAgeMs) || s.maxAgeMs < 0) {
    issues.push(`capture max age must be a number of ms >= 0, got ${s.maxAgeMs}`);
  }
  return issues;
}

/** One captured request: what was asked (without pii features) and what was answered. */
export interface CaptureRecord {
  readonly requestId: string;
  /** ISO 8601 time the request was served. */
  readonly time: string;
  readonly model: string;
  readonly version: string;
  readonly instances: readonly Readonly<Record<string, unknown>>[];
  readonly predictions: readonly Prediction[];
}

/** Whether this request is captured: a per-request draw, so a batch keeps its instances together. */
export function shouldCapture(sampleRate: number, random: () => number): boolean {
  if (sampleRate <= 0) return false;
  if (sampleRate >= 1) return true;
  return random() < sampleRate;
}

/** Returns instances without the features the manifest marks `pii`. */
export type PiiStripper = (
  instances: readonly Readonly<Record<string, unknown>>[],
) => Readonly<Record<string, unknown>>[];

/**
 * Compiles the pii filter of one version. Without pii features the instances are returned as they are (they were
 * validated, so they hold only declared features); otherwise each is copied without the pii keys.
 */
export function createPiiStripper(manifest: Pick<Manifest, 'inputs'>): PiiStripper {
  const pii: ReadonlySet<string> = new Set(manifest.inputs.features.filter((f) => f.pii).map((f) => f.name));
  if (pii.size === 0) return (instances) => [...instances];
  return (instances) =>
    instances.map((instance) => {
      const kept: Record<string, unknown> = {};
      for (const key of Object.keys(instance)) if (!pii.has(key)) kept[key] = instance[key];
      return kept;
    });
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/**
 * `capture/<model>/<yyyy>/<mm>/<dd>/<hh>/<yyyymmddThhmmssSSSZ>-<suffix>.jsonl`, in UTC. The hour partitions suit
 * Athena/Glue; the time prefix sorts objects within an hour; the suffix keeps concurrent writers apart.
 */
export function captureObjectKey(model: string, timeMs: number, suffix: string): string {
  const d = new Date(timeMs);
  const yyyy = pad(d.getUTCFullYear(), 4);
  const mm = pad(d.getUTCMonth() + 1);
  const dd = pad(d.getUTCDate());
  const hh = pad(d.getUTCHours());
  const stamp = `${yyyy}${mm}${dd}T${hh}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}${pad(d.getUTCMilliseconds(), 3)}Z`;
  return `${PREFIX.capture}${model}/${yyyy}/${mm}/${dd}/${hh}/${stamp}-${suffix}.jsonl`;
}

/** A random suffix of 8 hex digits from a uniform draw in [0, 1). */
export function randomSuffix(random: () => number): string {
  return Math.floor(random() * 0x1_0000_0000)
    .toString(16)
    .padStart(8, '0');
}

/** One JSON object per line, newline-terminated. */
export function toJsonLines(records: readonly CaptureRecord[]): string {
  let out = '';
  for (const r of records) out += `${JSON.stringify(r)}\n`;
  return out;
}

/** A batch taken out of the buffer, ready to be written. */
export interface CaptureBatch {
  readonly model: string;
  readonly records: readonly CaptureRecord[];
}

export interface CaptureBuffer {
  /** Adds a record; returns the model's batch when it has reached `batchRecords`. */
  add(record: CaptureRecord, nowMs: number): CaptureBatch | undefined;
  /** Takes every partial batch whose oldest record is older than `maxAgeMs`. */
  takeExpired(nowMs: number): CaptureBatch[];
  /** Takes everything buffered (e.g. before a planned shutdown). */
  drain(): CaptureBatch[];
  /** Records buffered, all models. */
  readonly size: number;
}

/**
 * Buffers capture records per model. Taking a batch is synchronous, so two concurrent requests never write the
 * same records twice.
 */
export function createCaptureBuffer(
  settings: Pick<CaptureSettings, 'batchRecords' | 'maxAgeMs'>,
): CaptureBuffer {
  const pending = new Map<string, { records: CaptureRecord[]; oldestMs: number }>();
  let size = 0;
  const take = (model: string): CaptureBatch | undefined => {
    const entry = pending.get(model);
    if (entry === undefined) return undefined;
    pending.delete(model);
    size -= entry.records.length;
    return { model, records: entry.records };
  };
  return {
    add(record, nowMs) {
      let entry = pending.get(record.model);
      if (entry === undefined) {
        entry = { records: [], oldestMs: nowMs };
        pending.set(record.model, entry);
      }
      entry.records.push(record);
      size++;
      return entry.records.length >= settings.batchRecords ? take(record.model) : undefined;
    },
    takeExpired(nowMs) {
      const batches: CaptureBatch[] = [];
      for (const [model, entry] of pending) {
        if (nowMs - entry.oldestMs > settings.maxAgeMs) batches.push(take(model)!);
      }
      return batches;
    },
    drain() {
      return [...pending.keys()].map((model) => take(model)!);
    },
    get size() {
      return size;
    },
  };
}
