/**
 * Rollback under load (issue 9): how a routing change behaves while the inference server is busy.
 *
 * A child process runs local mode (emulators, release state machine, the local inference server) on a temp data dir
 * with breast-cancer registered twice (the same artifact as 1.0.0 and 2.0.0): 1.0.0 is promoted to stable, then
 * 2.0.0 becomes the canary candidate at weight 0.5. This process drives one continuous autocannon run (10 keep-alive
 * connections, one-instance body) against `POST /models/breast-cancer/invoke` and records, per response, the time,
 * status, `x-modelops-version` header and latency. Meanwhile it makes, against the emulated Deployments table and
 * with the same adapters local mode uses, exactly the writes the rollout state machine will make:
 *
 * 1. baseline A: a window of TTL + 3 s with no write (canary at 0.5);
 * 2. rollback: an equal window; 1 s in, `changeRouting` with the candidate cleared;
 * 3. (the canary is set again at 0.5 and awaited, not measured);
 * 4. promote: an equal window; 1 s in, `promoteStable` of the candidate;
 * 5. baseline B: an equal window with no write (2.0.0 stable).
 *
 * Figures: non-2xx (and socket errors/timeouts) over the whole run (target 0); the time from the completion of the
 * conditional routing write until the last response of the version it retires (target ≤ routing TTL + 1 s); and,
 * against the baseline (windows A and B together, which bracket the others: on a shared 2-core machine throughput
 * drifts over a run), the throughput, p99 and slowest half second of each window with a write. Exit code 1 when a
 * target is missed. The server runs in its own process so that autocannon does not share its event loop.
 *
 * Where a write lands in the server's TTL cycle decides its switch-over (0 to TTL + one routing read). The schedule
 * is fixed, so the figures repeat from run to run: the rollback lands just after a refresh (≈ the worst case, one
 * TTL), the promote in mid-cycle.
 * Run: npx tsx --openssl-legacy-provider bench/rollback-under-load.bench.ts
 */
import { createRequire } from 'node:module';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import type { RoutingChangeStores } from '../lambdas/core/promotion';
import type { DeploymentStore } from '../lambdas/core/ports';
import { AUDIT_LOG_TABLE, DEPLOYMENTS_TABLE, MODEL_VERSIONS_TABLE } from '../lambdas/core/tables';
import { VERSION_HEADER } from '../lambdas/inference/http';
import { DEFAULT_ROUTING_CACHE_TTL_MS } from '../lambdas/inference/settings';
import { inferenceService, type RunningInferenceService } from '../local/inference-server';
import { batchOf, loadExampleModel, MODEL, percentile, spawnUntil, startServingLocalMode } from './support';

const V2 = '2.0.0';
const CONNECTIONS = 10;
/** Load before the baseline window once both versions answer (connections, JIT, both sessions warm). */
const WARMUP_MS = 1_000;
/** Offset of the write inside its window: the window also shows the traffic just before the write. */
const WRITE_AT_MS = 1_000;
/** A window lasts WRITE_AT_MS + TTL + this: room past the target, so a late switch-over is seen, not cut off. */
const WINDOW_SLACK_MS = 2_000;
/** The target: the retired version serves nothing later than this after the write, beyond the TTL. */
const SWITCH_MARGIN_MS = 1_000;

/** What the child prints after `READY `: where its server and emulators listen. */
interface ServerInfo {
  readonly invokeUrl: string;
  readonly region: string;
  readonly s3Endpoint: string;
  readonly dynamodbEndpoint: string;
  readonly tables: Readonly<Record<string, string>>;
  readonly v1: string;
  readonly v2: string;
  /** The routing cache TTL the inference app was built with (ROUTING_CACHE_TTL_MS or the default). */
  readonly routingTtlMs: number;
}

/** One response as autocannon saw it; `t` in this process's `performance.now()` ms. */
interface Sample {
  readonly t: number;
  readonly status: number;
  readonly version: string | undefined;
  latencyMs: number;
}

