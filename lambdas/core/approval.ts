/**
 * Approval before any traffic reaches a version (stepfunctions/release.asl.json: CheckApproval → AwaitApproval →
 * ExpireApproval; docs/rollout.md "Approval"). Pure of AWS: the request lives behind the ApprovalStore port, the
 * ledger behind AuditLogStore, and the clock is passed in.
 *
 * The state machine waits on a task token (`.waitForTaskToken`) stored with the request; `modelops approve|reject`
 * decides the request with one conditional write and then resumes the token. The write is the decision: if the
 * resume is lost (a crash, a network failure), re-running the command resumes again, and the timeout path
 * (ExpireApproval) reads the decision from the store instead of assuming none was made.
 */
import { appendAuditOnce, idempotentAuditEvent } from './audit';
import {
  ApprovalConflictError,
  type ApprovalRequest,
  type ApprovalStore,
  type AuditEventType,
  type AuditLogStore,
  type DomainEvent,
  type ExecutionStatusReader,
  type VersionRecord,
  type VersionStore,
} from './ports';
import { RoutingChangeRefusedError } from './promotion';

export const RISK_TIERS_REQUIRING_APPROVAL = ['high'] as const;

/** A model's approval settings (config `models[]`: approvalRequired, riskTier, approvalTimeoutSeconds). */
export interface ApprovalPolicy {
  /** Set: overrides every manifest's `approval.required` (and the risk tier). Unset: the manifest decides. */
  readonly required?: boolean;
  readonly riskTier: 'low' | 'medium' | 'high';
  /** How long a release waits for a decision before it ends as rejected. */
  readonly timeoutSeconds: number;
}

/** What CheckApproval and ExpireApproval return; the ApprovalRoute Choice branches on `next`. */
export interface ApprovalOutcome {
  readonly next: 'not-required' | 'request' | 'approved' | 'rejected' | 'timed-out';
  readonly why: string;
  /** `request` only: seconds left to wait (Step Functions' TimeoutSecondsPath needs a whole number >= 1). */
  readonly timeoutSeconds?: number;
  readonly decidedBy?: string;
  readonly decisionReason?: string;
}

/** The event the bus carries when a release starts waiting (EventBridge routes it to the notification topic). */
export const APPROVAL_REQUESTED_EVENT = {
  source: 'modelops',
  detailType: 'ApprovalRequested',
} as const;

/** A decision that cannot be made: the message says why and what to do. */
export class ApprovalRefusedError extends RoutingChangeRefusedError {
  override name = 'ApprovalRefusedError';
}

/**
 * Whether `version` needs a person's approval: the config's `approvalRequired` when set, else the manifest's
 * `approval.required`, or a high risk tier in the manifest or the config.
 */
export function approvalRequirement(
  version: Pick<VersionRecord, 'approval'>,
  policy: ApprovalPolicy,
): { readonly required: boolean; readonly why: string } {
  if (policy.required !== undefined) {
    return {
      required: policy.required,
      why: `models[].approvalRequired is ${policy.required} in the config`,
    };
  }
  if (version.approval?.required === true) {
    return { required: true, why: 'the manifest sets approval.required' };
  }
  const tiers = [version.approval?.riskTier, policy.riskTier];
  if (tiers.some((t) => (RISK_TIERS_REQUIRING_APPROVAL as readonly string[]).includes(t ?? ''))) {
    return { required: true, why: 'the risk tier is high (manifest approval.riskTier or models[].riskTier)' };
  }
  return { required: false, why: 'neither the config nor the manifest requires approval' };
}

/** The error a rejection resumes the waiting state with (SendTaskFailure); AwaitApproval's Catch matches it. */
export const APPROVAL_REJECTED_ERROR = 'ApprovalRejected';

/**
 * How a decided request resumes the waiting state: an approval is SendTaskSuccess with `output` (the state's result,
 * `$.approval`), a rejection is SendTaskFailure with `error` and `cause`. The same for `modelops approve|reject` in
 * AWS and the local binding.
 */
