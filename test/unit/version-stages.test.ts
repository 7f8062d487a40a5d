/**
 * Version stages (core/version-stages.ts) over in-memory stores: each writer labels after its routing write (rollout
 * promote and rollback, a first version, `modelops promote`, `modelops rollback`, an alarm rollback), a label only
 * replaces one of an older routing revision, a crash between the routing write and the label is repaired by the
 * retry, and concurrent twins end with one label. The adapter's conditional UpdateItem is checked against a stub
 * client here and against dynalite in test/integration/rollout-faults.test.ts.
 */
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { status } from '../../cli/status';
import { DynamoVersionStageStore } from '../../lambdas/adapters/dynamo-version-stage-store';
import { rollbackOnAlarm, type AlarmRollbackEvent } from '../../lambdas/core/alarm-rollback';
import { TransientStoreError } from '../../lambdas/core/errors';
import { rollbackModel } from '../../lambdas/core/manual-rollout';
import type { DeploymentRecord, VersionStage, VersionStageStore } from '../../lambdas/core/ports';
import { promoteStable } from '../../lambdas/core/promotion';
import { advanceRollout, startRollout, type RolloutPolicy } from '../../lambdas/core/rollout';
import { labelStages } from '../../lambdas/core/version-stages';
import { fakeLedger, type FakeVersionStore } from './fakes';

const MODEL = 'breast-cancer';
const T0 = Date.parse('2026-06-01T00:00:00Z');
const POLICY: RolloutPolicy = {
  steps: [0.1, 0.5],
  bakeSeconds: 0,
  lock: { ttlMinutes: 60, onLocked: 'wait', waitSeconds: 1, maxWaits: 2 },
  dryRun: false,
  judge: {},
};

/** The stage attribute on the fake ModelVersions items, with the adapter's condition; `failures` throttles writes. */
class FakeStageStore implements VersionStageStore {
  failures = 0;
  readonly writes: string[] = [];
  constructor(private readonly versions: FakeVersionStore) {}

  async putStage(model: string, version: string, stage: VersionStage): Promise<boolean> {
    if (this.failures > 0) {
      this.failures -= 1;
      throw new TransientStoreError('UpdateItem ModelVersions: throttled');
    }
    const key = `${model}#${version}`;
    const current = this.versions.records.get(key);
    if (current === undefined) return false;
    if (current.stage !== undefined && current.stage.routingRevision >= stage.routingRevision) return false;
    this.versions.records.set(key, { ...current, stage });
    this.writes.push(`${version} ${stage.value}@${stage.routingRevision}`);
    return true;
  }
}

function setup(routing: Omit<DeploymentRecord, 'model' | 'weight' | 'mode' | 'updatedAt'> | null) {
  const ledger = fakeLedger();
  for (const v of ['1.0.0', '2.0.0', '3.0.0']) {
    ledger.versions.records.set(`${MODEL}#${v}`, {
      model: MODEL,
      version: v,
      status: 'REGISTERED',
      createdAt: '',
      updatedAt: '',
    });
  }
  if (routing !== null) {
    ledger.deployments.records.set(MODEL, {
      model: MODEL,
      weight: 0,
      mode: 'canary',
      updatedAt: new Date(T0 - 60_000).toISOString(),
      ...routing,
    });
  }
  const stages = new FakeStageStore(ledger.versions);
  const stageOf = (version: string): VersionStage | undefined =>
    ledger.versions.records.get(`${MODEL}#${version}`)?.stage;
  const routingRevision = () => ledger.deployments.records.get(MODEL)!.revision;
  return { ...ledger, stores: { ...ledger, stages }, stages, stageOf, routingRevision };
}

const start = (stores: Parameters<typeof startRollout>[0], version = '2.0.0', executionId = 'exec-a') =>
  startRollout(stores, { model: MODEL, version, executionId, policy: POLICY, nowMs: T0 });

