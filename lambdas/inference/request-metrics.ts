/**
 * The inference path's metric accounting (docs/inference.md, Metrics). The rule:
 *
 * - `{Model}` counts what the client saw, once per request: `Requests` 1, `Errors` 1 only for a 5xx answer,
 *   `InvalidInput` 1 for a 400/413, `Latency` for answered requests, and `SlowRequests` 0/1 for answered requests
 *   (1 when slower than the model's latency SLO threshold; the latency SLI's bad count).
 * - `{Model, Version}` counts each version for what it did. The version that answered carries the same request
 *   group as `{Model}` (one EMF blob for both sets). A version that was tried and could not serve (integrity
 *   refusal, unreadable manifest, load failure) is counted under its own `{Model, Version}` only: `Requests` 1,
 *   `Errors` 1, and `Fallbacks` 1 when another version then answered. So a broken candidate shows a 100 % error
 *   rate to the canary judge while `{Model}` shows the successful fallback as one good request.
 * - `IntegrityFailures` 1 per refusal under both sets (an incident count, not a request outcome).
 *
 * - `{Model, Arm}` (Arm = candidate | stable) is added to the version's sets while a canary routes traffic (the
 *   caller passes the arm): it counts what `{Model, Version}` counts, under a name that does not change with the
 *   version, so CloudWatch alarms can watch "the candidate" statically.
 *
 * Dimension-set arrays are built once per version (and arm) and reused: sinks key their series by these objects.
 */
import {
  INFERENCE_METRICS as M,
  ARM_DIMENSION,
  METRIC_DIMENSIONS,
  type ArmValue,
  type MetricDatum,
  type MetricDimensions,
  type MetricsSink,
  type StructuredLogger,
} from '../core/ports';
import { errorName } from './settings';

export type RequestOutcome = 'ok' | 'invalid' | 'error';

/** The dimension sets of one version: `[{Model, Version}, {Model}]` and `[{Model, Version}]`. */
export interface VersionDims {
  readonly both: readonly MetricDimensions[];
  readonly versionOnly: readonly MetricDimensions[];
}

export interface ModelMetrics {
  /** `[{Model}]`. */
  readonly modelDims: readonly MetricDimensions[];
  /** With `arm`, the sets also carry `{Model, Arm}` (only while routing has a canary candidate). */
  version(version: string, arm?: ArmValue): VersionDims;
  /** The request's own outcome, counted once (under `dims`: a version's `both`, or `modelDims`). */
  request(dims: readonly MetricDimensions[], outcome: RequestOutcome, latencyMs?: number): void;
  /** A version that was tried and could not serve; see the file header. */
  failedArm(version: string, fellBack: boolean, arm?: ArmValue): void;
  /** An artifact's sha256 did not match: the version was refused. */
  integrityFailure(version: string): void;
  emit(dims: readonly MetricDimensions[], data: readonly MetricDatum[]): void;
}

// The constant data points, shared by every request (sinks only read them).
const REQUEST: MetricDatum = { name: M.requests, unit: 'Count', value: 1 };
const ERROR_0: MetricDatum = { name: M.errors, unit: 'Count', value: 0 };
const ERROR_1: MetricDatum = { name: M.errors, unit: 'Count', value: 1 };
const INVALID_0: MetricDatum = { name: M.invalidInput, unit: 'Count', value: 0 };
const INVALID_1: MetricDatum = { name: M.invalidInput, unit: 'Count', value: 1 };
const COLD_START: MetricDatum = { name: M.coldStart, unit: 'Count', value: 1 };
const FAILED_ARM: readonly MetricDatum[] = [REQUEST, ERROR_1];
const FELL_BACK: readonly MetricDatum[] = [REQUEST, ERROR_1, { name: M.fallbacks, unit: 'Count', value: 1 }];
const INTEGRITY_FAILURE: readonly MetricDatum[] = [{ name: M.integrityFailures, unit: 'Count', value: 1 }];
const SLOW_0: MetricDatum = { name: M.slowRequests, unit: 'Count', value: 0 };
const SLOW_1: MetricDatum = { name: M.slowRequests, unit: 'Count', value: 1 };

/** One accounting per app: the cold start is counted once per process, on its first request of any model. */
export function createRequestMetrics(
  sink: MetricsSink,
  logger: StructuredLogger,
): { forModel(name: string, slowThresholdMs?: number): ModelMetrics; flush(): void } {
  let coldStart = true;
  const emit = (dims: readonly MetricDimensions[], data: readonly MetricDatum[]): void => {
    try {
      sink.emit(dims, data);
    } catch (err) {
      logger.warn('metrics sink failed', { error: errorName(err) });
    }
  };

  /**
   * `slowThresholdMs`: the model's latency SLO threshold; each answered request also counts `SlowRequests` 0/1
   * against it (the latency SLI's bad count). Without it no `SlowRequests` is emitted.
   */
  const forModel = (name: string, slowThresholdMs?: number): ModelMetrics => {
    const modelSet: MetricDimensions = { [METRIC_DIMENSIONS.model]: name };
    const modelDims = [modelSet];
    const versions = new Map<string, VersionDims>();
    // One map per arm, so the lookup key stays the version string (no per-request key concatenation).
    const armVersions: Record<ArmValue, Map<string, VersionDims>> = {
      candidate: new Map(),
      stable: new Map(),
    };
    const armSets: Record<ArmValue, MetricDimensions> = {
      candidate: { [METRIC_DIMENSIONS.model]: name, [ARM_DIMENSION]: 'candidate' },
      stable: { [METRIC_DIMENSIONS.model]: name, [ARM_DIMENSION]: 'stable' },
    };
    const version = (v: string, arm?: ArmValue): VersionDims => {
      const cache = arm === undefined ? versions : armVersions[arm];
      let dims = cache.get(v);
      if (dims === undefined) {
        const set: MetricDimensions = { [METRIC_DIMENSIONS.model]: name, [METRIC_DIMENSIONS.version]: v };
        dims =
          arm === undefined
            ? { both: [set, modelSet], versionOnly: [set] }
            : { both: [set, modelSet, armSets[arm]], versionOnly: [set, armSets[arm]] };
        cache.set(v, dims);
      }
      return dims;
    };
    return {
      modelDims,
      version,
      request(dims, outcome, latencyMs) {
        const data: MetricDatum[] = [
          REQUEST,
          outcome === 'error' ? ERROR_1 : ERROR_0,
          outcome === 'invalid' ? INVALID_1 : INVALID_0,
        ];
        // Latency of successful requests only: the latency SLI must not be flattered by fast refusals.
        if (latencyMs !== undefined) {
          data.push({ name: M.latency, unit: 'Milliseconds', value: latencyMs, highResolution: true });
          // Shared constant data points, like Errors: the only per-request allocation stays the Latency datum.
          if (slowThresholdMs !== undefined) data.push(latencyMs > slowThresholdMs ? SLOW_1 : SLOW_0);
        }
        if (coldStart) {
          coldStart = false;
          data.push(COLD_START);
        }
        emit(dims, data);
      },
      failedArm(v, fellBack, arm) {
        emit(version(v, arm).versionOnly, fellBack ? FELL_BACK : FAILED_ARM);
      },
      integrityFailure(v) {
        emit(version(v).both, INTEGRITY_FAILURE);
      },
      emit,
    };
  };

  return {
    forModel,
    flush() {
      try {
        sink.flush();
      } catch (err) {
        logger.warn('metrics flush failed', { error: errorName(err) });
      }
    },
  };
}
