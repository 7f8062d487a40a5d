/**
 * The local runtime: the real release state machine bound to the real handlers, each configured with exactly the
 * environment variables its wiring row (lib/workflows/release.ts) binds, pointed at the emulators.
 *
 * Each Task invocation runs inside its function's own `TaskEnvironment` (lambdas/shared/env.ts): a handler that reads
 * a table or setting its row does not bind fails here as it would in Lambda. `process.env` still gets the union of
 * all variables, for what runs outside any Task (the inference server, the CLI against local mode) and for SDK
 * clients that read AWS_* endpoints when their module loads; handlers are therefore imported lazily by the runner.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { LOCAL_SIGNING_KEY_DIR_PREFIX } from '../lambdas/adapters/signer-from-env';
import { approvalPoliciesEnvValue } from '../lambdas/core/approval-events';
import { localRolloutTargetsEnvValue } from '../lambdas/core/candidate-deploy';
import { retrainPoliciesEnvValue } from '../lambdas/core/retrain-policy';
import { rolloutPoliciesEnvValue } from '../lambdas/core/rollout-events';
import { modelMaxBatchEnvValue, TaskEnvironment } from '../lambdas/shared/env';
import { parseConfig, type ModelOpsConfig } from '../lib/config';
import { RELEASE_WORKFLOW } from '../lib/workflows/release';
import { RETRAIN_WORKFLOW, type RetrainSubstitution } from '../lib/workflows/retrain';
import {
  functionArnPlaceholder,
  functionEnvironment,
  WORKFLOW_SETTINGS,
  WORKFLOW_TABLES,
  type Workflow,
  type WorkflowFunction,
  type WorkflowSetting,
  type WorkflowSettingValues,
  type WorkflowTable,
} from '../lib/workflows/types';
import {
  AslRunner,
  loadDefinition,
  LOCAL_ACCOUNT,
  LOCAL_REGION,
  localFunctionArn,
  STEPFUNCTIONS_DIR,
  type ExecutionResult,
  type LambdaHandler,
  type LocalFunction,
  type TaskTokenWaiter,
} from './asl-runner';
import { emulatorClients, LOCAL_CREDENTIALS, type Emulators } from './emulators';
import { SAGEMAKER_TRAINING_SYNC, localTrainerFunction } from './trainer';
import type { ExecutionJournal, JournalEntry } from './journal';
import type { LocalLogger } from './logger';

export const RELEASE_STATE_MACHINE = RELEASE_WORKFLOW.name;
export const RETRAIN_STATE_MACHINE = RETRAIN_WORKFLOW.name;

/** The nested release of the retrain ASL's Release state. */
export const NESTED_EXECUTION_SYNC = 'arn:aws:states:::states:startExecution.sync:2';

/** `arn:aws:states:us-east-1:000000000000:stateMachine:<name>`. */
export function localStateMachineArn(name: string): string {
  return `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:stateMachine:${name}`;
}

/** A nested execution that did not succeed, as `startExecution.sync:2` fails its Task. */
class NestedExecutionFailedError extends Error {
  override name = 'States.TaskFailed';
}

/** `modelops-local-validate-artifact`: the function name (and ARN) local mode gives a row. */
export function localFunctionName(fn: Pick<WorkflowFunction, 'handler'>): string {
  return `modelops-local-${fn.handler}`;
}

/** Loads and validates `modelops.config.ts` from the project root. */
export async function loadProjectConfig(): Promise<ModelOpsConfig> {
  const mod = (await import('../modelops.config')) as { default: unknown };
  return parseConfig(mod.default);
}

/**
 * What every local function gets whatever its row: the AWS variables Lambda sets on every function (here pointing at
 * the emulators, with dummy credentials) and the Powertools settings of local mode.
 */
