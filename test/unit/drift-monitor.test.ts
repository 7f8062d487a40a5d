import { describe, expect, it } from 'vitest';
import type { DriftConfig } from '../../lib/config';
import {
  deliverOutbox,
  monitorModel,
  runDriftMonitor,
  type DriftMonitorDeps,
} from '../../lambdas/core/drift-monitor';
import type { DeploymentRecord, VersionRecord } from '../../lambdas/core/ports';
import { TimeSeriesMetricsStore } from '../../lambdas/adapters/local-metric-store';
import { evaluateAlarmRules } from '../../lambdas/core/alarm-evaluation';
import { alarmRules } from '../../lambdas/core/alarm-rules';
import type { ModelOpsConfig } from '../../lib/config';
import { DriftRunner } from '../../local/drift-runner';
import { LocalEventBus } from '../../local/event-bus';
import { FakeAuditLog, FakeDeploymentStore, FakeRegistry, FakeVersionStore } from './fakes';
import { tinyManifest } from './manifest-fixtures';
import { MemoryDriftCounters, MemoryMonitorState } from './memory-monitor-ports';

const MODEL = 'tiny-classifier';
const MIN = 60_000;
const T0 = Date.parse('2026-01-01T00:00:00Z');
const CONFIG: DriftConfig = {
  enabled: true,
  windowMinutes: 10,
  minLiveCount: 100,
  thresholds: { jsDistance: 0.1, psi: 0.2 },
  datasetDriftShare: 0.5,
  persistence: { m: 2, n: 3 },
  cooldownMinutes: 30,
  flushSeconds: 10,
};
// Baseline of x1 is [10, 40, 40, 10] (fixture); matching and shifted live bins per 1 000 rows.
const MATCHING = [100, 400, 400, 100];
const SHIFTED = [10, 40, 400, 550];

function setup() {
  const deployments = new FakeDeploymentStore();
  const versions = new FakeVersionStore();
  const registry = new FakeRegistry();
  const counters = new MemoryDriftCounters();
  const monitorState = new MemoryMonitorState();
  const register = (version: string) => {
    const manifest = { ...tinyManifest(), version };
    const manifestKey = `models/${MODEL}/${version}/manifest.json`;
    registry.put(manifestKey, JSON.stringify(manifest));
    versions.records.set(`${MODEL}#${version}`, {
      model: MODEL,
      version,
      status: 'REGISTERED',
      createdAt: '2026-01-01T00:00:00Z',
      updatedAt: '2026-01-01T00:00:00Z',
      manifestKey,
    } as VersionRecord);
  };
  const route = (stable: string, revision: number) =>
    deployments.records.set(MODEL, {
      model: MODEL,
      stable,
      weight: 0,
      mode: 'canary',
      revision,
      updatedAt: '2026-01-01T00:00:00Z',
    } satisfies DeploymentRecord);
  register('1.0.0');
  route('1.0.0', 1);
  const deps: DriftMonitorDeps = { deployments, versions, registry, counters, monitorState };
  /** Counts of window k ([T0 + k·10 min, +10 min)) spread over `buckets` items, `scale` × 1 000 rows. */
  const traffic = async (version: string, k: number, bins: number[], scale = 1, buckets = 1) => {
    for (let b = 0; b < buckets; b++) {
      const counts = bins.map((c) => (c * scale) / buckets);
      await counters.addCounts(MODEL, version, T0 + k * 10 * MIN + b * MIN, {
        features: { x1: { counts, missing: 0 } },
        total: counts.reduce((a, c) => a + c, 0),
      });
    }
  };
  const run = (k: number) =>
    monitorModel(deps, { model: MODEL, config: CONFIG, nowMs: T0 + (k + 1) * 10 * MIN });
  return { deps, register, route, traffic, run, monitorState, counters };
}

