/**
 * Local mode binds each release function only what its wiring row grants (lib/workflows/release.ts): a handler
 * reading a table or setting its row does not bind fails locally as it would in Lambda, and every row grants exactly
 * what its handler reads. Real ASL, real handlers, emulators.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalModelSigner } from '../../lambdas/adapters/local-signer';
import type { AuditEvent } from '../../lambdas/core/ports';
import { parseConfig } from '../../lib/config';
import { RELEASE_WORKFLOW } from '../../lib/workflows/release';
import { boundVariableNames, type Workflow } from '../../lib/workflows/types';
import { emulatorClients, startEmulators, type Emulators } from '../../local/emulators';
import { memoryLogger } from '../../local/logger';
import { createLocalRuntime, type LocalRuntime } from '../../local/runtime';
import { loadExample, TEST_CONFIG } from './harness';

let emulators: Emulators;
let dataDir: string;
let s3: S3Client;
const config = parseConfig(TEST_CONFIG);

/** The release wiring with one table binding removed from one row. */
function withoutTable(id: string, table: 'auditLog' | 'deployments'): Workflow {
  return {
    ...RELEASE_WORKFLOW,
    functions: RELEASE_WORKFLOW.functions.map((fn) => {
      if (fn.id !== id) return fn;
      const tables: Record<string, string> = { ...fn.tables };
      delete tables[table];
      return { ...fn, tables };
    }),
  } as Workflow;
}

async function stageExample(version: string, edit: (m: Record<string, unknown>) => void = () => {}) {
  const { manifest, artifact } = await loadExample('credit-risk');
  const dir = `incoming/credit-risk/${version}/`;
  const body = { ...manifest, version };
  edit(body);
  await s3.send(new PutObjectCommand({ Bucket: emulators.bucket, Key: `${dir}model.onnx`, Body: artifact }));
  await s3.send(
    new PutObjectCommand({
      Bucket: emulators.bucket,
      Key: `${dir}manifest.json`,
      Body: JSON.stringify(body),
    }),
  );
  return { bucket: emulators.bucket, key: `${dir}manifest.json` };
}

beforeAll(async () => {
  process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
  dataDir = await mkdtemp(path.join(tmpdir(), 'modelops-binding-'));
  emulators = await startEmulators({ dataDir, fresh: true, dynamodbPort: 0, s3Port: 0 });
  s3 = emulatorClients(emulators).s3;
});
afterAll(async () => {
  s3?.destroy();
  await emulators?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

function runtime(releaseWorkflow?: Workflow): Promise<LocalRuntime> {
  // Runtimes share these emulators, so the handler modules' SDK clients (built from process.env) stay valid.
  return createLocalRuntime({
    emulators,
    config,
    logger: memoryLogger(),
    retryIntervalMs: 1,
    ...(releaseWorkflow ? { releaseWorkflow } : {}),
  });
}

/** The project's stores, outside any Task: they read the table names from process.env, which holds them all. */
async function stores() {
  const { DynamoAuditLog } = await import('../../lambdas/adapters/dynamo-audit-log');
  const { DynamoDeploymentStore } = await import('../../lambdas/adapters/dynamo-deployment-store');
  return { audit: DynamoAuditLog.fromEnv(), deployments: DynamoDeploymentStore.fromEnv() };
}

async function auditOf(version: string): Promise<AuditEvent[]> {
  return (await (await stores()).audit.listAudit('credit-risk')).filter((e) => e.version === version);
}

const ROLLOUT_ROWS: readonly string[] = [
  'StartRollout',
  'AnalyzeCanary',
  'AdvanceRollout',
  'DeployCandidate',
];

describe('local binding fidelity', () => {
  it('runs each real row green with only its own bindings, and each handler reads exactly what its row binds', async () => {
    const rt = await runtime();
    const first = await rt.startRelease(await stageExample('b-1'));
    expect(first.status, JSON.stringify(first)).toBe('SUCCEEDED');
    // With b-1 as the stable version, validating b-2 compares against a champion (its record in ModelVersions).
    await (
      await stores()
    ).deployments.putDeployment(
      {
        model: 'credit-risk',
        stable: 'b-1',
        weight: 0,
        mode: 'canary',
        revision: 1,
        updatedAt: new Date().toISOString(),
      },
      { expectedRevision: undefined },
    );
    const registered = await rt.startRelease(await stageExample('b-2'));
    expect(registered.status, JSON.stringify(registered)).toBe('SUCCEEDED');
    const rejected = await rt.startRelease(
      await stageExample('b-5', (m) => {
        m.framework = 'tensorflow';
      }),
    );
    expect(rejected.error).toBe('ArtifactRejected');

    // The rollout rows run (with the canary on and live traffic) in rollout.test.ts, which checks them the same way.
    for (const row of RELEASE_WORKFLOW.functions.filter((r) => !ROLLOUT_ROWS.includes(r.id))) {
      const reads = [...rt.releaseEnvironments.get(row.id)!.reads()].sort();
      expect(reads, row.id).toEqual(boundVariableNames(row));
    }

    // The signing setting reached RegisterVersion: b-1 is signed by the key pair in the local data directory.
    const details = (await auditOf('b-1')).find((e) => e.type === 'REGISTERED')!.details as Record<
      string,
      string
    >;
    const signer = LocalModelSigner.open(emulators.dataDir);
    expect(details.signingKeyId).toBe(signer.keyId);
    expect(
      await signer.verify(Buffer.from(details.sha256!, 'hex'), Buffer.from(details.signature!, 'base64')),
    ).toBe(true);
  });

  it('fails ValidateArtifact with the ConfigurationError naming AUDIT_LOG_TABLE when its row does not bind the AuditLog', async () => {
    const rt = await runtime(withoutTable('ValidateArtifact', 'auditLog'));
    const result = await rt.startRelease(await stageExample('b-3'));
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('ReleaseFailed');
    const failed = result.history.find((e) => e.type === 'StateFailed' && e.state === 'ValidateArtifact');
    const cause = JSON.parse(String(failed?.cause)) as { errorType: string; errorMessage: string };
    expect(cause).toMatchObject({
      errorType: 'ConfigurationError',
      errorMessage:
        'environment variable AUDIT_LOG_TABLE is not set; the stack (or local mode) must set it on this function',
    });
    // RecordFailure (bound to the AuditLog) recorded the misconfiguration in the ledger.
    const events = await auditOf('b-3');
    expect(events.map((e) => [e.type, (e.details as { error?: unknown }).error])).toEqual([
      ['RELEASE_FAILED', 'ConfigurationError'],
    ]);
  });

  it('fails ValidateArtifact naming DEPLOYMENTS_TABLE when its row does not bind the Deployments table', async () => {
    const rt = await runtime(withoutTable('ValidateArtifact', 'deployments'));
    const result = await rt.startRelease(await stageExample('b-4'));
    expect(result.error).toBe('ReleaseFailed');
    const events = await auditOf('b-4');
    expect(events).toHaveLength(1);
    expect(String((events[0]!.details as { cause?: unknown }).cause)).toContain(
      'environment variable DEPLOYMENTS_TABLE is not set',
    );
  });
});
