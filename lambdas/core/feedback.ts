/**
 * Label feedback (docs/inference.md, Feedback): a sampled share of served requests is logged by request id with its
 * compact predictions; a label posted later to `POST /models/{name}/feedback` is joined with the logged prediction
 * into correctness (classification) or absolute error (regression) and label lag. Pure: no AWS SDK, no zod (the
 * serving hot path imports this module; the body schema lives in ./feedback-body.ts and loads on first feedback).
 */
import type { FieldError } from './inference-request';
import type { Output } from './manifest';
import type { Prediction } from './predictions';

/** What a model predicts, for joining labels: a class label, or a number. */
export type PredictionKind = 'classification' | 'regression';

/** One sampled request as the PredictionLog table stores it. Never holds feature values. */
export interface LoggedPrediction {
  readonly model: string;
  readonly requestId: string;
  /** The version that answered. */
  readonly version: string;
  /** When it was served (ISO 8601). */
  readonly at: string;
  readonly kind: PredictionKind;
  /** The output the labels are compared with (its name in the response). */
  readonly output: string;
  /** One per instance, in request order: the class label, or the regression value. */
  readonly predictions: readonly (string | number)[];
  /** Epoch seconds after which the item is expired (DynamoDB TTL attribute `expiresAt`). */
  readonly expiresAt: number;
  /** Set once labelled: one per instance. */
  readonly labels?: readonly (string | number)[];
  /** When the labels were recorded (ISO 8601). */
  readonly labelledAt?: string;
}

/** The output feedback compares labels with, or undefined when the model has none (no class, probability or regression output). */
export interface FeedbackTarget {
  readonly kind: PredictionKind;
  readonly output: string;
  /** `probability` outputs are reduced to their most likely label. */
  readonly fromProbabilities: boolean;
}

/**
 * The first `class` output, else the first `regression` output, else the first `probability` output (its argmax):
 * a class output is what a client reads as "the prediction"; probabilities alone still name a most likely label.
 */
export function feedbackTarget(
  outputs: readonly Pick<Output, 'name' | 'kind'>[],
): FeedbackTarget | undefined {
  const of = (kind: Output['kind']) => outputs.find((o) => o.kind === kind);
  const cls = of('class');
  if (cls !== undefined) return { kind: 'classification', output: cls.name, fromProbabilities: false };
  const reg = of('regression');
  if (reg !== undefined) return { kind: 'regression', output: reg.name, fromProbabilities: false };
  const prob = of('probability');
  if (prob !== undefined) return { kind: 'classification', output: prob.name, fromProbabilities: true };
  return undefined;
}

/** One instance's compact prediction, or undefined when the output is absent or malformed (then nothing is logged). */
function compact(prediction: Prediction, target: FeedbackTarget): string | number | undefined {
  const value = prediction[target.output];
  if (target.fromProbabilities) {
    if (typeof value !== 'object' || value === null) return undefined;
    let best: string | undefined;
    let bestP = -Infinity;
    for (const [label, p] of Object.entries(value)) {
      if (p > bestP) {
        best = label;
        bestP = p;
      }
    }
    return best;
  }
  if (target.kind === 'regression') return typeof value === 'number' ? value : undefined;
  return typeof value === 'string' ? value : undefined;
}

export interface PredictionLogInput {
  readonly model: string;
  readonly requestId: string;
  readonly version: string;
  readonly predictions: readonly Prediction[];
  readonly outputs: readonly Pick<Output, 'name' | 'kind'>[];
  readonly nowMs: number;
  readonly ttlDays: number;
}

/** The log item of one served request, or undefined when its predictions cannot be joined with labels. */
export function predictionLogItem(input: PredictionLogInput): LoggedPrediction | undefined {
  const target = feedbackTarget(input.outputs);
  if (target === undefined) return undefined;
  const values: (string | number)[] = [];
  for (const p of input.predictions) {
    const v = compact(p, target);
    if (v === undefined) return undefined;
    values.push(v);
  }
  return {
    model: input.model,
    requestId: input.requestId,
    version: input.version,
    at: new Date(input.nowMs).toISOString(),
    kind: target.kind,
    output: target.output,
    predictions: values,
    expiresAt: Math.floor(input.nowMs / 1000) + input.ttlDays * 86_400,
  };
}

