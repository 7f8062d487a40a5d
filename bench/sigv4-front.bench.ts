/**
 * Cost of the emulators' verifying front (local/emulator-front.ts) on local request latency: sequential DynamoDB
 * GetItem, S3 HeadObject and 1 MiB S3 PutObject calls (one keep-alive SDK client per emulator) against two emulator
 * pairs in this process, one with the front and one without (`verifyingFront: false`), interleaved call by call.
 * Per operation it prints the median latency of each and their ratio (on/off).
 * Run: npx tsx --openssl-legacy-provider bench/sigv4-front.bench.ts
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { LOCAL_CREDENTIALS, startEmulators, type Emulators } from '../local/emulators';
import { median, tempDir } from './support';

const SMALL_CALLS = 1000;
const PUT_CALLS = 100;
const PUT_BODY = randomBytes(1024 * 1024);

interface Pair {
  readonly name: 'front on' | 'front off';
  readonly emu: Emulators;
  readonly s3: S3Client;
  readonly ddb: DynamoDBClient;
}

async function startPair(name: Pair['name'], dir: string): Promise<Pair> {
  const emu = await startEmulators({
    dataDir: path.join(dir, name.replace(' ', '-')),
    fresh: true,
    dynamodbPort: 0,
    s3Port: 0,
    verifyingFront: name === 'front on',
  });
  const common = { region: emu.region, credentials: LOCAL_CREDENTIALS };
  const s3 = new S3Client({ ...common, endpoint: emu.s3Endpoint, forcePathStyle: true });
  const ddb = new DynamoDBClient({ ...common, endpoint: emu.dynamodbEndpoint });
  await ddb.send(
    new PutItemCommand({
      TableName: emu.tables.AUDIT_LOG_TABLE!,
      Item: { model: { S: 'bench' }, eventId: { S: '1' }, note: { S: 'x'.repeat(200) } },
    }),
  );
  await s3.send(new PutObjectCommand({ Bucket: emu.bucket, Key: 'bench/head.txt', Body: 'x' }));
  return { name, emu, s3, ddb };
}

type Call = (pair: Pair, i: number) => Promise<unknown>;

const OPERATIONS: readonly { readonly name: string; readonly calls: number; readonly call: Call }[] = [
  {
    name: 'GetItem',
    calls: SMALL_CALLS,
    call: ({ emu, ddb }) =>
      ddb.send(
        new GetItemCommand({
          TableName: emu.tables.AUDIT_LOG_TABLE!,
          Key: { model: { S: 'bench' }, eventId: { S: '1' } },
        }),
      ),
  },
  {
    name: 'HeadObject',
    calls: SMALL_CALLS,
    call: ({ emu, s3 }) => s3.send(new HeadObjectCommand({ Bucket: emu.bucket, Key: 'bench/head.txt' })),
  },
  {
    name: 'PutObject 1 MiB',
    calls: PUT_CALLS,
    call: ({ emu, s3 }, i) =>
      s3.send(new PutObjectCommand({ Bucket: emu.bucket, Key: `bench/put-${i % 5}.bin`, Body: PUT_BODY })),
  },
];

/**
 * Per-call milliseconds of `calls` calls on each pair, interleaved call by call (alternating which pair goes first)
 * so that load from other processes on a shared machine falls on both alike.
 */
async function interleaved(
  pairs: readonly [Pair, Pair],
  calls: number,
  call: Call,
): Promise<[number[], number[]]> {
  for (let i = 0; i < 20; i++) for (const p of pairs) await call(p, i); // warm connections and the JIT
  const times: [number[], number[]] = [[], []];
  for (let i = 0; i < calls; i++) {
    for (const k of i % 2 === 0 ? [0, 1] : [1, 0]) {
      const start = process.hrtime.bigint();
      await call(pairs[k]!, i);
      times[k]!.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
  }
  return times;
}

async function main(): Promise<void> {
  const data = await tempDir('modelops-bench-front-');
  const pairs = [await startPair('front on', data.dir), await startPair('front off', data.dir)] as const;
  const rows: string[] = [];
  try {
    for (const op of OPERATIONS) {
      const [on, off] = await interleaved(pairs, op.calls, op.call);
      const mOn = median(on);
      const mOff = median(off);
      rows.push(
        `${op.name.padEnd(18)} ${String(op.calls).padStart(5)} ${mOn.toFixed(3).padStart(13)}  ${mOff.toFixed(3).padStart(14)}  ${(mOn / mOff).toFixed(2).padStart(6)}`,
      );
    }
  } finally {
    for (const p of pairs) {
      p.s3.destroy();
      p.ddb.destroy();
      await p.emu.stop();
    }
    await data.remove();
  }
  console.log('sequential calls, front on and off interleaved; median ms per call');
  console.log('operation          calls  front on (ms)  front off (ms)  on/off');
  for (const row of rows) console.log(row);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
