/**
 * Watches `modelops.config.ts` while `npm start` runs. Local mode applies the config only at start: it becomes the
 * handlers' environment, the release and rollout policies, the inference server's limits, the alarm rules and the
 * drift schedule, all built once. Swapping it under running releases and open requests would mix two configs in one
 * rollout, so an edit is not applied in place. Instead each edit is re-validated at once: an invalid one is reported
 * field by field (and the running config stays, as it would anyway), a valid one says what changed and that a
 * restart applies it. The same message a deploy would give, without waiting for `cdk deploy`.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, parseConfig, type ModelOpsConfig } from '../lib/config';
import type { LocalLogger } from './logger';

export type ConfigCheck =
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'invalid'; readonly issues: readonly string[] }
  | { readonly kind: 'changed'; readonly paths: readonly string[] };

export interface ConfigWatcherOptions {
  /** The config file (`modelops.config.ts` at the project root). */
  readonly file: string;
  /** The config local mode started with. */
  readonly running: ModelOpsConfig;
  readonly logger: LocalLogger;
  /** Loads the file's default export afresh. @default a fresh tsx import (every call re-reads the file) */
  readonly load?: (file: string) => Promise<unknown>;
}

export interface ConfigWatcher {
  /** Re-reads and re-validates the file now, logs the outcome and returns it (the watch calls this on each edit). */
  check(): Promise<ConfigCheck>;
  stop(): void;
}

/** Changed fields listed in the message, at most; the rest are counted. */
const MAX_PATHS = 8;

/** A fresh import of a TypeScript module: tsx's `tsImport` loads it (and what it imports) in a new namespace. */
async function freshImport(file: string): Promise<unknown> {
  const { tsImport } = (await import('tsx/esm/api')) as {
    tsImport: (specifier: string, parent: string) => Promise<{ default?: unknown }>;
  };
  const mod = await tsImport(file, __filename);
  // A CommonJS-compiled module shows up as { default: { default: config } } through the ESM loader.
  const outer = mod.default as { default?: unknown } | undefined;
  return outer !== null && typeof outer === 'object' && 'default' in outer ? outer.default : outer;
}

/** Dotted paths (models[0].canary.steps) where two parsed configs differ. */
export function changedPaths(a: unknown, b: unknown, at = ''): string[] {
  if (Object.is(a, b)) return [];
  const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object';
  if (!isObject(a) || !isObject(b) || Array.isArray(a) !== Array.isArray(b)) return [at || '(config)'];
  if (Array.isArray(a) && Array.isArray(b) && a.length !== b.length) return [at || '(config)'];
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  return keys.flatMap((k) =>
    changedPaths(a[k], b[k], Array.isArray(a) ? `${at}[${k}]` : at ? `${at}.${k}` : k),
  );
}

export function watchConfig(options: ConfigWatcherOptions): ConfigWatcher {
  const { file, running, logger } = options;
  const load = options.load ?? freshImport;
  const name = path.basename(file);
  let lastText: string | undefined;
  let queue: Promise<unknown> = Promise.resolve();

  const checkNow = async (): Promise<ConfigCheck> => {
    let raw: unknown;
    try {
      raw = await load(file);
    } catch (err) {
      const issues = [`${name} could not be loaded: ${(err as Error).message.split('\n')[0]}`];
      logger.error(`${issues[0]}; local mode keeps running with the config it started with`);
      return { kind: 'invalid', issues };
    }
    let next: ModelOpsConfig;
    try {
      next = parseConfig(raw);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      logger.error(
        `${name} changed but is invalid; local mode keeps running with the config it started with. Fix:\n` +
          err.issues.map((i) => `  - ${i}`).join('\n'),
      );
      return { kind: 'invalid', issues: err.issues };
    }
    const paths = changedPaths(running, next);
    if (paths.length === 0) {
      logger.info(`${name} changed; the validated config is the one running, nothing to apply`);
      return { kind: 'unchanged' };
    }
    const shown = paths.slice(0, MAX_PATHS).join(', ');
    const more = paths.length > MAX_PATHS ? ` and ${paths.length - MAX_PATHS} more` : '';
    logger.warn(
      `${name} changed (${shown}${more}) and is valid, but local mode applies the config only at start: restart ` +
        '`npm start` (Ctrl-C, then npm start; local data is kept) to use it. Until then the config it started ' +
        'with stays in force.',
    );
    return { kind: 'changed', paths };
  };

  const check = (): Promise<ConfigCheck> => {
    // One check at a time, in order: an editor's save can fire several events.
    const next = queue.then(checkNow);
    queue = next.catch(() => undefined);
    return next;
  };

  // The directory, not the file: editors that save by rename replace the file, which ends a watch on it.
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(path.dirname(file), (_event, changed) => {
      if (changed !== null && changed.toString() !== name) return;
      void readFile(file, 'utf8')
        .then((text) => {
          // Several events for one save, or a touch: only new contents are checked (and reported) again.
          if (text === lastText) return;
          lastText = text;
          return check();
        })
        .catch((err: Error) => logger.error(`${name}: ${err.message}`));
    });
  } catch (err) {
    logger.warn(`cannot watch ${name} (${(err as Error).message}); restart npm start after editing it`);
  }
  void readFile(file, 'utf8').then(
    (text) => (lastText ??= text),
    () => undefined,
  );
  return {
    check,
    stop: () => watcher?.close(),
  };
}
