/** Function URL (payload format 2.0) ⇄ the app's HttpRequest/HttpResponse. */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { HttpRequest, HttpResponse } from './http';

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
