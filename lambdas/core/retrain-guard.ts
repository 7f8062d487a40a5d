/**
 * The retrain Guard (first state of stepfunctions/retrain.asl.json): decides whether a trigger may start a retrain,
 * and if so takes the model's retrain slot with ONE conditional write to its retrain state (MonitorState, kind
 * `retrain`). Everything the decision needs is in that item or the routing record, so two concurrent triggers race on
 * one revision and exactly one starts; the loser re-reads, sees the run and is skipped. A skip writes nothing but its
 * audit entry (id derived from the execution, so a retried Guard appends it once) and ends the execution Succeeded.
 */
import { createHash } from 'node:crypto';
import { appendAuditOnce, idempotentAuditEvent } from './audit';
import {
  MonitorStateConflictError,
  type AuditLogStore,
  type DeploymentRecord,
  type DeploymentStore,
  type MonitorStateRecord,
  type MonitorStateStore,
  type VersionStore,
} from './ports';
import {
  INITIAL_RETRAIN_STATE,
  RETRAIN_RUN_TIMEOUT_SECONDS,
  RETRAIN_STATE_KIND,
  type RetrainPolicy,
  type RunningRetrain,
  type RetrainStart,
  type RetrainState,
  type RetrainTrigger,
  type TrainingSettings,
} from './retrain-policy';

export const RETRAIN_GUARD_ACTOR = 'retrain-guard';

/** Why a trigger started nothing; each is audited with a sentence saying when a retrain can start again. */
export const SKIP_CODES = [
  'NO_STABLE_VERSION',
  'DUPLICATE_EVENT',
  'RETRAIN_RUNNING',
  'ROLLOUT_RUNNING',
  'DAILY_CAP',
  'BACKOFF',
  'COOLDOWN',
  'DRIFT_NOT_PERSISTENT',
] as const;
export type SkipCode = (typeof SKIP_CODES)[number];

/** The Guard output when a retrain starts (the contract's shape; later states read these fields by name). */
export interface GuardPass {
  readonly skipped: false;
  readonly model: string;
  readonly parentVersion: string;
  readonly runId: string;
  readonly trigger: RetrainTrigger;
  readonly dataWindow: { readonly fromMs: number; readonly toMs: number };
  /** What the Train state passes to CreateTrainingJob (beyond the contract's fields; only Train reads it). */
  readonly training: TrainingSettings & { readonly jobName: string; readonly parentManifestKey: string };
}

/** Everything of a pass but the training block (which needs the parent's registered manifest key). */
export type GuardPassCore = Omit<GuardPass, 'training'>;

export interface GuardSkip {
  readonly skipped: true;
  readonly model: string;
  readonly code: SkipCode;
  readonly reason: string;
}

export type GuardResult = GuardPass | GuardSkip;

/** The pure decision: skip (nothing written) or start with the next state. */
export type GuardDecision =
  | {
      readonly kind: 'skip';
      readonly code: SkipCode;
      readonly reason: string;
      readonly parentVersion?: string;
    }
  | {
      readonly kind: 'start';
      readonly next: RetrainState;
      readonly pass: GuardPassCore;
      /** A retried Guard found its own write: nothing to write again. */
      readonly resumed: boolean;
      /** The run whose slot this start took (past the timeout, or `takeOver`); audited with RETRAIN_STARTED. */
      readonly tookOver?: RunningRetrain;
    };

export interface GuardInput {
  readonly start: RetrainStart;
  readonly policy: RetrainPolicy;
  readonly state: RetrainState | undefined;
  readonly routing: DeploymentRecord | undefined;
  readonly nowMs: number;
  readonly executionId: string;
}

/** At most this many trigger event ids are remembered (enough for any redelivery window). */
const RECENT_EVENT_IDS = 20;
/** Backoff doubles per consecutive failure, up to this. */
const MAX_BACKOFF_MS = 7 * 86_400_000;

