/**
 * Alarm-triggered rollback (docs/rollout.md, "Alarm-triggered rollback"): a candidate alarm of a model entering ALARM
 * clears the model's candidate at once, without waiting for the rollout's bake. In AWS an EventBridge rule delivers
 * CloudWatch's "CloudWatch Alarm State Change" event to lambdas/alarm-rollback/handler.ts; in local mode the local
 * alarm evaluator's events reach the same function (local/alarm-runner.ts).
 *
 * The rollback is one conditional write of the routing record (DESIGN.md decisions 1 and 7): candidate cleared,
 * weight 0, rollout lock released and, when a release execution held the lock, `endedRollout` set in the same write,
 * so the execution ends RolledBack with the alarm as its reason at its next step (lambdas/core/rollout.ts). After
 * it, the candidate's version stage is labelled ROLLED_BACK with reason ALARM (lambdas/core/version-stages.ts).
 *
 * Which alarms act: only the notifying (composite) alarm of a `candidate-*` rule, only on ALARM. One window of the
 * multiwindow pair alone is not the burn-rate condition (the 1 h window stays high long after a 5 min burst ended),
 * and it does not page either.
 *
 * Stale alarms: the candidate alarms watch `{Model, Arm=candidate}`, whichever version is the candidate, not one
 * version. An ALARM whose state timestamp is before the current rollout lock's `startedAt` was raised by the traffic of
 * an earlier candidate (a late or redelivered event), so it is ignored. Without a lock (a canary routed by hand) the
 * record does not say since when the candidate is routed, and the alarm acts.
 *
 * Idempotent, as EventBridge delivers at least once: a repeated event finds the candidate gone and writes nothing;
 * the ROLLED_BACK audit event's id derives from the alarm event's id and the time of the write, so a twin delivery
 * that lost the race, or a retry after a crash between write and audit, appends nothing twice.
 */
import { appendAuditOnce, derivedEventId } from './audit';
import { parseAlarmName, type ParsedAlarmName } from './alarm-rules';
import { RoutingConflictError } from './promotion';
import type {
  AuditEvent,
  AuditLogStore,
  DeploymentRecord,
  DeploymentStore,
  VersionStageStore,
} from './ports';
import { labelStages, type StageLabel } from './version-stages';

/** Environment of the alarm-rollback function: the alarm name prefix (`<project>-<stage>`). */
export const ALARM_NAME_PREFIX_ENV = 'ALARM_NAME_PREFIX';
/** Environment of the alarm-rollback function: comma-separated models whose candidate alarms roll back. */
export const ALARM_ROLLBACK_MODELS_ENV = 'ALARM_ROLLBACK_MODELS';

/** `endedRollout.reason` and the ROLLED_BACK audit event's `details.reason`. */
export const ALARM_ROLLBACK_REASON = 'ALARM';
/** Longest alarm state reason kept in the routing record and the ledger. */
export const MAX_ALARM_REASON_CHARS = 1_000;
/**
 * How far the function's clock may trail CloudWatch's when recognising its own earlier rollback. Transitions of one
 * composite into ALARM are minutes apart (its short window must clear first), so this cannot confuse two of them.
 */
export const CLOCK_SKEW_TOLERANCE_MS = 60_000;
/** Conditional writes tried before giving up (each conflict re-reads the record first). */
export const DEFAULT_ROLLBACK_ATTEMPTS = 5;

/** The fields of CloudWatch's "CloudWatch Alarm State Change" event the rollback reads (`AlarmStateChangeEvent`). */
export interface AlarmRollbackEvent {
  /** The EventBridge event id: the same for every delivery of one event. */
  readonly id: string;
  readonly detail: {
    readonly alarmName: string;
    readonly state: {
      readonly value: string;
      readonly reason: string;
      /** When the alarm entered this state (CloudWatch writes e.g. `2026-06-01T00:00:00.000+0000`). */
      readonly timestamp: string;
    };
  };
}

export interface AlarmRollbackStores {
  readonly deployments: DeploymentStore;
  readonly audit: AuditLogStore;
  /**
   * The version stages: the rolled-back candidate is labelled ROLLED_BACK (reason ALARM) after the routing write.
   * @default - no labels are written (the routing record and the audit log still hold the rollback)
   */
  readonly stages?: VersionStageStore;
}

export interface AlarmRollbackOptions {
  readonly nowMs: number;
  /** `<project>-<stage>` (`alarmNamePrefix`): names under another prefix belong to another deployment. */
  readonly alarmNamePrefix: string;
  /**
   * Models whose candidate alarms roll back (those with `canary.enabled`).
   * @default - every model
   */
  readonly models?: ReadonlySet<string>;
  /** @default DEFAULT_ROLLBACK_ATTEMPTS */
  readonly maxAttempts?: number;
}

