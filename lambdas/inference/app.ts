/**
 * Public surface of the inference app, plus its ONNX wiring. The core is in ./inference-app.ts (no native code);
 * the SageMaker router imports that module and ./from-env.ts directly so that it never loads ONNX Runtime.
 */
import type { ModelRuntime } from '../core/model-runtime';
import { createOnnxBackend } from './backend';
import { createInferenceAppFromEnv, type InferenceAppFromEnvOptions } from './from-env';
import type { InferenceApp } from './inference-app';

export {
  BackendError,
  createOnnxBackend,
  UnsupportedArtifactError,
  type BackendModel,
  type InferenceBackend,
} from './backend';
export {
  createInferenceAppFromEnv,
  inferenceSettingsFromEnv,
  type InferenceAppFromEnvOptions,
} from './from-env';
export { ERROR_STATUS, VERSION_HEADER, type ErrorCode, type HttpRequest, type HttpResponse } from './http';
export {
  createInferenceApp,
  DEFAULT_ROUTING_CACHE_TTL_MS,
  DEFAULT_SHADOW_TOLERANCE,
  resolveInferenceSettings,
  VersionUnavailableError,
  type InferenceApp,
  type InferenceAppOptions,
  type InferenceLogger,
  type InferenceSettings,
  type InferenceSettingsInput,
  type RoutingSource,
} from './inference-app';
export {
  dimensionKey,
  INFERENCE_METRICS,
  InMemoryMetricsSink,
  METRIC_DIMENSIONS,
  NoopMetricsSink,
  type MetricDatum,
  type MetricDimensions,
  type MetricSeries,
  type MetricsSink,
} from './metrics';

/** onnxruntime-node, required on first model load only (it is a layer in Lambda, external to the bundle). */
const loadOnnxRuntime = async (): Promise<ModelRuntime> => {
  const { OnnxModelRuntime } = await import('../adapters/onnx-model-runtime');
  return new OnnxModelRuntime();
};

/**
 * The app with the in-process ONNX backend on the AWS adapters, configured from the environment. The Lambda handler
 * calls it with `models: [MODEL_NAME]` (the default) and Powertools metrics (the default); local mode with the
 * configured models and an `InMemoryMetricsSink`.
 */
export function createOnnxInferenceAppFromEnv(
  options: Omit<InferenceAppFromEnvOptions, 'backend'> = {},
): InferenceApp {
  return createInferenceAppFromEnv({ ...options, backend: createOnnxBackend(loadOnnxRuntime) });
}