const iso = (ms: number) => new Date(ms).toISOString();
const utcDay = (ms: number) => iso(ms).slice(0, 10);

/** The backoff after `failures` consecutive failures: `backoffMs` doubled per failure after the first, capped. */
export function backoffAfter(policy: Pick<RetrainPolicy, 'backoffMs'>, failures: number): number {
  if (failures <= 0 || policy.backoffMs === 0) return 0;
  return Math.min(MAX_BACKOFF_MS, policy.backoffMs * 2 ** Math.min(failures - 1, 20));
}

/** Drifted windows among the evidence's recent M-of-N history (`persistence.recent` of ModelDriftDetected). */
export function driftedWindows(evidence: Readonly<Record<string, unknown>> | undefined): number {
  const recent = (evidence?.persistence as { recent?: unknown } | undefined)?.recent;
  return Array.isArray(recent) ? recent.filter((w) => w === true).length : 0;
}

/**
 * Decides one trigger. Order matters: a duplicate or a running retrain says so before any budget does; a manual
 * start (a person's decision) skips the cooldown, backoff and persistence rules but never the locks or the daily cap.
 */
export function decideRetrain(input: GuardInput): GuardDecision {
  const { start, policy, routing, nowMs, executionId } = input;
  const state = input.state ?? INITIAL_RETRAIN_STATE;
  const now = iso(nowMs);
  const stable = routing?.stable;
  const manual = start.trigger === 'manual';

  // A retried Guard whose write landed: the same run, not a second one.
  if (state.running?.executionId === executionId) {
    return {
      kind: 'start',
      next: state,
      resumed: true,
      pass: passOf(
        start,
        state.running.parentVersion,
        state.running.runId,
        Date.parse(state.running.startedAt),
        policy,
      ),
    };
  }
  if (stable === undefined) {
    return {
      kind: 'skip',
      code: 'NO_STABLE_VERSION',
      reason: `${start.model} has no stable version to retrain from; promote one first (modelops promote)`,
    };
  }
  const skip = (code: SkipCode, reason: string): GuardDecision => ({
    kind: 'skip',
    code,
    reason,
    parentVersion: stable,
  });
  if (start.eventId !== undefined && state.recentEventIds.includes(start.eventId)) {
    return skip(
      'DUPLICATE_EVENT',
      `event ${start.eventId} already started a retrain; a redelivery starts nothing`,
    );
  }
  let tookOver: RunningRetrain | undefined;
  if (state.running !== undefined) {
    const staleAtMs = Date.parse(state.running.startedAt) + RETRAIN_RUN_TIMEOUT_SECONDS * 1000;
    const named = start.takeOver === state.running.executionId;
    if (nowMs < staleAtMs && !named) {
      return skip(
        'RETRAIN_RUNNING',
        `retrain ${state.running.runId} of ${start.model} is running (execution ${state.running.executionId}, ` +
          `started ${state.running.startedAt}); one retrain per model at a time` +
          (start.takeOver === undefined
            ? `. If that execution is dead (stopped, or failed before recording its end), start with --take-over ${state.running.executionId}`
            : `; --take-over names ${start.takeOver}, which is not the running execution`),
      );
    }
    // Older than the state machine's own timeout, or named dead by a person: take over its slot.
    tookOver = state.running;
  }
  const lock = routing?.rollout;
  if (lock !== undefined && Date.parse(lock.expiresAt) > nowMs) {
    return skip(
      'ROLLOUT_RUNNING',
      `a rollout of ${start.model} is running (candidate ${lock.candidate}, execution ${lock.executionId}); ` +
        'retrain after it ends, or end it with modelops rollback|unlock',
    );
  }
  const day = utcDay(nowMs);
  const startsToday = state.day === day ? state.startsOnDay : 0;
  if (startsToday >= policy.dailyCap) {
    return skip(
      'DAILY_CAP',
      `${startsToday} retrain(s) of ${start.model} already started on ${day} (retrain.dailyCap ${policy.dailyCap}); ` +
        'the next can start after 00:00 UTC',
    );
  }
  if (!manual) {
    if (state.backoffUntil !== undefined && Date.parse(state.backoffUntil) > nowMs) {
      return skip(
        'BACKOFF',
        `${state.consecutiveFailures} consecutive failed retrain(s); automatic retrains wait until ` +
          `${state.backoffUntil} (retrain.backoffMinutes, doubled per failure); a manual start may run earlier`,
      );
    }
    const promotedAt = latest(
      state.lastPromotedAt,
      routing?.lastChange?.action === 'promote' ? routing.lastChange.at : undefined,
    );
    const since = latest(state.lastStartedAt, promotedAt);
    if (since !== undefined && Date.parse(since) + policy.cooldownMs > nowMs) {
      return skip(
        'COOLDOWN',
        `the last retrain or promote of ${start.model} was at ${since}; automatic retrains wait until ` +
          `${iso(Date.parse(since) + policy.cooldownMs)} (retrain.cooldownMinutes)`,
      );
    }
    if (start.trigger === 'drift') {
      const drifted = driftedWindows(start.evidence);
      if (drifted < policy.driftPersistence) {
        return skip(
          'DRIFT_NOT_PERSISTENT',
          `the drift evidence shows ${drifted} drifted window(s); retrain.driftPersistence needs ${policy.driftPersistence}`,
        );
      }
    }
  }

  const runId = `r${state.counter + 1}`;
  const next: RetrainState = {
    ...state,
    counter: state.counter + 1,
    running: { runId, executionId, startedAt: now, trigger: start.trigger, parentVersion: stable },
    lastStartedAt: now,
    day,
    startsOnDay: startsToday + 1,
    recentEventIds:
      start.eventId === undefined
        ? state.recentEventIds
        : [...state.recentEventIds, start.eventId].slice(-RECENT_EVENT_IDS),
  };
  return {
    kind: 'start',
    next,
    resumed: false,
    pass: passOf(start, stable, runId, nowMs, policy),
    ...(tookOver !== undefined ? { tookOver } : {}),
  };
}

