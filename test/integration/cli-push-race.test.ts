/**
 * `modelops push` through the CLI entry point, the upload watcher, the real ASL and handlers on the emulators: a push
 * reports only its own release (followed by its manifest key, never by time), whatever other pushes and routing
 * changes of the same version the ledger holds meanwhile; a manifest whose sha256 or size disagrees with the file
 * is refused naming both values, uploading nothing; exit codes are 0 registered, 1 rejected, 2 bad usage.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../../cli/errors';
import { cliTargetFlags, EXAMPLES_DIR, type Harness, startHarness } from './harness';

let h: Harness;
let work: string;
let runCli: (args: readonly string[], io?: CliIo) => Promise<number>;

beforeAll(async () => {
  h = await startHarness({ watch: true });
  ({ runCli } = await import('../../cli/index'));
  work = await mkdtemp(path.join(tmpdir(), 'modelops-push-race-'));
});
afterAll(async () => {
  await h?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const targetFlags = (): string[] => cliTargetFlags(h);

interface Run {
  readonly code: number;
  readonly out: string[];
  readonly err: string[];
  /** The manifest key this push uploaded (from its "uploaded s3://…" line), undefined when it uploaded nothing. */
  readonly manifestKey: string | undefined;
}

async function push(dir: string, ...extra: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(['push', dir, '--timeout', '120', ...extra, ...targetFlags()], {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
  });
  const uploaded = out.map((l) => /uploaded s3:\/\/[^/]+\/(\S+manifest\.json)/.exec(l)?.[1]).find(Boolean);
  return { code, out, err, manifestKey: uploaded };
}

let copies = 0;
async function bundle(
  example: 'credit-risk' | 'breast-cancer',
  version: string,
  edit?: (m: Record<string, unknown> & { artifact: Record<string, unknown> }) => void,
): Promise<string> {
  const dir = path.join(work, `${example}-${version}-${++copies}`);
  await cp(path.join(EXAMPLES_DIR, example), dir, { recursive: true });
  const file = path.join(dir, 'manifest.json');
  const manifest = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown> & {
    artifact: Record<string, unknown>;
  };
  // Both examples pushed as one model, so that two pushes of a version can carry different artifacts.
  manifest.name = 'credit-risk';
  manifest.version = version;
  edit?.(manifest);
  await writeFile(file, JSON.stringify(manifest, null, 2));
  return dir;
}

/** The release lines a push printed (after its upload): only its own, each naming nothing of another upload. */
function releaseLines(r: Run): string[] {
  const at = r.out.findIndex((l) => l.includes('the release has started'));
  return at < 0 ? [] : r.out.slice(at + 1);
}

function expectOnlyOwn(r: Run, others: readonly Run[]): void {
  expect(r.manifestKey, r.out.join('\n')).toBeDefined();
  const text = [...r.out, ...r.err].join('\n');
  for (const other of others) {
    const otherUpload = other.manifestKey!.split('/')[3]!;
    expect(text, 'another push\u2019s upload id').not.toContain(otherUpload);
  }
  expect(text).not.toMatch(/PROMOTED|ROUTING_CHANGED|ROLLED_BACK/);
}

