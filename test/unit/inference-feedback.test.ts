/** Label feedback in the inference app: the prediction-log hook and `POST /models/{name}/feedback`. */
import { describe, expect, it } from 'vitest';
import { InMemoryMetricsSink } from '../../lambdas/adapters/in-memory-metrics-sink';
import { OnnxModelRuntime } from '../../lambdas/adapters/onnx-model-runtime';
import { createOnnxBackend } from '../../lambdas/adapters/onnx-backend';
import { lostLabelWrite, type LoggedPrediction, type RecordLabelResult } from '../../lambdas/core/feedback';
import type { PredictionLogStore } from '../../lambdas/core/ports';
import { seededRandom } from '../../lambdas/core/random';
import { createInferenceApp } from '../../lambdas/inference/inference-app';
import type { HttpRequest } from '../../lambdas/inference/http';
import { createPredictionLogHook } from '../../lambdas/inference/prediction-log-hook';
import { FakeRegistry } from './fakes';
import {
  exampleBundle,
  FakeRouting,
  invoke,
  ledgerFor,
  MemoryLogger,
  publish,
  smokeInstances,
} from './inference-helpers';

const BC = 'breast-cancer';
const breastCancer = exampleBundle(BC);
const onnx = createOnnxBackend(new OnnxModelRuntime());
const V1 = { Model: BC, Version: '1.0.0' };
const MODEL = { Model: BC };

/** The PredictionLog table in memory, with the adapter's conditional-write semantics. */
class MemoryPredictionLog implements PredictionLogStore {
  readonly items = new Map<string, LoggedPrediction>();
  failPuts = false;
  async putPrediction(item: LoggedPrediction): Promise<void> {
    if (this.failPuts) throw Object.assign(new Error('down'), { name: 'ServiceUnavailable' });
    this.items.set(`${item.model}#${item.requestId}`, item);
  }
  async getPrediction(model: string, requestId: string): Promise<LoggedPrediction | undefined> {
    return this.items.get(`${model}#${requestId}`);
  }
  async recordLabel(
    item: LoggedPrediction,
    labels: readonly (string | number)[],
    labelledAt: string,
  ): Promise<RecordLabelResult> {
    const key = `${item.model}#${item.requestId}`;
    const standing = this.items.get(key);
    if (standing === undefined || standing.labels !== undefined) return lostLabelWrite(standing, labels);
    this.items.set(key, { ...standing, labels: [...labels], labelledAt });
    return { kind: 'recorded' };
  }
}

function harness(sampleRate = 1, options: { store?: boolean } = {}) {
  const registry = new FakeRegistry();
  const routing = new FakeRouting();
  publish(registry, breastCancer, '1.0.0');
  routing.set(BC, { stable: '1.0.0' });
  const metrics = new InMemoryMetricsSink();
  const logger = new MemoryLogger();
  const log = new MemoryPredictionLog();
  const clock = { now: Date.UTC(2026, 0, 31, 12, 0, 0) };
  const app = createInferenceApp({
    models: [BC],
    registry,
    versions: ledgerFor(registry),
    routing,
    backend: onnx,
    metrics,
    logger,
    now: () => clock.now,
    random: seededRandom(7),
    ...(options.store === false
      ? {}
      : { feedback: { store: log, settings: () => ({ sampleRate, ttlDays: 1 }) } }),
  });
  return { app, metrics, logger, log, clock };
}

function feedback(body: unknown, over: Partial<HttpRequest> = {}): HttpRequest {
  return {
    method: 'POST',
    path: `/models/${BC}/feedback`,
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    requestId: 'fb-1',
    ...over,
  };
}

interface Answer {
  readonly outcome?: string;
  readonly predictions?: { label: string }[];
  readonly error?: { code: string; message: string; details?: { path: string; message: string }[] };
}
const parse = (body: string) => JSON.parse(body) as Answer;

/** Serves the smoke instances as one request `id` and returns the predicted labels. */
async function serve(h: ReturnType<typeof harness>, id: string, count = 2): Promise<string[]> {
  const res = await h.app(
    invoke(BC, { instances: smokeInstances(breastCancer).slice(0, count) }, { requestId: id }),
  );
  expect(res.statusCode).toBe(200);
  return parse(res.body).predictions!.map((p) => p.label);
}

const other = (label: string) => (label === 'benign' ? 'malignant' : 'benign');

describe('prediction-log hook', () => {
  it('logs the compact predictions of a sampled request, never its features', async () => {
    const h = harness(1);
    const labels = await serve(h, 'r-1');
    const item = h.log.items.get(`${BC}#r-1`);
    expect(item).toEqual({
      model: BC,
      requestId: 'r-1',
      version: '1.0.0',
      at: '2026-01-31T12:00:00.000Z',
      kind: 'classification',
      output: 'label',
      predictions: labels,
      expiresAt: Date.UTC(2026, 1, 1, 12, 0, 0) / 1000,
    });
  });

  it('is not created at sample rate 0, and samples by request id at a partial rate', async () => {
    expect(
      createPredictionLogHook(
        {
          store: new MemoryPredictionLog(),
          settings: () => ({ sampleRate: 0, ttlDays: 1 }),
          logger: new MemoryLogger(),
          now: Date.now,
        },
        [BC],
      ),
    ).toBeUndefined();
    const h = harness(0.5);
    for (let i = 0; i < 40; i++) await serve(h, `s-${i}`, 1);
    expect(h.log.items.size).toBeGreaterThan(8);
    expect(h.log.items.size).toBeLessThan(32);
  });

  it('answers the request when the log write fails, and logs a warning', async () => {
    const h = harness(1);
    h.log.failPuts = true;
    await serve(h, 'r-1');
    expect(
      h.logger.lines.some(
        (l) => l.level === 'warn' && l.attributes.hook === undefined && /prediction log/.test(l.message),
      ),
    ).toBe(true);
  });
});

