/**
 * The one way handlers read their environment: fail fast, naming the variable and what it should hold.
 *
 * Reads go to the environment of the current Task invocation when one is in scope, and to `process.env` otherwise.
 * In Lambda nothing opens a scope, so this is exactly `process.env`. Local mode runs every handler of every state
 * machine in ONE process, where `process.env` holds the union of all functions' variables; a handler reading a table
 * its function is not bound to would work there and fail in AWS. So the local ASL runner runs each Task invocation
 * inside `withTaskEnvironment(...)` with exactly the variables its wiring row binds (plus the common AWS and
 * Powertools ones), and a read of anything else fails here, locally, with the same ConfigurationError as in Lambda.
 *
 * Why AsyncLocalStorage rather than swapping `process.env` per invocation: executions run concurrently (two pushes
 * at once, the inference server in the same process), and a swap would leak one function's variables into another's
 * awaits. The store follows each invocation's own async chain. It costs nothing where no scope is ever opened: the
 * storage enables its async hooks on the first `run()`, which only local mode calls.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { ConfigurationError } from '../core/errors';
import {
  AUDIT_LOG_TABLE,
  DEPLOYMENTS_TABLE,
  MAX_ARTIFACT_BYTES_ENV,
  MODEL_VERSIONS_TABLE,
  REGISTRY_BUCKET_ENV,
} from '../core/tables';
import { MODEL_LOCK_DAYS_ENV, MODEL_LOCK_MODE_ENV, type ModelLockMode } from '../core/object-lock';

/** Comma-separated model names from modelops.config.ts; unset or empty accepts every model. */
export const CONFIGURED_MODELS_ENV = 'CONFIGURED_MODELS';

/** JSON `{ "<model>": <maxBatch> }` from `models[].inference.maxBatch`: the serve-time contract's batch size. */
export const MODEL_MAX_BATCH_ENV = 'MODEL_MAX_BATCH';

/** MODEL_MAX_BATCH parsed; unset or empty is `{}` (every model gets the default limit). */
export function modelMaxBatchEnv(env: NodeJS.ProcessEnv = currentEnvironment()): Record<string, number> {
  const raw = env[MODEL_MAX_BATCH_ENV] ?? '';
  if (raw.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new ConfigurationError(
      `${MODEL_MAX_BATCH_ENV} is not JSON: ${(err as Error).message}; redeploy from modelops.config.ts`,
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigurationError(
      `${MODEL_MAX_BATCH_ENV} must be a JSON object of model name to maxBatch, got ${raw.slice(0, 80)}`,
    );
  }
  const limits: Record<string, number> = {};
  for (const [model, value] of Object.entries(parsed)) {
    if (!Number.isSafeInteger(value) || (value as number) < 1) {
      throw new ConfigurationError(
        `${MODEL_MAX_BATCH_ENV}.${model} must be a whole number >= 1, got ${JSON.stringify(value)}`,
      );
    }
    limits[model] = value as number;
  }
  return limits;
}

/** Per model, `models[].inference.maxBatch`: what validation's serve-time contract uses as the request limit. */
export function maxBatchByModel(
  models: readonly { name: string; inference: { maxBatch: number } }[],
): Record<string, number> {
  return Object.fromEntries(models.map((m) => [m.name, m.inference.maxBatch]));
}

/** The MODEL_MAX_BATCH value for `models`, as the stack and local mode set it. */
export function modelMaxBatchEnvValue(models: Parameters<typeof maxBatchByModel>[0]): string {
  return JSON.stringify(maxBatchByModel(models));
}

/**
 * The environment of one local function: exactly the variables its wiring row binds. Records which variables the
 * handler read, so tests can compare what a row grants with what its handler uses.
 */
export class TaskEnvironment {
  /** What the env helpers read while this environment is in scope; unknown names read as unset. */
  readonly env: NodeJS.ProcessEnv;
  private readonly readNames = new Set<string>();

  /** Values known only once local mode runs (e.g. the inference server's URL); see `provide`. */
  private readonly values: Record<string, string>;

  constructor(readonly variables: Readonly<Record<string, string>>) {
    const values: Record<string, string> = { ...variables };
    this.values = values;
    const reads = this.readNames;
    this.env = new Proxy({} as NodeJS.ProcessEnv, {
      get: (_target, name) => {
        if (typeof name !== 'string') return undefined;
        reads.add(name);
        return Object.hasOwn(values, name) ? values[name] : undefined;
      },
      has: (_target, name) => typeof name === 'string' && Object.hasOwn(values, name),
      ownKeys: () => Object.keys(values),
      getOwnPropertyDescriptor: (_target, name) =>
        typeof name === 'string' && Object.hasOwn(values, name)
          ? { value: values[name], enumerable: true, configurable: true, writable: false }
          : undefined,
      set: () => false,
    });
  }

  /** Sets a variable this environment already binds, to a value known only after local mode started. */
  provide(name: string, value: string): void {
    if (!Object.hasOwn(this.values, name))
      throw new ConfigurationError(`${name} is not bound to this function`);
    this.values[name] = value;
  }

  /** Every variable name read through the env helpers in this environment so far, set or not. */
  reads(): ReadonlySet<string> {
    return new Set(this.readNames);
  }
}

const taskScope = new AsyncLocalStorage<TaskEnvironment>();

/** Runs `fn` (and everything it awaits) with `environment` as the only environment the env helpers see. */
export function withTaskEnvironment<T>(environment: TaskEnvironment, fn: () => T): T {
  return taskScope.run(environment, fn);
}

/** The environment env helpers read by default: the current Task's when local mode opened one, else process.env. */
export function currentEnvironment(): NodeJS.ProcessEnv {
  return taskScope.getStore()?.env ?? process.env;
}

export function requireEnv(name: string, env: NodeJS.ProcessEnv = currentEnvironment()): string {
  const value = env[name]?.trim();
  if (!value) {
    throw new ConfigurationError(
      `environment variable ${name} is not set; the stack (or local mode) must set it on this function`,
    );
  }
  return value;
}

export function positiveIntegerEnv(name: string, env: NodeJS.ProcessEnv = currentEnvironment()): number {
  const raw = requireEnv(name, env);
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new ConfigurationError(
      `environment variable ${name} must be a positive whole number, got "${raw}"`,
    );
  }
  return value;
}

