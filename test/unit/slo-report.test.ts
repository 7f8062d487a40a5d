/**
 * `modelops status`'s SLO section (budget, burn rates and firing alarms) and drift section (state, latest window,
 * per feature) from the local metric store (fake clock).
 */
import { describe, expect, it } from 'vitest';
import { TimeSeriesMetricsStore } from '../../lambdas/adapters/local-metric-store';
import { sloReport } from '../../lambdas/core/slo-report';
import { status } from '../../cli/status';
import type { DriftState } from '../../lambdas/core/drift-state';
import type { AuditEvent, MetricsReader, VersionRecord } from '../../lambdas/core/ports';
import { FakeRegistry } from './fakes';
import { tinyManifest } from './manifest-fixtures';

const MINUTE = 60_000;
const model = {
  name: 'bc',
  slo: { periodDays: 30, availability: { target: 0.999 }, latency: { target: 0.99, thresholdMs: 250 } },
  drift: false,
};

function traffic(minutes: readonly [requests: number, errors: number, slow: number][]) {
  let now = Date.UTC(2026, 0, 1);
  const store = new TimeSeriesMetricsStore({ now: () => now });
  for (const [requests, errors, slow] of minutes) {
    store.emit(
      [{ Model: 'bc' }],
      [
        { name: 'Requests', unit: 'Count', value: requests },
        { name: 'Errors', unit: 'Count', value: errors },
        { name: 'SlowRequests', unit: 'Count', value: slow },
      ],
    );
    now += MINUTE;
  }
  return { store, now };
}

describe('sloReport', () => {
  it('computes the budget spent and the burn rate of each window from the counts', async () => {
    // GIVEN 6 clean hours, then 1 h at 1 % errors and 2 % slow requests
    const { store, now } = traffic([
      ...Array.from({ length: 360 }, () => [100, 0, 0] as [number, number, number]),
      ...Array.from({ length: 60 }, () => [100, 1, 2] as [number, number, number]),
    ]);
    // WHEN
    const report = await sloReport(model, store, now);
    // THEN availability: 60 errors of 42 000 requests against a 0.1 % budget
    const [availability, latency] = report.objectives;
    expect(availability!.budget).toMatchObject({ status: 'exhausted' });
    if (availability!.budget.status !== 'no-data') {
      expect(availability!.budget.remaining).toBeCloseTo(1 - 60 / 42_000 / 0.001, 9);
    }
    expect(availability!.burnRates.get(60 * MINUTE)).toBeCloseTo(0.01 / 0.001, 9);
    expect(availability!.burnRates.get(6 * 60 * MINUTE)).toBeCloseTo(60 / 36_000 / 0.001, 9);
    expect(latency!.burnRates.get(5 * MINUTE)).toBeCloseTo(0.02 / 0.01, 9);
    // burn 10 over 1 h is under the 14.4 page, 1.67 over 6 h under the 6 page: the budget is gone, nothing pages
    expect(report.firing.map((s) => s.id)).not.toContain('availability-burn-page-1h');
  });

  it('reports no data, not a full budget or a zero burn rate, when there was no traffic', async () => {
    const { store, now } = traffic([]);
    const report = await sloReport(model, store, now);
    expect(report.objectives[0]!.budget).toEqual({ status: 'no-data', total: 0 });
    expect(report.objectives[0]!.burnRates.get(60 * MINUTE)).toBeUndefined();
    expect(report.firing).toEqual([]);
  });

  it('lists the firing alarms by the deployed rule ids', async () => {
    // GIVEN 2 clean hours then 5 minutes at 50 % errors
    const { store, now } = traffic([
      ...Array.from({ length: 120 }, () => [100, 0, 0] as [number, number, number]),
      ...Array.from({ length: 5 }, () => [100, 50, 0] as [number, number, number]),
    ]);
    const report = await sloReport(model, store, now);
    expect(report.firing.map((s) => s.id)).toContain('availability-burn-page-1h');
  });
});

