import { describe, expect, it } from 'vitest';
import type { DeploymentRecord, VersionRecord } from '../../lambdas/core/ports';
import {
  changeRouting,
  planPromotion,
  planRouteChange,
  promoteStable,
  RoutingChangeRefusedError,
} from '../../lambdas/core/promotion';
import { fakeLedger, type FakeLedger } from './fakes';

const NOW = new Date('2030-01-02T03:04:05.000Z');

function version(v: string, status: VersionRecord['status'] = 'REGISTERED'): VersionRecord {
  return {
    model: 'm',
    version: v,
    status,
    createdAt: NOW.toISOString(),
    updatedAt: NOW.toISOString(),
  };
}

function store(versions: VersionRecord[], deployment?: DeploymentRecord): FakeLedger {
  const s = fakeLedger();
  for (const v of versions) s.versions.records.set(`${v.model}#${v.version}`, v);
  if (deployment) s.deployments.records.set(deployment.model, deployment);
  return s;
}

const deployed = (over: Partial<DeploymentRecord> = {}): DeploymentRecord => ({
  model: 'm',
  stable: '1.0.0',
  weight: 0,
  mode: 'canary',
  revision: 3,
  updatedAt: '2030-01-01T00:00:00.000Z',
  ...over,
});

describe('planPromotion', () => {
  it('creates the first routing record at revision 1 with no candidate', () => {
    const plan = planPromotion({
      model: 'm',
      version: '1.0.0',
      versionRecord: version('1.0.0'),
      current: undefined,
      now: NOW,
    });
    expect(plan).toMatchObject({
      kind: 'write',
      expectedRevision: undefined,
      record: {
        model: 'm',
        stable: '1.0.0',
        weight: 0,
        mode: 'canary',
        revision: 1,
        updatedAt: NOW.toISOString(),
      },
      audit: { type: 'PROMOTED', version: '1.0.0', details: { previousStable: null, stable: '1.0.0' } },
    });
    expect(plan.kind === 'write' && 'candidate' in plan.record).toBe(false);
  });

  it('replaces the stable version, clears the candidate and bumps the revision', () => {
    const plan = planPromotion({
      model: 'm',
      version: '2.0.0',
      versionRecord: version('2.0.0'),
      current: deployed({ candidate: '2.0.0', weight: 0.5, mode: 'shadow' }),
      now: NOW,
    });
    expect(plan).toMatchObject({
      kind: 'write',
      expectedRevision: 3,
      record: { stable: '2.0.0', weight: 0, mode: 'canary', revision: 4 },
      audit: { details: { previousStable: '1.0.0', stable: '2.0.0', clearedCandidate: '2.0.0' } },
    });
  });

  it('is a no-op when the version already is stable with no candidate', () => {
    const current = deployed();
    expect(
      planPromotion({ model: 'm', version: '1.0.0', versionRecord: version('1.0.0'), current, now: NOW }),
    ).toEqual({ kind: 'noop', current });
  });

  it('ends a canary when the stable version is promoted again', () => {
    const plan = planPromotion({
      model: 'm',
      version: '1.0.0',
      versionRecord: version('1.0.0'),
      current: deployed({ candidate: '2.0.0', weight: 0.2 }),
      now: NOW,
    });
    expect(plan).toMatchObject({ kind: 'write', record: { stable: '1.0.0', weight: 0, revision: 4 } });
  });

  it('rejects an unknown version, naming the argument', () => {
    expect(() =>
      planPromotion({ model: 'm', version: '9.9.9', versionRecord: undefined, current: undefined, now: NOW }),
    ).toThrow(/<version>: m 9\.9\.9 does not exist/);
  });

  it('rejects a REJECTED version', () => {
    expect(() =>
      planPromotion({
        model: 'm',
        version: '1.0.0',
        versionRecord: version('1.0.0', 'REJECTED'),
        current: undefined,
        now: NOW,
      }),
    ).toThrow(/is REJECTED, only a REGISTERED version/);
  });

  it('rejects malformed model names and versions', () => {
    expect(() =>
      planPromotion({
        model: 'Bad_Name',
        version: '1',
        versionRecord: version('1'),
        current: undefined,
        now: NOW,
      }),
    ).toThrow(
      new RoutingChangeRefusedError(
        '<model> "Bad_Name" is not a model name (1-64 characters of a-z, 0-9 and "-")',
        '<model>',
      ),
    );
    expect(() =>
      planPromotion({
        model: 'm',
        version: '../x',
        versionRecord: version('1'),
        current: undefined,
        now: NOW,
      }),
    ).toThrow(/<version> "..\/x" is not a version/);
  });
});

