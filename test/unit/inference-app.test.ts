import { describe, expect, it } from 'vitest';
import { OnnxModelRuntime } from '../../lambdas/adapters/onnx-model-runtime';
import type { CaptureWriter } from '../../lambdas/core/capture';
import { seededRandom } from '../../lambdas/core/random';
import { createOnnxBackend } from '../../lambdas/adapters/onnx-backend';
import type { InferenceBackend } from '../../lambdas/core/ports';
import {
  createInferenceApp,
  type InferenceAppOptions,
  type InferenceSettingsInput,
  type ServedContext,
} from '../../lambdas/inference/inference-app';
import { InMemoryMetricsSink } from '../../lambdas/adapters/in-memory-metrics-sink';
import { FakeRegistry } from './fakes';
import {
  classifierOutputs,
  exampleBundle,
  fakeBackend,
  FakeRouting,
  invoke,
  MemoryLogger,
  publish,
  smokeInstances,
  FakeLedger,
  ledgerFor,
} from './inference-helpers';

const BC = 'breast-cancer';
const CR = 'credit-risk';
const breastCancer = exampleBundle(BC);
const creditRisk = exampleBundle(CR);
const onnx = createOnnxBackend(new OnnxModelRuntime());

const V1 = { Model: BC, Version: '1.0.0' };
const V2 = { Model: BC, Version: '2.0.0' };
const MODEL = { Model: BC };

interface Harness {
  readonly app: ReturnType<typeof createInferenceApp>;
  readonly registry: FakeRegistry;
  readonly routing: FakeRouting;
  readonly metrics: InMemoryMetricsSink;
  readonly logger: MemoryLogger;
  readonly clock: { now: number };
}

function harness(
  over: Partial<Omit<InferenceAppOptions, 'settings'>> & { settings?: InferenceSettingsInput } = {},
  setup: (registry: FakeRegistry, routing: FakeRouting) => void = (registry, routing) => {
    publish(registry, breastCancer, '1.0.0');
    routing.set(BC, { stable: '1.0.0' });
  },
): Harness {
  const registry = new FakeRegistry();
  const routing = new FakeRouting();
  const metrics = new InMemoryMetricsSink();
  const logger = new MemoryLogger();
  const clock = { now: Date.UTC(2026, 0, 31, 12, 0, 0) };
  setup(registry, routing);
  const app = createInferenceApp({
    models: [BC, CR],
    registry,
    versions: ledgerFor(registry),
    routing,
    backend: onnx,
    metrics,
    logger,
    now: () => clock.now,
    random: seededRandom(7),
    ...over,
  });
  return { app, registry, routing, metrics, logger, clock };
}

function json(body: string): Record<string, unknown> {
  return JSON.parse(body) as Record<string, unknown>;
}

function errorOf(body: string): {
  code: string;
  message: string;
  details?: { path: string; message: string }[];
} {
  return (
    json(body) as { error: { code: string; message: string; details?: { path: string; message: string }[] } }
  ).error;
}

