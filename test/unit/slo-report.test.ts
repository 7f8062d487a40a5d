/** `modelops status`'s SLO section: budget, burn rates and firing alarms from the local metric store (fake clock). */
import { describe, expect, it } from 'vitest';
import { TimeSeriesMetricsStore } from '../../lambdas/adapters/local-metric-store';
import { sloReport } from '../../lambdas/core/slo-report';
import { status } from '../../cli/status';
import type { AuditEvent, VersionRecord } from '../../lambdas/core/ports';

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
