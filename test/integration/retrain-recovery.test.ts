/**
 * A retrain a local crash interrupted: the next start does not re-run it, but releases the model's retrain slot as
 * RecordFailure would (RETRAIN_FAILED audited, backoff), so the Guard does not skip every trigger with RETRAIN_RUNNING
 * until the state machine's 8 h timeout. The crash is simulated by journaling an execution that never ran and
 * writing the retrain state its Guard would have written.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RETRAIN_STATE_KIND, type RetrainState } from '../../lambdas/core/retrain-policy';
import { AUDIT_LOG_TABLE, MONITOR_STATE_TABLE } from '../../lambdas/core/tables';
import { parseConfig, type ModelOpsConfigInput } from '../../lib/config';
import { emulatorClients } from '../../local/emulators';
import { ExecutionJournal, JOURNAL_DIR } from '../../local/journal';
import { memoryLogger } from '../../local/logger';
import { startLocalMode, type LocalMode } from '../../local/start';

const MODEL = 'breast-cancer';
const CONFIG: ModelOpsConfigInput = {
  models: [
    {
      name: MODEL,
      owner: 'ml-platform',
      retrain: {
        enabled: true,
        backoffMinutes: 30,
        trainer: { command: ['node', 'train.js'] },
        championGate: { metric: 'auc' },
      },
    },
  ],
};
const NAME = 'breast-cancer-retrain-manual-20261204120000000-dead';
const EXECUTION_ARN = `arn:aws:states:us-east-1:000000000000:execution:retrain:${NAME}`;

let dataDir: string;
const log = memoryLogger();
let mode: LocalMode | undefined;

const start = () =>
  startLocalMode({
    logger: log,
    dataDir,
    fresh: false,
    dynamodbPort: 0,
    s3Port: 0,
    config: parseConfig(CONFIG),
    retryIntervalMs: 10,
  });

beforeAll(async () => {
  process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
  dataDir = await mkdtemp(path.join(tmpdir(), 'modelops-retrain-recovery-'));
  // First life: the Guard took the slot, then the process died mid-run.
  const first = await start();
  await first.recovery;
  const { DynamoMonitorStateStore } = await import('../../lambdas/adapters/dynamo-monitor-state');
  const { createDocumentClient } = await import('../../lambdas/adapters/clients');
  const { dynamodb } = emulatorClients(first.emulators);
  const store = new DynamoMonitorStateStore(
    first.emulators.tables[MONITOR_STATE_TABLE.envVar]!,
    createDocumentClient(dynamodb),
  );
  const running: RetrainState = {
    counter: 1,
    running: {
      runId: 'r1',
      executionId: EXECUTION_ARN,
      startedAt: new Date().toISOString(),
      trigger: 'manual',
      parentVersion: '1.0.0',
    },
    lastStartedAt: new Date().toISOString(),
    day: new Date().toISOString().slice(0, 10),
    startsOnDay: 1,
    consecutiveFailures: 0,
    recentEventIds: [],
  };
  await store.putState(
    {
      model: MODEL,
      kind: RETRAIN_STATE_KIND,
      version: '1.0.0',
      state: running,
      revision: 1,
      updatedAt: new Date().toISOString(),
    },
    { expectedRevision: undefined },
  );
  await new ExecutionJournal(path.join(first.emulators.dataDir, JOURNAL_DIR)).begin({
    stateMachine: 'retrain',
    name: NAME,
    input: { model: MODEL, trigger: 'manual', reason: 'before the crash' },
    startedAt: new Date().toISOString(),
    attempt: 1,
    status: 'RUNNING',
  });
  dynamodb.destroy();
  await first.stop();
}, 60_000);

afterAll(async () => {
  await mode?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

it('ends the interrupted retrain, frees its slot with backoff and audits RETRAIN_FAILED', async () => {
  mode = await start();
  const recovered = await mode.recovery;
  expect(recovered).toEqual([
    expect.objectContaining({
      name: NAME,
      stateMachine: 'retrain',
      action: 'INTERRUPTED',
      status: 'INTERRUPTED',
    }),
  ]);
  const { DynamoMonitorStateStore } = await import('../../lambdas/adapters/dynamo-monitor-state');
  const { DynamoAuditLog } = await import('../../lambdas/adapters/dynamo-audit-log');
  const { createDocumentClient } = await import('../../lambdas/adapters/clients');
  const { dynamodb } = emulatorClients(mode.emulators);
  const doc = createDocumentClient(dynamodb);
  const record = await new DynamoMonitorStateStore(
    mode.emulators.tables[MONITOR_STATE_TABLE.envVar]!,
    doc,
  ).getState(MODEL, RETRAIN_STATE_KIND);
  const state = record!.state as RetrainState;
  expect(state.running).toBeUndefined();
  expect(state).toMatchObject({ lastRunId: 'r1', lastOutcome: 'failed', consecutiveFailures: 1 });
  expect(Date.parse(state.backoffUntil!)).toBeGreaterThan(Date.now() + 29 * 60_000);
  const audit = await new DynamoAuditLog(mode.emulators.tables[AUDIT_LOG_TABLE.envVar]!, doc).listAudit(
    MODEL,
  );
  expect(audit.find((e) => e.type === 'RETRAIN_FAILED')).toMatchObject({
    actor: EXECUTION_ARN,
    details: { outcome: 'failed', runId: 'r1', step: 'LocalModeInterrupted' },
  });
  expect(log.lines.join('\n')).toMatch(
    /retrain execution .* was interrupted and ended: .*its retrain slot is free/,
  );
  dynamodb.destroy();
}, 60_000);
