/** Approval before the rollout (lambdas/core/approval.ts): who decides, retries, twins, crashes and timeouts. */
import { beforeEach, describe, expect, it } from 'vitest';
import {
  approvalRequirement,
  approvalResume,
  ApprovalRefusedError,
  checkApproval,
  decideApproval,
  expireApproval,
  requestApproval,
  type ApprovalPolicy,
} from '../../lambdas/core/approval';
import {
  approvalEventSchema,
  approvalPoliciesEnvValue,
  parseApprovalPolicies,
} from '../../lambdas/core/approval-events';
import { ConfigurationError } from '../../lambdas/core/errors';
import {
  ApprovalConflictError,
  type ApprovalRequest,
  type ApprovalStore,
  type VersionRecord,
} from '../../lambdas/core/ports';
import { FakeAuditLog, FakeVersionStore } from './fakes';

/** The request attribute in memory, with DynamoDB's conditions: the version must exist, the revision must match. */
class FakeApprovalStore implements ApprovalStore {
  readonly requests = new Map<string, ApprovalRequest>();
  writes = 0;
  /** Runs before the condition is checked: a concurrent writer, or a crash (throw). */
  beforePut?: () => void | Promise<void>;
  constructor(private readonly versions: FakeVersionStore) {}

  async getApproval(model: string, version: string) {
    return this.requests.get(`${model}#${version}`);
  }
  async putApproval(
    model: string,
    version: string,
    request: ApprovalRequest,
    options: { readonly expectedRevision: number | undefined },
  ) {
    await this.beforePut?.();
    const key = `${model}#${version}`;
    if (!(await this.versions.getVersion(model, version))) throw new ApprovalConflictError(model, version);
    if (this.requests.get(key)?.revision !== options.expectedRevision) {
      throw new ApprovalConflictError(model, version);
    }
    this.requests.set(key, request);
    this.writes += 1;
  }
}

const MODEL = 'credit-risk';
const V = 'v2';
const EXEC = 'arn:aws:states:us-east-1:000000000000:execution:release:e1';
const T0 = Date.parse('2026-12-03T10:00:00Z');
const POLICY: ApprovalPolicy = { riskTier: 'medium', timeoutSeconds: 3600 };

let versions: FakeVersionStore;
let approvals: FakeApprovalStore;
let audit: FakeAuditLog;
let stores: { versions: FakeVersionStore; approvals: FakeApprovalStore; audit: FakeAuditLog };

function registered(approval: VersionRecord['approval'] = { required: true, riskTier: 'medium' }) {
  versions.records.set(`${MODEL}#${V}`, {
    model: MODEL,
    version: V,
    status: 'REGISTERED',
    createdAt: new Date(T0).toISOString(),
    updatedAt: new Date(T0).toISOString(),
    approval,
  });
}

const request = (over: { executionId?: string; taskToken?: string; nowMs?: number } = {}) =>
  requestApproval(stores, {
    model: MODEL,
    version: V,
    executionId: over.executionId ?? EXEC,
    taskToken: over.taskToken ?? 'token-1',
    why: 'the manifest sets approval.required',
    timeoutSeconds: 3600,
    nowMs: over.nowMs ?? T0,
  });

const decide = (
  decision: 'approve' | 'reject',
  over: { reason?: string; nowMs?: number; actor?: string } = {},
) =>
  decideApproval(stores, {
    model: MODEL,
    version: V,
    decision,
    actor: over.actor ?? 'cli:alice',
    reason: over.reason ?? 'reviewed in MR-12',
    nowMs: over.nowMs ?? T0 + 60_000,
  });

beforeEach(() => {
  versions = new FakeVersionStore();
  approvals = new FakeApprovalStore(versions);
  audit = new FakeAuditLog();
  stores = { versions, approvals, audit };
  registered();
});

