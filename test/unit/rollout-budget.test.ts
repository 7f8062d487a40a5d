/**
 * The error-budget gate of StartRollout and the first step's cap (core/rollout-budget.ts), over in-memory stores and
 * the local metric store on a fixed clock (the same MetricsReader semantics as CloudWatch's: aligned periods, missing
 * is null). Also why AnalyzeCanary needs no burn-rate guard of its own: the judge's error-rate test is one.
 */
import { describe, expect, it } from 'vitest';
import { TimeSeriesMetricsStore } from '../../lambdas/adapters/local-metric-store';
import type { DeploymentRecord, MetricDatum, MetricsReader, VersionRecord } from '../../lambdas/core/ports';
import {
  advanceRollout,
  analyzeCanary,
  RolloutPolicyError,
  startRollout,
  type RolloutPolicy,
} from '../../lambdas/core/rollout';
import {
  firstStepPlan,
  MIN_FIRST_STEP_WEIGHT,
  type BudgetSlo,
  type ModelBudget,
} from '../../lambdas/core/rollout-budget';
import { parseRolloutPolicies, rolloutPoliciesEnvValue } from '../../lambdas/core/rollout-events';
import { FakeAuditLog, FakeDeploymentStore, FakeVersionStore } from './fakes';

const MODEL = 'breast-cancer';
const HOUR_MS = 3_600_000;
/** On the hour, so the period's hourly buckets and the recent window line up exactly with the traffic below. */
const T = Date.parse('2026-06-03T00:00:00Z');
const SLO: BudgetSlo = {
  periodDays: 1,
  availability: { target: 0.999 },
  latency: { target: 0.99, thresholdMs: 250 },
};
const POLICY: RolloutPolicy = {
  steps: [0.05, 0.5],
  bakeSeconds: 600,
  lock: { ttlMinutes: 60, onLocked: 'wait', waitSeconds: 1, maxWaits: 2 },
  dryRun: false,
  judge: {},
  budget: { gate: true, maxFirstStepBudgetShare: 0.1, force: [], slo: SLO },
};
const HOTFIX = { version: '2.0.0', reason: 'hotfix for INC-42: the stable version is what burns the budget' };

