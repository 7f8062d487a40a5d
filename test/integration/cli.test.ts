/** `modelops push` / `status` run in-process against the emulators, with the upload watcher starting releases. */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { CliIo } from '../../cli/errors';
import { EXAMPLES_DIR, startHarness, type Harness } from './harness';

let h: Harness;
let work: string;
let runCli: (args: readonly string[], io?: CliIo) => Promise<number>;

beforeAll(async () => {
  h = await startHarness({ watch: true });
  // After the harness set process.env (the CLI shares the adapter modules with the handlers).
  ({ runCli } = await import('../../cli/index'));
  work = await mkdtemp(path.join(tmpdir(), 'modelops-cli-'));
});
afterAll(async () => {
  await h?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } satisfies CliIo,
  };
}

function targetFlags(): string[] {
  return ['--s3-endpoint', h.target.s3Endpoint!, '--dynamodb-endpoint', h.target.dynamodbEndpoint!];
}

/** A copy of an example bundle with another version and (optionally) a stale sha256 for the CLI to fix. */
async function bundle(
  example: string,
  version: string,
  edit?: (m: Record<string, unknown>) => void,
): Promise<string> {
  const dir = path.join(work, `${example}-${version}`);
  await cp(path.join(EXAMPLES_DIR, example), dir, { recursive: true });
  const file = path.join(dir, 'manifest.json');
  const manifest = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  manifest.version = version;
  edit?.(manifest);
  await writeFile(file, JSON.stringify(manifest, null, 2));
  return dir;
}

it('pushes a bundle, fills sha256/size and the baseline, and follows it to REGISTERED (exit 0)', async () => {
  const dir = await bundle('credit-risk', 'cli-1', (m) => {
    (m.artifact as Record<string, unknown>).sha256 = 'a'.repeat(64);
    delete m.baseline;
  });
  const { out, err, io: cliIo } = io();
  const code = await runCli(
    ['push', dir, '--reference', path.join(dir, 'reference.csv'), '--timeout', '60', ...targetFlags()],
    cliIo,
  );
  expect(code, [...out, ...err].join('\n')).toBe(0);
  expect(err.join('\n')).toMatch(/artifact\.sha256 in the manifest was a{64}/);
  expect(out.join('\n')).toMatch(/REGISTERED/);
  const record = await h.version('credit-risk', 'cli-1');
  expect(record?.status).toBe('REGISTERED');
  const stored = JSON.parse((await h.object(record!.manifestKey!)).toString('utf8')) as {
    baseline?: unknown;
  };
  expect(stored.baseline).toMatchObject({
    referenceCount: expect.any(Number),
    // The CLI ran the model on the reference rows: class shares and predicted-class probability bins.
    predictions: {
      label: { kind: 'categorical', categories: ['repaid', 'defaulted'] },
      probabilities: { kind: 'numeric' },
    },
  });

  const status = io();
  expect(await runCli(['status', 'credit-risk', ...targetFlags()], status.io)).toBe(0);
  expect(status.out.join('\n')).toMatch(/cli-1\s+REGISTERED/);
});

it('rejects a manifest that fails local validation, uploading nothing (exit 1)', async () => {
  const dir = await bundle('breast-cancer', 'cli-bad', (m) => {
    m.name = '../escape';
    delete m.owner;
  });
  const before = await h.keys('');
  const { err, io: cliIo } = io();
  const code = await runCli(['push', dir, ...targetFlags()], cliIo);
  expect(code).toBe(1);
  expect(err.join('\n')).toMatch(/name/);
  expect(err.join('\n')).toMatch(/owner/);
  expect(await h.keys('')).toEqual(before);
});

it('fails with exit code 2 for bad usage, naming the argument', async () => {
  const missing = io();
  expect(await runCli(['push', path.join(work, 'nope'), ...targetFlags()], missing.io)).toBe(2);
  expect(missing.err.join('\n')).toMatch(/<bundle-dir>/);
  const flag = io();
  expect(await runCli(['push', work, '--timeout', 'soon'], flag.io)).toBe(2);
  expect(flag.err.join('\n')).toMatch(/--timeout/);
});
