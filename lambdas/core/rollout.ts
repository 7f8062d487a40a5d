/**
 * The canary rollout after RegisterVersion (stepfunctions/release.asl.json; docs/rollout.md): take the model's
 * rollout lock and route the first step, judge each bake (lambdas/core/canary-judge.ts) on metrics read through the
 * MetricsReader port, then shift, promote or roll back. Pure of AWS: every store is a port and the clock is passed in.
 *
 * Every decision is one conditional write of the model's routing record (DESIGN.md decisions 1 and 7): the lock lives
 * in the record, so a rollback is one write that clears the candidate and releases the lock together. Every step is
 * safe to retry after a crash: a write that already landed is recognised from the record, and the audit events have
 * ids derived from the execution and the step, so a repeat append is refused as a duplicate and ignored.
 */
import { appendAuditOnce, derivedEventId } from './audit';
import {
  DEFAULT_CANARY_POLICY,
  judgeCanary,
  resolveCanaryPolicy,
  type CanaryPolicy,
  type CanaryVerdict,
  type CheckResult,
  type CountLook,
} from './canary-judge';
import {
  predictionInputSummary,
  readCanaryPredictionBins,
  type CanaryPredictionDeps,
  type CanaryPredictionInput,
} from './canary-predictions';
import { lambdaErrorOf } from './errors';
import { RoutingChangeRefusedError } from './promotion';
import {
  budgetSummary,
  firstStepPlan,
  readModelBudget,
  type FirstStepPlan,
  type RolloutBudgetPolicy,
} from './rollout-budget';
import {
  INFERENCE_METRICS,
  METRIC_DIMENSIONS,
  type AuditEvent,
  type AuditEventType,
  type AuditLogStore,
  type DeploymentRecord,
  type RolloutChange,
  type DeploymentStore,
  type MetricQuery,
  type MetricsReader,
  type VersionStageStore,
  type VersionStore,
} from './ports';
import type { ShadowLook } from './shadow-judge';
import { objectiveIssues } from './slo';
import { labelStages, promotionLabels, type StageLabel } from './version-stages';

export type { RolloutBudgetPolicy } from './rollout-budget';

/** A model's canary policy (config `models[].canary`, resolved with defaults; docs/config.md). */
export interface RolloutPolicy {
  /** Candidate weights of the steps, strictly increasing, each in (0, 1); the candidate is promoted after the last. */
  readonly steps: readonly number[];
  /** Bake after each step (and each extension) before the analysis. */
  readonly bakeSeconds: number;
  readonly lock: {
    /** A lock older than this may be taken over by another release (its execution is presumed dead). */
    readonly ttlMinutes: number;
    /** A second release while one runs: wait for the lock or fail at once. */
    readonly onLocked: 'wait' | 'fail';
    readonly waitSeconds: number;
    /** Waits before a waiting release gives up (fails with LockTimeout). */
    readonly maxWaits: number;
  };
  /** Judge and record every verdict, but never roll back or promote: the candidate is cleared at the end. */
  readonly dryRun: boolean;
  /** Overrides of the judge's policy (lambdas/core/canary-judge.ts DEFAULT_CANARY_POLICY). */
  readonly judge: Partial<CanaryPolicy>;
  /**
   * The error-budget gate before the canary and the first step's cap (./rollout-budget.ts). Absent: no gate (a
   * policy written before the gate existed, e.g. in the state of an execution already running).
   */
  readonly budget?: RolloutBudgetPolicy;
  /**
   * The shadow phase between DeployCandidate and the first step (./shadow-phase.ts), set only when
   * `canary.shadow.enabled`. Absent: BeginCanary follows the deploy (and a state written before the phase existed).
   */
  readonly shadow?: RolloutShadowPolicy;
}

/** `models[].canary.shadow` as the rollout carries it (docs/rollout.md "Shadow phase"). */
export interface RolloutShadowPolicy {
  /** Shadowed traffic before each shadow analysis (and each extension). */
  readonly bakeSeconds: number;
  /** Largest tolerated share of compared requests on which the candidate disagrees with stable. */
  readonly maxDisagreement: number;
}

/** What the state machine's next state is; the Choice states of release.asl.json branch on it. */
export type RolloutNext =
  | 'skipped'
  | 'promoted'
  | 'locked'
  | 'lock-timeout'
  | 'deploy'
  | 'deploy-failed'
  | 'bake'
  | 'step'
  | 'promote'
  | 'rollback'
  | 'rolled-back'
  | 'dry-run-done'
  | 'superseded'
  | 'budget-exhausted'
  // Inconclusive past its extensions with judge.onExhausted "hold": the candidate keeps its weight for an operator.
  | 'hold'
  // The shadow phase (./shadow-phase.ts): bake and look again, or go on to BeginCanary.
  | 'shadow-bake'
  | 'canary';

/** One verdict as the execution output and the audit log carry it. */
export interface VerdictRecord {
  /** `shadow` for a look of the shadow phase (./shadow-phase.ts); absent for the canary's. */
  readonly phase?: 'shadow';
  readonly look: number;
  readonly step: number;
  readonly weight: number;
  readonly decision: CanaryVerdict['decision'];
  readonly reasonCode: CanaryVerdict['reasonCode'];
  readonly checks: readonly CheckResult[];
}

/** The rollout's state, carried by the execution (`$.rollout`) from Task to Task. */
export interface RolloutState {
  readonly model: string;
  readonly version: string;
  readonly executionId: string;
  readonly next: RolloutNext;
  /** Why the rollout ended where it did (`skipped`, `superseded`, `rolled-back`, …). */
  readonly reason?: string;
  readonly stable?: string;
  readonly policy?: RolloutPolicy;
  /** Index into policy.steps of the weight now routed. */
  readonly step: number;
  readonly weight: number;
  /**
   * `deploy` (StartRollout took the lock with the candidate at weight 0): the first weight BeginCanary routes once
   * the candidate is deployed, `steps[0]` or less when the error budget capped it.
   */
  readonly plannedWeight?: number;
  /**
   * The stable version when the lock was taken: the candidate is deployed next to it, and after the decision one of
   * the two is retired (`stable` becomes the candidate on promote).
   */
  readonly stableAtStart?: string;
  readonly startedAtMs: number;
  readonly stepStartedAtMs: number;
  /** Bakes the current step has been extended by (inconclusive verdicts). */
  readonly extensions: number;
  /** Lock waits so far (a second release waiting for the first). */
  readonly waits: number;
  /** Cumulative counts per look, oldest first: the sequential tests need every look. */
  readonly looks: {
    readonly errors: CountLook[];
    readonly slow: CountLook[];
    readonly invalidInput: CountLook[];
  };
  readonly verdicts: readonly VerdictRecord[];
  /** When BeginShadow put the record in shadow mode: the shadow phase's window starts there. */
  readonly shadowStartedAtMs?: number;
  /** The shadow phase's cumulative counts per look, oldest first (./shadow-judge.ts). */
  readonly shadowLooks?: readonly ShadowLook[];
  /** Set when the rollout was rolled back from outside the execution (a candidate alarm, `modelops rollback`). */
  readonly endedBy?: { readonly actor: string; readonly at: string; readonly detail?: string };
}

