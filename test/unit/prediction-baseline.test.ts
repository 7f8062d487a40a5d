import { describe, expect, it } from 'vitest';
import { binIndex, quantileEdges } from '../../lambdas/core/baseline';
import { DriftCountsError, jsDistance, predictionDrift } from '../../lambdas/core/drift';
import { parseManifest, type Baseline, type Output } from '../../lambdas/core/manifest';
import {
  computePredictionBaseline,
  predictionBinner,
  topProbability,
} from '../../lambdas/core/prediction-baseline';
import { parseRuntimeManifest } from '../../lambdas/core/runtime-manifest';
import { tinyManifest } from './manifest-fixtures';

const outputs: Output[] = [
  { name: 'probabilities', kind: 'probability', elementType: 'float32', labels: ['benign', 'malignant'] },
  { name: 'label', kind: 'class', elementType: 'int64', labels: ['benign', 'malignant'] },
];
const regression: Output[] = [{ name: 'price', kind: 'regression', elementType: 'float32' }];

const row = (p: number) => ({
  probabilities: { benign: 1 - p, malignant: p },
  label: p > 0.5 ? 'malignant' : 'benign',
});

describe('computePredictionBaseline', () => {
  it('bins class shares over the labels and deciles of the predicted class probability', () => {
    const predictions = [0.1, 0.2, 0.3, 0.6, 0.9].map(row);
    const { predictions: bins, skipped } = computePredictionBaseline(outputs, predictions);
    expect(skipped).toEqual([]);
    expect(bins.label).toEqual({
      kind: 'categorical',
      categories: ['benign', 'malignant'],
      counts: [3, 2, 0],
      missing: 0,
    });
    // Top probabilities 0.9, 0.8, 0.7, 0.6, 0.9: the baseline's quantile rule on them.
    const tops = Float64Array.from([0.9, 0.8, 0.7, 0.6, 0.9]);
    expect(bins.probabilities).toMatchObject({ kind: 'numeric', edges: quantileEdges(tops), missing: 0 });
    const edges = (bins.probabilities as { edges: number[] }).edges;
    const counts = new Array<number>(edges.length + 1).fill(0);
    for (const x of tops) counts[binIndex(bins.probabilities!, x) as number]!++;
    expect(bins.probabilities!.counts).toEqual(counts);
  });

  it('bins regression values at their quantiles; non-finite and absent values are missing', () => {
    const values = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, Number.NaN, Number.POSITIVE_INFINITY];
    const { predictions } = computePredictionBaseline(regression, [...values.map((v) => ({ price: v })), {}]);
    expect(predictions.price).toEqual({
      kind: 'numeric',
      edges: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
      counts: [0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 0],
      missing: 3,
    });
  });

  it('counts unknown class labels as __OTHER__ and matches labels exactly (None is a class)', () => {
    const classes: Output[] = [{ name: 'y', kind: 'class', elementType: 'string', labels: ['None', 'a'] }];
    const { predictions } = computePredictionBaseline(classes, [
      { y: 'None' },
      { y: 'a' },
      { y: ' a' },
      { y: 7 },
      {},
    ]);
    expect(predictions.y).toEqual({
      kind: 'categorical',
      categories: ['None', 'a'],
      counts: [1, 1, 1],
      missing: 2,
    });
  });

  it('keeps one distinct value in a bin of positive width, and profiles an all-missing output', () => {
    const { predictions } = computePredictionBaseline(regression, [{ price: 3 }, { price: 3 }]);
    expect(predictions.price).toEqual({
      kind: 'numeric',
      edges: [3, 3 + 3e-6],
      counts: [0, 2, 0],
      missing: 0,
    });
    const none = computePredictionBaseline(regression, [{ price: Number.NaN }]).predictions.price;
    expect(none).toEqual({ kind: 'numeric', edges: [0, 1], counts: [0, 0, 0], missing: 1 });
  });

  it('treats an output named like an Object.prototype member as data', () => {
    const odd: Output[] = [{ name: 'constructor', kind: 'regression', elementType: 'float32' }];
    const { predictions } = computePredictionBaseline(odd, [{ constructor: 1 }, {}]);
    expect(Object.hasOwn(predictions, 'constructor')).toBe(true);
    expect(predictions.constructor).toMatchObject({ missing: 1 });
  });

  it('skips a class output with more labels than bins can hold, saying why', () => {
    const labels = Array.from({ length: 1001 }, (_, i) => `c${i}`);
    const many: Output[] = [{ name: 'y', kind: 'class', elementType: 'int64', labels }];
    const result = computePredictionBaseline(many, [{ y: 'c1' }]);
    expect(result.predictions).toEqual({});
    expect(result.skipped).toEqual([{ output: 'y', reason: expect.stringMatching(/1001 labels/) }]);
  });

  it('rejects a bins option outside 1–1000', () => {
    expect(() => computePredictionBaseline(regression, [], { bins: 0 })).toThrow(
      /bins must be a whole number/,
    );
  });
});

describe('predictionBinner and topProbability', () => {
  it('assigns live values by the rule the baseline counted with', () => {
    const { predictions } = computePredictionBaseline(outputs, [0.1, 0.4, 0.7, 0.95].map(row));
    const label = predictionBinner(predictions.label!);
    expect([label('benign'), label('malignant'), label('other'), label(undefined), label(1)]).toEqual([
      0,
      1,
      2,
      'missing',
      'missing',
    ]);
    const top = predictionBinner(predictions.probabilities!);
    expect(top({ benign: 0.4, malignant: 0.6 })).toBe(binIndex(predictions.probabilities!, 0.6));
    expect(top({ benign: 0.999, malignant: 0.001 })).toBe(
      (predictions.probabilities as { edges: number[] }).edges.length,
    );
    expect(top({ benign: Number.NaN, malignant: 0.5 })).toBe('missing');
    expect(top({})).toBe('missing');
    expect(top('benign')).toBe('missing');
  });

  it('takes the largest probability, undefined for empty or non-numeric objects', () => {
    expect(topProbability({ a: 0.2, b: 0.5, c: 0.3 })).toBe(0.5);
    expect(topProbability({})).toBeUndefined();
    expect(topProbability({ a: 0.2, b: '0.8' })).toBeUndefined();
  });
});

