/**
 * Upload → canary serving (issue 9): how long after a bundle upload the canary answers, in local mode, with
 * `canary: { enabled: true, bakeSeconds: 0, steps: [0.5] }`. Target: ≤ 3 s.
 *
 * Each phase runs in its own child process (the handlers and the inference app read their environment once per
 * process): local mode on free ports in a temp dir with the upload watcher on (the trigger path of `npm start`: an
 * S3 PutObject of the manifest into incoming/ starts the release), the real ASL and handlers, and the local inference
 * server built with the phase's ROUTING_CACHE_TTL_MS (the default, then a short one). A steady client sends one
 * request every PACE_MS over one keep-alive connection for the whole phase. Two models:
 *
 * - `breast-cancer`, canary on: each repetition uploads a fresh version; T_route is upload → BeginCanary's Task done
 *   (StartRollout names the version as candidate at weight 0, DeployCandidate warms it in the local inference server —
 *   load and smoke samples — and BeginCanary's one conditional write routes the first step), T_serve is upload →
 *   the first response whose `x-modelops-version` header names it. The judge promotes it on the client's traffic, so
 *   the next repetition finds a stable version and no lock.
 * - `breast-cancer-baseline`, canary off (same artifact): the baseline, measured in the same run just before each
 *   repetition, is upload → RegisterVersion's Task done (the REGISTERED write), the pipeline without a rollout.
 *
 * "Upload" is the start of the manifest PutObject (the artifact is uploaded just before it). The times of Task ends
 * come from the execution history (state machine timestamps, ms). One warm-up repetition per phase is not counted.
 *
 * T_serve − T_route is where the routing write lands in the server's cache cycle (0 to TTL) plus one routing read;
 * the candidate's model load is in T_route now (DeployCandidate), not in the first routed request. A repetition ends a fixed time after a cache refresh (the candidate first answers
 * just after one, the judge promotes a second or so later), so back-to-back uploads would all land at the same point
 * of the cycle; counted repetition k (1..N) therefore waits (k − 0.5) / N × TTL before its upload, which spreads the
 * uploads evenly over the cycle and makes the median that of a random upload time.
 *
 * With bakeSeconds 0 AnalyzeCanary looks again at once after every inconclusive look, so until the server's routing
 * cache picks the candidate up the judge spins (each look is audited); maxExtensionsPerStep is therefore raised to
 * its maximum, else the rollout would end EXTENSIONS_EXHAUSTED before the candidate served one request. The judge's
 * sample sizes are small (as in test/integration/rollout.test.ts) so that promotion follows within a second or two.
 *
 *   npx tsx --openssl-legacy-provider bench/upload-to-canary.bench.ts [repetitions=10]
 */
import { Agent } from 'node:http';
import type { ExecutionResult } from '../local/asl-runner';
import { inferenceService } from '../local/inference-server';
import type { TrackedExecution } from '../local/watcher';
import { DEFAULT_ROUTING_CACHE_TTL_MS } from '../lambdas/inference/settings';
import { VERSION_HEADER } from '../lambdas/inference/http';
import { INFERENCE_ENV } from '../lambdas/shared/env';
import { invokeModel, startHarness, type Harness } from '../test/integration/harness';
import {
  batchOf,
  loadExampleModel,
  median,
  MODEL,
  percentile,
  spawnUntil,
  uploadAndAwaitRelease,
  type ExampleModel,
} from './support';

const BASELINE_MODEL = 'breast-cancer-baseline';
const SHORT_TTL_MS = 200;
/** The steady client's request interval (one connection, sequential): the resolution of T_serve. */
const PACE_MS = 5;
const TARGET_MS = 3_000;
const STEPS = [0.5];
/** The Tasks between the upload and the routing write, whose own durations are printed. */
const PIPELINE_TASKS = [
  'ValidateArtifact',
  'RegisterVersion',
  'CheckApproval',
  'StartRollout',
  'DeployCandidate',
  'BeginCanary',
] as const;
/** A repetition whose candidate never answers (rolled back first) gives up this long after its execution ended. */
const SERVE_GRACE_MS = 2_000;

