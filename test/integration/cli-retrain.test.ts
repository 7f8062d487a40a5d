/**
 * `modelops retrain` and the local retrain triggers against the emulators: the CLI's request object and the drift
 * event start the real retrain state machine (its Guard bound to the real handler), and the Guard's decision lands in
 * the AuditLog. Training itself is the retrain integration test's subject (retrain.test.ts); here only the start.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { CliIo } from '../../cli/errors';
import type { RetrainDeps, retrain as retrainCommand } from '../../cli/retrain';
import { promoteStable } from '../../lambdas/core/promotion';
import { DRIFT_DETECTED_DETAIL_TYPE, DRIFT_EVENT_SOURCE } from '../../lambdas/core/drift-monitor';
import { parseConfig, type ModelOpsConfigInput } from '../../lib/config';
import { LocalEventBus } from '../../local/event-bus';
import { retrainTriggerService, type RetrainTriggers } from '../../local/retrain-scheduler';
import { capturedIo, cliTargetFlags, type Harness, startHarness } from './harness';

const MODEL = 'breast-cancer';
const CONFIG: ModelOpsConfigInput = {
  models: [
    {
      name: MODEL,
      owner: 'ml-platform',
      retrain: {
        enabled: true,
        driftPersistence: 3,
        referenceData: 'examples/breast-cancer/reference.csv',
        trainer: { command: ['node', '--import', 'tsx', 'examples/trainer/train.ts'] },
        championGate: { metric: 'auc' },
      },
    },
    { name: 'credit-risk', owner: 'ml-platform' },
  ],
};

let h: Harness;
let triggers: RetrainTriggers;
const bus = new LocalEventBus();
let retrain: typeof retrainCommand;
let runCli: (args: readonly string[], io?: CliIo) => Promise<number>;

beforeAll(async () => {
  h = await startHarness({
    config: CONFIG,
    services: [retrainTriggerService({ bus, schedules: false, onTriggers: (t) => (triggers = t) })],
  });
  // After the harness set process.env (the CLI shares the adapter modules with the handlers).
  ({ retrain } = await import('../../cli/retrain'));
  ({ runCli } = await import('../../cli/index'));
}, 60_000);

afterAll(async () => {
  await triggers?.settled();
  await h?.stop();
}, 180_000);

const deps = (): RetrainDeps => ({ config: async () => parseConfig(CONFIG), pollMs: 50 });

function quietIo(): CliIo & { lines: string[] } {
  const lines: string[] = [];
  return { lines, out: (l) => lines.push(l), err: (l) => lines.push(`ERR ${l}`) };
}

async function requests(): Promise<string[]> {
  return h.keys('retrain-requests/');
}

it('refuses a retrain without --reason (exit 2) and writes no request', async () => {
  const { out, err, io } = capturedIo();
  const code = await runCli(['retrain', MODEL, ...cliTargetFlags(h)], io);
  expect(code, [...out, ...err].join('\n')).toBe(2);
  expect(err.join('\n')).toMatch(/--reason is required/);
  expect(await requests()).toEqual([]);
});

it('starts a manual retrain in local mode; the Guard skips it while the model has no stable version', async () => {
  const io = quietIo();
  const result = await retrain(
    MODEL,
    { reason: 'first try', name: 'manual-no-stable' },
    h.target,
    io,
    deps(),
  );
  expect(await requests()).toEqual([`retrain-requests/${MODEL}/manual-no-stable.json`]);
  expect(result.executionArn).toBe(
    'arn:aws:states:us-east-1:000000000000:execution:retrain:manual-no-stable',
  );
  expect(result.decision).toMatchObject({ type: 'RETRAIN_SKIPPED', details: { code: 'NO_STABLE_VERSION' } });
  expect(io.lines.at(-1)).toMatch(/RETRAIN_SKIPPED \(NO_STABLE_VERSION\): .*promote one first/);
  await triggers.settled();
  const run = triggers.started.find((s) => s.name === 'manual-no-stable')!;
  expect((await run.result)?.output).toMatchObject({ skipped: true, code: 'NO_STABLE_VERSION' });
}, 60_000);

it('starts a retrain from ModelDriftDetected on the bus; the Guard checks persistence on the evidence', async () => {
  const version = await h.pushExample(MODEL);
  await promoteStable(h.metadata, { model: MODEL, version, actor: 'test' });
  await bus.publish({
    source: DRIFT_EVENT_SOURCE,
    detailType: DRIFT_DETECTED_DETAIL_TYPE,
    detail: {
      eventId: `${MODEL}#${version}#2026-12-04T10:00:00.000Z`,
      model: MODEL,
      version,
      driftedFeatures: ['mean_radius'],
      persistence: { m: 3, n: 5, recent: [false, true, false, true, false] },
    },
  });
  const run = triggers.started.at(-1)!;
  expect(run.name).toMatch(/^breast-cancer-retrain-drift-/);
  const result = await run.result;
  expect(result?.status).toBe('SUCCEEDED');
  expect(result?.output).toMatchObject({ skipped: true, code: 'DRIFT_NOT_PERSISTENT' });
  const audit = await h.metadata.audit.listAudit(MODEL);
  expect(audit.find((e) => e.actor === result!.executionArn)).toMatchObject({
    type: 'RETRAIN_SKIPPED',
    details: { code: 'DRIFT_NOT_PERSISTENT', trigger: 'drift' },
  });
}, 120_000);

it('starts a manual retrain from the stable version (RETRAIN_STARTED, run r1)', async () => {
  const io = quietIo();
  const result = await retrain(MODEL, { reason: 'labels arrived' }, h.target, io, deps());
  expect(result.executionName).toMatch(/^breast-cancer-retrain-manual-\d{17}-[0-9a-f]{4}$/);
  expect(result.decision).toMatchObject({
    type: 'RETRAIN_STARTED',
    version: '1.0.0',
    details: { runId: 'r1', trigger: 'manual', reason: 'labels arrived' },
  });
  expect(io.lines.at(-1)).toMatch(
    /RETRAIN_STARTED: run r1 from breast-cancer 1\.0\.0; .* as breast-cancer 1\.0\.0-r1\./,
  );
}, 60_000);
