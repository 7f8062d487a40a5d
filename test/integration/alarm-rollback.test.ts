/**
 * Alarm-triggered rollback in local mode: the real release ASL and handlers against the emulators, the real local
 * alarm runner (the same rules CDK deploys) evaluating injected `{Model, Arm=candidate}` metrics, and the rollback
 * subscribed to its events as the EventBridge rule's function is in AWS. The bake is long enough that the alarm
 * comes first: routing returns to stable at once, and the execution notices at its next step.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TimeSeriesMetricsStore } from '../../lambdas/adapters/local-metric-store';
import { RoutingConflictError } from '../../lambdas/core/promotion';
import type { ExecutionResult } from '../../local/asl-runner';
import {
  ALARM_SERVICE_NAME,
  alarmService,
  localAlarmName,
  type RunningAlarmService,
} from '../../local/alarm-runner';
import { inferenceService } from '../../local/inference-server';
import { loadExample, startHarness, types, type Harness } from './harness';

const MODEL = 'breast-cancer';
const BAKE_SECONDS = 12;
let h: Harness;
let alarms: RunningAlarmService;
/**
 * The alarms' metric store, its clock one minute behind: injected data lands in the minute before now, which is the
 * last whole minute an evaluation at now reads (CloudWatch evaluates complete periods only).
 */
const metrics = new TimeSeriesMetricsStore({ now: () => Date.now() - 60_000 });

beforeAll(async () => {
  h = await startHarness({
    config: {
      models: [
        {
          name: MODEL,
          owner: 'ml-platform',
          canary: { enabled: true, steps: [0.5], bakeSeconds: BAKE_SECONDS },
        },
        { name: 'credit-risk', owner: 'ml-platform' },
      ],
    },
    services: [
      // AnalyzeCanary reads metrics through the inference server's URL; its own store stays empty here.
      inferenceService({ port: 0 }),
      // Evaluated by the test only (the interval never fires during it).
      alarmService({ reader: metrics, intervalMs: 3_600_000 }),
    ],
  });
  alarms = h.mode.services.find((s) => s.name === ALARM_SERVICE_NAME)!.running as RunningAlarmService;
}, 120_000);

afterAll(async () => {
  await h?.stop();
});

