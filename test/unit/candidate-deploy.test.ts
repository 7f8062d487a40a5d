/**
 * DeployCandidate / PollCandidate / RetireCandidate (lambdas/core/candidate-deploy.ts) over a scripted target, and
 * the Lambda target's transports (lambdas/adapters/lambda-rollout-target.ts) over fake clients.
 */
import type { InvokeCommand } from '@aws-sdk/client-lambda';
import { describe, expect, it } from 'vitest';
import {
  HttpCandidateWarmer,
  LambdaInvokeWarmer,
  LambdaRolloutTarget,
  type LambdaInvokeClient,
} from '../../lambdas/adapters/lambda-rollout-target';
import {
  candidateStep,
  DEPLOY_DEADLINE_MS,
  localRolloutTargetsEnvValue,
  parseRolloutTargets,
  RETIRE_DEADLINE_MS,
  type DeployCandidateEvent,
} from '../../lambdas/core/candidate-deploy';
import { LAMBDA_TARGET_FAILURE, type WarmCandidateResult } from '../../lambdas/core/candidate-warm';
import { ConfigurationError, TransientStoreError } from '../../lambdas/core/errors';
import { deployFailureOf } from '../../lambdas/core/rollout';
import {
  TargetBusyError,
  TargetDeployFailedError,
  type RolloutTarget,
  type TargetProgress,
} from '../../lambdas/core/rollout-target';
import { FakeAuditLog, FakeDeploymentStore } from './fakes';

const MODEL = 'breast-cancer';
const T0 = Date.parse('2026-06-01T00:00:00Z');
const rollout = {
  model: MODEL,
  version: '2.0.0',
  executionId: 'exec-a',
  next: 'deploy',
  stable: '1.0.0',
  stableAtStart: '1.0.0',
};

/** A target answering each call from a script, recording the requests. */
function scripted(answers: {
  deploy?: () => Promise<TargetProgress>;
  poll?: () => Promise<TargetProgress>;
  retire?: () => Promise<TargetProgress>;
}): RolloutTarget & { calls: unknown[] } {
  const calls: unknown[] = [];
  const none = () => Promise.reject(new Error('not scripted'));
  return {
    calls,
    deployCandidate: (req) => (calls.push(['deploy', req]), (answers.deploy ?? none)()),
    pollCandidate: (req) => (calls.push(['poll', req]), (answers.poll ?? none)()),
    retire: (req) => (calls.push(['retire', req]), (answers.retire ?? none)()),
  };
}

const ready = (detail: Record<string, unknown> = {}): Promise<TargetProgress> =>
  Promise.resolve({ status: 'ready', detail });
const pending = (pollSeconds = 60): Promise<TargetProgress> =>
  Promise.resolve({ status: 'pending', pollSeconds, detail: { action: 'update-issued' } });

/** The routing record while the rollout of `rollout` holds the lock (StartRollout's write). */
function locked(): FakeDeploymentStore {
  const deployments = new FakeDeploymentStore();
  deployments.records.set(MODEL, {
    model: MODEL,
    stable: '1.0.0',
    candidate: '2.0.0',
    weight: 0,
    mode: 'canary',
    revision: 2,
    updatedAt: new Date(T0).toISOString(),
    rollout: {
      executionId: 'exec-a',
      candidate: '2.0.0',
      startedAt: new Date(T0).toISOString(),
      expiresAt: new Date(T0 + 3_600_000).toISOString(),
      plannedWeight: 0.1,
    },
  });
  return deployments;
}

/** The routing record after the decision: lock released, candidate cleared, `stable` serving 100 %. */
function decided(stable: string): FakeDeploymentStore {
  const deployments = new FakeDeploymentStore();
  deployments.records.set(MODEL, {
    model: MODEL,
    stable,
    weight: 0,
    mode: 'canary',
    revision: 3,
    updatedAt: new Date(T0).toISOString(),
  });
  return deployments;
}

