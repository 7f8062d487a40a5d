/**
 * Warming a Lambda-served candidate in the serving path (DeployCandidate; docs/rollout.md "Deploying the candidate"):
 * the event DeployCandidate invokes the model's inference function with, what the function answers, and how
 * DeployCandidate judges the answer. Also the smoke-sample run over a version the serving function has loaded, with
 * that function's own validator, backend and formatter.
 *
 * Without zod: the inference function imports this module, and zod's build is a large part of its cold start (see
 * runtime-manifest.ts).
 */
import { FeatureEncodingError } from './errors';
import type { Instance } from './features';
import type { FieldError } from './inference-request';
import type { Output, SmokeSample } from './manifest';
import type { OutputValue } from './model-runtime';
import { MODEL_NAME_PATTERN, VERSION_PATTERN } from './names';
import { ownValue } from './own';
import { TargetDeployFailedError, type TargetProgress } from './rollout-target';
import { compareOutput, outputRow } from './smoke';

/** The only key of a warm-up event. */
export const WARM_CANDIDATE_KEY = 'modelopsWarmCandidate';

export interface WarmCandidateRequest {
  readonly model: string;
  readonly version: string;
}

/**
 * What DeployCandidate sends the inference function (Lambda Invoke, RequestResponse) and, in local mode, POSTs to the
 * local inference server. A Function URL request can never have this shape: Lambda wraps it in the payload 2.0 event
 * (`version`, `rawPath`, `requestContext.http`, the body as a string).
 *
 * @example { "modelopsWarmCandidate": { "model": "breast-cancer", "version": "1.1.0" } }
 */
export interface WarmCandidateEvent {
  readonly [WARM_CANDIDATE_KEY]: WarmCandidateRequest;
}

export function warmCandidateEvent(request: WarmCandidateRequest): WarmCandidateEvent {
  return { [WARM_CANDIDATE_KEY]: { model: request.model, version: request.version } };
}

export type WarmCandidateParse =
  | { readonly kind: 'warm'; readonly request: WarmCandidateRequest }
  /** It names the warm-up key but is not exactly a warm-up event: answered with a refusal, never served. */
  | { readonly kind: 'refused'; readonly message: string }
  /** Not a warm-up event at all (a Function URL request): the HTTP path handles it. */
  | { readonly kind: 'other' };

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;

/**
 * Classifies an invocation event. Only an object whose single key is `modelopsWarmCandidate`, holding exactly a model
 * name and a version, is a warm-up; anything else carrying that key is refused.
 */
export function parseWarmCandidateEvent(event: unknown): WarmCandidateParse {
  if (!isPlainObject(event) || !Object.prototype.hasOwnProperty.call(event, WARM_CANDIDATE_KEY)) {
    return { kind: 'other' };
  }
  const refused = (why: string): WarmCandidateParse => ({
    kind: 'refused',
    message: `not a warm-up event: ${why}; send exactly {"${WARM_CANDIDATE_KEY}":{"model":"<name>","version":"<version>"}}`,
  });
  const keys = Object.keys(event);
  if (keys.length !== 1)
    return refused(`it has other keys (${keys.filter((k) => k !== WARM_CANDIDATE_KEY).join(', ')})`);
  const inner = event[WARM_CANDIDATE_KEY];
  if (!isPlainObject(inner)) return refused(`${WARM_CANDIDATE_KEY} is not an object`);
  const innerKeys = Object.keys(inner).sort();
  if (innerKeys.length !== 2 || innerKeys[0] !== 'model' || innerKeys[1] !== 'version') {
    return refused(`${WARM_CANDIDATE_KEY} must hold exactly "model" and "version"`);
  }
  const { model, version } = inner;
  if (typeof model !== 'string' || !MODEL_NAME_PATTERN.test(model))
    return refused('model is not a model name');
  if (typeof version !== 'string' || !VERSION_PATTERN.test(version) || version.includes('..')) {
    return refused('version is not a version');
  }
  return { kind: 'warm', request: { model, version } };
}

export const WARM_OUTCOMES = ['warmed', 'load-failed', 'smoke-failed', 'refused'] as const;
export type WarmOutcome = (typeof WARM_OUTCOMES)[number];

/** One smoke sample through the serving path; `issues` is empty when it matched. */
export interface SmokeSampleResult {
  readonly index: number;
  readonly ok: boolean;
  readonly issues: readonly string[];
}

/** The inference function's answer to a warm-up event. */
export interface WarmCandidateResult {
  readonly outcome: WarmOutcome;
  readonly model: string;
  readonly version: string;
  /** Why it was not warmed (load failure, refusal). */
  readonly message?: string;
  /** The load: manifest and record read, signature verified, artifact fetched and hash-checked, session created. */
  readonly loadMs?: number;
  readonly samples: readonly SmokeSampleResult[];
}

