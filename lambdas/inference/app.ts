/**
 * The inference app with its ONNX wiring. The app itself is in ./inference-app.ts (no native code); the SageMaker
 * router imports that module and ./from-env.ts directly so that it never loads ONNX Runtime.
 */
import { createOnnxBackend } from '../adapters/onnx-backend';
import type { ModelRuntime } from '../core/model-runtime';
import { createInferenceAppFromEnv, type InferenceAppFromEnvOptions } from './from-env';
import type { InferenceApp } from './inference-app';

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
