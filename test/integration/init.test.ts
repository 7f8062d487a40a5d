/**
 * `modelops init` end to end, in-process, with the real ONNX Runtime: on both example graphs the skeleton parses,
 * matches the graph, replays its smoke samples, and declares what the committed manifests declare; on the fixture
 * graphs it handles each export pattern; and every bad argument leaves no file behind.
 */
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareBundle } from '../../cli/bundle';
import type { CliIo } from '../../cli/errors';
import { runCli } from '../../cli/index';
import { validateBundle } from '../../cli/validate';
import { OnnxModelRuntime } from '../../lambdas/adapters/onnx-model-runtime';
import { parseManifest, type Manifest } from '../../lambdas/core/manifest';
import { signatureIssues } from '../../lambdas/core/signature';
import { smokeSampleIssues } from '../../lambdas/core/smoke';

const ROOT = path.join(__dirname, '..', '..');
const EXAMPLES = path.join(ROOT, 'examples');
const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'init');

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'modelops-init-'));
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

function capture() {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = { out: (l) => out.push(l), err: (l) => err.push(l) };
  return { out, err, io };
}

async function initCli(args: string[]) {
  const c = capture();
  const code = await runCli(['init', ...args], c.io);
  return { code, out: c.out.join('\n'), err: c.err.join('\n') };
}

