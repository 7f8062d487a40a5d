/**
 * `modelops history`, `modelops diff` and `--json` of the read commands, in-process against the emulators: two
 * registered versions of credit-risk (the second with other metrics, gates, owner, lineage and baseline), a
 * promotion through the CLI, and rollout, approval and retrain events as their writers append them.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../../cli/errors';
import type { AuditEvent } from '../../lambdas/core/ports';
import { capturedIo, cliTargetFlags, EXAMPLES_DIR, type Harness, loadExample, startHarness } from './harness';

const MODEL = 'credit-risk';
let h: Harness;
let runCli: (args: readonly string[], io?: CliIo) => Promise<number>;

/** Events as the rollout, approval and retrain writers append them, after the pushes and the promotion. */
async function appendLifecycleEvents(): Promise<void> {
  const base = Date.now() + 60_000;
  const events: Omit<AuditEvent, 'model' | 'eventId' | 'at'>[] = [
    {
      type: 'APPROVAL_GRANTED',
      version: '1.1.0',
      actor: 'cli:alice',
      details: { reason: 'metrics reviewed', why: 'risk tier high' },
    },
    {
      type: 'ROLLOUT_STARTED',
      version: '1.1.0',
      actor: 'exec-1',
      details: { stable: '1.0.0', weight: 0, steps: [0.1, 0.5], bakeSeconds: 300, dryRun: false },
    },
    {
      type: 'TRAFFIC_SHIFTED',
      version: '1.1.0',
      actor: 'exec-1',
      details: { from: 0, weight: 0.1, step: 0, reason: 'CANDIDATE_DEPLOYED' },
    },
    {
      type: 'CANARY_VERDICT',
      version: '1.1.0',
      actor: 'exec-1',
      details: {
        look: 1,
        step: 0,
        weight: 0.1,
        decision: 'rollback',
        reasonCode: 'ERROR_RATE',
        checks: [
          {
            metric: 'errorRate',
            effect: 3.25,
            limit: 2,
            candidate: { requests: 400, bad: 13 },
            stable: { requests: 3600, bad: 36 },
          },
          { metric: 'latencyP99', effect: 1.1, limit: 1.5 },
        ],
      },
    },
    {
      type: 'ROLLED_BACK',
      version: '1.1.0',
      actor: 'exec-1',
      details: {
        stable: '1.0.0',
        clearedCandidate: '1.1.0',
        weight: 0,
        revision: 3,
        reason: 'CANARY_FAILED',
        verdict: { decision: 'rollback', reasonCode: 'ERROR_RATE' },
      },
    },
    {
      type: 'RETRAIN_STARTED',
      version: '1.0.0',
      actor: 'exec-r3',
      details: { runId: 'r3', trigger: 'drift', reason: 'income drifted for 3 of 4 windows' },
    },
  ];
  let i = 0;
  for (const e of events) {
    const at = new Date(base + i * 1000).toISOString();
    i++;
    await h.metadata.audit.appendAudit({ ...e, model: MODEL, at, eventId: `${at}#0000000${i}` });
  }
}

beforeAll(async () => {
  process.env.MODELOPS_ACTOR = 'cli:history-test';
  h = await startHarness();
  // After the harness set process.env (the CLI shares the adapter modules with the handlers).
  ({ runCli } = await import('../../cli/index'));
  await h.pushExample(MODEL, '1.0.0');

  const { manifest, artifact } = await loadExample(MODEL);
  type Bins = { kind: string; edges?: number[]; counts: number[]; missing: number };
  const baseline = structuredClone(manifest.baseline) as { features: Record<string, Bins> };
  // age: same edges, the mass moved to the older bins; income: other edges (a retrain's new quantiles).
  const age = baseline.features.age!;
  age.counts = age.counts.map((c, i) => (i === 0 || i === age.counts.length - 1 ? 0 : i * 40));
  const income = baseline.features.income!;
  income.edges = income.edges!.map((e) => e * 1.1);
  const v2 = {
    ...manifest,
    version: '1.1.0',
    owner: 'risk-team',
    metrics: { ...(manifest.metrics as object), auc: 0.78 },
    gates: { ...(manifest.gates as object), minimums: { auc: 0.73, accuracy: 0.75 } },
    lineage: { ...(manifest.lineage as object), codeCommit: 'c0ffee1', parentVersion: '1.0.0' },
    baseline,
  };
  const result = await h.release(await h.stage(MODEL, '1.1.0', v2, artifact));
  expect(result.status).toBe('SUCCEEDED');
  expect((await h.version(MODEL, '1.1.0'))?.status).toBe('REGISTERED');

  expect(await runCli(['promote', MODEL, '1.0.0', ...cliTargetFlags(h)], capturedIo().io)).toBe(0);
  await appendLifecycleEvents();
});
afterAll(async () => {
  delete process.env.MODELOPS_ACTOR;
  await h?.stop();
});

