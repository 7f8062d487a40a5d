/**
 * core/alarm-rollback.ts over in-memory stores: which alarm events act, the one conditional write, idempotence under
 * at-least-once delivery (duplicates, twins, a crash between write and audit), races with the execution and an
 * operator, stale alarms; the alarm-name parser against every rule `alarmRules` generates; and the handler's event
 * validation.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  ALARM_NAME_PREFIX_ENV,
  ALARM_ROLLBACK_MODELS_ENV,
  MAX_ALARM_REASON_CHARS,
  rollbackOnAlarm,
  type AlarmRollbackEvent,
  type AlarmRollbackOptions,
} from '../../lambdas/core/alarm-rollback';
import {
  alarmName,
  alarmNamePrefix,
  alarmRules,
  parseAlarmName,
  type AlarmRulesInput,
} from '../../lambdas/core/alarm-rules';
import type * as HandlerModule from '../../lambdas/alarm-rollback/handler';
import { ConfigurationError, InvalidEventError } from '../../lambdas/core/errors';
import type { DeploymentRecord, MetricsReader, VersionRecord } from '../../lambdas/core/ports';
import { RoutingConflictError } from '../../lambdas/core/promotion';
import { analyzeCanary, startRollout, type RolloutPolicy } from '../../lambdas/core/rollout';
import { parseConfig } from '../../lib/config';
import { localAlarmName } from '../../local/alarm-runner';
import { FakeAuditLog, FakeDeploymentStore, FakeVersionStore } from './fakes';

const MODEL = 'breast-cancer';
const PREFIX = 'modelops-prod';
const EXECUTION = 'arn:aws:states:eu-west-1:123456789012:execution:release:exec-a';
const T0 = Date.parse('2026-06-01T00:00:00Z');
const ERRORS_ALARM = `${PREFIX}-${MODEL}-candidate-errors-page-1h`;
const OPTIONS: AlarmRollbackOptions = {
  nowMs: T0 + 120_000,
  alarmNamePrefix: PREFIX,
  models: new Set([MODEL]),
};

/** CloudWatch's timestamp format: `+0000`, not `Z`. */
const cloudWatchTime = (ms: number) => new Date(ms).toISOString().replace('Z', '+0000');

function alarmEvent(
  overrides: { id?: string; alarmName?: string; value?: string; reason?: string; atMs?: number } = {},
): AlarmRollbackEvent {
  return {
    id: overrides.id ?? 'c4c1c1c9-6542-e61b-6ef0-8c4d36933a92',
    detail: {
      alarmName: overrides.alarmName ?? ERRORS_ALARM,
      state: {
        value: overrides.value ?? 'ALARM',
        reason:
          overrides.reason ?? 'candidate-errors-page-1h-long=ALARM AND candidate-errors-page-1h-short=ALARM',
        timestamp: cloudWatchTime(overrides.atMs ?? T0 + 60_000),
      },
    },
  };
}

const locked: DeploymentRecord = {
  model: MODEL,
  stable: '1.0.0',
  candidate: '2.0.0',
  weight: 0.1,
  mode: 'canary',
  revision: 3,
  updatedAt: new Date(T0).toISOString(),
  rollout: {
    executionId: EXECUTION,
    candidate: '2.0.0',
    startedAt: new Date(T0).toISOString(),
    expiresAt: new Date(T0 + 3_600_000).toISOString(),
  },
};

function setup(record: DeploymentRecord | null = locked) {
  const deployments = new FakeDeploymentStore();
  const audit = new FakeAuditLog();
  if (record) deployments.records.set(MODEL, record);
  const stores = { deployments, audit };
  return { deployments, audit, stores, current: () => deployments.records.get(MODEL) };
}

