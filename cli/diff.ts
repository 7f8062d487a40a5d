/**
 * `modelops diff <model> <v1> <v2>`: the two registered manifests side by side. Each is read from the registry
 * through its version record's `manifestKey` (the immutable copy RegisterVersion wrote), never from incoming/.
 * `diffManifests` is pure; the baseline shift per feature is the drift monitor's own Jensen–Shannon distance
 * (lambdas/core/drift.ts `jsDistance`) between the two baselines' bins.
 */
import { S3RegistryStore } from '../lambdas/adapters/s3-registry-store';
import { DEFAULT_DRIFT_THRESHOLDS, jsDistance } from '../lambdas/core/drift';
import {
  modelNameSchema,
  parseManifestText,
  versionSchema,
  type FeatureBins,
  type Manifest,
} from '../lambdas/core/manifest';
import type { RegistryStore, VersionReader, VersionRecord } from '../lambdas/core/ports';
import { MAX_REGISTERED_MANIFEST_BYTES } from '../lambdas/core/runtime-manifest';
import { CliError, UsageError, type CliIo } from './errors';
import { createLedgerStores } from './metadata';
import { s3Client, type Target } from './target';

/** One field that differs; `null` stands for "absent" on that side. */
export interface FieldChange {
  readonly path: string;
  readonly from: unknown;
  readonly to: unknown;
}

/** Named items (features, tensors, outputs) added, removed, or changed field by field. */
export interface NamedDiff {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly { readonly name: string; readonly changes: readonly FieldChange[] }[];
}

export interface LabelDiff {
  readonly output: string;
  readonly from: readonly string[] | null;
  readonly to: readonly string[] | null;
  readonly added: readonly string[];
  readonly removed: readonly string[];
  /** Same labels in another order: the class indexes changed meaning. */
  readonly reordered: boolean;
}

export interface MetricRow {
  readonly metric: string;
  readonly from: number | null;
  readonly to: number | null;
  /** `to − from`; null when either side lacks the metric. */
  readonly delta: number | null;
}

/**
 * How far a feature's (or prediction output's) reference distribution moved from v1's baseline to v2's.
 * `same-bins`: both baselines have the same edges or categories, the distance is exact. `rebinned`: the bins
 * differ; both are projected onto the union of their edges (a count spread evenly over its bin's width) or
 * categories (a category outside one side's top-K counts 0 there, its rows sit in that side's `__OTHER__`).
 */
export type BaselineShift =
  | {
      readonly name: string;
      readonly status: 'compared';
      readonly kind: FeatureBins['kind'];
      readonly jsDistance: number;
      readonly method: 'same-bins' | 'rebinned';
      /** `jsDistance` reaches the drift monitor's default JS threshold (DEFAULT_DRIFT_THRESHOLDS.jsDistance). */
      readonly overDriftThreshold: boolean;
    }
  | {
      readonly name: string;
      readonly status: 'only-in-from' | 'only-in-to' | 'kind-changed' | 'empty';
      readonly detail: string;
    };

export interface ManifestDiff {
  readonly fields: readonly FieldChange[];
  readonly features: NamedDiff;
  readonly tensors: NamedDiff;
  readonly outputs: NamedDiff;
  readonly labels: readonly LabelDiff[];
  readonly gates: readonly FieldChange[];
  readonly metrics: readonly MetricRow[];
  readonly lineage: readonly (FieldChange & { readonly changed: boolean })[];
  readonly baseline: {
    /** Why no shift was computed (a side has no baseline); absent when compared. */
    readonly missing?: string;
    readonly features: readonly BaselineShift[];
    readonly predictions: readonly BaselineShift[];
  };
}

export interface VersionDiff extends ManifestDiff {
  readonly model: string;
  readonly target: string;
  readonly from: DiffSide;
  readonly to: DiffSide;
}

export interface DiffSide {
  readonly version: string;
  readonly manifestKey: string;
  readonly sha256: string | null;
  readonly createdAt: string;
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
const orNull = (v: unknown): unknown => (v === undefined ? null : v);

/** Leaf differences between two plain JSON values, by dotted path (arrays compared whole). */
function leafChanges(prefix: string, a: unknown, b: unknown, out: FieldChange[]): void {
  const isObj = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObj(a) && isObj(b)) {
    for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
      leafChanges(prefix ? `${prefix}.${k}` : k, a[k], b[k], out);
    }
    return;
  }
  if (!same(a, b)) out.push({ path: prefix, from: orNull(a), to: orNull(b) });
}

