/**
 * ModelRuntime port: what validation (and later inference) needs from an inference engine. The ONNX Runtime
 * implementation lives in lambdas/adapters/onnx-model-runtime.ts so core never imports the native module.
 */
import type { TensorElementType } from './manifest';

/** Typed arrays and string arrays a tensor's data can be, keyed as ONNX Runtime names them. */
export interface TensorDataByType {
  float32: Float32Array;
  float64: Float64Array;
  int64: BigInt64Array;
  int32: Int32Array;
  string: string[];
  bool: Uint8Array;
}

/** A graph input or output as the model declares it. */
export interface TensorMeta {
  readonly name: string;
  /** False for sequences and maps (e.g. skl2onnx ZipMap); those have no element type or shape. */
  readonly isTensor: boolean;
  /** ONNX Runtime's element type string ('float32', 'int64', 'string', 'bool', 'uint8', …). */
  readonly elementType?: string;
  /** Dimensions; a string or negative number is symbolic (any size). Empty when the model leaves it undefined. */
  readonly shape?: readonly (number | string)[];
}

/** A tensor fed to the model. `dims` is row-major; `data.length` is the product of `dims`. */
export type FeedTensor = {
  [T in TensorElementType]: {
    readonly elementType: T;
    readonly data: TensorDataByType[T];
    readonly dims: number[];
  };
}[TensorElementType];

/** An output as returned by the model, copied out of the engine. */
export interface OutputValue {
  /** An element type string, or 'non-tensor' for sequences/maps. */
  readonly elementType: string;
  readonly dims: readonly number[];
  readonly data: ArrayLike<number | bigint | string | boolean>;
}

export interface LoadedModel {
  readonly inputs: readonly TensorMeta[];
  readonly outputs: readonly TensorMeta[];
  run(feeds: Readonly<Record<string, FeedTensor>>): Promise<Readonly<Record<string, OutputValue>>>;
  /** Frees the engine's memory; the model cannot run afterwards. */
  release(): Promise<void>;
}

export interface ModelRuntime {
  /** Loads a model from its bytes; rejects when the engine cannot load it. */
  load(bytes: Uint8Array): Promise<LoadedModel>;
}