function latest(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Date.parse(a) >= Date.parse(b) ? a : b;
}

/**
 * A SageMaker training job name (unique per account and region, at most 63 characters of a-z, A-Z, 0-9 and "-"):
 * the model, the run and a hash of the execution, so two stacks retraining the same model never collide.
 */
export function trainingJobName(model: string, runId: string, executionId: string): string {
  const hash = createHash('sha256').update(executionId).digest('hex').slice(0, 8);
  return `${model.slice(0, 40).replace(/-+$/, '')}-${runId.slice(0, 12)}-${hash}`;
}

function passOf(
  start: RetrainStart,
  parentVersion: string,
  runId: string,
  startedAtMs: number,
  policy: RetrainPolicy,
): GuardPassCore {
  return {
    skipped: false,
    model: start.model,
    parentVersion,
    runId,
    trigger: {
      kind: start.trigger,
      reason: start.reason,
      evidence: {
        ...(start.evidence ?? {}),
        ...(start.eventId !== undefined ? { eventId: start.eventId } : {}),
        ...(start.requestedBy !== undefined ? { requestedBy: start.requestedBy } : {}),
      },
    },
    dataWindow: { fromMs: startedAtMs - policy.dataWindowMs, toMs: startedAtMs },
  };
}

export interface GuardDeps {
  readonly monitorState: MonitorStateStore;
  readonly deployments: Pick<DeploymentStore, 'getDeployment'>;
  readonly versions: Pick<VersionStore, 'getVersion'>;
  readonly audit: AuditLogStore;
}

/** Attempts of read-decide-write when a twin wins the conditional write (the loser's re-read decides again). */
const MAX_ATTEMPTS = 4;

