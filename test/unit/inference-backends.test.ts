import { Metrics } from '@aws-lambda-powertools/metrics';
import type { InvokeEndpointCommand } from '@aws-sdk/client-sagemaker-runtime';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PowertoolsMetricsSink } from '../../lambdas/adapters/powertools-metrics-sink';
import {
  createSageMakerBackend,
  parseEndpointOutputs,
  type InvokeEndpointClient,
} from '../../lambdas/adapters/sagemaker-backend';
import { inferenceSettingsFromEnv } from '../../lambdas/inference/from-env';
import { createInferenceApp } from '../../lambdas/inference/inference-app';
import { toHttpRequest, toLambdaResult } from '../../lambdas/inference/lambda-url';
import { InMemoryMetricsSink } from '../../lambdas/adapters/in-memory-metrics-sink';
import { FakeRegistry } from './fakes';
import {
  exampleBundle,
  FakeRouting,
  invoke,
  MemoryLogger,
  publish,
  smokeInstances,
  ledgerFor,
} from './inference-helpers';

const BC = 'breast-cancer';
const breastCancer = exampleBundle(BC);
const instance = smokeInstances(breastCancer)[0]!;

/** Records every InvokeEndpoint input and answers with `reply`. */
function stubClient(reply: (input: InvokeEndpointCommand['input']) => unknown): InvokeEndpointClient & {
  inputs: InvokeEndpointCommand['input'][];
} {
  const inputs: InvokeEndpointCommand['input'][] = [];
  return {
    inputs,
    async send(command) {
      inputs.push(command.input);
      const body = reply(command.input);
      return {
        Body: new TextEncoder().encode(typeof body === 'string' ? body : JSON.stringify(body)),
      } as never;
    },
  };
}

function routerApp(
  client: InvokeEndpointClient,
  fields: Parameters<FakeRouting['set']>[1] = { stable: '1.0.0' },
) {
  const registry = new FakeRegistry();
  const routing = new FakeRouting();
  publish(registry, breastCancer, '1.0.0');
  publish(registry, breastCancer, '1.1.0-rc.1');
  routing.set(BC, fields);
  const metrics = new InMemoryMetricsSink();
  const app = createInferenceApp({
    models: [BC],
    registry,
    versions: ledgerFor(registry),
    routing,
    backend: createSageMakerBackend({ endpointName: 'bc-endpoint', client }),
    metrics,
    logger: new MemoryLogger(),
  });
  return { app, registry, metrics };
}

const goodReply = (input: InvokeEndpointCommand['input']) => {
  const n = (JSON.parse(String(input.Body)) as { instances: unknown[] }).instances.length;
  return {
    outputs: {
      label: Array.from({ length: n }, () => 1),
      probabilities: Array.from({ length: n }, () => [0.25, 0.75]),
    },
  };
};

