/**
 * Values of `tensor` features (docs/manifest.md "Tensor features", docs/inference.md "Tensor inputs"): one instance
 * carries a whole `shape`-sized tensor, either as a nested JSON array (row-major) or as `{ "b64": "…" }`, the
 * base64 of its little-endian element bytes. One module holds the rules every reader applies — request
 * validation, encoding into the model's feed, drift statistics and the baseline — so a value one accepts the others
 * read the same way.
 *
 * Zod-free and allocation-free per element: the inference path runs this on every instance. Base64 is written
 * straight into the destination typed array's memory (`Buffer#write`), never into an intermediate buffer.
 */
import { kindOf } from './value-kind';

/** Element types a tensor feature may declare (numbers only: strings and bools stay per-feature columns). */
export const TENSOR_FEATURE_ELEMENT_TYPES = ['float32', 'float64', 'int32', 'int64'] as const;
export type TensorFeatureElementType = (typeof TENSOR_FEATURE_ELEMENT_TYPES)[number];

/** Per-instance dimensions of a tensor feature: 1 to 4, each >= 1, at most this many elements in all. */
export const MAX_TENSOR_RANK = 4;
export const MAX_TENSOR_ELEMENTS = 1_000_000;

export const ELEMENT_BYTES: Readonly<Record<TensorFeatureElementType, number>> = {
  float32: 4,
  float64: 8,
  int32: 4,
  int64: 8,
};

/** Drift statistics of a tensor feature, as baseline keys `<feature>.norm` and `<feature>.mean`. */
export const TENSOR_STATS = ['norm', 'mean'] as const;
export type TensorStat = (typeof TENSOR_STATS)[number];
export const tensorStatKey = (feature: string, stat: TensorStat): string => `${feature}.${stat}`;

/** What a tensor feature declares about its values. */
export interface TensorSpec {
  readonly elementType: TensorFeatureElementType;
  readonly shape: readonly number[];
}

/** A tensor value as base64 of its little-endian element bytes. */
export interface B64TensorValue {
  readonly b64: string;
}

const FLOAT32_MAX = 3.4028234663852886e38;
const INT32_MIN = -2_147_483_648;
const INT32_MAX = 2_147_483_647;
/** Standard base64 (RFC 4648 section 4) with its padding; Node's decoder would silently skip anything else. */
const B64_SYNTAX = /^[A-Za-z0-9+/]*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Product of the dimensions. */
export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** `[8, 8]` */
export function describeShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** Whether a value is an object with a `b64` key (the base64 form), whatever else it holds. */
export function isB64Value(value: unknown): value is B64TensorValue {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.hasOwn(value, 'b64');
}

/** Decoded byte length of standard padded base64, or undefined when `text` is not that. */
export function b64ByteLength(text: string): number | undefined {
  if (text.length % 4 !== 0 || !B64_SYNTAX.test(text)) return undefined;
  const pad = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  return (text.length / 4) * 3 - pad;
}

/** The shape-spec problems of a declared tensor feature (empty when fine), for both manifest parsers. */
export function tensorShapeIssues(shape: readonly unknown[]): string[] {
  if (shape.length < 1 || shape.length > MAX_TENSOR_RANK) {
    return [
      `must list 1 to ${MAX_TENSOR_RANK} dimensions (per instance, without the batch), got ${shape.length}`,
    ];
  }
  const bad = shape.findIndex((d) => typeof d !== 'number' || !Number.isSafeInteger(d) || d < 1);
  if (bad !== -1) return [`dimension ${bad} must be a whole number >= 1, got ${JSON.stringify(shape[bad])}`];
  const n = elementCount(shape as number[]);
  if (n > MAX_TENSOR_ELEMENTS) {
    return [`has ${n} elements per instance; at most ${MAX_TENSOR_ELEMENTS} (send larger inputs in parts)`];
  }
  return [];
}

/** Typed array of a tensor feature's element type. */
export type TensorData = Float32Array | Float64Array | Int32Array | BigInt64Array;