describe('monitorModel', () => {
  it('raises after m drifted windows, emits ModelDriftDetected once, clears after n calm windows', async () => {
    const { traffic, run } = setup();
    const pattern = [MATCHING, SHIFTED, SHIFTED, SHIFTED, SHIFTED, MATCHING, MATCHING, MATCHING];
    const out = [];
    for (const [k, bins] of pattern.entries()) {
      await traffic('1.0.0', k, bins);
      out.push(await run(k));
    }
    const states = out.map((o) => (o.kind === 'judged' ? o.state.status : o.kind));
    expect(states).toEqual(['OK', 'OK', 'ALARM', 'ALARM', 'ALARM', 'ALARM', 'ALARM', 'OK']);
    const events = out.flatMap((o) => (o.kind === 'judged' && o.event ? [o.event] : []));
    expect(events).toHaveLength(1);
    expect(events[0]!.detailType).toBe('ModelDriftDetected');
    expect(events[0]!.detail).toMatchObject({
      model: MODEL,
      version: '1.0.0',
      driftedFeatures: ['x1'],
      windowStart: '2026-01-01T00:20:00.000Z',
      windowEnd: '2026-01-01T00:30:00.000Z',
      liveCount: 1000,
      persistence: { m: 2, n: 3 },
    });
    const third = out[2]!;
    expect(third.kind === 'judged' && third.metrics.map((m) => m.name)).toEqual(
      expect.arrayContaining([
        'DatasetDriftShare',
        'FeatureDriftJsDistance',
        'FeatureDriftPsi',
        'DriftAlarm',
      ]),
    );
  });

  it('re-baselines after a stable-version change: cooldown suppresses the alarm', async () => {
    const { traffic, run, register, route } = setup();
    await traffic('1.0.0', 0, MATCHING);
    await run(0);
    register('2.0.0');
    route('2.0.0', 2);
    const outs = [];
    for (let k = 1; k <= 4; k++) {
      await traffic('2.0.0', k, SHIFTED);
      outs.push(await run(k));
    }
    expect(outs.map((o) => o.kind === 'judged' && o.transition)).toEqual([
      'rebaselined',
      'unchanged',
      'suppressed-by-cooldown',
      'raised', // 40 min after the change: cooldown (30 min) over
    ]);
    expect(outs.filter((o) => o.kind === 'judged' && o.event)).toHaveLength(1);
  });

  it('reports insufficient data as its own verdict, never as zero drift', async () => {
    const { traffic, run } = setup();
    await traffic('1.0.0', 0, [1, 4, 20, 25]); // 50 rows < minLiveCount 100
    const out = await run(0);
    expect(out.kind === 'judged' && out.result.status).toBe('insufficient-data');
    const metrics = out.kind === 'judged' ? out.metrics : [];
    expect(metrics.find((m) => m.name === 'DriftInsufficientData')?.value).toBe(1);
    expect(metrics.some((m) => m.name === 'DatasetDriftShare' || m.name === 'FeatureDriftJsDistance')).toBe(
      false,
    );
  });

  it('a twin run that loses the conditional write emits nothing', async () => {
    const { traffic, run, deps } = setup();
    await traffic('1.0.0', 0, SHIFTED);
    await run(0);
    await traffic('1.0.0', 1, SHIFTED);
    // Both runs read the state before either writes (their awaits interleave), so exactly one write conflicts.
    const [a, b] = await Promise.all([
      monitorModel(deps, { model: MODEL, config: CONFIG, nowMs: T0 + 20 * MIN }),
      monitorModel(deps, { model: MODEL, config: CONFIG, nowMs: T0 + 20 * MIN }),
    ]);
    const judged = [a, b].filter((o) => o.kind === 'judged');
    expect(judged.filter((o) => o.kind === 'judged' && o.written)).toHaveLength(1);
    expect(judged.filter((o) => o.kind === 'judged' && o.event)).toHaveLength(1);
    expect(judged.every((o) => o.kind === 'judged' && o.state.status === 'ALARM')).toBe(true);
  });

  it('reads as many items for 1k as for 100k requests in the window', async () => {
    const small = setup();
    await small.traffic('1.0.0', 0, MATCHING, 1, 10);
    const large = setup();
    await large.traffic('1.0.0', 0, MATCHING, 100, 10);
    const [a, b] = [await small.run(0), await large.run(0)];
    expect(a.kind === 'judged' && b.kind === 'judged' && [a.itemsRead, b.itemsRead]).toEqual([10, 10]);
    expect(b.kind === 'judged' && b.result.liveCount).toBe(100_000);
  });

  it('runDriftMonitor publishes once on the bus, audits raise and clear, and isolates a failing model', async () => {
    const { deps, traffic } = setup();
    const bus = new LocalEventBus();
    const received: string[] = [];
    bus.subscribe((e) => void received.push(e.detailType));
    const audit = new FakeAuditLog();
    const logged: string[] = [];
    const models = [
      { name: 'no-such-model', drift: CONFIG },
      { name: MODEL, drift: CONFIG },
    ];
    // A model whose version store throws must not stop the others.
    const failing = {
      ...deps,
      versions: {
        ...deps.versions,
        getVersion: async (model: string, v: string) => {
          if (model === 'broken') throw new Error('boom');
          return deps.versions.getVersion(model, v);
        },
        listVersions: deps.versions.listVersions.bind(deps.versions),
      },
    } as typeof deps;
    const pattern = [SHIFTED, SHIFTED, SHIFTED, MATCHING, MATCHING, MATCHING];
    const times: number[] = [];
    for (const [k, bins] of pattern.entries()) {
      await traffic('1.0.0', k, bins);
      const started = performance.now();
      await runDriftMonitor(
        { ...failing, events: bus, audit },
        {
          models: [{ name: 'broken', drift: CONFIG }, ...models],
          nowMs: T0 + (k + 1) * 10 * MIN,
          actor: 'test',
          log: (m) => logged.push(m),
        },
      );
      times.push(performance.now() - started);
    }
    (deps.deployments as FakeDeploymentStore).records.set('broken', {
      model: 'broken',
      stable: '1',
      weight: 0,
      mode: 'canary',
      revision: 1,
      updatedAt: '',
    });
    await runDriftMonitor(
      { ...failing, events: bus, audit },
      { models: [{ name: 'broken', drift: CONFIG }], nowMs: T0, actor: 'test', log: (m) => logged.push(m) },
    );
    expect(received).toEqual(['ModelDriftDetected']);
    expect(audit.types()).toEqual(['DRIFT_DETECTED', 'DRIFT_CLEARED']);
    expect(logged).toEqual(['drift monitor failed for a model']);
    console.log(`drift monitor ms per window run: ${times.map((t) => t.toFixed(2)).join(', ')}`);
  });

  it('a crash between the state write and the publish loses nothing: the next run delivers the outbox once', async () => {
    const { deps, traffic, monitorState } = setup();
    const audit = new FakeAuditLog();
    const delivered: string[] = [];
    let crash = true;
    const events = {
      publish: async (e: { detailType: string }) => {
        if (crash) throw new Error('process killed before PutEvents');
        delivered.push(e.detailType);
      },
    };
    const runAt = (k: number) =>
      runDriftMonitor(
        { ...deps, events, audit },
        { models: [{ name: MODEL, drift: CONFIG }], nowMs: T0 + (k + 1) * 10 * MIN, actor: 'test' },
      );
    await traffic('1.0.0', 0, SHIFTED);
    await runAt(0);
    await traffic('1.0.0', 1, SHIFTED);
    await runAt(1);
    // The raise was decided and stored, but nothing left the process.
    const stranded = await monitorState.getState(MODEL, 'drift');
    expect((stranded?.state as { status: string }).status).toBe('ALARM');
    expect(stranded?.outbox?.events.map((e) => e.detailType)).toEqual(['ModelDriftDetected']);
    expect(delivered).toEqual([]);
    expect(audit.types()).toEqual([]);

    crash = false;
    await traffic('1.0.0', 2, SHIFTED);
    await runAt(2);
    expect(delivered).toEqual(['ModelDriftDetected']);
    expect(audit.types()).toEqual(['DRIFT_DETECTED']);
    expect((await monitorState.getState(MODEL, 'drift'))?.outbox).toBeUndefined();
    await traffic('1.0.0', 3, SHIFTED);
    await runAt(3);
    expect(delivered).toEqual(['ModelDriftDetected']);
  });

  it('redelivering an outbox appends each audit entry once and carries the event id for deduplication', async () => {
    const { traffic, run, monitorState } = setup();
    await traffic('1.0.0', 0, SHIFTED);
    await run(0);
    await traffic('1.0.0', 1, SHIFTED);
    const outcome = await run(1);
    if (outcome.kind !== 'judged' || outcome.record === undefined)
      throw new Error('expected a written state');
    const audit = new FakeAuditLog();
    const published: unknown[] = [];
    const sinks = { events: { publish: async (e: unknown) => void published.push(e) }, audit, monitorState };
    // The first delivery appends the audit entry, then "crashes" before clearing the outbox.
    await audit.appendAudit(outcome.record.outbox!.audits[0]!);
    expect(await deliverOutbox(sinks, outcome.record, T0)).toBe(true);
    expect(audit.types()).toEqual(['DRIFT_DETECTED']);
    expect(published).toHaveLength(1);
    expect((published[0] as { detail: { eventId: string } }).detail.eventId).toBe(
      `${MODEL}#1.0.0#${new Date(T0 + 10 * MIN).toISOString()}`,
    );
    // A stale record (a twin moved on) is not cleared by this run.
    expect(await deliverOutbox(sinks, outcome.record, T0)).toBe(false);
  });

  it('a repeated delivery of an already judged run skips instead of counting its window twice', async () => {
    const { traffic, run, monitorState } = setup();
    await traffic('1.0.0', 0, SHIFTED);
    expect((await run(0)).kind).toBe('judged');
    const before = await monitorState.getState(MODEL, 'drift');
    const again = await run(0);
    expect(again.kind === 'skipped' && again.reason).toMatch(/already judged/);
    expect(await monitorState.getState(MODEL, 'drift')).toEqual(before);
  });
});

