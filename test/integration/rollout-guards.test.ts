/**
 * The canary judge's guards on live traffic: the real release ASL with the real handlers against the emulators,
 * requests through the local inference server, AnalyzeCanary reading the server's metric store and the emulated
 * DriftCounters table the server counts predictions into. Each candidate differs from stable in one way only:
 *
 * - flipped.onnx answers another class for about a fifth of the inputs (same errors, same latency): rolled back on
 *   the prediction shift. Its p99 guard is kept inconclusive (minRequestsForP99 out of reach), so timing decides
 *   nothing.
 * - slow.onnx answers bit-identical predictions with real extra compute (a few tens of ms per request against well
 *   under one for stable): rolled back on the p99 ratio. The latency SLO threshold is far above both, so the
 *   slow-share test sees no difference either.
 *
 * Both artifacts are derived from examples/credit-risk by test/fixtures/rollout-guards/make_models.py; every bundle
 * is prepared as `modelops push --reference` prepares it (cli/bundle.ts: sha256, baseline and prediction baseline
 * from reference.csv). Outcomes do not depend on timing: the judge extends a bake until it has what it needs.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckResult } from '../../lambdas/core/canary-judge';
import type { AuditEvent } from '../../lambdas/core/ports';
import type { RolloutState } from '../../lambdas/core/rollout';
import { prepareBundle } from '../../cli/bundle';
import { DEFAULT_ROUTING_CACHE_TTL_MS } from '../../lambdas/inference/settings';
import { inferenceService } from '../../local/inference-server';
import { EXAMPLES_DIR, invokeModel, loadExample, startHarness, types, type Harness } from './harness';

const FIXTURES = path.resolve(__dirname, '..', 'fixtures', 'rollout-guards');
/** Two models (each needs its own judge policy); both start from the credit-risk example. */
const FLIP_MODEL = 'credit-risk';
const SLOW_MODEL = 'credit-risk-latency';
/** Instances per request: enough prediction samples quickly, one routing decision per request. */
const BATCH = 16;

interface Candidates {
  readonly flipped: { readonly file: string; readonly smokeSamples: unknown[] };
  readonly slow: { readonly file: string };
}

let h: Harness;
let work: string;
let candidates: Candidates;
let reference: Record<string, unknown>[] = [];

/** The reference rows as request instances (the label column dropped). */
async function referenceInstances(): Promise<Record<string, unknown>[]> {
  const text = await readFile(path.join(EXAMPLES_DIR, 'credit-risk', 'reference.csv'), 'utf8');
  const [header, ...lines] = text.trim().split('\n');
  const names = header!.split(',');
  return lines.map((line) => {
    const cells = line.split(',');
    const row: Record<string, unknown> = {};
    names.forEach((name, i) => {
      if (name === 'label') return;
      const cell = cells[i]!;
      row[name] =
        cell === 'true' || cell === 'false' ? cell === 'true' : /^-?\d/.test(cell) ? Number(cell) : cell;
    });
    return row;
  });
}

const judgeBase = { minDetectableEffect: 10, baselineRateFloor: 0.05, maxExtensionsPerStep: 1000 };

beforeAll(async () => {
  reference = await referenceInstances();
  candidates = JSON.parse(await readFile(path.join(FIXTURES, 'candidates.json'), 'utf8')) as Candidates;
  work = await mkdtemp(path.join(tmpdir(), 'modelops-guards-'));
  const model = (name: string, judge: Record<string, number>) => ({
    name,
    owner: 'ml-platform',
    // The example asks for approval; these releases run unattended.
    approvalRequired: false,
    // Far above any request here: the slow-share test never tells the arms apart, only the p99 guard can.
    slo: { latency: { thresholdMs: 60_000 } },
    // Counting on (the default), flushed every second so each look sees the counts of the bake before it.
    drift: { flushSeconds: 1 },
    canary: { enabled: true, steps: [0.5], bakeSeconds: 1, judge: { ...judgeBase, ...judge } },
  });
  h = await startHarness({
    config: {
      models: [
        // The p99 guard never decides here: its sample floor is out of reach, so it stays inconclusive.
        model(FLIP_MODEL, { minRequestsForP99: 1_000_000, maxP99Ratio: 1000 }),
        model(SLOW_MODEL, { minRequestsForP99: 100, maxP99Ratio: 2 }),
      ],
    },
    services: [
      // The routing cache keeps its default TTL: with none, every request would read the routing record, and the
      // emulator's read latency would swamp the p99s being compared.
      inferenceService({ port: 0 }),
    ],
  });
  for (const name of [FLIP_MODEL, SLOW_MODEL]) {
    const result = await release(name, '1.0.0', path.join(EXAMPLES_DIR, 'credit-risk', 'model.onnx'));
    expect(result.status, JSON.stringify(result)).toBe('SUCCEEDED');
    expect((result.output as { rollout: RolloutState }).rollout.next).toBe('promoted');
  }
}, 180_000);