describe('SageMaker backend through the inference app', () => {
  it('invokes the chosen version variant with the validated instances, loading no artifact', async () => {
    const client = stubClient(goodReply);
    const { app, registry } = routerApp(client, { stable: '1.0.0', candidate: '1.1.0-rc.1', weight: 1 });
    const res = await app(invoke(BC, { instances: [instance, instance] }));
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-modelops-version']).toBe('1.1.0-rc.1');
    expect(client.inputs).toHaveLength(1);
    const input = client.inputs[0]!;
    expect(input).toMatchObject({
      EndpointName: 'bc-endpoint',
      TargetVariant: 'v-1-1-0--rc-1',
      ContentType: 'application/json',
      Accept: 'application/json',
    });
    expect(JSON.parse(String(input.Body))).toEqual({ instances: [instance, instance] });
    expect(JSON.parse(res.body).predictions).toEqual([
      { label: 'benign', probabilities: { malignant: 0.25, benign: 0.75 } },
      { label: 'benign', probabilities: { malignant: 0.25, benign: 0.75 } },
    ]);
    expect(registry.calls.some((c) => c.startsWith('readBytes'))).toBe(false);
  });

  it("answers DeployCandidate's warm-up: the candidate's smoke samples through the router onto its variant", async () => {
    // A variant that serves the model: it answers each smoke input with the manifest's expected output.
    const samples = breastCancer.manifest.smokeSamples;
    const client = stubClient((input) => {
      const [sent] = (JSON.parse(String(input.Body)) as { instances: unknown[] }).instances;
      const expected = samples.find((s) => JSON.stringify(s.inputs) === JSON.stringify(sent))!.expected as {
        label: unknown;
        probabilities: unknown;
      };
      return { outputs: { label: [expected.label], probabilities: [expected.probabilities] } };
    });
    const { app, metrics } = routerApp(client, { stable: '1.0.0', candidate: '1.1.0-rc.1', weight: 0 });
    const result = await app.warmCandidate({ model: BC, version: '1.1.0-rc.1' });
    expect(result.outcome, JSON.stringify(result)).toBe('warmed');
    expect(result.samples.length).toBeGreaterThan(0);
    expect(result.samples.every((s) => s.ok)).toBe(true);
    expect(client.inputs.map((i) => i.TargetVariant)).toEqual(result.samples.map(() => 'v-1-1-0--rc-1'));
    // A warm-up is not traffic: the canary judge must not count it.
    expect(metrics.snapshot()).toEqual([]);
    // A variant that answers otherwise than the manifest's smoke outputs fails the warm-up.
    const wrong = stubClient(goodReply);
    const refused = await routerApp(wrong, {
      stable: '1.0.0',
      candidate: '1.1.0-rc.1',
      weight: 0,
    }).app.warmCandidate({
      model: BC,
      version: '1.1.0-rc.1',
    });
    expect(refused.outcome).toBe('smoke-failed');
  });

  it('rejects invalid input with 400 before calling the endpoint', async () => {
    const client = stubClient(goodReply);
    const { app } = routerApp(client);
    const res = await app(invoke(BC, { instances: [{ ...instance, mean_radius: 'big' }] }));
    expect(res.statusCode).toBe(400);
    expect(client.inputs).toHaveLength(0);
  });

  it('maps an endpoint error (ModelError) to 502 BadGateway with its message, counted as an error', async () => {
    const client: InvokeEndpointClient = {
      send: async () => {
        throw Object.assign(new Error('Received client error (400) from primary'), {
          name: 'ModelError',
          OriginalStatusCode: 400,
          OriginalMessage: 'container says no',
        });
      },
    };
    const { app, metrics } = routerApp(client);
    const res = await app(invoke(BC, { instances: [instance] }));
    expect(res.statusCode).toBe(502);
    const error = (JSON.parse(res.body) as { error: { code: string; message: string } }).error;
    expect(error.code).toBe('BadGateway');
    expect(error.message).toContain('bc-endpoint');
    expect(error.message).toContain('v-1-0-0');
    expect(error.message).toContain('ModelError (container status 400): container says no');
    expect(metrics.sum('Errors', { Model: BC, Version: '1.0.0' })).toBe(1);
  });

  it('fails with 502 when the endpoint answers outside the contract', async () => {
    for (const reply of [
      'not json',
      { predictions: [] },
      { outputs: { label: [1] } },
      { outputs: { label: [9], probabilities: [[0.5, 0.5]] } },
    ]) {
      const { app } = routerApp(stubClient(() => reply));
      const res = await app(invoke(BC, { instances: [instance] }));
      expect(res.statusCode, JSON.stringify(reply)).toBe(502);
    }
  });
});

describe('parseEndpointOutputs', () => {
  const manifest = {
    outputs: [
      { name: 'label', kind: 'class' as const, elementType: 'string' as const, labels: ['a', 'b'] },
      { name: 'value', kind: 'regression' as const, elementType: 'float32' as const },
    ],
  };
  it('builds [count, width] tensors from per-instance values', () => {
    expect(
      parseEndpointOutputs({ outputs: { label: ['a', 'b'], value: [1, [2]], extra: 0 } }, manifest, 2),
    ).toEqual({
      label: { elementType: 'string', dims: [2, 1], data: ['a', 'b'] },
      value: { elementType: 'float32', dims: [2, 1], data: [1, 2] },
    });
  });
  it('rejects rows that are not values', () => {
    expect(() => parseEndpointOutputs({ outputs: { label: [{}], value: [1] } }, manifest, 1)).toThrow(
      /not a number/,
    );
  });
});

