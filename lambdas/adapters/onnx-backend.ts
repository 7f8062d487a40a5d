/**
 * The in-process ONNX Runtime backend: `InferenceBackend` (lambdas/core/ports.ts) over the `ModelRuntime` port.
 */
import { batchedPredict } from '../core/batch-runs';
import { UnsupportedArtifactError } from '../core/errors';
import type { LoadedModel, ModelRuntime } from '../core/model-runtime';
import type { InferenceBackend } from '../core/ports';

const KEYS_CHECKED = { keysChecked: true } as const;

/**
 * In-process ONNX Runtime. `runtime` is the ModelRuntime port, or a function that provides it on first load, so
 * the native module is required only when a model is actually loaded (and never by code that merely imports this
 * file, such as the SageMaker router).
 */
export function createOnnxBackend(runtime: ModelRuntime | (() => Promise<ModelRuntime>)): InferenceBackend {
  let resolved: Promise<ModelRuntime> | undefined;
  const getRuntime = (): Promise<ModelRuntime> =>
    (resolved ??= typeof runtime === 'function' ? runtime() : Promise.resolve(runtime));
  return {
    kind: 'in-process',
    async prepare() {
      try {
        await getRuntime();
      } catch {
        // `load` retries and reports it.
        resolved = undefined;
      }
    },
    async load(version, manifest, bytes) {
      if (manifest.framework !== 'onnx') {
        throw new UnsupportedArtifactError(
          `version "${version}" is a ${manifest.framework} artifact; this function serves ONNX models in-process ` +
            '(serve it through the SageMaker router)',
        );
      }
      if (bytes === undefined)
        throw new UnsupportedArtifactError(`no artifact bytes for version "${version}"`);
      const model: LoadedModel = await (await getRuntime()).load(bytes);
      // The app validated the instances against this manifest's features (undeclared keys refused) before
      // predicting, so the encoder need not look for undeclared keys again. A graph with a fixed batch dimension
      // is run in runs of that size (lambdas/core/batch-runs.ts), as ValidateArtifact ran it.
      let predict;
      try {
        predict = batchedPredict(model, manifest, KEYS_CHECKED);
      } catch (err) {
        await model.release();
        throw new UnsupportedArtifactError(`version "${version}": ${(err as Error).message}`);
      }
      return { predict };
    },
  };
}
