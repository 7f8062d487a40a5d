/**
 * The body of `POST /models/{name}/feedback` (docs/inference.md, Feedback). Chosen shape: `labels`, one per instance
 * of the logged request, in request order — `{"requestId":"r-1","labels":["benign","malignant"]}`. The common
 * single-instance request may send `label` instead — `{"requestId":"r-1","label":"benign"}` — which means
 * `labels: [label]`. Exactly one of the two. Labels are strings (classification) or numbers (regression; numeric
 * strings are accepted, as a CSV gives them).
 *
 * A module of its own because it loads zod: the route imports it on the first feedback request, so the invoke path's
 * cold start never evaluates zod.
 */
import { z } from 'zod';
import type { FeedbackRequest } from './feedback';
import type { FieldError } from './inference-request';
import { exceedsUtf8Bytes } from './inference-request';

/** The largest request id accepted: ids are echoed by the server and stored as the sort key. */
export const MAX_REQUEST_ID_LENGTH = 256;
/** Labels per feedback: one per instance, so the inference limit on instances bounds it too. */
export const MAX_FEEDBACK_LABELS = 10_000;

const label = z.union([z.string().min(1, { error: 'must not be empty' }).max(256), z.number().finite()], {
  error: 'must be a string (class label) or a finite number (regression value)',
});

export const feedbackBodySchema = z.strictObject(
  {
    requestId: z
      .string({ error: 'is required: the requestId of the inference response being labelled' })
      .min(1, { error: 'must not be empty' })
      .max(MAX_REQUEST_ID_LENGTH, { error: `must be at most ${MAX_REQUEST_ID_LENGTH} characters` }),
    label: label.optional(),
    labels: z
      .array(label, { error: 'must be an array with one label per instance, in request order' })
      .min(1, { error: 'must hold at least one label' })
      .max(MAX_FEEDBACK_LABELS, { error: `must hold at most ${MAX_FEEDBACK_LABELS} labels` })
      .optional(),
  },
  {
    error: (issue) =>
      issue.code === 'unrecognized_keys' ? 'unknown field; send requestId and label or labels' : undefined,
  },
);

/** Exactly one of `label` and `labels`; judged on the raw object so it is reported alongside the schema's errors. */
function labelChoiceErrors(json: Record<string, unknown>): FieldError[] {
  const hasLabel = json.label !== undefined;
  const hasLabels = json.labels !== undefined;
  if (!hasLabel && !hasLabels) {
    return [
      {
        path: 'labels',
        message: 'is required: send "labels" (one per instance) or "label" (a single-instance request)',
      },
    ];
  }
  if (hasLabel && hasLabels) {
    return [{ path: 'label', message: 'must not be sent together with "labels"; send one of them' }];
  }
  return [];
}

export type ParseFeedbackResult =
  | { readonly ok: true; readonly request: FeedbackRequest }
  | { readonly ok: false; readonly status: 400 | 413; readonly errors: readonly FieldError[] };

function fieldPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(body)';
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`))
    .join('');
}

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
  const parsed = feedbackBodySchema.safeParse(json);
  const errors = labelChoiceErrors(json as Record<string, unknown>);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys)
          errors.push({ path: fieldPath([...issue.path, key]), message: issue.message });
      } else {
        errors.push({ path: fieldPath(issue.path), message: issue.message });
      }
    }
  }
  if (!parsed.success || errors.length > 0) return { ok: false, status: 400, errors };
  const body = parsed.data;
  return { ok: true, request: { requestId: body.requestId, labels: body.labels ?? [body.label!] } };
}
