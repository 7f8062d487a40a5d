/**
 * Property: whatever arrives over HTTP — random JSON values, wrong types, huge numbers, deep nesting, unknown fields,
 * random bytes, oversized bodies, wrong methods and paths — the local inference server (real app, real ONNX model)
 * answers with a 2xx or 4xx JSON response, never a 5xx, never crashes, and keeps serving valid requests.
 * Every case goes over real HTTP on a keep-alive agent.
 */
import { Agent } from 'node:http';
import { connect } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { promoteStable } from '../../lambdas/core/promotion';
import { inferenceService } from '../../local/inference-server';
import { httpRequest, invokeModel, loadExample, startHarness, type Harness } from './harness';

const MODEL = 'breast-cancer';
const RUNS = Number(process.env.PROPERTY_RUNS ?? 10_000);
const MAX_BODY_BYTES = 1024 * 1024;
// 403: OPTIONS is refused (no CORS); 415: a body that is not declared application/json.
const ALLOWED = new Set([200, 400, 403, 404, 405, 413, 415]);

let h: Harness;
let base: string;
let valid: Record<string, number>;
let features: string[];
const agent = new Agent({ keepAlive: true, maxSockets: 1 });

beforeAll(async () => {
  h = await startHarness({
    config: { models: [{ name: MODEL, owner: 'ml-platform' }] },
    services: [inferenceService({ port: 0 })],
  });
  base = h.inference()!.baseUrl;
  const { manifest } = await loadExample(MODEL);
  const m = manifest as unknown as {
    inputs: { features: { name: string }[] };
    smokeSamples: { inputs: Record<string, number> }[];
  };
  features = m.inputs.features.map((f) => f.name);
  valid = m.smokeSamples[0]!.inputs;
  await h.pushExample(MODEL);
  await promoteStable(h.metadata, { model: MODEL, version: manifest.version, actor: 'test' });
  // Wait until routing serves (first read after the promotion) so every later 5xx would be the app's fault.
  const deadline = Date.now() + 30_000;
  while ((await invokeModel(base, MODEL, { instances: [valid] }, agent)).status !== 200) {
    if (Date.now() > deadline) throw new Error('model never became servable');
  }
});
afterAll(async () => {
  agent.destroy();
  await h?.stop();
});

interface Case {
  readonly method: string;
  readonly path: string;
  readonly contentType: string;
  readonly body: string | Uint8Array;
}

function arbitraries() {
  const weird = fc.oneof(
    fc.double(),
    fc.integer(),
    fc.constantFrom(1e308, -1e308, Number.MAX_VALUE, Number.MIN_VALUE, 2 ** 53 + 1, -0),
    fc.string(),
    fc.string({ unit: 'binary', maxLength: 50 }),
    fc.boolean(),
    fc.constant(null),
    fc.jsonValue({ maxDepth: 3 }),
  );
  const key = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...features) },
    { weight: 1, arbitrary: fc.string({ maxLength: 40 }) },
    { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', '') },
  );
  const randomInstance = fc.dictionary(key, weird, { maxKeys: 40 });
  /** A valid instance with a few features replaced, removed, or joined by unknown ones. */
  const mutatedInstance = fc
    .tuple(
      fc.subarray(features, { maxLength: 4 }),
      fc.array(weird, { minLength: 4, maxLength: 4 }),
      fc.subarray(features, { maxLength: 2 }),
      fc.dictionary(fc.string({ maxLength: 20 }), weird, { maxKeys: 2 }),
    )
    .map(([replaced, values, removed, extra]) => {
      const out: Record<string, unknown> = { ...valid, ...extra };
      replaced.forEach((f, i) => (out[f] = values[i]));
      for (const f of removed) delete out[f];
      return out;
    });
  const instance = fc.oneof(mutatedInstance, randomInstance, weird);
  const envelope = fc
    .record(
      {
        instances: fc.oneof(
          { weight: 6, arbitrary: fc.array(instance, { maxLength: 6 }) },
          { weight: 1, arbitrary: weird },
        ),
        routingKey: fc.oneof(fc.string({ maxLength: 300 }), weird),
        extra: weird,
      },
      { requiredKeys: [] },
    )
    .map((o) => JSON.stringify(o));
  const deep = fc
    .tuple(fc.integer({ min: 1, max: 200_000 }), fc.constantFrom('[', '{"a":'), fc.boolean())
    .map(([depth, open, wrapped]) => {
      const close = open === '[' ? ']' : '}';
      const nested = open.repeat(depth) + '1' + close.repeat(depth);
      return wrapped ? `{"instances":[${nested}]}` : nested;
    });
  const hugeBatch = fc
    .integer({ min: 65, max: 300 })
    .map((n) => JSON.stringify({ instances: Array(n).fill(valid) }));
  const hugeNumbers = fc
    .constantFrom('1e999999', '-1e999999', '9'.repeat(5000), '0.' + '0'.repeat(5000) + '1', 'NaN', 'Infinity')
    .map((n) => `{"instances":[{"${features[0]}":${n}}]}`);
  const oversized = fc
    .integer({ min: MAX_BODY_BYTES - 100, max: 3 * MAX_BODY_BYTES })
    .map((n) => `{"instances":[{"${features[0]}":"${'x'.repeat(n)}"}]}`);
  const body = fc.oneof(
    { weight: 150, arbitrary: envelope },
    { weight: 80, arbitrary: fc.jsonValue().map((v) => JSON.stringify(v)) },
    { weight: 40, arbitrary: fc.string({ unit: 'binary', maxLength: 500 }) },
    { weight: 40, arbitrary: fc.uint8Array({ maxLength: 2000 }) },
    { weight: 20, arbitrary: deep },
    { weight: 10, arbitrary: hugeNumbers },
    { weight: 5, arbitrary: hugeBatch },
    { weight: 1, arbitrary: oversized },
  );
  const path = fc.oneof(
    { weight: 20, arbitrary: fc.constant(`/models/${MODEL}/invoke`) },
    { weight: 1, arbitrary: fc.constant(`/models/${MODEL}/invoke/`) },
    {
      weight: 2,
      arbitrary: fc.string({ maxLength: 30 }).map((s) => `/models/${encodeURIComponent(s)}/invoke`),
    },
    {
      weight: 2,
      arbitrary: fc
        .array(fc.string({ maxLength: 12 }), { maxLength: 5 })
        .map((segments) => `/${segments.map(encodeURIComponent).join('/')}`),
    },
  );
  const method = fc.oneof(
    { weight: 20, arbitrary: fc.constant('POST') },
    { weight: 1, arbitrary: fc.constantFrom('GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD') },
  );
  const contentType = fc.constantFrom('application/json', 'text/plain', 'application/octet-stream', '');
  return fc.record({ method, path, contentType, body }) as fc.Arbitrary<Case>;
}

