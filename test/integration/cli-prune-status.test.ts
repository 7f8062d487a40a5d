/**
 * `modelops status <model> <version>` and `modelops prune <model> --rejected` in-process against the emulators:
 * prune deletes REJECTED records only, audits each before its delete, keeps a record re-pushed in between, and
 * changes nothing on a dry run or bad arguments.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../../cli/errors';
import type { prune as pruneFn } from '../../cli/prune';
import type { AuditEvent, VersionRecord } from '../../lambdas/core/ports';
import { capturedIo, cliTargetFlags, type Harness, loadExample, startHarness } from './harness';

const MODEL = 'credit-risk';
let h: Harness;
let runCli: (args: readonly string[], io?: CliIo) => Promise<number>;
let prune: typeof pruneFn;
let registered: string;

beforeAll(async () => {
  process.env.MODELOPS_ACTOR = 'cli:prune-test';
  h = await startHarness();
  // After the harness set process.env (the CLI shares the adapter modules with the handlers).
  ({ runCli } = await import('../../cli/index'));
  ({ prune } = await import('../../cli/prune'));
  registered = await h.pushExample(MODEL, 'keep-1');
});
afterAll(async () => {
  delete process.env.MODELOPS_ACTOR;
  await h?.stop();
});

const io = capturedIo;

const targetFlags = (): string[] => cliTargetFlags(h);

/** Runs a real release of a manifest with a misspelt key and a bad enum, which RecordRejection records. */
async function pushRejected(version: string): Promise<VersionRecord> {
  const { manifest, artifact } = await loadExample(MODEL);
  const broken = { ...manifest, version, gate: {}, framework: 'onx' };
  await h.release(await h.stage(MODEL, version, broken, artifact));
  const record = await h.version(MODEL, version);
  expect(record?.status).toBe('REJECTED');
  return record!;
}

/** A REJECTED record written as if rejected `daysAgo` days ago (the ledger has no other way to age one). */
async function oldRejected(version: string, daysAgo: number): Promise<VersionRecord> {
  const at = new Date(Date.now() - daysAgo * 86_400_000).toISOString();
  const record: VersionRecord = {
    model: MODEL,
    version,
    status: 'REJECTED',
    createdAt: at,
    updatedAt: at,
    reasons: ['artifact.sha256: must be 64 lower-case hex characters (got "x")'],
    source: 'test',
  };
  await h.metadata.versions.putVersionUnlessRegistered(record);
  return record;
}

async function ledger(): Promise<{ versions: string[]; events: readonly AuditEvent[] }> {
  const versions = (await h.metadata.versions.listVersions(MODEL))
    .map((v) => `${v.version}:${v.status}`)
    .sort();
  return { versions, events: await h.metadata.audit.listAudit(MODEL) };
}