export function approvalResume(
  request: ApprovalRequest,
):
  | { readonly kind: 'succeed'; readonly output: ApprovalOutcome }
  | { readonly kind: 'fail'; readonly error: string; readonly cause: string }
  | undefined {
  if (request.state === 'APPROVED') return { kind: 'succeed', output: outcomeOf(request) };
  if (request.state === 'REJECTED') {
    return {
      kind: 'fail',
      error: APPROVAL_REJECTED_ERROR,
      cause: `rejected by ${request.decidedBy} at ${request.decidedAt}: ${request.decisionReason}`,
    };
  }
  return undefined;
}

function outcomeOf(request: ApprovalRequest): ApprovalOutcome {
  const next =
    request.state === 'APPROVED' ? 'approved' : request.state === 'REJECTED' ? 'rejected' : 'timed-out';
  return {
    next,
    why: request.why,
    ...(request.decidedBy !== undefined ? { decidedBy: request.decidedBy } : {}),
    ...(request.decisionReason !== undefined ? { decisionReason: request.decisionReason } : {}),
  };
}

function audited(
  request: ApprovalRequest,
  ids: { readonly model: string; readonly version: string },
  type: AuditEventType,
  actor: string,
  at: string,
  details: Readonly<Record<string, unknown>>,
) {
  return idempotentAuditEvent(
    {
      model: ids.model,
      version: ids.version,
      type,
      actor,
      details: { executionId: request.executionId, ...details },
    },
    `${type}\n${request.executionId}\n${ids.version}`,
    new Date(at),
  );
}

/**
 * CheckApproval: is approval needed, and has this execution's request been decided already (a retry, or the state
 * machine coming back after a decision)? `request` carries the seconds left to wait.
 */
export async function checkApproval(
  stores: { readonly versions: Pick<VersionStore, 'getVersion'>; readonly approvals: ApprovalStore },
  input: {
    readonly model: string;
    readonly version: string;
    readonly executionId: string;
    readonly policy: ApprovalPolicy | undefined;
    readonly nowMs: number;
  },
): Promise<ApprovalOutcome> {
  const { model, version, executionId, policy, nowMs } = input;
  const [record, request] = await Promise.all([
    stores.versions.getVersion(model, version),
    stores.approvals.getApproval(model, version),
  ]);
  if (record?.status !== 'REGISTERED') {
    throw new ApprovalRefusedError(`${model} ${version} is not REGISTERED; nothing to approve`, 'version');
  }
  if (policy === undefined) {
    return {
      next: 'not-required',
      why: 'the model has no automatic rollout (models[].canary.enabled); a person promotes it by hand',
    };
  }
  const { required, why } = approvalRequirement(record, policy);
  if (!required) return { next: 'not-required', why };
  if (request?.executionId === executionId) {
    if (request.state !== 'PENDING') return outcomeOf(request);
    const left = Math.ceil((Date.parse(request.expiresAt) - nowMs) / 1000);
    return { next: 'request', why, timeoutSeconds: Math.max(1, left) };
  }
  return { next: 'request', why, timeoutSeconds: policy.timeoutSeconds };
}

/**
 * AwaitApproval's function: stores the request with the state's task token (the state machine then waits for it),
 * audits it and returns the notification to publish. A retry of the same execution keeps its expiry and replaces only
 * the token (each attempt of a waiting state has its own); a request left by an earlier execution is replaced.
 */
export async function requestApproval(
  stores: { readonly approvals: ApprovalStore; readonly audit: AuditLogStore },
  input: {
    readonly model: string;
    readonly version: string;
    readonly executionId: string;
    readonly taskToken: string;
    readonly why: string;
    readonly timeoutSeconds: number;
    readonly nowMs: number;
  },
): Promise<{ readonly request: ApprovalRequest; readonly notification: DomainEvent }> {
  const { model, version, executionId, nowMs } = input;
  const existing = await stores.approvals.getApproval(model, version);
  const mine = existing?.executionId === executionId;
  if (mine && existing.state !== 'PENDING') {
    // Decided before this attempt started: keep the decision; ExpireApproval reads it when this wait times out.
    return { request: existing, notification: notification(existing, model, version) };
  }
  const requestedAt = mine ? existing.requestedAt : new Date(nowMs).toISOString();
  const request: ApprovalRequest = {
    state: 'PENDING',
    executionId,
    taskToken: input.taskToken,
    why: input.why,
    requestedAt,
    expiresAt: mine ? existing.expiresAt : new Date(nowMs + input.timeoutSeconds * 1000).toISOString(),
    revision: (existing?.revision ?? 0) + 1,
  };
  await stores.approvals.putApproval(model, version, request, { expectedRevision: existing?.revision });
  await appendAuditOnce(
    stores.audit,
    audited(request, { model, version }, 'APPROVAL_REQUESTED', executionId, requestedAt, {
      why: input.why,
      expiresAt: request.expiresAt,
      ...(existing !== undefined && !mine ? { replacedRequestOf: existing.executionId } : {}),
    }),
  );
  return { request, notification: notification(request, model, version) };
}

