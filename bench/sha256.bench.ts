/**
 * Streaming sha256 throughput vs the system's `sha256sum`, on the same 200 MB file (best of 3 each).
 * Run: npx tsx bench/sha256.bench.ts   (the file is created once under bench/.data and reused)
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, openSync, closeSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import { sha256OfStream } from '../lambdas/core/sha256';

const SIZE = 200 * 1024 * 1024;
const RUNS = 3;
const dataDir = path.join(__dirname, '.data');
const file = path.join(dataDir, 'sha256-200MB.bin');

function ensureFile(): void {
  if (existsSync(file) && statSync(file).size === SIZE) return;
  mkdirSync(dataDir, { recursive: true });
  const fd = openSync(file, 'w');
  // Random content, written in 8 MiB blocks, so no layer can shortcut a repetitive pattern.
  for (let written = 0; written < SIZE; written += 8 * 1024 * 1024)
    writeSync(fd, randomBytes(8 * 1024 * 1024));
  closeSync(fd);
}

async function bestOf(fn: () => Promise<string> | string): Promise<{ seconds: number; hash: string }> {
  let best = Number.POSITIVE_INFINITY;
  let hash = '';
  for (let i = 0; i < RUNS; i++) {
    const start = process.hrtime.bigint();
    hash = await fn();
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e9);
  }
  return { seconds: best, hash };
}

async function main(): Promise<void> {
  ensureFile();
  const mb = SIZE / (1024 * 1024);
  const ours = await bestOf(() => sha256OfStream(createReadStream(file)));
  const system = await bestOf(() => execFileSync('sha256sum', [file], { encoding: 'utf8' }).split(/\s+/)[0]!);
  if (ours.hash !== system.hash)
    throw new Error(`hash mismatch: ours ${ours.hash}, sha256sum ${system.hash}`);
  const oursRate = mb / ours.seconds;
  const systemRate = mb / system.seconds;
  console.log(`file: ${mb} MiB, best of ${RUNS}`);
  console.log(`sha256OfStream(createReadStream): ${oursRate.toFixed(0)} MB/s (${ours.seconds.toFixed(3)} s)`);
  console.log(
    `sha256sum:                        ${systemRate.toFixed(0)} MB/s (${system.seconds.toFixed(3)} s)`,
  );
  console.log(`ratio ours/sha256sum: ${(oursRate / systemRate).toFixed(2)}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