/** Epoch ms with sub-ms resolution, comparable with the execution history's Date.now() timestamps. */
const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One repetition, all times in ms from the start of the manifest PutObject. */
interface Repetition {
  readonly version: string;
  /** Baseline: upload → RegisterVersion done, canary off. */
  readonly baselineMs: number;
  /** Upload → RegisterVersion done, in the canary release itself (cross-check of the baseline). */
  readonly registeredMs: number;
  readonly routeMs: number;
  readonly serveMs: number;
  /** Upload → the execution's end (promoted). */
  readonly endMs: number;
  /** AnalyzeCanary looks that ended before the candidate's first response, and in all. */
  readonly looksBeforeServe: number;
  readonly looks: number;
  /** How the release ended (a counted repetition always `SUCCEEDED promoted`: anything else stops the bench). */
  readonly outcome: string;
  /** Upload → the execution's first event (the watcher's trigger), and each Task's own duration, in the canary run. */
  readonly triggerMs: number;
  readonly taskMs: Readonly<Record<string, number>>;
}

interface PhaseResult {
  readonly ttlMs: number;
  readonly ttlSource: 'default' | 'ROUTING_CACHE_TTL_MS';
  readonly startupMs: number;
  readonly warmup: Repetition;
  readonly repetitions: readonly Repetition[];
  readonly requests: number;
  readonly failedRequests: number;
  /** Non-200 answers by status (0: no answer, a socket error). */
  readonly failedStatuses: Readonly<Record<string, number>>;
  readonly phaseMs: number;
}

/**
 * The steady client: one request every PACE_MS over one keep-alive connection, each waiting for the previous one.
 * `waitFor(version)` resolves with the receive time of the first response that version answered.
 */
function steadyClient(baseUrl: string, body: Record<string, unknown>) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const waiters = new Map<string, (at: number) => void>();
  let running = true;
  let requests = 0;
  let failed = 0;
  const statuses = new Map<number, number>();
  const loop = (async () => {
    while (running) {
      const sent = now();
      try {
        const r = await invokeModel(baseUrl, MODEL, body, agent);
        const at = now();
        requests++;
        if (r.status !== 200) {
          failed++;
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        }
        const v = r.headers[VERSION_HEADER];
        const waiter = typeof v === 'string' ? waiters.get(v) : undefined;
        if (waiter !== undefined) {
          waiters.delete(v as string);
          waiter(at);
        }
      } catch {
        requests++;
        failed++;
        statuses.set(0, (statuses.get(0) ?? 0) + 1);
      }
      await sleep(Math.max(0, PACE_MS - (now() - sent)));
    }
  })();
  return {
    waitFor: (version: string) => new Promise<number>((resolve) => waiters.set(version, resolve)),
    cancel: (version: string) => waiters.delete(version),
    counts: () => ({ requests, failed, statuses: Object.fromEntries(statuses) }),
    reset() {
      requests = 0;
      failed = 0;
      statuses.clear();
    },
    async stop() {
      running = false;
      await loop;
      agent.destroy();
    },
  };
}

const exitedAt = (result: ExecutionResult, state: string): number => {
  const event = result.history.find((e) => e.type === 'StateExited' && e.state === state);
  return event === undefined ? Number.NaN : Date.parse(event.timestamp);
};

function outcomeOf(result: ExecutionResult | undefined): string {
  if (result === undefined) return 'NO RESULT';
  const next = (result.output as { rollout?: { next?: string } } | undefined)?.rollout?.next;
  return result.status === 'SUCCEEDED'
    ? `SUCCEEDED ${next ?? ''}`.trim()
    : `${result.status} ${result.error ?? ''}: ${(result.cause ?? '').slice(0, 300)}`;
}

