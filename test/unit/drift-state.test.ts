import { describe, expect, it } from 'vitest';
import {
  INITIAL_DRIFT_STATE,
  nextDriftState,
  startCooldown,
  type DriftState,
  type DriftStep,
  type PersistencePolicy,
  type WindowVerdict,
} from '../../lambdas/core/drift-state';

const policy: PersistencePolicy = { m: 2, n: 3, threshold: 0.5, clearRatio: 0.8, cooldownMs: 60 * 60_000 };
const T0 = Date.parse('2026-12-01T00:00:00.000Z');
const at = (hour: number) => new Date(T0 + hour * 3_600_000).toISOString();
const scored = (score: number): WindowVerdict => ({ kind: 'scored', score });
const insufficient: WindowVerdict = { kind: 'insufficient' };
const DRIFT = scored(0.6);
const ELEVATED = scored(0.45); // below 0.5, not below 0.8 × 0.5 = 0.4
const CALM = scored(0.1);

/** Feeds verdicts one per hour from `start`, returning every step. */
function run(
  verdicts: readonly WindowVerdict[],
  start: DriftState = INITIAL_DRIFT_STATE,
  p = policy,
): DriftStep[] {
  const steps: DriftStep[] = [];
  let state = start;
  verdicts.forEach((v, i) => {
    const step = nextDriftState(state, v, p, at(i + 1));
    steps.push(step);
    state = step.state;
  });
  return steps;
}
const last = (steps: DriftStep[]) => steps[steps.length - 1]!;

