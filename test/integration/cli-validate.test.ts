/**
 * `modelops validate` in-process against the emulators: the pipeline's validation over a bundle directory, the
 * champion read from the ledger when it answers, and nothing written anywhere (registry objects, version records and
 * audit events are compared before and after). `push` runs the same validation and uploads nothing when it fails.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../../cli/errors';
import type { AuditEvent } from '../../lambdas/core/ports';
import { cliTargetFlags, EXAMPLES, EXAMPLES_DIR, type Harness, startHarness } from './harness';

let h: Harness;
let work: string;
let runCli: (args: readonly string[], io?: CliIo) => Promise<number>;

beforeAll(async () => {
  h = await startHarness();
  ({ runCli } = await import('../../cli/index'));
  work = await mkdtemp(path.join(tmpdir(), 'modelops-validate-'));
});
afterAll(async () => {
  await h?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const targetFlags = (): string[] => cliTargetFlags(h);

async function run(args: readonly string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

let copies = 0;
/** A copy of an example bundle, its manifest edited by `edit`. */
async function bundle(
  example: string,
  edit?: (m: Record<string, unknown> & { artifact: Record<string, unknown> }) => void,
): Promise<string> {
  const dir = path.join(work, `${example}-${++copies}`);
  await cp(path.join(EXAMPLES_DIR, example), dir, { recursive: true });
  const file = path.join(dir, 'manifest.json');
  const manifest = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown> & {
    artifact: Record<string, unknown>;
  };
  edit?.(manifest);
  await writeFile(file, JSON.stringify(manifest, null, 2));
  return dir;
}

/** Everything validate could write: registry objects, and per example model its version records and audit events. */
async function snapshot(): Promise<{
  keys: string[];
  versions: unknown[];
  audit: AuditEvent[];
  deployments: unknown[];
}> {
  const versions: unknown[] = [];
  const audit: AuditEvent[] = [];
  const deployments: unknown[] = [];
  for (const model of EXAMPLES) {
    versions.push(...(await h.metadata.versions.listVersions(model)));
    audit.push(...(await h.metadata.audit.listAudit(model)));
    deployments.push(await h.metadata.deployments.getDeployment(model));
  }
  return { keys: await h.keys(''), versions, audit, deployments };
}