describe('inference app: happy path on the real breast-cancer ONNX model', () => {
  it('reproduces the manifest smoke samples, one request per sample and as one batch', async () => {
    const h = harness();
    const samples = breastCancer.manifest.smokeSamples;
    const labels = ['malignant', 'benign'];
    const check = (prediction: Record<string, unknown>, expected: Record<string, unknown>) => {
      expect(prediction.label).toBe(labels[expected.label as number]);
      const probabilities = prediction.probabilities as Record<string, number>;
      expect(Object.keys(probabilities)).toEqual(labels);
      (expected.probabilities as number[]).forEach((p, j) =>
        expect(probabilities[labels[j]!]).toBeCloseTo(p, 4),
      );
    };
    for (const sample of samples) {
      const res = await h.app(invoke(BC, { instances: [sample.inputs] }));
      expect(res.statusCode).toBe(200);
      check((json(res.body).predictions as Record<string, unknown>[])[0]!, sample.expected);
    }
    const res = await h.app(
      invoke(BC, { instances: smokeInstances(breastCancer) }, { requestId: 'batch-1' }),
    );
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-modelops-version']).toBe('1.0.0');
    expect(res.headers['content-type']).toBe('application/json');
    const body = json(res.body);
    expect(Object.keys(body)).toEqual(['model', 'version', 'requestId', 'predictions']);
    expect(body).toMatchObject({ model: BC, version: '1.0.0', requestId: 'batch-1' });
    const predictions = body.predictions as Record<string, unknown>[];
    expect(predictions).toHaveLength(samples.length);
    predictions.forEach((p, i) => check(p, samples[i]!.expected));
  });

  it('counts requests per {Model, Version} and {Model}, latency for successes, and one cold start', async () => {
    const h = harness();
    for (let i = 0; i < 3; i++) await h.app(invoke(BC, { instances: [smokeInstances(breastCancer)[0]] }));
    for (const dims of [V1, MODEL]) {
      expect(h.metrics.sum('Requests', dims)).toBe(3);
      expect(h.metrics.sum('Errors', dims)).toBe(0);
      expect(h.metrics.sum('InvalidInput', dims)).toBe(0);
      expect(h.metrics.get('Latency', dims)).toMatchObject({ count: 3, unit: 'Milliseconds' });
      expect(h.metrics.get('ColdStart', dims)).toMatchObject({ count: 1, sum: 1 });
    }
  });

  it('accepts a base64-encoded body and a trailing slash', async () => {
    const h = harness();
    const body = Buffer.from(JSON.stringify({ instances: [smokeInstances(breastCancer)[0]] })).toString(
      'base64',
    );
    const res = await h.app(invoke(BC, body, { isBase64Encoded: true, path: `/models/${BC}/invoke/` }));
    expect(res.statusCode).toBe(200);
  });

  it('loads each version once under concurrent first requests', async () => {
    const backend = fakeBackend({ '1.0.0': (x) => classifierOutputs(x.length, 0.2) });
    const h = harness({ backend });
    const results = await Promise.all(
      Array.from({ length: 5 }, () => h.app(invoke(BC, { instances: [smokeInstances(breastCancer)[0]] }))),
    );
    expect(results.map((r) => r.statusCode)).toEqual([200, 200, 200, 200, 200]);
    expect(backend.loads).toEqual(['1.0.0']);
  });
});