it(`answers ${RUNS} malformed requests over HTTP without a 5xx, and keeps serving`, async () => {
  const statuses = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(arbitraries(), async (c) => {
      const r = await httpRequest(base, {
        method: c.method,
        path: c.path,
        headers: c.contentType === '' ? {} : { 'content-type': c.contentType },
        body: c.body,
        agent,
      });
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      if (!ALLOWED.has(r.status)) throw new Error(`status ${r.status}: ${r.text.slice(0, 500)}`);
      if (c.method !== 'HEAD') {
        const body = r.json as { error?: { code?: unknown }; predictions?: unknown } | undefined;
        if (body === undefined) throw new Error(`not JSON (${r.status}): ${r.text.slice(0, 200)}`);
        if (r.status !== 200 && typeof body.error?.code !== 'string') {
          throw new Error(`error without a code (${r.status}): ${r.text.slice(0, 200)}`);
        }
      }
    }),
    { numRuns: RUNS },
  );
  const total = [...statuses.values()].reduce((a, b) => a + b, 0);
  expect(total).toBeGreaterThanOrEqual(RUNS);
  expect([...statuses.keys()].filter((s) => s >= 500)).toEqual([]);
  // The mix really exercised the refusals.
  for (const s of [400, 404, 413]) expect(statuses.get(s) ?? 0, `status ${s}`).toBeGreaterThan(0);
  console.info(`statuses over ${total} requests: ${JSON.stringify(Object.fromEntries(statuses))}`);

  const after = await invokeModel(base, MODEL, { instances: [valid] }, agent);
  expect(after.status).toBe(200);
  const metrics = (await httpRequest(base, { method: 'GET', path: '/metrics', agent })).json as {
    name: string;
    dimensions: Record<string, string>;
    sum: number;
  }[];
  const errors = metrics.filter((m) => m.name === 'Errors').reduce((a, m) => a + m.sum, 0);
  expect(errors).toBe(0);
});

it('answers malformed HTTP on a raw socket with a 4xx and stays up', async () => {
  const url = new URL(base);
  for (const garbage of [
    'GARBAGE\r\n\r\n',
    'POST /models/breast-cancer/invoke HTTP/1.1\r\nContent-Length: -1\r\n\r\n',
    `GET / HTTP/1.1\r\nX-Big: ${'a'.repeat(100_000)}\r\n\r\n`,
    '\u0000\u0001\u0002\r\n\r\n',
  ]) {
    const reply = await new Promise<string>((resolve) => {
      const socket = connect(Number(url.port), url.hostname);
      let text = '';
      socket.on('data', (d) => (text += d.toString('latin1')));
      socket.on('close', () => resolve(text));
      socket.on('error', () => resolve(text));
      socket.end(garbage);
    });
    expect(reply).toMatch(/^HTTP\/1\.1 4\d\d /);
  }
  expect((await invokeModel(base, MODEL, { instances: [valid] }, agent)).status).toBe(200);
});