describe('modelops status with SLOs', () => {
  it('prints budget, burn rates and firing alarms under the ledger', async () => {
    const { store, now } = traffic(
      Array.from({ length: 60 }, () => [100, 50, 0] as [number, number, number]),
    );
    const out: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => out.push(l) };
    const stores = {
      versions: {
        listVersions: async (): Promise<readonly VersionRecord[]> => [],
        getVersion: async () => undefined,
        putVersionUnlessRegistered: async () => {
          throw new Error('not used');
        },
      },
      audit: {
        listAudit: async (): Promise<readonly AuditEvent[]> => [],
        appendAudit: async () => undefined,
      },
    };
    await status(
      'bc',
      { description: 'test' } as never,
      { slo: { model, reader: store, nowMs: now } },
      io as never,
      stores,
    );
    const text = out.join('\n');
    expect(text).toMatch(/availability\s+99\.9 %\s+-\d+ % left \(exhausted\)/);
    expect(text).toContain('BURN 1h');
    expect(text).toContain('500.00'); // 50 % errors / 0.1 % budget
    expect(text).toContain('Alarms firing: availability-burn-page-1h');
  });
});

describe('modelops status with drift', () => {
  const NOW = Date.parse('2026-03-01T12:00:30Z');
  const manifestKey = 'models/bc/1.0.0/manifest.json';
  const driftConfig = {
    enabled: true,
    windowMinutes: 60,
    scheduleMinutes: 10,
    thresholds: { jsDistance: 0.1, psi: 0.2 },
    persistence: { m: 3, n: 6 },
    minLiveCount: 1000,
  };

  /** The ledger with version 1.0.0 of bc (baseline features x1, x2), a stored drift state, and drift metrics. */
  function setup(state: DriftState | undefined) {
    const registry = new FakeRegistry();
    const manifest = tinyManifest();
    manifest.name = 'bc';
    manifest.baseline.features.x2 = manifest.baseline.features.x1; // x2 is a declared numeric input
    registry.put(manifestKey, JSON.stringify(manifest));
    const record = {
      model: 'bc',
      version: '1.0.0',
      status: 'REGISTERED',
      createdAt: '2026-03-01T00:00:00Z',
      updatedAt: '2026-03-01T00:00:00Z',
      manifestKey,
    } as VersionRecord;
    const stores = {
      versions: {
        listVersions: async (): Promise<readonly VersionRecord[]> => [record],
        getVersion: async (_m: string, v: string) => (v === '1.0.0' ? record : undefined),
        putVersionUnlessRegistered: async () => {
          throw new Error('not used');
        },
      },
      audit: {
        listAudit: async (): Promise<readonly AuditEvent[]> => [],
        appendAudit: async () => undefined,
      },
      monitorState: {
        getState: async (model: string, kind: string) =>
          state === undefined || model !== 'bc' || kind !== 'drift'
            ? undefined
            : { model, kind, version: '1.0.0', state, revision: 3, updatedAt: '2026-03-01T11:58:00.000Z' },
        putState: async () => {
          throw new Error('status never writes the state');
        },
      },
    };
    let now = NOW - 2 * MINUTE;
    const store = new TimeSeriesMetricsStore({ now: () => now });
    const emitRun = (count: number, share?: number, features: Record<string, [number, number]> = {}) => {
      store.emit(
        [{ Model: 'bc' }],
        [
          { name: 'DriftWindowCount', unit: 'Count', value: count },
          { name: 'DriftInsufficientData', unit: 'Count', value: share === undefined ? 1 : 0 },
          ...(share === undefined
            ? []
            : [{ name: 'DatasetDriftShare', unit: 'Count' as const, value: share }]),
        ],
      );
      for (const [feature, [js, psi]] of Object.entries(features)) {
        store.emit(
          [{ Model: 'bc', Feature: feature }],
          [
            { name: 'FeatureDriftJsDistance', unit: 'Count', value: js },
            { name: 'FeatureDriftPsi', unit: 'Count', value: psi },
          ],
        );
      }
    };
    const run = async (config = driftConfig, reader: MetricsReader = store) => {
      now = NOW;
      const out: string[] = [];
      const io = { out: (l: string) => out.push(l), err: (l: string) => out.push(l) };
      await status(
        'bc',
        { description: 'test' } as never,
        { drift: { config, reader, nowMs: NOW, registry } },
        io as never,
        stores,
      );
      return out.join('\n');
    };
    return { emitRun, run };
  }

  it('prints an ALARM with its M-of-N windows and a feature table after the ledger', async () => {
    const { emitRun, run } = setup({
      status: 'ALARM',
      recent: [false, true, true, true],
      calm: 0,
      since: '2026-03-01T11:38:00.000Z',
    });
    emitRun(1500, 0.5, { x1: [0.523, 2.1] });
    const text = await run();
    expect(text).toMatch(/1\.0\.0\s+REGISTERED/);
    expect(text).toContain(
      'Drift (version 1.0.0; window 60 min, judged every 10 min; last run 2026-03-01T11:58:00.000Z)',
    );
    expect(text).toContain(
      'State: ALARM since 2026-03-01T11:38:00.000Z; 3 of the last 4 scored windows drifted (alarm at 3 of 6; ' +
        'oldest first: ok drifted drifted drifted).',
    );
    expect(text).toContain('Latest window (2026-03-01T11:58:00.000Z): 1500 rows, dataset drift share 50 %');
    expect(text).toMatch(/FEATURE\s+JS DISTANCE\s+PSI\s+DRIFTED/);
    expect(text).toMatch(/x1\s+0\.523\s+2\.100\s+yes \(JS, PSI\)/);
    // x2 has no datapoint: no data, never 0.000 / "no"
    expect(text).toMatch(/x2\s+no data\s+no data\s+unknown/);
  });

  it('prints an OK state with the features under their thresholds', async () => {
    const { emitRun, run } = setup({ status: 'OK', recent: [false, false], calm: 2 });
    emitRun(4000, 0, { x1: [0.02, 0.01], x2: [0.05, 0.03] });
    const text = await run();
    expect(text).toContain('State: OK; 0 of the last 2 scored windows drifted');
    expect(text).toContain('dataset drift share 0 %');
    expect(text).toMatch(/x1\s+0\.020\s+0\.010\s+no/);
    expect(text).toMatch(/x2\s+0\.050\s+0\.030\s+no/);
  });

  it('prints insufficient data, not zero drift, for a window with too few rows', async () => {
    const { emitRun, run } = setup({
      status: 'OK',
      recent: [],
      calm: 0,
      cooldownUntil: '2026-03-01T13:00:00.000Z',
      since: '2026-03-01T11:00:00.000Z',
    });
    emitRun(120);
    const text = await run();
    expect(text).toContain(
      'State: OK, cooldown until 2026-03-01T13:00:00.000Z (no alarm before then); no window scored yet.',
    );
    expect(text).toContain('insufficient data (120 rows, fewer than the 1000 needed)');
    expect(text).not.toContain('dataset drift share');
    expect(text).toContain('not scored, which does not mean no drift');
    expect(text).not.toContain('JS DISTANCE');
  });

  it('prints "drift off" when the model has drift disabled', async () => {
    const { run } = setup(undefined);
    const text = await run({ ...driftConfig, enabled: false });
    expect(text).toContain('Drift: drift off');
  });

  it('prints that there is no drift state yet, with the schedule', async () => {
    const { run } = setup(undefined);
    expect(await run()).toContain('Drift: no drift state yet (the monitor runs every 10 minutes).');
  });

  it('still prints the ledger and the drift state when the metrics cannot be read', async () => {
    const { run } = setup({ status: 'ALARM', recent: [true, true, true], calm: 0 });
    const text = await run(driftConfig, {
      read: async () => {
        throw new Error('connect ECONNREFUSED 127.0.0.1:4570');
      },
    });
    expect(text).toMatch(/1\.0\.0\s+REGISTERED/);
    expect(text).toContain('State: ALARM; 3 of the last 3 scored windows drifted');
    expect(text).toContain('Latest window: metrics could not be read (connect ECONNREFUSED 127.0.0.1:4570).');
  });
});
