import { describe, expect, it } from 'vitest';
import { evaluateGates } from '../../lambdas/core/gates';

const gates = (over: Partial<Parameters<typeof evaluateGates>[1]> = {}) => ({
  minimums: {},
  maximums: {},
  maxRegression: {},
  ...over,
});

describe('evaluateGates', () => {
  it('passes minimums and maximums at the boundary', () => {
    const r = evaluateGates(
      { auc: 0.9, rmse: 2 },
      gates({ minimums: { auc: 0.9 }, maximums: { rmse: 2 } }),
      undefined,
    );
    expect(r.reasons).toEqual([]);
    expect(r.checks).toEqual(['auc 0.9 >= 0.9', 'rmse 2 <= 2']);
  });

  it('rejects a metric below its minimum and above its maximum', () => {
    const r = evaluateGates(
      { auc: 0.89, rmse: 2.5 },
      gates({ minimums: { auc: 0.9 }, maximums: { rmse: 2 } }),
      undefined,
    );
    expect(r.reasons).toEqual([
      'gates.minimums.auc: auc is 0.89, below the minimum 0.9',
      'gates.maximums.rmse: rmse is 2.5, above the maximum 2',
    ]);
  });

  it('notes "no champion" and skips regression gates for a first version', () => {
    const r = evaluateGates({ auc: 0.5 }, gates({ maxRegression: { auc: 0.01 } }), undefined);
    expect(r.reasons).toEqual([]);
    expect(r.checks.join()).toMatch(/no champion/);
  });

  it('accepts a regression within the limit and an improvement', () => {
    const champion = { version: '1.0.0', metrics: { auc: 0.9, rmse: 2 } };
    const g = gates({ maximums: { rmse: 3 }, maxRegression: { auc: 0.01, rmse: 0.1 } });
    expect(evaluateGates({ auc: 0.891, rmse: 2.05 }, g, champion).reasons).toEqual([]);
    expect(evaluateGates({ auc: 0.95, rmse: 1 }, g, champion).reasons).toEqual([]);
  });

  it('rejects a higher-is-better metric that dropped beyond the limit', () => {
    const r = evaluateGates({ auc: 0.85 }, gates({ maxRegression: { auc: 0.01 } }), {
      version: '1.0.0',
      metrics: { auc: 0.9 },
    });
    expect(r.reasons).toEqual([
      'gates.maxRegression.auc: auc 0.85 vs champion 1.0.0 0.9 (higher is better) regresses by 0.05, more than the allowed 0.01',
    ]);
  });

  it('rejects a lower-is-better metric (listed in maximums) that rose beyond the limit', () => {
    const r = evaluateGates({ rmse: 2.5 }, gates({ maximums: { rmse: 3 }, maxRegression: { rmse: 0.2 } }), {
      version: '7',
      metrics: { rmse: 2 },
    });
    expect(r.reasons).toEqual([
      expect.stringMatching(/rmse 2.5 vs champion 7 2 \(lower is better\) regresses by 0.5/),
    ]);
  });

  it('does not fail on floating-point noise at exactly the limit', () => {
    const r = evaluateGates({ auc: 0.7 }, gates({ maxRegression: { auc: 0.1 } }), {
      version: '1',
      metrics: { auc: 0.8 },
    });
    expect(r.reasons).toEqual([]);
  });

  it('skips a regression gate when the champion did not report the metric', () => {
    const r = evaluateGates({ auc: 0.5 }, gates({ maxRegression: { auc: 0 } }), {
      version: '1',
      metrics: {},
    });
    expect(r.reasons).toEqual([]);
    expect(r.checks[0]).toMatch(/champion 1 did not report it/);
  });
});