/** The lock is held by another execution, or was taken from this one (a manual promote, `modelops unlock`). */
export class RolloutSupersededError extends Error {
  override name = 'RolloutSupersededError';
}

/** The policy cannot run: the message names the field. */
export class RolloutPolicyError extends Error {
  override name = 'RolloutPolicyError';
}

export interface RolloutStores {
  readonly deployments: DeploymentStore;
  readonly versions: Pick<VersionStore, 'getVersion'>;
  readonly audit: AuditLogStore;
  /**
   * The version stages (LIVE, STANDBY, ROLLED_BACK), labelled after each routing write that changes them.
   * @default - no labels are written (the routing record and the audit log still hold every change)
   */
  readonly stages?: VersionStageStore;
}

/** StartRollout's ports: the stores, and the metrics the budget gate reads (required when `budget.gate` is on). */
export interface StartRolloutDeps extends RolloutStores {
  readonly metrics?: MetricsReader;
}

/** Checks a policy; throws RolloutPolicyError naming the first bad field (also checks the judge's overrides). */
export function checkRolloutPolicy(policy: RolloutPolicy): RolloutPolicy {
  const { steps } = policy;
  if (!Array.isArray(steps) || steps.length === 0) {
    throw new RolloutPolicyError('canary.steps must list at least one weight, e.g. [0.05, 0.25, 0.5]');
  }
  steps.forEach((w, i) => {
    if (typeof w !== 'number' || !(w > 0 && w < 1) || (i > 0 && w <= steps[i - 1]!)) {
      throw new RolloutPolicyError(
        `canary.steps[${i}] must be a weight in (0, 1) above the step before it, got ${JSON.stringify(w)}`,
      );
    }
  });
  if (!Number.isInteger(policy.bakeSeconds) || policy.bakeSeconds < 0) {
    throw new RolloutPolicyError(`canary.bakeSeconds must be a whole number >= 0, got ${policy.bakeSeconds}`);
  }
  resolveCanaryPolicy(policy.judge);
  if (policy.budget !== undefined) checkBudgetPolicy(policy.budget);
  if (policy.shadow !== undefined) checkShadowPolicy(policy.shadow);
  return policy;
}

function checkShadowPolicy(shadow: RolloutShadowPolicy): void {
  if (!Number.isInteger(shadow.bakeSeconds) || shadow.bakeSeconds < 0) {
    throw new RolloutPolicyError(
      `canary.shadow.bakeSeconds must be a whole number >= 0, got ${JSON.stringify(shadow.bakeSeconds)}`,
    );
  }
  const share = shadow.maxDisagreement;
  if (typeof share !== 'number' || !(share > 0 && share < 1)) {
    throw new RolloutPolicyError(
      `canary.shadow.maxDisagreement must be in (0, 1), got ${JSON.stringify(share)}`,
    );
  }
}

function checkBudgetPolicy(budget: RolloutBudgetPolicy): void {
  const share = budget.maxFirstStepBudgetShare;
  if (typeof share !== 'number' || !(share > 0 && share <= 1)) {
    throw new RolloutPolicyError(
      `canary.budget.maxFirstStepBudgetShare must be in (0, 1], got ${JSON.stringify(share)}`,
    );
  }
  const { slo } = budget;
  if (!Number.isInteger(slo.periodDays) || slo.periodDays < 1) {
    throw new RolloutPolicyError(`slo.periodDays must be a whole number >= 1, got ${slo.periodDays}`);
  }
  const issues = [
    ...objectiveIssues({ sli: 'availability', target: slo.availability.target }).map(
      (i) => `slo.availability.${i}`,
    ),
    ...objectiveIssues({ sli: 'latency', ...slo.latency }).map((i) => `slo.latency.${i}`),
  ];
  if (issues.length > 0) throw new RolloutPolicyError(issues.join('; '));
}

const emptyLooks = (): RolloutState['looks'] => ({ errors: [], slow: [], invalidInput: [] });

function ended(
  base: Pick<RolloutState, 'model' | 'version' | 'executionId'>,
  next: RolloutNext,
  reason: string,
  extra: Partial<RolloutState> = {},
): RolloutState {
  return {
    ...base,
    next,
    reason,
    step: 0,
    weight: 0,
    startedAtMs: 0,
    stepStartedAtMs: 0,
    extensions: 0,
    waits: 0,
    looks: emptyLooks(),
    verdicts: [],
    ...extra,
  };
}

/** Audit ids derived from the execution and what it did, so a retried Task appends nothing twice. */
export function rolloutEvent(
  state: Pick<RolloutState, 'model' | 'version' | 'executionId'>,
  type: AuditEventType,
  key: string,
  nowMs: number,
  details: Readonly<Record<string, unknown>>,
): AuditEvent {
  const at = new Date(nowMs).toISOString();
  return {
    model: state.model,
    eventId: derivedEventId(at, `${state.executionId}\n${type}\n${key}`),
    at,
    type,
    version: state.version,
    actor: state.executionId,
    details,
  };
}