export function commonEnvironment(emulators: Emulators): Record<string, string> {
  return {
    AWS_REGION: emulators.region,
    AWS_DEFAULT_REGION: emulators.region,
    AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
    AWS_ENDPOINT_URL_S3: emulators.s3Endpoint,
    AWS_ENDPOINT_URL_DYNAMODB: emulators.dynamodbEndpoint,
    // s3rver serves path-style only for a bucket on 127.0.0.1; the SDK picks path style for IP endpoints itself.
    POWERTOOLS_SERVICE_NAME: 'modelops-local',
    POWERTOOLS_METRICS_NAMESPACE: 'ModelOpsLocal',
    // No CloudWatch locally: keep Powertools from printing EMF blobs and tracing from looking for a daemon.
    POWERTOOLS_METRICS_DISABLED: 'true',
    POWERTOOLS_TRACE_ENABLED: 'false',
    POWERTOOLS_LOG_LEVEL: process.env.POWERTOOLS_LOG_LEVEL ?? 'WARN',
  };
}

/** The deployment settings as local mode supplies them: the emulators' bucket and the config. */
export function localSettings(emulators: Emulators, config: ModelOpsConfig): WorkflowSettingValues {
  return {
    registryBucket: emulators.bucket,
    maxArtifactBytes: String(config.registry.maxArtifactBytes),
    configuredModels: config.models.map((m) => m.name).join(','),
    modelMaxBatch: modelMaxBatchEnvValue(config.models),
    // s3rver ignores the Object Lock headers (no retention locally); they are passed anyway so local mode runs the
    // same RegisterVersion code path and validation as AWS.
    modelLockMode: config.registry.objectLock.mode,
    modelLockDays: String(config.registry.objectLock.days),
    // The local key pair in the data directory (LocalModelSigner); the inference server verifies with the same one.
    modelSigningKeyId: `${LOCAL_SIGNING_KEY_DIR_PREFIX}${emulators.dataDir}`,
    rolloutPolicies: rolloutPoliciesEnvValue(config.models),
    approvalPolicies: approvalPoliciesEnvValue(config.models),
    // No EventBridge emulator: the local approval binding logs each request with the command that decides it.
    eventBusName: '',
    // Known once the inference server listens: it calls provideSetting('metricsReadUrl', its URL).
    metricsReadUrl: '',
    // Each model's kind only: Lambda candidates are warmed in the local inference server (candidateWarmUrl, also
    // provided by the server once it listens); SageMaker does not run locally.
    rolloutTargets: localRolloutTargetsEnvValue(config.models),
    candidateWarmUrl: '',
    retrainPolicies: retrainPoliciesEnvValue(config.models),
  };
}

/** Physical names of the emulated tables, by `MetadataTables` field. */
export function localTableNames(emulators: Emulators): Record<WorkflowTable, string> {
  const names = {} as Record<WorkflowTable, string>;
  for (const [table, definition] of Object.entries(WORKFLOW_TABLES) as [
    WorkflowTable,
    { envVar: string },
  ][]) {
    names[table] = emulators.tables[definition.envVar]!;
  }
  return names;
}

/**
 * The union of every variable any function may get: what `process.env` holds in local mode, for the code that runs
 * outside a Task (inference server, CLI). Task invocations never see it through the env helpers.
 */
export function handlerEnvironment(emulators: Emulators, config: ModelOpsConfig): Record<string, string> {
  const settings = localSettings(emulators, config);
  const environment = commonEnvironment(emulators);
  for (const [setting, envVar] of Object.entries(WORKFLOW_SETTINGS)) {
    environment[envVar] = settings[setting as keyof WorkflowSettingValues];
  }
  for (const [table, name] of Object.entries(localTableNames(emulators))) {
    environment[WORKFLOW_TABLES[table as WorkflowTable].envVar] = name;
  }
  return environment;
}

/** The environment of one local function: the common variables plus exactly what its row binds. */
export function taskEnvironment(
  fn: WorkflowFunction,
  emulators: Emulators,
  config: ModelOpsConfig,
): TaskEnvironment {
  return new TaskEnvironment({
    ...commonEnvironment(emulators),
    ...functionEnvironment(fn, localSettings(emulators, config), localTableNames(emulators)),
  });
}

