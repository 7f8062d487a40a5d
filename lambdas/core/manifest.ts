/**
 * Manifest contract v1: what a model bundle declares about itself. Reference: docs/manifest.md.
 *
 * The schema checks each field on its own; `manifestConsistencyIssues` checks the fields against each other
 * (every feature fed to exactly one tensor, baseline bins matching the features, …). `parseManifest` runs both and
 * returns every problem at once, each naming the field path and the fix.
 */
import { z } from 'zod';
import {
  FRAMEWORKS,
  MODEL_NAME_PATTERN,
  OUTPUT_KINDS,
  TENSOR_ELEMENT_TYPES,
  VERSION_PATTERN,
  type OutputKind,
  type TensorElementType,
} from './names';
import { safeParseExplained } from './manifest-issues';
import { PROTOTYPE_KEY } from './own';
import { PREDICTION_BINS_KIND } from './prediction-baseline';
import {
  compileTensorChecker,
  TENSOR_FEATURE_ELEMENT_TYPES,
  TENSOR_STATS,
  tensorShapeIssues,
  tensorStatKey,
} from './tensor-values';

// Defined in ./names (zod-free, for the inference path); re-exported so this stays the manifest contract's home.
export { MODEL_NAME_PATTERN, VERSION_PATTERN };
/** Artifact file names inside a bundle: a plain file name, no directories. */
export const ARTIFACT_FILE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const SHA256_PATTERN = /^[0-9a-f]{64}$/;
/** Feature and tensor names: identifiers as most training code writes them. */
export const IDENTIFIER_PATTERN = /^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$/;

export const modelNameSchema = z.string().regex(MODEL_NAME_PATTERN, {
  error: 'must be 1-64 characters of a-z, 0-9 and "-", starting and ending with a letter or digit',
});

export const versionSchema = z
  .string()
  .regex(VERSION_PATTERN, {
    error: 'must be 1-64 characters of A-Z, a-z, 0-9, ".", "_" and "-", starting with a letter or digit',
  })
  .refine((v) => !v.includes('..'), { error: 'must not contain ".." (path traversal)' });

const RESERVED_NAME_MESSAGE = `"${PROTOTYPE_KEY}" is reserved (JavaScript objects cannot hold it as data); choose another name`;
const identifier = z
  .string()
  .regex(IDENTIFIER_PATTERN, {
    error: 'must be an identifier: a letter or "_" then up to 127 letters, digits, "_", ".", ":" or "-"',
  })
  .refine((name) => name !== PROTOTYPE_KEY, { error: RESERVED_NAME_MESSAGE });
const finite = z.number().refine(Number.isFinite, { error: 'must be a finite number' });
const nonEmptyText = (max: number) => z.string().trim().min(1, { error: 'must not be empty' }).max(max);

export const FEATURE_TYPES = ['numeric', 'categorical', 'boolean', 'tensor'] as const;
export type FeatureType = (typeof FEATURE_TYPES)[number];

const featureBase = {
  name: identifier,
  required: z.boolean().default(true),
  /** Personally identifiable: never logged, dropped from captured payloads. */
  pii: z.boolean().default(false),
  description: z.string().max(1024).optional(),
};

const numericFeatureSchema = z.strictObject({
  ...featureBase,
  type: z.literal('numeric'),
  range: z
    .strictObject({ min: finite.optional(), max: finite.optional() })
    .refine((r) => r.min === undefined || r.max === undefined || r.min <= r.max, {
      error: 'range.min must be less than or equal to range.max',
    })
    .optional(),
});

const categoricalFeatureSchema = z.strictObject({
  ...featureBase,
  type: z.literal('categorical'),
  categories: z
    .array(z.string().min(1).max(256))
    .min(1, { error: 'list at least one allowed category' })
    .max(10_000)
    .refine((c) => new Set(c).size === c.length, { error: 'categories must be unique' }),
});

const booleanFeatureSchema = z.strictObject({
  ...featureBase,
  type: z.literal('boolean'),
});

/**
 * A whole tensor per instance (an image, a sequence, an embedding): a nested array of exactly `shape` or
 * `{ "b64": … }` in a request (./tensor-values.ts). It feeds one graph input alone, as `[batch, ...shape]`.
 */
