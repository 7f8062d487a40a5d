/**
 * The champion gate of a retrain (ChampionGate state of stepfunctions/retrain.asl.json): the retrained version's
 * metrics (the trainer's report.json, carried by Package) against those recorded for the model's LIVE version
 * (ModelVersions). Not better by `minImprovement` → rejected: nothing is released, and the run ends Succeeded with
 * outcome `rejected-by-champion-gate` (a working pipeline that correctly kept the champion is not a failure; see
 * docs/retrain.md). Pure decision plus a thin runner over the ports.
 */
import { appendAuditOnce, idempotentAuditEvent } from './audit';
import type { AuditLogStore, DeploymentStore, VersionStore } from './ports';
import type { ChampionGatePolicy } from './retrain-policy';

export type GateCode =
  'BETTER' | 'NO_CHAMPION' | 'NOT_BETTER' | 'CANDIDATE_METRIC_MISSING' | 'CHAMPION_METRIC_MISSING';

export interface GateVerdict {
  readonly passed: boolean;
  readonly code: GateCode;
  readonly reason: string;
  readonly metric: string;
  readonly candidate?: number;
  readonly champion?: number;
  readonly championVersion?: string;
  /** Candidate minus champion in the better direction (positive = better). */
  readonly improvement?: number;
  readonly minImprovement: number;
}

/**
 * Judges `candidate` metrics against the champion's. With no champion at all there is nothing to beat (passes); a
 * champion without the metric cannot be compared, which is a configuration problem the reason names (fails: the
 * gate never waves through what it cannot check).
 */
export function judgeChampion(input: {
  readonly policy: ChampionGatePolicy;
  readonly candidate: Readonly<Record<string, number>>;
  readonly champion?: { readonly version: string; readonly metrics?: Readonly<Record<string, number>> };
}): GateVerdict {
  const { policy, champion } = input;
  const { metric, minImprovement } = policy;
  const base = { metric, minImprovement };
  const candidate = input.candidate[metric];
  if (typeof candidate !== 'number' || !Number.isFinite(candidate)) {
    return {
      ...base,
      passed: false,
      code: 'CANDIDATE_METRIC_MISSING',
      reason: `the retrained model's report has no finite "${metric}" (championGate.metric); the trainer must write it to report.json metrics`,
    };
  }
  if (champion === undefined) {
    return { ...base, passed: true, code: 'NO_CHAMPION', candidate, reason: 'no LIVE version to beat' };
  }
  const championValue = champion.metrics?.[metric];
  if (typeof championValue !== 'number' || !Number.isFinite(championValue)) {
    return {
      ...base,
      passed: false,
      code: 'CHAMPION_METRIC_MISSING',
      candidate,
      championVersion: champion.version,
      reason:
        `LIVE version ${champion.version} has no recorded "${metric}" to compare with; add it to that manifest's ` +
        'metrics or choose a championGate.metric both carry',
    };
  }
  const improvement = policy.higherIsBetter ? candidate - championValue : championValue - candidate;
  const passed = improvement >= minImprovement;
  const direction = policy.higherIsBetter ? 'higher' : 'lower';
  return {
    ...base,
    passed,
    code: passed ? 'BETTER' : 'NOT_BETTER',
    candidate,
    champion: championValue,
    championVersion: champion.version,
    improvement,
    reason: passed
      ? `${metric} ${candidate} vs LIVE ${champion.version} ${championValue}: improvement ${round(improvement)} >= ${minImprovement} (${direction} is better)`
      : `${metric} ${candidate} vs LIVE ${champion.version} ${championValue}: improvement ${round(improvement)} < ${minImprovement} (${direction} is better); the champion stays`,
  };
}

const round = (x: number) => Math.round(x * 1e6) / 1e6;

export interface ChampionGateDeps {
  readonly versions: Pick<VersionStore, 'getVersion'>;
  readonly deployments: Pick<DeploymentStore, 'getDeployment'>;
  readonly audit: AuditLogStore;
}

/** Reads LIVE (the routing record's stable) and its recorded metrics, judges, audits a rejection once. */
export async function runChampionGate(
  deps: ChampionGateDeps,
  input: {
    readonly model: string;
    readonly version: string;
    readonly runId: string;
    readonly metrics: Readonly<Record<string, number>>;
    readonly policy: ChampionGatePolicy;
    readonly executionId: string;
    readonly startedAt: string;
  },
): Promise<GateVerdict> {
  const routing = await deps.deployments.getDeployment(input.model);
  const stable = routing?.stable;
  const record = stable !== undefined ? await deps.versions.getVersion(input.model, stable) : undefined;
  const verdict = judgeChampion({
    policy: input.policy,
    candidate: input.metrics,
    ...(stable !== undefined
      ? { champion: { version: stable, ...(record?.metrics ? { metrics: record.metrics } : {}) } }
      : {}),
  });
  if (!verdict.passed) {
    await appendAuditOnce(
      deps.audit,
      idempotentAuditEvent(
        {
          model: input.model,
          version: input.version,
          type: 'RETRAIN_REJECTED',
          actor: input.executionId,
          details: { runId: input.runId, ...verdict },
        },
        `${input.executionId}#champion-gate`,
        new Date(input.startedAt),
      ),
    );
  }
  return verdict;
}
