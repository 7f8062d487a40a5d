/**
 * Executions a crash interrupted: local mode journals each execution before it starts and forgets it when it ends;
 * a new start on the same data dir resumes every release left RUNNING (its steps are idempotent), or ends it with an
 * audited RELEASE_INTERRUPTED when its manifest is gone or it was interrupted too often. The crash is simulated by
 * journaling executions that never ran, then starting local mode again.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { status } from '../../cli/status';
import type { AuditEvent, AuditLogStore, VersionStore } from '../../lambdas/core/ports';
import { AUDIT_LOG_TABLE, MODEL_VERSIONS_TABLE } from '../../lambdas/core/tables';
import { parseConfig } from '../../lib/config';
import { emulatorClients } from '../../local/emulators';
import { ExecutionJournal, JOURNAL_DIR } from '../../local/journal';
import { memoryLogger, type LocalLogger } from '../../local/logger';
import { EXECUTION_JOURNAL, MAX_EXECUTION_ATTEMPTS, startLocalMode, type LocalMode } from '../../local/start';
import { loadExample, TEST_CONFIG } from './harness';

let dataDir: string;
const log = memoryLogger();
/** Set while the release's first line is logged: whether its journal entry was on disk by then. */
const journaledWhenStarted: boolean[] = [];
let journalDir: string;
const logger: LocalLogger = {
  ...log,
  info(m) {
    const started = /^\[release (\S+)\] started with/.exec(m);
    if (started) journaledWhenStarted.push(existsSync(path.join(journalDir, `${started[1]}.json`)));
    log.info(m);
  },
};

async function start(ports?: { s3: number; dynamodb: number }): Promise<LocalMode> {
  const mode = await startLocalMode({
    logger,
    dataDir,
    fresh: false,
    dynamodbPort: ports?.dynamodb ?? 0,
    s3Port: ports?.s3 ?? 0,
    config: parseConfig(TEST_CONFIG),
    retryIntervalMs: 10,
  });
  // Uploads in these tests stage bundles; only the journal starts executions.
  await mode.watcher.stop();
  return mode;
}

