/**
 * Retrain loop vs a normal release, in local mode, in one run: how much longer a drift-triggered retrain takes to put
 * its version in front of traffic and to promote it than a plain upload of a new bundle does.
 *
 * One process, one harness (test/integration/harness.ts, set up as test/integration/retrain.test.ts does): emulators
 * on free ports in a temp dir, the upload watcher on (a bundle upload starts its release by itself; a retrained
 * bundle's own trigger ends at once, StartedByRetrain), the real release and retrain ASL with their real handlers,
 * Train bound to the local trainer running the example Node trainer (examples/trainer/train.ts), the reference data in
 * the local bucket under retrain.referenceData, and the local inference server. Every model is the example
 * breast-cancer bundle with canary steps [0.5], bakeSeconds 0 and the small-sample judge. A client sends requests to
 * the model under test, one after the other, for as long as a run lasts (the judge decides on that traffic).
 *
 * - baseline (model breast-cancer, a new version per run): stage the example bundle under incoming/ (artifact, then
 *   the manifest; the manifest PutObject starts the clock); the watcher's release runs ValidateArtifact → … →
 *   StartRollout → DeployCandidate → BeginCanary → judge → Promote. Timed to the candidate getting traffic and to
 *   PROMOTED (the release's end).
 * - retrain (model breast-cancer-rt<i>, one per run, its parent 1.0.0 pushed and promoted before the runs): the
 *   champion gate and the release's regression gates compare with the parent / the stable version, so every run gets
 *   the same parent (the example bundle) and its own retrain state; retrain cooldownMinutes 0 and dailyCap 100 as
 *   well, so the Guard's cooldown and cap never block. `runtime.startRetrain` with the start input the drift trigger
 *   produces (local/retrain-scheduler.ts `driftStartInput`: trigger 'drift', evidence = the ModelDriftDetected detail
 *   with persistence.recent showing 3 of 3 drifted windows, as the Guard's driftPersistence needs, a fresh eventId).
 *   Timed from the start call to the retrained version getting traffic and to PROMOTED (the retrain execution's end,
 *   outcome 'promoted'), with each retrain Task's own duration from the execution history.
 *
 * The two kinds alternate (baseline i, retrain i). "Getting traffic" is the audit event TRAFFIC_SHIFTED of BeginCanary
 * (details.from 0, reason CANDIDATE_DEPLOYED): the write that routes the first canary step to the candidate;
 * ROLLOUT_STARTED comes before it and only names the candidate at weight 0 (lambdas/core/rollout.ts). Audit times are
 * ms. The inference server runs with ROUTING_CACHE_TTL_MS 200 (see SHORT_TTL_MS; pass `default` for the 5 s default).
 * One warm-up pair (handler modules load) is not counted. Any run that does not end PROMOTED stops the bench with exit
 * code 1 (after the harness, its emulators and its temp dir are gone).
 *
 *   npx tsx --openssl-legacy-provider bench/retrain-loop.bench.ts [runs=3] [ttl ms|default=200]
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { AuditEvent } from '../lambdas/core/ports';
import type { ExecutionResult } from '../local/asl-runner';
import { inferenceService } from '../local/inference-server';
import { DEFAULT_ROUTING_CACHE_TTL_MS } from '../lambdas/inference/settings';
import { INFERENCE_ENV } from '../lambdas/shared/env';
import {
  EXAMPLES_DIR,
  firstSmokeInputs,
  invokeModel,
  loadExample,
  SMALL_SAMPLE_JUDGE,
  startHarness,
  type ExampleBundle,
  type Harness,
} from '../test/integration/harness';
import { median, MODEL, uploadAndAwaitRelease } from './support';

const TRAINER = ['node', '--import', 'tsx', 'examples/trainer/train.ts'];
const REFERENCE_KEY = 'reference/breast-cancer.csv';
/** The retrain Tasks whose own durations are printed (StateExited durationMs of the retrain execution). */
const RETRAIN_STEPS = [
  'Guard',
  'PrepareTrainingData',
  'Train',
  'Package',
  'ChampionGate',
  'Release',
] as const;
const RUN_BOUND_MS = 180_000;
/** The version every retrain model starts from (pushed and promoted before the runs, not timed). */
const PARENT = '1.0.0';
/**
 * The inference server's routing cache TTL (ROUTING_CACHE_TTL_MS) unless `default` is passed: with the default 5 s a
 * candidate first gets requests up to 5 s after its routing write, and back-to-back runs all end at the same point of
 * that cycle, which would swamp the difference measured here.
 */
const SHORT_TTL_MS = 200;
/** Retrain run i (0 = the warm-up) retrains its own model, so every run's parent is the example bundle. */
const retrainModel = (i: number) => `${MODEL}-rt${i}`;

