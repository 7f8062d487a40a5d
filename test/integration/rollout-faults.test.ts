/**
 * A failure injected into each rollout Task of the release state machine in turn, with the real ASL and the real
 * handlers against the emulators and the local inference server: whatever fails, stable keeps 100 %, the rollout lock
 * is released and the audit log has the failure. Each Task's handler is wrapped (its wiring row's `import`) to throw
 * either before doing anything or after its real work landed (the crash that leaves a write behind). The injected
 * error is in no Retry list, so each failure goes straight to the state's Catch. Also: two releases of one model are
 * serialized by the rollout lock, and the version stages a rollout leaves (LIVE, STANDBY, ROLLED_BACK).
 *
 * AnalyzeCanary reads its metrics from a stand-in of the inference server's `POST /metrics/read` that answers fixed
 * counts (a healthy candidate, or one failing half its requests), so every verdict is known in advance and no traffic
 * is needed; the inference server itself warms each candidate for DeployCandidate, as it does in local mode.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type {
  AuditEvent,
  AuditLogStore,
  DeploymentStore,
  MetricQuery,
  MetricReadRequest,
  VersionStageStore,
  VersionStore,
} from '../../lambdas/core/ports';
import type { RolloutState } from '../../lambdas/core/rollout';
import { AUDIT_LOG_TABLE, DEPLOYMENTS_TABLE, MODEL_VERSIONS_TABLE } from '../../lambdas/core/tables';
import { parseConfig, type ModelOpsConfigInput } from '../../lib/config';
import { RELEASE_WORKFLOW } from '../../lib/workflows/release';
import { functionArnPlaceholder, type Workflow } from '../../lib/workflows/types';
import { STEPFUNCTIONS_DIR, type ExecutionResult, type LambdaHandler } from '../../local/asl-runner';
import { emulatorClients, startEmulators, type Emulators } from '../../local/emulators';
import { inferenceService } from '../../local/inference-server';
import { memoryLogger } from '../../local/logger';
import { createLocalRuntime, type LocalRuntime } from '../../local/runtime';
import type { RunningService } from '../../local/start';
import { loadExample, SMALL_SAMPLE_JUDGE } from './harness';

const CANARY = 'breast-cancer';
const DRY_RUN = 'credit-risk';
const APPROVAL = 'approval-model';
/** A shadow phase before its canary (canary.shadow): BeginShadow and AnalyzeShadow run. */
const SHADOW = 'shadow-model';
const canary = (over: Record<string, unknown> = {}) => ({
  enabled: true,
  steps: [0.1, 0.5],
  bakeSeconds: 0,
  // A lock left behind by a failure would make the next release give up within seconds, not wait for the TTL.
  lock: { waitSeconds: 1, maxWaits: 5 },
  budget: { gate: false },
  judge: SMALL_SAMPLE_JUDGE,
  ...over,
});
const CONFIG: ModelOpsConfigInput = {
  models: [
    // The config decides approval either way (the credit-risk manifest asks for it).
    { name: CANARY, owner: 'ml-platform', approvalRequired: false, canary: canary() },
    { name: DRY_RUN, owner: 'ml-platform', approvalRequired: false, canary: canary({ dryRun: true }) },
    {
      name: SHADOW,
      owner: 'ml-platform',
      approvalRequired: false,
      canary: canary({ shadow: { enabled: true, bakeSeconds: 0 } }),
    },
    // Its releases never get past approval here, so it has no routing record.
    {
      name: APPROVAL,
      owner: 'ml-platform',
      approvalRequired: true,
      approvalTimeoutSeconds: 1,
      canary: canary(),
    },
  ],
};

// --- Fault injection -------------------------------------------------------------------------------------------------

class InjectedFault extends Error {
  override name = 'InjectedFault';
}

interface Fault {
  readonly state: string;
  readonly when: 'before' | 'after';
  /** The error's name: InjectedFault is in no Retry list; TransientStoreError is retried. @default InjectedFault */
  readonly error?: string;
  /** Invocations that fail; later ones run normally. @default every one */
  times?: number;
}