describe('monitorModel: prediction drift', () => {
  // Prediction baseline of the fixture's outputs: class shares 50/50, predicted-class probability in two bins.
  const PREDICTIONS = {
    label: { kind: 'categorical', categories: ['benign', 'malignant'], counts: [50, 50, 0], missing: 0 },
    probabilities: { kind: 'numeric', edges: [0.5, 0.75, 1], counts: [0, 50, 50, 0], missing: 0 },
  };
  const SAME = { label: [500, 500, 0], probabilities: [0, 500, 500, 0] };
  const SKEWED = { label: [950, 50, 0], probabilities: [0, 500, 500, 0] };

  function predictionSetup() {
    const base = setup();
    const manifest = tinyManifest();
    manifest.baseline.predictions = PREDICTIONS;
    (base.deps.registry as FakeRegistry).put(`models/${MODEL}/1.0.0/manifest.json`, JSON.stringify(manifest));
    const traffic = async (k: number, features: number[], predictions?: Record<string, number[]>) =>
      base.counters.addCounts(MODEL, '1.0.0', T0 + k * 10 * MIN, {
        features: { x1: { counts: features, missing: 0 } },
        ...(predictions
          ? {
              predictions: Object.fromEntries(
                Object.entries(predictions).map(([o, counts]) => [o, { counts, missing: 0 }]),
              ),
            }
          : {}),
        total: features.reduce((a, c) => a + c, 0),
      });
    return { ...base, traffic };
  }

  it('emits PredictionDriftJsDistance per {Model, Output}; it does not vote in the share or the alarm', async () => {
    const { traffic, run } = predictionSetup();
    const outs = [];
    for (let k = 0; k < 3; k++) {
      await traffic(k, MATCHING, SKEWED);
      outs.push(await run(k));
    }
    const last = outs[2]!;
    if (last.kind !== 'judged' || last.result.status !== 'evaluated')
      throw new Error('expected a judged window');
    expect(last.result.share).toBe(0);
    expect(last.state.status).toBe('OK');
    expect(last.event).toBeUndefined();
    const label = last.result.predictions?.find((o) => o.output === 'label');
    expect(label).toMatchObject({ status: 'evaluated', kind: 'categorical', liveCount: 1000, drifted: true });
    const predictionMetrics = last.metrics.filter((m) => m.name === 'PredictionDriftJsDistance');
    expect(predictionMetrics.map((m) => m.dimensions)).toEqual([
      { Model: MODEL, Output: 'label' },
      { Model: MODEL, Output: 'probabilities' },
    ]);
    expect(predictionMetrics[0]!.value).toBeCloseTo(
      label!.status === 'evaluated' ? label!.jsDistance : -1,
      12,
    );
    expect(predictionMetrics[0]!.value).toBeGreaterThan(0.3);
    expect(predictionMetrics[1]!.value).toBe(0);
  });

  it('puts evaluated prediction drift into the ModelDriftDetected evidence', async () => {
    const { traffic, run } = predictionSetup();
    const outs = [];
    for (let k = 0; k < 2; k++) {
      await traffic(k, SHIFTED, k === 0 ? SAME : SKEWED);
      outs.push(await run(k));
    }
    const event = outs[1]!.kind === 'judged' ? outs[1]!.event : undefined;
    expect(event?.detail).toMatchObject({
      driftedFeatures: ['x1'],
      predictions: [
        { output: 'label', drifted: true, liveCount: 1000, jsDistance: expect.any(Number) },
        { output: 'probabilities', drifted: false, liveCount: 1000, jsDistance: 0 },
      ],
    });
  });

  it('reports too few live predictions as insufficient, never as zero drift', async () => {
    const { traffic, run } = predictionSetup();
    // Feature counters without prediction counters (e.g. written by an instance that predates the baseline).
    await traffic(0, SHIFTED);
    await traffic(1, SHIFTED, { label: [10, 10, 0], probabilities: [0, 10, 10, 0] });
    await run(0);
    const out = await run(1);
    if (out.kind !== 'judged' || out.result.status !== 'evaluated')
      throw new Error('expected a judged window');
    expect(out.result.predictions).toEqual([
      { status: 'insufficient-data', output: 'label', liveCount: 20, minimum: 100 },
      { status: 'insufficient-data', output: 'probabilities', liveCount: 20, minimum: 100 },
    ]);
    expect(out.metrics.some((m) => m.name === 'PredictionDriftJsDistance')).toBe(false);
    expect(out.event?.detail).not.toHaveProperty('predictions');
    expect(out.event?.detail).toMatchObject({ driftedFeatures: ['x1'] });
  });

  it('reads the window in the prediction layout', async () => {
    const { layoutFromBaseline } = await import('../../lambdas/core/drift-monitor');
    const manifest = tinyManifest();
    manifest.baseline.predictions = PREDICTIONS;
    expect(layoutFromBaseline(manifest.baseline)).toEqual({
      features: { x1: 4 },
      predictions: { label: 3, probabilities: 4 },
    });
  });
});

