/**
 * Tensor requests: the digits example (tensor feature `image`, float32 [8, 8]) sent as nested JSON arrays vs as
 * `{ "b64": … }`, batch 1 and 32. Reports request bytes and the handler overhead of each form — the warm app
 * in-process (JSON parse, validation, encoding, routing, formatting, metrics) minus bare `session.run` on pre-built
 * tensors, calls interleaved (app nested, app b64, bare, …) so all see the same machine state — and the ratio
 * base64/nested of both, measured in the same run. Both forms must give identical predictions (checked first).
 * Run: npx tsx bench/tensor-request.bench.ts
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { InMemoryMetricsSink } from '../lambdas/adapters/in-memory-metrics-sink';
import { createOnnxBackend } from '../lambdas/adapters/onnx-backend';
import { OnnxModelRuntime } from '../lambdas/adapters/onnx-model-runtime';
import { registeredArtifactKey, registeredManifestKey } from '../lambdas/core/keys';
import type { DeploymentRecord, StructuredLogger, VersionRecord } from '../lambdas/core/ports';
import { sha256OfBytes } from '../lambdas/core/sha256';
import { createInferenceApp, type InferenceApp } from '../lambdas/inference/inference-app';
import { FakeRegistry } from '../test/unit/fakes';
import { median, ms, percentile, REPO_ROOT, timedOk, timeNs } from './support';

const MODEL = 'digits';
const DIR = path.join(REPO_ROOT, 'examples', MODEL);
const WARMUP = 300;
const ROUNDS = 3;
const ITERATIONS: Record<number, number> = { 1: 3_000, 32: 600 };
const silentLogger: StructuredLogger = { debug() {}, info() {}, warn() {}, error() {} };

interface Manifest {
  version: string;
  artifact: { sha256: string };
}

function buildApp(manifestText: string, artifact: Buffer): InferenceApp {
  const manifest = JSON.parse(manifestText) as Manifest;
  const registry = new FakeRegistry();
  const manifestKey = registeredManifestKey(MODEL, manifest.version);
  const artifactKey = registeredArtifactKey(MODEL, manifest.version, manifest.artifact.sha256);
  registry.put(manifestKey, manifestText);
  registry.put(artifactKey, artifact);
  const now = new Date().toISOString();
  const version: VersionRecord = {
    model: MODEL,
    version: manifest.version,
    status: 'REGISTERED',
    createdAt: now,
    updatedAt: now,
    artifactKey,
    manifestKey,
    sha256: manifest.artifact.sha256,
    manifestSha256: sha256OfBytes(manifestText),
  };
  const record: DeploymentRecord = {
    model: MODEL,
    stable: manifest.version,
    weight: 0,
    mode: 'canary',
    revision: 1,
    updatedAt: now,
  };
  return createInferenceApp({
    models: [MODEL],
    registry,
    versions: { getVersion: async () => version },
    routing: { getDeployment: async () => record },
    backend: createOnnxBackend(new OnnxModelRuntime()),
    settings: { routingCacheTtlMs: 3_600_000 },
    metrics: new InMemoryMetricsSink(),
    logger: silentLogger,
  });
}

const b64Of = (image: readonly number[][]): string => {
  const flat = image.flat();
  return Buffer.from(Float32Array.from(flat).buffer).toString('base64');
};

async function main(): Promise<void> {
  const manifestText = readFileSync(path.join(DIR, 'manifest.json'), 'utf8');
  const artifact = readFileSync(path.join(DIR, 'model.onnx'));
  const images = readFileSync(path.join(DIR, 'reference.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .slice(0, 32)
    .map((l) => (JSON.parse(l) as { image: number[][] }).image);
  const app = buildApp(manifestText, artifact);
  const session = await InferenceSession.create(artifact, { graphOptimizationLevel: 'all' });
  console.log(
    `model ${MODEL}, input float32 [N, 8, 8], warm-up ${WARMUP} per series, node ${process.version}`,
  );

  // The example's pixels are whole numbers 0-16 (1-2 characters in JSON); real image, audio or embedding inputs are
  // fractions, so the same images are also sent as float32 fractions (pixel / 16 + a little seeded noise).
  let seed = 7;
  const noise = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648 - 0.5) * 1e-3;
  const fractional = images.map((image) => image.map((row) => row.map((v) => Math.fround(v / 16 + noise()))));
  for (const [label, set] of [
    ['integer pixels 0-16', images],
    ['float32 fractions', fractional],
  ] as const) {
    console.log(`-- values: ${label}`);
    for (const batch of [1, 32]) {
      const rows = set.slice(0, batch);
      const bodies = {
        nested: JSON.stringify({ instances: rows.map((image) => ({ image })) }),
        b64: JSON.stringify({ instances: rows.map((image) => ({ image: { b64: b64Of(image) } })) }),
      };
      const request = (body: string) => ({
        method: 'POST',
        path: `/models/${MODEL}/invoke`,
        headers: { 'content-type': 'application/json' },
        body,
        requestId: 'bench',
      });
      const requests = { nested: request(bodies.nested), b64: request(bodies.b64) };
      const feeds = { image: new Tensor('float32', Float32Array.from(rows.flat(2)), [batch, 8, 8]) };

      const first = await app(requests.nested);
      const second = await app(requests.b64);
      if (first.statusCode !== 200 || second.statusCode !== 200) {
        throw new Error(
          `app answered ${first.statusCode}/${second.statusCode}: ${first.body} ${second.body}`,
        );
      }
      const predictions = (r: { body: string }) =>
        JSON.stringify((JSON.parse(r.body) as { predictions: unknown }).predictions);
      if (predictions(first) !== predictions(second)) throw new Error('nested and b64 predictions differ');

      const callApp = (form: 'nested' | 'b64'): Promise<number> => timedOk(() => app(requests[form]));
      const callBare = (): Promise<number> => timeNs(() => session.run(feeds));
      for (let i = 0; i < WARMUP; i++) {
        await callApp('nested');
        await callApp('b64');
        await callBare();
      }
      const bytes = { nested: Buffer.byteLength(bodies.nested), b64: Buffer.byteLength(bodies.b64) };
      console.log(
        `batch ${String(batch).padStart(2)}  request bytes: nested ${bytes.nested}, b64 ${bytes.b64}, ` +
          `ratio b64/nested ${(bytes.b64 / bytes.nested).toFixed(3)}`,
      );
      const ratios50: number[] = [];
      const ratios99: number[] = [];
      for (let round = 1; round <= ROUNDS; round++) {
        const s = { nested: [] as number[], b64: [] as number[], bare: [] as number[] };
        for (let i = 0; i < ITERATIONS[batch]!; i++) {
          // Rotate the order so no form always runs right after another.
          const order = (['nested', 'b64', 'bare'] as const).map((_, k, a) => a[(i + k) % 3]!);
          for (const which of order)
            s[which].push(which === 'bare' ? await callBare() : await callApp(which));
        }
        const sorted = (a: number[]) => [...a].sort((x, y) => x - y);
        const [n, b, bare] = [sorted(s.nested), sorted(s.b64), sorted(s.bare)];
        const over = (a: number[], p: number) => percentile(a, p) - percentile(bare, p);
        const [n50, n99, b50, b99] = [over(n, 50), over(n, 99), over(b, 50), over(b, 99)];
        ratios50.push(b50 / n50);
        ratios99.push(b99 / n99);
        console.log(
          `batch ${String(batch).padStart(2)} #${round}  n=${n.length}  bare session.run p50 ${ms(percentile(bare, 50))} ms | ` +
            `overhead nested p50 ${ms(n50)} p99 ${ms(n99)} ms | b64 p50 ${ms(b50)} p99 ${ms(b99)} ms | ` +
            `ratio b64/nested p50 ${(b50 / n50).toFixed(2)} p99 ${(b99 / n99).toFixed(2)}`,
        );
      }
      console.log(
        `batch ${String(batch).padStart(2)}  median of ${ROUNDS} rounds: overhead ratio b64/nested ` +
          `p50 ${median(ratios50).toFixed(2)}, p99 ${median(ratios99).toFixed(2)}`,
      );
    }
  }
  await session.release();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
