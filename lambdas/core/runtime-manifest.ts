/**
 * The part of a registered manifest the inference runtime uses, read without zod.
 *
 * Why not `parseManifestText`: the zod schema (≈ 445 KiB of bundled zod, built when lambdas/core/manifest.ts loads)
 * was the largest single item of the inference function's cold start, and the runtime only ever reads
 * `models/<name>/<version>/manifest.json`, an immutable copy that the release pipeline validated in full with that
 * schema (ValidateArtifact) and then checked again by hash (RegisterVersion) before copying it. So the runtime
 * parses just the fields it serves from, checking their types and the cross-references it depends on, and applies
 * the schema's defaults (`required: true`, `pii: false`). Anything wrong with them (a hand-edited object) is
 * reported as issues and the version is not served; it cannot crash a request. The release pipeline's validation is
 * unchanged. Only type imports from manifest.ts are allowed here (a value import would bring zod back).
 */
import { FRAMEWORKS, OUTPUT_KINDS, TENSOR_ELEMENT_TYPES } from './names';
import { PREDICTION_BINS_KIND } from './prediction-baseline';
import {
  TENSOR_FEATURE_ELEMENT_TYPES,
  TENSOR_STATS,
  tensorShapeIssues,
  tensorStatKey,
} from './tensor-values';
import type {
  Baseline,
  Feature,
  FeatureBins,
  InputTensor,
  Manifest,
  ManifestIssue,
  Output,
  OutputKind,
  TensorElementType,
} from './manifest';

/**
 * What the runtime reads from a manifest (a full `Manifest` fits). `baseline` keeps the bins drift counting needs
 * (numeric edges, categories, counts, missing bin), so an after-response hook can call `binIndex(bins, value)`
 * (lambdas/core/baseline.ts) without reading the manifest again.
 */
export type RuntimeManifest = Pick<
  Manifest,
  'name' | 'version' | 'framework' | 'artifact' | 'inputs' | 'outputs' | 'baseline'
>;

export type RuntimeManifestResult =
  | { readonly ok: true; readonly manifest: RuntimeManifest }
  | { readonly ok: false; readonly issues: readonly ManifestIssue[] };

const TENSOR_ELEMENT_TYPES_SET: ReadonlySet<string> = new Set(TENSOR_ELEMENT_TYPES);
const OUTPUT_KINDS_SET: ReadonlySet<string> = new Set(OUTPUT_KINDS);
const FRAMEWORKS_SET: ReadonlySet<string> = new Set(FRAMEWORKS);
const TENSOR_FEATURE_ELEMENT_TYPES_SET: ReadonlySet<string> = new Set(TENSOR_FEATURE_ELEMENT_TYPES);
const SHA256 = /^[0-9a-f]{64}$/;

/** Same bound as `MAX_MANIFEST_BYTES` in manifest.ts (a unit test keeps them equal). */
export const MAX_REGISTERED_MANIFEST_BYTES = 1024 * 1024;

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isText = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every(isText);

/**
 * Parses a registered manifest's text into what the runtime needs. Never throws.
 *
 * @example parseRuntimeManifest(await registry.readText(registeredManifestKey(m, v), MAX_MANIFEST_BYTES))
 */