/**
 * Runs the guard for one execution: read, decide, one conditional write (when starting), audit. `startedAt` is the
 * execution's start time: the skip's audit entry is stamped with it so that a retried Guard derives the same id.
 */
export async function runRetrainGuard(
  deps: GuardDeps,
  input: {
    readonly start: RetrainStart;
    readonly policy: RetrainPolicy;
    readonly executionId: string;
    readonly startedAt: string;
    readonly nowMs: number;
  },
): Promise<GuardResult> {
  const { start, policy, executionId } = input;
  for (let attempt = 1; ; attempt += 1) {
    const [record, routing] = await Promise.all([
      deps.monitorState.getState(start.model, RETRAIN_STATE_KIND),
      deps.deployments.getDeployment(start.model),
    ]);
    const decision = decideRetrain({
      start,
      policy,
      state: record?.state as RetrainState | undefined,
      routing,
      nowMs: input.nowMs,
      executionId,
    });
    if (decision.kind === 'skip') {
      await appendAuditOnce(
        deps.audit,
        idempotentAuditEvent(
          {
            model: start.model,
            ...(decision.parentVersion !== undefined ? { version: decision.parentVersion } : {}),
            type: 'RETRAIN_SKIPPED',
            actor: executionId,
            details: {
              code: decision.code,
              reason: decision.reason,
              trigger: start.trigger,
              triggerReason: start.reason,
              ...(start.eventId !== undefined ? { eventId: start.eventId } : {}),
            },
          },
          `${executionId}#guard-skip`,
          new Date(input.startedAt),
        ),
      );
      return { skipped: true, model: start.model, code: decision.code, reason: decision.reason };
    }
    if (!decision.resumed) {
      const next: MonitorStateRecord<RetrainState> = {
        model: start.model,
        kind: RETRAIN_STATE_KIND,
        version: decision.pass.parentVersion,
        state: decision.next,
        revision: (record?.revision ?? 0) + 1,
        updatedAt: iso(input.nowMs),
      };
      try {
        await deps.monitorState.putState(next, { expectedRevision: record?.revision });
      } catch (err) {
        if (err instanceof MonitorStateConflictError && attempt < MAX_ATTEMPTS) continue;
        throw err;
      }
    }
    const running = decision.next.running!;
    await appendAuditOnce(
      deps.audit,
      idempotentAuditEvent(
        {
          model: start.model,
          version: decision.pass.parentVersion,
          type: 'RETRAIN_STARTED',
          actor: executionId,
          details: {
            runId: decision.pass.runId,
            trigger: start.trigger,
            reason: start.reason,
            dataWindow: decision.pass.dataWindow,
            ...(start.eventId !== undefined ? { eventId: start.eventId } : {}),
            ...(decision.tookOver !== undefined
              ? {
                  tookOver: {
                    runId: decision.tookOver.runId,
                    executionId: decision.tookOver.executionId,
                    startedAt: decision.tookOver.startedAt,
                    named: start.takeOver === decision.tookOver.executionId,
                  },
                }
              : {}),
          },
        },
        `${executionId}#guard-start`,
        new Date(running.startedAt),
      ),
    );
    const parent = await deps.versions.getVersion(start.model, decision.pass.parentVersion);
    if (parent?.manifestKey === undefined) {
      throw new ParentVersionError(
        `stable version ${decision.pass.parentVersion} of ${start.model} has no registered manifest in ModelVersions; ` +
          'retrain needs it (features, baseline); re-register that version',
      );
    }
    return {
      ...decision.pass,
      training: {
        ...policy.training,
        jobName: trainingJobName(start.model, decision.pass.runId, executionId),
        parentManifestKey: parent.manifestKey,
      },
    };
  }
}

/** The parent (stable) version cannot be retrained from: its record lacks what training needs. */
export class ParentVersionError extends Error {
  override name = 'ParentVersionError';
}
