/**
 * Handler overhead: the warm inference app in-process (routing and model caches warm, long TTL so no store calls)
 * against bare `session.run` on pre-built tensors, same model (examples/breast-cancer), batch 1 and batch 32.
 * Calls are interleaved (app, bare, bare, app, …) so both see the same machine state. The app's time includes JSON
 * parsing, validation, encoding, routing, formatting, JSON serialisation and metrics; the target is a p99 overhead
 * of at most 0.2 ms at batch 1.
 *
 * Four app variants: metrics into the in-memory sink (local mode); the same with drift counting on (the drift
 * hook counts every instance into the baseline bins; its store only tallies the flushed rows, so the figure is the
 * counting cost, not DynamoDB's); drift counting with a prediction baseline too (computed at start as
 * `modelops push --reference` does, so every prediction is also counted into the prediction bins); and Powertools
 * EMF serialised to a null stream (what Lambda does, minus the write to stdout).
 * Run: npx tsx bench/handler-overhead.bench.ts
 */
import { Console } from 'node:console';
import path from 'node:path';
import { Writable } from 'node:stream';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { PowertoolsMetricsSink } from '../lambdas/adapters/powertools-metrics-sink';
import { OnnxModelRuntime } from '../lambdas/adapters/onnx-model-runtime';
import { registeredArtifactKey, registeredManifestKey } from '../lambdas/core/keys';
import { InMemoryMetricsSink } from '../lambdas/adapters/in-memory-metrics-sink';
import { createOnnxBackend } from '../lambdas/adapters/onnx-backend';
import type {
  DeploymentRecord,
  DriftCounterStore,
  MetricsSink,
  StructuredLogger,
  VersionRecord,
} from '../lambdas/core/ports';
import { prepareBundle } from '../cli/bundle';
import { createDriftHook, type DriftHook } from '../lambdas/inference/drift-hook';
import { sha256OfBytes } from '../lambdas/core/sha256';
import { createInferenceApp, type InferenceApp } from '../lambdas/inference/inference-app';
import { FakeRegistry } from '../test/unit/fakes';
import {
  batchOf,
  EXAMPLE_DIR,
  loadExampleModel,
  median,
  MODEL,
  ms,
  percentile,
  timedOk,
  timeNs,
  type ExampleModel,
} from './support';

const WARMUP = 500;
const ROUNDS = 3;
const ITERATIONS: Record<number, number> = { 1: 5_000, 32: 1_000 };

const silentLogger: StructuredLogger = { debug() {}, info() {}, warn() {}, error() {} };

function nullConsole(): Console {
  const sink = new Writable({
    write(_chunk, _encoding, callback) {
      callback();
    },
  });
  return new Console({ stdout: sink, stderr: sink });
}

function buildApp(model: ExampleModel, metrics: MetricsSink, drift?: DriftHook): InferenceApp {
  const { manifest } = model;
  // The registry objects the app reads, from memory: the bench measures the handler, not the network.
  const registry = new FakeRegistry();
  const manifestKey = registeredManifestKey(MODEL, manifest.version);
  const artifactKey = registeredArtifactKey(MODEL, manifest.version, manifest.artifact.sha256);
  registry.put(manifestKey, model.manifestText);
  registry.put(artifactKey, model.artifact);
  // Its ModelVersions record, read once at the first load like the manifest.
  const version: VersionRecord = {
    model: MODEL,
    version: manifest.version,
    status: 'REGISTERED',
    createdAt: new Date().toISOString(),
    updatedAt: new Date().toISOString(),
    artifactKey,
    manifestKey,
    sha256: manifest.artifact.sha256,
    manifestSha256: sha256OfBytes(model.manifestText),
  };
  const record: DeploymentRecord = {
    model: MODEL,
    stable: manifest.version,
    weight: 0,
    mode: 'canary',
    revision: 1,
    updatedAt: new Date().toISOString(),
  };
  return createInferenceApp({
    models: [MODEL],
    registry,
    versions: { getVersion: async () => version },
    routing: { getDeployment: async () => record },
    backend: createOnnxBackend(new OnnxModelRuntime()),
    // An hour: no routing reload during the run.
    settings: { routingCacheTtlMs: 3_600_000 },
    metrics,
    logger: silentLogger,
    ...(drift ? { hooks: [drift] } : {}),
  });
}

/** A drift hook whose store only tallies the rows it is handed (flushing every 10 s, the config default). */
function countingHook(): { hook: DriftHook; rows: () => number } {
  let rows = 0;
  const store: DriftCounterStore = {
    addCounts: async (_model, _version, _bucket, counts) => {
      rows += counts.total;
    },
    readWindow: async () => ({ counts: undefined, itemsRead: 0 }),
  };
  const hook = createDriftHook({ store, logger: silentLogger, now: Date.now, flushSeconds: 10 });
  return { hook, rows: () => rows };
}

/** The example with the prediction baseline `modelops push --reference` computes (the committed one has none). */
async function withPredictionBaseline(model: ExampleModel): Promise<ExampleModel> {
  const bundle = await prepareBundle(EXAMPLE_DIR, { reference: path.join(EXAMPLE_DIR, 'reference.csv') });
  if (bundle.manifest.baseline?.predictions === undefined) throw new Error('no prediction baseline computed');
  const manifestText = bundle.manifestText;
  return { ...model, manifest: JSON.parse(manifestText) as ExampleModel['manifest'], manifestText };
}