async function cli(args: readonly string[], withTarget = true) {
  const r = capturedIo();
  const code = await runCli([...args, ...(withTarget ? cliTargetFlags(h) : [])], r.io);
  return { code, out: r.out.join('\n'), err: r.err.join('\n'), lines: r.out };
}

/** Runs a `--json` command and checks stdout is exactly one JSON document. */
async function json<T = Record<string, unknown>>(args: readonly string[], withTarget = true) {
  const r = await cli([...args, '--json'], withTarget);
  let doc: T;
  try {
    doc = JSON.parse(r.out) as T;
  } catch (err) {
    throw new Error(`stdout of ${args.join(' ')} --json is not one JSON document: ${String(err)}\n${r.out}`);
  }
  return { ...r, doc };
}

describe('modelops history', () => {
  it('prints the lifecycle oldest first, one line per event with the key details', async () => {
    const r = await cli(['history', MODEL]);
    expect(r.code).toBe(0);
    const order = [
      /1\.0\.0 +VALIDATION_PASSED +release:[0-9a-f-]+ +pushed \(.*\): \d+ checks passed, sha256 [0-9a-f]{12}/,
      /1\.0\.0 +REGISTERED .*models\/credit-risk\/1\.0\.0\/[0-9a-f]+\.onnx, sha256 [0-9a-f]{12}/,
      /1\.1\.0 +VALIDATION_PASSED /,
      /1\.1\.0 +REGISTERED /,
      /1\.0\.0 +PROMOTED +cli:history-test +stable \(none\) -> 1\.0\.0/,
      /1\.1\.0 +APPROVAL_GRANTED +cli:alice +approved by cli:alice: metrics reviewed/,
      /ROLLOUT_STARTED .*rollout started over stable 1\.0\.0: steps 0\.1, 0\.5, bake 300 s/,
      /TRAFFIC_SHIFTED .*weight 0 -> 0\.1 \(step 1\): CANDIDATE_DEPLOYED/,
      /CANARY_VERDICT .*look 1, step 1, weight 0\.1: rollback \(ERROR_RATE\); errorRate 3\.25 \(limit 2\) \[13\/400 candidate\], latencyP99 1\.1 \(limit 1\.5\)/,
      /ROLLED_BACK .*CANARY_FAILED: stable 1\.0\.0, candidate 1\.1\.0 cleared \(last verdict: rollback ERROR_RATE\)/,
      /1\.0\.0 +RETRAIN_STARTED +exec-r3 +run r3 started \(trigger drift\): income drifted/,
    ];
    let from = 0;
    for (const pattern of order) {
      const at = r.lines.findIndex((l, i) => i >= from && pattern.test(l));
      expect(at, `${pattern} after line ${from}:\n${r.out}`).toBeGreaterThanOrEqual(from);
      from = at + 1;
    }
    expect(r.lines[0]).toMatch(/^Target: /);
    expect(r.lines[1]).toMatch(/^History of credit-risk \(\d+ events, oldest first\):$/);
  });

  it('--limit shows the latest n, still oldest first', async () => {
    const r = await cli(['history', MODEL, '--limit', '2']);
    expect(r.code).toBe(0);
    expect(r.lines[1]).toMatch(/latest 2 of \d+ events/);
    expect(r.lines.slice(3).map((l) => l.split(/ +/)[2])).toEqual(['ROLLED_BACK', 'RETRAIN_STARTED']);
  });

  it('--json prints one document with stable fields', async () => {
    const { code, err, doc } = await json<{
      model: string;
      target: string;
      total: number;
      shown: number;
      events: {
        at: string;
        eventId: string;
        type: string;
        version: string | null;
        actor: string;
        summary: string;
        details: Record<string, unknown>;
      }[];
    }>(['history', MODEL, '--limit', '3']);
    expect(code).toBe(0);
    expect(err).toBe('');
    expect(doc).toMatchObject({ model: MODEL, shown: 3 });
    expect(doc.total).toBeGreaterThan(3);
    expect(doc.events.map((e) => e.type)).toEqual(['CANARY_VERDICT', 'ROLLED_BACK', 'RETRAIN_STARTED']);
    expect(Object.keys(doc.events[0]!).sort()).toEqual(
      ['actor', 'at', 'details', 'eventId', 'summary', 'type', 'version'].sort(),
    );
    expect(doc.events[0]!.details).toMatchObject({ decision: 'rollback', look: 1 });
  });

  it('rejects bad usage with exit 2 naming the argument and the fix', async () => {
    const bad = await cli(['history', 'Credit_Risk']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/<model> "Credit_Risk" is not a model name.*modelops status/);
    expect(bad.out).toBe('');
    const limit = await cli(['history', MODEL, '--limit', '0']);
    expect(limit.code).toBe(2);
    expect(limit.err).toMatch(/--limit must be a whole number >= 1, got "0"/);
    expect((await cli(['history'])).code).toBe(2);
  });

  it('prints a hint, exit 0, for a model without events', async () => {
    const r = await cli(['history', 'fraud-score']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/No audit events for fraud-score/);
  });
});