/**
 * StartRollout: decides how the registered `version` goes live.
 *
 * - No policy (canary off for the model): `skipped`, the version stays REGISTERED (promote it by hand).
 * - The model has no stable version: the version is promoted at once (`promoted`); there is nothing to compare with.
 * - Another execution holds an unexpired lock: `locked` (wait and retry) or `lock-timeout`, per `policy.lock`.
 * - The budget gate (`policy.budget.gate`) reads the model's error budget: exhausted (or too small for even the
 *   smallest first step) and the version not forced → `budget-exhausted`, audited ROLLOUT_REFUSED, nothing else
 *   written. A forced version (`budget.force`) passes uncapped, audited ROLLOUT_FORCED with the budget.
 * - Otherwise one conditional write takes the lock and names the candidate at weight 0 — no traffic reaches it until
 *   DeployCandidate has made it servable and BeginCanary routes `plannedWeight` (`steps[0]`, capped by the budget):
 *   `deploy`.
 *
 * A retry of this execution after its write landed finds its own lock and resumes from the record.
 */
export async function startRollout(
  stores: StartRolloutDeps,
  input: {
    readonly model: string;
    readonly version: string;
    readonly executionId: string;
    readonly policy: RolloutPolicy | undefined;
    readonly nowMs: number;
    /** Lock waits so far (the state machine passes back what the last `locked` returned). */
    readonly waits?: number;
  },
): Promise<RolloutState> {
  const { model, version, executionId, policy, nowMs } = input;
  const base = { model, version, executionId };
  if (policy === undefined) {
    return ended(
      base,
      'skipped',
      'canary is off for this model (models[].canary.enabled); promote it by hand',
    );
  }
  checkRolloutPolicy(policy);
  const [record, versionRecord] = await Promise.all([
    stores.deployments.getDeployment(model),
    stores.versions.getVersion(model, version),
  ]);
  if (versionRecord?.status !== 'REGISTERED') {
    throw new RoutingChangeRefusedError(
      `${model} ${version} is not REGISTERED; nothing to roll out`,
      'version',
    );
  }
  const now = new Date(nowMs).toISOString();
  if (record?.rollout?.executionId === executionId) return resumed(base, policy, record);
  if (record?.stable === undefined) {
    const revision = (record?.revision ?? 0) + 1;
    await stores.deployments.putDeployment(
      { model, stable: version, weight: 0, mode: 'canary', revision, updatedAt: now },
      { expectedRevision: record?.revision },
    );
    await appendAuditOnce(
      stores.audit,
      rolloutEvent(base, 'PROMOTED', 'first', nowMs, {
        previousStable: null,
        stable: version,
        reason: 'FIRST_VERSION',
        revision,
      }),
    );
    await labelStages(stores.stages, model, revision, now, promotionLabels(version, undefined));
    return ended(base, 'promoted', 'first version of the model: promoted without a canary', {
      stable: version,
      policy,
    });
  }
  if (record.stable === version) {
    // Also the retry of a first-version promotion whose label was not written: LIVE as of the current revision.
    await labelStages(
      stores.stages,
      model,
      record.revision,
      record.updatedAt,
      promotionLabels(version, undefined),
    );
    return ended(base, 'skipped', `${version} is already the stable version`, { stable: version });
  }
  const holder = record.rollout;
  if (holder !== undefined && Date.parse(holder.expiresAt) > nowMs) {
    const waits = (input.waits ?? 0) + 1;
    const timedOut = policy.lock.onLocked === 'fail' || waits > policy.lock.maxWaits;
    return ended(
      base,
      timedOut ? 'lock-timeout' : 'locked',
      `${model} is being rolled out by ${holder.executionId} (candidate ${holder.candidate}) until ` +
        `${holder.expiresAt}; ${timedOut ? 'this release gives up' : 'waiting'}`,
      { waits, policy, stable: record.stable },
    );
  }
  const gate = await budgetGate(stores, base, policy, record.stable, nowMs);
  if (gate.refused !== undefined) return gate.refused;
  const plannedWeight = gate.weight;
  const revision = record.revision + 1;
  const lock = {
    executionId,
    candidate: version,
    startedAt: now,
    expiresAt: new Date(nowMs + policy.lock.ttlMinutes * 60_000).toISOString(),
    plannedWeight,
  };
  await stores.deployments.putDeployment(
    {
      model,
      stable: record.stable,
      candidate: version,
      // Named, not routed: the candidate is deployed (warmed, smoke-tested, given capacity) before any traffic.
      weight: 0,
      mode: 'canary',
      revision,
      updatedAt: now,
      rollout: lock,
    },
    { expectedRevision: record.revision },
  );
  await appendAuditOnce(
    stores.audit,
    rolloutEvent(base, 'ROLLOUT_STARTED', 'start', nowMs, {
      stable: record.stable,
      weight: 0,
      plannedWeight,
      steps: policy.steps,
      bakeSeconds: policy.bakeSeconds,
      dryRun: policy.dryRun,
      revision,
      ...gate.details,
      ...(holder !== undefined ? { tookOverExpiredLock: holder } : {}),
    }),
  );
  return {
    ...base,
    next: 'deploy',
    stable: record.stable,
    stableAtStart: record.stable,
    policy,
    step: 0,
    weight: 0,
    plannedWeight,
    startedAtMs: nowMs,
    stepStartedAtMs: nowMs,
    extensions: 0,
    waits: input.waits ?? 0,
    looks: emptyLooks(),
    verdicts: [],
  };
}

/**
 * The budget gate before the lock (./rollout-budget.ts): the weight to route and what ROLLOUT_STARTED records, or the
 * refusal. Appends ROLLOUT_REFUSED or ROLLOUT_FORCED; writes nothing else.
 */
