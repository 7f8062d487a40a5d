/**
 * The retrain Guard's decision on a model whose run is marked running (lambdas/core/retrain-guard.ts
 * `decideRetrain`): refused while the run may be alive, taken over past the state machine's timeout or when a person
 * names its execution dead (`takeOver`, manual starts only).
 */
import { describe, expect, it } from 'vitest';
import { decideRetrain } from '../../lambdas/core/retrain-guard';
import {
  INITIAL_RETRAIN_STATE,
  parseRetrainStart,
  RETRAIN_RUN_TIMEOUT_SECONDS,
  RetrainInputError,
  type RetrainPolicy,
  type RetrainState,
} from '../../lambdas/core/retrain-policy';

const MODEL = 'breast-cancer';
const T0 = Date.parse('2026-06-01T00:00:00Z');
const DEAD = 'arn:aws:states:eu-west-1:1:execution:retrain:dead';
const POLICY: RetrainPolicy = {
  cooldownMs: 0,
  dailyCap: 10,
  backoffMs: 0,
  driftPersistence: 1,
  dataWindowMs: 86_400_000,
  championGate: { metric: 'auc', minImprovement: 0, higherIsBetter: true },
  training: {
    image: '',
    instanceType: 'ml.m5.large',
    instanceCount: 1,
    volumeSizeGb: 30,
    maxRuntimeSeconds: 3600,
    hyperparameters: {},
  },
};
const STATE: RetrainState = {
  ...INITIAL_RETRAIN_STATE,
  counter: 1,
  running: {
    runId: 'r1',
    executionId: DEAD,
    startedAt: new Date(T0).toISOString(),
    trigger: 'manual',
    parentVersion: '1.0.0',
  },
};
const ROUTING = {
  model: MODEL,
  stable: '1.0.0',
  weight: 0,
  mode: 'canary' as const,
  revision: 1,
  updatedAt: new Date(T0).toISOString(),
};

const decide = (start: Record<string, unknown>, nowMs = T0 + 60_000) =>
  decideRetrain({
    start: parseRetrainStart({ model: MODEL, reason: 'stuck', ...start }, [MODEL]),
    policy: POLICY,
    state: STATE,
    routing: ROUTING,
    nowMs,
    executionId: 'arn:aws:states:eu-west-1:1:execution:retrain:new',
  });

describe('decideRetrain with a run marked running', () => {
  it('refuses a start while the run may be alive, and says how to take it over', () => {
    const decision = decide({ trigger: 'manual' });
    expect(decision).toMatchObject({ kind: 'skip', code: 'RETRAIN_RUNNING' });
    expect(decision.kind === 'skip' && decision.reason).toContain(`--take-over ${DEAD}`);
  });

  it('takes the slot when a manual start names the running execution, and records what it took over', () => {
    const decision = decide({ trigger: 'manual', takeOver: DEAD });
    expect(decision).toMatchObject({ kind: 'start', tookOver: { runId: 'r1', executionId: DEAD } });
    expect(decision.kind === 'start' && decision.next.running?.runId).toBe('r2');
  });

  it('refuses a take-over naming another execution than the running one', () => {
    const decision = decide({
      trigger: 'manual',
      takeOver: 'arn:aws:states:eu-west-1:1:execution:retrain:other',
    });
    expect(decision).toMatchObject({ kind: 'skip', code: 'RETRAIN_RUNNING' });
    expect(decision.kind === 'skip' && decision.reason).toMatch(
      /--take-over names .*other, which is not the running/,
    );
  });

  it('takes over by itself past the state machine timeout', () => {
    const late = T0 + RETRAIN_RUN_TIMEOUT_SECONDS * 1000 + 1;
    expect(decide({ trigger: 'schedule' }, late)).toMatchObject({ kind: 'start', tookOver: { runId: 'r1' } });
  });

  it('accepts takeOver on a manual start only (a person decides that a run is dead)', () => {
    expect(() =>
      parseRetrainStart({ model: MODEL, trigger: 'schedule', reason: 'x', takeOver: DEAD }, [MODEL]),
    ).toThrow(RetrainInputError);
    expect(() =>
      parseRetrainStart({ model: MODEL, trigger: 'schedule', reason: 'x', takeOver: DEAD }, [MODEL]),
    ).toThrow(/takeOver: is only for a manual start/);
  });
});
