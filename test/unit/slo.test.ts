import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  badRatioThreshold,
  budgetRemaining,
  burnRate,
  burnRateAlarmRules,
  burnRateForBudgetShare,
  cloudWatchWindowIssues,
  DEFAULT_SLO_PERIOD_MS,
  evaluateBurnRateRule,
  SRE_WORKBOOK_TIERS,
} from '../../lambdas/core/slo';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

describe('burn rates (SRE workbook, "Alerting on SLOs", 30-day SLO)', () => {
  it.each([
    ['page', 0.02, HOUR, 14.4],
    ['page', 0.05, 6 * HOUR, 6],
    ['ticket', 0.1, 3 * DAY, 1],
  ])('%s: %s of the budget in the long window is burn rate %s', (_, share, window, rate) => {
    expect(burnRateForBudgetShare(share, window, DEFAULT_SLO_PERIOD_MS)).toBeCloseTo(rate, 12);
  });

  it('reproduces the workbook table for a 99.9 % availability SLO', () => {
    const rules = burnRateAlarmRules({ sli: 'availability', target: 0.999 });
    expect(
      rules.map((r) => ({
        severity: r.severity,
        long: r.longWindowMs / 60_000,
        short: r.shortWindowMs / 60_000,
        burnRate: Number(r.burnRate.toFixed(10)),
        threshold: Number(r.badRatioThreshold.toFixed(12)),
      })),
    ).toEqual([
      { severity: 'page', long: 60, short: 5, burnRate: 14.4, threshold: 0.0144 },
      { severity: 'page', long: 360, short: 30, burnRate: 6, threshold: 0.006 },
      { severity: 'ticket', long: 4320, short: 360, burnRate: 1, threshold: 0.001 },
    ]);
  });

  it('keeps the budget shares for another period: a 7-day SLO pages at 2 % of its budget in an hour', () => {
    const [page] = burnRateAlarmRules({ sli: 'availability', target: 0.99 }, 7 * DAY);
    expect(page!.burnRate).toBeCloseTo(0.02 * 168, 12);
    expect(page!.badRatioThreshold).toBeCloseTo(0.02 * 168 * 0.01, 12);
  });

  it('burnRate and badRatioThreshold are inverses', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.5, max: 0.99999, noNaN: true }),
        fc.double({ min: 0, max: 100, noNaN: true }),
        (target, rate) => {
          expect(burnRate(badRatioThreshold(rate, target), target)).toBeCloseTo(rate, 6);
        },
      ),
    );
  });

  it('rejects unusable objectives and periods, naming the value', () => {
    expect(() => burnRateAlarmRules({ sli: 'availability', target: 1 })).toThrow(
      'target must be between 0 and 1 (exclusive), e.g. 0.999; got 1',
    );
    expect(() => burnRateAlarmRules({ sli: 'latency', target: 0.99 })).toThrow(
      'a latency objective needs thresholdMs > 0 (milliseconds), got undefined',
    );
    expect(() => burnRateAlarmRules({ sli: 'availability', target: 0.99 }, 2 * DAY)).toThrow(
      "the ticket tier's long window (259200000 ms) is longer than the SLO period (172800000 ms)",
    );
  });
});

describe('budgetRemaining', () => {
  it('is the unspent share of the budget', () => {
    expect(budgetRemaining({ total: 100_000, bad: 25 }, 0.999)).toEqual({
      status: 'ok',
      remaining: expect.closeTo(0.75, 12) as number,
      badRatio: 0.00025,
      total: 100_000,
    });
  });

  it('is exhausted, and negative when overspent', () => {
    const r = budgetRemaining({ total: 1000, bad: 3 }, 0.999);
    expect(r).toMatchObject({ status: 'exhausted' });
    expect(r.status !== 'no-data' && r.remaining).toBeCloseTo(-2, 12);
  });

  it('reports no data, not a full budget, when there were no requests', () => {
    expect(budgetRemaining({ total: 0, bad: 0 }, 0.999)).toEqual({ status: 'no-data', total: 0 });
  });
});

describe('evaluateBurnRateRule', () => {
  const [page] = burnRateAlarmRules({ sli: 'availability', target: 0.999 });
  it('fires only when both windows burn above the threshold', () => {
    expect(evaluateBurnRateRule(page!, { total: 1000, bad: 20 }, { total: 100, bad: 2 })).toBe('firing');
    // The burn stopped: the short window resets the page although the hour still burns.
    expect(evaluateBurnRateRule(page!, { total: 1000, bad: 20 }, { total: 100, bad: 0 })).toBe('ok');
    // A short spike the hour absorbs.
    expect(evaluateBurnRateRule(page!, { total: 10_000, bad: 20 }, { total: 100, bad: 20 })).toBe('ok');
  });

  it('is insufficient data, never ok, when a window has no requests', () => {
    expect(evaluateBurnRateRule(page!, { total: 1000, bad: 20 }, { total: 0, bad: 0 })).toBe(
      'insufficient-data',
    );
  });

  it('treats the threshold itself as not firing (strictly above)', () => {
    expect(evaluateBurnRateRule({ badRatioThreshold: 0.5 }, { total: 2, bad: 1 }, { total: 2, bad: 1 })).toBe(
      'ok',
    );
  });
});

describe('cloudWatchWindowIssues', () => {
  it('accepts every workbook window as a single alarm period', () => {
    for (const tier of SRE_WORKBOOK_TIERS) {
      expect(cloudWatchWindowIssues(tier.longWindowMs)).toEqual([]);
      expect(cloudWatchWindowIssues(tier.shortWindowMs)).toEqual([]);
    }
  });

  it('rejects what PutMetricAlarm rejects', () => {
    expect(cloudWatchWindowIssues(90_000)).toEqual([
      'a CloudWatch period must be 10, 20, 30 s or a multiple of 60 s, got 90 s',
    ]);
    expect(cloudWatchWindowIssues(30 * 60_000, 49)).toEqual([
      "period × evaluation periods is 88200 s, over CloudWatch's 86400 s for a sub-hour period",
    ]);
    expect(cloudWatchWindowIssues(8 * DAY)).toEqual([
      "period × evaluation periods is 691200 s, over CloudWatch's 604800 s for a 1 h or longer period",
    ]);
  });
});