export function allocateTensorData(elementType: TensorFeatureElementType, length: number): TensorData {
  switch (elementType) {
    case 'float32':
      return new Float32Array(length);
    case 'float64':
      return new Float64Array(length);
    case 'int32':
      return new Int32Array(length);
    case 'int64':
      return new BigInt64Array(length);
  }
}

/**
 * Decodes checked base64 (`b64ByteLength(text) === count * element size`) into `data` from element `offset`, in
 * place: the bytes land in the typed array's own memory.
 */
export function decodeB64Into(text: string, data: TensorData, offset: number, count: number): void {
  const size = data.BYTES_PER_ELEMENT;
  const bytes = Buffer.from(data.buffer, data.byteOffset + offset * size, count * size);
  bytes.write(text, 0, count * size, 'base64');
  // Every platform Node and Lambda run on is little-endian; the swap keeps the wire format the same elsewhere.
  if (!LITTLE_ENDIAN) {
    if (size === 4) bytes.swap32();
    else bytes.swap64();
  }
}

/** One problem with a tensor value: where below the feature (`[2][5]`, `.b64`, or "") and what. */
export type TensorIssueSink = (suffix: string, message: string) => void;

/**
 * A compiled checker of one tensor feature's values: reports every problem of a value through `sink` (element
 * problems with their index path), so a request's errors name `instances[0].image[2][5]`. `show` renders a bad
 * element for the message (the caller redacts pii). Returns true when the value is acceptable.
 */
export interface TensorChecker {
  (value: unknown, sink: TensorIssueSink, show: (value: unknown) => string): boolean;
}

