/**
 * `modelops approve|reject <model> <version> --reason …`: decides a release that waits for approval
 * (lambdas/core/approval.ts). The decision is one conditional write of the version's approval request, audited with
 * who and why; then the waiting state machine task is resumed through its stored token (SendTaskSuccess /
 * SendTaskFailure). Against local mode there is no Step Functions to call: the local binding sees the decision in
 * the table within a fraction of a second.
 */
import { SFNClient } from '@aws-sdk/client-sfn';
import { createDocumentClient } from '../lambdas/adapters/clients';
import { DynamoApprovalStore } from '../lambdas/adapters/dynamo-approval-store';
import { DynamoAuditLog } from '../lambdas/adapters/dynamo-audit-log';
import {
  StepFunctionsExecutionStatus,
  StepFunctionsTaskCallback,
  TaskNoLongerWaitingError,
} from '../lambdas/adapters/sfn-task-callback';
import { approvalResume, ApprovalRefusedError, decideApproval } from '../lambdas/core/approval';
import { MODEL_NAME_PATTERN, VERSION_PATTERN } from '../lambdas/core/names';
import type {
  ApprovalStore,
  AuditLogStore,
  ExecutionStatusReader,
  TaskCallback,
} from '../lambdas/core/ports';
import { AUDIT_LOG_TABLE, MODEL_VERSIONS_TABLE } from '../lambdas/core/tables';
import { CliError, UsageError, type CliIo } from './errors';
import { cliActor } from './promote';
import { dynamoClient, type Target } from './target';

export interface ApprovalDeps {
  readonly approvals: ApprovalStore;
  readonly audit: AuditLogStore;
  /** Undefined against local mode, whose binding reads the decision from the table. */
  readonly callback: TaskCallback | undefined;
  /** Whether the asking release still runs; undefined against local mode (it resumes every unfinished execution). */
  readonly executions?: ExecutionStatusReader;
}

function approvalDeps(target: Target): ApprovalDeps {
  const doc = createDocumentClient(dynamoClient(target));
  const stores = {
    approvals: new DynamoApprovalStore(target.tables[MODEL_VERSIONS_TABLE.envVar]!, doc),
    audit: new DynamoAuditLog(target.tables[AUDIT_LOG_TABLE.envVar]!, doc),
  };
  if (target.dynamodbEndpoint !== undefined) return { ...stores, callback: undefined };
  const sfn = new SFNClient({ region: target.region });
  return {
    ...stores,
    callback: new StepFunctionsTaskCallback(sfn),
    executions: new StepFunctionsExecutionStatus(sfn),
  };
}

/** Decides the request and resumes the waiting release; returns what it printed last. */
export async function decide(
  decision: 'approve' | 'reject',
  model: string,
  version: string,
  reason: string | undefined,
  target: Target,
  io: CliIo,
  deps: ApprovalDeps = approvalDeps(target),
): Promise<void> {
  if (!MODEL_NAME_PATTERN.test(model))
    throw new UsageError(`<model> "${model}" is not a model name (a-z, 0-9, "-")`);
  if (!VERSION_PATTERN.test(version)) {
    throw new UsageError(`<version> "${version}" is not a version (A-Z, a-z, 0-9, ".", "_", "-")`);
  }
  if (reason === undefined || reason.trim() === '') {
    throw new UsageError(`--reason is required: say why you ${decision} ${model} ${version} (it is audited)`);
  }
  io.out(`Target: ${target.description}`);
  let decided;
  try {
    decided = await decideApproval(deps, {
      model,
      version,
      decision,
      actor: cliActor(),
      reason,
      nowMs: Date.now(),
    });
  } catch (err) {
    if (err instanceof ApprovalRefusedError) throw new UsageError(err.message);
    throw new CliError(
      `deciding the approval at ${target.description} failed: ${(err as Error).message}` +
        (target.dynamodbEndpoint ? ' (is `npm start` running?)' : ''),
    );
  }
  const { request, written } = decided;
  const verb = decision === 'approve' ? 'APPROVED' : 'REJECTED';
  io.out(
    written
      ? `${verb} ${model} ${version} (release ${request.executionId}), audited as ${decision === 'approve' ? 'APPROVAL_GRANTED' : 'APPROVAL_REJECTED'}.`
      : `${model} ${version} was already ${verb.toLowerCase()} by ${request.decidedBy}; resuming the release again.`,
  );
  const resume = approvalResume(request)!;
  if (deps.callback === undefined) {
    io.out('Local mode: the waiting release reads the decision from the table and goes on.');
    return;
  }
  try {
    if (resume.kind === 'succeed') await deps.callback.succeed(request.taskToken, resume.output);
    else await deps.callback.fail(request.taskToken, resume.error, resume.cause);
    io.out(
      `Resumed the release: ${decision === 'approve' ? 'it goes on to the rollout' : 'it ends ApprovalRejected'}.`,
    );
  } catch (err) {
    if (err instanceof TaskNoLongerWaitingError) {
      // A twin command resumed it already, or the wait timed out; ExpireApproval honours a stored decision.
      io.out(`The release was no longer waiting (${err.message}); the stored decision stands.`);
      return;
    }
    throw new CliError(
      `the decision is stored, but resuming the release failed: ${(err as Error).message}. Run the same command ` +
        'again to resume it; if nobody does, the release reads the decision when its approval wait times out.',
    );
  }
}
