/**
 * `POST /models/{name}/feedback`: joins labels with a logged prediction (lambdas/core/feedback.ts), stores them with
 * one conditional write and emits FEEDBACK_METRICS under {Model, Version} (the version that answered) and {Model}.
 * Same body rules as invoke (size before decoding, base64 bodies, JSON); the Function URL's IAM auth and the local
 * server's content-type and origin checks apply to every path alike.
 *
 * 200 `{"model","version","labelledRequestId","outcome":"recorded"|"duplicate","labels":n,"requestId"}`; errors in
 * the app's shape: 400 InvalidInput, 404 PredictionNotFound / FeedbackNotEnabled, 409 PredictionExpired /
 * LabelConflict, 413 PayloadTooLarge. Only `recorded` emits metrics, so a retried label is not counted twice.
 */
import { joinFeedback, type FeedbackEvaluation } from '../core/feedback';
import { parseFeedbackBody } from '../core/feedback-body';
import { FEEDBACK_METRICS as F, type MetricDatum, type PredictionLogStore } from '../core/ports';
import { errorResponse, type HttpRequest, type HttpResponse } from './http';
import type { ModelMetrics } from './request-metrics';

export interface FeedbackRouteOptions {
  /** Undefined: feedback is off here, every post is answered 404 FeedbackNotEnabled. */
  readonly store: PredictionLogStore | undefined;
  readonly maxBodyBytes: number;
  readonly now: () => number;
}

/** The feedback path of a model name: `/models/<name>/feedback`. */
export const FEEDBACK_PATH = /^\/models\/([^/]+)\/feedback\/?$/;

/** The data points of one recorded join. */
export function feedbackData(evaluation: FeedbackEvaluation): MetricDatum[] {
  const data: MetricDatum[] = [{ name: F.labels, unit: 'Count', value: evaluation.labels.length }];
  for (const c of evaluation.correct) data.push({ name: F.correct, unit: 'Count', value: c });
  for (const e of evaluation.absoluteErrors) data.push({ name: F.absoluteError, unit: 'Count', value: e });
  // MetricUnitName has no Seconds; the metric's name carries the unit.
  data.push({ name: F.labelLag, unit: 'Count', value: evaluation.labelLagSeconds });
  return data;
}

/** Handles one feedback request for a served model (already routed: path and POST checked). */
export function createFeedbackRoute(
  options: FeedbackRouteOptions,
): (
  model: { readonly name: string; readonly metrics: ModelMetrics },
  request: HttpRequest,
) => Promise<HttpResponse> {
  const { store, maxBodyBytes, now } = options;
  return async (m, request) => {
    const requestId = request.requestId;
    if (store === undefined) {
      return errorResponse(
        'FeedbackNotEnabled',
        `feedback is not enabled for model "${m.name}": set models[].feedback.sampleRate > 0 in modelops.config.ts and deploy`,
        requestId,
      );
    }
    let text = request.body;
    if (text === undefined || text === null) {
      return errorResponse('InvalidInput', 'the request has no body', requestId, [
        { path: '(body)', message: 'is missing; send {"requestId":"…","label":"…"}' },
      ]);
    }
    if (request.isBase64Encoded === true) {
      if (Math.floor((text.length * 3) / 4) > maxBodyBytes + 2) {
        return errorResponse('PayloadTooLarge', 'the request is too large', requestId, [
          { path: '(body)', message: `is larger than ${maxBodyBytes} bytes; send fewer labels per request` },
        ]);
      }
      text = Buffer.from(text, 'base64').toString('utf8');
    }
    const parsed = parseFeedbackBody(text, maxBodyBytes);
    if (!parsed.ok) {
      return parsed.status === 413
        ? errorResponse('PayloadTooLarge', 'the request is too large', requestId, parsed.errors)
        : errorResponse('InvalidInput', 'the feedback is invalid', requestId, parsed.errors);
    }
    const labelled = parsed.request.requestId;
    const logged = await store.getPrediction(m.name, labelled);
    const nowMs = now();
    const join = joinFeedback(logged, parsed.request, nowMs);
    switch (join.kind) {
      case 'not-found':
        return errorResponse(
          'PredictionNotFound',
          `no logged prediction of model "${m.name}" has request id "${labelled.slice(0, 128)}": only a sampled share ` +
            '(feedback.sampleRate) of requests is logged; label only request ids this model answered',
          requestId,
        );
      case 'expired':
        return errorResponse(
          'PredictionExpired',
          `the prediction "${labelled.slice(0, 128)}" expired at ${new Date(join.expiresAt * 1000).toISOString()} ` +
            '(feedback.ttlDays); labels must arrive within the TTL',
          requestId,
        );
      case 'invalid':
        return errorResponse('InvalidInput', 'the feedback is invalid', requestId, join.errors);
      case 'ok':
        break;
    }
    const item = logged!;
    const evaluation = join.evaluation;
    const result = await store.recordLabel(item, evaluation.labels, new Date(nowMs).toISOString());
    switch (result.kind) {
      case 'not-found':
        return errorResponse(
          'PredictionNotFound',
          `the prediction "${labelled.slice(0, 128)}" is no longer logged (it expired meanwhile)`,
          requestId,
        );
      case 'conflict':
        return errorResponse(
          'LabelConflict',
          `the prediction "${labelled.slice(0, 128)}" already has different labels (${JSON.stringify(result.existing).slice(0, 200)}); the first labels stand`,
          requestId,
        );
      case 'recorded':
        m.metrics.emit(m.metrics.version(item.version).both, feedbackData(evaluation));
        break;
      case 'duplicate':
        break;
    }
    return {
      statusCode: 200,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        model: m.name,
        version: item.version,
        labelledRequestId: labelled,
        outcome: result.kind,
        labels: evaluation.labels.length,
        requestId,
      }),
    };
  };
}
