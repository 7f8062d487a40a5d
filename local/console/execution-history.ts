/**
 * The console's executions across restarts: every finished execution, with the state-by-state history its graph is
 * drawn from, appended as one JSON line to `<dataDir>/console-executions.jsonl`, and read back at the next start to
 * seed the ring. `executions.jsonl` (local/start.ts) cannot serve: it holds a summary per finished release started
 * by an upload, no history and no retrain.
 *
 * Bounded like the ring: the last `capacity` executions per state machine are kept. Appending is cheap and a crash
 * mid-line loses only that line; the file is compacted (rewritten to a temp file, then renamed over it) at load and
 * whenever it holds twice what is kept. An unreadable line is skipped with a warning, never fatal to the start.
 */
import { appendFile, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { LocalLogger } from '../logger';
import { DEFAULT_EXECUTION_RING, type ExecutionView } from './api';

export const EXECUTION_HISTORY_FILE = 'console-executions.jsonl';

/** Why a parsed line is not an execution view; undefined when it is one. */
function viewIssue(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'not an object';
  const e = v as Record<string, unknown>;
  for (const field of ['stateMachine', 'name', 'status', 'startDate'] as const) {
    if (typeof e[field] !== 'string') return `${field} is not a string`;
  }
  if (e.status === 'RUNNING') return 'a running execution (only finished ones are kept)';
  if (!Array.isArray(e.history)) return 'history is not an array';
  if (typeof e.revision !== 'number') return 'revision is not a number';
  return undefined;
}

/**
 * The views of a history file's text, oldest first: the last occurrence of a name wins (a resumed release runs
 * again under its name), at most `capacity` per state machine. Pure; each skipped line is reported.
 */
export function parseExecutionHistory(
  text: string,
  capacity: number,
): { readonly views: ExecutionView[]; readonly skipped: readonly { line: number; reason: string }[] } {
  const byKey = new Map<string, ExecutionView>();
  const skipped: { line: number; reason: string }[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch (err) {
      skipped.push({ line: i + 1, reason: (err as Error).message });
      return;
    }
    const issue = viewIssue(parsed);
    if (issue !== undefined) {
      skipped.push({ line: i + 1, reason: issue });
      return;
    }
    const view = parsed as ExecutionView;
    const key = `${view.stateMachine}/${view.name}`;
    byKey.delete(key);
    byKey.set(key, view);
  });
  return { views: keepLast([...byKey.values()], capacity), skipped };
}

/** The last `capacity` views of each state machine, in their order. */
function keepLast(views: readonly ExecutionView[], capacity: number): ExecutionView[] {
  const perMachine = new Map<string, number>();
  const kept: ExecutionView[] = [];
  for (let i = views.length - 1; i >= 0; i--) {
    const v = views[i]!;
    const n = perMachine.get(v.stateMachine) ?? 0;
    if (n >= capacity) continue;
    perMachine.set(v.stateMachine, n + 1);
    kept.push(v);
  }
  return kept.reverse();
}

export class ExecutionHistoryFile {
  readonly file: string;
  private views: ExecutionView[] = [];
  private lines = 0;
  /** Appends and compactions run one at a time, in order: a compaction never loses a line appended meanwhile. */
  private queue: Promise<void> = Promise.resolve();

  constructor(
    dataDir: string,
    private readonly logger: LocalLogger,
    private readonly capacity: number = DEFAULT_EXECUTION_RING,
  ) {
    this.file = path.join(dataDir, EXECUTION_HISTORY_FILE);
  }

  /** The executions of earlier runs, oldest first; none (with a warning) when the file cannot be read. */
  async load(): Promise<readonly ExecutionView[]> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        this.logger.warn(
          `console: cannot read ${this.file} (${(err as Error).message}); starting without it`,
        );
      }
      return [];
    }
    const { views, skipped } = parseExecutionHistory(text, this.capacity);
    for (const s of skipped) {
      this.logger.warn(`console: skipped line ${s.line} of ${this.file}: ${s.reason}`);
    }
    this.views = views;
    this.lines = text.split('\n').filter((l) => l.trim() !== '').length;
    if (this.lines > views.length) await this.enqueue(() => this.compact());
    return views;
  }

  /** Persists one finished execution (a running one is ignored: it is the journal's, and it has no end yet). */
  append(view: ExecutionView): Promise<void> {
    if (view.status === 'RUNNING') return Promise.resolve();
    return this.enqueue(async () => {
      await appendFile(this.file, `${JSON.stringify(view)}\n`);
      this.lines++;
      this.views = keepLast(
        [...this.views.filter((v) => v.stateMachine !== view.stateMachine || v.name !== view.name), view],
        this.capacity,
      );
      if (this.lines >= 2 * Math.max(this.views.length, this.capacity)) await this.compact();
    });
  }

  /** Resolves once every append so far is on disk. */
  flush(): Promise<void> {
    return this.queue;
  }

  private async compact(): Promise<void> {
    const temp = `${this.file}.${process.pid}.tmp`;
    await writeFile(temp, this.views.map((v) => `${JSON.stringify(v)}\n`).join(''));
    await rename(temp, this.file);
    this.lines = this.views.length;
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    const run = this.queue.then(task).catch((err: Error) => {
      this.logger.warn(`console: could not write ${this.file}: ${err.message}`);
    });
    this.queue = run;
    return run;
  }
}
