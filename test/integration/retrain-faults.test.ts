/**
 * A failure injected into each Task of the retrain state machine in turn, with the real ASL and the real handlers
 * against the emulators, Train bound to the local trainer (examples/trainer) and Release to the real release ASL as
 * the nested execution. Each Task's handler is wrapped (its wiring row's `import`) to throw either before doing
 * anything or after its real work landed. The injected error is in no Retry list, so each failure goes straight to the
 * state's Catch: a step's failure through RecordFailure to `RetrainFailed`, a Record* state's own failure to
 * `RetrainOutcomeNotRecorded`. Also: a nested release that fails (its own handlers wrapped the same way).
 *
 * One model per scenario (the breast-cancer example under its own name, no canary), so each scenario's retrain state
 * and audit are its own and no cooldown, daily cap or running marker of an earlier scenario can skip a later one.
 * Without a canary, a nested release that succeeds registers the retrained version and ends `Registered`: stable
 * stays the parent whatever fails, and the version is released (REGISTERED) only once the nested release ran.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type {
  AuditEvent,
  AuditLogStore,
  DeploymentStore,
  MonitorStateStore,
  VersionStore,
} from '../../lambdas/core/ports';
import { promoteStable } from '../../lambdas/core/promotion';
import {
  RETRAIN_RUN_TIMEOUT_SECONDS,
  RETRAIN_STATE_KIND,
  type RetrainState,
} from '../../lambdas/core/retrain-policy';
import {
  AUDIT_LOG_TABLE,
  DEPLOYMENTS_TABLE,
  MODEL_VERSIONS_TABLE,
  MONITOR_STATE_TABLE,
} from '../../lambdas/core/tables';
import { parseConfig, type ModelOpsConfigInput } from '../../lib/config';
import { RELEASE_WORKFLOW } from '../../lib/workflows/release';
import { RETRAIN_WORKFLOW } from '../../lib/workflows/retrain';
import { functionArnPlaceholder, type Workflow } from '../../lib/workflows/types';
import { STEPFUNCTIONS_DIR, type ExecutionResult, type LambdaHandler } from '../../local/asl-runner';
import { emulatorClients, startEmulators, type Emulators } from '../../local/emulators';
import { memoryLogger } from '../../local/logger';
import { createLocalRuntime, type LocalRuntime } from '../../local/runtime';
import { EXAMPLES_DIR, loadExample } from './harness';

const PARENT = '1.0.0';
const RETRAINED = `${PARENT}-r1`;
const REFERENCE_KEY = 'reference/breast-cancer.csv';
const TRAINER = ['node', '--import', 'tsx', 'examples/trainer/train.ts'];

// --- Fault injection -------------------------------------------------------------------------------------------------

class InjectedFault extends Error {
  override name = 'InjectedFault';
}

type Machine = 'retrain' | 'release';

interface Fault {
  /** @default 'retrain' */
  readonly machine?: Machine;
  readonly state: string;
  readonly when: 'before' | 'after';
}

/** An ASL Task state run by a wiring row; its constant parameters and parameter names tell its invocations apart. */
interface TaskState {
  readonly name: string;
  readonly row: string;
  readonly constants: Readonly<Record<string, unknown>>;
  readonly keys: string;
}

interface AslState {
  readonly Type: string;
  readonly Resource?: string;
  readonly Parameters?: Record<string, unknown>;
}

const paramKeys = (params: object): string =>
  Object.keys(params)
    .map((k) => k.replace(/\.\$$/, ''))
    .sort()
    .join(',');

/** A workflow's Task states, split into those a wiring row runs and the service integrations (by Resource). */
function tasksOf(workflow: Workflow): { rows: TaskState[]; services: { name: string; resource: string }[] } {
  const definition = JSON.parse(readFileSync(path.join(STEPFUNCTIONS_DIR, workflow.aslFile), 'utf8')) as {
    States: Record<string, AslState>;
  };
  const rows: TaskState[] = [];
  const services: { name: string; resource: string }[] = [];
  for (const [name, s] of Object.entries(definition.States)) {
    if (s.Type !== 'Task') continue;
    const arn = String(s.Parameters?.FunctionName ?? s.Resource);
    const row = workflow.functions.find((fn) => arn === `\${${functionArnPlaceholder(fn)}}`);
    if (row === undefined) {
      services.push({ name, resource: arn });
      continue;
    }
    const params = (s.Parameters?.Payload ?? s.Parameters ?? {}) as Record<string, unknown>;
    const constants = Object.fromEntries(
      Object.entries(params).filter(([k, v]) => !k.endsWith('.$') && typeof v !== 'object'),
    );
    rows.push({ name, row: row.id, constants, keys: paramKeys(params) });
  }
  return { rows, services };
}

