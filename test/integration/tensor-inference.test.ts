/**
 * The digits example (a tensor feature `image`, float32 [8, 8]) end to end on the emulators: pushed through the real
 * release pipeline (ValidateArtifact's signature and smoke checks, RegisterVersion), promoted with the CLI, then
 * answered 200 over real HTTP for both value forms — nested arrays and base64 — with identical predictions; a bad
 * tensor gets 400 naming the element; the model's own `inference.maxBatch` from the config is enforced (413).
 */
import { readFile } from 'node:fs/promises';
import { Agent } from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../../cli/errors';
import { inferenceService } from '../../local/inference-server';
import { EXAMPLES_DIR, invokeModel, invokeUntil, startHarness, type Harness } from './harness';

interface InvokeBody {
  version: string;
  predictions: { label: string; probabilities: Record<string, number> }[];
}
interface ErrorBody {
  error: { code: string; details?: { path: string; message: string }[] };
}
interface DigitsManifest {
  name: string;
  version: string;
  artifact: { file: string };
  smokeSamples: { inputs: { image: number[][] | { b64: string } }; expected: { label: number } }[];
}

const MAX_BATCH = 32;
let h: Harness;
let base: string;
let manifest: DigitsManifest;
const agent = new Agent({ keepAlive: true, maxSockets: 2 });

/** Little-endian float32 bytes of a nested image, as base64. */
const b64Of = (image: number[][]): string => {
  const flat = image.flat();
  const buf = Buffer.alloc(flat.length * 4);
  flat.forEach((v, i) => buf.writeFloatLE(v, i * 4));
  return buf.toString('base64');
};

/** The first reference images, as nested arrays. */
async function referenceImages(n: number): Promise<number[][][]> {
  const text = await readFile(path.join(EXAMPLES_DIR, 'digits', 'reference.jsonl'), 'utf8');
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .slice(0, n)
    .map((l) => (JSON.parse(l) as { image: number[][] }).image);
}

beforeAll(async () => {
  h = await startHarness({
    config: {
      models: [
        {
          name: 'digits',
          owner: 'ml-platform',
          riskTier: 'low',
          inference: { maxBatch: MAX_BATCH, maxBodyBytes: 2 * 1024 * 1024 },
        },
      ],
    },
    services: [inferenceService({ port: 0, environment: { ROUTING_CACHE_TTL_MS: '200' } })],
  });
  base = h.inference()!.baseUrl;
  const dir = path.join(EXAMPLES_DIR, 'digits');
  manifest = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as DigitsManifest;
  const artifact = await readFile(path.join(dir, manifest.artifact.file));
  const result = await h.release(await h.stage('digits', manifest.version, manifest, artifact));
  expect(result.status, JSON.stringify(result)).toBe('SUCCEEDED');
  const { runCli } = await import('../../cli/index');
  const out: string[] = [];
  const io: CliIo = { out: (l) => out.push(l), err: (l) => out.push(l) };
  const code = await runCli(
    [
      'promote',
      'digits',
      manifest.version,
      '--s3-endpoint',
      h.target.s3Endpoint!,
      '--dynamodb-endpoint',
      h.target.dynamodbEndpoint!,
    ],
    io,
  );
  expect(code, out.join('\n')).toBe(0);
});
afterAll(async () => {
  agent.destroy();
  await h?.stop();
});

describe('digits (tensor input) served end to end', () => {
  it('registers the version after the pipeline validated its signature and smoke samples', async () => {
    const record = await h.version('digits', manifest.version);
    expect(record?.status).toBe('REGISTERED');
    const audit = await h.audit('digits', manifest.version);
    expect(audit.map((e) => e.type)).toEqual(
      expect.arrayContaining(['VALIDATION_PASSED', 'REGISTERED', 'PROMOTED']),
    );
  });

  it.each([1, MAX_BATCH])(
    'answers 200 with identical predictions for nested arrays and base64 (batch %i)',
    async (n) => {
      const images = await referenceImages(n);
      const nested = await invokeUntil(
        base,
        'digits',
        { instances: images.map((image) => ({ image })) },
        (r) => r.status !== 503,
        agent,
      );
      expect(nested.status, nested.text).toBe(200);
      const b64 = await invokeModel(
        base,
        'digits',
        { instances: images.map((image) => ({ image: { b64: b64Of(image) } })) },
        agent,
      );
      expect(b64.status, b64.text).toBe(200);
      const a = nested.json as InvokeBody;
      const b = b64.json as InvokeBody;
      expect(a.version).toBe(manifest.version);
      expect(a.predictions).toHaveLength(n);
      expect(b.predictions).toEqual(a.predictions);
      expect(Object.keys(a.predictions[0]!.probabilities)).toEqual([
        '0',
        '1',
        '2',
        '3',
        '4',
        '5',
        '6',
        '7',
        '8',
        '9',
      ]);
    },
  );

  it('reproduces the smoke labels, the base64 smoke sample included', async () => {
    const r = await invokeUntil(
      base,
      'digits',
      { instances: manifest.smokeSamples.map((s) => s.inputs) },
      (x) => x.status !== 503,
      agent,
    );
    expect(r.status, r.text).toBe(200);
    expect((r.json as InvokeBody).predictions.map((p) => p.label)).toEqual(
      manifest.smokeSamples.map((s) => String(s.expected.label)),
    );
  });

  it('400: a bad element is named by its index; a short base64 by its byte length', async () => {
    const [image] = await referenceImages(1);
    const bad = image!.map((row) => [...row]);
    bad[2]![5] = Number.NaN; // JSON.stringify writes null
    const r = await invokeModel(
      base,
      'digits',
      { instances: [{ image: bad }, { image: { b64: b64Of(image!).slice(0, 8) } }] },
      agent,
    );
    expect(r.status).toBe(400);
    const details = (r.json as ErrorBody).error.details!;
    expect(details).toContainEqual({
      path: 'instances[0].image[2][5]',
      message: expect.stringMatching(/must be a number/),
    });
    expect(details).toContainEqual({
      path: 'instances[1].image.b64',
      message: expect.stringMatching(/decodes to 6 bytes.*256/),
    });
  });

  it('413: more than the model’s own maxBatch (config models[].inference.maxBatch)', async () => {
    const [image] = await referenceImages(1);
    const r = await invokeModel(
      base,
      'digits',
      { instances: Array.from({ length: MAX_BATCH + 1 }, () => ({ image: { b64: b64Of(image!) } })) },
      agent,
    );
    expect(r.status).toBe(413);
    expect(JSON.stringify(r.json)).toMatch(new RegExp(`at most ${MAX_BATCH} per request`));
  });
});
