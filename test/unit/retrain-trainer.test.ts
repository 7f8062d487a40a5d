import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { onnx } from 'onnx-proto';
import { createOnnxBackend } from '../../lambdas/adapters/onnx-backend';
import { OnnxModelRuntime } from '../../lambdas/adapters/onnx-model-runtime';
import type { Instance } from '../../lambdas/core/features';
import { parseManifestText, type Manifest } from '../../lambdas/core/manifest';
import { signatureIssues } from '../../lambdas/core/signature';
import { computeMetrics, METRICS } from '../../examples/trainer/metrics';
import { runTrainer, trainFromCsv, type TrainResult } from '../../examples/trainer/train';

const ROOT = path.resolve(import.meta.dirname, '../..');
const example = (name: string) => {
  const parsed = parseManifestText(readFileSync(path.join(ROOT, 'examples', name, 'manifest.json'), 'utf8'));
  if (!parsed.ok) throw new Error(`examples/${name}/manifest.json is invalid`);
  return {
    manifest: parsed.manifest,
    csv: readFileSync(path.join(ROOT, 'examples', name, 'reference.csv'), 'utf8'),
    model: readFileSync(path.join(ROOT, 'examples', name, 'model.onnx')),
  };
};

interface GoldenCase {
  name: string;
  labels: number[];
  p: number[];
  expected: Record<string, number>;
}
const golden = JSON.parse(
  readFileSync(path.join(ROOT, 'test/fixtures/retrain/metrics-golden.json'), 'utf8'),
) as { cases: GoldenCase[] };

describe('trainer metrics against scikit-learn 1.2.1 (test/fixtures/retrain/metrics-golden.json)', () => {
  for (const c of golden.cases) {
    it(`matches sklearn on ${c.name}`, () => {
      for (const [name, want] of Object.entries(c.expected)) {
        expect(METRICS[name]!(c.labels, c.p), name).toBeCloseTo(want, 12);
      }
    });
  }

  it('rejects a metric it cannot compute, naming it', () => {
    expect(() => computeMetrics(['auc', 'rmse'], [0, 1], [0.2, 0.8])).toThrow(/"rmse".*cannot compute/);
  });

  it('fails AUC when the held-out rows hold one class only', () => {
    expect(() => computeMetrics(['auc'], [1, 1], [0.2, 0.8])).toThrow(/both classes/);
  });
});

async function onnxProbabilities(manifest: Manifest, bytes: Uint8Array, rows: readonly Instance[]) {
  const backend = createOnnxBackend(new OnnxModelRuntime());
  const model = await backend.load('t', manifest, bytes);
  const out = await model.predict(rows);
  const probability = manifest.outputs.find((o) => o.kind === 'probability')!.name;
  const label = manifest.outputs.find((o) => o.kind === 'class')!.name;
  const p = Array.from({ length: rows.length }, (_, i) => Number(out[probability]!.data[2 * i + 1]));
  const labels = Array.from(out[label]!.data, Number);
  return { p, labels, out };
}

describe.each(['credit-risk', 'breast-cancer'])('example trainer on examples/%s', (name) => {
  const ex = example(name);
  let trained: TrainResult;
  let ms = 0;
  beforeAll(() => {
    const t = performance.now();
    trained = trainFromCsv(ex.manifest, ex.csv);
    ms = performance.now() - t;
  });

  it('reports the parent manifest metric names, measured on a held-out split', () => {
    expect(Object.keys(trained.report.metrics)).toEqual(Object.keys(ex.manifest.metrics));
    const rows = ex.csv.trim().split('\n').length - 1;
    expect(trained.report.rows.train + trained.report.rows.heldOut).toBe(rows);
    expect(trained.report.rows.heldOut / rows).toBeCloseTo(0.25, 2);
    console.info(`${name}: trained in ${Math.round(ms)} ms`, trained.report);
  });

  it('exports a graph with exactly the parent manifest signature', async () => {
    const loaded = await new OnnxModelRuntime().load(trained.onnx);
    expect(signatureIssues(ex.manifest, loaded)).toEqual([]);
    const parent = await new OnnxModelRuntime().load(ex.model);
    const shapeOf = (m: typeof loaded) =>
      [...m.inputs, ...m.outputs]
        .map(
          (t) =>
            `${t.name}:${t.elementType}:${(t.shape ?? []).map((d) => (typeof d === 'number' ? d : 'N')).join('x')}`,
        )
        .sort();
    expect(shapeOf(loaded)).toEqual(shapeOf(parent));
  });

  it('predicts in ONNX Runtime what the trainer predicts in JS on the held-out rows (1e-5)', async () => {
    const rows = trained.heldOut.map((r) => r.values as Instance);
    const { p, labels } = await onnxProbabilities(ex.manifest, trained.onnx, rows);
    p.forEach((v, i) => expect(Math.abs(v - trained.heldOutP[i]!)).toBeLessThan(1e-5));
    // The label follows the logit's sign; away from the 0.5 boundary float32 cannot flip it.
    labels.forEach((l, i) => {
      if (Math.abs(trained.heldOutP[i]! - 0.5) > 1e-4) expect(l).toBe(trained.heldOutP[i]! > 0.5 ? 1 : 0);
    });
  });

  it('is in a sane distance of the committed scikit-learn model on the same held-out rows', async () => {
    const rows = trained.heldOut.map((r) => r.values as Instance);
    const { p } = await onnxProbabilities(ex.manifest, ex.model, rows);
    const committed = computeMetrics(
      ['auc'],
      trained.heldOut.map((r) => r.y),
      p,
    ).auc!;
    const ours = trained.report.metrics.auc!;
    console.info(
      `${name}: held-out AUC trainer ${ours.toFixed(4)}, committed sklearn model ${committed.toFixed(4)}`,
    );
    // The committed model saw these rows in training (reference.csv is its training split), so it is optimistic.
    expect(Math.abs(ours - committed)).toBeLessThan(0.05);
  });
});

