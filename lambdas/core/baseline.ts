/**
 * The baseline profile: how a model's reference data is distributed, per feature, in the bins that drift
 * monitoring later counts live traffic into (DESIGN.md decision 5, docs/manifest.md `baseline`).
 *
 * `computeBaseline` builds the profile from reference rows (cells as text, as read from `reference.csv`);
 * `binIndex` assigns one live value to a bin of that profile. Both use one assignment rule, so reference counts and
 * live counts are comparable bin by bin.
 *
 * examples/make_examples.py holds a Python twin of `computeBaseline` for training code. The two must produce
 * bit-identical profiles (test/unit/baseline.test.ts cross-checks the committed examples), which is why parsing is
 * deliberately narrow: only spaces and tabs are trimmed, numbers must match one plain decimal syntax, and the
 * missing / boolean tokens are matched case-insensitively in ASCII only.
 */
import type { FeatureValue } from './features';
import type { Baseline, Feature, FeatureBins } from './manifest';
import { ownValue } from './own';
import { compileTensorChecker, compileTensorStats, tensorStatKey } from './tensor-values';

export const DEFAULT_BASELINE_BINS = 10;
export const DEFAULT_BASELINE_TOP_K = 20;
/** Category list of every boolean feature's bins, in this order; counts are `[false, true, other]`. */
export const BOOLEAN_CATEGORIES: readonly ['false', 'true'] = ['false', 'true'];

export interface BaselineOptions {
  /**
   * Quantile bins per numeric feature (before duplicate edges collapse).
   * @default 10
   */
  readonly bins?: number;
  /**
   * Categories kept per categorical feature; the rest count as `__OTHER__`.
   * @default 20
   */
  readonly topK?: number;
}

/** The reference data cannot be profiled: a missing column, a malformed cell, no rows. */
export class ReferenceDataError extends Error {
  override name = 'ReferenceDataError';
  constructor(
    message: string,
    /** The offending column, when there is one. */
    readonly column?: string,
    /** 1-based data row (the header is not a row), when there is one. */
    readonly row?: number,
  ) {
    super(message);
  }
}

const MISSING_TOKEN = /^(?:|na|nan|null|none)$/i;
const NUMBER_SYNTAX = /^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
const TRUE_TOKEN = /^(?:true|1)$/i;
const FALSE_TOKEN = /^(?:false|0)$/i;
const EDGE_BLANKS = /^[ \t]+|[ \t]+$/g;

/** Spaces and tabs only: `trim()` and Python's `strip()` disagree on other Unicode whitespace. */
function clean(cell: string): string {
  return cell.replace(EDGE_BLANKS, '');
}

/** True for an empty cell and for `NA`, `NaN`, `null`, `None` in any case. */
export function isMissingCell(cell: string): boolean {
  return MISSING_TOKEN.test(clean(cell));
}

/** Parses a plain decimal number; undefined when the text is not one or is not finite. */
function parseNumber(text: string): number | undefined {
  const t = clean(text);
  if (!NUMBER_SYNTAX.test(t)) return undefined;
  const x = Number(t);
  // `+ 0` folds -0 into +0: one zero in both languages and in JSON.
  return Number.isFinite(x) ? x + 0 : undefined;
}

function parseBoolean(text: string): boolean | undefined {
  const t = clean(text);
  if (FALSE_TOKEN.test(t)) return false;
  if (TRUE_TOKEN.test(t)) return true;
  return undefined;
}

/**
 * Bin of a numeric value: 0 below e0, `edges.length` above the last edge, otherwise the inner bin j with
 * e(j-1) <= x < ej, the last inner bin closed on the right. Binary search: this runs per live value.
 */
function numericBin(edges: readonly number[], x: number): number {
  const last = edges.length - 1;
  if (x < edges[0]!) return 0;
  if (x > edges[last]!) return edges.length;
  // Number of edges <= x (upper bound), then close the last inner bin.
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (edges[mid]! <= x) lo = mid + 1;
    else hi = mid;
  }
  return Math.min(lo, Math.max(last, 0));
}

/** Code-point order, as Python sorts strings; JavaScript's default compares UTF-16 code units. */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    // A surrogate starts a code point above U+FFFF, which sorts after every BMP character.
    if (xs !== ys) return xs ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

/** A baseline option (`bins`, `topK`): a whole number from 1 to 1000, else `fallback` when undefined. */
export function positiveInteger(value: number | undefined, fallback: number, option: string): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1 || value > 1_000) {
    throw new RangeError(`baseline option ${option} must be a whole number from 1 to 1000, got ${value}`);
  }
  return value;
}