function run(
  target: RolloutTarget,
  event: DeployCandidateEvent,
  nowMs = T0,
  targetKind: 'lambda' | 'sagemaker' = 'sagemaker',
  deployments = locked(),
) {
  const audit = new FakeAuditLog();
  return { audit, result: candidateStep({ target, targetKind, audit, deployments }, event, nowMs) };
}

describe('candidateStep: deploy and poll', () => {
  it('deploys next to the stable version the rollout started from; ready is audited CANDIDATE_DEPLOYED', async () => {
    const target = scripted({ deploy: () => ready({ action: 'warmed', smokeSamples: 5 }) });
    const { audit, result } = run(target, { action: 'deploy', rollout }, T0, 'lambda');
    expect(await result).toEqual({
      status: 'ready',
      target: 'lambda',
      startedAtMs: T0,
      detail: { action: 'warmed', smokeSamples: 5 },
    });
    expect(target.calls).toEqual([['deploy', { model: MODEL, stable: '1.0.0', candidate: '2.0.0' }]]);
    expect(audit.events).toMatchObject([
      {
        type: 'CANDIDATE_DEPLOYED',
        version: '2.0.0',
        actor: 'exec-a',
        details: { target: 'lambda', stable: '1.0.0', smokeSamples: 5, durationMs: 0 },
      },
    ]);
  });

  it('answers pending with the target pollSeconds; a later poll that is ready records how long it took', async () => {
    const first = run(scripted({ deploy: () => pending(45) }), { action: 'deploy', rollout });
    expect(await first.result).toMatchObject({ status: 'pending', pollSeconds: 45, startedAtMs: T0 });
    expect(first.audit.events).toEqual([]);
    const poll = run(
      scripted({ poll: () => ready({ action: 'in-service' }) }),
      { action: 'poll', rollout, deploy: { startedAtMs: T0 } },
      T0 + 300_000,
    );
    expect(await poll.result).toMatchObject({ status: 'ready', startedAtMs: T0 });
    expect(poll.audit.events[0]!.details).toMatchObject({ durationMs: 300_000, action: 'in-service' });
  });

  it('fails a deploy with its reason code first in the message, audited CANDIDATE_DEPLOY_FAILED with the detail', async () => {
    const target = scripted({
      deploy: () =>
        Promise.reject(
          new TargetDeployFailedError('SILENT_ROLLBACK', 'endpoint is InService on the previous config', {
            endpointConfigName: 'old',
          }),
        ),
    });
    const { audit, result } = run(target, { action: 'deploy', rollout });
    const err = await result.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TargetDeployFailedError);
    expect((err as Error).message).toBe('SILENT_ROLLBACK: endpoint is InService on the previous config');
    // What ClearFailedCandidate reads back from the Catch output (the Lambda error document in Cause).
    const cause = JSON.stringify({ errorType: (err as Error).name, errorMessage: (err as Error).message });
    expect(deployFailureOf({ Error: 'TargetDeployFailedError', Cause: cause })).toEqual({
      reasonCode: 'SILENT_ROLLBACK',
      message: 'endpoint is InService on the previous config',
    });
    expect(audit.events).toMatchObject([
      {
        type: 'CANDIDATE_DEPLOY_FAILED',
        details: { reason: 'SILENT_ROLLBACK', detail: { endpointConfigName: 'old' } },
      },
    ]);
  });

  it('fails a deploy still pending after the deadline (DEPLOY_TIMED_OUT) without calling the target', async () => {
    const target = scripted({ poll: () => pending() });
    const { audit, result } = run(
      target,
      { action: 'poll', rollout, deploy: { startedAtMs: T0 } },
      T0 + DEPLOY_DEADLINE_MS + 1,
    );
    await expect(result).rejects.toMatchObject({ reasonCode: 'DEPLOY_TIMED_OUT' });
    expect(target.calls).toEqual([]);
    expect(audit.types()).toEqual(['CANDIDATE_DEPLOY_FAILED']);
  });

  it('passes other errors through unrecorded, for the ASL to retry or abort', async () => {
    const { audit, result } = run(
      scripted({ deploy: () => Promise.reject(new TransientStoreError('throttled')) }),
      { action: 'deploy', rollout },
    );
    await expect(result).rejects.toBeInstanceOf(TransientStoreError);
    expect(audit.events).toEqual([]);
  });
});