function namedDiff<T extends { readonly name: string }>(a: readonly T[], b: readonly T[]): NamedDiff {
  const byName = (xs: readonly T[]) => new Map(xs.map((x) => [x.name, x]));
  const ma = byName(a);
  const mb = byName(b);
  const changed: { name: string; changes: FieldChange[] }[] = [];
  for (const [name, x] of ma) {
    const y = mb.get(name);
    if (y === undefined) continue;
    const changes: FieldChange[] = [];
    leafChanges('', x, y, changes);
    if (changes.length > 0) changed.push({ name, changes });
  }
  return {
    added: [...mb.keys()].filter((n) => !ma.has(n)),
    removed: [...ma.keys()].filter((n) => !mb.has(n)),
    changed,
  };
}

function labelDiffs(a: Manifest['outputs'], b: Manifest['outputs']): LabelDiff[] {
  const out: LabelDiff[] = [];
  const mb = new Map(b.map((o) => [o.name, o]));
  for (const oa of a) {
    const ob = mb.get(oa.name);
    if (ob === undefined) continue;
    const la = oa.labels ?? [];
    const lb = ob.labels ?? [];
    if (same(la, lb)) continue;
    const added = lb.filter((l) => !la.includes(l));
    const removed = la.filter((l) => !lb.includes(l));
    out.push({
      output: oa.name,
      from: oa.labels ?? null,
      to: ob.labels ?? null,
      added,
      removed,
      reordered: added.length === 0 && removed.length === 0,
    });
  }
  return out;
}

/** Weight each side's counts share over a finer partition, scaled to whole numbers (jsDistance counts integers). */
const COUNT_SCALE = 1e9;

function scaled(values: readonly number[]): number[] | undefined {
  const total = values.reduce((s, v) => s + v, 0);
  if (!(total > 0)) return undefined;
  return values.map((v) => Math.round((v * COUNT_SCALE) / total));
}

/**
 * A numeric side's counts over `union` edges: under and over stay under and over; an inner bin's count is spread
 * over the union intervals it covers, in proportion to their width (reference bins are quantiles: no finer
 * knowledge of where the rows sat is kept).
 */
function projectNumeric(bins: Extract<FeatureBins, { kind: 'numeric' }>, union: readonly number[]): number[] {
  const out = new Array<number>(union.length + 1).fill(0);
  out[0] = bins.counts[0]!;
  out[union.length] = bins.counts[bins.edges.length]!;
  for (let i = 0; i < bins.edges.length - 1; i++) {
    const lo = bins.edges[i]!;
    const hi = bins.edges[i + 1]!;
    const count = bins.counts[i + 1]!;
    for (let j = 0; j < union.length - 1; j++) {
      const ulo = union[j]!;
      const uhi = union[j + 1]!;
      if (ulo >= lo && uhi <= hi) out[j + 1]! += (count * (uhi - ulo)) / (hi - lo);
    }
  }
  return out;
}

