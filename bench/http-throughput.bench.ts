/**
 * Local HTTP throughput: autocannon for 10 s (10 keep-alive connections, the same one-instance breast-cancer body)
 * against (a) the local inference server (node:http adapter → the inference app → ONNX Runtime; routing from the
 * DynamoDB emulator, 5 s TTL) and (b) the baseline: a bare node:http + onnxruntime-node server that parses the
 * JSON, builds the tensor, runs the session and answers label + probabilities. Each server runs in its own child
 * process (so autocannon, here, does not share its event loop). Three rounds, each measuring both servers back to
 * back (alternating which goes first); the median of the rounds' ratios is the figure. Target: (a)/(b) ≥ 0.85.
 * Run: npx tsx --openssl-legacy-provider bench/http-throughput.bench.ts
 */
import { createRequire } from 'node:module';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inferenceService } from '../local/inference-server';
import { batchOf, loadExampleModel, median, MODEL, spawnUntil, startServingLocalMode } from './support';

const DURATION_S = 10;
const WARMUP_S = 2;
const CONNECTIONS = 10;
const ROUNDS = 3;

interface AutocannonResult {
  readonly requests: { readonly average: number; readonly total: number };
  readonly latency: { readonly p50: number; readonly p99: number };
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
}
type Autocannon = (options: {
  url: string;
  connections: number;
  duration: number;
  method: 'POST';
  headers: Record<string, string>;
  body: string;
}) => Promise<AutocannonResult>;

/** Baseline server: no validation, routing, metrics or integrity checks; what a hand-written endpoint would do. */
async function serveBare(): Promise<void> {
  const { InferenceSession, Tensor } = await import('onnxruntime-node');
  const model = await loadExampleModel();
  const session = await InferenceSession.create(model.artifact, { graphOptimizationLevel: 'all' });
  const labels = ['malignant', 'benign'];
  const width = model.features.length;
  const server = createServer({ keepAlive: true }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        try {
          const { instances } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
            instances: Record<string, number>[];
          };
          const data = new Float32Array(instances.length * width);
          instances.forEach((row, r) => model.features.forEach((f, c) => (data[r * width + c] = row[f]!)));
          const out = await session.run({
            [session.inputNames[0]!]: new Tensor('float32', data, [instances.length, width]),
          });
          const label = out.label!.data as BigInt64Array;
          const probabilities = out.probabilities!.data as Float32Array;
          const predictions = instances.map((_, r) => ({
            label: labels[Number(label[r])],
            probabilities: { [labels[0]!]: probabilities[r * 2]!, [labels[1]!]: probabilities[r * 2 + 1]! },
          }));
          const body = JSON.stringify({ model: MODEL, predictions });
          res.writeHead(200, {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          });
          res.end(body);
        } catch {
          res.writeHead(400).end();
        }
      })();
    });
  });
  server.keepAliveTimeout = 30_000;
  server.listen(0, '127.0.0.1', () => {
    console.log(`READY http://127.0.0.1:${(server.address() as AddressInfo).port}/models/${MODEL}/invoke`);
  });
}

async function serveModelOps(): Promise<void> {
  const serving = await startServingLocalMode({ services: [inferenceService({ port: 0 })] });
  const running = serving.mode.services[0]!.running as { baseUrl?: string };
  console.log(`READY ${running.baseUrl}/models/${MODEL}/invoke`);
  process.on('SIGTERM', () => {
    void serving.stop().finally(() => process.exit(0));
  });
}

async function load(
  autocannon: Autocannon,
  url: string,
  body: string,
  duration: number,
): Promise<AutocannonResult> {
  return autocannon({
    url,
    connections: CONNECTIONS,
    duration,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
}

interface Server {
  readonly url: string;
  stop(): Promise<void>;
}

async function start(kind: 'bare' | 'modelops'): Promise<Server> {
  const { child, line } = await spawnUntil(
    ['--openssl-legacy-provider', '--import', 'tsx', __filename, '--serve', kind],
    {
      ...process.env,
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
    /^READY /,
  );
  return {
    url: line.slice('READY '.length).trim(),
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

async function measure(
  autocannon: Autocannon,
  kind: string,
  server: Server,
  body: string,
): Promise<AutocannonResult> {
  const result = await load(autocannon, server.url, body, DURATION_S);
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`${kind}: ${result.non2xx} non-2xx and ${result.errors} errors during the run`);
  }
  return result;
}

async function main(): Promise<void> {
  const autocannon = createRequire(__filename)('autocannon') as Autocannon;
  const model = await loadExampleModel();
  const body = JSON.stringify({ instances: batchOf(model, 1, 3) });
  const bare = await start('bare');
  try {
    const ours = await start('modelops');
    try {
      await load(autocannon, bare.url, body, WARMUP_S);
      await load(autocannon, ours.url, body, WARMUP_S);
      const line = (label: string, r: AutocannonResult) =>
        `${label.padEnd(44)} ${r.requests.average.toFixed(0).padStart(6)} req/s  (p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, ${r.requests.total} requests)`;
      console.log(
        `autocannon ${DURATION_S} s, ${CONNECTIONS} connections, batch 1 (after ${WARMUP_S} s warm-up each); ` +
          `${ROUNDS} rounds, alternating which server goes first`,
      );
      const ratios: number[] = [];
      for (let round = 1; round <= ROUNDS; round++) {
        // Alternating order and one ratio per round: on a shared machine, load from other processes drifts over a
        // run; a pair measured back to back sees about the same machine.
        const first = round % 2 === 1;
        const b1 = first ? await measure(autocannon, 'bare', bare, body) : undefined;
        const a = await measure(autocannon, 'modelops', ours, body);
        const b = b1 ?? (await measure(autocannon, 'bare', bare, body));
        const ratio = a.requests.average / b.requests.average;
        ratios.push(ratio);
        console.log(`round ${round}`);
        console.log(line('(a) local inference server (modelops app)', a));
        console.log(line('(b) bare node:http + onnxruntime-node', b));
        console.log(`ratio (a)/(b): ${ratio.toFixed(2)}`);
      }
      const mid = median(ratios);
      console.log(
        `median ratio (a)/(b) of ${ROUNDS} rounds: ${mid.toFixed(2)} [${ratios.map((r) => r.toFixed(2)).join(', ')}] — ` +
          `target ≥ 0.85 ${mid >= 0.85 ? 'met' : 'NOT met'}`,
      );
    } finally {
      await ours.stop();
    }
  } finally {
    await bare.stop();
  }
}

const serveIndex = process.argv.indexOf('--serve');
if (serveIndex !== -1) {
  const kind = process.argv[serveIndex + 1];
  (kind === 'bare' ? serveBare() : serveModelOps()).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
} else {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
