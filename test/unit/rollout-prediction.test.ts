/**
 * The prediction-shift input of AnalyzeCanary (core/canary-predictions.ts through core/rollout.ts `analyzeCanary`):
 * both versions' prediction bins are read from the drift counters over the canary's window, aligned to whole
 * DriftCounters buckets, and handed to the judge; the check is skipped, with the reason audited, when there is
 * nothing comparable. In-memory stores; no metrics (the other checks stay inconclusive and decide nothing here).
 */
import { describe, expect, it } from 'vitest';
import {
  comparableOutput,
  predictionWindow,
  type CanaryPredictionDeps,
} from '../../lambdas/core/canary-predictions';
import type { CheckResult } from '../../lambdas/core/canary-judge';
import { bucketStart, DRIFT_BUCKET_MS } from '../../lambdas/core/drift-counter';
import type { Baseline } from '../../lambdas/core/manifest';
import type { DeploymentRecord, MetricsReader, VersionRecord } from '../../lambdas/core/ports';
import {
  analyzeCanary,
  startRollout,
  type RolloutPolicy,
  type RolloutState,
} from '../../lambdas/core/rollout';
import { FakeAuditLog, FakeDeploymentStore, FakeRegistry, FakeVersionStore } from './fakes';
import { tinyManifest } from './manifest-fixtures';
import { MemoryDriftCounters } from './memory-monitor-ports';

const MODEL = 'tiny-classifier';
const MINUTE = 60_000;
/** Two minutes into a counter bucket: the rollout does not start on a bucket boundary. */
const T0 = bucketStart(Date.parse('2026-06-01T12:00:00Z')) + 2 * MINUTE;
const POLICY: RolloutPolicy = {
  steps: [0.5],
  bakeSeconds: 60,
  lock: { ttlMinutes: 60, onLocked: 'wait', waitSeconds: 1, maxWaits: 2 },
  dryRun: false,
  judge: {},
};
const noMetrics: MetricsReader = { read: async () => [] };

const LABEL_BINS = {
  kind: 'categorical',
  categories: ['benign', 'malignant'],
  counts: [60, 40, 0],
  missing: 0,
};
const PROBABILITY_BINS = { kind: 'numeric', edges: [0.6, 0.8, 0.9], counts: [25, 25, 25, 25], missing: 0 };

type Predictions = Baseline['predictions'];

function setup(
  baselines: { stable?: Predictions; candidate?: Predictions } = {},
  candidateRetrained = false,
) {
  const deployments = new FakeDeploymentStore();
  const versions = new FakeVersionStore();
  const audit = new FakeAuditLog();
  const registry = new FakeRegistry();
  const counters = new MemoryDriftCounters();
  const register = (version: string, predictions: Predictions) => {
    const manifest = tinyManifest();
    manifest.version = version;
    if (predictions !== undefined) manifest.baseline.predictions = predictions;
    const manifestKey = `models/${MODEL}/${version}/manifest.json`;
    registry.put(manifestKey, JSON.stringify(manifest));
    versions.records.set(`${MODEL}#${version}`, {
      model: MODEL,
      version,
      status: 'REGISTERED',
      manifestKey,
      ...(candidateRetrained && version === '2.0.0'
        ? { lineage: { retrain: { runId: 'r1', trigger: 'drift' } } }
        : {}),
    } as VersionRecord);
  };
  const both = { label: LABEL_BINS, probabilities: PROBABILITY_BINS } as Predictions;
  register('1.0.0', 'stable' in baselines ? baselines.stable : both);
  register('2.0.0', 'candidate' in baselines ? baselines.candidate : both);
  deployments.records.set(MODEL, {
    model: MODEL,
    stable: '1.0.0',
    weight: 0,
    mode: 'canary',
    revision: 1,
    updatedAt: '',
  } satisfies DeploymentRecord);
  const predictions: CanaryPredictionDeps = { versions, registry, counters };
  /** Served predictions of one version in the bucket holding `atMs` (label bins: benign, malignant, other; missing). */
  const served = (version: string, atMs: number, label: [number, number, number], missing = 0) =>
    counters.addCounts(MODEL, version, bucketStart(atMs), {
      features: {},
      predictions: { label: { counts: label, missing } },
      total: label[0] + label[1] + label[2] + missing,
    });
  const start = () =>
    startRollout(
      { deployments, versions, audit },
      { model: MODEL, version: '2.0.0', executionId: 'exec-a', policy: POLICY, nowMs: T0 },
    );
  const analyze = (state: RolloutState, nowMs: number, withPredictions = true) =>
    analyzeCanary(
      { deployments, audit, metrics: noMetrics, ...(withPredictions ? { predictions } : {}) },
      state,
      nowMs,
    );
  const lastVerdict = () => {
    const event = audit.events.filter((e) => e.type === 'CANARY_VERDICT').at(-1)!;
    const details = event.details as { checks: CheckResult[]; predictionInput: Record<string, unknown> };
    return {
      check: details.checks.find((c) => c.metric === 'predictionShift')!,
      input: details.predictionInput,
    };
  };
  return { served, start, analyze, lastVerdict, counters };
}

