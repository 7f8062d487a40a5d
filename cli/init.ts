/**
 * `modelops init <model.onnx>`: writes a bundle skeleton from the graph, so nobody writes a manifest by hand. The
 * features and tensor bindings come from the graph inputs (names from the reference CSV header when it fits), the
 * outputs and labels from the graph's outputs and classifier nodes (cli/onnx-graph.ts); with `--reference`, the
 * smoke samples are real reference rows run through ONNX Runtime and the baseline is profiled as `push --reference`
 * profiles it. What only a person knows (owner, metrics, model card, lineage) is written as a "TODO:" placeholder
 * that validates, and listed. Every argument is checked before anything is written: a bad one writes nothing.
 */
import { copyFile, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { OnnxModelRuntime } from '../lambdas/adapters/onnx-model-runtime';
import {
  compareCodePoints,
  computeBaseline,
  isMissingCell,
  ReferenceDataError,
  referenceValue,
} from '../lambdas/core/baseline';
import { batchedPredict } from '../lambdas/core/batch-runs';
import { FeatureEncodingError } from '../lambdas/core/errors';
import type { FeatureValue, Instance } from '../lambdas/core/features';
import { compileInstanceValidator } from '../lambdas/core/inference-request';
import { MANIFEST_FILE } from '../lambdas/core/keys';
import {
  ARTIFACT_FILE_PATTERN,
  IDENTIFIER_PATTERN,
  MODEL_NAME_PATTERN,
  parseManifest,
  VERSION_PATTERN,
  type Feature,
  type InputTensor,
  type Manifest,
  type Output,
  type TensorElementType,
} from '../lambdas/core/manifest';
import type { LoadedModel, OutputValue } from '../lambdas/core/model-runtime';
import { ownValue } from '../lambdas/core/own';
import { computePredictionBaseline } from '../lambdas/core/prediction-baseline';
import { createPredictionFormatter, type Prediction } from '../lambdas/core/predictions';
import { parseReferenceCsv, type ReferenceCsv } from '../lambdas/core/reference-csv';
import { sha256OfBytes } from '../lambdas/core/sha256';
import { outputRow, smokeSampleIssues } from '../lambdas/core/smoke';
import { signatureIssues } from '../lambdas/core/signature';
import { loadProjectConfig } from './bundle';
import { CliError, UsageError, type CliIo } from './errors';
import {
  decodeOnnx,
  inputLayout,
  NotOnnxError,
  readGraph,
  type GraphClasses,
  type GraphInput,
  type GraphOutput,
  type GraphSummary,
  type InputLayout,
} from './onnx-graph';

export interface InitOptions {
  /** Reference CSV (header = column names): feature names, categories, smoke samples and the baseline. */
  readonly reference?: string;
  /** Comma-separated class labels, in the model's class order. */
  readonly labels?: string;
  /** Bundle directory to write. @default - the model file's directory */
  readonly out?: string;
  /** Model name. @default - the bundle directory's name, lower-cased with dashes */
  readonly name?: string;
  /** @default '1.0.0' */
  readonly version?: string;
  /** Overwrite an existing manifest.json (and reference.csv / model file). @default false */
  readonly force?: boolean;
}

export interface InitResult {
  readonly dir: string;
  readonly manifestPath: string;
  readonly manifest: Manifest;
  /** Files written, relative to `dir`. */
  readonly written: readonly string[];
  /** What a person must fill in before pushing. */
  readonly todo: readonly string[];
  readonly notes: readonly string[];
  readonly warnings: readonly string[];
}

/** Marks what init cannot know; validation accepts it, a reader cannot miss it. */
export const TODO = 'TODO:';
/** Smoke samples written (more when there are more classes, so each class has one). */
export const SMOKE_SAMPLES = 5;
const MAX_SMOKE_SAMPLES = 20;
/** Reference columns taken for a target, not a feature, when the header has more columns than the inputs need. */
const TARGET_COLUMN = /^(?:label|labels|target|y|class|outcome)$/i;

// ---------------------------------------------------------------------------------------------------------------
// Inputs → features and tensors
// ---------------------------------------------------------------------------------------------------------------

/**
 * The tensor feature for a graph input fed whole (design: a tensor feature feeds one graph tensor alone; the
 * graph input's dims are `[batch, ...shape]`).
 */
export function tensorFeatureFor(
  input: GraphInput,
  layout: Extract<InputLayout, { kind: 'tensor' }>,
): { feature: Feature; tensor: InputTensor } {
  const elementType = layout.elementType as Extract<Feature, { type: 'tensor' }>['elementType'];
  return {
    feature: {
      name: input.name,
      type: 'tensor',
      elementType,
      shape: [...layout.shape],
      required: true,
      pii: false,
      description: `${TODO} what this ${layout.shape.join('×')} tensor holds (e.g. an image, channels first)`,
    },
    tensor: { name: input.name, elementType, features: [input.name] },
  };
}

export interface InputPlan {
  readonly features: Feature[];
  readonly tensors: InputTensor[];
  /** Reference columns that feed no feature (a label, an id). */
  readonly ignoredColumns: readonly string[];
  readonly notes: readonly string[];
  readonly todo: readonly string[];
}

type CellKind = 'numeric' | 'boolean' | 'any';

/** Whether every non-missing cell of `column` parses as `kind` (the baseline's cell rules). */
function columnFits(reference: ReferenceCsv, column: string, kind: CellKind): boolean {
  if (kind === 'any') return true;
  const probe: Feature =
    kind === 'numeric'
      ? { name: column, type: 'numeric', required: true, pii: false }
      : { name: column, type: 'boolean', required: true, pii: false };
  return reference.rows.every((row, i) => {
    try {
      referenceValue(probe, ownValue(row, column) ?? '', i + 1);
      return true;
    } catch {
      return false;
    }
  });
}

const cellKind = (t: TensorElementType): CellKind =>
  t === 'bool' ? 'boolean' : t === 'string' ? 'any' : 'numeric';

const describeDims = (input: GraphInput): string =>
  `${input.elementType ?? '?'} [${(input.dims ?? []).map((d) => (typeof d === 'number' ? d : d === '?' ? 'N' : d)).join(', ')}]`;

/** Distinct non-missing values of a reference column, in code-point order (as the baseline sorts ties). */
function distinctValues(reference: ReferenceCsv, column: string): string[] {
  const seen = new Set<string>();
  for (const row of reference.rows) {
    const cell = ownValue(row, column) ?? '';
    if (!isMissingCell(cell)) seen.add(cell.replace(/^[ \t]+|[ \t]+$/g, ''));
  }
  return [...seen].sort(compareCodePoints);
}

/**
 * Features and tensor bindings for the graph inputs. A `[batch, k]` input of a column type becomes k features,
 * named from the reference header when it fits: a one-column input takes the column of its own name, the others
 * take the remaining columns in header order (skipping a label column when there is one to spare); without a
 * reference they are `<input>_<i>`. Any other shape becomes one tensor feature. Throws `UsageError` naming the input
 * or the column when the graph or the header does not fit.
 */
export function planInputs(graph: Pick<GraphSummary, 'inputs'>, reference?: ReferenceCsv): InputPlan {
  const notes: string[] = [];
  const todo: string[] = [];
  const layouts = graph.inputs.map((input) => ({ input, layout: inputLayout(input) }));
  const unservable = layouts.filter(({ layout }) => layout.kind === 'unservable');
  if (unservable.length > 0) {
    throw new UsageError(
      `<model.onnx> has input(s) a request cannot feed: ${unservable
        .map(({ layout }) => {
          const l = layout as Extract<InputLayout, { kind: 'unservable' }>;
          return `${l.why}; ${l.fix}`;
        })
        .join('; ')}`,
    );
  }
  for (const { input } of layouts) {
    if (!IDENTIFIER_PATTERN.test(input.name)) {
      throw new UsageError(
        `<model.onnx> input "${input.name}" is not a name a manifest can bind (letters, digits, "_", ".", ":", "-"; ` +
          'starting with a letter or "_"); rename the graph input when exporting',
      );
    }
  }

  // Which reference columns feed which input.
  const columnsOf = new Map<string, string[]>();
  let ignoredColumns: string[] = [];
  if (reference) {
    const free = [...reference.columns];
    const take = (column: string) => free.splice(free.indexOf(column), 1);
    const pending: { input: GraphInput; width: number | undefined; kind: CellKind }[] = [];
    for (const { input, layout } of layouts) {
      if (layout.kind === 'tensor') {
        throw new UsageError(
          `--reference: graph input "${input.name}" (${describeDims(input)}) is a ` +
            'tensor feature, which CSV cells cannot hold; run init without --reference and profile the baseline ' +
            'from JSON lines (one instance per line)',
        );
      }
      if (layout.kind !== 'columns') continue;
      const kind = cellKind(layout.elementType);
      if ((layout.width === 1 || layout.width === undefined) && free.includes(input.name)) {
        if (!columnFits(reference, input.name, kind)) {
          throw new UsageError(
            `--reference: column "${input.name}" feeds the graph input of that name (${describeDims(input)}) but ` +
              `not every cell is ${kind === 'numeric' ? 'a number' : 'a boolean (true/false, 1/0)'}; fix the cells ` +
              'or leave them empty to mark them missing',
          );
        }
        take(input.name);
        columnsOf.set(input.name, [input.name]);
      } else {
        pending.push({ input, width: layout.width, kind });
      }
    }
    const needed = pending.reduce((n, p) => n + (p.width ?? 0), 0);
    const symbolic = pending.filter((p) => p.width === undefined);
    if (symbolic.length > 1) {
      throw new UsageError(
        `<model.onnx> inputs ${symbolic.map((p) => `"${p.input.name}"`).join(', ')} leave their width symbolic, so ` +
          'the reference header cannot be split between them; export them with fixed widths',
      );
    }
    if (symbolic.length === 0 && free.length > needed) {
      // One spare column or more: a label column is the usual one; drop those from the end first.
      for (let i = free.length - 1; i >= 0 && free.length > needed; i--) {
        if (TARGET_COLUMN.test(free[i]!)) ignoredColumns.push(...free.splice(i, 1));
      }
    }
    for (const p of pending) {
      const fits = free.filter((c) => columnFits(reference, c, p.kind));
      const width = p.width ?? fits.filter((c) => !TARGET_COLUMN.test(c)).length;
      const chosen = (p.width === undefined ? fits.filter((c) => !TARGET_COLUMN.test(c)) : fits).slice(
        0,
        width,
      );
      if (chosen.length < width || width === 0) {
        throw new UsageError(
          `--reference: graph input "${p.input.name}" (${describeDims(p.input)}) needs ${p.width ?? 'at least one'} ` +
            `${p.kind === 'numeric' ? 'numeric ' : p.kind === 'boolean' ? 'boolean ' : ''}column(s), but the header ` +
            `has ${chosen.length} left that fit (header: ${reference.columns.join(', ')}); name one column per ` +
            "feature in the graph's column order (a column named like a one-column input feeds that input), or " +
            `drop --reference to name the features ${p.input.name}_0, ${p.input.name}_1, …`,
        );
      }
      for (const c of chosen) take(c);
      columnsOf.set(p.input.name, chosen);
    }
    ignoredColumns = [...ignoredColumns, ...free].sort(
      (a, b) => reference.columns.indexOf(a) - reference.columns.indexOf(b),
    );
    for (const [input, columns] of columnsOf) {
      for (const c of columns) {
        if (!IDENTIFIER_PATTERN.test(c)) {
          throw new UsageError(
            `--reference: column "${c}" (feeding input "${input}") is not a feature name (letters, digits, "_", ` +
              '".", ":", "-"; starting with a letter or "_"); rename it in the header, e.g. "mean radius" → "mean_radius"',
          );
        }
      }
    }
  }

  const features: Feature[] = [];
  const tensors: InputTensor[] = [];
  for (const { input, layout } of layouts) {
    if (layout.kind === 'tensor') {
      const t = tensorFeatureFor(input, layout);
      features.push(t.feature);
      tensors.push(t.tensor);
      notes.push(
        `input "${input.name}" ${describeDims(input)}: one tensor feature of shape [${layout.shape.join(', ')}]`,
      );
      continue;
    }
    if (layout.kind !== 'columns') continue;
    let names = columnsOf.get(input.name);
    if (!names) {
      if (layout.width === undefined) {
        throw new UsageError(
          `<model.onnx> input "${input.name}" (${describeDims(input)}) leaves its number of columns symbolic; pass ` +
            '--reference whose header names its columns, or export it with a fixed width',
        );
      }
      names =
        layout.width === 1
          ? [input.name]
          : Array.from({ length: layout.width }, (_, i) => `${input.name}_${i}`);
      if (layout.width > 1) {
        todo.push(
          `inputs.features: ${input.name}_0 … ${input.name}_${layout.width - 1} are placeholder names (rename them ` +
            `in inputs.features and inputs.tensors[${tensors.length}].features, in the same order), or rerun with --reference`,
        );
      }
    }
    for (const name of names) features.push(columnFeature(input, layout, name, reference, notes, todo));
    tensors.push({ name: input.name, elementType: layout.elementType, features: names });
  }
  return { features, tensors, ignoredColumns, notes, todo };
}

function columnFeature(
  input: GraphInput,
  layout: Extract<InputLayout, { kind: 'columns' }>,
  name: string,
  reference: ReferenceCsv | undefined,
  notes: string[],
  todo: string[],
): Feature {
  const base = { name, required: true, pii: false };
  const type = layout.elementType;
  if (type === 'bool') return { ...base, type: 'boolean' };
  const ids = input.categories?.int64s;
  // An integer tensor feeds a categorical feature's index in `categories`: the graph's ids must be exactly 0..k-1.
  if ((type === 'int64' || type === 'int32') && ids && ids.every((v, i) => v === i)) {
    return { ...base, type: 'categorical', categories: ids.map(String) };
  }
  if (type !== 'string') {
    if (ids) {
      notes.push(
        `input "${input.name}": the graph one-hot encodes ids ${JSON.stringify(ids)}, fed as numbers (not 0..k-1, so ` +
          'not as a categorical index)',
      );
    }
    return { ...base, type: 'numeric' };
  }
  const fromGraph = input.categories?.strings;
  if (fromGraph && fromGraph.length > 0) {
    notes.push(`feature "${name}": categories from the graph's OneHotEncoder (${fromGraph.length})`);
    return { ...base, type: 'categorical', categories: [...fromGraph] };
  }
  const seen =
    reference && Object.hasOwn(reference.rows[0] ?? {}, name) ? distinctValues(reference, name) : [];
  if (seen.length > 0) {
    notes.push(
      `feature "${name}": categories are the ${seen.length} distinct values of the reference column`,
    );
    todo.push(
      `inputs.features "${name}".categories: the reference's values; add any category the model accepts that the reference lacks`,
    );
    return { ...base, type: 'categorical', categories: seen.slice(0, 10_000) };
  }
  todo.push(
    `inputs.features "${name}".categories: list the categories the model accepts (placeholder written)`,
  );
  return { ...base, type: 'categorical', categories: [`${TODO}list-the-categories`] };
}

// ---------------------------------------------------------------------------------------------------------------
// Outputs → declarations and labels
// ---------------------------------------------------------------------------------------------------------------

/** `--labels a,b,c`: trimmed, non-empty, unique. Throws `UsageError`. */
export function parseLabels(text: string): string[] {
  const labels = text.split(',').map((l) => l.trim());
  if (labels.length < 2 || labels.some((l) => l === '')) {
    throw new UsageError(
      `--labels "${text}" must list at least two non-empty class labels separated by commas, in the model's class order, e.g. --labels malignant,benign`,
    );
  }
  const dup = labels.find((l, i) => labels.indexOf(l) !== i);
  if (dup !== undefined)
    throw new UsageError(`--labels lists "${dup}" twice; each class needs its own label`);
  return labels;
}

export interface OutputPlan {
  readonly outputs: Output[];
  readonly notes: readonly string[];
  readonly todo: readonly string[];
  readonly warnings: readonly string[];
}

/**
 * Output declarations and their labels: the graph's class labels (string labels must be the graph's; integer class
 * ids may be named by `--labels`, one per class), else `--labels`, else "TODO:" placeholders. `observed` gives the
 * shapes the model returned on reference rows, which decide what the graph leaves open. Throws `UsageError` when
 * `--labels` disagrees with the graph or no output can be served.
 */
export function planOutputs(
  graph: Pick<GraphSummary, 'outputs'>,
  labels: readonly string[] | undefined,
  observed: Readonly<Record<string, OutputValue>> | undefined,
): OutputPlan {
  const notes: string[] = [];
  const todo: string[] = [];
  const warnings: string[] = [];
  type Resolved = { output: GraphOutput; kind: 'probability' | 'class' | 'regression' };
  const served: Resolved[] = [];
  for (const output of graph.outputs) {
    const role = output.role;
    if (role.kind === 'unservable') {
      warnings.push(`output "${output.name}" left out: ${role.why}; ${role.fix}`);
      continue;
    }
    if (role.kind === 'undetermined') {
      const dims = ownValue(observed ?? {}, output.name)?.dims;
      if (!dims) {
        warnings.push(
          `output "${output.name}" left out: ${role.why}, and no --reference rows were run; rerun with --reference`,
        );
        continue;
      }
      const width = dims.length === 2 ? dims[1]! : 1;
      if (dims.length > 2) {
        warnings.push(`output "${output.name}" left out: the model returned shape [${dims.join(', ')}]`);
        continue;
      }
      served.push({ output, kind: width === 1 ? 'regression' : 'probability' });
      continue;
    }
    served.push({ output, kind: role.kind });
  }
  if (served.length === 0) {
    throw new UsageError(`<model.onnx> has no output serving can return: ${warnings.join('; ')}`);
  }

  const classified = served.filter((s) => s.kind !== 'regression');
  let classLabels: string[] | undefined;
  if (classified.length > 0) {
    const stated: GraphClasses | undefined =
      classified.map((s) => s.output.classes).find((c) => c?.values !== undefined) ??
      classified.map((s) => s.output.classes).find((c) => c?.count !== undefined);
    const observedWidth = classified
      .filter((s) => s.kind === 'probability')
      .map((s) => ownValue(observed ?? {}, s.output.name)?.dims)
      .find((d) => d?.length === 2)?.[1];
    const count = stated?.count ?? observedWidth;
    const strings = stated?.values?.every((v) => typeof v === 'string')
      ? (stated.values as string[])
      : undefined;
    if (strings) {
      if (labels && (labels.length !== strings.length || labels.some((l, i) => l !== strings[i]))) {
        throw new UsageError(
          `--labels ${labels.join(',')} disagrees with the graph, whose ${stated!.from} are ${strings.join(',')} ` +
            '(the model returns these strings); drop --labels',
        );
      }
      classLabels = [...strings];
      notes.push(`labels from the graph's ${stated!.from}: ${strings.join(', ')}`);
    } else if (labels) {
      if (count !== undefined && labels.length !== count) {
        throw new UsageError(
          `--labels lists ${labels.length} label(s) (${labels.join(',')}) but the model has ${count} classes ` +
            `(${stated?.from ?? 'the width of its probabilities'}); list ${count}, in the model's class order`,
        );
      }
      if (count === undefined) {
        notes.push(
          `labels from --labels; the graph does not say how many classes it has, so check there are ${labels.length}`,
        );
      }
      classLabels = [...labels];
    } else if (count !== undefined) {
      const ids = stated?.values?.map(String) ?? Array.from({ length: count }, (_, i) => String(i));
      if (stated?.values) {
        classLabels = ids;
        notes.push(`labels are the graph's class ids (${stated.from}): ${ids.join(', ')}`);
        todo.push(
          `outputs[].labels: the class ids ${ids.join(', ')}; name them (rerun with --labels a,b,…, in class order)`,
        );
      } else {
        classLabels = Array.from({ length: count }, (_, i) => `${TODO}class-${i}`);
        todo.push(
          `outputs[].labels: placeholders for ${count} classes; rerun with --labels a,b,… in the model's class order`,
        );
      }
    } else {
      throw new UsageError(
        "<model.onnx> does not say how many classes it predicts; pass --labels a,b,… in the model's class order " +
          '(or --reference, so init runs the model and counts them)',
      );
    }
  }

  const outputs = served.map(({ output, kind }): Output => {
    const elementType = output.elementType as TensorElementType;
    return kind === 'regression'
      ? { name: output.name, kind, elementType }
      : { name: output.name, kind, elementType, labels: [...classLabels!] };
  });
  return { outputs, notes, todo, warnings };
}

// ---------------------------------------------------------------------------------------------------------------
// Smoke samples
// ---------------------------------------------------------------------------------------------------------------

/**
 * Which rows become smoke samples, deterministically: for a classifier the first row of each predicted class (in
 * label order), then rows evenly spaced through the rest; for a regressor the rows at the 0, 25, 50, 75 and 100 %
 * quantiles of the prediction. `classOf[i]` is row i's predicted class index (undefined for a regressor),
 * `valueOf[i]` its regression value.
 */
export function chooseSmokeRows(
  rows: number,
  classOf: readonly (number | undefined)[] | undefined,
  valueOf: readonly number[] | undefined,
): number[] {
  if (rows === 0) return [];
  const chosen: number[] = [];
  const add = (i: number) => {
    if (!chosen.includes(i)) chosen.push(i);
  };
  let target = Math.min(SMOKE_SAMPLES, rows);
  if (classOf) {
    const classes = [...new Set(classOf.filter((c): c is number => c !== undefined))].sort((a, b) => a - b);
    target = Math.min(rows, Math.max(target, Math.min(classes.length, MAX_SMOKE_SAMPLES)));
    for (const c of classes.slice(0, MAX_SMOKE_SAMPLES)) add(classOf.indexOf(c));
  } else if (valueOf) {
    const order = valueOf.map((v, i) => ({ v, i })).sort((a, b) => a.v - b.v || a.i - b.i);
    for (let q = 0; q < target; q++) add(order[Math.round((q * (rows - 1)) / Math.max(target - 1, 1))]!.i);
  }
  // Evenly spaced rows, then (when those were taken already) the first rows not yet chosen.
  for (let k = 0; k < target && chosen.length < target; k++) add(Math.floor((k * rows) / target));
  for (let i = 0; i < rows && chosen.length < target; i++) add(i);
  return chosen;
}

function smokeExpected(output: Output, value: OutputValue, row: number): number | string | number[] {
  const got = outputRow(value, row);
  if (output.kind === 'probability') return got.map(Number);
  const first = got[0]!;
  if (output.kind === 'class') return typeof first === 'string' ? first : Number(first);
  return Number(first);
}

function classIndexOf(output: Output, value: OutputValue, row: number): number | undefined {
  const got = outputRow(value, row);
  if (output.kind === 'probability') {
    let best = 0;
    for (let i = 1; i < got.length; i++) if (Number(got[i]) > Number(got[best])) best = i;
    return best;
  }
  const first = got[0];
  if (typeof first === 'string') return output.labels?.indexOf(first);
  return first === undefined ? undefined : Number(first);
}

// ---------------------------------------------------------------------------------------------------------------
// The command
// ---------------------------------------------------------------------------------------------------------------

/** A model name from a directory name: lower case, runs of other characters as one dash. */
export function modelNameFrom(dirName: string): string {
  return dirName
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 64)
    .replace(/-+$/, '');
}

