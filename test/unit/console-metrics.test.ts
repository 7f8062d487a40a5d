/**
 * The console's chart series (`ConsoleApi.metrics`) and prediction bins (`ConsoleApi.predictionBins`) against the
 * real local metric store and in-memory stores, with known data points on a fake clock.
 */
import { describe, expect, it } from 'vitest';
import { TimeSeriesMetricsStore } from '../../lambdas/adapters/local-metric-store';
import type { ApprovalStore, DeploymentRecord, VersionRecord } from '../../lambdas/core/ports';
import { readModelBudget } from '../../lambdas/core/rollout-budget';
import { parseConfig } from '../../lib/config';
import { binLabels, budgetRemainingSeries, ConsoleApi, ExecutionRing } from '../../local/console/api';
import { FakeAuditLog, FakeDeploymentStore, FakeRegistry, FakeVersionStore } from './fakes';
import { tinyManifest } from './manifest-fixtures';
import { MemoryDriftCounters } from './memory-monitor-ports';

const MODEL = 'tiny-classifier';
const MIN = 60_000;
const T0 = Date.parse('2026-01-01T12:00:00Z');
const config = parseConfig({ models: [{ name: MODEL, owner: 'ml' }] });

function setup() {
  const clock = { now: T0 };
  const metrics = new TimeSeriesMetricsStore({ now: () => clock.now });
  const deployments = new FakeDeploymentStore();
  const versions = new FakeVersionStore();
  const registry = new FakeRegistry();
  const counters = new MemoryDriftCounters();
  const api = new ConsoleApi({
    config,
    stores: {
      versions,
      deployments,
      audit: new FakeAuditLog(),
      approvals: {} as ApprovalStore,
      registry,
      counters,
    },
    executions: new ExecutionRing(),
    metrics,
    now: () => clock.now,
  });
  const at = (ms: number, data: Record<string, number>, dimensions: Record<string, string> = {}) => {
    clock.now = ms;
    metrics.emit(
      [{ Model: MODEL, ...dimensions }],
      Object.entries(data).map(([name, value]) => ({ name, unit: 'Count' as const, value })),
    );
  };
  return { clock, metrics, api, at, deployments, versions, registry, counters };
}

describe('ConsoleApi.metrics', () => {
  it("draws each objective's budget remaining, ending at the rollout gate's reading, and its burn rate", async () => {
    const { clock, metrics, api, at } = setup();
    // GIVEN 1 000 clean requests two hours ago, then in the chart's window 100 requests per 10 s for 5 periods, one
    // of them with 1 error and 2 slow requests
    at(T0 - 120 * MIN, { Requests: 1000, Errors: 0, SlowRequests: 0 });
    for (let p = 0; p < 5; p++) {
      at(T0 - 5 * MIN + p * 10_000, {
        Requests: 100,
        Errors: p === 2 ? 1 : 0,
        SlowRequests: p === 2 ? 2 : 0,
      });
    }
    clock.now = T0;
    // WHEN
    const m = await api.metrics(MODEL, 10);
    // THEN the numbers are the gate's own (readModelBudget over the 30-day period)
    const gate = await readModelBudget(metrics, MODEL, config.models[0]!.slo, T0);
    expect(m.budget).toEqual({
      periodDays: 30,
      requests: 1500,
      objectives: gate.objectives.map(({ sli, target, status, remaining, bad }) => ({
        sli,
        target,
        status,
        remaining,
        bad,
      })),
    });
    const [availability, latency] = m.budget!.objectives;
    expect(availability!.remaining).toBeCloseTo(1 - 1 / 1500 / 0.001, 12);
    expect(latency!.remaining).toBeCloseTo(1 - 2 / 1500 / 0.01, 12);
    // The series' last point is that reading; before the error, only the clean requests counted: untouched.
    const budget = m.series['budget:availability']!;
    expect(budget).toHaveLength(m.timestamps.length);
    expect(budget.at(-1)).toBeCloseTo(availability!.remaining!, 12);
    const errorAt = m.timestamps.indexOf(T0 - 5 * MIN + 20_000);
    expect(budget[errorAt - 1]).toBe(1);
    expect(budget[errorAt]).toBeCloseTo(1 - 1 / 1300 / 0.001, 12);
    expect(m.series['budget:latency']![errorAt]).toBeCloseTo(1 - 2 / 1300 / 0.01, 12);
    // Burn rate per period: 1 % errors against a 0.1 % budget, 2 % slow against 1 %; no request, no rate.
    expect(m.series['burnRate:availability']![errorAt]).toBeCloseTo(10, 12);
    expect(m.series['burnRate:latency']![errorAt]).toBeCloseTo(2, 12);
    expect(m.series['burnRate:availability']![errorAt + 1]).toBe(0);
    expect(m.series['burnRate:availability']![0]).toBeNull();
  });

  it('reports no budget, never a full one, without any request in the period', async () => {
    const { api } = setup();
    const m = await api.metrics(MODEL, 10);
    expect(m.budget!.objectives.map((o) => [o.sli, o.status, o.remaining])).toEqual([
      ['availability', 'no-data', null],
      ['latency', 'no-data', null],
    ]);
    expect(m.series['budget:availability']!.every((v) => v === null)).toBe(true);
  });

  it('has prediction drift per output, label lag and labels received, and MAE', async () => {
    const { clock, api, at } = setup();
    at(T0 - 3 * MIN, { PredictionDriftJsDistance: 0.25 }, { Output: 'label' });
    at(T0 - 3 * MIN, { PredictionDriftJsDistance: 0.05 }, { Output: 'probabilities' });
    for (const lag of [30, 30, 30]) at(T0 - 2 * MIN, { LabelLagSeconds: lag, LabelsReceived: 1 });
    at(T0 - 2 * MIN, { PredictionAbsoluteError: 2 });
    at(T0 - 2 * MIN, { PredictionAbsoluteError: 4 });
    clock.now = T0;
    const m = await api.metrics(MODEL, 10);
    expect(m.outputs).toEqual(['label', 'probabilities']);
    const at2 = m.timestamps.indexOf(T0 - 2 * MIN);
    const at3 = m.timestamps.indexOf(T0 - 3 * MIN);
    expect(m.series['predictionDrift:label']![at3]).toBe(0.25);
    expect(m.series['predictionDrift:probabilities']![at3]).toBe(0.05);
    expect(m.series.labels![at2]).toBe(3);
    expect(m.series.labelLagP50![at2]).toBeCloseTo(30, 0);
    expect(m.series.labelLagP99![at2]).toBeCloseTo(30, 0);
    expect(m.series.mae![at2]).toBe(3);
    // No point where nothing was emitted (a gap, not a zero).
    expect(m.series.labelLagP99![at2 - 1]).toBeNull();
  });

  it('rejects a model that is not in the config', async () => {
    await expect(setup().api.metrics('nope', 10)).rejects.toThrow(/no model "nope"/);
  });
});