let first: LocalMode;
let second: LocalMode | undefined;
beforeAll(async () => {
  process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
  dataDir = await mkdtemp(path.join(tmpdir(), 'modelops-recovery-'));
  journalDir = path.join(dataDir, JOURNAL_DIR);
  first = await start();
});
afterAll(async () => {
  await first?.stop();
  await second?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

function port(endpoint: string): number {
  return Number(new URL(endpoint).port);
}

it('journals a release before it starts and forgets it when it ends', async () => {
  const { manifest, artifact } = await loadExample('credit-risk');
  const { emulators } = first;
  const s3 = emulatorClients(emulators).s3;
  await s3.send(
    new PutObjectCommand({
      Bucket: emulators.bucket,
      Key: 'incoming/credit-risk/j-1/model.onnx',
      Body: artifact,
    }),
  );
  const key = 'incoming/credit-risk/j-1/manifest.json';
  await s3.send(
    new PutObjectCommand({
      Bucket: emulators.bucket,
      Key: key,
      Body: JSON.stringify({ ...manifest, version: 'j-1' }),
    }),
  );
  s3.destroy();
  const result = await first.runtime.startRelease({ bucket: emulators.bucket, key }, 'credit-risk-j-1-run');
  expect(result.status).toBe('SUCCEEDED');
  expect(journaledWhenStarted).toEqual([true]);
  expect(await readdir(journalDir)).toEqual([]);
});

it('resumes an interrupted release to REGISTERED and audits RELEASE_INTERRUPTED for one it cannot resume', async () => {
  const { manifest, artifact } = await loadExample('breast-cancer');
  const { emulators } = first;
  const bucket = emulators.bucket;
  const s3 = emulatorClients(emulators).s3;
  await s3.send(
    new PutObjectCommand({ Bucket: bucket, Key: 'incoming/breast-cancer/r-1/model.onnx', Body: artifact }),
  );
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: 'incoming/breast-cancer/r-1/manifest.json',
      Body: JSON.stringify({ ...manifest, version: 'r-1' }),
    }),
  );
  s3.destroy();
  // The crash: entries journaled as RUNNING whose executions never ended, plus a temp file a crash left mid-write.
  const journal = new ExecutionJournal(journalDir);
  const entry = (name: string, version: string, attempt = 1) => ({
    stateMachine: 'release',
    name,
    input: { bucket, key: `incoming/breast-cancer/${version}/manifest.json` },
    startedAt: new Date().toISOString(),
    attempt,
    status: 'RUNNING' as const,
  });
  await journal.begin(entry('breast-cancer-r-1-crashed', 'r-1'));
  await journal.begin(entry('breast-cancer-r-2-crashed', 'r-2')); // its manifest was never uploaded
  await journal.begin(entry('breast-cancer-r-3-crashed', 'r-1', MAX_EXECUTION_ATTEMPTS));
  await writeFile(path.join(journalDir, 'breast-cancer-r-4.json.abcd.tmp'), '{"stat');
  const ports = { s3: port(emulators.s3Endpoint), dynamodb: port(emulators.dynamodbEndpoint) };
  await first.stop();

  // Same ports: the handler modules of this process keep the SDK clients they built at first load.
  second = await start(ports);
  const recovered = await second.recovery;
  expect(recovered).toEqual(
    expect.arrayContaining([
      expect.objectContaining({ name: 'breast-cancer-r-1-crashed', action: 'RESUMED', status: 'SUCCEEDED' }),
      expect.objectContaining({
        name: 'breast-cancer-r-2-crashed',
        action: 'INTERRUPTED',
        reason: 'its manifest no longer exists',
      }),
      expect.objectContaining({ name: 'breast-cancer-r-3-crashed', action: 'INTERRUPTED' }),
    ]),
  );
  expect(recovered).toHaveLength(3);
  expect(await readdir(journalDir)).toEqual([]);

  const { DynamoVersionStore } = await import('../../lambdas/adapters/dynamo-version-store');
  const { DynamoAuditLog } = await import('../../lambdas/adapters/dynamo-audit-log');
  const { createDocumentClient } = await import('../../lambdas/adapters/clients');
  const ddb = emulatorClients(second.emulators).dynamodb;
  const doc = createDocumentClient(ddb);
  const versions: VersionStore = new DynamoVersionStore(
    second.emulators.tables[MODEL_VERSIONS_TABLE.envVar]!,
    doc,
  );
  const audit: AuditLogStore = new DynamoAuditLog(second.emulators.tables[AUDIT_LOG_TABLE.envVar]!, doc);
  try {
    expect((await versions.getVersion('breast-cancer', 'r-1'))?.status).toBe('REGISTERED');
    const events = await audit.listAudit('breast-cancer');
    const interrupted = events.filter((e: AuditEvent) => e.type === 'RELEASE_INTERRUPTED');
    expect(interrupted.map((e) => [e.version, e.details.execution])).toEqual(
      expect.arrayContaining([
        ['r-2', 'breast-cancer-r-2-crashed'],
        ['r-1', 'breast-cancer-r-3-crashed'],
      ]),
    );
    expect(interrupted.find((e) => e.version === 'r-2')?.details).toMatchObject({
      input: { bucket, key: 'incoming/breast-cancer/r-2/manifest.json' },
      reason: 'its manifest no longer exists',
    });

    const out: string[] = [];
    await status(
      'breast-cancer',
      {} as never,
      {},
      { out: (l) => out.push(l), err: () => undefined },
      { versions, audit },
    );
    expect(out.join('\n')).toMatch(
      /RELEASE_INTERRUPTED\s+r-2\s+execution breast-cancer-r-2-crashed ended: its manifest no longer exists/,
    );
  } finally {
    ddb.destroy();
  }
  expect(log.lines.join('\n')).toMatch(/resuming interrupted release execution breast-cancer-r-1-crashed/);
  const results = (await readFile(path.join(dataDir, EXECUTION_JOURNAL), 'utf8')).trim().split('\n');
  expect(results.map((l) => (JSON.parse(l) as { name: string; status: string }).status)).toEqual(
    expect.arrayContaining(['SUCCEEDED', 'INTERRUPTED']),
  );
});
