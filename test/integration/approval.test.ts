/**
 * Approval before the rollout: the real release ASL (CheckApproval → AwaitApproval, a .waitForTaskToken state →
 * ExpireApproval) with the real approval handler against the emulators, decided by the real CLI commands. Locally
 * the AwaitApproval binding waits for the decision in the ModelVersions table (local/approval-waiter.ts), which is
 * where `modelops approve|reject` writes it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../../cli/errors';
import type { ApprovalRequest } from '../../lambdas/core/ports';
import { DynamoApprovalStore } from '../../lambdas/adapters/dynamo-approval-store';
import { MODEL_VERSIONS_TABLE } from '../../lambdas/core/tables';
import type { ExecutionResult } from '../../local/asl-runner';
import { loadExample, startHarness, types, type Harness } from './harness';

// credit-risk's manifest sets approval.required (and a high risk tier); breast-cancer's requires none.
const GATED = 'credit-risk';
const SHORT = 'breast-cancer';
let h: Harness;
let runCli: (args: readonly string[], io?: CliIo) => Promise<number>;
let approvals: DynamoApprovalStore;

beforeAll(async () => {
  h = await startHarness({
    config: {
      models: [
        { name: GATED, owner: 'ml-platform', riskTier: 'high', canary: { enabled: true, bakeSeconds: 0 } },
        {
          name: SHORT,
          owner: 'ml-platform',
          approvalRequired: true,
          approvalTimeoutSeconds: 2,
          canary: { enabled: true, bakeSeconds: 0 },
        },
      ],
    },
  });
  ({ runCli } = await import('../../cli/index'));
  approvals = new DynamoApprovalStore(h.target.tables[MODEL_VERSIONS_TABLE.envVar]!);
}, 120_000);

afterAll(async () => {
  await h?.stop();
});

function cli() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } };
}

const targetFlags = () => [
  '--s3-endpoint',
  h.target.s3Endpoint!,
  '--dynamodb-endpoint',
  h.target.dynamodbEndpoint!,
];

async function startRelease(model: typeof GATED | typeof SHORT, version: string): Promise<ExecutionResult> {
  const { manifest, artifact } = await loadExample(model);
  return h.release(await h.stage(model, version, { ...manifest, version }, artifact));
}

/** Polls the stored request until the release waits on it (the state machine stored its token). */
async function pending(model: string, version: string): Promise<ApprovalRequest> {
  for (;;) {
    const request = await approvals.getApproval(model, version);
    if (request?.state === 'PENDING') return request;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('approval before the rollout', () => {
  it('waits for `modelops approve`, then takes the version live; who and why are audited', async () => {
    const running = startRelease(GATED, 'a1');
    const request = await pending(GATED, 'a1');
    expect(request.taskToken).toMatch(/^local-task-token:/);
    expect(request.why).toMatch(/approval\.required/);
    // Nothing routed while waiting.
    expect(await h.metadata.deployments.getDeployment(GATED)).toBeUndefined();

    const shown = cli();
    expect(await runCli(['status', GATED, ...targetFlags()], shown.io)).toBe(0);
    expect(shown.out.join('\n')).toMatch(
      /a1 waits for approval until .*modelops approve\|reject credit-risk a1/,
    );

    const noReason = cli();
    expect(await runCli(['approve', GATED, 'a1', ...targetFlags()], noReason.io)).toBe(2);
    expect(noReason.err.join('\n')).toMatch(/--reason is required/);
    expect((await approvals.getApproval(GATED, 'a1'))?.state).toBe('PENDING');

    const ok = cli();
    expect(
      await runCli(
        ['approve', GATED, 'a1', '--reason', 'model review MR-12 signed off', ...targetFlags()],
        ok.io,
      ),
    ).toBe(0);
    const result = await running;
    expect(result.status).toBe('SUCCEEDED');
    expect((result.output as { approval: { next: string; decidedBy: string } }).approval).toMatchObject({
      next: 'approved',
      decidedBy: expect.stringMatching(/^cli:/),
    });
    // A first version: promoted at once after the approval.
    expect((await h.metadata.deployments.getDeployment(GATED))?.stable).toBe('a1');
    const audit = await h.audit(GATED, 'a1');
    expect(types(audit)).toEqual(
      expect.arrayContaining(['APPROVAL_REQUESTED', 'APPROVAL_GRANTED', 'PROMOTED']),
    );
    const granted = audit.find((e) => e.type === 'APPROVAL_GRANTED')!;
    expect(granted.actor).toMatch(/^cli:/);
    expect(granted.details).toMatchObject({ reason: 'model review MR-12 signed off' });

    // Approving again writes nothing new and says so.
    const again = cli();
    expect(await runCli(['approve', GATED, 'a1', '--reason', 'again', ...targetFlags()], again.io)).toBe(0);
    expect(again.out.join('\n')).toMatch(/already approved/);
    expect(types(await h.audit(GATED, 'a1')).filter((t) => t === 'APPROVAL_GRANTED')).toHaveLength(1);
  }, 120_000);

  it('ends ApprovalRejected on `modelops reject`; routing is untouched', async () => {
    const before = await h.metadata.deployments.getDeployment(GATED);
    const running = startRelease(GATED, 'a2');
    await pending(GATED, 'a2');
    const r = cli();
    expect(
      await runCli(['reject', GATED, 'a2', '--reason', 'fairness review open', ...targetFlags()], r.io),
    ).toBe(0);
    const result = await running;
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('ApprovalRejected');
    expect(await h.metadata.deployments.getDeployment(GATED)).toEqual(before);
    const rejected = (await h.audit(GATED, 'a2')).find((e) => e.type === 'APPROVAL_REJECTED');
    expect(rejected?.details).toMatchObject({ reason: 'fairness review open' });
    expect(types(await h.audit(GATED, 'a2'))).not.toContain('ROLLOUT_STARTED');
    // A contrary decision afterwards is refused.
    const late = cli();
    expect(
      await runCli(['approve', GATED, 'a2', '--reason', 'changed my mind', ...targetFlags()], late.io),
    ).toBe(2);
    expect(late.err.join('\n')).toMatch(/already rejected/);
  }, 120_000);

  it('times out into ApprovalTimedOut when nobody decides; a late approval is refused', async () => {
    const result = await startRelease(SHORT, 't1');
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('ApprovalTimedOut');
    expect(result.history.map((e) => e.state)).toContain('ExpireApproval');
    expect((await approvals.getApproval(SHORT, 't1'))?.state).toBe('TIMED_OUT');
    expect(types(await h.audit(SHORT, 't1'))).toEqual(
      expect.arrayContaining(['APPROVAL_REQUESTED', 'APPROVAL_TIMED_OUT']),
    );
    expect(await h.metadata.deployments.getDeployment(SHORT)).toBeUndefined();
    const late = cli();
    expect(await runCli(['approve', SHORT, 't1', '--reason', 'sorry, late', ...targetFlags()], late.io)).toBe(
      2,
    );
    expect(late.err.join('\n')).toMatch(/timed out/);
  }, 120_000);

  it('refuses to decide a version with no request, and bad arguments, writing nothing', async () => {
    const none = cli();
    expect(await runCli(['approve', GATED, 'nope', '--reason', 'x', ...targetFlags()], none.io)).toBe(2);
    expect(none.err.join('\n')).toMatch(/has no approval request/);
    const bad = cli();
    expect(await runCli(['reject', 'Bad_Name', 'v1', '--reason', 'x', ...targetFlags()], bad.io)).toBe(2);
    expect(bad.err.join('\n')).toMatch(/<model>/);
  });
});