const tensorFeatureSchema = z.strictObject({
  ...featureBase,
  type: z.literal('tensor'),
  elementType: z.enum(TENSOR_FEATURE_ELEMENT_TYPES, {
    error: 'must be "float32", "float64", "int32" or "int64" (the element type of the graph input it feeds)',
  }),
  /** Per-instance dimensions, without the batch dimension. */
  shape: z.array(z.number()).superRefine((shape, ctx) => {
    for (const message of tensorShapeIssues(shape)) ctx.addIssue({ code: 'custom', message });
  }),
});

export const featureSchema = z.discriminatedUnion('type', [
  numericFeatureSchema,
  categoricalFeatureSchema,
  booleanFeatureSchema,
  tensorFeatureSchema,
]);
export type Feature = z.infer<typeof featureSchema>;

// The literal lists live in the zod-free names.ts so the inference path can use them without loading zod.
export { FRAMEWORKS, OUTPUT_KINDS, TENSOR_ELEMENT_TYPES, type OutputKind, type TensorElementType };

/**
 * A graph input fed by an ordered list of features, as a `[batch, features.length]` tensor.
 * One tensor with all numeric features is the usual layout for tree ensembles; one tensor per feature is the
 * usual layout for pipelines that one-hot encode inside the graph.
 */
export const inputTensorSchema = z.strictObject({
  name: identifier,
  elementType: z.enum(TENSOR_ELEMENT_TYPES),
  features: z.array(identifier).min(1, { error: 'list the features that feed this tensor, in column order' }),
});
export type InputTensor = z.infer<typeof inputTensorSchema>;

/**
 * A graph output. `probability`: `[batch, labels.length]` float scores, one per label in order. `class`: `[batch]`
 * predicted class (an index into `labels` for int64, the label itself for string). `regression`: `[batch]` or
 * `[batch, 1]` values.
 */
export const outputSchema = z.strictObject({
  name: identifier,
  kind: z.enum(OUTPUT_KINDS),
  elementType: z.enum(TENSOR_ELEMENT_TYPES),
  // Labels become the keys of a probability output's `{label: p}` object, so they obey the same reserved name.
  labels: z
    .array(
      z
        .string()
        .min(1)
        .max(256)
        .refine((l) => l !== PROTOTYPE_KEY, { error: RESERVED_NAME_MESSAGE }),
    )
    .min(2)
    .max(10_000)
    .optional(),
});
export type Output = z.infer<typeof outputSchema>;

const metricRecord = z.record(identifier, finite);

export const gatesSchema = z.strictObject({
  /** Offline metrics that must be at least this value (higher is better). */
  minimums: metricRecord.default({}),
  /** Offline metrics that must be at most this value (lower is better, e.g. rmse). */
  maximums: metricRecord.default({}),
  /**
   * Largest allowed regression against the current LIVE version (the champion), per metric, in the metric's own
   * units; "worse" means lower for metrics in `minimums` or not gated, higher for metrics in `maximums`.
   */
  maxRegression: z
    .record(
      identifier,
      finite.refine((v) => v >= 0, { error: 'must be >= 0' }),
    )
    .default({}),
});
export type Gates = z.infer<typeof gatesSchema>;

const countSchema = z.number().int({ error: 'must be a whole number' }).min(0, { error: 'must be >= 0' });

/** Numeric feature: `edges` e0 < … < ek define bins under (< e0), [e0,e1) … [e(k-1),ek], over (> ek). */
const numericBinsSchema = z.strictObject({
  kind: z.literal('numeric'),
  edges: z
    .array(finite)
    .min(1)
    .max(1_000)
    .refine((e) => e.every((v, i) => i === 0 || v > e[i - 1]!), {
      error: 'edges must be strictly increasing',
    }),
  /** `edges.length + 1` counts: underflow, the `edges.length - 1` inner bins, overflow. */
  counts: z.array(countSchema),
  missing: countSchema,
});

/** Categorical (and boolean) feature: top-K categories plus `__OTHER__`. */
const categoricalBinsSchema = z.strictObject({
  kind: z.literal('categorical'),
  categories: z.array(z.string().min(1).max(256)).min(1).max(1_000),
  /** `categories.length + 1` counts; the last is `__OTHER__`. */
  counts: z.array(countSchema),
  missing: countSchema,
});

