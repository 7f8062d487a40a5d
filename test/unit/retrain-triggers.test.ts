import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { AlarmStateChangeEvent } from '../../lambdas/core/alarm-evaluation';
import { alarmNamePrefix } from '../../lambdas/core/alarm-rules';
import { DRIFT_DETECTED_DETAIL_TYPE, DRIFT_EVENT_SOURCE } from '../../lambdas/core/drift-monitor';
import type { DomainEvent } from '../../lambdas/core/ports';
import { driftedWindows } from '../../lambdas/core/retrain-guard';
import { parseRetrainStart } from '../../lambdas/core/retrain-policy';
import { parseConfig, type ModelOpsConfig } from '../../lib/config';
import type { ExecutionResult } from '../../local/asl-runner';
import { LocalEventBus } from '../../local/event-bus';
import { silentLogger } from '../../local/logger';
import {
  accuracyStartInput,
  driftStartInput,
  parseRetrainRequestKey,
  rateMs,
  retrainExecutionName,
  retrainRequestKey,
  retrainTriggerService,
  RetrainTriggers,
  scheduleStartInput,
  type RunningRetrainTriggers,
} from '../../local/retrain-scheduler';
import type { LocalServiceContext } from '../../local/start';

const retrainOn = (schedule?: string) => ({
  enabled: true,
  ...(schedule !== undefined ? { schedule } : {}),
  trainer: { command: ['node', '--import', 'tsx', 'examples/trainer/train.ts'] },
  championGate: { metric: 'auc' },
});

function config(schedule?: string): ModelOpsConfig {
  return parseConfig({
    models: [
      { name: 'breast-cancer', owner: 'ml-platform', retrain: retrainOn(schedule) },
      { name: 'credit-risk', owner: 'ml-platform' },
      { name: 'digits', owner: 'ml-platform', retrain: retrainOn('cron(0 3 ? * MON *)') },
    ],
  });
}

function driftEvent(model: string, recent: boolean[]): DomainEvent {
  return {
    source: DRIFT_EVENT_SOURCE,
    detailType: DRIFT_DETECTED_DETAIL_TYPE,
    detail: {
      eventId: `${model}#1.0.0#2026-12-04T10:00:00.000Z`,
      model,
      version: '1.0.0',
      windowStart: '2026-12-04T10:00:00.000Z',
      windowEnd: '2026-12-04T11:00:00.000Z',
      liveCount: 500,
      share: 0.5,
      driftedFeatures: ['mean_radius', 'mean_area'],
      features: [],
      persistence: { m: 3, n: 5, recent },
    },
  };
}

function alarmEvent(
  c: ModelOpsConfig,
  model: string,
  ruleId: string,
  value: 'ALARM' | 'OK',
): AlarmStateChangeEvent {
  const time = '2026-12-04T12:00:00.000Z';
  return {
    version: '0',
    id: 'evt-1',
    'detail-type': 'CloudWatch Alarm State Change',
    source: 'aws.cloudwatch',
    account: '000000000000',
    time,
    region: 'us-east-1',
    resources: [],
    detail: {
      alarmName: `${alarmNamePrefix(c)}-${model}-${ruleId}`,
      state: { value, reason: 'accuracy 0.81 < 0.9', timestamp: time },
      previousState: { value: 'OK', reason: 'fine', timestamp: time },
      configuration: { description: 'accuracy floor' },
    },
  };
}

const ENABLED = ['breast-cancer', 'digits'];

function fakeResult(name: string, input: unknown): ExecutionResult {
  return {
    executionArn: `arn:aws:states:us-east-1:000000000000:execution:retrain:${name}`,
    name,
    input,
    status: 'SUCCEEDED',
    output: { skipped: true, code: 'COOLDOWN', reason: 'test' },
    startDate: '2026-12-04T12:00:00.000Z',
    stopDate: '2026-12-04T12:00:01.000Z',
    durationMs: 1000,
    history: [],
  };
}

function triggersWith(c: ModelOpsConfig, nowMs = Date.parse('2026-12-04T12:00:00.000Z')) {
  const calls: { input: unknown; name: string }[] = [];
  const triggers = new RetrainTriggers({
    config: c,
    logger: silentLogger,
    now: () => nowMs,
    startRetrain: async (input, name) => {
      calls.push({ input, name });
      return fakeResult(name, input);
    },
  });
  return { triggers, calls };
}

