/**
 * Runs the REAL state machine definitions (stepfunctions/*.asl.json) with aws-local-stepfunctions, binding each
 * Task state to the in-process handler whose Lambda ARN its `Resource` names. The ASL file is never edited for local
 * mode: its `${…FunctionArn}` placeholders are filled with local ARNs, exactly as CDK's `definitionSubstitutions`
 * fills them with real ones.
 */
import './polyfills';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Context as LambdaContext } from 'aws-lambda';
import { StateMachine, type StateMachineDefinition } from 'aws-local-stepfunctions';
import { withTaskEnvironment, type TaskEnvironment } from '../lambdas/shared/env';
import type { LocalLogger } from './logger';

export const LOCAL_ACCOUNT = '000000000000';
export const LOCAL_REGION = 'us-east-1';

/** `arn:aws:lambda:us-east-1:000000000000:function:<name>`: what Step Functions would see in the account. */
export function localFunctionArn(functionName: string): string {
  return `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:${functionName}`;
}

export const STEPFUNCTIONS_DIR = path.resolve(__dirname, '..', 'stepfunctions');

export class AslDefinitionError extends Error {
  override name = 'AslDefinitionError';
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * Reads an ASL file and replaces every `${Name}` with `substitutions[Name]`. A placeholder without a substitution
 * is an error (CDK would refuse to deploy it too).
 */
export function loadDefinition(
  file: string,
  substitutions: Readonly<Record<string, string>>,
): StateMachineDefinition {
  const text = readFileSync(file, 'utf8');
  const missing = new Set<string>();
  const filled = text.replace(/\$\{([A-Za-z0-9_]+)\}/g, (_, name: string) => {
    const value = substitutions[name];
    if (value === undefined) {
      missing.add(name);
      return '';
    }
    // Substituted into a JSON string literal; escape so the file stays valid JSON.
    return JSON.stringify(value).slice(1, -1);
  });
  if (missing.size > 0) {
    throw new AslDefinitionError(
      `${path.basename(file)}: no substitution for ${[...missing].map((n) => `\${${n}}`).join(', ')}; pass it in substitutions`,
    );
  }
  return JSON.parse(filled) as StateMachineDefinition;
}

/** A Lambda handler as the Node.js runtime calls it (async style). */
export type LambdaHandler = (event: unknown, context: LambdaContext) => Promise<unknown>;

export interface LocalFunction {
  /** Function name as in the ARN. */
  readonly name: string;
  /** Loaded lazily, so process.env can be prepared before a handler module reads it at import time. */
  readonly load: () => Promise<LambdaHandler>;
  /** @default 60 */
  readonly timeoutSeconds?: number;
  /** @default 1024 */
  readonly memoryMb?: number;
  /**
   * The only environment the handler's env helpers see while it runs (its module load included), as a Lambda
   * function sees only its own configuration.
   * @default - no scope: the helpers read process.env
   */
  readonly environment?: TaskEnvironment;
  /**
   * `service`: the local stand-in of a service integration (`arn:aws:states:::sagemaker:…`, `…:states:startExecution…`)
   * bound by its Resource. Its error's message is the Cause as is (Step Functions puts the service's own description
   * there, not a Lambda error document). @default 'lambda'
   */
  readonly integration?: 'lambda' | 'service';
}

export type ExecutionStatus = 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'ABORTED';

export interface HistoryEvent {
  readonly type: string;
  readonly timestamp: string;
  readonly state?: string;
  readonly error?: string;
  readonly cause?: unknown;
  /** For StateExited/StateFailed: ms since the matching StateEntered. */
  readonly durationMs?: number;
  /**
   * For StateEntered of a Fail state: its input, i.e. the state the execution ended with (a failed execution has no
   * output). Step Functions' history has every state's input; locally only this one is kept.
   */
  readonly input?: unknown;
}

export interface ExecutionResult {
  readonly executionArn: string;
  readonly name: string;
  readonly input: unknown;
  readonly status: ExecutionStatus;
  readonly output?: unknown;
  readonly error?: string;
  readonly cause?: string;
  readonly startDate: string;
  readonly stopDate: string;
  readonly durationMs: number;
  readonly history: readonly HistoryEvent[];
}

export interface RunOptions {
  /** Execution name, unique per state machine. @default a random UUID */
  readonly name?: string;
}

export interface AslRunnerOptions {
  /** The definition with Resources already substituted (see `loadDefinition`). */
  readonly definition: StateMachineDefinition;
  /** Used in the execution ARN (`$$.Execution.Id`). */
  readonly stateMachineName: string;
  /** Handlers by the Lambda ARN Task states name in `Resource`. */
  readonly functions: ReadonlyMap<string, LocalFunction>;
  readonly logger: LocalLogger;
  /**
   * Replaces every Retry pause with this many milliseconds. For tests only: the ASL's real intervals (seconds,
   * with backoff) stay in force when unset.
   * @default - the intervals in the definition
   */
  readonly retryIntervalMs?: number;
  /**
   * What resumes each `.waitForTaskToken` state, by the Lambda ARN in its `Parameters.FunctionName`: the local
   * stand-in for the system that calls SendTaskSuccess (its result is the state's output) or SendTaskFailure (it
   * throws an error whose `name` is the failure's error). aws-local-stepfunctions does not pause on a task token
   * itself.
   * @default - none: a definition with such a state is refused
   */
  readonly taskTokenWaiters?: ReadonlyMap<string, TaskTokenWaiter>;
}

/**
 * Waits for the decision that resumes a `.waitForTaskToken` state, after its function has run with `payload`
 * (which carries `taskToken`). A state with `TimeoutSeconds` keeps it; one with `TimeoutSecondsPath` relies on the
 * waiter to throw `States.Timeout` (see `withLocalTokenTimeouts`).
 */
export type TaskTokenWaiter = (payload: unknown, taskToken: string) => Promise<unknown>;

/** A history event as it happens, with the state's input (StateEntered) or output (StateExited) when it has one. */
export interface LiveHistoryEvent extends HistoryEvent {
  readonly output?: unknown;
}

/**
 * What {@link AslRunner.observe} delivers, as each execution runs: its start, every history event, its end. The local
 * console draws running executions from it; Step Functions' GetExecutionHistory is the AWS counterpart.
 */
export type ExecutionObservation =
  | {
      readonly kind: 'started';
      readonly stateMachine: string;
      readonly name: string;
      readonly executionArn: string;
      readonly input: unknown;
      readonly startDate: string;
    }
  | {
      readonly kind: 'event';
      readonly stateMachine: string;
      readonly name: string;
      readonly event: LiveHistoryEvent;
    }
  | { readonly kind: 'finished'; readonly stateMachine: string; readonly result: ExecutionResult };

export type ExecutionObserver = (observation: ExecutionObservation) => void;

/** The Lambda service integration; its `.waitForTaskToken` form names the function in `Parameters.FunctionName`. */
const LAMBDA_WAIT_FOR_TOKEN = 'arn:aws:states:::lambda:invoke.waitForTaskToken';

/** The longest timer Node.js keeps (2^31 - 1 ms); a longer one fires at once. */
const MAX_LOCAL_TIMEOUT_SECONDS = 2_147_483;

/**
 * aws-local-stepfunctions resolves `TimeoutSecondsPath` against the state's effective input (after `Parameters`),
 * where Step Functions resolves it against the state input; for a Lambda integration the two never agree. So for a
 * `.waitForTaskToken` state the path is dropped and the waiter enforces the timeout itself (the approval waiter reads
 * the expiry stored from that same value). Nothing else in the definition changes.
 */
function withLocalTokenTimeouts(definition: StateMachineDefinition): StateMachineDefinition {
  const copy = JSON.parse(JSON.stringify(definition)) as StateMachineDefinition;
  for (const [, state] of allStates(copy.States as Record<string, TaskState>)) {
    const s = state as TaskState & { TimeoutSecondsPath?: string; TimeoutSeconds?: number };
    if (s.Resource === LAMBDA_WAIT_FOR_TOKEN && s.TimeoutSecondsPath !== undefined) {
      delete s.TimeoutSecondsPath;
      s.TimeoutSeconds = MAX_LOCAL_TIMEOUT_SECONDS;
    }
  }
  return copy;
}

/** The error a Task's override throws when its handler failed: carries the handler's error name. */
class LambdaFunctionError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

function errorName(err: unknown): string {
  if (err instanceof Error && err.name) return err.name;
  return 'Error';
}

/**
 * What Step Functions puts in `Cause` when a Lambda task fails: the runtime's JSON error document. Emulated so
 * handlers that read `$.error.Cause` (RecordFailure) see the same shape locally as on AWS.
 */
function lambdaErrorCause(err: unknown): string {
  const errorType = errorName(err);
  const errorMessage = err instanceof Error ? err.message : String(err);
  const trace = err instanceof Error && err.stack ? err.stack.split('\n') : [];
  return JSON.stringify({ errorType, errorMessage, trace });
}

function fakeContext(fn: LocalFunction, arn: string, startedAt: number): LambdaContext {
  const timeoutMs = (fn.timeoutSeconds ?? 60) * 1000;
  const awsRequestId = randomUUID();
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: fn.name,
    functionVersion: '$LATEST',
    invokedFunctionArn: arn,
    memoryLimitInMB: String(fn.memoryMb ?? 1024),
    awsRequestId,
    logGroupName: `/aws/lambda/${fn.name}`,
    logStreamName: `local/${awsRequestId}`,
    getRemainingTimeInMillis: () => Math.max(0, timeoutMs - (Date.now() - startedAt)),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

interface TaskState {
  readonly Type: string;
  readonly Resource?: string;
  readonly Parameters?: { readonly FunctionName?: unknown };
  readonly Retry?: readonly unknown[];
  readonly Branches?: readonly { States: Record<string, TaskState> }[];
  readonly Iterator?: { States: Record<string, TaskState> };
  readonly ItemProcessor?: { States: Record<string, TaskState> };
}

/** Every state, including those nested in Parallel branches and Map iterators (names are unique machine-wide). */
function allStates(states: Record<string, TaskState>): [string, TaskState][] {
  const out: [string, TaskState][] = [];
  for (const [name, state] of Object.entries(states)) {
    out.push([name, state]);
    for (const branch of state.Branches ?? []) out.push(...allStates(branch.States));
    const inner = state.ItemProcessor ?? state.Iterator;
    if (inner) out.push(...allStates(inner.States));
  }
  return out;
}

function describeCause(cause: unknown): string {
  if (typeof cause !== 'string') return cause === undefined ? '' : JSON.stringify(cause);
  try {
    const doc = JSON.parse(cause) as { errorMessage?: unknown };
    if (typeof doc.errorMessage === 'string') return doc.errorMessage;
  } catch {
    // Not the Lambda error document: print as is.
  }
  return cause;
}

/**
 * An in-process Step Functions: one definition, any number of concurrent executions.
 *
 * @example
 * const runner = new AslRunner({ definition, stateMachineName: 'release', functions, logger });
 * const result = await runner.run({ bucket, key });
 * if (result.status === 'FAILED') console.log(result.error, result.cause);
 */
export class AslRunner {
  private readonly definition: StateMachineDefinition;
  private readonly machine: StateMachine;
  private readonly taskHandlers: Record<string, (input: unknown) => Promise<unknown>> = {};
  private readonly retryOverrides: Record<string, number[]> = {};
  private readonly observers = new Set<ExecutionObserver>();

  constructor(private readonly options: AslRunnerOptions) {
    this.definition = withLocalTokenTimeouts(options.definition);
    // The definitions use local ARNs and plain JSONPath, so the library's own validation (asl-validator) applies.
    this.machine = new StateMachine(this.definition);
    const unbound: string[] = [];
    for (const [stateName, state] of allStates(this.definition.States as Record<string, TaskState>)) {
      if (state.Retry && options.retryIntervalMs !== undefined) {
        this.retryOverrides[stateName] = state.Retry.map(() => options.retryIntervalMs!);
      }
      if (state.Type !== 'Task') continue;
      if (state.Resource === LAMBDA_WAIT_FOR_TOKEN) {
        const arn = String(state.Parameters?.FunctionName);
        const fn = options.functions.get(arn);
        const waiter = options.taskTokenWaiters?.get(arn);
        if (!fn || !waiter) {
          unbound.push(`${stateName} (${arn}${fn ? ': no task token waiter' : ''})`);
          continue;
        }
        this.taskHandlers[stateName] = this.bindWaitForToken(fn, arn, waiter);
        continue;
      }
      const fn = state.Resource ? options.functions.get(state.Resource) : undefined;
      if (!fn) {
        unbound.push(`${stateName} (${state.Resource ?? 'no Resource'})`);
        continue;
      }
      this.taskHandlers[stateName] = this.bind(fn, state.Resource!);
    }
    if (unbound.length > 0) {
      throw new AslDefinitionError(
        `${options.stateMachineName}: no local function for Task state(s) ${unbound.join(', ')}; add them to functions`,
      );
    }
  }

  /**
   * A `.waitForTaskToken` state: invokes the function with `Parameters.Payload` (its result is discarded, as Step
   * Functions discards it), then waits for the waiter's decision. A waiter's failure keeps its error name, as
   * SendTaskFailure's `error` does.
   */
  private bindWaitForToken(
    fn: LocalFunction,
    arn: string,
    waiter: TaskTokenWaiter,
  ): (input: unknown) => Promise<unknown> {
    const invoke = this.bind(fn, arn);
    return async (input: unknown) => {
      const payload = (input as { Payload?: unknown } | null)?.Payload ?? null;
      await invoke(payload);
      const token = (payload as { taskToken?: unknown } | null)?.taskToken;
      if (typeof token !== 'string') {
        throw new LambdaFunctionError(
          'States.Runtime',
          `${arn}: a .waitForTaskToken state must pass "taskToken.$": "$$.Task.Token" in its Payload`,
        );
      }
      try {
        return JSON.parse(JSON.stringify((await waiter(payload, token)) ?? null)) as unknown;
      } catch (err) {
        throw new LambdaFunctionError(errorName(err), err instanceof Error ? err.message : String(err));
      }
    };
  }

  /** Calls the handler the way Lambda would: fresh context, JSON in and out, errors keep their name. */
  private bind(fn: LocalFunction, arn: string): (input: unknown) => Promise<unknown> {
    let handler: Promise<LambdaHandler> | undefined;
    const invoke = async (input: unknown): Promise<unknown> => {
      handler ??= fn.load();
      const h = await handler;
      // Lambda delivers a deserialized copy; a handler must not be able to mutate the machine's state.
      return h(JSON.parse(JSON.stringify(input ?? null)) as unknown, fakeContext(fn, arn, Date.now()));
    };
    return async (input: unknown) => {
      let result: unknown;
      try {
        const environment = fn.environment;
        result = await (environment ? withTaskEnvironment(environment, () => invoke(input)) : invoke(input));
      } catch (err) {
        // The library matches Retry/Catch `ErrorEquals` against `error.name`, as Step Functions matches errorType.
        const cause =
          fn.integration === 'service'
            ? err instanceof Error
              ? err.message
              : String(err)
            : lambdaErrorCause(err);
        throw new LambdaFunctionError(errorName(err), cause);
      }
      // Lambda serializes the result to JSON: undefined becomes null, Dates become strings, and so on.
      return result === undefined ? null : (JSON.parse(JSON.stringify(result)) as unknown);
    };
  }

  /** Receives every execution's start, history events and end from now on; returns the unsubscribe function. */
  observe(observer: ExecutionObserver): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  /** An observer's failure must never change an execution. */
  private notify(observation: ExecutionObservation): void {
    for (const observer of this.observers) {
      try {
        observer(observation);
      } catch (err) {
        this.options.logger.warn(
          `[${this.options.stateMachineName}] execution observer failed: ${(err as Error).message}`,
        );
      }
    }
  }

  /** Runs one execution to its end. Never rejects for an execution failure: the status says how it ended. */
  async run(input: unknown, runOptions: RunOptions = {}): Promise<ExecutionResult> {
    const result = await this.runUnobserved(input, runOptions);
    if (this.observers.size > 0) {
      this.notify({ kind: 'finished', stateMachine: this.options.stateMachineName, result });
    }
    return result;
  }

  private async runUnobserved(input: unknown, runOptions: RunOptions = {}): Promise<ExecutionResult> {
    const name = runOptions.name ?? randomUUID();
    const executionArn = `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:execution:${this.options.stateMachineName}:${name}`;
    const log = this.options.logger;
    const tag = `[${this.options.stateMachineName} ${name}]`;
    const startedAt = Date.now();
    const startDate = new Date(startedAt).toISOString();

    let execution: ReturnType<StateMachine['run']>;
    try {
      execution = this.machine.run(input as Json, {
        overrides: {
          taskResourceLocalHandlers: this.taskHandlers as NonNullable<
            NonNullable<Parameters<StateMachine['run']>[1]>['overrides']
          >['taskResourceLocalHandlers'],
          ...(Object.keys(this.retryOverrides).length > 0
            ? { retryIntervalOverrides: this.retryOverrides }
            : {}),
        },
        // One task token per execution: only a .waitForTaskToken state reads it, and each waits on its own request.
        context: {
          Execution: { Id: executionArn, Name: name, StartTime: startDate },
          Task: { Token: `local-task-token:${name}:${randomUUID()}` },
        },
      });
    } catch (err) {
      // Input the library refuses before starting (not JSON, …): a failed execution, not a crash.
      const stopDate = new Date().toISOString();
      log.error(`${tag} could not start: ${(err as Error).message}`);
      return {
        executionArn,
        name,
        input,
        status: 'FAILED',
        error: errorName(err),
        cause: (err as Error).message,
        startDate,
        stopDate,
        durationMs: Date.now() - startedAt,
        history: [],
      };
    }
    // Handle the result promise at once so a failure can never surface as an unhandled rejection while the event
    // log below is being drained.
    const settled = execution.result.then(
      (output) => ({ ok: true as const, output }),
      (error: unknown) => ({ ok: false as const, error }),
    );

    const history: HistoryEvent[] = [];
    const enteredAt = new Map<string, number>();
    const caught = new Set<string>();
    let status: ExecutionStatus = 'SUCCEEDED';
    let output: unknown;
    let error: string | undefined;
    let cause: string | undefined;
    log.info(`${tag} started with ${JSON.stringify(input)}`);
    const machineName = this.options.stateMachineName;
    const observed = this.observers.size > 0;
    if (observed)
      this.notify({ kind: 'started', stateMachine: machineName, name, executionArn, input, startDate });
    try {
      for await (const event of execution.eventLogs) {
        const timestamp = new Date(event.timestamp).toISOString();
        const before = history.length;
        switch (event.type) {
          case 'StateEntered':
            enteredAt.set(event.state.name, event.timestamp);
            history.push({
              type: event.type,
              timestamp,
              state: event.state.name,
              ...(event.state.type === 'Fail' ? { input: event.state.input } : {}),
            });
            log.info(`${tag} -> ${event.state.name} (${event.state.type})`);
            break;
          case 'StateExited': {
            const durationMs = event.timestamp - (enteredAt.get(event.state.name) ?? event.timestamp);
            history.push({ type: event.type, timestamp, state: event.state.name, durationMs });
            const how = caught.delete(event.state.name) ? 'left through Catch' : 'ok';
            log.info(`${tag} <- ${event.state.name} ${how} in ${durationMs} ms`);
            break;
          }
          case 'StateFailed': {
            const durationMs = event.timestamp - (enteredAt.get(event.state.name) ?? event.timestamp);
            history.push({
              type: event.type,
              timestamp,
              state: event.state.name,
              error: event.Error,
              cause: event.Cause,
              durationMs,
            });
            log.warn(
              `${tag} x  ${event.state.name} failed in ${durationMs} ms: ${event.Error}: ${describeCause(event.Cause)}`,
            );
            break;
          }
          case 'StateRetried':
            history.push({ type: event.type, timestamp, state: event.state.name });
            log.warn(`${tag} ~  ${event.state.name} retry #${event.retry.attempt}`);
            break;
          case 'StateCaught':
            caught.add(event.state.name);
            history.push({ type: event.type, timestamp, state: event.state.name });
            log.info(`${tag} ~  ${event.state.name} error caught -> ${event.catch.catcher.Next}`);
            break;
          case 'ExecutionFailed':
            status = 'FAILED';
            error = event.Error;
            cause = typeof event.Cause === 'string' ? event.Cause : JSON.stringify(event.Cause);
            history.push({ type: event.type, timestamp, error, cause });
            break;
          case 'ExecutionTimeout':
            status = 'TIMED_OUT';
            history.push({ type: event.type, timestamp });
            break;
          case 'ExecutionAborted':
            status = 'ABORTED';
            history.push({ type: event.type, timestamp });
            break;
          default:
            history.push({ type: event.type, timestamp });
        }
        if (observed && history.length > before) {
          const state = (event as { state?: { input?: unknown; output?: unknown } }).state;
          const live: LiveHistoryEvent = {
            ...history[history.length - 1]!,
            ...(event.type === 'StateEntered' && state ? { input: state.input } : {}),
            ...(event.type === 'StateExited' && state?.output !== undefined ? { output: state.output } : {}),
          };
          this.notify({ kind: 'event', stateMachine: machineName, name, event: live });
        }
      }
    } catch (err) {
      log.error(`${tag} event log failed: ${(err as Error).message}`);
    }

    const outcome = await settled;
    if (outcome.ok) {
      output = outcome.output;
    } else if (status === 'SUCCEEDED') {
      // The result failed without a terminal event (should not happen): still report a failure.
      status = 'FAILED';
      error = errorName(outcome.error);
      cause = (outcome.error as Error).message;
    }
    const stoppedAt = Date.now();
    const durationMs = stoppedAt - startedAt;
    if (status === 'SUCCEEDED') log.info(`${tag} SUCCEEDED in ${durationMs} ms`);
    else
      log.warn(`${tag} ${status} in ${durationMs} ms${error ? `: ${error}: ${describeCause(cause)}` : ''}`);
    return {
      executionArn,
      name,
      input,
      status,
      ...(output !== undefined ? { output } : {}),
      ...(error !== undefined ? { error } : {}),
      ...(cause !== undefined ? { cause } : {}),
      startDate,
      stopDate: new Date(stoppedAt).toISOString(),
      durationMs,
      history,
    };
  }
}