/** Child: one phase (one routing cache TTL); the caller prints `RESULT <json> END` and exits. */
async function phase(ttl: 'default' | number, repetitions: number): Promise<PhaseResult> {
  const phaseStarted = now();
  process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
  if (ttl === 'default') delete process.env[INFERENCE_ENV.routingCacheTtlMs];
  const h: Harness = await startHarness({
    watch: true,
    config: {
      models: [
        {
          name: MODEL,
          owner: 'bench',
          canary: {
            enabled: true,
            steps: STEPS,
            bakeSeconds: 0,
            judge: {
              minDetectableEffect: 10,
              baselineRateFloor: 0.05,
              maxExtensionsPerStep: 1_000,
              minRequestsForP99: 100,
              maxP99Ratio: 1_000,
            },
          },
        },
        { name: BASELINE_MODEL, owner: 'bench' },
      ],
    },
    services: [
      inferenceService({
        port: 0,
        ...(ttl === 'default' ? {} : { environment: { [INFERENCE_ENV.routingCacheTtlMs]: String(ttl) } }),
      }),
    ],
  });
  const startupMs = now() - phaseStarted;
  const model = await loadExampleModel();
  const { inferenceSettingsFromEnv } = await import('../lambdas/inference/from-env');
  const ttlMs = inferenceSettingsFromEnv().routingCacheTtlMs ?? DEFAULT_ROUTING_CACHE_TTL_MS;
  // The model's first version is promoted at once (nothing to compare with): the stable arm of every canary.
  const first = await release(h, model, MODEL, '1.0.0');
  if (outcomeOf(first.execution.result) !== 'SUCCEEDED promoted') {
    await h.stop();
    throw new Error(`first version: ${outcomeOf(first.execution.result)}`);
  }
  const client = steadyClient(h.inference()!.baseUrl, { instances: batchOf(model, 1, 3) });
  try {
    // Counted from the first answer of the stable version on (before it, the routing cache held no record).
    await client.waitFor('1.0.0');
    client.reset();
    const runs: Repetition[] = [];
    for (let i = 0; i <= repetitions; i++) {
      // Spread the uploads evenly over the server's cache cycle (see the file comment); the warm-up waits none.
      const offsetMs = i === 0 ? 0 : ((i - 0.5) / repetitions) * ttlMs;
      runs.push(await repetition(h, model, client, i, ttlMs, offsetMs));
    }
    const { requests, failed, statuses } = client.counts();
    return {
      ttlMs,
      ttlSource: ttl === 'default' ? 'default' : 'ROUTING_CACHE_TTL_MS',
      startupMs,
      warmup: runs[0]!,
      repetitions: runs.slice(1),
      requests,
      failedRequests: failed,
      failedStatuses: statuses,
      phaseMs: now() - phaseStarted,
    };
  } finally {
    await client.stop();
    await h.stop();
  }
}

/** Uploads the artifact, then (timed) the manifest that triggers the release; resolves when the release ended. */
function release(
  h: Harness,
  model: ExampleModel,
  name: string,
  version: string,
): Promise<{ uploadAt: number; execution: TrackedExecution }> {
  return uploadAndAwaitRelease(h, model, name, version, { now, boundMs: 120_000 });
}

