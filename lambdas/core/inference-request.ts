/**
 * The inference request contract and its validation (future docs/inference.md).
 *
 * ## Request
 * `POST` a JSON object:
 * ```json
 * { "instances": [ { "mean_radius": 14.2, "smoker": false, "region": "eu" } ], "routingKey": "customer-42" }
 * ```
 * - `instances` (required): 1 to `maxBatch` (default 64) objects, one per prediction, mapping each feature name
 *   declared in the model's manifest to its value: numeric → a finite JSON number (within `range` if declared);
 *   boolean → `true`/`false`; categorical → one of the declared `categories` (a string). A feature declared
 *   `required: false` may be omitted or `null`. Features the manifest does not declare are rejected, so a typo
 *   cannot silently turn into a missing value. Tensor → a nested array of exactly the feature's `shape`
 *   (row-major) or `{ "b64": "<base64 of the little-endian element bytes>" }` (./tensor-values.ts); element
 *   errors name their index, e.g. `instances[0].image[2][5]`.
 * - `routingKey` (optional): 1–256 characters (UTF-16 code units). Requests with the same key are served by the same
 *   version during a canary (sticky routing). Only a hash of it is used.
 * - No other top-level fields.
 *
 * ## Errors
 * - 413: the body is larger than `maxBodyBytes` (default 1 MiB; checked before parsing) or has more than `maxBatch`
 *   instances. A too-large request gets only this error.
 * - 400: everything else, with every problem listed (up to `maxErrors`, default 100, then one "… and N more"
 *   entry), each as `{ path, message }`, e.g. `{ "path": "instances[3].mean_radius", "message": "must be a finite
 *   number, got \"abc\"" }`. Values of features marked `pii: true` are never echoed: `(redacted: pii)`.
 *
 * Nothing here throws on any input; the inference path runs it on every request.
 */
import type { Feature } from './manifest';
import { compileTensorChecker, type TensorChecker } from './tensor-values';
import { kindOf } from './value-kind';

/** One problem with a request: where (`instances[3].mean_radius`) and what is wrong and what is expected. */
export interface FieldError {
  readonly path: string;
  readonly message: string;
}

export interface InferenceLimits {
  /** Largest accepted body in UTF-8 bytes. @default 1_048_576 */
  readonly maxBodyBytes: number;
  /** Most instances in one request. @default 64 */
  readonly maxBatch: number;
  /** Most errors reported before the rest are summarised as "… and N more". @default 100 */
  readonly maxErrors: number;
}

export const DEFAULT_INFERENCE_LIMITS: InferenceLimits = {
  maxBodyBytes: 1024 * 1024,
  maxBatch: 64,
  maxErrors: 100,
};

export const MAX_ROUTING_KEY_LENGTH = 256;

/** A request whose shape is valid. The instances are still unchecked against the model's features. */
export interface InferenceRequest {
  readonly instances: readonly unknown[];
  readonly routingKey?: string;
}

export type ParseInferenceResult =
  | { readonly ok: true; readonly request: InferenceRequest }
  | { readonly ok: false; readonly status: 400 | 413; readonly errors: readonly FieldError[] };

const TOP_LEVEL_FIELDS: ReadonlySet<string> = new Set(['instances', 'routingKey']);
const REDACTED = '(redacted: pii)';

/**
 * Parses and shape-checks an inference request body. Never throws.
 *
 * @example parseInferenceBody('{"instances":[{"x":1}]}') // { ok: true, request: { instances: [{ x: 1 }] } }
 */