const now = () => Date.now();

interface Run {
  readonly version: string;
  /** Start (manifest upload / startRetrain call) → TRAFFIC_SHIFTED of BeginCanary, ms. */
  readonly trafficMs: number;
  /** Start → PROMOTED (the execution's end), ms. */
  readonly promotedMs: number;
  readonly requests: number;
  readonly badRequests: number;
  readonly stepMs?: Readonly<Record<string, number>>;
  /** Retrain only: the Release state entered → the candidate gets traffic, and traffic → PROMOTED, ms. */
  readonly releaseToTrafficMs?: number;
  readonly trafficToPromotedMs?: number;
}

/** Sends requests to the model, one after the other, until `until` settles. */
async function trafficUntil(h: Harness, model: string, instance: unknown, until: Promise<unknown>) {
  let done = false;
  void until.then(
    () => (done = true),
    () => (done = true),
  );
  let sent = 0;
  let bad = 0;
  while (!done) {
    try {
      const r = await invokeModel(h.inference()!.baseUrl, model, { instances: [instance] });
      if (r.status !== 200) bad += 1;
    } catch {
      bad += 1;
    }
    sent += 1;
  }
  return { sent, bad };
}

/** The epoch ms of the version's BeginCanary TRAFFIC_SHIFTED audit event (the candidate's first routed weight). */
async function trafficAt(h: Harness, model: string, version: string): Promise<number> {
  const events: AuditEvent[] = await h.audit(model, version);
  const begin = events.find(
    (e) => e.type === 'TRAFFIC_SHIFTED' && e.details.from === 0 && e.details.reason === 'CANDIDATE_DEPLOYED',
  );
  if (begin === undefined) {
    throw new Error(
      `${model} ${version}: no BeginCanary TRAFFIC_SHIFTED event: ${events.map((e) => e.type).join(', ')}`,
    );
  }
  return Date.parse(begin.at);
}

/** Fails unless the routing record has `version` as stable, no candidate and no lock. */
async function expectPromoted(h: Harness, model: string, version: string, what: string): Promise<void> {
  const record = await h.metadata.deployments.getDeployment(model);
  if (record?.stable !== version || record.candidate !== undefined || record.rollout !== undefined) {
    throw new Error(`${what} ${model} ${version}: not PROMOTED, routing record ${JSON.stringify(record)}`);
  }
  const types = (await h.audit(model, version)).map((e) => e.type);
  if (!types.includes('PROMOTED'))
    throw new Error(`${what} ${model} ${version}: no PROMOTED audit event (${types.join(', ')})`);
}

function outcomeOf(result: ExecutionResult | undefined): string {
  if (result === undefined) return 'NO RESULT';
  const out = result.output as { rollout?: { next?: string }; outcome?: string } | undefined;
  const next = out?.outcome ?? out?.rollout?.next;
  return result.status === 'SUCCEEDED'
    ? `SUCCEEDED ${next ?? ''}`.trim()
    : `${result.status} ${result.error ?? ''}: ${(result.cause ?? '').slice(0, 300)}`;
}

/** Stages a version of the example bundle (the watcher starts its release) and waits for that release's end. */
async function upload(
  h: Harness,
  bundle: ExampleBundle,
  model: string,
  version: string,
): Promise<{ uploadAt: number; result: ExecutionResult | undefined }> {
  const { uploadAt, execution } = await uploadAndAwaitRelease(h, bundle, model, version, {
    now,
    boundMs: RUN_BOUND_MS,
  });
  return { uploadAt, result: execution.result };
}

async function baselineRun(
  h: Harness,
  bundle: ExampleBundle,
  instance: unknown,
  version: string,
): Promise<Run> {
  const started = upload(h, bundle, MODEL, version);
  const traffic = await trafficUntil(h, MODEL, instance, started);
  const { uploadAt, result } = await started;
  const outcome = outcomeOf(result);
  if (outcome !== 'SUCCEEDED promoted') throw new Error(`baseline ${MODEL} ${version}: release ${outcome}`);
  await expectPromoted(h, MODEL, version, 'baseline');
  return {
    version,
    trafficMs: (await trafficAt(h, MODEL, version)) - uploadAt,
    promotedMs: Date.parse(result!.stopDate) - uploadAt,
    requests: traffic.sent,
    badRequests: traffic.bad,
  };
}

