/**
 * core/rollout.ts over in-memory stores: the lock, retries after a crash, a superseded rollout, the abort path, and the
 * deploy phase around DeployCandidate (the candidate at weight 0, BeginCanary, a deploy failure).
 */
import { describe, expect, it } from 'vitest';
import type { DeploymentRecord, VersionRecord } from '../../lambdas/core/ports';
import {
  advanceRollout,
  deployFailureOf,
  RolloutSupersededError,
  startRollout,
  type RolloutPolicy,
} from '../../lambdas/core/rollout';
import { parseRolloutPolicies } from '../../lambdas/core/rollout-events';
import { FakeAuditLog, FakeDeploymentStore, FakeVersionStore } from './fakes';

const MODEL = 'breast-cancer';
const T0 = Date.parse('2026-06-01T00:00:00Z');
const POLICY: RolloutPolicy = {
  steps: [0.1, 0.5],
  bakeSeconds: 0,
  lock: { ttlMinutes: 60, onLocked: 'wait', waitSeconds: 1, maxWaits: 2 },
  dryRun: false,
  judge: {},
};

function setup() {
  const deployments = new FakeDeploymentStore();
  const versions = new FakeVersionStore();
  const audit = new FakeAuditLog();
  for (const version of ['1.0.0', '2.0.0', '3.0.0']) {
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
  const start = (version: string, executionId: string, nowMs = T0, waits?: number) =>
    startRollout(stores, {
      model: MODEL,
      version,
      executionId,
      policy: POLICY,
      nowMs,
      ...(waits ? { waits } : {}),
    });
  return { stores, deployments, audit, start };
}

describe('rollout', () => {
  it('takes the lock with the candidate at weight 0 and the first step planned; a retry resumes, writes nothing', async () => {
    const { deployments, audit, start } = setup();
    const first = await start('2.0.0', 'exec-a');
    expect(first).toMatchObject({
      next: 'deploy',
      weight: 0,
      plannedWeight: 0.1,
      step: 0,
      stable: '1.0.0',
      stableAtStart: '1.0.0',
    });
    expect(deployments.records.get(MODEL)).toMatchObject({
      candidate: '2.0.0',
      weight: 0,
      revision: 2,
      rollout: { executionId: 'exec-a', candidate: '2.0.0', plannedWeight: 0.1 },
    });
    expect(audit.events[0]!.details).toMatchObject({ weight: 0, plannedWeight: 0.1 });
    const again = await start('2.0.0', 'exec-a', T0 + 1000);
    expect(again).toMatchObject({ next: 'deploy', weight: 0, plannedWeight: 0.1, stableAtStart: '1.0.0' });
    expect(deployments.records.get(MODEL)!.revision).toBe(2);
    expect(audit.types()).toEqual(['ROLLOUT_STARTED']);
  });

  it('a second release waits while the lock is held, gives up after maxWaits, takes an expired lock over', async () => {
    const { start } = setup();
    await start('2.0.0', 'exec-a');
    expect((await start('3.0.0', 'exec-b', T0, 0)).next).toBe('locked');
    expect((await start('3.0.0', 'exec-b', T0, 2)).next).toBe('lock-timeout');
    const late = await start('3.0.0', 'exec-b', T0 + 61 * 60_000);
    expect(late).toMatchObject({ next: 'deploy', version: '3.0.0' });
  });

  it('steps, then promotes: stable := candidate and the lock is gone; a repeated promote is a no-op', async () => {
    const { stores, deployments, audit, start } = setup();
    const started = await start('2.0.0', 'exec-a');
    const stepped = await advanceRollout(stores, started, 'step', T0 + 1);
    expect(stepped).toMatchObject({ next: 'bake', weight: 0.5, step: 1 });
    const promoted = await advanceRollout(stores, stepped, 'promote', T0 + 2);
    expect(promoted.next).toBe('promoted');
    const record = deployments.records.get(MODEL)!;
    expect(record).toMatchObject({ stable: '2.0.0', weight: 0 });
    expect(record.candidate).toBeUndefined();
    expect(record.rollout).toBeUndefined();
    await advanceRollout(stores, stepped, 'promote', T0 + 3);
    expect(deployments.records.get(MODEL)!.revision).toBe(record.revision);
    expect(audit.types()).toEqual(['ROLLOUT_STARTED', 'TRAFFIC_SHIFTED', 'PROMOTED']);
  });

  it('abort clears the candidate and releases the lock with the error; stable is untouched', async () => {
    const { stores, deployments, audit, start } = setup();
    const started = await start('2.0.0', 'exec-a');
    const aborted = await advanceRollout(stores, started, 'abort', T0 + 1, {
      Error: 'TransientStoreError',
      Cause: 'throttled',
    });
    expect(aborted.next).toBe('rolled-back');
    const record = deployments.records.get(MODEL)!;
    expect(record).toMatchObject({ stable: '1.0.0', weight: 0 });
    expect(record.candidate).toBeUndefined();
    expect(record.rollout).toBeUndefined();
    expect(audit.events.at(-1)).toMatchObject({
      type: 'ROLLOUT_ABORTED',
      details: { error: { error: 'TransientStoreError', cause: 'throttled' } },
    });
  });

  it('a rollout whose lock was taken (manual promote) is superseded: it writes nothing more', async () => {
    const { stores, deployments, start } = setup();
    const started = await start('2.0.0', 'exec-a');
    const current = deployments.records.get(MODEL)!;
    deployments.records.set(MODEL, {
      model: MODEL,
      stable: '3.0.0',
      weight: 0,
      mode: 'canary',
      revision: 9,
      updatedAt: '',
    });
    await expect(advanceRollout(stores, started, 'step', T0 + 1)).rejects.toThrow(RolloutSupersededError);
    // Abort on a lock that is not ours changes nothing.
    await advanceRollout(stores, started, 'abort', T0 + 2);
    expect(deployments.records.get(MODEL)).toMatchObject({ stable: '3.0.0', revision: 9 });
    expect(current.revision).toBe(2);
  });

  it('ROLLOUT_POLICIES: bad JSON or a bad field is a ConfigurationError naming it', () => {
    expect(() => parseRolloutPolicies('{')).toThrow(/ROLLOUT_POLICIES is not JSON/);
    expect(() => parseRolloutPolicies(JSON.stringify({ [MODEL]: { ...POLICY, steps: [0.5, 0.2] } }))).toThrow(
      /ROLLOUT_POLICIES.breast-cancer: canary.steps\[1\]/,
    );
    expect(parseRolloutPolicies(JSON.stringify({ [MODEL]: POLICY })).get(MODEL)).toEqual(POLICY);
  });
});

describe('the deploy phase', () => {
  const failedDeploy = {
    Error: 'TargetDeployFailedError',
    Cause: JSON.stringify({
      errorType: 'TargetDeployFailedError',
      errorMessage:
        'SMOKE_FAILED: 1 of 5 smoke samples of breast-cancer 2.0.0 failed in the serving function',
      trace: [],
    }),
  };

  it('BeginCanary routes the planned weight in one write (TRAFFIC_SHIFTED from 0); a retry writes nothing more', async () => {
    const { stores, deployments, audit, start } = setup();
    const started = await start('2.0.0', 'exec-a');
    const begun = await advanceRollout(stores, started, 'begin', T0 + 5000);
    expect(begun).toMatchObject({
      next: 'bake',
      step: 0,
      weight: 0.1,
      startedAtMs: T0 + 5000,
      stepStartedAtMs: T0 + 5000,
    });
    expect(deployments.records.get(MODEL)).toMatchObject({ candidate: '2.0.0', weight: 0.1, revision: 3 });
    // The retry of a Task whose write landed (its answer was lost): same state, no second write or event.
    const retried = await advanceRollout(stores, started, 'begin', T0 + 6000);
    expect(retried).toMatchObject({ next: 'bake', step: 0, weight: 0.1, startedAtMs: T0 + 5000 });
    expect(deployments.records.get(MODEL)!.revision).toBe(3);
    expect(audit.types()).toEqual(['ROLLOUT_STARTED', 'TRAFFIC_SHIFTED']);
    expect(audit.events[1]!.details).toMatchObject({ from: 0, weight: 0.1, step: 0, revision: 3 });
    // A StartRollout retried after BeginCanary resumes the canary, not the deploy.
    expect((await start('2.0.0', 'exec-a', T0 + 7000)).next).toBe('bake');
  });

  it('BeginCanary after an outside rollback ends RolledBack; after a takeover it is superseded; it writes nothing', async () => {
    const { stores, deployments, start } = setup();
    const started = await start('2.0.0', 'exec-a');
    const { candidate: _c, rollout: _r, ...cleared } = deployments.records.get(MODEL)!;
    deployments.records.set(MODEL, {
      ...cleared,
      revision: 3,
      endedRollout: {
        executionId: 'exec-a',
        candidate: '2.0.0',
        outcome: 'ROLLED_BACK',
        reason: 'MANUAL_ROLLBACK',
        actor: 'cli:alice',
        at: new Date(T0).toISOString(),
      },
    });
    expect(await advanceRollout(stores, started, 'begin', T0 + 1)).toMatchObject({
      next: 'rolled-back',
      reason: 'MANUAL_ROLLBACK',
      weight: 0,
    });
    deployments.records.set(MODEL, { ...cleared, revision: 4, stable: '3.0.0' });
    await expect(advanceRollout(stores, started, 'begin', T0 + 2)).rejects.toThrow(RolloutSupersededError);
    expect(deployments.records.get(MODEL)!.revision).toBe(4);
  });

  it('a deploy failure clears the candidate and releases the lock, audited ROLLED_BACK with DEPLOY_FAILED', async () => {
    const { stores, deployments, audit, start } = setup();
    const started = await start('2.0.0', 'exec-a');
    const failed = await advanceRollout(stores, started, 'deploy-failed', T0 + 1, failedDeploy);
    expect(failed).toMatchObject({ next: 'deploy-failed', weight: 0 });
    expect(failed.reason).toBe(
      'DEPLOY_FAILED (SMOKE_FAILED): 1 of 5 smoke samples of breast-cancer 2.0.0 failed in the serving function',
    );
    const record = deployments.records.get(MODEL)!;
    expect(record).toMatchObject({ stable: '1.0.0', weight: 0, revision: 3 });
    expect(record.candidate).toBeUndefined();
    expect(record.rollout).toBeUndefined();
    expect(audit.events.at(-1)).toMatchObject({
      type: 'ROLLED_BACK',
      version: '2.0.0',
      details: {
        reason: 'DEPLOY_FAILED',
        targetReason: 'SMOKE_FAILED',
        clearedCandidate: '2.0.0',
        stable: '1.0.0',
        weight: 0,
      },
    });
    // A retry after the write landed: nothing more is written, the outcome is the same.
    expect(await advanceRollout(stores, started, 'deploy-failed', T0 + 2, failedDeploy)).toMatchObject({
      next: 'deploy-failed',
    });
    expect(deployments.records.get(MODEL)!.revision).toBe(3);
    expect(audit.types()).toEqual(['ROLLOUT_STARTED', 'ROLLED_BACK']);
    // The lock is free: the next release takes it.
    expect((await start('3.0.0', 'exec-b', T0 + 3)).next).toBe('deploy');
  });

  it("a deploy failure whose audit append crashed is recorded by the retry under the first attempt's id", async () => {
    const { stores, deployments, audit, start } = setup();
    const started = await start('2.0.0', 'exec-a');
    const append = audit.appendAudit.bind(audit);
    audit.appendAudit = () => Promise.reject(new Error('crashed before the audit append'));
    await expect(advanceRollout(stores, started, 'deploy-failed', T0 + 1, failedDeploy)).rejects.toThrow(
      /crashed/,
    );
    audit.appendAudit = append;
    expect(audit.types()).toEqual(['ROLLOUT_STARTED']);
    await advanceRollout(stores, started, 'deploy-failed', T0 + 60_000, failedDeploy);
    await advanceRollout(stores, started, 'deploy-failed', T0 + 120_000, failedDeploy);
    expect(audit.types()).toEqual(['ROLLOUT_STARTED', 'ROLLED_BACK']);
    expect(audit.events.at(-1)).toMatchObject({
      at: new Date(T0 + 1).toISOString(),
      details: { reason: 'DEPLOY_FAILED', targetReason: 'SMOKE_FAILED', revision: 3 },
    });
    expect(deployments.records.get(MODEL)!.revision).toBe(3);
  });

  it('reads the reason code from the Lambda error document in the Catch output, or falls back to the error name', () => {
    expect(deployFailureOf(failedDeploy)).toEqual({
      reasonCode: 'SMOKE_FAILED',
      message: '1 of 5 smoke samples of breast-cancer 2.0.0 failed in the serving function',
    });
    expect(deployFailureOf({ Error: 'TargetDeployFailedError', Cause: 'ENDPOINT_FAILED: capacity' })).toEqual(
      {
        reasonCode: 'ENDPOINT_FAILED',
        message: 'capacity',
      },
    );
    expect(deployFailureOf({ Error: 'States.Timeout', Cause: 'the task timed out' })).toEqual({
      reasonCode: 'States.Timeout',
      message: 'the task timed out',
    });
    expect(deployFailureOf(undefined)).toEqual({ reasonCode: 'UNKNOWN', message: '' });
  });
});
