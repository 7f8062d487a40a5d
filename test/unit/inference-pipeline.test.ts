/**
 * The serving pipeline without HTTP: parsed requests in, outcomes and metrics out. Covers the fallback accounting
 * rule (lambdas/inference/request-metrics.ts) for every way a chosen version can fail to serve.
 */
import { describe, expect, it } from 'vitest';
import { InMemoryMetricsSink } from '../../lambdas/adapters/in-memory-metrics-sink';
import { createOnnxBackend } from '../../lambdas/adapters/onnx-backend';
import { OnnxModelRuntime } from '../../lambdas/adapters/onnx-model-runtime';
import { registeredManifestKey } from '../../lambdas/core/keys';
import type { InferenceBackend } from '../../lambdas/core/ports';
import { seededRandom } from '../../lambdas/core/random';
import { composeHooks, type AfterResponseHook } from '../../lambdas/inference/hooks';
import { createRequestMetrics } from '../../lambdas/inference/request-metrics';
import { createServingPipeline, type ServeOutcome } from '../../lambdas/inference/serving-pipeline';
import { createVersionLoader } from '../../lambdas/inference/version-loader';
import { FakeRegistry } from './fakes';
import {
  classifierOutputs,
  exampleBundle,
  fakeBackend,
  FakeRouting,
  MemoryLogger,
  publish,
  smokeInstances,
  ledgerFor,
} from './inference-helpers';

const BC = 'breast-cancer';
const breastCancer = exampleBundle(BC);
const instance = smokeInstances(breastCancer)[0]!;
const onnx = createOnnxBackend(new OnnxModelRuntime());
const STABLE = { Model: BC, Version: '1.0.0' };
const CANDIDATE = { Model: BC, Version: '2.0.0' };
const MODEL = { Model: BC };
const TTL_MS = 1_000;

function pipelineHarness(
  setup: (registry: FakeRegistry, routing: FakeRouting) => void,
  options: { backend?: InferenceBackend; hooks?: readonly AfterResponseHook[] } = {},
) {
  const registry = new FakeRegistry();
  const routing = new FakeRouting();
  setup(registry, routing);
  const sink = new InMemoryMetricsSink();
  const logger = new MemoryLogger();
  const clock = { now: 0 };
  const backend = options.backend ?? onnx;
  const accounting = createRequestMetrics(sink, logger);
  const now = () => clock.now;
  const pipeline = createServingPipeline({
    models: [
      {
        name: BC,
        metrics: accounting.forModel(BC),
        loader: createVersionLoader({
          model: BC,
          registry,
          versions: ledgerFor(registry),
          backend,
          logger,
          maxErrors: 100,
          failureTtlMs: TTL_MS,
          now,
        }),
      },
    ],
    routing,
    backend,
    routingCacheTtlMs: TTL_MS,
    logger,
    now,
    random: seededRandom(1),
    afterResponse: composeHooks(options.hooks ?? [], logger),
  });
  let n = 0;
  const serve = (instances: readonly unknown[] = [instance]): Promise<ServeOutcome> =>
    pipeline.serve(BC, { requestId: `p-${++n}`, instances });
  return { pipeline, serve, registry, routing, sink, logger, clock };
}

/** Stable 1.0.0 is good; candidate 2.0.0 is set up by `broken` and gets all the traffic. */
const brokenCandidate =
  (broken: (registry: FakeRegistry) => void) => (registry: FakeRegistry, routing: FakeRouting) => {
    publish(registry, breastCancer, '1.0.0');
    broken(registry);
    routing.set(BC, { stable: '1.0.0', candidate: '2.0.0', weight: 1 });
  };

describe('serving pipeline: without HTTP', () => {
  it('serves a parsed request and returns the context the hooks get', async () => {
    const h = pipelineHarness((registry, routing) => {
      publish(registry, breastCancer, '1.0.0');
      routing.set(BC, { stable: '1.0.0' });
    });
    const outcome = await h.serve();
    expect(outcome).toMatchObject({
      kind: 'served',
      requestId: 'p-1',
      model: BC,
      version: '1.0.0',
      chosenVersion: '1.0.0',
      instances: [instance],
      headers: { 'x-modelops-version': '1.0.0' },
    });
    if (outcome.kind !== 'served') throw new Error('not served');
    expect(outcome.predictions).toEqual([
      {
        label: 'malignant',
        probabilities: { malignant: expect.closeTo(0.9964, 4), benign: expect.closeTo(0.0036, 4) },
      },
    ]);
    expect(h.sink.sum('Requests', STABLE)).toBe(1);
    expect(h.sink.sum('Requests', MODEL)).toBe(1);
  });

  it('returns the field errors of invalid instances, counted as InvalidInput under the version', async () => {
    const h = pipelineHarness((registry, routing) => {
      publish(registry, breastCancer, '1.0.0');
      routing.set(BC, { stable: '1.0.0' });
    });
    const outcome = await h.serve([{ ...instance, mean_radius: 'big' }]);
    expect(outcome).toMatchObject({
      kind: 'invalid',
      message: "the instances do not match the model's input schema",
      details: [{ path: 'instances[0].mean_radius', message: 'must be a finite number, got "big"' }],
    });
    expect(h.sink.sum('InvalidInput', STABLE)).toBe(1);
    expect(h.sink.sum('Errors', MODEL)).toBe(0);
  });

  it('fails with not-servable, counted as an error under {Model}, when nothing was promoted', async () => {
    const h = pipelineHarness(() => undefined);
    const outcome = await h.serve();
    expect(outcome).toEqual({
      kind: 'not-servable',
      message:
        'no deployment record: no version of this model has been released yet. Promote a registered version first ' +
        `(locally: modelops promote ${BC} <version>).`,
    });
    expect(h.sink.sum('Errors', MODEL)).toBe(1);
  });

  it('has no hook runner without hooks, and runs the given ones with the served context', async () => {
    expect(composeHooks([], new MemoryLogger())).toBeUndefined();
    const seen: string[] = [];
    const h = pipelineHarness(
      (registry, routing) => {
        publish(registry, breastCancer, '1.0.0');
        routing.set(BC, { stable: '1.0.0' });
      },
      { hooks: [{ name: 'probe', onServed: (ctx) => void seen.push(`${ctx.requestId} ${ctx.version}`) }] },
    );
    const outcome = await h.serve();
    if (outcome.kind !== 'served') throw new Error('not served');
    // A hook that finishes synchronously leaves nothing to await.
    expect(h.pipeline.afterResponse(outcome)).toBeUndefined();
    expect(seen).toEqual(['p-1 1.0.0']);
  });
});

