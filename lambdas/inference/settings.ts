/** The inference app's settings: defaults and checks, shared by the app and `inferenceSettingsFromEnv`. */
import { captureSettingsIssues, DEFAULT_CAPTURE_SETTINGS, type CaptureSettings } from '../core/capture';
import { DEFAULT_INFERENCE_LIMITS, type InferenceLimits } from '../core/inference-request';

export interface InferenceSettings {
  /** How long a routing record is used before it is read again (ms). @default 5000 */
  readonly routingCacheTtlMs: number;
  readonly limits: InferenceLimits;
  readonly capture: CaptureSettings;
  /** Shadow mode: largest absolute difference of a probability or value that still counts as agreement. @default 1e-6 */
  readonly shadowTolerance: number;
  /**
   * Latency SLO threshold (ms) of every served model without its own entry in `latencyThresholdMsByModel`: an
   * answered request slower than this counts `SlowRequests` 1. @default 250 (DEFAULT_SLO in lib/config.ts)
   */
  readonly latencyThresholdMs: number;
  /** Per-model latency SLO thresholds (ms), for an app serving several models (local mode). @default {} */
  readonly latencyThresholdMsByModel: Readonly<Record<string, number>>;
  /**
   * Per-model request limits (config `models[].inference.maxBatch` / `maxBodyBytes`) for an app serving several
   * models (local mode); a model without an entry gets `limits`. @default {}
   */
  readonly limitsByModel: Readonly<Record<string, InferenceLimits>>;
}

export interface InferenceSettingsInput {
  readonly routingCacheTtlMs?: number;
  readonly limits?: Partial<InferenceLimits>;
  readonly capture?: Partial<CaptureSettings>;
  readonly shadowTolerance?: number;
  readonly latencyThresholdMs?: number;
  readonly latencyThresholdMsByModel?: Readonly<Record<string, number>>;
  readonly limitsByModel?: Readonly<Record<string, Partial<InferenceLimits>>>;
}

export const DEFAULT_ROUTING_CACHE_TTL_MS = 5_000;
export const DEFAULT_SHADOW_TOLERANCE = 1e-6;
/** The same as lib/config.ts DEFAULT_SLO.latency.thresholdMs (lambdas/ must not import lib/). */
export const DEFAULT_LATENCY_THRESHOLD_MS = 250;

/** The latency SLO threshold that applies to `model`. */
export function latencyThresholdFor(settings: InferenceSettings, model: string): number {
  return Object.hasOwn(settings.latencyThresholdMsByModel, model)
    ? settings.latencyThresholdMsByModel[model]!
    : settings.latencyThresholdMs;
}

/** The request limits that apply to `model`. */
export function limitsFor(settings: InferenceSettings, model: string): InferenceLimits {
  return Object.hasOwn(settings.limitsByModel, model) ? settings.limitsByModel[model]! : settings.limits;
}

/** Resolves settings with defaults and checks them; throws RangeError naming the bad value. */
export function resolveInferenceSettings(input: InferenceSettingsInput = {}): InferenceSettings {
  const limits = { ...DEFAULT_INFERENCE_LIMITS, ...input.limits };
  const settings: InferenceSettings = {
    routingCacheTtlMs: input.routingCacheTtlMs ?? DEFAULT_ROUTING_CACHE_TTL_MS,
    limits,
    limitsByModel: Object.fromEntries(
      Object.entries(input.limitsByModel ?? {}).map(([m, l]) => [m, { ...limits, ...l }]),
    ),
    capture: { ...DEFAULT_CAPTURE_SETTINGS, ...input.capture },
    shadowTolerance: input.shadowTolerance ?? DEFAULT_SHADOW_TOLERANCE,
    latencyThresholdMs: input.latencyThresholdMs ?? DEFAULT_LATENCY_THRESHOLD_MS,
    latencyThresholdMsByModel: { ...input.latencyThresholdMsByModel },
  };
  const issues = captureSettingsIssues(settings.capture);
  for (const [where, l] of [
    ['', settings.limits] as const,
    ...Object.entries(settings.limitsByModel).map(([m, l]) => [`limitsByModel.${m}.`, l] as const),
  ]) {
    const { maxBodyBytes, maxBatch, maxErrors } = l;
    for (const [name, v] of Object.entries({ maxBodyBytes, maxBatch, maxErrors })) {
      if (!Number.isSafeInteger(v) || v < 1)
        issues.push(`${where}${name} must be a whole number >= 1, got ${v}`);
    }
  }
  if (!Number.isFinite(settings.routingCacheTtlMs) || settings.routingCacheTtlMs < 0) {
    issues.push(`routingCacheTtlMs must be >= 0, got ${settings.routingCacheTtlMs}`);
  }
  if (!Number.isFinite(settings.shadowTolerance) || settings.shadowTolerance < 0) {
    issues.push(`shadowTolerance must be >= 0, got ${settings.shadowTolerance}`);
  }
  for (const [name, v] of Object.entries({
    latencyThresholdMs: settings.latencyThresholdMs,
    ...Object.fromEntries(
      Object.entries(settings.latencyThresholdMsByModel).map(([m, t]) => [
        `latencyThresholdMsByModel.${m}`,
        t,
      ]),
    ),
  })) {
    if (!Number.isFinite(v) || v <= 0) issues.push(`${name} must be > 0 (milliseconds), got ${v}`);
  }
  if (issues.length > 0) throw new RangeError(`invalid inference settings: ${issues.join('; ')}`);
  return settings;
}

export const errorName = (err: unknown): string => (err instanceof Error ? err.name : typeof err);
