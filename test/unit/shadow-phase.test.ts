/**
 * The shadow phase over in-memory stores (core/shadow-phase.ts and BeginShadow in core/rollout.ts): the record in
 * shadow mode at weight 0, a retry writing nothing, each look read since the phase started, the verdict's next step,
 * and BeginCanary switching the record back to canary mode.
 */
import { describe, expect, it } from 'vitest';
import type {
  DeploymentRecord,
  MetricReadRequest,
  MetricReadSeries,
  MetricsReader,
  VersionRecord,
} from '../../lambdas/core/ports';
import {
  advanceRollout,
  RolloutPolicyError,
  RolloutSupersededError,
  startRollout,
  type RolloutPolicy,
  type RolloutState,
} from '../../lambdas/core/rollout';
import { parseRolloutPolicies, rolloutPoliciesEnvValue } from '../../lambdas/core/rollout-events';
import { analyzeShadow } from '../../lambdas/core/shadow-phase';
import { parseConfig } from '../../lib/config';
import { FakeAuditLog, FakeDeploymentStore, FakeVersionStore } from './fakes';

const MODEL = 'breast-cancer';
const T0 = Date.parse('2026-06-01T00:00:30Z');
const MINUTE = 60_000;
const POLICY: RolloutPolicy = {
  steps: [0.1, 0.5],
  bakeSeconds: 0,
  lock: { ttlMinutes: 60, onLocked: 'wait', waitSeconds: 1, maxWaits: 2 },
  dryRun: false,
  judge: { minDetectableEffect: 10, baselineRateFloor: 0.05, maxExtensionsPerStep: 3 },
  shadow: { bakeSeconds: 0, maxDisagreement: 0.05 },
};

interface Counts {
  compared: number;
  disagreed: number;
  candidateErrors: number;
  stableRequests: number;
  stableErrors: number;
}
const HEALTHY: Counts = {
  compared: 2000,
  disagreed: 0,
  candidateErrors: 0,
  stableRequests: 2000,
  stableErrors: 0,
};
const NONE: Counts = { compared: 0, disagreed: 0, candidateErrors: 0, stableRequests: 0, stableErrors: 0 };

/** Answers each read with `counts` in the request's first period; records every request. */
class FakeReader implements MetricsReader {
  readonly requests: MetricReadRequest[] = [];
  counts: Counts = NONE;
  async read(request: MetricReadRequest): Promise<MetricReadSeries[]> {
    this.requests.push(request);
    const value: Record<string, number> = {
      cmp: this.counts.compared,
      dis: this.counts.disagreed,
      cerr: this.counts.candidateErrors,
      sreq: this.counts.stableRequests,
      serr: this.counts.stableErrors,
    };
    return request.queries.map((q) => ({
      id: q.id,
      timestamps: [request.startMs],
      values: [value[q.id] ?? null],
    }));
  }
}

async function setup(policy: RolloutPolicy = POLICY) {
  const deployments = new FakeDeploymentStore();
  const versions = new FakeVersionStore();
  const audit = new FakeAuditLog();
  const metrics = new FakeReader();
  for (const version of ['1.0.0', '2.0.0']) {
    versions.records.set(`${MODEL}#${version}`, {
      model: MODEL,
      version,
      status: 'REGISTERED',
    } as VersionRecord);
  }
  deployments.records.set(MODEL, {
    model: MODEL,
    stable: '1.0.0',
    weight: 0,
    mode: 'canary',
    revision: 1,
    updatedAt: '',
  } satisfies DeploymentRecord);
  const stores = { deployments, versions, audit };
  const deployed = await startRollout(stores, {
    model: MODEL,
    version: '2.0.0',
    executionId: 'exec-a',
    policy,
    nowMs: T0,
  });
  const analyze = (state: RolloutState, nowMs: number) =>
    analyzeShadow({ deployments, audit, metrics }, state, nowMs);
  return { stores, deployments, audit, metrics, deployed, analyze };
}

/** setup, then BeginShadow one second after the lock. */
async function shadowing(policy: RolloutPolicy = POLICY) {
  const s = await setup(policy);
  const shadowed = await advanceRollout(s.stores, s.deployed, 'begin-shadow', T0 + 1000);
  return { ...s, shadowed };
}

const record = (s: { deployments: FakeDeploymentStore }) => s.deployments.records.get(MODEL)!;

