/**
 * Application-level traffic routing (DESIGN.md decision 1): pick the model version that serves a request from the
 * model's Deployments record, fall back to the other arm when the chosen one cannot serve, and compare shadow
 * predictions. (The routing records' TTL cache is ttl-cache.ts.)
 *
 * Pure: no AWS SDK, no clock or randomness except what the caller injects.
 */
import type { DeploymentRecord } from './ports';
import { VERSION_PATTERN } from './names';

/** The record cannot be used to serve this model: no stable version, no record at all, or a malformed record. */
export class ModelNotServableError extends Error {
  override name = 'ModelNotServableError';
  constructor(
    message: string,
    readonly model?: string,
  ) {
    super(message);
  }
}

/**
 * The Deployments record is malformed (e.g. weight outside [0, 1]). A subclass of ModelNotServableError so the
 * inference handler maps both to 503 with one check; `issues` lists every problem found.
 */
export class InvalidDeploymentRecordError extends ModelNotServableError {
  override name = 'InvalidDeploymentRecordError';
  constructor(
    readonly issues: readonly string[],
    model?: string,
  ) {
    super(
      `deployment record${model === undefined ? '' : ` for model "${model}"`} is invalid: ${issues.join('; ')}`,
      model,
    );
  }
}

export type Arm = 'stable' | 'candidate';

/** Which version answers the request, and which (if any) also runs on the same input for comparison only. */
export interface RouteDecision {
  /** The version whose prediction is returned to the caller. */
  readonly serve: string;
  /** Shadow mode only: the candidate, run on the same input; its result is compared, never returned. */
  readonly shadow?: string;
  readonly arm: Arm;
}

export interface ChooseOptions {
  /**
   * Sticky routing: requests with the same key get the same arm for a given record and weight. At most 256
   * characters (the request parser enforces it); only its hash is used, it is never stored.
   */
  readonly routingKey?: string;
  /** Uniform draw in [0, 1) for requests without a routing key. @default Math.random */
  readonly random?: () => number;
}

const MODES: ReadonlySet<string> = new Set(['canary', 'shadow']);

function isPresent(v: unknown): boolean {
  // DynamoDB adapters may surface an unset attribute as null; treat it like an absent one.
  return v !== undefined && v !== null;
}

/**
 * Every problem with a routing record, empty when it is usable. Accepts `unknown` because the record comes from
 * storage that other code (and people, via the console) can write.
 */
export function deploymentRecordIssues(value: unknown): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return ['must be an object with model, stable, candidate, weight, mode and revision'];
  }
  const r = value as Record<string, unknown>;
  const issues: string[] = [];
  if (typeof r.model !== 'string' || r.model.length === 0) issues.push('model must be a non-empty string');
  for (const field of ['stable', 'candidate'] as const) {
    const v = r[field];
    if (isPresent(v) && (typeof v !== 'string' || !VERSION_PATTERN.test(v) || v.includes('..'))) {
      issues.push(`${field} must be a model version (e.g. "1.2.0") or absent, got ${JSON.stringify(v)}`);
    }
  }
  if (typeof r.weight !== 'number' || !Number.isFinite(r.weight) || r.weight < 0 || r.weight > 1) {
    issues.push(`weight must be a finite number from 0 to 1, got ${String(r.weight)}`);
  }
  if (typeof r.mode !== 'string' || !MODES.has(r.mode)) {
    issues.push(`mode must be "canary" or "shadow", got ${JSON.stringify(r.mode) ?? 'nothing'}`);
  }
  if (typeof r.revision !== 'number' || !Number.isSafeInteger(r.revision) || r.revision < 0) {
    issues.push(`revision must be a whole number >= 0, got ${String(r.revision)}`);
  }
  return issues;
}

/** The fields {@link deploymentRecordIssues} checks, as they were when a record passed it. */
interface CheckedFields {
  readonly model: unknown;
  readonly stable: unknown;
  readonly candidate: unknown;
  readonly weight: unknown;
  readonly mode: unknown;
  readonly revision: unknown;
}

/**
 * Records that passed validation, with what was checked. The inference app routes every request with the same cached
 * record object for a whole TTL; re-validating it (two regex tests, set lookups) showed in per-request profiles. A
 * record changed since (same object, other field values) is validated again.
 */
