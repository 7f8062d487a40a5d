/**
 * DynamoPredictionLog on the local DynamoDB emulator: the item round-trips, labels are stored by one conditional
 * write (duplicate → idempotent, different → conflict) and of two concurrent different labels exactly one wins.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDocumentClient } from '../../lambdas/adapters/clients';
import { DynamoPredictionLog } from '../../lambdas/adapters/dynamo-prediction-log';
import type { LoggedPrediction } from '../../lambdas/core/feedback';
import { PREDICTION_LOG_TABLE } from '../../lambdas/core/tables';
import { emulatorClients, startEmulators, type Emulators } from '../../local/emulators';

let dataDir: string;
let emulators: Emulators;
let ddb: DynamoDBClient;
let log: DynamoPredictionLog;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'modelops-prediction-log-'));
  emulators = await startEmulators({ dataDir, fresh: true, dynamodbPort: 0, s3Port: 0 });
  ddb = emulatorClients(emulators).dynamodb;
  log = new DynamoPredictionLog(emulators.tables[PREDICTION_LOG_TABLE.envVar]!, createDocumentClient(ddb));
});
afterAll(async () => {
  ddb?.destroy();
  await emulators?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

function item(requestId: string): LoggedPrediction {
  return {
    model: 'breast-cancer',
    requestId,
    version: '1.0.0',
    at: '2026-01-31T12:00:00.000Z',
    kind: 'classification',
    output: 'label',
    predictions: ['benign', 'malignant'],
    expiresAt: 1_900_000_000,
  };
}

describe('DynamoPredictionLog on the emulator', () => {
  it('round-trips a logged prediction and reports an unknown request id as absent', async () => {
    await log.putPrediction(item('r-1'));
    expect(await log.getPrediction('breast-cancer', 'r-1')).toEqual(item('r-1'));
    expect(await log.getPrediction('breast-cancer', 'nope')).toBeUndefined();
    expect(await log.getPrediction('credit-risk', 'r-1')).toBeUndefined();
  });

  it('records labels once: the same labels again are a duplicate, different ones a conflict', async () => {
    await log.putPrediction(item('r-2'));
    const at = '2026-01-31T12:05:00.000Z';
    expect(await log.recordLabel(item('r-2'), ['benign', 'benign'], at)).toEqual({ kind: 'recorded' });
    expect(await log.recordLabel(item('r-2'), ['benign', 'benign'], at)).toEqual({ kind: 'duplicate' });
    expect(await log.recordLabel(item('r-2'), ['malignant', 'benign'], at)).toEqual({
      kind: 'conflict',
      existing: ['benign', 'benign'],
    });
    expect(await log.getPrediction('breast-cancer', 'r-2')).toEqual({
      ...item('r-2'),
      labels: ['benign', 'benign'],
      labelledAt: at,
    });
  });

  it('never creates an item by labelling a request id that was not logged', async () => {
    expect(await log.recordLabel(item('r-ghost'), ['benign', 'benign'], 'now')).toEqual({
      kind: 'not-found',
    });
    expect(await log.getPrediction('breast-cancer', 'r-ghost')).toBeUndefined();
  });

  it('lets exactly one of two concurrent different labels win', async () => {
    for (let round = 0; round < 5; round++) {
      const id = `race-${round}`;
      await log.putPrediction(item(id));
      const results = await Promise.all([
        log.recordLabel(item(id), ['benign', 'benign'], 'a'),
        log.recordLabel(item(id), ['malignant', 'malignant'], 'b'),
      ]);
      const kinds = results.map((r) => r.kind).sort();
      expect(kinds).toEqual(['conflict', 'recorded']);
      const winner = results[0]!.kind === 'recorded' ? ['benign', 'benign'] : ['malignant', 'malignant'];
      expect((await log.getPrediction('breast-cancer', id))?.labels).toEqual(winner);
    }
  });
});