describe('candidateStep: a rollout ended from outside', () => {
  it('deploys and polls nothing once the lock is gone (an alarm rollback, modelops unlock): lock-lost', async () => {
    const target = scripted({ deploy: () => ready(), poll: () => ready() });
    const gone = new FakeDeploymentStore();
    gone.records.set(MODEL, {
      model: MODEL,
      stable: '1.0.0',
      weight: 0,
      mode: 'canary',
      revision: 3,
      updatedAt: '',
    });
    for (const event of [
      { action: 'deploy', rollout },
      { action: 'poll', rollout, deploy: { startedAtMs: T0 } },
    ] as const) {
      const { audit, result } = run(target, event, T0, 'sagemaker', gone);
      expect(await result).toMatchObject({ status: 'lock-lost' });
      expect(audit.events).toEqual([]);
    }
    expect(target.calls).toEqual([]);
  });
});

describe('candidateStep: retire', () => {
  it('keeps the candidate after promote and the stable version otherwise; a SageMaker retire is audited', async () => {
    const target = scripted({ retire: () => ready({ action: 'retired', deletedConfigs: ['c-1'] }) });
    const promoted = run(
      target,
      { action: 'retire', rollout: { ...rollout, next: 'promoted', stable: '2.0.0' }, retire: {} },
      T0,
      'sagemaker',
      decided('2.0.0'),
    );
    expect(await promoted.result).toMatchObject({ status: 'ready' });
    const rolledBack = run(
      target,
      { action: 'retire', rollout: { ...rollout, next: 'deploy-failed' } },
      T0,
      'sagemaker',
      decided('1.0.0'),
    );
    await rolledBack.result;
    expect(target.calls).toEqual([
      ['retire', { model: MODEL, stable: '1.0.0', candidate: '2.0.0', keep: '2.0.0' }],
      ['retire', { model: MODEL, stable: '1.0.0', candidate: '2.0.0', keep: '1.0.0' }],
    ]);
    expect(promoted.audit.events).toMatchObject([
      { type: 'CANDIDATE_RETIRED', details: { keep: '2.0.0', outcome: 'promoted', deletedConfigs: ['c-1'] } },
    ]);
  });

  it('records nothing for the Lambda target, which has nothing to remove', async () => {
    const { audit, result } = run(
      new LambdaRolloutTarget({ warm: () => Promise.reject(new Error('not called')) }),
      { action: 'retire', rollout: { ...rollout, next: 'rolled-back' } },
      T0,
      'lambda',
      decided('1.0.0'),
    );
    expect(await result).toMatchObject({ status: 'ready', detail: { action: 'noop', keep: '1.0.0' } });
    expect(audit.events).toEqual([]);
  });

  it('returns a failed retire as failed, recorded: the decision it follows stands', async () => {
    const { audit, result } = run(
      scripted({
        retire: () => Promise.reject(new TargetDeployFailedError('ENDPOINT_FAILED', 'Failed: capacity')),
      }),
      { action: 'retire', rollout: { ...rollout, next: 'promoted', stable: '2.0.0' }, retire: {} },
      T0,
      'sagemaker',
      decided('2.0.0'),
    );
    expect(await result).toMatchObject({
      status: 'failed',
      reasonCode: 'ENDPOINT_FAILED',
      message: 'Failed: capacity',
    });
    expect(audit.events).toMatchObject([
      { type: 'CANDIDATE_RETIRE_FAILED', details: { keep: '2.0.0', reason: 'ENDPOINT_FAILED' } },
    ]);
  });

  it('polls a pending retire until the deadline, then records RETIRE_TIMED_OUT', async () => {
    const event = (startedAtMs?: number): DeployCandidateEvent => ({
      action: 'retire',
      rollout: { ...rollout, next: 'rolled-back' },
      retire: startedAtMs === undefined ? {} : { startedAtMs },
    });
    const first = run(scripted({ retire: () => pending(30) }), event(), T0, 'sagemaker', decided('1.0.0'));
    expect(await first.result).toMatchObject({ status: 'pending', pollSeconds: 30, startedAtMs: T0 });
    const late = run(
      scripted({ retire: () => pending(30) }),
      event(T0),
      T0 + RETIRE_DEADLINE_MS + 1,
      'sagemaker',
      decided('1.0.0'),
    );
    expect(await late.result).toMatchObject({ status: 'failed', reasonCode: 'RETIRE_TIMED_OUT' });
    expect(late.audit.types()).toEqual(['CANDIDATE_RETIRE_FAILED']);
  });

  it('does nothing for a rollout state that names no stable version it started from', async () => {
    const target = scripted({});
    const { stableAtStart: _s, ...old } = rollout;
    const { result } = run(target, { action: 'retire', rollout: { ...old, next: 'promoted' } });
    expect(await result).toMatchObject({ status: 'ready', detail: { action: 'noop' } });
    expect(target.calls).toEqual([]);
  });

  it('after an abort or a lost lock, keeps what routing serves and carries the ending for OutcomeRoute', async () => {
    const target = scripted({ retire: () => ready({ action: 'retired' }) });
    // AbortRollout cleared the candidate: stable serves, the candidate's variant goes.
    const aborted = run(
      target,
      { action: 'retire', rollout: { ...rollout, next: 'bake' }, retire: { ending: 'aborted' } },
      T0,
      'sagemaker',
      decided('1.0.0'),
    );
    expect(await aborted.result).toMatchObject({ status: 'ready', ending: 'aborted' });
    expect(aborted.audit.events).toMatchObject([
      { type: 'CANDIDATE_RETIRED', details: { keep: '1.0.0', outcome: 'aborted' } },
    ]);
    // `modelops promote` took the candidate live mid-rollout: the old stable's variant goes, not the live one.
    const promotedByHand = run(
      target,
      { action: 'retire', rollout: { ...rollout, next: 'bake' }, retire: { ending: 'superseded' } },
      T0,
      'sagemaker',
      decided('2.0.0'),
    );
    expect(await promotedByHand.result).toMatchObject({ status: 'ready', ending: 'superseded' });
    expect(target.calls).toEqual([
      ['retire', { model: MODEL, stable: '1.0.0', candidate: '2.0.0', keep: '1.0.0' }],
      ['retire', { model: MODEL, stable: '1.0.0', candidate: '2.0.0', keep: '2.0.0' }],
    ]);
  });

  it('removes nothing while routing serves both versions, a third one, or another release holds the lock', async () => {
    const target = scripted({});
    const otherRelease = locked();
    const record = otherRelease.records.get(MODEL)!;
    otherRelease.records.set(MODEL, {
      ...record,
      candidate: '3.0.0',
      rollout: { ...record.rollout!, executionId: 'exec-b', candidate: '3.0.0' },
    });
    const cases: [FakeDeploymentStore, RegExp][] = [
      [otherRelease, /another release \(exec-b\) holds the rollout lock/],
      [locked(), /routing still names 2\.0\.0 as the candidate/],
      [decided('0.9.0'), /routing serves 0\.9\.0 for breast-cancer, neither 1\.0\.0 nor 2\.0\.0/],
    ];
    for (const [deployments, reason] of cases) {
      const { audit, result } = run(
        target,
        { action: 'retire', rollout: { ...rollout, next: 'bake' }, retire: { ending: 'superseded' } },
        T0,
        'sagemaker',
        deployments,
      );
      const progress = await result;
      expect(progress).toMatchObject({ status: 'ready', ending: 'superseded', detail: { action: 'noop' } });
      expect((progress as unknown as { detail: { reason: string } }).detail.reason).toMatch(reason);
      expect(audit.events).toEqual([]);
    }
    expect(target.calls).toEqual([]);
  });
});