interface Cell {
  readonly row: number;
  readonly text: string;
}

function numericProfile(name: string, cells: readonly Cell[], bins: number): FeatureBins {
  const values = new Float64Array(cells.length);
  cells.forEach((c, i) => {
    const x = parseNumber(c.text);
    if (x === undefined) {
      throw new ReferenceDataError(
        `column "${name}", row ${c.row}: "${c.text}" is not a finite number; fix the cell, or leave it empty to mark it missing`,
        name,
        c.row,
      );
    }
    values[i] = x;
  });
  return numericBins(values, bins);
}

/**
 * Edges at the quantiles i/bins (i = 0 … bins) of finite `values`, from the minimum to the maximum, duplicates
 * dropped; `[0, 1]` for no values, `[x, x + max(|x|, 1)·1e-6]` for one distinct value x. The rule of every numeric
 * profile: features here, prediction outputs in ./prediction-baseline.
 */
export function quantileEdges(values: Float64Array, bins: number = DEFAULT_BASELINE_BINS): number[] {
  const sorted = values.slice().sort();
  const n = sorted.length;
  if (n === 0) return [0, 1];
  let edges: number[] = [];
  for (let i = 0; i <= bins; i++) {
    const e = sorted[Math.floor((i * (n - 1)) / bins)]!;
    if (edges.length === 0 || e !== edges[edges.length - 1]) edges.push(e);
  }
  if (edges.length === 1) {
    // One distinct value still needs one inner bin of positive width to count it in.
    const x = edges[0]!;
    edges = [x, x + Math.max(Math.abs(x), 1) * 1e-6];
  }
  return edges;
}

/** Numeric bins of finite `values`: `quantileEdges`, then every value counted by the rule of `binIndex`. */
export function numericBins(values: Float64Array, bins: number = DEFAULT_BASELINE_BINS): FeatureBins {
  const edges = quantileEdges(values, bins);
  const counts = new Array<number>(edges.length + 1).fill(0);
  for (const x of values) counts[numericBin(edges, x)]!++;
  return { kind: 'numeric', edges, counts, missing: 0 };
}

function booleanProfile(name: string, cells: readonly Cell[]): FeatureBins {
  const counts = [0, 0, 0];
  for (const c of cells) {
    const b = parseBoolean(c.text);
    if (b === undefined) {
      throw new ReferenceDataError(
        `column "${name}", row ${c.row}: "${c.text}" is not a boolean; use true/false or 1/0, or leave it empty to mark it missing`,
        name,
        c.row,
      );
    }
    counts[b ? 1 : 0]!++;
  }
  return { kind: 'categorical', categories: [...BOOLEAN_CATEGORIES], counts, missing: 0 };
}

function categoricalProfile(
  feature: Extract<Feature, { type: 'categorical' }>,
  cells: readonly Cell[],
  topK: number,
): FeatureBins {
  const tally = new Map<string, number>();
  for (const c of cells) {
    const value = clean(c.text);
    tally.set(value, (tally.get(value) ?? 0) + 1);
  }
  if (tally.size === 0) {
    // Nothing to rank: keep the declared categories so live values still have bins of their own.
    const categories = [...feature.categories].sort(compareCodePoints).slice(0, topK);
    return {
      kind: 'categorical',
      categories,
      counts: new Array<number>(categories.length + 1).fill(0),
      missing: 0,
    };
  }
  const ranked = [...tally].sort((a, b) => b[1] - a[1] || compareCodePoints(a[0], b[0]));
  const top = ranked.slice(0, topK);
  let other = 0;
  for (let i = topK; i < ranked.length; i++) other += ranked[i]![1];
  return {
    kind: 'categorical',
    categories: top.map(([value]) => value),
    counts: [...top.map(([, count]) => count), other],
    missing: 0,
  };
}

/**
 * Profiles reference rows into the manifest's `baseline`. Columns not declared as features (e.g. the label) are
 * ignored. Throws `ReferenceDataError` naming the column and row of the first problem.
 *
 * @example
 * const { rows } = parseReferenceCsv(text, manifest.inputs.features.map((f) => f.name));
 * manifest.baseline = computeBaseline(manifest.inputs.features, rows);
 */