describe('POST /models/{name}/feedback', () => {
  it('records labels and emits accuracy, labels and lag under {Model, Version} and {Model}', async () => {
    const h = harness(1);
    const predicted = await serve(h, 'r-1');
    h.clock.now += 30_000;
    const res = await h.app(feedback({ requestId: 'r-1', labels: [predicted[0], other(predicted[1]!)] }));
    expect(res.statusCode).toBe(200);
    expect(parse(res.body)).toEqual({
      model: BC,
      version: '1.0.0',
      labelledRequestId: 'r-1',
      outcome: 'recorded',
      labels: 2,
      requestId: 'fb-1',
    });
    for (const dims of [V1, MODEL]) {
      expect(h.metrics.get('PredictionCorrect', dims)).toMatchObject({ count: 2, sum: 1 });
      expect(h.metrics.sum('LabelsReceived', dims)).toBe(2);
      expect(h.metrics.get('LabelLagSeconds', dims)).toMatchObject({ count: 1, sum: 30 });
    }
    expect(h.log.items.get(`${BC}#r-1`)?.labels).toEqual([predicted[0], other(predicted[1]!)]);
    // Feedback is not an inference request.
    expect(h.metrics.sum('Requests', MODEL)).toBe(1);
  });

  it('answers a repeated identical label 200 duplicate without counting it again', async () => {
    const h = harness(1);
    const [p] = await serve(h, 'r-1', 1);
    expect((await h.app(feedback({ requestId: 'r-1', label: p }))).statusCode).toBe(200);
    const again = await h.app(feedback({ requestId: 'r-1', label: p }));
    expect(again.statusCode).toBe(200);
    expect(parse(again.body).outcome).toBe('duplicate');
    expect(h.metrics.get('PredictionCorrect', V1)).toMatchObject({ count: 1, sum: 1 });
  });

  it('refuses a different label for a labelled prediction with 409 LabelConflict', async () => {
    const h = harness(1);
    const [p] = await serve(h, 'r-1', 1);
    await h.app(feedback({ requestId: 'r-1', label: p }));
    const res = await h.app(feedback({ requestId: 'r-1', label: other(p!) }));
    expect(res.statusCode).toBe(409);
    expect(parse(res.body).error?.code).toBe('LabelConflict');
    expect(h.log.items.get(`${BC}#r-1`)?.labels).toEqual([p]);
  });

  it('fails an unknown request id with 404 PredictionNotFound and an expired one with 409 PredictionExpired', async () => {
    const h = harness(1);
    const unknown = await h.app(feedback({ requestId: 'never', label: 'benign' }));
    expect(unknown.statusCode).toBe(404);
    expect(parse(unknown.body).error?.code).toBe('PredictionNotFound');
    const [p] = await serve(h, 'r-1', 1);
    h.clock.now += 86_400_000;
    const expired = await h.app(feedback({ requestId: 'r-1', label: p }));
    expect(expired.statusCode).toBe(409);
    expect(parse(expired.body).error?.code).toBe('PredictionExpired');
  });

  it('rejects invalid feedback with field errors, wrong methods with 405 and unknown models with 404', async () => {
    const h = harness(1);
    await serve(h, 'r-1');
    const missing = await h.app(feedback({ labels: ['benign'] }));
    expect(missing.statusCode).toBe(400);
    expect(parse(missing.body).error?.details).toEqual([
      { path: 'requestId', message: expect.stringMatching(/is required/) },
    ]);
    const count = await h.app(feedback({ requestId: 'r-1', label: 'benign' }));
    expect(count.statusCode).toBe(400);
    expect(parse(count.body).error?.details?.[0]?.message).toMatch(/has 1 label\(s\) but request r-1 had 2/);
    expect((await h.app(feedback('', { method: 'GET' }))).statusCode).toBe(405);
    const notServed = await h.app(
      feedback({ requestId: 'r-1', label: 'x' }, { path: '/models/nope/feedback' }),
    );
    expect(parse(notServed.body).error?.code).toBe('ModelNotFound');
  });

  it('reads base64 bodies as invoke does, and refuses a body over MAX_BODY_BYTES with 413', async () => {
    const h = harness(1);
    const [p] = await serve(h, 'r-1', 1);
    const body = Buffer.from(JSON.stringify({ requestId: 'r-1', label: p })).toString('base64');
    expect((await h.app(feedback(body, { isBase64Encoded: true }))).statusCode).toBe(200);
    const big = await h.app(feedback({ requestId: 'r-1', label: 'x'.repeat(2 * 1024 * 1024) }));
    expect(big.statusCode).toBe(413);
  });

  it('answers 404 FeedbackNotEnabled without a prediction log', async () => {
    const h = harness(1, { store: false });
    const res = await h.app(feedback({ requestId: 'r-1', label: 'benign' }));
    expect(res.statusCode).toBe(404);
    expect(parse(res.body).error?.code).toBe('FeedbackNotEnabled');
  });
});