describe('ROLLOUT_TARGETS', () => {
  it('parses Lambda and SageMaker targets, and the local value (kinds only)', () => {
    const targets = parseRolloutTargets(
      JSON.stringify({
        'breast-cancer': { kind: 'lambda', functionArn: 'arn:aws:lambda:eu-west-1:1:function:f:live' },
        fraud: {
          kind: 'sagemaker',
          settings: {
            endpointName: 'e',
            executionRoleArn: 'arn:aws:iam::1:role/r',
            image: 'i',
            registryBucketName: 'b',
            variant: { kind: 'serverless', memorySizeInMb: 2048, maxConcurrency: 5 },
          },
        },
      }),
    );
    expect(targets.get('breast-cancer')).toEqual({
      kind: 'lambda',
      functionArn: 'arn:aws:lambda:eu-west-1:1:function:f:live',
    });
    expect(targets.get('fraud')).toMatchObject({ kind: 'sagemaker', settings: { endpointName: 'e' } });
    expect(
      parseRolloutTargets(
        localRolloutTargetsEnvValue([
          { name: 'a', target: 'lambda' },
          { name: 'b', target: 'sagemaker' },
        ]),
      ),
    ).toEqual(
      new Map([
        ['a', { kind: 'lambda' }],
        ['b', { kind: 'sagemaker' }],
      ]),
    );
    expect(parseRolloutTargets(undefined).size).toBe(0);
  });

  it('fails naming the model and field of a bad target', () => {
    expect(() => parseRolloutTargets('{')).toThrow(ConfigurationError);
    expect(() => parseRolloutTargets(JSON.stringify({ m: { kind: 'ec2' } }))).toThrow(
      /ROLLOUT_TARGETS\.m\.kind/,
    );
  });
});