async function budgetGate(
  stores: StartRolloutDeps,
  base: Pick<RolloutState, 'model' | 'version' | 'executionId'>,
  policy: RolloutPolicy,
  stable: string,
  nowMs: number,
): Promise<{
  readonly weight: number;
  readonly details: Readonly<Record<string, unknown>>;
  readonly refused?: RolloutState;
}> {
  const first = policy.steps[0]!;
  const budget = policy.budget;
  if (budget === undefined || !budget.gate) return { weight: first, details: {} };
  if (stores.metrics === undefined) {
    throw new RolloutPolicyError(
      'canary.budget.gate is on but StartRollout was given no MetricsReader; wire one (or set canary.budget.gate: false)',
    );
  }
  const read = await readModelBudget(stores.metrics, base.model, budget.slo, nowMs);
  const plan: FirstStepPlan = firstStepPlan(
    read,
    {
      steps: policy.steps,
      bakeSeconds: policy.bakeSeconds,
      maxFirstStepBudgetShare: budget.maxFirstStepBudgetShare,
    },
    base,
  );
  const summary = budgetSummary(read, plan);
  const forced = budget.force.find((f) => f.version === base.version);
  if (forced !== undefined) {
    // Forcing overrides the budget input as a whole: the operator chose to spend budget on this version (a hotfix
    // of what is burning it, typically); the judge still guards the canary.
    await appendAuditOnce(
      stores.audit,
      rolloutEvent(base, 'ROLLOUT_FORCED', 'force', nowMs, {
        reason: forced.reason,
        stable,
        weight: first,
        overrode: plan.outcome === 'refuse' ? plan.code : plan.cappedFrom !== undefined ? 'WEIGHT_CAP' : null,
        budget: summary,
      }),
    );
    return { weight: first, details: { budget: summary, forced: true } };
  }
  if (plan.outcome === 'refuse') {
    await appendAuditOnce(
      stores.audit,
      rolloutEvent(base, 'ROLLOUT_REFUSED', 'refuse', nowMs, {
        reason: plan.code,
        message: plan.reason,
        stable,
        objective: plan.objective.sli,
        budget: summary,
      }),
    );
    return {
      weight: 0,
      details: {},
      refused: ended(base, 'budget-exhausted', plan.reason, { stable, policy }),
    };
  }
  return {
    weight: plan.weight,
    details: {
      budget: summary,
      ...(plan.cappedFrom !== undefined ? { weightCappedFrom: plan.cappedFrom } : {}),
    },
  };
}

function resumed(
  base: Pick<RolloutState, 'model' | 'version' | 'executionId'>,
  policy: RolloutPolicy,
  record: DeploymentRecord,
): RolloutState {
  const startedAtMs = Date.parse(record.rollout!.startedAt);
  const step = Math.max(0, policy.steps.indexOf(record.weight));
  // Weight 0: BeginCanary has not routed yet, so the candidate is (re)deployed first; DeployCandidate is idempotent.
  const deploying = record.weight === 0;
  return {
    ...base,
    next: deploying ? 'deploy' : 'bake',
    stable: record.stable,
    stableAtStart: record.stable,
    policy,
    step,
    weight: record.weight,
    ...(deploying ? { plannedWeight: record.rollout!.plannedWeight ?? policy.steps[0]! } : {}),
    startedAtMs,
    stepStartedAtMs: startedAtMs,
    extensions: 0,
    waits: 0,
    looks: emptyLooks(),
    verdicts: [],
  };
}

export function ownsLock(record: DeploymentRecord | undefined, state: RolloutState): boolean {
  return record?.rollout?.executionId === state.executionId && record.candidate === state.version;
}

const MINUTE_MS = 60_000;
/** Verdicts kept in the execution state (each ~2 KB); every verdict is in the audit log. */
export const MAX_VERDICTS_IN_STATE = 5;

/** The queries of one analysis: per version, cumulative since the rollout started (and p99 over the step). */
export function canaryQueries(model: string, stable: string, candidate: string): MetricQuery[] {
  const dims = (version: string) => ({
    [METRIC_DIMENSIONS.model]: model,
    [METRIC_DIMENSIONS.version]: version,
  });
  const arms = [
    ['c', candidate],
    ['s', stable],
  ] as const;
  return arms.flatMap(([id, version]) => [
    {
      id: `${id}req`,
      metricName: INFERENCE_METRICS.requests,
      dimensions: dims(version),
      stat: 'Sum' as const,
    },
    { id: `${id}err`, metricName: INFERENCE_METRICS.errors, dimensions: dims(version), stat: 'Sum' as const },
    {
      id: `${id}inv`,
      metricName: INFERENCE_METRICS.invalidInput,
      dimensions: dims(version),
      stat: 'Sum' as const,
    },
    // One SlowRequests datum per answered request: SampleCount is the answered count, Sum the slow ones.
    {
      id: `${id}ans`,
      metricName: INFERENCE_METRICS.slowRequests,
      dimensions: dims(version),
      stat: 'SampleCount' as const,
    },
    {
      id: `${id}slow`,
      metricName: INFERENCE_METRICS.slowRequests,
      dimensions: dims(version),
      stat: 'Sum' as const,
    },
    {
      id: `${id}p99`,
      metricName: INFERENCE_METRICS.latency,
      dimensions: dims(version),
      stat: 'p99' as const,
    },
    {
      id: `${id}fb`,
      metricName: INFERENCE_METRICS.fallbacks,
      dimensions: dims(version),
      stat: 'Sum' as const,
    },
  ]);
}

/**
 * A retrained candidate (lineage.retrain) is trained to predict differently from the version it replaces, and its
 * quality was gated on held-out data by the champion gate: only the hard limit `maxPredictionShift` applies to it,
 * not the "proven small shift" rule (`minPredictionShift`), which would roll back exactly the change retraining
 * was for (docs/rollout-judge.md#guards).
 */
function predictionPolicy(
  judge: Partial<CanaryPolicy> | undefined,
  prediction: CanaryPredictionInput,
): Partial<CanaryPolicy> {
  if (prediction.kind !== 'read' || !prediction.candidateRetrained) return judge ?? {};
  const hard = judge?.maxPredictionShift ?? DEFAULT_CANARY_POLICY.maxPredictionShift;
  return { ...judge, minPredictionShift: hard };
}

/**
 * AnalyzeCanary: one look. Reads the candidate's and the stable version's counts over the same window (since the
 * rollout started; p99 over the current step), appends the look, judges it and records the verdict. `next`:
 * `rollback` on a failed check (or exhausted extensions), `step` / `promote` when the step passed, `bake` when the
 * judge needs more samples (the step's bake is extended), `superseded` when the lock is no longer this execution's.
 * In a dry run every verdict is recorded and the rollout moves on as if it passed; it never promotes.
 *
 * With `predictions`, the prediction-shift check gets both versions' prediction bins since the rollout started, in
 * whole DriftCounters buckets (./canary-predictions.ts); the verdict's audit event records them, or why the check
 * was skipped, as `predictionInput`.
 */
