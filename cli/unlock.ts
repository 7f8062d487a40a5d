/**
 * `modelops unlock <model> --reason <text>`: releases a model's rollout lock by hand, typically one left by a release
 * execution that died (before its `expiresAt` lets the next release take it over). The same write clears the
 * candidate, so no half-finished canary keeps serving (lambdas/core/manual-rollout.ts).
 */
import { unlockModel, type ManualRolloutResult } from '../lambdas/core/manual-rollout';
import type { RoutingChangeStores } from '../lambdas/core/promotion';
import type { CliIo } from './errors';
import { cliActor } from './promote';
import { runRoutingChange } from './promote';
import { alreadyDone, describeRouting, requireReason } from './rollback';
import type { Target } from './target';

export async function unlock(
  model: string,
  options: { readonly reason?: string },
  target: Target,
  io: CliIo,
  stores?: RoutingChangeStores,
  now: () => number = Date.now,
): Promise<ManualRolloutResult> {
  const reason = requireReason(options.reason);
  const nowMs = now();
  const result = await runRoutingChange(
    target,
    io,
    (s) => unlockModel(s, { model, actor: cliActor(), reason, nowMs }),
    stores,
  );
  if (!result.changed) {
    io.out(alreadyDone(model, result, 'unlocked'));
    return result;
  }
  const lock = result.releasedLock!;
  const expired = Date.parse(lock.expiresAt) <= nowMs;
  io.out(`Before: ${describeRouting(result.before)}`);
  io.out(
    `ROLLOUT_UNLOCKED ${model}: lock of ${lock.executionId} (candidate ${lock.candidate}, ` +
      `${expired ? `expired at ${lock.expiresAt}` : `held until ${lock.expiresAt}`}) released; ` +
      `${describeRouting(result.record)}. Stable serves all traffic within the routing cache TTL.`,
  );
  io.out(
    `The release execution ${lock.executionId}, ${expired ? 'if it is still running' : 'which may still be running'}, ` +
      'ends Superseded at its next step (it finds its lock gone and changes no routing). A new release can take ' +
      'the lock now.',
  );
  return result;
}
