import { describe, expect, it } from 'vitest';
import { MAX_MANIFEST_BYTES, parseManifest, parseManifestText } from '../../lambdas/core/manifest';
import { richManifest, tinyManifest, tinyManifestText } from './manifest-fixtures';

function issuesOf(m: unknown) {
  const r = parseManifest(m);
  if (r.ok) throw new Error('expected the manifest to be rejected');
  return r.issues;
}

/** The rejection must point at `path` (exactly, or a field under it) with a message matching `message`. */
function expectIssue(m: unknown, path: string, message?: RegExp) {
  const issues = issuesOf(m);
  const hit = issues.find(
    (i) =>
      (i.path === path || i.path.startsWith(`${path}.`) || i.path.startsWith(`${path}[`)) &&
      (!message || message.test(i.message)),
  );
  expect(hit, `no issue at ${path} matching ${String(message)} in ${JSON.stringify(issues)}`).toBeDefined();
}

describe('parseManifest: valid manifests', () => {
  it('accepts the tiny-classifier fixture and applies defaults', () => {
    const r = parseManifestText(tinyManifestText);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.manifest.name).toBe('tiny-classifier');
    expect(r.manifest.inputs.features[0]).toMatchObject({ required: true, pii: false });
    expect(r.manifest.inputs.features[2]).toMatchObject({ required: false });
    expect(r.manifest.smokeSamples[1]!.tolerance).toBe(1e-4);
  });

  it('accepts every feature type, several tensors and a categorical baseline', () => {
    const r = parseManifest(richManifest());
    expect(r.ok ? [] : r.issues).toEqual([]);
  });

  it('accepts a sagemaker manifest with an image', () => {
    const m = {
      ...tinyManifest(),
      framework: 'sagemaker',
      image: '123456789012.dkr.ecr.eu-west-1.amazonaws.com/x:1',
    };
    expect(parseManifest(m).ok).toBe(true);
  });

  it('accepts a manifest without optional sections (metrics, gates, baseline, smoke samples)', () => {
    const m = tinyManifest();
    delete m.metrics;
    delete m.gates;
    delete m.baseline;
    delete m.smokeSamples;
    delete m.description;
    const r = parseManifest(m);
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.manifest.gates).toEqual({ minimums: {}, maximums: {}, maxRegression: {} });
  });
});

