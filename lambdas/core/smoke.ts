/**
 * Smoke samples: the manifest's own examples of input → expected output, run through the serving stages (the
 * ingress validator, the in-process backend's batched run, the prediction formatter). Catches a model exported with
 * the wrong column order, label order or preprocessing, and samples the serving validator would refuse, before any
 * traffic reaches it.
 */
import { batchedPredict } from './batch-runs';
import { FeatureEncodingError } from './errors';
import type { Instance } from './features';
import { compileInstanceValidator } from './inference-request';
import type { Manifest, Output } from './manifest';
import type { LoadedModel, OutputValue } from './model-runtime';
import { ownValue } from './own';
import { createPredictionFormatter, PredictionFormatError } from './predictions';

type Expected = Manifest['smokeSamples'][number]['expected'][string];

const show = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? Number(x) : x)) ?? String(v);

function asNumber(v: number | bigint | string | boolean | undefined): number {
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number') return v;
  return Number.NaN;
}

/** The values of row `row` of an output with a leading batch dimension (one value for `[batch]` outputs). */
export function outputRow(value: OutputValue, row: number): (number | bigint | string | boolean)[] {
  const width = value.dims.slice(1).reduce((a, b) => a * b, 1);
  return Array.from({ length: width }, (_, i) => value.data[row * width + i]!);
}

/**
 * Compares one output row with the expected value; returns why it differs, or undefined when it matches.
 * Numbers compare within `tolerance` (absolute); probabilities element-wise; a class output accepts the class as
 * an index into `labels` or as the label itself, on either side.
 */
export function compareOutput(
  output: Output,
  expected: Expected,
  got: readonly (number | bigint | string | boolean)[],
  tolerance: number,
): string | undefined {
  switch (output.kind) {
    case 'probability': {
      if (!Array.isArray(expected)) return `expected must be an array of ${got.length} probabilities`;
      if (expected.length !== got.length)
        return `expected ${expected.length} probabilities, got ${got.length}`;
      const bad = expected.findIndex((e, i) => !(Math.abs(e - asNumber(got[i])) <= tolerance));
      return bad === -1
        ? undefined
        : `probability[${bad}]${output.labels ? ` (${output.labels[bad]})` : ''} differs by more than ${tolerance}`;
    }
    case 'class': {
      if (got.length !== 1) return `expected one class per row, got ${got.length} values`;
      const labels = output.labels ?? [];
      const toLabel = (v: unknown): string | undefined => {
        if (typeof v === 'string') return v;
        const n = typeof v === 'bigint' ? Number(v) : v;
        return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n < labels.length
          ? labels[n]
          : undefined;
      };
      const want = toLabel(expected);
      if (want === undefined)
        return `expected class ${show(expected)} is neither a label nor an index into labels`;
      if (typeof expected === 'string' && !labels.includes(expected)) {
        return `expected class "${expected}" is not one of labels ${show(labels)}`;
      }
      return toLabel(got[0]) === want ? undefined : 'class differs';
    }
    case 'regression': {
      if (typeof expected !== 'number') return 'expected must be a number';
      if (got.length !== 1) return `expected one value per row, got ${got.length}`;
      return Math.abs(expected - asNumber(got[0])) <= tolerance
        ? undefined
        : `differs by more than ${tolerance}`;
    }
  }
}

/**
 * A class value as a person reads it: the label, with its index when the model emits indices
 * (`"benign" (index 1)`); an index with no label says so.
 */
export function showClass(output: Output, value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  const n = typeof value === 'bigint' ? Number(value) : value;
  const labels = output.labels ?? [];
  if (typeof n === 'number' && Number.isInteger(n)) {
    const label = n >= 0 && n < labels.length ? labels[n] : undefined;
    return label === undefined ? `index ${n} (no label)` : `${JSON.stringify(label)} (index ${n})`;
  }
  return show(value);
}

/**
 * Runs every smoke sample as a one-instance request through the serving stages: the ingress validator (ranges and
 * categories), the batched run the in-process backend uses (./batch-runs.ts), the prediction formatter, then the
 * comparison with the expected values. Reports each failure with the field, the values and the fix.
 */
export async function smokeSampleIssues(
  manifest: Manifest,
  model: Pick<LoadedModel, 'inputs' | 'run'>,
): Promise<string[]> {
  const issues: string[] = [];
  const outputs = new Map(manifest.outputs.map((o) => [o.name, o]));
  const validate = compileInstanceValidator(manifest, { maxErrors: 20 });
  const predict = batchedPredict(model, manifest);
  const format = createPredictionFormatter(manifest.outputs);
  const features = new Map(manifest.inputs.features.map((f, i) => [f.name, i]));
  for (const [index, sample] of manifest.smokeSamples.entries()) {
    const where = `smokeSamples[${index}]`;
    const instances: readonly Instance[] = [sample.inputs];
    const refused = validate(instances);
    if (refused.length > 0) {
      for (const e of refused) {
        const path = e.path.replace(/^instances\[0\]/, '');
        const name = path.startsWith('.') ? path.slice(1) : undefined;
        const at = name === undefined ? undefined : features.get(name);
        const fix =
          at === undefined
            ? 'fix the sample'
            : `fix the sample or the declaration inputs.features[${at}] ("${name}"): requests like it would get 400`;
        issues.push(`${where}.inputs${path}: ${e.message}; ${fix}`);
      }
      continue;
    }
    let results: Readonly<Record<string, OutputValue>>;
    try {
      results = await predict(instances);
    } catch (err) {
      if (err instanceof FeatureEncodingError) {
        for (const i of err.issues) issues.push(`${where}.inputs.${i.feature}: ${i.message}`);
      } else {
        issues.push(`${where}: the model failed to run: ${(err as Error).message}`);
      }
      continue;
    }
    try {
      format(results, 1);
    } catch (err) {
      if (!(err instanceof PredictionFormatError)) throw err;
      issues.push(
        `${where}: the prediction cannot be formatted: ${err.message}; declare the outputs as the model returns them`,
      );
      continue;
    }
    for (const [name, expected] of Object.entries(sample.expected)) {
      const output = outputs.get(name);
      const value = ownValue(results, name);
      if (!output) {
        issues.push(`${where}.expected.${name}: is not a declared output`);
        continue;
      }
      if (!value) {
        issues.push(`${where}.expected.${name}: the model returned no output "${name}"`);
        continue;
      }
      const got = outputRow(value, 0);
      const reason = compareOutput(output, expected, got, sample.tolerance);
      if (reason !== undefined) {
        const shown =
          output.kind === 'probability'
            ? `expected ${show(expected)}, got ${show(got)}`
            : output.kind === 'class'
              ? `expected ${showClass(output, expected)}, got ${showClass(output, got[0])}`
              : `expected ${show(expected)}, got ${show(got[0])}`;
        issues.push(`${where}.expected.${name}: ${reason} (${shown})`);
      }
    }
  }
  return issues;
}