async function retrainRun(h: Harness, model: string, instance: unknown, i: number): Promise<Run> {
  const eventId = `bench-drift-${i}-${now()}`;
  // The start input local/retrain-scheduler.ts driftStartInput makes of a ModelDriftDetected event.
  const detail = {
    model,
    version: PARENT,
    eventId,
    share: 0.6,
    windowEnd: new Date().toISOString(),
    datasetDrift: 0.6,
    persistence: { m: 3, n: 3, recent: [true, true, true] },
  };
  const start = {
    model,
    trigger: 'drift',
    reason: `ModelDriftDetected on ${PARENT}: share 0.6 of features drifted in the window ending ${detail.windowEnd}`,
    evidence: detail,
    eventId,
  };
  const t0 = now();
  const run = h.mode.runtime.startRetrain(start);
  const traffic = await trafficUntil(h, model, instance, run);
  const result = await run;
  const output = result.output as { outcome?: string; version?: string } | undefined;
  if (result.status !== 'SUCCEEDED' || output?.outcome !== 'promoted' || output.version === undefined) {
    throw new Error(`retrain of ${model} from ${PARENT}: ${outcomeOf(result)} ${JSON.stringify(output)}`);
  }
  const version = output.version;
  await expectPromoted(h, model, version, 'retrain');
  const trafficAtMs = await trafficAt(h, model, version);
  const releaseEntered = result.history.find((e) => e.type === 'StateEntered' && e.state === 'Release');
  return {
    version: `${model} ${version}`,
    trafficMs: trafficAtMs - t0,
    releaseToTrafficMs: trafficAtMs - Date.parse(releaseEntered?.timestamp ?? ''),
    trafficToPromotedMs: Date.parse(result.stopDate) - trafficAtMs,
    promotedMs: Date.parse(result.stopDate) - t0,
    requests: traffic.sent,
    badRequests: traffic.bad,
    stepMs: Object.fromEntries(
      RETRAIN_STEPS.map((s) => [
        s,
        result.history.find((e) => e.type === 'StateExited' && e.state === s)?.durationMs ?? Number.NaN,
      ]),
    ),
  };
}

const f0 = (v: number) => (Number.isFinite(v) ? v.toFixed(0) : 'n/a');