function shiftOf(name: string, a: FeatureBins, b: FeatureBins): BaselineShift {
  if (a.kind !== b.kind) {
    return { name, status: 'kind-changed', detail: `bins are ${a.kind} in one and ${b.kind} in the other` };
  }
  let p: number[];
  let q: number[];
  let method: 'same-bins' | 'rebinned';
  if (a.kind === 'numeric' && b.kind === 'numeric') {
    if (same(a.edges, b.edges)) {
      method = 'same-bins';
      p = [...a.counts];
      q = [...b.counts];
    } else {
      method = 'rebinned';
      const union = [...new Set([...a.edges, ...b.edges])].sort((x, y) => x - y);
      p = projectNumeric(a, union);
      q = projectNumeric(b, union);
    }
  } else if (a.kind === 'categorical' && b.kind === 'categorical') {
    if (same(a.categories, b.categories)) {
      method = 'same-bins';
      p = [...a.counts];
      q = [...b.counts];
    } else {
      method = 'rebinned';
      const union = [...new Set([...a.categories, ...b.categories])];
      const side = (bins: typeof a) => [
        ...union.map((c) => {
          const i = bins.categories.indexOf(c);
          return i < 0 ? 0 : bins.counts[i]!;
        }),
        bins.counts[bins.categories.length]!, // __OTHER__
      ];
      p = side(a);
      q = side(b);
    }
  } else {
    throw new Error('unreachable: kinds checked above');
  }
  // The missing bin votes, as in the drift monitor.
  const sp = scaled([...p, a.missing]);
  const sq = scaled([...q, b.missing]);
  if (sp === undefined || sq === undefined) {
    return { name, status: 'empty', detail: `${sp === undefined ? 'v1' : 'v2'} baseline has no counts` };
  }
  const js = jsDistance(sp, sq);
  return {
    name,
    status: 'compared',
    kind: a.kind,
    jsDistance: js,
    method,
    overDriftThreshold: js >= DEFAULT_DRIFT_THRESHOLDS.jsDistance!,
  };
}

function shifts(
  a: Readonly<Record<string, FeatureBins>>,
  b: Readonly<Record<string, FeatureBins>>,
): BaselineShift[] {
  const names = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  return names.map((name): BaselineShift => {
    const x = a[name];
    const y = b[name];
    if (x === undefined) return { name, status: 'only-in-to', detail: 'only the second baseline has it' };
    if (y === undefined) return { name, status: 'only-in-from', detail: 'only the first baseline has it' };
    return shiftOf(name, x, y);
  });
}

const LINEAGE_FIELDS = [
  'trainingData',
  'codeCommit',
  'trainer',
  'trainedAt',
  'parentVersion',
  'retrain',
] as const;

/** Everything that differs between two manifests (v1 → v2). Pure. */
export function diffManifests(a: Manifest, b: Manifest): ManifestDiff {
  const fields: FieldChange[] = [];
  // Sections with their own rows below are left out here; `version` always differs and is in the header.
  const rest = (m: Manifest) => {
    const {
      inputs: _inputs,
      outputs: _outputs,
      metrics: _metrics,
      gates: _gates,
      lineage: _lineage,
      baseline: _baseline,
      smokeSamples,
      version: _version,
      ...others
    } = m;
    return { ...others, smokeSamples: smokeSamples.length };
  };
  leafChanges('', rest(a), rest(b), fields);
  const gates: FieldChange[] = [];
  leafChanges('', a.gates, b.gates, gates);
  const metricNames = [...new Set([...Object.keys(a.metrics), ...Object.keys(b.metrics)])];
  const metrics = metricNames.map((metric): MetricRow => {
    const from = a.metrics[metric] ?? null;
    const to = b.metrics[metric] ?? null;
    return { metric, from, to, delta: from === null || to === null ? null : to - from };
  });
  const lineage = LINEAGE_FIELDS.map((f) => {
    const from = orNull(a.lineage[f]);
    const to = orNull(b.lineage[f]);
    return { path: f, from, to, changed: !same(from, to) };
  });
  const missing =
    a.baseline === undefined || b.baseline === undefined
      ? `${a.baseline === undefined ? a.version : b.version} has no baseline in its manifest`
      : undefined;
  return {
    fields,
    features: namedDiff(a.inputs.features, b.inputs.features),
    tensors: namedDiff(a.inputs.tensors, b.inputs.tensors),
    outputs: namedDiff(a.outputs, b.outputs),
    labels: labelDiffs(a.outputs, b.outputs),
    gates,
    metrics,
    lineage,
    baseline:
      missing !== undefined || a.baseline === undefined || b.baseline === undefined
        ? { missing: missing ?? 'no baseline', features: [], predictions: [] }
        : {
            features: shifts(a.baseline.features, b.baseline.features),
            predictions: shifts(a.baseline.predictions ?? {}, b.baseline.predictions ?? {}),
          },
  };
}