export function parseRuntimeManifest(text: string): RuntimeManifestResult {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, issues: [{ path: '(manifest)', message: 'is not valid JSON' }] };
  }
  const issues: ManifestIssue[] = [];
  const add = (path: string, message: string): void => void issues.push({ path, message });
  if (!isObject(json)) {
    add('(manifest)', 'must be an object');
    return { ok: false, issues };
  }

  if (!isText(json.name)) add('name', 'must be a model name');
  if (!isText(json.version)) add('version', 'must be a version');
  if (typeof json.framework !== 'string' || !FRAMEWORKS_SET.has(json.framework)) {
    add('framework', 'must be "onnx" or "sagemaker"');
  }
  const artifact = isObject(json.artifact) ? json.artifact : {};
  if (typeof artifact.sha256 !== 'string' || !SHA256.test(artifact.sha256)) {
    add('artifact.sha256', 'must be 64 lower-case hex characters');
  }

  const inputs = isObject(json.inputs) ? json.inputs : {};
  const features: Feature[] = [];
  if (!Array.isArray(inputs.features) || inputs.features.length === 0) {
    add('inputs.features', 'must be a non-empty array');
  } else {
    inputs.features.forEach((raw: unknown, i) => {
      const feature = readFeature(raw, `inputs.features[${i}]`, add);
      if (feature !== undefined) features.push(feature);
    });
  }
  const declared = new Set(features.map((f) => f.name));
  const tensors: InputTensor[] = [];
  if (!Array.isArray(inputs.tensors) || inputs.tensors.length === 0) {
    add('inputs.tensors', 'must be a non-empty array');
  } else {
    inputs.tensors.forEach((raw: unknown, i) => {
      const path = `inputs.tensors[${i}]`;
      if (
        !isObject(raw) ||
        !isText(raw.name) ||
        typeof raw.elementType !== 'string' ||
        !TENSOR_ELEMENT_TYPES_SET.has(raw.elementType) ||
        !isStringArray(raw.features)
      ) {
        return add(path, 'must have a name, an elementType and a list of feature names');
      }
      const unknown = raw.features.filter((f) => !declared.has(f));
      if (unknown.length > 0) add(`${path}.features`, `names undeclared features: ${unknown.join(', ')}`);
      // The manifest schema's rule: a tensor feature is its graph input's only feature, of the same element type.
      for (const name of raw.features) {
        const feature = features.find((f) => f.name === name);
        if (feature?.type !== 'tensor') continue;
        if (raw.features.length !== 1) add(`${path}.features`, `tensor feature "${name}" must feed it alone`);
        if (raw.elementType !== feature.elementType) {
          add(
            `${path}.elementType`,
            `must be ${feature.elementType}, the element type of tensor feature "${name}"`,
          );
        }
      }
      tensors.push({
        name: raw.name,
        elementType: raw.elementType as TensorElementType,
        features: raw.features,
      });
    });
  }

  const outputs: Output[] = [];
  if (!Array.isArray(json.outputs) || json.outputs.length === 0) {
    add('outputs', 'must be a non-empty array');
  } else {
    json.outputs.forEach((raw: unknown, i) => {
      const path = `outputs[${i}]`;
      if (
        !isObject(raw) ||
        !isText(raw.name) ||
        typeof raw.kind !== 'string' ||
        !OUTPUT_KINDS_SET.has(raw.kind) ||
        typeof raw.elementType !== 'string' ||
        !TENSOR_ELEMENT_TYPES_SET.has(raw.elementType)
      ) {
        return add(path, 'must have a name, a kind and an elementType');
      }
      if (raw.labels !== undefined && !isStringArray(raw.labels)) {
        return add(`${path}.labels`, 'must be a list of labels');
      }
      if (raw.kind !== 'regression' && raw.labels === undefined) {
        return add(`${path}.labels`, `a ${raw.kind} output needs its labels`);
      }
      outputs.push({
        name: raw.name,
        kind: raw.kind as OutputKind,
        elementType: raw.elementType as TensorElementType,
        ...(raw.labels === undefined ? {} : { labels: raw.labels }),
      });
    });
  }

  const baseline =
    json.baseline === undefined ? undefined : readBaseline(json.baseline, features, outputs, add);

  if (issues.length > 0) return { ok: false, issues };
  return {
    ok: true,
    manifest: {
      name: json.name as string,
      version: json.version as string,
      framework: json.framework as Manifest['framework'],
      artifact: {
        file: typeof artifact.file === 'string' ? artifact.file : '',
        sha256: artifact.sha256 as string,
        sizeBytes: typeof artifact.sizeBytes === 'number' ? artifact.sizeBytes : 0,
      },
      inputs: { features, tensors },
      outputs,
      ...(baseline === undefined ? {} : { baseline }),
    },
  };
}

// The schema's bounds (manifest.ts, baselineSchema).
const MAX_BINS = 1_000;
const MAX_CATEGORY_LENGTH = 256;
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/**
 * The baseline profile, checked as the schema checks it: bins per declared feature, of the kind its type implies
 * (numeric → `numeric`, categorical and boolean → `categorical`), numeric edges finite and strictly increasing,
 * one count per bin (edges + 1, or categories + 1 for `__OTHER__`) and a missing count, all whole and >= 0.
 */
