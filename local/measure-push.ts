/**
 * Measures local push latency: `modelops push` of each example bundle (in-process, against fresh emulators on free
 * ports) until REGISTERED. Prints, per example, the first (cold: handler modules and ONNX Runtime load) and the
 * following (warm) pushes. Not a test: timings vary with the machine.
 *
 *   npx tsx local/measure-push.ts [repetitions=5]
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { CliIo } from '../cli/errors';
import { emulatorTarget } from './emulators';
import { silentLogger } from './logger';
import { startLocalMode } from './start';

const EXAMPLES = ['breast-cancer', 'credit-risk'] as const;

function stats(values: readonly number[]): string {
  if (values.length === 0) return '-';
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  return `median ${median.toFixed(0)} ms (min ${sorted[0]!.toFixed(0)}, max ${sorted.at(-1)!.toFixed(0)}, n=${values.length})`;
}

async function main(): Promise<void> {
  const repetitions = Number(process.argv[2] ?? 5);
  if (!Number.isInteger(repetitions) || repetitions < 2) {
    throw new Error(`repetitions must be a whole number >= 2, got ${process.argv[2]}`);
  }
  process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
  const work = await mkdtemp(path.join(tmpdir(), 'modelops-measure-'));
  const mode = await startLocalMode({
    logger: silentLogger,
    dataDir: path.join(work, 'data'),
    fresh: true,
    dynamodbPort: 0,
    s3Port: 0,
  });
  // Loaded after local mode set process.env: the adapters build their SDK clients from it.
  const { push } = await import('../cli/push');
  const quiet: CliIo = { out: () => undefined, err: () => undefined };
  const { emulators } = mode;
  const target = emulatorTarget(emulators, 'measurement');
  console.log(`Node ${process.version}, ${repetitions} pushes per example, poll interval 10 ms`);
  try {
    for (const example of EXAMPLES) {
      const total: number[] = [];
      const pipeline: number[] = [];
      const execution: number[] = [];
      for (let i = 0; i < repetitions; i++) {
        const version = `measure-${i}`;
        const dir = path.join(work, `${example}-${version}`);
        await cp(path.resolve(__dirname, '..', 'examples', example), dir, { recursive: true });
        const manifestFile = path.join(dir, 'manifest.json');
        const manifest = JSON.parse(await readFile(manifestFile, 'utf8')) as Record<string, unknown>;
        await writeFile(manifestFile, JSON.stringify({ ...manifest, version }));

        const started = performance.now();
        const result = await push(dir, target, { pollMs: 10, timeoutSeconds: 120 }, quiet);
        total.push(performance.now() - started);
        if (result.outcome !== 'REGISTERED') throw new Error(`${example} ${version}: ${result.outcome}`);
        pipeline.push(result.elapsedMs);
        await mode.watcher.idle();
        const run = mode.watcher.executions().find((e) => e.key.includes(`/${example}/${version}/`));
        if (run?.result) execution.push(run.result.durationMs);
      }
      console.log(`\n${example}`);
      console.log(
        `  first push -> REGISTERED         ${total[0]!.toFixed(0)} ms (manifest upload -> REGISTERED ${pipeline[0]} ms)`,
      );
      console.log(`  warm push -> REGISTERED          ${stats(total.slice(1))}`);
      console.log(`  warm manifest upload -> REGISTERED ${stats(pipeline.slice(1))}`);
      console.log(`  warm state machine execution     ${stats(execution.slice(1))}`);
    }
  } finally {
    await mode.stop();
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