/** Reason codes of {@link TargetDeployFailedError} raised by the Lambda target. */
export const LAMBDA_TARGET_FAILURE = {
  /** The serving function could not load the candidate (integrity, signature, ledger, manifest, runtime). */
  loadFailed: 'CANDIDATE_LOAD_FAILED',
  /** The candidate loaded, but a smoke sample failed through the serving function's validator, model or formatter. */
  smokeFailed: 'SMOKE_FAILED',
  /** The serving function refused the warm-up (a model it does not serve, a malformed event). */
  refused: 'WARM_UP_REFUSED',
  /** The serving function failed while warming (a crash, out of memory, its timeout). */
  crashed: 'WARM_UP_CRASHED',
  /** The answer is not a warm-up result for this candidate. */
  invalidAnswer: 'WARM_UP_ANSWER_INVALID',
  /** No way to reach the serving function is configured (no function ARN, no local warm URL). */
  notConfigured: 'TARGET_NOT_CONFIGURED',
} as const;

const MAX_ISSUES_PER_SAMPLE = 5;
const MAX_ISSUE_CHARS = 300;
const clip = (text: string): string =>
  text.length > MAX_ISSUE_CHARS ? `${text.slice(0, MAX_ISSUE_CHARS - 1)}…` : text;

/**
 * DeployCandidate's verdict on the serving function's answer: `ready` when the candidate loaded and every smoke
 * sample matched; otherwise TargetDeployFailedError with a reason code and the per-sample results.
 */
export function warmProgress(request: WarmCandidateRequest, answer: unknown): TargetProgress {
  const invalid = (why: string): never => {
    throw new TargetDeployFailedError(
      LAMBDA_TARGET_FAILURE.invalidAnswer,
      `the inference function's answer to the warm-up of ${request.model} ${request.version} ${why}; is it the ` +
        'function of this model, deployed from this project?',
      { answer: clip(JSON.stringify(answer) ?? String(answer)) },
    );
  };
  if (!isPlainObject(answer)) return invalid('is not an object');
  const { outcome, model, version, message, loadMs, samples } = answer;
  if (typeof outcome !== 'string' || !(WARM_OUTCOMES as readonly string[]).includes(outcome)) {
    return invalid('has no known outcome');
  }
  if (model !== request.model || version !== request.version) {
    return invalid(`is about ${String(model)} ${String(version)}`);
  }
  if (!Array.isArray(samples)) return invalid('has no samples');
  const results = samples as SmokeSampleResult[];
  const failed = results.filter((s) => s?.ok !== true);
  const why = typeof message === 'string' ? message : '';
  const detail = {
    model: request.model,
    version: request.version,
    ...(typeof loadMs === 'number' ? { loadMs } : {}),
    smokeSamples: results.length,
  };
  if (outcome === 'refused') {
    throw new TargetDeployFailedError(
      LAMBDA_TARGET_FAILURE.refused,
      `the inference function refused to warm ${request.model} ${request.version}: ${why}`,
      detail,
    );
  }
  if (outcome === 'load-failed') {
    throw new TargetDeployFailedError(
      LAMBDA_TARGET_FAILURE.loadFailed,
      `the inference function could not load ${request.model} ${request.version}: ${why}`,
      detail,
    );
  }
  if (outcome === 'smoke-failed' || failed.length > 0) {
    const first = failed
      .slice(0, 3)
      .flatMap((s) => (Array.isArray(s?.issues) ? s.issues.slice(0, 1) : []))
      .join('; ');
    throw new TargetDeployFailedError(
      LAMBDA_TARGET_FAILURE.smokeFailed,
      `${failed.length} of ${results.length} smoke samples of ${request.model} ${request.version} failed in the ` +
        `serving function: ${first}`,
      { ...detail, failed: failed.slice(0, 20) },
    );
  }
  return { status: 'ready', detail: { ...detail, action: 'warmed', samples: results } };
}

// ---------------------------------------------------------------------------------------------------------------
// The smoke samples, in the serving function
// ---------------------------------------------------------------------------------------------------------------

const isFeatureValue = (v: unknown): boolean =>
  v === null ||
  typeof v === 'string' ||
  typeof v === 'boolean' ||
  (typeof v === 'number' && Number.isFinite(v));
const isExpected = (v: unknown): boolean =>
  typeof v === 'string' ||
  (typeof v === 'number' && Number.isFinite(v)) ||
  (Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'number' && Number.isFinite(x)));

/** Same bound and default as the manifest schema (manifest.ts `smokeSamples`, `tolerance`). */
const MAX_SMOKE_SAMPLES = 100;
const DEFAULT_TOLERANCE = 1e-4;

/**
 * The smoke samples of a registered manifest (parsed JSON), checked for the shape the run needs; the release
 * pipeline validated them in full with the manifest schema before registering the version.
 */