describe('LambdaInvokeWarmer', () => {
  const ARN = 'arn:aws:lambda:eu-west-1:123456789012:function:bc-inference:live';
  const result: WarmCandidateResult = {
    outcome: 'warmed',
    model: MODEL,
    version: '2.0.0',
    loadMs: 40,
    samples: [{ index: 0, ok: true, issues: [] }],
  };
  function client(reply: () => Promise<Awaited<ReturnType<LambdaInvokeClient['send']>>>) {
    const inputs: InvokeCommand['input'][] = [];
    const c: LambdaInvokeClient = {
      send: (command) => {
        inputs.push(command.input);
        return reply();
      },
    };
    return { c, inputs };
  }
  const payload = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
  const target = (c: LambdaInvokeClient) =>
    new LambdaRolloutTarget(new LambdaInvokeWarmer({ functionArn: ARN, client: c }));
  const req = { model: MODEL, stable: '1.0.0', candidate: '2.0.0' };

  it('invokes the alias synchronously with exactly the warm-up event and judges the answer', async () => {
    const { c, inputs } = client(async () => ({ StatusCode: 200, Payload: payload(result) }));
    expect(await target(c).deployCandidate(req)).toMatchObject({ status: 'ready', detail: { loadMs: 40 } });
    expect(inputs).toHaveLength(1);
    expect(inputs[0]).toMatchObject({ FunctionName: ARN, InvocationType: 'RequestResponse' });
    expect(JSON.parse(new TextDecoder().decode(inputs[0]!.Payload as Uint8Array))).toEqual({
      modelopsWarmCandidate: { model: MODEL, version: '2.0.0' },
    });
  });

  it('warms warmConcurrency environments with overlapping invocations, and fails if any one fails', async () => {
    let inFlight = 0;
    let most = 0;
    const replies: (() => unknown)[] = [];
    const c: LambdaInvokeClient = {
      send: () => {
        inFlight++;
        most = Math.max(most, inFlight);
        // Answers only once all three are in flight: an environment serves one invocation at a time.
        return new Promise((resolve) => {
          replies.push(() => {
            inFlight--;
            resolve({ StatusCode: 200, Payload: payload(result) });
          });
          if (replies.length === 3) replies.forEach((reply) => reply());
        });
      },
    };
    const three = new LambdaRolloutTarget(new LambdaInvokeWarmer({ functionArn: ARN, client: c }), 3);
    expect(await three.deployCandidate(req)).toMatchObject({
      status: 'ready',
      detail: { loadMs: 40, environmentsWarmed: 3 },
    });
    expect(most).toBe(3);

    let calls = 0;
    const oneSmokeFails: LambdaInvokeClient = {
      send: async () => {
        calls++;
        const answer =
          calls === 2
            ? {
                ...result,
                outcome: 'smoke-failed',
                samples: [{ index: 0, ok: false, issues: ['label differs'] }],
              }
            : result;
        return { StatusCode: 200, Payload: payload(answer) };
      },
    };
    await expect(
      new LambdaRolloutTarget(
        new LambdaInvokeWarmer({ functionArn: ARN, client: oneSmokeFails }),
        3,
      ).deployCandidate(req),
    ).rejects.toMatchObject({ reasonCode: LAMBDA_TARGET_FAILURE.smokeFailed });
  });

  it('fails WARM_UP_CRASHED when the function failed (FunctionError), with its error', async () => {
    const { c } = client(async () => ({
      StatusCode: 200,
      FunctionError: 'Unhandled',
      Payload: payload({ errorType: 'Runtime.OutOfMemory', errorMessage: 'memory size exceeded' }),
    }));
    await expect(target(c).deployCandidate(req)).rejects.toMatchObject({
      reasonCode: LAMBDA_TARGET_FAILURE.crashed,
      message: expect.stringMatching(/\(Unhandled\): Runtime\.OutOfMemory: memory size exceeded/),
    });
  });

  it('maps Lambda service errors: throttling is transient, an update in progress is busy, a missing function fails', async () => {
    const failing = (name: string, status: number) =>
      client(() =>
        Promise.reject(Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } })),
      ).c;
    await expect(
      target(failing('TooManyRequestsException', 429)).deployCandidate(req),
    ).rejects.toBeInstanceOf(TransientStoreError);
    await expect(
      target(failing('ResourceConflictException', 409)).deployCandidate(req),
    ).rejects.toBeInstanceOf(TargetBusyError);
    await expect(
      target(failing('ResourceNotFoundException', 404)).deployCandidate(req),
    ).rejects.toMatchObject({
      reasonCode: LAMBDA_TARGET_FAILURE.notConfigured,
    });
  });
});

