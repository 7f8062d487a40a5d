/**
 * Inputs of the rollout Tasks of release.asl.json (StartRollout, AnalyzeCanary, NextStep, Promote, Rollback,
 * AbortRollout) and the per-model canary policies the functions receive in ROLLOUT_POLICIES. A malformed input is
 * refused with every bad field named (InvalidEventError) before anything is read or written.
 */
import { z } from 'zod';
import { ConfigurationError } from './errors';
import { MODEL_NAME_PATTERN, VERSION_PATTERN } from './names';
import {
  checkRolloutPolicy,
  type RolloutPolicy,
  type RolloutShadowPolicy,
  type RolloutState,
} from './rollout';
import type { BudgetSlo, RolloutBudgetPolicy } from './rollout-budget';
import { ROLLOUT_POLICIES_ENV } from './tables';

export { METRICS_READ_URL_ENV, ROLLOUT_POLICIES_ENV } from './tables';

const model = z.string().regex(MODEL_NAME_PATTERN, { error: 'must be a model name (a-z, 0-9, "-")' });
const version = z
  .string()
  .regex(VERSION_PATTERN, { error: 'must be a version (A-Z, a-z, 0-9, ".", "_", "-")' });
const executionId = z
  .string({ error: 'is required: pass $$.Execution.Id from the state machine' })
  .min(1)
  .max(2048);
const count = z.number().int().nonnegative();
const ms = z.number().finite().nonnegative();

const target = z.number().gt(0).lt(1);
const budgetSchema = z.object({
  gate: z.boolean(),
  maxFirstStepBudgetShare: z.number().gt(0).lte(1),
  force: z.array(z.object({ version, reason: z.string().min(1).max(1000) })).max(20),
  slo: z.object({
    periodDays: z.number().int().positive(),
    availability: z.object({ target }),
    latency: z.object({ target, thresholdMs: z.number().positive() }),
  }),
});

const policySchema = z.object({
  steps: z.array(z.number().gt(0).lt(1)).min(1),
  bakeSeconds: count,
  lock: z.object({
    ttlMinutes: z.number().int().positive(),
    onLocked: z.enum(['wait', 'fail']),
    waitSeconds: z.number().int().positive(),
    maxWaits: count,
  }),
  dryRun: z.boolean(),
  judge: z.record(z.string(), z.unknown()),
  // Optional: the state of an execution started before the gate existed carries a policy without it.
  budget: budgetSchema.optional(),
  // Optional: present only for a model with canary.shadow.enabled (and absent from states written before it).
  shadow: z.object({ bakeSeconds: count, maxDisagreement: z.number().gt(0).lt(1) }).optional(),
});

const armCounts = z.object({ requests: count, bad: count });
const look = z.object({ candidate: armCounts, stable: armCounts });
const shadowLook = z.object({
  compared: count,
  disagreed: count,
  candidateErrors: count,
  stableRequests: count,
  stableErrors: count,
});

const stateSchema = z.object({
  model,
  version,
  executionId,
  next: z.string(),
  reason: z.string().optional(),
  stable: version.optional(),
  policy: policySchema.optional(),
  step: count,
  weight: z.number().min(0).max(1),
  plannedWeight: z.number().gt(0).lt(1).optional(),
  stableAtStart: version.optional(),
  startedAtMs: ms,
  stepStartedAtMs: ms,
  extensions: count,
  waits: count,
  looks: z.object({ errors: z.array(look), slow: z.array(look), invalidInput: z.array(look) }),
  verdicts: z.array(z.record(z.string(), z.unknown())),
  shadowStartedAtMs: ms.optional(),
  shadowLooks: z.array(shadowLook).optional(),
  endedBy: z.object({ actor: z.string(), at: z.string(), detail: z.string().optional() }).optional(),
});

export const startRolloutEventSchema = z.object({
  executionId,
  registration: z.object({ model, version }),
  /** What the last `locked` attempt returned, when the state machine loops back after a lock wait. */
  rollout: z.object({ waits: count }).optional(),
});
export type StartRolloutEvent = z.infer<typeof startRolloutEventSchema>;

export const ROLLOUT_ACTIONS = [
  'step',
  'promote',
  'rollback',
  'abort',
  'finish-dry-run',
  // BeginCanary and ClearFailedCandidate, around DeployCandidate.
  'begin',
  'deploy-failed',
  // BeginShadow (lambdas/core/shadow-phase.ts), before BeginCanary when the policy has a shadow phase.
  'begin-shadow',
] as const;

/**
 * What AbortRollout knows after StartRollout failed: `$.rollout` is still PrepareRollout's `{ waits }` (or the last
 * `locked` answer), so the state is rebuilt from the registration and the execution. StartRollout may have taken the
 * lock and routed the first step before it failed; `advanceRollout`'s abort releases them when they are this
 * execution's and changes nothing otherwise, which is all it needs these three fields for.
 */
