/**
 * Integration harness: emulators on free ports in a temp dir, the real release state machine bound to the real
 * handlers, and helpers to stage bundles and read back stored state. One per test file (vitest runs each file in
 * its own process, and the handlers read their environment once per process).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request, type Agent } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type {
  AuditEvent,
  AuditLogStore,
  DeploymentStore,
  VersionRecord,
  VersionStore,
} from '../../lambdas/core/ports';
import { AUDIT_LOG_TABLE, DEPLOYMENTS_TABLE, MODEL_VERSIONS_TABLE } from '../../lambdas/core/tables';
import { parseConfig, type ModelOpsConfigInput } from '../../lib/config';
import type { ExecutionResult } from '../../local/asl-runner';
import { emulatorClients, emulatorTarget } from '../../local/emulators';
import { memoryLogger } from '../../local/logger';
import { INFERENCE_SERVICE_NAME, type RunningInferenceService } from '../../local/inference-server';
import { startLocalMode, type LocalMode, type LocalService } from '../../local/start';
import type { CliIo } from '../../cli/errors';
import type { Target } from '../../cli/target';

export const EXAMPLES_DIR = path.resolve(__dirname, '..', '..', 'examples');
export const EXAMPLES = ['breast-cancer', 'credit-risk'] as const;
export type ExampleName = (typeof EXAMPLES)[number];

export interface ExampleBundle {
  readonly manifest: Record<string, unknown> & {
    name: string;
    version: string;
    artifact: { file: string; sha256: string; sizeBytes: number };
  };
  readonly artifact: Buffer;
}

/** A fresh, mutable copy of an example bundle. */
export async function loadExample(name: ExampleName): Promise<ExampleBundle> {
  const dir = path.join(EXAMPLES_DIR, name);
  const manifest = JSON.parse(
    await readFile(path.join(dir, 'manifest.json'), 'utf8'),
  ) as ExampleBundle['manifest'];
  const artifact = await readFile(path.join(dir, manifest.artifact.file));
  return { manifest, artifact };
}

export const TEST_CONFIG: ModelOpsConfigInput = {
  models: [
    { name: 'breast-cancer', owner: 'ml-platform', riskTier: 'high' },
    { name: 'credit-risk', owner: 'ml-platform' },
  ],
};

export interface HarnessOptions {
  /** Start the upload watcher (manifest uploads start executions by themselves). @default false */
  readonly watch?: boolean;
  readonly config?: ModelOpsConfigInput;
  /** Local services to start with the emulators, e.g. `inferenceService({ port: 0 })`. @default none */
  readonly services?: readonly LocalService[];
}

export interface Harness {
  readonly mode: LocalMode;
  readonly s3: S3Client;
  /** The metadata tables' stores, by table (pass it whole as the deps of `promoteStable` and `changeRouting`). */
  readonly metadata: {
    readonly versions: VersionStore;
    readonly deployments: DeploymentStore;
    readonly audit: AuditLogStore;
  };
  readonly bucket: string;
  /** CLI target pointing at this harness's emulators. */
  readonly target: Target;
  readonly log: { readonly lines: string[] };
  /** Uploads the artifact, then the manifest (object → JSON, string → as is). Returns the manifest key. */
  stage(
    model: string,
    version: string,
    manifest: object | string | Buffer,
    artifact?: Buffer,
    file?: string,
  ): Promise<string>;
  /** Runs the release state machine for a manifest key and waits for its end. */
  release(key: string): Promise<ExecutionResult>;
  keys(prefix: string): Promise<string[]>;
  object(key: string): Promise<Buffer>;
  version(model: string, version: string): Promise<VersionRecord | undefined>;
  audit(model: string, version: string): Promise<AuditEvent[]>;
  /**
   * Stages an example bundle (optionally under another version, same artifact) and runs its release to
   * REGISTERED; returns the version. Fails the test if the release does not succeed.
   */
  pushExample(name: ExampleName, version?: string): Promise<string>;
  /** The inference server started through `services`, if any. */
  inference(): RunningInferenceService | undefined;
  stop(): Promise<void>;
}

