import { describe, expect, it } from 'vitest';
import {
  batchedPredict,
  graphBatchSize,
  joinRunOutputs,
  runInBatches,
  sliceFeed,
} from '../../lambdas/core/batch-runs';
import { parseManifest, type Manifest } from '../../lambdas/core/manifest';
import type { FeedTensor, OutputValue, TensorMeta } from '../../lambdas/core/model-runtime';
import { OnnxModelRuntime } from '../../lambdas/adapters/onnx-model-runtime';
import { createOnnxBackend } from '../../lambdas/adapters/onnx-backend';
import { contractManifest, graphBytes } from '../fixtures/model-contract/manifests';

const meta = (name: string, shape: (number | string)[]): TensorMeta => ({
  name,
  isTensor: true,
  elementType: 'float32',
  shape,
});

function parsed(raw: unknown): Manifest {
  const r = parseManifest(raw);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.manifest;
}

describe('graphBatchSize', () => {
  it('is undefined for symbolic batch dimensions and the fixed size when the inputs fix one', () => {
    expect(graphBatchSize([meta('a', ['N', 3]), meta('b', [-1, 1])], ['a', 'b'])).toEqual({
      ok: true,
      batchSize: undefined,
    });
    expect(graphBatchSize([meta('a', [1, 3]), meta('b', ['N', 1])], ['a', 'b'])).toEqual({
      ok: true,
      batchSize: 1,
    });
    expect(graphBatchSize([meta('a', [4, 3])], ['a'])).toEqual({ ok: true, batchSize: 4 });
  });

  it('rejects inputs that fix different sizes, naming each and the fix', () => {
    const r = graphBatchSize([meta('a', [1, 3]), meta('b', [2, 1])], ['a', 'b']);
    expect(r).toEqual({
      ok: false,
      issue:
        'inputs.tensors: the model\'s inputs fix different batch sizes ("a" 1, "b" 2); export them with one batch dimension (or a symbolic one)',
    });
  });
});

describe('sliceFeed', () => {
  const feed: FeedTensor = {
    elementType: 'float32',
    data: Float32Array.from([1, 2, 3, 4, 5, 6]),
    dims: [3, 2],
  };

  it('takes whole rows, keeping the typed array class', () => {
    const part = sliceFeed(feed, 1, 2, 2);
    expect(part.dims).toEqual([2, 2]);
    expect(part.data).toBeInstanceOf(Float32Array);
    expect(Array.from(part.data as Float32Array)).toEqual([3, 4, 5, 6]);
  });

  it('pads a short run with copies of its last real row', () => {
    const part = sliceFeed(feed, 2, 1, 3);
    expect(part.dims).toEqual([3, 2]);
    expect(Array.from(part.data as Float32Array)).toEqual([5, 6, 5, 6, 5, 6]);
    const strings: FeedTensor = { elementType: 'string', data: ['a', 'b'], dims: [2, 1] };
    expect(sliceFeed(strings, 1, 1, 4).data).toEqual(['b', 'b', 'b', 'b']);
    const ints: FeedTensor = { elementType: 'int64', data: BigInt64Array.from([7n, 8n]), dims: [2, 1] };
    expect(Array.from(sliceFeed(ints, 0, 2, 3).data as BigInt64Array)).toEqual([7n, 8n, 8n]);
  });
});

describe('joinRunOutputs', () => {
  it('concatenates rows and drops the padding of the last run', () => {
    const run = (rows: number[][]): Record<string, OutputValue> => ({
      p: { elementType: 'float32', dims: [rows.length, 2], data: Float32Array.from(rows.flat()) },
      label: {
        elementType: 'int64',
        dims: [rows.length],
        data: BigInt64Array.from(rows.map((r) => BigInt(r[0]!))),
      },
    });
    const joined = joinRunOutputs(
      [
        run([
          [1, 0],
          [2, 0],
        ]),
        run([
          [3, 0],
          [3, 0],
        ]),
      ],
      3,
      2,
    );
    expect(joined.p!.dims).toEqual([3, 2]);
    expect(Array.from(joined.p!.data as Float32Array)).toEqual([1, 0, 2, 0, 3, 0]);
    expect(joined.label!.data).toBeInstanceOf(BigInt64Array);
    expect(Array.from(joined.label!.data as BigInt64Array)).toEqual([1n, 2n, 3n]);
  });

  it('keeps an output without the run size as its leading dimension as the first run returned it', () => {
    const scalar: OutputValue = { elementType: 'float32', dims: [], data: [42] };
    const joined = joinRunOutputs([{ s: scalar }, { s: { ...scalar, data: [43] } }], 2, 1);
    expect(joined.s).toBe(scalar);
  });
});

