/**
 * `modelops push` / `status` / `rollback` / `unlock` run in-process against the emulators, with the upload watcher
 * starting releases.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../../cli/errors';
import type { DeploymentRecord, RolloutLock } from '../../lambdas/core/ports';
import { capturedIo, cliTargetFlags, EXAMPLES_DIR, type Harness, startHarness } from './harness';

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

const io = capturedIo;

const targetFlags = (): string[] => cliTargetFlags(h);

/** A copy of an example bundle with another version, its manifest edited by `edit`. */
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
    // Left out: the CLI fills them from the file (a wrong value is refused instead: cli-push-race.test.ts).
    delete (m.artifact as Record<string, unknown>).sha256;
    delete (m.artifact as Record<string, unknown>).sizeBytes;
    delete m.baseline;
  });
  const { out, err, io: cliIo } = io();
  const code = await runCli(
    ['push', dir, '--reference', path.join(dir, 'reference.csv'), '--timeout', '60', ...targetFlags()],
    cliIo,
  );
  expect(code, [...out, ...err].join('\n')).toBe(0);
  expect(out.join('\n')).toMatch(/artifact\.sha256 filled in: [0-9a-f]{64}/);
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

describe('rollback, unlock and the Rollout section of status', () => {
  const HOUR = 3_600_000;

  /** A model (not in the config: routing only) with REGISTERED versions and, unless `lock` is null, a canary. */
  async function seed(
    model: string,
    lock: { readonly expiresInMs: number } | null,
  ): Promise<RolloutLock | undefined> {
    for (const version of ['1.0.0', '1.1.0', '2.0.0']) {
      const at = new Date().toISOString();
      await h.metadata.versions.putVersionUnlessRegistered({
        model,
        version,
        status: 'REGISTERED',
        createdAt: at,
        updatedAt: at,
      });
    }
    const startedAt = new Date(Date.now() - HOUR).toISOString();
    const rollout =
      lock === null
        ? undefined
        : {
            executionId: `${model}-2.0.0-exec`,
            candidate: '2.0.0',
            startedAt,
            expiresAt: new Date(Date.now() + lock.expiresInMs).toISOString(),
          };
    const record: DeploymentRecord = {
      model,
      stable: '1.1.0',
      weight: rollout ? 0.1 : 0,
      mode: 'canary',
      revision: 1,
      updatedAt: startedAt,
      ...(rollout ? { candidate: '2.0.0', rollout } : {}),
    };
    await h.metadata.deployments.putDeployment(record, { expectedRevision: undefined });
    if (rollout) {
      const at = new Date(Date.parse(startedAt) + 60_000).toISOString();
      await h.metadata.audit.appendAudit({
        model,
        eventId: `${at}#00000001`,
        at,
        type: 'CANARY_VERDICT',
        version: '2.0.0',
        actor: rollout.executionId,
        details: {
          look: 1,
          step: 0,
          weight: 0.1,
          decision: 'inconclusive',
          reasonCode: 'INSUFFICIENT_SAMPLES',
        },
      });
    }
    return rollout;
  }

  async function cli(args: string[], actor = 'cli:oncall') {
    const previous = process.env.MODELOPS_ACTOR;
    process.env.MODELOPS_ACTOR = actor;
    try {
      const r = io();
      const code = await runCli([...args, ...targetFlags()], r.io);
      return { code, out: r.out.join('\n'), err: r.err.join('\n') };
    } finally {
      if (previous === undefined) delete process.env.MODELOPS_ACTOR;
      else process.env.MODELOPS_ACTOR = previous;
    }
  }

  it('rolls a canary back: candidate and lock cleared in one write, endedRollout for the execution, audited', async () => {
    const lock = (await seed('cli-rollback', { expiresInMs: HOUR }))!;
    const before = await cli(['status', 'cli-rollback']);
    expect(before.code, before.err).toBe(0);
    expect(before.out).toContain(
      `Lock: execution ${lock.executionId}, candidate 2.0.0, started ${lock.startedAt}`,
    );
    expect(before.out).toContain('Routing: stable 1.1.0, candidate 2.0.0 at weight 0.1, revision 1.');
    expect(before.out).toMatch(/1\s+1\s+0\.1\s+inconclusive\s+INSUFFICIENT_SAMPLES/);

    const noReason = await cli(['rollback', 'cli-rollback']);
    expect(noReason.code).toBe(2);
    expect(noReason.err).toMatch(/--reason/);
    const empty = await cli(['rollback', 'cli-rollback', '--reason', ' ']);
    expect(empty.code).toBe(2);
    expect(empty.err).toMatch(/--reason must say why/);
    expect(await h.metadata.deployments.getDeployment('cli-rollback')).toMatchObject({ revision: 1 });

    const done = await cli(['rollback', 'cli-rollback', '--reason', 'p99 doubled on 2.0.0']);
    expect(done.code, done.err).toBe(0);
    expect(done.out).toContain(
      `Before: stable 1.1.0, candidate 2.0.0 at weight 0.1 (revision 1); rollout lock held by ${lock.executionId}`,
    );
    expect(done.out).toContain(
      'ROLLED_BACK cli-rollback candidate 2.0.0 cleared: stable 1.1.0, no candidate (revision 2)',
    );
    expect(done.out).toContain(`The release execution ${lock.executionId} ends RolledBack at its next step`);
    const record = await h.metadata.deployments.getDeployment('cli-rollback');
    expect(record).toMatchObject({
      stable: '1.1.0',
      weight: 0,
      revision: 2,
      endedRollout: {
        executionId: lock.executionId,
        candidate: '2.0.0',
        outcome: 'ROLLED_BACK',
        reason: 'MANUAL_ROLLBACK',
        actor: 'cli:oncall',
        detail: 'p99 doubled on 2.0.0',
      },
    });
    expect(record?.candidate).toBeUndefined();
    expect(record?.rollout).toBeUndefined();

    // The same command again changes nothing; someone else is told it is done.
    const again = await cli(['rollback', 'cli-rollback', '--reason', 'p99 doubled on 2.0.0']);
    expect(again.code, again.err).toBe(0);
    expect(again.out).toMatch(/already rolled back by cli:oncall .*\(revision 2\); nothing changed/);
    const other = await cli(['rollback', 'cli-rollback', '--reason', 'me too'], 'cli:someone-else');
    expect(other.code).toBe(2);
    expect(other.err).toMatch(/no candidate to roll back .*already rolled back by cli:oncall/);
    const rolledBack = (await h.metadata.audit.listAudit('cli-rollback')).filter(
      (e) => e.type === 'ROLLED_BACK',
    );
    expect(rolledBack).toHaveLength(1);
    expect(rolledBack[0]).toMatchObject({
      actor: 'cli:oncall',
      version: '2.0.0',
      details: {
        reason: 'MANUAL_ROLLBACK',
        operatorReason: 'p99 doubled on 2.0.0',
        executionId: lock.executionId,
      },
    });

    const after = await cli(['status', 'cli-rollback']);
    expect(after.out).toContain('Rollout: no rollout in progress (stable 1.1.0, no candidate, revision 2).');
    expect(after.out).toContain(
      `Last rollout ended by hand or alarm: execution ${lock.executionId} (candidate 2.0.0) ROLLED_BACK ` +
        '(MANUAL_ROLLBACK) by cli:oncall',
    );
  });

  it('rolls back --to an older version after a bad promotion; refuses the current stable, naming --to', async () => {
    await seed('cli-rollback-to', null);
    const same = await cli(['rollback', 'cli-rollback-to', '--to', '1.1.0', '--reason', 'x']);
    expect(same.code).toBe(2);
    expect(same.err).toMatch(/--to 1\.1\.0 is already the stable version/);
    const done = await cli(['rollback', 'cli-rollback-to', '--to', '1.0.0', '--reason', '1.1.0 mislabels']);
    expect(done.code, done.err).toBe(0);
    expect(done.out).toContain('ROLLED_BACK cli-rollback-to to 1.0.0 (was stable 1.1.0)');
    expect(done.out).toContain('No release execution held the rollout lock');
    expect(await h.metadata.deployments.getDeployment('cli-rollback-to')).toMatchObject({
      stable: '1.0.0',
      revision: 2,
    });
  });

  it('unlocks an expired lock and clears the candidate; a model without a lock is refused', async () => {
    const lock = (await seed('cli-unlock', { expiresInMs: -5 * 60_000 }))!;
    const before = await cli(['status', 'cli-unlock']);
    expect(before.out).toMatch(/EXPIRED at .* ago\): its execution is presumed dead/);

    const done = await cli(['unlock', 'cli-unlock', '--reason', 'release execution died']);
    expect(done.code, done.err).toBe(0);
    expect(done.out).toContain(
      `ROLLOUT_UNLOCKED cli-unlock: lock of ${lock.executionId} (candidate 2.0.0, expired at`,
    );
    expect(done.out).toContain(
      `The release execution ${lock.executionId}, if it is still running, ends Superseded`,
    );
    const record = await h.metadata.deployments.getDeployment('cli-unlock');
    expect(record).toMatchObject({
      revision: 2,
      weight: 0,
      endedRollout: { outcome: 'UNLOCKED', reason: 'MANUAL_UNLOCK' },
    });
    expect(record?.candidate).toBeUndefined();
    expect(record?.rollout).toBeUndefined();
    const unlocked = (await h.metadata.audit.listAudit('cli-unlock')).filter(
      (e) => e.type === 'ROLLOUT_UNLOCKED',
    );
    expect(unlocked.map((e) => e.details)).toEqual([
      expect.objectContaining({
        executionId: lock.executionId,
        expired: true,
        operatorReason: 'release execution died',
      }),
    ]);

    const none = await cli(['unlock', 'cli-unlock', '--reason', 'again'], 'cli:someone-else');
    expect(none.code).toBe(2);
    expect(none.err).toMatch(/no rollout lock on cli-unlock/);
    const status = await cli(['status', 'cli-unlock']);
    expect(status.out).toMatch(
      /ROLLOUT_UNLOCKED\s+2\.0\.0\s+lock of cli-unlock-2\.0\.0-exec \(expired\): release execution died/,
    );
  });
});