export interface LocalRuntimeOptions {
  readonly emulators: Emulators;
  /** Validated config. @default modelops.config.ts */
  readonly config?: ModelOpsConfig;
  readonly logger: LocalLogger;
  /** Tests only: replaces every Retry pause (ms). @default the ASL's intervals */
  readonly retryIntervalMs?: number;
  /** Tests only: the release wiring table, e.g. with a binding removed. @default RELEASE_WORKFLOW */
  readonly releaseWorkflow?: Workflow;
  /**
   * Tests only: the retrain wiring table, e.g. with a row's handler replaced by a test stand-in.
   * @default RETRAIN_WORKFLOW
   */
  readonly retrainWorkflow?: Workflow;
  /**
   * Where running executions are recorded before they start and forgotten when they end, so a crash leaves a trace
   * that the next start recovers (local/start.ts). @default no journal
   */
  readonly journal?: ExecutionJournal;
}

export interface LocalRuntime {
  readonly config: ModelOpsConfig;
  readonly environment: Readonly<Record<string, string>>;
  readonly release: AslRunner;
  /** The environment each release function runs in, by row id; records what its handler read. */
  readonly releaseEnvironments: ReadonlyMap<string, TaskEnvironment>;
  /** Starts a release execution for `incoming/<model>/<version>/manifest.json` and waits for its end. */
  startRelease(input: { bucket: string; key: string }, name?: string): Promise<ExecutionResult>;
  /** Starts a journaled release again from the start, under the same name (recovery after a crash). */
  resumeRelease(entry: JournalEntry): Promise<ExecutionResult>;
  /** The retrain state machine; only when a model has `retrain.enabled`. */
  readonly retrain?: AslRunner;
  /**
   * Starts a retrain execution (input: docs/retrain.md#manual-start) and waits for its end. Throws when no model has
   * retrain enabled.
   */
  startRetrain(input: unknown, name?: string): Promise<ExecutionResult>;
  /**
   * Gives every release function bound to `setting` a value known only once a service runs: the inference server
   * provides `metricsReadUrl` (its own URL) for AnalyzeCanary and `candidateWarmUrl` for DeployCandidate.
   */
  provideSetting(setting: WorkflowSetting, value: string): void;
}

/**
 * The local stand-ins for whoever resumes each `.waitForTaskToken` state, by function ARN: AwaitApproval's waits for
 * the approval request the CLI decides. Imported here, after process.env points at the emulators, because the SDK
 * clients read their endpoints when their module loads.
 */
async function localTaskTokenWaiters(
  workflow: Workflow,
  options: LocalRuntimeOptions,
): Promise<Map<string, TaskTokenWaiter>> {
  const waiters = new Map<string, TaskTokenWaiter>();
  const approvalRow = workflow.functions.find((fn) => fn.handler === 'approval');
  if (approvalRow === undefined) return waiters;
  const [{ DynamoApprovalStore }, { approvalWaiter }, { createDocumentClient }, { DynamoDBClient }] =
    await Promise.all([
      import('../lambdas/adapters/dynamo-approval-store'),
      import('./approval-waiter'),
      import('../lambdas/adapters/clients'),
      import('@aws-sdk/client-dynamodb'),
    ]);
  const { emulators } = options;
  const doc = createDocumentClient(
    new DynamoDBClient({
      endpoint: emulators.dynamodbEndpoint,
      region: emulators.region,
      credentials: LOCAL_CREDENTIALS,
    }),
  );
  const store = new DynamoApprovalStore(emulators.tables[WORKFLOW_TABLES.modelVersions.envVar]!, doc);
  waiters.set(localFunctionArn(localFunctionName(approvalRow)), approvalWaiter(store, options.logger));
  return waiters;
}

/**
 * Prepares process.env and the release state machine. Only one runtime per process can own process.env; tests get
 * one per test file (vitest runs each file in its own process).
 */
