/**
 * Local mode as a library: emulators + release runtime + upload watcher (+ later services), started and stopped as
 * one unit. `local/main.ts` wraps it in a command line; tests and the measurement script call it directly.
 */
import { appendFile } from 'node:fs/promises';
import path from 'node:path';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { auditEvent } from '../lambdas/core/audit';
import { parseIncomingKey } from '../lambdas/core/keys';
import { recordRetrainOutcome } from '../lambdas/core/retrain-outcome';
import { RETRAIN_STATE_KIND, retrainPolicyOf, type RetrainState } from '../lambdas/core/retrain-policy';
import { AUDIT_LOG_TABLE, MONITOR_STATE_TABLE } from '../lambdas/core/tables';
import type { ModelOpsConfig } from '../lib/config';
import { LOCAL_ACCOUNT, LOCAL_REGION, type ExecutionStatus } from './asl-runner';
import { emulatorClients, startEmulators, type EmulatorOptions, type Emulators } from './emulators';
import { ExecutionJournal, JOURNAL_DIR, type JournalEntry } from './journal';
import type { LocalLogger } from './logger';
import {
  createLocalRuntime,
  RELEASE_STATE_MACHINE,
  RETRAIN_STATE_MACHINE,
  type LocalRuntime,
} from './runtime';
import { startWatcher, type TrackedExecution, type Watcher } from './watcher';

/**
 * A long-running local service started after the emulators and the runtime, e.g. the HTTP inference server
 * (`POST /models/{name}/invoke`) of the next issue. Local mode starts each in order and stops them in reverse.
 */
export interface LocalService {
  readonly name: string;
  start(context: LocalServiceContext): Promise<RunningService>;
}

export interface LocalServiceContext {
  readonly emulators: Emulators;
  readonly runtime: LocalRuntime;
  readonly watcher: Watcher;
  readonly logger: LocalLogger;
}

export interface RunningService {
  /** Printed in the startup banner when set. */
  readonly url?: string;
  /** Printed in the startup banner when there is no `url`, e.g. how often a monitor runs. */
  readonly summary?: string;
  stop(): Promise<void>;
}

export interface LocalModeOptions extends EmulatorOptions {
  readonly logger: LocalLogger;
  /** @default modelops.config.ts */
  readonly config?: ModelOpsConfig;
  /** Tests only: replaces every Retry pause (ms). */
  readonly retryIntervalMs?: number;
  /** @default none (`npm start` passes the inference server, local/inference-server.ts) */
  readonly services?: readonly LocalService[];
  readonly onExecutionFinished?: (execution: TrackedExecution) => void;
}

export interface LocalMode {
  readonly emulators: Emulators;
  readonly runtime: LocalRuntime;
  readonly watcher: Watcher;
  readonly services: readonly { readonly name: string; readonly running: RunningService }[];
  /**
   * Resolves when every execution a crash had interrupted (found in the journal at start) has been resumed to its end
   * or ended as interrupted; at once when there was none.
   */
  readonly recovery: Promise<readonly RecoveredExecution[]>;
  /** Stops services, waits for running executions, stops the emulators. Idempotent. */
  stop(): Promise<void>;
}

/** File (inside the data dir) where finished executions are journaled, one JSON line each. */
export const EXECUTION_JOURNAL = 'executions.jsonl';

/**
 * What local mode does, per state machine, with an execution a crash interrupted. The release is resumed: re-run
 * from the start under its name, which is safe because every release step is idempotent (ValidateArtifact re-reads
 * the bundle, RegisterVersion copies only if absent and writes conditionally), so a version left half-registered is
 * completed instead of staying half-made. A machine not listed is ended as interrupted, never re-run blindly.
 */
export const RECOVERY_POLICY: Readonly<Record<string, 'resume' | 'end'>> = {
  [RELEASE_STATE_MACHINE]: 'resume',
};

/** An execution interrupted this many times is ended instead of resumed again (it may be what crashes). */
export const MAX_EXECUTION_ATTEMPTS = 3;

export interface RecoveredExecution {
  readonly name: string;
  readonly stateMachine: string;
  readonly input: unknown;
  /** `RESUMED` ran it again to the status in `status`; `INTERRUPTED` ended it with a RELEASE_INTERRUPTED event. */
  readonly action: 'RESUMED' | 'INTERRUPTED';
  readonly status: ExecutionStatus | 'INTERRUPTED';
  readonly reason?: string;
}

function releaseInput(input: unknown): { bucket: string; key: string } | undefined {
  const i = input as { bucket?: unknown; key?: unknown } | null;
  return i && typeof i.bucket === 'string' && typeof i.key === 'string'
    ? { bucket: i.bucket, key: i.key }
    : undefined;
}