const N = 5;

describe('serving pipeline: a chosen version that cannot serve is counted, stable answers', () => {
  const cases: { name: string; broken: (registry: FakeRegistry) => void; backend?: InferenceBackend }[] = [
    {
      name: 'its artifact fails the sha256 check',
      broken: (r) => void publish(r, breastCancer, '2.0.0', { tamper: true }),
    },
    {
      name: 'its ONNX session cannot be created (garbage bytes, correctly registered hash)',
      broken: (r) =>
        void publish(r, breastCancer, '2.0.0', { bytes: Buffer.from('these bytes are not an ONNX model') }),
    },
    {
      name: 'its backend load throws',
      broken: (r) => void publish(r, breastCancer, '2.0.0'),
      backend: {
        kind: 'in-process',
        async load(version, manifest, bytes) {
          if (version === '2.0.0') throw new Error('out of memory creating the session');
          return onnx.load(version, manifest, bytes);
        },
      },
    },
    { name: 'its manifest object is missing', broken: () => undefined },
    {
      name: 'its manifest is not JSON',
      broken: (r) => {
        publish(r, breastCancer, '2.0.0');
        // An old record without manifestSha256: the parse, not the ledger, refuses it.
        ledgerFor(r).patch(BC, '2.0.0', { manifestSha256: undefined });
        r.put(registeredManifestKey(BC, '2.0.0'), '{"name": "breast-cancer", ');
      },
    },
  ];

  it.each(cases)(
    '$name: every request an error under the candidate, none under {Model}',
    async ({ broken, backend }) => {
      const h = pipelineHarness(brokenCandidate(broken), backend === undefined ? {} : { backend });
      for (let i = 0; i < N; i++) {
        const outcome = await h.serve();
        expect(outcome).toMatchObject({ kind: 'served', version: '1.0.0', chosenVersion: '2.0.0' });
        // Past the failure TTL: the candidate is tried again, and counted again.
        if (i === 2) h.clock.now += TTL_MS;
      }
      expect(h.sink.sum('Requests', CANDIDATE)).toBe(N);
      expect(h.sink.sum('Errors', CANDIDATE)).toBe(N);
      expect(h.sink.sum('Fallbacks', CANDIDATE)).toBe(N);
      expect(h.sink.sum('Requests', STABLE)).toBe(N);
      expect(h.sink.sum('Errors', STABLE)).toBe(0);
      expect(h.sink.sum('Fallbacks', STABLE)).toBe(0);
      expect(h.sink.sum('Requests', MODEL)).toBe(N);
      expect(h.sink.sum('Errors', MODEL)).toBe(0);
      expect(h.sink.sum('Fallbacks', MODEL)).toBe(0);
      // Logged once, not per request.
      const warned = h.logger.lines.filter(
        (l) => l.message === 'chosen version cannot serve; serving the other arm',
      );
      expect(warned).toHaveLength(1);
      expect(warned[0]!.attributes).toMatchObject({ chosen: '2.0.0', served: '1.0.0' });
    },
  );

  it('remembers a failed load for the TTL: one manifest read per TTL, not per request', async () => {
    const h = pipelineHarness(brokenCandidate(() => undefined));
    const reads = () =>
      h.registry.calls.filter((c) => c === `readText ${registeredManifestKey(BC, '2.0.0')}`).length;
    for (let i = 0; i < 3; i++) await h.serve();
    expect(reads()).toBe(1);
    h.clock.now += TTL_MS;
    await h.serve();
    expect(reads()).toBe(2);
  });

  it('fails with not-servable when both arms fail: the request once under the chosen version and {Model}, the other arm under its version', async () => {
    const h = pipelineHarness(
      (registry, routing) => {
        publish(registry, breastCancer, '2.0.0', { tamper: true });
        routing.set(BC, { stable: '1.0.0', candidate: '2.0.0', weight: 1 });
      },
      { backend: fakeBackend({ '1.0.0': (xs) => classifierOutputs(xs.length, 0.9) }) },
    );
    const outcome = await h.serve();
    expect(outcome).toEqual({
      kind: 'not-servable',
      message: `model "${BC}" cannot be served right now: version "2.0.0" was refused: its artifact does not match the registered sha256`,
    });
    expect(h.sink.sum('Requests', CANDIDATE)).toBe(1);
    expect(h.sink.sum('Errors', CANDIDATE)).toBe(1);
    expect(h.sink.sum('IntegrityFailures', CANDIDATE)).toBe(1);
    expect(h.sink.sum('Requests', STABLE)).toBe(1);
    expect(h.sink.sum('Errors', STABLE)).toBe(1);
    expect(h.sink.sum('Requests', MODEL)).toBe(1);
    expect(h.sink.sum('Errors', MODEL)).toBe(1);
    expect(h.sink.sum('Fallbacks', CANDIDATE) + h.sink.sum('Fallbacks', STABLE)).toBe(0);
  });
});
