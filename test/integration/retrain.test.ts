/**
 * The retraining loop end to end in local mode: the real retrain ASL with its real handlers against the emulators,
 * Train bound to the local trainer running the example trainer (examples/trainer/train.ts), and Release to the real
 * release ASL as the nested execution. The upload watcher runs, so every bundle upload starts a release by itself, as
 * the EventBridge rule does in AWS: a retrained bundle's own trigger must end at once (release ASL StartedByRetrain).
 *
 * One model per scenario (the example breast-cancer bundle under another name), so each scenario's retrain state,
 * cooldown and daily cap are its own. Nothing waits on a clock: the guard's decisions follow from stored state, and
 * the canary judge extends its bake until it has the samples it needs.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promoteStable } from '../../lambdas/core/promotion';
import type { AuditEvent, MonitorStateStore } from '../../lambdas/core/ports';
import { RETRAIN_STATE_KIND, type RetrainState } from '../../lambdas/core/retrain-policy';
import { MONITOR_STATE_TABLE } from '../../lambdas/core/tables';
import { TimeSeriesMetricsStore } from '../../lambdas/adapters/local-metric-store';
import { evaluateAlarmRules } from '../../lambdas/core/alarm-evaluation';
import { alarmRules } from '../../lambdas/core/alarm-rules';
import { alarmRulesInputOf, type ModelOpsConfigInput } from '../../lib/config';
import { retrainTriggerService } from '../../local/retrain-scheduler';
import type { ExecutionResult } from '../../local/asl-runner';
import { inferenceService } from '../../local/inference-server';
import {
  EXAMPLES_DIR,
  firstSmokeInputs,
  invokeModel,
  loadExample,
  SMALL_SAMPLE_JUDGE,
  startHarness,
  type Harness,
} from './harness';

const TRAINER = ['node', '--import', 'tsx', 'examples/trainer/train.ts'];
const metricStore = new TimeSeriesMetricsStore();
const FAILING_TRAINER = ['node', 'test/fixtures/retrain/failing-trainer.mjs'];
const REFERENCE_KEY = 'reference/breast-cancer.csv';
const PARENT = '1.0.0';

type ModelConfigInput = ModelOpsConfigInput['models'][number];

/** One model per scenario; every one is the breast-cancer example under its own name. */
const M = {
  canary: 'bc-canary',
  twins: 'bc-twins',
  gate: 'bc-gate',
  broken: 'bc-broken',
  locked: 'bc-locked',
  noData: 'bc-nodata',
  badOutput: 'bc-badout',
} as const;

function model(
  name: string,
  retrain: Partial<NonNullable<ModelConfigInput['retrain']>>,
  canary = false,
): ModelConfigInput {
  return {
    name,
    owner: 'ml-platform',
    riskTier: 'medium',
    ...(canary ? { canary: { enabled: true, steps: [0.5], bakeSeconds: 0, judge: SMALL_SAMPLE_JUDGE } } : {}),
    retrain: {
      enabled: true,
      referenceData: REFERENCE_KEY,
      trainer: { command: TRAINER },
      championGate: { metric: 'auc', minImprovement: 0 },
      cooldownMinutes: 60,
      ...retrain,
    },
  };
}

let h: Harness;
let monitorState: MonitorStateStore;
let instance: Record<string, unknown>;

/** The ModelDriftDetected detail as the drift monitor emits it: three drifted windows of the last three. */
const driftStart = (name: string, eventId: string) => ({
  model: name,
  trigger: 'drift',
  reason: 'dataset drift 0.6 in 3 of 3 windows',
  eventId,
  evidence: { datasetDrift: 0.6, persistence: { m: 3, n: 3, recent: [true, true, true] } },
});
const manualStart = (name: string, reason = 'labels of November arrived') => ({
  model: name,
  trigger: 'manual',
  reason,
  requestedBy: 'test',
});

async function retrainState(name: string): Promise<RetrainState | undefined> {
  return (await monitorState.getState(name, RETRAIN_STATE_KIND))?.state as RetrainState | undefined;
}

/** A Task error's message: Lambda's Cause is the JSON `{ errorType, errorMessage, trace }`. */
function causeMessage(cause: string | undefined): string {
  try {
    return (JSON.parse(cause ?? '') as { errorMessage: string }).errorMessage;
  } catch {
    return cause ?? '';
  }
}

const ofType = (events: readonly AuditEvent[], type: string) => events.filter((e) => e.type === type);

