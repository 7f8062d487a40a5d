/**
 * Label feedback end to end in local mode: the local inference server (real app, ONNX Runtime, the emulated
 * PredictionLog table) logs sampled predictions, `modelops feedback` posts labels (one, or a CSV), and the accuracy
 * the metrics show is the share of correct labels.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../../cli/errors';
import { inferenceService } from '../../local/inference-server';
import {
  httpRequest,
  invokeUntil,
  loadExample,
  readMetrics,
  startHarness,
  TEST_CONFIG,
  type Harness,
  type MetricSeries,
} from './harness';

const BC = 'breast-cancer';
let h: Harness;
let base: string;
let work: string;
let runCli: (args: readonly string[], io?: CliIo) => Promise<number>;

beforeAll(async () => {
  h = await startHarness({
    config: {
      ...TEST_CONFIG,
      models: [{ name: BC, owner: 'ml-platform', feedback: { sampleRate: 1, ttlDays: 1 } }],
    },
    services: [inferenceService({ port: 0, environment: { ROUTING_CACHE_TTL_MS: '100' } })],
  });
  base = h.inference()!.baseUrl;
  ({ runCli } = await import('../../cli/index'));
  work = await mkdtemp(path.join(tmpdir(), 'modelops-feedback-'));
  await h.pushExample(BC);
});
afterAll(async () => {
  await h?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

function cli(args: readonly string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (l) => out.push(l), err: (l) => err.push(l) };
  const target = ['--s3-endpoint', h.target.s3Endpoint!, '--dynamodb-endpoint', h.target.dynamodbEndpoint!];
  return runCli(args[0] === 'promote' ? [...args, ...target] : args, io).then((code) => ({ code, out, err }));
}

const other = (label: string) => (label === 'benign' ? 'malignant' : 'benign');

function series(all: readonly MetricSeries[], name: string, dims: Record<string, string>): MetricSeries {
  const key = JSON.stringify(Object.entries(dims).sort());
  const found = all.find(
    (s) => s.name === name && JSON.stringify(Object.entries(s.dimensions).sort()) === key,
  );
  if (found === undefined) throw new Error(`no ${name} series under ${key}`);
  return found;
}

describe('feedback in local mode', () => {
  it('joins 8 right and 2 wrong labels into accuracy 0.8, idempotently, and refuses conflicts', async () => {
    const { manifest } = await loadExample(BC);
    const version = (manifest as { version: string }).version;
    const promoted = await cli(['promote', BC, version]);
    expect(promoted.code, promoted.err.join('\n')).toBe(0);
    const samples = (manifest as unknown as { smokeSamples: { inputs: Record<string, unknown> }[] })
      .smokeSamples;
    await invokeUntil(base, BC, { instances: [samples[0]!.inputs] }, (r) => r.status === 200);

    const predicted: string[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await httpRequest(base, {
        path: `/models/${BC}/invoke`,
        headers: { 'x-request-id': `fb-${i}` },
        body: JSON.stringify({ instances: [samples[i % samples.length]!.inputs] }),
      });
      expect(r.status, r.text).toBe(200);
      predicted.push((r.json as { predictions: { label: string }[] }).predictions[0]!.label);
    }

    // 8 right, 2 wrong, and one request id that was never served.
    const rows = predicted.map((p, i) => `fb-${i},${i < 8 ? p : other(p)}`);
    const csv = path.join(work, 'labels.csv');
    await writeFile(csv, ['requestId,label', ...rows, 'never-served,benign'].join('\n'));
    const first = await cli(['feedback', BC, '--csv', csv, '--url', base]);
    expect(first.code).toBe(1);
    expect(first.out.at(-1)).toBe('11 label(s): 10 recorded, 0 duplicate, 1 failed');
    expect(first.err).toEqual([expect.stringMatching(/^row 11 never-served: PredictionNotFound \(404\)/)]);

    const all = await readMetrics(base);
    const dimSets: Record<string, string>[] = [{ Model: BC, Version: version }, { Model: BC }];
    for (const dims of dimSets) {
      const correct = series(all, 'PredictionCorrect', dims);
      expect(correct.count).toBe(10);
      expect(correct.sum / correct.count).toBeCloseTo(0.8, 10);
      expect(series(all, 'LabelsReceived', dims).sum).toBe(10);
      expect(series(all, 'LabelLagSeconds', dims).count).toBe(10);
    }

    // The same labels again: all duplicates, nothing counted twice.
    const good = path.join(work, 'good.csv');
    await writeFile(good, ['requestId,label', ...rows].join('\n'));
    const again = await cli(['feedback', BC, '--csv', good, '--url', base]);
    expect(again.code, again.err.join('\n')).toBe(0);
    expect(again.out.at(-1)).toBe('10 label(s): 0 recorded, 10 duplicate, 0 failed');
    expect(series(await readMetrics(base), 'PredictionCorrect', { Model: BC }).count).toBe(10);

    // A different label for a labelled prediction is refused; the first label stands.
    const conflict = await cli([
      'feedback',
      BC,
      '--request-id',
      'fb-0',
      '--label',
      other(predicted[0]!),
      '--url',
      base,
    ]);
    expect(conflict.code).toBe(1);
    expect(conflict.err.join('\n')).toMatch(/row 1 fb-0: LabelConflict \(409\)/);
  });

  it('refuses bad usage with exit 2 and a CSV without the label column', async () => {
    expect((await cli(['feedback', BC, '--request-id', 'x', '--url', base])).code).toBe(2);
    const csv = path.join(work, 'bad.csv');
    await writeFile(csv, 'requestId,truth\nfb-0,benign\n');
    const bad = await cli(['feedback', BC, '--csv', csv, '--url', base]);
    expect(bad.code).toBe(2);
    expect(bad.err.join('\n')).toMatch(/has no "label" column/);
  });
});