async function repetition(
  h: Harness,
  model: ExampleModel,
  client: ReturnType<typeof steadyClient>,
  i: number,
  ttlMs: number,
  offsetMs: number,
): Promise<Repetition> {
  const base = await release(h, model, BASELINE_MODEL, `1.0.${i}`);
  if (outcomeOf(base.execution.result) !== 'SUCCEEDED skipped') {
    throw new Error(`baseline ${BASELINE_MODEL} 1.0.${i}: ${outcomeOf(base.execution.result)}`);
  }
  const baselineMs = exitedAt(base.execution.result!, 'RegisterVersion') - base.uploadAt;
  await sleep(offsetMs);

  const version = `2.0.${i}`;
  let servedAt = Number.NaN;
  const served = client.waitFor(version).then((at) => (servedAt = at));
  const run = release(h, model, MODEL, version);
  // Either the candidate answers, or the release ends without it answering (then wait a little longer).
  await Promise.race([served, run.then(() => sleep(ttlMs + SERVE_GRACE_MS))]);
  client.cancel(version);
  const { uploadAt, execution } = await run;
  const result = execution.result!;
  const looks = result.history.filter((e) => e.type === 'StateExited' && e.state === 'AnalyzeCanary');
  const record = await h.metadata.deployments.getDeployment(MODEL);
  const outcome = outcomeOf(result);
  // Anything but "served, then promoted" means the pipeline did not do what this bench measures: stop, saying why.
  if (outcome !== 'SUCCEEDED promoted' || !Number.isFinite(servedAt)) {
    throw new Error(
      `${MODEL} ${version}: release ${outcome}; the candidate ${Number.isFinite(servedAt) ? 'answered' : 'never answered'}`,
    );
  }
  // The next repetition needs a stable version and no lock.
  if (record?.rollout !== undefined || record?.candidate !== undefined || record?.stable !== version) {
    throw new Error(`${MODEL} ${version} promoted, but the routing record is ${JSON.stringify(record)}`);
  }
  return {
    version,
    baselineMs,
    registeredMs: exitedAt(result, 'RegisterVersion') - uploadAt,
    routeMs: exitedAt(result, 'BeginCanary') - uploadAt,
    serveMs: servedAt - uploadAt,
    endMs: Date.parse(result.stopDate) - uploadAt,
    looksBeforeServe: looks.filter((e) => Date.parse(e.timestamp) < servedAt).length,
    looks: looks.length,
    outcome,
    triggerMs: Date.parse(result.history[0]?.timestamp ?? '') - uploadAt,
    taskMs: Object.fromEntries(
      PIPELINE_TASKS.map((t) => [
        t,
        result.history.find((e) => e.type === 'StateExited' && e.state === t)?.durationMs ?? Number.NaN,
      ]),
    ),
  };
}

// ---- parent: runs the phases and prints the figures ----

interface Summary {
  readonly median: number;
  readonly p90: number;
}

function summary(values: readonly number[]): Summary {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  return { median: median(sorted), p90: percentile(sorted, 90) };
}

const f0 = (ms: number) => (Number.isFinite(ms) ? ms.toFixed(0) : 'n/a');

function report(p: PhaseResult): string[] {
  const reps = p.repetitions;
  const baseline = summary(reps.map((r) => r.baselineMs));
  const route = summary(reps.map((r) => r.routeMs));
  const serve = summary(reps.map((r) => r.serveMs));
  const registered = summary(reps.map((r) => r.registeredMs));
  const end = summary(reps.map((r) => r.endMs));
  const looks = summary(reps.map((r) => r.looksBeforeServe));
  const outcomes = new Map<string, number>();
  for (const r of reps) outcomes.set(r.outcome, (outcomes.get(r.outcome) ?? 0) + 1);
  const line = (label: string, s: Summary, ratio = true) =>
    `  ${label.padEnd(50)} median ${f0(s.median).padStart(5)} ms  p90 ${f0(s.p90).padStart(5)} ms` +
    (ratio
      ? `   / baseline: median ${(s.median / baseline.median).toFixed(2)}, p90 ${(s.p90 / baseline.p90).toFixed(2)}`
      : '');
  const met = (s: Summary) =>
    `median ${s.median <= TARGET_MS ? 'met' : 'NOT met'}, p90 ${s.p90 <= TARGET_MS ? 'met' : 'NOT met'}`;
  return [
    `== routing cache TTL ${p.ttlMs} ms (${p.ttlSource === 'default' ? `default, DEFAULT_ROUTING_CACHE_TTL_MS` : `ROUTING_CACHE_TTL_MS=${p.ttlMs}`}); ` +
      `local mode up in ${(p.startupMs / 1000).toFixed(1)} s, phase ${(p.phaseMs / 1000).toFixed(1)} s`,
    line('baseline: upload → REGISTERED (canary off)', baseline, false),
    line('upload → REGISTERED (in the canary release)', registered),
    line('T_route: upload → BeginCanary write (first step routed)', route),
    line('T_serve: upload → first candidate response', serve),
    line('upload → promoted (end of the release)', end),
    `  T_serve − T_route: median ${f0(summary(reps.map((r) => r.serveMs - r.routeMs)).median)} ms (routing cache TTL ${p.ttlMs} ms); ` +
      `judge looks before the candidate answered: median ${f0(looks.median)}, p90 ${f0(looks.p90)} ` +
      `(in all: median ${f0(summary(reps.map((r) => r.looks)).median)})`,
    `  T_route by part (medians): trigger ${f0(summary(reps.map((r) => r.triggerMs)).median)} ms, ` +
      PIPELINE_TASKS.map((t) => [t, summary(reps.map((r) => r.taskMs[t] ?? Number.NaN)).median] as const)
        // A Task not on this definition's path (CheckApproval arrived with the approval gate) is left out.
        .filter(([, m]) => Number.isFinite(m))
        .map(([t, m]) => `${t} ${f0(m)} ms`)
        .join(', ') +
      ' (the rest: state transitions, the Choice and Pass states, the ledger writes between)',
    `  per repetition, T_route / T_serve ms: ${reps.map((r) => `${f0(r.routeMs)}/${f0(r.serveMs)}`).join(' ')}`,
    `  warm-up (not counted): baseline ${f0(p.warmup.baselineMs)} ms, T_route ${f0(p.warmup.routeMs)} ms, T_serve ${f0(p.warmup.serveMs)} ms`,
    `  outcomes: ${[...outcomes].map(([o, n]) => `${n} × ${o}`).join(', ')}; ` +
      `client ${p.requests} requests, ${p.failedRequests} non-200 ${JSON.stringify(p.failedStatuses)}`,
    `  target T_serve ≤ ${TARGET_MS / 1000} s: ${met(serve)}`,
  ];
}