function readBaseline(
  raw: unknown,
  features: readonly Feature[],
  outputs: readonly Output[],
  add: (path: string, message: string) => void,
): Baseline | undefined {
  if (!isObject(raw) || !isObject(raw.features)) {
    add('baseline', 'must be { referenceCount, features }');
    return undefined;
  }
  if (!isCount(raw.referenceCount) || raw.referenceCount < 1) {
    add('baseline.referenceCount', 'must be a whole number >= 1');
  }
  const types = new Map<string, Feature['type']>(features.map((f) => [f.name, f.type]));
  // A tensor feature is profiled by numeric statistics (`image.norm`, `image.mean`), never under its own name.
  for (const f of features) {
    if (f.type !== 'tensor') continue;
    types.delete(f.name);
    for (const stat of TENSOR_STATS) types.set(tensorStatKey(f.name, stat), 'numeric');
  }
  const out: Record<string, FeatureBins> = {};
  for (const [name, bins] of Object.entries(raw.features)) {
    const path = `baseline.features.${name}`;
    const type = types.get(name);
    if (type === undefined) {
      add(path, `names undeclared feature "${name}"`);
      continue;
    }
    const read = readBins(bins, path, add);
    if (read === undefined) continue;
    const expected = type === 'numeric' ? 'numeric' : 'categorical';
    if (read.kind !== expected) {
      add(`${path}.kind`, `must be "${expected}" for a ${type} feature`);
      continue;
    }
    out[name] = read;
  }
  const referenceCount = raw.referenceCount as number;
  if (raw.predictions === undefined) return { referenceCount, features: out };
  const predictions = readPredictionBins(raw.predictions, outputs, add);
  return predictions === undefined
    ? { referenceCount, features: out }
    : { referenceCount, features: out, predictions };
}

/**
 * `baseline.predictions`, checked as the schema checks it: bins per declared output, of the kind its output kind
 * implies (class → `categorical` with exactly the output's labels, probability and regression → `numeric`).
 */
function readPredictionBins(
  raw: unknown,
  outputs: readonly Output[],
  add: (path: string, message: string) => void,
): Record<string, FeatureBins> | undefined {
  if (!isObject(raw)) {
    add('baseline.predictions', 'must be an object of bins per output name');
    return undefined;
  }
  const byName = new Map(outputs.map((o) => [o.name, o]));
  const out: Record<string, FeatureBins> = {};
  for (const [name, bins] of Object.entries(raw)) {
    const path = `baseline.predictions.${name}`;
    const output = byName.get(name);
    if (output === undefined) {
      add(path, `names undeclared output "${name}"`);
      continue;
    }
    const read = readBins(bins, path, add);
    if (read === undefined) continue;
    const expected = PREDICTION_BINS_KIND[output.kind];
    if (read.kind !== expected) {
      add(`${path}.kind`, `must be "${expected}" for a ${output.kind} output`);
      continue;
    }
    if (read.kind === 'categorical') {
      const labels = output.labels ?? [];
      if (read.categories.length !== labels.length || read.categories.some((c, i) => c !== labels[i])) {
        add(`${path}.categories`, `must equal the labels of output "${name}", in order`);
        continue;
      }
    }
    out[name] = read;
  }
  return out;
}