export function compileTensorChecker(spec: TensorSpec): TensorChecker {
  const { shape, elementType } = spec;
  const rank = shape.length;
  const count = elementCount(shape);
  const bytes = count * ELEMENT_BYTES[elementType];
  const shapeText = describeShape(shape);
  const what = `a ${elementType} ${shapeText} tensor`;
  const integer = elementType === 'int32' || elementType === 'int64';
  const int32 = elementType === 'int32';
  const float32 = elementType === 'float32';
  const index = new Int32Array(rank);
  const suffix = (depth: number): string => {
    let s = '';
    for (let d = 0; d < depth; d++) s += `[${index[d]}]`;
    return s;
  };
  const flatSuffix = (flat: number): string => {
    let s = '';
    let rest = flat;
    let stride = count;
    for (let d = 0; d < rank; d++) {
      stride /= shape[d]!;
      const i = Math.floor(rest / stride);
      rest -= i * stride;
      s += `[${i}]`;
    }
    return s;
  };
  const valid: (x: unknown) => boolean =
    elementType === 'float64'
      ? (x) => typeof x === 'number' && Number.isFinite(x)
      : elementType === 'float32'
        ? (x) => typeof x === 'number' && x <= FLOAT32_MAX && x >= -FLOAT32_MAX
        : elementType === 'int32'
          ? (x) => typeof x === 'number' && (x | 0) === x
          : (x) => Number.isSafeInteger(x);
  // One scratch buffer per feature, reused: finiteness of base64 floats is read from the decoded values.
  let scratch: Float32Array | Float64Array | undefined;

  const element = (
    x: unknown,
    depth: number,
    sink: TensorIssueSink,
    show: (v: unknown) => string,
  ): boolean => {
    if (typeof x !== 'number') {
      sink(
        suffix(depth),
        Array.isArray(x)
          ? `must be a number: ${what} has ${rank} dimension${rank === 1 ? '' : 's'}, this array is one too many`
          : `must be a number (${elementType} element), got ${show(x)}`,
      );
      return false;
    }
    if (!Number.isFinite(x)) {
      sink(suffix(depth), `must be a finite number, got ${show(x)}`);
      return false;
    }
    if (integer) {
      if (!Number.isInteger(x)) {
        sink(suffix(depth), `must be a whole number (${elementType} element), got ${show(x)}`);
        return false;
      }
      if (int32 ? x < INT32_MIN || x > INT32_MAX : !Number.isSafeInteger(x)) {
        sink(
          suffix(depth),
          int32
            ? `is out of the int32 range (-2147483648 to 2147483647), got ${show(x)}`
            : `must be a safe integer (at most 2^53 - 1 in size) in JSON, got ${show(x)}; send larger int64 values as {"b64": …}`,
        );
        return false;
      }
    } else if (float32 && (x > FLOAT32_MAX || x < -FLOAT32_MAX)) {
      sink(suffix(depth), `is out of the float32 range (about ±3.4e38), got ${show(x)}`);
      return false;
    }
    return true;
  };

  const nested = (
    v: unknown,
    depth: number,
    sink: TensorIssueSink,
    show: (v: unknown) => string,
  ): boolean => {
    const n = shape[depth]!;
    if (!Array.isArray(v)) {
      sink(
        suffix(depth),
        `must be an array of ${n} (dimension ${depth} of ${what}), got ${depth === 0 ? kindOf(v) : show(v)}`,
      );
      return false;
    }
    if (v.length !== n) {
      sink(suffix(depth), `must have ${n} entries (dimension ${depth} of ${what}), got ${v.length}`);
      return false;
    }
    let ok = true;
    const leaf = depth === rank - 1;
    for (let i = 0; i < n; i++) {
      index[depth] = i;
      const x: unknown = v[i];
      // The common case (a valid number where one belongs) costs one compiled predicate.
      if (leaf) {
        if (valid(x)) continue;
        if (!element(x, depth + 1, sink, show)) ok = false;
      } else if (!nested(x, depth + 1, sink, show)) ok = false;
    }
    return ok;
  };

  return (value, sink, show) => {
    if (Array.isArray(value)) return nested(value, 0, sink, show);
    if (!isB64Value(value)) {
      sink(
        '',
        `must be a nested array of shape ${shapeText} (${elementType}) or {"b64": "<base64 of the ${bytes} little-endian bytes>"}, got ${kindOf(value)}`,
      );
      return false;
    }
    const keys = Object.keys(value);
    if (keys.length !== 1) {
      const extra = keys.filter((k) => k !== 'b64').map((k) => JSON.stringify(k.slice(0, 64)));
      sink('', `must hold only "b64"; remove ${extra.join(', ')}`);
      return false;
    }
    const text = value.b64;
    if (typeof text !== 'string') {
      sink('.b64', `must be a string of base64, got ${kindOf(text)}`);
      return false;
    }
    const length = b64ByteLength(text);
    if (length === undefined) {
      sink(
        '.b64',
        'is not standard base64 (A-Z, a-z, 0-9, "+", "/", padded with "=" to a multiple of 4 characters); ' +
          'encode the little-endian element bytes with a standard base64 encoder',
      );
      return false;
    }
    if (length !== bytes) {
      sink(
        '.b64',
        `decodes to ${length} bytes; ${what} takes ${bytes} bytes (${count} elements × ${ELEMENT_BYTES[elementType]}, little-endian)`,
      );
      return false;
    }
    if (integer) return true; // every bit pattern is a valid integer
    if (scratch === undefined) scratch = float32 ? new Float32Array(count) : new Float64Array(count);
    decodeB64Into(text, scratch, 0, count);
    let ok = true;
    for (let i = 0; i < count; i++) {
      const x = scratch[i]!;
      if (!Number.isFinite(x)) {
        sink(flatSuffix(i), `must be a finite number, got ${show(x)} in the base64 data`);
        ok = false;
      }
    }
    return ok;
  };
}

/**
 * A compiled writer of one tensor feature's values into its feed, at element `offset`: nested arrays are walked
 * (float32 rounds, int64 becomes bigint), base64 is decoded in place. Returns the first problem, or undefined. It
 * repeats only the cheap checks (shape, number, byte length): the inference path validated the value already.
 */
export type TensorWriter = (data: TensorData, offset: number, value: unknown) => string | undefined;

