/**
 * Cold start: process start → first prediction, for
 *   (a) a fresh Node process that loads the esbuild bundle of lambdas/inference/handler.ts (as deployed: minified,
 *       onnxruntime-node external) and invokes it once with a Function URL event, against the emulators started
 *       here with breast-cancer released and promoted (so it reads routing from DynamoDB, the manifest and artifact
 *       from S3, verifies the sha256, creates the session, validates, predicts, emits EMF). The handler starts that
 *       loading during init (warm-up); the invocation, made right after the require, joins it;
 *   (b) the baseline: a fresh Node process that requires onnxruntime-node, creates a session from the model file and
 *       runs one prediction.
 * Runs alternate (a, b, a, b, …); the medians and their ratio are printed. Target: ratio ≤ 1.5.
 * Run: npx tsx --openssl-legacy-provider bench/cold-start.bench.ts
 */
import path from 'node:path';
import {
  batchOf,
  bundleInferenceHandler,
  loadExampleModel,
  median,
  MODEL,
  ms,
  REPO_ROOT,
  spawnUntil,
  startServingLocalMode,
  tempDir,
} from './support';

const RUNS = 7;
const READY = /^FIRST_PREDICTION\b/;

function handlerScript(bundle: string, body: string): string {
  const event = {
    version: '2.0',
    rawPath: `/models/${MODEL}/invoke`,
    rawQueryString: '',
    headers: { 'content-type': 'application/json' },
    requestContext: { http: { method: 'POST', path: `/models/${MODEL}/invoke` }, requestId: 'cold-start' },
    body,
    isBase64Encoded: false,
  };
  return `
    const t0 = performance.now();
    const { handler } = require(${JSON.stringify(bundle)});
    const t1 = performance.now();
    handler(${JSON.stringify(event)}).then((r) => {
      if (r.statusCode !== 200) { console.error('handler answered ' + r.statusCode + ' ' + r.body); process.exit(1); }
      const t2 = performance.now();
      console.log('FIRST_PREDICTION ' + JSON.parse(r.body).predictions[0].label + ' boot=' + t0 + ' require=' + (t1 - t0) + ' invoke=' + (t2 - t1));
      process.exit(0);
    }, (e) => { console.error(e); process.exit(1); });`;
}

function bareScript(modelFile: string, row: readonly number[]): string {
  return `
    const ort = require('onnxruntime-node');
    const fs = require('node:fs');
    (async () => {
      const session = await ort.InferenceSession.create(fs.readFileSync(${JSON.stringify(modelFile)}), { graphOptimizationLevel: 'all' });
      const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', Float32Array.from(${JSON.stringify(row)}), [1, ${row.length}]) };
      const out = await session.run(feeds);
      console.log('FIRST_PREDICTION ' + out.label.data[0]);
      process.exit(0);
    })().catch((e) => { console.error(e); process.exit(1); });`;
}

async function main(): Promise<void> {
  const model = await loadExampleModel();
  const instance = batchOf(model, 1)[0]!;
  const row = model.features.map((f) => instance[f]!);
  const work = await tempDir('modelops-cold-');
  const serving = await startServingLocalMode();
  try {
    const bundle = await bundleInferenceHandler(path.join(work.dir, 'bundle'));
    const runtimeEnv = serving.mode.runtime.environment;
    const handlerEnv: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      // The bundle leaves onnxruntime-node external (a layer in Lambda); here it resolves from the project.
      NODE_PATH: path.join(REPO_ROOT, 'node_modules'),
      ...runtimeEnv,
      MODEL_NAME: MODEL,
      POWERTOOLS_METRICS_NAMESPACE: 'ModelOpsBench',
      // As in Lambda: metrics on (EMF to stdout), INFO logs.
      POWERTOOLS_METRICS_DISABLED: 'false',
      POWERTOOLS_LOG_LEVEL: 'INFO',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };
    const bareEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH, NODE_PATH: handlerEnv.NODE_PATH };
    const body = JSON.stringify({ instances: [instance] });
    const handlerArgs = ['-e', handlerScript(bundle.file, body)];
    const bareArgs = ['-e', bareScript(model.modelFile, row)];

    const a: number[] = [];
    const b: number[] = [];
    const phases: Record<'boot' | 'require' | 'invoke', number[]> = { boot: [], require: [], invoke: [] };
    for (let i = 0; i < RUNS; i++) {
      const run = await spawnUntil(handlerArgs, handlerEnv, READY);
      a.push(run.elapsedNs);
      for (const key of ['boot', 'require', 'invoke'] as const) {
        phases[key].push(Number(new RegExp(`${key}=([\\d.]+)`).exec(run.line)?.[1]));
      }
      b.push((await spawnUntil(bareArgs, bareEnv, READY)).elapsedNs);
    }
    const ma = median(a);
    const mb = median(b);
    console.log(
      `bundle ${(bundle.bytes / 1024).toFixed(0)} KiB; ${RUNS} runs each, process spawn → first prediction`,
    );
    console.log(`(a) bundled handler + emulators: median ${ms(ma)} ms  [${a.map((x) => ms(x)).join(', ')}]`);
    console.log(`(b) bare onnxruntime-node script: median ${ms(mb)} ms  [${b.map((x) => ms(x)).join(', ')}]`);
    console.log(
      `    inside (a), medians: node boot ${median(phases.boot).toFixed(0)} ms, require(bundle) ` +
        `${median(phases.require).toFixed(0)} ms, first invoke (joining the init warm-up: routing read, manifest + ` +
        `artifact fetch, sha256, ONNX Runtime load, session; then predict) ${median(phases.invoke).toFixed(0)} ms`,
    );
    const ratio = ma / mb;
    console.log(`ratio (a)/(b): ${ratio.toFixed(2)} — target ≤ 1.5 ${ratio <= 1.5 ? 'met' : 'NOT met'}`);
  } finally {
    await serving.stop();
    await work.remove();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