/** The ASL's Task states; each one's function row, `action` and parameter names tell its invocations apart. */
interface TaskState {
  readonly name: string;
  readonly row: string;
  readonly action: unknown;
  readonly keys: string;
}

const definition = JSON.parse(
  readFileSync(path.join(STEPFUNCTIONS_DIR, RELEASE_WORKFLOW.aslFile), 'utf8'),
) as { States: Record<string, { Type: string; Resource?: string; Parameters?: Record<string, unknown> }> };

const paramKeys = (params: object): string =>
  Object.keys(params)
    .map((k) => k.replace(/\.\$$/, ''))
    .sort()
    .join(',');

const TASKS: readonly TaskState[] = Object.entries(definition.States)
  .filter(([, s]) => s.Type === 'Task')
  .map(([name, s]) => {
    const params = (s.Parameters?.Payload ?? s.Parameters ?? {}) as Record<string, unknown>;
    const arn = String(s.Parameters?.FunctionName ?? s.Resource);
    const row = RELEASE_WORKFLOW.functions.find((fn) => arn === `\${${functionArnPlaceholder(fn)}}`);
    if (row === undefined) throw new Error(`${name}: no wiring row behind ${arn}`);
    return { name, row: row.id, action: params.action, keys: paramKeys(params) };
  });

function stateOf(row: string, event: Record<string, unknown>): string {
  const candidates = TASKS.filter((t) => t.row === row && t.action === event.action);
  const exact = candidates.filter((t) => t.keys === paramKeys(event));
  const found = exact.length === 1 ? exact[0] : candidates.length === 1 ? candidates[0] : undefined;
  if (found === undefined) throw new Error(`no one Task state of ${row} takes ${paramKeys(event)}`);
  return found.name;
}

let faults: Fault[] = [];
/** Task states invoked, in order. */
let invoked: string[] = [];
/** Awaited before a state's real handler runs. */
const holds = new Map<string, (event: Record<string, unknown>) => Promise<void>>();
/** Replaces what a state's real handler returned (to steer the execution into a state it would not reach). */
const rewrites = new Map<string, (output: unknown) => unknown>();
/** What each state's real handler returned. */
let outputs: { state: string; output: unknown }[] = [];

function injected(state: string, when: Fault['when']): Error | undefined {
  const fault = faults.find((f) => f.state === state && f.when === when && f.times !== 0);
  if (fault === undefined) return undefined;
  if (fault.times !== undefined) fault.times -= 1;
  const error = new InjectedFault(`injected ${when} ${state}`);
  if (fault.error !== undefined) error.name = fault.error;
  return error;
}

/** The release wiring with every row's handler wrapped: hold, fail before, run the real one, fail after. */
const WORKFLOW: Workflow = {
  ...RELEASE_WORKFLOW,
  functions: RELEASE_WORKFLOW.functions.map((fn) => ({
    ...fn,
    import: async () => {
      const real = ((await fn.import()) as { handler: LambdaHandler }).handler;
      const handler: LambdaHandler = async (event, context) => {
        const state = stateOf(fn.id, event as Record<string, unknown>);
        invoked.push(state);
        await holds.get(state)?.(event as Record<string, unknown>);
        const before = injected(state, 'before');
        if (before) throw before;
        const output = await real(event, context);
        outputs.push({ state, output });
        const after = injected(state, 'after');
        if (after) throw after;
        return rewrites.get(state)?.(output) ?? output;
      };
      return { handler };
    },
  })),
};

// --- Metrics stand-in ------------------------------------------------------------------------------------------------

/** Candidate versions failing half their requests; every other version is healthy. */
const failing = new Set<string>();
const REQUESTS_PER_MINUTE = 2000;

function fixedValue(q: MetricQuery): number | null {
  const version = q.dimensions.Version;
  if (version === undefined) return null;
  switch (`${q.metricName}/${q.stat}`) {
    case 'Requests/Sum':
    case 'SlowRequests/SampleCount':
    case 'ShadowDisagreement/SampleCount':
      return REQUESTS_PER_MINUTE;
    case 'Errors/Sum':
      return failing.has(version) ? REQUESTS_PER_MINUTE / 2 : 0;
    case 'Latency/p99':
      return 20;
    case 'InvalidInput/Sum':
    case 'SlowRequests/Sum':
    case 'Fallbacks/Sum':
    case 'ShadowDisagreement/Sum':
    case 'ShadowErrors/Sum':
      return 0;
    default:
      return null;
  }
}

