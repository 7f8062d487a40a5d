/**
 * The body of `POST /models/{name}/feedback` (docs/inference.md, Feedback). Chosen shape: `labels`, one per instance
 * of the logged request, in request order — `{"requestId":"r-1","labels":["benign","malignant"]}`. The common
 * single-instance request may send `label` instead — `{"requestId":"r-1","label":"benign"}` — which means
 * `labels: [label]`. Exactly one of the two. Labels are strings (classification) or numbers (regression; numeric
 * strings are accepted, as a CSV gives them).
 *
 * Validated by hand, not with zod: this module is bundled into the inference function, whose cold start must not
 * parse zod (test/unit/runtime-manifest.test.ts keeps zod off that bundle).
 */
import type { FeedbackRequest } from './feedback';
import type { FieldError } from './inference-request';
import { exceedsUtf8Bytes } from './inference-request';

/** The largest request id accepted: ids are echoed by the server and stored as the sort key. */
export const MAX_REQUEST_ID_LENGTH = 256;
/** Labels per feedback: one per instance, so the inference limit on instances bounds it too. */
export const MAX_FEEDBACK_LABELS = 10_000;
const MAX_LABEL_LENGTH = 256;
const FIELDS = new Set(['requestId', 'label', 'labels']);

function requestIdError(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'is required: the requestId of the inference response being labelled';
  if (value.length === 0) return 'must not be empty';
  if (value.length > MAX_REQUEST_ID_LENGTH) return `must be at most ${MAX_REQUEST_ID_LENGTH} characters`;
  return undefined;
}

function labelError(value: unknown): string | undefined {
  if (typeof value === 'string') {
    if (value.length === 0) return 'must not be empty';
    if (value.length > MAX_LABEL_LENGTH) return `must be at most ${MAX_LABEL_LENGTH} characters`;
    return undefined;
  }
  if (typeof value === 'number' && Number.isFinite(value)) return undefined;
  return 'must be a string (class label) or a finite number (regression value)';
}

/** Every field error of a parsed JSON object, in field order; empty when the body is valid. */
function bodyErrors(json: Record<string, unknown>): FieldError[] {
  const errors: FieldError[] = [];
  const idError = requestIdError(json.requestId);
  if (idError !== undefined) errors.push({ path: 'requestId', message: idError });
  const hasLabel = json.label !== undefined;
  const hasLabels = json.labels !== undefined;
  if (!hasLabel && !hasLabels) {
    errors.push({
      path: 'labels',
      message: 'is required: send "labels" (one per instance) or "label" (a single-instance request)',
    });
  } else if (hasLabel && hasLabels) {
    errors.push({ path: 'label', message: 'must not be sent together with "labels"; send one of them' });
  } else if (hasLabel) {
    const error = labelError(json.label);
    if (error !== undefined) errors.push({ path: 'label', message: error });
  } else if (!Array.isArray(json.labels)) {
    errors.push({
      path: 'labels',
      message: 'must be an array with one label per instance, in request order',
    });
  } else if (json.labels.length === 0) {
    errors.push({ path: 'labels', message: 'must hold at least one label' });
  } else if (json.labels.length > MAX_FEEDBACK_LABELS) {
    errors.push({ path: 'labels', message: `must hold at most ${MAX_FEEDBACK_LABELS} labels` });
  } else {
    json.labels.forEach((l: unknown, i) => {
      const error = labelError(l);
      if (error !== undefined) errors.push({ path: `labels[${i}]`, message: error });
    });
  }
  for (const key of Object.keys(json)) {
    if (!FIELDS.has(key))
      errors.push({ path: key, message: 'unknown field; send requestId and label or labels' });
  }
  return errors;
}

export type ParseFeedbackResult =
  | { readonly ok: true; readonly request: FeedbackRequest }
  | { readonly ok: false; readonly status: 400 | 413; readonly errors: readonly FieldError[] };

/** Parses and validates a feedback body; errors name each field and the fix, in the inference error shape. */
export function parseFeedbackBody(text: string, maxBodyBytes: number): ParseFeedbackResult {
  if (exceedsUtf8Bytes(text, maxBodyBytes)) {
    return {
      ok: false,
      status: 413,
      errors: [
        { path: '(body)', message: `is larger than ${maxBodyBytes} bytes; send fewer labels per request` },
      ],
    };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return {
      ok: false,
      status: 400,
      errors: [{ path: '(body)', message: 'is not valid JSON; send {"requestId":"…","label":"…"}' }],
    };
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return {
      ok: false,
      status: 400,
      errors: [{ path: '(body)', message: 'must be a JSON object like {"requestId":"…","label":"…"}' }],
    };
  }
  const body = json as Record<string, unknown>;
  const errors = bodyErrors(body);
  if (errors.length > 0) return { ok: false, status: 400, errors };
  const labels = (body.labels ?? [body.label]) as (string | number)[];
  return { ok: true, request: { requestId: body.requestId as string, labels } };
}
