/**
 * The shadow phase between DeployCandidate and the canary (docs/rollout.md "Shadow phase"; release.asl.json
 * BeginShadow → ShadowBake → AnalyzeShadow → ShadowRoute): BeginShadow (./rollout.ts `advanceRollout`
 * `begin-shadow`) puts the routing record in mode `shadow` (stable answers every request, the candidate runs on each
 * and only the comparison is recorded, lambdas/inference/shadow-hook.ts), and each look here judges the comparisons
 * since the phase started (./shadow-judge.ts). A pass goes on to BeginCanary,
 * which routes the first step and switches the record back to mode `canary`. Pure of AWS, like ./rollout.ts.
 */
import { appendAuditOnce } from './audit';
import { resolveCanaryPolicy } from './canary-judge';
import {
  INFERENCE_METRICS,
  METRIC_DIMENSIONS,
  type AuditLogStore,
  type DeploymentStore,
  type MetricQuery,
  type MetricsReader,
} from './ports';
import {
  endedElsewhere,
  jsonSafe,
  MAX_VERDICTS_IN_STATE,
  ownsLock,
  rolloutEvent,
  RolloutPolicyError,
  type RolloutNext,
  type RolloutPolicy,
  type RolloutShadowPolicy,
  type RolloutState,
  type VerdictRecord,
} from './rollout';
import { judgeShadow, type ShadowLook } from './shadow-judge';

const MINUTE_MS = 60_000;

function shadowPolicyOf(state: RolloutState): {
  readonly policy: RolloutPolicy;
  readonly shadow: RolloutShadowPolicy;
  readonly stable: string;
} {
  const { policy, stable } = state;
  if (policy === undefined || stable === undefined) {
    throw new RolloutPolicyError('rollout state has no policy or stable version; start it with StartRollout');
  }
  if (policy.shadow === undefined) {
    throw new RolloutPolicyError(
      'the rollout policy has no shadow phase (models[].canary.shadow.enabled); BeginCanary follows the deploy',
    );
  }
  return { policy, shadow: policy.shadow, stable };
}

/** The five series of one shadow look: the candidate's comparisons and failures, stable's requests and errors. */
export function shadowQueries(model: string, stable: string, candidate: string): MetricQuery[] {
  const dims = (version: string) => ({
    [METRIC_DIMENSIONS.model]: model,
    [METRIC_DIMENSIONS.version]: version,
  });
  return [
    // One ShadowDisagreement datum (0 or 1) per compared request: SampleCount compared, Sum disagreed.
    {
      id: 'cmp',
      metricName: INFERENCE_METRICS.shadowDisagreement,
      dimensions: dims(candidate),
      stat: 'SampleCount',
    },
    { id: 'dis', metricName: INFERENCE_METRICS.shadowDisagreement, dimensions: dims(candidate), stat: 'Sum' },
    { id: 'cerr', metricName: INFERENCE_METRICS.shadowErrors, dimensions: dims(candidate), stat: 'Sum' },
    { id: 'sreq', metricName: INFERENCE_METRICS.requests, dimensions: dims(stable), stat: 'Sum' },
    { id: 'serr', metricName: INFERENCE_METRICS.errors, dimensions: dims(stable), stat: 'Sum' },
  ];
}

/**
 * AnalyzeShadow: one look of the shadow phase. Reads the comparisons since BeginShadow (whole minutes, as the canary
 * reads), appends the cumulative look, judges it (./shadow-judge.ts) and audits CANARY_VERDICT with `phase: 'shadow'`.
 * `next`: `canary` (both checks passed: BeginCanary), `shadow-bake` (too few comparisons: the bake is extended),
 * `rollback` (a check failed, or the extensions ran out; `reason` is the verdict's code), `rolled-back` /
 * `superseded` when the lock is no longer this execution's. In a dry run every verdict is recorded and the rollout
 * goes on to the canary whatever it says.
 */
export async function analyzeShadow(
  deps: {
    readonly deployments: DeploymentStore;
    readonly audit: AuditLogStore;
    readonly metrics: MetricsReader;
  },
  state: RolloutState,
  nowMs: number,
): Promise<RolloutState> {
  const { policy, shadow, stable } = shadowPolicyOf(state);
  if (state.shadowStartedAtMs === undefined) {
    throw new RolloutPolicyError(
      'rollout state has no shadowStartedAtMs; the shadow phase starts at BeginShadow',
    );
  }
  const record = await deps.deployments.getDeployment(state.model);
  if (!ownsLock(record, state)) return endedElsewhere(record, state);
  const startMs = Math.floor(state.shadowStartedAtMs / MINUTE_MS) * MINUTE_MS;
  const endMs = Math.max(nowMs, startMs + MINUTE_MS);
  const series = await deps.metrics.read({
    queries: shadowQueries(state.model, stable, state.version),
    startMs,
    endMs,
    periodSeconds: 60,
  });
  const sum = (id: string) =>
    (series.find((s) => s.id === id)?.values ?? []).reduce<number>((a, v) => a + (v ?? 0), 0);
  const look: ShadowLook = {
    compared: sum('cmp'),
    disagreed: sum('dis'),
    candidateErrors: sum('cerr'),
    stableRequests: sum('sreq'),
    stableErrors: sum('serr'),
  };
  const shadowLooks = [...(state.shadowLooks ?? []), look];
  const verdict = judgeShadow(
    { ...resolveCanaryPolicy(policy.judge), maxShadowDisagreement: shadow.maxDisagreement },
    { looks: shadowLooks, extensions: state.extensions },
  );
  const verdictRecord: VerdictRecord = {
    phase: 'shadow',
    look: shadowLooks.length,
    step: 0,
    weight: 0,
    decision: verdict.decision,
    reasonCode: verdict.reasonCode,
    checks: jsonSafe(verdict.checks),
  };
  await appendAuditOnce(
    deps.audit,
    rolloutEvent(state, 'CANARY_VERDICT', `shadow-look-${verdictRecord.look}`, nowMs, {
      ...verdictRecord,
      counts: look,
      dryRun: policy.dryRun,
    }),
  );
  const inconclusive = verdict.decision === 'inconclusive';
  const failed = verdict.decision === 'rollback' || verdict.decision === 'exhausted';
  let next: RolloutNext;
  if (inconclusive) next = 'shadow-bake';
  else if (failed && !policy.dryRun) next = 'rollback';
  else next = 'canary';
  return {
    ...state,
    next,
    reason: verdict.reasonCode,
    shadowLooks,
    verdicts: [...state.verdicts, verdictRecord].slice(-MAX_VERDICTS_IN_STATE),
    extensions: inconclusive ? state.extensions + 1 : 0,
  };
}