export function computeBaseline(
  features: readonly Feature[],
  rows: readonly Readonly<Record<string, string>>[],
  options: BaselineOptions = {},
): Baseline {
  const bins = positiveInteger(options.bins, DEFAULT_BASELINE_BINS, 'bins');
  const topK = positiveInteger(options.topK, DEFAULT_BASELINE_TOP_K, 'topK');
  if (rows.length === 0) {
    throw new ReferenceDataError('the reference data has no rows; profile at least one row of training data');
  }
  const tensor = features.find((f) => f.type === 'tensor');
  if (tensor !== undefined) {
    throw new ReferenceDataError(
      `tensor feature "${tensor.name}" cannot be profiled from CSV cells; pass reference data as JSON lines ` +
        '(reference.jsonl: one instance per line, as in a request)',
      tensor.name,
    );
  }
  const absent = features.filter((f) => !Object.hasOwn(rows[0]!, f.name)).map((f) => `"${f.name}"`);
  if (absent.length > 0) {
    throw new ReferenceDataError(
      `the reference data has no column ${absent.join(', ')}; add a column per declared feature (header = feature name)`,
      absent.length === 1 ? absent[0]!.slice(1, -1) : undefined,
    );
  }

  const profiles: Record<string, FeatureBins> = {};
  for (const feature of features) {
    const name = feature.name;
    const cells: Cell[] = [];
    let missing = 0;
    rows.forEach((r, i) => {
      const text = ownValue(r, name);
      if (text === undefined) {
        throw new ReferenceDataError(
          `row ${i + 1} has no column "${name}"; every row needs every feature`,
          name,
          i + 1,
        );
      }
      if (isMissingCell(text)) missing++;
      else cells.push({ row: i + 1, text });
    });
    const profile =
      feature.type === 'numeric'
        ? numericProfile(name, cells, bins)
        : feature.type === 'boolean'
          ? booleanProfile(name, cells)
          : categoricalProfile(feature as Extract<Feature, { type: 'categorical' }>, cells, topK);
    profiles[name] = { ...profile, missing };
  }
  return { referenceCount: rows.length, features: profiles };
}

/**
 * A reference cell as the value an inference request would carry for `feature`: a number, a boolean, the category
 * text (trimmed of spaces and tabs), or null for a missing cell — parsed by the same rules as the profile, so the
 * rows the CLI runs through the model are the rows it profiled. Throws `ReferenceDataError` for a malformed cell.
 */
export function referenceValue(feature: Feature, text: string, row: number): FeatureValue {
  if (isMissingCell(text)) return null;
  const fail = (what: string): never => {
    throw new ReferenceDataError(
      `column "${feature.name}", row ${row}: "${text}" is not ${what}`,
      feature.name,
      row,
    );
  };
  switch (feature.type) {
    case 'numeric':
      return parseNumber(text) ?? fail('a finite number');
    case 'boolean':
      return parseBoolean(text) ?? fail('a boolean');
    case 'categorical':
      return clean(text);
    case 'tensor':
      return fail('a tensor value (profile tensor features from JSON lines)');
  }
}

/**
 * Reads JSON-lines reference data (`reference.jsonl`): one instance per non-blank line, an object of feature values
 * in the forms a request takes (a tensor as a nested array or `{ "b64": … }`). Keys that are not features (a label)
 * are kept and ignored by the profile. Throws `ReferenceDataError` naming the line.
 */
export function parseReferenceJsonl(text: string): Record<string, unknown>[] {
  const instances: Record<string, unknown>[] = [];
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new ReferenceDataError(
        `line ${i + 1} is not valid JSON; write one JSON object of feature values per line`,
        undefined,
        i + 1,
      );
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new ReferenceDataError(
        `line ${i + 1} is not a JSON object; write one object of feature values per line`,
        undefined,
        i + 1,
      );
    }
    instances.push(value as Record<string, unknown>);
  });
  return instances;
}

/** A JSON value of a non-tensor feature as the text cell the CSV rules profile (null and absent → missing). */
function cellOf(feature: Feature, value: unknown, row: number): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'string') return value;
  throw new ReferenceDataError(
    `line ${row}, feature "${feature.name}": a ${feature.type} value must be a number, string, boolean or null`,
    feature.name,
    row,
  );
}

/**
 * The baseline of reference instances (as `parseReferenceJsonl` reads them). A tensor feature is profiled by two
 * per-instance statistics as numeric bins — `<feature>.norm` (L2 norm) and `<feature>.mean` — computed by the rule
 * live counting uses (./tensor-values.ts `compileTensorStats`); every other feature by the CSV rules of
 * `computeBaseline`, its JSON value read as the cell text. Throws `ReferenceDataError` naming the line of the first
 * malformed value.
 */