function startFailureState(base: Pick<RolloutState, 'model' | 'version' | 'executionId'>): RolloutState {
  return {
    ...base,
    next: 'bake',
    step: 0,
    weight: 0,
    startedAtMs: 0,
    stepStartedAtMs: 0,
    extensions: 0,
    waits: 0,
    looks: { errors: [], slow: [], invalidInput: [] },
    verdicts: [],
  };
}

export const advanceRolloutEventSchema = z
  .object({
    action: z.enum(ROLLOUT_ACTIONS, { error: `must be one of ${ROLLOUT_ACTIONS.join(', ')}` }),
    /** The rollout state; for `abort` it may be what StartRollout left (see `startFailureState`). */
    rollout: z.unknown(),
    /** `abort` only: $$.Execution.Id and $.registration, used when `rollout` is not a rollout state. */
    executionId: executionId.optional(),
    registration: z.object({ model, version }).optional(),
    // AbortRollout passes the Catch output {Error, Cause}.
    error: z.object({ Error: z.string(), Cause: z.string().optional() }).optional(),
  })
  .transform((event, ctx) => {
    const { action, error } = event;
    const parsed = stateSchema.safeParse(event.rollout);
    if (parsed.success) return { action, rollout: asRolloutState(parsed.data), error };
    if (action === 'abort' && event.executionId !== undefined && event.registration !== undefined) {
      const { model, version } = event.registration;
      return {
        action,
        rollout: startFailureState({ model, version, executionId: event.executionId }),
        error,
      };
    }
    for (const issue of parsed.error.issues) {
      ctx.addIssue({ code: 'custom', message: issue.message, path: ['rollout', ...issue.path] });
    }
    return z.NEVER;
  });

export const analyzeCanaryEventSchema = z.object({
  rollout: stateSchema,
  /** AnalyzeShadow passes `shadow`: a look of the shadow phase (lambdas/core/shadow-phase.ts). */
  phase: z.enum(['shadow'], { error: 'must be "shadow" or absent (the canary)' }).optional(),
});

/** The state as the handlers use it (the schema checks shape; the judge re-checks the policy). */
export function asRolloutState(parsed: z.infer<typeof stateSchema>): RolloutState {
  return parsed as unknown as RolloutState;
}

/** Parses ROLLOUT_POLICIES; throws ConfigurationError naming the model and field. */
export function parseRolloutPolicies(text: string | undefined): ReadonlyMap<string, RolloutPolicy> {
  if (text === undefined || text.trim() === '') return new Map();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigurationError(`${ROLLOUT_POLICIES_ENV} is not JSON: ${(err as Error).message}`);
  }
  const parsed = z.record(model, policySchema).safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigurationError(
      `${ROLLOUT_POLICIES_ENV}.${issue.path.map(String).join('.')}: ${issue.message}; redeploy from modelops.config.ts`,
    );
  }
  const out = new Map<string, RolloutPolicy>();
  for (const [name, policy] of Object.entries(parsed.data)) {
    try {
      out.set(name, checkRolloutPolicy(policy as RolloutPolicy));
    } catch (err) {
      throw new ConfigurationError(`${ROLLOUT_POLICIES_ENV}.${name}: ${(err as Error).message}`);
    }
  }
  return out;
}

/**
 * The ROLLOUT_POLICIES value for the configured models (`models[].canary`); only enabled ones are listed. The budget
 * gate carries the model's SLO (`models[].slo`), which its budget is measured against.
 */
export function rolloutPoliciesEnvValue(
  models: readonly {
    readonly name: string;
    readonly canary: Omit<RolloutPolicy, 'budget' | 'shadow'> & {
      readonly enabled: boolean;
      readonly budget?: Omit<RolloutBudgetPolicy, 'slo'>;
      readonly shadow?: RolloutShadowPolicy & { readonly enabled: boolean };
    };
    readonly slo: BudgetSlo;
  }[],
): string {
  const policies: Record<string, RolloutPolicy> = {};
  for (const m of models) {
    if (!m.canary.enabled) continue;
    const { enabled: _enabled, budget, shadow, ...policy } = m.canary;
    const { periodDays, availability, latency } = m.slo;
    policies[m.name] = {
      ...policy,
      ...(budget !== undefined
        ? {
            budget: {
              ...budget,
              slo: {
                periodDays,
                availability: { target: availability.target },
                latency: { target: latency.target, thresholdMs: latency.thresholdMs },
              },
            },
          }
        : {}),
      ...(shadow?.enabled
        ? { shadow: { bakeSeconds: shadow.bakeSeconds, maxDisagreement: shadow.maxDisagreement } }
        : {}),
    };
  }
  return JSON.stringify(policies);
}
