/**
 * RecordOutcome's core (lambdas/core/retrain-outcome.ts): the state after a run ends, the audit event, a twin
 * writer, a retry after the write landed, and what a failure's Cause keeps.
 */
import { describe, expect, it } from 'vitest';
import {
  RETRAIN_STATE_KIND,
  INITIAL_RETRAIN_STATE,
  type RetrainState,
} from '../../lambdas/core/retrain-policy';
import {
  failureCauseExcerpt,
  nextStateAfter,
  recordRetrainOutcome,
  type OutcomeInput,
} from '../../lambdas/core/retrain-outcome';
import { FakeAuditLog } from './fakes';
import { MemoryMonitorState } from './memory-monitor-ports';

const MODEL = 'breast-cancer';
const T0 = Date.parse('2026-06-01T00:00:00Z');
const EXECUTION = 'arn:aws:states:eu-west-1:1:execution:retrain:abc';
const POLICY = { backoffMs: 60_000 };

const running = (over: Partial<RetrainState> = {}): RetrainState => ({
  ...INITIAL_RETRAIN_STATE,
  counter: 1,
  running: {
    runId: 'r1',
    executionId: EXECUTION,
    startedAt: new Date(T0).toISOString(),
    trigger: 'manual',
    parentVersion: '1.0.0',
  },
  ...over,
});

function stores(state: RetrainState | undefined) {
  const monitorState = new MemoryMonitorState();
  if (state !== undefined) {
    monitorState.records.set(`${MODEL}#${RETRAIN_STATE_KIND}`, {
      model: MODEL,
      kind: RETRAIN_STATE_KIND,
      version: '1.0.0',
      state,
      revision: 3,
      updatedAt: new Date(T0).toISOString(),
    });
  }
  return { monitorState, audit: new FakeAuditLog() };
}

const stateOf = (s: ReturnType<typeof stores>) =>
  s.monitorState.records.get(`${MODEL}#${RETRAIN_STATE_KIND}`)?.state as RetrainState | undefined;

const failed: OutcomeInput = {
  model: MODEL,
  executionId: EXECUTION,
  outcome: 'failed',
  runId: 'r1',
  failure: { step: 'Train', error: 'States.TaskFailed', cause: 'exit 1' },
};

describe('nextStateAfter', () => {
  it('ends the run: a failure counts and backs off (doubling), a success clears both', () => {
    const once = nextStateAfter(running(), failed, POLICY, T0)!;
    expect(once).toMatchObject({ lastRunId: 'r1', lastOutcome: 'failed', consecutiveFailures: 1 });
    expect(once.running).toBeUndefined();
    expect(once.backoffUntil).toBe(new Date(T0 + 60_000).toISOString());
    const twice = nextStateAfter(running({ consecutiveFailures: 1 }), failed, POLICY, T0)!;
    expect(twice.backoffUntil).toBe(new Date(T0 + 120_000).toISOString());
    const promoted = nextStateAfter(
      running({ consecutiveFailures: 2, backoffUntil: new Date(T0).toISOString() }),
      { executionId: EXECUTION, outcome: 'promoted' },
      POLICY,
      T0,
    )!;
    expect(promoted).toMatchObject({ consecutiveFailures: 0, lastPromotedAt: new Date(T0).toISOString() });
    expect(promoted.backoffUntil).toBeUndefined();
  });

  it("changes nothing for an execution that does not hold the model's run", () => {
    expect(nextStateAfter(running(), { ...failed, executionId: 'other' }, POLICY, T0)).toBeUndefined();
    expect(nextStateAfter(INITIAL_RETRAIN_STATE, failed, POLICY, T0)).toBeUndefined();
  });
});

describe('recordRetrainOutcome', () => {
  it('writes the state, then audits RETRAIN_FAILED with the step, error, cause and backoff', async () => {
    const s = stores(running());
    const result = await recordRetrainOutcome(s, failed, POLICY, T0);
    expect(result).toMatchObject({ stateChanged: true, runId: 'r1', outcome: 'failed' });
    expect(stateOf(s)?.running).toBeUndefined();
    expect(s.audit.events).toMatchObject([
      {
        type: 'RETRAIN_FAILED',
        actor: EXECUTION,
        details: { runId: 'r1', step: 'Train', error: 'States.TaskFailed', cause: 'exit 1' },
      },
    ]);
  });

  it('names the run when the Guard failed after taking it (the execution state has no run id)', async () => {
    const s = stores(running());
    const { runId: _none, ...guardFailed } = failed;
    const result = await recordRetrainOutcome(
      s,
      { ...guardFailed, failure: { ...failed.failure!, step: 'Guard' } },
      POLICY,
      T0,
    );
    expect(result.runId).toBe('r1');
    expect(s.audit.events[0]?.details).toMatchObject({ runId: 'r1', step: 'Guard' });
  });

  it('appends the same event once when retried after the write landed, and survives a twin writer', async () => {
    const s = stores(running());
    await recordRetrainOutcome(s, failed, POLICY, T0);
    const retry = await recordRetrainOutcome(s, failed, POLICY, T0 + 5_000);
    expect(retry.stateChanged).toBe(false);
    expect(s.audit.types()).toEqual(['RETRAIN_FAILED']);
    expect(stateOf(s)?.consecutiveFailures).toBe(1);

    // A twin (a trigger's Guard) writes between the read and the conditional write: re-read, then write.
    const twin = stores(running());
    let raced = false;
    twin.monitorState.beforePut = () => {
      if (raced) return;
      raced = true;
      const key = `${MODEL}#${RETRAIN_STATE_KIND}`;
      const record = twin.monitorState.records.get(key)!;
      twin.monitorState.records.set(key, {
        ...record,
        state: { ...(record.state as RetrainState), recentEventIds: ['evt-1'] },
        revision: record.revision + 1,
      });
    };
    expect(await recordRetrainOutcome(twin, failed, POLICY, T0)).toMatchObject({ stateChanged: true });
    expect(stateOf(twin)).toMatchObject({ recentEventIds: ['evt-1'], lastOutcome: 'failed' });
    expect(twin.audit.types()).toEqual(['RETRAIN_FAILED']);
  });
});

describe('failureCauseExcerpt', () => {
  it("keeps a Lambda error's type and message, however long its trace", () => {
    const cause = JSON.stringify({
      errorType: 'NotFoundError',
      errorMessage: 'reference/missing.csv does not exist',
      trace: Array.from({ length: 200 }, (_, i) => `    at frame${i} (file.js:${i}:1)`),
    });
    expect(cause.length).toBeGreaterThan(2_000);
    expect(failureCauseExcerpt(cause)).toBe('NotFoundError: reference/missing.csv does not exist');
    const long = failureCauseExcerpt(JSON.stringify({ errorMessage: 'x'.repeat(5_000) }), 100);
    expect(long).toHaveLength(100);
    expect(long.startsWith('Error: xxx')).toBe(true);
  });

  it("keeps the tail of anything else (a trainer's stderr ends with what went wrong)", () => {
    const stderr = `${'progress line\n'.repeat(500)}ValueError: column "age" is missing`;
    expect(failureCauseExcerpt(stderr).endsWith('ValueError: column "age" is missing')).toBe(true);
    expect(failureCauseExcerpt(stderr)).toHaveLength(2_000);
    expect(failureCauseExcerpt('{"not":"a lambda error"}')).toBe('{"not":"a lambda error"}');
  });
});