interface AutocannonResult {
  readonly requests: { readonly total: number };
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
}
type OnResponse = (status: number, body: string, context: unknown, headers: Record<string, unknown>) => void;
interface AutocannonInstance extends PromiseLike<AutocannonResult> {
  on(
    event: 'response',
    listener: (client: unknown, status: number, bytes: number, responseTimeMs: number) => void,
  ): void;
  stop(): void;
}
type Autocannon = (options: {
  url: string;
  connections: number;
  duration: number;
  method: 'POST';
  headers: Record<string, string>;
  body: string;
  requests: {
    method: 'POST';
    headers: Record<string, string>;
    body: string;
    onResponse: OnResponse;
  }[];
}) => AutocannonInstance;

/** Child: local mode with both versions registered, 1.0.0 stable; prints READY and serves until SIGTERM. */
async function serve(): Promise<void> {
  const serving = await startServingLocalMode({ services: [inferenceService({ port: 0 })] });
  const stop = () => void serving.stop().finally(() => process.exit(0));
  process.on('SIGTERM', stop);
  // Orphaned (the bench was killed): stop local mode and remove the temp dir rather than linger.
  const parent = process.ppid;
  setInterval(() => process.ppid !== parent && stop(), 1_000).unref();
  const { emulators, runtime, services } = serving.mode;
  // 2.0.0: the same artifact under another version, through the real release state machine.
  const model = await loadExampleModel();
  const { emulatorClients } = await import('../local/emulators');
  const { s3 } = emulatorClients(emulators);
  const dir = `incoming/${MODEL}/${V2}/`;
  await s3.send(
    new PutObjectCommand({
      Bucket: emulators.bucket,
      Key: `${dir}${model.manifest.artifact.file}`,
      Body: model.artifact,
    }),
  );
  await s3.send(
    new PutObjectCommand({
      Bucket: emulators.bucket,
      Key: `${dir}manifest.json`,
      Body: JSON.stringify({ ...model.manifest, version: V2 }),
    }),
  );
  s3.destroy();
  const release = await runtime.startRelease({ bucket: emulators.bucket, key: `${dir}manifest.json` });
  if (release.status !== 'SUCCEEDED') throw new Error(`release of ${MODEL} ${V2} ${release.status}`);
  const { inferenceSettingsFromEnv } = await import('../lambdas/inference/from-env');
  const running = services[0]!.running as RunningInferenceService;
  const info: ServerInfo = {
    invokeUrl: `${running.baseUrl}/models/${MODEL}/invoke`,
    region: emulators.region,
    s3Endpoint: emulators.s3Endpoint,
    dynamodbEndpoint: emulators.dynamodbEndpoint,
    tables: emulators.tables,
    v1: serving.version,
    v2: V2,
    routingTtlMs: inferenceSettingsFromEnv().routingCacheTtlMs ?? DEFAULT_ROUTING_CACHE_TTL_MS,
  };
  console.log(`READY ${JSON.stringify(info)}`);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The routing stores over the child's emulated tables, with the time each conditional routing write completed. */
async function routingStores(info: ServerInfo): Promise<{
  readonly stores: RoutingChangeStores;
  readonly lastWrite: () => { startedAt: number; completedAt: number };
  close(): void;
}> {
  // Imported here, not at the top: the adapters' modules build default SDK clients when they load, and the child
  // (which runs this file too) must build them only after local mode has pointed process.env at its emulators.
  const { emulatorClients } = await import('../local/emulators');
  const { createDocumentClient } = await import('../lambdas/adapters/clients');
  const { DynamoVersionStore } = await import('../lambdas/adapters/dynamo-version-store');
  const { DynamoDeploymentStore } = await import('../lambdas/adapters/dynamo-deployment-store');
  const { DynamoAuditLog } = await import('../lambdas/adapters/dynamo-audit-log');
  const { dynamodb } = emulatorClients(info);
  const doc = createDocumentClient(dynamodb);
  const deployments = new DynamoDeploymentStore(info.tables[DEPLOYMENTS_TABLE.envVar]!, doc);
  let write = { startedAt: Number.NaN, completedAt: Number.NaN };
  // The exact store, timed around its one conditional write: that write is when the routing change takes effect
  // (the audit event appended after it is not on the serving path).
  const timed: DeploymentStore = {
    getDeployment: (model) => deployments.getDeployment(model),
    async putDeployment(record, options) {
      const startedAt = performance.now();
      await deployments.putDeployment(record, options);
      write = { startedAt, completedAt: performance.now() };
    },
  };
  return {
    stores: {
      versions: new DynamoVersionStore(info.tables[MODEL_VERSIONS_TABLE.envVar]!, doc),
      deployments: timed,
      audit: new DynamoAuditLog(info.tables[AUDIT_LOG_TABLE.envVar]!, doc),
    },
    lastWrite: () => write,
    close: () => dynamodb.destroy(),
  };
}

interface WindowStats {
  readonly label: string;
  readonly ms: number;
  readonly responses: number;
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  /** Throughput of the slowest BUCKET_MS bucket of the window (a stall at the switch-over would show here). */
  readonly slowestRps: number;
  readonly failed: number;
  readonly share: ReadonlyMap<string, number>;
}

const BUCKET_MS = 500;

function windowStats(
  samples: readonly Sample[],
  label: string,
  ranges: readonly (readonly [number, number])[],
): WindowStats {
  const inside = samples.filter((s) => ranges.some(([from, to]) => s.t >= from && s.t < to));
  const ms = ranges.reduce((sum, [from, to]) => sum + (to - from), 0);
  const buckets = ranges.flatMap(([from, to]) =>
    Array.from({ length: Math.floor((to - from) / BUCKET_MS) }, (_, i) => from + i * BUCKET_MS),
  );
  const perBucket = buckets.map(
    (b) => inside.filter((s) => s.t >= b && s.t < b + BUCKET_MS).length / (BUCKET_MS / 1000),
  );
  const latencies = inside.map((s) => s.latencyMs).sort((a, b) => a - b);
  const share = new Map<string, number>();
  for (const s of inside) share.set(s.version ?? '(none)', (share.get(s.version ?? '(none)') ?? 0) + 1);
  return {
    label,
    ms,
    responses: inside.length,
    rps: inside.length / (ms / 1000),
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    slowestRps: Math.min(...perBucket),
    failed: inside.filter((s) => s.status < 200 || s.status > 299).length,
    share,
  };
}

function describe(w: WindowStats): string {
  const shares = [...w.share]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([v, n]) => `${v} ${((100 * n) / Math.max(1, w.responses)).toFixed(0)} %`)
    .join(', ');
  return (
    `${w.label.padEnd(22)} ${w.rps.toFixed(0).padStart(6)} req/s (slowest ${BUCKET_MS / 1000} s ` +
    `${w.slowestRps.toFixed(0)}) p50 ${w.p50.toFixed(2)} ms p99 ${w.p99.toFixed(2)} ms  ${w.responses} ` +
    `responses, ${w.failed} non-2xx  (${shares})`
  );
}