export function parseInferenceBody(
  bodyText: string,
  limits: Partial<InferenceLimits> = {},
): ParseInferenceResult {
  // Read field by field rather than spread into a new object: this runs on every request.
  const maxBodyBytes = limits.maxBodyBytes ?? DEFAULT_INFERENCE_LIMITS.maxBodyBytes;
  const maxBatch = limits.maxBatch ?? DEFAULT_INFERENCE_LIMITS.maxBatch;
  const maxErrors = limits.maxErrors ?? DEFAULT_INFERENCE_LIMITS.maxErrors;
  if (typeof bodyText !== 'string') {
    return fail(400, [{ path: '(body)', message: 'is missing; send a JSON object with "instances"' }]);
  }
  if (exceedsUtf8Bytes(bodyText, maxBodyBytes)) {
    return fail(413, [
      {
        path: '(body)',
        message: `is larger than ${maxBodyBytes} bytes; send fewer instances per request`,
      },
    ]);
  }
  let json: unknown;
  try {
    json = JSON.parse(bodyText);
  } catch (err) {
    // V8's message quotes a slice of the input, which may hold PII; keep only the position.
    const position = /position (\d+)/.exec(err instanceof Error ? err.message : '')?.[1];
    return fail(400, [
      {
        path: '(body)',
        message: `is not valid JSON${position === undefined ? '' : ` (at character ${position})`}; send an object like {"instances":[{"feature":1}]}`,
      },
    ]);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return fail(400, [
      {
        path: '(body)',
        message: `must be a JSON object like {"instances":[{"feature":1}]}, got ${kindOf(json)}`,
      },
    ]);
  }

  const body = json as Record<string, unknown>;
  const errors = new ErrorCollector(maxErrors);
  for (const key of Object.keys(body)) {
    if (!TOP_LEVEL_FIELDS.has(key)) {
      errors.add(
        topLevelPath(key),
        'is not a request field; send only "instances" and optional "routingKey"',
      );
    }
  }

  const instances = Object.hasOwn(body, 'instances') ? body.instances : undefined;
  if (instances === undefined) {
    errors.add('instances', `is required: an array of 1 to ${maxBatch} objects of feature values`);
  } else if (!Array.isArray(instances)) {
    errors.add(
      'instances',
      `must be an array of 1 to ${maxBatch} objects of feature values, got ${kindOf(instances)}`,
    );
  } else if (instances.length === 0) {
    errors.add('instances', `must not be empty; send 1 to ${maxBatch} objects of feature values`);
  } else if (instances.length > maxBatch) {
    return fail(413, [
      {
        path: 'instances',
        message: `has ${instances.length} instances; at most ${maxBatch} per request, split the batch`,
      },
    ]);
  }

  let routingKey: string | undefined;
  if (Object.hasOwn(body, 'routingKey')) {
    const rk = body.routingKey;
    if (typeof rk !== 'string') {
      errors.add(
        'routingKey',
        `must be a string of 1 to ${MAX_ROUTING_KEY_LENGTH} characters, got ${kindOf(rk)}`,
      );
    } else if (rk.length < 1 || rk.length > MAX_ROUTING_KEY_LENGTH) {
      errors.add('routingKey', `must be 1 to ${MAX_ROUTING_KEY_LENGTH} characters long, got ${rk.length}`);
    } else {
      routingKey = rk;
    }
  }

  if (errors.count > 0) return fail(400, errors.result());
  return {
    ok: true,
    request:
      routingKey === undefined
        ? { instances: instances as unknown[] }
        : { instances: instances as unknown[], routingKey },
  };
}

/** Checks a batch of instances against the model's features; returns every problem (capped), empty when valid. */
export type InstanceValidator = (instances: readonly unknown[]) => FieldError[];

/** What the validator needs from a manifest; a full `Manifest` fits. */
export interface ValidatorSource {
  readonly inputs: { readonly features: readonly Feature[] };
}

/**
 * Compiles the per-feature checks of one model version into closures, once, so validating a request costs a few
 * property reads and comparisons per value rather than a schema parse. Cache the result with the loaded model.
 * The returned validator never throws, whatever it is given.
 */
export function compileInstanceValidator(
  source: ValidatorSource,
  options: { readonly maxErrors?: number } = {},
): InstanceValidator {
  const maxErrors = options.maxErrors ?? DEFAULT_INFERENCE_LIMITS.maxErrors;
  const features = source.inputs.features;
  const checks = features.map(compileFeatureCheck);
  const names = features.map((f) => f.name);
  const known: ReadonlySet<string> = new Set(names);
  const pathSuffixes = features.map((f) => keySuffix(f.name));
  const knownList = listForMessage(features.map((f) => f.name));
  const tensors: (TensorChecker | undefined)[] = features.map((f) =>
    f.type === 'tensor' ? compileTensorChecker(f) : undefined,
  );
  const shows = features.map((f) => (f.pii ? () => REDACTED : describeValue));
  // A tensor value reports its problems element by element; one sink, defined once, knows where it is.
  let errors = new ErrorCollector(maxErrors);
  let atInstance = 0;
  let atFeature = 0;
  const sink = (suffix: string, message: string): void =>
    errors.add(`instances[${atInstance}]${pathSuffixes[atFeature]!}${suffix}`, message);

  return (instances) => {
    errors = new ErrorCollector(maxErrors);
    try {
      if (!Array.isArray(instances)) {
        errors.add('instances', `must be an array of objects of feature values, got ${kindOf(instances)}`);
        return errors.result();
      }
      for (let i = 0; i < instances.length; i++) {
        const instance: unknown = instances[i];
        if (typeof instance !== 'object' || instance === null || Array.isArray(instance)) {
          errors.add(
            `instances[${i}]`,
            `must be an object mapping feature names to values, got ${kindOf(instance)}`,
          );
          continue;
        }
        const record = instance as Record<string, unknown>;
        let present = 0;
        for (let f = 0; f < checks.length; f++) {
          const name = names[f]!;
          // Own properties only: a feature named "constructor" must not read Object.prototype.constructor.
          const has = Object.hasOwn(record, name);
          if (has) present++;
          const tensor = tensors[f];
          if (tensor !== undefined) {
            const value = has ? record[name] : undefined;
            if (value !== undefined && value !== null) {
              atInstance = i;
              atFeature = f;
              tensor(value, sink, shows[f]!);
              continue;
            }
          }
          const message = checks[f]!(has ? record[name] : undefined, has);
          if (message !== undefined) errors.add(`instances[${i}]${pathSuffixes[f]!}`, message);
        }
        // Every own key was a known feature when the counts match; only otherwise look for the strangers.
        const keys = Object.keys(record);
        if (keys.length !== present) {
          for (const key of keys) {
            if (!known.has(key)) {
              errors.add(
                `instances[${i}]${keySuffix(key)}`,
                `is not a feature of this model; remove it (features: ${knownList})`,
              );
            }
          }
        }
      }
    } catch {
      // Only exotic non-JSON input (a throwing getter or proxy) gets here; report it rather than crash.
      errors.add('instances', 'could not be read; send plain JSON objects of feature values');
    }
    return errors.result();
  };
}