export const featureBinsSchema = z
  .discriminatedUnion('kind', [numericBinsSchema, categoricalBinsSchema])
  .superRefine((bins, ctx) => {
    const expected = bins.kind === 'numeric' ? bins.edges.length + 1 : bins.categories.length + 1;
    if (bins.counts.length !== expected) {
      ctx.addIssue({
        code: 'custom',
        path: ['counts'],
        message: `must have ${expected} entries (${bins.kind === 'numeric' ? 'edges + 1' : 'categories + 1 for __OTHER__'}), got ${bins.counts.length}`,
      });
    }
  });
export type FeatureBins = z.infer<typeof featureBinsSchema>;

export const baselineSchema = z.strictObject({
  /** Rows of the reference data set the counts were taken from. */
  referenceCount: countSchema.min(1, { error: 'must be at least 1 row' }),
  features: z.record(identifier, featureBinsSchema),
  /**
   * Prediction baseline: per output name, the bins of the model's outputs on the reference rows
   * (./prediction-baseline.ts): `class` → categorical over the output's labels (class shares), `probability` →
   * numeric deciles of the predicted class's probability, `regression` → numeric deciles of the value.
   */
  predictions: z.record(identifier, featureBinsSchema).optional(),
});
export type Baseline = z.infer<typeof baselineSchema>;

export const OTHER_CATEGORY = '__OTHER__';

// Arrays and `{ b64 }` objects are tensor values; manifestConsistencyIssues checks them against their feature.
const featureValue = z.union([
  finite,
  z.string().max(256),
  z.boolean(),
  z.null(),
  z.array(z.unknown()),
  z.strictObject({ b64: z.string() }),
]);

export const smokeSampleSchema = z.strictObject({
  inputs: z.record(identifier, featureValue),
  /** Expected value per output name: a number, a label, or an array of probabilities. */
  expected: z.record(identifier, z.union([finite, z.string(), z.array(finite).min(1)])),
  /** Absolute tolerance for numeric comparisons. */
  tolerance: finite.refine((t) => t >= 0, { error: 'must be >= 0' }).default(1e-4),
});
export type SmokeSample = z.infer<typeof smokeSampleSchema>;

export const lineageSchema = z.strictObject({
  trainingData: nonEmptyText(2048),
  codeCommit: nonEmptyText(128),
  parentVersion: versionSchema.optional(),
  trainer: nonEmptyText(256),
  trainedAt: z.iso.datetime({ error: 'must be an ISO 8601 date-time, e.g. 2026-01-31T12:00:00Z' }).optional(),
  /** Set by the retrain pipeline's Package step (docs/retrain.md): which run made this version, and why. */
  retrain: z
    .strictObject({
      runId: z
        .string()
        .regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,47}$/, { error: 'must be a retrain run id, e.g. r3' }),
      trigger: z.enum(['drift', 'schedule', 'accuracy', 'manual']),
      reason: nonEmptyText(1024),
      /** A short summary of the trigger's evidence (the full evidence stays in the AuditLog). */
      evidence: z.string().max(2048).optional(),
      dataWindow: z.strictObject({ fromMs: z.number().int().min(0), toMs: z.number().int().min(0) }),
      trainingJob: nonEmptyText(256),
    })
    .optional(),
});

export const modelCardSchema = z.strictObject({
  intendedUse: nonEmptyText(4096),
  limitations: nonEmptyText(4096),
  description: z.string().max(4096).optional(),
});

export const RISK_TIERS = ['low', 'medium', 'high'] as const;

export const approvalSchema = z.strictObject({
  /** A person must approve before any traffic reaches this version. */
  required: z.boolean(),
  riskTier: z.enum(RISK_TIERS).default('medium'),
});

const artifactSchema = z.strictObject({
  file: z.string().regex(ARTIFACT_FILE_PATTERN, {
    error: 'must be a plain file name (letters, digits, ".", "_", "-"; no directories), e.g. model.onnx',
  }),
  sha256: z
    .string()
    .regex(SHA256_PATTERN, { error: 'must be 64 lower-case hex characters (sha256 of the file)' }),
  sizeBytes: z.number().int().min(1, { error: 'must be a positive whole number of bytes' }),
});