const RETRAIN_TASKS = tasksOf(RETRAIN_WORKFLOW);
const RELEASE_TASKS = tasksOf(RELEASE_WORKFLOW);

function stateOf(tasks: readonly TaskState[], row: string, event: Record<string, unknown>): string {
  const candidates = tasks.filter(
    (t) => t.row === row && Object.entries(t.constants).every(([k, v]) => event[k] === v),
  );
  const exact = candidates.filter((t) => t.keys === paramKeys(event));
  const found = exact.length === 1 ? exact[0] : candidates.length === 1 ? candidates[0] : undefined;
  if (found === undefined) throw new Error(`no one Task state of ${row} takes ${paramKeys(event)}`);
  return found.name;
}

let faults: Fault[] = [];
/** Task states invoked, in order, per state machine. */
const invoked: Record<Machine, string[]> = { retrain: [], release: [] };

function injected(machine: Machine, state: string, when: Fault['when']): Error | undefined {
  const fault = faults.find(
    (f) => (f.machine ?? 'retrain') === machine && f.state === state && f.when === when,
  );
  return fault === undefined ? undefined : new InjectedFault(`injected ${when} ${machine} ${state}`);
}

/** A wiring table with every row's handler wrapped: fail before, run the real one, fail after. */
function wrapped(machine: Machine, workflow: Workflow, tasks: readonly TaskState[]): Workflow {
  return {
    ...workflow,
    functions: workflow.functions.map((fn) => ({
      ...fn,
      import: async () => {
        const real = ((await fn.import()) as { handler: LambdaHandler }).handler;
        const handler: LambdaHandler = async (event, context) => {
          const state = stateOf(tasks, fn.id, event as Record<string, unknown>);
          invoked[machine].push(state);
          const before = injected(machine, state, 'before');
          if (before) throw before;
          const output = await real(event, context);
          const after = injected(machine, state, 'after');
          if (after) throw after;
          return output;
        };
        return { handler };
      },
    })),
  };
}

// --- Scenarios -------------------------------------------------------------------------------------------------------

interface Scenario {
  /** The retrain Task state the failure is injected into. */
  readonly state: string;
  /** The champion gate rejects every retrained version (RecordRejected runs instead of Release). */
  readonly gateRejects?: boolean;
  /** The failure that leads to the state (RecordFailure runs only after another one). */
  readonly leadIn?: Fault;
}

const SCENARIOS: readonly Scenario[] = [
  { state: 'Guard' },
  { state: 'PrepareTrainingData' },
  { state: 'Package' },
  // The gate's own failure: nothing may be released without its verdict.
  { state: 'ChampionGate' },
  { state: 'RecordRejected', gateRejects: true },
  { state: 'RecordReleased' },
  { state: 'RecordFailure', leadIn: { state: 'PrepareTrainingData', when: 'before' } },
];
const RECORD_STATES = ['RecordRejected', 'RecordReleased', 'RecordFailure'];
/** Steps before Package: no bundle may be uploaded. */
const BEFORE_PACKAGE = ['Guard', 'PrepareTrainingData'];

