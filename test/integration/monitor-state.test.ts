/**
 * DynamoMonitorStateStore on dynalite: the first write needs no record, every later write names the revision it
 * read, and of two runs that read the same revision exactly one writes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createDocumentClient } from '../../lambdas/adapters/clients';
import { DynamoMonitorStateStore } from '../../lambdas/adapters/dynamo-monitor-state';
import { MonitorStateConflictError, type MonitorStateRecord } from '../../lambdas/core/ports';
import { MONITOR_STATE_TABLE } from '../../lambdas/core/tables';
import { emulatorClients, startEmulators, type Emulators } from '../../local/emulators';

let dataDir: string;
let emulators: Emulators;
let dynamodb: DynamoDBClient;
let store: DynamoMonitorStateStore;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'modelops-monitor-state-'));
  emulators = await startEmulators({ dataDir, fresh: true, dynamodbPort: 0, s3Port: 0 });
  dynamodb = emulatorClients(emulators).dynamodb;
  store = new DynamoMonitorStateStore(
    emulators.tables[MONITOR_STATE_TABLE.envVar]!,
    createDocumentClient(dynamodb),
  );
}, 60_000);

afterAll(async () => {
  dynamodb?.destroy();
  await emulators?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

function record(model: string, revision: number, recent: boolean[]): MonitorStateRecord {
  return {
    model,
    kind: 'drift',
    version: '1.0.0',
    state: { status: 'OK', recent, calm: 0 },
    revision,
    updatedAt: `2026-01-01T00:${String(revision).padStart(2, '0')}:00.000Z`,
  };
}

describe('DynamoMonitorStateStore', () => {
  it('writes the first record only when none exists, and reads it back as written', async () => {
    expect(await store.getState('first', 'drift')).toBeUndefined();
    const first = record('first', 1, [true]);
    await store.putState(first, { expectedRevision: undefined });
    expect(await store.getState('first', 'drift')).toEqual(first);
    // Another kind of the same model is its own item.
    expect(await store.getState('first', 'retrain')).toBeUndefined();

    // A second "first write" (a run that read no record) conflicts and changes nothing.
    const err = await store
      .putState(record('first', 1, [false]), { expectedRevision: undefined })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MonitorStateConflictError);
    expect(err).toMatchObject({ model: 'first', kind: 'drift', expectedRevision: undefined });
    expect(await store.getState('first', 'drift')).toEqual(first);
  });

  it('refuses a write on a stale revision with MonitorStateConflictError and keeps the newer state', async () => {
    await store.putState(record('stale', 1, [true]), { expectedRevision: undefined });
    const second = record('stale', 2, [true, true]);
    await store.putState(second, { expectedRevision: 1 });

    // A run that read revision 1 before the write above.
    const err = await store
      .putState(record('stale', 2, [true, false]), { expectedRevision: 1 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MonitorStateConflictError);
    expect((err as Error).message).toMatch(
      /the drift monitor state of stale changed while this run was writing it \(expected revision 1\)/,
    );
    expect(await store.getState('stale', 'drift')).toEqual(second);
    // A revision never written is stale too.
    await expect(store.putState(record('stale', 9, []), { expectedRevision: 8 })).rejects.toBeInstanceOf(
      MonitorStateConflictError,
    );
  });

  it.each([
    ['the first write', undefined],
    ['a later write', 1],
  ])('lets exactly one of two concurrent writers win %s', async (_label, expected) => {
    const model = `race-${expected ?? 'none'}`;
    if (expected !== undefined) await store.putState(record(model, 1, []), { expectedRevision: undefined });
    const next = (expected ?? 0) + 1;
    const writers = [record(model, next, [true]), record(model, next, [false])];
    for (let round = 0; round < 5; round++) {
      const results = await Promise.allSettled(
        writers.map((w) =>
          store.putState(
            { ...w, revision: next + round },
            { expectedRevision: round === 0 ? expected : next + round - 1 },
          ),
        ),
      );
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(won, `round ${round}`).toHaveLength(1);
      expect(lost).toHaveLength(1);
      expect(lost[0]!.reason).toBeInstanceOf(MonitorStateConflictError);
      // The stored state is the winner's, whole.
      const winner = writers[results.indexOf(won[0]!)]!;
      expect(await store.getState(model, 'drift')).toEqual({ ...winner, revision: next + round });
    }
  });
});
