/**
 * Serving a graph whose batch dimension is fixed (torch.onnx.export without `dynamic_axes` fixes it to 1): a request
 * of n instances becomes runs of exactly the model's batch size, the last run padded with copies of its last real row
 * when the size is > 1, and the runs' outputs are joined back into one n-row output with the padded rows dropped.
 * Used by the in-process backend (lambdas/adapters/onnx-backend.ts) and by ValidateArtifact, so validation runs the
 * model exactly as serving does. Pure: works on FeedTensor / OutputValue (./model-runtime.ts).
 */
import type { Instance } from './features';
import { encodeInstances, type EncodeOptions, type EncoderSource } from './features';
import type { FeedTensor, LoadedModel, OutputValue, TensorMeta } from './model-runtime';

/** A fixed leading dimension (>= 1), or undefined when the graph leaves it symbolic. */
export function fixedBatchDim(meta: TensorMeta | undefined): number | undefined {
  const dim = meta?.shape?.[0];
  return typeof dim === 'number' && Number.isInteger(dim) && dim >= 1 ? dim : undefined;
}

export type BatchSizeResult =
  | { readonly ok: true; readonly batchSize: number | undefined }
  | { readonly ok: false; readonly issue: string };

/**
 * The batch size every run must have: the fixed leading dimension the fed graph inputs share, or undefined when all
 * leave it symbolic (any number of rows per run). Inputs that fix different sizes cannot be fed together.
 */
export function graphBatchSize(inputs: readonly TensorMeta[], fed: readonly string[]): BatchSizeResult {
  const fixed = new Map<string, number>();
  for (const name of fed) {
    const size = fixedBatchDim(inputs.find((i) => i.name === name));
    if (size !== undefined) fixed.set(name, size);
  }
  const sizes = new Set(fixed.values());
  if (sizes.size > 1) {
    const list = [...fixed].map(([n, s]) => `"${n}" ${s}`).join(', ');
    return {
      ok: false,
      issue: `inputs.tensors: the model's inputs fix different batch sizes (${list}); export them with one batch dimension (or a symbolic one)`,
    };
  }
  return { ok: true, batchSize: sizes.size === 1 ? [...sizes][0] : undefined };
}

/** How many values one row of a `[rows, ...]` tensor holds. */
function rowWidth(dims: readonly number[]): number {
  let width = 1;
  for (let i = 1; i < dims.length; i++) width *= dims[i]!;
  return width;
}

/** Rows `[start, start + count)` of a feed, padded to `size` rows by repeating the last of them. */
export function sliceFeed(feed: FeedTensor, start: number, count: number, size: number): FeedTensor {
  const width = rowWidth(feed.dims);
  const source = feed.data as ArrayLike<unknown> & { slice(a: number, b: number): unknown };
  const dims = [size, ...feed.dims.slice(1)];
  if (count === size) {
    return {
      elementType: feed.elementType,
      data: source.slice(start * width, (start + count) * width),
      dims,
    } as FeedTensor;
  }
  const data = allocateLike(feed.data, size * width) as unknown as {
    [i: number]: unknown;
    length: number;
  };
  for (let r = 0; r < size; r++) {
    const from = (start + Math.min(r, count - 1)) * width;
    for (let c = 0; c < width; c++) data[r * width + c] = (feed.data as ArrayLike<unknown>)[from + c];
  }
  return { elementType: feed.elementType, data, dims } as FeedTensor;
}

/** An empty array of the same kind as `like` (typed array of the same class, else a plain array). */
function allocateLike(like: ArrayLike<unknown>, length: number): ArrayLike<unknown> {
  if (ArrayBuffer.isView(like)) {
    const Ctor = (like as unknown as { constructor: new (n: number) => ArrayLike<unknown> }).constructor;
    return new Ctor(length);
  }
  return new Array<unknown>(length);
}

/**
 * Joins the outputs of consecutive runs of `size` rows into outputs of `rows` rows (the padding of the last run
 * dropped). An output whose leading dimension is not the run size has no rows to join: the first run's value is
 * kept as it is, and the formatter reports it if the manifest reads it.
 */
export function joinRunOutputs(
  runs: readonly Readonly<Record<string, OutputValue>>[],
  rows: number,
  size: number,
): Record<string, OutputValue> {
  const first = runs[0] ?? {};
  const out: Record<string, OutputValue> = {};
  for (const name of Object.keys(first)) {
    const head = first[name]!;
    const joinable =
      head.elementType !== 'non-tensor' &&
      head.dims[0] === size &&
      runs.every((r) => Object.hasOwn(r, name) && r[name]!.dims[0] === size);
    if (!joinable) {
      out[name] = head;
      continue;
    }
    const width = rowWidth(head.dims);
    const data = allocateLike(head.data as ArrayLike<unknown>, rows * width) as unknown as {
      [i: number]: unknown;
    };
    let row = 0;
    for (const run of runs) {
      const value = run[name]!;
      const take = Math.min(size, rows - row);
      for (let i = 0; i < take * width; i++) data[row * width + i] = value.data[i];
      row += take;
    }
    out[name] = {
      elementType: head.elementType,
      dims: [rows, ...head.dims.slice(1)],
      data: data as unknown as OutputValue['data'],
    };
  }
  return out;
}

/**
 * Runs `rows` rows of feeds through `run`: at once when `batchSize` is undefined (symbolic) or equals `rows`, else
 * in consecutive runs of exactly `batchSize` rows (one at a time: a session runs one batch at a time anyway).
 */
export async function runInBatches(
  run: LoadedModel['run'],
  feeds: Readonly<Record<string, FeedTensor>>,
  rows: number,
  batchSize: number | undefined,
): Promise<Readonly<Record<string, OutputValue>>> {
  if (batchSize === undefined || rows === batchSize) return run(feeds);
  const names = Object.keys(feeds);
  const results: Readonly<Record<string, OutputValue>>[] = [];
  for (let start = 0; start < rows; start += batchSize) {
    const count = Math.min(batchSize, rows - start);
    const part: Record<string, FeedTensor> = {};
    for (const name of names) part[name] = sliceFeed(feeds[name]!, start, count, batchSize);
    results.push(await run(part));
  }
  return joinRunOutputs(results, rows, batchSize);
}

/**
 * The predict function of a loaded model as the in-process backend serves it: encode the instances, then run them
 * in runs of the graph's batch size. Throws the `issue` of {@link graphBatchSize} as a RangeError when the inputs fix
 * different batch sizes (ValidateArtifact rejects such a graph before it is ever served).
 */
export function batchedPredict(
  model: Pick<LoadedModel, 'inputs' | 'run'>,
  manifest: EncoderSource,
  options: EncodeOptions = {},
): (instances: readonly Instance[]) => Promise<Readonly<Record<string, OutputValue>>> {
  const size = graphBatchSize(
    model.inputs,
    manifest.inputs.tensors.map((t) => t.name),
  );
  if (!size.ok) throw new RangeError(size.issue);
  const { batchSize } = size;
  const run = model.run.bind(model);
  if (batchSize === undefined) return (instances) => run(encodeInstances(manifest, instances, options));
  return (instances) =>
    runInBatches(run, encodeInstances(manifest, instances, options), instances.length, batchSize);
}