export async function analyzeCanary(
  deps: {
    readonly deployments: DeploymentStore;
    readonly audit: AuditLogStore;
    readonly metrics: MetricsReader;
    /**
     * Where the versions' prediction bins are read (their manifests' prediction baselines and the DriftCounters
     * table).
     * @default - none: the prediction-shift check is skipped
     */
    readonly predictions?: CanaryPredictionDeps;
  },
  state: RolloutState,
  nowMs: number,
): Promise<RolloutState> {
  const policy = state.policy;
  if (policy === undefined || state.stable === undefined) {
    throw new RolloutPolicyError('rollout state has no policy or stable version; start it with StartRollout');
  }
  const record = await deps.deployments.getDeployment(state.model);
  if (!ownsLock(record, state)) return endedElsewhere(record, state);
  const startMs = Math.floor(state.startedAtMs / MINUTE_MS) * MINUTE_MS;
  const endMs = Math.max(nowMs, startMs + MINUTE_MS);
  const [series, prediction] = await Promise.all([
    deps.metrics.read({
      queries: canaryQueries(state.model, state.stable, state.version),
      startMs,
      endMs,
      periodSeconds: 60,
    }),
    deps.predictions === undefined
      ? ({
          kind: 'skipped',
          reason: 'AnalyzeCanary has no prediction-count reader wired',
        } satisfies CanaryPredictionInput)
      : readCanaryPredictionBins(deps.predictions, {
          model: state.model,
          stable: state.stable,
          candidate: state.version,
          startedAtMs: state.startedAtMs,
          nowMs,
        }),
  ]);
  const byId = new Map(series.map((s) => [s.id, s]));
  const sum = (id: string) => (byId.get(id)?.values ?? []).reduce<number>((a, v) => a + (v ?? 0), 0);
  const stepStart = Math.floor(state.stepStartedAtMs / MINUTE_MS) * MINUTE_MS;
  // p99 does not add up across periods: the request-weighted mean of the step's per-minute p99s approximates it.
  const p99 = (arm: 'c' | 's'): number | null => {
    const latency = byId.get(`${arm}p99`);
    const answered = byId.get(`${arm}ans`);
    if (latency === undefined || answered === undefined) return null;
    let weighted = 0;
    let total = 0;
    latency.values.forEach((v, i) => {
      const n = answered.values[i] ?? 0;
      if (v === null || latency.timestamps[i]! < stepStart || n === 0) return;
      weighted += v * n;
      total += n;
    });
    return total === 0 ? null : weighted / total;
  };
  const stepAnswered = (arm: 'c' | 's') => {
    const answered = byId.get(`${arm}ans`);
    return (answered?.values ?? []).reduce<number>(
      (a, v, i) => a + (answered!.timestamps[i]! >= stepStart ? (v ?? 0) : 0),
      0,
    );
  };
  const look = (bad: string, total: string): CountLook => ({
    candidate: { requests: sum(`c${total}`), bad: sum(`c${bad}`) },
    stable: { requests: sum(`s${total}`), bad: sum(`s${bad}`) },
  });
  const looks = {
    errors: [...state.looks.errors, look('err', 'req')],
    slow: [...state.looks.slow, look('slow', 'ans')],
    invalidInput: [...state.looks.invalidInput, look('inv', 'req')],
  };
  const judgePolicy = resolveCanaryPolicy(predictionPolicy(policy.judge, prediction));
  const verdict = judgeCanary(judgePolicy, {
    ...looks,
    latency: { candidateP99Ms: p99('c'), stableP99Ms: p99('s'), candidateRequests: stepAnswered('c') },
    candidateFallbacks: sum('cfb'),
    ...(prediction.kind === 'read' ? { predictionBins: prediction.bins } : {}),
    candidateWeight: state.weight,
    bakeComplete: true,
    extensions: state.extensions,
  });
  const record_: VerdictRecord = {
    look: looks.errors.length,
    step: state.step,
    weight: state.weight,
    decision: verdict.decision,
    reasonCode: verdict.reasonCode,
    checks: jsonSafe(verdict.checks),
  };
  await appendAuditOnce(
    deps.audit,
    rolloutEvent(state, 'CANARY_VERDICT', `look-${record_.look}`, nowMs, {
      ...record_,
      predictionInput: predictionInputSummary(prediction),
      dryRun: policy.dryRun,
    }),
  );
  const last = state.step === policy.steps.length - 1;
  const passed = verdict.decision === 'promote-step';
  const exhausted = verdict.decision === 'exhausted';
  const hold = exhausted && judgePolicy.onExhausted === 'hold';
  const failed = verdict.decision === 'rollback' || (exhausted && !hold);
  let next: RolloutNext;
  if (policy.dryRun) next = passed || failed || hold ? (last ? 'dry-run-done' : 'step') : 'bake';
  else if (hold) next = 'hold';
  else if (failed) next = 'rollback';
  else if (passed) next = last ? 'promote' : 'step';
  else next = 'bake';
  return {
    ...state,
    next,
    reason: verdict.reasonCode,
    looks,
    // The latest verdicts only: the execution state must stay far below Step Functions' 256 KB; the audit log has all.
    verdicts: [...state.verdicts, record_].slice(-MAX_VERDICTS_IN_STATE),
    extensions: verdict.decision === 'inconclusive' ? state.extensions + 1 : state.extensions,
  };
}

/**
 * The lock is no longer this execution's. A rollback by a candidate alarm or `modelops rollback` left its reason in
 * `endedRollout`: the execution ends RolledBack with it. Anything else (a manual promote, route, unlock or another
 * execution's takeover) ends it Superseded.
 */
export function endedElsewhere(record: DeploymentRecord | undefined, state: RolloutState): RolloutState {
  const ending = record?.endedRollout;
  if (ending?.executionId === state.executionId && ending.outcome === 'ROLLED_BACK') {
    return {
      ...state,
      next: 'rolled-back',
      reason: ending.reason,
      weight: 0,
      endedBy: { actor: ending.actor, at: ending.at, ...(ending.detail ? { detail: ending.detail } : {}) },
    };
  }
  return { ...state, next: 'superseded', reason: supersededReason(record, state) };
}

function supersededReason(record: DeploymentRecord | undefined, state: RolloutState): string {
  const holder = record?.rollout?.executionId;
  return holder === undefined
    ? `the rollout lock of ${state.model} was released by someone else (a manual promote, route or unlock)`
    : `the rollout lock of ${state.model} is now held by ${holder}`;
}