const commonFields = {
  manifestVersion: z.literal(1, { error: 'must be 1 (the only manifest version this release understands)' }),
  name: modelNameSchema,
  version: versionSchema,
  owner: nonEmptyText(256),
  description: z.string().max(4096).optional(),
  artifact: artifactSchema,
  inputs: z.strictObject({
    features: z.array(featureSchema).min(1, { error: 'declare at least one input feature' }).max(2_000),
    tensors: z.array(inputTensorSchema).min(1, { error: 'declare at least one input tensor' }).max(2_000),
  }),
  outputs: z.array(outputSchema).min(1, { error: 'declare at least one output' }).max(16),
  metrics: metricRecord.default({}),
  gates: gatesSchema.default({ minimums: {}, maximums: {}, maxRegression: {} }),
  baseline: baselineSchema.optional(),
  smokeSamples: z.array(smokeSampleSchema).max(100).default([]),
  lineage: lineageSchema,
  modelCard: modelCardSchema,
  approval: approvalSchema,
};

/**
 * One object schema (not a discriminated union) so that a missing or misspelt `framework` does not hide every other
 * problem: all fields are checked whatever the framework says. `sagemaker` leaves room for SageMaker-hosted
 * containers (`model.tar.gz` + inference `image`), served by a later issue.
 */
export const manifestSchema = z
  .strictObject({
    ...commonFields,
    framework: z.enum(FRAMEWORKS, { error: 'must be "onnx" or "sagemaker"' }),
    image: z.string().min(1).max(512).optional(),
  })
  .superRefine((m, ctx) => {
    if (m.framework === 'sagemaker' && m.image === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['image'],
        message: 'is required for framework "sagemaker": the inference image URI',
      });
    }
    if (m.framework === 'onnx' && m.image !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['image'],
        message: 'applies only to framework "sagemaker"; remove it',
      });
    }
  });
export type Manifest = z.infer<typeof manifestSchema>;
export type ManifestInput = z.input<typeof manifestSchema>;

/** One problem with a manifest: the dotted field path and what to do about it. */
export interface ManifestIssue {
  readonly path: string;
  readonly message: string;
}

export type ManifestParseResult =
  | { readonly ok: true; readonly manifest: Manifest }
  | { readonly ok: false; readonly issues: readonly ManifestIssue[] };

/** Largest manifest accepted, in bytes; a manifest is metadata, not data. */
export const MAX_MANIFEST_BYTES = 1024 * 1024;