/** Resolves once `test` holds, polling every 20 ms; rejects with `what` after `timeoutMs`. */
async function until(test: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!test()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

async function main(): Promise<void> {
  const started = performance.now();
  const autocannon = createRequire(__filename)('autocannon') as Autocannon;
  const model = await loadExampleModel();
  const body = JSON.stringify({ instances: batchOf(model, 1, 3) });
  const { child, line } = await spawnUntil(
    ['--openssl-legacy-provider', '--import', 'tsx', __filename, '--serve'],
    {
      ...process.env,
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
    /^READY /,
  );
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const info = JSON.parse(line.slice('READY '.length)) as ServerInfo;
  const { changeRouting, promoteStable } = await import('../lambdas/core/promotion');
  const routing = await routingStores(info);
  const { stores } = routing;
  const { v1, v2, routingTtlMs: ttl } = info;
  const windowMs = WRITE_AT_MS + ttl + WINDOW_SLACK_MS;
  const targetMs = ttl + SWITCH_MARGIN_MS;
  const problems: string[] = [];
  try {
    console.log(
      `local mode ready in ${((performance.now() - started) / 1000).toFixed(1)} s: ${MODEL} ${v1} stable, ${v2} ` +
        `registered (same artifact); routing cache TTL ${ttl} ms (DEFAULT_ROUTING_CACHE_TTL_MS = ` +
        `${DEFAULT_ROUTING_CACHE_TTL_MS} in lambdas/inference/settings.ts` +
        `${ttl === DEFAULT_ROUTING_CACHE_TTL_MS ? '' : '; overridden by ROUTING_CACHE_TTL_MS'})`,
    );
    const canary = { model: MODEL, candidate: v2, weight: 0.5, mode: 'canary' as const, actor: 'bench' };
    await changeRouting(stores, canary);

    const samples: Sample[] = [];
    const onResponse: OnResponse = (status, _body, _context, headers) => {
      const v = headers[VERSION_HEADER] ?? headers[VERSION_HEADER.toUpperCase()];
      samples.push({
        t: performance.now(),
        status,
        version: typeof v === 'string' ? v : undefined,
        latencyMs: 0,
      });
    };
    const headers = { 'content-type': 'application/json' };
    const load = autocannon({
      url: info.invokeUrl,
      connections: CONNECTIONS,
      duration: 120, // a cap only: the run is stopped when the last window ends
      method: 'POST',
      headers,
      body,
      requests: [{ method: 'POST', headers, body, onResponse }],
    });
    // autocannon calls a request's onResponse and then, synchronously in the same turn, emits 'response' with the
    // latency, so the latency belongs to the sample just pushed.
    load.on('response', (_client, _status, _bytes, responseTimeMs) => {
      const last = samples[samples.length - 1];
      if (last !== undefined) last.latencyMs = responseTimeMs;
    });
    const seenSince = (version: string, from: number) => () =>
      samples.some((s) => s.t >= from && s.version === version);
    try {
      const t0 = performance.now();
      await until(seenSince(v1, t0), ttl + 5_000, `a response from ${v1}`);
      await until(seenSince(v2, t0), ttl + 5_000, `the canary ${v2} to answer`);
      await sleep(WARMUP_MS);

      const baselineFrom = performance.now();
      await sleep(windowMs);

      const rollbackFrom = performance.now();
      await sleep(WRITE_AT_MS);
      await changeRouting(stores, {
        model: MODEL,
        candidate: undefined,
        weight: 0,
        mode: 'canary',
        actor: 'bench',
      });
      const rollbackWrite = routing.lastWrite();
      await sleep(rollbackFrom + windowMs - performance.now());

      const canaryFrom = performance.now();
      await changeRouting(stores, canary);
      await until(seenSince(v2, canaryFrom), ttl + 5_000, `the canary ${v2} to answer again`);
      await sleep(WARMUP_MS);

      const promoteFrom = performance.now();
      await sleep(WRITE_AT_MS);
      await promoteStable(stores, { model: MODEL, version: v2, actor: 'bench' });
      const promoteWrite = routing.lastWrite();
      await sleep(promoteFrom + windowMs - performance.now());
      const promoteTo = performance.now();

      const baselineBFrom = performance.now();
      await sleep(windowMs);
      const end = performance.now();

      load.stop();
      const result = await load;

      const a: [number, number] = [baselineFrom, baselineFrom + windowMs];
      const b: [number, number] = [baselineBFrom, end];
      const windows = [
        windowStats(samples, 'baseline A (no write)', [a]),
        windowStats(samples, 'rollback window', [[rollbackFrom, rollbackFrom + windowMs]]),
        windowStats(samples, 'promote window', [[promoteFrom, promoteTo]]),
        windowStats(samples, 'baseline B (no write)', [b]),
        windowStats(samples, 'baseline (A + B)', [a, b]),
      ];
      const [rollback, promote, baseline] = [windows[1]!, windows[2]!, windows[4]!];
      const failed = samples.filter((s) => s.status < 200 || s.status > 299).length;
      const unversioned = samples.filter((s) => s.status >= 200 && s.status <= 299 && !s.version).length;
      // The retired version's last response after each write (the rollback's only until the canary is set again).
      const lastOf = (version: string, from: number, to: number) =>
        samples.reduce(
          (last, s) => (s.t >= from && s.t < to && s.version === version ? s.t : last),
          Number.NaN,
        );
      const switchOver = (label: string, retired: string, write: typeof rollbackWrite, to: number) => {
        const last = lastOf(retired, write.startedAt, to);
        const ms = Number.isNaN(last) ? 0 : Math.max(0, last - write.completedAt);
        // Seen up to the end of the observation: the switch-over is not known, only that it took too long.
        const cutOff = !Number.isNaN(last) && to - last < 250;
        const within = !cutOff && ms <= targetMs;
        const text =
          `${label}: last ${retired} response ${cutOff ? '≥ ' : ''}${ms.toFixed(0)} ms after the write completed ` +
          `(write took ${(write.completedAt - write.startedAt).toFixed(1)} ms) = ${(ms / ttl).toFixed(2)} × TTL; ` +
          `target ≤ TTL + ${SWITCH_MARGIN_MS / 1000} s = ${targetMs} ms ${within ? 'met' : 'NOT met'}`;
        if (!within) problems.push(text);
        return text;
      };
      const rollbackLine = switchOver('rollback', v2, rollbackWrite, canaryFrom);
      const promoteLine = switchOver('promote', v1, promoteWrite, end);
      const errors = result.errors + result.timeouts;

      console.log(
        `autocannon, ${CONNECTIONS} connections, batch 1, one continuous run of ` +
          `${((end - baselineFrom) / 1000).toFixed(1)} s measured (${samples.length} responses); ` +
          `windows of ${(windowMs / 1000).toFixed(1)} s, write ${WRITE_AT_MS / 1000} s into its window`,
      );
      for (const w of windows) console.log(describe(w));
      const ratio = (w: WindowStats) =>
        `${w.label} / baseline (A + B): throughput ${(w.rps / baseline.rps).toFixed(2)}, slowest ` +
        `${BUCKET_MS / 1000} s ${(w.slowestRps / baseline.slowestRps).toFixed(2)}, p99 ${(w.p99 / baseline.p99).toFixed(2)}`;
      console.log(ratio(rollback));
      console.log(ratio(promote));
      console.log(rollbackLine);
      console.log(promoteLine);
      const failedLine =
        `non-2xx over the whole run: ${failed} of ${samples.length} responses (autocannon: ${result.non2xx}), ` +
        `${errors} socket errors/timeouts; target 0 ${failed + result.non2xx + errors === 0 ? 'met' : 'NOT met'}`;
      console.log(failedLine);
      if (failed + result.non2xx + errors > 0) problems.push(failedLine);
      if (unversioned > 0) problems.push(`${unversioned} 2xx responses had no ${VERSION_HEADER} header`);
    } finally {
      load.stop();
    }
  } finally {
    routing.close();
    child.kill('SIGTERM');
    await exited;
  }
  console.log(`total ${((performance.now() - started) / 1000).toFixed(1)} s`);
  if (problems.length > 0) {
    console.error(`targets missed:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    process.exitCode = 1;
  }
}

if (process.argv.includes('--serve')) {
  serve().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
} else {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