/**
 * Recovers every RUNNING entry of the journal: resume or end, per {@link RECOVERY_POLICY}. Nothing is dropped
 * silently: each entry ends up re-run, audited as RELEASE_INTERRUPTED, or (when even that fails) left in the
 * journal for the next start, and each outcome is logged.
 */
async function recoverInterrupted(
  journal: ExecutionJournal,
  emulators: Emulators,
  runtime: LocalRuntime,
  options: LocalModeOptions,
  resultsFile: string,
): Promise<RecoveredExecution[]> {
  const log = options.logger;
  const { entries, invalid } = await journal.pending();
  for (const bad of invalid) {
    log.error(
      `journal entry ${bad.file} is unreadable (${bad.reason}); left in place, inspect and delete it`,
    );
  }
  if (entries.length === 0) return [];
  log.warn(`${entries.length} execution(s) were interrupted by the last shutdown; recovering them`);
  const { s3, dynamodb: ddb } = emulatorClients(emulators);
  // Imported here: the adapter modules create their default SDK clients from process.env when they load.
  const [{ DynamoAuditLog }, { DynamoMonitorStateStore }, { createDocumentClient }] = await Promise.all([
    import('../lambdas/adapters/dynamo-audit-log'),
    import('../lambdas/adapters/dynamo-monitor-state'),
    import('../lambdas/adapters/clients'),
  ]);
  const doc = createDocumentClient(ddb);
  const audit = new DynamoAuditLog(emulators.tables[AUDIT_LOG_TABLE.envVar]!, doc);
  const monitorState = new DynamoMonitorStateStore(emulators.tables[MONITOR_STATE_TABLE.envVar]!, doc);
  const manifestExists = async (input: { bucket: string; key: string }): Promise<boolean> => {
    try {
      await s3.send(new HeadObjectCommand({ Bucket: input.bucket, Key: input.key }));
      return true;
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 404) return false;
      throw err;
    }
  };
  const record = (line: Record<string, unknown>) =>
    appendFile(
      resultsFile,
      `${JSON.stringify(line)}
`,
    ).catch((err: Error) => log.warn(`could not append to ${resultsFile}: ${err.message}`));

  const recovered: RecoveredExecution[] = [];
  try {
    for (const entry of entries) {
      const outcome = await recoverOne(entry);
      if (outcome) recovered.push(outcome);
    }
  } finally {
    s3.destroy();
    ddb.destroy();
  }
  return recovered;

  async function recoverOne(entry: JournalEntry): Promise<RecoveredExecution | undefined> {
    const input = releaseInput(entry.input);
    const where = input ? ` for s3://${input.bucket}/${input.key}` : '';
    let reason: string | undefined;
    if ((RECOVERY_POLICY[entry.stateMachine] ?? 'end') === 'end') {
      reason = `${entry.stateMachine} executions are not resumed by local mode`;
    } else if (entry.attempt >= MAX_EXECUTION_ATTEMPTS) {
      reason = `interrupted ${entry.attempt} times; not resumed again`;
    } else if (!input) {
      reason = 'its input names no bucket and key';
    } else if (!(await manifestExists(input))) {
      reason = 'its manifest no longer exists';
    }

    if (reason === undefined) {
      log.warn(
        `resuming interrupted ${entry.stateMachine} execution ${entry.name}${where} (started ${entry.startedAt}, attempt ${entry.attempt + 1})`,
      );
      const result = await runtime.resumeRelease(entry);
      log.info(`resumed ${entry.stateMachine} execution ${entry.name}${where}: ${result.status}`);
      await record({
        name: entry.name,
        key: input!.key,
        startedAt: entry.startedAt,
        status: result.status,
        resumed: true,
        error: result.error,
        cause: result.cause,
        durationMs: result.durationMs,
      });
      options.onExecutionFinished?.({
        name: entry.name,
        bucket: input!.bucket,
        key: input!.key,
        startedAt: entry.startedAt,
        status: result.status,
        result,
      });
      return {
        name: entry.name,
        stateMachine: entry.stateMachine,
        input: entry.input,
        action: 'RESUMED',
        status: result.status,
      };
    }

    if (entry.stateMachine === RETRAIN_STATE_MACHINE) return endRetrain(entry, reason);
    const key = input ? parseIncomingKey(input.key) : undefined;
    if (key && key.issues.length === 0) {
      try {
        await audit.appendAudit(
          auditEvent({
            model: key.model,
            version: key.version,
            type: 'RELEASE_INTERRUPTED',
            actor: `local-mode-recovery`,
            details: {
              execution: entry.name,
              stateMachine: entry.stateMachine,
              input: entry.input,
              startedAt: entry.startedAt,
              attempt: entry.attempt,
              reason,
            },
          }),
        );
      } catch (err) {
        log.error(
          `could not audit interrupted execution ${entry.name}: ${(err as Error).message}; kept in the journal for the next start`,
        );
        return undefined;
      }
    }
    log.warn(
      `${entry.stateMachine} execution ${entry.name}${where} was interrupted and ended: ${reason} (RELEASE_INTERRUPTED${key && key.issues.length === 0 ? ` audited for ${key.model} ${key.version}` : ', not audited: no model in its input'})`,
    );
    await record({
      name: entry.name,
      key: input?.key,
      startedAt: entry.startedAt,
      status: 'INTERRUPTED',
      cause: reason,
    });
    await journal.end(entry.name);
    return {
      name: entry.name,
      stateMachine: entry.stateMachine,
      input: entry.input,
      action: 'INTERRUPTED',
      status: 'INTERRUPTED',
      reason,
    };
  }

  /**
   * A retrain a crash interrupted is not re-run (it may have trained, packaged or released part-way), but its
   * model's retrain slot is released as RecordFailure would: RETRAIN_FAILED audited, backoff applied. Otherwise the
   * Guard would skip every trigger with RETRAIN_RUNNING until the state machine timeout (8 h).
   */
  async function endRetrain(entry: JournalEntry, reason: string): Promise<RecoveredExecution | undefined> {
    const model = (entry.input as { model?: unknown } | null)?.model;
    const configured =
      typeof model === 'string'
        ? runtime.config.models.find((m) => m.name === model && m.retrain.enabled)
        : undefined;
    if (configured !== undefined) {
      const executionId = `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:execution:${entry.stateMachine}:${entry.name}`;
      try {
        // The run id, when this execution's Guard took the slot (RecordFailure gets it from the execution's state).
        const held = (await monitorState.getState(configured.name, RETRAIN_STATE_KIND))?.state as
          RetrainState | undefined;
        const runId = held?.running?.executionId === executionId ? held.running.runId : undefined;
        await recordRetrainOutcome(
          { monitorState, audit },
          {
            model: configured.name,
            executionId,
            ...(runId !== undefined ? { runId } : {}),
            outcome: 'failed',
            failure: { step: 'LocalModeInterrupted', error: 'LocalModeInterrupted', cause: reason },
          },
          retrainPolicyOf(configured),
          Date.now(),
        );
      } catch (err) {
        log.error(
          `could not end interrupted retrain ${entry.name}: ${(err as Error).message}; kept in the journal for the next start`,
        );
        return undefined;
      }
    }
    log.warn(
      `retrain execution ${entry.name} was interrupted and ended: ${reason}` +
        (configured
          ? ` (RETRAIN_FAILED audited for ${configured.name}; its retrain slot is free)`
          : ' (no retrain-enabled model in its input)'),
    );
    await record({ name: entry.name, startedAt: entry.startedAt, status: 'INTERRUPTED', cause: reason });
    await journal.end(entry.name);
    return {
      name: entry.name,
      stateMachine: entry.stateMachine,
      input: entry.input,
      action: 'INTERRUPTED',
      status: 'INTERRUPTED',
      reason,
    };
  }
}

