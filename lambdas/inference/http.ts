/**
 * The HTTP shape the inference app speaks, independent of where it runs: the Lambda Function URL adapter
 * (lambdas/inference/handler.ts), the SageMaker router and the local server translate to and from it.
 */
import type { FieldError } from '../core/inference-request';

export interface HttpRequest {
  /** Upper- or lower-case; compared case-insensitively. */
  readonly method: string;
  /** Raw path without the query string, e.g. `/models/breast-cancer/invoke`. */
  readonly path: string;
  /** Lower-case header names. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly body?: string;
  /** The body is base64 (Function URLs encode bodies they do not consider text). */
  readonly isBase64Encoded?: boolean;
  /** Echoed in every response and log line; the platform's request id where there is one. */
  readonly requestId: string;
}

export interface HttpResponse {
  readonly statusCode: number;
  /** May be shared between responses (and frozen): copy it to add headers. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** The `error.code` values of the contract, with their status codes. */
export const ERROR_STATUS = {
  InvalidInput: 400,
  ModelNotFound: 404,
  MethodNotAllowed: 405,
  PayloadTooLarge: 413,
  InternalError: 500,
  /** The SageMaker endpoint failed or answered something unusable; the caller's input had been validated. */
  BadGateway: 502,
  ModelNotServable: 503,
  /** Feedback: no logged prediction has this request id (never sampled, never served, or another model's). */
  PredictionNotFound: 404,
  /** Feedback: this model's endpoint has no prediction log (feedback is off). */
  FeedbackNotEnabled: 404,
  /** Feedback: the logged prediction is past its TTL (`feedback.ttlDays`). */
  PredictionExpired: 409,
  /** Feedback: the prediction already has different labels; the first labels stand. */
  LabelConflict: 409,
} as const;
export type ErrorCode = keyof typeof ERROR_STATUS;

/** Response header naming the version that answered. */
export const VERSION_HEADER = 'x-modelops-version';

const JSON_HEADERS = { 'content-type': 'application/json' } as const;

export function errorResponse(
  code: ErrorCode,
  message: string,
  requestId: string,
  details?: readonly FieldError[],
  extraHeaders?: Record<string, string>,
): HttpResponse {
  return {
    statusCode: ERROR_STATUS[code],
    headers: extraHeaders === undefined ? { ...JSON_HEADERS } : { ...JSON_HEADERS, ...extraHeaders },
    body: JSON.stringify({
      error: details === undefined || details.length === 0 ? { code, message } : { code, message, details },
      requestId,
    }),
  };
}

/**
 * The headers of a 200 answered by `version`. Frozen, so one object can be shared by every response of a version
 * instead of being built per request; adapters copy it when they need to add headers.
 */
export function jsonHeaders(version: string): Readonly<Record<string, string>> {
  return Object.freeze({ ...JSON_HEADERS, [VERSION_HEADER]: version });
}
