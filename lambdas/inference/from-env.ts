/**
 * Wires the inference app from environment variables (table in docs/inference.md) with the AWS adapters: S3
 * registry, DynamoDB routing and ModelVersions reads, S3 capture, Powertools metrics and logger. Shared by the Lambda
 * handler, the SageMaker router and local mode; none of it imports ONNX Runtime (lambdas/inference/app.ts adds the
 * ONNX backend).
 */
import { S3CaptureWriter } from '../adapters/capture-writer';
import { DynamoDeploymentStore } from '../adapters/dynamo-deployment-store';
import { DynamoPredictionLog } from '../adapters/dynamo-prediction-log';
import { PREDICTION_LOG_TABLE } from '../core/tables';
import type { FeedbackServingSettings } from './prediction-log-hook';
import { DynamoVersionStore } from '../adapters/dynamo-version-store';
import { PowertoolsMetricsSink } from '../adapters/powertools-metrics-sink';
import { S3RegistryStore } from '../adapters/s3-registry-store';
import { modelSignerFromEnv } from '../adapters/signer-from-env';
import { DEFAULT_CAPTURE_SETTINGS } from '../core/capture';
import { DEFAULT_INFERENCE_LIMITS } from '../core/inference-request';
import { env as envVars, INFERENCE_ENV, numberEnv, requireEnv } from '../shared/env';
import { logger as powertoolsLogger } from './logger';
import {
  createInferenceApp,
  DEFAULT_LATENCY_THRESHOLD_MS,
  DEFAULT_ROUTING_CACHE_TTL_MS,
  type InferenceApp,
  type InferenceAppOptions,
  type InferenceSettingsInput,
} from './inference-app';
import type { InferenceBackend, MetricsSink, ModelSigner, StructuredLogger } from '../core/ports';
import { DynamoDriftCounterStore } from '../adapters/dynamo-drift-counters';
import { dynamoDocumentClient } from '../adapters/clients';
import { DRIFT_COUNTERS_TABLE } from '../core/tables';
import { createDriftHook, type DriftHook } from './drift-hook';

/** Set by the endpoint construct when the model's `drift.enabled` is true: config `drift.flushSeconds`. */
export const DRIFT_FLUSH_SECONDS_ENV = INFERENCE_ENV.driftFlushSeconds;

/**
 * The drift counting hook when DRIFT_FLUSH_SECONDS and DRIFT_COUNTERS_TABLE are set, else undefined (counting off
 * costs nothing: no hook is installed).
 */
export function driftHookFromEnv(env: NodeJS.ProcessEnv, logger: StructuredLogger): DriftHook | undefined {
  if (env[DRIFT_FLUSH_SECONDS_ENV] === undefined) return undefined;
  const flushSeconds = numberEnv(DRIFT_FLUSH_SECONDS_ENV, 60, { min: 1, max: 300, integer: true }, env);
  const table = requireEnv(DRIFT_COUNTERS_TABLE.envVar, env);
  return createDriftHook({
    store: new DynamoDriftCounterStore(dynamoDocumentClient, table),
    logger,
    now: Date.now,
    flushSeconds,
  });
}

/** Settings from ROUTING_CACHE_TTL_MS, MAX_BODY_BYTES, MAX_BATCH and CAPTURE_*, with the contract's defaults. */
export function inferenceSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): InferenceSettingsInput {
  return {
    routingCacheTtlMs: numberEnv(
      INFERENCE_ENV.routingCacheTtlMs,
      DEFAULT_ROUTING_CACHE_TTL_MS,
      { min: 0, max: 3_600_000, integer: true },
      env,
    ),
    latencyThresholdMs: numberEnv(
      INFERENCE_ENV.sloLatencyThresholdMs,
      DEFAULT_LATENCY_THRESHOLD_MS,
      { min: 1, max: 900_000, integer: true },
      env,
    ),
    limits: {
      maxBodyBytes: numberEnv(
        INFERENCE_ENV.maxBodyBytes,
        DEFAULT_INFERENCE_LIMITS.maxBodyBytes,
        // A Function URL accepts at most 6 MB of request payload.
        { min: 1, max: 6 * 1024 * 1024, integer: true },
        env,
      ),
      maxBatch: numberEnv(
        INFERENCE_ENV.maxBatch,
        DEFAULT_INFERENCE_LIMITS.maxBatch,
        { min: 1, max: 100_000, integer: true },
        env,
      ),
    },
    capture: {
      sampleRate: numberEnv(
        INFERENCE_ENV.captureSampleRate,
        DEFAULT_CAPTURE_SETTINGS.sampleRate,
        { min: 0, max: 1 },
        env,
      ),
      batchRecords: numberEnv(
        INFERENCE_ENV.captureBatchRecords,
        DEFAULT_CAPTURE_SETTINGS.batchRecords,
        { min: 1, max: 100_000, integer: true },
        env,
      ),
      maxAgeMs: numberEnv(
        INFERENCE_ENV.captureMaxAgeMs,
        DEFAULT_CAPTURE_SETTINGS.maxAgeMs,
        { min: 0, max: 86_400_000, integer: true },
        env,
      ),
    },
  };
}

