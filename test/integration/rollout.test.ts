/**
 * The canary rollout after registration: the real release ASL with the real handlers against the emulators, traffic
 * through the local inference server, and AnalyzeCanary reading the server's metric store through the same
 * MetricsReader port as CloudWatch. Outcomes do not depend on timing: the judge extends a bake until it has the
 * samples it needs (maxExtensionsPerStep is large here), so slower traffic only makes a test take longer.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../lambdas/core/ports';
import { registeredArtifactKey } from '../../lambdas/core/keys';
import type { RolloutState } from '../../lambdas/core/rollout';
import { sha256OfBytes } from '../../lambdas/core/sha256';
import { RELEASE_WORKFLOW } from '../../lib/workflows/release';
import { boundVariableNames } from '../../lib/workflows/types';
import { inferenceService } from '../../local/inference-server';
import {
  firstSmokeInputs,
  type Harness,
  invokeModel,
  loadExample,
  SMALL_SAMPLE_JUDGE,
  startHarness,
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

/** Sends requests until `until` resolves; every answer must be 2xx (stable covers a failing candidate). */
function trafficUntil<T>(
  until: Promise<T>,
  onEach?: () => Promise<void>,
): Promise<{ sent: number; bad: number }> {
  let done = false;
  void until.finally(() => {
    done = true;
  });
  return (async () => {
    let sent = 0;
    let bad = 0;
    while (!done) {
      await onEach?.();
      const r = await invokeModel(h.inference()!.baseUrl, MODEL, { instances: [instance] });
      sent += 1;
      if (r.status !== 200) bad += 1;
    }
    return { sent, bad };
  })();
}

async function release(version: string) {
  const { manifest, artifact } = await loadExample(MODEL);
  return h.release(await h.stage(MODEL, version, { ...manifest, version }, artifact));
}

const types = (events: readonly AuditEvent[]) => events.map((e) => e.type);