describe('BeginShadow', () => {
  it('puts the record in shadow mode with the candidate kept at weight 0, audited; a retry writes nothing', async () => {
    const s = await shadowing();
    expect(record(s)).toMatchObject({
      stable: '1.0.0',
      candidate: '2.0.0',
      weight: 0,
      mode: 'shadow',
      revision: 3,
    });
    expect(s.shadowed).toMatchObject({
      next: 'shadow-bake',
      weight: 0,
      shadowStartedAtMs: T0 + 1000,
      shadowLooks: [],
      extensions: 0,
    });
    expect(s.audit.events.at(-1)).toMatchObject({
      type: 'TRAFFIC_SHIFTED',
      details: { from: 0, weight: 0, mode: 'shadow', revision: 3 },
    });
    // A retry after the write landed: no write, the first attempt's event id (a duplicate), the same window start.
    const retried = await advanceRollout(s.stores, s.deployed, 'begin-shadow', T0 + 5000);
    expect(record(s).revision).toBe(3);
    expect(s.audit.events.filter((e) => e.type === 'TRAFFIC_SHIFTED')).toHaveLength(1);
    expect(retried.shadowStartedAtMs).toBe(T0 + 1000);
  });

  it('fails when the policy has no shadow phase, writing nothing', async () => {
    const s = await setup({ ...POLICY, shadow: undefined });
    await expect(advanceRollout(s.stores, s.deployed, 'begin-shadow', T0 + 1000)).rejects.toThrow(
      RolloutPolicyError,
    );
    expect(record(s)).toMatchObject({ mode: 'canary', revision: 2 });
  });

  it('fails superseded when the lock is another execution’s, and ends rolled back after an outside rollback', async () => {
    const s = await setup();
    const held = record(s);
    s.deployments.records.set(MODEL, { ...held, rollout: { ...held.rollout!, executionId: 'exec-b' } });
    await expect(advanceRollout(s.stores, s.deployed, 'begin-shadow', T0 + 1000)).rejects.toThrow(
      RolloutSupersededError,
    );
    const { rollout: _r, candidate: _c, ...rest } = held;
    s.deployments.records.set(MODEL, {
      ...rest,
      revision: held.revision + 1,
      endedRollout: {
        executionId: 'exec-a',
        candidate: '2.0.0',
        outcome: 'ROLLED_BACK',
        reason: 'MANUAL_ROLLBACK',
        actor: 'cli:ops',
        at: new Date(T0).toISOString(),
      },
    });
    const ended = await advanceRollout(s.stores, s.deployed, 'begin-shadow', T0 + 1000);
    expect(ended).toMatchObject({ next: 'rolled-back', reason: 'MANUAL_ROLLBACK' });
  });
});