describe('example trainer failures', () => {
  const ex = example('credit-risk');
  const header = 'income,loan_amount,age,employment,has_guarantor,label';

  it('rejects a CSV without the label column, naming it', () => {
    expect(() => trainFromCsv(ex.manifest, ex.csv.replace(/,label\n/, ',outcome\n'))).toThrow(/"label"/);
  });

  it('rejects a label that is not one of the output labels, naming the row', () => {
    const csv = `${header}\n1000,100,30,salaried,false,repaid\n1000,100,30,salaried,false,maybe\n`;
    expect(() => trainFromCsv(ex.manifest, csv)).toThrow(
      /row 2: label "maybe" is not one of "repaid", "defaulted"/,
    );
  });

  it('rejects data of one class only', () => {
    const csv = `${header}\n${Array.from({ length: 8 }, (_, i) => `${1000 + i},100,30,salaried,false,repaid`).join('\n')}\n`;
    expect(() => trainFromCsv(ex.manifest, csv)).toThrow(/no row labelled "defaulted"/);
  });

  it('rejects a manifest with a tensor feature (tabular models only)', () => {
    const digits = parseManifestText(readFileSync(path.join(ROOT, 'examples/digits/manifest.json'), 'utf8'));
    if (!digits.ok) throw new Error('digits manifest invalid');
    expect(() => trainFromCsv(digits.manifest, 'x,label\n')).toThrow(
      /tensor; this trainer trains tabular models only/,
    );
  });

  it('exports an ONNX graph that decodes with the declared opsets', () => {
    const { onnx: bytes } = trainFromCsv(ex.manifest, ex.csv, { steps: 50 });
    const model = onnx.ModelProto.decode(bytes);
    expect(model.opsetImport.map((o) => `${o.domain}:${String(o.version)}`)).toEqual([':17', 'ai.onnx.ml:3']);
    expect(
      model.graph?.node
        ?.find((n) => n.opType === 'OneHotEncoder')
        ?.attribute?.find((a) => a.name === 'zeros')
        ?.i?.toString(),
    ).toBe('1');
  });
});

describe('train.ts command (the retrain trainer contract)', () => {
  it('writes model.onnx and report.json and exits 0', async () => {
    const out = await mkdtemp(path.join(tmpdir(), 'trainer-'));
    try {
      const tsx = path.join(ROOT, 'node_modules/.bin/tsx');
      await promisify(execFile)(
        tsx,
        [
          'examples/trainer/train.ts',
          '--data',
          'examples/breast-cancer/reference.csv',
          '--manifest',
          'examples/breast-cancer/manifest.json',
          '--out',
          out,
        ],
        { cwd: ROOT },
      );
      const report = JSON.parse(await readFile(path.join(out, 'report.json'), 'utf8')) as Record<
        string,
        unknown
      >;
      expect(report).toMatchObject({
        rows: { train: 341, heldOut: 114 },
        trainer: expect.stringContaining('ml-logistic'),
      });
      expect((await readFile(path.join(out, 'model.onnx'))).length).toBeGreaterThan(100);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });

  it('fails naming a missing flag or an invalid parent manifest', async () => {
    await expect(runTrainer(['--data', 'x.csv', '--out', 'o'])).rejects.toThrow(/--manifest is required/);
    await expect(
      runTrainer([
        '--data',
        'x.csv',
        '--manifest',
        'test/fixtures/retrain/not-a-manifest.json',
        '--out',
        'o',
      ]),
    ).rejects.toThrow(/not-a-manifest.json: .*manifestVersion/);
  });
});