async function release(version: string): Promise<ExecutionResult> {
  const { manifest, artifact } = await loadExample(MODEL);
  return h.release(await h.stage(MODEL, version, { ...manifest, version }, artifact));
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, boundMs = 30_000): Promise<T> {
  const deadline = Date.now() + boundMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${boundMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('alarm-triggered rollback', () => {
  it('a candidate alarm entering ALARM rolls the canary back before the bake ends; the execution records why', async () => {
    // GIVEN a stable version and a release of 1.1.0 baking at 50 %
    const first = await release('1.0.0');
    expect(first.status, JSON.stringify(first)).toBe('SUCCEEDED');
    const run = release('1.1.0');
    const routed = await until('the canary of 1.1.0', async () => {
      const r = await h.metadata.deployments.getDeployment(MODEL);
      return r?.candidate === '1.1.0' && r.rollout !== undefined ? r : undefined;
    });
    const executionId = routed.rollout!.executionId;

    // WHEN the candidate arm fails half its requests and the local alarm runner evaluates
    for (let i = 0; i < 5; i++) {
      metrics.emit(
        [{ Model: MODEL, Arm: 'candidate' }],
        [
          { name: 'Requests', unit: 'Count', value: 1 },
          { name: 'Errors', unit: 'Count', value: i % 2 },
          { name: 'SlowRequests', unit: 'Count', value: 0 },
        ],
      );
    }
    const events = await alarms.runner.tick(Date.now());
    await alarms.rollbacksSettled();

    // THEN the composite errors alarm fired, and routing is back on stable at once, long before the bake ends
    const alarmName = localAlarmName(h.mode.runtime.config, MODEL, 'candidate-errors-page-1h');
    const fired = events.find((e) => e.detail.alarmName === alarmName);
    expect(fired?.detail.state.value).toBe('ALARM');
    const record = await h.metadata.deployments.getDeployment(MODEL);
    expect(record).toMatchObject({ stable: '1.0.0', weight: 0 });
    expect(record?.candidate).toBeUndefined();
    expect(record?.rollout).toBeUndefined();
    expect(record?.endedRollout).toMatchObject({
      executionId,
      candidate: '1.1.0',
      outcome: 'ROLLED_BACK',
      reason: 'ALARM',
      actor: `alarm:${alarmName}`,
    });
    // The execution may already have ended (an alarm during DeployCandidate ends it at BeginCanary) or still be
    // baking: either way routing went back to stable at the alarm, not at the end of a bake, and no look was judged.
    const rolledBack = (await h.audit(MODEL, '1.1.0')).filter((e) => e.type === 'ROLLED_BACK');
    expect(rolledBack).toHaveLength(1);
    expect(rolledBack[0]).toMatchObject({
      actor: `alarm:${alarmName}`,
      details: {
        reason: 'ALARM',
        alarmName,
        clearedCandidate: '1.1.0',
        stable: '1.0.0',
        executionId,
        alarmReason: expect.stringContaining('=ALARM AND '),
      },
    });

    // AND the execution, at the end of its bake, ends RolledBack without a rollback write of its own
    const result = await run;
    expect(result.status, JSON.stringify(result)).toBe('FAILED');
    expect(result.error).toBe('CanaryRolledBack');
    const entered = result.history.filter((e) => e.type === 'StateEntered').map((e) => e.state);
    // The lock is found gone by BeginCanary (the alarm fired while the candidate was being deployed) or by the
    // AnalyzeCanary after the bake; either way the execution retires (nothing, for Lambda) and ends RolledBack.
    expect(entered.slice(-6)).toEqual([
      'CanaryRoute',
      'PrepareRetire',
      'RetireCandidate',
      'RetireRoute',
      'OutcomeRoute',
      'RolledBack',
    ]);
    expect(['AnalyzeCanary', 'BeginCanary']).toContain(entered.at(-7));
    expect(entered).not.toContain('Rollback');
    expect(entered).not.toContain('AbortRollout');
    // The state the execution ended with says why: rolled back by the alarm, not by a verdict.
    const finalState = result.history.find((e) => e.type === 'StateEntered' && e.state === 'RolledBack')
      ?.input as { rollout: { reason: string; endedBy: { actor: string } } };
    expect(finalState.rollout.reason).toBe('ALARM');
    expect(finalState.rollout.endedBy.actor).toMatch(/^alarm:.*candidate-errors-page-1h$/);
    // It judged nothing (the lock was gone when the bake ended), and the alarm's ROLLED_BACK is the last word.
    const ledger = types(await h.audit(MODEL, '1.1.0'));
    expect(ledger).toContain('ROLLOUT_STARTED');
    expect(ledger).not.toContain('CANARY_VERDICT');
    expect(ledger.filter((t) => t === 'ROLLED_BACK')).toHaveLength(1);
    // DeployCandidate's own record (CANDIDATE_DEPLOYED) may land after it when the alarm fired mid-deploy; nothing
    // that routes or decides does.
    expect(ledger.filter((t) => !t.startsWith('CANDIDATE_')).at(-1)).toBe('ROLLED_BACK');
    const after = await h.metadata.deployments.getDeployment(MODEL);
    expect(after?.revision).toBe(record?.revision);
    expect(after?.rollout).toBeUndefined();
  }, 120_000);

  it('the lock is free again: the next release takes it', async () => {
    const run = release('1.2.0');
    const routed = await until('the canary of 1.2.0', async () => {
      const r = await h.metadata.deployments.getDeployment(MODEL);
      return r?.candidate === '1.2.0' ? r : undefined;
    });
    expect(routed.rollout?.candidate).toBe('1.2.0');
    // The alarm is still ALARM from 1.1.0 and sends no new event: nothing rolls 1.2.0 back by itself.
    const alarmName = localAlarmName(h.mode.runtime.config, MODEL, 'candidate-errors-page-1h');
    const events = await alarms.runner.tick(Date.now());
    expect(alarms.runner.states().get(alarmName)?.value).toBe('ALARM');
    expect(events.filter((e) => e.detail.alarmName === alarmName)).toEqual([]);
    await alarms.rollbacksSettled();
    expect((await h.metadata.deployments.getDeployment(MODEL))?.candidate).toBe('1.2.0');
    // End the test's rollout without waiting for its bake (an operator clearing it by hand). The execution may be
    // writing too (DeployCandidate, BeginCanary): like an operator, read again and retry on a conflict.
    for (;;) {
      const current = (await h.metadata.deployments.getDeployment(MODEL))!;
      const { candidate: _c, rollout: _r, ...rest } = current;
      try {
        await h.metadata.deployments.putDeployment(
          { ...rest, weight: 0, revision: current.revision + 1, updatedAt: new Date().toISOString() },
          { expectedRevision: current.revision },
        );
        break;
      } catch (err) {
        if (!(err instanceof RoutingConflictError)) throw err;
      }
    }
    const result = await run;
    expect(result.error, JSON.stringify(result)).toBe('RolloutSuperseded');
    // It still went through the retire, which found the lock gone and removed what routing no longer serves.
    const entered = result.history.filter((e) => e.type === 'StateEntered').map((e) => e.state);
    expect(entered.slice(-5)).toEqual([
      'PrepareSupersededRetire',
      'RetireCandidate',
      'RetireRoute',
      'OutcomeRoute',
      'Superseded',
    ]);
  }, 120_000);
});
