/**
 * Drift persistence (DESIGN.md decision 5, docs/drift.md "Persistence"): turns one verdict per window into an alarm
 * state that needs M drifted windows out of the last N to raise, N calm windows in a row to clear (hysteresis), and
 * stays quiet for a cooldown after a promote or retrain. Pure: the caller passes `now` and stores the state.
 */

/** One window's outcome: its drift score (e.g. the data-set drift share), or too few rows to judge. */
export type WindowVerdict =
  { readonly kind: 'scored'; readonly score: number } | { readonly kind: 'insufficient' };

export interface PersistencePolicy {
  /** Drifted windows among the last `n` scored windows that raise the alarm. */
  readonly m: number;
  /** Scored windows remembered; also the calm windows in a row that clear the alarm. */
  readonly n: number;
  /** A window is drifted when its score >= threshold (e.g. `DEFAULT_DATASET_DRIFT_SHARE`). */
  readonly threshold: number;
  /**
   * A window is calm when its score < clearRatio × threshold; only calm windows count towards clearing.
   * @default 0.8
   */
  readonly clearRatio?: number;
  /** How long after a promote or retrain (`startCooldown`) drift may not raise the alarm. */
  readonly cooldownMs: number;
}

export interface DriftState {
  readonly status: 'OK' | 'ALARM';
  /** Drifted flags of the last `n` scored windows, oldest first. */
  readonly recent: readonly boolean[];
  /** Calm windows in a row up to the latest scored window, capped at `n`. */
  readonly calm: number;
  /** ISO time before which the alarm may not be raised. */
  readonly cooldownUntil?: string;
  /** ISO time of the last status change. */
  readonly since?: string;
}

export type DriftTransition = 'raised' | 'cleared' | 'suppressed-by-cooldown' | 'unchanged';

export interface DriftStep {
  readonly state: DriftState;
  /** True exactly when this window raises the alarm: emit `ModelDriftDetected` once. */
  readonly emitDriftDetected: boolean;
  readonly transition: DriftTransition;
}

export const DEFAULT_CLEAR_RATIO = 0.8;

/** The state of a version no window has been judged for yet. */
export const INITIAL_DRIFT_STATE: DriftState = { status: 'OK', recent: [], calm: 0 };

function timeOf(iso: string, what: string): number {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) throw new RangeError(`${what} must be an ISO date-time, got "${iso}"`);
  return t;
}

function checkPolicy(policy: PersistencePolicy): number {
  const { m, n, threshold, cooldownMs } = policy;
  const clearRatio = policy.clearRatio ?? DEFAULT_CLEAR_RATIO;
  if (!Number.isSafeInteger(n) || n < 1)
    throw new RangeError(`policy n must be a whole number >= 1, got ${n}`);
  if (!Number.isSafeInteger(m) || m < 1 || m > n) {
    throw new RangeError(`policy m must be a whole number from 1 to n (${n}), got ${m}`);
  }
  if (!(Number.isFinite(threshold) && threshold > 0)) {
    throw new RangeError(`policy threshold must be a finite number > 0, got ${threshold}`);
  }
  if (!(clearRatio > 0 && clearRatio <= 1)) {
    throw new RangeError(`policy clearRatio must be in (0, 1], got ${clearRatio}`);
  }
  if (!(Number.isFinite(cooldownMs) && cooldownMs >= 0)) {
    throw new RangeError(`policy cooldownMs must be a finite number >= 0, got ${cooldownMs}`);
  }
  return clearRatio;
}

/**
 * Next drift state after one window.
 *
 * - `insufficient` windows change nothing: they are neither drifted nor calm, so they can neither raise nor clear.
 * - A scored window is drifted when score >= threshold, calm when score < clearRatio × threshold (in between it is
 *   neither, and breaks a calm run). Its flag joins `recent` (the last n kept).
 * - OK → ALARM when this window is drifted and at least m of `recent` are, unless `now` is before
 *   `cooldownUntil` (`suppressed-by-cooldown`: the window is still remembered, so the first drifted window after
 *   the cooldown raises the alarm if m of the last n still are). Raising is the only step with `emitDriftDetected`.
 * - ALARM → OK when the last n scored windows were all calm.
 *
 * @example
 * let state = INITIAL_DRIFT_STATE;
 * const step = nextDriftState(state, { kind: 'scored', score: result.share }, policy, new Date().toISOString());
 * if (step.emitDriftDetected) await events.put('ModelDriftDetected', …);
 * state = step.state;
 */
export function nextDriftState(
  previous: DriftState,
  verdict: WindowVerdict,
  policy: PersistencePolicy,
  now: string,
): DriftStep {
  const clearRatio = checkPolicy(policy);
  const at = timeOf(now, 'now');
  if (verdict.kind === 'insufficient')
    return { state: previous, emitDriftDetected: false, transition: 'unchanged' };
  const { score } = verdict;
  if (!(Number.isFinite(score) && score >= 0)) {
    throw new RangeError(`window score must be a finite number >= 0, got ${score}`);
  }
  const drifted = score >= policy.threshold;
  const calmNow = score < clearRatio * policy.threshold;
  const recent = [...previous.recent, drifted].slice(-policy.n);
  const calm = calmNow ? Math.min(previous.calm + 1, policy.n) : 0;
  const next: DriftState = { ...previous, recent, calm };

  if (previous.status === 'OK') {
    // Only a drifted window raises: windows remembered from a cooldown are evidence, not a trigger.
    if (!drifted || recent.filter(Boolean).length < policy.m) {
      return { state: next, emitDriftDetected: false, transition: 'unchanged' };
    }
    if (previous.cooldownUntil !== undefined && at < timeOf(previous.cooldownUntil, 'cooldownUntil')) {
      return { state: next, emitDriftDetected: false, transition: 'suppressed-by-cooldown' };
    }
    return { state: { ...next, status: 'ALARM', since: now }, emitDriftDetected: true, transition: 'raised' };
  }
  if (calm >= policy.n) {
    return { state: { ...next, status: 'OK', since: now }, emitDriftDetected: false, transition: 'cleared' };
  }
  return { state: next, emitDriftDetected: false, transition: 'unchanged' };
}

/**
 * The state right after a promote or retrain: a new version with a new baseline, so no remembered windows, status
 * OK, and no alarm before now + cooldownMs.
 */
export function startCooldown(policy: PersistencePolicy, now: string): DriftState {
  checkPolicy(policy);
  const until = new Date(timeOf(now, 'now') + policy.cooldownMs).toISOString();
  return { status: 'OK', recent: [], calm: 0, cooldownUntil: until, since: now };
}