export function formatPath(path: readonly PropertyKey[], root = '(manifest)'): string {
  if (path.length === 0) return root;
  return path
    .map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${String(p)}`))
    .join('');
}

/** Zod's default for a missing field reads "expected string, received undefined"; say what to do instead. */
export function requiredFieldMessage(issue: { code?: string; input?: unknown }): string | undefined {
  return issue.code === 'invalid_type' && issue.input === undefined ? 'is required' : undefined;
}

/** Parses and validates manifest text. Never throws; returns every issue found. */
export function parseManifestText(text: string): ManifestParseResult {
  if (Buffer.byteLength(text, 'utf8') > MAX_MANIFEST_BYTES) {
    return {
      ok: false,
      issues: [
        { path: '(manifest)', message: `is larger than ${MAX_MANIFEST_BYTES} bytes; keep data out of it` },
      ],
    };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return {
      ok: false,
      issues: [
        { path: '(manifest)', message: `is not valid JSON (${(err as Error).message}); fix the syntax` },
      ],
    };
  }
  return parseManifest(json);
}

/** Validates a parsed manifest object. Never throws; returns every issue found. */
export function parseManifest(json: unknown): ManifestParseResult {
  // Every issue names the field, the bad value and the fix, with a did-you-mean for misspellings (./manifest-issues).
  const parsed = safeParseExplained(manifestSchema, json, '(manifest)');
  // A "__proto__" key would vanish from the parsed copy without an issue, so it is looked for in the input itself.
  const reserved = prototypeKeyPaths(json).map((path) => ({ path, message: RESERVED_NAME_MESSAGE }));
  if (!parsed.success || reserved.length > 0) {
    return { ok: false, issues: [...reserved, ...(parsed.success ? [] : parsed.issues)] };
  }
  const issues = manifestConsistencyIssues(parsed.data);
  return issues.length > 0 ? { ok: false, issues } : { ok: true, manifest: parsed.data };
}

/** Paths of every own `__proto__` key in a parsed JSON value (JSON.parse keeps such keys as data). */
function prototypeKeyPaths(value: unknown, path: (string | number)[] = [], out: string[] = []): string[] {
  if (Array.isArray(value)) value.forEach((v, i) => prototypeKeyPaths(v, [...path, i], out));
  else if (value !== null && typeof value === 'object') {
    for (const key of Object.keys(value)) {
      if (key === PROTOTYPE_KEY) out.push(formatPath([...path, key]));
      prototypeKeyPaths((value as Record<string, unknown>)[key], [...path, key], out);
    }
  }
  return out;
}

const NUMERIC_ELEMENT_TYPES: ReadonlySet<TensorElementType> = new Set([
  'float32',
  'float64',
  'int64',
  'int32',
]);

function elementTypeAccepts(elementType: TensorElementType, feature: Feature): boolean {
  switch (feature.type) {
    case 'numeric':
      return NUMERIC_ELEMENT_TYPES.has(elementType);
    case 'categorical':
      return elementType === 'string' || elementType === 'int64' || elementType === 'int32';
    case 'boolean':
      return elementType === 'bool' || NUMERIC_ELEMENT_TYPES.has(elementType);
    case 'tensor':
      return elementType === feature.elementType;
  }
}

/** Cross-field rules the per-field schema cannot express. */
export function manifestConsistencyIssues(m: Manifest): ManifestIssue[] {
  const issues: ManifestIssue[] = [];
  const add = (path: string, message: string) => issues.push({ path, message });

  const features = new Map<string, Feature>();
  m.inputs.features.forEach((f, i) => {
    if (features.has(f.name)) add(`inputs.features[${i}].name`, `duplicates feature "${f.name}"; rename one`);
    features.set(f.name, f);
  });

  const fedBy = new Map<string, string>();
  const tensorNames = new Set<string>();
  m.inputs.tensors.forEach((t, ti) => {
    if (tensorNames.has(t.name))
      add(`inputs.tensors[${ti}].name`, `duplicates tensor "${t.name}"; rename one`);
    tensorNames.add(t.name);
    t.features.forEach((name, fi) => {
      const path = `inputs.tensors[${ti}].features[${fi}]`;
      const feature = features.get(name);
      if (!feature) return add(path, `names unknown feature "${name}"; declare it in inputs.features`);
      if (fedBy.has(name)) return add(path, `feature "${name}" already feeds tensor "${fedBy.get(name)}"`);
      fedBy.set(name, t.name);
      if (feature.type === 'tensor' && t.elementType !== feature.elementType) {
        add(
          `inputs.tensors[${ti}].elementType`,
          `is ${t.elementType} but tensor feature "${name}" is ${feature.elementType}; make them equal`,
        );
      } else if (!elementTypeAccepts(t.elementType, feature)) {
        add(path, `${feature.type} feature "${name}" cannot feed a ${t.elementType} tensor`);
      }
      // A tensor feature is the whole graph input ([batch, ...shape]); it cannot share it with columns.
      if (feature.type === 'tensor' && t.features.length !== 1) {
        add(
          `inputs.tensors[${ti}].features`,
          `tensor feature "${name}" must feed tensor "${t.name}" alone; move the other features to their own tensor`,
        );
      }
    });
  });
  for (const name of features.keys()) {
    if (!fedBy.has(name)) add('inputs.tensors', `no tensor is fed by feature "${name}"; add it to one`);
  }

  const outputNames = new Set<string>();
  m.outputs.forEach((o, i) => {
    const path = `outputs[${i}]`;
    if (outputNames.has(o.name)) add(`${path}.name`, `duplicates output "${o.name}"; rename one`);
    outputNames.add(o.name);
    if (o.kind === 'probability' && o.elementType !== 'float32' && o.elementType !== 'float64') {
      add(`${path}.elementType`, 'a probability output must be float32 or float64');
    }
    if ((o.kind === 'probability' || o.kind === 'class') && !o.labels) {
      add(`${path}.labels`, `a ${o.kind} output needs its class labels, in the model's class order`);
    }
    if (o.kind === 'regression' && o.labels)
      add(`${path}.labels`, 'a regression output has no labels; remove them');
  });

  for (const metric of [...Object.keys(m.gates.minimums), ...Object.keys(m.gates.maximums)]) {
    if (!Object.hasOwn(m.metrics, metric))
      add(`gates`, `gates metric "${metric}" but metrics has no "${metric}"; report it`);
  }
  for (const metric of Object.keys(m.gates.maxRegression)) {
    if (!Object.hasOwn(m.metrics, metric))
      add(`gates.maxRegression.${metric}`, `metrics has no "${metric}"; report it`);
  }

  // A tensor feature's drift keys (`image.norm`, `image.mean`) must not be the names of other features.
  const statOf = new Map<string, string>();
  for (const f of features.values()) {
    if (f.type !== 'tensor') continue;
    for (const stat of TENSOR_STATS) statOf.set(tensorStatKey(f.name, stat), f.name);
  }
  m.inputs.features.forEach((f, i) => {
    const owner = statOf.get(f.name);
    if (owner !== undefined) {
      add(
        `inputs.features[${i}].name`,
        `"${f.name}" is the drift key of tensor feature "${owner}"; rename one`,
      );
    }
  });

  if (m.baseline) {
    for (const [name, bins] of Object.entries(m.baseline.features)) {
      const path = `baseline.features.${name}`;
      const feature = features.get(name);
      if (feature?.type === 'tensor') {
        add(
          path,
          `tensor feature "${name}" is profiled as "${name}.norm" and "${name}.mean"; recompute the baseline`,
        );
        continue;
      }
      if (!feature && statOf.has(name)) {
        if (bins.kind !== 'numeric')
          add(`${path}.kind`, `must be "numeric" (a statistic of tensor feature "${statOf.get(name)}")`);
        continue;
      }
      if (!feature) {
        add(path, `names unknown feature "${name}"; remove it or declare the feature`);
        continue;
      }
      const expectedKind = feature.type === 'numeric' ? 'numeric' : 'categorical';
      if (bins.kind !== expectedKind)
        add(`${path}.kind`, `must be "${expectedKind}" for a ${feature.type} feature`);
    }
    if (m.baseline.predictions) predictionBaselineIssues(m.baseline.predictions, m.outputs, add);
  }

  m.smokeSamples.forEach((s, i) => {
    for (const [name, value] of Object.entries(s.inputs)) {
      const feature = features.get(name);
      const path = `smokeSamples[${i}].inputs.${name}`;
      if (!feature) add(path, `is not a declared feature`);
      else if (feature.type === 'tensor') {
        if (value !== null) {
          compileTensorChecker(feature)(value, (suffix, message) => add(`${path}${suffix}`, message), String);
        }
      } else if (typeof value === 'object' && value !== null) {
        add(path, `is a tensor value but "${name}" is a ${feature.type} feature`);
      }
    }
    for (const name of Object.keys(s.expected)) {
      if (!outputNames.has(name)) add(`smokeSamples[${i}].expected.${name}`, `is not a declared output`);
    }
  });

  return issues;
}