describe('HttpCandidateWarmer (local mode)', () => {
  const fetchReturning = (status: number, body: unknown): typeof globalThis.fetch =>
    (async () => new Response(JSON.stringify(body), { status })) as typeof globalThis.fetch;
  const warm = (f: typeof globalThis.fetch) =>
    new HttpCandidateWarmer({ baseUrl: 'http://127.0.0.1:1/', fetch: f }).warm({
      model: MODEL,
      version: '2.0.0',
    });

  it('POSTs the warm-up event to /candidates/warm and returns the answer', async () => {
    const seen: [string, RequestInit | undefined][] = [];
    const f = (async (url: string, init?: RequestInit) => {
      seen.push([url, init]);
      return new Response(JSON.stringify({ outcome: 'warmed' }), { status: 200 });
    }) as typeof globalThis.fetch;
    expect(await warm(f)).toEqual({ outcome: 'warmed' });
    expect(seen[0]![0]).toBe('http://127.0.0.1:1/candidates/warm');
    expect(seen[0]![1]).toMatchObject({ method: 'POST', headers: { 'content-type': 'application/json' } });
    expect(JSON.parse(String(seen[0]![1]!.body))).toEqual({
      modelopsWarmCandidate: { model: MODEL, version: '2.0.0' },
    });
  });

  it('fails a refusal (4xx) and a server error (5xx) by reason code; an unreachable server is transient', async () => {
    await expect(warm(fetchReturning(403, { error: { message: 'cross-origin' } }))).rejects.toMatchObject({
      reasonCode: LAMBDA_TARGET_FAILURE.refused,
      message: expect.stringMatching(/403: cross-origin/),
    });
    await expect(warm(fetchReturning(500, {}))).rejects.toMatchObject({
      reasonCode: LAMBDA_TARGET_FAILURE.crashed,
    });
    await expect(
      warm((async () => {
        throw new TypeError('fetch failed');
      }) as typeof globalThis.fetch),
    ).rejects.toBeInstanceOf(TransientStoreError);
  });
});