async function readManifest(dir: string): Promise<Manifest> {
  const parsed = parseManifest(JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')));
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return parsed.manifest;
}

async function graphChecks(manifest: Manifest, modelFile: string) {
  const model = await new OnnxModelRuntime().load(await readFile(modelFile));
  try {
    return { signature: signatureIssues(manifest, model), smoke: await smokeSampleIssues(manifest, model) };
  } finally {
    await model.release();
  }
}

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

describe.each([
  { example: 'breast-cancer', labels: 'malignant,benign' },
  { example: 'credit-risk', labels: 'repaid,defaulted' },
])('init on examples/$example', ({ example, labels }) => {
  let out: string;
  let manifest: Manifest;
  let committed: Manifest;
  let printed: string;

  beforeAll(async () => {
    out = path.join(work, example);
    const run = await initCli([
      path.join(EXAMPLES, example, 'model.onnx'),
      '--reference',
      path.join(EXAMPLES, example, 'reference.csv'),
      '--labels',
      labels,
      '--out',
      out,
    ]);
    printed = run.out;
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    manifest = await readManifest(out);
    const c = parseManifest(
      JSON.parse(await readFile(path.join(EXAMPLES, example, 'manifest.json'), 'utf8')),
    );
    if (!c.ok) throw new Error(JSON.stringify(c.issues));
    committed = c.manifest;
  });

  it('writes a bundle: the model copy, reference.csv and a manifest that parses', async () => {
    expect((await readdir(out)).sort()).toEqual(['manifest.json', 'model.onnx', 'reference.csv']);
    const original = await readFile(path.join(EXAMPLES, example, 'model.onnx'));
    expect((await readFile(path.join(out, 'model.onnx'))).equals(original)).toBe(true);
    expect(manifest).toMatchObject({ name: example, version: '1.0.0', framework: 'onnx' });
    expect(manifest.artifact).toEqual(committed.artifact);
  });

  it('agrees with the graph and replays its smoke samples in ONNX Runtime', async () => {
    const checks = await graphChecks(manifest, path.join(out, 'model.onnx'));
    expect(checks).toEqual({ signature: [], smoke: [] });
    expect(manifest.smokeSamples).toHaveLength(5);
    // Every class the model predicts on the reference rows has a sample.
    const label = manifest.outputs.find((o) => o.kind === 'class')!;
    expect(new Set(manifest.smokeSamples.map((s) => s.expected[label.name]))).toEqual(new Set([0, 1]));
  });

  it("declares the committed manifest's features, tensors, outputs and labels", () => {
    const shape = (m: Manifest) =>
      m.inputs.features.map((f) => ({
        name: f.name,
        type: f.type,
        ...(f.type === 'categorical' ? { c: f.categories } : {}),
      }));
    expect(shape(manifest)).toEqual(shape(committed));
    expect(manifest.inputs.tensors).toEqual(committed.inputs.tensors);
    expect(manifest.outputs).toEqual(committed.outputs);
  });

  it('profiles the baseline as push --reference does, and as the committed examples were profiled', async () => {
    const pushed = await prepareBundle(out, { reference: path.join(out, 'reference.csv') });
    expect(manifest.baseline).toEqual(pushed.manifest.baseline);
    expect(manifest.baseline!.features).toEqual(committed.baseline!.features);
    expect(Object.keys(manifest.baseline!.predictions!)).toEqual(['label', 'probabilities']);
  });

  it('passes the release pipeline validation (schema, sha256, load, signature, smoke samples, gates)', async () => {
    const v = await validateBundle(out, { settings: { maxArtifactBytes: 1024 * 1024 * 1024 } });
    expect(v.reasons).toEqual([]);
    expect(v.valid).toBe(true);
  });

  it('marks what only a person knows as TODO and lists it', () => {
    expect(manifest.owner).toMatch(/^TODO:/);
    expect(manifest.lineage.trainingData).toMatch(/^TODO:/);
    expect(manifest.modelCard.intendedUse).toMatch(/^TODO:/);
    expect(manifest.metrics).toEqual({});
    expect(printed).toMatch(/Fill in before pushing/);
    expect(printed).toMatch(/metrics \(empty\)/);
    // Both examples are in modelops.config.ts already, so no config step is printed.
    expect(printed).not.toMatch(/modelops\.config\.ts models\[\]/);
  });
});

describe('init on export patterns', () => {
  it('writes a string-label classifier with encoder categories, reference columns by name and real smoke samples', async () => {
    const out = path.join(work, 'string-labels');
    const run = await initCli([
      path.join(FIXTURES, 'string_labels.onnx'),
      '--reference',
      path.join(FIXTURES, 'string_labels.csv'),
      '--out',
      out,
    ]);
    expect(run.code).toBe(0);
    const m = await readManifest(out);
    expect(m.inputs.features).toEqual([
      { name: 'size', type: 'numeric', required: true, pii: false },
      {
        name: 'color',
        type: 'categorical',
        required: true,
        pii: false,
        categories: ['red', 'green', 'blue'],
      },
    ]);
    expect(m.outputs[0]).toEqual({
      name: 'label',
      kind: 'class',
      elementType: 'string',
      labels: ['no', 'yes'],
    });
    expect(await graphChecks(m, path.join(out, 'string_labels.onnx'))).toEqual({ signature: [], smoke: [] });
    expect(m.smokeSamples.length).toBeGreaterThanOrEqual(1);
    // A new model: the config step is printed.
    expect(run.out).toMatch(/list the model in modelops\.config\.ts models\[\].*name: 'string-labels'/);
  });

  it('writes a regression skeleton without a reference: no smoke samples, listed as a to-do', async () => {
    const out = path.join(work, 'regression');
    const run = await initCli([path.join(FIXTURES, 'regression.onnx'), '--out', out]);
    expect(run.code).toBe(0);
    const m = await readManifest(out);
    expect(m.outputs).toEqual([{ name: 'variable', kind: 'regression', elementType: 'float32' }]);
    expect(m.inputs.tensors).toEqual([
      { name: 'x', elementType: 'float32', features: ['x_0', 'x_1', 'x_2'] },
    ]);
    expect(m.smokeSamples).toEqual([]);
    expect(m.baseline).toBeUndefined();
    expect(run.out).toMatch(/smokeSamples: none/);
    expect(await graphChecks(m, path.join(out, 'regression.onnx'))).toEqual({ signature: [], smoke: [] });
  });

  it('serves a graph with a fixed batch of 1: reference rows run one at a time, smoke samples at the quantiles', async () => {
    const out = path.join(work, 'fixed-batch');
    const csv = path.join(work, 'fixed.csv');
    await writeFile(csv, `a,b\n${Array.from({ length: 12 }, (_, i) => `${i},${(i * 7) % 5}`).join('\n')}\n`);
    const run = await initCli([path.join(FIXTURES, 'fixed_batch.onnx'), '--reference', csv, '--out', out]);
    expect(run.code).toBe(0);
    const m = await readManifest(out);
    expect(m.inputs.tensors).toEqual([{ name: 'input', elementType: 'float32', features: ['a', 'b'] }]);
    expect(m.smokeSamples).toHaveLength(5);
    expect(await graphChecks(m, path.join(out, 'fixed_batch.onnx'))).toEqual({ signature: [], smoke: [] });
  });

  it('leaves out a ZipMap output, says how to re-export it, and keeps the label', async () => {
    const out = path.join(work, 'zipmap');
    const run = await initCli([path.join(FIXTURES, 'zipmap.onnx'), '--labels', 'a,b,c', '--out', out]);
    expect(run.code).toBe(0);
    expect(run.err).toMatch(/output "output_probability" left out: it is a ZipMap.*"zipmap": False/);
    const m = await readManifest(out);
    expect(m.outputs).toEqual([
      { name: 'output_label', kind: 'class', elementType: 'int64', labels: ['a', 'b', 'c'] },
    ]);
  });

  it('declares an image input as a tensor feature and an ArgMax label with placeholder labels', async () => {
    const out = path.join(work, 'image');
    const run = await initCli([path.join(FIXTURES, 'image.onnx'), '--out', out]);
    expect(run.code).toBe(0);
    const m = await readManifest(out);
    expect(m.inputs.features).toEqual([
      expect.objectContaining({ name: 'image', type: 'tensor', shape: [1, 8, 8] }),
    ]);
    expect(m.inputs.tensors).toEqual([{ name: 'image', elementType: 'float32', features: ['image'] }]);
    expect(m.outputs.map((o) => [o.name, o.kind, o.labels])).toEqual([
      ['probabilities', 'probability', ['TODO:class-0', 'TODO:class-1']],
      ['label', 'class', ['TODO:class-0', 'TODO:class-1']],
    ]);
    expect(run.out).toMatch(/outputs\[\]\.labels: placeholders for 2 classes/);
  });
});

describe('init refuses bad arguments and writes nothing', () => {
  const bc = path.join(EXAMPLES, 'breast-cancer');

  async function refused(args: string[], message: RegExp, out: string) {
    const run = await initCli([...args, '--out', out]);
    expect(run.code).toBe(2);
    expect(run.err).toMatch(message);
    expect(await exists(out)).toBe(false);
  }

  it('a missing model file', async () => {
    await refused(
      [path.join(work, 'nope.onnx')],
      /<model\.onnx> ".*nope\.onnx" is not a file/,
      path.join(work, 'f1'),
    );
  });

  it('a file that is not ONNX', async () => {
    const fake = path.join(work, 'fake.onnx');
    await copyFile(path.join(ROOT, 'README.md'), fake);
    await refused(
      [fake],
      /fake\.onnx": it is not an ONNX model.*pass a model exported to ONNX/,
      path.join(work, 'f2'),
    );
  });

  it("--labels whose count differs from the graph's classes", async () => {
    await refused(
      [path.join(bc, 'model.onnx'), '--labels', 'a,b,c'],
      /--labels lists 3 label\(s\) \(a,b,c\) but the model has 2 classes/,
      path.join(work, 'f3'),
    );
  });

  it('reference columns that fit no input', async () => {
    const csv = path.join(work, 'narrow.csv');
    await writeFile(csv, 'x,y,label\n1,2,0\n');
    await refused(
      [path.join(bc, 'model.onnx'), '--reference', csv],
      /--reference: graph input "input" \(float32 \[N, 30\]\) needs 30 numeric column\(s\)/,
      path.join(work, 'f4'),
    );
  });

  it('a reference file that does not exist, and malformed CSV', async () => {
    await refused(
      [path.join(bc, 'model.onnx'), '--reference', path.join(work, 'none.csv')],
      /--reference ".*none\.csv" is not a file/,
      path.join(work, 'f5'),
    );
    const bad = path.join(work, 'ragged.csv');
    await writeFile(bad, 'a,b\n1,2,3\n');
    await refused(
      [path.join(bc, 'model.onnx'), '--reference', bad],
      /--reference .*ragged\.csv: reference CSV is malformed/,
      path.join(work, 'f6'),
    );
  });

  it('an existing manifest.json without --force (kept as it was); --force replaces it', async () => {
    const out = path.join(work, 'existing');
    await mkdir(out);
    await writeFile(path.join(out, 'manifest.json'), '{"mine": true}\n');
    const run = await initCli([path.join(bc, 'model.onnx'), '--out', out, '--labels', 'malignant,benign']);
    expect(run.code).toBe(2);
    expect(run.err).toMatch(/manifest\.json already exists; pass --force/);
    expect(await readFile(path.join(out, 'manifest.json'), 'utf8')).toBe('{"mine": true}\n');
    expect(await readdir(out)).toEqual(['manifest.json']);
    const forced = await initCli([
      path.join(bc, 'model.onnx'),
      '--out',
      out,
      '--labels',
      'malignant,benign',
      '--force',
    ]);
    expect(forced.code).toBe(0);
    expect((await readManifest(out)).name).toBe('existing');
  });

  it('an output directory whose name is no model name, unless --name is given', async () => {
    await refused([path.join(bc, 'model.onnx')], /gives model name "".*pass --name/, path.join(work, '___'));
  });
});