describe('rollbackOnAlarm', () => {
  it('clears the candidate and releases the lock in one write, leaving the ending for the execution', async () => {
    // GIVEN a rollout holding the lock at 10 %
    const { stores, audit, current } = setup();
    // WHEN its candidate errors alarm enters ALARM
    const result = await rollbackOnAlarm(stores, alarmEvent(), OPTIONS);
    // THEN
    expect(result).toEqual({
      action: 'rolled-back',
      model: MODEL,
      alarmName: ERRORS_ALARM,
      candidate: '2.0.0',
      stable: '1.0.0',
      revision: 4,
      executionId: EXECUTION,
      attempts: 1,
    });
    const at = new Date(OPTIONS.nowMs).toISOString();
    expect(current()).toEqual({
      model: MODEL,
      stable: '1.0.0',
      weight: 0,
      mode: 'canary',
      revision: 4,
      updatedAt: at,
      endedRollout: {
        executionId: EXECUTION,
        candidate: '2.0.0',
        outcome: 'ROLLED_BACK',
        reason: 'ALARM',
        actor: `alarm:${ERRORS_ALARM}`,
        at,
        detail: 'candidate-errors-page-1h-long=ALARM AND candidate-errors-page-1h-short=ALARM',
      },
    });
    expect(audit.events).toHaveLength(1);
    expect(audit.events[0]).toMatchObject({
      model: MODEL,
      type: 'ROLLED_BACK',
      version: '2.0.0',
      actor: `alarm:${ERRORS_ALARM}`,
      at,
      details: {
        reason: 'ALARM',
        alarmName: ERRORS_ALARM,
        alarmReason: 'candidate-errors-page-1h-long=ALARM AND candidate-errors-page-1h-short=ALARM',
        clearedCandidate: '2.0.0',
        stable: '1.0.0',
        revision: 4,
        executionId: EXECUTION,
      },
    });
    expect(audit.events[0]!.eventId).toMatch(new RegExp(`^${at}#[0-9a-f]{8}$`));
  });

  it('the execution holding the lock then ends RolledBack with the alarm as reason and actor', async () => {
    // GIVEN a rollout started by the real StartRollout
    const { stores, current } = setup({ ...locked, candidate: undefined, rollout: undefined, weight: 0 });
    const versions = new FakeVersionStore();
    versions.records.set(`${MODEL}#2.0.0`, {
      model: MODEL,
      version: '2.0.0',
      status: 'REGISTERED',
    } as VersionRecord);
    const policy: RolloutPolicy = {
      steps: [0.1, 0.5],
      bakeSeconds: 3600,
      lock: { ttlMinutes: 60, onLocked: 'wait', waitSeconds: 1, maxWaits: 2 },
      dryRun: false,
      judge: {},
    };
    const state = await startRollout(
      { ...stores, versions },
      { model: MODEL, version: '2.0.0', executionId: EXECUTION, policy, nowMs: T0 },
    );
    expect(current()?.rollout?.executionId).toBe(EXECUTION);
    // WHEN the alarm rolls it back during the bake, and the bake ends
    await rollbackOnAlarm(stores, alarmEvent(), OPTIONS);
    const neverRead: MetricsReader = {
      read: () => Promise.reject(new Error('a rolled-back rollout reads no metrics')),
    };
    const next = await analyzeCanary({ ...stores, metrics: neverRead }, state, T0 + 3_600_000);
    // THEN
    expect(next).toMatchObject({
      next: 'rolled-back',
      reason: 'ALARM',
      weight: 0,
      endedBy: { actor: `alarm:${ERRORS_ALARM}`, at: new Date(OPTIONS.nowMs).toISOString() },
    });
  });

  it('rolls back a canary routed by hand (no lock): no ending is written, the audit names no execution', async () => {
    const { stores, audit, current } = setup({ ...locked, rollout: undefined });
    const result = await rollbackOnAlarm(stores, alarmEvent(), OPTIONS);
    expect(result).toMatchObject({ action: 'rolled-back', candidate: '2.0.0', revision: 4 });
    expect(result).not.toHaveProperty('executionId');
    expect(current()).toMatchObject({ stable: '1.0.0', weight: 0, revision: 4 });
    expect(current()?.candidate).toBeUndefined();
    expect(current()?.endedRollout).toBeUndefined();
    expect(audit.events[0]?.details).toMatchObject({ executionId: null, clearedCandidate: '2.0.0' });
  });

  it.each(['OK', 'INSUFFICIENT_DATA'])('ignores a transition to %s', async (value) => {
    const { stores, audit, current } = setup();
    const result = await rollbackOnAlarm(stores, alarmEvent({ value }), OPTIONS);
    expect(result).toMatchObject({ action: 'ignored', reason: 'NOT_ALARM' });
    expect(current()).toEqual(locked);
    expect(audit.events).toEqual([]);
  });

  it.each([
    [`${PREFIX}-${MODEL}-availability-burn-page-1h`, 'NOT_CANDIDATE_ALARM'],
    [`${PREFIX}-${MODEL}-latency-burn-ticket-3d`, 'NOT_CANDIDATE_ALARM'],
    [`${PREFIX}-${MODEL}-drift`, 'NOT_CANDIDATE_ALARM'],
    [`${PREFIX}-${MODEL}-accuracy-floor`, 'NOT_CANDIDATE_ALARM'],
    [`${PREFIX}-${MODEL}-candidate-errors-page-1h-long`, 'WINDOW_ALARM'],
    [`${PREFIX}-${MODEL}-candidate-latency-page-1h-short`, 'WINDOW_ALARM'],
    [`${PREFIX}-drift-monitor-failed`, 'UNKNOWN_ALARM'],
    [`modelops-staging-${MODEL}-candidate-errors-page-1h`, 'UNKNOWN_ALARM'],
    [`${PREFIX}-credit-risk-candidate-errors-page-1h`, 'MODEL_NOT_COVERED'],
  ])('ignores %s (%s)', async (name, reason) => {
    const { stores, audit, current } = setup();
    const result = await rollbackOnAlarm(stores, alarmEvent({ alarmName: name }), OPTIONS);
    expect(result).toMatchObject({ action: 'ignored', reason });
    expect(current()).toEqual(locked);
    expect(audit.events).toEqual([]);
  });

  it('acts on the latency candidate alarm too', async () => {
    const { stores } = setup();
    const name = `${PREFIX}-${MODEL}-candidate-latency-page-1h`;
    expect(await rollbackOnAlarm(stores, alarmEvent({ alarmName: name }), OPTIONS)).toMatchObject({
      action: 'rolled-back',
    });
  });

  it('ignores a model without a candidate, and a shadowed candidate (it answers no request)', async () => {
    const none = setup({ ...locked, candidate: undefined, rollout: undefined, weight: 0 });
    expect(await rollbackOnAlarm(none.stores, alarmEvent(), OPTIONS)).toMatchObject({
      reason: 'NO_CANDIDATE',
    });
    expect(await rollbackOnAlarm(setup(null).stores, alarmEvent(), OPTIONS)).toMatchObject({
      reason: 'NO_CANDIDATE',
    });
    const shadow = setup({ ...locked, mode: 'shadow' });
    expect(await rollbackOnAlarm(shadow.stores, alarmEvent(), OPTIONS)).toMatchObject({
      reason: 'SHADOW_MODE',
    });
    expect(shadow.current()).toEqual({ ...locked, mode: 'shadow' });
  });

  it('ignores a stale alarm: it entered ALARM before the current rollout started (an earlier candidate)', async () => {
    const { stores, audit, current } = setup();
    const result = await rollbackOnAlarm(stores, alarmEvent({ atMs: T0 - 1 }), OPTIONS);
    expect(result).toMatchObject({ action: 'ignored', reason: 'STALE_ALARM' });
    expect(result.action === 'ignored' && result.message).toContain(locked.rollout!.startedAt);
    expect(current()).toEqual(locked);
    expect(audit.events).toEqual([]);
    // At the very start of the rollout it is the rollout's own alarm.
    expect(await rollbackOnAlarm(stores, alarmEvent({ atMs: T0 }), OPTIONS)).toMatchObject({
      action: 'rolled-back',
    });
  });

  it('a duplicate delivery writes and audits nothing more', async () => {
    const { stores, audit, current } = setup();
    await rollbackOnAlarm(stores, alarmEvent(), OPTIONS);
    const after = current();
    const again = await rollbackOnAlarm(stores, alarmEvent(), { ...OPTIONS, nowMs: OPTIONS.nowMs + 5_000 });
    expect(again).toEqual({
      action: 'already-rolled-back',
      model: MODEL,
      alarmName: ERRORS_ALARM,
      candidate: '2.0.0',
    });
    expect(current()).toBe(after);
    expect(audit.types()).toEqual(['ROLLED_BACK']);
  });

  it('a duplicate delivery of a hand-routed rollback finds no candidate and does nothing', async () => {
    const { stores, audit } = setup({ ...locked, rollout: undefined });
    await rollbackOnAlarm(stores, alarmEvent(), OPTIONS);
    expect(await rollbackOnAlarm(stores, alarmEvent(), OPTIONS)).toMatchObject({ reason: 'NO_CANDIDATE' });
    expect(audit.types()).toEqual(['ROLLED_BACK']);
  });

  it('a later transition of the same alarm, with the same reason text, is not taken for the earlier rollback', async () => {
    // GIVEN a rollback by the alarm, then the rollout's candidate gone (the ending stays in the record)
    const { stores, audit } = setup();
    await rollbackOnAlarm(stores, alarmEvent(), OPTIONS);
    // WHEN the alarm enters ALARM again ten minutes later (local composites give the same reason every time)
    const later = alarmEvent({ id: 'second-transition', atMs: OPTIONS.nowMs + 600_000 });
    const result = await rollbackOnAlarm(stores, later, { ...OPTIONS, nowMs: OPTIONS.nowMs + 601_000 });
    // THEN nothing is routed, and nothing more is audited
    expect(result).toMatchObject({ action: 'ignored', reason: 'NO_CANDIDATE' });
    expect(audit.types()).toEqual(['ROLLED_BACK']);
  });

  it('two deliveries racing: one write, one audit event', async () => {
    const { stores, deployments, audit, current } = setup();
    const puts: (number | undefined)[] = [];
    const put = deployments.putDeployment.bind(deployments);
    deployments.putDeployment = (record, options) => {
      puts.push(options.expectedRevision);
      return put(record, options);
    };
    const results = await Promise.all([
      rollbackOnAlarm(stores, alarmEvent(), OPTIONS),
      rollbackOnAlarm(stores, alarmEvent(), { ...OPTIONS, nowMs: OPTIONS.nowMs + 1 }),
    ]);
    expect(results.map((r) => r.action).sort()).toEqual(['already-rolled-back', 'rolled-back']);
    // Both tried to write revision 3; only one write landed.
    expect(puts).toEqual([3, 3]);
    expect(current()?.revision).toBe(4);
    expect(audit.types()).toEqual(['ROLLED_BACK']);
  });

  it('a crash between the write and the audit: the redelivered event audits once', async () => {
    const { stores, audit, current } = setup();
    const append = audit.appendAudit.bind(audit);
    let crash = true;
    audit.appendAudit = async (event) => {
      if (crash) {
        crash = false;
        throw new Error('Lambda timed out');
      }
      return append(event);
    };
    await expect(rollbackOnAlarm(stores, alarmEvent(), OPTIONS)).rejects.toThrow('Lambda timed out');
    expect(current()?.candidate).toBeUndefined();
    const retried = await rollbackOnAlarm(stores, alarmEvent(), {
      ...OPTIONS,
      nowMs: OPTIONS.nowMs + 60_000,
    });
    expect(retried.action).toBe('already-rolled-back');
    expect(audit.types()).toEqual(['ROLLED_BACK']);
    // The event is stamped with the time of the write, not of the retry.
    expect(audit.events[0]?.at).toBe(current()?.endedRollout?.at);
    await rollbackOnAlarm(stores, alarmEvent(), OPTIONS);
    expect(audit.types()).toEqual(['ROLLED_BACK']);
  });

  it('a concurrent weight change (the execution stepping) is retried on the new revision', async () => {
    const { stores, deployments, current } = setup();
    let stepped = false;
    deployments.beforePut = () => {
      if (stepped) return;
      stepped = true;
      deployments.records.set(MODEL, { ...locked, weight: 0.5, revision: 4 });
    };
    const result = await rollbackOnAlarm(stores, alarmEvent(), OPTIONS);
    expect(result).toMatchObject({ action: 'rolled-back', revision: 5, attempts: 2 });
    expect(current()).toMatchObject({ weight: 0, revision: 5, endedRollout: { executionId: EXECUTION } });
    expect(current()?.candidate).toBeUndefined();
  });

  it('the candidate changed meanwhile (an operator routed another version): nothing is written', async () => {
    const { stores, deployments, audit, current } = setup({ ...locked, rollout: undefined });
    const rerouted: DeploymentRecord = { ...locked, rollout: undefined, candidate: '3.0.0', revision: 4 };
    deployments.beforePut = () => {
      if (current()?.revision === 3) deployments.records.set(MODEL, rerouted);
    };
    const result = await rollbackOnAlarm(stores, alarmEvent(), OPTIONS);
    expect(result).toMatchObject({ action: 'ignored', reason: 'CANDIDATE_CHANGED' });
    expect(result.action === 'ignored' && result.message).toContain('from 2.0.0 to 3.0.0');
    expect(current()).toBe(rerouted);
    expect(audit.events).toEqual([]);
  });

  it('the candidate was promoted meanwhile: nothing is written', async () => {
    const { stores, deployments, audit } = setup();
    deployments.beforePut = () => {
      if (deployments.records.get(MODEL)?.revision === 3)
        deployments.records.set(MODEL, {
          model: MODEL,
          stable: '2.0.0',
          weight: 0,
          mode: 'canary',
          revision: 4,
          updatedAt: '',
        });
    };
    expect(await rollbackOnAlarm(stores, alarmEvent(), OPTIONS)).toMatchObject({ reason: 'NO_CANDIDATE' });
    expect(audit.events).toEqual([]);
  });

  it('fails with RoutingConflictError when the record keeps changing for maxAttempts writes', async () => {
    const { stores, deployments } = setup();
    deployments.beforePut = () => {
      const r = deployments.records.get(MODEL)!;
      deployments.records.set(MODEL, { ...r, revision: r.revision + 1 });
    };
    await expect(
      rollbackOnAlarm(stores, alarmEvent(), { ...OPTIONS, maxAttempts: 3 }),
    ).rejects.toBeInstanceOf(RoutingConflictError);
    expect(deployments.records.get(MODEL)?.candidate).toBe('2.0.0');
  });

  it('keeps at most 1000 characters of the state reason', async () => {
    const { stores, audit, current } = setup();
    await rollbackOnAlarm(stores, alarmEvent({ reason: 'x'.repeat(5000) }), OPTIONS);
    expect(current()?.endedRollout?.detail).toHaveLength(MAX_ALARM_REASON_CHARS);
    expect(audit.events[0]?.details.alarmReason).toHaveLength(MAX_ALARM_REASON_CHARS);
  });

  it('acts for every model when no model list is given', async () => {
    const { stores } = setup();
    const { models: _all, ...everyModel } = OPTIONS;
    expect(await rollbackOnAlarm(stores, alarmEvent(), everyModel)).toMatchObject({ action: 'rolled-back' });
  });
});

