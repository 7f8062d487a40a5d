/**
 * DeployCandidate, PollCandidate and RetireCandidate (release state machine; docs/rollout.md "Deploying the
 * candidate"): which deploy target serves each model (ROLLOUT_TARGETS), the Tasks' events, and the step itself over
 * the RolloutTarget port (./rollout-target.ts) and the audit log. Pure of AWS; the clock is passed in.
 *
 * StartRollout names the candidate at weight 0, so nothing here changes routing: a deploy that fails throws
 * TargetDeployFailedError (not retried), which the ASL catches by name and rolls back (ClearFailedCandidate); a
 * retire that fails is recorded and returned as `failed`, because the decision it follows (promote or rollback)
 * stands either way.
 */
import { z } from 'zod';
import { ConfigurationError } from './errors';
import { MODEL_NAME_PATTERN, VERSION_PATTERN } from './names';
import type { AuditLogStore, DeploymentRecord, DeploymentStore } from './ports';
import { appendAuditOnce } from './audit';
import { rolloutEvent } from './rollout';
import { TargetDeployFailedError, type RolloutTarget, type SageMakerTargetSettings } from './rollout-target';

import { ROLLOUT_TARGETS_ENV } from './tables';

export { CANDIDATE_WARM_URL_ENV, ROLLOUT_TARGETS_ENV } from './tables';

export type TargetKind = 'lambda' | 'sagemaker';

/** Most overlapping warm-up invocations DeployCandidate sends (its timeout and the account's burst bound it). */
export const MAX_WARM_CONCURRENCY = 50;

/** How DeployCandidate reaches a model's serving capacity. */
export type RolloutTargetConfig =
  /**
   * `functionArn`: the inference function's alias `live` (absent locally, where the warm URL is used);
   * `warmConcurrency`: overlapping warm-up invocations, one per provisioned environment (default 1).
   */
  | { readonly kind: 'lambda'; readonly functionArn?: string; readonly warmConcurrency?: number }
  /**
   * `settings`: `SageMakerEndpoint.rolloutSettings` (absent locally: local mode has no SageMaker);
   * `routerFunctionArn`: the router's alias `live`, which runs the candidate's smoke samples once its variant is
   * InService, in `warmConcurrency` environments (default 1).
   */
  | {
      readonly kind: 'sagemaker';
      readonly settings?: SageMakerTargetSettings;
      readonly routerFunctionArn?: string;
      readonly warmConcurrency?: number;
    };

const model = z.string().regex(MODEL_NAME_PATTERN, { error: 'must be a model name (a-z, 0-9, "-")' });
const version = z
  .string()
  .regex(VERSION_PATTERN, { error: 'must be a version (A-Z, a-z, 0-9, ".", "_", "-")' });
const ms = z.number().finite().nonnegative();

const sageMakerSettingsSchema = z.object({
  endpointName: z.string().min(1),
  executionRoleArn: z.string().min(1),
  image: z.string().min(1),
  registryBucketName: z.string().min(1),
  variant: z.discriminatedUnion('kind', [
    z.object({
      kind: z.literal('realtime'),
      instanceType: z.string().min(1),
      initialInstanceCount: z.number().int().positive(),
    }),
    z.object({
      kind: z.literal('serverless'),
      memorySizeInMb: z.number().int().positive(),
      maxConcurrency: z.number().int().positive(),
      provisionedConcurrency: z.number().int().positive().optional(),
    }),
  ]),
  kmsKeyId: z.string().min(1).optional(),
  networkIsolation: z.boolean().optional(),
});

const warmConcurrency = z.number().int().min(1).max(MAX_WARM_CONCURRENCY);

const targetSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('lambda'),
    functionArn: z.string().min(1).optional(),
    warmConcurrency: warmConcurrency.optional(),
  }),
  z.object({
    kind: z.literal('sagemaker'),
    settings: sageMakerSettingsSchema.optional(),
    routerFunctionArn: z.string().min(1).optional(),
    warmConcurrency: warmConcurrency.optional(),
  }),
]);

/** Parses ROLLOUT_TARGETS; throws ConfigurationError naming the model and field. Unset or empty: no targets. */
export function parseRolloutTargets(text: string | undefined): ReadonlyMap<string, RolloutTargetConfig> {
  if (text === undefined || text.trim() === '') return new Map();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigurationError(`${ROLLOUT_TARGETS_ENV} is not JSON: ${(err as Error).message}`);
  }
  const parsed = z.record(model, targetSchema).safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigurationError(
      `${ROLLOUT_TARGETS_ENV}.${issue.path.map(String).join('.')}: ${issue.message}; redeploy from modelops.config.ts`,
    );
  }
  return new Map(Object.entries(parsed.data as Record<string, RolloutTargetConfig>));
}

