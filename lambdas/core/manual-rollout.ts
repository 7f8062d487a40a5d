/**
 * An operator ends a rollout by hand: `modelops rollback` (clear the candidate, or go back to an older stable
 * version) and `modelops unlock` (release a rollout lock, e.g. one left by a dead execution). docs/rollout.md.
 *
 * Each is one conditional write of the model's routing record (DESIGN.md decisions 1 and 7), then one audit event.
 * When a release execution holds the lock, the same write records `endedRollout`, so that execution learns at its
 * next AnalyzeCanary or AdvanceRollout why its lock is gone (lambdas/core/rollout.ts `endedElsewhere`): it ends
 * RolledBack after a rollback and Superseded after an unlock, and writes nothing more.
 *
 * Pure of AWS: every store is a port and the clock is passed in.
 */
import { appendAuditOnce, derivedEventId } from './audit';
import { z } from 'zod';
import { MODEL_NAME_PATTERN, VERSION_PATTERN } from './names';
import { RoutingChangeRefusedError, type RoutingChangeStores } from './promotion';
import type {
  AuditEvent,
  AuditEventType,
  AuditLogStore,
  DeploymentRecord,
  RolloutEnding,
  RolloutLock,
} from './ports';
import { labelStages, type StageLabel } from './version-stages';

/** The reason code of a manual rollback: in `endedRollout`, the ROLLED_BACK event and the version stages. */
const MANUAL_ROLLBACK_REASON = 'MANUAL_ROLLBACK';

/** Longest `--reason` accepted: the reason lands in the routing record and the audit log, which are not a wiki. */
export const MAX_OPERATOR_REASON_LENGTH = 1000;

const operatorReasonSchema = z
  .string()
  .trim()
  .min(1, 'must say why (it is recorded in the audit log and shown to the release execution)')
  .max(MAX_OPERATOR_REASON_LENGTH, `must be at most ${MAX_OPERATOR_REASON_LENGTH} characters`);

export interface ManualRolloutInput {
  readonly model: string;
  /** Who decided (`cli:<user>`); recorded in the audit event and in `endedRollout`. */
  readonly actor: string;
  /** The operator's `--reason`: required, 1–1000 characters after trimming. */
  readonly reason: string;
  readonly nowMs: number;
}

export interface RollbackInput extends ManualRolloutInput {
  /** `--to`: a REGISTERED version (not the current stable) becomes stable. Without it the candidate is cleared. */
  readonly to?: string;
}

export interface ManualRolloutResult {
  /** False when this same change had already been made (a retry after the write landed): nothing written. */
  readonly changed: boolean;
  /** The routing record before this call (equal to `record` when nothing changed). */
  readonly before: DeploymentRecord;
  /** The routing record that stands now. */
  readonly record: DeploymentRecord;
  /** The audit event of the change: the one appended now, or the one a first attempt appended. */
  readonly event: AuditEvent;
  /** The lock this change released: its execution ends at its next step. Absent when no lock was held. */
  readonly releasedLock?: RolloutLock;
}

function checkReason(reason: string): string {
  const parsed = operatorReasonSchema.safeParse(reason);
  if (!parsed.success) {
    throw new RoutingChangeRefusedError(
      `--reason ${parsed.error.issues[0]?.message ?? 'is invalid'}; got ${reason.trim().length} characters`,
      '--reason',
    );
  }
  return parsed.data;
}

function checkModel(model: string): void {
  if (!MODEL_NAME_PATTERN.test(model)) {
    throw new RoutingChangeRefusedError(
      `<model> "${model}" is not a model name (1-64 characters of a-z, 0-9 and "-")`,
      '<model>',
    );
  }
}

function checkVersionSyntax(version: string, field: string): void {
  if (!VERSION_PATTERN.test(version) || version.includes('..')) {
    throw new RoutingChangeRefusedError(
      `${field} "${version}" is not a version (1-64 characters of A-Z, a-z, 0-9, ".", "_", "-")`,
      field,
    );
  }
}

/**
 * The audit event of the manual change that wrote `revision`: its id derives from the model, the type and the
 * revision (written exactly once, by one conditional write), so a repeated append of the same decision is refused as
 * a duplicate, and a retry can find the event of an earlier attempt from the record alone.
 */
function manualEvent(
  type: AuditEventType,
  record: Pick<DeploymentRecord, 'model' | 'revision' | 'updatedAt'>,
  fields: { readonly version?: string; readonly actor: string; readonly details: Record<string, unknown> },
): AuditEvent {
  return {
    model: record.model,
    eventId: manualEventId(type, record),
    at: record.updatedAt,
    type,
    ...(fields.version !== undefined ? { version: fields.version } : {}),
    actor: fields.actor,
    details: fields.details,
  };
}