export function smokeSamplesOf(
  manifest: unknown,
): { readonly ok: true; readonly samples: SmokeSample[] } | { readonly ok: false; readonly message: string } {
  if (!isPlainObject(manifest)) return { ok: false, message: 'the manifest is not an object' };
  const raw = manifest.smokeSamples;
  if (raw === undefined) return { ok: true, samples: [] };
  if (!Array.isArray(raw) || raw.length > MAX_SMOKE_SAMPLES) {
    return { ok: false, message: `smokeSamples must be a list of at most ${MAX_SMOKE_SAMPLES} samples` };
  }
  const samples: SmokeSample[] = [];
  for (const [i, s] of raw.entries()) {
    const bad = (what: string) => ({ ok: false as const, message: `smokeSamples[${i}]: ${what}` });
    if (!isPlainObject(s)) return bad('is not an object');
    const { inputs, expected, tolerance } = s;
    if (!isPlainObject(inputs) || !Object.values(inputs).every(isFeatureValue)) {
      return bad('inputs must map feature names to numbers, strings, booleans or null');
    }
    if (!isPlainObject(expected) || !Object.values(expected).every(isExpected)) {
      return bad('expected must map output names to a number, a label or probabilities');
    }
    if (tolerance !== undefined && !(typeof tolerance === 'number' && tolerance >= 0)) {
      return bad('tolerance must be a number >= 0');
    }
    samples.push({
      inputs: inputs as SmokeSample['inputs'],
      expected: expected as SmokeSample['expected'],
      tolerance: typeof tolerance === 'number' ? tolerance : DEFAULT_TOLERANCE,
    });
  }
  return { ok: true, samples };
}

/** A loaded version as the serving function runs it: its validator, its backend model and its formatter. */
export interface SmokeSubject {
  readonly outputs: readonly Output[];
  readonly validate: (instances: readonly unknown[]) => readonly FieldError[];
  readonly predict: (instances: readonly Instance[]) => Promise<Readonly<Record<string, OutputValue>>>;
  readonly format: (outputs: Readonly<Record<string, OutputValue>>, count: number) => unknown;
}

/**
 * Runs each smoke sample as a one-instance request through the serving stages after routing: validate the instance
 * against the manifest's input schema (ranges and categories included), predict, format, then compare the raw
 * outputs with the expected values as ValidateArtifact does (lambdas/core/smoke.ts). One at a time, so a model
 * with a fixed batch of 1 works. Counts no metrics: the warm-up is not traffic.
 */
export async function runSmokeSamples(
  samples: readonly SmokeSample[],
  subject: SmokeSubject,
): Promise<SmokeSampleResult[]> {
  const outputs = new Map(subject.outputs.map((o) => [o.name, o]));
  const results: SmokeSampleResult[] = [];
  for (const [index, sample] of samples.entries()) {
    const where = `smokeSamples[${index}]`;
    const issues: string[] = [];
    const instances: readonly Instance[] = [sample.inputs];
    const fieldErrors = subject.validate(instances);
    if (fieldErrors.length > 0) {
      for (const e of fieldErrors)
        issues.push(`${where}.inputs${e.path.replace(/^instances\[0\]/, '')}: ${e.message}`);
    } else {
      let raw: Readonly<Record<string, OutputValue>> | undefined;
      try {
        raw = await subject.predict(instances);
        subject.format(raw, 1);
      } catch (err) {
        if (err instanceof FeatureEncodingError) {
          for (const i of err.issues) issues.push(`${where}.inputs.${i.feature}: ${i.message}`);
        } else {
          const e = err as Error;
          issues.push(
            `${where}: the serving function ${raw === undefined ? 'failed to run the model' : 'could not format the prediction'}: ${e?.name ?? 'Error'}: ${e?.message ?? String(err)}`,
          );
        }
        raw = undefined;
      }
      if (raw !== undefined) {
        for (const [name, expected] of Object.entries(sample.expected)) {
          const output = outputs.get(name);
          const value = ownValue(raw, name);
          if (output === undefined) {
            issues.push(`${where}.expected.${name}: is not a declared output`);
          } else if (value === undefined) {
            issues.push(`${where}.expected.${name}: the model returned no output "${name}"`);
          } else {
            const got = outputRow(value, 0);
            const reason = compareOutput(output, expected, got, sample.tolerance);
            if (reason !== undefined) {
              const shown = output.kind === 'probability' ? got : got[0];
              issues.push(
                `${where}.expected.${name}: ${reason} (expected ${JSON.stringify(expected)}, got ${JSON.stringify(shown, (_k, x: unknown) => (typeof x === 'bigint' ? Number(x) : x))})`,
              );
            }
          }
        }
      }
    }
    results.push({
      index,
      ok: issues.length === 0,
      issues: issues.slice(0, MAX_ISSUES_PER_SAMPLE).map(clip),
    });
  }
  return results;
}