async function registeredManifest(
  stores: { readonly versions: VersionReader; readonly registry: Pick<RegistryStore, 'readText'> },
  model: string,
  version: string,
  target: Target,
): Promise<{ record: VersionRecord; manifest: Manifest; manifestKey: string }> {
  let record: VersionRecord | undefined;
  try {
    record = await stores.versions.getVersion(model, version);
  } catch (err) {
    throw new CliError(
      `reading the ledger at ${target.description} failed: ${(err as Error).message}` +
        (target.dynamodbEndpoint ? ' (is `npm start` running?)' : ''),
    );
  }
  if (record === undefined) {
    throw new CliError(
      `${model} ${version} has no record at ${target.description}; run \`modelops status ${model}\` to list its versions`,
    );
  }
  if (record.status !== 'REGISTERED' || record.manifestKey === undefined) {
    throw new CliError(
      `${model} ${version} is ${record.status}, not REGISTERED: it has no registered manifest to compare; see ` +
        `\`modelops status ${model} ${version}\``,
    );
  }
  const key = record.manifestKey;
  let text: string | undefined;
  try {
    text = await stores.registry.readText(key, MAX_REGISTERED_MANIFEST_BYTES);
  } catch (err) {
    throw new CliError(`reading ${key} from the registry failed: ${(err as Error).message}`);
  }
  if (text === undefined)
    throw new CliError(`${model} ${version}: manifest ${key} is missing from the registry`);
  const parsed = parseManifestText(text);
  if (!parsed.ok) {
    throw new CliError(
      `${model} ${version}: manifest ${key} is invalid: ${parsed.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    );
  }
  return { record, manifest: parsed.manifest, manifestKey: key };
}

/** Reads both registered manifests and diffs them; throws `UsageError` for bad arguments, `CliError` otherwise. */
export async function diffVersions(
  model: string,
  from: string,
  to: string,
  target: Target,
  stores?: { readonly versions: VersionReader; readonly registry: Pick<RegistryStore, 'readText'> },
): Promise<VersionDiff> {
  if (!modelNameSchema.safeParse(model).success) {
    throw new UsageError(
      `<model> "${model}" is not a model name (a-z, 0-9, "-"); run \`modelops status\` to list them`,
    );
  }
  for (const [arg, v] of [
    ['<v1>', from],
    ['<v2>', to],
  ] as const) {
    if (!versionSchema.safeParse(v).success) {
      throw new UsageError(
        `${arg} "${v}" is not a version (1-64 characters of A-Z, a-z, 0-9, ".", "_", "-"); run ` +
          `\`modelops status ${model}\` to list them`,
      );
    }
  }
  if (from === to) {
    throw new UsageError(`<v1> and <v2> are both "${from}"; give two different versions of ${model}`);
  }
  const deps = stores ?? {
    versions: createLedgerStores(target).versions,
    registry: new S3RegistryStore(target.bucket, s3Client(target)),
  };
  const a = await registeredManifest(deps, model, from, target);
  const b = await registeredManifest(deps, model, to, target);
  const side = (s: typeof a): DiffSide => ({
    version: s.record.version,
    manifestKey: s.manifestKey,
    sha256: s.record.sha256 ?? null,
    createdAt: s.record.createdAt,
  });
  return {
    model,
    target: target.description,
    from: side(a),
    to: side(b),
    ...diffManifests(a.manifest, b.manifest),
  };
}

const show = (v: unknown): string =>
  v === null || v === undefined ? '(none)' : typeof v === 'string' ? v : JSON.stringify(v);

/** Four significant digits, for metrics and distances. */
const num = (v: number | null): string => (v === null ? '-' : String(Number(v.toPrecision(4))));

function table(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) =>
    r
      .map((cell, c) => cell.padEnd(widths[c]!))
      .join('  ')
      .trimEnd(),
  );
}

function namedLines(title: string, d: NamedDiff): string[] {
  if (d.added.length === 0 && d.removed.length === 0 && d.changed.length === 0)
    return [`${title}: unchanged`];
  const lines = [`${title}:`];
  for (const n of d.added) lines.push(`  + ${n}`);
  for (const n of d.removed) lines.push(`  - ${n}`);
  for (const c of d.changed) {
    lines.push(
      `  ~ ${c.name}: ${c.changes.map((x) => `${x.path} ${show(x.from)} -> ${show(x.to)}`).join('; ')}`,
    );
  }
  return lines;
}