describe('inference app: refusals', () => {
  it('rejects invalid instances with 400 listing every field error of every instance, pii redacted', async () => {
    const h = harness({}, (registry, routing) => {
      publish(registry, creditRisk, '1.0.0');
      routing.set(CR, { stable: '1.0.0' });
    });
    const good = creditRisk.manifest.smokeSamples[0]!.inputs;
    const res = await h.app(
      invoke(CR, {
        instances: [
          { ...good, income: 'lots', age: 131 },
          good,
          { ...good, employment: 'astronaut', has_guarantor: 'yes', age: -7, nickname: 'x' },
        ],
      }),
    );
    expect(res.statusCode).toBe(400);
    const error = errorOf(res.body);
    expect(error.code).toBe('InvalidInput');
    expect(error.details!.map((d) => d.path)).toEqual([
      'instances[0].income',
      'instances[0].age',
      'instances[2].age',
      'instances[2].employment',
      'instances[2].has_guarantor',
      'instances[2].nickname',
    ]);
    const ageMessages = error.details!.filter((d) => d.path.endsWith('.age')).map((d) => d.message);
    for (const m of ageMessages) {
      expect(m).toContain('(redacted: pii)');
      expect(m).not.toMatch(/131|-7/);
    }
    expect(h.logger.text()).not.toMatch(/131|astronaut|lots/);
    expect(h.metrics.sum('InvalidInput', { Model: CR, Version: '1.0.0' })).toBe(1);
    expect(h.metrics.sum('Errors', { Model: CR })).toBe(0);
  });

  it('rejects bad JSON and a bad shape with 400, counted under {Model} only', async () => {
    const h = harness();
    const bad = await h.app(invoke(BC, '{"instances": [ {'));
    expect(bad.statusCode).toBe(400);
    expect(errorOf(bad.body).details![0]!.message).toMatch(/not valid JSON/);
    const shape = await h.app(invoke(BC, { instances: 'all', extra: 1 }));
    expect(shape.statusCode).toBe(400);
    expect(
      errorOf(shape.body)
        .details!.map((d) => d.path)
        .sort(),
    ).toEqual(['extra', 'instances']);
    const missing = await h.app(invoke(BC, '', { body: undefined }));
    expect(missing.statusCode).toBe(400);
    expect(h.metrics.sum('InvalidInput', MODEL)).toBe(3);
    expect(h.metrics.get('InvalidInput', V1)).toBeUndefined();
    expect(h.routing.reads).toBe(0);
  });

  it('rejects an unknown model and an unknown path with 404', async () => {
    const h = harness();
    const unknown = await h.app(invoke('no-such-model', { instances: [{}] }));
    expect(unknown.statusCode).toBe(404);
    expect(errorOf(unknown.body).code).toBe('ModelNotFound');
    expect(json(unknown.body).requestId).toMatch(/^req-/);
    for (const path of ['/', `/models/${BC}`, `/models/${BC}/predict`, `/models/${BC}/invoke/extra`]) {
      const res = await h.app(invoke(BC, { instances: [{}] }, { path }));
      expect(res.statusCode, path).toBe(404);
    }
    expect(h.metrics.snapshot()).toEqual([]);
  });

  it('rejects other methods with 405 and an Allow header', async () => {
    const h = harness();
    const res = await h.app(invoke(BC, '', { method: 'GET', body: undefined }));
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe('POST');
    expect(errorOf(res.body).code).toBe('MethodNotAllowed');
  });

  it('rejects a body over the byte limit and a batch over the size limit with 413', async () => {
    const h = harness({ settings: { limits: { maxBodyBytes: 1200, maxBatch: 2 } } });
    const instance = smokeInstances(breastCancer)[0]!;
    const big = await h.app(invoke(BC, { instances: [instance, instance] }));
    expect(big.statusCode).toBe(413);
    expect(errorOf(big.body).code).toBe('PayloadTooLarge');
    const bigBase64 = await h.app(
      invoke(BC, Buffer.from('x'.repeat(3000)).toString('base64'), { isBase64Encoded: true }),
    );
    expect(bigBase64.statusCode).toBe(413);
    const many = await h.app(invoke(BC, { instances: [{}, {}, {}] }));
    expect(many.statusCode).toBe(413);
    expect(errorOf(many.body).details![0]!.path).toBe('instances');
  });

  it('fails with 503 ModelNotServable when no version has been promoted, saying how to promote', async () => {
    const h = harness({}, (registry, routing) => {
      publish(registry, breastCancer, '1.0.0');
      routing.set(BC, { candidate: '1.0.0', weight: 0.5 });
    });
    const res = await h.app(invoke(BC, { instances: [smokeInstances(breastCancer)[0]] }));
    expect(res.statusCode).toBe(503);
    const error = errorOf(res.body);
    expect(error.code).toBe('ModelNotServable');
    expect(error.message).toContain(`modelops promote ${BC} <version>`);
    const none = await harness({}, () => undefined).app(invoke(BC, { instances: [{}] }));
    expect(none.statusCode).toBe(503);
  });

  it('fails with 503 when the routing record cannot be read and none is cached', async () => {
    const h = harness();
    h.routing.fail = new Error('dynamo down');
    const res = await h.app(invoke(BC, { instances: [smokeInstances(breastCancer)[0]] }));
    expect(res.statusCode).toBe(503);
    expect(h.metrics.sum('Errors', MODEL)).toBe(1);
  });

  it('answers 400 (not 5xx) when an instance cannot be encoded for an integer tensor', async () => {
    const manifest = {
      ...breastCancer.manifest,
      inputs: {
        ...breastCancer.manifest.inputs,
        tensors: [{ ...breastCancer.manifest.inputs.tensors[0]!, elementType: 'int64' }],
      },
    };
    const backend = createOnnxBackend({
      load: async () => ({
        inputs: [],
        outputs: [],
        run: async () => classifierOutputs(1, 0.9),
        release: async () => {},
      }),
    });
    const h = harness({ backend }, (registry, routing) => {
      publish(registry, { ...breastCancer, manifest: manifest as typeof breastCancer.manifest }, '1.0.0');
      routing.set(BC, { stable: '1.0.0' });
    });
    const res = await h.app(invoke(BC, { instances: [smokeInstances(breastCancer)[0]] }));
    expect(res.statusCode).toBe(400);
    expect(errorOf(res.body).details![0]).toMatchObject({ path: 'instances[0].mean_radius' });
  });
});