async function main(): Promise<void> {
  const started = now();
  const repetitions = Number(process.argv[2] ?? 10);
  if (!Number.isInteger(repetitions) || repetitions < 1) {
    throw new Error(`repetitions must be a whole number >= 1, got ${process.argv[2]}`);
  }
  console.log(
    `Node ${process.version}: upload → canary serving in local mode (watcher trigger, real ASL and handlers, ` +
      `emulators), ${MODEL} canary steps [${STEPS.join(', ')}] bakeSeconds 0; ${repetitions} repetitions per TTL ` +
      `after 1 warm-up; steady client: 1 keep-alive connection, 1 request / ${PACE_MS} ms`,
  );
  const results: PhaseResult[] = [];
  for (const ttl of ['default', String(SHORT_TTL_MS)]) {
    const { child, line } = await spawnUntil(
      ['--openssl-legacy-provider', '--import', 'tsx', __filename, '--phase', ttl, String(repetitions)],
      {
        ...process.env,
        POWERTOOLS_LOG_LEVEL: 'SILENT',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
      // The trailer: a chunk may end mid-line, and only a whole line may be parsed.
      /^RESULT .* END$/,
    );
    await new Promise((resolve) => (child.exitCode === null ? child.once('exit', resolve) : resolve(null)));
    const result = JSON.parse(line.slice('RESULT '.length, -' END'.length)) as PhaseResult;
    results.push(result);
    for (const l of report(result)) console.log(l);
  }
  const [slow, fast] = results as [PhaseResult, PhaseResult];
  const serveOf = (p: PhaseResult) => summary(p.repetitions.map((r) => r.serveMs)).median;
  console.log(
    `T_serve median, TTL ${slow.ttlMs} ms vs ${fast.ttlMs} ms: ${f0(serveOf(slow))} vs ${f0(serveOf(fast))} ms ` +
      `(the TTL accounts for ${f0(serveOf(slow) - serveOf(fast))} ms)`,
  );
  console.log(`total ${((now() - started) / 1000).toFixed(1)} s`);
  if (results.some((p) => p.failedRequests > 0)) process.exitCode = 1;
}

const phaseAt = process.argv.indexOf('--phase');
if (phaseAt >= 0) {
  const ttl = process.argv[phaseAt + 1] === 'default' ? 'default' : Number(process.argv[phaseAt + 1]);
  // Orphaned (the bench was killed): exit rather than linger; the temp dir is left behind then.
  const parent = process.ppid;
  setInterval(() => process.ppid !== parent && process.exit(1), 1_000).unref();
  phase(ttl, Number(process.argv[phaseAt + 2] ?? 10))
    .then((result) => {
      console.log(`RESULT ${JSON.stringify(result)} END`);
      process.exit(0);
    })
    .catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
} else {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
