/**
 * Sizes of what an inference function ships: the esbuild bundle of lambdas/inference/handler.ts (JS, minified,
 * onnxruntime-node external) and the pruned ONNX Runtime layer (linux/x64 only), against the 250 MB unzipped limit
 * of a function plus its layers, and against the unpruned onnxruntime-node package as the baseline.
 * Run: npx tsx bench/bundle-size.bench.ts
 */
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import path from 'node:path';
import { stageOnnxRuntime } from '../lib/constructs/onnx-runtime-layer';
import { bundleInferenceHandler, directorySize, mib, REPO_ROOT, tempDir } from './support';

const LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024;

function zippedBytes(dir: string): number | undefined {
  try {
    // `zip` is how the CDK asset is shipped; when the tool is missing, report unzipped sizes only.
    const out = path.join(dir, '..', `${path.basename(dir)}.zip`);
    execFileSync('zip', ['-qr9', out, '.'], { cwd: dir });
    return statSync(out).size;
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const work = await tempDir('modelops-size-');
  try {
    const bundleDir = path.join(work.dir, 'bundle');
    const bundle = await bundleInferenceHandler(bundleDir);
    const layerDir = path.join(work.dir, 'layer');
    stageOnnxRuntime(layerDir, 'x86_64');
    const layer = await directorySize(layerDir);
    const full = await directorySize(path.join(REPO_ROOT, 'node_modules', 'onnxruntime-node'));
    const layerZip = zippedBytes(layerDir);
    const bundleZip = zippedBytes(bundleDir);
    const total = bundle.bytes + layer.bytes;

    console.log('inference bundle (esbuild, minified, CJS, onnxruntime-node external):');
    console.log(
      `  index.js                        ${mib(bundle.bytes)}${bundleZip ? `  (zipped ${mib(bundleZip)})` : ''}`,
    );
    console.log('ONNX Runtime layer (stageOnnxRuntime, linux/x64):');
    console.log(
      `  nodejs/node_modules             ${mib(layer.bytes)} in ${layer.files} files${layerZip ? `  (zipped ${mib(layerZip)})` : ''}`,
    );
    console.log(
      `baseline: onnxruntime-node as installed (all platforms): ${mib(full.bytes)} in ${full.files} files`,
    );
    console.log(`ratio layer/installed package: ${(layer.bytes / full.bytes).toFixed(3)}`);
    console.log(
      `function + layer unzipped: ${mib(total)} of Lambda's 250 MB limit (${((100 * total) / LAMBDA_UNZIPPED_LIMIT).toFixed(1)} %)`,
    );
  } finally {
    await work.remove();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