const CASES = SCENARIOS.flatMap((s) =>
  (['before', 'after'] as const).map((when) => ({
    ...s,
    when,
    model: `rf-${s.state.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`).slice(1)}-${when}`,
  })),
);

/** Nested releases that fail: the retrain ends through ReleaseFailed → RecordFailure. */
const RELEASE_CASES = [
  // Nothing registered: the bundle never became a version.
  { state: 'ValidateArtifact', when: 'before', model: 'rf-release-validate' },
  // Registered, then the release failed: the version exists but never served.
  { state: 'RegisterVersion', when: 'after', model: 'rf-release-register' },
] as const;

type ModelConfigInput = ModelOpsConfigInput['models'][number];

function model(name: string, gateRejects = false): ModelConfigInput {
  return {
    name,
    owner: 'ml-platform',
    riskTier: 'medium',
    retrain: {
      enabled: true,
      referenceData: REFERENCE_KEY,
      trainer: { command: TRAINER },
      // minImprovement far above any auc gain: the gate rejects every retrained version.
      championGate: { metric: 'auc', minImprovement: gateRejects ? 0.5 : 0 },
    },
  };
}

const CONFIG: ModelOpsConfigInput = {
  models: [...CASES.map((c) => model(c.model, c.gateRejects)), ...RELEASE_CASES.map((c) => model(c.model))],
};

// --- Setup -----------------------------------------------------------------------------------------------------------

let emulators: Emulators;
let dataDir: string;
let s3: S3Client;
let ddb: DynamoDBClient;
let runtime: LocalRuntime;
let stores: {
  versions: VersionStore;
  deployments: DeploymentStore;
  audit: AuditLogStore;
  monitorState: MonitorStateStore;
};

/** Stages the example bundle as `name` `PARENT`, releases it and makes it stable. */
async function pushParent(name: string): Promise<void> {
  const { manifest, artifact } = await loadExample('breast-cancer');
  const dir = `incoming/${name}/${PARENT}/`;
  await s3.send(new PutObjectCommand({ Bucket: emulators.bucket, Key: `${dir}model.onnx`, Body: artifact }));
  await s3.send(
    new PutObjectCommand({
      Bucket: emulators.bucket,
      Key: `${dir}manifest.json`,
      Body: JSON.stringify({ ...manifest, name, version: PARENT }),
    }),
  );
  const result = await runtime.startRelease({ bucket: emulators.bucket, key: `${dir}manifest.json` });
  expect(result.status, trace(result)).toBe('SUCCEEDED');
  if ((await stores.deployments.getDeployment(name))?.stable !== PARENT) {
    await promoteStable(stores, { model: name, version: PARENT, actor: 'test' });
  }
}

beforeAll(async () => {
  process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
  dataDir = await mkdtemp(path.join(tmpdir(), 'modelops-retrain-faults-'));
  emulators = await startEmulators({ dataDir, fresh: true, dynamodbPort: 0, s3Port: 0 });
  ({ s3, dynamodb: ddb } = emulatorClients(emulators));
  runtime = await createLocalRuntime({
    emulators,
    config: parseConfig(CONFIG),
    logger: memoryLogger(),
    retryIntervalMs: 1,
    releaseWorkflow: wrapped('release', RELEASE_WORKFLOW, RELEASE_TASKS.rows),
    retrainWorkflow: wrapped('retrain', RETRAIN_WORKFLOW, RETRAIN_TASKS.rows),
  });
  // Imported after createLocalRuntime pointed process.env at the emulators (the adapters build clients on load).
  const { DynamoVersionStore } = await import('../../lambdas/adapters/dynamo-version-store');
  const { DynamoDeploymentStore } = await import('../../lambdas/adapters/dynamo-deployment-store');
  const { DynamoAuditLog } = await import('../../lambdas/adapters/dynamo-audit-log');
  const { DynamoMonitorStateStore } = await import('../../lambdas/adapters/dynamo-monitor-state');
  const { createDocumentClient } = await import('../../lambdas/adapters/clients');
  const doc = createDocumentClient(ddb);
  const tables = emulators.tables;
  stores = {
    versions: new DynamoVersionStore(tables[MODEL_VERSIONS_TABLE.envVar]!, doc),
    deployments: new DynamoDeploymentStore(tables[DEPLOYMENTS_TABLE.envVar]!, doc),
    audit: new DynamoAuditLog(tables[AUDIT_LOG_TABLE.envVar]!, doc),
    monitorState: new DynamoMonitorStateStore(tables[MONITOR_STATE_TABLE.envVar]!, doc),
  };
  await s3.send(
    new PutObjectCommand({
      Bucket: emulators.bucket,
      Key: REFERENCE_KEY,
      Body: await readFile(path.join(EXAMPLES_DIR, 'breast-cancer', 'reference.csv')),
    }),
  );
  await Promise.all(CONFIG.models.map((m) => pushParent(m.name)));
}, 120_000);

afterAll(async () => {
  s3?.destroy();
  ddb?.destroy();
  await emulators?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

beforeEach(() => {
  faults = [];
  invoked.retrain = [];
  invoked.release = [];
});

// --- Helpers ---------------------------------------------------------------------------------------------------------

const manualStart = (name: string) => ({
  model: name,
  trigger: 'manual',
  reason: 'fault matrix',
  requestedBy: 'test',
});

async function retrainState(name: string): Promise<RetrainState | undefined> {
  return (await stores.monitorState.getState(name, RETRAIN_STATE_KIND))?.state as RetrainState | undefined;
}

const ofType = (events: readonly AuditEvent[], type: string) => events.filter((e) => e.type === type);

async function keys(prefix: string): Promise<string[]> {
  const page = await s3.send(new ListObjectsV2Command({ Bucket: emulators.bucket, Prefix: prefix }));
  return (page.Contents ?? []).map((c) => c.Key!).sort();
}

/** An execution's end, the states it went through and the handlers that ran, for assertion messages. */
function trace(result: ExecutionResult): string {
  const states = result.history
    .filter((h) => h.type === 'StateEntered')
    .map((h) => h.state)
    .join(' > ');
  return (
    `${result.status} ${result.error ?? ''} ${result.cause ?? ''}: ${states} ` +
    `(retrain handlers: ${invoked.retrain.join(', ')}; release handlers: ${invoked.release.join(', ')})`
  );
}

/** The input of the Fail state the execution ended in: what is left of the failure when nothing recorded it. */
function finalInput(result: ExecutionResult): Record<string, unknown> {
  const entered = result.history.filter((h) => h.type === 'StateEntered' && h.input !== undefined).at(-1);
  return (entered?.input ?? {}) as Record<string, unknown>;
}

/** Asserts the marker a run leaves when its outcome could not be recorded, and that it still blocks a next start. */
async function expectStillRunning(name: string, result: ExecutionResult): Promise<void> {
  const state = await retrainState(name);
  expect(state?.running, trace(result)).toMatchObject({
    runId: 'r1',
    executionId: result.executionArn,
    parentVersion: PARENT,
  });
  expect(state?.lastOutcome).toBeUndefined();
  // Until the marker's expiry (the state machine's timeout after its start), the Guard refuses every start.
  expect(Date.parse(state!.running!.startedAt) + RETRAIN_RUN_TIMEOUT_SECONDS * 1000).toBeGreaterThan(
    Date.now(),
  );
  const next = await runtime.startRetrain(manualStart(name));
  expect(next.output, trace(next)).toMatchObject({ skipped: true, code: 'RETRAIN_RUNNING' });
  expect((next.output as { reason: string }).reason).toContain(`--take-over ${result.executionArn}`);
  // An operator who knows that execution is dead takes its slot at once, audited on the new run's start.
  // (The new run meets the same injected fault; only its start matters here.)
  const takeOver = await runtime.startRetrain({ ...manualStart(name), takeOver: result.executionArn });
  const started = ofType(await stores.audit.listAudit(name), 'RETRAIN_STARTED').at(-1);
  expect(started?.actor, trace(takeOver)).toBe(takeOver.executionArn);
  expect(started?.details).toMatchObject({
    runId: 'r2',
    tookOver: { runId: 'r1', executionId: result.executionArn, named: true },
  });
}

// --- The fault matrix ------------------------------------------------------------------------------------------------

describe('a failure injected into each retrain Task', () => {
  it('covers every Task state a wiring row runs; the others are the Train and Release integrations', () => {
    expect(SCENARIOS.map((s) => s.state).sort()).toEqual(RETRAIN_TASKS.rows.map((t) => t.name).sort());
    // A new service integration needs its own scenario here too (as the nested release has below).
    expect(RETRAIN_TASKS.services.map((t) => t.name).sort()).toEqual(['Release', 'Train']);
  });

  it.each(CASES)(
    '$state fails $when its work: the end state its Catch leads to, nothing released',
    async (c) => {
      // GIVEN a model whose parent is stable and which never retrained
      expect(await retrainState(c.model)).toBeUndefined();
      faults = [...(c.leadIn ? [c.leadIn] : []), { state: c.state, when: c.when }];

      // WHEN a manual retrain runs
      const result = await runtime.startRetrain(manualStart(c.model));

      // THEN the state ran, and after it only RecordFailure (a step's failure) or nothing (a Record* state's)
      expect(invoked.retrain, trace(result)).toContain(c.state);
      const record = RECORD_STATES.includes(c.state);
      expect(invoked.retrain.slice(invoked.retrain.indexOf(c.state) + 1), trace(result)).toEqual(
        record ? [] : ['RecordFailure'],
      );
      expect(result.status, trace(result)).toBe('FAILED');
      expect(result.error, trace(result)).toBe(record ? 'RetrainOutcomeNotRecorded' : 'RetrainFailed');

      const audit = await stores.audit.listAudit(c.model);
      const state = await retrainState(c.model);
      const failed = ofType(audit, 'RETRAIN_FAILED');
      if (!record) {
        // AND RecordFailure recorded the failed step with the injected error
        expect(failed, JSON.stringify(audit)).toHaveLength(1);
        expect(failed[0]!.details).toMatchObject({
          outcome: 'failed',
          step: c.state,
          error: 'InjectedFault',
        });
        expect(failed[0]!.details.cause).toContain(`injected ${c.when} retrain ${c.state}`);
        if (c.state === 'Guard' && c.when === 'before') {
          // The Guard failed before its write: no run was taken, so there is no retrain state to end (audit only).
          expect(state).toBeUndefined();
          expect(ofType(audit, 'RETRAIN_STARTED')).toHaveLength(0);
        } else {
          // Every run taken is named, also after a Guard whose write landed ($.guard was never set: RecordOutcome
          // reads the run from the retrain state the Guard wrote).
          expect(failed[0]!.details).toMatchObject({ runId: 'r1' });
          expect(state, JSON.stringify(state)).toMatchObject({
            lastRunId: 'r1',
            lastOutcome: 'failed',
            consecutiveFailures: 1,
          });
          expect(state?.running).toBeUndefined();
        }
      } else if (c.state === 'RecordFailure') {
        if (c.when === 'before') {
          // The failure record is lost: no RETRAIN_FAILED, the run stays marked running until its expiry, and the
          // first error survives only in the execution's history (the Fail state's input).
          expect(failed).toHaveLength(0);
          await expectStillRunning(c.model, result);
          const left = finalInput(result) as {
            error?: { Cause?: string };
            outcomeError?: { Cause?: string };
          };
          expect(left.error?.Cause, trace(result)).toContain('injected before retrain PrepareTrainingData');
          expect(left.outcomeError?.Cause).toContain('injected before retrain RecordFailure');
        } else {
          // Its write landed: the failure is recorded as if RecordFailure had succeeded, yet the execution ends
          // RetrainOutcomeNotRecorded, not RetrainFailed (the pipeline's failure alarm covers both).
          expect(failed).toHaveLength(1);
          expect(failed[0]!.details).toMatchObject({ step: 'PrepareTrainingData', error: 'InjectedFault' });
          expect(state).toMatchObject({ lastRunId: 'r1', lastOutcome: 'failed', consecutiveFailures: 1 });
          expect(state?.running).toBeUndefined();
        }
      } else {
        // A Record* state of a run that did not fail: no RETRAIN_FAILED whatever happens to it.
        expect(failed).toHaveLength(0);
        const outcome = c.state === 'RecordRejected' ? 'rejected-by-champion-gate' : 'released-not-promoted';
        if (c.when === 'before') {
          // The outcome is lost: the run stays marked running until its expiry.
          await expectStillRunning(c.model, result);
        } else {
          // Its write landed: the outcome stands (the Fail state's cause, "could not write", does not hold here).
          expect(state, JSON.stringify(state)).toMatchObject({
            lastRunId: 'r1',
            lastOutcome: outcome,
            consecutiveFailures: 0,
          });
          expect(state?.running).toBeUndefined();
        }
        // The gate audits its rejection itself; RETRAIN_SUCCEEDED only once RecordReleased's write landed.
        expect(ofType(audit, 'RETRAIN_REJECTED')).toHaveLength(c.state === 'RecordRejected' ? 1 : 0);
        expect(ofType(audit, 'RETRAIN_SUCCEEDED')).toHaveLength(
          c.state === 'RecordReleased' && c.when === 'after' ? 1 : 0,
        );
      }

      // AND nothing was routed: stable is the parent, no rollout holds the model
      const routing = await stores.deployments.getDeployment(c.model);
      expect(routing?.stable).toBe(PARENT);
      expect(routing?.rollout).toBeUndefined();
      // AND the retrained version was released only when the nested release ran (RecordReleased), and never served
      const released = c.state === 'RecordReleased';
      expect(invoked.release.length > 0, trace(result)).toBe(released);
      const version = await stores.versions.getVersion(c.model, RETRAINED);
      if (released) {
        expect(version?.status).toBe('REGISTERED');
        expect(version?.stage).toBeUndefined();
      } else {
        expect(version, JSON.stringify(version)).toBeUndefined();
        expect(ofType(audit, 'VALIDATION_PASSED').filter((e) => e.version === RETRAINED)).toHaveLength(0);
      }
      // AND a bundle was uploaded only once Package's work landed
      const bundle = await keys(`incoming/${c.model}/${RETRAINED}/`);
      const failedAt = c.leadIn?.state ?? c.state;
      if (BEFORE_PACKAGE.includes(failedAt) || (failedAt === 'Package' && c.when === 'before')) {
        expect(bundle).toEqual([]);
      } else {
        // Left behind when a later step failed: its upload's own release trigger skips a retrained bundle, so nothing
        // releases it (the next run is r2, a new prefix).
        expect(bundle).toContain(`incoming/${c.model}/${RETRAINED}/retrain-r1/manifest.json`);
      }
    },
    60_000,
  );

  it.each(RELEASE_CASES)(
    'a nested release whose $state fails $when its work: ReleaseFailed → RecordFailure, parent stable, not LIVE',
    async (c) => {
      // GIVEN a model whose parent is stable, and a nested release whose ValidateArtifact or RegisterVersion fails
      faults = [{ machine: 'release', state: c.state, when: c.when }];

      // WHEN a manual retrain runs
      const result = await runtime.startRetrain(manualStart(c.model));

      // THEN the nested release ran and failed, and the retrain ended through ReleaseFailed → RecordFailure
      expect(invoked.release, trace(result)).toContain(c.state);
      expect(invoked.retrain.slice(invoked.retrain.indexOf('ChampionGate') + 1), trace(result)).toEqual([
        'RecordFailure',
      ]);
      const states = result.history.filter((h) => h.type === 'StateEntered').map((h) => h.state);
      expect(states.slice(-3), trace(result)).toEqual(['ReleaseFailed', 'RecordFailure', 'RetrainFailed']);
      expect(result.status).toBe('FAILED');
      expect(result.error).toBe('RetrainFailed');

      // AND RETRAIN_FAILED names the Release step and the nested execution's error
      const audit = await stores.audit.listAudit(c.model);
      const failed = ofType(audit, 'RETRAIN_FAILED');
      expect(failed, JSON.stringify(audit)).toHaveLength(1);
      expect(failed[0]!.details).toMatchObject({ runId: 'r1', step: 'Release', error: 'States.TaskFailed' });
      expect(failed[0]!.details.cause).toContain('ReleaseFailed');
      // The injected message is in the nested release's own RELEASE_FAILED.
      const releaseFailed = ofType(audit, 'RELEASE_FAILED').filter((e) => e.version === RETRAINED);
      expect(releaseFailed).toHaveLength(1);
      expect(releaseFailed[0]!.details.cause).toContain(`injected ${c.when} release ${c.state}`);
      const state = await retrainState(c.model);
      expect(state).toMatchObject({ lastRunId: 'r1', lastOutcome: 'failed', consecutiveFailures: 1 });
      expect(state?.running).toBeUndefined();

      // AND the parent is still stable; the retrained version is registered at most, never LIVE
      const routing = await stores.deployments.getDeployment(c.model);
      expect(routing?.stable).toBe(PARENT);
      expect(routing?.rollout).toBeUndefined();
      const version = await stores.versions.getVersion(c.model, RETRAINED);
      if (c.state === 'RegisterVersion') {
        expect(version?.status).toBe('REGISTERED');
      } else {
        expect(version).toBeUndefined();
      }
      expect(version?.stage).toBeUndefined();
    },
    60_000,
  );
});