export function computeInstanceBaseline(
  features: readonly Feature[],
  instances: readonly Readonly<Record<string, unknown>>[],
  options: BaselineOptions = {},
): Baseline {
  const bins = positiveInteger(options.bins, DEFAULT_BASELINE_BINS, 'bins');
  positiveInteger(options.topK, DEFAULT_BASELINE_TOP_K, 'topK');
  if (instances.length === 0) {
    throw new ReferenceDataError(
      'the reference data has no lines; profile at least one instance of training data',
    );
  }
  const columns = features.filter((f) => f.type !== 'tensor');
  const profiles: Record<string, FeatureBins> = {};
  if (columns.length > 0) {
    const rows = instances.map((instance, i) => {
      const row: Record<string, string> = {};
      for (const f of columns) row[f.name] = cellOf(f, ownValue(instance, f.name), i + 1);
      return row;
    });
    Object.assign(profiles, computeBaseline(columns, rows, options).features);
  }
  const out = new Float64Array(2);
  for (const feature of features) {
    if (feature.type !== 'tensor') continue;
    const check = compileTensorChecker(feature);
    const stats = compileTensorStats(feature);
    const norms: number[] = [];
    const means: number[] = [];
    let missing = 0;
    instances.forEach((instance, i) => {
      const value = ownValue(instance, feature.name);
      if (value === null || value === undefined) {
        missing++;
        return;
      }
      let problem: string | undefined;
      check(
        value,
        (suffix, message) => {
          problem ??= `${feature.name}${suffix} ${message}`;
        },
        describeReferenceValue,
      );
      if (problem !== undefined || !stats(value, out)) {
        throw new ReferenceDataError(
          `line ${i + 1}: ${problem ?? `${feature.name} is not a readable tensor`}; fix the line, or write null to mark it missing`,
          feature.name,
          i + 1,
        );
      }
      norms.push(out[0]!);
      means.push(out[1]!);
    });
    profiles[tensorStatKey(feature.name, 'norm')] = {
      ...numericBins(Float64Array.from(norms), bins),
      missing,
    };
    profiles[tensorStatKey(feature.name, 'mean')] = {
      ...numericBins(Float64Array.from(means), bins),
      missing,
    };
  }
  return { referenceCount: instances.length, features: profiles };
}

const describeReferenceValue = (v: unknown): string =>
  typeof v === 'string' ? JSON.stringify(v.slice(0, 64)) : typeof v === 'object' ? 'an object' : String(v);

const categoryIndexes = new WeakMap<FeatureBins, ReadonlyMap<string, number>>();

function isBooleanBins(bins: Extract<FeatureBins, { kind: 'categorical' }>): boolean {
  const c = bins.categories;
  return c.length === 2 && c[0] === BOOLEAN_CATEGORIES[0] && c[1] === BOOLEAN_CATEGORIES[1];
}

/**
 * The bin a live value falls into, by the rule `computeBaseline` counted the reference with: an index into
 * `bins.counts`, or `'missing'`.
 *
 * Numeric bins: numbers (±Infinity go to under/overflow) and numeric strings; `null`, `undefined`, NaN, the missing
 * tokens and any text that is not a number count as missing. Categorical bins: strings as they are (trimmed of
 * spaces and tabs), numbers and booleans as their text; unknown values go to `__OTHER__` (the last count). Boolean
 * bins (`["false", "true"]`) also accept `1`/`0` and any case of true/false.
 *
 * @example
 * const i = binIndex(manifest.baseline.features.age, 41); // e.g. 5
 */
export function binIndex(bins: FeatureBins, value: unknown): number | 'missing' {
  if (value === null || value === undefined) return 'missing';
  if (bins.kind === 'numeric') {
    let x: number | undefined;
    if (typeof value === 'number') x = value;
    else if (typeof value === 'string') x = isMissingCell(value) ? undefined : parseNumber(value);
    else if (typeof value === 'boolean') x = value ? 1 : 0;
    if (x === undefined || Number.isNaN(x)) return 'missing';
    return numericBin(bins.edges, x);
  }

  let text: string;
  if (typeof value === 'string') {
    if (isMissingCell(value)) return 'missing';
    text = clean(value);
  } else if (typeof value === 'boolean') {
    text = value ? 'true' : 'false';
  } else if (typeof value === 'number') {
    if (Number.isNaN(value)) return 'missing';
    text = String(value);
  } else {
    return 'missing';
  }
  if (isBooleanBins(bins)) {
    const b = parseBoolean(text);
    return b === undefined ? bins.categories.length : b ? 1 : 0;
  }
  let index = categoryIndexes.get(bins);
  if (!index) {
    index = new Map(bins.categories.map((c, i) => [c, i]));
    categoryIndexes.set(bins, index);
  }
  return index.get(text) ?? bins.categories.length;
}
