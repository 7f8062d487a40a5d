/** `{Model, Arm}`: emitted only while a canary routes traffic, counting what the answering version counts. */
import { describe, expect, it } from 'vitest';
import { InMemoryMetricsSink } from '../../lambdas/adapters/in-memory-metrics-sink';
import { createOnnxBackend } from '../../lambdas/adapters/onnx-backend';
import { OnnxModelRuntime } from '../../lambdas/adapters/onnx-model-runtime';
import { createRequestMetrics } from '../../lambdas/inference/request-metrics';
import { armOf, createServingPipeline } from '../../lambdas/inference/serving-pipeline';
import { createVersionLoader } from '../../lambdas/inference/version-loader';
import type { DeploymentRecord } from '../../lambdas/core/ports';
import { seededRandom } from '../../lambdas/core/random';
import { FakeRegistry } from './fakes';
import {
  exampleBundle,
  FakeRouting,
  ledgerFor,
  MemoryLogger,
  publish,
  smokeInstances,
} from './inference-helpers';

const BC = 'breast-cancer';
const bundle = exampleBundle(BC);
const instance = smokeInstances(bundle)[0]!;
const onnx = createOnnxBackend(new OnnxModelRuntime());
const CANDIDATE_ARM = { Model: BC, Arm: 'candidate' };
const STABLE_ARM = { Model: BC, Arm: 'stable' };

function harness(record: Partial<DeploymentRecord>, publishCandidate = true) {
  const registry = new FakeRegistry();
  const routing = new FakeRouting();
  publish(registry, bundle, '1.0.0');
  if (publishCandidate) publish(registry, bundle, '2.0.0');
  routing.set(BC, record);
  const sink = new InMemoryMetricsSink();
  const logger = new MemoryLogger();
  const accounting = createRequestMetrics(sink, logger);
  const pipeline = createServingPipeline({
    models: [
      {
        name: BC,
        metrics: accounting.forModel(BC, 60_000),
        loader: createVersionLoader({
          model: BC,
          registry,
          versions: ledgerFor(registry),
          backend: onnx,
          logger,
          maxErrors: 100,
          failureTtlMs: 1_000,
          now: () => 0,
        }),
      },
    ],
    routing,
    backend: onnx,
    routingCacheTtlMs: 1_000,
    logger,
    now: () => 0,
    random: seededRandom(7),
    afterResponse: () => undefined,
  });
  let n = 0;
  const serve = () => pipeline.serve(BC, { requestId: `a-${++n}`, instances: [instance] });
  return { sink, serve };
}

describe('Arm dimension', () => {
  it('armOf: only for a canary with a distinct candidate', () => {
    const base = { model: BC, weight: 0.5, revision: 1, updatedAt: '' } as const;
    expect(armOf({ ...base, mode: 'canary', stable: '1', candidate: '2' }, '2')).toBe('candidate');
    expect(armOf({ ...base, mode: 'canary', stable: '1', candidate: '2' }, '1')).toBe('stable');
    expect(armOf({ ...base, mode: 'canary', stable: '1' }, '1')).toBeUndefined();
    expect(armOf({ ...base, mode: 'canary', stable: '1', candidate: '1' }, '1')).toBeUndefined();
    expect(armOf({ ...base, mode: 'shadow', stable: '1', candidate: '2' }, '1')).toBeUndefined();
  });

  it('splits a canary into candidate and stable arms that add up to {Model}', async () => {
    const h = harness({ stable: '1.0.0', candidate: '2.0.0', weight: 0.5 });
    for (let i = 0; i < 40; i++) expect((await h.serve()).kind).toBe('served');
    const cand = h.sink.sum('Requests', CANDIDATE_ARM);
    const stable = h.sink.sum('Requests', STABLE_ARM);
    expect(cand).toBeGreaterThan(0);
    expect(stable).toBeGreaterThan(0);
    expect(cand + stable).toBe(h.sink.sum('Requests', { Model: BC }));
    expect(cand).toBe(h.sink.sum('Requests', { Model: BC, Version: '2.0.0' }));
    expect(h.sink.get('SlowRequests', CANDIDATE_ARM)?.count).toBe(cand);
  });

  it('is absent without a candidate', async () => {
    const h = harness({ stable: '1.0.0' });
    await h.serve();
    expect(h.sink.get('Requests', STABLE_ARM)).toBeUndefined();
    expect(h.sink.get('Requests', CANDIDATE_ARM)).toBeUndefined();
  });

  it('counts a candidate that cannot serve as errors under Arm=candidate, the fallback under Arm=stable', async () => {
    const h = harness({ stable: '1.0.0', candidate: '2.0.0', weight: 1 }, false);
    for (let i = 0; i < 3; i++) expect((await h.serve()).kind).toBe('served');
    expect(h.sink.sum('Requests', CANDIDATE_ARM)).toBe(3);
    expect(h.sink.sum('Errors', CANDIDATE_ARM)).toBe(3);
    expect(h.sink.sum('Errors', STABLE_ARM)).toBe(0);
    expect(h.sink.sum('Requests', STABLE_ARM)).toBe(3);
    expect(h.sink.sum('Errors', { Model: BC })).toBe(0);
  });
});
