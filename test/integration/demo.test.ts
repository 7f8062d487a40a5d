/**
 * `npm run demo` (local/demo.ts, docs/demo.md): the fast variant in-process, every step happening as narrated and
 * observed in stored state; and the command line with a fault injected into step 3 (a broken v2), which must exit
 * non-zero naming that step. No timing is asserted: each step waits on its outcome, with a deadline.
 *
 * The failing run is a child process: local mode owns process.env once per process (local/runtime.ts), so a second
 * demo cannot run in this one.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runDemo, STEPS } from '../../local/demo';
import { DRIFTED_FEATURES } from '../../local/demo/models';

const ROOT = path.resolve(__dirname, '..', '..');

describe('npm run demo', () => {
  it('tells the whole story with --fast: v1, v2 promoted, v3 rolled back, drift, retrained v4 promoted', async () => {
    const lines: string[] = [];
    // Any free port for the console (when this build has one): 4571 may be taken by a running `npm start`.
    const result = await runDemo({ fast: true, consolePort: 0, print: (l) => lines.push(l) });
    const report = lines.join('\n');

    expect(result.exitCode, report).toBe(0);
    expect(result.failed, report).toBeUndefined();
    expect(result.steps.map((s) => [s.step, s.name, s.ok])).toEqual(
      STEPS.map((name, i) => [i + 1, name, true]),
    );
    // v3 rolled back by the judge on its numbers, recorded whole in the audit log
    expect(result.rollbackVerdict?.reasonCode).toBe('PREDICTION_SHIFT');
    const shift = result.rollbackVerdict?.checks.find((c) => c.metric === 'predictionShift');
    expect(shift).toMatchObject({ decision: 'fail', limit: 0.1 });
    expect(shift?.effect as number).toBeGreaterThan(0.1);
    // drift on the stable version, from the traffic the demo shifted
    expect(result.driftEvent).toMatchObject({ model: 'breast-cancer', version: '1.1.0' });
    const flagged = result.driftEvent?.driftedFeatures as string[];
    expect(
      Object.keys(DRIFTED_FEATURES).filter((f) => flagged.includes(f)).length,
      flagged.join(),
    ).toBeGreaterThanOrEqual(3);
    // v4 is the retrained version of the stable one
    expect(result.versions).toMatchObject({ v1: '1.0.0', v2: '1.1.0', v3: '1.2.0' });
    expect(result.versions.v4).toMatch(/^1\.1\.0-/);
    expect(result.steps.at(-1)?.detail).toContain(
      `1.0.0 PROMOTED, 1.1.0 PROMOTED, 1.2.0 ROLLED_BACK, ${result.versions.v4} PROMOTED`,
    );
    expect(result.steps.at(-1)?.detail).toContain('0 failed');
    expect(report).toContain(result.console);
  }, 240_000);

  it('exits non-zero naming the step that did not happen (a broken v2 is rolled back in step 3)', async () => {
    const { code, out } = await new Promise<{ code: number | null; out: string }>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        ['--openssl-legacy-provider', '--import', 'tsx', 'local/demo.ts', '--fast', '--inject', 'broken-v2'],
        {
          cwd: ROOT,
          env: { ...process.env, POWERTOOLS_LOG_LEVEL: 'SILENT', MODELOPS_CONSOLE_PORT: '0' },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let text = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (text += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (text += c));
      child.on('error', reject);
      child.on('exit', (exitCode) => resolve({ code: exitCode, out: text }));
    });

    expect(code, out).toBe(1);
    expect(out).toContain('✓ push v1');
    expect(out).toMatch(/✗ step 3 \(good v2 canary\) FAILED: 1\.1\.0 was not promoted/);
    expect(out).toContain('demo FAILED at step 3 (good v2 canary)');
    expect(out).not.toContain('step 4/7');
  }, 240_000);
});