interface EmfBlob {
  readonly _aws: { readonly CloudWatchMetrics: readonly unknown[] };
  readonly [key: string]: unknown;
}

describe('PowertoolsMetricsSink', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
    vi.restoreAllMocks();
  });

  it('publishes one EMF blob per group with exactly the {Model, Version} and {Model} dimension sets', () => {
    vi.stubEnv('POWERTOOLS_DEV', 'true');
    vi.stubEnv('POWERTOOLS_METRICS_DISABLED', 'false');
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    const sink = new PowertoolsMetricsSink({
      namespace: 'ModelOpsTest',
      metrics: new Metrics({ namespace: 'ModelOpsTest', serviceName: 'inference' }),
    });
    sink.emit(
      [{ Model: 'm', Version: '1' }, { Model: 'm' }],
      [
        { name: 'Requests', unit: 'Count', value: 1 },
        { name: 'Latency', unit: 'Milliseconds', value: 1.25, highResolution: true },
      ],
    );
    sink.emit(
      [{ Model: 'm', Version: '2' }, { Model: 'm' }],
      [{ name: 'ShadowDisagreement', unit: 'Count', value: 1 }],
    );
    expect(log).not.toHaveBeenCalled();
    sink.flush();
    const blobs = log.mock.calls.map((c) => JSON.parse(String(c[0])) as EmfBlob);
    expect(blobs).toHaveLength(2);
    const [first, second] = blobs as [EmfBlob, EmfBlob];
    expect(first._aws.CloudWatchMetrics[0]).toEqual({
      Namespace: 'ModelOpsTest',
      Dimensions: [['Model', 'Version'], ['Model']],
      Metrics: [
        { Name: 'Requests', Unit: 'Count' },
        { Name: 'Latency', Unit: 'Milliseconds', StorageResolution: 1 },
      ],
    });
    expect(first).toMatchObject({ Model: 'm', Version: '1', Requests: 1, Latency: 1.25 });
    expect(first).not.toHaveProperty('service');
    expect(second).toMatchObject({ Version: '2', ShadowDisagreement: 1 });
    sink.flush();
    expect(log).toHaveBeenCalledTimes(2);
  });
});

describe('Function URL adapter', () => {
  it('maps the event to the app request and the response back', () => {
    const event = {
      rawPath: '/models/m/invoke',
      body: 'e30=',
      isBase64Encoded: true,
      headers: { 'content-type': 'application/json' },
      requestContext: { http: { method: 'POST' }, requestId: 'abc' },
    } as unknown as APIGatewayProxyEventV2;
    expect(toHttpRequest(event)).toEqual({
      method: 'POST',
      path: '/models/m/invoke',
      headers: { 'content-type': 'application/json' },
      body: 'e30=',
      isBase64Encoded: true,
      requestId: 'abc',
    });
    expect(toLambdaResult({ statusCode: 200, headers: { a: 'b' }, body: '{}' })).toEqual({
      statusCode: 200,
      headers: { a: 'b' },
      body: '{}',
      isBase64Encoded: false,
    });
  });
});

describe('inferenceSettingsFromEnv', () => {
  it('uses the contract defaults when nothing is set', () => {
    expect(inferenceSettingsFromEnv({})).toEqual({
      routingCacheTtlMs: 5000,
      latencyThresholdMs: 250,
      limits: { maxBodyBytes: 1048576, maxBatch: 64 },
      capture: { sampleRate: 0, batchRecords: 100, maxAgeMs: 60000 },
    });
  });
  it('reads the variables and rejects bad values naming the variable', () => {
    expect(
      inferenceSettingsFromEnv({ ROUTING_CACHE_TTL_MS: '250', MAX_BATCH: '8', CAPTURE_SAMPLE_RATE: '0.05' }),
    ).toMatchObject({ routingCacheTtlMs: 250, limits: { maxBatch: 8 }, capture: { sampleRate: 0.05 } });
    expect(() => inferenceSettingsFromEnv({ CAPTURE_SAMPLE_RATE: '5' })).toThrow(
      /CAPTURE_SAMPLE_RATE.*from 0 to 1/,
    );
    expect(() => inferenceSettingsFromEnv({ MAX_BATCH: '1.5' })).toThrow(/MAX_BATCH must be a whole number/);
  });
});