function notification(request: ApprovalRequest, model: string, version: string): DomainEvent {
  return {
    ...APPROVAL_REQUESTED_EVENT,
    detail: {
      model,
      version,
      executionId: request.executionId,
      why: request.why,
      requestedAt: request.requestedAt,
      expiresAt: request.expiresAt,
      approve: `modelops approve ${model} ${version} --reason "<why>"`,
      reject: `modelops reject ${model} ${version} --reason "<why>"`,
    },
  };
}

/**
 * `modelops approve|reject`: decides the pending request with one conditional write and audits who and why. Returns
 * the decided request; the caller then resumes its task token. Deciding again the same way (a retry after a lost
 * resume) writes nothing and returns the request so the caller can resume again; a contrary or late decision is
 * refused.
 */
export async function decideApproval(
  stores: {
    readonly approvals: ApprovalStore;
    readonly audit: AuditLogStore;
    /**
     * Asked before deciding whether the release that made the request still waits for it.
     * @default - not asked (local mode resumes every unfinished execution when it starts again)
     */
    readonly executions?: ExecutionStatusReader;
  },
  input: {
    readonly model: string;
    readonly version: string;
    readonly decision: 'approve' | 'reject';
    readonly actor: string;
    readonly reason: string;
    readonly nowMs: number;
  },
): Promise<{ readonly request: ApprovalRequest; readonly written: boolean }> {
  const { model, version, decision, actor, nowMs } = input;
  const reason = input.reason.trim();
  if (reason === '' || reason.length > 1000) {
    throw new ApprovalRefusedError('--reason must say why, in 1 to 1000 characters', 'reason');
  }
  const request = await stores.approvals.getApproval(model, version);
  if (request === undefined) {
    throw new ApprovalRefusedError(
      `${model} ${version} has no approval request: one is made when a release of a version that requires approval ` +
        'reaches the rollout (see `modelops status`)',
      'version',
    );
  }
  const state = decision === 'approve' ? 'APPROVED' : 'REJECTED';
  if (request.state !== 'PENDING') {
    if (request.state === state) {
      await appendAuditOnce(stores.audit, decisionEvent(request, model, version));
      return { request, written: false };
    }
    throw new ApprovalRefusedError(
      request.state === 'TIMED_OUT'
        ? `the approval request of ${model} ${version} timed out at ${request.expiresAt}; push the version again to ask again`
        : request.state === 'ABANDONED'
          ? `the release that asked to approve ${model} ${version} ended before a decision (${request.decisionReason}); ` +
            'push the version again to ask again'
          : `${model} ${version} was already ${request.state.toLowerCase()} by ${request.decidedBy} at ${request.decidedAt}`,
      'version',
    );
  }
  if (Date.parse(request.expiresAt) <= nowMs) {
    throw new ApprovalRefusedError(
      `the approval request of ${model} ${version} expired at ${request.expiresAt}; the release has timed out`,
      'version',
    );
  }
  const ended = await endedExecution(stores.executions, request.executionId);
  if (ended !== undefined) return abandon(stores, request, { model, version, actor, nowMs, ended });
  const decided: ApprovalRequest = {
    ...request,
    state,
    decidedBy: actor,
    decidedAt: new Date(nowMs).toISOString(),
    decisionReason: reason,
    revision: request.revision + 1,
  };
  try {
    await stores.approvals.putApproval(model, version, decided, { expectedRevision: request.revision });
  } catch (err) {
    if (err instanceof ApprovalConflictError) {
      throw new ApprovalRefusedError(
        `the approval request of ${model} ${version} was decided or renewed while you decided; run the command again`,
        'version',
      );
    }
    throw err;
  }
  await appendAuditOnce(stores.audit, decisionEvent(decided, model, version));
  return { request: decided, written: true };
}

