/**
 * DeployCandidate before any traffic reaches the candidate: the real release ASL with the real handlers against the
 * emulators and the local inference server. StartRollout names the candidate at weight 0; DeployCandidate warms it in
 * the server's app (its real loader, then the manifest's smoke samples through the real validator, ONNX Runtime and
 * formatter), and only then BeginCanary routes the first step. A candidate the serving path cannot load (its
 * registered artifact altered after registration) is rolled back (DEPLOY_FAILED) without ever being routed.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MODEL_VERSIONS_TABLE } from '../../lambdas/core/tables';
import { VERSION_HEADER } from '../../lambdas/inference/http';
import type { RolloutState } from '../../lambdas/core/rollout';
import type { ExecutionResult } from '../../local/asl-runner';
import { inferenceService } from '../../local/inference-server';
import {
  firstSmokeInputs,
  type Harness,
  httpRequest,
  invokeModel,
  loadExample,
  SMALL_SAMPLE_JUDGE,
  startHarness,
  types,
} from './harness';

const MODEL = 'breast-cancer';
let h: Harness;
let instance: Record<string, unknown>;

beforeAll(async () => {
  h = await startHarness({
    config: {
      models: [
        {
          name: MODEL,
          owner: 'ml-platform',
          canary: {
            enabled: true,
            steps: [0.5],
            bakeSeconds: 1,
            judge: SMALL_SAMPLE_JUDGE,
          },
        },
        { name: 'credit-risk', owner: 'ml-platform' },
      ],
    },
    services: [inferenceService({ port: 0 })],
  });
  const { manifest } = await loadExample(MODEL);
  instance = firstSmokeInputs(manifest);
}, 120_000);

afterAll(async () => {
  await h?.stop();
});

interface Answer {
  readonly at: number;
  readonly status: number;
  readonly version: string | undefined;
}

/** Sends requests until `until` settles; returns every answer with the version that gave it and when. */
async function trafficUntil(until: Promise<unknown>): Promise<Answer[]> {
  let done = false;
  void until.finally(() => {
    done = true;
  });
  const answers: Answer[] = [];
  while (!done) {
    const r = await invokeModel(h.inference()!.baseUrl, MODEL, { instances: [instance] });
    const version = r.headers[VERSION_HEADER];
    answers.push({
      at: Date.now(),
      status: r.status,
      version: typeof version === 'string' ? version : undefined,
    });
  }
  return answers;
}

async function release(version: string, edit: (m: Record<string, unknown>) => void = () => undefined) {
  const { manifest, artifact } = await loadExample(MODEL);
  const m = structuredClone({ ...manifest, version }) as Record<string, unknown>;
  edit(m);
  return h.release(await h.stage(MODEL, version, m, artifact));
}

const entered = (result: ExecutionResult): string[] =>
  result.history.filter((e) => e.type === 'StateEntered').map((e) => e.state!);
const enteredAt = (result: ExecutionResult, state: string): number =>
  Date.parse(result.history.find((e) => e.type === 'StateEntered' && e.state === state)!.timestamp);