describe('runInBatches', () => {
  const recorder = () => {
    const calls: number[][] = [];
    const run = async (feeds: Readonly<Record<string, FeedTensor>>) => {
      const x = feeds.x!;
      calls.push(Array.from(x.data as Float32Array));
      // Echo each row's value back as a [rows, 1] output.
      return {
        y: { elementType: 'float32', dims: [x.dims[0]!, 1], data: Float32Array.from(x.data as Float32Array) },
      };
    };
    return { calls, run };
  };
  const feeds: Record<string, FeedTensor> = {
    x: { elementType: 'float32', data: Float32Array.from([1, 2, 3, 4, 5]), dims: [5, 1] },
  };

  it('runs once for a symbolic batch size or a request of exactly the fixed size', async () => {
    const { calls, run } = recorder();
    await runInBatches(run, feeds, 5, undefined);
    await runInBatches(run, feeds, 5, 5);
    expect(calls).toEqual([
      [1, 2, 3, 4, 5],
      [1, 2, 3, 4, 5],
    ]);
  });

  it('runs a fixed batch of 1 row by row and a fixed batch of 2 in padded pairs, joining the rows in order', async () => {
    for (const [size, expected] of [
      [1, [[1], [2], [3], [4], [5]]],
      [
        2,
        [
          [1, 2],
          [3, 4],
          [5, 5],
        ],
      ],
    ] as const) {
      const { calls, run } = recorder();
      const out = await runInBatches(run, feeds, 5, size);
      expect(calls).toEqual(expected);
      expect(out.y!.dims).toEqual([5, 1]);
      expect(Array.from(out.y!.data as Float32Array)).toEqual([1, 2, 3, 4, 5]);
    }
  });

  it('propagates a failing run', async () => {
    await expect(runInBatches(async () => Promise.reject(new Error('boom')), feeds, 5, 2)).rejects.toThrow(
      'boom',
    );
  });
});

describe('batchedPredict and the ONNX backend on fixed-batch graphs (real onnxruntime-node)', () => {
  const instances = [
    { x1: 1, x2: 2, x3: 0.5 },
    { x1: 0, x2: 0, x3: 2 },
    { x1: -3, x2: 1, x3: null },
    { x1: 4, x2: -2, x3: 1 },
    { x1: 0.5, x2: 0.5, x3: 0.5 },
  ];

  it('serves 5 instances through batch-1 and batch-4 graphs with the same predictions, row for row', async () => {
    const runtime = new OnnxModelRuntime();
    const results = [];
    for (const graph of ['fixed-batch-1', 'fixed-batch-4'] as const) {
      const model = await runtime.load(graphBytes(graph));
      try {
        const out = await batchedPredict(model, parsed(contractManifest(graph)))(instances);
        expect(out.probabilities!.dims).toEqual([5, 2]);
        expect(out.label!.dims).toEqual([5]);
        results.push(out);
      } finally {
        await model.release();
      }
    }
    const [one, four] = results;
    expect(Array.from(four!.label!.data as BigInt64Array)).toEqual(
      Array.from(one!.label!.data as BigInt64Array),
    );
    const p1 = Array.from(one!.probabilities!.data as Float32Array);
    // A missing optional value is NaN in a float tensor, and NaN through this graph: NaN in both.
    Array.from(four!.probabilities!.data as Float32Array).forEach((p, i) =>
      Number.isNaN(p1[i]) ? expect(p).toBeNaN() : expect(p).toBeCloseTo(p1[i]!, 6),
    );
    // Row 0 is the smoke sample: softmax(x @ W + b) from make_models.py.
    expect(p1[0]).toBeCloseTo(0.90025, 4);
  });

  it('the in-process backend serves a fixed-batch-1 graph a batch of 3 (it failed every batch > 1 before)', async () => {
    const backend = createOnnxBackend(new OnnxModelRuntime());
    const manifest = parsed(contractManifest('fixed-batch-1'));
    const model = await backend.load('1.0.0', manifest, graphBytes('fixed-batch-1'));
    const out = await model.predict(instances.slice(0, 3));
    expect(out.label!.dims).toEqual([3]);
    expect(out.probabilities!.data).toHaveLength(6);
    // The raw run without batching fails, which is what requests got before.
    const raw = await new OnnxModelRuntime().load(graphBytes('fixed-batch-1'));
    try {
      const { encodeInstances } = await import('../../lambdas/core/features');
      await expect(raw.run(encodeInstances(manifest, instances.slice(0, 3)))).rejects.toThrow(
        /dimension|shape/i,
      );
    } finally {
      await raw.release();
    }
  });
});
