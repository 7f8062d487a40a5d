/**
 * Push throughput: `modelops push` of N versions at once (in-process CLI, upload watcher, real ASL and handlers,
 * fresh emulators on free ports), until every push has its outcome. Prints versions/s per round. The layout change
 * (upload ids, content-addressed manifests) cannot run beside the old code in one process, so the baseline is this
 * same file run on the base commit; see the commit message for both figures.
 *
 *   npx tsx --openssl-legacy-provider bench/push-throughput.bench.ts [versions=20] [rounds=3]
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { CliIo } from '../cli/errors';
import { emulatorTarget } from '../local/emulators';
import { silentLogger } from '../local/logger';
import { startLocalMode } from '../local/start';

async function main(): Promise<void> {
  const versions = Number(process.argv[2] ?? 20);
  const rounds = Number(process.argv[3] ?? 3);
  process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
  const work = await mkdtemp(path.join(tmpdir(), 'modelops-bench-push-'));
  const mode = await startLocalMode({
    logger: silentLogger,
    dataDir: path.join(work, 'data'),
    fresh: true,
    dynamodbPort: 0,
    s3Port: 0,
  });
  const { push } = await import('../cli/push');
  const quiet: CliIo = { out: () => undefined, err: () => undefined };
  const { emulators } = mode;
  const target = emulatorTarget(emulators, 'bench');
  const example = path.resolve(__dirname, '..', 'examples', 'credit-risk');
  console.log(
    `Node ${process.version}, ${versions} concurrent pushes of credit-risk per round, ${rounds} rounds`,
  );
  try {
    const rates: number[] = [];
    // Round 0 warms the handler modules and ONNX Runtime; it is printed but not counted.
    for (let round = 0; round <= rounds; round++) {
      const dirs: string[] = [];
      for (let i = 0; i < versions; i++) {
        const version = `bench-${round}-${i}`;
        const dir = path.join(work, version);
        await cp(example, dir, { recursive: true });
        const file = path.join(dir, 'manifest.json');
        const manifest = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
        await writeFile(file, JSON.stringify({ ...manifest, version }));
        dirs.push(dir);
      }
      const started = performance.now();
      const results = await Promise.all(
        dirs.map((d) => push(d, target, { pollMs: 20, timeoutSeconds: 300 }, quiet)),
      );
      const seconds = (performance.now() - started) / 1000;
      const bad = results.filter((r) => r.outcome !== 'REGISTERED');
      if (bad.length > 0) throw new Error(`round ${round}: ${bad.map((r) => r.outcome).join(', ')}`);
      const rate = versions / seconds;
      if (round > 0) rates.push(rate);
      console.log(
        `  round ${round}${round === 0 ? ' (warm-up)' : ''}: ${seconds.toFixed(2)} s, ${rate.toFixed(2)} versions/s`,
      );
    }
    const sorted = [...rates].sort((a, b) => a - b);
    console.log(`median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(2)} versions/s`);
  } finally {
    await mode.stop();
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
