/**
 * The pure parts of `modelops diff` (diffManifests) and `modelops history` (historySummary): what counts as a
 * change, and the baseline shift through the drift monitor's own JS distance.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { diffManifests } from '../../cli/diff';
import { historySummary } from '../../cli/history';
import { jsDistance } from '../../lambdas/core/drift';
import { parseManifest, type Manifest } from '../../lambdas/core/manifest';
import type { AuditEvent } from '../../lambdas/core/ports';

const EXAMPLE = path.join(__dirname, '..', '..', 'examples', 'credit-risk', 'manifest.json');

/* eslint-disable @typescript-eslint/no-explicit-any -- edits reach deep into the example's JSON */
function manifest(edit: (m: Record<string, any>) => void = () => undefined): Manifest {
  const m = JSON.parse(readFileSync(EXAMPLE, 'utf8')) as Record<string, any>;
  /* eslint-enable @typescript-eslint/no-explicit-any */
  edit(m);
  const r = parseManifest(m);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.manifest;
}

describe('diffManifests', () => {
  it('finds nothing between a manifest and itself but equal metrics and lineage', () => {
    const d = diffManifests(manifest(), manifest());
    expect(d.fields).toEqual([]);
    expect(d.features).toEqual({ added: [], removed: [], changed: [] });
    expect(d.outputs).toEqual({ added: [], removed: [], changed: [] });
    expect(d.labels).toEqual([]);
    expect(d.gates).toEqual([]);
    expect(d.metrics.every((m) => m.delta === 0)).toBe(true);
    expect(d.lineage.every((l) => !l.changed)).toBe(true);
    expect(d.baseline.features.every((f) => f.status === 'compared' && f.jsDistance === 0)).toBe(true);
  });

  it('lists features changed field by field, labels reordered, metrics added with no delta', () => {
    const b = manifest((m) => {
      m.inputs.features[3].categories.push('retired');
      m.inputs.features[2].range.max = 100;
      m.outputs[1].labels = ['defaulted', 'repaid'];
      m.metrics.f1 = 0.5;
      delete m.gates.maxRegression.accuracy;
    });
    const d = diffManifests(manifest(), b);
    expect(d.features.changed).toEqual([
      { name: 'age', changes: [{ path: 'range.max', from: 120, to: 100 }] },
      {
        name: 'employment',
        changes: [
          {
            path: 'categories',
            from: ['salaried', 'self_employed', 'contract', 'unemployed'],
            to: ['salaried', 'self_employed', 'contract', 'unemployed', 'retired'],
          },
        ],
      },
    ]);
    expect(d.labels).toEqual([
      {
        output: 'probabilities',
        from: ['repaid', 'defaulted'],
        to: ['defaulted', 'repaid'],
        added: [],
        removed: [],
        reordered: true,
      },
    ]);
    expect(d.metrics.find((m) => m.metric === 'f1')).toEqual({
      metric: 'f1',
      from: null,
      to: 0.5,
      delta: null,
    });
    expect(d.gates).toEqual([{ path: 'maxRegression.accuracy', from: 0.03, to: null }]);
  });

  it("measures the baseline shift with the drift monitor's jsDistance, bins plus the missing bin", () => {
    const a = manifest();
    const b = manifest((m) => {
      m.baseline.features.has_guarantor.counts = [100, 300, 0];
      m.baseline.features.has_guarantor.missing = 50;
    });
    const before = a.baseline!.features.has_guarantor!;
    const shift = diffManifests(a, b).baseline.features.find((f) => f.name === 'has_guarantor')!;
    // Both sides scaled to 1e9 before the distance: shares, and so the distance, are those of the raw counts.
    expect(shift).toMatchObject({ status: 'compared', method: 'same-bins' });
    expect(shift.status === 'compared' && shift.jsDistance).toBeCloseTo(
      jsDistance([...before.counts, before.missing], [100, 300, 0, 50]),
      8,
    );
  });

  it('rebins numeric features with other edges onto the union of the edges', () => {
    const a = manifest((m) => {
      m.baseline.features.age = { kind: 'numeric', edges: [0, 10, 20], counts: [0, 50, 50, 0], missing: 0 };
    });
    // Same distribution (uniform on [0, 20]) over finer edges: no shift.
    const same = manifest((m) => {
      m.baseline.features.age = {
        kind: 'numeric',
        edges: [0, 5, 10, 20],
        counts: [0, 25, 25, 50, 0],
        missing: 0,
      };
    });
    const moved = manifest((m) => {
      m.baseline.features.age = { kind: 'numeric', edges: [0, 5, 20], counts: [0, 100, 0, 0], missing: 0 };
    });
    const shiftOf = (b: Manifest) => diffManifests(a, b).baseline.features.find((f) => f.name === 'age')!;
    expect(shiftOf(same)).toMatchObject({ status: 'compared', method: 'rebinned' });
    expect(shiftOf(same).status === 'compared' && shiftOf(same)).toMatchObject({ jsDistance: 0 });
    // Union [0, 5, 10, 20]: a = 25, 25, 50; moved = 100, 0, 0.
    const m = shiftOf(moved);
    expect(m.status === 'compared' && m.jsDistance).toBeCloseTo(jsDistance([25, 25, 50], [100, 0, 0]), 8);
  });

  it('reports a feature only one baseline has, and bins of another kind, without a distance', () => {
    const b = manifest((m) => {
      delete m.baseline.features.income;
    });
    // A feature whose type changed (the schema ties bins to the feature type, so set the bins after parsing).
    const features = b.baseline!.features as Record<string, unknown>;
    features.age = { kind: 'categorical', categories: ['young'], counts: [10, 0], missing: 0 };
    const byName = Object.fromEntries(
      diffManifests(manifest(), b).baseline.features.map((f) => [f.name, f.status]),
    );
    expect(byName).toMatchObject({ income: 'only-in-from', age: 'kind-changed' });
  });

  it('says why there is no shift when a manifest has no baseline', () => {
    const b = manifest((m) => {
      delete m.baseline;
      m.version = '2.0.0';
    });
    expect(diffManifests(manifest(), b).baseline).toEqual({
      missing: '2.0.0 has no baseline in its manifest',
      features: [],
      predictions: [],
    });
  });
});

describe('historySummary', () => {
  const event = (type: AuditEvent['type'], details: Record<string, unknown>, actor = 'x'): AuditEvent => ({
    model: 'm',
    eventId: '2026-01-01T00:00:00.000Z#1',
    at: '2026-01-01T00:00:00.000Z',
    type,
    version: '1',
    actor,
    details,
  });

  it('names who decided an approval and why', () => {
    expect(historySummary(event('APPROVAL_REJECTED', { reason: 'bias on age' }, 'cli:bob'))).toBe(
      'rejected by cli:bob: bias on age',
    );
  });

  it('gives a validation failure its reasons and a retrain skip its code', () => {
    expect(
      historySummary(event('VALIDATION_FAILED', { uploadId: 'u1', reasons: ['artifact.sha256: mismatch'] })),
    ).toBe('pushed (upload u1): rejected for 1 reason(s): artifact.sha256: mismatch');
    expect(
      historySummary(
        event('RETRAIN_SKIPPED', { code: 'COOLDOWN', reason: 'last run 2 h ago', trigger: 'drift' }),
      ),
    ).toBe('skipped (trigger drift): COOLDOWN: last run 2 h ago');
  });

  it('falls back to the scalar details for other events', () => {
    expect(historySummary(event('RETRAIN_SUCCEEDED', { outcome: 'released', runId: 'r1', nested: {} }))).toBe(
      'outcome=released, runId=r1',
    );
  });
});