describe('planRouteChange', () => {
  const base = {
    model: 'm',
    candidate: '2.0.0',
    weight: 0.1,
    mode: 'canary' as const,
    candidateRecord: version('2.0.0'),
    current: deployed(),
    now: NOW,
  };

  it('sets a candidate with its weight and mode, keeping stable', () => {
    expect(planRouteChange(base)).toMatchObject({
      kind: 'write',
      expectedRevision: 3,
      record: { stable: '1.0.0', candidate: '2.0.0', weight: 0.1, mode: 'canary', revision: 4 },
      audit: {
        type: 'ROUTING_CHANGED',
        version: '2.0.0',
        details: { candidate: '2.0.0', weight: 0.1, previous: { candidate: null, weight: 0 } },
      },
    });
  });

  it('clears the candidate and its weight', () => {
    const plan = planRouteChange({
      ...base,
      candidate: undefined,
      candidateRecord: undefined,
      current: deployed({ candidate: '2.0.0', weight: 0.3 }),
    });
    expect(plan).toMatchObject({ kind: 'write', record: { weight: 0, revision: 4 } });
    expect(plan.kind === 'write' && 'candidate' in plan.record).toBe(false);
  });

  it('is a no-op when nothing changes', () => {
    const current = deployed({ candidate: '2.0.0', weight: 0.1 });
    expect(planRouteChange({ ...base, current })).toEqual({ kind: 'noop', current });
  });

  it.each([-0.1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])(
    'rejects weight %s, naming --weight',
    (weight) => {
      expect(() => planRouteChange({ ...base, weight })).toThrow(/--weight must be a number from 0 to 1/);
    },
  );

  it('rejects a model without a stable version', () => {
    expect(() => planRouteChange({ ...base, current: undefined })).toThrow(/no stable version yet; promote/);
  });

  it('rejects a candidate that is not REGISTERED, naming --candidate', () => {
    expect(() => planRouteChange({ ...base, candidateRecord: version('2.0.0', 'REJECTED') })).toThrow(
      /--candidate: m 2\.0\.0 is REJECTED/,
    );
    expect(() => planRouteChange({ ...base, candidateRecord: undefined })).toThrow(
      /--candidate: m 2\.0\.0 does not exist/,
    );
  });

  it('rejects the stable version as candidate', () => {
    expect(() => planRouteChange({ ...base, candidate: '1.0.0', candidateRecord: version('1.0.0') })).toThrow(
      /already the stable version/,
    );
  });

  it('rejects an unknown mode, naming --mode', () => {
    expect(() => planRouteChange({ ...base, mode: 'blue-green' as 'canary' })).toThrow(/--mode must be/);
  });
});

describe('promoteStable / changeRouting over the version, deployment and audit ports', () => {
  it('writes the record and appends one PROMOTED event', async () => {
    const s = store([version('1.0.0')]);
    const result = await promoteStable(s, { model: 'm', version: '1.0.0', actor: 'cli:test', now: NOW });
    expect(result.changed).toBe(true);
    expect(s.deployments.records.get('m')).toMatchObject({ stable: '1.0.0', revision: 1 });
    expect(s.audit.types()).toEqual(['PROMOTED']);
    expect(s.audit.events[0]).toMatchObject({ actor: 'cli:test', version: '1.0.0', at: NOW.toISOString() });
  });

  it('a crash between the routing write and the audit append is recorded by the next run, once', async () => {
    const s = store([version('1.0.0'), version('2.0.0')], deployed());
    const append = s.audit.appendAudit.bind(s.audit);
    s.audit.appendAudit = () => Promise.reject(new Error('crashed before the audit append'));
    const promote = () => promoteStable(s, { model: 'm', version: '2.0.0', actor: 'cli:test', now: NOW });
    await expect(promote()).rejects.toThrow(/crashed/);
    expect(s.deployments.records.get('m')).toMatchObject({ stable: '2.0.0', revision: 4 });
    s.audit.appendAudit = append;
    expect(await promote()).toMatchObject({ changed: false });
    await promote();
    expect(s.audit.types()).toEqual(['PROMOTED']);
    expect(s.audit.events[0]).toMatchObject({
      version: '2.0.0',
      at: NOW.toISOString(),
      details: { revision: 4 },
    });
  });

  it('writes nothing and audits nothing on a no-op promotion', async () => {
    const s = store([version('1.0.0')], deployed());
    const result = await promoteStable(s, { model: 'm', version: '1.0.0', actor: 'cli:test', now: NOW });
    expect(result).toMatchObject({ changed: false, record: { revision: 3 } });
    expect(s.audit.events).toHaveLength(0);
  });

  it('fails with RoutingConflictError when someone else writes in between, and audits nothing', async () => {
    const s = store([version('1.0.0'), version('2.0.0')], deployed());
    s.deployments.beforePut = () => s.deployments.records.set('m', deployed({ revision: 4 }));
    await expect(
      promoteStable(s, { model: 'm', version: '2.0.0', actor: 'cli:test', now: NOW }),
    ).rejects.toMatchObject({
      name: 'RoutingConflictError',
      message:
        'the routing record of m changed while this change was being written (expected revision 3); someone else ' +
        'changed routing at the same time. Check `modelops status` and run the command again.',
    });
    expect(s.deployments.records.get('m')).toMatchObject({ stable: '1.0.0', revision: 4 });
    expect(s.audit.events).toHaveLength(0);
  });

  it('fails with RoutingConflictError when a first promotion races another', async () => {
    const s = store([version('1.0.0')]);
    s.deployments.beforePut = () => s.deployments.records.set('m', deployed({ revision: 1 }));
    await expect(
      promoteStable(s, { model: 'm', version: '1.0.0', actor: 'cli:test', now: NOW }),
    ).rejects.toThrow(/expected no record/);
  });

  it('sets a shadow candidate and audits ROUTING_CHANGED', async () => {
    const s = store([version('1.0.0'), version('2.0.0')], deployed());
    await changeRouting(s, {
      model: 'm',
      candidate: '2.0.0',
      weight: 0,
      mode: 'shadow',
      actor: 'cli:test',
      now: NOW,
    });
    expect(s.deployments.records.get('m')).toMatchObject({ candidate: '2.0.0', mode: 'shadow', revision: 4 });
    expect(s.audit.types()).toEqual(['ROUTING_CHANGED']);
  });
});