describe('modelops validate', () => {
  it.each(EXAMPLES)(
    'passes the %s example, printing every check, and writes nothing (exit 0)',
    async (name) => {
      const before = await snapshot();
      const r = await run(['validate', path.join(EXAMPLES_DIR, name), ...targetFlags()]);
      expect(r.code, `${r.out}\n${r.err}`).toBe(0);
      for (const check of [
        /ok {4}manifest: valid \(framework onnx\)/,
        new RegExp(`ok {4}model "${name}" is configured`),
        /ok {4}artifact: model\.onnx \d+ bytes, sha256 [0-9a-f]{64} matches/,
        /ok {4}signature: inputs .* match the model/,
        /ok {4}smoke samples: 5 of 5 /,
        /ok {4}gate: auc [\d.]+ >= /,
        // The ledger answered and holds no stable version of this model.
        /ok {4}champion: no champion \(no stable version deployed\)/,
        /VALID: every check passed/,
      ]) {
        expect(r.out).toMatch(check);
      }
      expect(r.err).toBe('');
      expect(await snapshot()).toEqual(before);
    },
  );

  it('fails naming both values for a wrong sha256 and size, and every other reason at once (exit 1)', async () => {
    const dir = await bundle('credit-risk', (m) => {
      m.artifact.sha256 = 'a'.repeat(64);
      m.artifact.sizeBytes = 5;
    });
    const before = await snapshot();
    const r = await run(['validate', dir, ...targetFlags()]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /FAIL {2}artifact\.sizeBytes: the manifest says 5 bytes but model\.onnx is 1448 bytes/,
    );
    expect(r.err).toMatch(
      /FAIL {2}artifact\.sha256: the manifest says a{64} but model\.onnx hashes to b7b21a410cfb35fab85043e795223f4073f4c7792643147563d41853e4edb12c/,
    );
    expect(r.err).toMatch(/INVALID: 2 reason\(s\)/);
    expect(r.out).not.toMatch(/VALID: every check/);
    expect(await snapshot()).toEqual(before);
  });

  it('fails a smoke sample whose expected output the model does not produce (exit 1)', async () => {
    const dir = await bundle('breast-cancer', (m) => {
      const samples = m.smokeSamples as { expected: Record<string, unknown> }[];
      const label = samples[1]!.expected.label;
      samples[1]!.expected.label = label === 0 ? 1 : 0;
    });
    const before = await snapshot();
    const r = await run(['validate', dir, ...targetFlags()]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/FAIL {2}smokeSamples\[1\]/);
    expect(await snapshot()).toEqual(before);
  });

  it('fails a schema error naming the field, without running the model (exit 1)', async () => {
    const dir = await bundle('breast-cancer', (m) => {
      delete m.owner;
      m.version = 'not a version';
    });
    const before = await snapshot();
    const r = await run(['validate', dir, ...targetFlags()]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/FAIL {2}owner: /);
    expect(r.err).toMatch(/FAIL {2}version: /);
    expect(r.out).not.toMatch(/smoke samples/);
    expect(await snapshot()).toEqual(before);
  });

  it('fails a model modelops.config.ts does not configure (exit 1)', async () => {
    const dir = await bundle('credit-risk', (m) => {
      m.name = 'not-configured';
    });
    const r = await run(['validate', dir, '--no-ledger']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /FAIL {2}model "not-configured" is not configured \(configured: breast-cancer, credit-risk\)/,
    );
  });

  it('compares against the stable version read from the ledger, and fails a regression beyond the gate', async () => {
    const champion = await h.pushExample('credit-risk', 'champ-1');
    expect((await run(['promote', 'credit-risk', champion, ...targetFlags()])).code).toBe(0);
    const before = await snapshot();

    const same = await run(['validate', path.join(EXAMPLES_DIR, 'credit-risk'), ...targetFlags()]);
    expect(same.code, same.err).toBe(0);
    expect(same.out).toMatch(/ok {4}champion: champ-1/);
    expect(same.out).toMatch(
      /gate: auc 0\.769651 vs champion champ-1 0\.769651 .*within the allowed regression 0\.02/,
    );

    // 0.74 clears the 0.72 minimum but falls 0.0297 below the champion, more than the 0.02 allowed.
    const worse = await bundle('credit-risk', (m) => {
      (m.metrics as Record<string, number>).auc = 0.74;
    });
    const r = await run(['validate', worse, ...targetFlags()]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/FAIL {2}gates\.maxRegression\.auc: auc 0\.74 vs champion champ-1 0\.769651/);
    // Read only: the champion's routing, records and audit trail are as they were.
    expect(await snapshot()).toEqual(before);
  });

  it('says the champion was not compared when no ledger answers, and still validates the rest', async () => {
    // Port 1 refuses connections: the ledger is unreachable.
    const r = await run([
      'validate',
      path.join(EXAMPLES_DIR, 'credit-risk'),
      '--dynamodb-endpoint',
      'http://127.0.0.1:1',
    ]);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toMatch(
      /skip {2}champion: not compared \(no ledger reachable\): .*ECONNREFUSED.*; regression gates not evaluated \(auc, accuracy\)/,
    );
    expect(r.out).not.toMatch(/no champion \(no stable version deployed\)/);
    const offline = await run(['validate', path.join(EXAMPLES_DIR, 'credit-risk'), '--no-ledger']);
    expect(offline.code).toBe(0);
    expect(offline.out).toMatch(/skip {2}champion: not compared \(no ledger reachable\): no ledger given/);
  });

  it('exits 2 for bad usage, naming the argument', async () => {
    const missing = await run(['validate', path.join(work, 'nope'), '--no-ledger']);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/<bundle-dir> ".*nope" is not a directory/);
    const noArg = await run(['validate']);
    expect(noArg.code).toBe(2);
    expect(noArg.err).toMatch(/bundle-dir/);
    const reference = await run([
      'validate',
      path.join(EXAMPLES_DIR, 'credit-risk'),
      '--reference',
      path.join(work, 'missing.csv'),
      '--no-ledger',
    ]);
    expect(reference.code).toBe(2);
    expect(reference.err).toMatch(/--reference ".*missing\.csv" cannot be read/);
  });
});

describe('push runs the same validation first', () => {
  it('uploads nothing when a smoke sample fails, printing the reason (exit 1)', async () => {
    const dir = await bundle('credit-risk', (m) => {
      m.version = 'push-smoke-1';
      const samples = m.smokeSamples as { expected: Record<string, unknown> }[];
      samples[0]!.expected.probabilities = [0.5, 0.5];
    });
    const before = await snapshot();
    const r = await run(['push', dir, '--timeout', '30', ...targetFlags()]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/FAIL {2}smokeSamples\[0\]/);
    expect(r.err).toMatch(/failed validation \(1 reason\(s\) above\); nothing was uploaded/);
    expect(await snapshot()).toEqual(before);
  });
});
