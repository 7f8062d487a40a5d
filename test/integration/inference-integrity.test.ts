/**
 * Integrity on the serving path: a registered artifact overwritten in S3 (the emulator has no object lock) is
 * refused before it is loaded, counted in the metrics, and the other arm (when there is one) keeps serving.
 * Its own file, so the inference server starts with nothing cached.
 */
import { createHash } from 'node:crypto';
import { Agent } from 'node:http';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { inferenceService } from '../../local/inference-server';
import { promoteStable, changeRouting } from '../../lambdas/core/promotion';
import {
  invokeModel,
  invokeUntil,
  loadExample,
  metricSum,
  readMetrics,
  startHarness,
  type Harness,
  type HttpResult,
} from './harness';

const MODEL = 'breast-cancer';
const TAMPERED = '1.0.0';
const GOOD = '2.0.0';

let h: Harness;
let base: string;
let instance: Record<string, unknown>;
const agent = new Agent({ keepAlive: true });

beforeAll(async () => {
  h = await startHarness({
    services: [inferenceService({ port: 0, environment: { ROUTING_CACHE_TTL_MS: '200' } })],
  });
  base = h.inference()!.baseUrl;
  const { manifest, artifact } = await loadExample(MODEL);
  instance = (manifest as unknown as { smokeSamples: { inputs: Record<string, unknown> }[] }).smokeSamples[0]!
    .inputs;
  await h.pushExample(MODEL, TAMPERED);
  await h.pushExample(MODEL, GOOD);
  // Other, perfectly loadable ONNX bytes: only the hash check can tell they are not the registered artifact.
  const { artifact: otherModel } = await loadExample('credit-risk');
  const sha = createHash('sha256').update(artifact).digest('hex');
  await h.s3.send(
    new PutObjectCommand({
      Bucket: h.bucket,
      Key: `models/${MODEL}/${TAMPERED}/${sha}.onnx`,
      Body: otherModel,
    }),
  );
});
afterAll(async () => {
  agent.destroy();
  await h?.stop();
});

const pollUntil = (done: (r: HttpResult) => boolean) =>
  invokeUntil(base, MODEL, { instances: [instance] }, done, agent);

const message = (r: HttpResult) => (r.json as { error?: { message: string } }).error?.message ?? '';
const version = (r: HttpResult) => (r.json as { version?: string }).version;

async function integrityFailures(v: string): Promise<number> {
  return metricSum(await readMetrics(base, agent), 'IntegrityFailures', { Model: MODEL, Version: v });
}

it('refuses a tampered stable version with 503 and counts the integrity failure', async () => {
  await promoteStable(h.metadata, { model: MODEL, version: TAMPERED, actor: 'test' });
  const r = await pollUntil((x) => /refused/.test(message(x)));
  expect(r.status).toBe(503);
  expect((r.json as { error: { code: string } }).error.code).toBe('ModelNotServable');
  expect(message(r)).toMatch(/does not match the registered sha256/);
  expect(await integrityFailures(TAMPERED)).toBeGreaterThanOrEqual(1);
  expect(await integrityFailures(GOOD)).toBe(0);
});

it('serves the other arm while the chosen version is refused', async () => {
  // Half the traffic would go to the good candidate; the refused stable's half falls back to it too.
  await changeRouting(h.metadata, {
    model: MODEL,
    candidate: GOOD,
    weight: 0.5,
    mode: 'canary',
    actor: 'test',
  });
  await pollUntil((x) => x.status === 200);
  for (let i = 0; i < 20; i++) {
    const r = await invokeModel(base, MODEL, { instances: [instance] }, agent);
    expect(r.status).toBe(200);
    expect(version(r)).toBe(GOOD);
  }
});

it('serves normally once a good version is promoted, and never loads the tampered bytes', async () => {
  await promoteStable(h.metadata, { model: MODEL, version: GOOD, actor: 'test' });
  const r = await pollUntil((x) => x.status === 200 && version(x) === GOOD);
  expect(r.status).toBe(200);
  expect(r.headers['x-modelops-version']).toBe(GOOD);
  // Routing back to the tampered version as a full-weight candidate still answers from the good stable one.
  await changeRouting(h.metadata, {
    model: MODEL,
    candidate: TAMPERED,
    weight: 1,
    mode: 'canary',
    actor: 'test',
  });
  for (let i = 0; i < 10; i++) {
    const again = await invokeModel(base, MODEL, { instances: [instance] }, agent);
    expect(again.status).toBe(200);
    expect(version(again)).toBe(GOOD);
  }
});