describe('parseManifest: invalid manifests', () => {
  it.each([
    ['upper case', 'Tiny'],
    ['underscore', 'tiny_classifier'],
    ['traversal', '../etc'],
    ['slash', 'a/b'],
    ['trailing dash', 'tiny-'],
    ['empty', ''],
    ['too long', 'a'.repeat(65)],
  ])('rejects a bad model name (%s)', (_label, name) => {
    expectIssue({ ...tinyManifest(), name }, 'name', /a-z/);
  });

  it.each([['..'], ['1..2'], ['../1'], ['1/2'], ['.hidden'], ['a'.repeat(65)], ['']])(
    'rejects a traversal or malformed version %j',
    (version) => {
      expectIssue({ ...tinyManifest(), version }, 'version');
    },
  );

  it.each([
    ['ABC'],
    ['e7a2'],
    ['g'.repeat(64)],
    ['E7A2CAA4A3189F92D89F49F9E335589831C1BA7C0EC93FE733E3CBB30166DE66'],
  ])('rejects a bad sha256 %j', (sha256) => {
    const m = tinyManifest();
    m.artifact.sha256 = sha256;
    expectIssue(m, 'artifact.sha256', /64 lower-case hex/);
  });

  it('rejects an artifact file with a directory', () => {
    const m = tinyManifest();
    m.artifact.file = '../model.onnx';
    expectIssue(m, 'artifact.file', /plain file name/);
  });

  it('rejects a non-positive artifact size', () => {
    const m = tinyManifest();
    m.artifact.sizeBytes = 0;
    expectIssue(m, 'artifact.sizeBytes', /positive/);
  });

  it.each(['owner', 'artifact', 'inputs', 'outputs', 'lineage', 'modelCard', 'approval', 'name', 'version'])(
    'rejects a manifest missing %s and says it is required',
    (field) => {
      const m = tinyManifest();
      delete m[field];
      expectIssue(m, field, /required/);
    },
  );

  it('reports every missing field at once', () => {
    const issues = issuesOf({ manifestVersion: 1, framework: 'onnx' });
    expect(issues.map((i) => i.path)).toEqual(
      expect.arrayContaining([
        'name',
        'version',
        'owner',
        'artifact',
        'inputs',
        'outputs',
        'lineage',
        'modelCard',
        'approval',
      ]),
    );
  });

  it('rejects an unknown framework', () => {
    expectIssue({ ...tinyManifest(), framework: 'pytorch' }, 'framework', /onnx.*sagemaker/);
  });

  it('rejects an unknown manifest version', () => {
    expectIssue({ ...tinyManifest(), manifestVersion: 2 }, 'manifestVersion', /must be 1/);
  });

  it('rejects unknown top-level fields (typos do not pass silently)', () => {
    const issues = issuesOf({ ...tinyManifest(), metrix: {} });
    expect(issues.some((i) => /metrix/.test(i.message))).toBe(true);
  });

  it('rejects a tensor that names an undeclared feature', () => {
    const m = tinyManifest();
    m.inputs.tensors[0].features.push('x4');
    expectIssue(m, 'inputs.tensors[0].features[3]', /unknown feature "x4"/);
  });

  it('rejects a feature that feeds no tensor', () => {
    const m = tinyManifest();
    m.inputs.features.push({ name: 'x4', type: 'numeric' });
    expectIssue(m, 'inputs.tensors', /no tensor is fed by feature "x4"/);
  });

  it('rejects a feature that feeds two tensors', () => {
    const m = tinyManifest();
    m.inputs.tensors.push({ name: 'again', elementType: 'float32', features: ['x1'] });
    expectIssue(m, 'inputs.tensors[1].features[0]', /already feeds/);
  });

  it('rejects a categorical feature in a float tensor', () => {
    const m = richManifest();
    m.inputs.tensors[0].features.push('plan');
    m.inputs.tensors.splice(1, 1);
    expectIssue(
      m,
      'inputs.tensors[0].features[3]',
      /categorical feature "plan" cannot feed a float32 tensor/,
    );
  });

  it('rejects duplicate features and tensors', () => {
    const m = tinyManifest();
    m.inputs.features.push({ name: 'x1', type: 'numeric' });
    m.inputs.tensors.push({ name: 'features', elementType: 'float32', features: ['x2'] });
    expectIssue(m, 'inputs.features[3].name', /duplicates/);
    expectIssue(m, 'inputs.tensors[1].name', /duplicates/);
  });

  it('rejects a probability output without labels or with an integer type', () => {
    const m = tinyManifest();
    delete m.outputs[0].labels;
    m.outputs[0].elementType = 'int64';
    expectIssue(m, 'outputs[0].labels', /labels/);
    expectIssue(m, 'outputs[0].elementType', /float32 or float64/);
  });

  it('rejects a regression output with labels', () => {
    const m = tinyManifest();
    m.outputs[1] = { name: 'score', kind: 'regression', elementType: 'float32', labels: ['a', 'b'] };
    m.smokeSamples = [];
    expectIssue(m, 'outputs[1].labels', /no labels/);
  });

  it('rejects baseline counts of the wrong length', () => {
    const m = tinyManifest();
    m.baseline.features.x1.counts = [1, 2, 3];
    expectIssue(m, 'baseline.features.x1.counts', /must have 4 entries/);
  });

  it('rejects baseline edges that are not increasing', () => {
    const m = tinyManifest();
    m.baseline.features.x1.edges = [0, 0, 1];
    expectIssue(m, 'baseline.features.x1.edges', /strictly increasing/);
  });

  it('rejects a baseline for an unknown feature or of the wrong kind', () => {
    const m = tinyManifest();
    m.baseline.features.nope = { kind: 'numeric', edges: [0], counts: [1, 1], missing: 0 };
    m.baseline.features.x2 = { kind: 'categorical', categories: ['a'], counts: [1, 1], missing: 0 };
    expectIssue(m, 'baseline.features.nope', /unknown feature/);
    expectIssue(m, 'baseline.features.x2.kind', /must be "numeric"/);
  });

  it('rejects a smoke sample referencing an unknown output or feature', () => {
    const m = tinyManifest();
    m.smokeSamples[0].expected.score = 1;
    m.smokeSamples[0].inputs.x9 = 1;
    expectIssue(m, 'smokeSamples[0].expected.score', /not a declared output/);
    expectIssue(m, 'smokeSamples[0].inputs.x9', /not a declared feature/);
  });

  it('rejects gates on a metric the manifest does not report', () => {
    const m = tinyManifest();
    m.gates.minimums.f1 = 0.5;
    m.gates.maxRegression.recall = 0.1;
    expectIssue(m, 'gates', /gates metric "f1"/);
    expectIssue(m, 'gates.maxRegression.recall', /metrics has no "recall"/);
  });

  it('rejects a negative regression limit and a non-finite metric', () => {
    const m = tinyManifest();
    m.gates.maxRegression.auc = -1;
    m.metrics.auc = Number.POSITIVE_INFINITY;
    expectIssue(m, 'gates.maxRegression.auc', />= 0/);
    expectIssue(m, 'metrics.auc');
  });

  it('rejects a bad lineage date and empty model card text', () => {
    const m = tinyManifest();
    m.lineage.trainedAt = 'yesterday';
    m.modelCard.limitations = '   ';
    expectIssue(m, 'lineage.trainedAt', /ISO 8601/);
    expectIssue(m, 'modelCard.limitations', /empty/);
  });

  it('rejects a sagemaker manifest without an image', () => {
    expectIssue({ ...tinyManifest(), framework: 'sagemaker' }, 'image', /required/);
  });
});

describe('parseManifestText', () => {
  it('rejects text that is not JSON, naming the fix', () => {
    const r = parseManifestText('{"name": ');
    expect(r.ok).toBe(false);
    if (!r.ok)
      expect(r.issues[0]).toMatchObject({
        path: '(manifest)',
        message: expect.stringMatching(/not valid JSON/),
      });
  });

  it('rejects a manifest larger than 1 MiB before parsing it', () => {
    const r = parseManifestText(`{"pad":"${'x'.repeat(MAX_MANIFEST_BYTES)}"}`);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.issues[0]!.message).toMatch(/larger than/);
  });

  it('rejects JSON that is not an object', () => {
    for (const text of ['null', '[]', '42', '"manifest"']) {
      const r = parseManifestText(text);
      expect(r.ok, text).toBe(false);
    }
  });
});
