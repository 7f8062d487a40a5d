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

export class OnnxModelRuntime implements ModelRuntime {
  constructor(
    private readonly options: InferenceSession.SessionOptions = { graphOptimizationLevel: 'all' },
  ) {}

  async load(bytes: Uint8Array): Promise<LoadedModel> {
    const session = await InferenceSession.create(bytes, this.options);
    return {
      inputs: session.inputMetadata.map(toMeta),
      outputs: session.outputMetadata.map(toMeta),
      async run(feeds: Readonly<Record<string, FeedTensor>>) {
        const ortFeeds: Record<string, Tensor> = {};
        for (const [name, feed] of Object.entries(feeds)) {
          ortFeeds[name] = new Tensor(feed.elementType, feed.data, feed.dims);
        }
        const results = await session.run(ortFeeds);
        const out: Record<string, OutputValue> = {};
        for (const [name, value] of Object.entries(results)) out[name] = toOutput(value);
        return out;
      },
      release: () => session.release(),
    };
  }
}
