/** The drift report of `modelops status`: the stored drift state plus the latest run's metrics, never 0 for missing. */
import { describe, expect, it } from 'vitest';
import { TimeSeriesMetricsStore } from '../../lambdas/adapters/local-metric-store';
import { monitorModel, type DriftConfig } from '../../lambdas/core/drift-monitor';
import {
  baselineNames,
  driftReport,
  type DriftReportConfig,
  type DriftReportInput,
} from '../../lambdas/core/drift-report';
import type { DriftState } from '../../lambdas/core/drift-state';
import {
  DRIFT_METRICS,
  FEATURE_DIMENSION,
  METRIC_DIMENSIONS,
  OUTPUT_DIMENSION,
  type MetricReadRequest,
  type MetricsReader,
  type MonitorStateRecord,
  type VersionRecord,
} from '../../lambdas/core/ports';
import { FakeDeploymentStore, FakeRegistry, FakeVersionStore } from './fakes';
import { tinyManifest } from './manifest-fixtures';
import { MemoryDriftCounters, MemoryMonitorState } from './memory-monitor-ports';

const MODEL = 'bc';
const MIN = 60_000;
const NOW = Date.parse('2026-03-01T12:00:30Z');
const CONFIG: DriftReportConfig = {
  enabled: true,
  windowMinutes: 60,
  scheduleMinutes: 10,
  thresholds: { jsDistance: 0.1, psi: 0.2 },
  persistence: { m: 3, n: 6 },
  minLiveCount: 1000,
};

function record(state: DriftState, version = '1.0.0'): MonitorStateRecord<DriftState> {
  return { model: MODEL, kind: 'drift', version, state, revision: 4, updatedAt: '2026-03-01T11:58:00.000Z' };
}

const ALARM: DriftState = {
  status: 'ALARM',
  recent: [false, true, true, true],
  calm: 0,
  since: '2026-03-01T11:38:00.000Z',
};

/** A metric store on a settable clock, and one monitor run's metrics written into it at `atMs`. */
function metrics() {
  let now = NOW;
  const store = new TimeSeriesMetricsStore({ now: () => now });
  const run = (
    atMs: number,
    window: {
      count: number;
      share?: number;
      features?: Record<string, [js: number, psi: number]>;
      outputs?: Record<string, number>;
    },
  ) => {
    now = atMs;
    const byModel = { [METRIC_DIMENSIONS.model]: MODEL };
    store.emit(
      [byModel],
      [
        { name: DRIFT_METRICS.windowCount, unit: 'Count', value: window.count },
        { name: DRIFT_METRICS.insufficientData, unit: 'Count', value: window.share === undefined ? 1 : 0 },
        { name: DRIFT_METRICS.driftAlarm, unit: 'Count', value: 0 },
        ...(window.share === undefined
          ? []
          : [{ name: DRIFT_METRICS.datasetDrift, unit: 'Count' as const, value: window.share }]),
      ],
    );
    for (const [feature, [js, psi]] of Object.entries(window.features ?? {})) {
      store.emit(
        [{ ...byModel, [FEATURE_DIMENSION]: feature }],
        [
          { name: DRIFT_METRICS.featureJsDistance, unit: 'Count', value: js },
          { name: DRIFT_METRICS.featurePsi, unit: 'Count', value: psi },
        ],
      );
    }
    for (const [output, js] of Object.entries(window.outputs ?? {})) {
      store.emit(
        [{ ...byModel, [OUTPUT_DIMENSION]: output }],
        [{ name: DRIFT_METRICS.predictionDrift, unit: 'Count', value: js }],
      );
    }
    now = NOW;
  };
  return { store, run };
}

function input(over: Partial<DriftReportInput> & Pick<DriftReportInput, 'reader'>): DriftReportInput {
  return {
    model: MODEL,
    config: CONFIG,
    record: record(ALARM),
    features: ['x1', 'x2', 'x3'],
    nowMs: NOW,
    ...over,
  };
}

const failingReader: MetricsReader = {
  read: async () => {
    throw new Error('not to be read');
  },
};

