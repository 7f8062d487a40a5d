/**
 * The running-executions journal of local mode: one file per execution that has started and not ended,
 * `<dataDir>/executions/<execution-name>.json`. Step Functions keeps executions durable on AWS; in-process, a
 * `kill -9` or a crash would lose them without a trace. The entry is written (temp file + rename, so a reader never
 * sees half a file) BEFORE the execution starts and removed when it ends, so after a crash every entry left is an
 * execution that never finished; local mode recovers each one when it starts again (local/start.ts).
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

/** The journal's directory inside the data dir. */
export const JOURNAL_DIR = 'executions';

export interface JournalEntry {
  readonly stateMachine: string;
  /** The execution name (also the file name). */
  readonly name: string;
  readonly input: unknown;
  /** When the execution was first started (kept across resumes). */
  readonly startedAt: string;
  /** How many times it has been started: 1, then one more per resume. */
  readonly attempt: number;
  readonly status: 'RUNNING';
}

/** Execution names are [A-Za-z0-9_-]{1,80} (local/watcher.ts `executionName`); anything else is refused as a file. */
const SAFE_NAME = /^[A-Za-z0-9_-]{1,80}$/;

export class ExecutionJournal {
  constructor(readonly dir: string) {}

  private file(name: string): string {
    if (!SAFE_NAME.test(name)) {
      throw new RangeError(`execution name "${name}" cannot be journaled: use 1-80 of A-Z a-z 0-9 _ -`);
    }
    return path.join(this.dir, `${name}.json`);
  }

  /** Records an execution as running. Atomic: the entry is complete or absent, never partial. */
  async begin(entry: JournalEntry): Promise<void> {
    const target = this.file(entry.name);
    await mkdir(this.dir, { recursive: true });
    const temp = `${target}.${randomBytes(4).toString('hex')}.tmp`;
    await writeFile(temp, `${JSON.stringify(entry, null, 2)}\n`, { flush: true });
    await rename(temp, target);
  }

  /** The execution ended (any status): its entry goes. */
  async end(name: string): Promise<void> {
    await rm(this.file(name), { force: true });
  }

  /**
   * Every entry still RUNNING, oldest first. Leftover temp files (a crash between write and rename) are removed: the
   * execution they would have recorded had not started. An unreadable entry is returned as `invalid` so the caller
   * reports it instead of dropping it silently.
   */
  async pending(): Promise<{ entries: JournalEntry[]; invalid: { file: string; reason: string }[] }> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], invalid: [] };
      throw err;
    }
    const entries: JournalEntry[] = [];
    const invalid: { file: string; reason: string }[] = [];
    for (const name of names.sort()) {
      const file = path.join(this.dir, name);
      if (name.endsWith('.tmp')) {
        await rm(file, { force: true });
        continue;
      }
      if (!name.endsWith('.json')) continue;
      try {
        const entry = JSON.parse(await readFile(file, 'utf8')) as JournalEntry;
        if (entry.status !== 'RUNNING' || typeof entry.name !== 'string' || !entry.stateMachine) {
          throw new Error('not a RUNNING journal entry');
        }
        entries.push(entry);
      } catch (err) {
        invalid.push({ file, reason: (err as Error).message });
      }
    }
    entries.sort((a, b) => a.startedAt.localeCompare(b.startedAt));
    return { entries, invalid };
  }
}
