/**
 * Integrity on the serving path: a registered artifact overwritten in S3 (the emulator has no object lock) is
 * refused before it is loaded, counted in the metrics, and the other arm (when there is one) keeps serving. Then
 * the fallback accounting over the local server's GET /metrics: a candidate that cannot serve — refused artifact,
 * ONNX session that cannot be created, manifest missing or not JSON — shows a 100 % error rate under its
 * {Model, Version} while its clients get 2xx from stable and {Model} counts each request once, without error.
 * Last, the security review's case: manifest and artifact replaced together under models/ (consistent with each
 * other, not with the ModelVersions record) are refused against the ledger.
 * Its own file, so the inference server starts with nothing cached.
 */
import { createHash } from 'node:crypto';
import { Agent } from 'node:http';
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
/**
 * Garbage bytes with a manifest naming their sha256. Since serving checks the ledger, the record's sha256 refuses
 * them before ONNX Runtime sees them (test/unit/inference-pipeline.test.ts covers a session that cannot be created).
 */
const UNLOADABLE = '3.0.0';
const MANIFEST_NOT_JSON = '4.0.0';
const MANIFEST_MISSING = '5.0.0';
/** Manifest and artifact both replaced, consistent with each other; the ModelVersions record still has the originals. */
const REPLACED_BOTH = '6.0.0';

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
  for (const v of [TAMPERED, GOOD, UNLOADABLE, MANIFEST_NOT_JSON, MANIFEST_MISSING, REPLACED_BOTH])
    await h.pushExample(MODEL, v);
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
  const put = (key: string, body: string | Buffer) =>
    h.s3.send(new PutObjectCommand({ Bucket: h.bucket, Key: key, Body: body }));
  const garbage = Buffer.from('these bytes are not an ONNX model');
  const garbageSha = createHash('sha256').update(garbage).digest('hex');
  await put(`models/${MODEL}/${UNLOADABLE}/${garbageSha}.onnx`, garbage);
  await put(
    `models/${MODEL}/${UNLOADABLE}/manifest.json`,
    JSON.stringify({
      ...manifest,
      version: UNLOADABLE,
      artifact: { ...manifest.artifact, sha256: garbageSha },
    }),
  );
  await put(`models/${MODEL}/${MANIFEST_NOT_JSON}/manifest.json`, '{"name": "breast-cancer", ');
  // Loadable ONNX bytes and a manifest naming their sha256, at their own content-addressed key and over the
  // recorded one: nothing under models/ disagrees, only the ledger does.
  const otherSha = createHash('sha256').update(otherModel).digest('hex');
  await put(`models/${MODEL}/${REPLACED_BOTH}/${otherSha}.onnx`, otherModel);
  await put(`models/${MODEL}/${REPLACED_BOTH}/${sha}.onnx`, otherModel);
  await put(
    `models/${MODEL}/${REPLACED_BOTH}/manifest.json`,
    JSON.stringify({
      ...manifest,
      version: REPLACED_BOTH,
      artifact: { ...manifest.artifact, sha256: otherSha, sizeBytes: otherModel.byteLength },
    }),
  );
  await h.s3.send(
    new DeleteObjectCommand({ Bucket: h.bucket, Key: `models/${MODEL}/${MANIFEST_MISSING}/manifest.json` }),
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
  expect(message(r)).toBe(
    `model "${MODEL}" cannot be served right now: version "${TAMPERED}" was refused: its artifact does not match the registered sha256`,
  );
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

const N = 10;

describe.each([
  { name: 'a refused artifact', candidate: TAMPERED },
  { name: 'an ONNX session that cannot be created', candidate: UNLOADABLE },
  { name: 'a manifest that is not JSON', candidate: MANIFEST_NOT_JSON },
  { name: 'a missing manifest', candidate: MANIFEST_MISSING },
])('a candidate with $name', ({ candidate }) => {
  it('is counted with a 100 % error rate under its version while clients get 2xx from stable', async () => {
    await changeRouting(h.metadata, { model: MODEL, candidate, weight: 1, mode: 'canary', actor: 'test' });
    const chosen = { Model: MODEL, Version: candidate };
    // A routing record read before the change is used for at most ROUTING_CACHE_TTL_MS (200) from its read; after
    // that the next request reads the new one. (Responses cannot tell: every record here is answered by GOOD.)
    await new Promise((r) => setTimeout(r, 500));
    const before = await readMetrics(base, agent);
    for (let i = 0; i < N; i++) {
      const r = await invokeModel(base, MODEL, { instances: [instance] }, agent);
      expect(r.status).toBe(200);
      expect(version(r)).toBe(GOOD);
    }
    const after = await readMetrics(base, agent);
    const delta = (name: string, dims: Record<string, string>) =>
      metricSum(after, name, dims) - metricSum(before, name, dims);
    expect(delta('Requests', chosen)).toBe(N);
    expect(delta('Errors', chosen)).toBe(N);
    expect(delta('Fallbacks', chosen)).toBe(N);
    expect(delta('Requests', { Model: MODEL, Version: GOOD })).toBe(N);
    expect(delta('Errors', { Model: MODEL, Version: GOOD })).toBe(0);
    expect(delta('Requests', { Model: MODEL })).toBe(N);
    expect(delta('Errors', { Model: MODEL })).toBe(0);
  });
});

describe('manifest and artifact replaced together under models/', () => {
  it('refuses the only version with 503 ModelNotServable naming the ledger check, and counts it', async () => {
    await promoteStable(h.metadata, { model: MODEL, version: REPLACED_BOTH, actor: 'test' });
    const r = await pollUntil((x) => message(x).includes(`"${REPLACED_BOTH}" was refused`));
    expect(r.status).toBe(503);
    expect((r.json as { error: { code: string } }).error.code).toBe('ModelNotServable');
    // "its manifest does not match the sha256 in ModelVersions" once records carry manifestSha256; before, the
    // manifest's artifact sha256 is what disagrees with the record.
    expect(message(r)).toMatch(
      new RegExp(
        `^model "${MODEL}" cannot be served right now: version "${REPLACED_BOTH}" was refused: its manifest('s artifact sha256)? does not match`,
      ),
    );
    expect(await integrityFailures(REPLACED_BOTH)).toBeGreaterThanOrEqual(1);
  });

  it('refuses it as a candidate: counted under its version while stable serves', async () => {
    await promoteStable(h.metadata, { model: MODEL, version: GOOD, actor: 'test' });
    await changeRouting(h.metadata, {
      model: MODEL,
      candidate: REPLACED_BOTH,
      weight: 1,
      mode: 'canary',
      actor: 'test',
    });
    await new Promise((r) => setTimeout(r, 500));
    const chosen = { Model: MODEL, Version: REPLACED_BOTH };
    const before = await readMetrics(base, agent);
    for (let i = 0; i < N; i++) {
      const r = await invokeModel(base, MODEL, { instances: [instance] }, agent);
      expect(r.status).toBe(200);
      expect(version(r)).toBe(GOOD);
    }
    const after = await readMetrics(base, agent);
    const delta = (name: string, dims: Record<string, string>) =>
      metricSum(after, name, dims) - metricSum(before, name, dims);
    expect(delta('IntegrityFailures', chosen)).toBe(N);
    expect(delta('Requests', chosen)).toBe(N);
    expect(delta('Errors', chosen)).toBe(N);
    expect(delta('Fallbacks', chosen)).toBe(N);
    expect(delta('Requests', { Model: MODEL })).toBe(N);
    expect(delta('Errors', { Model: MODEL })).toBe(0);
  });
});