/**
 * The ROLLOUT_TARGETS value local mode uses: each model's kind (`models[].target`) without ARNs or endpoint
 * settings (the Lambda target warms through CANDIDATE_WARM_URL; SageMaker does not run locally).
 */
export function localRolloutTargetsEnvValue(
  models: readonly { readonly name: string; readonly target: TargetKind }[],
): string {
  return JSON.stringify(Object.fromEntries(models.map((m) => [m.name, { kind: m.target }])));
}

// ---------------------------------------------------------------------------------------------------------------
// The Tasks
// ---------------------------------------------------------------------------------------------------------------

export const CANDIDATE_ACTIONS = ['deploy', 'poll', 'retire'] as const;
export type CandidateAction = (typeof CANDIDATE_ACTIONS)[number];

/**
 * How a rollout that made no decision of its own ends, after its retire: `aborted` (a step failed; AbortRollout
 * cleared the candidate, the release ends in RecordFailure) or `superseded` (its lock was taken from it).
 */
export const RETIRE_ENDINGS = ['aborted', 'superseded'] as const;
export type RetireEnding = (typeof RETIRE_ENDINGS)[number];

/** The part of `$.rollout` these Tasks read (the rest of the state is ignored). */
const rolloutRefSchema = z.object({
  model,
  version,
  executionId: z.string().min(1).max(2048),
  next: z.string(),
  stable: version.optional(),
  stableAtStart: version.optional(),
});

export const deployCandidateEventSchema = z.object({
  action: z.enum(CANDIDATE_ACTIONS, { error: `must be one of ${CANDIDATE_ACTIONS.join(', ')}` }),
  rollout: rolloutRefSchema,
  /** PollCandidate: what DeployCandidate or the last poll returned (`$.deploy`). */
  deploy: z.object({ startedAtMs: ms }).optional(),
  /**
   * RetireCandidate: what the last retire returned (`$.retire`): PrepareRetire's `{}` before the first, or
   * `{ ending }` when the rollout ended without a decision of its own (AbortRollout, Superseded); carried through.
   */
  retire: z.object({ startedAtMs: ms.optional(), ending: z.enum(RETIRE_ENDINGS).optional() }).optional(),
});
export type DeployCandidateEvent = z.infer<typeof deployCandidateEventSchema>;

/**
 * What the Tasks return (`$.deploy`, `$.retire`). `pending`: the ASL waits `pollSeconds`, then polls (or retires)
 * again. `lock-lost`: the rollout is no longer this execution's (a candidate alarm, `modelops rollback|unlock`), so
 * nothing was deployed or polled; BeginCanary says how the execution ends. `failed`: a retire that did not complete
 * (recorded as CANDIDATE_RETIRE_FAILED); deploy and poll never return it, they throw TargetDeployFailedError.
 */
export type CandidateProgress = (
  | {
      readonly status: 'ready';
      readonly target: TargetKind;
      readonly startedAtMs: number;
      readonly detail: Readonly<Record<string, unknown>>;
    }
  | {
      readonly status: 'pending';
      readonly target: TargetKind;
      readonly startedAtMs: number;
      readonly pollSeconds: number;
      readonly detail: Readonly<Record<string, unknown>>;
    }
  | {
      readonly status: 'lock-lost';
      readonly target: TargetKind;
      readonly startedAtMs: number;
      readonly detail: Readonly<Record<string, unknown>>;
    }
  | {
      readonly status: 'failed';
      readonly target: TargetKind;
      readonly startedAtMs: number;
      readonly reasonCode: string;
      readonly message: string;
    }
) & {
  /** Retire only: the ending it was called with, for OutcomeRoute. */
  readonly ending?: RetireEnding;
};

/** A deploy still pending this long after DeployCandidate started fails with DEPLOY_TIMED_OUT. */
export const DEPLOY_DEADLINE_MS = 30 * 60_000;
/** A retire still pending this long after its first call is recorded as failed (RETIRE_TIMED_OUT); the decision stands. */
export const RETIRE_DEADLINE_MS = 30 * 60_000;

/** Reason codes these Tasks raise themselves (the targets' own: rollout-target.ts, candidate-warm.ts). */
export const CANDIDATE_STEP_FAILURE = {
  deployTimedOut: 'DEPLOY_TIMED_OUT',
  retireTimedOut: 'RETIRE_TIMED_OUT',
} as const;

