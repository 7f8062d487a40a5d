/**
 * The shadow phase between DeployCandidate and the canary (canary.shadow): the real release ASL with the real
 * handlers against the emulators, requests through the local inference server (whose shadow hook compares the
 * candidate with stable on every request), and AnalyzeShadow reading the server's metric store through the same
 * MetricsReader port as CloudWatch. Outcomes do not depend on timing: the judges extend a bake until they have the
 * samples they need (maxExtensionsPerStep is large here), so slower traffic only makes a test take longer.
 *
 * - The same artifact as stable under a new version: every comparison agrees, the canary follows and promotes it.
 * - flipped.onnx (test/fixtures/rollout-guards, answers another class for about a fifth of the inputs): with 16
 *   instances a request, nearly every request disagrees somewhere; rolled back in shadow, never answering a client.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CheckResult } from '../../lambdas/core/canary-judge';
import type { AuditEvent } from '../../lambdas/core/ports';
import type { RolloutState } from '../../lambdas/core/rollout';
import { prepareBundle } from '../../cli/bundle';
import { inferenceService } from '../../local/inference-server';
import { EXAMPLES_DIR, invokeModel, loadExample, startHarness, types, type Harness } from './harness';

const FIXTURES = path.resolve(__dirname, '..', 'fixtures', 'rollout-guards');
const MODEL = 'credit-risk';
const STABLE_ARTIFACT = path.join(EXAMPLES_DIR, 'credit-risk', 'model.onnx');
/** Instances per request: one routing decision and one comparison per request. */
const BATCH = 16;

let h: Harness;
let work: string;
let flipped: { readonly file: string; readonly smokeSamples: unknown[] };
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

beforeAll(async () => {
  reference = await referenceInstances();
  flipped = (
    JSON.parse(await readFile(path.join(FIXTURES, 'candidates.json'), 'utf8')) as {
      flipped: typeof flipped;
    }
  ).flipped;
  work = await mkdtemp(path.join(tmpdir(), 'modelops-shadow-'));
  h = await startHarness({
    config: {
      models: [
        {
          name: MODEL,
          owner: 'ml-platform',
          // The example asks for approval; these releases run unattended.
          approvalRequired: false,
          slo: { latency: { thresholdMs: 60_000 } },
          drift: { flushSeconds: 1 },
          canary: {
            enabled: true,
            steps: [0.5],
            bakeSeconds: 1,
            // A tenth of the requests disagreeing at most; the flipped candidate disagrees on nearly all of them.
            shadow: { enabled: true, bakeSeconds: 1, maxDisagreement: 0.1 },
            // Small samples suffice for the effects here; extensions let the judges wait for them.
            judge: {
              minDetectableEffect: 5,
              baselineRateFloor: 0.05,
              maxExtensionsPerStep: 1000,
              minRequestsForP99: 100,
              maxP99Ratio: 1000,
            },
          },
        },
      ],
    },
    services: [inferenceService({ port: 0 })],
  });
  const first = await release('1.0.0', STABLE_ARTIFACT);
  expect(first.status, JSON.stringify(first)).toBe('SUCCEEDED');
  expect((first.output as { rollout: RolloutState }).rollout.next).toBe('promoted');
}, 180_000);