describe('manifest baseline.predictions', () => {
  const withPredictions = (predictions: unknown) => {
    const m = tinyManifest();
    m.baseline.predictions = predictions;
    return m;
  };
  const label = { kind: 'categorical', categories: ['benign', 'malignant'], counts: [5, 5, 0], missing: 0 };
  const probabilities = { kind: 'numeric', edges: [0.5, 0.75, 1], counts: [0, 4, 6, 0], missing: 0 };

  it('accepts bins per output and carries them into the runtime manifest', () => {
    const m = withPredictions({ label, probabilities });
    const parsed = parseManifest(m);
    expect(parsed.ok, JSON.stringify(parsed)).toBe(true);
    const runtime = parseRuntimeManifest(JSON.stringify(m));
    expect(runtime.ok && runtime.manifest.baseline?.predictions).toEqual({ label, probabilities });
  });

  it('rejects an unknown output, a wrong kind, mismatched labels and probabilities outside [0, 1]', () => {
    const parsed = parseManifest(
      withPredictions({
        label: { ...label, categories: ['malignant', 'benign'] },
        probabilities: { ...probabilities, edges: [0.5, 0.75, 1.5] },
        score: probabilities,
      }),
    );
    expect(parsed.ok).toBe(false);
    const issues = parsed.ok ? [] : parsed.issues.map((i) => `${i.path}: ${i.message}`);
    expect(issues).toEqual([
      expect.stringMatching(
        /^baseline\.predictions\.label\.categories: must equal outputs\[1\]\.labels in order \(\["benign","malignant"\]\), got \["malignant","benign"\]; recompute it with `modelops push --reference`$/,
      ),
      expect.stringMatching(/^baseline\.predictions\.probabilities\.edges: .*must lie in \[0, 1\]/),
      'baseline.predictions.score: names unknown output "score"; remove it or declare the output in outputs',
    ]);
    const kind = parseManifest(withPredictions({ label: probabilities }));
    expect(kind.ok ? [] : kind.issues).toEqual([
      {
        path: 'baseline.predictions.label.kind',
        message: 'must be "categorical" for a class output (outputs[1])',
      },
    ]);
  });

  it('rejects bins whose counts do not fit, naming the field', () => {
    const parsed = parseManifest(withPredictions({ label: { ...label, counts: [1, 1] } }));
    expect(parsed.ok ? [] : parsed.issues).toEqual([
      {
        path: 'baseline.predictions.label.counts',
        message: 'must have 3 entries (categories + 1 for __OTHER__), got 2',
      },
    ]);
  });

  it('the runtime manifest refuses what the schema refuses', () => {
    const bad = parseRuntimeManifest(
      JSON.stringify(withPredictions({ label: { ...label, categories: ['x', 'y'] }, nope: probabilities })),
    );
    expect(bad.ok ? [] : bad.issues.map((i) => i.path)).toEqual([
      'baseline.predictions.label.categories',
      'baseline.predictions.nope',
    ]);
    const kind = parseRuntimeManifest(JSON.stringify(withPredictions({ probabilities: label })));
    expect(kind.ok ? [] : kind.issues).toEqual([
      {
        path: 'baseline.predictions.probabilities.kind',
        message: 'must be "numeric" for a probability output',
      },
    ]);
  });
});

describe('predictionDrift', () => {
  const baseline: Baseline = {
    referenceCount: 100,
    features: {},
    predictions: {
      label: { kind: 'categorical', categories: ['a', 'b'], counts: [50, 50, 0], missing: 0 },
    },
  };
  const window = (counts: number[], missing = 0) => ({
    features: {},
    predictions: { label: { counts, missing } },
    total: counts.reduce((a, c) => a + c, missing),
  });

  it('is the JS distance over the bins plus missing, judged against the jsDistance threshold', () => {
    const [same] = predictionDrift(baseline, window([500, 500, 0]));
    expect(same).toMatchObject({ status: 'evaluated', jsDistance: 0, drifted: false, referenceCount: 100 });
    const [moved] = predictionDrift(baseline, window([800, 100, 50], 50));
    expect(moved).toMatchObject({ status: 'evaluated', output: 'label', liveCount: 1000, drifted: true });
    expect(moved!.status === 'evaluated' && moved!.jsDistance).toBe(
      jsDistance([50, 50, 0, 0], [800, 100, 50, 50]),
    );
  });

  it('is insufficient below minLiveCount and for an output absent from the window, never zero', () => {
    expect(predictionDrift(baseline, window([400, 500, 0]))).toEqual([
      { status: 'insufficient-data', output: 'label', liveCount: 900, minimum: 1000 },
    ]);
    expect(predictionDrift(baseline, { features: {}, total: 5000 })).toEqual([
      { status: 'insufficient-data', output: 'label', liveCount: 0, minimum: 1000 },
    ]);
  });

  it('is empty without a prediction baseline and refuses counts of other bins', () => {
    expect(predictionDrift({ referenceCount: 1, features: {} }, window([1, 1, 1]))).toEqual([]);
    expect(() => predictionDrift(baseline, window([500, 500]))).toThrow(DriftCountsError);
    expect(() => predictionDrift(baseline, window([500, 500]))).toThrow(
      /prediction output "label": .* 3 bins/,
    );
  });
});