/**
 * The error DeployCandidate throws: the target's, with its reason code first in the message, because Step Functions
 * passes on only the error's name and message (the Catch's Cause) and ClearFailedCandidate reads the code from there
 * (`deployFailureOf` in ./rollout.ts).
 */
export function deployFailure(err: TargetDeployFailedError): TargetDeployFailedError {
  const prefix = `${err.reasonCode}: `;
  if (err.message.startsWith(prefix)) return err;
  return new TargetDeployFailedError(err.reasonCode, `${prefix}${err.message}`, err.detail, { cause: err });
}

export interface CandidateStepDeps {
  /** The model's target, chosen by ROLLOUT_TARGETS. */
  readonly target: RolloutTarget;
  readonly targetKind: TargetKind;
  readonly audit: AuditLogStore;
  /** The routing record, read before each deploy and poll: a rollout ended from outside deploys nothing more. */
  readonly deployments: Pick<DeploymentStore, 'getDeployment'>;
}

/**
 * One call of DeployCandidate (`deploy`), PollCandidate (`poll`) or RetireCandidate (`retire`).
 *
 * - `deploy` / `poll`: the candidate next to `stableAtStart`, while the rollout lock is still this execution's
 *   (else `lock-lost`, without calling the target). `ready` is audited CANDIDATE_DEPLOYED with what the
 *   target checked; TargetDeployFailedError is audited CANDIDATE_DEPLOY_FAILED and rethrown with its code first in
 *   the message; a deploy pending past {@link DEPLOY_DEADLINE_MS} fails with DEPLOY_TIMED_OUT.
 * - `retire`: after the decision — or after an abort or a lost lock (`retire.ending`) — keep the version routing
 *   serves ({@link keptVersion}: the candidate after a promote, else the stable version the rollout started from)
 *   and remove the other's capacity; nothing when routing serves both, a third version, or another release holds
 *   the lock. A target failure or a retire pending past
 *   {@link RETIRE_DEADLINE_MS} is audited CANDIDATE_RETIRE_FAILED and returned as `failed`; a retire that did work is
 *   audited CANDIDATE_RETIRED (the Lambda target's no-op is not).
 *
 * Audit ids derive from the execution, the event and its time; a Task retried after its event landed (its answer
 * lost) may append it once more, at the retry's time.
 */
export async function candidateStep(
  deps: CandidateStepDeps,
  event: DeployCandidateEvent,
  nowMs: number,
): Promise<CandidateProgress> {
  const { rollout } = event;
  const stable = rollout.stableAtStart ?? rollout.stable;
  const kind = deps.targetKind;
  if (event.action === 'retire') return retire(deps, event, stable, nowMs);
  if (stable === undefined) {
    throw new RangeError(
      `rollout of ${rollout.model} ${rollout.version} names no stable version; DeployCandidate runs after StartRollout`,
    );
  }
  const startedAtMs = event.action === 'poll' ? (event.deploy?.startedAtMs ?? nowMs) : nowMs;
  const request = { model: rollout.model, stable, candidate: rollout.version };
  const record = await deps.deployments.getDeployment(rollout.model);
  if (record?.rollout?.executionId !== rollout.executionId || record.candidate !== rollout.version) {
    return {
      status: 'lock-lost',
      target: kind,
      startedAtMs,
      detail: {
        reason: `the rollout lock of ${rollout.model} is no longer this execution's; nothing more is deployed`,
      },
    };
  }
  try {
    if (event.action === 'poll' && nowMs - startedAtMs > DEPLOY_DEADLINE_MS) {
      throw new TargetDeployFailedError(
        CANDIDATE_STEP_FAILURE.deployTimedOut,
        `the ${kind} target did not make ${rollout.model} ${rollout.version} servable within ` +
          `${DEPLOY_DEADLINE_MS / 60_000} minutes; check the target (for SageMaker, the endpoint's events and logs)`,
      );
    }
    const progress =
      event.action === 'deploy'
        ? await deps.target.deployCandidate(request)
        : await deps.target.pollCandidate(request);
    if (progress.status === 'pending') {
      return {
        status: 'pending',
        target: kind,
        startedAtMs,
        pollSeconds: progress.pollSeconds,
        detail: progress.detail,
      };
    }
    await appendAuditOnce(
      deps.audit,
      rolloutEvent(rollout, 'CANDIDATE_DEPLOYED', 'candidate-deployed', nowMs, {
        target: kind,
        stable,
        durationMs: nowMs - startedAtMs,
        ...progress.detail,
      }),
    );
    return { status: 'ready', target: kind, startedAtMs, detail: progress.detail };
  } catch (err) {
    if (!(err instanceof TargetDeployFailedError)) throw err;
    await appendAuditOnce(
      deps.audit,
      rolloutEvent(rollout, 'CANDIDATE_DEPLOY_FAILED', 'candidate-deploy-failed', nowMs, {
        target: kind,
        stable,
        reason: err.reasonCode,
        message: err.message,
        detail: err.detail,
      }),
    );
    throw deployFailure(err);
  }
}

