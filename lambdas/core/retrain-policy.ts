/**
 * The retrain pipeline's inputs and per-model policies (docs/retrain.md): the documented start input of the retrain
 * state machine (what EventBridge rules, the schedule, the CLI and a console start pass), the guard and gate policy
 * each model gets through RETRAIN_POLICIES, and the retrain state kept in the MonitorState table (kind `retrain`).
 * Pure: no AWS SDK.
 */
import { z } from 'zod';
import { ConfigurationError } from './errors';
import { MODEL_NAME_PATTERN } from './names';

import { RETRAIN_POLICIES_ENV } from './retrain-env';

export { RETRAIN_POLICIES_ENV } from './retrain-env';

/** The MonitorState kind of the retrain state (one item per model, beside the drift state). */
export const RETRAIN_STATE_KIND = 'retrain';

/**
 * The retrain state machine's `TimeoutSeconds` (stepfunctions/retrain.asl.json; a test keeps them equal). A run still
 * marked running after this long died without recording its outcome (the execution has timed out), so the guard may
 * start a new one.
 */
export const RETRAIN_RUN_TIMEOUT_SECONDS = 28_800;

export const TRIGGER_KINDS = ['drift', 'schedule', 'accuracy', 'manual'] as const;
export type TriggerKind = (typeof TRIGGER_KINDS)[number];

/** What started a retrain, as the Guard passes it on (the contract's `trigger`). */
export interface RetrainTrigger {
  readonly kind: TriggerKind;
  readonly reason: string;
  readonly evidence: Readonly<Record<string, unknown>>;
}

export class RetrainInputError extends Error {
  override name = 'RetrainInputError';
}

const MAX_REASON_CHARS = 500;

/**
 * The start input of the retrain state machine, one documented shape for every trigger:
 * `{ model, trigger, reason, evidence?, eventId?, requestedBy? }`. `evidence` for `drift` is the
 * `ModelDriftDetected` detail (its `persistence.recent` is what the guard checks); `eventId` deduplicates a
 * redelivered event.
 */
export const retrainStartSchema = z
  .strictObject({
    model: z
      .string({ error: 'is required: the configured model to retrain, e.g. "breast-cancer"' })
      .regex(MODEL_NAME_PATTERN, { error: 'must be a model name (1-64 characters of a-z, 0-9 and "-")' }),
    trigger: z.enum(TRIGGER_KINDS, { error: `must be one of ${TRIGGER_KINDS.join(', ')}` }),
    reason: z
      .string({ error: 'is required: say why (it is audited), e.g. "labels of November arrived"' })
      .trim()
      .min(1, { error: 'must not be empty: say why (it is audited)' })
      .max(MAX_REASON_CHARS, { error: `must be at most ${MAX_REASON_CHARS} characters` }),
    evidence: z.record(z.string(), z.unknown()).optional(),
    eventId: z.string().min(1).max(512).optional(),
    requestedBy: z.string().min(1).max(256).optional(),
    /**
     * A manual start only: the execution id of a run marked running that the operator knows is dead (stopped, or
     * failed before recording its end); this start takes its slot instead of waiting out the state machine timeout.
     */
    takeOver: z
      .string({ error: 'must be the execution id of the running retrain to take over' })
      .min(1)
      .max(2048)
      .optional(),
  })
  .refine((s) => s.takeOver === undefined || s.trigger === 'manual', {
    path: ['takeOver'],
    error: 'is only for a manual start (trigger "manual"): a person decides that a run is dead',
  });
export type RetrainStart = z.infer<typeof retrainStartSchema>;

/**
 * Parses a start input; throws `RetrainInputError` naming every bad field, the value received and the fix. `models`
 * are the models with retrain enabled: any other model is refused here, before anything is read or written.
 */