/** Model names of the project's modelops.config.ts, when the CLI runs in a checkout that has one. */
async function configuredModels(): Promise<string[]> {
  try {
    return (await loadProjectConfig()).models.map((m) => m.name);
  } catch {
    return [];
  }
}

async function isFile(p: string): Promise<boolean> {
  return (await stat(p).catch(() => undefined))?.isFile() ?? false;
}

async function sameContent(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([readFile(a), readFile(b)]);
  return x.equals(y);
}

/**
 * Writes `manifest.json` (and copies the model and reference.csv) into the bundle directory. Throws `UsageError`
 * (exit 2) for a bad argument and `CliError` when the model cannot run; in both cases nothing is written.
 *
 * @example
 * await init('examples/credit-risk/model.onnx', { reference: 'examples/credit-risk/reference.csv',
 *   labels: 'repaid,defaulted', out: 'my-bundle' }, consoleIo);
 */
export async function init(modelArg: string, options: InitOptions, io: CliIo): Promise<InitResult> {
  const modelPath = path.resolve(modelArg);
  if (!(await isFile(modelPath))) {
    throw new UsageError(
      `<model.onnx> "${modelArg}" is not a file; pass the path of the model exported to ONNX`,
    );
  }
  const bytes = await readFile(modelPath);
  let summary: GraphSummary;
  try {
    summary = readGraph(decodeOnnx(bytes));
  } catch (err) {
    if (!(err instanceof NotOnnxError)) throw err;
    throw new UsageError(
      `<model.onnx> "${modelArg}": ${err.message}; pass a model exported to ONNX (skl2onnx, torch.onnx.export, tf2onnx, …)`,
    );
  }
  const file = path.basename(modelPath);
  if (!ARTIFACT_FILE_PATTERN.test(file)) {
    throw new UsageError(
      `<model.onnx> "${file}" is not a bundle file name (letters, digits, ".", "_", "-"); rename it, e.g. model.onnx`,
    );
  }
  const labels = options.labels !== undefined ? parseLabels(options.labels) : undefined;
  const dir = path.resolve(options.out ?? path.dirname(modelPath));
  const name = options.name ?? modelNameFrom(path.basename(dir));
  if (!MODEL_NAME_PATTERN.test(name)) {
    throw new UsageError(
      `${options.name !== undefined ? '--name' : `the bundle directory "${path.basename(dir)}"`} gives model name "${name}", ` +
        'which must be 1-64 characters of a-z, 0-9 and "-"; pass --name <model>',
    );
  }
  const version = options.version ?? '1.0.0';
  if (!VERSION_PATTERN.test(version) || version.includes('..')) {
    throw new UsageError(
      `--version "${version}" must be 1-64 characters of A-Z, a-z, 0-9, ".", "_", "-", e.g. 1.0.0`,
    );
  }
  const dirStat = await stat(dir).catch(() => undefined);
  if (dirStat && !dirStat.isDirectory())
    throw new UsageError(`--out "${options.out}" is a file; pass a directory`);
  const manifestPath = path.join(dir, MANIFEST_FILE);
  if (!options.force && (await isFile(manifestPath))) {
    throw new UsageError(
      `${manifestPath} already exists; pass --force to overwrite it, or --out <dir> to write the bundle elsewhere`,
    );
  }
  const artifactPath = path.join(dir, file);
  const copyModel = artifactPath !== modelPath;
  if (
    copyModel &&
    !options.force &&
    (await isFile(artifactPath)) &&
    !(await sameContent(artifactPath, modelPath))
  ) {
    throw new UsageError(
      `${artifactPath} already exists with other content; pass --force to replace it, or another --out`,
    );
  }

  let reference: ReferenceCsv | undefined;
  let referencePath: string | undefined;
  if (options.reference !== undefined) {
    referencePath = path.resolve(options.reference);
    const csv = (await isFile(referencePath)) ? await readFile(referencePath, 'utf8') : undefined;
    if (csv === undefined) {
      throw new UsageError(
        `--reference "${options.reference}" is not a file; pass a CSV of reference data (header = column names)`,
      );
    }
    try {
      reference = parseReferenceCsv(csv);
    } catch (err) {
      if (err instanceof ReferenceDataError)
        throw new UsageError(`--reference ${options.reference}: ${err.message}`);
      throw err;
    }
    if (reference.rows.length === 0) {
      throw new UsageError(
        `--reference ${options.reference} has a header but no rows; pass the training split`,
      );
    }
    const target = path.join(dir, 'reference.csv');
    if (
      target !== referencePath &&
      !options.force &&
      (await isFile(target)) &&
      !(await sameContent(target, referencePath))
    ) {
      throw new UsageError(
        `${target} already exists with other content; pass --force to replace it, or another --out`,
      );
    }
  }

  const inputs = planInputs(summary, reference);
  const notes: string[] = [...inputs.notes];
  const warnings: string[] = [];
  const todo: string[] = [];
  if (inputs.ignoredColumns.length > 0) {
    notes.push(
      `reference columns that feed no input (ignored by the baseline): ${inputs.ignoredColumns.join(', ')}`,
    );
  }

  let model: LoadedModel;
  try {
    model = await new OnnxModelRuntime().load(bytes);
  } catch (err) {
    throw new UsageError(
      `<model.onnx> "${modelArg}": ONNX Runtime cannot load it (${(err as Error).message}); re-export it`,
    );
  }
  try {
    const encoder = { inputs: { features: inputs.features, tensors: inputs.tensors } };
    // Reference rows as requests would carry them; rows the inference path would refuse are not run.
    let runRows: { row: number; instance: Instance }[] = [];
    let observed: Readonly<Record<string, OutputValue>> | undefined;
    if (reference) {
      const validate = compileInstanceValidator(encoder, { maxErrors: 1 });
      let refused = 0;
      reference.rows.forEach((cells, i) => {
        const instance: Record<string, FeatureValue> = {};
        try {
          for (const f of inputs.features)
            instance[f.name] = referenceValue(f, ownValue(cells, f.name) ?? '', i + 1);
        } catch (err) {
          if (err instanceof ReferenceDataError)
            throw new UsageError(`--reference ${options.reference}: ${err.message}`);
          throw err;
        }
        if (validate([instance]).length === 0) runRows.push({ row: i, instance });
        else refused++;
      });
      if (refused > 0)
        warnings.push(
          `${refused} reference row(s) are not valid requests (e.g. a missing value) and were not run`,
        );
      if (runRows.length === 0) {
        throw new UsageError(
          `--reference ${options.reference}: no row is a valid request (every row has a missing or bad value)`,
        );
      }
      try {
        observed = await batchedPredict(model, encoder)(runRows.map((r) => r.instance));
      } catch (err) {
        const why =
          err instanceof FeatureEncodingError
            ? err.issues.map((i) => `${i.feature}: ${i.message}`).join('; ')
            : (err as Error).message;
        throw new CliError(
          `<model.onnx> failed on the --reference rows (${why}); check that the header matches the graph's columns; nothing was written`,
          1,
        );
      }
    } else {
      runRows = [];
    }

    const outputPlan = planOutputs(summary, labels, observed);
    notes.push(...outputPlan.notes);
    warnings.push(...outputPlan.warnings);
    todo.push(...inputs.todo, ...outputPlan.todo);
    const outputs = outputPlan.outputs;

    // Smoke samples and the prediction baseline, from the same run.
    const smokeSamples: Manifest['smokeSamples'] = [];
    let baseline: Manifest['baseline'];
    if (reference && observed) {
      const complete = runRows
        .map((r, k) => ({ ...r, k }))
        .filter((r) => Object.values(r.instance).every((v) => v !== null));
      const pool = complete.length > 0 ? complete : runRows.map((r, k) => ({ ...r, k }));
      const classOutput =
        outputs.find((o) => o.kind === 'class') ?? outputs.find((o) => o.kind === 'probability');
      const regression = outputs.find((o) => o.kind === 'regression');
      const classOf = classOutput
        ? pool.map((p) => classIndexOf(classOutput, observed![classOutput.name]!, p.k))
        : undefined;
      const valueOf =
        !classOutput && regression
          ? pool.map((p) => Number(outputRow(observed![regression.name]!, p.k)[0]))
          : undefined;
      for (const i of chooseSmokeRows(pool.length, classOf, valueOf)) {
        const { instance, k } = pool[i]!;
        const expected: Record<string, number | string | number[]> = {};
        for (const o of outputs) expected[o.name] = smokeExpected(o, observed[o.name]!, k);
        smokeSamples.push({
          inputs: { ...instance } as Manifest['smokeSamples'][number]['inputs'],
          expected,
          tolerance: 1e-4,
        });
      }
      const format = createPredictionFormatter(outputs);
      const predictions: Prediction[] = format(observed, runRows.length);
      const { predictions: bins, skipped } = computePredictionBaseline(outputs, predictions);
      for (const s of skipped)
        warnings.push(`prediction baseline: output "${s.output}" left out (${s.reason})`);
      try {
        baseline = { ...computeBaseline(inputs.features, reference.rows), predictions: bins };
      } catch (err) {
        if (err instanceof ReferenceDataError)
          throw new UsageError(`--reference ${options.reference}: ${err.message}`);
        throw err;
      }
      notes.push(
        `${smokeSamples.length} smoke samples and the baseline from ${path.basename(referencePath!)} ` +
          `(${reference.rows.length} rows; predictions of ${runRows.length} rows)`,
      );
    } else {
      todo.push(
        'smokeSamples: none (no --reference); add a few rows with the outputs the model gave, or rerun with --reference',
      );
    }

    const json = {
      manifestVersion: 1,
      name,
      version,
      framework: 'onnx',
      owner: `${TODO} the team or person accountable for this model`,
      description: `${TODO} what the model predicts, from what`,
      artifact: { file, sha256: sha256OfBytes(bytes), sizeBytes: bytes.byteLength },
      inputs: { features: inputs.features, tensors: inputs.tensors },
      outputs,
      metrics: {},
      gates: { minimums: {}, maximums: {}, maxRegression: {} },
      ...(baseline ? { baseline } : {}),
      smokeSamples,
      lineage: {
        trainingData: `${TODO} where the training data is (e.g. s3://bucket/path, a data set version)`,
        codeCommit: `${TODO} the git commit of the training code`,
        trainer: `${TODO} the library and estimator (e.g. scikit-learn 1.2.1 GradientBoostingClassifier)`,
      },
      modelCard: {
        intendedUse: `${TODO} who may use the predictions, for what decisions`,
        limitations: `${TODO} where the model must not be trusted (data it never saw, known biases)`,
      },
      // The safe default: nobody's traffic reaches this version until a person approves it.
      approval: { required: true, riskTier: 'medium' },
    };
    todo.unshift(
      'owner, description: replace the "TODO:" text',
      'metrics (empty): add the offline evaluation (e.g. {"auc": 0.98}), then gates (minimums / maximums / maxRegression)',
      'lineage (trainingData, codeCommit, trainer) and modelCard (intendedUse, limitations): replace the "TODO:" text',
      'approval: required true and riskTier medium by default; set them for this model',
      'inputs.features: mark personal data "pii": true, add "range" and "description" where they help',
    );
    const parsed = parseManifest(json);
    if (!parsed.ok) {
      throw new CliError(
        `init built a manifest that does not validate (a bug in init; nothing was written):\n${parsed.issues
          .map((i) => `  - ${i.path}: ${i.message}`)
          .join('\n')}`,
        1,
      );
    }
    for (const issue of signatureIssues(parsed.manifest, model)) warnings.push(`signature: ${issue}`);
    for (const issue of await smokeSampleIssues(parsed.manifest, model)) warnings.push(`smoke: ${issue}`);

    // Everything is known to be good: write.
    await mkdir(dir, { recursive: true });
    const written: string[] = [];
    if (copyModel) {
      await copyFile(modelPath, artifactPath);
      written.push(file);
    }
    if (referencePath !== undefined) {
      const target = path.join(dir, 'reference.csv');
      if (target !== referencePath) {
        await copyFile(referencePath, target);
        written.push('reference.csv');
      }
    }
    // Written whole then renamed, so a crash never leaves half a manifest.
    const partial = `${manifestPath}.partial`;
    await writeFile(partial, `${JSON.stringify(json, null, 2)}\n`);
    await rename(partial, manifestPath);
    written.push(MANIFEST_FILE);

    io.out(`Wrote ${path.join(dir, MANIFEST_FILE)} for ${name} ${version} (${summary.opsets})`);
    for (const n of notes) io.out(`  ${n}`);
    for (const w of warnings) io.err(`warning: ${w}`);
    io.out(`Fill in before pushing (${todo.length}):`);
    for (const t of todo) io.out(`  - ${t}`);
    io.out('Then:');
    if (!(await configuredModels()).includes(name)) {
      io.out(
        `  - list the model in modelops.config.ts models[] (e.g. { name: '${name}', target: 'lambda', owner: '…', ` +
          "riskTier: 'medium' }), then deploy, or restart `npm start` in local mode",
      );
    }
    io.out(`  - npx modelops validate ${path.relative(process.cwd(), dir) || '.'} --no-ledger`);
    io.out(`  - npx modelops push ${path.relative(process.cwd(), dir) || '.'}`);
    return { dir, manifestPath, manifest: parsed.manifest, written, todo, notes, warnings };
  } finally {
    await model.release();
  }
}