describe('alarm names', () => {
  const inputs: AlarmRulesInput[] = [
    {
      name: 'breast-cancer',
      slo: { periodDays: 30, availability: { target: 0.999 }, latency: { target: 0.99, thresholdMs: 250 } },
      feedback: { accuracyFloor: 0.9, maeCeiling: 3 },
      driftScheduleMinutes: 10,
    },
    {
      // Names that contain rule ids and kinds: the split must still be unique.
      name: 'drift',
      slo: { periodDays: 7, availability: { target: 0.99 }, latency: { target: 0.95, thresholdMs: 100 } },
    },
    {
      name: 'x-candidate-errors-page-1h',
      slo: { periodDays: 28, availability: { target: 0.995 }, latency: { target: 0.9, thresholdMs: 1000 } },
      drift: false,
    },
    {
      name: 'm-drift-monitor-errors',
      slo: { periodDays: 30, availability: { target: 0.999 }, latency: { target: 0.99, thresholdMs: 250 } },
      feedback: { accuracyFloor: 0.5 },
    },
  ];

  it.each(inputs.map((i) => [i.name, i] as const))(
    'parses back every alarm name of %s with its model, rule and kind',
    (_name, input) => {
      const rules = alarmRules(input);
      expect(rules.length).toBeGreaterThan(5);
      for (const rule of rules) {
        const parsed = parseAlarmName(alarmName(PREFIX, input.name, rule.id), PREFIX);
        expect(parsed, rule.id).toMatchObject({ model: input.name, ruleId: rule.id, kind: rule.kind });
        // Only the windows of a pair carry a window; composites and single-metric rules do not.
        const window = rule.id.match(/-(long|short)$/)?.[1];
        expect(parsed?.window, rule.id).toBe(rule.type === 'ratio' ? window : undefined);
      }
    },
  );

  it('refuses names of other deployments, of no model rule, or with an invalid model name', () => {
    expect(parseAlarmName(`${PREFIX}-drift-monitor-failed`, PREFIX)).toBeUndefined();
    expect(parseAlarmName(`other-${MODEL}-drift`, PREFIX)).toBeUndefined();
    expect(parseAlarmName(`${PREFIX}-${MODEL}-candidate-errors-page-1h-middle`, PREFIX)).toBeUndefined();
    expect(parseAlarmName(`${PREFIX}--drift`, PREFIX)).toBeUndefined();
    expect(parseAlarmName(`${PREFIX}-Breast-drift`, PREFIX)).toBeUndefined();
  });

  it('local mode names its alarms with the same format', () => {
    const config = parseConfig({
      project: 'modelops',
      stage: 'local',
      models: [{ name: MODEL, owner: 'ml' }],
    });
    expect(alarmNamePrefix(config)).toBe('modelops-local');
    expect(localAlarmName(config, MODEL, 'candidate-errors-page-1h')).toBe(
      alarmName('modelops-local', MODEL, 'candidate-errors-page-1h'),
    );
  });
});