/**
 * NextStep, Promote, Rollback and AbortRollout: one conditional write of the routing record, then one audit event.
 *
 * - `step`: the candidate's weight moves to the next step; the bake starts again.
 * - `promote`: stable := candidate, no candidate, lock released (PROMOTED); then the candidate is labelled LIVE and
 *   the previous stable version STANDBY.
 * - `rollback`: the candidate is cleared, lock released, stable serves 100 % (ROLLED_BACK with the verdict's reason);
 *   then the candidate is labelled ROLLED_BACK with that reason.
 * - `abort`: like rollback, after a failed step (ROLLOUT_ABORTED with the error); a no-op when the lock is not ours.
 *   Needs only the model, version and execution of `state` (after a StartRollout failure nothing more is known).
 * - `finish-dry-run`: like rollback, audited as the end of a dry run (the verdicts are the result).
 * - `begin` (BeginCanary), `begin-shadow` (BeginShadow) and `deploy-failed` (ClearFailedCandidate): see
 *   {@link beginCanary}, {@link beginShadow} and {@link clearFailedCandidate}, which also decide for themselves what a
 *   lock that is not theirs means.
 *
 * A write that already landed (a retry after a crash) is recognised from the record and not repeated; its stage
 * labels are written again (./version-stages.ts), so a crash between the routing write and the labels is repaired.
 */
export async function advanceRollout(
  stores: Pick<RolloutStores, 'deployments' | 'audit' | 'stages'>,
  state: RolloutState,
  action:
    'step' | 'promote' | 'rollback' | 'abort' | 'finish-dry-run' | 'begin' | 'deploy-failed' | 'begin-shadow',
  nowMs: number,
  error?: unknown,
): Promise<RolloutState> {
  if (action === 'begin') return beginCanary(stores, state, nowMs);
  if (action === 'begin-shadow') return beginShadow(stores, state, nowMs);
  if (action === 'deploy-failed') return clearFailedCandidate(stores, state, nowMs, error);
  const record = await stores.deployments.getDeployment(state.model);
  const now = new Date(nowMs).toISOString();
  if (!ownsLock(record, state)) {
    const ending = endedElsewhere(record, state);
    if (ending.next === 'rolled-back' && action !== 'promote') return ending;
    const done =
      action === 'promote' ? record?.stable === state.version : record?.candidate !== state.version;
    if (action === 'abort' || (done && action !== 'step')) {
      // A retry after the routing write landed: the audit event and the labels may not have been written yet.
      if (done && record !== undefined) {
        if (landedHere(record, state, action)) {
          await appendAuditOnce(stores.audit, finalEvent(state, action, record, error));
        }
        await relabel(stores, state, action, record);
      }
      return { ...state, next: action === 'promote' ? 'promoted' : 'rolled-back', reason: state.reason };
    }
    throw new RolloutSupersededError(supersededReason(record, state));
  }
  const owned = record!;
  const revision = owned.revision + 1;
  const policy = state.policy!;
  if (action === 'step') {
    const step = state.step + 1;
    const weight = policy.steps[step]!;
    const key = `step-${step}`;
    // A retry after this write landed finds it by its marker: no second write, the event under the first one's id.
    const landed = landedHere(owned, state, key);
    const at = landed ? owned.lastChange!.at : now;
    const writtenRevision = landed ? owned.revision : revision;
    if (!landed) {
      await stores.deployments.putDeployment(
        { ...owned, weight, revision, updatedAt: now, lastChange: change(state, key, now) },
        { expectedRevision: owned.revision },
      );
    }
    await appendAuditOnce(
      stores.audit,
      rolloutEvent(state, 'TRAFFIC_SHIFTED', key, Date.parse(at), {
        from: state.weight,
        weight,
        step,
        revision: writtenRevision,
      }),
    );
    return { ...state, next: 'bake', step, weight, stepStartedAtMs: Date.parse(at), extensions: 0 };
  }
  const { rollout: _released, candidate: _cleared, ...rest } = owned;
  if (action === 'promote') {
    const promoted: DeploymentRecord = {
      ...rest,
      stable: state.version,
      weight: 0,
      mode: 'canary',
      revision,
      updatedAt: now,
      lastChange: change(state, action, now),
    };
    await stores.deployments.putDeployment(promoted, { expectedRevision: owned.revision });
    await appendAuditOnce(stores.audit, finalEvent(state, action, promoted));
    await labelStages(
      stores.stages,
      state.model,
      revision,
      now,
      promotionLabels(state.version, owned.stable),
    );
    return { ...state, next: 'promoted', reason: 'CANARY_PASSED', stable: state.version, weight: 0 };
  }
  const cleared: DeploymentRecord = {
    ...rest,
    weight: 0,
    // Shadow mode without a candidate means nothing; a later manual route starts from canary.
    mode: 'canary',
    revision,
    updatedAt: now,
    lastChange: change(state, action, now),
  };
  await stores.deployments.putDeployment(cleared, { expectedRevision: owned.revision });
  await appendAuditOnce(stores.audit, finalEvent(state, action, cleared, error));
  if (action === 'rollback') {
    await labelStages(stores.stages, state.model, revision, now, [rolledBackLabel(state)]);
  }
  return {
    ...state,
    next: action === 'finish-dry-run' ? 'dry-run-done' : 'rolled-back',
    reason: action === 'abort' ? 'ABORTED' : state.reason,
    weight: 0,
  };
}

/**
 * BeginCanary, after DeployCandidate reported the candidate ready: one conditional write routes `plannedWeight` to it
 * (TRAFFIC_SHIFTED from 0, step 0), and the canary's window starts then — the deploy phase, in which the candidate
 * had no traffic, is not judged. A retry after the write landed finds the weight routed and writes nothing more. A lock
 * that is no longer this execution's: a rollback from outside (alarm, `modelops rollback`) ends RolledBack with its
 * reason; anything else is RolloutSupersededError.
 */
