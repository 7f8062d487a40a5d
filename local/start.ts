/**
 * Local mode as a library: emulators + release runtime + upload watcher (+ later services), started and stopped as
 * one unit. `local/main.ts` wraps it in a command line; tests and the measurement script call it directly.
 */
import path from 'node:path';
import type { ModelOpsConfig } from '../lib/config';
import { startEmulators, type EmulatorOptions, type Emulators } from './emulators';
import type { LocalLogger } from './logger';
import { createLocalRuntime, type LocalRuntime } from './runtime';
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
  /** Stops services, waits for running executions, stops the emulators. Idempotent. */
  stop(): Promise<void>;
}

/** File (inside the data dir) where finished executions are journaled, one JSON line each. */
export const EXECUTION_JOURNAL = 'executions.jsonl';

export async function startLocalMode(options: LocalModeOptions): Promise<LocalMode> {
  const emulators = await startEmulators(options);
  const started: { name: string; running: RunningService }[] = [];
  let watcher: Watcher | undefined;
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      for (const s of [...started].reverse()) {
        await s.running.stop().catch((err: Error) => options.logger.warn(`${s.name}: ${err.message}`));
      }
      await watcher?.stop();
      await emulators.stop();
    })());
  try {
    const runtime = await createLocalRuntime({
      emulators,
      logger: options.logger,
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
    return { emulators, runtime, watcher, services: started, stop };
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
}