export function listEnv(name: string, env: NodeJS.ProcessEnv = currentEnvironment()): string[] {
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
  modelMaxBatch: (e?: NodeJS.ProcessEnv) => modelMaxBatchEnv(e),
  /** Powertools' namespace, set on every ModelOps function (config `monitoring.namespace`). */
  metricsNamespace: (e?: NodeJS.ProcessEnv) => requireEnv(INFERENCE_ENV.metricsNamespace, e),
  modelLock: (e?: NodeJS.ProcessEnv) => modelLockEnv(e),
};

/**
 * The Object Lock retention RegisterVersion puts on models/ copies: MODEL_LOCK_MODE and MODEL_LOCK_DAYS, both set or
 * both unset/empty (no lock requested). One without the other, or a bad value, is a ConfigurationError.
 */
export function modelLockEnv(
  env: NodeJS.ProcessEnv = currentEnvironment(),
): { readonly mode: ModelLockMode; readonly days: number } | undefined {
  const mode = env[MODEL_LOCK_MODE_ENV]?.trim();
  const days = env[MODEL_LOCK_DAYS_ENV]?.trim();
  if (!mode && !days) return undefined;
  if (!mode || !days) {
    const missing = mode ? MODEL_LOCK_DAYS_ENV : MODEL_LOCK_MODE_ENV;
    throw new ConfigurationError(
      `environment variable ${missing} is not set but ${mode ? MODEL_LOCK_MODE_ENV : MODEL_LOCK_DAYS_ENV} is; set both (config.registry.objectLock) or neither`,
    );
  }
  if (mode !== 'GOVERNANCE' && mode !== 'COMPLIANCE') {
    throw new ConfigurationError(
      `environment variable ${MODEL_LOCK_MODE_ENV} must be "GOVERNANCE" or "COMPLIANCE", got "${mode}"`,
    );
  }
  const n = Number(days);
  if (!Number.isSafeInteger(n) || n < 1 || n > 36_500) {
    throw new ConfigurationError(
      `environment variable ${MODEL_LOCK_DAYS_ENV} must be a whole number of days from 1 to 36500, got "${days}"`,
    );
  }
  return { mode, days: n };
}

/**
 * An optional number: `fallback` when unset or empty, otherwise a number within [min, max] (a whole number when
 * `integer`), or a ConfigurationError naming the variable, the value and the accepted range.
 */
export function numberEnv(
  name: string,
  fallback: number,
  rule: { readonly min: number; readonly max?: number; readonly integer?: boolean },
  env: NodeJS.ProcessEnv = currentEnvironment(),
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
  /** Feedback: share of requests logged to the PredictionLog table (with PREDICTION_LOG_TABLE set). */
  feedbackSampleRate: 'FEEDBACK_SAMPLE_RATE',
  /** Feedback: days a logged prediction accepts labels. */
  feedbackTtlDays: 'FEEDBACK_TTL_DAYS',
  /** The model's latency SLO threshold (ms): answered requests slower than this count `SlowRequests` 1. */
  sloLatencyThresholdMs: 'SLO_LATENCY_THRESHOLD_MS',
  /** Drift counting: seconds between flushes to DriftCounters (set only when the model's `drift.enabled`). */
  driftFlushSeconds: 'DRIFT_FLUSH_SECONDS',
  /** Router only: the SageMaker endpoint to invoke. */
  sageMakerEndpointName: 'SAGEMAKER_ENDPOINT_NAME',
} as const;