/** Why an alarm event changed nothing. */
export type AlarmIgnoredReason =
  /** OK or INSUFFICIENT_DATA: only entering ALARM rolls back. */
  | 'NOT_ALARM'
  /** The name is not `<prefix>-<model>-<rule id>` of this deployment. */
  | 'UNKNOWN_ALARM'
  /** A model rule, but not a `candidate-*` one (SLO burn, feedback, drift). */
  | 'NOT_CANDIDATE_ALARM'
  /** One window of the candidate pair; only the composite (both windows) acts. */
  | 'WINDOW_ALARM'
  /** The model's candidate alarms do not roll back (its canary is off). */
  | 'MODEL_NOT_COVERED'
  /** Nothing is routed to a candidate (already rolled back, promoted, or never routed). */
  | 'NO_CANDIDATE'
  /** The candidate is shadowed: it answers no request, so the `Arm=candidate` series is not its traffic. */
  | 'SHADOW_MODE'
  /** The alarm entered ALARM before the current rollout started: an earlier candidate's alarm. */
  | 'STALE_ALARM'
  /** Between the read and the write the candidate changed; the alarm was about the previous one. */
  | 'CANDIDATE_CHANGED';

export type AlarmRollbackResult =
  | {
      readonly action: 'rolled-back';
      readonly model: string;
      readonly alarmName: string;
      readonly candidate: string;
      readonly stable: string | null;
      readonly revision: number;
      /** The release execution whose rollout was ended, when one held the lock. */
      readonly executionId?: string;
      /** Conditional writes it took (more than 1 after a concurrent change). */
      readonly attempts: number;
    }
  | {
      /** A twin delivery of the same event (or this event before a crash) already rolled back; audit ensured. */
      readonly action: 'already-rolled-back';
      readonly model: string;
      readonly alarmName: string;
      readonly candidate: string;
    }
  | {
      readonly action: 'ignored';
      readonly reason: AlarmIgnoredReason;
      readonly message: string;
      readonly alarmName: string;
      readonly model?: string;
    };

/** `alarm:<alarm name>`: the actor of the rollback in the routing record and the ledger. */
export function alarmActor(alarmName: string): string {
  return `alarm:${alarmName}`;
}

function truncated(text: string): string {
  return text.length > MAX_ALARM_REASON_CHARS ? `${text.slice(0, MAX_ALARM_REASON_CHARS - 1)}…` : text;
}

/**
 * Rolls the candidate of the alarm's model back when `event` is a covered candidate alarm entering ALARM; see the
 * module comment for what is ignored and why. Throws RoutingConflictError when the record kept changing for
 * `maxAttempts` writes (the caller retries the event), and RangeError for an unreadable state timestamp.
 */
export async function rollbackOnAlarm(
  stores: AlarmRollbackStores,
  event: AlarmRollbackEvent,
  options: AlarmRollbackOptions,
): Promise<AlarmRollbackResult> {
  const { alarmName, state } = event.detail;
  const ignored = (reason: AlarmIgnoredReason, message: string, model?: string): AlarmRollbackResult => ({
    action: 'ignored',
    reason,
    message,
    alarmName,
    ...(model !== undefined ? { model } : {}),
  });
  if (state.value !== 'ALARM') return ignored('NOT_ALARM', `the alarm entered ${state.value}, not ALARM`);
  const parsed = parseAlarmName(alarmName, options.alarmNamePrefix);
  if (parsed === undefined) {
    return ignored(
      'UNKNOWN_ALARM',
      `not a model alarm of this deployment (<${options.alarmNamePrefix}>-<model>-<rule id>)`,
    );
  }
  const { model } = parsed;
  const refused = refusal(parsed, options);
  if (refused !== undefined) return ignored(refused.reason, refused.message, model);
  const alarmMs = Date.parse(state.timestamp);
  if (Number.isNaN(alarmMs)) {
    throw new RangeError(
      `detail.state.timestamp must be a date-time, got ${JSON.stringify(state.timestamp)}`,
    );
  }
  const actor = alarmActor(alarmName);
  const detail = truncated(state.reason);
  const maxAttempts = options.maxAttempts ?? DEFAULT_ROLLBACK_ATTEMPTS;

  let target: string | undefined;
  for (let attempt = 1; ; attempt++) {
    const record = await stores.deployments.getDeployment(model);
    const ours = ownEnding(record, actor, detail, alarmMs);
    if (ours !== undefined) {
      // This event's rollback landed (a twin delivery won the race, or we crashed before the audit or the label):
      // audit and label again, both idempotent.
      await appendAuditOnce(
        stores.audit,
        rolledBackEvent(event, record!, ours.candidate, ours.executionId, ours.at),
      );
      if (record!.stable !== ours.candidate) {
        await labelStages(stores.stages, model, record!.revision, ours.at, [alarmLabel(ours.candidate)]);
      }
      return { action: 'already-rolled-back', model, alarmName, candidate: ours.candidate };
    }
    const candidate = record?.candidate;
    if (record === undefined || candidate === undefined) {
      return ignored('NO_CANDIDATE', `${model} routes no candidate; nothing to roll back`, model);
    }
    if (target !== undefined && candidate !== target) {
      return ignored(
        'CANDIDATE_CHANGED',
        `the candidate of ${model} changed from ${target} to ${candidate} meanwhile; the alarm was about ${target}`,
        model,
      );
    }
    target = candidate;
    if (record.mode === 'shadow') {
      return ignored('SHADOW_MODE', `${model} shadows ${candidate}: it answered no request`, model);
    }
    const lock = record.rollout;
    if (lock !== undefined && alarmMs < Date.parse(lock.startedAt)) {
      return ignored(
        'STALE_ALARM',
        `the alarm entered ALARM at ${state.timestamp}, before the rollout of ${candidate} started ` +
          `(${lock.startedAt}): it was about an earlier candidate`,
        model,
      );
    }
    const at = new Date(options.nowMs).toISOString();
    const revision = record.revision + 1;
    const { rollout: _released, candidate: _cleared, ...rest } = record;
    const next: DeploymentRecord = {
      ...rest,
      weight: 0,
      // A candidate alarm can fire in the shadow phase too; without a candidate the mode is canary again.
      mode: 'canary',
      revision,
      updatedAt: at,
      ...(lock !== undefined
        ? {
            endedRollout: {
              executionId: lock.executionId,
              candidate,
              outcome: 'ROLLED_BACK',
              reason: ALARM_ROLLBACK_REASON,
              actor,
              at,
              detail,
            },
          }
        : {}),
    };
    try {
      await stores.deployments.putDeployment(next, { expectedRevision: record.revision });
    } catch (err) {
      // Someone changed the record in between (the execution's next step, an operator, a twin delivery): re-read.
      if (err instanceof RoutingConflictError && attempt < maxAttempts) continue;
      throw err;
    }
    await appendAuditOnce(stores.audit, rolledBackEvent(event, next, candidate, lock?.executionId, at));
    await labelStages(stores.stages, model, revision, at, [alarmLabel(candidate)]);
    return {
      action: 'rolled-back',
      model,
      alarmName,
      candidate,
      stable: record.stable ?? null,
      revision,
      ...(lock !== undefined ? { executionId: lock.executionId } : {}),
      attempts: attempt,
    };
  }
}