/** The status of the request's execution when it has ended; undefined while it runs or when it cannot be told. */
async function endedExecution(
  executions: ExecutionStatusReader | undefined,
  executionId: string,
): Promise<string | undefined> {
  const status = await executions?.statusOf(executionId);
  return status === undefined || status === 'RUNNING' ? undefined : status;
}

/**
 * A pending request whose release has ended (stopped by hand, timed out) would otherwise stay PENDING with a dead
 * token: a decision would be stored and reported although nothing acts on it. It is closed instead (ABANDONED,
 * audited with the execution's status) and the decision is refused with what to do.
 */
async function abandon(
  stores: { readonly approvals: ApprovalStore; readonly audit: AuditLogStore },
  request: ApprovalRequest,
  input: {
    readonly model: string;
    readonly version: string;
    readonly actor: string;
    readonly nowMs: number;
    readonly ended: string;
  },
): Promise<never> {
  const { model, version, actor, ended } = input;
  const closed: ApprovalRequest = {
    ...request,
    state: 'ABANDONED',
    decidedBy: actor,
    decidedAt: new Date(input.nowMs).toISOString(),
    decisionReason: `its execution ${request.executionId} ended ${ended}`,
    revision: request.revision + 1,
  };
  try {
    await stores.approvals.putApproval(model, version, closed, { expectedRevision: request.revision });
  } catch (err) {
    if (!(err instanceof ApprovalConflictError)) throw err;
    throw new ApprovalRefusedError(
      `the approval request of ${model} ${version} changed while you decided; run the command again`,
      'version',
    );
  }
  await appendAuditOnce(
    stores.audit,
    audited(closed, { model, version }, 'APPROVAL_ABANDONED', actor, closed.decidedAt!, {
      executionStatus: ended,
    }),
  );
  throw new ApprovalRefusedError(
    `the release that asked to approve ${model} ${version} (${request.executionId}) ended ${ended} before a ` +
      'decision, so nothing waits for one: the request is closed (audited APPROVAL_ABANDONED); push the version ' +
      'again to start a new release',
    'version',
  );
}

function decisionEvent(request: ApprovalRequest, model: string, version: string) {
  return audited(
    request,
    { model, version },
    request.state === 'APPROVED' ? 'APPROVAL_GRANTED' : 'APPROVAL_REJECTED',
    request.decidedBy!,
    request.decidedAt!,
    { reason: request.decisionReason, why: request.why },
  );
}

/**
 * ExpireApproval, after the wait timed out: a request still pending becomes TIMED_OUT (audited). A decision that was
 * written but whose resume never arrived is honoured instead, so a lost callback cannot turn an approval into a
 * rejection.
 */
export async function expireApproval(
  stores: { readonly approvals: ApprovalStore; readonly audit: AuditLogStore },
  input: {
    readonly model: string;
    readonly version: string;
    readonly executionId: string;
    readonly nowMs: number;
  },
): Promise<ApprovalOutcome> {
  const { model, version, executionId, nowMs } = input;
  const request = await stores.approvals.getApproval(model, version);
  if (request?.executionId !== executionId) {
    return {
      next: 'timed-out',
      why:
        request === undefined
          ? 'no approval request was stored for this release'
          : `a later release (${request.executionId}) replaced this release's approval request`,
    };
  }
  if (request.state === 'PENDING') {
    const expired: ApprovalRequest = {
      ...request,
      state: 'TIMED_OUT',
      decidedBy: executionId,
      decidedAt: new Date(nowMs).toISOString(),
      revision: request.revision + 1,
    };
    await stores.approvals.putApproval(model, version, expired, { expectedRevision: request.revision });
    await appendAuditOnce(
      stores.audit,
      audited(expired, { model, version }, 'APPROVAL_TIMED_OUT', executionId, expired.decidedAt!, {
        expiresAt: request.expiresAt,
      }),
    );
    return outcomeOf(expired);
  }
  if (request.state === 'TIMED_OUT') {
    await appendAuditOnce(
      stores.audit,
      audited(request, { model, version }, 'APPROVAL_TIMED_OUT', executionId, request.decidedAt!, {
        expiresAt: request.expiresAt,
      }),
    );
  }
  return outcomeOf(request);
}
