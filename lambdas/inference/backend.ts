/**
 * InferenceBackend: what computes predictions for the inference app. Two implementations share everything else
 * (validation, routing, metrics, capture):
 * - in-process ONNX Runtime ({@link createOnnxBackend}): the app fetches the artifact, verifies its sha256 and hands
 *   the bytes to `load`;
 * - a remote SageMaker endpoint (lambdas/adapters/sagemaker-backend.ts): the endpoint holds the model, `load` gets
 *   no bytes and only binds the version to its production variant.
 */
import { encodeInstances, type Instance } from '../core/features';
import type { LoadedModel, ModelRuntime, OutputValue } from '../core/model-runtime';
import type { RuntimeManifest } from './runtime-manifest';

const KEYS_CHECKED = { keysChecked: true } as const;

/** A version ready to answer. */
export interface BackendModel {
  /**
   * Predicts instances the app validated against this version's manifest (undeclared keys already refused; the
   * ONNX backend relies on that); returns the raw outputs by output name, each with a leading batch dimension.
   * May throw `FeatureEncodingError` (the app answers 400) or {@link BackendError} (502).
   */
  predict(instances: readonly Instance[]): Promise<Readonly<Record<string, OutputValue>>>;
}

export interface InferenceBackend {
  /**
   * `in-process`: `load` needs the version's verified artifact bytes. `remote`: it does not; and outputs that do
   * not fit the manifest are the remote's fault (502), not a bug of this function (500).
   */
  readonly kind: 'in-process' | 'remote';
  /** Prepares one version. Called once per version (concurrent requests share the call); failures are retried. */
  load(version: string, manifest: RuntimeManifest, bytes?: Uint8Array): Promise<BackendModel>;
  /**
   * Optional: loads what every version will need (ONNX Runtime itself), ahead of the first `load`, so that a
   * warm-up can do it while the first artifact is still downloading. Must not reject.
   */
  prepare?(): Promise<void>;
}

/**
 * A remote backend failed (the endpoint's error, an unusable answer). The caller's input had already been
 * validated, so it is answered 502 BadGateway with `message`, never 400. Takes `{ cause }` like any Error.
 */
export class BackendError extends Error {
  override name = 'BackendError';
}

/** The version cannot be loaded by this backend (e.g. a SageMaker-format artifact sent to the ONNX function). */
export class UnsupportedArtifactError extends Error {
  override name = 'UnsupportedArtifactError';
}

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
      return {
        // The app validated the instances against this manifest's features (undeclared keys refused) before
        // predicting, so the encoder need not look for undeclared keys again.
        predict: (instances) => model.run(encodeInstances(manifest, instances, KEYS_CHECKED)),
      };
    },
  };
}
