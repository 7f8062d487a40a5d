/** Function URL (payload format 2.0) ⇄ the app's HttpRequest/HttpResponse, and the handler both serving functions export. */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { parseWarmCandidateEvent, type WarmCandidateResult } from '../core/candidate-warm';
import type { HttpRequest, HttpResponse } from './http';
import type { InferenceApp } from './inference-app';

export function toHttpRequest(event: APIGatewayProxyEventV2): HttpRequest {
  const body = event.body;
  return {
    method: event.requestContext?.http?.method ?? 'GET',
    path: event.rawPath ?? '/',
    headers: event.headers ?? {},
    ...(body === undefined ? {} : { body }),
    isBase64Encoded: event.isBase64Encoded === true,
    requestId: event.requestContext?.requestId ?? 'unknown',
  };
}

export function toLambdaResult(response: HttpResponse): APIGatewayProxyStructuredResultV2 {
  return {
    statusCode: response.statusCode,
    headers: response.headers,
    body: response.body,
    isBase64Encoded: false,
  };
}

/**
 * The Lambda handler of a serving function (the ONNX inference function, the SageMaker router): Function URL
 * requests go to the app. One other event is answered: DeployCandidate's warm-up,
 * `{"modelopsWarmCandidate":{"model":…,"version":…}}` exactly (lambdas/core/candidate-warm.ts), sent by direct Invoke
 * of the alias (only the DeployCandidate role may). A Function URL request always arrives as a payload 2.0 event, so
 * it can never take that path.
 */
export function servingHandler(
  app: InferenceApp,
): (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2 | WarmCandidateResult> {
  return async (event) => {
    const warm = parseWarmCandidateEvent(event);
    if (warm.kind === 'warm') return app.warmCandidate(warm.request);
    if (warm.kind === 'refused') {
      return { outcome: 'refused', model: '', version: '', message: warm.message, samples: [] };
    }
    return toLambdaResult(await app(toHttpRequest(event)));
  };
}