describe('analyzeShadow', () => {
  it('reads the five series since the phase started, in whole minutes, for the candidate and stable', async () => {
    const s = await shadowing();
    await s.analyze(s.shadowed, T0 + 3 * MINUTE);
    const request = s.metrics.requests[0]!;
    expect(request).toMatchObject({
      startMs: Math.floor((T0 + 1000) / MINUTE) * MINUTE,
      endMs: T0 + 3 * MINUTE,
      periodSeconds: 60,
    });
    expect(request.queries.map((q) => [q.metricName, q.stat, q.dimensions.Version])).toEqual([
      ['ShadowDisagreement', 'SampleCount', '2.0.0'],
      ['ShadowDisagreement', 'Sum', '2.0.0'],
      ['ShadowErrors', 'Sum', '2.0.0'],
      ['Requests', 'Sum', '1.0.0'],
      ['Errors', 'Sum', '1.0.0'],
    ]);
  });

  it('extends the bake on no comparisons (never a pass on no data), recording the look and the verdict', async () => {
    const s = await shadowing();
    const next = await s.analyze(s.shadowed, T0 + MINUTE);
    expect(next).toMatchObject({ next: 'shadow-bake', extensions: 1, reason: 'INSUFFICIENT_SAMPLES' });
    expect(next.shadowLooks).toEqual([NONE]);
    expect(next.verdicts.at(-1)).toMatchObject({ phase: 'shadow', look: 1, decision: 'inconclusive' });
    expect(s.audit.events.at(-1)).toMatchObject({
      type: 'CANARY_VERDICT',
      details: { phase: 'shadow', look: 1, decision: 'inconclusive', counts: NONE },
    });
    // Nothing routed: the record is as BeginShadow left it.
    expect(record(s)).toMatchObject({ mode: 'shadow', weight: 0, revision: 3 });
  });

  it('goes on to the canary when the candidate agrees; BeginCanary routes the first step in canary mode', async () => {
    const s = await shadowing();
    s.metrics.counts = HEALTHY;
    const passed = await s.analyze(s.shadowed, T0 + 2 * MINUTE);
    expect(passed).toMatchObject({ next: 'canary', reason: 'HEALTHY', extensions: 0 });
    const canary = await advanceRollout(s.stores, passed, 'begin', T0 + 3 * MINUTE);
    expect(canary).toMatchObject({ next: 'bake', weight: 0.1, startedAtMs: T0 + 3 * MINUTE });
    expect(record(s)).toMatchObject({ candidate: '2.0.0', weight: 0.1, mode: 'canary', revision: 4 });
  });

  it('rolls back a candidate that disagrees with stable (SHADOW_DISAGREEMENT); it never got a weight', async () => {
    const s = await shadowing();
    s.metrics.counts = { ...HEALTHY, disagreed: 500 };
    const failed = await s.analyze(s.shadowed, T0 + 2 * MINUTE);
    expect(failed).toMatchObject({ next: 'rollback', reason: 'SHADOW_DISAGREEMENT' });
    const rolledBack = await advanceRollout(s.stores, failed, 'rollback', T0 + 3 * MINUTE);
    expect(rolledBack.next).toBe('rolled-back');
    expect(record(s).candidate).toBeUndefined();
    expect(record(s).rollout).toBeUndefined();
    // No candidate, so no shadow: a later manual route starts from canary mode.
    expect(record(s).mode).toBe('canary');
    expect(s.audit.events.at(-1)).toMatchObject({
      type: 'ROLLED_BACK',
      details: { reason: 'SHADOW_DISAGREEMENT', verdict: { phase: 'shadow' } },
    });
    expect(s.audit.types()).not.toContain('PROMOTED');
  });

  it('rolls back a candidate that fails where stable answers (SHADOW_ERRORS)', async () => {
    const s = await shadowing();
    s.metrics.counts = { ...HEALTHY, compared: 1000, candidateErrors: 1000 };
    const failed = await s.analyze(s.shadowed, T0 + 2 * MINUTE);
    expect(failed).toMatchObject({ next: 'rollback', reason: 'SHADOW_ERRORS' });
  });

  it('rolls back once the extensions run out (EXTENSIONS_EXHAUSTED)', async () => {
    const s = await shadowing();
    let state = s.shadowed;
    for (let i = 1; i <= 3; i++) {
      state = await s.analyze(state, T0 + i * MINUTE);
      expect(state.next).toBe('shadow-bake');
    }
    state = await s.analyze(state, T0 + 4 * MINUTE);
    expect(state).toMatchObject({ next: 'rollback', reason: 'EXTENSIONS_EXHAUSTED' });
    expect(state.shadowLooks).toHaveLength(4);
  });

  it('goes on to the canary in a dry run whatever the verdict (the verdict is recorded)', async () => {
    const s = await shadowing({ ...POLICY, dryRun: true });
    s.metrics.counts = { ...HEALTHY, disagreed: 500 };
    const next = await s.analyze(s.shadowed, T0 + 2 * MINUTE);
    expect(next).toMatchObject({ next: 'canary', reason: 'SHADOW_DISAGREEMENT' });
  });

  it('ends superseded, reading nothing, when the lock is no longer this execution’s', async () => {
    const s = await shadowing();
    const { rollout: _r, candidate: _c, ...rest } = record(s);
    s.deployments.records.set(MODEL, { ...rest, revision: 4 });
    const next = await s.analyze(s.shadowed, T0 + 2 * MINUTE);
    expect(next.next).toBe('superseded');
    expect(s.metrics.requests).toHaveLength(0);
  });

  it('fails on a state without the phase’s start (BeginShadow did not run)', async () => {
    const s = await shadowing();
    await expect(s.analyze(s.deployed, T0 + MINUTE)).rejects.toThrow(/shadowStartedAtMs/);
  });
});

describe('the shadow policy', () => {
  const configModel = (shadow: Record<string, unknown> | undefined) =>
    parseConfig({
      models: [
        { name: MODEL, owner: 'ml-platform', canary: { enabled: true, ...(shadow ? { shadow } : {}) } },
      ],
    }).models;

  it('is off by default and carried into the policy only when enabled', () => {
    const off = parseRolloutPolicies(rolloutPoliciesEnvValue(configModel(undefined))).get(MODEL)!;
    expect(off.shadow).toBeUndefined();
    const on = parseRolloutPolicies(rolloutPoliciesEnvValue(configModel({ enabled: true }))).get(MODEL)!;
    expect(on.shadow).toEqual({ bakeSeconds: 300, maxDisagreement: 0.05 });
  });

  it('rejects a share outside (0, 1) and a negative bake, naming the field', () => {
    expect(() => configModel({ enabled: true, maxDisagreement: 0 })).toThrow(/shadow\.maxDisagreement/);
    expect(() => configModel({ enabled: true, maxDisagreement: 1 })).toThrow(/shadow\.maxDisagreement/);
    expect(() => configModel({ enabled: true, bakeSeconds: -1 })).toThrow(/shadow\.bakeSeconds/);
  });
});