describe('AnalyzeCanary prediction-shift input', () => {
  it('rolls back a proven small shift, but lets a retrained candidate (lineage.retrain) shift up to maxPredictionShift', async () => {
    for (const retrained of [false, true]) {
      const s = setup({}, retrained);
      const state = await s.start();
      // 55 % vs 50 % benign on 10,000 predictions each: JS distance ≈ 0.04, far below 0.1 but proven.
      await s.served('1.0.0', T0 + MINUTE, [5000, 5000, 0]);
      await s.served('2.0.0', T0 + MINUTE, [5500, 4500, 0]);
      await s.analyze(state, T0 + 3 * MINUTE);
      const { check } = s.lastVerdict();
      expect(check.decision).toBe(retrained ? 'pass' : 'fail');
      expect(check.limit).toBe(retrained ? 0.1 : 0.01);
    }
  });

  it('passes both versions’ class bins over the canary window to the judge, which rolls a flipped candidate back', async () => {
    const s = setup();
    const state = await s.start();
    // Stable answers 60 % benign, the candidate 30 %: a share of the inputs changed class.
    await s.served('1.0.0', T0 + MINUTE, [600, 400, 0]);
    await s.served('2.0.0', T0 + MINUTE, [300, 700, 0]);
    const next = await s.analyze(state, T0 + 3 * MINUTE);
    expect(next).toMatchObject({ next: 'rollback', reason: 'PREDICTION_SHIFT' });
    const { check, input } = s.lastVerdict();
    expect(check).toMatchObject({ decision: 'fail', reasonCode: 'PREDICTION_SHIFT', limit: 0.1 });
    expect(check.effect).toBeGreaterThan(0.2);
    expect(input).toEqual({
      output: 'label',
      windowStart: new Date(bucketStart(T0)).toISOString(),
      windowEnd: new Date(bucketStart(T0 + 3 * MINUTE) + DRIFT_BUCKET_MS).toISOString(),
      bins: ['benign', 'malignant', '__OTHER__', 'missing'],
      candidate: [300, 700, 0, 0],
      stable: [600, 400, 0, 0],
      itemsRead: { candidate: 1, stable: 1 },
    });
  });

  it('passes a candidate that predicts like stable once both have the samples', async () => {
    const s = setup();
    const state = await s.start();
    await s.served('1.0.0', T0 + MINUTE, [600, 400, 0]);
    await s.served('2.0.0', T0 + MINUTE, [590, 410, 0]);
    await s.analyze(state, T0 + 3 * MINUTE);
    expect(s.lastVerdict().check).toMatchObject({ decision: 'pass', reasonCode: 'HEALTHY' });
  });

  it('reads whole counter buckets: the one holding the start (stable traffic just before it too) up to the one holding now', async () => {
    const s = setup();
    const state = await s.start();
    // The bucket before the rollout's: outside the window.
    await s.served('1.0.0', T0 - DRIFT_BUCKET_MS, [0, 5000, 0]);
    // The rollout's own bucket, one minute before it started: inside (the consequence of whole buckets).
    await s.served('1.0.0', T0 - MINUTE, [100, 0, 0]);
    // Later buckets, up to the one still filling at the look.
    await s.served('1.0.0', T0 + DRIFT_BUCKET_MS, [500, 400, 0]);
    await s.served('2.0.0', T0 + 2 * DRIFT_BUCKET_MS, [600, 400, 0]);
    const now = T0 + 2 * DRIFT_BUCKET_MS + MINUTE;
    // The bucket after the look's has not begun: not read even if an item (a clock skew) existed.
    await s.served('2.0.0', now + DRIFT_BUCKET_MS, [0, 9000, 0]);
    await s.analyze(state, now);
    expect(s.lastVerdict().input).toMatchObject({
      windowStart: new Date(bucketStart(T0)).toISOString(),
      windowEnd: new Date(bucketStart(now) + DRIFT_BUCKET_MS).toISOString(),
      stable: [600, 400, 0, 0],
      candidate: [600, 400, 0, 0],
      itemsRead: { stable: 2, candidate: 1 },
    });
  });

  it('aligns the window to DRIFT_BUCKET_MS on both ends', () => {
    const start = bucketStart(T0);
    expect(predictionWindow(T0, T0 + 30_000)).toEqual({ fromMs: start, toMs: start + DRIFT_BUCKET_MS });
    expect(predictionWindow(start, start + DRIFT_BUCKET_MS)).toEqual({
      fromMs: start,
      toMs: start + 2 * DRIFT_BUCKET_MS,
    });
  });

  it('waits (inconclusive, never a pass) while only one version has counts: the other’s are zeros', async () => {
    const s = setup();
    const state = await s.start();
    await s.served('1.0.0', T0 + MINUTE, [600, 400, 0]);
    const next = await s.analyze(state, T0 + 3 * MINUTE);
    expect(next.next).toBe('bake');
    const { check, input } = s.lastVerdict();
    expect(check).toMatchObject({ decision: 'inconclusive', reasonCode: 'INSUFFICIENT_SAMPLES' });
    expect(input).toMatchObject({ candidate: [0, 0, 0, 0], itemsRead: { candidate: 0, stable: 1 } });
  });

  it('counts a missing prediction as a bin of its own', async () => {
    const s = setup();
    const state = await s.start();
    await s.served('1.0.0', T0 + MINUTE, [600, 400, 0]);
    await s.served('2.0.0', T0 + MINUTE, [300, 200, 0], 500);
    await s.analyze(state, T0 + 3 * MINUTE);
    expect(s.lastVerdict().input).toMatchObject({ candidate: [300, 200, 0, 500] });
    expect(s.lastVerdict().check.decision).toBe('fail');
  });

  it('skips the check, saying why, when AnalyzeCanary is wired without a reader (the callers before this input)', async () => {
    const s = setup();
    const state = await s.start();
    await s.analyze(state, T0 + 3 * MINUTE, false);
    expect(s.lastVerdict().check).toMatchObject({ decision: 'skipped', effect: null });
    expect(s.lastVerdict().input).toEqual({ skipped: 'AnalyzeCanary has no prediction-count reader wired' });
  });

  it('skips the check when a version has no prediction baseline: nothing of it is counted', async () => {
    const s = setup({ candidate: undefined });
    const state = await s.start();
    await s.served('1.0.0', T0 + MINUTE, [600, 400, 0]);
    await s.analyze(state, T0 + 3 * MINUTE);
    expect(s.lastVerdict().check.decision).toBe('skipped');
    expect(String(s.lastVerdict().input.skipped)).toMatch(
      /^candidate 2\.0\.0 has no prediction baseline \(manifest baseline\.predictions/,
    );
  });

  it('skips the check when neither version has a counter item in the window (drift counting off)', async () => {
    const s = setup();
    const state = await s.start();
    await s.analyze(state, T0 + 3 * MINUTE);
    expect(s.lastVerdict().check.decision).toBe('skipped');
    expect(String(s.lastVerdict().input.skipped)).toMatch(
      /no prediction counts for either version between .*: drift counting is off for tiny-classifier \(models\[\]\.drift\.enabled\)/,
    );
  });

  it('skips the check when no output has the same bins in both versions, naming each output', async () => {
    const s = setup({
      stable: { probabilities: PROBABILITY_BINS } as Predictions,
      candidate: { probabilities: { ...PROBABILITY_BINS, edges: [0.55, 0.8, 0.95] } } as Predictions,
    });
    const state = await s.start();
    await s.analyze(state, T0 + 3 * MINUTE);
    expect(s.lastVerdict().input.skipped).toBe(
      "no output has the same prediction bins in both versions (probabilities: the bin edges differ (each version's " +
        "are its own reference predictions'))",
    );
  });
});

describe('comparableOutput', () => {
  const baseline = (predictions: Predictions): Baseline => ({
    referenceCount: 100,
    features: {},
    predictions,
  });

  it('prefers the class output, whatever the order of the outputs', () => {
    const b = baseline({ probabilities: PROBABILITY_BINS, label: LABEL_BINS } as Predictions);
    expect(comparableOutput(b, b)).toMatchObject({ output: 'label', candidateIndex: [0, 1, 2] });
  });

  it('realigns the candidate’s class counts when it lists the same labels in another order', () => {
    const stable = baseline({ label: LABEL_BINS } as Predictions);
    const candidate = baseline({
      label: { ...LABEL_BINS, categories: ['malignant', 'benign'] },
    } as Predictions);
    expect(comparableOutput(stable, candidate)).toEqual({
      output: 'label',
      binNames: ['benign', 'malignant', '__OTHER__'],
      candidateIndex: [1, 0, 2],
    });
  });

  it('falls back to a numeric output with identical edges when the labels differ', () => {
    const stable = baseline({ label: LABEL_BINS, probabilities: PROBABILITY_BINS } as Predictions);
    const candidate = baseline({
      label: { ...LABEL_BINS, categories: ['benign', 'suspicious'] },
      probabilities: PROBABILITY_BINS,
    } as Predictions);
    expect(comparableOutput(stable, candidate)).toEqual({
      output: 'probabilities',
      binNames: ['<0.6', '>=0.6', '>=0.8', '>=0.9'],
      candidateIndex: [0, 1, 2, 3],
    });
  });
});
