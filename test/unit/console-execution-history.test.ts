/** The console's executions across restarts (local/console/execution-history.ts), on a real temp dir. */
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExecutionRing, type ExecutionView } from '../../local/console/api';
import {
  EXECUTION_HISTORY_FILE,
  ExecutionHistoryFile,
  parseExecutionHistory,
} from '../../local/console/execution-history';
import { memoryLogger } from '../../local/logger';

const view = (stateMachine: string, name: string, over: Partial<ExecutionView> = {}): ExecutionView => ({
  stateMachine,
  name,
  executionArn: `arn:aws:states:us-east-1:000000000000:execution:${stateMachine}:${name}`,
  input: { bucket: 'b', key: `incoming/${name}/manifest.json` },
  status: 'SUCCEEDED',
  startDate: '2026-01-01T00:00:00.000Z',
  stopDate: '2026-01-01T00:00:01.000Z',
  durationMs: 1000,
  history: [
    {
      type: 'StateEntered',
      timestamp: '2026-01-01T00:00:00.100Z',
      state: 'ValidateArtifact',
      input: { k: 1 },
    },
    {
      type: 'StateExited',
      timestamp: '2026-01-01T00:00:00.200Z',
      state: 'ValidateArtifact',
      output: { ok: true },
    },
  ],
  revision: 3,
  ...over,
});

let dir: string;
let log: ReturnType<typeof memoryLogger>;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'modelops-console-history-'));
  log = memoryLogger();
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const warnings = () => log.lines.filter((l) => l.startsWith('WARN '));
const lines = async () => (await readFile(path.join(dir, EXECUTION_HISTORY_FILE), 'utf8')).trim().split('\n');

describe('ExecutionHistoryFile', () => {
  it('reloads what an earlier run appended, with the state-by-state history the graph needs', async () => {
    const first = new ExecutionHistoryFile(dir, log);
    expect(await first.load()).toEqual([]);
    await first.append(view('release', 'a'));
    await first.append(view('retrain', 'r', { status: 'FAILED', error: 'TrainingFailed', cause: 'exit 1' }));
    // A running execution is the journal's: it is not persisted.
    await first.append(view('release', 'running', { status: 'RUNNING' }));

    const reloaded = await new ExecutionHistoryFile(dir, log).load();
    expect(reloaded).toEqual([
      view('release', 'a'),
      view('retrain', 'r', { status: 'FAILED', error: 'TrainingFailed', cause: 'exit 1' }),
    ]);
    expect(warnings()).toEqual([]);
  });

  it('skips a corrupt or partial line with a warning, and keeps the rest', async () => {
    await writeFile(
      path.join(dir, EXECUTION_HISTORY_FILE),
      [
        JSON.stringify(view('release', 'a')),
        'not json',
        JSON.stringify({ name: 'no-machine' }),
        JSON.stringify(view('release', 'b')),
        // A crash mid-append leaves a partial last line.
        JSON.stringify(view('release', 'c')).slice(0, 40),
      ].join('\n'),
    );
    const loaded = await new ExecutionHistoryFile(dir, log).load();
    expect(loaded.map((v) => v.name)).toEqual(['a', 'b']);
    expect(warnings()).toEqual([
      expect.stringMatching(/skipped line 2 of .*console-executions\.jsonl: .*JSON/),
      expect.stringMatching(/skipped line 3 .*stateMachine is not a string/),
      expect.stringMatching(/skipped line 5 .*JSON/),
    ]);
    // Compacted at load: the unreadable lines are gone from the file.
    expect(await lines()).toEqual([
      JSON.stringify(view('release', 'a')),
      JSON.stringify(view('release', 'b')),
    ]);
  });

  it('starts without history, warning, when the file cannot be read', async () => {
    await mkdir(path.join(dir, EXECUTION_HISTORY_FILE));
    expect(await new ExecutionHistoryFile(dir, log).load()).toEqual([]);
    expect(warnings()).toEqual([expect.stringMatching(/cannot read .*; starting without it/)]);
  });

  it('keeps the last executions per state machine, the last run of a name winning, and stays bounded on disk', async () => {
    const file = new ExecutionHistoryFile(dir, log, 2);
    await file.load();
    await file.append(view('retrain', 'r1'));
    for (let i = 1; i <= 9; i++) await file.append(view('release', `a${i}`));
    // A resumed release runs again under its name: its second end replaces the first.
    await file.append(view('release', 'a8', { status: 'FAILED' }));
    // Compaction rewrites the file once it holds twice what is kept.
    expect((await lines()).length).toBeLessThanOrEqual(2 * 3);

    const loaded = await new ExecutionHistoryFile(dir, log, 2).load();
    expect(loaded.map((v) => `${v.stateMachine}/${v.name}/${v.status}`)).toEqual([
      'retrain/r1/SUCCEEDED',
      'release/a9/SUCCEEDED',
      'release/a8/FAILED',
    ]);
    expect(await lines()).toHaveLength(3);
    expect(await readFile(path.join(dir, EXECUTION_HISTORY_FILE), 'utf8')).not.toMatch(/a1"/);
  });
});

describe('parseExecutionHistory', () => {
  it('rejects a running execution and a view without history', () => {
    const text = [
      JSON.stringify(view('release', 'r', { status: 'RUNNING' })),
      JSON.stringify({ ...view('release', 'h'), history: 'none' }),
    ].join('\n');
    expect(parseExecutionHistory(text, 50)).toEqual({
      views: [],
      skipped: [
        { line: 1, reason: expect.stringMatching(/running/) },
        { line: 2, reason: 'history is not an array' },
      ],
    });
  });
});

describe('ExecutionRing.seed', () => {
  it("puts an earlier run's executions behind this run's, bounded per state machine", () => {
    const ring = new ExecutionRing(2);
    ring.observe({
      kind: 'started',
      stateMachine: 'release',
      name: 'now',
      executionArn: 'arn',
      input: {},
      startDate: '2026-01-02T00:00:00.000Z',
    });
    ring.seed([view('release', 'old1'), view('release', 'old2'), view('retrain', 'r')]);
    expect(ring.list().map((e) => `${e.stateMachine}/${e.name}`)).toEqual([
      'release/old2',
      'retrain/r',
      'release/now',
    ]);
    expect(ring.get('release', 'old2')?.history).toHaveLength(2);
  });
});