describe('retrain start inputs of the local triggers', () => {
  it('maps ModelDriftDetected to a drift start the Guard accepts, with the detail as evidence', () => {
    const input = driftStartInput(driftEvent('breast-cancer', [true, true, false, true, false]), ENABLED)!;
    expect(input).toMatchObject({
      model: 'breast-cancer',
      trigger: 'drift',
      eventId: 'breast-cancer#1.0.0#2026-12-04T10:00:00.000Z',
    });
    expect(input.reason).toBe(
      'ModelDriftDetected on 1.0.0: share 0.5 of features drifted in the window ending 2026-12-04T11:00:00.000Z',
    );
    expect(parseRetrainStart(input, ENABLED)).toEqual(input);
    // The Guard counts the drifted windows of the evidence it is given.
    expect(driftedWindows(input.evidence)).toBe(3);
  });

  it('ignores drift of a model without retrain, and events of another type', () => {
    expect(driftStartInput(driftEvent('credit-risk', [true]), ENABLED)).toBeUndefined();
    expect(
      driftStartInput({ ...driftEvent('breast-cancer', [true]), detailType: 'ModelDriftCleared' }, ENABLED),
    ).toBeUndefined();
  });

  it('maps an accuracy alarm entering ALARM to an accuracy start; other alarms and states start nothing', () => {
    const c = config();
    const input = accuracyStartInput(alarmEvent(c, 'breast-cancer', 'accuracy-floor', 'ALARM'), c)!;
    expect(input).toMatchObject({ model: 'breast-cancer', trigger: 'accuracy', eventId: 'evt-1' });
    expect(input.reason).toBe('accuracy alarm modelops-dev-breast-cancer-accuracy-floor entered ALARM');
    expect(input.evidence).toEqual({
      alarmName: 'modelops-dev-breast-cancer-accuracy-floor',
      reason: 'accuracy 0.81 < 0.9',
      timestamp: '2026-12-04T12:00:00.000Z',
    });
    expect(parseRetrainStart(input, ENABLED)).toEqual(input);
    expect(accuracyStartInput(alarmEvent(c, 'breast-cancer', 'mae-ceiling', 'ALARM'), c)?.trigger).toBe(
      'accuracy',
    );
    expect(accuracyStartInput(alarmEvent(c, 'breast-cancer', 'accuracy-floor', 'OK'), c)).toBeUndefined();
    expect(accuracyStartInput(alarmEvent(c, 'breast-cancer', 'drift', 'ALARM'), c)).toBeUndefined();
    expect(accuracyStartInput(alarmEvent(c, 'credit-risk', 'accuracy-floor', 'ALARM'), c)).toBeUndefined();
  });

  it('gives each schedule firing its own event id', () => {
    const a = scheduleStartInput('breast-cancer', 'rate(7 days)', Date.parse('2026-12-04T00:00:00Z'));
    expect(a).toEqual({
      model: 'breast-cancer',
      trigger: 'schedule',
      reason: 'scheduled retrain (models[].retrain.schedule rate(7 days))',
      evidence: { schedule: 'rate(7 days)', time: '2026-12-04T00:00:00Z' },
      eventId: 'schedule#breast-cancer#2026-12-04T00:00:00Z',
    });
    expect(parseRetrainStart(a, ENABLED)).toEqual(a);
  });

  it('reads rate(...) schedules and leaves cron to AWS', () => {
    expect(rateMs('rate(1 minute)')).toBe(60_000);
    expect(rateMs('rate(6 hours)')).toBe(6 * 3_600_000);
    expect(rateMs('rate(7 days)')).toBe(7 * 86_400_000);
    expect(rateMs('rate(0 days)')).toBeUndefined();
    expect(rateMs('cron(0 3 ? * MON *)')).toBeUndefined();
  });

  it('names executions within the Step Functions rules, for every trigger', () => {
    const name = retrainExecutionName(
      'breast-cancer',
      'manual',
      Date.parse('2026-12-04T12:34:56.789Z'),
      'ab12',
    );
    expect(name).toBe('breast-cancer-retrain-manual-20261204123456789-ab12');
    const long = retrainExecutionName('m'.repeat(64), 'schedule', 0);
    expect(long).toMatch(/^[A-Za-z0-9_-]{1,80}$/);
    expect(long.length).toBeLessThanOrEqual(80);
  });

  it('round-trips request keys and rejects any other key', () => {
    const key = retrainRequestKey('breast-cancer', 'breast-cancer-retrain-manual-1-ab12');
    expect(key).toBe('retrain-requests/breast-cancer/breast-cancer-retrain-manual-1-ab12.json');
    expect(parseRetrainRequestKey(key)).toEqual({
      model: 'breast-cancer',
      name: 'breast-cancer-retrain-manual-1-ab12',
    });
    expect(parseRetrainRequestKey('incoming/breast-cancer/1.0.0/manifest.json')).toBeUndefined();
    expect(parseRetrainRequestKey('retrain-requests/Bad/x.json')).toBeUndefined();
    expect(parseRetrainRequestKey('retrain-requests/m/a b.json')).toBeUndefined();
    expect(parseRetrainRequestKey('retrain-requests/m/x/y.json')).toBeUndefined();
  });
});