async function beginCanary(
  stores: Pick<RolloutStores, 'deployments' | 'audit'>,
  state: RolloutState,
  nowMs: number,
): Promise<RolloutState> {
  const policy = state.policy;
  if (policy === undefined || state.stable === undefined) {
    throw new RolloutPolicyError('rollout state has no policy or stable version; start it with StartRollout');
  }
  const record = await stores.deployments.getDeployment(state.model);
  if (!ownsLock(record, state)) {
    const ending = endedElsewhere(record, state);
    if (ending.next === 'rolled-back') return ending;
    throw new RolloutSupersededError(supersededReason(record, state));
  }
  const owned = record!;
  const planned = state.plannedWeight ?? policy.steps[0]!;
  // Only BeginCanary routes a weight while the candidate is at 0, so a routed weight is this Task's earlier write;
  // the event then carries that write's time, so its id is the one the first attempt appended (or should have).
  const landed = owned.weight > 0;
  const weight = landed ? owned.weight : planned;
  const beganMs = landed ? Date.parse(owned.updatedAt) : nowMs;
  let revision = owned.revision;
  if (!landed) {
    revision += 1;
    // mode: a shadow phase before (./shadow-phase.ts) left the record in shadow mode, where the weight is ignored.
    await stores.deployments.putDeployment(
      { ...owned, weight, mode: 'canary', revision, updatedAt: new Date(nowMs).toISOString() },
      { expectedRevision: owned.revision },
    );
  }
  await appendAuditOnce(
    stores.audit,
    rolloutEvent(state, 'TRAFFIC_SHIFTED', 'begin', beganMs, {
      from: 0,
      weight,
      step: 0,
      revision,
      reason: 'CANDIDATE_DEPLOYED',
    }),
  );
  return {
    ...state,
    next: 'bake',
    step: 0,
    weight,
    startedAtMs: beganMs,
    stepStartedAtMs: beganMs,
    extensions: 0,
  };
}

/**
 * BeginShadow, after DeployCandidate reported the candidate ready: one conditional write puts the routing record in
 * mode `shadow` (candidate kept, weight 0), audited TRAFFIC_SHIFTED `{mode: 'shadow'}`; the shadow window starts then.
 * A retry after the write landed finds the record in shadow mode under this execution's lock and writes nothing
 * (the event carries that write's time, so its id is the first attempt's). A lock that is no longer this
 * execution's: a rollback from outside ends RolledBack with its reason; anything else is RolloutSupersededError.
 */
async function beginShadow(
  stores: Pick<RolloutStores, 'deployments' | 'audit'>,
  state: RolloutState,
  nowMs: number,
): Promise<RolloutState> {
  if (state.policy?.shadow === undefined) {
    throw new RolloutPolicyError(
      'the rollout policy has no shadow phase (models[].canary.shadow.enabled); BeginCanary follows the deploy',
    );
  }
  const record = await stores.deployments.getDeployment(state.model);
  if (!ownsLock(record, state)) {
    const ending = endedElsewhere(record, state);
    if (ending.next === 'rolled-back') return ending;
    throw new RolloutSupersededError(supersededReason(record, state));
  }
  const owned = record!;
  const landed = owned.mode === 'shadow';
  const beganMs = landed ? Date.parse(owned.updatedAt) : nowMs;
  let revision = owned.revision;
  if (!landed) {
    revision += 1;
    await stores.deployments.putDeployment(
      { ...owned, weight: 0, mode: 'shadow', revision, updatedAt: new Date(nowMs).toISOString() },
      { expectedRevision: owned.revision },
    );
  }
  await appendAuditOnce(
    stores.audit,
    rolloutEvent(state, 'TRAFFIC_SHIFTED', 'begin-shadow', beganMs, {
      from: 0,
      weight: 0,
      mode: 'shadow',
      revision,
      reason: 'CANDIDATE_DEPLOYED',
    }),
  );
  return {
    ...state,
    next: 'shadow-bake',
    weight: 0,
    shadowStartedAtMs: beganMs,
    shadowLooks: [],
    extensions: 0,
  };
}

/** The reason code DeployCandidate puts first in a TargetDeployFailedError's message (`<CODE>: <message>`). */
const DEPLOY_FAILURE_MESSAGE = /^([A-Z][A-Z0-9_]{1,63}): ([\s\S]*)$/;

/**
 * The target's reason code and message from the Catch output `{ Error, Cause }` of a failed DeployCandidate or
 * PollCandidate: Cause is the Lambda error document, whose errorMessage starts with the code.
 */
export function deployFailureOf(error: unknown): { readonly reasonCode: string; readonly message: string } {
  const e = (typeof error === 'object' && error !== null ? error : {}) as {
    Error?: unknown;
    Cause?: unknown;
  };
  const cause = typeof e.Cause === 'string' ? e.Cause : '';
  // Not the Lambda error document: the Cause as it is.
  const message = lambdaErrorOf(cause)?.message ?? cause;
  const match = DEPLOY_FAILURE_MESSAGE.exec(message);
  return match
    ? { reasonCode: match[1]!, message: match[2]!.slice(0, 1000) }
    : { reasonCode: typeof e.Error === 'string' ? e.Error : 'UNKNOWN', message: message.slice(0, 1000) };
}

/**
 * ClearFailedCandidate, after DeployCandidate or PollCandidate threw TargetDeployFailedError: the candidate never
 * received traffic; one conditional write clears it and releases the lock (stable keeps 100 %), audited ROLLED_BACK
 * with reason DEPLOY_FAILED and the target's reason code. `next: 'deploy-failed'`, `reason` says why, for the
 * execution's Cause. Like `rollback` when the lock is no longer ours.
 */