/**
 * Which of the rollout's two versions to keep: the one routing serves, alone. Read at every retire call rather than
 * taken from the decision, because the decision may have been overtaken (a manual promote or rollback, another
 * release after `modelops unlock`), and removing a variant something routes to would fail live requests. Retire
 * removes only a version nothing routes to, and never touches an endpoint another release holds the lock of (that
 * release's deploy replaces the endpoint's config, and its own retire cleans up).
 */
export function keptVersion(
  record: DeploymentRecord | undefined,
  rollout: { readonly model: string; readonly version: string; readonly executionId: string },
  stable: string,
): { readonly keep: string } | { readonly skip: string } {
  const { model, version } = rollout;
  if (record?.rollout !== undefined && record.rollout.executionId !== rollout.executionId) {
    return {
      skip: `another release (${record.rollout.executionId}) holds the rollout lock of ${model}; its deploy and retire own the target now`,
    };
  }
  if (record?.candidate !== undefined) {
    return {
      skip: `routing still names ${record.candidate} as the candidate of ${model} next to ${record.stable ?? 'no stable version'}; nothing is removed while both may serve`,
    };
  }
  if (record?.stable === version) return { keep: version };
  if (record?.stable === stable) return { keep: stable };
  return {
    skip: `routing serves ${record?.stable ?? 'nothing'} for ${model}, neither ${stable} nor ${version}; the target is left as it is`,
  };
}

async function retire(
  deps: CandidateStepDeps,
  event: DeployCandidateEvent,
  stable: string | undefined,
  nowMs: number,
): Promise<CandidateProgress> {
  const ending = event.retire?.ending;
  const withEnding = (progress: CandidateProgress): CandidateProgress =>
    ending === undefined ? progress : { ...progress, ending };
  const { rollout } = event;
  const kind = deps.targetKind;
  const startedAtMs = event.retire?.startedAtMs ?? nowMs;
  const noop = (reason: string): CandidateProgress =>
    withEnding({ status: 'ready', target: kind, startedAtMs, detail: { action: 'noop', reason } });
  if (rollout.stableAtStart === undefined || stable === undefined) {
    // A state from before DeployCandidate existed: nothing was deployed next to anything.
    return noop('the rollout did not deploy the candidate next to a stable version');
  }
  const kept = keptVersion(await deps.deployments.getDeployment(rollout.model), rollout, stable);
  if ('skip' in kept) return noop(kept.skip);
  const { keep } = kept;
  const outcome = ending ?? rollout.next;
  const failed = async (reasonCode: string, message: string, detail: unknown): Promise<CandidateProgress> => {
    await appendAuditOnce(
      deps.audit,
      rolloutEvent(rollout, 'CANDIDATE_RETIRE_FAILED', 'candidate-retire-failed', nowMs, {
        target: kind,
        keep,
        outcome,
        reason: reasonCode,
        message,
        detail,
      }),
    );
    return withEnding({ status: 'failed', target: kind, startedAtMs, reasonCode, message });
  };
  let progress;
  try {
    progress = await deps.target.retire({ model: rollout.model, stable, candidate: rollout.version, keep });
  } catch (err) {
    if (!(err instanceof TargetDeployFailedError)) throw err;
    return failed(err.reasonCode, err.message, err.detail);
  }
  if (progress.status === 'pending') {
    if (nowMs - startedAtMs > RETIRE_DEADLINE_MS) {
      return failed(
        CANDIDATE_STEP_FAILURE.retireTimedOut,
        `the ${kind} target did not finish removing the losing version within ${RETIRE_DEADLINE_MS / 60_000} ` +
          `minutes; ${keep} keeps serving, remove the other version's capacity by hand`,
        progress.detail,
      );
    }
    return withEnding({
      status: 'pending',
      target: kind,
      startedAtMs,
      pollSeconds: progress.pollSeconds,
      detail: progress.detail,
    });
  }
  if (progress.detail.action !== 'noop') {
    await appendAuditOnce(
      deps.audit,
      rolloutEvent(rollout, 'CANDIDATE_RETIRED', 'candidate-retired', nowMs, {
        target: kind,
        keep,
        outcome,
        durationMs: nowMs - startedAtMs,
        ...progress.detail,
      }),
    );
  }
  return withEnding({ status: 'ready', target: kind, startedAtMs, detail: progress.detail });
}