describe('approvalRequirement', () => {
  it('lets the config override the manifest either way', () => {
    expect(
      approvalRequirement({ approval: { required: true, riskTier: 'high' } }, { ...POLICY, required: false }),
    ).toMatchObject({ required: false, why: expect.stringMatching(/approvalRequired is false/) });
    expect(
      approvalRequirement({ approval: { required: false, riskTier: 'low' } }, { ...POLICY, required: true }),
    ).toMatchObject({ required: true });
  });

  it('requires approval for a manifest that asks for it or a high risk tier in either place', () => {
    expect(approvalRequirement({ approval: { required: true, riskTier: 'low' } }, POLICY).required).toBe(
      true,
    );
    expect(approvalRequirement({ approval: { required: false, riskTier: 'high' } }, POLICY).required).toBe(
      true,
    );
    expect(
      approvalRequirement(
        { approval: { required: false, riskTier: 'low' } },
        { ...POLICY, riskTier: 'high' },
      ),
    ).toMatchObject({ required: true });
    expect(approvalRequirement({ approval: { required: false, riskTier: 'medium' } }, POLICY).required).toBe(
      false,
    );
  });
});

describe('checkApproval', () => {
  const check = (policy: ApprovalPolicy | undefined = POLICY, nowMs = T0) =>
    checkApproval(stores, { model: MODEL, version: V, executionId: EXEC, policy, nowMs });

  it('needs no approval without an automatic rollout (a person promotes by hand)', async () => {
    const outcome = await checkApproval(stores, {
      model: MODEL,
      version: V,
      executionId: EXEC,
      policy: undefined,
      nowMs: T0,
    });
    expect(outcome).toMatchObject({
      next: 'not-required',
      why: expect.stringMatching(/canary/),
    });
  });

  it('asks with the configured timeout, and after a retry with the time left', async () => {
    expect(await check()).toEqual({ next: 'request', why: expect.any(String), timeoutSeconds: 3600 });
    await request();
    expect(await check(POLICY, T0 + 600_500)).toMatchObject({ next: 'request', timeoutSeconds: 3000 });
  });

  it("returns this execution's decision when it comes back after one", async () => {
    await request();
    await decide('approve');
    expect(await check()).toMatchObject({ next: 'approved', decidedBy: 'cli:alice' });
  });

  it('refuses a version that is not REGISTERED', async () => {
    versions.records.clear();
    await expect(check()).rejects.toBeInstanceOf(ApprovalRefusedError);
  });
});

describe('requestApproval', () => {
  it('stores the token and expiry, audits once, and returns the notification', async () => {
    const { request: stored, notification } = await request();
    expect(stored).toMatchObject({ state: 'PENDING', taskToken: 'token-1', revision: 1 });
    expect(stored.expiresAt).toBe(new Date(T0 + 3_600_000).toISOString());
    expect(notification.detailType).toBe('ApprovalRequested');
    expect(notification.detail).toMatchObject({
      model: MODEL,
      version: V,
      approve: expect.stringMatching(/approve/),
    });
    expect(audit.types()).toEqual(['APPROVAL_REQUESTED']);
  });

  it('a retry of the same execution replaces only the token; the audit is not repeated', async () => {
    await request();
    const { request: again } = await request({ taskToken: 'token-2', nowMs: T0 + 5000 });
    expect(again).toMatchObject({
      taskToken: 'token-2',
      revision: 2,
      expiresAt: new Date(T0 + 3_600_000).toISOString(),
    });
    expect(audit.types()).toEqual(['APPROVAL_REQUESTED']);
  });

  it("replaces an earlier execution's request (a new release of the version asks again)", async () => {
    await request({ executionId: 'old' });
    const { request: mine } = await request();
    expect(mine.executionId).toBe(EXEC);
    expect(audit.events.at(-1)?.details).toMatchObject({ replacedRequestOf: 'old' });
  });

  it('keeps a decision made before a retried attempt (ExpireApproval reads it later)', async () => {
    await request();
    await decide('approve');
    const { request: after } = await request({ taskToken: 'token-3' });
    expect(after.state).toBe('APPROVED');
  });
});

