/**
 * AbortRollout after a StartRollout failure (core/rollout-events.ts, core/rollout.ts): `$.rollout` is then only
 * PrepareRollout's `{ waits }`, so the event names the execution and the registration; the abort releases the lock
 * and clears the candidate when StartRollout's write landed for this execution, and changes nothing otherwise.
 */
import { describe, expect, it } from 'vitest';
import { InvalidEventError } from '../../lambdas/core/errors';
import type { DeploymentRecord, VersionRecord } from '../../lambdas/core/ports';
import { parseEvent } from '../../lambdas/core/release-events';
import { advanceRollout, startRollout, type RolloutPolicy } from '../../lambdas/core/rollout';
import { advanceRolloutEventSchema } from '../../lambdas/core/rollout-events';
import { fakeLedger } from './fakes';

const MODEL = 'breast-cancer';
const T0 = Date.parse('2026-06-01T00:00:00Z');
const POLICY: RolloutPolicy = {
  steps: [0.1, 0.5],
  bakeSeconds: 0,
  lock: { ttlMinutes: 60, onLocked: 'wait', waitSeconds: 1, maxWaits: 2 },
  dryRun: false,
  judge: {},
};
const STABLE: DeploymentRecord = {
  model: MODEL,
  stable: '1.0.0',
  weight: 0,
  mode: 'canary',
  revision: 1,
  updatedAt: '',
};

function setup() {
  const ledger = fakeLedger();
  for (const version of ['1.0.0', '2.0.0']) {
    ledger.versions.records.set(`${MODEL}#${version}`, {
      model: MODEL,
      version,
      status: 'REGISTERED',
    } as VersionRecord);
  }
  ledger.deployments.records.set(MODEL, STABLE);
  return ledger;
}

/** AbortRollout's Parameters as the ASL builds them after a StartRollout failure. */
const abortEvent = (executionId: string, rollout: unknown = { waits: 0 }) =>
  parseEvent(
    advanceRolloutEventSchema,
    {
      action: 'abort',
      rollout,
      executionId,
      registration: { model: MODEL, version: '2.0.0' },
      error: { Error: 'TransientStoreError', Cause: 'GetItem Deployments: throttled' },
    },
    'AdvanceRollout',
  );

describe('AbortRollout after StartRollout', () => {
  it('releases the lock and clears the candidate StartRollout wrote before failing', async () => {
    const ledger = setup();
    await startRollout(ledger, {
      model: MODEL,
      version: '2.0.0',
      executionId: 'exec-a',
      policy: POLICY,
      nowMs: T0,
    });
    expect(ledger.deployments.records.get(MODEL)?.rollout?.executionId).toBe('exec-a');
    const event = abortEvent('exec-a');
    const aborted = await advanceRollout(ledger, event.rollout, event.action, T0 + 1000, event.error);
    expect(aborted).toMatchObject({ model: MODEL, version: '2.0.0', next: 'rolled-back', reason: 'ABORTED' });
    const record = ledger.deployments.records.get(MODEL)!;
    expect(record).toMatchObject({ stable: '1.0.0', weight: 0, revision: 3 });
    expect(record.candidate).toBeUndefined();
    expect(record.rollout).toBeUndefined();
    expect(ledger.audit.events.at(-1)).toMatchObject({
      type: 'ROLLOUT_ABORTED',
      version: '2.0.0',
      actor: 'exec-a',
      details: { error: { error: 'TransientStoreError', cause: 'GetItem Deployments: throttled' } },
    });
  });

  it('changes nothing when StartRollout failed before its write, or the lock is another execution’s', async () => {
    const ledger = setup();
    const event = abortEvent('exec-a');
    await advanceRollout(ledger, event.rollout, event.action, T0, event.error);
    expect(ledger.deployments.records.get(MODEL)).toEqual(STABLE);
    await startRollout(ledger, {
      model: MODEL,
      version: '2.0.0',
      executionId: 'exec-b',
      policy: POLICY,
      nowMs: T0,
    });
    const held = ledger.deployments.records.get(MODEL);
    await advanceRollout(ledger, event.rollout, event.action, T0 + 1000, event.error);
    expect(ledger.deployments.records.get(MODEL)).toBe(held);
    expect(ledger.audit.types()).toEqual(['ROLLOUT_STARTED']);
  });

  it('uses the rollout state when there is one (a StartRollout retry after a lock wait)', async () => {
    const ledger = setup();
    const locked = await startRollout(ledger, {
      model: MODEL,
      version: '2.0.0',
      executionId: 'exec-a',
      policy: POLICY,
      nowMs: T0,
    });
    expect(abortEvent('exec-a', locked).rollout).toEqual(locked);
  });

  it('rejects a partial state for every other action, and an abort that names no execution', () => {
    expect(() =>
      parseEvent(advanceRolloutEventSchema, { action: 'promote', rollout: { waits: 0 } }, 'AdvanceRollout'),
    ).toThrow(/event\.rollout\.model: .*event\.rollout\.version/);
    expect(() =>
      parseEvent(advanceRolloutEventSchema, { action: 'abort', rollout: { waits: 0 } }, 'AdvanceRollout'),
    ).toThrow(InvalidEventError);
    expect(() =>
      parseEvent(advanceRolloutEventSchema, { action: 'undo', rollout: {} }, 'AdvanceRollout'),
    ).toThrow(/event\.action: must be one of step, promote, rollback, abort, finish-dry-run/);
  });
});
