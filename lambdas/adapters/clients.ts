/**
 * AWS SDK clients, created once per execution environment. Endpoints come from the SDK's own variables
 * (AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_DYNAMODB, AWS_ENDPOINT_URL), which is how local mode points the very same
 * adapters at s3rver and dynalite.
 *
 * X-Ray subsegments for these clients are opt-in per function through {@link traceSdkClients}, which
 * lambdas/shared/powertools.ts calls for the release functions. This module does not import the Tracer itself: the
 * X-Ray SDK it loads costs the inference function tens of milliseconds of cold start and installs async hooks that
 * tax every promise on the hot path (≈ 7 % of local HTTP throughput). Lambda's active tracing still records the
 * inference invocations.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { TransientStoreError } from '../core/errors';

/** True when an S3 endpoint override is set: emulators (s3rver) only understand path-style addressing. */
export function usesCustomS3Endpoint(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL);
}

export const s3Client: S3Client = new S3Client({ forcePathStyle: usesCustomS3Endpoint() });

const dynamoClient = new DynamoDBClient({});

/** The document client every metadata store uses: the handlers', the CLI's and the tests' (same marshalling). */
export function createDocumentClient(client: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, {
    marshallOptions: {
      // Records carry optional fields; absent ones are simply not stored.
      removeUndefinedValues: true,
      // The marshaller recognises a plain object by its `constructor`, so a record keyed by user-chosen names
      // (metrics) with an own "constructor" key would otherwise be refused as an unsupported type.
      convertClassInstanceToMap: true,
    },
  });
}

export const dynamoDocumentClient: DynamoDBDocumentClient = createDocumentClient(dynamoClient);

/** What {@link traceSdkClients} needs of Powertools' Tracer. */
export interface SdkClientTracer {
  captureAWSv3Client<T>(client: T): T;
}

let traced = false;

/**
 * Adds X-Ray subsegments for the calls of the shared clients (Powertools `captureAWSv3Client` adds a middleware to
 * the client in place, so the exported instances are traced). Idempotent.
 */
export function traceSdkClients(tracer: SdkClientTracer): void {
  if (traced) return;
  traced = true;
  tracer.captureAWSv3Client(s3Client);
  // The document client sends through the base client's middleware stack.
  tracer.captureAWSv3Client(dynamoClient);
}

interface SdkErrorShape {
  readonly name?: string;
  readonly code?: string;
  readonly $retryable?: unknown;
  readonly $metadata?: { readonly httpStatusCode?: number };
}

const TRANSIENT_NAMES = new Set([
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
  'RequestLimitExceeded',
  'ProvisionedThroughputExceededException',
  'TooManyRequestsException',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  'InternalError',
  'InternalServerError',
  'InternalFailure',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  // S3: a concurrent conditional write to the same key is in flight; retrying decides it.
  'ConditionalRequestConflict',
]);
const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
]);

/** Throttling, 5xx and network failures: worth retrying with backoff (the ASL does, on TransientStoreError). */
export function isTransientSdkError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as SdkErrorShape;
  const status = e.$metadata?.httpStatusCode ?? 0;
  return (
    TRANSIENT_NAMES.has(e.name ?? '') ||
    TRANSIENT_CODES.has(e.code ?? '') ||
    Boolean(e.$retryable) ||
    status === 429 ||
    status >= 500
  );
}

export function isNotFound(err: unknown): boolean {
  const e = err as SdkErrorShape;
  return e?.name === 'NotFound' || e?.name === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404;
}

export function httpStatus(err: unknown): number | undefined {
  return (err as SdkErrorShape)?.$metadata?.httpStatusCode;
}

/** Maps an SDK failure to `TransientStoreError` when retryable; other errors pass through unchanged. */
export function mapStoreError(err: unknown, operation: string): unknown {
  if (err instanceof TransientStoreError || !isTransientSdkError(err)) return err;
  const e = err as SdkErrorShape & { message?: string };
  return new TransientStoreError(
    `${operation} failed transiently (${e.name ?? 'Error'}: ${e.message ?? ''})`,
    {
      cause: err,
    },
  );
}