describe('labelStages', () => {
  it('writes a label only over an older routing revision: a stale or repeated write keeps the newer one', async () => {
    const { stages, stageOf } = setup(null);
    expect(await labelStages(stages, MODEL, 5, 't5', [{ version: '1.0.0', value: 'LIVE' }])).toEqual([
      '1.0.0',
    ]);
    // An older attempt's write arriving late, and the same write again: both refused.
    expect(await labelStages(stages, MODEL, 4, 't4', [{ version: '1.0.0', value: 'STANDBY' }])).toEqual([]);
    expect(await labelStages(stages, MODEL, 5, 't5', [{ version: '1.0.0', value: 'STANDBY' }])).toEqual([]);
    expect(stageOf('1.0.0')).toEqual({ value: 'LIVE', at: 't5', routingRevision: 5 });
    const rolledBack = { version: '1.0.0', value: 'ROLLED_BACK', reason: 'ALARM' } as const;
    expect(await labelStages(stages, MODEL, 6, 't6', [rolledBack])).toEqual(['1.0.0']);
    expect(stageOf('1.0.0')).toEqual({ value: 'ROLLED_BACK', reason: 'ALARM', at: 't6', routingRevision: 6 });
  });

  it('labels no version that does not exist, and nothing without a store', async () => {
    const { stages } = setup(null);
    expect(await labelStages(stages, MODEL, 1, 't', [{ version: '9.9.9', value: 'LIVE' }])).toEqual([]);
    expect(await labelStages(undefined, MODEL, 1, 't', [{ version: '1.0.0', value: 'LIVE' }])).toEqual([]);
  });
});

describe('rollout stages', () => {
  it('promote: the candidate LIVE and the previous stable STANDBY, at the revision of the promote write', async () => {
    const { stores, stageOf, routingRevision } = setup({ stable: '1.0.0', revision: 1 });
    const started = await start(stores);
    expect(stageOf('2.0.0')).toBeUndefined();
    await advanceRollout(stores, started, 'promote', T0 + 1000);
    const at = new Date(T0 + 1000).toISOString();
    expect(stageOf('2.0.0')).toEqual({ value: 'LIVE', at, routingRevision: routingRevision() });
    expect(stageOf('1.0.0')).toEqual({ value: 'STANDBY', at, routingRevision: routingRevision() });
  });

  it('rollback: the candidate ROLLED_BACK with the verdict reason; stable keeps its label', async () => {
    const { stores, stageOf, routingRevision } = setup({ stable: '1.0.0', revision: 1 });
    const started = await start(stores);
    await advanceRollout(stores, { ...started, reason: 'ERROR_RATE_REGRESSION' }, 'rollback', T0 + 1000);
    expect(stageOf('2.0.0')).toMatchObject({
      value: 'ROLLED_BACK',
      reason: 'ERROR_RATE_REGRESSION',
      routingRevision: routingRevision(),
    });
    expect(stageOf('1.0.0')).toBeUndefined();
  });

  it('aborts and dry runs label nothing: nobody judged the version', async () => {
    const { stores, stages } = setup({ stable: '1.0.0', revision: 1 });
    await advanceRollout(stores, await start(stores), 'abort', T0 + 1000, { Error: 'Boom' });
    await advanceRollout(stores, await start(stores, '3.0.0', 'exec-b'), 'finish-dry-run', T0 + 2000);
    expect(stages.writes).toEqual([]);
  });

  it.each(['promote', 'rollback'] as const)(
    'a crash between the routing write and the labels (%s) is repaired by the retry, audited once',
    async (action) => {
      const { stores, stages, stageOf, audit, routingRevision } = setup({ stable: '1.0.0', revision: 1 });
      const started = { ...(await start(stores)), reason: 'FALLBACKS' };
      stages.failures = 1;
      await expect(advanceRollout(stores, started, action, T0 + 1000)).rejects.toThrow(TransientStoreError);
      const landed = routingRevision();
      expect(stageOf('2.0.0')).toBeUndefined();
      // The Task's retry: the routing write is recognised from the record, the labels written now.
      const retried = await advanceRollout(stores, started, action, T0 + 3000);
      expect(retried.next).toBe(action === 'promote' ? 'promoted' : 'rolled-back');
      expect(routingRevision()).toBe(landed);
      expect(stageOf('2.0.0')).toMatchObject(
        action === 'promote'
          ? { value: 'LIVE', routingRevision: landed }
          : { value: 'ROLLED_BACK', reason: 'FALLBACKS', routingRevision: landed },
      );
      if (action === 'promote') expect(stageOf('1.0.0')).toMatchObject({ value: 'STANDBY' });
      expect(audit.types().filter((t) => t === 'PROMOTED' || t === 'ROLLED_BACK')).toHaveLength(1);
    },
  );

  it('concurrent twins of one promote: one routing write, one label per version, the loser retries into a no-op', async () => {
    const { stores, stages, audit, routingRevision } = setup({ stable: '1.0.0', revision: 1 });
    const started = await start(stores);
    const [a, b] = await Promise.allSettled([
      advanceRollout(stores, started, 'promote', T0 + 1000),
      advanceRollout(stores, started, 'promote', T0 + 1000),
    ]);
    expect([a.status, b.status].sort()).toEqual(['fulfilled', 'rejected']);
    await advanceRollout(stores, started, 'promote', T0 + 2000);
    expect(stages.writes.sort()).toEqual([
      `1.0.0 STANDBY@${routingRevision()}`,
      `2.0.0 LIVE@${routingRevision()}`,
    ]);
    expect(audit.types().filter((t) => t === 'PROMOTED')).toHaveLength(1);
  });

  it('a retry that finds the rolled-back version stable again (promoted meanwhile) does not label it ROLLED_BACK', async () => {
    const { stores, deployments, stages } = setup({ stable: '1.0.0', revision: 1 });
    const started = { ...(await start(stores)), reason: 'FALLBACKS' };
    stages.failures = 1;
    await expect(advanceRollout(stores, started, 'rollback', T0 + 1000)).rejects.toThrow(TransientStoreError);
    const current = deployments.records.get(MODEL)!;
    deployments.records.set(MODEL, { ...current, stable: '2.0.0', revision: current.revision + 1 });
    await advanceRollout(stores, started, 'rollback', T0 + 2000);
    expect(stages.writes).toEqual([]);
  });

  it('a first version is LIVE; a retry after a crash before the label writes it', async () => {
    const { stores, stages, stageOf, routingRevision } = setup(null);
    stages.failures = 1;
    await expect(start(stores, '1.0.0')).rejects.toThrow(TransientStoreError);
    expect(stageOf('1.0.0')).toBeUndefined();
    expect((await start(stores, '1.0.0')).next).toBe('skipped');
    expect(stageOf('1.0.0')).toMatchObject({ value: 'LIVE', routingRevision: routingRevision() });
  });
});