export async function createLocalRuntime(options: LocalRuntimeOptions): Promise<LocalRuntime> {
  const config = options.config ?? (await loadProjectConfig());
  const environment = handlerEnvironment(options.emulators, config);
  Object.assign(process.env, environment);

  const workflow = options.releaseWorkflow ?? RELEASE_WORKFLOW;
  const { substitutions, functions, environments } = bindWorkflow(workflow, options, config);
  const definition = loadDefinition(path.join(STEPFUNCTIONS_DIR, workflow.aslFile), substitutions);
  const release = new AslRunner({
    definition,
    stateMachineName: workflow.name,
    functions,
    taskTokenWaiters: await localTaskTokenWaiters(workflow, options),
    logger: options.logger,
    ...(options.retryIntervalMs !== undefined ? { retryIntervalMs: options.retryIntervalMs } : {}),
  });
  const { journal, logger } = options;
  /** Journal first, then run: an execution that starts is always on disk until it has ended. */
  const run = async (
    input: unknown,
    name: string,
    previous: Pick<JournalEntry, 'startedAt' | 'attempt'> | undefined,
  ): Promise<ExecutionResult> => {
    await journal?.begin({
      stateMachine: workflow.name,
      name,
      input,
      startedAt: previous?.startedAt ?? new Date().toISOString(),
      attempt: (previous?.attempt ?? 0) + 1,
      status: 'RUNNING',
    });
    const result = await release.run(input, { name });
    await journal
      ?.end(name)
      .catch((err: Error) => logger.warn(`could not clear journal entry of ${name}: ${err.message}`));
    return result;
  };
  const retrain = createRetrainRunner(options, config, (input, name) => run(input, name, undefined));
  const retrainRun = async (input: unknown, name: string): Promise<ExecutionResult> => {
    if (retrain === undefined) {
      throw new Error(
        'no model has retrain.enabled in the config; enable it to start retrains (docs/retrain.md)',
      );
    }
    await journal?.begin({
      stateMachine: RETRAIN_WORKFLOW.name,
      name,
      input,
      startedAt: new Date().toISOString(),
      attempt: 1,
      status: 'RUNNING',
    });
    const result = await retrain.runner.run(input, { name });
    await journal
      ?.end(name)
      .catch((err: Error) => logger.warn(`could not clear journal entry of ${name}: ${err.message}`));
    return result;
  };
  return {
    config,
    environment,
    release,
    ...(retrain ? { retrain: retrain.runner } : {}),
    startRetrain: (input, name) => retrainRun(input, name ?? randomUUID()),
    releaseEnvironments: environments,
    startRelease: (input, name) => run(input, name ?? randomUUID(), undefined),
    resumeRelease: (entry) => run(entry.input, entry.name, entry),
    provideSetting: (setting, value) => {
      for (const fn of workflow.functions) {
        if ((fn.settings as readonly WorkflowSetting[]).includes(setting)) {
          environments.get(fn.id)!.provide(WORKFLOW_SETTINGS[setting], value);
        }
      }
      for (const fn of retrain?.workflow.functions ?? []) {
        if ((fn.settings as readonly WorkflowSetting[]).includes(setting)) {
          retrain!.environments.get(fn.id)!.provide(WORKFLOW_SETTINGS[setting], value);
        }
      }
    },
  };
}