interface DiffDoc {
  model: string;
  from: { version: string; manifestKey: string; sha256: string };
  to: { version: string; manifestKey: string };
  fields: { path: string; from: unknown; to: unknown }[];
  features: { added: string[]; removed: string[]; changed: unknown[] };
  gates: { path: string; from: unknown; to: unknown }[];
  metrics: { metric: string; from: number | null; to: number | null; delta: number | null }[];
  lineage: { path: string; from: unknown; to: unknown; changed: boolean }[];
  labels: unknown[];
  baseline: {
    features: {
      name: string;
      status: string;
      jsDistance?: number;
      method?: string;
      overDriftThreshold?: boolean;
    }[];
  };
}

describe('modelops diff', () => {
  it('shows changed fields, gates, metrics with deltas, lineage and the baseline shift', async () => {
    const r = await cli(['diff', MODEL, '1.0.0', '1.1.0']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(
      /credit-risk 1\.0\.0 -> 1\.1\.0 \(manifests models\/credit-risk\/1\.0\.0\/.*\.json and/,
    );
    expect(r.out).toMatch(/^ {2}owner: ml-platform -> risk-team$/m);
    expect(r.out).toMatch(/^Features: unchanged$/m);
    expect(r.out).toMatch(/^Labels: unchanged$/m);
    expect(r.out).toMatch(/^ {2}minimums\.auc: 0\.72 -> 0\.73$/m);
    expect(r.out).toMatch(/^ {2}auc +0\.7697 +0\.78 +\+0\.01035$/m);
    expect(r.out).toMatch(/^ {2}accuracy +0\.8 +0\.8 +0$/m);
    expect(r.out).toMatch(/^ {2}codeCommit +b321232 +c0ffee1$/m);
    expect(r.out).toMatch(/^ {2}parentVersion +\(none\) +1\.0\.0$/m);
    expect(r.out).toMatch(/^ {2}trainer +scikit-learn .* +\(same\)$/m);
    expect(r.out).toMatch(/^ {2}age +0\.\d{3} +same bins/m);
    expect(r.out).toMatch(/^ {2}income +0\.\d{3} +rebinned \(bins differ\)/m);
    expect(r.out).toMatch(/^ {2}employment +0\.000 +same bins$/m);
  });

  it('--json prints one document: sides, changes, metric deltas and JS distances per feature', async () => {
    const { code, err, doc } = await json<DiffDoc>(['diff', MODEL, '1.0.0', '1.1.0']);
    expect(code).toBe(0);
    expect(err).toBe('');
    expect(doc.from.version).toBe('1.0.0');
    expect(doc.to.version).toBe('1.1.0');
    expect(doc.from.manifestKey).toMatch(/^models\/credit-risk\/1\.0\.0\//);
    expect(doc.fields).toContainEqual({ path: 'owner', from: 'ml-platform', to: 'risk-team' });
    expect(doc.features).toEqual({ added: [], removed: [], changed: [] });
    expect(doc.gates).toEqual([{ path: 'minimums.auc', from: 0.72, to: 0.73 }]);
    const auc = doc.metrics.find((m) => m.metric === 'auc')!;
    expect(auc).toMatchObject({ from: 0.769651, to: 0.78 });
    expect(auc.delta).toBeCloseTo(0.010349, 6);
    expect(doc.lineage.find((l) => l.path === 'codeCommit')).toEqual({
      path: 'codeCommit',
      from: 'b321232',
      to: 'c0ffee1',
      changed: true,
    });
    const shift = Object.fromEntries(doc.baseline.features.map((f) => [f.name, f]));
    expect(shift.age).toMatchObject({ status: 'compared', method: 'same-bins', overDriftThreshold: true });
    expect(shift.age!.jsDistance).toBeGreaterThan(0.1);
    expect(shift.income).toMatchObject({ status: 'compared', method: 'rebinned' });
    expect(shift.income!.jsDistance).toBeGreaterThan(0);
    expect(shift.employment).toMatchObject({ status: 'compared', method: 'same-bins', jsDistance: 0 });
    expect(shift.loan_amount).toMatchObject({ jsDistance: 0 });
  });

  it('refuses versions that are not registered with exit 1', async () => {
    const r = await cli(['diff', MODEL, '1.0.0', '9.9.9']);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/credit-risk 9\.9\.9 has no record .*modelops status credit-risk/);
  });

  it('rejects bad usage with exit 2 naming the argument and the fix', async () => {
    const same = await cli(['diff', MODEL, '1.0.0', '1.0.0']);
    expect(same.code).toBe(2);
    expect(same.err).toMatch(/<v1> and <v2> are both "1\.0\.0"; give two different versions/);
    const bad = await cli(['diff', MODEL, '1.0.0', '../x']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/<v2> "\.\.\/x" is not a version/);
    const missing = await cli(['diff', MODEL, '1.0.0']);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/missing required argument 'v2'/);
    expect(missing.out).toBe('');
  });
});

describe('--json on the read commands', () => {
  it('status, status <model> and status <model> <version> print one document', async () => {
    const list = await json<{ target: string; model: null; versions: { version: string; status: string }[] }>(
      ['status'],
    );
    expect(list.code).toBe(0);
    expect(list.doc.model).toBeNull();
    expect(list.doc.versions.map((v) => v.version)).toEqual(['1.0.0', '1.1.0']);

    const model = await json<{
      model: string;
      events: { type: string; summary: string }[];
      routing: { stable: string };
      rolloutPhase: string | null;
    }>(['status', MODEL, '--limit', '50']);
    expect(model.code).toBe(0);
    expect(model.doc.model).toBe(MODEL);
    expect(model.doc.events.map((e) => e.type)).toContain('PROMOTED');
    expect(model.doc.routing).toMatchObject({ stable: '1.0.0' });
    // No release holds the lock: no rollout phase.
    expect(model.doc.rolloutPhase).toBeNull();

    const version = await json<{
      record: { status: string; version: string };
      validationChecks: string[];
      events: unknown[];
    }>(['status', MODEL, '1.1.0']);
    expect(version.code).toBe(0);
    expect(version.doc.record).toMatchObject({ version: '1.1.0', status: 'REGISTERED' });
    expect(version.doc.validationChecks.length).toBeGreaterThan(0);
  });

  it('a failing read prints nothing on stdout and keeps its exit code', async () => {
    const r = await cli(['status', MODEL, '7.7.7', '--json']);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/has no record/);
  });

  it('validate --json prints the verdict as one document; the human report goes to stderr', async () => {
    const { code, doc, err } = await json<{
      valid: boolean;
      model: string;
      checks: string[];
      reasons: string[];
      champion: string;
    }>(['validate', path.join(EXAMPLES_DIR, MODEL)]);
    expect(code).toBe(0);
    expect(doc).toMatchObject({ valid: true, model: MODEL, reasons: [], champion: 'read' });
    expect(doc.checks.length).toBeGreaterThan(3);
    expect(err).toMatch(/VALID: every check passed/);
  });
});