describe('inference app: routing', () => {
  const twoVersions =
    (fields: Parameters<FakeRouting['set']>[1]) => (registry: FakeRegistry, routing: FakeRouting) => {
      publish(registry, breastCancer, '1.0.0');
      publish(registry, breastCancer, '2.0.0');
      routing.set(BC, { stable: '1.0.0', candidate: '2.0.0', ...fields });
    };
  const backend = () =>
    fakeBackend({
      '1.0.0': (x) => classifierOutputs(x.length, 0.2),
      '2.0.0': (x) => classifierOutputs(x.length, 0.2),
    });

  it('sends the candidate its weight of traffic (seeded draws) and sticks per routing key', async () => {
    const h = harness({ backend: backend(), random: seededRandom(42) }, twoVersions({ weight: 0.25 }));
    const instance = smokeInstances(breastCancer)[0];
    const served: string[] = [];
    for (let i = 0; i < 2000; i++) {
      const res = await h.app(invoke(BC, { instances: [instance] }));
      served.push(res.headers['x-modelops-version']!);
    }
    const share = served.filter((v) => v === '2.0.0').length / served.length;
    // Binomial(2000, 0.25): sd ≈ 0.0097; 5 sd either side.
    expect(share).toBeGreaterThan(0.2);
    expect(share).toBeLessThan(0.3);
    expect(h.metrics.sum('Requests', V2)).toBe(served.filter((v) => v === '2.0.0').length);

    for (const key of ['customer-1', 'customer-2', 'customer-3']) {
      const versions = new Set<string>();
      for (let i = 0; i < 20; i++) {
        const res = await h.app(invoke(BC, { instances: [instance], routingKey: key }));
        versions.add(res.headers['x-modelops-version']!);
      }
      expect(versions.size, key).toBe(1);
    }
  });

  it('sees a routing change only after the TTL (injected clock, no sleeps)', async () => {
    const h = harness(
      { backend: backend(), settings: { routingCacheTtlMs: 5000 } },
      twoVersions({ weight: 0 }),
    );
    const instance = smokeInstances(breastCancer)[0];
    const version = async () =>
      (await h.app(invoke(BC, { instances: [instance] }))).headers['x-modelops-version'];
    expect(await version()).toBe('1.0.0');
    h.routing.set(BC, { stable: '2.0.0' });
    h.clock.now += 4999;
    expect(await version()).toBe('1.0.0');
    h.clock.now += 1;
    expect(await version()).toBe('2.0.0');
    expect(h.routing.reads).toBe(2);
  });

  it('runs the candidate in shadow mode, returns stable, and counts disagreement under the candidate', async () => {
    const shadowBackend = fakeBackend({
      '1.0.0': (x) => classifierOutputs(x.length, 0.2),
      '2.0.0': (x) => classifierOutputs(x.length, 0.9),
    });
    const h = harness({ backend: shadowBackend }, twoVersions({ mode: 'shadow', weight: 0 }));
    const res = await h.app(invoke(BC, { instances: [smokeInstances(breastCancer)[0]] }));
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-modelops-version']).toBe('1.0.0');
    expect((json(res.body).predictions as { label: string }[])[0]!.label).toBe('malignant');
    expect(h.metrics.get('ShadowDisagreement', V2)).toMatchObject({ count: 1, sum: 1 });
    expect(h.metrics.get('ShadowDisagreement', MODEL)).toMatchObject({ count: 1, sum: 1 });
    expect(h.metrics.get('Requests', V2)).toBeUndefined();
    const line = h.logger.lines.find((l) => l.message === 'shadow disagreement');
    expect(line?.attributes.at).toBe('[0].label');
  });

  it('counts agreement as 0 within the tolerance', async () => {
    const h = harness({ backend: backend() }, twoVersions({ mode: 'shadow' }));
    await h.app(invoke(BC, { instances: [smokeInstances(breastCancer)[0]] }));
    expect(h.metrics.get('ShadowDisagreement', V2)).toMatchObject({ count: 1, sum: 0 });
  });

  it('keeps the stable answer when the shadow candidate fails', async () => {
    const failing = fakeBackend({ '1.0.0': (x) => classifierOutputs(x.length, 0.2) });
    const h = harness({ backend: failing }, twoVersions({ mode: 'shadow' }));
    const res = await h.app(invoke(BC, { instances: [smokeInstances(breastCancer)[0]] }));
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-modelops-version']).toBe('1.0.0');
    expect(h.metrics.sum('ShadowErrors', V2)).toBe(1);
    expect(h.metrics.sum('Errors', MODEL)).toBe(0);
  });

  it('refuses a tampered candidate, counts it, and serves stable instead', async () => {
    const h = harness({}, (registry, routing) => {
      publish(registry, breastCancer, '1.0.0');
      publish(registry, breastCancer, '2.0.0', { tamper: true });
      routing.set(BC, { stable: '1.0.0', candidate: '2.0.0', weight: 1 });
    });
    for (let i = 0; i < 2; i++) {
      const res = await h.app(invoke(BC, { instances: [smokeInstances(breastCancer)[0]] }));
      expect(res.statusCode).toBe(200);
      expect(res.headers['x-modelops-version']).toBe('1.0.0');
    }
    expect(h.metrics.sum('IntegrityFailures', V2)).toBe(2);
    expect(h.metrics.sum('Requests', V2)).toBe(2);
    expect(h.metrics.sum('Errors', V2)).toBe(2);
    expect(h.metrics.sum('Fallbacks', V2)).toBe(2);
    expect(h.metrics.sum('Requests', V1)).toBe(2);
    expect(h.metrics.sum('Errors', V1)).toBe(0);
    // {Model} counts what the clients saw: two answered requests.
    expect(h.metrics.sum('Requests', MODEL)).toBe(2);
    expect(h.metrics.sum('Errors', MODEL)).toBe(0);
    // Fetched once: a refused artifact is not fetched again.
    expect(
      h.registry.calls.filter((c) => c.startsWith('readBytes models/breast-cancer/2.0.0/')),
    ).toHaveLength(1);
    expect(h.logger.lines.filter((l) => l.message.startsWith('chosen version cannot serve'))).toHaveLength(1);
    expect(h.logger.lines.some((l) => l.message.startsWith('artifact hash mismatch'))).toBe(true);
  });

  it('fails with 503 when the only version is tampered', async () => {
    const h = harness({}, (registry, routing) => {
      publish(registry, breastCancer, '1.0.0', { tamper: true });
      routing.set(BC, { stable: '1.0.0' });
    });
    const res = await h.app(invoke(BC, { instances: [smokeInstances(breastCancer)[0]] }));
    expect(res.statusCode).toBe(503);
    expect(errorOf(res.body).message).toBe(
      'model "breast-cancer" cannot be served right now: version "1.0.0" was refused: its artifact does not match the registered sha256',
    );
    expect(h.metrics.sum('IntegrityFailures', V1)).toBe(1);
    // The refusal is an incident count; the request itself fails once, under the version and the model.
    expect(h.metrics.sum('Errors', V1)).toBe(1);
    expect(h.metrics.sum('Requests', V1)).toBe(1);
    expect(h.metrics.sum('Errors', MODEL)).toBe(1);
    expect(h.metrics.sum('Fallbacks', V1)).toBe(0);
  });

  it('fails with 503 when the version has no manifest in the registry', async () => {
    const h = harness({}, (_registry, routing) => routing.set(BC, { stable: '9.9.9' }));
    const res = await h.app(invoke(BC, { instances: [{}] }));
    expect(res.statusCode).toBe(503);
    expect(errorOf(res.body).message).toBe(
      'model "breast-cancer" cannot be served right now: version "9.9.9" could not be loaded (VersionUnavailableError)',
    );
  });
});