describe('decideApproval', () => {
  beforeEach(async () => {
    await request();
  });

  it('approves with one write and audits who and why; the resume carries the outcome', async () => {
    const { request: decided, written } = await decide('approve');
    expect(written).toBe(true);
    expect(decided).toMatchObject({
      state: 'APPROVED',
      decidedBy: 'cli:alice',
      decisionReason: 'reviewed in MR-12',
    });
    expect(audit.events.at(-1)).toMatchObject({
      type: 'APPROVAL_GRANTED',
      actor: 'cli:alice',
      details: { reason: 'reviewed in MR-12', executionId: EXEC },
    });
    expect(approvalResume(decided)).toEqual({
      kind: 'succeed',
      output: expect.objectContaining({ next: 'approved', decidedBy: 'cli:alice' }),
    });
  });

  it('a rejection resumes with the ApprovalRejected error naming who and why', async () => {
    const { request: decided } = await decide('reject', { reason: 'fairness review open' });
    expect(approvalResume(decided)).toEqual({
      kind: 'fail',
      error: 'ApprovalRejected',
      cause: expect.stringMatching(/cli:alice.*fairness review open/),
    });
  });

  it('refuses an empty reason, an expired request and a contrary decision, writing nothing', async () => {
    const writes = approvals.writes;
    await expect(decide('approve', { reason: '  ' })).rejects.toThrow(/--reason/);
    await expect(decide('approve', { nowMs: T0 + 3_600_000 })).rejects.toThrow(/expired/);
    expect(approvals.writes).toBe(writes);
    await decide('approve');
    await expect(decide('reject')).rejects.toThrow(/already approved by cli:alice/);
    expect(audit.types().filter((t) => t.startsWith('APPROVAL_')).length).toBe(2);
  });

  it('two approvals racing: one write, one audit event; the loser is told to run again or sees it done', async () => {
    let gate: () => void = () => {};
    const held = new Promise<void>((resolve) => (gate = resolve));
    let first = true;
    approvals.beforePut = async () => {
      if (first) {
        first = false;
        await held;
      }
    };
    const a = decide('approve', { actor: 'cli:alice' });
    await new Promise((r) => setImmediate(r));
    const b = decide('approve', { actor: 'cli:bob' });
    const bResult = await b.then(
      (r) => r,
      (e: unknown) => e,
    );
    gate();
    const aResult = await a.then(
      (r) => r,
      (e: unknown) => e,
    );
    const outcomes = [aResult, bResult];
    expect(outcomes.filter((o) => o instanceof ApprovalRefusedError)).toHaveLength(1);
    expect(audit.types().filter((t) => t === 'APPROVAL_GRANTED')).toHaveLength(1);
    expect((await approvals.getApproval(MODEL, V))?.decidedBy).toBe('cli:bob');
  });

  it('a crash between the write and the audit is repaired by running the command again', async () => {
    const append = audit.appendAudit.bind(audit);
    audit.appendAudit = async () => {
      throw new Error('crash');
    };
    await expect(decide('approve')).rejects.toThrow('crash');
    audit.appendAudit = append;
    const again = await decide('approve', { nowMs: T0 + 120_000 });
    expect(again.written).toBe(false);
    expect(audit.types().filter((t) => t === 'APPROVAL_GRANTED')).toHaveLength(1);
    // The event carries the time of the decision, not of the repair.
    expect(audit.events.at(-1)?.at).toBe(new Date(T0 + 60_000).toISOString());
  });

  it('closes a request whose release has ended instead of deciding it, and refuses with what to do', async () => {
    const asked: string[] = [];
    const executions = {
      statusOf: async (id: string) => {
        asked.push(id);
        return 'ABORTED';
      },
    };
    const dead = () =>
      decideApproval(
        { ...stores, executions },
        {
          model: MODEL,
          version: V,
          decision: 'approve',
          actor: 'cli:alice',
          reason: 'ok',
          nowMs: T0 + 60_000,
        },
      );
    await expect(dead()).rejects.toThrow(
      new RegExp(`\\(${EXEC}\\) ended ABORTED before a decision.*push the version again`),
    );
    expect(asked).toEqual([EXEC]);
    expect(await approvals.getApproval(MODEL, V)).toMatchObject({
      state: 'ABANDONED',
      decidedBy: 'cli:alice',
    });
    expect(audit.events.at(-1)).toMatchObject({
      type: 'APPROVAL_ABANDONED',
      details: { executionStatus: 'ABORTED', executionId: EXEC },
    });
    // Asking again: refused from the stored state, audited once.
    await expect(decide('reject')).rejects.toThrow(/ended before a decision.*ABORTED/);
    expect(audit.types().filter((t) => t === 'APPROVAL_ABANDONED')).toHaveLength(1);
  });

  it('decides as usual while the release runs or when its status cannot be told', async () => {
    for (const status of ['RUNNING', undefined]) {
      await request();
      const executions = { statusOf: async () => status };
      const { written } = await decideApproval(
        { ...stores, executions },
        {
          model: MODEL,
          version: V,
          decision: 'approve',
          actor: 'cli:alice',
          reason: 'ok',
          nowMs: T0 + 60_000,
        },
      );
      expect(written).toBe(true);
      approvals.requests.clear();
    }
  });

  it('refuses a version with no request', async () => {
    approvals.requests.clear();
    await expect(decide('approve')).rejects.toThrow(/has no approval request/);
  });
});

