/** core/rollout.ts over in-memory stores: the lock, retries after a crash, a superseded rollout and the abort path. */
import { describe, expect, it } from 'vitest';
import type { DeploymentRecord, VersionRecord } from '../../lambdas/core/ports';
import {
  advanceRollout,
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
  it('takes the lock with the first step in one write; a retry of the same execution resumes, writes nothing', async () => {
    const { deployments, audit, start } = setup();
    const first = await start('2.0.0', 'exec-a');
    expect(first).toMatchObject({ next: 'bake', weight: 0.1, step: 0, stable: '1.0.0' });
    expect(deployments.records.get(MODEL)).toMatchObject({
      candidate: '2.0.0',
      weight: 0.1,
      revision: 2,
      rollout: { executionId: 'exec-a', candidate: '2.0.0' },
    });
    const again = await start('2.0.0', 'exec-a', T0 + 1000);
    expect(again.next).toBe('bake');
    expect(deployments.records.get(MODEL)!.revision).toBe(2);
    expect(audit.types()).toEqual(['ROLLOUT_STARTED']);
  });

  it('a second release waits while the lock is held, gives up after maxWaits, takes an expired lock over', async () => {
    const { start } = setup();
    await start('2.0.0', 'exec-a');
    expect((await start('3.0.0', 'exec-b', T0, 0)).next).toBe('locked');
    expect((await start('3.0.0', 'exec-b', T0, 2)).next).toBe('lock-timeout');
    const late = await start('3.0.0', 'exec-b', T0 + 61 * 60_000);
    expect(late).toMatchObject({ next: 'bake', version: '3.0.0' });
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