function manualEventId(
  type: AuditEventType,
  record: Pick<DeploymentRecord, 'model' | 'revision' | 'updatedAt'>,
): string {
  return derivedEventId(record.updatedAt, `${record.model}\n${type}\nrevision ${record.revision}`);
}

/**
 * The manual event of type `type` that wrote the record's current revision, if that is what wrote it. When the
 * ledger lacks it but the record carries it (`manualEvent`: the command crashed after its routing write), it is
 * appended now under its own id, so the change is recorded exactly once whoever runs the command next.
 */
async function eventThatWrote(
  audit: AuditLogStore,
  type: AuditEventType,
  record: DeploymentRecord,
): Promise<AuditEvent | undefined> {
  const eventId = manualEventId(type, record);
  // Ids sort by time: the first event at or after ours is ours when it exists.
  const events = await audit.listAudit(record.model, { since: eventId, limit: 1 });
  const found = events.find((e) => e.eventId === eventId && e.type === type);
  if (found !== undefined) return found;
  const pending = record.manualEvent;
  if (pending?.eventId !== eventId || pending.type !== type) return undefined;
  await appendAuditOnce(audit, pending);
  return pending;
}

/** The written record carries its own audit event (see `DeploymentRecord.manualEvent`). */
function withEvent(record: DeploymentRecord, event: AuditEvent): DeploymentRecord {
  return { ...record, manualEvent: event };
}

/** How the record's last write by someone else reads in a refusal ("it was rolled back by cli:bob at …"). */
function lastEnding(record: DeploymentRecord, prior: AuditEvent | undefined): string {
  if (prior !== undefined) {
    const verb = prior.type === 'ROLLOUT_UNLOCKED' ? 'unlocked' : 'rolled back';
    return `; it was already ${verb} by ${prior.actor} at ${prior.at} (revision ${record.revision})`;
  }
  const ending = record.endedRollout;
  if (ending !== undefined && ending.at === record.updatedAt) {
    return `; it was already ${ending.outcome === 'UNLOCKED' ? 'unlocked' : 'rolled back'} by ${ending.actor} at ${ending.at}`;
  }
  return '';
}

/** Same actor, same reason, same effect: the operator ran the command again after it had already landed. */
function isRetry(
  prior: AuditEvent | undefined,
  input: { readonly actor: string; readonly reason: string },
  sameEffect: (details: Readonly<Record<string, unknown>>) => boolean,
): prior is AuditEvent {
  return (
    prior !== undefined &&
    prior.actor === input.actor &&
    prior.details.operatorReason === input.reason &&
    sameEffect(prior.details)
  );
}

/** The record with the candidate cleared and the lock released (recorded as `endedRollout` when one was held). */
function released(
  current: DeploymentRecord,
  over: {
    readonly stable: string | undefined;
    readonly ending: RolloutEnding | undefined;
    readonly now: string;
  },
): DeploymentRecord {
  // Spread, not rebuilt: fields this module does not know about survive the write.
  const {
    rollout: _lock,
    candidate: _candidate,
    endedRollout: previousEnding,
    manualEvent: _previousEvent,
    ...rest
  } = current;
  const endedRollout = over.ending ?? previousEnding;
  return {
    ...rest,
    ...(over.stable !== undefined ? { stable: over.stable } : {}),
    weight: 0,
    // Shadow mode without a candidate means nothing; canary is the mode every fresh record starts in.
    mode: 'canary',
    revision: current.revision + 1,
    updatedAt: over.now,
    ...(endedRollout !== undefined ? { endedRollout } : {}),
  };
}

function ending(
  lock: RolloutLock | undefined,
  outcome: RolloutEnding['outcome'],
  input: { readonly actor: string; readonly reason: string },
  now: string,
): RolloutEnding | undefined {
  if (lock === undefined) return undefined;
  return {
    executionId: lock.executionId,
    candidate: lock.candidate,
    outcome,
    reason: outcome === 'ROLLED_BACK' ? MANUAL_ROLLBACK_REASON : 'MANUAL_UNLOCK',
    actor: input.actor,
    at: now,
    detail: input.reason,
  };
}