const validated = new WeakMap<object, CheckedFields>();

function snapshotOf(r: DeploymentRecord): CheckedFields {
  return {
    model: r.model,
    stable: r.stable,
    candidate: r.candidate,
    weight: r.weight,
    mode: r.mode,
    revision: r.revision,
  };
}

function knownValid(r: DeploymentRecord): boolean {
  if (typeof r !== 'object') return false;
  const seen = validated.get(r);
  return (
    seen !== undefined &&
    seen.model === r.model &&
    seen.stable === r.stable &&
    seen.candidate === r.candidate &&
    seen.weight === r.weight &&
    seen.mode === r.mode &&
    seen.revision === r.revision
  );
}

/**
 * Picks the version that serves one request.
 *
 * - No stable version (never promoted) → {@link ModelNotServableError}: a candidate alone is never served, since
 *   nothing would answer the share of traffic it does not get and nothing to roll back to exists.
 * - `canary`: the candidate with probability `weight`, otherwise stable. With a `routingKey` the draw is the key's
 *   {@link stickyPoint} instead of `random()`: the same key always lands on the same arm for a given record, and
 *   raising the weight only moves keys from stable to candidate, never back (the candidate arm is
 *   `point < weight`, a set that grows with the weight).
 * - `shadow`: serve stable and run the candidate on every request as `shadow`. The weight is ignored in shadow
 *   mode: shadow traffic is never returned, so there is no share to split.
 * - No candidate, a candidate equal to stable, or weight 0 → stable.
 *
 * Throws {@link ModelNotServableError} (or its subclass {@link InvalidDeploymentRecordError}); the handler maps both
 * to 503.
 *
 * @example chooseVersion(record, { routingKey: 'customer-42' }) // { serve: '1.3.0', arm: 'candidate' }
 */
export function chooseVersion(
  record: DeploymentRecord | undefined,
  options: ChooseOptions = {},
): RouteDecision {
  if (record === undefined || record === null) {
    throw new ModelNotServableError('no deployment record: no version of this model has been released yet');
  }
  if (!knownValid(record)) {
    const issues = deploymentRecordIssues(record);
    if (issues.length > 0) {
      throw new InvalidDeploymentRecordError(
        issues,
        typeof record.model === 'string' ? record.model : undefined,
      );
    }
    validated.set(record, snapshotOf(record));
  }
  const { stable, candidate } = record;
  if (!isPresent(stable)) {
    throw new ModelNotServableError(
      `model "${record.model}" has no stable version to serve` +
        (isPresent(candidate) ? ` (candidate "${candidate}" has not been promoted yet)` : ''),
      record.model,
    );
  }
  const stableVersion = stable as string;
  if (!isPresent(candidate) || candidate === stableVersion) return { serve: stableVersion, arm: 'stable' };
  const candidateVersion = candidate as string;

  if (record.mode === 'shadow') return { serve: stableVersion, shadow: candidateVersion, arm: 'stable' };

  if (record.weight <= 0) return { serve: stableVersion, arm: 'stable' };
  if (record.weight >= 1) return { serve: candidateVersion, arm: 'candidate' };
  const point =
    options.routingKey !== undefined
      ? stickyPoint(record.model, candidateVersion, options.routingKey)
      : (options.random ?? Math.random)();
  return point < record.weight
    ? { serve: candidateVersion, arm: 'candidate' }
    : { serve: stableVersion, arm: 'stable' };
}

/**
 * The fallback rule: which version serves a request once some versions have failed to load or were refused.
 *
 * - The chosen version (`decision.serve`), unless it failed.
 * - Otherwise the record's other arm: stable when the candidate was chosen, the candidate when stable was (in shadow
 *   mode too: a refused stable is answered by the candidate rather than not at all), unless that failed as well.
 * - Otherwise (no other arm, or both failed) undefined: the request cannot be served.
 *
 * `failed` holds the versions already tried without success, in the order tried.
 *
 * @example fallbackVersion({ serve: '2.0.0', arm: 'candidate' }, record, ['2.0.0']) // record.stable
 */
