/**
 * Encodes instances (feature name → value) into the manifest's input tensors. Used by smoke tests at validation
 * and by the inference handler, so the per-manifest plan is compiled once and cached; per-request work is one pass
 * over the values into preallocated typed arrays.
 */
import { FeatureEncodingError, type FeatureEncodingIssue } from './errors';
import type { Feature, Manifest, TensorElementType } from './manifest';
import type { FeedTensor } from './model-runtime';
import { ownValue } from './own';
import {
  compileTensorWriter,
  elementCount,
  type B64TensorValue,
  type TensorData,
  type TensorWriter,
} from './tensor-values';

/**
 * A feature value as it arrives in JSON; `null` and absence both mean missing. A tensor feature's value is a nested
 * array of its shape or `{ b64 }` (./tensor-values.ts).
 */
export type FeatureValue = number | string | boolean | null | readonly unknown[] | B64TensorValue;
export type Instance = Readonly<Record<string, FeatureValue | undefined>>;

/** Encodes one value into slot `offset` of the tensor's data; returns an error message or undefined. */
type Writer = (
  data: FeedTensor['data'],
  offset: number,
  value: FeatureValue | undefined,
) => string | undefined;

interface ColumnPlan {
  readonly feature: string;
  readonly write: Writer;
}

interface TensorPlan {
  readonly name: string;
  readonly elementType: TensorElementType;
  readonly columns: readonly ColumnPlan[];
  /** Set when a tensor feature feeds this graph input alone: its values fill `[batch, ...shape]`. */
  readonly whole?: WholeTensorPlan;
}

interface WholeTensorPlan {
  readonly feature: string;
  readonly shape: readonly number[];
  /** Elements per instance. */
  readonly count: number;
  readonly required: boolean;
  readonly write: TensorWriter;
}

interface EncoderPlan {
  readonly tensors: readonly TensorPlan[];
  /** Every declared feature name, to report unknown ones in a request. */
  readonly known: ReadonlySet<string>;
}

/** What encoding reads from a manifest; a full `Manifest` (or the inference runtime's subset) fits. */
export type EncoderSource = Pick<Manifest, 'inputs'>;

const plans = new WeakMap<EncoderSource, EncoderPlan>();

export interface EncodeOptions {
  /**
   * The caller has already refused instances with keys that are not declared features (the inference app validates
   * every instance against the same manifest first), so the per-key scan for them is skipped: it walked every key of
   * every instance of every request a second time.
   * @default false
   */
  readonly keysChecked?: boolean;
}

/**
 * Encodes instances into one `[instances.length, features.length]` tensor per manifest input tensor.
 *
 * Missing optional values: NaN in float tensors, 0 / false / "" otherwise (models that must see "missing" should
 * take that feature through a float tensor). Throws `FeatureEncodingError` listing every problem.
 *
 * @example
 * const feeds = encodeInstances(manifest, [{ age: 41, plan: 'pro', active: true }]);
 * const outputs = await model.run(feeds);
 */
export function encodeInstances(
  manifest: EncoderSource,
  instances: readonly Instance[],
  options: EncodeOptions = {},
): Record<string, FeedTensor> {
  let plan = plans.get(manifest);
  if (!plan) {
    plan = compilePlan(manifest);
    plans.set(manifest, plan);
  }
  const issues: FeatureEncodingIssue[] = [];
  const feeds: Record<string, FeedTensor> = {};
  const n = instances.length;
  for (const tensor of plan.tensors) {
    if (tensor.whole !== undefined) {
      feeds[tensor.name] = encodeWhole(tensor.elementType, tensor.whole, instances, issues);
      continue;
    }
    const width = tensor.columns.length;
    const data = allocate(tensor.elementType, n * width);
    for (let i = 0; i < n; i++) {
      const instance = instances[i]!;
      const base = i * width;
      for (let c = 0; c < width; c++) {
        const column = tensor.columns[c]!;
        const message = column.write(data, base + c, ownValue(instance, column.feature));
        if (message !== undefined) issues.push({ instance: i, feature: column.feature, message });
      }
    }
    feeds[tensor.name] = { elementType: tensor.elementType, data, dims: [n, width] } as FeedTensor;
  }
  if (options.keysChecked !== true) {
    const known = plan.known;
    for (let i = 0; i < n; i++) {
      for (const name of Object.keys(instances[i]!)) {
        if (!known.has(name))
          issues.push({ instance: i, feature: name, message: 'is not a declared feature' });
      }
    }
  }
  if (issues.length > 0) throw new FeatureEncodingError(issues);
  return feeds;
}

/** One tensor feature's values, instance after instance, into one `[n, ...shape]` feed. */
function encodeWhole(
  elementType: TensorElementType,
  whole: WholeTensorPlan,
  instances: readonly Instance[],
  issues: FeatureEncodingIssue[],
): FeedTensor {
  const n = instances.length;
  const { count, feature } = whole;
  const data = allocate(elementType, n * count) as TensorData;
  for (let i = 0; i < n; i++) {
    const value = ownValue(instances[i]!, feature);
    if (value === null || value === undefined) {
      if (whole.required) issues.push({ instance: i, feature, message: 'is required' });
      // As for columns: floats mark a missing value NaN, integers stay 0.
      else if (!(data instanceof BigInt64Array) && !(data instanceof Int32Array)) {
        data.fill(Number.NaN, i * count, (i + 1) * count);
      }
      continue;
    }
    const message = whole.write(data, i * count, value);
    if (message !== undefined) issues.push({ instance: i, feature, message });
  }
  return { elementType, data, dims: [n, ...whole.shape] } as FeedTensor;
}

