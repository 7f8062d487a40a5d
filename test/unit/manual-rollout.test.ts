/**
 * core/manual-rollout.ts over in-memory stores: `modelops rollback` and `modelops unlock` as one conditional write
 * plus one audit event, refusals that write nothing, a racing twin, a retry after the write landed, and what the
 * running release execution makes of it (core/rollout.ts).
 */
import { describe, expect, it } from 'vitest';
import { status } from '../../cli/status';
import { rollbackModel, unlockModel } from '../../lambdas/core/manual-rollout';
import type { DeploymentRecord, MetricsReader, VersionRecord } from '../../lambdas/core/ports';
import { RoutingChangeRefusedError, RoutingConflictError } from '../../lambdas/core/promotion';
import { advanceRollout, analyzeCanary, startRollout, type RolloutPolicy } from '../../lambdas/core/rollout';
import { fakeLedger } from './fakes';

const MODEL = 'breast-cancer';
const T0 = Date.parse('2026-06-01T00:00:00Z');
const MINUTE = 60_000;
const POLICY: RolloutPolicy = {
  steps: [0.1, 0.5],
  bakeSeconds: 0,
  lock: { ttlMinutes: 60, onLocked: 'wait', waitSeconds: 1, maxWaits: 2 },
  dryRun: false,
  judge: {},
};
const LOCK = {
  executionId: 'exec-a',
  candidate: '2.0.0',
  startedAt: new Date(T0).toISOString(),
  expiresAt: new Date(T0 + 60 * MINUTE).toISOString(),
};

function version(v: string, status: VersionRecord['status'] = 'REGISTERED'): VersionRecord {
  return { model: MODEL, version: v, status, createdAt: '', updatedAt: '' };
}

const stable = (over: Partial<DeploymentRecord> = {}): DeploymentRecord => ({
  model: MODEL,
  stable: '1.1.0',
  weight: 0,
  mode: 'canary',
  revision: 4,
  updatedAt: new Date(T0 - MINUTE).toISOString(),
  ...over,
});

/** A canary at 10 % held by exec-a, unless `record` says otherwise (`null`: the model has no routing record). */
function setup(record: DeploymentRecord | null = stable({ candidate: '2.0.0', weight: 0.1, rollout: LOCK })) {
  const ledger = fakeLedger();
  for (const v of [version('1.0.0'), version('1.1.0'), version('2.0.0'), version('0.9.0', 'REJECTED')]) {
    ledger.versions.records.set(`${MODEL}#${v.version}`, v);
  }
  if (record) ledger.deployments.records.set(MODEL, record);
  let writes = 0;
  ledger.deployments.beforePut = () => {
    writes += 1;
  };
  return { ...ledger, stores: ledger, writes: () => writes };
}

const input = (over: Partial<Parameters<typeof rollbackModel>[1]> = {}) => ({
  model: MODEL,
  actor: 'cli:alice',
  reason: 'p99 doubled on the candidate',
  nowMs: T0 + 10 * MINUTE,
  ...over,
});