function readBins(
  raw: unknown,
  path: string,
  add: (path: string, message: string) => void,
): FeatureBins | undefined {
  if (!isObject(raw)) {
    add(path, 'must be an object with kind, counts and missing');
    return undefined;
  }
  const before = { ok: true };
  const fail = (where: string, message: string): void => {
    before.ok = false;
    add(where, message);
  };
  if (!isCount(raw.missing)) fail(`${path}.missing`, 'must be a whole number >= 0');
  const counts =
    Array.isArray(raw.counts) && raw.counts.every(isCount) ? (raw.counts as number[]) : undefined;
  if (counts === undefined) fail(`${path}.counts`, 'must be a list of whole numbers >= 0');
  let bins: FeatureBins | undefined;
  if (raw.kind === 'numeric') {
    const edges = raw.edges;
    if (
      !Array.isArray(edges) ||
      edges.length < 1 ||
      edges.length > MAX_BINS ||
      !edges.every((e, i) => typeof e === 'number' && Number.isFinite(e) && (i === 0 || e > edges[i - 1]))
    ) {
      fail(`${path}.edges`, `must be 1 to ${MAX_BINS} finite numbers, strictly increasing`);
    } else if (counts !== undefined) {
      bins = { kind: 'numeric', edges: edges as number[], counts, missing: raw.missing as number };
    }
  } else if (raw.kind === 'categorical') {
    const categories = raw.categories;
    if (
      !isStringArray(categories) ||
      categories.length > MAX_BINS ||
      categories.some((c) => c.length > MAX_CATEGORY_LENGTH)
    ) {
      fail(
        `${path}.categories`,
        `must be 1 to ${MAX_BINS} non-empty strings of up to ${MAX_CATEGORY_LENGTH}`,
      );
    } else if (categories.length === 0) {
      fail(`${path}.categories`, 'must not be empty');
    } else if (counts !== undefined) {
      bins = { kind: 'categorical', categories, counts, missing: raw.missing as number };
    }
  } else {
    fail(`${path}.kind`, 'must be "numeric" or "categorical"');
  }
  if (bins === undefined || !before.ok) return undefined;
  const expected = bins.kind === 'numeric' ? bins.edges.length + 1 : bins.categories.length + 1;
  if (bins.counts.length !== expected) {
    add(
      `${path}.counts`,
      `must have ${expected} entries (${bins.kind === 'numeric' ? 'edges + 1' : 'categories + 1 for __OTHER__'}), got ${bins.counts.length}`,
    );
    return undefined;
  }
  return bins;
}

function readFeature(
  raw: unknown,
  path: string,
  add: (path: string, message: string) => void,
): Feature | undefined {
  if (!isObject(raw) || !isText(raw.name)) {
    add(path, 'must be an object with a name');
    return undefined;
  }
  if (raw.required !== undefined && typeof raw.required !== 'boolean') {
    add(`${path}.required`, 'must be true or false');
  }
  if (raw.pii !== undefined && typeof raw.pii !== 'boolean') add(`${path}.pii`, 'must be true or false');
  // The schema's defaults: a feature is required and not pii unless it says so.
  const base = {
    name: raw.name,
    required: raw.required !== false,
    pii: raw.pii === true,
    ...(typeof raw.description === 'string' ? { description: raw.description } : {}),
  };
  switch (raw.type) {
    case 'numeric': {
      if (raw.range === undefined) return { ...base, type: 'numeric' };
      const range = isObject(raw.range) ? raw.range : undefined;
      const bound = (v: unknown) => v === undefined || (typeof v === 'number' && Number.isFinite(v));
      if (range === undefined || !bound(range.min) || !bound(range.max)) {
        add(`${path}.range`, 'must be { min?, max? } of finite numbers');
        return undefined;
      }
      return {
        ...base,
        type: 'numeric',
        range: {
          ...(range.min === undefined ? {} : { min: range.min as number }),
          ...(range.max === undefined ? {} : { max: range.max as number }),
        },
      };
    }
    case 'categorical':
      if (!isStringArray(raw.categories) || raw.categories.length === 0) {
        add(`${path}.categories`, 'must be a non-empty list of strings');
        return undefined;
      }
      return { ...base, type: 'categorical', categories: raw.categories };
    case 'boolean':
      return { ...base, type: 'boolean' };
    case 'tensor': {
      if (typeof raw.elementType !== 'string' || !TENSOR_FEATURE_ELEMENT_TYPES_SET.has(raw.elementType)) {
        add(`${path}.elementType`, 'must be "float32", "float64", "int32" or "int64"');
        return undefined;
      }
      const shapeIssues = Array.isArray(raw.shape)
        ? tensorShapeIssues(raw.shape)
        : ['must be a list of dimensions'];
      if (shapeIssues.length > 0) {
        for (const message of shapeIssues) add(`${path}.shape`, message);
        return undefined;
      }
      return {
        ...base,
        type: 'tensor',
        elementType: raw.elementType as Extract<Feature, { type: 'tensor' }>['elementType'],
        shape: [...(raw.shape as number[])],
      };
    }
    default:
      add(`${path}.type`, 'must be "numeric", "categorical", "boolean" or "tensor"');
      return undefined;
  }
}