/** FNV-1a (32-bit) of a string's UTF-16 code units: cheap, stable across processes and languages that copy it. */
export function requestIdHash(requestId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < requestId.length; i++) {
    h ^= requestId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Whether a request is logged for feedback: its id's hash, as a share of 2^32, is below `sampleRate`. Deterministic,
 * so every process (and a retry of the same request id) makes the same choice, and tests need no random source.
 */
export function sampledForFeedback(requestId: string, sampleRate: number): boolean {
  if (!(sampleRate > 0)) return false;
  if (sampleRate >= 1) return true;
  return requestIdHash(requestId) / 0x1_0000_0000 < sampleRate;
}

/** Whether a logged prediction is past its TTL: the emulator (and DynamoDB, up to days late) may still return it. */
export function isExpired(logged: Pick<LoggedPrediction, 'expiresAt'>, nowMs: number): boolean {
  return logged.expiresAt * 1000 <= nowMs;
}

/** A validated feedback body: one label per instance of the logged request. */
export interface FeedbackRequest {
  readonly requestId: string;
  readonly labels: readonly (string | number)[];
}

/** The join of one labelled request: what the metrics carry. */
export interface FeedbackEvaluation {
  readonly kind: PredictionKind;
  /** Classification: 1 per correct instance, 0 per wrong one. */
  readonly correct: readonly number[];
  /** Regression: |label − prediction| per instance. */
  readonly absoluteErrors: readonly number[];
  /** Seconds from the prediction being served to the label arriving (never negative). */
  readonly labelLagSeconds: number;
  /** The labels as stored (regression labels as numbers, classification labels as strings). */
  readonly labels: readonly (string | number)[];
}

export type FeedbackJoin =
  | { readonly kind: 'not-found' }
  | { readonly kind: 'expired'; readonly expiresAt: number }
  | { readonly kind: 'invalid'; readonly errors: readonly FieldError[] }
  | { readonly kind: 'ok'; readonly evaluation: FeedbackEvaluation };

/** Labels normalised to the logged kind, or field errors naming each bad label and the fix. */
function normaliseLabels(
  logged: LoggedPrediction,
  labels: readonly (string | number)[],
): { labels: (string | number)[] } | { errors: FieldError[] } {
  const errors: FieldError[] = [];
  if (labels.length !== logged.predictions.length) {
    errors.push({
      path: 'labels',
      message: `has ${labels.length} label(s) but request ${logged.requestId} had ${logged.predictions.length} instance(s); send one label per instance, in request order`,
    });
    return { errors };
  }
  const out: (string | number)[] = [];
  labels.forEach((label, i) => {
    if (logged.kind === 'regression') {
      const n = typeof label === 'number' ? label : label.trim() === '' ? Number.NaN : Number(label);
      if (!Number.isFinite(n)) {
        errors.push({
          path: `labels[${i}]`,
          message: `must be a number: model ${logged.model} is a regression (output "${logged.output}")`,
        });
      }
      out.push(n);
    } else {
      out.push(String(label));
    }
  });
  return errors.length > 0 ? { errors } : { labels: out };
}

/**
 * Joins labels with a logged prediction (or its absence). Expiry is judged here, not left to the store: DynamoDB
 * deletes expired items late and the emulator never does.
 */
export function joinFeedback(
  logged: LoggedPrediction | undefined,
  request: FeedbackRequest,
  nowMs: number,
): FeedbackJoin {
  if (logged === undefined) return { kind: 'not-found' };
  if (isExpired(logged, nowMs)) return { kind: 'expired', expiresAt: logged.expiresAt };
  const normalised = normaliseLabels(logged, request.labels);
  if ('errors' in normalised) return { kind: 'invalid', errors: normalised.errors };
  const labels = normalised.labels;
  const correct: number[] = [];
  const absoluteErrors: number[] = [];
  logged.predictions.forEach((p, i) => {
    const label = labels[i]!;
    if (logged.kind === 'regression') absoluteErrors.push(Math.abs((label as number) - Number(p)));
    else correct.push(String(p) === label ? 1 : 0);
  });
  const lag = (nowMs - Date.parse(logged.at)) / 1000;
  return {
    kind: 'ok',
    evaluation: {
      kind: logged.kind,
      correct,
      absoluteErrors,
      labelLagSeconds: Number.isFinite(lag) ? Math.max(0, lag) : 0,
      labels,
    },
  };
}

/** Whether two label lists are the same labels (a retried post): idempotent rather than a conflict. */
export function sameLabels(a: readonly (string | number)[], b: readonly (string | number)[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** What `PredictionLogStore.recordLabel` found. */
export type RecordLabelResult =
  | { readonly kind: 'recorded' }
  | { readonly kind: 'duplicate' }
  | { readonly kind: 'conflict'; readonly existing: readonly (string | number)[] }
  | { readonly kind: 'not-found' };

/**
 * Decides a conditional write that lost: the standing item tells whether the labels are the same ones (duplicate)
 * or different (conflict), or the item has gone (not-found). Shared by the adapter and the in-memory fake.
 */
export function lostLabelWrite(
  standing: LoggedPrediction | undefined,
  labels: readonly (string | number)[],
): RecordLabelResult {
  if (standing === undefined) return { kind: 'not-found' };
  if (standing.labels === undefined) return { kind: 'not-found' };
  return sameLabels(standing.labels, labels)
    ? { kind: 'duplicate' }
    : { kind: 'conflict', existing: standing.labels };
}
