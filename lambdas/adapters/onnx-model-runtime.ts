/**
 * `ModelRuntime` on onnxruntime-node. The only module that imports the native runtime, so core stays pure and
 * tests can fake the port.
 */
import { InferenceSession, Tensor } from 'onnxruntime-node';
import type { FeedTensor, LoadedModel, ModelRuntime, OutputValue, TensorMeta } from '../core/model-runtime';

function toMeta(m: InferenceSession.ValueMetadata): TensorMeta {
  return m.isTensor
    ? { name: m.name, isTensor: true, elementType: m.type, shape: [...m.shape] }
    : { name: m.name, isTensor: false };
}

function toOutput(value: unknown): OutputValue {
  if (value instanceof Tensor) {
    // Copy out of the engine's buffers: the session may be released before the caller reads the values.
    const data = value.data as Float32Array | string[];
    return { elementType: value.type, dims: [...value.dims], data: data.slice() };
  }
  return { elementType: 'non-tensor', dims: [], data: [] };
}

function toOutputs(results: InferenceSession.ReturnType): Record<string, OutputValue> {
  const out: Record<string, OutputValue> = {};
  for (const name of Object.keys(results)) out[name] = toOutput(results[name]);
  return out;
}

export class OnnxModelRuntime implements ModelRuntime {
  constructor(
    private readonly options: InferenceSession.SessionOptions = { graphOptimizationLevel: 'all' },
  ) {}

  async load(bytes: Uint8Array): Promise<LoadedModel> {
    const session = await InferenceSession.create(bytes, this.options);
    return {
      inputs: session.inputMetadata.map(toMeta),
      outputs: session.outputMetadata.map(toMeta),
      // Not `async`, no Object.entries: this runs per request, and each extra promise turn and entry array showed in
      // the local server's profile. Synchronous throws (a bad feed) still surface as a rejected promise.
      run(feeds: Readonly<Record<string, FeedTensor>>): Promise<Record<string, OutputValue>> {
        const ortFeeds: Record<string, Tensor> = {};
        try {
          for (const name of Object.keys(feeds)) {
            const feed = feeds[name]!;
            ortFeeds[name] = new Tensor(feed.elementType, feed.data, feed.dims);
          }
        } catch (err) {
          return Promise.reject(err as Error);
        }
        return session.run(ortFeeds).then(toOutputs);
      },
      release: () => session.release(),
    };
  }
}