/**
 * `baseline.predictions` against `outputs`: every key a declared output, bins of the kind its output kind implies,
 * a class output's categories exactly its labels (in order, so class shares line up with the label indexes), and a
 * probability output's edges within [0, 1].
 */
function predictionBaselineIssues(
  predictions: Readonly<Record<string, FeatureBins>>,
  outputs: readonly Output[],
  add: (path: string, message: string) => void,
): void {
  const byName = new Map(outputs.map((o, i) => [o.name, { output: o, index: i }]));
  const recompute = 'recompute it with `modelops push --reference`';
  for (const [name, bins] of Object.entries(predictions)) {
    const path = `baseline.predictions.${name}`;
    const declared = byName.get(name);
    if (!declared) {
      add(path, `names unknown output "${name}"; remove it or declare the output in outputs`);
      continue;
    }
    const { output, index } = declared;
    const expected = PREDICTION_BINS_KIND[output.kind];
    if (bins.kind !== expected) {
      add(`${path}.kind`, `must be "${expected}" for a ${output.kind} output (outputs[${index}])`);
      continue;
    }
    if (bins.kind === 'categorical') {
      const labels = output.labels ?? [];
      const same =
        bins.categories.length === labels.length && bins.categories.every((c, i) => c === labels[i]);
      if (!same) {
        add(
          `${path}.categories`,
          `must equal outputs[${index}].labels in order (${JSON.stringify(labels)}), got ` +
            `${JSON.stringify(bins.categories)}; ${recompute}`,
        );
      }
    } else if (output.kind === 'probability' && bins.edges.some((e) => e < 0 || e > 1)) {
      add(`${path}.edges`, `are probabilities of the predicted class and must lie in [0, 1]; ${recompute}`);
    }
  }
}