function allocate(elementType: TensorElementType, length: number): FeedTensor['data'] {
  switch (elementType) {
    case 'float32':
      return new Float32Array(length);
    case 'float64':
      return new Float64Array(length);
    case 'int64':
      return new BigInt64Array(length);
    case 'int32':
      return new Int32Array(length);
    case 'bool':
      return new Uint8Array(length);
    case 'string':
      return new Array<string>(length).fill('');
  }
}

function compilePlan(manifest: EncoderSource): EncoderPlan {
  const features = new Map(manifest.inputs.features.map((f) => [f.name, f]));
  const tensors = manifest.inputs.tensors.map((t): TensorPlan => {
    const only = t.features.length === 1 ? features.get(t.features[0]!) : undefined;
    if (only?.type === 'tensor') {
      return {
        name: t.name,
        elementType: t.elementType,
        columns: [],
        whole: {
          feature: only.name,
          shape: only.shape,
          count: elementCount(only.shape),
          required: only.required,
          write: compileTensorWriter(only),
        },
      };
    }
    return {
      name: t.name,
      elementType: t.elementType,
      columns: t.features.map((name) => {
        const feature = features.get(name);
        // parseManifest guarantees every tensor feature is declared; this guards hand-built manifests.
        if (!feature) throw new Error(`tensor "${t.name}" names undeclared feature "${name}"`);
        return { feature: name, write: writerFor(feature, t.elementType) };
      }),
    };
  });
  return { tensors, known: new Set(features.keys()) };
}

const isFloat = (t: TensorElementType) => t === 'float32' || t === 'float64';
const isInteger = (t: TensorElementType) => t === 'int64' || t === 'int32';

/** Stores a JS number into a numeric tensor slot (bigint for int64). */
function storeNumber(data: FeedTensor['data'], offset: number, value: number): void {
  if (data instanceof BigInt64Array) data[offset] = BigInt(value);
  else (data as Float32Array | Float64Array | Int32Array | Uint8Array)[offset] = value;
}

function writerFor(feature: Feature, elementType: TensorElementType): Writer {
  const required = feature.required;
  const missing: Writer = (data, offset) => {
    if (required) return 'is required';
    // Typed arrays start zeroed and string arrays start as ""; only floats need an explicit "missing" marker.
    if (isFloat(elementType)) storeNumber(data, offset, Number.NaN);
    return undefined;
  };

  switch (feature.type) {
    case 'numeric': {
      // Decided once per plan, not per value: this runs for every feature of every instance of every request.
      const integer = isInteger(elementType);
      const int32 = elementType === 'int32';
      const int64 = elementType === 'int64';
      return (data, offset, value) => {
        if (value === null || value === undefined) return missing(data, offset, value);
        if (typeof value !== 'number' || !Number.isFinite(value)) return 'must be a finite number';
        if (integer) {
          if (!Number.isInteger(value)) return `must be a whole number (${elementType} input)`;
          if (int32 && (value < -2_147_483_648 || value > 2_147_483_647)) return 'is out of the int32 range';
        }
        if (int64) (data as BigInt64Array)[offset] = BigInt(value);
        else (data as Float32Array | Float64Array | Int32Array | Uint8Array)[offset] = value;
        return undefined;
      };
    }
    case 'categorical': {
      const index = new Map(feature.categories.map((c, i) => [c, i]));
      const allowed = () =>
        feature.categories.length <= 10
          ? feature.categories.map((c) => JSON.stringify(c)).join(', ')
          : `${feature.categories.length} declared categories`;
      return (data, offset, value) => {
        if (value === null || value === undefined) return missing(data, offset, value);
        if (typeof value !== 'string') return 'must be a string (category)';
        const i = index.get(value);
        if (i === undefined) return `must be one of ${allowed()}`;
        // String tensors carry the category; integer tensors carry its index in `categories`.
        if (elementType === 'string') (data as string[])[offset] = value;
        else storeNumber(data, offset, i);
        return undefined;
      };
    }
    case 'boolean':
      return (data, offset, value) => {
        if (value === null || value === undefined) return missing(data, offset, value);
        let flag: boolean;
        if (typeof value === 'boolean') flag = value;
        else if (value === 0 || value === 1) flag = value === 1;
        else return 'must be true or false';
        if (elementType === 'string') (data as string[])[offset] = String(flag);
        else storeNumber(data, offset, flag ? 1 : 0);
        return undefined;
      };
    case 'tensor':
      // parseManifest keeps a tensor feature alone in its tensor (compilePlan's whole-tensor path).
      return () => `is a tensor feature and must feed a tensor of its own`;
  }
}