export function fallbackVersion(
  decision: RouteDecision,
  record: DeploymentRecord,
  failed: readonly string[],
): string | undefined {
  const chosen = decision.serve;
  if (!failed.includes(chosen)) return chosen;
  const stable = typeof record.stable === 'string' ? record.stable : undefined;
  const candidate = typeof record.candidate === 'string' ? record.candidate : undefined;
  const other = chosen === stable ? candidate : stable;
  return other === undefined || other === chosen || failed.includes(other) ? undefined : other;
}

/**
 * Maps a routing key to a point in [0, 1): FNV-1a 32-bit over the UTF-8 bytes of `model \n candidate \n key`,
 * followed by the MurmurHash3 32-bit finaliser (fmix32), divided by 2^32.
 *
 * Why salted with model and candidate: without it the same customers would be the canary for every model and every
 * release. Within one rollout (same candidate) the point is fixed, so stickiness and monotonicity hold as the weight
 * moves. Why the finaliser: plain FNV-1a spreads keys that differ only in their last characters (`user-1`,
 * `user-2`, …) poorly across the high bits that decide the arm; fmix32 gives full avalanche.
 */
export function stickyPoint(model: string, candidate: string, routingKey: string): number {
  return hashToUnit(`${model}\n${candidate}\n${routingKey}`);
}

/** FNV-1a 32 + fmix32 of the text's UTF-8 bytes, as a uniform number in [0, 1). */
export function hashToUnit(text: string): number {
  return fmix32(fnv1a32(text)) / 0x1_0000_0000;
}

/** FNV-1a 32-bit over the UTF-8 encoding of `text` (encoded inline, no Buffer allocation). */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  const mix = (byte: number) => {
    h ^= byte;
    h = Math.imul(h, 0x01000193);
  };
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        i++;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd; // lone surrogate: what TextEncoder would write
    if (c < 0x80) mix(c);
    else if (c < 0x800) {
      mix(0xc0 | (c >> 6));
      mix(0x80 | (c & 0x3f));
    } else if (c < 0x10000) {
      mix(0xe0 | (c >> 12));
      mix(0x80 | ((c >> 6) & 0x3f));
      mix(0x80 | (c & 0x3f));
    } else {
      mix(0xf0 | (c >> 18));
      mix(0x80 | ((c >> 12) & 0x3f));
      mix(0x80 | ((c >> 6) & 0x3f));
      mix(0x80 | (c & 0x3f));
    }
  }
  return h >>> 0;
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * Where two predictions first disagree, or undefined when they agree. Numbers (probabilities, regression values)
 * agree within `tolerance` (absolute); strings (class labels), booleans and null must be equal; arrays must have the
 * same length and objects the same keys, compared element by element. Returns a path such as
 * `[3].probabilities[1]` for logs and shadow metrics.
 */
export function findDisagreement(a: unknown, b: unknown, tolerance: number): string | undefined {
  if (!Number.isFinite(tolerance) || tolerance < 0) {
    throw new RangeError(`tolerance must be a finite number >= 0, got ${tolerance}`);
  }
  return diff(a, b, tolerance, '', 0);
}

// Predictions are shallow (instances → outputs → probabilities); the bound only guards against cyclic input.
const MAX_DIFF_DEPTH = 32;

function diff(a: unknown, b: unknown, tolerance: number, path: string, depth: number): string | undefined {
  const here = path === '' ? '(root)' : path;
  if (typeof a === 'number' && typeof b === 'number') {
    if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b) ? undefined : here;
    // Equal infinities agree; `Infinity - Infinity` would be NaN.
    return a === b || Math.abs(a - b) <= tolerance ? undefined : here;
  }
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) {
    return a === b ? undefined : here;
  }
  if (depth >= MAX_DIFF_DEPTH) return here;
  if (Array.isArray(a) !== Array.isArray(b)) return here;
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return here;
    for (let i = 0; i < a.length; i++) {
      const d = diff(a[i], b[i], tolerance, `${path}[${i}]`, depth + 1);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const keys = Object.keys(ra);
  if (keys.length !== Object.keys(rb).length) return here;
  for (const key of keys) {
    const child = path === '' ? key : `${path}.${key}`;
    if (!Object.hasOwn(rb, key)) return child;
    const d = diff(ra[key], rb[key], tolerance, child, depth + 1);
    if (d !== undefined) return d;
  }
  return undefined;
}