describe('driftReport', () => {
  it('reports drift off without reading anything when the model has drift disabled', async () => {
    const report = await driftReport(input({ config: { ...CONFIG, enabled: false }, reader: failingReader }));
    expect(report).toEqual({ kind: 'disabled' });
  });

  it('reports no state yet, with the schedule, before the monitor has judged the model', async () => {
    const report = await driftReport(input({ record: undefined, reader: failingReader }));
    expect(report).toEqual({ kind: 'no-state', scheduleMinutes: 10 });
  });

  it('reports an ALARM with the M-of-N windows, the share and each feature against its thresholds', async () => {
    const { store, run } = metrics();
    run(NOW - 2 * MIN, { count: 1500, share: 2 / 3, features: { x1: [0.52, 2.1], x2: [0.04, 0.25] } });
    const report = await driftReport(input({ reader: store }));
    expect(report.kind).toBe('reported');
    if (report.kind !== 'reported') return;
    expect(report.version).toBe('1.0.0');
    expect(report.state).toEqual({
      status: 'ALARM',
      since: '2026-03-01T11:38:00.000Z',
      recent: [false, true, true, true],
      drifted: 3,
      m: 3,
      n: 6,
    });
    expect(report.latest).toEqual({
      kind: 'evaluated',
      atMs: Date.parse('2026-03-01T11:58:00Z'),
      liveCount: 1500,
      share: 2 / 3,
    });
    expect(report.features).toEqual([
      {
        feature: 'x1',
        jsDistance: { kind: 'value', value: 0.52, over: true },
        psi: { kind: 'value', value: 2.1, over: true },
        drifted: true,
      },
      {
        feature: 'x2',
        jsDistance: { kind: 'value', value: 0.04, over: false },
        psi: { kind: 'value', value: 0.25, over: true },
        drifted: true,
      },
      // No datapoint (too few values of x3 in the window): missing and unknown, not 0 and not "no drift".
      { feature: 'x3', jsDistance: { kind: 'missing' }, psi: { kind: 'missing' }, drifted: undefined },
    ]);
    expect(report.unreported).toEqual([]);
  });

  it('reports an insufficient latest window as such, not with the scores of an earlier run', async () => {
    const { store, run } = metrics();
    run(NOW - 12 * MIN, { count: 5000, share: 1, features: { x1: [0.6, 3] } });
    run(NOW - 2 * MIN, { count: 120 });
    const report = await driftReport(input({ reader: store, record: record({ ...ALARM }) }));
    if (report.kind !== 'reported') throw new Error(report.kind);
    expect(report.latest).toEqual({
      kind: 'insufficient-data',
      atMs: Date.parse('2026-03-01T11:58:00Z'),
      liveCount: 120,
      minimum: 1000,
    });
    expect(report.features.map((f) => [f.jsDistance, f.psi, f.drifted])).toEqual([
      [{ kind: 'missing' }, { kind: 'missing' }, undefined],
      [{ kind: 'missing' }, { kind: 'missing' }, undefined],
      [{ kind: 'missing' }, { kind: 'missing' }, undefined],
    ]);
  });

  it('reports an OK state in cooldown until its end, and no cooldown once it has passed', async () => {
    const { store, run } = metrics();
    run(NOW - MIN, { count: 1500, share: 0, features: { x1: [0.01, 0.001] } });
    const cooling: DriftState = {
      status: 'OK',
      recent: [],
      calm: 0,
      cooldownUntil: '2026-03-01T13:00:00.000Z',
      since: '2026-03-01T11:00:00.000Z',
    };
    const during = await driftReport(input({ reader: store, record: record(cooling) }));
    if (during.kind !== 'reported') throw new Error(during.kind);
    expect(during.state).toMatchObject({
      status: 'OK',
      cooldownUntil: '2026-03-01T13:00:00.000Z',
      drifted: 0,
    });
    expect(during.features[0]).toMatchObject({ drifted: false });
    const after = await driftReport(
      input({ reader: store, record: record({ ...cooling, cooldownUntil: '2026-03-01T11:30:00.000Z' }) }),
    );
    if (after.kind !== 'reported') throw new Error(after.kind);
    expect(after.state.cooldownUntil).toBeUndefined();
  });

  it('reports no metrics, not zero drift, when no run emitted in the last two schedule intervals', async () => {
    const { store, run } = metrics();
    run(NOW - 30 * MIN, { count: 1500, share: 1, features: { x1: [0.6, 3] } });
    const report = await driftReport(input({ reader: store }));
    if (report.kind !== 'reported') throw new Error(report.kind);
    expect(report.latest).toEqual({ kind: 'no-metrics', lookbackMinutes: 21 });
    expect(report.features.every((f) => f.jsDistance.kind === 'missing')).toBe(true);
  });

  it('reports a missing share as missing when the run says it was evaluated', async () => {
    const { store } = metrics();
    // A run whose share datapoint did not arrive (e.g. partly ingested): count and insufficient = 0 only.
    store.emit(
      [{ Model: MODEL }],
      [
        { name: DRIFT_METRICS.windowCount, unit: 'Count', value: 1500 },
        { name: DRIFT_METRICS.insufficientData, unit: 'Count', value: 0 },
      ],
    );
    const report = await driftReport(input({ reader: store }));
    if (report.kind !== 'reported') throw new Error(report.kind);
    expect(report.latest).toMatchObject({ kind: 'evaluated', share: undefined, liveCount: 1500 });
  });

  it('judges against the configured thresholds merged over the defaults, and names unreported ones', async () => {
    const { store, run } = metrics();
    run(NOW - MIN, { count: 1500, share: 0, features: { x1: [0.05, 0.3] } });
    const report = await driftReport(
      input({
        reader: store,
        features: ['x1'],
        config: { ...CONFIG, thresholds: { psi: 0.5, wasserstein: 0.1 } },
      }),
    );
    if (report.kind !== 'reported') throw new Error(report.kind);
    expect(report.thresholds).toEqual({ jsDistance: 0.1, psi: 0.5, wasserstein: 0.1 });
    expect(report.features[0]).toMatchObject({
      jsDistance: { over: false },
      psi: { over: false },
      drifted: false,
    });
    expect(report.unreported).toEqual(['wasserstein']);
  });

  it('reports prediction drift per output of the prediction baseline', async () => {
    const { store, run } = metrics();
    run(NOW - MIN, { count: 1500, share: 0, outputs: { label: 0.3 } });
    const report = await driftReport(input({ reader: store, outputs: ['label', 'probabilities'] }));
    if (report.kind !== 'reported') throw new Error(report.kind);
    expect(report.outputs).toEqual([
      { output: 'label', jsDistance: { kind: 'value', value: 0.3, over: true }, drifted: true },
      { output: 'probabilities', jsDistance: { kind: 'missing' }, drifted: undefined },
    ]);
  });

  it('reads a wide model in slices of queries, and feature names that are not query ids', async () => {
    const { store, run } = metrics();
    const features = Array.from({ length: 150 }, (_, i) => `Feature-${i}.raw`);
    run(NOW - MIN, { count: 1500, share: 0, features: { 'Feature-149.raw': [0.2, 0.1] } });
    const requests: MetricReadRequest[] = [];
    const reader: MetricsReader = {
      read: (request) => {
        requests.push(request);
        return store.read(request);
      },
    };
    const report = await driftReport(input({ reader, features }));
    if (report.kind !== 'reported') throw new Error(report.kind);
    expect(requests.map((r) => r.queries.length)).toEqual([200, 103]);
    expect(report.features[149]).toMatchObject({ jsDistance: { value: 0.2 }, drifted: true });
  });

  it('reads back exactly what a real monitor run emitted', async () => {
    // GIVEN the monitor judging a shifted window of tiny-classifier's x1
    const deployments = new FakeDeploymentStore();
    const versions = new FakeVersionStore();
    const registry = new FakeRegistry();
    const counters = new MemoryDriftCounters();
    const monitorState = new MemoryMonitorState();
    registry.put('models/bc/1.0.0/manifest.json', JSON.stringify({ ...tinyManifest(), name: MODEL }));
    versions.records.set(`${MODEL}#1.0.0`, {
      model: MODEL,
      version: '1.0.0',
      status: 'REGISTERED',
      createdAt: '2026-03-01T00:00:00Z',
      updatedAt: '2026-03-01T00:00:00Z',
      manifestKey: 'models/bc/1.0.0/manifest.json',
    } as VersionRecord);
    deployments.records.set(MODEL, {
      model: MODEL,
      stable: '1.0.0',
      weight: 0,
      mode: 'canary',
      revision: 1,
      updatedAt: '2026-03-01T00:00:00Z',
    });
    await counters.addCounts(MODEL, '1.0.0', NOW - 5 * MIN, {
      features: { x1: { counts: [10, 40, 400, 550], missing: 0 } },
      total: 1000,
    });
    const config: DriftConfig = {
      enabled: true,
      windowMinutes: 60,
      minLiveCount: 100,
      thresholds: { jsDistance: 0.1, psi: 0.2 },
      datasetDriftShare: 0.5,
      persistence: { m: 2, n: 3 },
      cooldownMinutes: 30,
    };
    const outcome = await monitorModel(
      { deployments, versions, registry, counters, monitorState },
      { model: MODEL, config, nowMs: NOW },
    );
    if (outcome.kind !== 'judged' || outcome.result.status !== 'evaluated') throw new Error('not judged');
    const store = new TimeSeriesMetricsStore({ now: () => NOW });
    for (const m of outcome.metrics)
      store.emit([m.dimensions], [{ name: m.name, unit: 'Count', value: m.value }]);

    // WHEN the report reads the stored state, the baseline's names and the metrics
    const names = await baselineNames({ versions, registry }, MODEL, '1.0.0');
    if (typeof names === 'string') throw new Error(names);
    const report = await driftReport({
      model: MODEL,
      config: { ...CONFIG, persistence: config.persistence },
      record: await monitorState.getState(MODEL, 'drift'),
      features: names.features,
      outputs: names.outputs,
      reader: store,
      nowMs: NOW + 30_000,
    });

    // THEN the row holds the monitor's own numbers
    if (report.kind !== 'reported') throw new Error(report.kind);
    const x1 = outcome.result.features.find((f) => f.feature === 'x1');
    if (x1?.status !== 'evaluated') throw new Error('x1 not evaluated');
    expect(names.features).toEqual(['x1']);
    expect(report.latest).toMatchObject({ kind: 'evaluated', liveCount: 1000, share: 1 });
    expect(report.features).toEqual([
      {
        feature: 'x1',
        jsDistance: { kind: 'value', value: x1.jsDistance, over: true },
        psi: { kind: 'value', value: x1.psi, over: true },
        drifted: true,
      },
    ]);
    expect(report.state).toMatchObject({ status: 'OK', recent: [true], drifted: 1, m: 2, n: 3 });
  });
});

describe('baselineNames', () => {
  it('fails with the reason when the version has no manifest or no baseline', async () => {
    const versions = new FakeVersionStore();
    const registry = new FakeRegistry();
    expect(await baselineNames({ versions, registry }, MODEL, '9.9.9')).toMatch(/no registered manifest/);
    versions.records.set(`${MODEL}#1.0.0`, {
      model: MODEL,
      version: '1.0.0',
      manifestKey: 'models/bc/1.0.0/manifest.json',
    } as VersionRecord);
    expect(await baselineNames({ versions, registry }, MODEL, '1.0.0')).toMatch(/missing from the registry/);
    const { baseline: _none, ...withoutBaseline } = tinyManifest();
    registry.put('models/bc/1.0.0/manifest.json', JSON.stringify(withoutBaseline));
    expect(await baselineNames({ versions, registry }, MODEL, '1.0.0')).toMatch(/has no baseline/);
  });
});
