/**
 * A crash between the routing write and its audit append, for every advanceRollout step that writes: the Task's
 * retry finds its own landed write (the record's `lastChange`), writes nothing more and appends the event under the
 * first attempt's id, so the ledger has exactly one event whether or not the first append landed.
 */
import { describe, expect, it } from 'vitest';
import type { AuditEvent, DeploymentRecord, VersionRecord } from '../../lambdas/core/ports';
import {
  advanceRollout,
  startRollout,
  type RolloutPolicy,
  type RolloutState,
} from '../../lambdas/core/rollout';
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

/** A rollout of 2.0.0 at its first step, ready for NextStep, Promote or Rollback. */
async function atFirstStep() {
  const deployments = new FakeDeploymentStore();
  const versions = new FakeVersionStore();
  const audit = new FakeAuditLog();
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
  const started = await startRollout(stores, {
    model: MODEL,
    version: '2.0.0',
    executionId: 'exec-a',
    policy: POLICY,
    nowMs: T0,
  });
  const state = await advanceRollout(stores, started, 'begin', T0 + 1000);
  return { stores, deployments, audit, state: { ...state, reason: 'ERROR_RATE_REGRESSION' } as RolloutState };
}

/** Makes the next append fail as a crash would: after the routing write, before the ledger write. */
function crashNextAppend(audit: FakeAuditLog): void {
  const append = audit.appendAudit.bind(audit);
  audit.appendAudit = async () => {
    audit.appendAudit = append;
    throw new Error('crash before the audit append');
  };
}

const ACTIONS = [
  ['step', 'TRAFFIC_SHIFTED'],
  ['promote', 'PROMOTED'],
  ['rollback', 'ROLLED_BACK'],
  ['finish-dry-run', 'TRAFFIC_SHIFTED'],
] as const;

describe('advanceRollout retried after a crash', () => {
  for (const [action, type] of ACTIONS) {
    it(`${action}: the retry writes nothing more and appends the lost ${type} under the first attempt's time`, async () => {
      const { stores, deployments, audit, state } = await atFirstStep();
      const before = audit.events.length;
      crashNextAppend(audit);
      await expect(advanceRollout(stores, state, action, T0 + 60_000)).rejects.toThrow(/crash/);
      const written = deployments.records.get(MODEL)!;
      expect(audit.events).toHaveLength(before);

      await advanceRollout(stores, state, action, T0 + 65_000);
      expect(deployments.records.get(MODEL)!.revision).toBe(written.revision);
      const added = audit.events.slice(before);
      expect(added.map((e: AuditEvent) => e.type)).toEqual([type]);
      expect(added[0]!.at).toBe(new Date(T0 + 60_000).toISOString());
      expect(added[0]!.details).toMatchObject({ revision: written.revision });
    });

    it(`${action}: a retry after the append landed appends nothing`, async () => {
      const { stores, audit, state } = await atFirstStep();
      await advanceRollout(stores, state, action, T0 + 60_000);
      const after = audit.events.length;
      await advanceRollout(stores, state, action, T0 + 65_000);
      expect(audit.events).toHaveLength(after);
    });
  }

  it('does not claim a write it did not make: a candidate cleared by hand gets no ROLLED_BACK from the execution', async () => {
    const { stores, deployments, audit, state } = await atFirstStep();
    const record = deployments.records.get(MODEL)!;
    const { candidate: _c, rollout: _r, ...rest } = record;
    deployments.records.set(MODEL, { ...rest, weight: 0, revision: record.revision + 1, updatedAt: 'x' });
    const before = audit.events.length;
    await advanceRollout(stores, state, 'rollback', T0 + 60_000);
    expect(audit.events).toHaveLength(before);
  });
});