describe('DriftRunner (local mode)', () => {
  it('a model whose run fails gets DriftMonitorErrors 1 and its alarm rule fires; a healthy one 0', async () => {
    const { deps, traffic } = setup();
    (deps.deployments as FakeDeploymentStore).records.set('broken', {
      model: 'broken',
      stable: '9.9.9',
      weight: 0,
      mode: 'canary',
      revision: 1,
      updatedAt: '',
    });
    const failing = {
      ...deps,
      versions: {
        ...deps.versions,
        getVersion: async (model: string, v: string) => {
          if (model === 'broken') throw new Error('table unavailable');
          return deps.versions.getVersion(model, v);
        },
        listVersions: deps.versions.listVersions.bind(deps.versions),
      },
    } as typeof deps;
    let now = T0 + 10 * MIN;
    const store = new TimeSeriesMetricsStore({ now: () => now });
    const models = [
      { name: 'broken', drift: CONFIG },
      { name: MODEL, drift: CONFIG },
    ];
    const warned: string[] = [];
    const runner = new DriftRunner(
      { models } as unknown as ModelOpsConfig,
      { ...failing, events: new LocalEventBus(), audit: new FakeAuditLog() },
      store,
      { info: () => undefined, warn: (m: string) => void warned.push(m) },
    );
    await traffic('1.0.0', 0, MATCHING);
    await runner.tick(now);
    now += 2 * MIN;
    const read = (model: string) =>
      store.read({
        queries: [{ id: 'e', metricName: 'DriftMonitorErrors', dimensions: { Model: model }, stat: 'Sum' }],
        startMs: T0,
        endMs: now,
        periodSeconds: 60,
      });
    const values = async (model: string) => (await read(model))[0]!.values.filter((v) => v !== null);
    expect(await values('broken')).toEqual([1]);
    expect(await values(MODEL)).toEqual([0]);
    expect(warned.some((w) => w.startsWith('drift monitor failed for a model'))).toBe(true);
    const rules = (model: string) =>
      alarmRules({
        name: model,
        slo: { periodDays: 30, availability: { target: 0.999 }, latency: { target: 0.99, thresholdMs: 100 } },
        driftScheduleMinutes: 10,
      }).filter((r) => r.id === 'drift-monitor-errors');
    // Metric rules judge the latest complete period (here 1 h), as CloudWatch does.
    now = T0 + 61 * MIN;
    const stateOf = async (model: string) => (await evaluateAlarmRules(rules(model), store, now))[0]!.value;
    expect(await stateOf('broken')).toBe('ALARM');
    expect(await stateOf(MODEL)).toBe('OK');
  });
});