describe('inference app: failures and seams', () => {
  it('fails a throwing backend with 500 InternalError carrying the request id, and counts it', async () => {
    const h = harness({ backend: fakeBackend({}) });
    const res = await h.app(
      invoke(BC, { instances: [smokeInstances(breastCancer)[0]] }, { requestId: 'r-500' }),
    );
    expect(res.statusCode).toBe(500);
    expect(json(res.body)).toMatchObject({ error: { code: 'InternalError' }, requestId: 'r-500' });
    expect(h.metrics.sum('Errors', V1)).toBe(1);
    const line = h.logger.lines.find((l) => l.message === 'unexpected error');
    expect(line?.attributes).toMatchObject({ requestId: 'r-500', version: '1.0.0' });
    expect((line?.attributes.error as Error).message).toBe('boom in 1.0.0');
    expect((line?.attributes.error as Error).stack).toContain('boom in 1.0.0');
  });

  it('calls the after-response hooks in order with the served context, and answers when one throws', async () => {
    const seen: string[] = [];
    const contexts: ServedContext[] = [];
    const h = harness({
      hooks: [
        {
          name: 'drift',
          onServed: (ctx) => {
            seen.push('drift');
            contexts.push(ctx);
            throw new Error('drift store down');
          },
        },
        {
          name: 'log',
          onServed: async () => {
            seen.push('log');
            return Promise.reject(new Error('log store down'));
          },
        },
      ],
    });
    const instance = smokeInstances(breastCancer)[0]!;
    const res = await h.app(invoke(BC, { instances: [instance] }, { requestId: 'r-hook' }));
    expect(res.statusCode).toBe(200);
    expect(seen).toEqual(['drift', 'log']);
    const ctx = contexts[0]!;
    expect(ctx).toMatchObject({
      requestId: 'r-hook',
      model: BC,
      version: '1.0.0',
      chosenVersion: '1.0.0',
      shadowVersion: undefined,
      instances: [instance],
      predictions: (json(res.body) as { predictions: unknown[] }).predictions,
    });
    expect(ctx.manifest.version).toBe('1.0.0');
    expect(
      h.logger.lines
        .filter((l) => l.message.startsWith('after-response hook failed'))
        .map((l) => l.attributes.hook),
    ).toEqual(['drift', 'log']);
  });
});