describe('a push follows only its own release', () => {
  it('two racing pushes of the same content: one REGISTERED, the other already registered; each its own', async () => {
    const version = 'race-same-1';
    const dirs = [await bundle('credit-risk', version), await bundle('credit-risk', version)];
    const runs = await Promise.all(dirs.map((d) => push(d)));
    for (const [i, r] of runs.entries()) {
      expect(r.code, [...r.out, ...r.err].join('\n')).toBe(0);
      expectOnlyOwn(
        r,
        runs.filter((_, j) => j !== i),
      );
      expect(releaseLines(r)[0]).toMatch(/^ {2}VALIDATION_PASSED$/);
    }
    const finals = runs.map((r) => releaseLines(r).find((l) => /^ {2}REGISTERED /.test(l))).sort();
    expect(finals).toEqual([
      expect.stringMatching(/^ {2}REGISTERED {9}already registered with the same content/),
      expect.stringMatching(/^ {2}REGISTERED {9}models\/credit-risk\/race-same-1\/[0-9a-f]{64}\.onnx$/),
    ]);
    // The ledger agrees: one REGISTERED event, and the idempotent one names the other push's key.
    const events = await h.audit('credit-risk', version);
    const registered = events.filter((e) => e.type === 'REGISTERED');
    const idempotent = events.filter((e) => e.type === 'REGISTER_IDEMPOTENT');
    expect(registered).toHaveLength(1);
    expect(idempotent).toHaveLength(1);
    expect(new Set([registered[0]!.details.key, idempotent[0]!.details.key])).toEqual(
      new Set(runs.map((r) => r.manifestKey)),
    );
  }, 240_000);

  it('two racing pushes with different artifacts: REGISTERED (exit 0) and VERSION_CONFLICT (exit 1)', async () => {
    const version = 'race-diff-1';
    const runs = await Promise.all([
      push(await bundle('credit-risk', version)),
      push(await bundle('breast-cancer', version)),
    ]);
    for (const [i, r] of runs.entries())
      expectOnlyOwn(
        r,
        runs.filter((_, j) => j !== i),
      );
    const byCode = [...runs].sort((a, b) => a.code - b.code);
    expect(byCode.map((r) => r.code)).toEqual([0, 1]);
    expect(releaseLines(byCode[0]!).join('\n')).toMatch(/REGISTERED {9}models\/credit-risk\/race-diff-1\//);
    expect(releaseLines(byCode[1]!).join('\n')).toMatch(
      /VERSION_CONFLICT {3}race-diff-1 is registered with sha256/,
    );
    expect(releaseLines(byCode[1]!).join('\n')).not.toMatch(/^ {2}REGISTERED/m);
    const record = await h.version('credit-risk', version);
    expect(record?.sourceKey).toBe(byCode[0]!.manifestKey);
  }, 240_000);

  it('ignores the earlier push and the promotion of its version in the ledger (same version, pushed again)', async () => {
    const version = 'again-1';
    const first = await push(await bundle('credit-risk', version));
    expect(first.code, first.err.join('\n')).toBe(0);
    const quiet: CliIo = { out: () => undefined, err: () => undefined };
    expect(await runCli(['promote', 'credit-risk', version, ...targetFlags()], quiet)).toBe(0);
    expect((await h.audit('credit-risk', version)).map((e) => e.type)).toContain('PROMOTED');

    // Every event of the first push and the PROMOTED event are recent: a time window would take them for this one's.
    const second = await push(await bundle('credit-risk', version));
    expect(second.code, second.err.join('\n')).toBe(0);
    expectOnlyOwn(second, [first]);
    // Top-level lines only (the validation checks under VALIDATION_PASSED are indented further).
    expect(releaseLines(second).filter((l) => /^ {2}\S/.test(l))).toEqual([
      '  VALIDATION_PASSED',
      expect.stringMatching(/^ {2}REGISTERED {9}already registered with the same content/),
      expect.stringMatching(/^ {2}version record: REGISTERED sha256 /),
    ]);
  }, 240_000);
});

describe('manifest values that disagree with the artifact', () => {
  it.each([
    [
      'sha256',
      (m: { artifact: Record<string, unknown> }): void => {
        m.artifact.sha256 = 'b'.repeat(64);
      },
    ],
    [
      'sizeBytes',
      (m: { artifact: Record<string, unknown> }): void => {
        m.artifact.sizeBytes = 1449;
      },
    ],
  ] as const)(
    'a wrong %s is an error naming both values; nothing is uploaded (exit 1)',
    async (field, edit) => {
      const dir = await bundle('credit-risk', `wrong-${field.toLowerCase()}-1`, edit);
      const before = await h.keys('');
      const r = await push(dir);
      expect(r.code).toBe(1);
      const err = r.err.join('\n');
      if (field === 'sha256') {
        expect(err).toMatch(
          /artifact\.sha256: the manifest says b{64} but model\.onnx hashes to b7b21a410cfb35fab85043e795223f4073f4c7792643147563d41853e4edb12c/,
        );
      } else {
        expect(err).toMatch(
          /artifact\.sizeBytes: the manifest says 1449 bytes but model\.onnx is 1448 bytes/,
        );
      }
      expect(err).toMatch(/nothing was uploaded/);
      expect(r.manifestKey).toBeUndefined();
      expect(await h.keys('')).toEqual(before);
      expect(await h.version('credit-risk', `wrong-${field.toLowerCase()}-1`)).toBeUndefined();
    },
  );

  it('fills a missing sha256 and size from the file and says so', async () => {
    const dir = await bundle('credit-risk', 'filled-1', (m) => {
      delete m.artifact.sha256;
      delete m.artifact.sizeBytes;
    });
    const r = await push(dir);
    expect(r.code, r.err.join('\n')).toBe(0);
    expect(r.out.join('\n')).toMatch(/artifact\.sha256 filled in: b7b21a41/);
    expect(r.out.join('\n')).toMatch(/artifact\.sizeBytes filled in: 1448/);
    expect((await h.version('credit-risk', 'filled-1'))?.sizeBytes).toBe(1448);
  }, 240_000);

  it('exits 2 for bad usage', async () => {
    const r = await push(path.join(work, 'missing'));
    expect(r.code).toBe(2);
    expect(r.err.join('\n')).toMatch(/<bundle-dir>/);
    const t = await push(await bundle('credit-risk', 'usage-1'), '--timeout', '0');
    expect(t.code).toBe(2);
    expect(t.err.join('\n')).toMatch(/--timeout must be a positive number, got "0"/);
  });
});