describe('nextDriftState', () => {
  it('stays OK on one drifted window out of M', () => {
    const step = nextDriftState(INITIAL_DRIFT_STATE, DRIFT, policy, at(1));
    expect(step).toEqual({
      state: { status: 'OK', recent: [true], calm: 0 },
      emitDriftDetected: false,
      transition: 'unchanged',
    });
  });

  it('raises the alarm on M drifted of the last N windows, emitting ModelDriftDetected once', () => {
    const steps = run([DRIFT, CALM, DRIFT, DRIFT, DRIFT]);
    expect(steps.map((s) => s.transition)).toEqual([
      'unchanged',
      'unchanged',
      'raised',
      'unchanged',
      'unchanged',
    ]);
    expect(steps.filter((s) => s.emitDriftDetected)).toHaveLength(1);
    expect(steps[2]!.state).toMatchObject({ status: 'ALARM', since: at(3), recent: [true, false, true] });
  });

  it('does not raise when the drifted windows are more than N apart', () => {
    const steps = run([DRIFT, CALM, CALM, DRIFT, CALM, CALM, DRIFT]);
    expect(steps.every((s) => s.state.status === 'OK' && !s.emitDriftDetected)).toBe(true);
    expect(last(steps).state.recent).toEqual([false, false, true]);
  });

  it('counts a score equal to the threshold as drifted', () => {
    expect(last(run([scored(0.5), scored(0.5)])).transition).toBe('raised');
  });

  it('ignores insufficient windows: they neither drift nor calm', () => {
    const steps = run([DRIFT, insufficient, insufficient, DRIFT]);
    expect(steps[1]!.state).toBe(steps[0]!.state);
    expect(last(steps).transition).toBe('raised');
    // In ALARM, insufficient windows do not clear it either.
    const alarm = last(steps).state;
    const later = run([insufficient, insufficient, insufficient, insufficient], alarm);
    expect(later.every((s) => s.state.status === 'ALARM' && s.transition === 'unchanged')).toBe(true);
  });

  it('clears only after N calm windows in a row (hysteresis)', () => {
    const alarm = last(run([DRIFT, DRIFT])).state;
    // Below the threshold but above clearRatio × threshold: not calm, and it breaks a calm run.
    const steps = run([CALM, CALM, ELEVATED, CALM, CALM, CALM], alarm);
    expect(steps.map((s) => s.state.status)).toEqual(['ALARM', 'ALARM', 'ALARM', 'ALARM', 'ALARM', 'OK']);
    expect(last(steps)).toMatchObject({ transition: 'cleared', emitDriftDetected: false });
    expect(last(steps).state).toMatchObject({ since: at(6), calm: 3, recent: [false, false, false] });
  });

  it('stays in ALARM without re-emitting while drift continues', () => {
    const alarm = last(run([DRIFT, DRIFT])).state;
    const steps = run([DRIFT, ELEVATED, DRIFT, DRIFT], alarm);
    expect(steps.every((s) => s.state.status === 'ALARM' && !s.emitDriftDetected)).toBe(true);
  });

  it('raises again, once, after clearing', () => {
    const steps = run([DRIFT, DRIFT, CALM, CALM, CALM, DRIFT, DRIFT]);
    expect(steps.map((s) => s.transition)).toEqual([
      'unchanged',
      'raised',
      'unchanged',
      'unchanged',
      'cleared',
      'unchanged',
      'raised',
    ]);
  });

  it('suppresses raising during a cooldown, and raises at the first window after it if drift holds', () => {
    const cooled = startCooldown({ ...policy, cooldownMs: 2.5 * 3_600_000 }, at(0));
    expect(cooled).toEqual({ status: 'OK', recent: [], calm: 0, cooldownUntil: at(2.5), since: at(0) });
    const steps = run([DRIFT, DRIFT, DRIFT], cooled);
    expect(steps.map((s) => s.transition)).toEqual(['unchanged', 'suppressed-by-cooldown', 'raised']);
    expect(steps.map((s) => s.emitDriftDetected)).toEqual([false, false, true]);
  });

  it('raises after a cooldown only on a drifted window, and not once the evidence has gone', () => {
    const cooled = startCooldown({ ...policy, cooldownMs: 2.5 * 3_600_000 }, at(0));
    // Drift at 1 h and 2 h (in the cooldown), calm at 3 h: m of n still hold, but a calm window raises nothing.
    const calmAfter = run([DRIFT, DRIFT, CALM], cooled);
    expect(calmAfter.every((s) => s.state.status === 'OK' && !s.emitDriftDetected)).toBe(true);
    expect(last(calmAfter).state.recent).toEqual([true, true, false]);
    // One more calm window pushes the cooldown's drift out of the last n; later drift must build up again.
    const steps = run([DRIFT, DRIFT, CALM, CALM, DRIFT], cooled);
    expect(steps.map((s) => s.transition)).toEqual([
      'unchanged',
      'suppressed-by-cooldown',
      'unchanged',
      'unchanged',
      'unchanged',
    ]);
  });

  it('keeps only the last N flags when the policy shrinks', () => {
    const state: DriftState = { status: 'OK', recent: [true, false, false, false, false], calm: 0 };
    expect(nextDriftState(state, CALM, policy, at(1)).state.recent).toEqual([false, false, false]);
  });

  it('defaults clearRatio to 0.8', () => {
    const { clearRatio: _, ...withoutRatio } = policy;
    const alarm = last(run([DRIFT, DRIFT], INITIAL_DRIFT_STATE, withoutRatio)).state;
    const steps = run([scored(0.41), scored(0.39), scored(0.39), scored(0.39)], alarm, withoutRatio);
    expect(steps.map((s) => s.state.status)).toEqual(['ALARM', 'ALARM', 'ALARM', 'OK']);
  });

  it('rejects invalid policies, scores and times', () => {
    expect(() => nextDriftState(INITIAL_DRIFT_STATE, DRIFT, { ...policy, m: 4 }, at(1))).toThrow(/m must be/);
    expect(() => nextDriftState(INITIAL_DRIFT_STATE, DRIFT, { ...policy, n: 0 }, at(1))).toThrow(/n must be/);
    expect(() => nextDriftState(INITIAL_DRIFT_STATE, DRIFT, { ...policy, clearRatio: 1.5 }, at(1))).toThrow(
      /clearRatio/,
    );
    expect(() => nextDriftState(INITIAL_DRIFT_STATE, DRIFT, { ...policy, threshold: 0 }, at(1))).toThrow(
      /threshold/,
    );
    expect(() => nextDriftState(INITIAL_DRIFT_STATE, scored(Number.NaN), policy, at(1))).toThrow(/score/);
    expect(() => nextDriftState(INITIAL_DRIFT_STATE, DRIFT, policy, 'yesterday')).toThrow(/ISO/);
    expect(() => startCooldown({ ...policy, cooldownMs: -1 }, at(0))).toThrow(/cooldownMs/);
  });
});