describe('inference app: capture', () => {
  class MemoryCapture implements CaptureWriter {
    readonly objects = new Map<string, string>();
    fail = false;
    async write(key: string, body: string) {
      if (this.fail) throw new Error('s3 down');
      this.objects.set(key, body);
    }
  }
  const creditRiskSetup = (registry: FakeRegistry, routing: FakeRouting) => {
    publish(registry, creditRisk, '1.0.0');
    routing.set(CR, { stable: '1.0.0' });
  };
  const instance = creditRisk.manifest.smokeSamples[0]!.inputs;

  it('samples requests at the configured rate', async () => {
    const capture = new MemoryCapture();
    const h = harness(
      { capture, random: seededRandom(3), settings: { capture: { sampleRate: 0.3, batchRecords: 1 } } },
      creditRiskSetup,
    );
    for (let i = 0; i < 400; i++) await h.app(invoke(CR, { instances: [instance] }));
    const share = capture.objects.size / 400;
    // Binomial(400, 0.3): sd ≈ 0.023; 5 sd either side.
    expect(share).toBeGreaterThan(0.185);
    expect(share).toBeLessThan(0.415);
  });

  it('writes JSON Lines batches by count, without pii features, under capture/<model>/<yyyy>/<mm>/<dd>/<hh>/', async () => {
    const capture = new MemoryCapture();
    const h = harness(
      { capture, settings: { capture: { sampleRate: 1, batchRecords: 2 } } },
      creditRiskSetup,
    );
    await h.app(invoke(CR, { instances: [instance] }, { requestId: 'c1' }));
    expect(capture.objects.size).toBe(0);
    await h.app(invoke(CR, { instances: [instance, instance] }, { requestId: 'c2' }));
    expect(capture.objects.size).toBe(1);
    const [key, body] = [...capture.objects.entries()][0]!;
    expect(key).toMatch(/^capture\/credit-risk\/2026\/01\/31\/12\/20260131T120000000Z-[0-9a-f]{8}\.jsonl$/);
    const records = body
      .trim()
      .split('\n')
      .map(
        (l) =>
          JSON.parse(l) as {
            requestId: string;
            instances: Record<string, unknown>[];
            predictions: unknown[];
          },
      );
    expect(records.map((r) => r.requestId)).toEqual(['c1', 'c2']);
    expect(records[1]!.instances).toHaveLength(2);
    for (const r of records) {
      expect(r).toMatchObject({ model: CR, version: '1.0.0', time: '2026-01-31T12:00:00.000Z' });
      for (const i of r.instances) {
        expect(i).not.toHaveProperty('age');
        expect(i).toHaveProperty('income', instance.income);
      }
      expect(r.predictions[0]).toHaveProperty('label');
    }
  });

  it('writes a partial batch once its oldest record is older than the max age, at the next request', async () => {
    const capture = new MemoryCapture();
    const h = harness(
      { capture, settings: { capture: { sampleRate: 1, batchRecords: 100, maxAgeMs: 1000 } } },
      creditRiskSetup,
    );
    await h.app(invoke(CR, { instances: [instance] }));
    h.clock.now += 1000;
    await h.app(invoke(CR, { instances: [instance] }));
    expect(capture.objects.size).toBe(0);
    h.clock.now += 1;
    await h.app(invoke(CR, { instances: [instance] }));
    expect(capture.objects.size).toBe(1);
    expect([...capture.objects.values()][0]!.trim().split('\n')).toHaveLength(3);
  });

  it('serves the request when the capture write fails, and counts CaptureErrors', async () => {
    const capture = new MemoryCapture();
    capture.fail = true;
    const h = harness(
      { capture, settings: { capture: { sampleRate: 1, batchRecords: 1 } } },
      creditRiskSetup,
    );
    const res = await h.app(invoke(CR, { instances: [instance] }));
    expect(res.statusCode).toBe(200);
    expect(h.metrics.sum('CaptureErrors', { Model: CR })).toBe(1);
    expect(h.logger.text()).not.toContain(String(instance.age));
  });

  it('captures nothing without a writer or at rate 0', async () => {
    const capture = new MemoryCapture();
    const h = harness(
      { capture, settings: { capture: { sampleRate: 0, batchRecords: 1 } } },
      creditRiskSetup,
    );
    await h.app(invoke(CR, { instances: [instance] }));
    expect(capture.objects.size).toBe(0);
  });
});

describe('createInferenceApp settings', () => {
  it('rejects invalid settings naming the value', () => {
    const backend: InferenceBackend = onnx;
    expect(() =>
      createInferenceApp({
        models: [BC],
        registry: new FakeRegistry(),
        versions: new FakeLedger(),
        routing: new FakeRouting(),
        backend,
        metrics: new InMemoryMetricsSink(),
        logger: new MemoryLogger(),
        settings: { capture: { sampleRate: 2 }, limits: { maxBatch: 0 } },
      }),
    ).toThrow(/sample rate must be from 0 to 1, got 2.*maxBatch must be a whole number >= 1, got 0/);
  });
});
