/**
 * The candidate warm-up in the serving path (lambdas/core/candidate-warm.ts, lambdas/inference/warm-candidate.ts):
 * which events are warm-ups, the inference app loading a version through its real loader and running the smoke
 * samples with the real ONNX backend, and DeployCandidate's verdict on the answer.
 */
import { describe, expect, it } from 'vitest';
import { InMemoryMetricsSink } from '../../lambdas/adapters/in-memory-metrics-sink';
import { createOnnxBackend } from '../../lambdas/adapters/onnx-backend';
import { OnnxModelRuntime } from '../../lambdas/adapters/onnx-model-runtime';
import {
  LAMBDA_TARGET_FAILURE,
  parseWarmCandidateEvent,
  smokeSamplesOf,
  warmCandidateEvent,
  warmProgress,
  type WarmCandidateResult,
} from '../../lambdas/core/candidate-warm';
import { TargetDeployFailedError } from '../../lambdas/core/rollout-target';
import { createInferenceApp } from '../../lambdas/inference/inference-app';
import { FakeRegistry } from './fakes';
import {
  exampleBundle,
  FakeRouting,
  invoke,
  ledgerFor,
  MemoryLogger,
  publish,
  smokeInstances,
  type Bundle,
} from './inference-helpers';

const BC = 'breast-cancer';
const bundle = exampleBundle(BC);
const onnx = createOnnxBackend(new OnnxModelRuntime());

/** A manifest whose first feature's range excludes smoke samples 0 (19.55) and 3 (16.5): valid, but refused in serving. */
function narrowed(b: Bundle): Bundle {
  const features = b.manifest.inputs.features.map((f, i) =>
    i === 0 ? { ...f, range: { min: 0, max: 15 } } : f,
  );
  return { ...b, manifest: { ...b.manifest, inputs: { ...b.manifest.inputs, features } } };
}

function harness() {
  const registry = new FakeRegistry();
  const routing = new FakeRouting();
  publish(registry, bundle, '1.0.0');
  routing.set(BC, { stable: '1.0.0', candidate: '2.0.0', weight: 0 });
  const metrics = new InMemoryMetricsSink();
  const logger = new MemoryLogger();
  const app = createInferenceApp({
    models: [BC],
    registry,
    versions: ledgerFor(registry),
    routing,
    backend: onnx,
    metrics,
    logger,
  });
  return { app, registry, routing, metrics };
}

describe('parseWarmCandidateEvent', () => {
  it('takes exactly {"modelopsWarmCandidate":{"model","version"}} as a warm-up', () => {
    expect(parseWarmCandidateEvent(warmCandidateEvent({ model: BC, version: '2.0.0' }))).toEqual({
      kind: 'warm',
      request: { model: BC, version: '2.0.0' },
    });
  });

  it('passes a Function URL event on to the HTTP path, whatever its body says', () => {
    const urlEvent = {
      version: '2.0',
      rawPath: '/models/breast-cancer/invoke',
      requestContext: { http: { method: 'POST' }, requestId: 'r' },
      body: JSON.stringify(warmCandidateEvent({ model: BC, version: '2.0.0' })),
    };
    expect(parseWarmCandidateEvent(urlEvent)).toEqual({ kind: 'other' });
    expect(parseWarmCandidateEvent(null)).toEqual({ kind: 'other' });
    expect(parseWarmCandidateEvent('modelopsWarmCandidate')).toEqual({ kind: 'other' });
  });

  it('refuses anything else that names the warm-up key, saying what is wrong', () => {
    const refused = (event: unknown) => parseWarmCandidateEvent(event);
    expect(
      refused({ ...warmCandidateEvent({ model: BC, version: '2.0.0' }), requestContext: { http: {} } }),
    ).toMatchObject({ kind: 'refused', message: expect.stringMatching(/other keys \(requestContext\)/) });
    expect(refused({ modelopsWarmCandidate: { model: BC, version: '2.0.0', extra: 1 } })).toMatchObject({
      kind: 'refused',
      message: expect.stringMatching(/exactly "model" and "version"/),
    });
    expect(refused({ modelopsWarmCandidate: { model: 'Breast Cancer', version: '2.0.0' } })).toMatchObject({
      kind: 'refused',
      message: expect.stringMatching(/not a model name/),
    });
    expect(refused({ modelopsWarmCandidate: { model: BC, version: '../1.0.0' } })).toMatchObject({
      kind: 'refused',
    });
    expect(refused({ modelopsWarmCandidate: [BC, '2.0.0'] })).toMatchObject({ kind: 'refused' });
  });
});