/** Local functions for a wiring table's rows, each in its own environment, and the ARN substitutions. */
function bindWorkflow(
  workflow: Workflow,
  options: LocalRuntimeOptions,
  config: ModelOpsConfig,
): {
  substitutions: Record<string, string>;
  functions: Map<string, LocalFunction>;
  environments: Map<string, TaskEnvironment>;
} {
  const substitutions: Record<string, string> = {};
  const functions = new Map<string, LocalFunction>();
  const environments = new Map<string, TaskEnvironment>();
  for (const fn of workflow.functions) {
    const name = localFunctionName(fn);
    const arn = localFunctionArn(name);
    const fnEnvironment = taskEnvironment(fn, options.emulators, config);
    substitutions[functionArnPlaceholder(fn)] = arn;
    environments.set(fn.id, fnEnvironment);
    functions.set(arn, {
      name,
      timeoutSeconds: fn.timeoutSeconds,
      memoryMb: fn.memoryMb,
      environment: fnEnvironment,
      load: async () => {
        const mod = (await fn.import()) as { handler?: unknown };
        if (typeof mod.handler !== 'function') {
          throw new TypeError(`lambdas/${fn.handler}/handler.ts does not export a function named "handler"`);
        }
        return mod.handler as LambdaHandler;
      },
    });
  }
  return { substitutions, functions, environments };
}

/**
 * The retrain state machine bound locally: its rows like the release's, Train to the local trainer (local/trainer.ts)
 * and Release to `startRelease` in-process, answering as `startExecution.sync:2` does (`Output` parsed JSON, a failed
 * nested execution failing the Task with `States.TaskFailed`). Only when some model has retrain enabled.
 */
function createRetrainRunner(
  options: LocalRuntimeOptions,
  config: ModelOpsConfig,
  startRelease: (input: unknown, name: string) => Promise<ExecutionResult>,
): { runner: AslRunner; workflow: Workflow; environments: Map<string, TaskEnvironment> } | undefined {
  if (!config.models.some((m) => m.retrain.enabled)) return undefined;
  const workflow = options.retrainWorkflow ?? RETRAIN_WORKFLOW;
  const { substitutions, functions, environments } = bindWorkflow(workflow, options, config);
  const releaseArn = localStateMachineArn(RELEASE_WORKFLOW.name);
  const local: Record<RetrainSubstitution, string> = {
    RegistryBucketName: options.emulators.bucket,
    // s3rver has no KMS; the parameter is passed and ignored, as the local trainer ignores the image.
    RegistryKeyArn: `arn:aws:kms:${LOCAL_REGION}:${LOCAL_ACCOUNT}:key/local`,
    TrainingRoleArn: `arn:aws:iam::${LOCAL_ACCOUNT}:role/modelops-local-training`,
    ReleaseStateMachineArn: releaseArn,
  };
  Object.assign(substitutions, local);
  const { s3 } = emulatorClients(options.emulators);
  functions.set(SAGEMAKER_TRAINING_SYNC, localTrainerFunction({ config, s3, logger: options.logger }));
  functions.set(NESTED_EXECUTION_SYNC, {
    name: 'local-nested-release',
    integration: 'service',
    timeoutSeconds: 3_700,
    load: async () => async (event) => {
      const { StateMachineArn, Input } = event as { StateMachineArn?: string; Input?: unknown };
      if (StateMachineArn !== releaseArn) {
        throw new NestedExecutionFailedError(
          `local mode runs only the release state machine (${releaseArn}), not ${StateMachineArn}`,
        );
      }
      const result = await startRelease(Input, randomUUID());
      const described = {
        ExecutionArn: result.executionArn,
        StateMachineArn: releaseArn,
        Name: result.name,
        Status: result.status,
        StartDate: result.startDate,
        StopDate: result.stopDate,
        Input: JSON.stringify(Input),
      };
      if (result.status !== 'SUCCEEDED') {
        throw new NestedExecutionFailedError(
          JSON.stringify({ ...described, Error: result.error ?? result.status, Cause: result.cause ?? '' }),
        );
      }
      return { ...described, Output: result.output ?? null };
    },
  });
  const definition = loadDefinition(path.join(STEPFUNCTIONS_DIR, workflow.aslFile), substitutions);
  const runner = new AslRunner({
    definition,
    stateMachineName: workflow.name,
    functions,
    logger: options.logger,
    ...(options.retryIntervalMs !== undefined ? { retryIntervalMs: options.retryIntervalMs } : {}),
  });
  return { runner, workflow, environments };
}
