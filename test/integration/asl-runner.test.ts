/**
 * The local ASL runner on the REAL release definition with stand-in handlers: how errors, retries and catches
 * behave, independent of the emulators.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  AslDefinitionError,
  AslRunner,
  loadDefinition,
  localFunctionArn,
  STEPFUNCTIONS_DIR,
  type LambdaHandler,
  type LocalFunction,
  type TaskTokenWaiter,
} from '../../local/asl-runner';
import { memoryLogger } from '../../local/logger';
import { TransientStoreError, VersionConflictError } from '../../lambdas/core/errors';

const RELEASE = path.join(STEPFUNCTIONS_DIR, 'release.asl.json');
const ARNS = {
  ValidateArtifactFunctionArn: localFunctionArn('validate'),
  RegisterVersionFunctionArn: localFunctionArn('register'),
  RecordRejectionFunctionArn: localFunctionArn('record'),
  StartRolloutFunctionArn: localFunctionArn('start'),
  AnalyzeCanaryFunctionArn: localFunctionArn('analyze'),
  AdvanceRolloutFunctionArn: localFunctionArn('advance'),
  DeployCandidateFunctionArn: localFunctionArn('deploy'),
  ApprovalFunctionArn: localFunctionArn('approval'),
};

/** The rollout Tasks after RegisterVersion: these tests stop at registration (the model's canary is off). */
const ROLLOUT_OFF: LambdaHandler = async () => ({ next: 'skipped' });
const NOT_REACHED: LambdaHandler = async () => {
  throw new Error('a rollout Task ran although the canary is off');
};

/** CheckApproval for a model whose releases need no approval: AwaitApproval is never entered. */
const NO_APPROVAL: LambdaHandler = async () => ({ next: 'not-required', why: 'test' });

function runner(
  handlers: { validate: LambdaHandler; register: LambdaHandler; record: LambdaHandler },
  approval: { handler?: LambdaHandler; waiter?: TaskTokenWaiter } = {},
) {
  const logger = memoryLogger();
  const fn = (name: keyof typeof handlers): LocalFunction => ({ name, load: async () => handlers[name] });
  const functions = new Map<string, LocalFunction>([
    [ARNS.ValidateArtifactFunctionArn, fn('validate')],
    [ARNS.RegisterVersionFunctionArn, fn('register')],
    [ARNS.RecordRejectionFunctionArn, fn('record')],
    [ARNS.StartRolloutFunctionArn, { name: 'start', load: async () => ROLLOUT_OFF }],
    [ARNS.AnalyzeCanaryFunctionArn, { name: 'analyze', load: async () => NOT_REACHED }],
    [ARNS.AdvanceRolloutFunctionArn, { name: 'advance', load: async () => NOT_REACHED }],
    [ARNS.DeployCandidateFunctionArn, { name: 'deploy', load: async () => NOT_REACHED }],
    [ARNS.ApprovalFunctionArn, { name: 'approval', load: async () => approval.handler ?? NO_APPROVAL }],
  ]);
  const r = new AslRunner({
    definition: loadDefinition(RELEASE, ARNS),
    stateMachineName: 'release',
    functions,
    taskTokenWaiters: new Map([
      [
        ARNS.ApprovalFunctionArn,
        approval.waiter ??
          (async () => {
            throw new Error('AwaitApproval was entered although no approval is required');
          }),
      ],
    ]),
    logger,
    retryIntervalMs: 1,
  });
  return { r, logger };
}

const input = { bucket: 'b', key: 'incoming/m/v1/manifest.json' };
const ok = async () => ({ ok: true });

