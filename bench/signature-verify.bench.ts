/**
 * What signature verification adds to a version's first load, with the local signer: one ECDSA P-256 verify over
 * the 32-byte digest, against the sha256 of the artifact that the first load computes anyway. Both in memory, same
 * run, median of many runs. The example models are tiny, so a 100 MB buffer stands for a typical artifact too.
 * Run: npx tsx bench/signature-verify.bench.ts
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LocalModelSigner } from '../lambdas/adapters/local-signer';

function medianMs(runs: number, fn: () => unknown): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    fn();
    times.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'sig-bench-'));
  try {
    const signer = LocalModelSigner.open(dir);
    const artifacts: [string, Buffer][] = [
      [
        'examples/credit-risk/model.onnx',
        readFileSync(path.join(__dirname, '..', 'examples/credit-risk/model.onnx')),
      ],
      ['random 100 MB', randomBytes(100 * 1024 * 1024)],
    ];
    for (const [label, bytes] of artifacts) {
      const digest = createHash('sha256').update(bytes).digest();
      const signature = await signer.sign(digest);
      // Warm up both paths (the key import, the hash implementation) before timing.
      for (let i = 0; i < 20; i++) await signer.verify(digest, signature);
      const runs = bytes.length > 10 * 1024 * 1024 ? 5 : 200;
      const hashMs = medianMs(runs, () => createHash('sha256').update(bytes).digest());
      // verify() is async only to reject like the KMS adapter; its work is synchronous, so timing the call is fair.
      const times: number[] = [];
      for (let i = 0; i < 200; i++) {
        const start = process.hrtime.bigint();
        if (!(await signer.verify(digest, signature))) throw new Error('signature did not verify');
        times.push(Number(process.hrtime.bigint() - start) / 1e6);
      }
      times.sort((a, b) => a - b);
      const verifyMs = times[100]!;
      console.log(
        `${label} (${bytes.length} bytes): sha256 ${hashMs.toFixed(3)} ms, verify ${verifyMs.toFixed(3)} ms, ` +
          `verify/sha256 = ${(verifyMs / hashMs).toFixed(3)}`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

void main();