interface Series {
  readonly app: number[];
  readonly bare: number[];
}

async function measure(
  app: InferenceApp,
  session: InferenceSession,
  model: ExampleModel,
  batch: number,
  iterations: number,
): Promise<Series> {
  const rows = batchOf(model, batch, 7);
  const body = JSON.stringify({ instances: rows });
  const data = new Float32Array(batch * model.features.length);
  rows.forEach((row, r) => model.features.forEach((f, c) => (data[r * model.features.length + c] = row[f]!)));
  const feeds = { [session.inputNames[0]!]: new Tensor('float32', data, [batch, model.features.length]) };
  const request = {
    method: 'POST',
    path: `/models/${MODEL}/invoke`,
    headers: { 'content-type': 'application/json' },
    body,
    requestId: 'bench',
  };
  const callApp = (): Promise<number> => timedOk(() => app(request));
  const callBare = (): Promise<number> => timeNs(() => session.run(feeds));
  for (let i = 0; i < WARMUP; i++) {
    await callApp();
    await callBare();
  }
  const series: Series = { app: [], bare: [] };
  for (let i = 0; i < iterations; i++) {
    if (i % 2 === 0) {
      series.app.push(await callApp());
      series.bare.push(await callBare());
    } else {
      series.bare.push(await callBare());
      series.app.push(await callApp());
    }
  }
  return series;
}

function report(label: string, batch: number, s: Series): { p99OverheadMs: number } {
  const app = [...s.app].sort((a, b) => a - b);
  const bare = [...s.bare].sort((a, b) => a - b);
  const [a50, a99, b50, b99] = [
    percentile(app, 50),
    percentile(app, 99),
    percentile(bare, 50),
    percentile(bare, 99),
  ];
  console.log(
    `${label.padEnd(33)} batch ${String(batch).padStart(2)}  n=${app.length}  ` +
      `app p50 ${ms(a50)} p99 ${ms(a99)} ms | bare session.run p50 ${ms(b50)} p99 ${ms(b99)} ms | ` +
      `overhead p50 ${ms(a50 - b50)} p99 ${ms(a99 - b99)} ms | ratio p50 ${(a50 / b50).toFixed(2)} p99 ${(a99 / b99).toFixed(2)}`,
  );
  return { p99OverheadMs: (a99 - b99) / 1e6 };
}

async function main(): Promise<void> {
  const model = await loadExampleModel();
  const session = await InferenceSession.create(model.artifact, { graphOptimizationLevel: 'all' });
  // Powertools also warns through `logger` (per request, when a dimension name repeats across sets); silence it so
  // the figures are not dominated by console writes the bench would otherwise print.
  const metrics = new Metrics({ namespace: 'ModelOpsBench', serviceName: 'bench', logger: silentLogger });
  // Powertools writes EMF through its own Console; point it at a stream that drops the bytes.
  (metrics as unknown as { console: Console }).console = nullConsole();
  if (model.manifest.baseline === undefined)
    throw new Error(`${MODEL} has no baseline: drift would count nothing`);
  const drift = countingHook();
  const predictionDrift = countingHook();
  const variants: [string, InferenceApp][] = [
    ['app (in-memory metrics)', buildApp(model, new InMemoryMetricsSink())],
    ['app (in-memory, drift counting)', buildApp(model, new InMemoryMetricsSink(), drift.hook)],
    [
      'app (drift + prediction counting)',
      buildApp(await withPredictionBaseline(model), new InMemoryMetricsSink(), predictionDrift.hook),
    ],
    [
      'app (Powertools EMF metrics)',
      buildApp(model, new PowertoolsMetricsSink({ namespace: 'ModelOpsBench', metrics })),
    ],
  ];
  console.log(
    `model ${MODEL} ${model.manifest.version}, warm-up ${WARMUP} per series, node ${process.version}`,
  );
  const verdicts: string[] = [];
  for (const batch of [1, 32]) {
    for (const [label, app] of variants) {
      // Several rounds: on a shared machine one round's p99 can be another process's time slice.
      const overheads: number[] = [];
      for (let round = 1; round <= ROUNDS; round++) {
        const series = await measure(app, session, model, batch, ITERATIONS[batch]!);
        overheads.push(report(`${label} #${round}`, batch, series).p99OverheadMs);
      }
      if (batch === 1) {
        const mid = median(overheads);
        verdicts.push(
          `${label}: median of ${ROUNDS} rounds' p99 overhead ${mid.toFixed(3)} ms at batch 1 — target ≤ 0.2 ms ` +
            (mid <= 0.2 ? 'met' : 'NOT met'),
        );
      }
    }
  }
  for (const v of verdicts) console.log(v);
  await drift.hook.close();
  await predictionDrift.hook.close();
  console.log(
    `drift counting: ${drift.rows()} rows flushed to the counter store; ` +
      `with predictions: ${predictionDrift.rows()} rows`,
  );
  await session.release();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
