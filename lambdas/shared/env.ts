/**
 * The one way handlers read their environment: fail fast, naming the variable and what it should hold.
 */
import { ConfigurationError } from '../core/errors';
import {
  AUDIT_LOG_TABLE,
  DEPLOYMENTS_TABLE,
  MAX_ARTIFACT_BYTES_ENV,
  MODEL_VERSIONS_TABLE,
  REGISTRY_BUCKET_ENV,
} from '../core/tables';

/** Comma-separated model names from modelops.config.ts; unset or empty accepts every model. */
export const CONFIGURED_MODELS_ENV = 'CONFIGURED_MODELS';

export function requireEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name]?.trim();
  if (!value) {
    throw new ConfigurationError(
      `environment variable ${name} is not set; the stack (or local mode) must set it on this function`,
    );
  }
  return value;
}

export function positiveIntegerEnv(name: string, env: NodeJS.ProcessEnv = process.env): number {
  const raw = requireEnv(name, env);
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new ConfigurationError(
      `environment variable ${name} must be a positive whole number, got "${raw}"`,
    );
  }
  return value;
}

export function listEnv(name: string, env: NodeJS.ProcessEnv = process.env): string[] {
  return (env[name] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export const env = {
  registryBucket: (e?: NodeJS.ProcessEnv) => requireEnv(REGISTRY_BUCKET_ENV, e),
  maxArtifactBytes: (e?: NodeJS.ProcessEnv) => positiveIntegerEnv(MAX_ARTIFACT_BYTES_ENV, e),
  modelVersionsTable: (e?: NodeJS.ProcessEnv) => requireEnv(MODEL_VERSIONS_TABLE.envVar, e),
  deploymentsTable: (e?: NodeJS.ProcessEnv) => requireEnv(DEPLOYMENTS_TABLE.envVar, e),
  auditLogTable: (e?: NodeJS.ProcessEnv) => requireEnv(AUDIT_LOG_TABLE.envVar, e),
  configuredModels: (e?: NodeJS.ProcessEnv) => listEnv(CONFIGURED_MODELS_ENV, e),
};

/**
 * An optional number: `fallback` when unset or empty, otherwise a number within [min, max] (a whole number when
 * `integer`), or a ConfigurationError naming the variable, the value and the accepted range.
 */
export function numberEnv(
  name: string,
  fallback: number,
  rule: { readonly min: number; readonly max?: number; readonly integer?: boolean },
  env: NodeJS.ProcessEnv = process.env,
): number {
  const raw = env[name]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  const max = rule.max ?? Number.MAX_SAFE_INTEGER;
  if (
    !Number.isFinite(value) ||
    value < rule.min ||
    value > max ||
    (rule.integer && !Number.isSafeInteger(value))
  ) {
    throw new ConfigurationError(
      `environment variable ${name} must be a ${rule.integer ? 'whole number' : 'number'} from ${rule.min} to ${max}, got "${raw}"`,
    );
  }
  return value;
}

/** Environment variables of the inference function and the SageMaker router (docs/inference.md). */
export const INFERENCE_ENV = {
  /** The model this function serves; requests for another model get 404. */
  modelName: 'MODEL_NAME',
  routingCacheTtlMs: 'ROUTING_CACHE_TTL_MS',
  maxBodyBytes: 'MAX_BODY_BYTES',
  maxBatch: 'MAX_BATCH',
  captureSampleRate: 'CAPTURE_SAMPLE_RATE',
  captureBatchRecords: 'CAPTURE_BATCH_RECORDS',
  captureMaxAgeMs: 'CAPTURE_MAX_AGE_MS',
  metricsNamespace: 'POWERTOOLS_METRICS_NAMESPACE',
  /** Router only: the SageMaker endpoint to invoke. */
  sageMakerEndpointName: 'SAGEMAKER_ENDPOINT_NAME',
} as const;