export function parseRetrainStart(raw: unknown, models: readonly string[]): RetrainStart {
  const parsed = retrainStartSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => {
      const path = i.path.map(String).join('.');
      const value = valueAt(raw, i.path);
      const got = value === undefined ? 'nothing' : JSON.stringify(value)?.slice(0, 80);
      return `input.${path || '(root)'}: ${i.message} (got ${got})`;
    });
    throw new RetrainInputError(
      `invalid retrain input: ${problems.join('; ')}. Expected { "model": "<name>", "trigger": ` +
        `"manual", "reason": "<why>" } (docs/retrain.md#manual-start)`,
    );
  }
  const start = parsed.data;
  if (!models.includes(start.model)) {
    throw new RetrainInputError(
      `invalid retrain input: input.model: "${start.model}" has no retrain enabled (models with retrain: ` +
        `${models.length > 0 ? models.join(', ') : 'none'}); set models[].retrain.enabled in modelops.config.ts`,
    );
  }
  if (start.trigger === 'drift' && start.evidence === undefined) {
    throw new RetrainInputError(
      'invalid retrain input: input.evidence: is required for trigger "drift" (the ModelDriftDetected detail) ' +
        '(got nothing); start a manual retrain with trigger "manual" instead',
    );
  }
  return start;
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let at: unknown = raw;
  for (const key of path) {
    if (at === null || typeof at !== 'object') return undefined;
    at = (at as Record<PropertyKey, unknown>)[key];
  }
  return at;
}

/** The champion gate of one model (models[].retrain.championGate). */
export interface ChampionGatePolicy {
  readonly metric: string;
  readonly minImprovement: number;
  readonly higherIsBetter: boolean;
}

/** The SageMaker training job settings of one model (models[].retrain.trainer.sagemaker, with defaults). */
export interface TrainingSettings {
  /** ECR image; empty when the model has no sagemaker trainer (local mode runs trainer.command instead). */
  readonly image: string;
  readonly instanceType: string;
  readonly instanceCount: number;
  readonly volumeSizeGb: number;
  readonly maxRuntimeSeconds: number;
  readonly hyperparameters: Readonly<Record<string, string>>;
}

/** What the Guard and ChampionGate functions know of one model's retrain config. */
export interface RetrainPolicy {
  readonly cooldownMs: number;
  readonly dailyCap: number;
  readonly backoffMs: number;
  /** Drifted windows a drift trigger's evidence must show. */
  readonly driftPersistence: number;
  readonly dataWindowMs: number;
  readonly championGate: ChampionGatePolicy;
  readonly training: TrainingSettings;
  /** models[].retrain.referenceData: the reference CSV PrepareTrainingData starts from. */
  readonly referenceData?: string;
}

const policySchema = z.strictObject({
  cooldownMs: z.number().int().nonnegative(),
  dailyCap: z.number().int().positive(),
  backoffMs: z.number().int().nonnegative(),
  driftPersistence: z.number().int().positive(),
  dataWindowMs: z.number().int().positive(),
  championGate: z.strictObject({
    metric: z.string().min(1),
    minImprovement: z.number().nonnegative(),
    higherIsBetter: z.boolean(),
  }),
  training: z.strictObject({
    image: z.string(),
    instanceType: z.string().min(1),
    instanceCount: z.number().int().positive(),
    volumeSizeGb: z.number().int().positive(),
    maxRuntimeSeconds: z.number().int().positive(),
    hyperparameters: z.record(z.string(), z.string()),
  }),
  referenceData: z.string().min(1).optional(),
});

/** The retrain section of a model's config, as far as these functions need it (lib/config.ts `RetrainConfig`). */
interface RetrainModelConfig {
  readonly name: string;
  readonly drift: { readonly persistence: { readonly m: number } };
  readonly retrain: {
    readonly enabled: boolean;
    readonly cooldownMinutes: number;
    readonly dailyCap: number;
    readonly backoffMinutes: number;
    readonly driftPersistence?: number | undefined;
    readonly dataWindowDays: number;
    readonly championGate?: ChampionGatePolicy | undefined;
    readonly referenceData?: string | undefined;
    readonly trainer?:
      | {
          readonly sagemaker?: TrainingSettings | undefined;
        }
      | undefined;
  };
}