function startMetricsServer(): Promise<Server> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      const request = JSON.parse(body) as MetricReadRequest;
      const periodMs = request.periodSeconds * 1000;
      const timestamps: number[] = [];
      for (let t = Math.floor(request.startMs / periodMs) * periodMs; t < request.endMs; t += periodMs) {
        timestamps.push(t);
      }
      const series = request.queries.map((q) => ({
        id: q.id,
        timestamps,
        values: timestamps.map(() => fixedValue(q)),
      }));
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ series }));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

// --- Setup -----------------------------------------------------------------------------------------------------------

let emulators: Emulators;
let dataDir: string;
let s3: S3Client;
let metricsServer: Server;
let inference: RunningService;
let runtime: LocalRuntime;
let stores: {
  versions: VersionStore;
  deployments: DeploymentStore;
  audit: AuditLogStore;
  stages: VersionStageStore;
};

beforeAll(async () => {
  process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
  dataDir = await mkdtemp(path.join(tmpdir(), 'modelops-faults-'));
  emulators = await startEmulators({ dataDir, fresh: true, dynamodbPort: 0, s3Port: 0 });
  s3 = emulatorClients(emulators).s3;
  const logger = memoryLogger();
  runtime = await createLocalRuntime({
    emulators,
    config: parseConfig(CONFIG),
    logger,
    retryIntervalMs: 1,
    releaseWorkflow: WORKFLOW,
  });
  // The inference server warms candidates for DeployCandidate; it watches no uploads (executions start here).
  const watcher = { executions: () => [], idle: async () => undefined, stop: async () => undefined };
  inference = await inferenceService({ port: 0 }).start({ emulators, runtime, watcher, logger });
  metricsServer = await startMetricsServer();
  // After the inference server, which provided its own metric store's URL.
  runtime.provideSetting(
    'metricsReadUrl',
    `http://127.0.0.1:${(metricsServer.address() as AddressInfo).port}`,
  );
  // Imported after createLocalRuntime pointed process.env at the emulators (the adapters build clients on load).
  const { DynamoVersionStore } = await import('../../lambdas/adapters/dynamo-version-store');
  const { DynamoDeploymentStore } = await import('../../lambdas/adapters/dynamo-deployment-store');
  const { DynamoAuditLog } = await import('../../lambdas/adapters/dynamo-audit-log');
  const { DynamoVersionStageStore } = await import('../../lambdas/adapters/dynamo-version-stage-store');
  const tables = emulators.tables;
  stores = {
    versions: new DynamoVersionStore(tables[MODEL_VERSIONS_TABLE.envVar]!),
    deployments: new DynamoDeploymentStore(tables[DEPLOYMENTS_TABLE.envVar]!),
    audit: new DynamoAuditLog(tables[AUDIT_LOG_TABLE.envVar]!),
    stages: new DynamoVersionStageStore(tables[MODEL_VERSIONS_TABLE.envVar]!),
  };
  // The canary models start with a stable version: a model's first release is promoted without a canary.
  for (const model of [CANARY, DRY_RUN, SHADOW]) {
    const result = await release(model, '1.0.0');
    expect(result.status, trace(result)).toBe('SUCCEEDED');
  }
}, 120_000);