/**
 * `modelops rollback`: without `to`, clears the model's candidate (stable serves 100 %); with `to`, makes that
 * REGISTERED version stable and clears any candidate. Either way any rollout lock is released in the same write,
 * recorded as `endedRollout` (outcome ROLLED_BACK) so its execution ends RolledBack. Audited as ROLLED_BACK with
 * reason MANUAL_ROLLBACK. Then the stages: the cleared candidate and, with `to`, the replaced stable version are
 * labelled ROLLED_BACK (MANUAL_ROLLBACK), `to` LIVE; a retry of the same command labels them again.
 *
 * Refused (nothing written, nothing audited) with {@link RoutingChangeRefusedError} naming the field: an empty or too
 * long reason, a bad name, no candidate (without `to`), a `to` that is unknown, not REGISTERED, already stable or the
 * candidate itself. A concurrent routing change makes the write fail with `RoutingConflictError`. Running the same
 * command again after it landed changes nothing and returns `changed: false` with the first attempt's event. The
 * written record carries its audit event (`manualEvent`), so a crash between the write and the append loses nothing:
 * the command run again appends the event under its id and then reports the retry.
 *
 * @example await rollbackModel(stores, { model: 'breast-cancer', actor: 'cli:alice', reason: 'p99 doubled', nowMs: Date.now() })
 */
export async function rollbackModel(
  stores: RoutingChangeStores,
  input: RollbackInput,
): Promise<ManualRolloutResult> {
  const reason = checkReason(input.reason);
  const { model, to, actor } = input;
  checkModel(model);
  if (to !== undefined) checkVersionSyntax(to, '--to');
  const [current, toRecord] = await Promise.all([
    stores.deployments.getDeployment(model),
    to === undefined ? undefined : stores.versions.getVersion(model, to),
  ]);
  if (current?.stable === undefined) {
    throw new RoutingChangeRefusedError(
      `${model} has no stable version (no version was ever promoted): there is nothing to roll back; make one ` +
        `stable with \`modelops promote ${model} <version>\``,
      '<model>',
    );
  }
  const alreadyDone =
    to === undefined
      ? current.candidate === undefined
      : current.stable === to && current.candidate === undefined;
  // Only a record already in the requested state needs the ledger: was it this same command, run before?
  const prior = alreadyDone ? await eventThatWrote(stores.audit, 'ROLLED_BACK', current) : undefined;
  if (alreadyDone) {
    const sameEffect = (d: Readonly<Record<string, unknown>>) =>
      d.stable === current.stable && 'previousStable' in d === (to !== undefined);
    if (isRetry(prior, { actor, reason }, sameEffect)) {
      // The first attempt's routing write landed; its labels may not have (a crash in between).
      await labelStages(
        stores.stages,
        model,
        current.revision,
        current.updatedAt,
        rollbackLabels(prior.details),
      );
      return { changed: false, before: current, record: current, event: prior };
    }
    if (to === undefined) {
      throw new RoutingChangeRefusedError(
        `${model} has no candidate to roll back (stable ${current.stable} serves all traffic, revision ` +
          `${current.revision})${lastEnding(current, prior)}` +
          (current.rollout !== undefined
            ? `. It still holds the rollout lock of ${current.rollout.executionId}: release it with ` +
              `\`modelops unlock ${model} --reason …\``
            : `. To make an older version stable, pass --to <version>`),
        '<model>',
      );
    }
  }
  const now = new Date(input.nowMs).toISOString();
  const lock = current.rollout;
  if (to !== undefined) {
    if (!toRecord) {
      throw new RoutingChangeRefusedError(
        `--to: ${model} ${to} does not exist; pick a REGISTERED version listed by \`modelops status ${model}\``,
        '--to',
      );
    }
    if (toRecord.status !== 'REGISTERED') {
      throw new RoutingChangeRefusedError(
        `--to: ${model} ${to} is ${toRecord.status}, only a REGISTERED version can serve traffic; pick another ` +
          `version listed by \`modelops status ${model}\``,
        '--to',
      );
    }
    if (to === current.stable) {
      throw new RoutingChangeRefusedError(
        `--to ${to} is already the stable version of ${model}` +
          (current.candidate !== undefined
            ? `; to clear the candidate ${current.candidate}, run rollback without --to`
            : `; nothing to roll back${lastEnding(current, prior)}`),
        '--to',
      );
    }
    if (to === current.candidate) {
      throw new RoutingChangeRefusedError(
        `--to ${to} is the candidate being rolled out, not an older version; to make it stable use ` +
          `\`modelops promote ${model} ${to}\``,
        '--to',
      );
    }
  }
  const end = ending(lock, 'ROLLED_BACK', { actor, reason }, now);
  const record = released(current, { stable: to, ending: end, now });
  const event = manualEvent('ROLLED_BACK', record, {
    version: to === undefined ? current.candidate! : current.stable,
    actor,
    details: {
      reason: MANUAL_ROLLBACK_REASON,
      operatorReason: reason,
      ...(to !== undefined ? { previousStable: current.stable } : {}),
      stable: record.stable,
      clearedCandidate: current.candidate ?? null,
      revision: record.revision,
      ...(lock !== undefined ? { executionId: lock.executionId } : {}),
    },
  });
  await stores.deployments.putDeployment(withEvent(record, event), { expectedRevision: current.revision });
  // The routing write is the decision; the event records it. Its id is fixed by the revision, so appending it again
  // (here, or by the next run of the command after a crash) can never make a second entry.
  await appendAuditOnce(stores.audit, event);
  await labelStages(stores.stages, model, record.revision, now, rollbackLabels(event.details));
  return {
    changed: true,
    before: current,
    record,
    event,
    ...(lock !== undefined ? { releasedLock: lock } : {}),
  };
}