export async function startLocalMode(options: LocalModeOptions): Promise<LocalMode> {
  const emulators = await startEmulators(options);
  const started: { name: string; running: RunningService }[] = [];
  let watcher: Watcher | undefined;
  let recovery: Promise<readonly RecoveredExecution[]> = Promise.resolve([]);
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      for (const s of [...started].reverse()) {
        await s.running.stop().catch((err: Error) => options.logger.warn(`${s.name}: ${err.message}`));
      }
      await watcher?.stop();
      await recovery.catch(() => undefined);
      await emulators.stop();
    })());
  const journal = new ExecutionJournal(path.join(emulators.dataDir, JOURNAL_DIR));
  try {
    const runtime = await createLocalRuntime({
      emulators,
      logger: options.logger,
      journal,
      ...(options.config ? { config: options.config } : {}),
      ...(options.retryIntervalMs !== undefined ? { retryIntervalMs: options.retryIntervalMs } : {}),
    });
    watcher = startWatcher({
      s3rver: emulators.s3rver,
      bucket: emulators.bucket,
      startRelease: runtime.startRelease,
      logger: options.logger,
      journalFile: path.join(emulators.dataDir, EXECUTION_JOURNAL),
      ...(options.onExecutionFinished ? { onFinished: options.onExecutionFinished } : {}),
    });
    for (const service of options.services ?? []) {
      const running = await service.start({ emulators, runtime, watcher, logger: options.logger });
      started.push({ name: service.name, running });
    }
    // In the background: a resumed release may take as long as any other, and uploads need not wait for it.
    recovery = recoverInterrupted(
      journal,
      emulators,
      runtime,
      options,
      path.join(emulators.dataDir, EXECUTION_JOURNAL),
    ).catch((err: Error) => {
      options.logger.error(`recovering interrupted executions failed: ${err.message}; they stay journaled`);
      return [];
    });
    return { emulators, runtime, watcher, services: started, recovery, stop };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}
