/**
 * A real crash: `local/main.ts` as a child process, a bundle pushed, SIGKILL while its release is journaled as
 * running, then `npm start` again on the same data dir: the release is resumed and the version ends REGISTERED.
 * The kill happens as soon as the journal entry appears; if the release was already over by then (nothing left to
 * recover), the push is repeated under a new version, a bounded number of times.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, watch } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, expect, it } from 'vitest';
import { LOCAL_CREDENTIALS } from '../../local/emulators';
import { JOURNAL_DIR } from '../../local/journal';
import { loadExample } from './harness';

const ROOT = path.resolve(__dirname, '..', '..');
const ATTEMPTS = 5;
const BOUND_MS = 60_000;
const children = new Set<ChildProcess>();
let dataDir: string | undefined;

afterAll(async () => {
  for (const child of children) child.kill('SIGKILL');
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

interface Running {
  readonly child: ChildProcess;
  readonly s3Endpoint: string;
  readonly dynamodbEndpoint: string;
  readonly bucket: string;
  readonly output: () => string;
}

/** Starts local mode (any free ports) and resolves once its banner is printed. */
function startLocal(dir: string): Promise<Running> {
  const child = spawn(
    process.execPath,
    ['--openssl-legacy-provider', '--import', 'tsx', 'local/main.ts', '--data-dir', dir],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        MODELOPS_DYNAMODB_PORT: '0',
        MODELOPS_S3_PORT: '0',
        MODELOPS_HTTP_PORT: '0',
        POWERTOOLS_LOG_LEVEL: 'SILENT',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.add(child);
  child.on('exit', () => children.delete(child));
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (out += c));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`local mode did not start:\n${out}`)), BOUND_MS);
    child.on('exit', (code) => reject(new Error(`local mode exited (${code}):\n${out}`)));
    child.stdout!.on('data', () => {
      const s3 = /S3 \(s3rver\)\s+(http:\/\/127\.0\.0\.1:\d+)\s+bucket (\S+)/.exec(out);
      const ddb = /DynamoDB \(dynalite\)\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (s3 && ddb && out.includes('Ctrl-C stops everything')) {
        clearTimeout(timer);
        resolve({ child, s3Endpoint: s3[1]!, dynamodbEndpoint: ddb[1]!, bucket: s3[2]!, output: () => out });
      }
    });
  });
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => child.once('exit', () => resolve()));
}

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + BOUND_MS;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

it('resumes a release interrupted by SIGKILL to REGISTERED on the next start', async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'modelops-kill-'));
  const journalDir = path.join(dataDir, JOURNAL_DIR);
  await mkdir(journalDir, { recursive: true });
  const { manifest, artifact } = await loadExample('breast-cancer');
  let interrupted: { version: string; entry: string } | undefined;

  for (let attempt = 1; attempt <= ATTEMPTS && !interrupted; attempt++) {
    const local = await startLocal(dataDir);
    const version = `kill-${attempt}`;
    const s3 = new S3Client({
      region: 'us-east-1',
      endpoint: local.s3Endpoint,
      forcePathStyle: true,
      credentials: LOCAL_CREDENTIALS,
    });
    const dir = `incoming/breast-cancer/${version}/`;
    await s3.send(new PutObjectCommand({ Bucket: local.bucket, Key: `${dir}model.onnx`, Body: artifact }));
    // Kill the moment the release's journal entry exists: the execution has started and not ended.
    const seen = new Promise<string>((resolve) => {
      const watcher = watch(journalDir, (_, file) => {
        if (file?.endsWith('.json') && existsSync(path.join(journalDir, file))) {
          local.child.kill('SIGKILL');
          watcher.close();
          resolve(file);
        }
      });
    });
    await s3.send(
      new PutObjectCommand({
        Bucket: local.bucket,
        Key: `${dir}manifest.json`,
        Body: JSON.stringify({ ...manifest, version }),
      }),
    );
    s3.destroy();
    const file = await Promise.race([
      seen,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`no journal entry:\n${local.output()}`)), BOUND_MS),
      ),
    ]);
    await exited(local.child);
    // Dead now: the journal is frozen. Entry still there → the release was interrupted mid-way.
    if (existsSync(path.join(journalDir, file))) interrupted = { version, entry: file };
  }
  if (!interrupted) throw new Error(`the release always ended before SIGKILL landed (${ATTEMPTS} tries)`);

  const local = await startLocal(dataDir);
  const ddb = new DynamoDBClient({
    region: 'us-east-1',
    endpoint: local.dynamodbEndpoint,
    credentials: LOCAL_CREDENTIALS,
  });
  try {
    const { createDocumentClient } = await import('../../lambdas/adapters/clients');
    const doc = createDocumentClient(ddb);
    const version = interrupted.version;
    const record = await until(`${version} REGISTERED`, async () => {
      const r = await doc.send(
        new GetCommand({ TableName: 'ModelVersions', Key: { model: 'breast-cancer', version } }),
      );
      return (r.Item as { status?: string } | undefined)?.status === 'REGISTERED' ? r.Item : undefined;
    });
    expect(record).toMatchObject({ status: 'REGISTERED', sha256: manifest.artifact.sha256 });
    await until('the journal to empty', async () =>
      (await readdir(journalDir)).length === 0 ? true : undefined,
    );
    expect(local.output()).toContain(
      `resuming interrupted release execution ${interrupted.entry.slice(0, -5)}`,
    );
  } finally {
    ddb.destroy();
    local.child.kill('SIGTERM');
    await exited(local.child);
  }
}, 300_000);