describe('rollbackModel', () => {
  it('clears the candidate and the lock in one write and records endedRollout for the execution', async () => {
    const s = setup();
    const result = await rollbackModel(s.stores, input());
    const at = new Date(T0 + 10 * MINUTE).toISOString();
    expect(result).toMatchObject({ changed: true, releasedLock: LOCK, before: { revision: 4 } });
    const record = s.deployments.records.get(MODEL)!;
    expect(record).toEqual({
      model: MODEL,
      stable: '1.1.0',
      weight: 0,
      mode: 'canary',
      revision: 5,
      updatedAt: at,
      endedRollout: {
        executionId: 'exec-a',
        candidate: '2.0.0',
        outcome: 'ROLLED_BACK',
        reason: 'MANUAL_ROLLBACK',
        actor: 'cli:alice',
        at,
        detail: 'p99 doubled on the candidate',
      },
      // The write carries its own audit event, for a run after a crash before the append.
      manualEvent: result.event,
    });
    expect(s.writes()).toBe(1);
    expect(s.audit.events).toEqual([
      {
        model: MODEL,
        eventId: expect.stringMatching(new RegExp(`^${at}#[0-9a-f]{8}$`)),
        at,
        type: 'ROLLED_BACK',
        version: '2.0.0',
        actor: 'cli:alice',
        details: {
          reason: 'MANUAL_ROLLBACK',
          operatorReason: 'p99 doubled on the candidate',
          clearedCandidate: '2.0.0',
          stable: '1.1.0',
          revision: 5,
          executionId: 'exec-a',
        },
      },
    ]);
  });

  it('clears a candidate routed by hand (no lock): no endedRollout, no execution id', async () => {
    const s = setup(stable({ candidate: '2.0.0', weight: 0.3, mode: 'shadow' }));
    const result = await rollbackModel(s.stores, input());
    expect(result.releasedLock).toBeUndefined();
    const record = s.deployments.records.get(MODEL)!;
    expect(record).toMatchObject({ stable: '1.1.0', weight: 0, mode: 'canary', revision: 5 });
    expect(record.candidate).toBeUndefined();
    expect(record.endedRollout).toBeUndefined();
    expect(s.audit.events[0]!.details).not.toHaveProperty('executionId');
  });

  it('--to makes an older REGISTERED version stable, clearing candidate and lock in the same write', async () => {
    const s = setup();
    await rollbackModel(s.stores, input({ to: '1.0.0', reason: '1.1.0 mislabels benign cases' }));
    const record = s.deployments.records.get(MODEL)!;
    expect(record).toMatchObject({
      stable: '1.0.0',
      weight: 0,
      revision: 5,
      endedRollout: { executionId: 'exec-a', outcome: 'ROLLED_BACK', detail: '1.1.0 mislabels benign cases' },
    });
    expect(record.candidate).toBeUndefined();
    expect(record.rollout).toBeUndefined();
    expect(s.audit.events).toHaveLength(1);
    expect(s.audit.events[0]).toMatchObject({
      type: 'ROLLED_BACK',
      version: '1.1.0',
      details: {
        reason: 'MANUAL_ROLLBACK',
        operatorReason: '1.1.0 mislabels benign cases',
        previousStable: '1.1.0',
        stable: '1.0.0',
        clearedCandidate: '2.0.0',
        executionId: 'exec-a',
        revision: 5,
      },
    });
  });

  it('--to works after a bad promotion, with no candidate and no lock', async () => {
    const s = setup(stable());
    await rollbackModel(s.stores, input({ to: '1.0.0' }));
    expect(s.deployments.records.get(MODEL)).toMatchObject({ stable: '1.0.0', revision: 5 });
    expect(s.audit.events[0]!.details).toMatchObject({ previousStable: '1.1.0', clearedCandidate: null });
  });

  describe('refusals write nothing and audit nothing', () => {
    const cases: [
      string,
      DeploymentRecord | null,
      Partial<ReturnType<typeof input>> & { to?: string },
      RegExp,
      string,
    ][] = [
      ['an empty reason', null, { reason: '   ' }, /^--reason must say why/, '--reason'],
      [
        'a reason over 1000 characters',
        null,
        { reason: 'x'.repeat(1001) },
        /^--reason must be at most 1000 characters; got 1001/,
        '--reason',
      ],
      ['a bad model name', null, { model: 'Bad_Name' }, /^<model> "Bad_Name" is not a model name/, '<model>'],
      ['a bad --to', null, { to: '../x' }, /^--to "\.\.\/x" is not a version/, '--to'],
      [
        'a model with no stable version',
        null,
        {},
        /has no stable version .*`modelops promote breast-cancer <version>`/,
        '<model>',
      ],
      [
        'no candidate',
        stable(),
        {},
        /has no candidate to roll back \(stable 1\.1\.0 serves all traffic, revision 4\)\. To make an older version stable, pass --to <version>/,
        '<model>',
      ],
      [
        'a lock without a candidate',
        stable({ rollout: LOCK }),
        {},
        /still holds the rollout lock of exec-a: release it with `modelops unlock/,
        '<model>',
      ],
      ['an unknown --to', stable(), { to: '7.7.7' }, /^--to: breast-cancer 7\.7\.7 does not exist/, '--to'],
      [
        'a REJECTED --to',
        stable(),
        { to: '0.9.0' },
        /^--to: breast-cancer 0\.9\.0 is REJECTED, only a REGISTERED version/,
        '--to',
      ],
      [
        '--to the current stable',
        stable({ candidate: '2.0.0', weight: 0.1 }),
        { to: '1.1.0' },
        /^--to 1\.1\.0 is already the stable version of breast-cancer; to clear the candidate 2\.0\.0, run rollback without --to/,
        '--to',
      ],
      [
        '--to the candidate',
        stable({ candidate: '2.0.0', weight: 0.1 }),
        { to: '2.0.0' },
        /is the candidate being rolled out.*`modelops promote breast-cancer 2\.0\.0`/,
        '--to',
      ],
    ];
    it.each(cases)('rejects %s', async (_name, record, over, message, field) => {
      const s = setup(record);
      const before = structuredClone(s.deployments.records.get(MODEL));
      const err = await rollbackModel(s.stores, input(over)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RoutingChangeRefusedError);
      expect((err as Error).message).toMatch(message);
      expect((err as RoutingChangeRefusedError).field).toBe(field);
      expect(s.deployments.records.get(MODEL)).toEqual(before);
      expect(s.writes()).toBe(0);
      expect(s.audit.events).toEqual([]);
    });
  });

  it('a retry after the write landed changes nothing and returns the first event', async () => {
    const s = setup();
    const first = await rollbackModel(s.stores, input());
    const again = await rollbackModel(s.stores, input({ nowMs: T0 + 11 * MINUTE }));
    expect(again).toMatchObject({ changed: false, record: { revision: 5 } });
    expect(again.event).toEqual(first.event);
    expect(s.writes()).toBe(1);
    expect(s.audit.events).toHaveLength(1);
    // The same for --to.
    const t = setup();
    await rollbackModel(t.stores, input({ to: '1.0.0' }));
    expect((await rollbackModel(t.stores, input({ to: '1.0.0' }))).changed).toBe(false);
    expect(t.writes()).toBe(1);
    expect(t.audit.events).toHaveLength(1);
  });

  it('a crash between the routing write and the audit append loses no event: the next run appends it once', async () => {
    for (const to of [undefined, '1.0.0']) {
      const s = setup();
      const append = s.audit.appendAudit.bind(s.audit);
      s.audit.appendAudit = () => Promise.reject(new Error('crashed before the audit append'));
      await expect(rollbackModel(s.stores, input({ to }))).rejects.toThrow(/crashed/);
      expect(s.audit.events).toEqual([]);
      s.audit.appendAudit = append;
      // Another operator finds the revision unrecorded: the event of the command that wrote it is appended first.
      await expect(
        rollbackModel(s.stores, input({ to, actor: 'cli:bob', reason: 'me too' })),
      ).rejects.toThrow(/already rolled back by cli:alice/);
      const again = await rollbackModel(s.stores, input({ to }));
      expect(again.changed).toBe(false);
      expect(s.audit.events).toEqual([again.event]);
      expect(again.event).toMatchObject({
        type: 'ROLLED_BACK',
        actor: 'cli:alice',
        details: { revision: 5 },
      });
      expect(s.writes()).toBe(1);
    }
  });

  it('someone else repeating the rollback is told who did it, not written twice', async () => {
    const s = setup();
    await rollbackModel(s.stores, input());
    await expect(rollbackModel(s.stores, input({ actor: 'cli:bob', reason: 'me too' }))).rejects.toThrow(
      /no candidate to roll back .*; it was already rolled back by cli:alice at 2026-06-01T00:10:00\.000Z \(revision 5\)/,
    );
    expect(s.writes()).toBe(1);
    expect(s.audit.events).toHaveLength(1);
  });

  it('of two racing rollbacks exactly one writes and audits; the other fails with a conflict', async () => {
    const s = setup();
    const results = await Promise.allSettled([
      rollbackModel(s.stores, input()),
      rollbackModel(s.stores, input({ actor: 'cli:bob', reason: 'paged too' })),
    ]);
    const fulfilled = results.filter((r) => r.status === 'fulfilled');
    const rejected = results.filter((r) => r.status === 'rejected');
    expect(fulfilled).toHaveLength(1);
    expect(rejected).toHaveLength(1);
    expect((rejected[0] as PromiseRejectedResult).reason).toBeInstanceOf(RoutingConflictError);
    expect(s.deployments.records.get(MODEL)).toMatchObject({ revision: 5 });
    expect(s.audit.events).toHaveLength(1);
    expect(s.audit.events[0]!.actor).toBe(
      (fulfilled[0] as PromiseFulfilledResult<{ event: { actor: string } }>).value.event.actor,
    );
  });

  it('the running execution ends RolledBack with the operator as the one who ended it', async () => {
    const s = setup(stable({ stable: '1.0.0' }));
    const started = await startRollout(s.stores, {
      model: MODEL,
      version: '2.0.0',
      executionId: 'exec-a',
      policy: POLICY,
      nowMs: T0,
    });
    await rollbackModel(s.stores, input());
    const stepped = await advanceRollout(s.stores, started, 'step', T0 + 11 * MINUTE);
    expect(stepped).toMatchObject({
      next: 'rolled-back',
      reason: 'MANUAL_ROLLBACK',
      weight: 0,
      endedBy: { actor: 'cli:alice', detail: 'p99 doubled on the candidate' },
    });
    // It wrote nothing more: the record (4 → 5 start → 6 rollback) and the ledger are as the rollback left them.
    expect(s.deployments.records.get(MODEL)!.revision).toBe(6);
    expect(s.audit.types()).toEqual(['ROLLOUT_STARTED', 'ROLLED_BACK']);
  });
});

/** AnalyzeCanary must not read metrics once its lock is gone. */
const noMetrics: MetricsReader = {
  read: async () => {
    throw new Error('metrics are not read after the lock is gone');
  },
};

describe('unlockModel', () => {
  const unlockInput = (nowMs: number, over: Partial<ReturnType<typeof input>> = {}) => ({
    model: MODEL,
    actor: 'cli:alice',
    reason: 'release execution died',
    nowMs,
    ...over,
  });

  it('releases an expired lock and clears the candidate in one write; audited with expired: true', async () => {
    const s = setup();
    const nowMs = T0 + 90 * MINUTE;
    const result = await unlockModel(s.stores, unlockInput(nowMs));
    const at = new Date(nowMs).toISOString();
    expect(result).toMatchObject({ changed: true, releasedLock: LOCK });
    expect(s.deployments.records.get(MODEL)).toEqual({
      model: MODEL,
      stable: '1.1.0',
      weight: 0,
      mode: 'canary',
      revision: 5,
      updatedAt: at,
      endedRollout: {
        executionId: 'exec-a',
        candidate: '2.0.0',
        outcome: 'UNLOCKED',
        reason: 'MANUAL_UNLOCK',
        actor: 'cli:alice',
        at,
        detail: 'release execution died',
      },
      manualEvent: result.event,
    });
    expect(s.audit.events).toHaveLength(1);
    expect(s.audit.events[0]).toMatchObject({
      type: 'ROLLOUT_UNLOCKED',
      version: '2.0.0',
      actor: 'cli:alice',
      details: {
        executionId: 'exec-a',
        candidate: '2.0.0',
        expiresAt: LOCK.expiresAt,
        expired: true,
        operatorReason: 'release execution died',
        clearedCandidate: '2.0.0',
        revision: 5,
      },
    });
  });

  it('releases an unexpired lock (expired: false); the live execution ends Superseded without writing', async () => {
    const s = setup(stable({ stable: '1.0.0' }));
    const started = await startRollout(s.stores, {
      model: MODEL,
      version: '2.0.0',
      executionId: 'exec-a',
      policy: POLICY,
      nowMs: T0,
    });
    await unlockModel(s.stores, unlockInput(T0 + 5 * MINUTE, { reason: 'stop it, no rollback verdict' }));
    expect(s.audit.events.at(-1)!.details).toMatchObject({ expired: false });
    const record = s.deployments.records.get(MODEL)!;
    expect(record.candidate).toBeUndefined();
    expect(record.rollout).toBeUndefined();
    const analyzed = await analyzeCanary({ ...s.stores, metrics: noMetrics }, started, T0 + 6 * MINUTE);
    expect(analyzed.next).toBe('superseded');
    expect(s.deployments.records.get(MODEL)!.revision).toBe(record.revision);
    expect(s.audit.types()).toEqual(['ROLLOUT_STARTED', 'ROLLOUT_UNLOCKED']);
  });

  it('rejects a model without a lock, naming it, and writes nothing', async () => {
    const s = setup(stable({ candidate: '2.0.0', weight: 0.1 }));
    await expect(unlockModel(s.stores, unlockInput(T0))).rejects.toThrow(
      new RoutingChangeRefusedError(
        'no rollout lock on breast-cancer: no release is rolling it out, nothing to unlock. Its candidate 2.0.0 ' +
          'was routed by hand: clear it with `modelops rollback breast-cancer --reason …`',
        '<model>',
      ),
    );
    const none = setup(null);
    await expect(unlockModel(none.stores, unlockInput(T0))).rejects.toThrow(
      /^no rollout lock on breast-cancer: .*\(it has no routing record\)$/,
    );
    expect(s.writes() + none.writes()).toBe(0);
    expect([...s.audit.events, ...none.audit.events]).toEqual([]);
  });

  it.each([
    ['', /^--reason must say why/],
    ['y'.repeat(1001), /^--reason must be at most 1000 characters/],
  ])('rejects the reason %j, naming --reason, and writes nothing', async (reason, message) => {
    const s = setup();
    await expect(unlockModel(s.stores, unlockInput(T0, { reason }))).rejects.toThrow(message);
    expect(s.deployments.records.get(MODEL)!.rollout).toEqual(LOCK);
    expect(s.writes()).toBe(0);
    expect(s.audit.events).toEqual([]);
  });

  it('a retry after the unlock landed changes nothing; another operator is told who unlocked it', async () => {
    const s = setup();
    const first = await unlockModel(s.stores, unlockInput(T0 + 90 * MINUTE));
    const again = await unlockModel(s.stores, unlockInput(T0 + 91 * MINUTE));
    expect(again).toMatchObject({ changed: false, event: first.event });
    await expect(unlockModel(s.stores, unlockInput(T0, { actor: 'cli:bob' }))).rejects.toThrow(
      /no rollout lock on breast-cancer: .*; it was already unlocked by cli:alice at 2026-06-01T01:30:00\.000Z/,
    );
    expect(s.writes()).toBe(1);
    expect(s.audit.events).toHaveLength(1);
  });

  it('an unlock that crashed before its audit append is recorded by the next run, once', async () => {
    const s = setup();
    const append = s.audit.appendAudit.bind(s.audit);
    s.audit.appendAudit = () => Promise.reject(new Error('crashed before the audit append'));
    await expect(unlockModel(s.stores, unlockInput(T0 + 90 * MINUTE))).rejects.toThrow(/crashed/);
    s.audit.appendAudit = append;
    const again = await unlockModel(s.stores, unlockInput(T0 + 91 * MINUTE));
    expect(again).toMatchObject({ changed: false, event: { type: 'ROLLOUT_UNLOCKED', actor: 'cli:alice' } });
    expect(s.audit.events).toEqual([again.event]);
    expect(s.writes()).toBe(1);
  });

  it('of two racing unlocks exactly one writes and audits', async () => {
    const s = setup();
    const results = await Promise.allSettled([
      unlockModel(s.stores, unlockInput(T0 + 90 * MINUTE)),
      unlockModel(s.stores, unlockInput(T0 + 90 * MINUTE, { actor: 'cli:bob' })),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect(s.deployments.records.get(MODEL)!.revision).toBe(5);
    expect(s.audit.events).toHaveLength(1);
  });
});

describe('modelops status: the Rollout section', () => {
  /** Runs `status` over the fake ledger (the Deployments table included) and returns what it printed. */
  async function statusText(s: ReturnType<typeof setup>, nowMs: number): Promise<string> {
    const out: string[] = [];
    await status(
      MODEL,
      { description: 'test' } as never,
      { nowMs },
      { out: (l) => out.push(l), err: (l) => out.push(l) },
      s.stores,
    );
    return out.join('\n');
  }

  function verdict(look: number, weight: number, decision: string, reasonCode: string, actor = 'exec-a') {
    return {
      model: MODEL,
      eventId: `${new Date(T0 + look * MINUTE).toISOString()}#0000000${look}`,
      at: new Date(T0 + look * MINUTE).toISOString(),
      type: 'CANARY_VERDICT' as const,
      version: '2.0.0',
      actor,
      details: { look, step: weight === 0.1 ? 0 : 1, weight, decision, reasonCode, checks: [] },
    };
  }

  it('shows the lock holder, the weight and step, and the latest verdicts of its execution', async () => {
    const s = setup(stable({ candidate: '2.0.0', weight: 0.5, rollout: LOCK }));
    s.audit.events.push(
      {
        model: MODEL,
        eventId: `${LOCK.startedAt}#00000000`,
        at: LOCK.startedAt,
        type: 'ROLLOUT_STARTED',
        version: '2.0.0',
        actor: 'exec-a',
        details: { stable: '1.1.0', weight: 0.1, steps: [0.1, 0.5] },
      },
      verdict(1, 0.1, 'inconclusive', 'INSUFFICIENT_SAMPLES'),
      verdict(2, 0.1, 'promote-step', 'HEALTHY'),
      verdict(3, 0.5, 'inconclusive', 'INSUFFICIENT_SAMPLES'),
      // Another execution's verdict (an earlier rollout) is not this rollout's.
      verdict(4, 0.1, 'rollback', 'ERROR_RATE_REGRESSION', 'exec-old'),
    );
    const text = await statusText(s, T0 + 20 * MINUTE);
    expect(text).toContain(
      'Lock: execution exec-a, candidate 2.0.0, started 2026-06-01T00:00:00.000Z, expires ' +
        '2026-06-01T01:00:00.000Z (in 40 min).',
    );
    expect(text).toContain(
      'Routing: stable 1.1.0, candidate 2.0.0 at weight 0.5 (step 2 of 2: 0.1, 0.5), revision 4.',
    );
    expect(text).toContain(
      "Phase: canary: the candidate gets its step's share of the requests (Routing below).",
    );
    expect(text).toContain('Latest verdicts (3 of 3, oldest first; every one is in the audit log):');
    expect(text).toMatch(/PHASE\s+LOOK\s+STEP\s+WEIGHT\s+DECISION\s+REASON\s+AT/);
    expect(text).toMatch(/canary\s+2\s+1\s+0\.1\s+promote-step\s+HEALTHY\s+2026-06-01T00:02:00\.000Z/);
    expect(text).toMatch(/canary\s+3\s+2\s+0\.5\s+inconclusive\s+INSUFFICIENT_SAMPLES/);
    expect(text).not.toMatch(/ERROR_RATE_REGRESSION\s+2026/);
    // The audit table summarises verdicts too.
    expect(text).toMatch(/CANARY_VERDICT\s+2\.0\.0\s+look 2, weight 0\.1: promote-step \(HEALTHY\)/);
  });

  it('tells deploying, deployed and shadow apart while the candidate is at weight 0, shadow looks in their own phase', async () => {
    const deployed = {
      model: MODEL,
      eventId: `${new Date(T0 + MINUTE).toISOString()}#00000001`,
      at: new Date(T0 + MINUTE).toISOString(),
      type: 'CANDIDATE_DEPLOYED' as const,
      version: '2.0.0',
      actor: 'exec-a',
      details: { target: 'sagemaker' },
    };
    const atZero = (mode: 'canary' | 'shadow') =>
      stable({ candidate: '2.0.0', weight: 0, mode, rollout: LOCK });
    expect(await statusText(setup(atZero('canary')), T0 + 2 * MINUTE)).toMatch(
      /Phase: deploying: the candidate is at weight 0 while the target makes it servable/,
    );
    const ready = setup(atZero('canary'));
    ready.audit.events.push(deployed);
    expect(await statusText(ready, T0 + 2 * MINUTE)).toContain(
      'Phase: deployed: the candidate is ready at weight 0; the first canary step is routed next.',
    );
    const shadow = setup(atZero('shadow'));
    shadow.audit.events.push(deployed, {
      ...verdict(1, 0, 'inconclusive', 'INSUFFICIENT_SAMPLES'),
      details: {
        phase: 'shadow',
        look: 1,
        step: 0,
        weight: 0,
        decision: 'inconclusive',
        reasonCode: 'INSUFFICIENT_SAMPLES',
      },
    });
    const text = await statusText(shadow, T0 + 2 * MINUTE);
    expect(text).toMatch(/Phase: shadow: the candidate answers a copy of the requests at weight 0/);
    expect(text).toMatch(/shadow\s+1\s+-\s+0\s+inconclusive\s+INSUFFICIENT_SAMPLES/);
  });

  it('flags an expired lock and says how to release it', async () => {
    const s = setup();
    const text = await statusText(s, T0 + 75 * MINUTE);
    expect(text).toContain(
      'EXPIRED at 2026-06-01T01:00:00.000Z (15 min ago): its execution is presumed dead; the next release takes ' +
        'the lock over, or release it with `modelops unlock breast-cancer --reason …`.',
    );
    expect(text).toContain('No verdict yet');
  });

  it('shows "no rollout in progress" and how the last rollout was ended after a rollback', async () => {
    const s = setup();
    s.audit.events.push(verdict(1, 0.1, 'inconclusive', 'INSUFFICIENT_SAMPLES'));
    await rollbackModel(s.stores, input());
    const text = await statusText(s, T0 + 20 * MINUTE);
    expect(text).toContain('Rollout: no rollout in progress (stable 1.1.0, no candidate, revision 5).');
    expect(text).toContain('Latest verdicts of the last rollout (execution exec-a), oldest first:');
    expect(text).toContain(
      'Last rollout ended by hand or alarm: execution exec-a (candidate 2.0.0) ROLLED_BACK (MANUAL_ROLLBACK) by ' +
        'cli:alice at 2026-06-01T00:10:00.000Z: "p99 doubled on the candidate".',
    );
    expect(text).toMatch(/ROLLED_BACK\s+2\.0\.0\s+MANUAL_ROLLBACK: p99 doubled on the candidate/);
  });

  it('shows "no rollout in progress" for a model never rolled out, and for one with no routing record', async () => {
    expect(await statusText(setup(stable()), T0)).toContain(
      'Rollout: no rollout in progress (stable 1.1.0, no candidate, revision 4).',
    );
    expect(await statusText(setup(null), T0)).toContain(
      'Rollout: no rollout in progress (no routing record yet: no version has been promoted).',
    );
    const byHand = await statusText(setup(stable({ candidate: '2.0.0', weight: 0.2 })), T0);
    expect(byHand).toContain('candidate 2.0.0 at weight 0.2 was routed by hand (no release holds the lock)');
  });
});