describe('manual and alarm stages', () => {
  it('modelops promote: LIVE and the replaced stable STANDBY; promoting it again repairs a missing label', async () => {
    const { stores, stages, stageOf, routingRevision } = setup({ stable: '1.0.0', revision: 3 });
    stages.failures = 1;
    await expect(
      promoteStable(stores, { model: MODEL, version: '2.0.0', actor: 'cli:alice' }),
    ).rejects.toThrow(TransientStoreError);
    const again = await promoteStable(stores, { model: MODEL, version: '2.0.0', actor: 'cli:alice' });
    expect(again.changed).toBe(false);
    expect(stageOf('2.0.0')).toMatchObject({ value: 'LIVE', routingRevision: 4 });
    // Labels keep following the routing: the next promotion makes 2.0.0 STANDBY.
    await promoteStable(stores, { model: MODEL, version: '3.0.0', actor: 'cli:alice' });
    expect(stageOf('3.0.0')).toMatchObject({ value: 'LIVE', routingRevision: routingRevision() });
    expect(stageOf('2.0.0')).toMatchObject({ value: 'STANDBY', routingRevision: routingRevision() });
  });

  it('modelops rollback: the candidate ROLLED_BACK (MANUAL_ROLLBACK); with --to, the target LIVE and the replaced stable ROLLED_BACK', async () => {
    const { stores, stageOf, routingRevision } = setup({ stable: '1.0.0', candidate: '2.0.0', revision: 3 });
    const input = { model: MODEL, actor: 'cli:alice', reason: 'p99 doubled', nowMs: T0 };
    await rollbackModel(stores, input);
    expect(stageOf('2.0.0')).toMatchObject({
      value: 'ROLLED_BACK',
      reason: 'MANUAL_ROLLBACK',
      routingRevision: 4,
    });
    await rollbackModel(stores, { ...input, to: '3.0.0', nowMs: T0 + 1000 });
    expect(stageOf('3.0.0')).toMatchObject({ value: 'LIVE', routingRevision: routingRevision() });
    expect(stageOf('1.0.0')).toMatchObject({
      value: 'ROLLED_BACK',
      reason: 'MANUAL_ROLLBACK',
      routingRevision: routingRevision(),
    });
  });

  it('modelops rollback run again after a crash before the labels writes them', async () => {
    const { stores, stages, stageOf } = setup({ stable: '1.0.0', candidate: '2.0.0', revision: 3 });
    const input = { model: MODEL, actor: 'cli:alice', reason: 'p99 doubled', nowMs: T0 };
    stages.failures = 1;
    await expect(rollbackModel(stores, input)).rejects.toThrow(TransientStoreError);
    expect((await rollbackModel(stores, input)).changed).toBe(false);
    expect(stageOf('2.0.0')).toMatchObject({ value: 'ROLLED_BACK', routingRevision: 4 });
  });

  it('an alarm rollback labels the candidate ROLLED_BACK (ALARM); a twin delivery after a crash repairs it', async () => {
    const event: AlarmRollbackEvent = {
      id: 'event-1',
      detail: {
        alarmName: `modelops-prod-${MODEL}-candidate-errors-page-1h`,
        state: { value: 'ALARM', reason: 'both windows burning', timestamp: new Date(T0).toISOString() },
      },
    };
    const options = { nowMs: T0 + 1000, alarmNamePrefix: 'modelops-prod' };
    const locked = setup({
      stable: '1.0.0',
      candidate: '2.0.0',
      revision: 3,
      rollout: {
        executionId: 'exec-a',
        candidate: '2.0.0',
        startedAt: new Date(T0 - 60_000).toISOString(),
        expiresAt: new Date(T0 + 3_600_000).toISOString(),
      },
    });
    locked.stages.failures = 1;
    await expect(rollbackOnAlarm(locked.stores, event, options)).rejects.toThrow(TransientStoreError);
    expect((await rollbackOnAlarm(locked.stores, event, options)).action).toBe('already-rolled-back');
    expect(locked.stageOf('2.0.0')).toMatchObject({
      value: 'ROLLED_BACK',
      reason: 'ALARM',
      at: new Date(T0 + 1000).toISOString(),
      routingRevision: 4,
    });
  });
});

