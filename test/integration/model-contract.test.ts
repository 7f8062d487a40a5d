/**
 * The serve-time contract on the emulators, with the real release ASL and handlers and the local inference server:
 * one test per way a model used to pass validation and then fail requests the ingress validator accepts (issue 10).
 * The graphs are test/fixtures/model-contract/*.onnx (make_models.py beside them).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promoteStable } from '../../lambdas/core/promotion';
import { inferenceService } from '../../local/inference-server';
import {
  contractManifest,
  graphBytes,
  type ContractGraph,
  type ManifestJson,
} from '../fixtures/model-contract/manifests';
import { invokeUntil, startHarness, types, type Harness } from './harness';

const MODELS = ['fixed-batch', 'multi-regression', 'missing-label', 'out-of-range'] as const;
let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    config: { models: MODELS.map((name) => ({ name, owner: 'ml-platform' })) },
    services: [inferenceService({ port: 0 })],
  });
}, 120_000);

afterAll(async () => {
  await h?.stop();
});

async function release(
  model: (typeof MODELS)[number],
  graph: ContractGraph,
  edit: (m: ManifestJson) => void = () => undefined,
) {
  const manifest = contractManifest(graph, model, '1.0.0');
  edit(manifest);
  return h.release(await h.stage(model, '1.0.0', manifest, graphBytes(graph)));
}

/** The REJECTED record's reasons, after checking the execution failed at validation and nothing registered. */
async function rejectedReasons(model: string): Promise<string[]> {
  const record = await h.version(model, '1.0.0');
  expect(record?.status).toBe('REJECTED');
  expect(types(await h.audit(model, '1.0.0'))).toEqual(['VALIDATION_FAILED']);
  expect(await h.keys(`models/${model}/1.0.0/`)).toEqual([]);
  return [...(record!.reasons ?? [])];
}

describe('the serve-time contract is checked at validation', () => {
  it('registers a graph with a fixed batch dimension of 1, and serves a 3-instance request with 3 predictions', async () => {
    const result = await release('fixed-batch', 'fixed-batch-1');
    expect(result.status, JSON.stringify(result)).toBe('SUCCEEDED');
    const passed = (await h.audit('fixed-batch', '1.0.0')).find((e) => e.type === 'VALIDATION_PASSED')!;
    expect((passed.details as { checks: string[] }).checks).toContain(
      'serve contract: batch: the graph fixes the batch size to 1; served in runs of 1',
    );

    await promoteStable(h.metadata, { model: 'fixed-batch', version: '1.0.0', actor: 'test' });
    const instances = [
      { x1: 1, x2: 2, x3: 0.5 },
      { x1: 0, x2: 0, x3: 2 },
      { x1: -3, x2: 1 },
    ];
    const r = await invokeUntil(
      h.inference()!.baseUrl,
      'fixed-batch',
      { instances },
      (x) => x.status !== 503,
    );
    expect(r.status, r.text).toBe(200);
    const { predictions } = r.json as {
      predictions: { label: string; probabilities: Record<string, number> }[];
    };
    expect(predictions).toHaveLength(3);
    expect(predictions.map((p) => p.label)).toEqual(['benign', 'malignant', 'benign']);
    expect(predictions[0]!.probabilities.benign).toBeCloseTo(0.90025, 4);
  }, 120_000);

  it('rejects a regression output with several values per instance, with a clear reason', async () => {
    const result = await release('multi-regression', 'multi-regression');
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('ArtifactRejected');
    expect(await rejectedReasons('multi-regression')).toEqual([
      'outputs "value": the model returns shape ["N", 2] (2 values per instance); a regression output must have one value per instance ([batch] or [batch, 1]); export one output per target (e.g. Split or Gather in the graph) and declare each',
    ]);
  }, 120_000);

  it('rejects a class output whose labels miss a class the graph can emit, though its smoke samples pass', async () => {
    const result = await release('missing-label', 'class-argmax-3', (m) => {
      // The smoke sample predicts "mid" (index 1), so the samples alone never see index 2.
      m.outputs = [{ name: 'label', kind: 'class', elementType: 'int64', labels: ['low', 'mid'] }];
    });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('ArtifactRejected');
    expect(await rejectedReasons('missing-label')).toEqual([
      'outputs "label".labels: the model can emit class index 2 (ArgMax over a tensor of width 3 (initializer "W" [3, 3])) but labels lists 2 (["low","mid"]); list one label per class the model can predict (3), in the model\'s class order',
    ]);
  }, 120_000);

  it('rejects a smoke sample outside its own declared range (every real request like it would get 400)', async () => {
    const result = await release('out-of-range', 'fixed-batch-1', (m) => {
      m.inputs.features[0].range = { min: -10, max: 0.5 };
    });
    expect(result.status).toBe('FAILED');
    expect(result.error).toBe('ArtifactRejected');
    expect(await rejectedReasons('out-of-range')).toEqual([
      'smokeSamples[0].inputs.x1: must be from -10 to 0.5, got 1; fix the sample or the declaration inputs.features[0] ("x1"): requests like it would get 400',
    ]);
  }, 120_000);
});
