/**
 * RecordOutcome (last state of stepfunctions/retrain.asl.json, on success and from every Catch): ends the model's
 * running retrain in its retrain state with one conditional write and audits how it ended. A success clears the
 * failure streak (the cooldown runs from the start recorded by the Guard; a promote also re-baselines drift, which the
 * drift monitor does by itself when it sees the new stable). A failure lengthens the backoff.
 *
 * Crash-safe: the state is written first, then the audit entry is appended with an id derived from the execution and
 * stamped with the state's `lastFinishedAt`; a retried RecordOutcome finds its write landed and re-appends the same id.
 */
import { appendAuditOnce, idempotentAuditEvent } from './audit';
import { lambdaErrorOf } from './errors';
import {
  MonitorStateConflictError,
  type AuditLogStore,
  type MonitorStateRecord,
  type MonitorStateStore,
} from './ports';
import { backoffAfter } from './retrain-guard';
import {
  RETRAIN_STATE_KIND,
  type RetrainOutcome,
  type RetrainPolicy,
  type RetrainState,
} from './retrain-policy';

export interface OutcomeInput {
  readonly model: string;
  readonly executionId: string;
  readonly outcome: RetrainOutcome;
  /** The run (absent when the Guard itself failed before deciding). */
  readonly runId?: string;
  readonly version?: string;
  /** The failed state and its error, for `failed`. */
  readonly failure?: { readonly step: string; readonly error: string; readonly cause: string };
  readonly details?: Readonly<Record<string, unknown>>;
}

export interface OutcomeResult {
  readonly model: string;
  readonly runId?: string;
  readonly outcome: RetrainOutcome;
  readonly version?: string;
  /** False when this execution held no run (a Guard failure) or a retry found it recorded. */
  readonly stateChanged: boolean;
  readonly backoffUntil?: string;
}

/** The next state for `input`, or undefined when this execution holds no running retrain. */
export function nextStateAfter(
  state: RetrainState,
  input: Pick<OutcomeInput, 'executionId' | 'outcome'>,
  policy: Pick<RetrainPolicy, 'backoffMs'>,
  nowMs: number,
): RetrainState | undefined {
  if (state.running?.executionId !== input.executionId) return undefined;
  const now = new Date(nowMs).toISOString();
  const { running: _ended, backoffUntil: _cleared, ...rest } = state;
  const ended = { ...rest, lastFinishedAt: now, lastRunId: state.running.runId, lastOutcome: input.outcome };
  if (input.outcome === 'failed') {
    const failures = state.consecutiveFailures + 1;
    const backoff = backoffAfter(policy, failures);
    return {
      ...ended,
      consecutiveFailures: failures,
      ...(backoff > 0 ? { backoffUntil: new Date(nowMs + backoff).toISOString() } : {}),
    };
  }
  return {
    ...ended,
    consecutiveFailures: 0,
    ...(input.outcome === 'promoted' ? { lastPromotedAt: now } : {}),
  };
}

/**
 * What RETRAIN_FAILED keeps of a failed state's Cause, at most `max` characters: a Lambda error document's type and
 * message (its stack trace, which would push the message out, stays in the function's log), otherwise the tail
 * (a trainer's stderr, a nested execution's error, end with what went wrong).
 *
 * @example failureCauseExcerpt('{"errorType":"NotFound","errorMessage":"no reference data","trace":[…]}') // 'NotFound: no reference data'
 */
export function failureCauseExcerpt(cause: string, max = 2_000): string {
  const lambdaError = lambdaErrorOf(cause);
  if (lambdaError === undefined) return cause.slice(-max);
  const text = `${lambdaError.type ?? 'Error'}: ${lambdaError.message}`;
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

const AUDIT_TYPE: Record<RetrainOutcome, 'RETRAIN_SUCCEEDED' | 'RETRAIN_FAILED' | 'RETRAIN_REJECTED'> = {
  promoted: 'RETRAIN_SUCCEEDED',
  'released-not-promoted': 'RETRAIN_SUCCEEDED',
  'rejected-by-champion-gate': 'RETRAIN_REJECTED',
  failed: 'RETRAIN_FAILED',
};

const MAX_ATTEMPTS = 4;

export async function recordRetrainOutcome(
  deps: { readonly monitorState: MonitorStateStore; readonly audit: AuditLogStore },
  input: OutcomeInput,
  policy: Pick<RetrainPolicy, 'backoffMs'>,
  nowMs: number,
): Promise<OutcomeResult> {
  for (let attempt = 1; ; attempt += 1) {
    const record = await deps.monitorState.getState(input.model, RETRAIN_STATE_KIND);
    const state = record?.state as RetrainState | undefined;
    const next = state ? nextStateAfter(state, input, policy, nowMs) : undefined;
    // A Guard that failed after taking the run names no run in the execution's state; its retrain state does.
    const runId =
      input.runId ?? (state?.running?.executionId === input.executionId ? state.running.runId : undefined);
    let at: string;
    let stateChanged = false;
    let after = state;
    if (next !== undefined && record !== undefined) {
      const written: MonitorStateRecord<RetrainState> = {
        ...record,
        state: next,
        revision: record.revision + 1,
        updatedAt: new Date(nowMs).toISOString(),
      };
      try {
        await deps.monitorState.putState(written, { expectedRevision: record.revision });
      } catch (err) {
        if (err instanceof MonitorStateConflictError && attempt < MAX_ATTEMPTS) continue;
        throw err;
      }
      at = next.lastFinishedAt!;
      stateChanged = true;
      after = next;
    } else if (state?.lastRunId !== undefined && state.lastRunId === input.runId) {
      // A retry after the write landed: the same stamp, so the audit id below is the same.
      at = state.lastFinishedAt ?? new Date(nowMs).toISOString();
    } else {
      // No run held by this execution (the Guard failed before its write): audit only.
      at = new Date(nowMs).toISOString();
    }
    const details: Record<string, unknown> = {
      outcome: input.outcome,
      ...(runId !== undefined ? { runId } : {}),
      ...(input.failure
        ? { step: input.failure.step, error: input.failure.error, cause: input.failure.cause }
        : {}),
      ...(after?.backoffUntil !== undefined && input.outcome === 'failed'
        ? { backoffUntil: after.backoffUntil }
        : {}),
      ...(input.details ?? {}),
    };
    // The gate already audited its rejection (RETRAIN_REJECTED with the numbers); do not append it twice.
    if (input.outcome !== 'rejected-by-champion-gate') {
      await appendAuditOnce(
        deps.audit,
        idempotentAuditEvent(
          {
            model: input.model,
            ...(input.version !== undefined ? { version: input.version } : {}),
            type: AUDIT_TYPE[input.outcome],
            actor: input.executionId,
            details,
          },
          `${input.executionId}#outcome`,
          new Date(at),
        ),
      );
    }
    return {
      model: input.model,
      ...(runId !== undefined ? { runId } : {}),
      outcome: input.outcome,
      ...(input.version !== undefined ? { version: input.version } : {}),
      stateChanged,
      ...(input.outcome === 'failed' && after?.backoffUntil !== undefined
        ? { backoffUntil: after.backoffUntil }
        : {}),
    };
  }
}