describe('expireApproval', () => {
  const expire = (executionId = EXEC) =>
    expireApproval(stores, { model: MODEL, version: V, executionId, nowMs: T0 + 3_600_000 });

  it('turns a pending request into TIMED_OUT, audited once however often it runs', async () => {
    await request();
    expect(await expire()).toMatchObject({ next: 'timed-out' });
    expect(await expire()).toMatchObject({ next: 'timed-out' });
    expect((await approvals.getApproval(MODEL, V))?.state).toBe('TIMED_OUT');
    expect(audit.types().filter((t) => t === 'APPROVAL_TIMED_OUT')).toHaveLength(1);
  });

  it('honours a decision whose resume was lost', async () => {
    await request();
    await decide('approve');
    expect(await expire()).toMatchObject({ next: 'approved' });
  });

  it("changes nothing when the request is another execution's", async () => {
    await request({ executionId: 'other' });
    const writes = approvals.writes;
    expect(await expire()).toMatchObject({ next: 'timed-out', why: expect.stringMatching(/other/) });
    expect(approvals.writes).toBe(writes);
  });
});

describe('approval events and policies', () => {
  it('names the bad field of a malformed event', () => {
    const parsed = approvalEventSchema.safeParse({
      action: 'request',
      executionId: EXEC,
      registration: { model: MODEL, version: V },
    });
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues.map((i) => i.path.join('.'))).toEqual(
      expect.arrayContaining(['taskToken', 'approval']),
    );
    expect(approvalEventSchema.safeParse({ action: 'approve' }).success).toBe(false);
  });

  it('lists only models with an automatic rollout, and round-trips', () => {
    const value = approvalPoliciesEnvValue([
      {
        name: 'a',
        approvalRequired: true,
        riskTier: 'low',
        approvalTimeoutSeconds: 60,
        canary: { enabled: true },
      },
      { name: 'b', riskTier: 'high', approvalTimeoutSeconds: 60, canary: { enabled: false } },
    ]);
    expect([...parseApprovalPolicies(value).entries()]).toEqual([
      ['a', { required: true, riskTier: 'low', timeoutSeconds: 60 }],
    ]);
    expect(() => parseApprovalPolicies('{"a":{"riskTier":"extreme","timeoutSeconds":1}}')).toThrow(
      ConfigurationError,
    );
    expect(() => parseApprovalPolicies('{')).toThrow(/APPROVAL_POLICIES is not JSON/);
  });
});