describe('app.warmCandidate (real loader, ONNX Runtime)', () => {
  it('loads the candidate and matches every smoke sample; counts no traffic; the first routed request is warm', async () => {
    const h = harness();
    publish(h.registry, bundle, '2.0.0');
    const result = await h.app.warmCandidate({ model: BC, version: '2.0.0' });
    expect(result).toMatchObject({ outcome: 'warmed', model: BC, version: '2.0.0' });
    expect(result.samples).toHaveLength(bundle.manifest.smokeSamples.length);
    expect(result.samples.every((s) => s.ok && s.issues.length === 0)).toBe(true);
    expect(result.loadMs).toBeGreaterThanOrEqual(0);
    expect(h.metrics.sum('Requests', { Model: BC })).toBe(0);
    // Once routed, the candidate answers without another load of its artifact.
    const reads = h.registry.calls.filter((c) => c.includes('.onnx')).length;
    h.routing.set(BC, { stable: '1.0.0', candidate: '2.0.0', weight: 1 });
    const res = await h.app(invoke(BC, { instances: [smokeInstances(bundle)[0]] }));
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ version: '2.0.0' });
    expect(h.registry.calls.filter((c) => c.includes('.onnx')).length).toBe(reads);
  });

  it('fails the smoke samples the serving validator refuses, though ValidateArtifact never checks ranges', async () => {
    const h = harness();
    publish(h.registry, narrowed(bundle), '2.0.0');
    const result = await h.app.warmCandidate({ model: BC, version: '2.0.0' });
    expect(result.outcome).toBe('smoke-failed');
    expect(result.samples.filter((s) => !s.ok).map((s) => s.index)).toEqual([0, 3]);
    expect(result.samples[0]!.issues).toEqual([
      'smokeSamples[0].inputs.mean_radius: must be from 0 to 15, got 19.55',
    ]);
  });

  it('reports a candidate whose artifact does not match its registered sha256 as load-failed', async () => {
    const h = harness();
    publish(h.registry, bundle, '2.0.0', { tamper: true });
    const result = await h.app.warmCandidate({ model: BC, version: '2.0.0' });
    expect(result).toMatchObject({ outcome: 'load-failed', samples: [] });
    expect(result.message).toMatch(/sha256/);
  });

  it('reports an unregistered version as load-failed and a model it does not serve as refused', async () => {
    const h = harness();
    expect(await h.app.warmCandidate({ model: BC, version: '9.9.9' })).toMatchObject({
      outcome: 'load-failed',
      message: expect.stringMatching(/9\.9\.9/),
    });
    expect(await h.app.warmCandidate({ model: 'credit-risk', version: '1.0.0' })).toMatchObject({
      outcome: 'refused',
      message: expect.stringMatching(/not served by this function \(models: breast-cancer\)/),
    });
  });
});

describe('warmProgress (DeployCandidate judging the answer)', () => {
  const request = { model: BC, version: '2.0.0' };
  const answer = (over: Partial<WarmCandidateResult>): WarmCandidateResult => ({
    outcome: 'warmed',
    ...request,
    loadMs: 12,
    samples: [{ index: 0, ok: true, issues: [] }],
    ...over,
  });
  const failure = (value: unknown): TargetDeployFailedError => {
    try {
      warmProgress(request, value);
    } catch (err) {
      if (err instanceof TargetDeployFailedError) return err;
      throw err;
    }
    throw new Error('warmProgress did not fail');
  };

  it('is ready when the candidate loaded and every sample matched', () => {
    expect(warmProgress(request, answer({}))).toMatchObject({
      status: 'ready',
      detail: { action: 'warmed', loadMs: 12, smokeSamples: 1 },
    });
  });

  it('fails with a reason code per outcome, naming the first failing samples', () => {
    expect(failure(answer({ outcome: 'load-failed', message: 'sha256 differs', samples: [] }))).toMatchObject(
      {
        reasonCode: LAMBDA_TARGET_FAILURE.loadFailed,
        message: expect.stringMatching(/could not load breast-cancer 2\.0\.0: sha256 differs/),
      },
    );
    const smoke = failure(
      answer({
        outcome: 'smoke-failed',
        samples: [
          { index: 0, ok: true, issues: [] },
          { index: 1, ok: false, issues: ['smokeSamples[1].expected.label: class differs'] },
        ],
      }),
    );
    expect(smoke).toMatchObject({
      reasonCode: LAMBDA_TARGET_FAILURE.smokeFailed,
      message: expect.stringMatching(/1 of 2 smoke samples .* class differs/),
      detail: { failed: [{ index: 1 }] },
    });
    expect(failure(answer({ outcome: 'refused', message: 'not served' })).reasonCode).toBe(
      LAMBDA_TARGET_FAILURE.refused,
    );
    // "warmed" with a failing sample is still a failure.
    expect(failure(answer({ samples: [{ index: 0, ok: false, issues: ['x'] }] })).reasonCode).toBe(
      LAMBDA_TARGET_FAILURE.smokeFailed,
    );
  });

  it('refuses an answer that is not a warm-up result for this candidate (another function, an HTTP answer)', () => {
    expect(failure({ statusCode: 200, body: '{}' }).reasonCode).toBe(LAMBDA_TARGET_FAILURE.invalidAnswer);
    expect(failure(answer({ version: '1.0.0' })).message).toMatch(/is about breast-cancer 1\.0\.0/);
    expect(failure('null').reasonCode).toBe(LAMBDA_TARGET_FAILURE.invalidAnswer);
  });
});

describe('smokeSamplesOf', () => {
  it('reads the samples with the schema default tolerance, and none when the manifest has none', () => {
    const parsed = smokeSamplesOf({ smokeSamples: [{ inputs: { a: 1 }, expected: { y: 0.5 } }] });
    expect(parsed).toEqual({
      ok: true,
      samples: [{ inputs: { a: 1 }, expected: { y: 0.5 }, tolerance: 1e-4 }],
    });
    expect(smokeSamplesOf({})).toEqual({ ok: true, samples: [] });
  });

  it('rejects samples the run cannot use, naming the sample', () => {
    expect(smokeSamplesOf({ smokeSamples: [{ inputs: { a: {} }, expected: {} }] })).toEqual({
      ok: false,
      message: 'smokeSamples[0]: inputs must map feature names to numbers, strings, booleans or null',
    });
    expect(smokeSamplesOf({ smokeSamples: [{ inputs: {}, expected: { y: [] } }] })).toMatchObject({
      ok: false,
    });
    expect(smokeSamplesOf({ smokeSamples: [{ inputs: {}, expected: {}, tolerance: -1 }] })).toMatchObject({
      ok: false,
    });
    expect(smokeSamplesOf([])).toMatchObject({ ok: false });
  });
});