afterAll(async () => {
  s3?.destroy();
  await inference?.stop();
  await new Promise((resolve) => (metricsServer ? metricsServer.close(resolve) : resolve(undefined)));
  await emulators?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

beforeEach(() => {
  faults = [];
  invoked = [];
  outputs = [];
  holds.clear();
  rewrites.clear();
  failing.clear();
});

/** Stages an example bundle as `model` `version` (the approval model uses breast-cancer's) and runs its release. */
async function release(model: string, version: string): Promise<ExecutionResult> {
  const { manifest, artifact } = await loadExample(model === DRY_RUN ? DRY_RUN : CANARY);
  const dir = `incoming/${model}/${version}/`;
  await s3.send(new PutObjectCommand({ Bucket: emulators.bucket, Key: `${dir}model.onnx`, Body: artifact }));
  await s3.send(
    new PutObjectCommand({
      Bucket: emulators.bucket,
      Key: `${dir}manifest.json`,
      Body: JSON.stringify({ ...manifest, name: model, version }),
    }),
  );
  return runtime.startRelease({ bucket: emulators.bucket, key: `${dir}manifest.json` });
}

const eventsOf = async (model: string, version: string): Promise<AuditEvent[]> =>
  (await stores.audit.listAudit(model)).filter((e) => e.version === version);

const stageOf = async (model: string, version: string) =>
  (await stores.versions.getVersion(model, version))?.stage;

let versionCounter = 0;
/** A fresh version per release: versions are immutable once registered. */
const freshVersion = () => `2.0.${++versionCounter}`;

/** An execution's end and the states it went through, for assertion messages. */
function trace(result: ExecutionResult): string {
  const states = result.history
    .filter((h) => h.type === 'StateEntered')
    .map((h) => h.state)
    .join(' > ');
  return `${result.status} ${result.error ?? ''} ${result.cause ?? ''}: ${states}`;
}

async function eventually(check: () => Promise<boolean>, what: string, boundMs = 20_000): Promise<void> {
  const deadline = Date.now() + boundMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`not within ${boundMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// --- The fault matrix ------------------------------------------------------------------------------------------------

interface Scenario {
  /** The Task state the failure is injected into. */
  readonly state: string;
  readonly model: string;
  /** The candidate fails half its requests: AnalyzeCanary decides rollback. */
  readonly failingCandidate?: boolean;
  /** Faults that lead to the state (AbortRollout, RecordFailure and ClearFailedCandidate follow a failure). */
  readonly leadIn?: readonly Fault[];
  /** The injected error's name. @default InjectedFault (not retried) */
  readonly error?: string;
  /** How many invocations fail. @default every one */
  readonly times?: number;
  /** DeployCandidate answers `pending` once, so that PollCandidate runs (a SageMaker target's path). */
  readonly pendingDeploy?: boolean;
}

const afterAnalyzeCanaryFails: readonly Fault[] = [{ state: 'AnalyzeCanary', when: 'before' }];

const SCENARIOS: readonly Scenario[] = [
  { state: 'CheckApproval', model: CANARY },
  { state: 'AwaitApproval', model: APPROVAL },
  { state: 'ExpireApproval', model: APPROVAL },
  { state: 'StartRollout', model: CANARY },
  { state: 'DeployCandidate', model: CANARY },
  { state: 'PollCandidate', model: CANARY, pendingDeploy: true },
  {
    state: 'ClearFailedCandidate',
    model: CANARY,
    leadIn: [{ state: 'DeployCandidate', when: 'before', error: 'TargetDeployFailedError' }],
  },
  { state: 'BeginCanary', model: CANARY },
  { state: 'BeginShadow', model: SHADOW },
  { state: 'AnalyzeShadow', model: SHADOW },
  { state: 'AnalyzeCanary', model: CANARY },
  { state: 'NextStep', model: CANARY },
  { state: 'Promote', model: CANARY },
  { state: 'Rollback', model: CANARY, failingCandidate: true },
  { state: 'FinishDryRun', model: DRY_RUN },
  // After the decision: a failed retire leaves the decision standing (the loser's capacity is what is left over).
  { state: 'RetireCandidate', model: CANARY },
  // AbortRollout runs only after another failure. A transient failure of its own is retried and still releases the
  // lock (one it could not survive would leave the lock until canary.lock.ttlMinutes, or `modelops unlock`).
  {
    state: 'AbortRollout',
    model: CANARY,
    leadIn: afterAnalyzeCanaryFails,
    error: 'TransientStoreError',
    times: 1,
  },
  // Losing RELEASE_FAILED itself: the ROLLOUT_ABORTED event still holds the first error.
  { state: 'RecordFailure', model: CANARY, leadIn: afterAnalyzeCanaryFails },
];

/** States whose real work is the decision that ends the rollout: failing after it, the decision stands. */
const ENDINGS = ['Promote', 'Rollback', 'FinishDryRun', 'ClearFailedCandidate'];

describe('a failure injected into each rollout Task', () => {
  it('covers every Task state after RegisterVersion', () => {
    const rollout = TASKS.map((t) => t.name).filter(
      (name) => !['ValidateArtifact', 'RecordRejection', 'RegisterVersion'].includes(name),
    );
    expect(SCENARIOS.map((s) => s.state).sort()).toEqual(rollout.sort());
  });

  it.each(SCENARIOS.flatMap((s) => (['before', 'after'] as const).map((when) => ({ ...s, when }))))(
    '$state fails $when its work: stable keeps 100 %, no lock, the failure audited',
    async (c) => {
      // GIVEN the model's routing record and a fresh version
      const before = await stores.deployments.getDeployment(c.model);
      const version = freshVersion();
      if (c.failingCandidate) failing.add(version);
      if (c.pendingDeploy) {
        let once = true;
        rewrites.set('DeployCandidate', (output) => {
          if (!once) return output;
          once = false;
          return { ...(output as object), status: 'pending', pollSeconds: 0 };
        });
      }
      faults = [
        ...(c.leadIn ?? []).map((f) => ({ ...f })),
        {
          state: c.state,
          when: c.when,
          ...(c.error ? { error: c.error } : {}),
          ...(c.times ? { times: c.times } : {}),
        },
      ];

      // WHEN its release runs
      const result = await release(c.model, version);

      // THEN the state ran, and the release ended failed (a failed retire leaves the promotion standing)
      expect(invoked, trace(result)).toContain(c.state);
      const retire = c.state === 'RetireCandidate';
      if (retire) {
        expect(result.status, trace(result)).toBe('SUCCEEDED');
        expect((result.output as { retireError?: { Error: string } }).retireError?.Error).toBe(
          'InjectedFault',
        );
      } else {
        expect(result.status, trace(result)).toBe('FAILED');
        expect(result.error).toBe('ReleaseFailed');
      }
      const record = await stores.deployments.getDeployment(c.model);
      const events = await eventsOf(c.model, version);
      const started = events.some((e) => e.type === 'ROLLOUT_STARTED');
      const promoted = retire || (c.state === 'Promote' && c.when === 'after');
      if (!started) {
        // Before the lock: nothing was routed, the record is exactly as it was.
        expect(record).toEqual(before);
      } else {
        // After the lock: stable serves everything (the version itself only once its promote landed), no lock.
        expect(record?.stable).toBe(promoted ? version : before?.stable);
        expect(record?.candidate).toBeUndefined();
        expect(record?.weight).toBe(0);
        expect(record?.rollout).toBeUndefined();
      }
      expect((await stores.versions.getVersion(c.model, version))?.status).toBe('REGISTERED');

      // AND the audit log has the failure with its error: the one that reached AbortRollout / RecordFailure
      const recorded = ['AbortRollout', 'RecordFailure'].includes(c.state) ? c.leadIn![0]! : c;
      const failed = events.find((e) => e.type === 'RELEASE_FAILED');
      if (retire || (c.state === 'RecordFailure' && c.when === 'before')) {
        expect(failed).toBeUndefined();
      } else {
        expect(failed?.details, JSON.stringify(events)).toMatchObject({ error: 'InjectedFault' });
        expect(failed?.details.cause).toContain(`injected ${recorded.when} ${recorded.state}`);
      }
      // A lock still held at the failure: AbortRollout released it and recorded why. A decision that landed first had
      // released it already; the abort then found nothing of this execution's to undo.
      const decided = retire || (c.when === 'after' && ENDINGS.includes(c.state));
      const aborted = events.find((e) => e.type === 'ROLLOUT_ABORTED');
      if (started && !decided) {
        expect(aborted?.details, JSON.stringify(events)).toMatchObject({
          clearedCandidate: version,
          weight: 0,
          error: { error: 'InjectedFault' },
        });
      } else {
        expect(aborted).toBeUndefined();
      }
      // An aborted rollout that named its candidate retires it before RecordFailure (a SageMaker variant would keep
      // its instances); one whose StartRollout failed had deployed nothing.
      if (started && !decided && c.state !== 'StartRollout') {
        expect(invoked.slice(invoked.indexOf('AbortRollout')), trace(result)).toContain('RetireCandidate');
      }
      if (c.error === 'TransientStoreError') expect(invoked.filter((s) => s === c.state)).toHaveLength(2);

      // AND the stages follow what landed
      if (promoted) {
        expect(await stageOf(c.model, version)).toMatchObject({
          value: 'LIVE',
          routingRevision: record?.revision,
        });
        expect(await stageOf(c.model, before!.stable!)).toMatchObject({ value: 'STANDBY' });
      } else if (c.state === 'Rollback' && c.when === 'after') {
        expect(await stageOf(c.model, version)).toMatchObject({
          value: 'ROLLED_BACK',
          reason: 'ERROR_RATE_REGRESSION',
        });
      } else if (c.state !== 'ClearFailedCandidate') {
        expect(await stageOf(c.model, version)).toBeUndefined();
      }
    },
    60_000,
  );
});

describe('the retire after an abort', () => {
  it('fails without losing the first error: the release still ends in RecordFailure with it', async () => {
    // GIVEN a canary whose analysis fails (AbortRollout clears the candidate), then whose retire fails too
    const before = await stores.deployments.getDeployment(CANARY);
    const version = freshVersion();
    faults = [
      { state: 'AnalyzeCanary', when: 'before' },
      { state: 'RetireCandidate', when: 'before' },
    ];

    // WHEN its release runs
    const result = await release(CANARY, version);

    // THEN the retire ran after the abort, its failure was caught, and the release failed with the first error
    expect(invoked.slice(invoked.indexOf('AbortRollout')), trace(result)).toEqual([
      'AbortRollout',
      'RetireCandidate',
      'RecordFailure',
    ]);
    expect(result.error, trace(result)).toBe('ReleaseFailed');
    const events = await eventsOf(CANARY, version);
    const failed = events.find((e) => e.type === 'RELEASE_FAILED');
    expect(failed?.details.cause, JSON.stringify(events)).toContain('injected before AnalyzeCanary');
    // AND stable serves everything, no lock
    const record = await stores.deployments.getDeployment(CANARY);
    expect(record).toMatchObject({ stable: before?.stable, weight: 0 });
    expect(record?.candidate).toBeUndefined();
    expect(record?.rollout).toBeUndefined();
  }, 60_000);
});

describe('version stages', () => {
  it('a promoted canary is LIVE and the stable version it replaced STANDBY', async () => {
    const previous = (await stores.deployments.getDeployment(CANARY))!;
    const version = freshVersion();
    const result = await release(CANARY, version);
    expect(result.status, trace(result)).toBe('SUCCEEDED');
    const record = (await stores.deployments.getDeployment(CANARY))!;
    expect(record).toMatchObject({ stable: version, weight: 0 });
    expect(await stageOf(CANARY, version)).toEqual({
      value: 'LIVE',
      at: record.updatedAt,
      routingRevision: record.revision,
    });
    expect(await stageOf(CANARY, previous.stable!)).toEqual({
      value: 'STANDBY',
      at: record.updatedAt,
      routingRevision: record.revision,
    });
  }, 60_000);

  it('a rolled-back candidate is ROLLED_BACK with the verdict’s reason; stable keeps its label', async () => {
    const previous = (await stores.deployments.getDeployment(CANARY))!;
    const stableStage = await stageOf(CANARY, previous.stable!);
    const version = freshVersion();
    failing.add(version);
    const result = await release(CANARY, version);
    expect(result.error, trace(result)).toBe('CanaryRolledBack');
    const record = (await stores.deployments.getDeployment(CANARY))!;
    expect(record.stable).toBe(previous.stable);
    expect(await stageOf(CANARY, version)).toEqual({
      value: 'ROLLED_BACK',
      reason: 'ERROR_RATE_REGRESSION',
      at: record.updatedAt,
      routingRevision: record.revision,
    });
    expect(await stageOf(CANARY, previous.stable!)).toEqual(stableStage);
  }, 60_000);

  it('the stored label only gives way to a newer routing revision (DynamoDB condition, dynalite)', async () => {
    const version = '1.0.0';
    const current = (await stageOf(DRY_RUN, version))!;
    const label = (routingRevision: number) => ({ value: 'STANDBY' as const, at: 'later', routingRevision });
    expect(await stores.stages.putStage(DRY_RUN, version, label(current.routingRevision - 1))).toBe(false);
    expect(await stores.stages.putStage(DRY_RUN, version, label(current.routingRevision))).toBe(false);
    expect(await stageOf(DRY_RUN, version)).toEqual(current);
    expect(await stores.stages.putStage(DRY_RUN, 'no-such-version', label(1_000))).toBe(false);
    expect(await stores.versions.getVersion(DRY_RUN, 'no-such-version')).toBeUndefined();
    expect(await stores.stages.putStage(DRY_RUN, version, label(current.routingRevision + 1))).toBe(true);
    expect(await stageOf(DRY_RUN, version)).toEqual(label(current.routingRevision + 1));
    // The registration fields are untouched: the label is one attribute, updated in place.
    expect(await stores.versions.getVersion(DRY_RUN, version)).toMatchObject({ status: 'REGISTERED' });
  });
});

describe('two releases of one model', () => {
  it('the second waits for the first one’s lock (canary.lock), then rolls out after it', async () => {
    const [first, second] = [freshVersion(), freshVersion()];
    let releaseFirst!: () => void;
    const firstMayJudge = new Promise<void>((resolve) => (releaseFirst = resolve));
    holds.set('AnalyzeCanary', async (event) => {
      if ((event.rollout as RolloutState).version === first) await firstMayJudge;
    });
    const startOutputs = (version: string) =>
      outputs
        .filter((o) => o.state === 'StartRollout' && (o.output as RolloutState).version === version)
        .map((o) => (o.output as RolloutState).next);

    // GIVEN the first release holding the model's lock, its canary routed
    const runFirst = release(CANARY, first);
    await eventually(
      async () => (await stores.deployments.getDeployment(CANARY))?.rollout?.executionId !== undefined,
      'the first release takes the lock',
    );
    // WHEN a second release starts: it is told the model is locked, and waits
    const runSecond = release(CANARY, second);
    await eventually(async () => startOutputs(second).includes('locked'), 'the second release waits');
    expect((await stores.deployments.getDeployment(CANARY))?.rollout?.candidate).toBe(first);
    releaseFirst();

    // THEN both complete, one after the other
    const [a, b] = await Promise.all([runFirst, runSecond]);
    expect(a.status, trace(a)).toBe('SUCCEEDED');
    expect(b.status, trace(b)).toBe('SUCCEEDED');
    expect(startOutputs(second)[0]).toBe('locked');
    expect(startOutputs(second).at(-1)).toBe('deploy');
    const promotedFirst = (await eventsOf(CANARY, first)).find((e) => e.type === 'PROMOTED')!;
    const startedSecond = (await eventsOf(CANARY, second)).find((e) => e.type === 'ROLLOUT_STARTED')!;
    expect(startedSecond.details).toMatchObject({ stable: first });
    expect(startedSecond.details.tookOverExpiredLock).toBeUndefined();
    expect(startedSecond.at >= promotedFirst.at).toBe(true);
    const record = await stores.deployments.getDeployment(CANARY);
    expect(record).toMatchObject({ stable: second, weight: 0 });
    expect(record?.rollout).toBeUndefined();
    expect(await stageOf(CANARY, first)).toMatchObject({ value: 'STANDBY' });
    expect(await stageOf(CANARY, second)).toMatchObject({ value: 'LIVE' });
  }, 60_000);
});
