/**
 * Local stand-in for the S3 → EventBridge rule: s3rver has no bucket notifications, but it emits an in-process
 * `event` (the S3 event notification shape) for every Put/Post/Copy. An object created at a key the release trigger
 * matches (lambdas/core/release-trigger.ts, the same definition the rule is built from) starts a release execution
 * with input `{bucket, key}`, exactly the input the EventBridge rule's input transformer gives the state machine on
 * AWS. Like the rule, it also starts one for a nested key, which ValidateArtifact rejects naming the layout.
 *
 * Any S3 client works unchanged (`aws s3 cp … --endpoint-url`, the SDK, `modelops push`).
 */
import { appendFile } from 'node:fs/promises';
import type S3rver from 's3rver';
import { parseIncomingKey } from '../lambdas/core/keys';
import { startsRelease } from '../lambdas/core/release-trigger';
import type { ExecutionResult, ExecutionStatus } from './asl-runner';
import type { LocalLogger } from './logger';

export interface TrackedExecution {
  readonly name: string;
  readonly bucket: string;
  readonly key: string;
  readonly startedAt: string;
  status: ExecutionStatus | 'RUNNING';
  result?: ExecutionResult;
}

export interface WatcherOptions {
  readonly s3rver: S3rver;
  readonly bucket: string;
  readonly startRelease: (input: { bucket: string; key: string }, name: string) => Promise<ExecutionResult>;
  readonly logger: LocalLogger;
  /** Appends one JSON line per finished execution, so results outlive the process. @default no journal */
  readonly journalFile?: string;
  /** Called when an execution ends (after it is recorded). */
  readonly onFinished?: (execution: TrackedExecution) => void;
}

export interface Watcher {
  /** Every execution this watcher started, oldest first. */
  executions(): readonly TrackedExecution[];
  /** Resolves when no execution is running (at once if none is). */
  idle(): Promise<void>;
  /** Stops listening and waits for running executions to end. */
  stop(): Promise<void>;
}

/** Step Functions execution names: 1-80 of letters, digits, "-" and "_". */
export function executionName(model: string, version: string, now: Date = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:.TZ]/g, '')
    .slice(0, 17);
  const suffix = Math.random().toString(36).slice(2, 6);
  return `${model}-${version}-${stamp}-${suffix}`.replace(/[^A-Za-z0-9_-]/g, '_').slice(-80);
}

export function startWatcher(options: WatcherOptions): Watcher {
  const tracked: TrackedExecution[] = [];
  const running = new Set<Promise<void>>();
  const log = options.logger;
  let listening = true;

  const onEvent = (event: { Records?: unknown }) => {
    if (!listening || !Array.isArray(event.Records)) return;
    for (const record of event.Records as S3rver.EventRecord[]) {
      if (!record.eventName?.startsWith('ObjectCreated:')) continue;
      if (record.s3?.bucket?.name !== options.bucket) continue;
      const key = record.s3.object.key;
      if (!startsRelease(key)) continue;
      const { model, version } = parseIncomingKey(key);
      const execution: TrackedExecution = {
        name: executionName(model, version),
        bucket: options.bucket,
        key,
        startedAt: new Date().toISOString(),
        status: 'RUNNING',
      };
      tracked.push(execution);
      log.info(`manifest uploaded: s3://${options.bucket}/${key} -> release execution ${execution.name}`);
      const done = runOne(execution);
      running.add(done);
      void done.finally(() => running.delete(done));
    }
  };

  async function runOne(execution: TrackedExecution): Promise<void> {
    try {
      const result = await options.startRelease(
        { bucket: execution.bucket, key: execution.key },
        execution.name,
      );
      execution.result = result;
      execution.status = result.status;
    } catch (err) {
      // The runner reports failures as a status; reaching here is a bug, and it must not take the server down.
      execution.status = 'FAILED';
      log.error(`execution ${execution.name} crashed: ${(err as Error).stack ?? String(err)}`);
    }
    if (options.journalFile) {
      const line = JSON.stringify({
        name: execution.name,
        key: execution.key,
        startedAt: execution.startedAt,
        status: execution.status,
        error: execution.result?.error,
        cause: execution.result?.cause,
        durationMs: execution.result?.durationMs,
      });
      await appendFile(options.journalFile, `${line}\n`).catch((err: Error) =>
        log.warn(`could not append to ${options.journalFile}: ${err.message}`),
      );
    }
    try {
      options.onFinished?.(execution);
    } catch (err) {
      log.error(`onFinished threw: ${(err as Error).message}`);
    }
  }

  options.s3rver.on('event', onEvent);

  async function idle(): Promise<void> {
    // Executions may start while we wait; loop until a check finds none running.
    while (running.size > 0) await Promise.allSettled([...running]);
  }

  return {
    executions: () => [...tracked],
    idle,
    async stop() {
      listening = false;
      options.s3rver.off('event', onEvent);
      await idle();
    },
  };
}