describe('RetrainTriggers', () => {
  it('starts one retrain per drift event of a retrain-enabled model, named after the trigger', async () => {
    const { triggers, calls } = triggersWith(config());
    expect(triggers.onDriftEvent(driftEvent('credit-risk', [true]))).toBeUndefined();
    const started = triggers.onDriftEvent(driftEvent('breast-cancer', [true, true, true]))!;
    await triggers.settled();
    expect(calls).toHaveLength(1);
    expect(calls[0]!.name).toBe(started.name);
    expect(started.name).toMatch(/^breast-cancer-retrain-drift-20261204120000000-[0-9a-f]{4}$/);
    expect((await started.result)?.status).toBe('SUCCEEDED');
  });

  it('starts a scheduled retrain only for a model with a schedule', async () => {
    const { triggers, calls } = triggersWith(config('rate(1 day)'));
    expect(triggers.onSchedule('credit-risk', 0)).toBeUndefined();
    triggers.onSchedule('breast-cancer', Date.parse('2026-12-05T00:00:00Z'));
    await triggers.settled();
    expect(calls.map((c) => (c.input as { trigger: string }).trigger)).toEqual(['schedule']);
    expect(triggers.schedules()).toEqual({
      timed: [{ model: 'breast-cancer', everyMs: 86_400_000 }],
      cron: ['digits'],
    });
  });

  it('starts a manual request under its execution name and ignores a body that is not JSON', async () => {
    const { triggers, calls } = triggersWith(config());
    const body = JSON.stringify({ model: 'breast-cancer', trigger: 'manual', reason: 'why' });
    expect(triggers.onRequest('retrain-requests/breast-cancer/my-run.json', body)?.name).toBe('my-run');
    expect(triggers.onRequest('retrain-requests/breast-cancer/other.json', '{not json')).toBeUndefined();
    expect(triggers.onRequest('incoming/breast-cancer/1/manifest.json', body)).toBeUndefined();
    await triggers.settled();
    expect(calls).toEqual([{ name: 'my-run', input: JSON.parse(body) }]);
  });

  it('survives a start that throws (e.g. no retrain runner) and reports it as not started', async () => {
    const errors: string[] = [];
    const triggers = new RetrainTriggers({
      config: config(),
      logger: { ...silentLogger, error: (m) => errors.push(m) },
      startRetrain: async () => {
        throw new Error('no model has retrain.enabled');
      },
    });
    const started = triggers.onDriftEvent(driftEvent('breast-cancer', [true]))!;
    expect(await started.result).toBeUndefined();
    expect(errors.join('\n')).toMatch(/could not start: no model has retrain.enabled/);
  });
});

describe('retrainTriggerService', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  function context(
    c: ModelOpsConfig,
    startRetrain: (input: unknown, name: string) => Promise<ExecutionResult>,
  ) {
    const s3rver = new EventEmitter();
    return {
      s3rver,
      context: {
        emulators: {
          dataDir: '/tmp/none',
          region: 'us-east-1',
          bucket: 'modelops-local-registry',
          s3Endpoint: 'http://127.0.0.1:1',
          dynamodbEndpoint: 'http://127.0.0.1:1',
          tables: {},
          s3rver,
          stop: async () => undefined,
        },
        runtime: { config: c, startRetrain },
        watcher: {},
        logger: silentLogger,
      } as unknown as LocalServiceContext,
    };
  }

  it('fires rate(...) schedules on unref-ed timers, routes bus drift events, and stops both on stop', async () => {
    vi.useFakeTimers({ now: Date.parse('2026-12-04T00:00:00Z') });
    const names: string[] = [];
    const start = async (input: unknown, name: string) => {
      names.push(name);
      return fakeResult(name, input);
    };
    const bus = new LocalEventBus();
    const { context: ctx, s3rver } = context(config('rate(1 hour)'), start);
    const running = (await retrainTriggerService({ bus }).start(ctx)) as RunningRetrainTriggers;
    expect(running.summary).toMatch(/breast-cancer, digits: drift, schedules \(breast-cancer every 60 min\)/);

    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(names.filter((n) => n.includes('-retrain-schedule-'))).toHaveLength(1);
    await bus.publish(driftEvent('breast-cancer', [true, true, true]));
    expect(names.filter((n) => n.includes('-retrain-drift-'))).toHaveLength(1);

    await running.stop();
    await vi.advanceTimersByTimeAsync(3 * 3_600_000);
    await bus.publish(driftEvent('breast-cancer', [true, true, true]));
    expect(names).toHaveLength(2);
    expect(s3rver.listenerCount('event')).toBe(0);
  });

  it('subscribes to nothing when no model has retrain enabled', async () => {
    const c = parseConfig({ models: [{ name: 'credit-risk', owner: 'ml-platform' }] });
    const bus = new LocalEventBus();
    const { context: ctx, s3rver } = context(c, async () => {
      throw new Error('not expected');
    });
    const running = await retrainTriggerService({ bus }).start(ctx);
    expect(running.summary).toBe('off (no model has retrain.enabled)');
    expect(s3rver.listenerCount('event')).toBe(0);
    await running.stop();
  });
});