export function compileTensorWriter(spec: TensorSpec): TensorWriter {
  const { shape, elementType } = spec;
  const rank = shape.length;
  const count = elementCount(shape);
  const bytes = count * ELEMENT_BYTES[elementType];
  const strides = shape.map((_, d) => elementCount(shape.slice(d + 1)));
  const int64 = elementType === 'int64';

  const walk = (v: unknown, depth: number, data: TensorData, offset: number): string | undefined => {
    const n = shape[depth]!;
    if (!Array.isArray(v) || v.length !== n) {
      return `must be a nested array of shape ${describeShape(shape)}; dimension ${depth} must have ${n} entries`;
    }
    if (depth === rank - 1) {
      if (int64) {
        const out = data as BigInt64Array;
        for (let i = 0; i < n; i++) {
          const x: unknown = v[i];
          if (typeof x !== 'number' || !Number.isSafeInteger(x)) return 'must hold whole numbers (int64)';
          out[offset + i] = BigInt(x);
        }
      } else {
        const out = data as Float32Array | Float64Array | Int32Array;
        for (let i = 0; i < n; i++) {
          const x: unknown = v[i];
          if (typeof x !== 'number' || !Number.isFinite(x)) return 'must hold finite numbers';
          out[offset + i] = x;
        }
      }
      return undefined;
    }
    const stride = strides[depth]!;
    for (let i = 0; i < n; i++) {
      const problem = walk(v[i], depth + 1, data, offset + i * stride);
      if (problem !== undefined) return problem;
    }
    return undefined;
  };

  return (data, offset, value) => {
    if (Array.isArray(value)) return walk(value, 0, data, offset);
    if (isB64Value(value) && typeof value.b64 === 'string') {
      if (b64ByteLength(value.b64) !== bytes) return `b64 must be standard base64 of ${bytes} bytes`;
      decodeB64Into(value.b64, data, offset, count);
      return undefined;
    }
    return `must be a nested array of shape ${describeShape(shape)} or {"b64": "…"}`;
  };
}

/**
 * Per-instance drift statistics of a tensor value: `out[at]` = L2 norm, `out[at + 1]` = mean, over the elements as the
 * model sees them (float32 values rounded to float32), summed in row-major order in float64 — the rule the
 * baseline (./baseline.ts, and its Python twin in examples/make_examples.py) counted with. Returns false, leaving
 * `out` alone, when the value is missing or unreadable (it then counts as missing).
 */
export type TensorStats = (value: unknown, out: Float64Array, at?: number) => boolean;

export function compileTensorStats(spec: TensorSpec): TensorStats {
  const { shape, elementType } = spec;
  const rank = shape.length;
  const count = elementCount(shape);
  const bytes = count * ELEMENT_BYTES[elementType];
  const float32 = elementType === 'float32';
  let scratch: TensorData | undefined;
  let sum = 0;
  let squares = 0;

  const walk = (v: unknown, depth: number): boolean => {
    const n = shape[depth]!;
    if (!Array.isArray(v) || v.length !== n) return false;
    if (depth === rank - 1) {
      for (let i = 0; i < n; i++) {
        const raw: unknown = v[i];
        if (typeof raw !== 'number' || !Number.isFinite(raw)) return false;
        const x = float32 ? Math.fround(raw) : raw;
        sum += x;
        squares += x * x;
      }
      return true;
    }
    for (let i = 0; i < n; i++) if (!walk(v[i], depth + 1)) return false;
    return true;
  };

  return (value, out, at = 0) => {
    sum = 0;
    squares = 0;
    if (Array.isArray(value)) {
      if (!walk(value, 0)) return false;
    } else if (isB64Value(value) && typeof value.b64 === 'string' && b64ByteLength(value.b64) === bytes) {
      scratch ??= allocateTensorData(elementType, count);
      decodeB64Into(value.b64, scratch, 0, count);
      if (scratch instanceof BigInt64Array) {
        for (let i = 0; i < count; i++) {
          const x = Number(scratch[i]!);
          sum += x;
          squares += x * x;
        }
      } else {
        for (let i = 0; i < count; i++) {
          const x = scratch[i]!;
          sum += x;
          squares += x * x;
        }
      }
      if (!Number.isFinite(squares)) return false;
    } else {
      return false;
    }
    out[at] = Math.sqrt(squares);
    out[at + 1] = sum / count;
    return true;
  };
}