/**
 * The stages a manual rollback leaves, from its audit event's details (so a retry derives the same labels): the
 * cleared candidate and, with `--to`, the replaced stable version ROLLED_BACK; the `--to` version LIVE.
 */
function rollbackLabels(details: Readonly<Record<string, unknown>>): StageLabel[] {
  const rolledBack = (version: unknown): StageLabel[] =>
    typeof version === 'string' ? [{ version, value: 'ROLLED_BACK', reason: MANUAL_ROLLBACK_REASON }] : [];
  return [
    ...rolledBack(details.clearedCandidate),
    ...(typeof details.previousStable === 'string' && typeof details.stable === 'string'
      ? [{ version: details.stable, value: 'LIVE' as const }, ...rolledBack(details.previousStable)]
      : []),
  ];
}

/**
 * `modelops unlock`: releases the model's rollout lock (one a dead execution left, or a rollout an operator wants to
 * stop without calling it a rollback) and clears the candidate in the same write, so no half-finished canary keeps
 * serving. Records `endedRollout` (outcome UNLOCKED): the execution, if still running, finds its lock gone and ends
 * Superseded. Audited as ROLLOUT_UNLOCKED.
 *
 * Refused (nothing written) with {@link RoutingChangeRefusedError} when the reason or the name is bad, or the model
 * holds no lock. Running the same command again after it landed returns `changed: false`.
 */
export async function unlockModel(
  stores: Pick<RoutingChangeStores, 'deployments' | 'audit'>,
  input: ManualRolloutInput,
): Promise<ManualRolloutResult> {
  const reason = checkReason(input.reason);
  const { model, actor } = input;
  checkModel(model);
  const current = await stores.deployments.getDeployment(model);
  const lock = current?.rollout;
  if (current === undefined || lock === undefined) {
    const prior = current && (await eventThatWrote(stores.audit, 'ROLLOUT_UNLOCKED', current));
    if (current !== undefined && isRetry(prior, { actor, reason }, () => true)) {
      return { changed: false, before: current, record: current, event: prior };
    }
    throw new RoutingChangeRefusedError(
      `no rollout lock on ${model}: no release is rolling it out, nothing to unlock` +
        (current === undefined ? ' (it has no routing record)' : lastEnding(current, prior)) +
        (current?.candidate !== undefined
          ? `. Its candidate ${current.candidate} was routed by hand: clear it with \`modelops rollback ${model} ` +
            '--reason …`'
          : ''),
      '<model>',
    );
  }
  const now = new Date(input.nowMs).toISOString();
  const record = released(current, {
    stable: undefined,
    ending: ending(lock, 'UNLOCKED', { actor, reason }, now),
    now,
  });
  const event = manualEvent('ROLLOUT_UNLOCKED', record, {
    version: lock.candidate,
    actor,
    details: {
      reason: 'MANUAL_UNLOCK',
      operatorReason: reason,
      executionId: lock.executionId,
      candidate: lock.candidate,
      startedAt: lock.startedAt,
      expiresAt: lock.expiresAt,
      expired: Date.parse(lock.expiresAt) <= input.nowMs,
      stable: record.stable ?? null,
      clearedCandidate: current.candidate ?? null,
      revision: record.revision,
    },
  });
  await stores.deployments.putDeployment(withEvent(record, event), { expectedRevision: current.revision });
  await appendAuditOnce(stores.audit, event);
  return { changed: true, before: current, record, event, releasedLock: lock };
}