describe('modelops status', () => {
  it('shows each version’s stage, with the reason of a rollback', async () => {
    const { stores } = setup({ stable: '1.0.0', candidate: '2.0.0', revision: 3 });
    await rollbackModel(stores, { model: MODEL, actor: 'cli:alice', reason: 'p99 doubled', nowMs: T0 });
    await promoteStable(stores, { model: MODEL, version: '3.0.0', actor: 'cli:alice' });
    const out: string[] = [];
    await status(
      MODEL,
      { description: 'test' } as never,
      {},
      { out: (l) => out.push(l), err: () => {} },
      stores,
    );
    const row = (version: string) => out.find((l) => l.startsWith(`${MODEL} `) && l.includes(` ${version} `));
    expect(out.find((l) => l.startsWith('MODEL'))).toMatch(/^MODEL +VERSION +STATUS +STAGE +SHA256/);
    expect(row('1.0.0')).toMatch(/REGISTERED +STANDBY /);
    expect(row('2.0.0')).toMatch(/REGISTERED +ROLLED_BACK \(MANUAL_ROLLBACK\) /);
    expect(row('3.0.0')).toMatch(/REGISTERED +LIVE /);
  });
});

describe('DynamoVersionStageStore', () => {
  const stage: VersionStage = { value: 'LIVE', at: 't', routingRevision: 7 };
  function stub(reply: () => unknown) {
    const sent: { command: string; input: Record<string, unknown> }[] = [];
    const doc = {
      send: async (cmd: { constructor: { name: string }; input: Record<string, unknown> }) => {
        sent.push({ command: cmd.constructor.name, input: cmd.input });
        return reply();
      },
    } as unknown as DynamoDBDocumentClient;
    return { store: new DynamoVersionStageStore('ModelVersions', doc), sent };
  }

  it('sets the stage in place with one UpdateItem, only on an existing version with an older label', async () => {
    const { store, sent } = stub(() => ({}));
    expect(await store.putStage(MODEL, '1.0.0', stage)).toBe(true);
    expect(sent).toEqual([
      {
        command: 'UpdateCommand',
        input: expect.objectContaining({
          TableName: 'ModelVersions',
          Key: { model: MODEL, version: '1.0.0' },
          UpdateExpression: 'SET #stage = :stage',
          ConditionExpression:
            'attribute_exists(#model) AND (attribute_not_exists(#stage) OR #stage.#revision < :revision)',
          ExpressionAttributeValues: { ':stage': stage, ':revision': 7 },
        }),
      },
    ]);
  });

  it('answers false when the condition fails, and maps throttling to TransientStoreError', async () => {
    const failed = stub(() => {
      throw Object.assign(new Error('condition'), { name: 'ConditionalCheckFailedException' });
    });
    expect(await failed.store.putStage(MODEL, '1.0.0', stage)).toBe(false);
    const throttled = stub(() => {
      throw Object.assign(new Error('slow down'), { name: 'ThrottlingException' });
    });
    await expect(throttled.store.putStage(MODEL, '1.0.0', stage)).rejects.toMatchObject({
      name: 'TransientStoreError',
      message: expect.stringContaining('UpdateItem ModelVersions'),
    });
  });
});