/** The human form of a diff, one section per kind of change. */
export function diffLines(d: VersionDiff): string[] {
  const v1 = d.from.version;
  const v2 = d.to.version;
  const lines = [
    `Target: ${d.target}`,
    `${d.model} ${v1} -> ${v2} (manifests ${d.from.manifestKey} and ${d.to.manifestKey})`,
    '',
  ];
  if (d.fields.length === 0) lines.push('Fields: unchanged');
  else {
    lines.push('Fields:');
    for (const f of d.fields) lines.push(`  ${f.path}: ${show(f.from)} -> ${show(f.to)}`);
  }
  lines.push(...namedLines('Features', d.features), ...namedLines('Tensors', d.tensors));
  lines.push(...namedLines('Outputs', d.outputs));
  if (d.labels.length === 0) lines.push('Labels: unchanged');
  else {
    lines.push('Labels:');
    for (const l of d.labels) {
      const what = l.reordered
        ? 'same labels in another order (class indexes changed meaning)'
        : [
            l.added.length > 0 ? `added ${l.added.join(', ')}` : '',
            l.removed.length > 0 ? `removed ${l.removed.join(', ')}` : '',
          ]
            .filter(Boolean)
            .join('; ');
      lines.push(`  ${l.output}: ${show(l.from)} -> ${show(l.to)} (${what})`);
    }
  }
  if (d.gates.length === 0) lines.push('Gates: unchanged');
  else {
    lines.push('Gates:');
    for (const g of d.gates) lines.push(`  ${g.path}: ${show(g.from)} -> ${show(g.to)}`);
  }
  lines.push('', 'Metrics:');
  if (d.metrics.length === 0) lines.push('  (neither manifest states metrics)');
  else {
    const rows = d.metrics.map((m) => [
      m.metric,
      num(m.from),
      num(m.to),
      m.delta === null ? '-' : `${m.delta > 0 ? '+' : ''}${num(m.delta)}`,
    ]);
    lines.push(...table([['METRIC', v1, v2, 'DELTA'], ...rows]).map((l) => `  ${l}`));
  }
  lines.push('', 'Lineage:');
  // Unchanged fields once: the long texts (training data, trainer) would double the table's width for nothing.
  const lineageRows = d.lineage
    .filter((l) => l.from !== null || l.to !== null)
    .map((l) => [l.path, show(l.from), l.changed ? show(l.to) : '(same)']);
  lines.push(...table([['FIELD', v1, v2], ...lineageRows]).map((l) => `  ${l}`));
  lines.push('');
  if (d.baseline.missing !== undefined) {
    lines.push(`Baseline shift: not computed (${d.baseline.missing})`);
    return lines;
  }
  lines.push(
    `Baseline shift (Jensen-Shannon distance, base 2, between the two baselines' bins; the drift monitor's default ` +
      `threshold is ${DEFAULT_DRIFT_THRESHOLDS.jsDistance}):`,
  );
  const shiftRows = (xs: readonly BaselineShift[]) =>
    xs.map((s) =>
      s.status === 'compared'
        ? [
            s.name,
            s.jsDistance.toFixed(3),
            s.method === 'same-bins' ? 'same bins' : 'rebinned (bins differ)',
            s.overDriftThreshold ? 'over threshold' : '',
          ]
        : [s.name, '-', s.detail, ''],
    );
  lines.push(
    ...table([['FEATURE', 'JS DISTANCE', 'BINS', ''], ...shiftRows(d.baseline.features)]).map(
      (l) => `  ${l}`,
    ),
  );
  if (d.baseline.predictions.length > 0) {
    lines.push(
      ...table([['PREDICTION', 'JS DISTANCE', 'BINS', ''], ...shiftRows(d.baseline.predictions)]).map(
        (l) => `  ${l}`,
      ),
    );
  }
  return lines;
}

/** Prints the diff (or its JSON document) on stdout. */
export function printDiff(d: VersionDiff, io: CliIo, json: boolean): void {
  if (json) io.out(JSON.stringify(d, null, 2));
  else for (const l of diffLines(d)) io.out(l);
}
