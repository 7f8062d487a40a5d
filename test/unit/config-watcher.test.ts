import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config';
import { changedPaths, watchConfig, type ConfigWatcher } from '../../local/config-watcher';
import { memoryLogger } from '../../local/logger';

const base = { models: [{ name: 'breast-cancer', owner: 'ml-platform' }] };

function configText(config: unknown): string {
  return `const config: Record<string, unknown> = ${JSON.stringify(config)};\nexport default config;\n`;
}

let dir: string;
let file: string;
let watcher: ConfigWatcher | undefined;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'modelops-config-'));
  file = path.join(dir, 'modelops.config.ts');
  await writeFile(file, configText(base));
});
afterEach(async () => {
  watcher?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** A watcher over the temp file with the real loader (a fresh tsx import per check). */
function start() {
  const logger = memoryLogger();
  watcher = watchConfig({ file, running: parseConfig(base), logger });
  return { logger, watcher };
}

describe('modelops.config.ts watcher (local mode)', () => {
  it('re-validates a valid edit and says a restart applies it, naming what changed', async () => {
    const { logger, watcher } = start();
    await writeFile(
      file,
      configText({
        ...base,
        monitoring: { driftScheduleMinutes: 5 },
        models: [{ ...base.models[0], memoryMb: 2048 }],
      }),
    );
    const result = await watcher.check();
    expect(result).toEqual({
      kind: 'changed',
      paths: ['monitoring.driftScheduleMinutes', 'models[0].memoryMb'],
    });
    expect(logger.lines.at(-1)).toMatch(
      /^WARN modelops\.config\.ts changed \(monitoring\.driftScheduleMinutes, models\[0\]\.memoryMb\) and is valid, but local mode applies the config only at start: restart `npm start`/,
    );
  });

  it('reports an invalid edit field by field, with the bad value and a did-you-mean, and keeps the running config', async () => {
    const { logger, watcher } = start();
    await writeFile(file, configText({ ...base, monitoring: { driftScheduleMinute: 5 }, stage: 'Prod!' }));
    const result = await watcher.check();
    expect(result.kind).toBe('invalid');
    const issues = result.kind === 'invalid' ? result.issues : [];
    expect(issues).toEqual(
      expect.arrayContaining([
        'monitoring: "driftScheduleMinute" is not a field of monitoring; did you mean "driftScheduleMinutes"?',
        expect.stringMatching(/^stage: must be 1-16 characters .*\(got "Prod!"\)$/),
      ]),
    );
    const last = logger.lines.at(-1)!;
    expect(last).toMatch(
      /^ERROR modelops\.config\.ts changed but is invalid; local mode keeps running with the config it started with/,
    );
    expect(last).toContain('did you mean "driftScheduleMinutes"?');
  });

  it('reports a file that does not load (syntax error) and keeps the running config', async () => {
    const { logger, watcher } = start();
    await writeFile(file, 'export default { models: [ ;\n');
    const result = await watcher.check();
    expect(result.kind).toBe('invalid');
    expect(logger.lines.at(-1)).toMatch(/^ERROR modelops\.config\.ts could not be loaded: .*keeps running/);
  });

  it('says nothing needs applying when the edit does not change the validated config', async () => {
    const { logger, watcher } = start();
    // Spelling out a default changes the file, not the config.
    await writeFile(file, configText({ ...base, stage: 'dev' }));
    expect(await watcher.check()).toEqual({ kind: 'unchanged' });
    expect(logger.lines.at(-1)).toMatch(/nothing to apply/);
  });
});

describe('changedPaths', () => {
  it('lists the leaves that differ, and a whole array whose length changed', () => {
    expect(changedPaths({ a: 1, b: { c: [1, 2] } }, { a: 1, b: { c: [1, 3] } })).toEqual(['b.c[1]']);
    expect(changedPaths({ a: [1] }, { a: [1, 2] })).toEqual(['a']);
    expect(changedPaths({ a: 1 }, { a: 1, d: true })).toEqual(['d']);
    expect(changedPaths({ a: 1 }, { a: 1 })).toEqual([]);
  });
});
