/**
 * The local binding of AwaitApproval (DESIGN.md toolchain note): aws-local-stepfunctions does not pause on a task
 * token, and `modelops approve|reject` runs in another process with no Step Functions to call, so the binding waits
 * for the decision where the CLI writes it, the approval request on the version's ModelVersions item, and resumes
 * the state the way SendTaskSuccess / SendTaskFailure would (lambdas/core/approval.ts `approvalResume`).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { approvalResume } from '../lambdas/core/approval';
import type { ApprovalStore } from '../lambdas/core/ports';
import type { TaskTokenWaiter } from './asl-runner';
import type { LocalLogger } from './logger';

/** Reads of the request while a release waits; the CLI's decision is seen within one interval. */
export const APPROVAL_POLL_MS = 200;

/** The state's timeout fired (the runner's own timer normally fires first; this ends the polling too). */
class StatesTimeoutError extends Error {
  override name = 'States.Timeout';
}

export function approvalWaiter(
  approvals: ApprovalStore,
  logger: LocalLogger,
  options: { readonly pollMs?: number; readonly signal?: AbortSignal } = {},
): TaskTokenWaiter {
  const pollMs = options.pollMs ?? APPROVAL_POLL_MS;
  return async (payload) => {
    const { executionId, registration } = payload as {
      executionId: string;
      registration: { model: string; version: string };
    };
    const { model, version } = registration;
    let announced = false;
    for (;;) {
      const request = await approvals.getApproval(model, version);
      const mine = request?.executionId === executionId ? request : undefined;
      const resume = mine && approvalResume(mine);
      if (resume?.kind === 'succeed') return resume.output;
      if (resume?.kind === 'fail') throw Object.assign(new Error(resume.cause), { name: resume.error });
      if (mine?.state === 'TIMED_OUT' || (mine && Date.parse(mine.expiresAt) < Date.now())) {
        throw new StatesTimeoutError(`the approval of ${model} ${version} timed out at ${mine.expiresAt}`);
      }
      if (mine && !announced) {
        announced = true;
        logger.info(
          `${model} ${version} waits for approval until ${mine.expiresAt} (${mine.why}): run ` +
            `npm run cli -- approve ${model} ${version} --reason "…" (or reject)`,
        );
      }
      if (options.signal?.aborted) throw new StatesTimeoutError('local mode stopped while waiting');
      await sleep(pollMs);
    }
  };
}