describe('canary rollout', () => {
  it('promotes the first version of a model at once: there is nothing to compare it with', async () => {
    const result = await release('1.0.0');
    expect(result.status, JSON.stringify(result)).toBe('SUCCEEDED');
    expect((result.output as { rollout: RolloutState }).rollout.next).toBe('promoted');
    expect(await h.metadata.deployments.getDeployment(MODEL)).toMatchObject({ stable: '1.0.0', weight: 0 });
    expect(types(await h.audit(MODEL, '1.0.0'))).toEqual(['VALIDATION_PASSED', 'REGISTERED', 'PROMOTED']);
  }, 60_000);

  it('routes a healthy candidate, judges it on live traffic and promotes it; the lock is released', async () => {
    const run = release('1.1.0');
    const traffic = await trafficUntil(run);
    const result = await run;
    expect(result.status, JSON.stringify(result)).toBe('SUCCEEDED');
    expect(traffic.bad).toBe(0);
    const record = await h.metadata.deployments.getDeployment(MODEL);
    expect(record).toMatchObject({ stable: '1.1.0', weight: 0 });
    expect(record?.candidate).toBeUndefined();
    expect(record?.rollout).toBeUndefined();
    const events = await h.audit(MODEL, '1.1.0');
    expect(types(events).slice(0, 5)).toEqual([
      'VALIDATION_PASSED',
      'REGISTERED',
      'ROLLOUT_STARTED',
      'CANDIDATE_DEPLOYED',
      'TRAFFIC_SHIFTED',
    ]);
    expect(types(events).at(-1)).toBe('PROMOTED');
    const verdicts = events.filter((e) => e.type === 'CANARY_VERDICT');
    expect(verdicts.at(-1)?.details).toMatchObject({ decision: 'promote-step', reasonCode: 'HEALTHY' });
    // Never promoted on no data: the last look saw candidate traffic.
    const errors = (
      verdicts.at(-1)!.details.checks as { metric: string; candidate?: { requests: number } }[]
    ).find((c) => c.metric === 'errorRate');
    expect(errors?.candidate?.requests).toBeGreaterThan(0);
  }, 120_000);

  it('never routes a candidate whose registered artifact does not verify: DeployCandidate refuses it first', async () => {
    const version = '1.2.0';
    // Bytes that are not the registered artifact already sit under its content-addressed key (RegisterVersion's
    // copy-if-absent then keeps them): the serving function's integrity check refuses the candidate at its warm-up.
    // Before DeployCandidate existed, this candidate was routed and caught only by its fallbacks under traffic.
    const { manifest, artifact } = await loadExample(MODEL);
    await h.s3.send(
      new PutObjectCommand({
        Bucket: h.bucket,
        Key: registeredArtifactKey(MODEL, version, sha256OfBytes(artifact)),
        Body: Buffer.from('tampered'),
      }),
    );
    const run = h.release(await h.stage(MODEL, version, { ...manifest, version }, artifact));
    const traffic = await trafficUntil(run);
    const result = await run;
    expect(result.status).toBe('FAILED');
    expect(result.error, JSON.stringify(result)).toBe('CandidateDeployFailed');
    expect(result.cause).toMatch(/^DEPLOY_FAILED \(CANDIDATE_LOAD_FAILED\): .*sha256/);
    expect(traffic.bad).toBe(0);
    const record = await h.metadata.deployments.getDeployment(MODEL);
    expect(record).toMatchObject({ stable: '1.1.0', weight: 0 });
    expect(record?.candidate).toBeUndefined();
    expect(record?.rollout).toBeUndefined();
    const events = await h.audit(MODEL, version);
    expect(types(events)).not.toContain('TRAFFIC_SHIFTED');
    expect(types(events)).toContain('CANDIDATE_DEPLOY_FAILED');
    const rolledBack = events.find((e) => e.type === 'ROLLED_BACK');
    expect(rolledBack?.details).toMatchObject({
      reason: 'DEPLOY_FAILED',
      targetReason: 'CANDIDATE_LOAD_FAILED',
      clearedCandidate: version,
    });
  }, 120_000);

  it('each rollout handler read exactly what its wiring row binds (local binding fidelity)', () => {
    for (const row of RELEASE_WORKFLOW.functions.filter((r) =>
      ['StartRollout', 'AnalyzeCanary', 'AdvanceRollout', 'DeployCandidate'].includes(r.id),
    )) {
      const reads = [...h.mode.runtime.releaseEnvironments.get(row.id)!.reads()].sort();
      expect(reads, row.id).toEqual(boundVariableNames(row));
    }
  });

  it('a second release while one holds the lock waits; a dead lock past its expiry is taken over', async () => {
    // GIVEN a lock held by an execution that no longer runs, expiring in the past
    const current = (await h.metadata.deployments.getDeployment(MODEL))!;
    await h.metadata.deployments.putDeployment(
      {
        ...current,
        candidate: '1.0.0',
        weight: 0.5,
        revision: current.revision + 1,
        rollout: {
          executionId: 'dead-execution',
          candidate: '1.0.0',
          startedAt: '2026-01-01T00:00:00.000Z',
          expiresAt: '2026-01-01T01:00:00.000Z',
        },
      },
      { expectedRevision: current.revision },
    );
    // WHEN a new release starts: it takes the expired lock over and completes the rollout
    const run = release('1.3.0');
    await trafficUntil(run);
    const result = await run;
    expect(result.status, JSON.stringify(result)).toBe('SUCCEEDED');
    const started = (await h.audit(MODEL, '1.3.0')).find((e) => e.type === 'ROLLOUT_STARTED');
    expect(started?.details).toMatchObject({ tookOverExpiredLock: { executionId: 'dead-execution' } });
    expect(await h.metadata.deployments.getDeployment(MODEL)).toMatchObject({ stable: '1.3.0' });
  }, 120_000);
});
