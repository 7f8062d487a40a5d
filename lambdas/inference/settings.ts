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
}

export interface InferenceSettingsInput {
  readonly routingCacheTtlMs?: number;
  readonly limits?: Partial<InferenceLimits>;
  readonly capture?: Partial<CaptureSettings>;
  readonly shadowTolerance?: number;
}

export const DEFAULT_ROUTING_CACHE_TTL_MS = 5_000;
export const DEFAULT_SHADOW_TOLERANCE = 1e-6;

/** Resolves settings with defaults and checks them; throws RangeError naming the bad value. */
export function resolveInferenceSettings(input: InferenceSettingsInput = {}): InferenceSettings {
  const settings: InferenceSettings = {
    routingCacheTtlMs: input.routingCacheTtlMs ?? DEFAULT_ROUTING_CACHE_TTL_MS,
    limits: { ...DEFAULT_INFERENCE_LIMITS, ...input.limits },
    capture: { ...DEFAULT_CAPTURE_SETTINGS, ...input.capture },
    shadowTolerance: input.shadowTolerance ?? DEFAULT_SHADOW_TOLERANCE,
  };
  const issues = captureSettingsIssues(settings.capture);
  const { maxBodyBytes, maxBatch, maxErrors } = settings.limits;
  for (const [name, v] of Object.entries({ maxBodyBytes, maxBatch, maxErrors })) {
    if (!Number.isSafeInteger(v) || v < 1) issues.push(`${name} must be a whole number >= 1, got ${v}`);
  }
  if (!Number.isFinite(settings.routingCacheTtlMs) || settings.routingCacheTtlMs < 0) {
    issues.push(`routingCacheTtlMs must be >= 0, got ${settings.routingCacheTtlMs}`);
  }
  if (!Number.isFinite(settings.shadowTolerance) || settings.shadowTolerance < 0) {
    issues.push(`shadowTolerance must be >= 0, got ${settings.shadowTolerance}`);
  }
  if (issues.length > 0) throw new RangeError(`invalid inference settings: ${issues.join('; ')}`);
  return settings;
}

export const errorName = (err: unknown): string => (err instanceof Error ? err.name : typeof err);