describe('ConsoleApi.predictionBins', () => {
  const PREDICTIONS = {
    label: { kind: 'categorical', categories: ['benign', 'malignant'], counts: [60, 40, 0], missing: 0 },
    probabilities: { kind: 'numeric', edges: [0.5, 0.75, 1], counts: [0, 50, 50, 0], missing: 0 },
  } as const;

  function withStable(predictions: boolean) {
    const s = setup();
    const manifest = tinyManifest();
    if (predictions) manifest.baseline.predictions = structuredClone(PREDICTIONS) as never;
    const manifestKey = `models/${MODEL}/1.0.0/manifest.json`;
    s.registry.put(manifestKey, JSON.stringify(manifest));
    s.versions.records.set(`${MODEL}#1.0.0`, {
      model: MODEL,
      version: '1.0.0',
      status: 'REGISTERED',
      createdAt: '2026-01-01T00:00:00Z',
      updatedAt: '2026-01-01T00:00:00Z',
      manifestKey,
    } as VersionRecord);
    s.deployments.records.set(MODEL, {
      model: MODEL,
      stable: '1.0.0',
      weight: 0,
      mode: 'canary',
      revision: 1,
      updatedAt: '2026-01-01T00:00:00Z',
    } satisfies DeploymentRecord);
    return s;
  }

  it("sets the stable version's baseline shares beside the drift window's live shares", async () => {
    const { api, counters } = withStable(true);
    // The drift window is the last 60 minutes (drift.windowMinutes): an older bucket is not in it.
    await counters.addCounts(MODEL, '1.0.0', T0 - 90 * MIN, {
      features: {},
      predictions: { label: { counts: [0, 1000, 0], missing: 0 } },
      total: 1000,
    });
    await counters.addCounts(MODEL, '1.0.0', T0 - 30 * MIN, {
      features: {},
      predictions: { label: { counts: [90, 10, 0], missing: 0 } },
      total: 100,
    });
    const view = await api.predictionBins(MODEL);
    expect(view).toMatchObject({
      version: '1.0.0',
      windowStart: new Date(T0 - 60 * MIN).toISOString(),
      windowEnd: new Date(T0).toISOString(),
    });
    expect(view!.outputs).toEqual([
      {
        output: 'label',
        bins: ['benign', 'malignant', '__OTHER__'],
        baseline: [0.6, 0.4, 0],
        live: [0.9, 0.1, 0],
        liveCount: 100,
      },
      {
        output: 'probabilities',
        bins: ['< 0.5', '0.5–0.75', '0.75–1', '> 1'],
        baseline: [0, 0.5, 0.5, 0],
        live: [],
        liveCount: 0,
      },
    ]);
  });

  it('is absent without a prediction baseline or a stable version', async () => {
    expect(await withStable(false).api.predictionBins(MODEL)).toBeUndefined();
    expect(await setup().api.predictionBins(MODEL)).toBeUndefined();
  });
});

describe('budgetRemainingSeries', () => {
  it('walks back from the period total through each period, as budgetRemaining computes it', () => {
    expect(
      budgetRemainingSeries({ requests: 300 }, { target: 0.9, bad: 3 }, [100, null, 100], [3, null, 0]),
    ).toEqual([1 - 3 / 200 / 0.1, 1 - 3 / 200 / 0.1, 1 - 3 / 300 / 0.1].map((x) => expect.closeTo(x, 12)));
  });

  it('has no point where the period had no request yet', () => {
    expect(budgetRemainingSeries({ requests: 10 }, { target: 0.9, bad: 0 }, [10, 0], [0, 0])).toEqual([1, 1]);
    expect(budgetRemainingSeries({ requests: 10 }, { target: 0.9, bad: 0 }, [0, 10], [0, 0])).toEqual([
      null,
      1,
    ]);
  });
});

describe('binLabels', () => {
  it('labels numeric bins by their edges and categorical ones by category, then __OTHER__', () => {
    expect(binLabels({ kind: 'numeric', edges: [1, 2.34567], counts: [0, 0, 0], missing: 0 })).toEqual([
      '< 1',
      '1–2.35',
      '> 2.35',
    ]);
    expect(binLabels({ kind: 'categorical', categories: ['a'], counts: [0, 0], missing: 0 })).toEqual([
      'a',
      '__OTHER__',
    ]);
  });
});