async function main(): Promise<void> {
  const benchStarted = now();
  const runs = Number(process.argv[2] ?? 3);
  const ttlArg = process.argv[3] ?? String(SHORT_TTL_MS);
  const ttlMs = ttlArg === 'default' ? DEFAULT_ROUTING_CACHE_TTL_MS : Number(ttlArg);
  if (!Number.isInteger(ttlMs) || ttlMs < 1)
    throw new Error(`ttl must be "default" or ms >= 1, got ${ttlArg}`);
  if (!Number.isInteger(runs) || runs < 1)
    throw new Error(`runs must be a whole number >= 1, got ${process.argv[2]}`);
  process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
  console.log(
    `Node ${process.version}: retrain loop vs release in local mode (real ASL and handlers, emulators, watcher on), ` +
      `${MODEL} canary steps [0.5] bakeSeconds 0; retrain trigger 'drift', trainer ${TRAINER.slice(-1)[0]}; ` +
      `${runs} runs of each after 1 warm-up pair, alternating; routing cache TTL ${ttlMs} ms` +
      (ttlArg === 'default' ? ' (default)' : ' (ROUTING_CACHE_TTL_MS)'),
  );
  const canary = { enabled: true, steps: [0.5], bakeSeconds: 0, judge: SMALL_SAMPLE_JUDGE };
  const retrain = {
    enabled: true,
    referenceData: REFERENCE_KEY,
    trainer: { command: TRAINER },
    championGate: { metric: 'auc', minImprovement: 0 },
    cooldownMinutes: 0,
    dailyCap: 100,
  };
  const h = await startHarness({
    watch: true,
    config: {
      models: [
        { name: MODEL, owner: 'bench', riskTier: 'medium', canary },
        ...Array.from({ length: runs + 1 }, (_, i) => ({
          name: retrainModel(i),
          owner: 'bench',
          riskTier: 'medium' as const,
          canary,
          retrain,
        })),
      ],
    },
    services: [
      inferenceService({
        port: 0,
        ...(ttlArg === 'default'
          ? {}
          : { environment: { [INFERENCE_ENV.routingCacheTtlMs]: String(ttlMs) } }),
      }),
    ],
  });
  const startupMs = now() - benchStarted;
  const baselines: Run[] = [];
  const retrains: Run[] = [];
  let warmup: { baseline: Run; retrain: Run } | undefined;
  try {
    await h.s3.send(
      new PutObjectCommand({
        Bucket: h.bucket,
        Key: REFERENCE_KEY,
        Body: await readFile(path.join(EXAMPLES_DIR, 'breast-cancer', 'reference.csv')),
      }),
    );
    const bundle = await loadExample('breast-cancer');
    const instance = firstSmokeInputs(bundle.manifest);
    // The first version is promoted at once (nothing to compare with): the stable arm of the first canary.
    // Each retrain model's parent likewise (a model's first version: promoted at once).
    for (const model of [MODEL, ...Array.from({ length: runs + 1 }, (_, i) => retrainModel(i))]) {
      const first = await upload(h, bundle, model, PARENT);
      if (outcomeOf(first.result) !== 'SUCCEEDED promoted') {
        throw new Error(`first version of ${model}: ${outcomeOf(first.result)}`);
      }
      await expectPromoted(h, model, PARENT, 'first version');
    }
    for (let i = 0; i <= runs; i++) {
      const b = await baselineRun(h, bundle, instance, `1.${i + 1}.0`);
      const r = await retrainRun(h, retrainModel(i), instance, i);
      if (i === 0) warmup = { baseline: b, retrain: r };
      else {
        baselines.push(b);
        retrains.push(r);
      }
    }
    // The retrained bundles' own upload triggers (StartedByRetrain) end before the harness stops.
    await h.mode.watcher.idle();
  } finally {
    await h.stop();
  }

  const med = (rs: readonly Run[], f: (r: Run) => number) =>
    median(rs.map(f).filter((v) => Number.isFinite(v)));
  const bTraffic = med(baselines, (r) => r.trafficMs);
  const bPromoted = med(baselines, (r) => r.promotedMs);
  const rTraffic = med(retrains, (r) => r.trafficMs);
  const rPromoted = med(retrains, (r) => r.promotedMs);
  const line = (label: string, m: number, ratio?: number) =>
    `  ${label.padEnd(58)} median ${f0(m).padStart(6)} ms` +
    (ratio === undefined ? '' : `   / baseline: ${(m / ratio).toFixed(2)}`);
  const per = (rs: readonly Run[]) => rs.map((r) => `${f0(r.trafficMs)}/${f0(r.promotedMs)}`).join(' ');
  console.log(`local mode up in ${(startupMs / 1000).toFixed(1)} s`);
  console.log(line('baseline: upload → candidate gets traffic (BeginCanary)', bTraffic));
  console.log(line('baseline: upload → PROMOTED', bPromoted));
  console.log(line('retrain:  start → retrained candidate gets traffic', rTraffic, bTraffic));
  console.log(line('retrain:  start → PROMOTED', rPromoted, bPromoted));
  console.log(
    `  retrain steps (medians): ` +
      RETRAIN_STEPS.map((s) => `${s} ${f0(med(retrains, (r) => r.stepMs?.[s] ?? Number.NaN))} ms`).join(
        ', ',
      ) +
      ` (Release = the nested release execution: entered → traffic ` +
      `${f0(med(retrains, (r) => r.releaseToTrafficMs ?? Number.NaN))} ms, traffic → PROMOTED ` +
      `${f0(med(retrains, (r) => r.trafficToPromotedMs ?? Number.NaN))} ms)`,
  );
  console.log(
    `  baseline traffic → PROMOTED: ${f0(med(baselines, (r) => r.promotedMs - r.trafficMs))} ms (the canary phase)`,
  );
  console.log(
    `  retrain overhead before the release (start → traffic, minus baseline upload → traffic): ` +
      `${f0(rTraffic - bTraffic)} ms`,
  );
  console.log(`  per run, traffic/PROMOTED ms: baseline ${per(baselines)}; retrain ${per(retrains)}`);
  console.log(
    `  versions: baseline ${baselines.map((r) => r.version).join(' ')}; retrain ${retrains.map((r) => r.version).join(' ')}`,
  );
  console.log(
    `  warm-up (not counted): baseline ${f0(warmup!.baseline.trafficMs)}/${f0(warmup!.baseline.promotedMs)} ms, ` +
      `retrain ${f0(warmup!.retrain.trafficMs)}/${f0(warmup!.retrain.promotedMs)} ms`,
  );
  const all = [...baselines, ...retrains];
  const bad = all.reduce((a, r) => a + r.badRequests, 0);
  console.log(
    `  client: ${all.reduce((a, r) => a + r.requests, 0)} requests in counted runs, ${bad} non-200; ` +
      `all ${all.length} counted runs PROMOTED`,
  );
  console.log(`ratio retrain/baseline (to PROMOTED, medians): ${(rPromoted / bPromoted).toFixed(2)}`);
  console.log(`total ${((now() - benchStarted) / 1000).toFixed(1)} s`);
  if (bad > 0) process.exitCode = 1;
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  // SDK clients the handlers built keep sockets open; everything of ours is stopped, so do not wait for them.
  .finally(() => process.exit(process.exitCode ?? 0));