/** Returns the problem with one value of one feature, or undefined when it is acceptable. */
type FeatureCheck = (value: unknown, present: boolean) => string | undefined;

function compileFeatureCheck(feature: Feature): FeatureCheck {
  const show = feature.pii ? () => REDACTED : describeValue;
  const required = feature.required;
  switch (feature.type) {
    case 'numeric': {
      const min = feature.range?.min;
      const max = feature.range?.max;
      const expected =
        min !== undefined && max !== undefined
          ? `from ${min} to ${max}`
          : min !== undefined
            ? `>= ${min}`
            : max !== undefined
              ? `<= ${max}`
              : undefined;
      return (value, present) => {
        if (value === undefined || value === null)
          return missing(required, present, value, 'a finite number');
        if (typeof value !== 'number' || !Number.isFinite(value)) {
          return `must be a finite number, got ${show(value)}`;
        }
        if ((min !== undefined && value < min) || (max !== undefined && value > max)) {
          return `must be ${expected}, got ${show(value)}`;
        }
        return undefined;
      };
    }
    case 'boolean':
      return (value, present) => {
        if (value === undefined || value === null) return missing(required, present, value, 'true or false');
        return typeof value === 'boolean' ? undefined : `must be true or false, got ${show(value)}`;
      };
    case 'categorical': {
      const allowed: ReadonlySet<string> = new Set(feature.categories);
      const expected = `one of ${listForMessage(feature.categories.map((c) => JSON.stringify(c)))}`;
      return (value, present) => {
        if (value === undefined || value === null) return missing(required, present, value, expected);
        return typeof value === 'string' && allowed.has(value)
          ? undefined
          : `must be ${expected}, got ${show(value)}`;
      };
    }
    case 'tensor': {
      // Present values are checked element by element by the tensor checker; this sees only missing ones.
      const expected = `a nested array of shape [${feature.shape.join(', ')}] or {"b64": "…"}`;
      return (value, present) => missing(required, present, value, expected);
    }
  }
}

function missing(required: boolean, present: boolean, value: unknown, expected: string): string | undefined {
  if (!required) return undefined;
  return present
    ? `is required and must not be ${value === null ? 'null' : 'undefined'}; send ${expected}`
    : `is required; send ${expected}`;
}

/** Collects errors up to a cap, then counts the rest for one summary entry. */
class ErrorCollector {
  private readonly errors: FieldError[] = [];
  private dropped = 0;
  constructor(private readonly max: number) {}
  get count(): number {
    return this.errors.length + this.dropped;
  }
  add(path: string, message: string): void {
    if (this.errors.length < this.max) this.errors.push({ path, message });
    else this.dropped++;
  }
  result(): FieldError[] {
    if (this.dropped === 0) return this.errors;
    return [
      ...this.errors,
      { path: '(request)', message: `… and ${this.dropped} more error${this.dropped === 1 ? '' : 's'}` },
    ];
  }
}

function fail(status: 400 | 413, errors: readonly FieldError[]): ParseInferenceResult {
  return { ok: false, status, errors };
}

/**
 * Whether `text` takes more than `maxBytes` bytes as UTF-8, usually without encoding it: each UTF-16 code unit
 * takes 1 to 3 bytes (a surrogate pair, two units, takes 4), so the length bounds the byte count from both sides.
 */
export function exceedsUtf8Bytes(text: string, maxBytes: number): boolean {
  if (text.length > maxBytes) return true;
  if (text.length * 3 <= maxBytes) return false;
  return Buffer.byteLength(text, 'utf8') > maxBytes;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_.:-]*$/;
const MAX_SHOWN_CHARS = 64;

/** `.name` for identifier-like keys; `["weird key"]` (JSON-quoted, truncated) for anything else. */
function keySuffix(key: string): string {
  return key.length <= 128 && IDENTIFIER.test(key) ? `.${key}` : `[${JSON.stringify(truncate(key))}]`;
}

/** The path of a top-level body field. */
function topLevelPath(key: string): string {
  const suffix = keySuffix(key);
  return suffix.startsWith('.') ? suffix.slice(1) : suffix;
}

function truncate(text: string): string {
  return text.length > MAX_SHOWN_CHARS ? `${text.slice(0, MAX_SHOWN_CHARS)}…` : text;
}

/** A short, safe rendering of a user-supplied value for an error message. */
function describeValue(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(truncate(value));
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(value);
    default:
      return kindOf(value);
  }
}

/** Up to 10 items joined with ", ", then "… (N in total)". */
function listForMessage(items: readonly string[]): string {
  if (items.length <= 10) return items.join(', ');
  return `${items.slice(0, 10).join(', ')}, … (${items.length} in total)`;
}
