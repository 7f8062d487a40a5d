/**
 * Drift bin counting: 1,000,000 numeric values counted into a decile baseline with `binIndex` (what the inference
 * path does per live value) against `numpy.histogram` with the same fixed edges plus the two comparisons for the
 * under/overflow bins, on the same values (best of 3 each). Both sides must produce identical counts.
 *
 * The values come from the project's seeded generator (normal, shifted and wider than the reference so the
 * under/overflow bins are used) and reach numpy through a temporary float64 file. numpy runs under Debian's
 * `/usr/bin/python3` (python3-numpy); without it the numpy half is skipped.
 * Run: npx tsx bench/bin-counting.bench.ts
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { binIndex, computeBaseline } from '../lambdas/core/baseline';
import type { Feature } from '../lambdas/core/manifest';
import { seededRandom } from '../lambdas/core/random';

const N = 1_000_000;
const REFERENCE_ROWS = 10_000;
const RUNS = 3;
const PYTHON = '/usr/bin/python3';

function normals(n: number, seed: number, mean: number, sd: number): Float64Array {
  const random = seededRandom(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i += 2) {
    // Box–Muller; 1 − u keeps the logarithm's argument in (0, 1].
    const r = Math.sqrt(-2 * Math.log(1 - random()));
    const t = 2 * Math.PI * random();
    out[i] = mean + sd * r * Math.cos(t);
    if (i + 1 < n) out[i + 1] = mean + sd * r * Math.sin(t);
  }
  return out;
}

function bestOf<T>(fn: () => T): { seconds: number; result: T } {
  let best = Number.POSITIVE_INFINITY;
  let result!: T;
  for (let i = 0; i < RUNS; i++) {
    const start = process.hrtime.bigint();
    result = fn();
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e9);
  }
  return { seconds: best, result };
}

// numpy side: reads the float64 file, times histogram + under/overflow, prints {"seconds", "counts"}.
const NUMPY_SCRIPT = `
import json, sys, time
import numpy as np
values = np.fromfile(sys.argv[1], dtype=np.float64)
edges = np.array(json.loads(sys.argv[2]), dtype=np.float64)
best = alone = float("inf")
for _ in range(int(sys.argv[3])):
    start = time.perf_counter()
    inner, _ = np.histogram(values, bins=edges)
    middle = time.perf_counter()
    under = int((values < edges[0]).sum())
    over = int((values > edges[-1]).sum())
    end = time.perf_counter()
    best = min(best, end - start)
    alone = min(alone, middle - start)
counts = [under] + inner.tolist() + [over]
print(json.dumps({"seconds": best, "histogramSeconds": alone, "counts": counts, "numpy": np.__version__}))
`;

interface NumpyResult {
  readonly seconds: number;
  readonly histogramSeconds: number;
  readonly counts: number[];
  readonly numpy: string;
}

function numpyCounts(values: Float64Array, edges: readonly number[]): NumpyResult | string {
  const dir = mkdtempSync(path.join(tmpdir(), 'bin-counting-'));
  try {
    const file = path.join(dir, 'values.f64');
    writeFileSync(file, new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
    const out = execFileSync(PYTHON, ['-c', NUMPY_SCRIPT, file, JSON.stringify(edges), String(RUNS)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return JSON.parse(out) as NumpyResult;
  } catch (err) {
    return `numpy unavailable (${PYTHON} with python3-numpy): ${(err as Error).message.split('\n')[0]}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function main(): void {
  const feature: Feature = { name: 'x', type: 'numeric', required: true, pii: false };
  const reference = normals(REFERENCE_ROWS, 1, 0, 1);
  const bins = computeBaseline(
    [feature],
    Array.from(reference, (x) => ({ x: String(x) })),
  ).features.x!;
  if (bins.kind !== 'numeric') throw new Error('expected numeric bins');
  const values = normals(N, 2, 0.2, 1.1);

  const ours = bestOf(() => {
    const counts = new Array<number>(bins.counts.length).fill(0);
    let missing = 0;
    for (let i = 0; i < values.length; i++) {
      const b = binIndex(bins, values[i]);
      if (b === 'missing') missing++;
      else counts[b]!++;
    }
    return { counts, missing };
  });
  const oursRate = N / ours.seconds;
  console.log(
    `values: ${N.toLocaleString('en')} float64, ${bins.edges.length} edges (${bins.counts.length} bins), best of ${RUNS}`,
  );
  console.log(
    `binIndex (TypeScript):           ${(oursRate / 1e6).toFixed(1)} M rows/s (${ours.seconds.toFixed(3)} s)`,
  );

  const numpy = numpyCounts(values, bins.edges);
  if (typeof numpy === 'string') {
    console.log(`skipped numpy.histogram: ${numpy}`);
    return;
  }
  if (JSON.stringify(numpy.counts) !== JSON.stringify(ours.result.counts) || ours.result.missing !== 0) {
    throw new Error(
      `count mismatch: binIndex ${JSON.stringify(ours.result)}, numpy ${JSON.stringify(numpy.counts)}`,
    );
  }
  const numpyRate = N / numpy.seconds;
  console.log(
    `numpy.histogram + under/over:    ${(numpyRate / 1e6).toFixed(1)} M rows/s (${numpy.seconds.toFixed(3)} s, numpy ${numpy.numpy})`,
  );
  console.log(
    `numpy.histogram alone:           ${(N / numpy.histogramSeconds / 1e6).toFixed(1)} M rows/s (${numpy.histogramSeconds.toFixed(3)} s)`,
  );
  console.log(`counts identical: ${JSON.stringify(numpy.counts)}`);
  console.log(`ratio binIndex/numpy: ${(oursRate / numpyRate).toFixed(2)}`);
}

main();
