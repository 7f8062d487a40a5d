import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DynamoDriftCounterStore } from '../../lambdas/adapters/dynamo-drift-counters';
import { createDocumentClient } from '../../lambdas/adapters/clients';
import { DRIFT_BUCKET_MS, layoutOf } from '../../lambdas/core/drift-counter';
import type { Baseline } from '../../lambdas/core/manifest';
import { emulatorClients, startEmulators, type Emulators } from '../../local/emulators';

let dataDir: string;
let emulators: Emulators;
let dynamodb: DynamoDBClient;
let store: DynamoDriftCounterStore;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), 'modelops-drift-'));
  emulators = await startEmulators({ dataDir, fresh: true, dynamodbPort: 0, s3Port: 0 });
  dynamodb = emulatorClients(emulators).dynamodb;
  store = new DynamoDriftCounterStore(
    createDocumentClient(dynamodb),
    emulators.tables['DRIFT_COUNTERS_TABLE']!,
  );
}, 60_000);

afterAll(async () => {
  dynamodb?.destroy();
  await emulators?.stop();
  await rm(dataDir, { recursive: true, force: true });
});

describe('DynamoDriftCounterStore', () => {
  it('sums concurrent writers exactly and reads [from, to) windows', async () => {
    const one = { total: 1, features: { x: { counts: [1, 0, 0], missing: 0 } } };
    const two = { total: 2, features: { x: { counts: [0, 1, 0], missing: 1 } } };
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => store.addCounts('m', 'v1', 0, i % 2 === 0 ? one : two)),
    );
    await store.addCounts('m', 'v1', DRIFT_BUCKET_MS, one);
    await store.addCounts('m', 'v2', 0, one);
    const layout = { features: { x: 3 } };
    const first = await store.readWindow('m', 'v1', 0, DRIFT_BUCKET_MS, layout);
    expect(first).toEqual({
      itemsRead: 1,
      counts: { total: 30, features: { x: { counts: [10, 10, 0], missing: 10 } } },
    });
    const both = await store.readWindow('m', 'v1', 0, 2 * DRIFT_BUCKET_MS, layout);
    expect(both.itemsRead).toBe(2);
    expect(both.counts?.total).toBe(31);
    expect(await store.readWindow('m', 'v3', 0, DRIFT_BUCKET_MS, layout)).toEqual({
      counts: undefined,
      itemsRead: 0,
    });
  });

  it('splits a wide bucket across several updates and reads every counter back', async () => {
    const features: Record<string, { counts: number[]; missing: number }> = {};
    const layout: Record<string, number> = {};
    for (let f = 0; f < 40; f++) {
      features[`feature_${f}`] = { counts: Array.from({ length: 11 }, (_, i) => i + 1), missing: 1 };
      layout[`feature_${f}`] = 11;
    }
    await store.addCounts('wide', 'v1', 0, { total: 5, features });
    const read = await store.readWindow('wide', 'v1', 0, DRIFT_BUCKET_MS, { features: layout });
    expect(read.counts).toEqual({ total: 5, features });
  });

  it('keeps prediction counters apart from feature counters of the same name, in the baseline layout', async () => {
    const baseline: Baseline = {
      referenceCount: 4,
      features: { x: { kind: 'numeric', edges: [0, 1], counts: [0, 4, 0], missing: 0 } },
      predictions: {
        x: { kind: 'categorical', categories: ['a', 'b'], counts: [2, 2, 0], missing: 0 },
        'p.top': { kind: 'numeric', edges: [0.5, 0.8, 1], counts: [0, 2, 2, 0], missing: 0 },
      },
    };
    const counts = {
      total: 3,
      features: { x: { counts: [0, 3, 0], missing: 0 } },
      predictions: { x: { counts: [1, 1, 0], missing: 1 }, 'p.top': { counts: [0, 0, 2, 0], missing: 1 } },
    };
    await store.addCounts('pred', 'v1', 0, counts);
    await store.addCounts('pred', 'v1', 0, counts);
    const read = await store.readWindow('pred', 'v1', 0, DRIFT_BUCKET_MS, layoutOf(baseline));
    expect(read.counts).toEqual({
      total: 6,
      features: { x: { counts: [0, 6, 0], missing: 0 } },
      predictions: { x: { counts: [2, 2, 0], missing: 2 }, 'p.top': { counts: [0, 0, 4, 0], missing: 2 } },
    });
    // A layout without prediction bins (a feature-only baseline) reads features only.
    const featuresOnly = await store.readWindow('pred', 'v1', 0, DRIFT_BUCKET_MS, { features: { x: 3 } });
    expect(featuresOnly.counts).toEqual({ total: 6, features: { x: { counts: [0, 6, 0], missing: 0 } } });
  });
});