afterAll(async () => {
  await h?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/**
 * Prepares the bundle (the example's manifest under `model`, `artifact` as its model.onnx, optionally other smoke
 * samples) as `modelops push --reference` does, stages it and runs its release.
 */
async function release(model: string, version: string, artifact: string, smokeSamples?: unknown[]) {
  const { manifest } = await loadExample('credit-risk');
  const dir = path.join(work, `${model}-${version}`);
  await mkdir(dir, { recursive: true });
  const bytes = await readFile(artifact);
  await writeFile(path.join(dir, 'model.onnx'), bytes);
  await writeFile(
    path.join(dir, 'manifest.json'),
    JSON.stringify({
      ...manifest,
      name: model,
      version,
      // Another model file: push fills in its sha256 and size (it never replaces written ones).
      artifact: { file: 'model.onnx' },
      ...(smokeSamples ? { smokeSamples } : {}),
    }),
  );
  const bundle = await prepareBundle(dir, {
    reference: path.join(EXAMPLES_DIR, 'credit-risk', 'reference.csv'),
  });
  expect(bundle.manifest.baseline?.predictions?.label).toBeDefined();
  return h.release(await h.stage(model, version, bundle.manifestText, bytes));
}

/** Sends batches of reference rows until `until` settles; counts the answers per version (every one must be 200). */
function trafficUntil<T>(model: string, until: Promise<T>): Promise<Map<string, number>> {
  let done = false;
  void until.finally(() => {
    done = true;
  });
  return (async () => {
    const byVersion = new Map<string, number>();
    let next = 0;
    while (!done) {
      const instances = Array.from({ length: BATCH }, () => reference[next++ % reference.length]!);
      const r = await invokeModel(h.inference()!.baseUrl, model, { instances });
      expect(r.status, r.text).toBe(200);
      const version = String(r.headers['x-modelops-version']);
      byVersion.set(version, (byVersion.get(version) ?? 0) + 1);
    }
    return byVersion;
  })();
}

/** What a failed assertion on the execution shows: its error and its last verdicts. */
function outcome(result: unknown): string {
  const r = result as { error?: string; cause?: string; output?: { rollout?: RolloutState } };
  return JSON.stringify({ error: r.error, cause: r.cause, verdicts: r.output?.rollout?.verdicts }).slice(
    0,
    8000,
  );
}

/** After the rollback (and the routing cache's TTL, which bounds how long a server may route by the old record): every request is answered by `stable`. */
async function expectStableOnly(model: string, stable: string): Promise<void> {
  await new Promise((r) => setTimeout(r, DEFAULT_ROUTING_CACHE_TTL_MS + 250));
  for (let i = 0; i < 20; i++) {
    const r = await invokeModel(h.inference()!.baseUrl, model, { instances: [reference[i]!] });
    expect(r.status, r.text).toBe(200);
    expect(r.headers['x-modelops-version']).toBe(stable);
  }
  const record = await h.metadata.deployments.getDeployment(model);
  expect(record).toMatchObject({ stable, weight: 0 });
  expect(record?.candidate).toBeUndefined();
  expect(record?.rollout).toBeUndefined();
}

function verdicts(events: readonly AuditEvent[]) {
  return events
    .filter((e) => e.type === 'CANARY_VERDICT')
    .map(
      (e) =>
        e.details as { reasonCode: string; checks: CheckResult[]; predictionInput: Record<string, unknown> },
    );
}

const check = (v: { checks: CheckResult[] }, metric: CheckResult['metric']) =>
  v.checks.find((c) => c.metric === metric)!;

describe('canary guards on live traffic', () => {
  it('rolls back a candidate that answers another class for a share of the inputs (prediction shift)', async () => {
    const version = '1.1.0';
    const run = release(
      FLIP_MODEL,
      version,
      path.join(FIXTURES, candidates.flipped.file),
      candidates.flipped.smokeSamples,
    );
    const served = await trafficUntil(FLIP_MODEL, run);
    const result = await run;
    expect(result.status, outcome(result)).toBe('FAILED');
    expect(result.error, JSON.stringify(result)).toBe('CanaryRolledBack');
    expect(served.get(version) ?? 0).toBeGreaterThan(0);

    await expectStableOnly(FLIP_MODEL, '1.0.0');
    const events = await h.audit(FLIP_MODEL, version);
    expect(types(events).at(-1)).toBe('ROLLED_BACK');
    const rolledBack = events.find((e) => e.type === 'ROLLED_BACK')!;
    expect(rolledBack.details).toMatchObject({ reason: 'PREDICTION_SHIFT', clearedCandidate: version });

    const last = verdicts(events).at(-1)!;
    expect(last.reasonCode).toBe('PREDICTION_SHIFT');
    const shift = check(last, 'predictionShift');
    expect(shift).toMatchObject({ decision: 'fail', reasonCode: 'PREDICTION_SHIFT', limit: 0.1 });
    // About 9 % defaulted on the reference rows for stable, 28 % for the candidate: a JS distance near 0.22.
    expect(shift.effect).toBeGreaterThan(0.1);
    // The same errors and latency: no other check failed.
    expect(last.checks.filter((c) => c.decision === 'fail').map((c) => c.metric)).toEqual([
      'predictionShift',
    ]);
    expect(check(last, 'p99Ratio').decision).toBe('inconclusive');
    // The numbers behind it: the class shares of each version since the rollout started.
    const input = last.predictionInput as {
      output: string;
      bins: string[];
      candidate: number[];
      stable: number[];
    };
    expect(input).toMatchObject({ output: 'label', bins: ['repaid', 'defaulted', '__OTHER__', 'missing'] });
    const defaulted = (bins: number[]) => bins[1]! / (bins[0]! + bins[1]!);
    expect(defaulted(input.candidate)).toBeGreaterThan(defaulted(input.stable));
    // The earlier looks waited for samples, never passed the check.
    for (const v of verdicts(events).slice(0, -1)) {
      expect(['inconclusive', 'skipped']).toContain(check(v, 'predictionShift').decision);
    }
  }, 180_000);

  it('rolls back a candidate that only got slower (p99 ratio); its predictions did not shift', async () => {
    const version = '1.1.0';
    const run = release(SLOW_MODEL, version, path.join(FIXTURES, candidates.slow.file));
    const served = await trafficUntil(SLOW_MODEL, run);
    const result = await run;
    expect(result.status, outcome(result)).toBe('FAILED');
    expect(result.error, JSON.stringify(result)).toBe('CanaryRolledBack');
    expect(served.get(version) ?? 0).toBeGreaterThanOrEqual(100);

    await expectStableOnly(SLOW_MODEL, '1.0.0');
    const events = await h.audit(SLOW_MODEL, version);
    const rolledBack = events.find((e) => e.type === 'ROLLED_BACK')!;
    expect(rolledBack.details).toMatchObject({ reason: 'P99_RATIO', clearedCandidate: version });
    const last = verdicts(events).at(-1)!;
    expect(last.reasonCode).toBe('P99_RATIO');
    const p99 = check(last, 'p99Ratio');
    expect(p99).toMatchObject({ decision: 'fail', limit: 2 });
    expect(p99.effect).toBeGreaterThan(2);
    expect(last.checks.filter((c) => c.decision === 'fail').map((c) => c.metric)).toEqual(['p99Ratio']);
    // Same errors (none) and the same answers: the prediction check compared the class shares and saw no shift.
    expect(check(last, 'errorRate').candidate?.bad).toBe(0);
    expect(['pass', 'inconclusive']).toContain(check(last, 'predictionShift').decision);
    expect(last.predictionInput).toMatchObject({ output: 'label' });
  }, 180_000);
});