async function clearFailedCandidate(
  stores: Pick<RolloutStores, 'deployments' | 'audit' | 'stages'>,
  state: RolloutState,
  nowMs: number,
  error: unknown,
): Promise<RolloutState> {
  const failure = deployFailureOf(error);
  const reason = `DEPLOY_FAILED (${failure.reasonCode}): ${failure.message}`;
  const record = await stores.deployments.getDeployment(state.model);
  if (!ownsLock(record, state)) {
    const ending = endedElsewhere(record, state);
    if (ending.next === 'rolled-back') return ending;
    // A retry after this write landed: the candidate is already cleared. When the write is ours (its marker), the
    // audit event and the label may not have landed: record them under the first attempt's time and id.
    if (record?.candidate !== state.version) {
      if (record !== undefined && landedHere(record, state, 'deploy-failed')) {
        await recordDeployFailure(stores, state, record, failure);
      }
      return { ...state, next: 'deploy-failed', reason, weight: 0 };
    }
    throw new RolloutSupersededError(supersededReason(record, state));
  }
  const owned = record!;
  const now = new Date(nowMs).toISOString();
  const { rollout: _released, candidate: _cleared, ...rest } = owned;
  const cleared: DeploymentRecord = {
    ...rest,
    weight: 0,
    mode: 'canary',
    revision: owned.revision + 1,
    updatedAt: now,
    lastChange: change(state, 'deploy-failed', now),
  };
  await stores.deployments.putDeployment(cleared, { expectedRevision: owned.revision });
  await recordDeployFailure(stores, state, cleared, failure);
  return { ...state, next: 'deploy-failed', reason, weight: 0 };
}

/** The audit event and the stage label of ClearFailedCandidate's write, built from that write (so a retry matches). */
async function recordDeployFailure(
  stores: Pick<RolloutStores, 'audit' | 'stages'>,
  state: RolloutState,
  written: DeploymentRecord,
  failure: { readonly reasonCode: string; readonly message: string },
): Promise<void> {
  const at = written.lastChange?.at ?? written.updatedAt;
  await appendAuditOnce(
    stores.audit,
    rolloutEvent(state, 'ROLLED_BACK', 'deploy-failed', Date.parse(at), {
      stable: written.stable ?? null,
      clearedCandidate: state.version,
      weight: 0,
      revision: written.revision,
      reason: 'DEPLOY_FAILED',
      targetReason: failure.reasonCode,
      message: failure.message,
    }),
  );
  await labelStages(stores.stages, state.model, written.revision, at, [
    { version: state.version, value: 'ROLLED_BACK', reason: 'DEPLOY_FAILED' },
  ]);
}

function rolledBackLabel(state: RolloutState): StageLabel {
  return {
    version: state.version,
    value: 'ROLLED_BACK',
    ...(state.reason !== undefined ? { reason: state.reason } : {}),
  };
}

/**
 * The labels of a promote or rollback found already landed, as of the record's current revision (the retry follows
 * the write within seconds; an older label is replaced, a newer one kept). A rollback is not labelled once the version
 * is stable again (someone promoted it meanwhile). Aborts and dry runs label nothing: no one judged the version.
 */
function change(state: RolloutState, action: string, at: string): RolloutChange {
  return { executionId: state.executionId, action, at };
}

/** Whether `record` is this execution's own write for `action` (so a retry must not write it again). */
function landedHere(record: DeploymentRecord, state: RolloutState, action: string): boolean {
  return record.lastChange?.executionId === state.executionId && record.lastChange.action === action;
}

/**
 * The audit event of a promote, rollback, abort or dry-run end, from the record that write produced: built the same
 * on the first attempt and on a retry that finds the write landed (same time, hence the same id).
 */
function finalEvent(
  state: RolloutState,
  action: 'promote' | 'rollback' | 'abort' | 'finish-dry-run' | 'step',
  written: DeploymentRecord,
  error?: unknown,
): AuditEvent {
  const atMs = Date.parse(written.lastChange?.at ?? written.updatedAt);
  if (action === 'promote') {
    return rolloutEvent(state, 'PROMOTED', 'promote', atMs, {
      previousStable: state.stable ?? null,
      stable: state.version,
      reason: 'CANARY_PASSED',
      looks: state.looks.errors.length,
      revision: written.revision,
    });
  }
  const type: AuditEventType =
    action === 'rollback' ? 'ROLLED_BACK' : action === 'abort' ? 'ROLLOUT_ABORTED' : 'TRAFFIC_SHIFTED';
  return rolloutEvent(state, type, action, atMs, {
    stable: written.stable ?? null,
    clearedCandidate: state.version,
    weight: 0,
    revision: written.revision,
    ...(action === 'rollback'
      ? { reason: state.reason ?? null, verdict: state.verdicts.at(-1) ?? null }
      : action === 'abort'
        ? { error: errorSummary(error) }
        : { reason: 'DRY_RUN_COMPLETE', looks: state.looks.errors.length }),
  });
}

async function relabel(
  stores: Pick<RolloutStores, 'stages'>,
  state: RolloutState,
  action: Parameters<typeof advanceRollout>[2],
  record: DeploymentRecord,
): Promise<void> {
  const labels =
    action === 'promote'
      ? promotionLabels(state.version, state.stable)
      : action === 'rollback' && record.stable !== state.version
        ? [rolledBackLabel(state)]
        : [];
  await labelStages(stores.stages, state.model, record.revision, record.updatedAt, labels);
}

/** The smallest magnitude DynamoDB stores; a smaller non-zero number fails the write ("Number underflow"). */
const DYNAMODB_MIN_MAGNITUDE = 1e-130;

/**
 * The checks as JSON and DynamoDB can hold them: an infinite e-value or ratio (a candidate failing where stable never
 * did) becomes the string "Infinity", and one beyond Number.MAX_SAFE_INTEGER (an e-value of 1e107 after a few hundred
 * failures, which the DynamoDB marshaller refuses as imprecise) its string too, instead of breaking the ledger write.
 * So does a number too small for DynamoDB (the p-value 6e-264 of a candidate failing half of 2000 requests).
 */
export function jsonSafe(checks: readonly CheckResult[]): CheckResult[] {
  return JSON.parse(
    JSON.stringify(checks, (_key, value: unknown) =>
      typeof value === 'number' &&
      (!(Math.abs(value) <= Number.MAX_SAFE_INTEGER) ||
        (value !== 0 && Math.abs(value) < DYNAMODB_MIN_MAGNITUDE))
        ? String(value)
        : value,
    ),
  ) as CheckResult[];
}

/** Step Functions' Catch output `{ Error, Cause }`, shortened for the ledger. */
function errorSummary(error: unknown): Record<string, string> {
  if (typeof error === 'object' && error !== null) {
    const e = error as { Error?: unknown; Cause?: unknown };
    return {
      error: typeof e.Error === 'string' ? e.Error : 'unknown',
      cause: typeof e.Cause === 'string' ? e.Cause.slice(0, 1000) : '',
    };
  }
  return { error: String(error) };
}