function refusal(
  parsed: ParsedAlarmName,
  options: AlarmRollbackOptions,
): { reason: AlarmIgnoredReason; message: string } | undefined {
  if (parsed.kind !== 'candidate-errors' && parsed.kind !== 'candidate-latency') {
    return {
      reason: 'NOT_CANDIDATE_ALARM',
      message: `a ${parsed.kind} alarm; only candidate-errors and candidate-latency roll back`,
    };
  }
  if (parsed.window !== undefined) {
    return {
      reason: 'WINDOW_ALARM',
      message: `the ${parsed.window} window of ${parsed.ruleId.replace(/-(long|short)$/, '')} alone; the composite acts`,
    };
  }
  if (options.models !== undefined && !options.models.has(parsed.model)) {
    return {
      reason: 'MODEL_NOT_COVERED',
      message: `${parsed.model} is not rolled back by alarms (its canary is off: models[].canary.enabled)`,
    };
  }
  return undefined;
}

/**
 * The rollback this very alarm event wrote, recognised after the fact: the lock was released with this alarm as the
 * actor and this state reason, at or after the alarm entered ALARM (an earlier rollback by the same alarm, whose
 * reason text may be identical, was before it), and no candidate is routed since.
 */
function ownEnding(
  record: DeploymentRecord | undefined,
  actor: string,
  detail: string,
  alarmMs: number,
): { candidate: string; executionId: string; at: string } | undefined {
  const ending = record?.endedRollout;
  if (record === undefined || record.candidate !== undefined || ending === undefined) return undefined;
  const matches =
    ending.outcome === 'ROLLED_BACK' &&
    ending.reason === ALARM_ROLLBACK_REASON &&
    ending.actor === actor &&
    ending.detail === detail &&
    Date.parse(ending.at) >= alarmMs - CLOCK_SKEW_TOLERANCE_MS;
  return matches
    ? { candidate: ending.candidate, executionId: ending.executionId, at: ending.at }
    : undefined;
}

/** ROLLED_BACK with an id derived from the alarm event and the time of the write: the same for every delivery. */
function rolledBackEvent(
  event: AlarmRollbackEvent,
  record: DeploymentRecord,
  candidate: string,
  executionId: string | undefined,
  at: string,
): AuditEvent {
  const { alarmName, state } = event.detail;
  return {
    model: record.model,
    eventId: derivedEventId(at, `alarm-rollback\n${event.id}`),
    at,
    type: 'ROLLED_BACK',
    version: candidate,
    actor: alarmActor(alarmName),
    details: {
      reason: ALARM_ROLLBACK_REASON,
      alarmName,
      alarmReason: truncated(state.reason),
      alarmTimestamp: state.timestamp,
      alarmEventId: event.id,
      clearedCandidate: candidate,
      stable: record.stable ?? null,
      weight: 0,
      revision: record.revision,
      executionId: executionId ?? null,
    },
  };
}

function alarmLabel(candidate: string): StageLabel {
  return { version: candidate, value: 'ROLLED_BACK', reason: ALARM_ROLLBACK_REASON };
}