describe('AslRunner', () => {
  it('fails with a definition error naming a placeholder without substitution', () => {
    expect(() => loadDefinition(RELEASE, { ValidateArtifactFunctionArn: 'x' })).toThrow(
      /\$\{RegisterVersionFunctionArn\}/,
    );
    expect(() => loadDefinition(RELEASE, { ValidateArtifactFunctionArn: 'x' })).toThrow(AslDefinitionError);
  });

  it('routes a thrown VersionConflictError to the VersionConflict state by its name', async () => {
    const { r } = runner({
      validate: async () => ({ valid: true }),
      register: async () => {
        throw new VersionConflictError('m', 'v1', 'a'.repeat(64), 'b'.repeat(64));
      },
      record: ok,
    });
    const result = await r.run(input);
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('VersionConflict');
    expect(result.history.filter((e) => e.type === 'StateEntered').map((e) => e.state)).toEqual([
      'IsStartedByRetrain',
      'ValidateArtifact',
      'IsArtifactValid',
      'RegisterVersion',
      'VersionConflict',
    ]);
  });

  it('retries TransientStoreError and then succeeds', async () => {
    let calls = 0;
    const { r } = runner({
      validate: async () => {
        calls += 1;
        if (calls < 3) throw new TransientStoreError('throttled');
        return { valid: true };
      },
      register: ok,
      record: ok,
    });
    const result = await r.run(input);
    expect(result.status).toBe('SUCCEEDED');
    expect(calls).toBe(3);
    expect(result.history.filter((e) => e.type === 'StateRetried')).toHaveLength(2);
  });

  it('fails over to RecordFailure with the Lambda-style error document as Cause', async () => {
    let recorded: unknown;
    const { r } = runner({
      validate: async () => {
        throw new TypeError('boom');
      },
      register: ok,
      record: async (event) => {
        recorded = event;
        return { recorded: false };
      },
    });
    const result = await r.run(input);
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('ReleaseFailed');
    const error = (recorded as { error: { Error: string; Cause: string } }).error;
    expect(error.Error).toBe('TypeError');
    expect(JSON.parse(error.Cause)).toMatchObject({ errorType: 'TypeError', errorMessage: 'boom' });
  });

  it('runs executions concurrently without mixing their inputs', async () => {
    const seen: string[] = [];
    const { r } = runner({
      validate: async (event) => {
        const key = (event as { key: string }).key;
        await new Promise((resolve) => setImmediate(resolve));
        seen.push(key);
        return key.includes('good') ? { valid: true } : { valid: false, reasons: ['bad bundle'] };
      },
      register: ok,
      record: ok,
    });
    const results = await Promise.all([
      r.run({ bucket: 'b', key: 'incoming/m/good/manifest.json' }),
      r.run({ bucket: 'b', key: 'incoming/m/bad/manifest.json' }),
    ]);
    expect(results.map((x) => x.status)).toEqual(['SUCCEEDED', 'FAILED']);
    expect(results[1]!.error).toBe('ArtifactRejected');
    expect(seen.sort()).toEqual(['incoming/m/bad/manifest.json', 'incoming/m/good/manifest.json']);
  });

  describe('a .waitForTaskToken state (AwaitApproval)', () => {
    const requestApproval: LambdaHandler = async (event) => {
      const e = event as { action: string };
      return e.action === 'check'
        ? { next: 'request', why: 'test', timeoutSeconds: 60 }
        : e.action === 'expire'
          ? { next: 'timed-out', why: 'test' }
          : { state: 'PENDING' };
    };
    const stages = (result: { history: readonly { type: string; state?: string }[] }) =>
      result.history.filter((e) => e.type === 'StateEntered').map((e) => e.state);

    it("passes Parameters.Payload with the execution's task token and continues with the waiter's output", async () => {
      const payloads: unknown[] = [];
      const requests: unknown[] = [];
      const { r } = runner(
        { validate: async () => ({ valid: true }), register: ok, record: ok },
        {
          handler: async (event) => {
            requests.push(event);
            return requestApproval(event, {} as never);
          },
          waiter: async (payload, token) => {
            payloads.push({ payload, token });
            return { next: 'approved', why: 'test', decidedBy: 'cli:alice' };
          },
        },
      );
      const result = await r.run(input);
      expect(result.status).toBe('SUCCEEDED');
      expect(stages(result)).toEqual(
        expect.arrayContaining(['CheckApproval', 'AwaitApproval', 'StartRollout']),
      );
      const [{ payload, token }] = payloads as [
        { payload: { taskToken: string; action: string }; token: string },
      ];
      expect(payload.action).toBe('request');
      expect(token).toMatch(/^local-task-token:/);
      expect(payload.taskToken).toBe(token);
      // The function ran before the wait, with the same payload (it stores the token).
      expect(requests.map((e) => (e as { action: string }).action)).toEqual(['check', 'request']);
    });

    it("ends ApprovalRejected when the waiter fails with SendTaskFailure's error name", async () => {
      const { r } = runner(
        { validate: async () => ({ valid: true }), register: ok, record: ok },
        {
          handler: requestApproval,
          waiter: async () => {
            throw Object.assign(new Error('rejected by cli:bob: not yet'), { name: 'ApprovalRejected' });
          },
        },
      );
      const result = await r.run(input);
      expect(result.status).toBe('FAILED');
      expect(result.error).toBe('ApprovalRejected');
      expect(stages(result)).not.toContain('StartRollout');
    });

    it('goes through ExpireApproval to ApprovalTimedOut when the wait times out', async () => {
      const { r } = runner(
        { validate: async () => ({ valid: true }), register: ok, record: ok },
        {
          handler: requestApproval,
          waiter: async () => {
            throw Object.assign(new Error('timed out'), { name: 'States.Timeout' });
          },
        },
      );
      const result = await r.run(input);
      expect(result.error).toBe('ApprovalTimedOut');
      expect(stages(result)).toEqual(
        expect.arrayContaining(['AwaitApproval', 'ExpireApproval', 'ApprovalTimedOut']),
      );
    });
  });
});
