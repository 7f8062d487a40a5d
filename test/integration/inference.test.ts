/**
 * The local inference server (real app, real ONNX Runtime, real adapters) on the emulators: push → promote → invoke
 * reproduces each example's smoke outputs; the 400/404/405/413 paths over real HTTP; routing changes made with the
 * CLI take effect within the routing cache TTL; promotions and routing changes are audited.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../../cli/errors';
import { inferenceService } from '../../local/inference-server';
import {
  EXAMPLES,
  httpRequest,
  invokeModel,
  invokeUntil,
  loadExample,
  metricSum,
  readMetrics,
  startHarness,
  type Harness,
  type HttpResult,
} from './harness';

interface SmokeSample {
  inputs: Record<string, unknown>;
  expected: { label: number; probabilities: number[] };
  tolerance: number;
}
interface ExampleManifest {
  version: string;
  outputs: { name: string; labels?: string[] }[];
  smokeSamples: SmokeSample[];
}
interface InvokeBody {
  model: string;
  version: string;
  requestId: string;
  predictions: { label: string; probabilities: Record<string, number> }[];
}
interface ErrorBody {
  error: { code: string; message: string; details?: { path: string; message: string }[] };
  requestId: string;
}

let h: Harness;
let base: string;
let work: string;
let runCli: (args: readonly string[], io?: CliIo) => Promise<number>;
const agent = new Agent({ keepAlive: true, maxSockets: 4 });

beforeAll(async () => {
  // A short TTL so routing changes show quickly; the tests still only assert that they take effect.
  h = await startHarness({
    services: [inferenceService({ port: 0, environment: { ROUTING_CACHE_TTL_MS: '200' } })],
  });
  base = h.inference()!.baseUrl;
  ({ runCli } = await import('../../cli/index'));
  work = await mkdtemp(path.join(tmpdir(), 'modelops-inference-'));
  for (const name of EXAMPLES) await h.pushExample(name);
});
afterAll(async () => {
  agent.destroy();
  await h?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

function cli(args: readonly string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (l) => out.push(l), err: (l) => err.push(l) };
  const targetFlags = [
    '--s3-endpoint',
    h.target.s3Endpoint!,
    '--dynamodb-endpoint',
    h.target.dynamodbEndpoint!,
  ];
  const needsTarget = args[0] === 'promote' || args[0] === 'route';
  return runCli(needsTarget ? [...args, ...targetFlags] : args, io).then((code) => ({ code, out, err }));
}

const metrics = () => readMetrics(base, agent);
const pollUntil = (model: string, body: Record<string, unknown>, done: (r: HttpResult) => boolean) =>
  invokeUntil(base, model, body, done, agent);

const servedVersion = (r: HttpResult) => (r.json as InvokeBody).version;

describe.each(EXAMPLES)('%s: push → promote → invoke', (name) => {
  it('answers 503 ModelNotServable before any version is promoted', async () => {
    const { manifest } = await loadExample(name);
    const r = await invokeModel(base, name, {
      instances: [(manifest as unknown as ExampleManifest).smokeSamples[0]!.inputs],
    });
    expect(r.status).toBe(503);
    expect((r.json as ErrorBody).error.code).toBe('ModelNotServable');
  });

  it('reproduces the manifest smoke outputs after `modelops promote`, also through `modelops invoke`', async () => {
    const { manifest: raw } = await loadExample(name);
    const manifest = raw as unknown as ExampleManifest;
    const promoted = await cli(['promote', name, manifest.version]);
    expect(promoted.code, [...promoted.out, ...promoted.err].join('\n')).toBe(0);
    expect(promoted.out.join('\n')).toMatch(/PROMOTED/);

    const labels = manifest.outputs.find((o) => o.name === 'probabilities')!.labels!;
    const instances = manifest.smokeSamples.map((s) => s.inputs);
    // Routing is cached for at most the TTL; the first request after promotion may still see "no record".
    const r = await pollUntil(name, { instances }, (x) => x.status !== 503);
    expect(r.status, r.text).toBe(200);
    expect(r.headers['x-modelops-version']).toBe(manifest.version);
    const body = r.json as InvokeBody;
    expect(body).toMatchObject({ model: name, version: manifest.version, requestId: expect.any(String) });
    expect(body.predictions).toHaveLength(manifest.smokeSamples.length);
    manifest.smokeSamples.forEach((sample, i) => {
      const p = body.predictions[i]!;
      expect(p.label).toBe(labels[sample.expected.label]);
      expect(Object.keys(p.probabilities)).toEqual(labels);
      labels.forEach((label, j) => {
        expect(Math.abs(p.probabilities[label]! - sample.expected.probabilities[j]!)).toBeLessThanOrEqual(
          sample.tolerance,
        );
      });
    });

    // The same through the CLI, with a bare array in the file.
    const file = path.join(work, `${name}-instances.json`);
    await writeFile(file, JSON.stringify(instances));
    const invoked = await cli(['invoke', name, '--file', file, '--url', base]);
    expect(invoked.code, invoked.err.join('\n')).toBe(0);
    const printed = JSON.parse(invoked.out.join('\n')) as InvokeBody;
    expect(printed.predictions.map((p) => p.label)).toEqual(body.predictions.map((p) => p.label));

    const audit = await h.audit(name, manifest.version);
    expect(audit.map((e) => e.type)).toContain('PROMOTED');
  });
});

describe('error paths over HTTP', () => {
  const model = 'breast-cancer';
  let valid: Record<string, unknown>;
  beforeAll(async () => {
    const { manifest } = await loadExample(model);
    valid = (manifest as unknown as ExampleManifest).smokeSamples[0]!.inputs;
  });

  it('rejects malformed JSON with 400 InvalidInput', async () => {
    const r = await httpRequest(base, { path: `/models/${model}/invoke`, body: '{"instances": [', agent });
    expect(r.status).toBe(400);
    expect((r.json as ErrorBody).error.code).toBe('InvalidInput');
  });

  it('rejects invalid instances with 400, listing every field error of every instance', async () => {
    const bad0 = { ...valid, mean_radius: 'big' };
    const bad1: Record<string, unknown> = { ...valid, typo_feature: 1 };
    delete bad1.mean_texture;
    const r = await invokeModel(base, model, { instances: [bad0, valid, bad1] }, agent);
    expect(r.status).toBe(400);
    const paths = (r.json as ErrorBody).error.details!.map((d) => d.path).sort();
    expect(paths).toEqual(
      ['instances[0].mean_radius', 'instances[2].mean_texture', 'instances[2].typo_feature'].sort(),
    );
  });

  it('rejects an unknown model and an unknown path with 404', async () => {
    const unknownModel = await invokeModel(base, 'no-such-model', { instances: [valid] }, agent);
    expect(unknownModel.status).toBe(404);
    expect((unknownModel.json as ErrorBody).error.code).toBe('ModelNotFound');
    const unknownPath = await httpRequest(base, { path: '/predict', body: '{}', agent });
    expect(unknownPath.status).toBe(404);
  });

  it('rejects GET on the invoke path with 405', async () => {
    const r = await httpRequest(base, { method: 'GET', path: `/models/${model}/invoke`, agent });
    expect(r.status).toBe(405);
    expect((r.json as ErrorBody).error.code).toBe('MethodNotAllowed');
  });

  it('rejects too many instances and too large bodies with 413, and keeps serving on the same connections', async () => {
    const tooMany = await invokeModel(base, model, { instances: Array(65).fill(valid) }, agent);
    expect(tooMany.status).toBe(413);
    expect((tooMany.json as ErrorBody).error.code).toBe('PayloadTooLarge');

    // Just over MAX_BODY_BYTES: the app's own 413. Far over it: the adapter stops buffering and answers 413.
    for (const size of [1024 * 1024 + 10, 8 * 1024 * 1024]) {
      const body = `{"instances":[],"pad":"${'x'.repeat(size)}"}`;
      const r = await httpRequest(base, { path: `/models/${model}/invoke`, body, agent });
      expect(r.status, `body of ${size} bytes`).toBe(413);
      expect((r.json as ErrorBody).error.code).toBe('PayloadTooLarge');
    }
    const after = await invokeModel(base, model, { instances: [valid] }, agent);
    expect(after.status).toBe(200);
  });

  it('serves /healthz and counts requests and invalid input per model and version in /metrics', async () => {
    expect((await httpRequest(base, { method: 'GET', path: '/healthz', agent })).status).toBe(200);
    const series = await metrics();
    const { manifest } = await loadExample(model);
    const dims = { Model: model, Version: manifest.version };
    expect(metricSum(series, 'Requests', dims)).toBeGreaterThan(0);
    expect(metricSum(series, 'InvalidInput', { Model: model })).toBeGreaterThan(0);
    // The 503 answered before promotion counts as an error of the model; none under the served version.
    expect(metricSum(series, 'Errors', dims)).toBe(0);
  });
});

describe('routing changes', () => {
  const model = 'credit-risk';
  let instance: Record<string, unknown>;
  let v1: string;
  beforeAll(async () => {
    const { manifest } = await loadExample(model);
    v1 = manifest.version;
    instance = (manifest as unknown as ExampleManifest).smokeSamples[0]!.inputs;
    await h.pushExample(model, '2.0.0');
  });

  it('serves a newly promoted version within the TTL', async () => {
    expect((await cli(['promote', model, v1])).code).toBe(0);
    expect(servedVersion(await pollUntil(model, { instances: [instance] }, (r) => r.status === 200))).toBe(
      v1,
    );
    const promoted = await cli(['promote', model, '2.0.0']);
    expect(promoted.code, promoted.err.join('\n')).toBe(0);
    const r = await pollUntil(
      model,
      { instances: [instance] },
      (x) => x.status === 200 && servedVersion(x) === '2.0.0',
    );
    expect(servedVersion(r)).toBe('2.0.0');
  });

  it('routes to a candidate at weight 1, then back to stable when cleared', async () => {
    const routed = await cli(['route', model, '--candidate', v1, '--weight', '1']);
    expect(routed.code, routed.err.join('\n')).toBe(0);
    const toCandidate = await pollUntil(model, { instances: [instance] }, (r) => servedVersion(r) === v1);
    expect(servedVersion(toCandidate)).toBe(v1);
    expect((await cli(['route', model, '--clear'])).code).toBe(0);
    const back = await pollUntil(model, { instances: [instance] }, (r) => servedVersion(r) === '2.0.0');
    expect(servedVersion(back)).toBe('2.0.0');
  });

  it('in shadow mode answers with stable and records the comparison under the candidate', async () => {
    expect((await cli(['route', model, '--candidate', v1, '--mode', 'shadow'])).code).toBe(0);
    const compared = async () =>
      (await metrics()).filter(
        (s) => s.name === 'ShadowDisagreement' && s.dimensions.Version === v1 && s.dimensions.Model === model,
      ).length > 0;
    const deadline = Date.now() + 30_000;
    while (!(await compared()) && Date.now() < deadline) {
      const r = await invokeModel(base, model, { instances: [instance] }, agent);
      expect(servedVersion(r)).toBe('2.0.0');
    }
    expect(await compared()).toBe(true);
    // Same artifact under both versions: they never disagree.
    expect(metricSum(await metrics(), 'ShadowDisagreement', { Model: model, Version: v1 })).toBe(0);
  });

  it('refuses invalid routing changes with errors naming the flag (exit 2)', async () => {
    const badWeight = await cli(['route', model, '--candidate', v1, '--weight', '1.5']);
    expect(badWeight.code).toBe(2);
    expect(badWeight.err.join('\n')).toMatch(/--weight must be a number from 0 to 1/);
    const unknown = await cli(['route', model, '--candidate', '9.9.9', '--weight', '0.1']);
    expect(unknown.code).toBe(2);
    expect(unknown.err.join('\n')).toMatch(/--candidate: credit-risk 9\.9\.9 does not exist/);
    const notRegistered = await cli(['promote', model, '7.7.7']);
    expect(notRegistered.code).toBe(2);
  });

  it('audits every routing change in the ledger', async () => {
    const events = await h.metadata.audit.listAudit(model);
    const types = events.map((e) => e.type);
    expect(types.filter((t) => t === 'PROMOTED')).toHaveLength(2);
    expect(types.filter((t) => t === 'ROUTING_CHANGED')).toHaveLength(3);
    const deployment = await h.metadata.deployments.getDeployment(model);
    expect(deployment).toMatchObject({ stable: '2.0.0', candidate: v1, mode: 'shadow', revision: 5 });
  });
});