/** Training defaults when a model has no sagemaker trainer (local mode); the CDK construct refuses such a model. */
const LOCAL_ONLY_TRAINING: TrainingSettings = {
  image: '',
  instanceType: 'ml.m5.large',
  instanceCount: 1,
  volumeSizeGb: 30,
  maxRuntimeSeconds: 3_600,
  hyperparameters: {},
};

/** The policy of one model, from its config. */
export function retrainPolicyOf(model: RetrainModelConfig): RetrainPolicy {
  const r = model.retrain;
  if (r.championGate === undefined) {
    throw new ConfigurationError(
      `models[${model.name}].retrain.championGate is required when retrain is enabled`,
    );
  }
  return {
    cooldownMs: r.cooldownMinutes * 60_000,
    dailyCap: r.dailyCap,
    backoffMs: r.backoffMinutes * 60_000,
    driftPersistence: r.driftPersistence ?? model.drift.persistence.m,
    dataWindowMs: r.dataWindowDays * 86_400_000,
    championGate: r.championGate,
    training: r.trainer?.sagemaker ?? LOCAL_ONLY_TRAINING,
    ...(r.referenceData !== undefined ? { referenceData: r.referenceData } : {}),
  };
}

/** RETRAIN_POLICIES for the models with retrain enabled. */
export function retrainPoliciesEnvValue(models: readonly RetrainModelConfig[]): string {
  return JSON.stringify(
    Object.fromEntries(models.filter((m) => m.retrain.enabled).map((m) => [m.name, retrainPolicyOf(m)])),
  );
}

/** Parses RETRAIN_POLICIES; a malformed value is a ConfigurationError naming the variable. */
export function parseRetrainPolicies(raw: string | undefined): Readonly<Record<string, RetrainPolicy>> {
  if (raw === undefined || raw.trim() === '') return {};
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    throw new ConfigurationError(`${RETRAIN_POLICIES_ENV} is not JSON; redeploy (it is set from the config)`);
  }
  const parsed = z.record(z.string(), policySchema).safeParse(json);
  if (!parsed.success) {
    throw new ConfigurationError(
      `${RETRAIN_POLICIES_ENV} is malformed: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  return parsed.data;
}

/** How a retrain run ended, as RecordOutcome stores and returns it. */
export const RETRAIN_OUTCOMES = [
  'promoted',
  'released-not-promoted',
  'rejected-by-champion-gate',
  'failed',
] as const;
export type RetrainOutcome = (typeof RETRAIN_OUTCOMES)[number];

/** The run the guard let start, until RecordOutcome ends it. */
export interface RunningRetrain {
  readonly runId: string;
  readonly executionId: string;
  readonly startedAt: string;
  readonly trigger: TriggerKind;
  readonly parentVersion: string;
}

/** The retrain state of one model (MonitorState, kind `retrain`), changed only by conditional writes on `revision`. */
export interface RetrainState {
  /** Runs started so far: the next run is `r<counter + 1>`. */
  readonly counter: number;
  readonly running?: RunningRetrain;
  readonly lastStartedAt?: string;
  readonly lastFinishedAt?: string;
  readonly lastRunId?: string;
  readonly lastOutcome?: RetrainOutcome;
  /** Set when a retrain's release promoted its version. */
  readonly lastPromotedAt?: string;
  /** The UTC day (`YYYY-MM-DD`) `startsOnDay` counts. */
  readonly day?: string;
  readonly startsOnDay: number;
  readonly consecutiveFailures: number;
  /** No automatic start before this instant (after failures). */
  readonly backoffUntil?: string;
  /** Trigger event ids recently started from (a redelivered event starts nothing). */
  readonly recentEventIds: readonly string[];
}

export const INITIAL_RETRAIN_STATE: RetrainState = {
  counter: 0,
  startsOnDay: 0,
  consecutiveFailures: 0,
  recentEventIds: [],
};