describe('deploying the candidate', () => {
  it('promotes the first version at once (nothing to deploy next to)', async () => {
    const result = await release('1.0.0');
    expect(result.status, JSON.stringify(result)).toBe('SUCCEEDED');
    expect(entered(result)).not.toContain('DeployCandidate');
  }, 60_000);

  it('warms a healthy candidate in the serving path before any traffic reaches it, then canaries and promotes it', async () => {
    const run = release('1.1.0');
    const answers = await trafficUntil(run);
    const result = await run;
    expect(result.status, JSON.stringify(result)).toBe('SUCCEEDED');
    expect((result.output as { rollout: RolloutState }).rollout.next).toBe('promoted');
    expect(answers.every((a) => a.status === 200)).toBe(true);

    // The states in order: deploy (Lambda: ready at once), begin, the canary, promote, retire (nothing to remove).
    const states = entered(result);
    const at = (s: string) => states.indexOf(s);
    expect(at('StartRollout')).toBeLessThan(at('DeployCandidate'));
    expect(at('DeployCandidate')).toBeLessThan(at('BeginCanary'));
    expect(at('BeginCanary')).toBeLessThan(at('AnalyzeCanary'));
    expect(states).not.toContain('WaitForCandidate');
    expect(states.slice(-5)).toEqual([
      'PrepareRetire',
      'RetireCandidate',
      'RetireRoute',
      'OutcomeRoute',
      'Promoted',
    ]);

    // No candidate answer before BeginCanary routed it; some after (promoted on data, not on none).
    const begun = enteredAt(result, 'BeginCanary');
    const fromCandidate = answers.filter((a) => a.version === '1.1.0');
    expect(fromCandidate.length).toBeGreaterThan(0);
    expect(fromCandidate.every((a) => a.at >= begun)).toBe(true);
    // The warm-up is not traffic: the server counted exactly the candidate answers the client saw.
    const served = h.inference()!.metrics.sum('Requests', { Model: MODEL, Version: '1.1.0' });
    expect(served).toBe(fromCandidate.length);

    // The ledger: the lock at weight 0, the warm-up with every smoke sample, then the first step from 0.
    const events = await h.audit(MODEL, '1.1.0');
    expect(types(events).slice(0, 5)).toEqual([
      'VALIDATION_PASSED',
      'REGISTERED',
      'ROLLOUT_STARTED',
      'CANDIDATE_DEPLOYED',
      'TRAFFIC_SHIFTED',
    ]);
    expect(types(events).at(-1)).toBe('PROMOTED');
    const byType = (t: string) => events.find((e) => e.type === t)!.details;
    expect(byType('ROLLOUT_STARTED')).toMatchObject({ weight: 0, plannedWeight: 0.5 });
    const { manifest } = await loadExample(MODEL);
    const sampleCount = (manifest as unknown as { smokeSamples: unknown[] }).smokeSamples.length;
    expect(byType('CANDIDATE_DEPLOYED')).toMatchObject({
      target: 'lambda',
      stable: '1.0.0',
      action: 'warmed',
      smokeSamples: sampleCount,
    });
    const samples = byType('CANDIDATE_DEPLOYED').samples as { ok: boolean }[];
    expect(samples).toHaveLength(sampleCount);
    expect(samples.every((s) => s.ok)).toBe(true);
    expect(byType('TRAFFIC_SHIFTED')).toMatchObject({ from: 0, weight: 0.5, step: 0 });
    // Nothing to retire for a Lambda-served model: no retire event.
    expect(types(events)).not.toContain('CANDIDATE_RETIRED');
    expect(await h.metadata.deployments.getDeployment(MODEL)).toMatchObject({ stable: '1.1.0', weight: 0 });
  }, 120_000);

  it('rolls back a candidate the serving path refuses to load (DEPLOY_FAILED); it never gets traffic', async () => {
    // ValidateArtifact now runs the smoke samples through the serving stages, so a candidate whose samples fail in
    // the serving function no longer registers. What the serving path still refuses after registration is an
    // artifact that is not the one registered: approval.required holds the execution after RegisterVersion, the
    // registered object is overwritten while it waits, and the warm-up's integrity check refuses it.
    const run = release('1.2.0', (m) => {
      m.approval = { required: true, riskTier: 'medium' };
    });
    const { DynamoApprovalStore } = await import('../../lambdas/adapters/dynamo-approval-store');
    const approvals = new DynamoApprovalStore(h.target.tables[MODEL_VERSIONS_TABLE.envVar]!);
    for (let waited = 0; (await approvals.getApproval(MODEL, '1.2.0'))?.state !== 'PENDING'; waited += 50) {
      if (waited > 60_000) throw new Error('the release never waited for approval');
      await new Promise((r) => setTimeout(r, 50));
    }
    const artifactKey = (await h.version(MODEL, '1.2.0'))!.artifactKey;
    const { artifact } = await loadExample(MODEL);
    const tampered = Buffer.from(artifact);
    tampered[tampered.length - 1] = tampered.at(-1)! ^ 0xff;
    await h.s3.send(new PutObjectCommand({ Bucket: h.bucket, Key: artifactKey, Body: tampered }));
    const { runCli } = await import('../../cli/index');
    const quiet = { out: () => undefined, err: () => undefined };
    const flags = ['--s3-endpoint', h.target.s3Endpoint!, '--dynamodb-endpoint', h.target.dynamodbEndpoint!];
    expect(await runCli(['approve', MODEL, '1.2.0', '--reason', 'reviewed', ...flags], quiet)).toBe(0);

    const answers = await trafficUntil(run);
    const result = await run;
    expect(result.status).toBe('FAILED');
    expect(result.error, JSON.stringify(result)).toBe('CandidateDeployFailed');
    expect(result.cause).toMatch(
      /^DEPLOY_FAILED \(CANDIDATE_LOAD_FAILED\): the inference function could not load breast-cancer 1\.2\.0: .*sha256/,
    );
    expect(entered(result)).not.toContain('BeginCanary');
    expect(entered(result).slice(-6)).toEqual([
      'ClearFailedCandidate',
      'PrepareRetire',
      'RetireCandidate',
      'RetireRoute',
      'OutcomeRoute',
      'DeployFailed',
    ]);

    // Stable kept 100 %: no answer from the candidate (the first may still come from 1.0.0, in the routing cache).
    expect(answers.length).toBeGreaterThan(0);
    expect(answers.every((a) => a.status === 200 && a.version !== '1.2.0')).toBe(true);
    expect(h.inference()!.metrics.sum('Requests', { Model: MODEL, Version: '1.2.0' })).toBe(0);

    // The lock is released and the candidate cleared in one write.
    const record = await h.metadata.deployments.getDeployment(MODEL);
    expect(record).toMatchObject({ stable: '1.1.0', weight: 0 });
    expect(record?.candidate).toBeUndefined();
    expect(record?.rollout).toBeUndefined();

    // The ledger says why.
    const events = await h.audit(MODEL, '1.2.0');
    expect(types(events)).toEqual([
      'VALIDATION_PASSED',
      'REGISTERED',
      'APPROVAL_REQUESTED',
      'APPROVAL_GRANTED',
      'ROLLOUT_STARTED',
      'CANDIDATE_DEPLOY_FAILED',
      'ROLLED_BACK',
    ]);
    const failed = events.find((e) => e.type === 'CANDIDATE_DEPLOY_FAILED')!.details as {
      reason: string;
      message: string;
    };
    expect(failed.reason).toBe('CANDIDATE_LOAD_FAILED');
    expect(failed.message).toMatch(/sha256/);
    expect(events.find((e) => e.type === 'ROLLED_BACK')!.details).toMatchObject({
      reason: 'DEPLOY_FAILED',
      targetReason: 'CANDIDATE_LOAD_FAILED',
      clearedCandidate: '1.2.0',
      stable: '1.1.0',
    });
  }, 120_000);

  it('the lock is free after a failed deploy: the next release deploys, canaries and promotes', async () => {
    const run = release('1.3.0');
    await trafficUntil(run);
    const result = await run;
    expect(result.status, JSON.stringify(result)).toBe('SUCCEEDED');
    expect(await h.metadata.deployments.getDeployment(MODEL)).toMatchObject({ stable: '1.3.0' });
  }, 120_000);

  it('guards the local warm route like POST /metrics/read: browsers, other methods and bodies are refused', async () => {
    const base = h.inference()!.baseUrl;
    const body = JSON.stringify({ modelopsWarmCandidate: { model: MODEL, version: '1.3.0' } });
    const warm = (options: Omit<Parameters<typeof httpRequest>[1], 'path'>) =>
      httpRequest(base, { ...options, path: '/candidates/warm' });
    expect((await warm({ body, headers: { origin: 'https://example.com' } })).status).toBe(403);
    expect((await warm({ body, headers: { host: 'attacker.example:80' } })).status).toBe(403);
    expect((await warm({ body, headers: { 'content-type': 'text/plain' } })).status).toBe(415);
    expect((await warm({ method: 'GET' })).status).toBe(405);
    const refused = await warm({ body: JSON.stringify({ modelopsWarmCandidate: { model: MODEL } }) });
    expect(refused.status).toBe(400);
    expect(JSON.stringify(refused.json)).toMatch(/exactly \\"model\\" and \\"version\\"/);
    // The Function URL shape is not a warm-up either.
    expect(
      (await warm({ body: JSON.stringify({ rawPath: '/', requestContext: { http: {} } }) })).status,
    ).toBe(400);
    // A warm-up of the stable version answers with its samples (it is loaded already: nothing changes).
    const ok = await warm({ body });
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({ outcome: 'warmed', model: MODEL, version: '1.3.0' });
  });

  it('DeployCandidate read exactly what its wiring row binds (local binding fidelity)', async () => {
    const { RELEASE_WORKFLOW } = await import('../../lib/workflows/release');
    const { boundVariableNames } = await import('../../lib/workflows/types');
    const row = RELEASE_WORKFLOW.functions.find((r) => r.id === 'DeployCandidate')!;
    expect([...h.mode.runtime.releaseEnvironments.get(row.id)!.reads()].sort()).toEqual(
      boundVariableNames(row),
    );
  });
});
