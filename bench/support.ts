/**
 * Shared pieces of the inference benchmarks (not a benchmark itself: `npm run bench` runs `*.bench.ts` only).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { parse } from 'csv-parse/sync';
import type { LocalMode, LocalService } from '../local/start';
import type { TrackedExecution } from '../local/watcher';
import type { Harness } from '../test/integration/harness';

export const REPO_ROOT = path.resolve(__dirname, '..');
export const EXAMPLE_DIR = path.join(REPO_ROOT, 'examples', 'breast-cancer');
export const MODEL = 'breast-cancer';
export const HANDLER_ENTRY = path.join(REPO_ROOT, 'lambdas', 'inference', 'handler.ts');

export interface ExampleModel {
  readonly manifest: {
    readonly name: string;
    readonly version: string;
    readonly artifact: { readonly file: string; readonly sha256: string };
    readonly inputs: { readonly features: readonly { readonly name: string }[] };
    /** Drift bins (present in the example manifest; the drift-counting variant needs them). */
    readonly baseline?: unknown;
  };
  readonly manifestText: string;
  readonly artifact: Buffer;
  readonly modelFile: string;
  /** Feature names in manifest order (= the column order of the model's one float32 input). */
  readonly features: readonly string[];
  /** Rows of reference.csv as instances (feature → number). */
  readonly rows: readonly Record<string, number>[];
}

export async function loadExampleModel(): Promise<ExampleModel> {
  const manifestText = await readFile(path.join(EXAMPLE_DIR, 'manifest.json'), 'utf8');
  const manifest = JSON.parse(manifestText) as ExampleModel['manifest'];
  const modelFile = path.join(EXAMPLE_DIR, manifest.artifact.file);
  const features = manifest.inputs.features.map((f) => f.name);
  const records = parse(await readFile(path.join(EXAMPLE_DIR, 'reference.csv'), 'utf8'), {
    columns: true,
    skip_empty_lines: true,
  }) as Record<string, string>[];
  const rows = records.map((r) => Object.fromEntries(features.map((f) => [f, Number(r[f])])));
  return { manifest, manifestText, artifact: await readFile(modelFile), modelFile, features, rows };
}

/** `n` instances cycling through the reference rows. */
export function batchOf(model: ExampleModel, n: number, offset = 0): Record<string, number>[] {
  return Array.from({ length: n }, (_, i) => model.rows[(offset + i) % model.rows.length]!);
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** Nanoseconds `fn` takes (process.hrtime), for one timed call of a benchmark loop. */
export async function timeNs(fn: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start);
}

/** One timed call of an inference app that must answer 200 (anything else aborts the benchmark). */
export function timedOk(call: () => Promise<{ statusCode: number; body: string }>): Promise<number> {
  return timeNs(async () => {
    const res = await call();
    if (res.statusCode !== 200) throw new Error(`app answered ${res.statusCode}: ${res.body}`);
  });
}

export function median(values: readonly number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

export function ms(ns: number): string {
  return (ns / 1e6).toFixed(3);
}

export async function directorySize(dir: string): Promise<{ bytes: number; files: number }> {
  let bytes = 0;
  let files = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      const sub = await directorySize(p);
      bytes += sub.bytes;
      files += sub.files;
    } else if (entry.isFile()) {
      bytes += (await stat(p)).size;
      files++;
    }
  }
  return { bytes, files };
}

export function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
}

/**
 * Bundles the inference Lambda handler the way the stack does (lib/constructs/modelops-function.ts: CJS, minified,
 * onnxruntime-node external, which the layer provides), but for the local Node version so it can run here.
 */
export async function bundleInferenceHandler(outDir: string): Promise<{ file: string; bytes: number }> {
  const { build } = await import('esbuild');
  const file = path.join(outDir, 'index.js');
  await build({
    entryPoints: [HANDLER_ENTRY],
    outfile: file,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: `node${process.versions.node.split('.')[0]}`,
    minify: true,
    sourcemap: false,
    mainFields: ['module', 'main'],
    external: ['onnxruntime-node'],
    logLevel: 'error',
  });
  return { file, bytes: (await stat(file)).size };
}

