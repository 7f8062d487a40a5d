/**
 * Drift monitor cost per window: the example model's rows (examples/breast-cancer, 30 features) are counted by the
 * real DriftCounter into 5-minute buckets of a 60-minute window, 1k rows against 1M rows, then `monitorModel` judges
 * the window (read counters, sum, compare with the baseline, step the state). Prints the median judge time and the
 * items read for each, and the ratio 1M / 1k: the monitor reads counters, not rows, so it should stay near 1.
 * Stores are in memory (the DynamoDB read of 12 items is not included).
 * Then the detection delay: simulated minutes from an abrupt shift to `ModelDriftDetected` under the default config.
 * Run: npx tsx bench/drift-monitor.bench.ts
 */
import { DriftCounter, DRIFT_BUCKET_MS } from '../lambdas/core/drift-counter';
import { monitorModel, type DriftConfig, type DriftMonitorDeps } from '../lambdas/core/drift-monitor';
import type { Baseline } from '../lambdas/core/manifest';
import type { DeploymentRecord, VersionRecord } from '../lambdas/core/ports';
import { FakeDeploymentStore, FakeRegistry, FakeVersionStore } from '../test/unit/fakes';
import { MemoryDriftCounters, MemoryMonitorState } from '../test/unit/memory-monitor-ports';
import { batchOf, loadExampleModel, median, MODEL } from './support';

const WINDOW_MINUTES = 60;
const T0 = Date.parse('2026-01-01T00:00:00Z');
const RUNS = 200;
const SCHEDULE_MS = 10 * 60_000;
const CONFIG: DriftConfig = {
  enabled: true,
  windowMinutes: WINDOW_MINUTES,
  minLiveCount: 1000,
  thresholds: { jsDistance: 0.1, psi: 0.2 },
  datasetDriftShare: 0.5,
  persistence: { m: 3, n: 6 },
  cooldownMinutes: 120,
};

/** The example model registered and stable, with in-memory stores. */
async function setupModel() {
  const model = await loadExampleModel();
  const manifest = model.manifest as typeof model.manifest & { baseline: Baseline };
  const version = manifest.version;
  const manifestKey = `models/${MODEL}/${version}/manifest.json`;
  const registry = new FakeRegistry();
  registry.put(manifestKey, model.manifestText);
  const versions = new FakeVersionStore();
  versions.records.set(`${MODEL}#${version}`, {
    model: MODEL,
    version,
    status: 'REGISTERED',
    createdAt: '2026-01-01T00:00:00Z',
    updatedAt: '2026-01-01T00:00:00Z',
    manifestKey,
  } as VersionRecord);
  const deployments = new FakeDeploymentStore();
  deployments.records.set(MODEL, {
    model: MODEL,
    stable: version,
    weight: 0,
    mode: 'canary',
    revision: 1,
    updatedAt: '2026-01-01T00:00:00Z',
  } satisfies DeploymentRecord);
  const deps: DriftMonitorDeps = {
    deployments,
    versions,
    registry,
    counters: new MemoryDriftCounters(),
    monitorState: new MemoryMonitorState(),
  };
  return { deps, model, version, baseline: manifest.baseline };
}

async function judge(rows: number): Promise<{ ms: number; itemsRead: number; liveCount: number }> {
  const { deps: shared, model, version, baseline } = await setupModel();
  const { deployments, versions, registry, counters } = shared;
  // The rows spread evenly over the window's buckets, counted as the inference hook counts them.
  const counter = new DriftCounter(1_000);
  const buckets = (WINDOW_MINUTES * 60_000) / DRIFT_BUCKET_MS;
  for (let b = 0, done = 0; b < buckets; b++) {
    const end = Math.round(((b + 1) / buckets) * rows);
    while (done < end) {
      const batch = batchOf(model, Math.min(1_000, end - done), done);
      counter.count(MODEL, version, baseline, batch, T0 + b * DRIFT_BUCKET_MS);
      done += batch.length;
    }
  }
  for (const d of counter.drain()) await counters.addCounts(d.model, d.version, d.bucketStartMs, d.counts);

  const times: number[] = [];
  let itemsRead = 0;
  let liveCount = 0;
  for (let i = 0; i < RUNS; i++) {
    const deps: DriftMonitorDeps = {
      deployments,
      versions,
      registry,
      counters,
      monitorState: new MemoryMonitorState(),
    };
    const start = process.hrtime.bigint();
    const outcome = await monitorModel(deps, {
      model: MODEL,
      config: CONFIG,
      nowMs: T0 + WINDOW_MINUTES * 60_000,
    });
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
    if (outcome.kind !== 'judged') throw new Error(`window not judged: ${JSON.stringify(outcome)}`);
    itemsRead = outcome.itemsRead;
    liveCount = outcome.result.liveCount;
  }
  return { ms: median([...times].sort((a, b) => a - b)), itemsRead, liveCount };
}

/**
 * Simulated minutes from an abrupt shift (every feature × `factor`) to `ModelDriftDetected` under the default
 * config: `rate` rows per minute, 5-minute buckets, a monitor run every 10 minutes over a sliding 60-minute window,
 * m = 3 of n = 6. Two calm hours come first (none may raise).
 */
async function detectionDelayMinutes(factor: number, rate: number): Promise<number> {
  const { deps, model, version, baseline } = await setupModel();
  const counter = new DriftCounter(1_000);
  const calmMs = 2 * 60 * 60_000;
  const bucketRows = (rate * DRIFT_BUCKET_MS) / 60_000;
  for (let t = T0; t < T0 + calmMs + 6 * 60 * 60_000; t += DRIFT_BUCKET_MS) {
    const shifted = t >= T0 + calmMs;
    const rows = batchOf(model, bucketRows, (t - T0) / DRIFT_BUCKET_MS).map((row) =>
      shifted ? Object.fromEntries(Object.entries(row).map(([k, v]) => [k, v * factor])) : row,
    );
    counter.count(MODEL, version, baseline, rows, t);
    for (const d of counter.drain())
      await deps.counters.addCounts(d.model, d.version, d.bucketStartMs, d.counts);
    const end = t + DRIFT_BUCKET_MS;
    if ((end - T0) % SCHEDULE_MS !== 0) continue;
    const outcome = await monitorModel(deps, { model: MODEL, config: CONFIG, nowMs: end });
    if (outcome.kind === 'judged' && outcome.event !== undefined) {
      if (!shifted) throw new Error('raised during the calm hours');
      return (end - (T0 + calmMs)) / 60_000;
    }
  }
  throw new Error(`no ModelDriftDetected within 6 h of a × ${factor} shift`);
}

async function main(): Promise<void> {
  await judge(1_000); // warm-up: the first run pays for JIT compilation
  const small = await judge(1_000);
  const large = await judge(1_000_000);
  for (const [label, r] of [
    ['1k requests', small],
    ['1M requests', large],
  ] as const) {
    console.log(
      `${label.padEnd(12)} live ${String(r.liveCount).padStart(8)}  items read ${r.itemsRead}  ` +
        `judge median ${r.ms.toFixed(3)} ms (${RUNS} runs)`,
    );
  }
  for (const factor of [2, 1.3, 1.1]) {
    const minutes = await detectionDelayMinutes(factor, 100);
    console.log(
      `shift × ${factor} at 100 rows/min, default config (60-min window, run every 10 min, m = 3 of 6): ` +
        `ModelDriftDetected after ${minutes} simulated minutes`,
    );
  }
  console.log(
    `ratio 1M/1k: time ${(large.ms / small.ms).toFixed(2)}, items read ${(large.itemsRead / small.itemsRead).toFixed(2)}`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