afterAll(async () => {
  await h?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** Prepares the bundle as `modelops push --reference` does (optionally other smoke samples) and runs its release. */
async function release(version: string, artifact: string, smokeSamples?: unknown[]) {
  const { manifest } = await loadExample('credit-risk');
  const dir = path.join(work, version);
  await mkdir(dir, { recursive: true });
  const bytes = await readFile(artifact);
  await writeFile(path.join(dir, 'model.onnx'), bytes);
  await writeFile(
    path.join(dir, 'manifest.json'),
    JSON.stringify({
      ...manifest,
      name: MODEL,
      version,
      // Another model file: push fills in its sha256 and size (it never replaces written ones).
      artifact: { file: 'model.onnx' },
      ...(smokeSamples ? { smokeSamples } : {}),
    }),
  );
  const bundle = await prepareBundle(dir, {
    reference: path.join(EXAMPLES_DIR, 'credit-risk', 'reference.csv'),
  });
  return h.release(await h.stage(MODEL, version, bundle.manifestText, bytes));
}

/**
 * Sends batches of reference rows until `until` settles (every answer must be 200). Counts the answers per version,
 * and separately those of requests sent and answered while the routing record was in shadow mode: the server routes
 * by that record or the weight-0 one before it, so stable must have answered each of them.
 */
function trafficUntil<T>(until: Promise<T>) {
  let done = false;
  void until.finally(() => {
    done = true;
  });
  return (async () => {
    const byVersion = new Map<string, number>();
    const inShadow = new Map<string, number>();
    let next = 0;
    while (!done) {
      const before = await h.metadata.deployments.getDeployment(MODEL);
      const instances = Array.from({ length: BATCH }, () => reference[next++ % reference.length]!);
      const r = await invokeModel(h.inference()!.baseUrl, MODEL, { instances });
      expect(r.status, r.text).toBe(200);
      const version = String(r.headers['x-modelops-version']);
      byVersion.set(version, (byVersion.get(version) ?? 0) + 1);
      const after = await h.metadata.deployments.getDeployment(MODEL);
      if (before?.mode === 'shadow' && after?.revision === before.revision) {
        inShadow.set(version, (inShadow.get(version) ?? 0) + 1);
      }
    }
    return { byVersion, inShadow };
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

type Verdict = {
  phase?: string;
  decision: string;
  reasonCode: string;
  checks: CheckResult[];
  counts?: { compared: number; disagreed: number };
};
const verdicts = (events: readonly AuditEvent[]) =>
  events.filter((e) => e.type === 'CANARY_VERDICT').map((e) => e.details as unknown as Verdict);

describe('the shadow phase on live traffic', () => {
  it('shadows a candidate that agrees with stable, then runs the canary and promotes it', async () => {
    const version = '1.1.0';
    const run = release(version, STABLE_ARTIFACT);
    const traffic = await trafficUntil(run);
    const result = await run;
    expect(result.status, outcome(result)).toBe('SUCCEEDED');
    const states = result.history.filter((e) => e.type === 'StateEntered').map((e) => e.state);
    expect(states).toEqual(
      expect.arrayContaining(['BeginShadow', 'AnalyzeShadow', 'BeginCanary', 'Promote']),
    );
    expect(states.indexOf('BeginShadow')).toBeLessThan(states.indexOf('BeginCanary'));

    // During the shadow phase every answer came from stable; the canary then routed the candidate.
    expect(traffic.inShadow.get('1.0.0') ?? 0).toBeGreaterThan(0);
    expect(traffic.inShadow.get(version)).toBeUndefined();
    expect(traffic.byVersion.get(version) ?? 0).toBeGreaterThan(0);

    const events = await h.audit(MODEL, version);
    const shifted = events.filter((e) => e.type === 'TRAFFIC_SHIFTED').map((e) => e.details);
    expect(shifted[0]).toMatchObject({ mode: 'shadow', weight: 0 });
    expect(shifted[1]).toMatchObject({ weight: 0.5, step: 0 });
    const shadow = verdicts(events).filter((v) => v.phase === 'shadow');
    const last = shadow.at(-1)!;
    expect(last).toMatchObject({ decision: 'promote-step', reasonCode: 'HEALTHY' });
    // Never a pass on no data: the deciding look compared requests, and none disagreed (the same artifact).
    expect(last.counts?.compared).toBeGreaterThan(0);
    expect(last.counts?.disagreed).toBe(0);
    for (const v of shadow.slice(0, -1)) expect(v.decision).toBe('inconclusive');
    // The canary's verdicts come after the shadow's, and the candidate was promoted.
    expect(verdicts(events).at(-1)).toMatchObject({ decision: 'promote-step' });
    expect(verdicts(events).at(-1)?.phase).toBeUndefined();
    expect(types(events).at(-1)).toBe('PROMOTED');
    expect(await h.metadata.deployments.getDeployment(MODEL)).toMatchObject({
      stable: version,
      weight: 0,
      mode: 'canary',
    });
  }, 240_000);

  it('rolls back a candidate that disagrees with stable in shadow: no client was ever answered by it', async () => {
    const stable = '1.1.0';
    const version = '1.2.0';
    const run = release(version, path.join(FIXTURES, flipped.file), flipped.smokeSamples);
    const traffic = await trafficUntil(run);
    const result = await run;
    expect(result.status, outcome(result)).toBe('FAILED');
    expect(result.error, outcome(result)).toBe('CanaryRolledBack');
    const states = result.history.filter((e) => e.type === 'StateEntered').map((e) => e.state);
    expect(states).toContain('AnalyzeShadow');
    expect(states).not.toContain('BeginCanary');

    expect(traffic.byVersion.get(version)).toBeUndefined();
    expect(traffic.byVersion.get(stable) ?? 0).toBeGreaterThan(0);

    const events = await h.audit(MODEL, version);
    expect(events.filter((e) => e.type === 'TRAFFIC_SHIFTED').map((e) => e.details.weight)).toEqual([0]);
    expect(events.find((e) => e.type === 'ROLLED_BACK')?.details).toMatchObject({
      reason: 'SHADOW_DISAGREEMENT',
      clearedCandidate: version,
    });
    const last = verdicts(events).at(-1)!;
    expect(last).toMatchObject({ phase: 'shadow', decision: 'rollback', reasonCode: 'SHADOW_DISAGREEMENT' });
    expect(last.counts!.disagreed).toBeGreaterThan(0);
    const record = await h.metadata.deployments.getDeployment(MODEL);
    expect(record).toMatchObject({ stable, weight: 0 });
    expect(record?.candidate).toBeUndefined();
    expect(record?.rollout).toBeUndefined();
  }, 240_000);
});
