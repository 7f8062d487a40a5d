/**
 * The EMF metrics sink per request: `PowertoolsMetricsSink` (templates serialised once per blob shape) against the
 * same group published through Powertools' per-blob API (`setDefaultDimensions`, `addDimensions`, `addMetric` per
 * datum, `publishStoredMetrics`), which is what the sink did for every blob before. Both write to a null console;
 * interleaved rounds, one request's group (Requests, Errors, InvalidInput, Latency) under {Model, Version} and
 * {Model}.
 * Run: npx tsx bench/emf-sink.bench.ts
 */
import { Console } from 'node:console';
import { Writable } from 'node:stream';
import { MetricResolution, Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { PowertoolsMetricsSink } from '../lambdas/adapters/powertools-metrics-sink';
import type { MetricDatum, MetricDimensions, StructuredLogger } from '../lambdas/core/ports';
import { median, percentile } from './support';

const ROUNDS = 5;
const ITERATIONS = 20_000;
const silentLogger: StructuredLogger = { debug() {}, info() {}, warn() {}, error() {} };

function powertools(): Metrics {
  const sink = new Writable({
    write(_chunk, _encoding, callback) {
      callback();
    },
  });
  const metrics = new Metrics({ namespace: 'ModelOpsBench', serviceName: 'bench', logger: silentLogger });
  (metrics as unknown as { console: Console }).console = new Console({ stdout: sink, stderr: sink });
  metrics.clearDefaultDimensions();
  return metrics;
}

const dims: readonly MetricDimensions[] = [
  { Model: 'breast-cancer', Version: '1.0.0' },
  { Model: 'breast-cancer' },
];
const group = (latency: number): MetricDatum[] => [
  { name: 'Requests', unit: 'Count', value: 1 },
  { name: 'Errors', unit: 'Count', value: 0 },
  { name: 'InvalidInput', unit: 'Count', value: 0 },
  { name: 'Latency', unit: 'Milliseconds', value: latency, highResolution: true },
];

const sink = new PowertoolsMetricsSink({ namespace: 'ModelOpsBench', metrics: powertools() });
const direct = powertools();
const variants: Record<string, (latency: number) => void> = {
  'sink (templates)': (latency) => {
    sink.emit(dims, group(latency));
    sink.flush();
  },
  'Powertools per-blob API': (latency) => {
    direct.setDefaultDimensions({ Model: 'breast-cancer' });
    direct.addDimensions({ Version: '1.0.0' });
    direct.addDimensions({});
    for (const d of group(latency)) {
      direct.addMetric(
        d.name,
        d.unit === 'Count' ? MetricUnit.Count : MetricUnit.Milliseconds,
        d.value,
        d.highResolution ? MetricResolution.High : MetricResolution.Standard,
      );
    }
    direct.publishStoredMetrics();
    direct.clearDefaultDimensions();
  },
};

const p50s: Record<string, number[]> = {};
const p99s: Record<string, number[]> = {};
for (const name of Object.keys(variants)) {
  p50s[name] = [];
  p99s[name] = [];
  for (let i = 0; i < 2_000; i++) variants[name]!(i / 1000);
}
for (let round = 0; round < ROUNDS; round++) {
  const names = Object.keys(variants);
  if (round % 2 === 1) names.reverse();
  for (const name of names) {
    const f = variants[name]!;
    const times: number[] = [];
    for (let i = 0; i < ITERATIONS; i++) {
      const start = process.hrtime.bigint();
      f(i / 1000);
      times.push(Number(process.hrtime.bigint() - start) / 1000);
    }
    times.sort((a, b) => a - b);
    p50s[name]!.push(percentile(times, 50));
    p99s[name]!.push(percentile(times, 99));
  }
}
for (const name of Object.keys(variants)) {
  console.log(
    `${name.padEnd(26)} per request: median of ${ROUNDS} rounds p50 ${median(p50s[name]!).toFixed(2)} µs, ` +
      `p99 ${median(p99s[name]!).toFixed(2)} µs`,
  );
}
const [ours, theirs] = Object.keys(variants).map((n) => median(p50s[n]!));
console.log(`ratio sink / Powertools per-blob API at p50: ${(ours! / theirs!).toFixed(2)}`);