export async function tempDir(prefix: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * Local mode on free ports in a temp dir, with breast-cancer pushed through the real release state machine and
 * promoted. Optional services (the inference server) start with it.
 */
export async function startServingLocalMode(
  options: { readonly services?: readonly LocalService[] } = {},
): Promise<{
  readonly mode: LocalMode;
  readonly version: string;
  stop(): Promise<void>;
}> {
  process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
  const { startLocalMode } = await import('../local/start');
  const { silentLogger } = await import('../local/logger');
  const { parseConfig } = await import('../lib/config');
  const data = await tempDir('modelops-bench-');
  const mode = await startLocalMode({
    logger: silentLogger,
    dataDir: data.dir,
    fresh: true,
    dynamodbPort: 0,
    s3Port: 0,
    config: parseConfig({ models: [{ name: MODEL, owner: 'bench' }] }),
    retryIntervalMs: 10,
    ...(options.services ? { services: options.services } : {}),
  });
  const stop = async () => {
    await mode.stop();
    await data.remove();
  };
  try {
    await mode.watcher.stop();
    const model = await loadExampleModel();
    const { PutObjectCommand } = await import('@aws-sdk/client-s3');
    const { emulatorClients } = await import('../local/emulators');
    const s3 = emulatorClients(mode.emulators).s3;
    const dir = `incoming/${MODEL}/${model.manifest.version}/`;
    await s3.send(
      new PutObjectCommand({
        Bucket: mode.emulators.bucket,
        Key: `${dir}${model.manifest.artifact.file}`,
        Body: model.artifact,
      }),
    );
    await s3.send(
      new PutObjectCommand({
        Bucket: mode.emulators.bucket,
        Key: `${dir}manifest.json`,
        Body: model.manifestText,
      }),
    );
    s3.destroy();
    const result = await mode.runtime.startRelease({
      bucket: mode.emulators.bucket,
      key: `${dir}manifest.json`,
    });
    if (result.status !== 'SUCCEEDED') throw new Error(`release of ${MODEL} ${result.status}`);
    const { DynamoVersionStore } = await import('../lambdas/adapters/dynamo-version-store');
    const { DynamoDeploymentStore } = await import('../lambdas/adapters/dynamo-deployment-store');
    const { DynamoAuditLog } = await import('../lambdas/adapters/dynamo-audit-log');
    const { promoteStable } = await import('../lambdas/core/promotion');
    const stores = {
      versions: DynamoVersionStore.fromEnv(),
      deployments: DynamoDeploymentStore.fromEnv(),
      audit: DynamoAuditLog.fromEnv(),
    };
    await promoteStable(stores, {
      model: MODEL,
      version: model.manifest.version,
      actor: 'bench',
    });
    return { mode, version: model.manifest.version, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Spawns `node <args>` and resolves with the first stdout line matching `ready`, rejecting if it exits first. */
export function spawnUntil(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  ready: RegExp,
): Promise<{ child: ChildProcess; line: string; elapsedNs: number }> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    // From the project root, so `--import tsx` and NODE_PATH resolve wherever the bench was started from.
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let done = false;
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      if (done) return;
      out += chunk;
      for (const line of out.split('\n')) {
        if (ready.test(line)) {
          done = true;
          resolve({ child, line, elapsedNs: Number(process.hrtime.bigint() - start) });
          return;
        }
      }
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      err = (err + chunk).slice(-4000);
    });
    child.on('exit', (code) => {
      if (!done) reject(new Error(`child exited (${code}) before ready:\n${out.slice(-2000)}\n${err}`));
    });
  });
}

/**
 * Uploads a bundle's artifact, then (timed from `now()`) the manifest that starts its release under `model` and
 * `version`, and resolves when the watcher's release of that manifest ended (throws after `boundMs`).
 */
export async function uploadAndAwaitRelease(
  h: Pick<Harness, 's3' | 'bucket' | 'mode'>,
  bundle: {
    readonly manifest: { readonly artifact: { readonly file: string } };
    readonly artifact: Uint8Array;
  },
  model: string,
  version: string,
  options: { readonly now: () => number; readonly boundMs: number },
): Promise<{ uploadAt: number; execution: TrackedExecution }> {
  const dir = `incoming/${model}/${version}/`;
  await h.s3.send(
    new PutObjectCommand({
      Bucket: h.bucket,
      Key: `${dir}${bundle.manifest.artifact.file}`,
      Body: bundle.artifact,
    }),
  );
  const key = `${dir}manifest.json`;
  const uploadAt = options.now();
  await h.s3.send(
    new PutObjectCommand({
      Bucket: h.bucket,
      Key: key,
      Body: JSON.stringify({ ...bundle.manifest, name: model, version }),
      ContentType: 'application/json',
    }),
  );
  const deadline = options.now() + options.boundMs;
  for (;;) {
    const execution = h.mode.watcher.executions().find((e) => e.key === key);
    if (execution !== undefined && execution.status !== 'RUNNING') return { uploadAt, execution };
    if (options.now() > deadline)
      throw new Error(`no end of the release of ${model} ${version} within ${options.boundMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
