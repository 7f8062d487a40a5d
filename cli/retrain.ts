/**
 * `modelops retrain <model> --reason <text>`: starts the retrain state machine by hand (docs/retrain.md#manual-start)
 * with the documented start input `{ model, trigger: "manual", reason, requestedBy }`.
 *
 * Everything is checked before anything is written: the model is configured with `retrain.enabled`, the reason is
 * not empty, and the input passes the same parser the Guard runs (`parseRetrainStart`). Then:
 *
 * - AWS (`--stack`, or `--state-machine-arn`): StartExecution on the retrain state machine (ARN from the stack output
 *   `RetrainStateMachineArn`), printing the execution ARN and its console link;
 * - local mode (the default target): the CLI reaches `npm start` only through its emulators, so it writes the input
 *   to `retrain-requests/<model>/<execution name>.json` in the local bucket, and local mode's retrain trigger service
 *   starts the execution under that name (local/retrain-scheduler.ts).
 *
 * With `--follow` (the default) it then waits for the Guard's decision in the AuditLog: RETRAIN_STARTED (exit 0) or
 * RETRAIN_SKIPPED with its reason (exit 0: a skip is the guard working, e.g. a retrain already running).
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import {
  ExecutionAlreadyExists,
  InvalidArn,
  SFNClient,
  StartExecutionCommand,
  StateMachineDoesNotExist,
} from '@aws-sdk/client-sfn';
import { createDocumentClient } from '../lambdas/adapters/clients';
import { DynamoAuditLog } from '../lambdas/adapters/dynamo-audit-log';
import { MODEL_NAME_PATTERN } from '../lambdas/core/names';
import type { AuditEvent, AuditLogStore } from '../lambdas/core/ports';
import { retrainedVersion } from '../lambdas/core/retrain-package';
import { parseRetrainStart, RetrainInputError, type RetrainStart } from '../lambdas/core/retrain-policy';
import { AUDIT_LOG_TABLE } from '../lambdas/core/tables';
import type { ModelOpsConfig } from '../lib/config';
import {
  EXECUTION_NAME_PATTERN,
  localRetrainExecutionArn,
  retrainExecutionName,
  retrainRequestKey,
} from '../local/retrain-requests';
import { loadProjectConfig } from './bundle';
import { CliError, UsageError, type CliIo } from './errors';
import { cliActor } from './promote';
import { dynamoClient, s3Client, stackOutputs, type Target } from './target';

/** The stack output naming the retrain state machine (lib/stacks, when a model has retrain enabled). */
export const RETRAIN_STATE_MACHINE_OUTPUT = 'RetrainStateMachineArn';

const STATE_MACHINE_ARN_PATTERN =
  /^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[A-Za-z0-9_-]{1,80}$/;

export interface RetrainOptions {
  readonly reason: string | undefined;
  /** `--stack`: resolve the state machine from this stack's outputs. */
  readonly stack?: string;
  /** `--state-machine-arn`: start this state machine (AWS) instead of reading the stack output. */
  readonly stateMachineArn?: string;
  /** `--name`: the execution name. @default `<model>-retrain-manual-<timestamp>-<4 hex>` */
  readonly name?: string;
  /** Wait for the Guard's decision. @default true */
  readonly follow?: boolean;
  /** How long to wait for it. @default 60 */
  readonly timeoutSeconds?: number;
  /** `--take-over`: the execution id of a running retrain known to be dead, whose slot this start takes. */
  readonly takeOver?: string;
}