export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  // Handler logs (Powertools) would bury the test report; stored state is what the tests assert on.
  process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
  const dataDir = await mkdtemp(path.join(tmpdir(), 'modelops-it-'));
  const log = memoryLogger();
  const mode = await startLocalMode({
    logger: log,
    dataDir,
    fresh: true,
    dynamodbPort: 0,
    s3Port: 0,
    config: parseConfig(options.config ?? TEST_CONFIG),
    // The ASL's retry pauses are real seconds; nothing here is transient, so do not wait them out.
    retryIntervalMs: 10,
    ...(options.services ? { services: options.services } : {}),
  });
  if (!options.watch) await mode.watcher.stop();
  const { emulators } = mode;
  const { s3, dynamodb: ddb } = emulatorClients(emulators);
  // Imported after startLocalMode set process.env: the adapter modules build SDK clients from it when they load.
  const { DynamoVersionStore } = await import('../../lambdas/adapters/dynamo-version-store');
  const { DynamoDeploymentStore } = await import('../../lambdas/adapters/dynamo-deployment-store');
  const { DynamoAuditLog } = await import('../../lambdas/adapters/dynamo-audit-log');
  const { createDocumentClient } = await import('../../lambdas/adapters/clients');
  const doc = createDocumentClient(ddb);
  const metadata = {
    versions: new DynamoVersionStore(emulators.tables[MODEL_VERSIONS_TABLE.envVar]!, doc),
    deployments: new DynamoDeploymentStore(emulators.tables[DEPLOYMENTS_TABLE.envVar]!, doc),
    audit: new DynamoAuditLog(emulators.tables[AUDIT_LOG_TABLE.envVar]!, doc),
  };
  const bucket = emulators.bucket;

  const harness: Harness = {
    mode,
    s3,
    metadata,
    bucket,
    log,
    target: emulatorTarget(emulators, 'integration emulators'),
    async stage(model, version, manifest, artifact, file = 'model.onnx') {
      const dir = `incoming/${model}/${version}/`;
      if (artifact)
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${dir}${file}`, Body: artifact }));
      const key = `${dir}manifest.json`;
      const body =
        typeof manifest === 'string' || Buffer.isBuffer(manifest) ? manifest : JSON.stringify(manifest);
      await s3.send(
        new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: 'application/json' }),
      );
      return key;
    },
    release: (key) => mode.runtime.startRelease({ bucket, key }),
    async keys(prefix) {
      const out: string[] = [];
      let token: string | undefined;
      do {
        const page = await s3.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
        );
        out.push(...(page.Contents ?? []).map((c) => c.Key!));
        token = page.NextContinuationToken;
      } while (token);
      return out.sort();
    },
    async object(key) {
      const r = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from(await r.Body!.transformToByteArray());
    },
    version: (model, version) => metadata.versions.getVersion(model, version),
    async audit(model, version) {
      return (await metadata.audit.listAudit(model)).filter((e) => e.version === version);
    },
    async pushExample(name, version) {
      const { manifest, artifact } = await loadExample(name);
      const v = version ?? manifest.version;
      const result = await harness.release(
        await harness.stage(name, v, { ...manifest, version: v }, artifact),
      );
      if (result.status !== 'SUCCEEDED') {
        throw new Error(`release of ${name} ${v} ended ${result.status}: ${JSON.stringify(result)}`);
      }
      return v;
    },
    inference() {
      const found = mode.services.find((s) => s.name === INFERENCE_SERVICE_NAME);
      return found?.running as RunningInferenceService | undefined;
    },
    async stop() {
      s3.destroy();
      ddb.destroy();
      await mode.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return harness;
}

/** The audit event types of a version, in ledger order. */
export function types(events: readonly AuditEvent[]): string[] {
  return events.map((e) => e.type);
}

export interface HttpResult {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  readonly json: unknown;
}

/**
 * One HTTP request over node:http (any method, any bytes, any headers), through `agent` so tests can exercise
 * keep-alive connections the way real clients do.
 */
export function httpRequest(
  baseUrl: string,
  options: {
    readonly method?: string;
    readonly path: string;
    readonly headers?: Record<string, string>;
    readonly body?: string | Uint8Array;
    readonly agent?: Agent;
  },
): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const url = new URL(baseUrl);
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        // As given (not resolved against the base), so odd paths such as `//` reach the server unchanged.
        path: options.path,
        method: options.method ?? 'POST',
        headers: {
          'content-type': 'application/json',
          // Explicit, so even a GET or HEAD carries its body framed (node would not frame it otherwise).
          ...(options.body === undefined
            ? {}
            : { 'content-length': String(Buffer.byteLength(options.body)) }),
          ...options.headers,
        },
        ...(options.agent ? { agent: options.agent } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** POSTs `{"instances": [...]}` (plus extra fields) to `/models/<model>/invoke`. */
export function invokeModel(
  baseUrl: string,
  model: string,
  body: Record<string, unknown>,
  agent?: Agent,
): Promise<HttpResult> {
  return httpRequest(baseUrl, {
    path: `/models/${model}/invoke`,
    body: JSON.stringify(body),
    ...(agent ? { agent } : {}),
  });
}

/**
 * Invokes until `done` holds for a response and returns that response. Throws when the bound runs out first, with
 * the last response in the message: a condition that never held is a failure, not a result to assert on.
 */
export async function invokeUntil(
  baseUrl: string,
  model: string,
  body: Record<string, unknown>,
  done: (r: HttpResult) => boolean,
  agent?: Agent,
  boundMs = 30_000,
): Promise<HttpResult> {
  const deadline = Date.now() + boundMs;
  let last: HttpResult;
  do {
    last = await invokeModel(baseUrl, model, body, agent);
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, 50));
  } while (Date.now() < deadline);
  throw new Error(
    `invokeUntil: ${model} did not answer as expected within ${boundMs} ms; last response ` +
      `${last.status} ${last.text.slice(0, 500)}`,
  );
}

/** One series of the local server's `GET /metrics`. */
export interface MetricSeries {
  readonly name: string;
  readonly dimensions: Readonly<Record<string, string>>;
  readonly count: number;
  readonly sum: number;
}

/** The local inference server's in-memory metrics. */
export async function readMetrics(baseUrl: string, agent?: Agent): Promise<MetricSeries[]> {
  const r = await httpRequest(baseUrl, { method: 'GET', path: '/metrics', ...(agent ? { agent } : {}) });
  if (r.status !== 200) throw new Error(`GET /metrics answered ${r.status}: ${r.text}`);
  return r.json as MetricSeries[];
}

/** Sum of a metric over the series with exactly this dimension set. */
export function metricSum(
  series: readonly MetricSeries[],
  name: string,
  dimensions: Readonly<Record<string, string>>,
): number {
  const key = JSON.stringify(Object.entries(dimensions).sort());
  return series
    .filter((s) => s.name === name && JSON.stringify(Object.entries(s.dimensions).sort()) === key)
    .reduce((a, s) => a + s.sum, 0);
}

/**
 * Judge settings for canary tests with a few hundred requests: effects this large need few samples, and the many
 * extensions let the judge wait for them, so an outcome never depends on how fast the machine sends traffic.
 */
export const SMALL_SAMPLE_JUDGE = {
  minDetectableEffect: 10,
  baselineRateFloor: 0.05,
  maxExtensionsPerStep: 1000,
  minRequestsForP99: 100,
  maxP99Ratio: 1000,
} as const;

/** The inputs of an example manifest's first smoke sample: a valid instance to send. */
export function firstSmokeInputs(manifest: object): Record<string, unknown> {
  return (manifest as { smokeSamples: { inputs: Record<string, unknown> }[] }).smokeSamples[0]!.inputs;
}

/** A CLI output sink that keeps every line, for assertions on what a command printed. */
export function capturedIo(): { out: string[]; err: string[]; text: () => string; io: CliIo } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    text: () => [...out, ...err].join('\n'),
    io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) },
  };
}

/** The CLI target flags that point a command at the harness's emulators. */
export function cliTargetFlags(h: Pick<Harness, 'target'>): string[] {
  return ['--s3-endpoint', h.target.s3Endpoint!, '--dynamodb-endpoint', h.target.dynamodbEndpoint!];
}