/** The watcher's execution for `key` once it has ended. Bounded: an upload that starts nothing fails the test. */
async function watched(key: string): Promise<ExecutionResult> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const found = h.mode.watcher.executions().find((e) => e.key === key);
    if (found !== undefined) {
      await h.mode.watcher.idle();
      expect(found.result, `watcher execution of ${key}`).toBeDefined();
      return found.result!;
    }
    if (Date.now() > deadline) throw new Error(`the upload of ${key} started no release execution`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Uploads the parent version (as `aws s3 cp` would; the watcher releases it) and makes it the stable version. */
async function pushParent(name: string): Promise<void> {
  const { manifest, artifact } = await loadExample('breast-cancer');
  const key = await h.stage(name, PARENT, { ...manifest, name, version: PARENT }, artifact);
  const result = await watched(key);
  expect(result.status, JSON.stringify(result)).toBe('SUCCEEDED');
  if ((await h.metadata.deployments.getDeployment(name))?.stable !== PARENT) {
    await promoteStable(h.metadata, { model: name, version: PARENT, actor: 'test' });
  }
}

/** Sends requests to `name` until `until` settles; every answer must be 200. */
async function trafficUntil(name: string, until: Promise<unknown>): Promise<{ sent: number; bad: number }> {
  let done = false;
  void until.finally(() => {
    done = true;
  });
  let sent = 0;
  let bad = 0;
  while (!done) {
    const r = await invokeModel(h.inference()!.baseUrl, name, { instances: [instance] });
    sent += 1;
    if (r.status !== 200) bad += 1;
  }
  return { sent, bad };
}

/** Retrain state and audit of every model: what a refused start must leave exactly as it was. */
async function snapshot(): Promise<unknown> {
  const out: Record<string, unknown> = {};
  for (const name of Object.values(M)) {
    out[name] = {
      state: await monitorState.getState(name, RETRAIN_STATE_KIND),
      audit: await h.metadata.audit.listAudit(name),
      routing: await h.metadata.deployments.getDeployment(name),
    };
  }
  return out;
}

beforeAll(async () => {
  h = await startHarness({
    watch: true,
    config: {
      models: [
        model(M.canary, {}, true),
        model(M.twins, { dailyCap: 10 }),
        // minImprovement far above any auc gain: the champion gate rejects every retrained version.
        model(M.gate, {
          dailyCap: 2,
          cooldownMinutes: 0,
          championGate: { metric: 'auc', minImprovement: 0.5 },
        }),
        model(M.broken, { trainer: { command: FAILING_TRAINER }, backoffMinutes: 30 }),
        model(M.locked, {}),
        // Reference data that was never uploaded: PrepareTrainingData fails.
        model(M.noData, { referenceData: 'reference/missing.csv' }),
        model(M.badOutput, {
          trainer: { command: ['node', 'test/fixtures/retrain/bad-output-trainer.mjs'] },
        }),
      ],
    },
    // The trigger service only for its metrics hook (no bus, no schedules): a failed run feeds the local alarms.
    services: [
      inferenceService({ port: 0 }),
      retrainTriggerService({ metrics: metricStore, schedules: false }),
    ],
  });
  const { DynamoMonitorStateStore } = await import('../../lambdas/adapters/dynamo-monitor-state');
  const { createDocumentClient } = await import('../../lambdas/adapters/clients');
  const { emulatorClients } = await import('../../local/emulators');
  monitorState = new DynamoMonitorStateStore(
    h.mode.emulators.tables[MONITOR_STATE_TABLE.envVar]!,
    createDocumentClient(emulatorClients(h.mode.emulators).dynamodb),
  );
  await h.s3.send(
    new PutObjectCommand({
      Bucket: h.bucket,
      Key: REFERENCE_KEY,
      Body: await readFile(path.join(EXAMPLES_DIR, 'breast-cancer', 'reference.csv')),
    }),
  );
  for (const name of Object.values(M)) await pushParent(name);
  instance = firstSmokeInputs((await loadExample('breast-cancer')).manifest);
}, 120_000);

afterAll(async () => {
  await h?.stop();
});

describe('retrain', () => {
  it('turns a persistent drift event into one retrain whose version is promoted through the canary', async () => {
    const t0 = Date.now();
    const run = h.mode.runtime.startRetrain(driftStart(M.canary, 'drift-evt-1'));
    const traffic = await trafficUntil(M.canary, run);
    const result = await run;
    const wallMs = Date.now() - t0;
    expect(result.status, JSON.stringify(result)).toBe('SUCCEEDED');
    const version = `${PARENT}-r1`;
    expect(result.output).toMatchObject({ outcome: 'promoted', model: M.canary, runId: 'r1', version });
    expect(traffic.bad).toBe(0);

    const routing = await h.metadata.deployments.getDeployment(M.canary);
    expect(routing).toMatchObject({ stable: version, weight: 0 });
    expect(routing?.rollout).toBeUndefined();
    const record = await h.version(M.canary, version);
    expect(record?.manifestKey).toBeDefined();
    const manifest = JSON.parse((await h.object(record!.manifestKey!)).toString('utf8')) as {
      lineage: { parentVersion: string; retrain: { runId: string; trigger: string } };
    };
    expect(manifest.lineage).toMatchObject({
      parentVersion: PARENT,
      retrain: { runId: 'r1', trigger: 'drift' },
    });

    // Promoted through the canary: traffic was shifted and judged before the promote.
    const events = await h.audit(M.canary, version);
    const types = events.map((e) => e.type);
    expect(types).toEqual(
      expect.arrayContaining(['VALIDATION_PASSED', 'REGISTERED', 'TRAFFIC_SHIFTED', 'PROMOTED']),
    );
    expect(ofType(events, 'CANARY_VERDICT').at(-1)?.details).toMatchObject({ decision: 'promote-step' });

    const all = await h.metadata.audit.listAudit(M.canary);
    expect(ofType(all, 'RETRAIN_STARTED')).toHaveLength(1);
    expect(ofType(all, 'RETRAIN_SUCCEEDED')).toHaveLength(1);
    expect(await retrainState(M.canary)).toMatchObject({
      counter: 1,
      lastRunId: 'r1',
      lastOutcome: 'promoted',
      consecutiveFailures: 0,
    });
    expect((await retrainState(M.canary))?.running).toBeUndefined();

    // The bundle's upload started a release by itself too; it ended at once, Succeeded, touching nothing.
    const upload = await watched(`incoming/${M.canary}/${version}/retrain-r1/manifest.json`);
    expect(upload.status).toBe('SUCCEEDED');
    expect(upload.output).toMatchObject({ skipped: true, reason: 'STARTED_BY_RETRAIN' });
    expect(ofType(all, 'VALIDATION_PASSED').filter((e) => e.version === version)).toHaveLength(1);
    console.info(`retrain ${M.canary}: start to PROMOTED in ${wallMs} ms (${traffic.sent} requests)`);
  }, 60_000);

  it('starts one retrain for N triggers within the cooldown; the others succeed as audited skips', async () => {
    const starts = Array.from({ length: 4 }, (_, i) =>
      h.mode.runtime.startRetrain(driftStart(M.twins, `twin-${i}`)),
    );
    const results = await Promise.all(starts);
    expect(results.map((r) => r.status)).toEqual(['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED']);
    const ran = results.filter((r) => (r.output as { skipped?: boolean }).skipped !== true);
    const skipped = results.filter((r) => (r.output as { skipped?: boolean }).skipped === true);
    expect(ran).toHaveLength(1);
    expect(ran[0]!.output).toMatchObject({ runId: 'r1', outcome: 'released-not-promoted' });
    // A twin that ran while r1 did sees it running; one that ran after it sees the cooldown r1 started.
    for (const s of skipped) {
      expect(['RETRAIN_RUNNING', 'COOLDOWN']).toContain((s.output as { code: string }).code);
    }
    const late = await h.mode.runtime.startRetrain(driftStart(M.twins, 'twin-late'));
    expect(late.status).toBe('SUCCEEDED');
    expect(late.output).toMatchObject({ skipped: true, code: 'COOLDOWN' });
    expect((late.output as { reason: string }).reason).toMatch(/retrain\.cooldownMinutes/);

    const audit = await h.metadata.audit.listAudit(M.twins);
    expect(ofType(audit, 'RETRAIN_STARTED')).toHaveLength(1);
    const skips = ofType(audit, 'RETRAIN_SKIPPED');
    expect(skips).toHaveLength(4);
    for (const e of skips) expect(e.details).toMatchObject({ trigger: 'drift', reason: expect.any(String) });
    expect(skips.map((e) => e.details.code)).toContain('COOLDOWN');
    expect(await retrainState(M.twins)).toMatchObject({ counter: 1, startsOnDay: 1 });
  }, 60_000);

  it('rejects a retrained version that does not beat the champion by the gate, audited; nothing is released', async () => {
    const result = await h.mode.runtime.startRetrain(manualStart(M.gate));
    expect(result.status, JSON.stringify(result)).toBe('SUCCEEDED');
    const version = `${PARENT}-r1`;
    expect(result.output).toMatchObject({
      outcome: 'rejected-by-champion-gate',
      version,
      gate: { passed: false },
    });

    const audit = await h.metadata.audit.listAudit(M.gate);
    const rejected = ofType(audit, 'RETRAIN_REJECTED');
    expect(rejected).toHaveLength(1);
    expect(rejected[0]!.details).toMatchObject({ runId: 'r1' });
    expect(JSON.stringify(rejected[0]!.details)).toMatch(/auc/);
    expect(await retrainState(M.gate)).toMatchObject({
      lastRunId: 'r1',
      lastOutcome: 'rejected-by-champion-gate',
    });
    // Not released: no version record, LIVE unchanged, and the upload's own trigger ended without a release.
    expect(await h.version(M.gate, version)).toBeUndefined();
    expect((await h.metadata.deployments.getDeployment(M.gate))?.stable).toBe(PARENT);
    const upload = await watched(`incoming/${M.gate}/${version}/retrain-r1/manifest.json`);
    expect(upload.output).toMatchObject({ skipped: true, reason: 'STARTED_BY_RETRAIN' });
  }, 60_000);

  it('holds the daily cap: manual starts count, the one past the cap is skipped with the reason', async () => {
    // The previous scenario started r1 on this model today; the cap is 2.
    const second = await h.mode.runtime.startRetrain(manualStart(M.gate, 'second look'));
    expect(second.status).toBe('SUCCEEDED');
    expect(second.output).toMatchObject({ runId: 'r2' });
    const third = await h.mode.runtime.startRetrain(manualStart(M.gate, 'third look'));
    expect(third.status).toBe('SUCCEEDED');
    expect(third.output).toMatchObject({ skipped: true, code: 'DAILY_CAP' });
    expect((third.output as { reason: string }).reason).toMatch(/retrain\.dailyCap 2/);
    const audit = await h.metadata.audit.listAudit(M.gate);
    expect(ofType(audit, 'RETRAIN_STARTED')).toHaveLength(2);
    expect(ofType(audit, 'RETRAIN_SKIPPED').map((e) => e.details.code)).toEqual(['DAILY_CAP']);
    expect(await retrainState(M.gate)).toMatchObject({ counter: 2, startsOnDay: 2 });
  }, 60_000);

  it('fails a run whose trainer exits 1: audited with the step and stderr, alarmed, backed off, execution failed, no release', async () => {
    const startedMs = Date.now();
    const result = await h.mode.runtime.startRetrain(manualStart(M.broken));
    const endedMs = Date.now();
    expect(result.status).toBe('FAILED');
    // The error the RetrainFailed rule (execution status FAILED) sends to the alarm topic.
    expect(result.error).toBe('RetrainFailed');
    const failed = ofType(await h.metadata.audit.listAudit(M.broken), 'RETRAIN_FAILED');
    expect(failed).toHaveLength(1);
    expect(failed[0]!.details).toMatchObject({ runId: 'r1', step: 'Train' });
    expect(JSON.stringify(failed[0]!.details)).toMatch(/exited with code 1.*no usable rows in train\.csv/);
    const state = await retrainState(M.broken);
    expect(state).toMatchObject({ lastOutcome: 'failed', consecutiveFailures: 1 });
    expect(state?.running).toBeUndefined();
    expect(Date.parse(state!.backoffUntil!)).toBeGreaterThan(Date.now());
    expect(await h.keys(`incoming/${M.broken}/${PARENT}-r1/`)).toEqual([]);
    expect(await h.version(M.broken, `${PARENT}-r1`)).toBeUndefined();
    expect((await h.metadata.deployments.getDeployment(M.broken))?.stable).toBe(PARENT);
    // The alarm: the model's retrain-failed rule over the local metric store, judged once its period is complete.
    const rule = alarmRules(
      alarmRulesInputOf(
        h.mode.runtime.config.models.find((m) => m.name === M.broken)!,
        h.mode.runtime.config,
      ),
    ).find((r) => r.id === 'retrain-failed')!;
    // Judged at the end of the 5-minute period that holds the failure (the run may straddle a period boundary: the
    // point is in the period of its start or of its end), so the check never depends on the wall clock.
    const periodMs = 5 * 60_000;
    const judgedAt = (t: number) => Math.floor(t / periodMs) * periodMs + periodMs + 1_000;
    const states = await Promise.all(
      [...new Set([judgedAt(startedMs), judgedAt(endedMs)])].map(
        async (t) => (await evaluateAlarmRules([rule], metricStore, t))[0]!,
      ),
    );
    expect(states.filter((a) => a.value === 'ALARM' && a.observed === 1)).toHaveLength(1);
    // An automatic trigger now waits out the backoff.
    const next = await h.mode.runtime.startRetrain(driftStart(M.broken, 'after-failure'));
    expect(next.output).toMatchObject({ skipped: true, code: 'BACKOFF' });
  }, 60_000);

  it.each([
    [M.noData, 'PrepareTrainingData', /reference\/missing\.csv.*does not exist/],
    [M.badOutput, 'Package', /report\.json|metrics/],
  ])(
    'ends a run whose %s step fails through RecordFailure: RETRAIN_FAILED with the step, backoff, no release',
    async (name, step, cause) => {
      const result = await h.mode.runtime.startRetrain(manualStart(name));
      expect(result.status, JSON.stringify(result.cause)).toBe('FAILED');
      expect(result.error).toBe('RetrainFailed');
      const failed = ofType(await h.metadata.audit.listAudit(name), 'RETRAIN_FAILED');
      expect(failed).toHaveLength(1);
      expect(failed[0]!.details).toMatchObject({ step });
      expect(JSON.stringify(failed[0]!.details)).toMatch(cause);
      const state = await retrainState(name);
      expect(state).toMatchObject({ lastOutcome: 'failed', consecutiveFailures: 1 });
      expect(state?.running).toBeUndefined();
      expect(await h.version(name, `${PARENT}-r1`)).toBeUndefined();
      expect((await h.metadata.deployments.getDeployment(name))?.stable).toBe(PARENT);
    },
    60_000,
  );

  it('fails a manual start with bad input naming every bad field, and changes no state', async () => {
    const before = await snapshot();
    const result = await h.mode.runtime.startRetrain({ model: M.canary, trigger: 'whenever', reason: '' });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('RetrainInputError');
    const message = causeMessage(result.cause);
    expect(message).toMatch(
      /input\.trigger: must be one of drift, schedule, accuracy, manual \(got "whenever"\)/,
    );
    expect(message).toMatch(/input\.reason: must not be empty/);
    const unknown = await h.mode.runtime.startRetrain(manualStart('not-configured'));
    expect(unknown.status).toBe('FAILED');
    expect(unknown.error).toBe('RetrainInputError');
    expect(causeMessage(unknown.cause)).toMatch(/input\.model: "not-configured" has no retrain enabled/);
    expect(await snapshot()).toEqual(before);
  }, 60_000);

  it('skips a retrain while a rollout of the model holds the lock, with the reason', async () => {
    const current = await h.metadata.deployments.getDeployment(M.locked);
    const now = Date.now();
    await h.metadata.deployments.putDeployment(
      {
        ...current!,
        revision: current!.revision + 1,
        rollout: {
          executionId: 'arn:aws:states:us-east-1:000000000000:execution:release:held-by-test',
          candidate: '1.1.0',
          startedAt: new Date(now).toISOString(),
          expiresAt: new Date(now + 3_600_000).toISOString(),
        },
      },
      { expectedRevision: current!.revision },
    );
    const result = await h.mode.runtime.startRetrain(manualStart(M.locked));
    expect(result.status).toBe('SUCCEEDED');
    expect(result.output).toMatchObject({ skipped: true, code: 'ROLLOUT_RUNNING' });
    expect((result.output as { reason: string }).reason).toMatch(
      /rollout of bc-locked is running \(candidate 1\.1\.0/,
    );
    const audit = await h.metadata.audit.listAudit(M.locked);
    expect(ofType(audit, 'RETRAIN_SKIPPED').map((e) => e.details.code)).toEqual(['ROLLOUT_RUNNING']);
    expect(ofType(audit, 'RETRAIN_STARTED')).toHaveLength(0);
    expect(await retrainState(M.locked)).toBeUndefined();
  }, 60_000);
});