/** Where a retrain is started; injectable for tests. */
export interface RetrainDeps {
  /** @default modelops.config.ts */
  readonly config?: () => Promise<ModelOpsConfig>;
  readonly now?: () => number;
  /** Local mode: writes the request object. @default PutObject to the target bucket */
  readonly putRequest?: (key: string, body: string) => Promise<void>;
  /** AWS: starts the execution. @default SFN StartExecution */
  readonly startExecution?: (
    stateMachineArn: string,
    name: string,
    input: string,
  ) => Promise<{ executionArn: string; startDate?: Date }>;
  /** AWS: the stack's outputs. @default CloudFormation DescribeStacks */
  readonly stackOutputs?: (stack: string, region: string) => Promise<Record<string, string>>;
  /** Where the Guard's decision is read. @default the target's AuditLog */
  readonly audit?: Pick<AuditLogStore, 'listAudit'>;
  /** Between AuditLog reads. @default 500 ms */
  readonly pollMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface RetrainResult {
  readonly executionName: string;
  readonly executionArn: string;
  readonly input: RetrainStart;
  /** The Guard's audit entry when followed and seen. */
  readonly decision?: AuditEvent;
}

/** The Step Functions console page of an execution. */
export function executionConsoleUrl(executionArn: string): string {
  const region = executionArn.split(':')[3] ?? 'us-east-1';
  return `https://${region}.console.aws.amazon.com/states/home?region=${region}#/v2/executions/details/${executionArn}`;
}

/**
 * The start input of a manual retrain, validated as the Guard validates it. Throws UsageError naming the fix; reads
 * and writes nothing.
 */
export function manualRetrainInput(
  model: string,
  reason: string | undefined,
  config: ModelOpsConfig,
  requestedBy: string,
  takeOver?: string,
): RetrainStart {
  if (!MODEL_NAME_PATTERN.test(model)) {
    throw new UsageError(`<model> "${model}" is not a model name (1-64 characters of a-z, 0-9 and "-")`);
  }
  if (reason === undefined || reason.trim() === '') {
    throw new UsageError(
      `--reason is required: say why ${model} should be retrained (it is audited and written to the new version's lineage), e.g. --reason "labels of November arrived"`,
    );
  }
  const configured = config.models.find((m) => m.name === model);
  const enabled = config.models.filter((m) => m.retrain.enabled).map((m) => m.name);
  if (configured === undefined) {
    throw new UsageError(
      `model "${model}" is not in modelops.config.ts (configured: ${config.models.map((m) => m.name).join(', ') || 'none'}); add it to models[] and enable retrain`,
    );
  }
  if (!configured.retrain.enabled) {
    throw new UsageError(
      `model "${model}" has no retrain enabled (models with retrain: ${enabled.join(', ') || 'none'}); set ` +
        `models[${model}].retrain.enabled with a trainer and a championGate in modelops.config.ts (docs/config.md#retrain)`,
    );
  }
  try {
    return parseRetrainStart(
      {
        model,
        trigger: 'manual',
        reason: reason.trim(),
        requestedBy,
        ...(takeOver !== undefined ? { takeOver } : {}),
      },
      enabled,
    );
  } catch (err) {
    if (err instanceof RetrainInputError)
      throw new UsageError(
        err.message.replace(/^invalid retrain input: /, '').replace(/input\.takeOver/g, '--take-over'),
      );
    throw err;
  }
}

async function sfnStartExecution(
  region: string,
  stateMachineArn: string,
  name: string,
  input: string,
): Promise<{ executionArn: string; startDate?: Date }> {
  const sfn = new SFNClient({ region });
  try {
    const r = await sfn.send(new StartExecutionCommand({ stateMachineArn, name, input }));
    return { executionArn: r.executionArn!, ...(r.startDate ? { startDate: r.startDate } : {}) };
  } catch (err) {
    if (err instanceof StateMachineDoesNotExist || err instanceof InvalidArn) {
      throw new UsageError(
        `retrain state machine ${stateMachineArn} does not exist (${(err as Error).message}); deploy the stack with a model that has retrain.enabled, or pass the right --state-machine-arn`,
      );
    }
    if (err instanceof ExecutionAlreadyExists) {
      throw new UsageError(`an execution named "${name}" already exists; pass another --name (or none)`);
    }
    throw new CliError(`StartExecution on ${stateMachineArn} failed: ${(err as Error).message}`);
  } finally {
    sfn.destroy();
  }
}

/** The retrain state machine of a stack (or the flag's ARN), refused with the fix when it has none. */
async function resolveStateMachine(
  options: RetrainOptions,
  target: Target,
  deps: RetrainDeps,
): Promise<string> {
  if (options.stateMachineArn !== undefined) return options.stateMachineArn;
  const outputs = await (deps.stackOutputs ?? stackOutputs)(options.stack!, target.region);
  const key =
    outputs[RETRAIN_STATE_MACHINE_OUTPUT] !== undefined
      ? RETRAIN_STATE_MACHINE_OUTPUT
      : Object.keys(outputs).find((k) => k.includes(RETRAIN_STATE_MACHINE_OUTPUT));
  if (key === undefined) {
    throw new UsageError(
      `--stack "${options.stack}" has no output ${RETRAIN_STATE_MACHINE_OUTPUT}: the deployed stack has no retrain ` +
        'pipeline. Enable retrain for the model and deploy (npx cdk deploy), or pass --state-machine-arn',
    );
  }
  return outputs[key]!;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Waits for the Guard's RETRAIN_STARTED / RETRAIN_SKIPPED of `executionArn`; undefined on timeout. */
async function awaitDecision(
  audit: Pick<AuditLogStore, 'listAudit'>,
  model: string,
  executionArn: string,
  sinceMs: number,
  timeoutMs: number,
  deps: RetrainDeps,
): Promise<AuditEvent | undefined> {
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? defaultSleep;
  const deadline = now() + timeoutMs;
  // Events are stamped with the execution's start time: read from a minute before the request (clock skew).
  const since = new Date(sinceMs - 60_000).toISOString();
  for (;;) {
    const events = await audit.listAudit(model, { since });
    const decision = events.find(
      (e) => e.actor === executionArn && (e.type === 'RETRAIN_STARTED' || e.type === 'RETRAIN_SKIPPED'),
    );
    if (decision !== undefined) return decision;
    if (now() >= deadline) return undefined;
    await sleep(deps.pollMs ?? 500);
  }
}

/** Starts one manual retrain; see the module comment. */
export async function retrain(
  model: string,
  options: RetrainOptions,
  /** The target, or how to resolve it: resolved only after the arguments passed their checks. */
  targetOrResolve: Target | (() => Promise<Target>),
  io: CliIo,
  deps: RetrainDeps = {},
): Promise<RetrainResult> {
  const now = deps.now ?? Date.now;
  // Checked before the config is read: a malformed argument needs no project.
  if (!MODEL_NAME_PATTERN.test(model)) {
    throw new UsageError(`<model> "${model}" is not a model name (1-64 characters of a-z, 0-9 and "-")`);
  }
  if (options.name !== undefined && !EXECUTION_NAME_PATTERN.test(options.name)) {
    throw new UsageError(
      `--name "${options.name}" is not an execution name (1-80 of A-Z, a-z, 0-9, "-", "_")`,
    );
  }
  if (options.stateMachineArn !== undefined && !STATE_MACHINE_ARN_PATTERN.test(options.stateMachineArn)) {
    throw new UsageError(
      `--state-machine-arn "${options.stateMachineArn}" is not a state machine ARN (arn:aws:states:<region>:<account>:stateMachine:<name>)`,
    );
  }
  let config: ModelOpsConfig;
  try {
    config = await (deps.config ?? loadProjectConfig)();
  } catch (err) {
    throw new UsageError(
      `cannot load modelops.config.ts (${(err as Error).message}); run modelops retrain from the project checkout`,
    );
  }
  const input = manualRetrainInput(model, options.reason, config, cliActor(), options.takeOver);
  const target = typeof targetOrResolve === 'function' ? await targetOrResolve() : targetOrResolve;
  const aws =
    options.stack !== undefined || options.stateMachineArn !== undefined || target.s3Endpoint === undefined;
  const requestedAt = now();
  const executionName = options.name ?? retrainExecutionName(model, 'manual', requestedAt);
  const body = JSON.stringify(input);
  io.out(`Target: ${aws && options.stack === undefined ? options.stateMachineArn : target.description}`);

  let executionArn: string;
  if (aws) {
    if (options.stack === undefined && options.stateMachineArn === undefined) {
      throw new UsageError(
        'an AWS target needs --stack <name> or --state-machine-arn <arn> to find the retrain state machine',
      );
    }
    const stateMachineArn = await resolveStateMachine(options, target, deps);
    // The ARN names its region; a stack's outputs are in the target's.
    const region = stateMachineArn.split(':')[3] ?? target.region;
    const started = await (
      deps.startExecution ?? ((arn, name, i) => sfnStartExecution(region, arn, name, i))
    )(stateMachineArn, executionName, body);
    executionArn = started.executionArn;
    io.out(`Started retrain execution ${executionName} of ${model} (trigger manual).`);
    io.out(`  execution ${executionArn}`);
    io.out(`  console   ${executionConsoleUrl(executionArn)}`);
  } else {
    const key = retrainRequestKey(model, executionName);
    const put =
      deps.putRequest ??
      (async (k: string, b: string) => {
        const s3 = s3Client(target);
        try {
          await s3.send(
            new PutObjectCommand({ Bucket: target.bucket, Key: k, Body: b, ContentType: 'application/json' }),
          );
        } finally {
          s3.destroy();
        }
      });
    try {
      await put(key, body);
    } catch (err) {
      throw new CliError(
        `writing the retrain request to ${target.description} failed: ${(err as Error).message} (is \`npm start\` running?)`,
      );
    }
    executionArn = localRetrainExecutionArn(executionName);
    io.out(`Requested retrain execution ${executionName} of ${model} (trigger manual) from local mode.`);
    io.out(`  request   s3://${target.bucket}/${key}`);
    io.out(`  execution ${executionArn}`);
  }

  if (options.follow === false || (aws && options.stack === undefined)) {
    // Without --stack the CLI does not know the deployment's AuditLog table, so it cannot read the decision.
    io.out(
      aws && options.stack === undefined && options.follow !== false
        ? `Not following (pass --stack to read the Guard's decision from the AuditLog). Follow it in the console.`
        : `Follow it with: modelops status ${model}`,
    );
    return { executionName, executionArn, input };
  }
  const audit =
    deps.audit ??
    new DynamoAuditLog(target.tables[AUDIT_LOG_TABLE.envVar]!, createDocumentClient(dynamoClient(target)));
  let decision: AuditEvent | undefined;
  try {
    decision = await awaitDecision(
      audit,
      model,
      executionArn,
      requestedAt,
      (options.timeoutSeconds ?? 60) * 1000,
      deps,
    );
  } catch (err) {
    throw new CliError(
      `the retrain was requested, but reading the AuditLog failed: ${(err as Error).message}`,
    );
  }
  if (decision === undefined) {
    throw new CliError(
      `the retrain was requested, but its Guard decided nothing within ${options.timeoutSeconds ?? 60} s` +
        (aws
          ? `; see the execution in the console (${executionConsoleUrl(executionArn)})`
          : '; is `npm start` running this version (its banner lists the retrain-triggers service), and was it ' +
            'restarted after retrain was enabled in modelops.config.ts? Its log says why a request did not start'),
    );
  }
  const details = decision.details as { runId?: string; code?: string; reason?: string };
  if (decision.type === 'RETRAIN_STARTED') {
    const next =
      decision.version !== undefined && details.runId !== undefined
        ? ` as ${model} ${retrainedVersion(decision.version, details.runId)}`
        : '';
    io.out(
      `RETRAIN_STARTED: run ${details.runId} from ${model} ${decision.version ?? '?'}; it trains, packages, passes ` +
        `the champion gate or not, and releases${next}. Follow it with: modelops status ${model}`,
    );
  } else {
    io.out(`RETRAIN_SKIPPED (${details.code}): ${details.reason}`);
  }
  return { executionName, executionArn, input, decision };
}