describe('AlarmRollback handler', () => {
  let mod: typeof HandlerModule;
  beforeAll(async () => {
    process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
    process.env.POWERTOOLS_METRICS_DISABLED = 'true';
    mod = await import('../../lambdas/alarm-rollback/handler');
  });

  /** The event as EventBridge delivers it (CloudWatch's documented example shape). */
  const delivered = (detail: Record<string, unknown> = {}, top: Record<string, unknown> = {}) => ({
    version: '0',
    id: 'c4c1c1c9-6542-e61b-6ef0-8c4d36933a92',
    'detail-type': 'CloudWatch Alarm State Change',
    source: 'aws.cloudwatch',
    account: '123456789012',
    time: '2026-06-01T00:01:00Z',
    region: 'eu-west-1',
    resources: [`arn:aws:cloudwatch:eu-west-1:123456789012:alarm:${ERRORS_ALARM}`],
    detail: {
      alarmName: ERRORS_ALARM,
      state: { value: 'ALARM', reason: 'both windows burning', timestamp: '2026-06-01T00:01:00.000+0000' },
      previousState: { value: 'OK', reason: 'fine', timestamp: '2026-05-31T00:00:00.000+0000' },
      configuration: { alarmRule: 'ALARM(a) AND ALARM(b)' },
      ...detail,
    },
    ...top,
  });

  function handlerWith() {
    const fixture = setup();
    const handler = mod.alarmRollbackHandler({
      wire: () => ({ stores: fixture.stores, alarmNamePrefix: PREFIX, models: new Set([MODEL]) }),
      now: () => OPTIONS.nowMs,
    });
    return { ...fixture, handler };
  }

  it('rolls back on a delivered CloudWatch alarm event', async () => {
    const { handler, current } = handlerWith();
    expect(await handler(delivered())).toMatchObject({ action: 'rolled-back', candidate: '2.0.0' });
    expect(current()?.candidate).toBeUndefined();
  });

  it.each([
    [
      { state: { value: 'BROKEN', reason: 'r', timestamp: '2026-06-01T00:01:00.000+0000' } },
      {},
      'event.detail.state.value',
    ],
    [{ state: { value: 'ALARM', reason: 'r', timestamp: 'yesterday' } }, {}, 'event.detail.state.timestamp'],
    [{ alarmName: '' }, {}, 'event.detail.alarmName'],
    [{ state: undefined }, {}, 'event.detail.state'],
    [{}, { source: 'aws.ec2' }, 'event.source'],
    [{}, { 'detail-type': 'Object Created' }, 'event.detail-type'],
    [{}, { id: undefined }, 'event.id'],
  ])('rejects a malformed event, naming the field (%#)', async (detail, top, field) => {
    const { handler, current } = handlerWith();
    const error = await handler(delivered(detail, top)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidEventError);
    expect((error as Error).message).toContain(`${field}:`);
    expect(current()).toEqual(locked);
  });

  it('fails fast naming an unset variable', () => {
    const env = {
      DEPLOYMENTS_TABLE: 'd',
      AUDIT_LOG_TABLE: 'a',
      MODEL_VERSIONS_TABLE: 'v',
      [ALARM_ROLLBACK_MODELS_ENV]: MODEL,
    };
    expect(() => mod.wireFromEnv(env)).toThrow(ConfigurationError);
    expect(() => mod.wireFromEnv(env)).toThrow(ALARM_NAME_PREFIX_ENV);
    const wired = mod.wireFromEnv({ ...env, [ALARM_NAME_PREFIX_ENV]: PREFIX });
    expect([...wired.models]).toEqual([MODEL]);
    expect(() => mod.wireFromEnv({ ...env, [ALARM_ROLLBACK_MODELS_ENV]: '' })).toThrow(
      ALARM_ROLLBACK_MODELS_ENV,
    );
  });
});
