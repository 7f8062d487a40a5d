/**
 * The error-budget gate before the canary: the real release ASL with the real handlers against the emulators, with
 * StartRollout reading the local inference server's metric store through the MetricsReader port, as it reads
 * CloudWatch in AWS. The stable version's failures are recorded in the metric store as the inference handler records
 * them (Requests and Errors under {Model} and {Model, Version}): a real stable version that fails on demand would need
 * a broken artifact that serving refuses to load at all.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MetricDatum } from '../../lambdas/core/ports';
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
  types,
} from './harness';

const MODEL = 'breast-cancer';
const FORCED = {
  version: '1.2.0',
  reason: 'hotfix for INC-42: replaces the stable version that burns the budget',
};
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
            budget: { force: [FORCED] },
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

async function release(version: string) {
  const { manifest, artifact } = await loadExample(MODEL);
  return h.release(await h.stage(MODEL, version, { ...manifest, version }, artifact));
}

/** Sends requests until `until` settles; returns how many were not 2xx. */
async function trafficUntil(until: Promise<unknown>): Promise<number> {
  let done = false;
  void until.finally(() => {
    done = true;
  });
  let bad = 0;
  while (!done) {
    const r = await invokeModel(h.inference()!.baseUrl, MODEL, { instances: [instance] });
    if (r.status !== 200) bad += 1;
  }
  return bad;
}

/** `count` requests of `version` that failed (5xx), recorded as the inference handler records them. */
function stableFailures(version: string, count: number): void {
  const failed: MetricDatum[] = [
    { name: 'Requests', unit: 'Count', value: 1 },
    { name: 'Errors', unit: 'Count', value: 1 },
  ];
  for (let i = 0; i < count; i++) {
    h.inference()!.metricStore.emit([{ Model: MODEL }, { Model: MODEL, Version: version }], failed);
  }
}

describe('error-budget gate', () => {
  it('refuses the canary while the stable version has exhausted the budget: BudgetExhausted, routing untouched', async () => {
    // GIVEN a stable version whose failures spent the model's availability budget
    const first = await release('1.0.0');
    expect(first.status, JSON.stringify(first)).toBe('SUCCEEDED');
    stableFailures('1.0.0', 50);
    const before = await h.metadata.deployments.getDeployment(MODEL);
    expect(before).toMatchObject({ stable: '1.0.0', weight: 0 });

    // WHEN a new version is released
    const result = await release('1.1.0');

    // THEN no canary starts: the execution fails BudgetExhausted and nothing but the refusal is written
    expect(result.status).toBe('FAILED');
    expect(result.error, JSON.stringify(result)).toBe('BudgetExhausted');
    expect(await h.metadata.deployments.getDeployment(MODEL)).toEqual(before);
    expect(await h.version(MODEL, '1.1.0')).toMatchObject({ status: 'REGISTERED' });
    const events = await h.audit(MODEL, '1.1.0');
    expect(types(events)).toEqual(['VALIDATION_PASSED', 'REGISTERED', 'ROLLOUT_REFUSED']);
    const refused = events.at(-1)!;
    expect(refused.details).toMatchObject({
      reason: 'BUDGET_EXHAUSTED',
      objective: 'availability',
      stable: '1.0.0',
      budget: { objectives: [{ sli: 'availability', status: 'exhausted', bad: 50 }, { sli: 'latency' }] },
    });
    expect(refused.details.message).toMatch(/availability error budget of breast-cancer is exhausted/);
    expect(refused.details.message).toMatch(/canary\.budget\.force/);
  }, 120_000);

  it('rolls a forced version out past the exhausted budget, audited ROLLOUT_FORCED, and promotes it', async () => {
    const run = release(FORCED.version);
    expect(await trafficUntil(run)).toBe(0);
    const result = await run;
    expect(result.status, JSON.stringify(result)).toBe('SUCCEEDED');
    expect(await h.metadata.deployments.getDeployment(MODEL)).toMatchObject({
      stable: FORCED.version,
      weight: 0,
    });
    const events = await h.audit(MODEL, FORCED.version);
    // Both are stamped with StartRollout's clock; within one millisecond the ledger's order is its ids'.
    expect(types(events).slice(0, 4).sort()).toEqual([
      'REGISTERED',
      'ROLLOUT_FORCED',
      'ROLLOUT_STARTED',
      'VALIDATION_PASSED',
    ]);
    expect(types(events).at(-1)).toBe('PROMOTED');
    expect(events.find((e) => e.type === 'ROLLOUT_FORCED')?.details).toMatchObject({
      reason: FORCED.reason,
      overrode: 'BUDGET_EXHAUSTED',
      weight: 0.5,
      budget: { objectives: [{ sli: 'availability', status: 'exhausted' }, { sli: 'latency' }] },
    });
    // The lock names the candidate at weight 0; BeginCanary routes the uncapped first step once it is deployed.
    expect(events.find((e) => e.type === 'ROLLOUT_STARTED')?.details).toMatchObject({
      forced: true,
      weight: 0,
      plannedWeight: 0.5,
    });
    expect(events.find((e) => e.type === 'TRAFFIC_SHIFTED')?.details).toMatchObject({ from: 0, weight: 0.5 });
  }, 120_000);

  it('StartRollout read exactly what its wiring row binds, the metrics URL included', () => {
    const row = RELEASE_WORKFLOW.functions.find((r) => r.id === 'StartRollout')!;
    const reads = [...h.mode.runtime.releaseEnvironments.get(row.id)!.reads()].sort();
    expect(reads).toEqual(boundVariableNames(row));
    expect(reads).toContain('METRICS_READ_URL');
  });
});
