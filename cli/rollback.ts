/**
 * `modelops rollback <model> [--to <version>] --reason <text>`: the on-call's way out of a bad canary or a bad
 * promotion. One conditional write of the routing record (lambdas/core/manual-rollout.ts); the inference path picks
 * it up within its routing cache TTL (ROUTING_CACHE_TTL_MS, default 5 s), and a release execution that held the
 * rollout lock ends RolledBack at its next step.
 */
import { rollbackModel, type ManualRolloutResult, type RollbackInput } from '../lambdas/core/manual-rollout';
import type { DeploymentRecord } from '../lambdas/core/ports';
import type { RoutingChangeStores } from '../lambdas/core/promotion';
import { UsageError, type CliIo } from './errors';
import { cliActor, runRoutingChange } from './promote';
import type { Target } from './target';

/** One line of routing, as `promote` prints it, plus who holds the rollout lock. */
export function describeRouting(record: DeploymentRecord): string {
  const candidate = record.candidate
    ? record.mode === 'shadow'
      ? `, candidate ${record.candidate} in shadow (served: stable only)`
      : `, candidate ${record.candidate} at weight ${record.weight}`
    : ', no candidate';
  const lock = record.rollout
    ? `; rollout lock held by ${record.rollout.executionId} until ${record.rollout.expiresAt}`
    : '';
  return `stable ${record.stable ?? '(none)'}${candidate} (revision ${record.revision})${lock}`;
}

/** `--reason` is required; commander enforces it for the command line, this for callers of the function. */
export function requireReason(reason: string | undefined): string {
  if (reason === undefined) {
    throw new UsageError('--reason <text> is required: say why (it is recorded in the audit log)');
  }
  return reason;
}

/** What a repeat of the same command prints: the first attempt already landed. */
export function alreadyDone(model: string, result: ManualRolloutResult, what: string): string {
  return (
    `${model} was already ${what} by ${result.event.actor} at ${result.event.at} with the same reason ` +
    `(revision ${result.record.revision}); nothing changed.`
  );
}

export interface RollbackOptions {
  readonly to?: string;
  readonly reason?: string;
}

/** `modelops rollback`: clear the candidate (or, with `--to`, make an older REGISTERED version stable). */
export async function rollback(
  model: string,
  options: RollbackOptions,
  target: Target,
  io: CliIo,
  stores?: RoutingChangeStores,
  now: () => number = Date.now,
): Promise<ManualRolloutResult> {
  const reason = requireReason(options.reason);
  const input: RollbackInput = {
    model,
    ...(options.to !== undefined ? { to: options.to } : {}),
    actor: cliActor(),
    reason,
    nowMs: now(),
  };
  const result = await runRoutingChange(target, io, (s) => rollbackModel(s, input), stores);
  if (!result.changed) {
    io.out(alreadyDone(model, result, 'rolled back'));
    return result;
  }
  io.out(`Before: ${describeRouting(result.before)}`);
  const what =
    options.to !== undefined
      ? `to ${options.to} (was stable ${result.before.stable ?? '(none)'})`
      : `candidate ${result.before.candidate ?? '(none)'} cleared`;
  io.out(
    `ROLLED_BACK ${model} ${what}: ${describeRouting(result.record)}. Stable serves all traffic within the ` +
      'routing cache TTL.',
  );
  const lock = result.releasedLock;
  // An expired lock's execution is presumed dead; say so rather than promise what a dead execution will do.
  const ifRunning =
    lock !== undefined && Date.parse(lock.expiresAt) <= input.nowMs
      ? ', if it is still running (its lock had expired),'
      : '';
  io.out(
    lock
      ? `The release execution ${lock.executionId}${ifRunning} ends RolledBack at its next step ` +
          '(AnalyzeCanary or AdvanceRollout finds its lock released by this rollback); it changes no routing.'
      : 'No release execution held the rollout lock: no execution to stop.',
  );
  return result;
}