describe('modelops status <model> <version>', () => {
  it('shows a rejected version with every reason, named by field with the bad value and a did-you-mean', async () => {
    await pushRejected('bad-1');
    const c = io();
    expect(await runCli(['status', MODEL, 'bad-1', ...targetFlags()], c.io), c.text()).toBe(0);
    const text = c.out.join('\n');
    expect(text).toMatch(/credit-risk bad-1: REJECTED/);
    expect(text).toMatch(/Rejected for \d+ reason\(s\):/);
    expect(text).toContain('"gate" is not a field of (manifest); did you mean "gates"?');
    expect(text).toContain('framework: must be "onnx" or "sagemaker" (got "onx"; did you mean "onnx"?)');
    expect(text).toMatch(/Audit events \(\d+, oldest first\):/);
    expect(text).toMatch(/VALIDATION_FAILED/);
    expect(text).toMatch(/Lineage:\n {2}- \(not recorded/);
  });

  it('shows a registered version with its checks, lineage, approval and events', async () => {
    const c = io();
    expect(await runCli(['status', MODEL, registered, ...targetFlags()], c.io), c.text()).toBe(0);
    const text = c.out.join('\n');
    const { manifest } = await loadExample(MODEL);
    const lineage = manifest.lineage as { trainingData: string; codeCommit: string };
    expect(text).toMatch(new RegExp(`credit-risk ${registered}: REGISTERED`));
    expect(text).toMatch(/Validation checks passed/);
    expect(text).toContain(`Training data: ${lineage.trainingData}`);
    expect(text).toContain(`Code commit: ${lineage.codeCommit}`);
    expect(text).toMatch(/Approval:\n {2}Manifest: (not )?required, risk tier \w+/);
    expect(text).toMatch(/Stage: none \(never routed\)/);
    expect(text).toMatch(/REGISTERED/);
  });

  it('fails with exit 1 for an unknown version and exit 2 for a malformed one', async () => {
    const missing = io();
    expect(await runCli(['status', MODEL, 'nope-9', ...targetFlags()], missing.io)).toBe(1);
    expect(missing.err.join('\n')).toMatch(/credit-risk nope-9 has no record/);
    const bad = io();
    expect(await runCli(['status', MODEL, '../x', ...targetFlags()], bad.io)).toBe(2);
    expect(bad.err.join('\n')).toMatch(/\[version\] "\.\.\/x" is not a version/);
  });
});

describe('modelops prune <model> --rejected', () => {
  it('refuses bad arguments with a clear error and changes nothing', async () => {
    await oldRejected('old-args', 40);
    const before = await ledger();
    const cases: [string[], RegExp][] = [
      [['prune', MODEL], /prune needs --rejected/],
      [
        ['prune', MODEL, '--rejected', '--older-than', '-1'],
        /--older-than must be a whole number of days.*got "-1"/,
      ],
      [
        ['prune', MODEL, '--rejected', '--older-than', 'ten'],
        /--older-than must be a whole number of days.*got "ten"/,
      ],
      [['prune', 'Credit_Risk', '--rejected'], /<model> "Credit_Risk" is not a model name/],
    ];
    for (const [args, message] of cases) {
      const c = io();
      expect(await runCli([...args, ...targetFlags()], c.io), args.join(' ')).toBe(2);
      expect(c.text()).toMatch(message);
    }
    expect(await ledger()).toEqual(before);
  });

  it('lists on a dry run and changes nothing', async () => {
    const before = await ledger();
    const c = io();
    expect(await runCli(['prune', MODEL, '--rejected', '--dry-run', ...targetFlags()], c.io), c.text()).toBe(
      0,
    );
    expect(c.out.join('\n')).toMatch(/Dry run: would prune \d+ REJECTED record\(s\)/);
    expect(c.out.join('\n')).toMatch(/old-args/);
    expect(await ledger()).toEqual(before);
  });

  it('with --older-than deletes only REJECTED records that old, each audited, and keeps the rest', async () => {
    await oldRejected('old-1', 31);
    const c = io();
    expect(
      await runCli(['prune', MODEL, '--rejected', '--older-than', '30', ...targetFlags()], c.io),
      c.text(),
    ).toBe(0);
    expect(await h.version(MODEL, 'old-1')).toBeUndefined();
    expect(await h.version(MODEL, 'old-args')).toBeUndefined();
    // Rejected today: younger than 30 days, kept. Registered: never touched.
    expect((await h.version(MODEL, 'bad-1'))?.status).toBe('REJECTED');
    expect((await h.version(MODEL, registered))?.status).toBe('REGISTERED');
    const pruned = (await h.metadata.audit.listAudit(MODEL)).filter((e) => e.type === 'VERSION_PRUNED');
    expect(pruned.map((e) => e.version).sort()).toEqual(['old-1', 'old-args']);
    for (const e of pruned) {
      expect(e.actor).toBe('cli:prune-test');
      expect(e.details).toMatchObject({ olderThanDays: 30, reasons: [expect.stringMatching(/sha256/)] });
    }
  });

  it('without --older-than deletes every REJECTED record and no REGISTERED one', async () => {
    const c = io();
    expect(await runCli(['prune', MODEL, '--rejected', ...targetFlags()], c.io), c.text()).toBe(0);
    expect(c.out.join('\n')).toMatch(/Pruned 1 REJECTED record\(s\) of credit-risk\./);
    const { versions } = await ledger();
    expect(versions).toEqual([`${registered}:REGISTERED`]);
    // The pruned version's events stay in the ledger, and status says where its record went.
    const s = io();
    expect(await runCli(['status', MODEL, 'bad-1', ...targetFlags()], s.io)).toBe(1);
    expect(s.err.join('\n')).toMatch(/its REJECTED record was pruned by cli:prune-test/);
    const again = io();
    expect(await runCli(['prune', MODEL, '--rejected', ...targetFlags()], again.io)).toBe(0);
    expect(again.out.join('\n')).toMatch(/nothing to prune/);
  });

  it('never deletes a record re-pushed between the read and the delete, and audits the cancellation', async () => {
    const record = await oldRejected('race-1', 2);
    const versions = h.metadata.versions as typeof h.metadata.versions & {
      deleteRejectedVersion(m: string, v: string, u: string): Promise<boolean>;
    };
    const registeredNow = { ...record, status: 'REGISTERED' as const, updatedAt: new Date().toISOString() };
    const racing = {
      ...versions,
      getVersion: versions.getVersion.bind(versions),
      listVersions: versions.listVersions.bind(versions),
      putVersionUnlessRegistered: versions.putVersionUnlessRegistered.bind(versions),
      // A concurrent re-push registers the version just before the conditional delete runs.
      async deleteRejectedVersion(m: string, v: string, u: string) {
        expect((await versions.putVersionUnlessRegistered(registeredNow)).written).toBe(true);
        return versions.deleteRejectedVersion(m, v, u);
      },
    };
    const c = io();
    const result = await prune(MODEL, { rejected: true }, h.target, c.io, {
      versions: racing,
      audit: h.metadata.audit,
    });
    expect(result).toMatchObject({ pruned: [], kept: ['race-1'] });
    expect((await h.version(MODEL, 'race-1'))?.status).toBe('REGISTERED');
    const events = (await h.audit(MODEL, 'race-1')).map((e) => e.type);
    expect(events).toEqual(['VERSION_PRUNED', 'VERSION_PRUNE_CANCELLED']);
  });

  it('finishes after a crash between the audit event and the delete without a second event', async () => {
    await oldRejected('crash-1', 3);
    const versions = h.metadata.versions as typeof h.metadata.versions & {
      deleteRejectedVersion(m: string, v: string, u: string): Promise<boolean>;
    };
    const crashing = {
      getVersion: versions.getVersion.bind(versions),
      listVersions: versions.listVersions.bind(versions),
      putVersionUnlessRegistered: versions.putVersionUnlessRegistered.bind(versions),
      deleteRejectedVersion: () => Promise.reject(new Error('connection reset')),
    };
    await expect(
      prune(MODEL, { rejected: true }, h.target, io().io, { versions: crashing, audit: h.metadata.audit }),
    ).rejects.toThrow(/pruning credit-risk crash-1 .*run the command again to finish.*connection reset/);
    expect((await h.version(MODEL, 'crash-1'))?.status).toBe('REJECTED');
    expect((await h.audit(MODEL, 'crash-1')).map((e) => e.type)).toEqual(['VERSION_PRUNED']);

    const c = io();
    expect(await runCli(['prune', MODEL, '--rejected', ...targetFlags()], c.io), c.text()).toBe(0);
    expect(await h.version(MODEL, 'crash-1')).toBeUndefined();
    expect((await h.audit(MODEL, 'crash-1')).map((e) => e.type)).toEqual(['VERSION_PRUNED']);
  });
});