function setup(policy: RolloutPolicy = POLICY) {
  const deployments = new FakeDeploymentStore();
  const versions = new FakeVersionStore();
  const audit = new FakeAuditLog();
  const clock = { now: T };
  const metrics = new TimeSeriesMetricsStore({ now: () => clock.now });
  for (const version of ['1.0.0', '2.0.0', '2.0.1']) {
    versions.records.set(`${MODEL}#${version}`, {
      model: MODEL,
      version,
      status: 'REGISTERED',
    } as VersionRecord);
  }
  const routing: DeploymentRecord = {
    model: MODEL,
    stable: '1.0.0',
    weight: 0,
    mode: 'canary',
    revision: 1,
    updatedAt: '',
  };
  deployments.records.set(MODEL, routing);
  /** Emits what the inference handler would have, as one datum per metric per hour (Sum is what the gate reads). */
  const hourly = (
    hoursAgo: readonly number[],
    counts: { requests: number; errors?: number; slow?: number },
  ) => {
    for (const h of hoursAgo) {
      clock.now = T - h * HOUR_MS + 1000;
      const data: MetricDatum[] = [{ name: 'Requests', unit: 'Count', value: counts.requests }];
      if (counts.errors) data.push({ name: 'Errors', unit: 'Count', value: counts.errors });
      if (counts.slow) data.push({ name: 'SlowRequests', unit: 'Count', value: counts.slow });
      metrics.emit([{ Model: MODEL }], data);
    }
    clock.now = T;
  };
  const stores = { deployments, versions, audit, metrics };
  const start = (version = '2.0.0', p: RolloutPolicy = policy, nowMs = T) =>
    startRollout(stores, { model: MODEL, version, executionId: 'exec-a', policy: p, nowMs });
  return { stores, deployments, audit, metrics, clock, routing, hourly, start };
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('error-budget gate', () => {
  it('refuses a canary while the budget is exhausted: ROLLOUT_REFUSED naming the objective and how to force, nothing else written', async () => {
    const { deployments, audit, routing, hourly, start, stores } = setup();
    // 1 % of requests failed against a 0.1 % allowance: the availability budget is overspent ninefold.
    hourly([2, 1], { requests: 1000, errors: 10 });
    const state = await start();
    expect(state.next).toBe('budget-exhausted');
    expect(state.reason).toMatch(/availability error budget of breast-cancer is exhausted: -900 % remaining/);
    expect(state.reason).toMatch(/20 bad of 2000 requests, target 0\.999/);
    expect(state.reason).toMatch(/add \{ version: "2\.0\.0", reason: "…" \} to .*canary\.budget\.force/);
    expect(deployments.records.get(MODEL)).toBe(routing);
    expect(await stores.versions.getVersion(MODEL, '2.0.0')).toMatchObject({ status: 'REGISTERED' });
    expect(audit.types()).toEqual(['ROLLOUT_REFUSED']);
    expect(audit.events[0]).toMatchObject({
      version: '2.0.0',
      actor: 'exec-a',
      details: {
        reason: 'BUDGET_EXHAUSTED',
        objective: 'availability',
        stable: '1.0.0',
        budget: {
          requests: 2000,
          objectives: [
            { sli: 'availability', status: 'exhausted', bad: 20 },
            { sli: 'latency', status: 'ok', bad: 0 },
          ],
        },
      },
    });
  });

  it('refuses on an exhausted latency budget too (slow requests)', async () => {
    const { hourly, start, audit } = setup();
    hourly([1], { requests: 1000, slow: 20 });
    const state = await start();
    expect(state.next).toBe('budget-exhausted');
    expect(state.reason).toMatch(/latency error budget/);
    expect(audit.events[0]?.details).toMatchObject({ objective: 'latency' });
  });

  it('rolls a forced version out past an exhausted budget at steps[0], audited ROLLOUT_FORCED with the reason and the budget', async () => {
    const { deployments, audit, hourly, start } = setup({
      ...POLICY,
      budget: { ...POLICY.budget!, force: [HOTFIX] },
    });
    hourly([1], { requests: 1000, errors: 10 });
    const state = await start();
    expect(state).toMatchObject({ next: 'deploy', weight: 0, plannedWeight: 0.05, step: 0 });
    expect(deployments.records.get(MODEL)).toMatchObject({
      candidate: '2.0.0',
      weight: 0,
      revision: 2,
      rollout: { plannedWeight: 0.05 },
    });
    expect(audit.types()).toEqual(['ROLLOUT_FORCED', 'ROLLOUT_STARTED']);
    expect(audit.events[0]?.details).toMatchObject({
      reason: HOTFIX.reason,
      overrode: 'BUDGET_EXHAUSTED',
      weight: 0.05,
      budget: { objectives: [{ sli: 'availability', status: 'exhausted' }, { sli: 'latency' }] },
    });
    expect(audit.events[1]?.details).toMatchObject({ forced: true, weight: 0, plannedWeight: 0.05 });
  });

  it('forces only the listed version: another one is still refused', async () => {
    const { hourly, start } = setup({ ...POLICY, budget: { ...POLICY.budget!, force: [HOTFIX] } });
    hourly([1], { requests: 1000, errors: 10 });
    expect((await start('2.0.1')).next).toBe('budget-exhausted');
  });

  it('caps the first step at known traffic: 10 req/s over a full period, half the availability budget left', async () => {
    const { stores, deployments, audit, hourly, start } = setup();
    // 48 h at 36,000 requests an hour (10 req/s); in the 1-day period 432 errors = half of its 864 allowed.
    hourly(range(25, 48), { requests: 36_000 });
    hourly(range(1, 24), { requests: 36_000, errors: 18 });
    const state = await start();
    // 0.1 × 432 remaining bad requests / (10 req/s × 600 s) = 0.0072; latency (no slow request) allows 0.144.
    expect(state).toMatchObject({ next: 'deploy', weight: 0, plannedWeight: 0.0072, step: 0 });
    expect(deployments.records.get(MODEL)).toMatchObject({ candidate: '2.0.0', weight: 0 });
    const started = audit.events.find((e) => e.type === 'ROLLOUT_STARTED')!;
    expect(started.details).toMatchObject({
      weight: 0,
      plannedWeight: 0.0072,
      weightCappedFrom: 0.05,
      budget: {
        requests: 864_000,
        periodRequests: 864_000,
        requestRate: 10,
        historyCoversPeriod: true,
        firstStepCap: 0.0072,
        objectives: [
          { sli: 'availability', status: 'ok', bad: 432 },
          { sli: 'latency', status: 'ok', remaining: 1, bad: 0 },
        ],
      },
    });
    const [availability] = (started.details.budget as { objectives: { remaining: number }[] }).objectives;
    expect(availability!.remaining).toBeCloseTo(0.5, 12);
    expect(started.details.budget).toMatchObject({
      note: expect.stringMatching(/capped from 0\.05 to 0\.0072/),
    });
    // BeginCanary routes the capped weight; only the first step is capped: the next one is the policy's.
    const begun = await advanceRollout(stores, state, 'begin', T + 1);
    expect(begun).toMatchObject({ next: 'bake', step: 0, weight: 0.0072 });
    expect(deployments.records.get(MODEL)).toMatchObject({ candidate: '2.0.0', weight: 0.0072 });
    const stepped = await advanceRollout(stores, begun, 'step', T + 2);
    expect(stepped).toMatchObject({ step: 1, weight: 0.5 });
  });

  it('does not cap a first step the budget affords, and records the cap', async () => {
    const { audit, hourly, start } = setup({ ...POLICY, steps: [0.01, 0.5] });
    hourly(range(1, 24), { requests: 36_000 });
    const state = await start();
    // A whole 1-day budget at 0.999 is 86.4 s of outage; 10 % of it over a 600 s bake affords 0.0144.
    expect(state.plannedWeight).toBe(0.01);
    const started = audit.events.find((e) => e.type === 'ROLLOUT_STARTED')!;
    expect(started.details).toMatchObject({ plannedWeight: 0.01, budget: { firstStepCap: 0.0144 } });
    expect(started.details.weightCappedFrom).toBeUndefined();
  });

  it('does not cap without traffic history (a new model, a fresh metric store), and says so in the audit', async () => {
    const { audit, start } = setup();
    const state = await start();
    expect(state).toMatchObject({ next: 'deploy', plannedWeight: 0.05 });
    expect(audit.events[0]).toMatchObject({
      type: 'ROLLOUT_STARTED',
      details: {
        plannedWeight: 0.05,
        budget: {
          requests: 0,
          requestRate: null,
          firstStepCap: null,
          objectives: [
            { sli: 'availability', status: 'no-data', remaining: null },
            { sli: 'latency', status: 'no-data', remaining: null },
          ],
          note: expect.stringMatching(/no request of breast-cancer in the last 1 days.*not capped/),
        },
      },
    });
  });

  it("extrapolates a young model's budget to its period at the recent rate", async () => {
    const policy = { ...POLICY, budget: { ...POLICY.budget!, slo: { ...SLO, periodDays: 30 } } };
    const { audit, hourly, start } = setup(policy);
    // Two hours of a 30-day period, half the allowance spent; counting only those two hours would cap at 0.0012.
    hourly([2, 1], { requests: 36_000, errors: 18 });
    const state = await start();
    expect(state.plannedWeight).toBe(0.05);
    // 0.1 × 0.5 × 0.001 × (10 req/s × 30 days) / (10 req/s × 600 s) = 0.216
    expect(audit.events[0]?.details.budget).toMatchObject({
      historyCoversPeriod: false,
      periodRequests: 25_920_000,
      firstStepCap: 0.216,
    });
  });

  it('refuses rather than caps to nearly 0: a cap below MIN_FIRST_STEP_WEIGHT is BUDGET_TOO_LOW, nothing written', async () => {
    const { deployments, audit, routing, hourly, start } = setup();
    // 816 of the period's 864 allowed errors: 5.6 % of the budget left, so the cap would be 0.0008.
    hourly(range(1, 24), { requests: 36_000, errors: 34 });
    const state = await start();
    expect(state.next).toBe('budget-exhausted');
    expect(state.reason).toMatch(/nearly exhausted: even a first step of 0\.1 %/);
    expect(state.reason).toMatch(/shorten canary\.bakeSeconds or raise maxFirstStepBudgetShare/);
    expect(deployments.records.get(MODEL)).toBe(routing);
    expect(audit.events.map((e) => [e.type, e.details.reason])).toEqual([
      ['ROLLOUT_REFUSED', 'BUDGET_TOO_LOW'],
    ]);
    expect(MIN_FIRST_STEP_WEIGHT).toBe(0.001);
  });

  it('with the gate off, reads no metrics and routes steps[0]', async () => {
    const { stores } = setup();
    const failing: MetricsReader = {
      read: async () => {
        throw new Error('the gate is off: no metric may be read');
      },
    };
    const state = await startRollout(
      { ...stores, metrics: failing },
      {
        model: MODEL,
        version: '2.0.0',
        executionId: 'exec-a',
        policy: { ...POLICY, budget: { ...POLICY.budget!, gate: false } },
        nowMs: T,
      },
    );
    expect(state).toMatchObject({ next: 'deploy', weight: 0, plannedWeight: 0.05 });
  });

  it('fails naming the fix when the gate is on but no MetricsReader is wired', async () => {
    const { stores } = setup();
    const { metrics: _none, ...withoutMetrics } = stores;
    await expect(
      startRollout(withoutMetrics, {
        model: MODEL,
        version: '2.0.0',
        executionId: 'exec-a',
        policy: POLICY,
        nowMs: T,
      }),
    ).rejects.toThrow(RolloutPolicyError);
  });

  it('does not read the budget for a first version, a model locked by another release or a resumed rollout', async () => {
    const { stores } = setup();
    const unread: MetricsReader = {
      read: async () => {
        throw new Error('no budget read expected');
      },
    };
    const deps = { ...stores, metrics: unread };
    const lock = (executionId: string) => ({
      ...stores.deployments.records.get(MODEL)!,
      candidate: '2.0.0',
      weight: 0.0072,
      revision: 2,
      rollout: {
        executionId,
        candidate: '2.0.0',
        startedAt: new Date(T).toISOString(),
        expiresAt: new Date(T + HOUR_MS).toISOString(),
      },
    });
    const start = () =>
      startRollout(deps, { model: MODEL, version: '2.0.0', executionId: 'exec-a', policy: POLICY, nowMs: T });
    // The lock is this execution's (a retry after its write landed): it resumes at the routed (capped) weight.
    stores.deployments.records.set(MODEL, lock('exec-a'));
    expect(await start()).toMatchObject({ next: 'bake', weight: 0.0072, step: 0 });
    stores.deployments.records.set(MODEL, lock('exec-other'));
    expect((await start()).next).toBe('locked');
    stores.deployments.records.delete(MODEL);
    expect((await start()).next).toBe('promoted');
    expect(stores.audit.types()).toEqual(['PROMOTED']);
  });
});

describe('firstStepPlan', () => {
  const budget = (over: Partial<ModelBudget> & { remaining: number }): ModelBudget => {
    const requests = over.requests ?? 25_920_000;
    const periodRequests = over.periodRequests ?? requests;
    return {
      periodDays: 30,
      requests,
      requestRate: 10,
      historyCoversPeriod: true,
      periodRequests,
      objectives: [
        {
          sli: 'availability',
          target: 0.999,
          status: over.remaining > 0 ? 'ok' : 'exhausted',
          remaining: over.remaining,
          bad: 0,
          remainingBadRequests: over.remaining * 0.001 * periodRequests,
        },
      ],
      ...over,
    };
  };
  const release = { model: MODEL, version: '2.0.0' };
  const policy = { steps: [0.25, 0.5], bakeSeconds: 600, maxFirstStepBudgetShare: 0.1 };

  it('matches the documented example: 10 req/s, 30 days, half the budget left → 0.216', () => {
    expect(firstStepPlan(budget({ remaining: 0.5 }), policy, release)).toMatchObject({
      outcome: 'route',
      weight: 0.216,
      cappedFrom: 0.25,
    });
  });

  it('caps harder at a traffic peak: three times the rate, a third of the weight', () => {
    expect(firstStepPlan(budget({ remaining: 0.5, requestRate: 30 }), policy, release)).toMatchObject({
      weight: 0.072,
    });
  });

  it('counts at least one minute of exposure when the bake is shorter', () => {
    const plan = firstStepPlan(budget({ remaining: 0.5 }), { ...policy, bakeSeconds: 0 }, release);
    // 0.1 × 12,960 / (10 × 60) = 2.16 ≥ 0.25: not capped.
    expect(plan).toMatchObject({ outcome: 'route', weight: 0.25, cap: 2.16 });
  });
});

describe('ROLLOUT_POLICIES with the budget', () => {
  const configModel = {
    name: MODEL,
    canary: {
      enabled: true,
      steps: [0.05, 0.5],
      bakeSeconds: 600,
      lock: { ttlMinutes: 60, onLocked: 'wait' as const, waitSeconds: 1, maxWaits: 2 },
      dryRun: false,
      judge: {},
      budget: { gate: true, maxFirstStepBudgetShare: 0.1, force: [HOTFIX] },
    },
    slo: SLO,
  };

  it("carries the model's SLO with the budget policy and parses back to the same policy", () => {
    const policies = parseRolloutPolicies(rolloutPoliciesEnvValue([configModel]));
    expect(policies.get(MODEL)?.budget).toEqual({
      gate: true,
      maxFirstStepBudgetShare: 0.1,
      force: [HOTFIX],
      slo: SLO,
    });
  });

  it('rejects a bad budget field naming it', () => {
    const bad = {
      ...configModel,
      canary: { ...configModel.canary, budget: { ...configModel.canary.budget } },
    };
    const text = rolloutPoliciesEnvValue([bad]).replace(
      '"maxFirstStepBudgetShare":0.1',
      '"maxFirstStepBudgetShare":0',
    );
    expect(() => parseRolloutPolicies(text)).toThrow(
      /ROLLOUT_POLICIES\.breast-cancer\.budget\.maxFirstStepBudgetShare/,
    );
    const badSlo = rolloutPoliciesEnvValue([{ ...configModel, slo: { ...SLO, periodDays: 0 } }]);
    expect(() => parseRolloutPolicies(badSlo)).toThrow(/budget\.slo\.periodDays/);
  });
});

describe('burn rate during the canary', () => {
  // The burn-rate ratio candidate / stable is (c_bad/c_n)/(1 − target) ÷ (s_bad/s_n)/(1 − target): the target
  // cancels, so it IS the error-rate (or slow-share) ratio that the judge's sequential tests already judge.
  async function look(candidate: [number, number], stable: [number, number]) {
    const { stores, metrics, clock } = setup({ ...POLICY, budget: undefined });
    const started = await startRollout(stores, {
      model: MODEL,
      version: '2.0.0',
      executionId: 'exec-a',
      policy: { ...POLICY, budget: undefined },
      nowMs: T,
    });
    clock.now = T + 30_000;
    for (const [version, [requests, errors]] of [
      ['2.0.0', candidate],
      ['1.0.0', stable],
    ] as const) {
      metrics.emit(
        [{ Model: MODEL, Version: version }],
        [
          { name: 'Requests', unit: 'Count', value: requests },
          { name: 'Errors', unit: 'Count', value: errors },
        ],
      );
    }
    clock.now = T + 2 * 60_000;
    return analyzeCanary(stores, started, clock.now);
  }

  it('rolls back a candidate burning budget 2.5 times as fast as stable (ERROR_RATE_REGRESSION)', async () => {
    const state = await look([20_000, 250], [100_000, 500]);
    expect(state.next).toBe('rollback');
    expect(state.verdicts.at(-1)).toMatchObject({
      decision: 'rollback',
      reasonCode: 'ERROR_RATE_REGRESSION',
    });
    const errorRate = state.verdicts.at(-1)!.checks.find((c) => c.metric === 'errorRate')!;
    expect(errorRate.effect).toBeCloseTo(2.5, 10);
  });

  it('records an e-value beyond Number.MAX_SAFE_INTEGER as its string (DynamoDB refuses the number)', async () => {
    const state = await look([2_000, 200], [100_000, 100]);
    expect(state.next).toBe('rollback');
    const errorRate = state.verdicts.at(-1)!.checks.find((c) => c.metric === 'errorRate')!;
    expect(typeof errorRate.eValue).toBe('string');
    expect(Number(errorRate.eValue)).toBeGreaterThan(Number.MAX_SAFE_INTEGER);
    const numbers: number[] = [];
    JSON.stringify(state.verdicts, (_k, v: unknown) => (typeof v === 'number' && numbers.push(v), v));
    expect(numbers.every((n) => Math.abs(n) <= Number.MAX_SAFE_INTEGER)).toBe(true);
  });

  it('does not roll back the same kind of ratio on a handful of requests: that would be noise, not evidence', async () => {
    const state = await look([200, 3], [1000, 5]);
    expect(state.next).toBe('bake');
    expect(state.verdicts.at(-1)).toMatchObject({ decision: 'inconclusive' });
  });
});