export interface InferenceAppFromEnvOptions {
  /** @default [MODEL_NAME] */
  readonly models?: readonly string[];
  /** @default Powertools Metrics (EMF) in namespace POWERTOOLS_METRICS_NAMESPACE */
  readonly metrics?: MetricsSink;
  readonly backend: InferenceBackend;
  /** @default the shared Powertools Logger */
  readonly logger?: StructuredLogger;
  /** See {@link InferenceAppOptions.hooks}. @default [] */
  readonly hooks?: InferenceAppOptions['hooks'];
  /** See {@link InferenceAppOptions.warmUp}. @default false */
  readonly warmUp?: boolean;
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Per-model feedback settings (local mode serves several models from one process and passes the config's).
   * @default FEEDBACK_SAMPLE_RATE and FEEDBACK_TTL_DAYS for every model
   */
  readonly feedbackSettings?: (model: string) => FeedbackServingSettings | undefined;
  /** Per-model latency SLO thresholds (ms) for an app serving several models (local mode). @default {} */
  readonly latencyThresholdMsByModel?: Readonly<Record<string, number>>;
  /**
   * Per-model request limits for an app serving several models (local mode passes the config's, resolved by
   * `modelInferenceLimits` in lib/config.ts). @default MAX_BATCH and MAX_BODY_BYTES for every model
   */
  readonly limitsByModel?: InferenceSettingsInput['limitsByModel'];
}

/** Default feedback settings (config defaults: sampleRate 0, ttlDays 30). */
export const DEFAULT_FEEDBACK_SERVING: FeedbackServingSettings = { sampleRate: 0, ttlDays: 30 };

/** FEEDBACK_SAMPLE_RATE and FEEDBACK_TTL_DAYS, validated, with the config's defaults. */
export function feedbackSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): FeedbackServingSettings {
  return {
    sampleRate: numberEnv(
      INFERENCE_ENV.feedbackSampleRate,
      DEFAULT_FEEDBACK_SERVING.sampleRate,
      { min: 0, max: 1 },
      env,
    ),
    ttlDays: numberEnv(
      INFERENCE_ENV.feedbackTtlDays,
      DEFAULT_FEEDBACK_SERVING.ttlDays,
      { min: 1, max: 365, integer: true },
      env,
    ),
  };
}

/** Builds the app on the AWS adapters. Throws ConfigurationError naming a missing or malformed variable. */
export function createInferenceAppFromEnv(options: InferenceAppFromEnvOptions): InferenceApp {
  const env = options.env ?? process.env;
  const bucket = envVars.registryBucket(env);
  // Read now, so a missing variable fails the cold start rather than the first request.
  const deploymentsTable = envVars.deploymentsTable(env);
  const versions = DynamoVersionStore.fromEnv(env);
  const models = options.models ?? [requireEnv(INFERENCE_ENV.modelName, env)];
  const settings: InferenceSettingsInput = {
    ...inferenceSettingsFromEnv(env),
    ...(options.latencyThresholdMsByModel
      ? { latencyThresholdMsByModel: options.latencyThresholdMsByModel }
      : {}),
    ...(options.limitsByModel ? { limitsByModel: options.limitsByModel } : {}),
  };
  const metrics =
    options.metrics ??
    new PowertoolsMetricsSink({ namespace: requireEnv(INFERENCE_ENV.metricsNamespace, env) });
  const routing = new DynamoDeploymentStore(deploymentsTable);
  // Feedback is on where the stack bound the PredictionLog table; read now so a bad setting fails the cold start.
  const predictionLogTable = env[PREDICTION_LOG_TABLE.envVar]?.trim();
  const fixedFeedback = predictionLogTable ? feedbackSettingsFromEnv(env) : undefined;
  return createInferenceApp({
    models,
    registry: new S3RegistryStore(bucket),
    versions: { getVersion: (model, version) => versions.getVersion(model, version) },
    routing: { getDeployment: (model) => routing.getDeployment(model) },
    backend: options.backend,
    settings,
    metrics,
    logger: options.logger ?? powertoolsLogger,
    ...((settings.capture?.sampleRate ?? 0) > 0 ? { capture: new S3CaptureWriter(bucket) } : {}),
    ...hooksWithDrift(options.hooks, driftHookFromEnv(env, options.logger ?? powertoolsLogger)),
    warmUp: options.warmUp === true,
    ...(predictionLogTable
      ? {
          feedback: {
            store: new DynamoPredictionLog(predictionLogTable),
            settings: options.feedbackSettings ?? (() => fixedFeedback),
          },
        }
      : {}),
    // MODEL_SIGNING_KEY_ID (CDK: the signing key ARN, kms:Verify; local mode: the local key directory).
    ...signerOption(env),
  });
}

function signerOption(env: NodeJS.ProcessEnv): { signer?: ModelSigner } {
  const signer = modelSignerFromEnv(env);
  return signer ? { signer } : {};
}

function hooksWithDrift(
  hooks: InferenceAppOptions['hooks'] | undefined,
  drift: DriftHook | undefined,
): { hooks?: InferenceAppOptions['hooks'] } {
  if (drift === undefined) return hooks ? { hooks } : {};
  return { hooks: [...(hooks ?? []), drift] };
}
