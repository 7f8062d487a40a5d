/**
 * Turns a model's raw outputs into the predictions of the inference response, per the manifest's output spec:
 * `class` → the label string, `probability` → `{ "<label>": p, … }`, `regression` → a number. Nothing is rounded.
 *
 * The plan is compiled once per model version; formatting a response is one pass over the output values.
 */
import type { Output } from './manifest';
import type { OutputValue } from './model-runtime';
import { ownValue } from './own';

/** One instance's prediction: output name → formatted value. */
export type Prediction = Record<string, string | number | Readonly<Record<string, number>>>;

/**
 * The outputs do not fit the manifest: an output is missing, has the wrong number of rows or values, or a class
 * index has no label. The model and its manifest disagree, which validation should have caught; never the caller's
 * fault.
 */
export class PredictionFormatError extends Error {
  override name = 'PredictionFormatError';
}

/** Formats the outputs of one batch of `count` instances. Throws {@link PredictionFormatError}. */
export type PredictionFormatter = (
  outputs: Readonly<Record<string, OutputValue>>,
  count: number,
) => Prediction[];

type CellValue = number | bigint | string | boolean | undefined;

function toNumber(value: CellValue): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'boolean') return value ? 1 : 0;
  return Number.NaN;
}

/** Values per row of an output with a leading batch dimension; `[batch]` and `[batch, 1]` both give 1. */
function rowWidth(value: OutputValue, count: number, name: string): number {
  const length = value.data.length;
  if (count === 0) return 0;
  if (length % count !== 0) {
    throw new PredictionFormatError(
      `output "${name}" has ${length} values, not a whole number per instance for ${count} instances`,
    );
  }
  return length / count;
}

type Column = (prediction: Prediction, value: OutputValue, row: number, width: number) => void;

function classColumn(output: Output): Column {
  const labels = output.labels ?? [];
  const name = output.name;
  return (prediction, value, row, width) => {
    if (width !== 1) {
      throw new PredictionFormatError(
        `class output "${name}" must have one value per instance, got ${width}`,
      );
    }
    const cell = value.data[row] as CellValue;
    // String outputs carry the label itself; numeric ones carry its index in `labels`.
    if (typeof cell === 'string') {
      prediction[name] = cell;
      return;
    }
    const index = toNumber(cell);
    const label = Number.isInteger(index) ? labels[index] : undefined;
    if (label === undefined) {
      throw new PredictionFormatError(
        `class output "${name}" returned ${String(cell)}, which is not an index into its ${labels.length} labels`,
      );
    }
    prediction[name] = label;
  };
}

function probabilityColumn(output: Output): Column {
  const labels = output.labels ?? [];
  const name = output.name;
  return (prediction, value, row, width) => {
    if (width !== labels.length) {
      throw new PredictionFormatError(
        `probability output "${name}" has ${width} values per instance, expected one per label (${labels.length})`,
      );
    }
    const base = row * width;
    const byLabel: Record<string, number> = {};
    for (let j = 0; j < width; j++) byLabel[labels[j]!] = toNumber(value.data[base + j] as CellValue);
    prediction[name] = byLabel;
  };
}

function regressionColumn(output: Output): Column {
  const name = output.name;
  return (prediction, value, row, width) => {
    if (width !== 1) {
      throw new PredictionFormatError(
        `regression output "${name}" must have one value per instance, got ${width}`,
      );
    }
    prediction[name] = toNumber(value.data[row] as CellValue);
  };
}

/**
 * Compiles the formatter for a version's outputs. Outputs the model returns but the manifest does not declare are
 * ignored; a declared output the model does not return is an error.
 *
 * @example
 * const format = createPredictionFormatter(manifest.outputs);
 * format(await model.run(feeds), 1) // [{ label: 'benign', probabilities: { malignant: 0.02, benign: 0.98 } }]
 */
export function createPredictionFormatter(outputs: readonly Output[]): PredictionFormatter {
  const plan = outputs.map((output) => ({
    name: output.name,
    column:
      output.kind === 'class'
        ? classColumn(output)
        : output.kind === 'probability'
          ? probabilityColumn(output)
          : regressionColumn(output),
  }));
  return (values, count) => {
    const predictions: Prediction[] = new Array<Prediction>(count);
    for (let i = 0; i < count; i++) predictions[i] = {};
    for (const { name, column } of plan) {
      const value = ownValue(values, name);
      if (value === undefined) throw new PredictionFormatError(`the model returned no output "${name}"`);
      const width = rowWidth(value, count, name);
      for (let i = 0; i < count; i++) column(predictions[i]!, value, i, width);
    }
    return predictions;
  };
}
