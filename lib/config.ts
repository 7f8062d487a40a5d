/**
 * Typed project configuration (`modelops.config.ts`), validated with zod. Reference: docs/config.md.
 * Errors name the field, the value received and the fix; `parseConfig` throws one `ConfigError` listing them all.
 */
import type { AlarmRulesInput } from '../lambdas/core/alarm-rules';
import { z } from 'zod';
import { modelNameSchema, RISK_TIERS, VERSION_PATTERN } from '../lambdas/core/manifest';
import { safeParseExplained } from '../lambdas/core/manifest-issues';
import { PREFIX } from '../lambdas/core/tables';

const MiB = 1024 * 1024;

/** CloudWatch Logs accepts only these retention periods (days). */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

const wholeNumber = (min: number, max: number, unit: string) =>
  z
    .number()
    .int({ error: `must be a whole number of ${unit}` })
    .min(min, { error: `must be at least ${min} ${unit}` })
    .max(max, { error: `must be at most ${max} ${unit}` });

/** Lambda's synchronous invocation payload limit (6 MB) bounds the request body a Function URL can pass. */
const MAX_INVOKE_PAYLOAD_BYTES = 6 * 1024 * 1024;

const share = (min: number, max: number) =>
  z
    .number()
    .min(min, { error: `must be between ${min} and ${max}` })
    .max(max, { error: `must be between ${min} and ${max}` });

export const DEFAULT_PROVISIONED_CONCURRENCY = { min: 0, max: 0, targetUtilization: 0.7 } as const;

/**
 * Provisioned concurrency of the alias `live` and its target-tracking scaling. `max: 0` turns both off. When on,
 * `min` must be at least 1: `LambdaProvisionedConcurrencyUtilization` is only emitted while some provisioned
 * concurrency exists, so a target scaled in to 0 would never see the metric that scales it out again.
 */
const provisionedConcurrencySchema = z
  .strictObject({
    min: wholeNumber(0, 1000, 'executions').default(DEFAULT_PROVISIONED_CONCURRENCY.min),
    max: wholeNumber(0, 1000, 'executions').default(DEFAULT_PROVISIONED_CONCURRENCY.max),
    targetUtilization: share(0.1, 0.9).default(DEFAULT_PROVISIONED_CONCURRENCY.targetUtilization),
  })
  .superRefine((pc, ctx) => {
    if (pc.min > pc.max) {
      ctx.addIssue({
        code: 'custom',
        path: ['min'],
        message: `must not exceed max (${pc.max}); raise max or lower min`,
      });
    } else if (pc.max > 0 && pc.min < 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['min'],
        message:
          'must be at least 1 when max > 0: scaling tracks provisioned-concurrency utilization, which does not ' +
          'exist at 0; set min >= 1, or max: 0 for no provisioned concurrency',
      });
    }
  });
export type ProvisionedConcurrencyConfig = z.infer<typeof provisionedConcurrencySchema>;

export const DEFAULT_INFERENCE = {
  routingCacheTtlSeconds: 5,
  maxBodyBytes: MiB,
  maxBatch: 64,
  capture: { sampleRate: 0, batchRecords: 100 },
} as const;

/** Request limits, routing cache and capture of the inference function (or SageMaker router). */
const inferenceSchema = z
  .strictObject({
    /** How long a Deployments record is cached; a routing change takes effect within this time. */
    routingCacheTtlSeconds: share(0, 300).default(DEFAULT_INFERENCE.routingCacheTtlSeconds),
    maxBodyBytes: wholeNumber(1, MAX_INVOKE_PAYLOAD_BYTES, 'bytes').default(DEFAULT_INFERENCE.maxBodyBytes),
    maxBatch: wholeNumber(1, 10_000, 'instances').default(DEFAULT_INFERENCE.maxBatch),
    capture: z
      .strictObject({
        /** Share of requests written to capture/<model>/; 0 turns capture (and its S3 permission) off. */
        sampleRate: share(0, 1).default(DEFAULT_INFERENCE.capture.sampleRate),
        batchRecords: wholeNumber(1, 10_000, 'records').default(DEFAULT_INFERENCE.capture.batchRecords),
      })
      .prefault({}),
  })
  .prefault({});

/**
 * `<account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repository>(:<tag>|@sha256:<digest>)`; groups: account, region,
 * `.cn` (China partition), repository.
 */
export const ECR_IMAGE_URI_PATTERN =
  /^(\d{12})\.dkr\.ecr\.([a-z]{2}(?:-[a-z]+)+-\d)\.amazonaws\.com(\.cn)?\/((?:[a-z0-9]+(?:[._-][a-z0-9]+)*\/)*[a-z0-9]+(?:[._-][a-z0-9]+)*)(?::[\w][\w.-]{0,127}|@sha256:[0-9a-f]{64})$/;

/** e.g. `ml.m5.large`. */
export const SAGEMAKER_INSTANCE_TYPE_PATTERN = /^ml\.[a-z0-9]+\.[a-z0-9]+$/;

const realtimeVariantSchema = z.strictObject({
  kind: z.literal('realtime'),
  instanceType: z
    .string()
    .regex(SAGEMAKER_INSTANCE_TYPE_PATTERN, {
      error: 'must be a SageMaker instance type such as ml.m5.large',
    })
    .default('ml.m5.large'),
  initialInstanceCount: wholeNumber(1, 100, 'instances').default(1),
});

const serverlessVariantSchema = z
  .strictObject({
    kind: z.literal('serverless'),
    memorySizeInMb: wholeNumber(1024, 6144, 'MB').refine((mb) => mb % 1024 === 0, {
      error: 'must be a multiple of 1024 MB (1024, 2048, 3072, 4096, 5120 or 6144)',
    }),
    maxConcurrency: wholeNumber(1, 200, 'invocations'),
    provisionedConcurrency: wholeNumber(1, 200, 'invocations').optional(),
  })
  .superRefine((v, ctx) => {
    if (v.provisionedConcurrency !== undefined && v.provisionedConcurrency > v.maxConcurrency) {
      ctx.addIssue({
        code: 'custom',
        path: ['provisionedConcurrency'],
        message: `must not exceed maxConcurrency (${v.maxConcurrency}); raise maxConcurrency or lower it`,
      });
    }
  });

/** The SageMaker endpoint of a model with `target: "sagemaker"`; it serves one (the stable) version. */
const sagemakerSchema = z.strictObject({
  /** Inference container image in ECR. */
  image: z.string().regex(ECR_IMAGE_URI_PATTERN, {
    error:
      'must be an ECR image URI such as 123456789012.dkr.ecr.eu-west-1.amazonaws.com/my-image:1.0 (or @sha256:<digest>)',
  }),
  /** Registry key of `version`'s registered model.tar.gz (`models/<name>/<version>/<sha256>.tar.gz`). */
  modelDataKey: z
    .string()
    .refine((k) => k.startsWith(PREFIX.models) && !k.includes('..') && !k.endsWith('/'), {
      error: `must be the key of a registered artifact under ${PREFIX.models} (${PREFIX.models}<name>/<version>/<sha256>.tar.gz)`,
    }),
  /**
   * The version CloudFormation creates the endpoint with (variant `variantNameFor(version)`); from the first rollout
   * on, the release pipeline owns the endpoint's config and routing decides what serves. Leave it as first deployed.
   */
  version: z.string().regex(VERSION_PATTERN, {
    error: 'must be a registered version: 1-64 characters of A-Z, a-z, 0-9, ".", "_", "-"',
  }),
  variant: z
    .discriminatedUnion('kind', [realtimeVariantSchema, serverlessVariantSchema], {
      error: 'must have kind "realtime" or "serverless"',
    })
    .prefault({ kind: 'realtime' }),
});

export const DEFAULT_SLO = {
  periodDays: 30,
  availability: { target: 0.999 },
  latency: { target: 0.99, thresholdMs: 250 },
} as const;

const sloTarget = z
  .number()
  .gt(0, { error: 'must be between 0 and 1 (exclusive), e.g. 0.999' })
  .lt(1, { error: 'must be between 0 and 1 (exclusive), e.g. 0.999; 1 leaves no error budget' });

/**
 * Service level objectives of one model (docs/config.md "SLOs"). Availability: share of requests not failed (5xx);
 * latency: share of answered requests within `thresholdMs` (the handler counts `SlowRequests`). Burn-rate alarms,
 * `modelops status` and the rollout gate all derive from these through lambdas/core/slo.ts.
 */
const sloSchema = z
  .strictObject({
    /** Error-budget period; the burn-rate tiers keep the SRE workbook's budget shares for any period. */
    periodDays: wholeNumber(1, 90, 'days').default(DEFAULT_SLO.periodDays),
    availability: z.strictObject({ target: sloTarget.default(DEFAULT_SLO.availability.target) }).prefault({}),
    latency: z
      .strictObject({
        target: sloTarget.default(DEFAULT_SLO.latency.target),
        /** A request answered in more than this many milliseconds is bad for the latency SLI. */
        thresholdMs: wholeNumber(1, 900_000, 'milliseconds').default(DEFAULT_SLO.latency.thresholdMs),
      })
      .prefault({}),
  })
  .prefault({});
export type SloConfig = z.infer<typeof sloSchema>;

export const DEFAULT_DRIFT = {
  enabled: true,
  windowMinutes: 60,
  minLiveCount: 1_000,
  thresholds: { jsDistance: 0.1, psi: 0.2 },
  datasetDriftShare: 0.5,
  persistence: { m: 3, n: 6 },
  cooldownMinutes: 120,
  flushSeconds: 10,
} as const;

/**
 * Drift detection of one model (docs/drift.md). Live instances are counted into the serving version's baseline
 * bins (only versions whose manifest has a baseline); the scheduled monitor compares each window with it.
 */
const driftSchema = z
  .strictObject({
    /** Off: the handler counts nothing and the monitor skips the model. */
    enabled: z.boolean().default(DEFAULT_DRIFT.enabled),
    /** Live window each monitor run compares with the baseline (sliding; the monitor runs more often). */
    windowMinutes: wholeNumber(5, 1_440, 'minutes').default(DEFAULT_DRIFT.windowMinutes),
    /** Live instances a window needs; below it the window is insufficient data, never "no drift". */
    minLiveCount: wholeNumber(1, 100_000_000, 'instances').default(DEFAULT_DRIFT.minLiveCount),
    thresholds: z
      .strictObject({
        jsDistance: share(0, 1).optional(),
        psi: z.number().positive({ error: 'must be > 0' }).optional(),
        wasserstein: share(0, 1).optional(),
        missingRateDelta: share(0, 1).optional(),
      })
      .prefault(DEFAULT_DRIFT.thresholds),
    /** Share of evaluated features that must drift for the window to count as dataset drift. */
    datasetDriftShare: share(0.01, 1).default(DEFAULT_DRIFT.datasetDriftShare),
    /** Raise after `m` drifted windows among the last `n`; clear after `n` calm windows in a row. */
    persistence: z
      .strictObject({
        m: wholeNumber(1, 100, 'windows').default(DEFAULT_DRIFT.persistence.m),
        n: wholeNumber(1, 100, 'windows').default(DEFAULT_DRIFT.persistence.n),
      })
      .prefault({})
      .refine((p) => p.m <= p.n, { error: 'persistence.m must not exceed persistence.n', path: ['m'] }),
    /** After a promote or retrain drift may not raise the alarm for this long (re-baselined to the new stable). */
    cooldownMinutes: wholeNumber(0, 43_200, 'minutes').default(DEFAULT_DRIFT.cooldownMinutes),
    /** How often the handler flushes its counters to DriftCounters (also at a size bound and on shutdown). */
    flushSeconds: wholeNumber(1, 300, 'seconds').default(DEFAULT_DRIFT.flushSeconds),
  })
  .prefault({});
export type DriftConfig = z.infer<typeof driftSchema>;

export const DEFAULT_FEEDBACK = { sampleRate: 0, ttlDays: 30 } as const;

/**
 * Label feedback: a share of predictions is logged by request id (with a TTL) so that labels posted later to
 * `POST /models/<name>/feedback` join them into accuracy (classification) or MAE (regression) and label lag.
 */
const feedbackSchema = z
  .strictObject({
    /** Share of requests whose predictions are logged for feedback; 0 turns feedback off. */
    sampleRate: share(0, 1).default(DEFAULT_FEEDBACK.sampleRate),
    /** Logged predictions expire after this many days; a label for an expired one is refused (409). */
    ttlDays: wholeNumber(1, 365, 'days').default(DEFAULT_FEEDBACK.ttlDays),
    /** Classification: alarm when accuracy over labelled predictions falls below this share. */
    accuracyFloor: share(0, 1).optional(),
    /** Regression: alarm when the mean absolute error rises above this value. */
    maeCeiling: z.number().positive({ error: 'must be > 0' }).optional(),
  })
  .prefault({});
export type FeedbackConfig = z.infer<typeof feedbackSchema>;

export const DEFAULT_CANARY = {
  enabled: false,
  steps: [0.05, 0.25, 0.5],
  bakeSeconds: 600,
  lock: { ttlMinutes: 360, onLocked: 'wait', waitSeconds: 60, maxWaits: 60 },
  dryRun: false,
  budget: { gate: true, maxFirstStepBudgetShare: 0.1, force: [] },
  shadow: { enabled: false, bakeSeconds: 300, maxDisagreement: 0.05 },
} as const;

/**
 * The canary rollout after registration (docs/rollout.md): take the model's rollout lock, route `steps` in turn to
 * the candidate with a bake and a statistical analysis after each, then promote or roll back. Off by default: a
 * registered version then waits for `modelops promote`.
 */
const canarySchema = z
  .strictObject({
    enabled: z.boolean().default(DEFAULT_CANARY.enabled),
    /** Candidate weights in turn, strictly increasing, each in (0, 1); promoted after the last step passes. */
    steps: z
      .array(
        z
          .number()
          .gt(0, { error: 'must be > 0' })
          .lt(1, { error: 'must be < 1 (promotion is the 100 % step)' }),
      )
      .min(1, { error: 'must list at least one weight, e.g. [0.05, 0.25, 0.5]' })
      .max(20, { error: 'at most 20 steps' })
      .refine((w) => w.every((x, i) => i === 0 || x > w[i - 1]!), { error: 'weights must strictly increase' })
      .default([...DEFAULT_CANARY.steps]),
    /** Bake before each analysis (also each extension of an inconclusive step); 0 analyses at once. */
    bakeSeconds: wholeNumber(0, 86_400, 'seconds').default(DEFAULT_CANARY.bakeSeconds),
    lock: z
      .strictObject({
        /** A lock older than this may be taken over: a dead execution cannot hold the model forever. */
        ttlMinutes: wholeNumber(1, 10_080, 'minutes').default(DEFAULT_CANARY.lock.ttlMinutes),
        /** A release while another runs for the model: wait for it, or fail at once. */
        onLocked: z
          .enum(['wait', 'fail'], { error: 'must be "wait" or "fail"' })
          .default(DEFAULT_CANARY.lock.onLocked),
        waitSeconds: wholeNumber(1, 3_600, 'seconds').default(DEFAULT_CANARY.lock.waitSeconds),
        maxWaits: wholeNumber(0, 10_000, 'waits').default(DEFAULT_CANARY.lock.maxWaits),
      })
      .prefault({}),
    /** Judge and record every verdict but never act: the candidate is cleared at the end, stable stays. */
    dryRun: z.boolean().default(DEFAULT_CANARY.dryRun),
    /**
     * The error-budget input (docs/rollout.md "Error-budget gate"), measured against `models[].slo` over its period:
     * no canary starts while the budget is exhausted, and the first step is capped to what the budget can afford.
     */
    budget: z
      .strictObject({
        /** Refuse a canary while any objective's remaining budget is <= 0, and cap the first step; off reads nothing. */
        gate: z.boolean().default(DEFAULT_CANARY.budget.gate),
        /** Share of the remaining budget a fully broken candidate may burn at the first step before its analysis. */
        maxFirstStepBudgetShare: z
          .number()
          .gt(0, { error: 'must be in (0, 1]' })
          .lte(1, { error: 'must be in (0, 1]' })
          .default(DEFAULT_CANARY.budget.maxFirstStepBudgetShare),
        /**
         * Versions released past the gate (no refusal, no cap), each with the reason (audited as ROLLOUT_FORCED).
         * A platform decision, made in config and deployed, not in the data scientist's manifest.
         */
        force: z
          .array(
            z.strictObject({
              version: z.string().regex(VERSION_PATTERN, {
                error: 'must be the version to force: 1-64 characters of A-Z, a-z, 0-9, ".", "_", "-"',
              }),
              reason: z
                .string()
                .trim()
                .min(10, { error: 'must say why the budget gate is overridden (at least 10 characters)' })
                .max(1000),
            }),
          )
          .max(20, { error: 'at most 20 forced versions; remove the ones already released' })
          .refine((f) => new Set(f.map((x) => x.version)).size === f.length, {
            error: 'lists a version twice; keep one entry per version',
          })
          .default([]),
      })
      .prefault({}),
    /**
     * The shadow phase before the canary (docs/rollout.md "Shadow phase"): the candidate runs on every request next
     * to stable, answers none, and is judged on how often it disagrees with stable and fails where stable answered.
     */
    shadow: z
      .strictObject({
        enabled: z.boolean().default(DEFAULT_CANARY.shadow.enabled),
        /** Bake before each shadow analysis (and each extension); 0 analyses at once. */
        bakeSeconds: wholeNumber(0, 86_400, 'seconds').default(DEFAULT_CANARY.shadow.bakeSeconds),
        /** Largest tolerated share of compared requests on which the candidate's answer differs from stable's. */
        maxDisagreement: z
          .number({ error: 'must be a share in (0, 1)' })
          .gt(0, { error: 'must be > 0 (a share in (0, 1))' })
          .lt(1, { error: 'must be < 1 (a share in (0, 1))' })
          .default(DEFAULT_CANARY.shadow.maxDisagreement),
      })
      .prefault({}),
    /** The judge's policy (docs/rollout-judge.md); every field has a default. */
    judge: z
      .strictObject({
        alpha: z.number().gt(0).lte(0.5, { error: 'must be in (0, 0.5]' }).optional(),
        minDetectableEffect: z.number().gt(0).lte(10, { error: 'must be in (0, 10]' }).optional(),
        power: z.number().gte(0.5).lt(1, { error: 'must be in [0.5, 1)' }).optional(),
        baselineRateFloor: share(0.000001, 0.999999).optional(),
        maxExtensionsPerStep: wholeNumber(0, 1_000, 'extensions').optional(),
        /** When a step stays inconclusive past its extensions: roll back, or hold the weight for an operator. */
        onExhausted: z.enum(['rollback', 'hold'], { error: 'must be "rollback" or "hold"' }).optional(),
        maxP99Ratio: z.number().gte(1, { error: 'must be >= 1' }).optional(),
        p99CeilingMs: z.number().positive({ error: 'must be > 0' }).optional(),
        minRequestsForP99: wholeNumber(100, 10_000_000, 'requests').optional(),
        maxInvalidInputRatio: z.number().gte(1, { error: 'must be >= 1' }).optional(),
        maxPredictionShift: share(0.000001, 1).optional(),
        minPredictionShift: share(0.000001, 1).optional(),
        predictionShiftAlpha: z.number().gt(0).lte(0.05, { error: 'must be in (0, 0.05]' }).optional(),
      })
      .prefault({}),
  })
  .prefault({});
export type CanaryConfig = z.infer<typeof canarySchema>;

export const DEFAULT_RETRAIN = {
  enabled: false,
  cooldownMinutes: 360,
  dailyCap: 2,
  backoffMinutes: 60,
  dataWindowDays: 7,
  championGate: { minImprovement: 0, higherIsBetter: true },
  sagemaker: { instanceCount: 1, volumeSizeGb: 30, maxRuntimeSeconds: 3_600 },
} as const;

/**
 * `rate(<n> minutes|hours|days)` or `cron(<6 fields>)`: EventBridge Scheduler's recurring expressions (checked
 * loosely here; the scheduler refuses what it cannot read at deploy time). Local mode runs `rate(...)` only.
 */
export const RETRAIN_SCHEDULE_PATTERN =
  /^(rate\((\d+) (minute|minutes|hour|hours|day|days)\)|cron\((\S+ ){5}\S+\))$/;

/** SageMaker hyperparameters: string to string, as CreateTrainingJob takes them (at most 100). */
const hyperparametersSchema = z
  .record(z.string().min(1).max(256), z.string().max(2_500))
  .refine((h) => Object.keys(h).length <= 100, { error: 'at most 100 hyperparameters' });

/**
 * Retraining (docs/retrain.md): persistent drift, a schedule, the accuracy alarm or a manual start run the retrain
 * state machine, guarded by cooldown, daily cap and backoff; the retrained version must beat LIVE on
 * `championGate.metric` before it is released through the usual canary.
 */
const retrainSchema = z
  .strictObject({
    enabled: z.boolean().default(DEFAULT_RETRAIN.enabled),
    /** Extra trigger on a timetable: `rate(7 days)` or `cron(0 3 ? * MON *)`. */
    schedule: z
      .string()
      .regex(RETRAIN_SCHEDULE_PATTERN, {
        error: 'must be rate(<n> minutes|hours|days) or cron(<6 fields>), e.g. rate(7 days)',
      })
      .optional(),
    /** No automatic retrain starts this long after the last retrain started or the last promote. */
    cooldownMinutes: wholeNumber(0, 43_200, 'minutes').default(DEFAULT_RETRAIN.cooldownMinutes),
    /** At most this many retrains start per UTC day (manual starts count too). */
    dailyCap: wholeNumber(1, 100, 'retrains').default(DEFAULT_RETRAIN.dailyCap),
    /** After a failed retrain, automatic starts wait this long, doubled per consecutive failure (capped at 7 days). */
    backoffMinutes: wholeNumber(0, 10_080, 'minutes').default(DEFAULT_RETRAIN.backoffMinutes),
    /**
     * Drifted windows the `ModelDriftDetected` evidence must show among its recent windows before drift starts a
     * retrain. @default - the model's drift.persistence.m
     */
    driftPersistence: wholeNumber(1, 100, 'windows').optional(),
    /** Labelled predictions of this many days before the start are added to the reference data. */
    dataWindowDays: wholeNumber(1, 365, 'days').default(DEFAULT_RETRAIN.dataWindowDays),
    /** The reference CSV training starts from: a path in the project (local) or a registry key. */
    referenceData: z.string().trim().min(1, { error: 'must name a CSV file or registry key' }).optional(),
    trainer: z
      .strictObject({
        /**
         * Local mode: the command, run with `--data <csv> --manifest <parent manifest.json> --out <dir>` appended;
         * it writes model.onnx and report.json to the out dir.
         */
        command: z.array(z.string().min(1)).min(1, { error: 'must list the program and its arguments' }),
        /** AWS: the SageMaker training job (`createTrainingJob.sync`). */
        sagemaker: z
          .strictObject({
            image: z.string().regex(ECR_IMAGE_URI_PATTERN, {
              error:
                'must be an ECR image URI such as 123456789012.dkr.ecr.eu-west-1.amazonaws.com/trainer:1.0',
            }),
            instanceType: z
              .string()
              .regex(SAGEMAKER_INSTANCE_TYPE_PATTERN, {
                error: 'must be a SageMaker instance type such as ml.m5.large',
              })
              .default('ml.m5.large'),
            instanceCount: wholeNumber(1, 20, 'instances').default(DEFAULT_RETRAIN.sagemaker.instanceCount),
            volumeSizeGb: wholeNumber(1, 16_384, 'GB').default(DEFAULT_RETRAIN.sagemaker.volumeSizeGb),
            maxRuntimeSeconds: wholeNumber(60, 21_600, 'seconds').default(
              DEFAULT_RETRAIN.sagemaker.maxRuntimeSeconds,
            ),
            hyperparameters: hyperparametersSchema.default({}),
          })
          .optional(),
      })
      .optional(),
    championGate: z
      .strictObject({
        /** A metric both LIVE's manifest and the trainer's report.json carry, e.g. `auc`. */
        metric: z.string().trim().min(1, { error: 'must name a metric, e.g. auc' }),
        /** The retrained model must beat LIVE by at least this much (in the metric's units). */
        minImprovement: z
          .number()
          .min(0, { error: 'must be >= 0' })
          .default(DEFAULT_RETRAIN.championGate.minImprovement),
        higherIsBetter: z.boolean().default(DEFAULT_RETRAIN.championGate.higherIsBetter),
      })
      .optional(),
  })
  .prefault({})
  .superRefine((r, ctx) => {
    if (!r.enabled) return;
    if (r.trainer === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['trainer'],
        message:
          'is required when retrain.enabled is true: add trainer: { command: [...], sagemaker?: {...} }',
      });
    }
    if (r.championGate === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['championGate'],
        message:
          'is required when retrain.enabled is true: add championGate: { metric: "<a manifest metric>" }',
      });
    }
  });
export type RetrainConfig = z.infer<typeof retrainSchema>;

export const OBJECT_LOCK_MODES = ['GOVERNANCE', 'COMPLIANCE'] as const;
export const DEFAULT_OBJECT_LOCK = { mode: 'GOVERNANCE', days: 365 } as const;

/**
 * Retention of registered versions. GOVERNANCE (default): principals with s3:BypassGovernanceRetention can still
 * shorten or remove it (the registry's bucket policy denies that under models/ to everyone but RegisterVersion).
 * COMPLIANCE: nobody, the root user included, can delete a version before it expires; choose it deliberately.
 * S3 caps retention at 100 years.
 */
const objectLockSchema = z
  .strictObject({
    mode: z
      .enum(OBJECT_LOCK_MODES, { error: 'must be "GOVERNANCE" or "COMPLIANCE"' })
      .default(DEFAULT_OBJECT_LOCK.mode),
    days: wholeNumber(1, 36_500, 'days').default(DEFAULT_OBJECT_LOCK.days),
  })
  .prefault({});
export type ObjectLockConfig = z.infer<typeof objectLockSchema>;

/** An IAM principal that may assume a role: an account root, a role or a user (paths allowed). */
export const IAM_PRINCIPAL_ARN_PATTERN =
  /^arn:aws(?:-cn|-us-gov)?:iam::\d{12}:(?:root|role\/[\w+=,.@/-]{1,512}|user\/[\w+=,.@/-]{1,512})$/;

export const modelConfigSchema = z
  .strictObject({
    /** Same rules as a manifest's `name`; a bundle for a model not listed here is rejected. */
    name: modelNameSchema,
    target: z.enum(['lambda', 'sagemaker'], { error: 'must be "lambda" or "sagemaker"' }).default('lambda'),
    owner: z.string().trim().min(1, { error: 'must name the owning team or person' }),
    /** Overrides every manifest's `approval.required` when set. */
    approvalRequired: z.boolean().optional(),
    /** A high tier requires approval unless `approvalRequired` is false. */
    riskTier: z.enum(RISK_TIERS).default('medium'),
    /**
     * How long a release waits for `modelops approve|reject` before it ends as rejected (Step Functions allows a
     * task at most one year).
     */
    approvalTimeoutSeconds: wholeNumber(1, 31_536_000, 'seconds').default(86_400),
    /** Inference function (or SageMaker router) memory (MB); Lambda allows 128–10240. */
    memoryMb: wholeNumber(128, 10_240, 'MB').default(1024),
    /** Inference function (or SageMaker router) timeout (seconds). */
    timeoutSeconds: wholeNumber(1, 900, 'seconds').default(10),
    /** Reserved concurrency of the inference function; unset shares the account's unreserved pool. */
    reservedConcurrency: wholeNumber(1, 1000, 'executions').optional(),
    provisionedConcurrency: provisionedConcurrencySchema.prefault({}),
    inference: inferenceSchema,
    sagemaker: sagemakerSchema.optional(),
    slo: sloSchema,
    drift: driftSchema,
    feedback: feedbackSchema,
    canary: canarySchema,
    retrain: retrainSchema,
  })
  .superRefine((m, ctx) => {
    if (m.reservedConcurrency !== undefined && m.provisionedConcurrency.max > m.reservedConcurrency) {
      ctx.addIssue({
        code: 'custom',
        path: ['provisionedConcurrency', 'max'],
        message:
          `must not exceed reservedConcurrency (${m.reservedConcurrency}): Lambda cannot provision more than it ` +
          'reserves; raise reservedConcurrency or lower max',
      });
    }
    if (m.target === 'sagemaker' && m.sagemaker === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['sagemaker'],
        message:
          'is required when target is "sagemaker": add sagemaker: { image, modelDataKey, version, variant }, or ' +
          'set target: "lambda"',
      });
    }
    if (m.target !== 'sagemaker' && m.sagemaker !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['sagemaker'],
        message: `is only allowed when target is "sagemaker" (target is "${m.target}"); remove it or set target: "sagemaker"`,
      });
    }
    if (m.sagemaker !== undefined) {
      const versionDir = `${PREFIX.models}${m.name}/${m.sagemaker.version}/`;
      if (!m.sagemaker.modelDataKey.startsWith(versionDir)) {
        ctx.addIssue({
          code: 'custom',
          path: ['sagemaker', 'modelDataKey'],
          message: `must be the registered artifact of the version it serves, under ${versionDir}; fix the key or sagemaker.version`,
        });
      }
    }
  });
export type ModelConfig = z.infer<typeof modelConfigSchema>;

/** A model's request limits: what its inference function (MAX_BATCH, MAX_BODY_BYTES) and local mode enforce. */
export interface ModelInferenceLimits {
  readonly maxBatch: number;
  readonly maxBodyBytes: number;
}

/**
 * The one place a model's effective request limits are resolved: `models[].inference.maxBatch` and
 * `maxBodyBytes`, whose defaults (64 instances, 1 MiB) the schema applied. A tensor model usually wants its own,
 * e.g. `inference: { maxBatch: 16, maxBodyBytes: 4 * 1024 * 1024 }` for images.
 */
export function modelInferenceLimits(model: Pick<ModelConfig, 'inference'>): ModelInferenceLimits {
  return { maxBatch: model.inference.maxBatch, maxBodyBytes: model.inference.maxBodyBytes };
}

export const configSchema = z
  .strictObject({
    /** Prefix for stack names and resource names. */
    project: z
      .string()
      .regex(/^[a-z][a-z0-9-]{1,30}$/, {
        error: 'must be 2-31 characters of a-z, 0-9, "-", starting with a letter',
      })
      .default('modelops'),
    /** Deployment stage, part of the stack name (dev, prod, …). */
    stage: z
      .string()
      .regex(/^[a-z][a-z0-9]{0,15}$/, {
        error: 'must be 1-16 characters of a-z and 0-9, starting with a letter',
      })
      .default('dev'),
    /** Target account and region; default: the CLI's current credentials (CDK_DEFAULT_ACCOUNT/REGION). */
    env: z
      .strictObject({
        account: z
          .string()
          .regex(/^\d{12}$/, { error: 'must be a 12-digit AWS account id' })
          .optional(),
        region: z
          .string()
          .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, { error: 'must be an AWS region such as eu-west-1' })
          .optional(),
      })
      .default({}),
    registry: z
      .strictObject({
        /** Largest artifact ValidateArtifact accepts, in bytes. */
        maxArtifactBytes: wholeNumber(1, 10 * 1024 * MiB, 'bytes').default(512 * MiB),
        /** Uploads under incoming/ that were never released are deleted after this many days. */
        incomingExpirationDays: wholeNumber(1, 3650, 'days').default(14),
        /** Overwritten or deleted object versions are kept this many days. */
        noncurrentVersionExpirationDays: wholeNumber(1, 3650, 'days').default(90),
        /** Captured inference payloads under capture/ are deleted after this many days. */
        captureExpirationDays: wholeNumber(1, 3650, 'days').default(90),
        /**
         * S3 Object Lock retention of each registered version under models/. RegisterVersion sets it per object; the
         * bucket has Object Lock enabled but no default retention, so incoming/ and capture/ still expire.
         */
        objectLock: objectLockSchema,
        /**
         * Creates an uploader role (write incoming/ only, read release outcomes) that these IAM principals may
         * assume. Without it, only the uploader managed policy is created, to attach to existing users or roles.
         */
        uploaderRole: z
          .strictObject({
            principalArns: z
              .array(
                z.string().regex(IAM_PRINCIPAL_ARN_PATTERN, {
                  error:
                    'must be an IAM principal ARN: arn:aws:iam::<12-digit account>:root, :role/<name> or :user/<name>',
                }),
              )
              .min(1, { error: 'list at least one principal ARN that may assume the uploader role' }),
          })
          .optional(),
      })
      .prefault({}),
    retention: z
      .strictObject({
        /** CloudWatch Logs retention for functions and state machines. */
        logDays: z
          .number()
          .refine((d) => (LOG_RETENTION_DAYS as readonly number[]).includes(d), {
            error: `must be one of CloudWatch Logs' retention periods: ${LOG_RETENTION_DAYS.join(', ')}`,
          })
          .default(365),
        /** Server access logs of the registry bucket are kept this many days. */
        accessLogDays: wholeNumber(1, 3650, 'days').default(365),
      })
      .prefault({}),
    release: z
      .strictObject({
        /**
         * Reserved concurrency of each release function (validate, register, record-rejection): caps what a burst
         * of uploads can consume and guarantees the pipeline capacity. Needs an account quota above the default 10.
         */
        reservedConcurrency: wholeNumber(1, 1000, 'executions').default(5),
      })
      .prefault({}),
    monitoring: z
      .strictObject({
        /**
         * CloudWatch namespace of every metric the stack's functions emit (`POWERTOOLS_METRICS_NAMESPACE`). CloudWatch
         * reserves the `AWS/` prefix.
         */
        namespace: z
          .string()
          .regex(/^(?!AWS\/)[0-9A-Za-z._/#:-][0-9A-Za-z._/#: -]{0,254}$/, {
            error:
              'must be 1-255 characters of A-Z, a-z, 0-9, ".", "-", "_", "/", "#", ":" and spaces, not starting ' +
              'with a space or "AWS/"',
          })
          .default('ModelOps'),
        /** How often the scheduled drift monitor runs (EventBridge schedule; local mode runs it on this interval). */
        driftScheduleMinutes: wholeNumber(1, 1_440, 'minutes').default(10),
      })
      .prefault({}),
    /** Alarm notifications go to this address (SNS e-mail subscription) when set. */
    alarmEmail: z.email({ error: 'must be an e-mail address, e.g. oncall@example.com' }).optional(),
    models: z.array(modelConfigSchema).min(1, { error: 'list at least one model' }),
  })
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.models.forEach((m, i) => {
      if (seen.has(m.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['models', i, 'name'],
          message: `duplicates model "${m.name}"`,
        });
      }
      seen.add(m.name);
    });
  });

export type ModelOpsConfig = z.infer<typeof configSchema>;
export type ModelOpsConfigInput = z.input<typeof configSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(readonly issues: readonly string[]) {
    super(`Invalid modelops configuration:\n${issues.map((i) => `  - ${i}`).join('\n')}`);
  }
}

/** Identity helper that gives `modelops.config.ts` type checking and editor completion. */
export function defineConfig(config: ModelOpsConfigInput): ModelOpsConfigInput {
  return config;
}

/** Validates raw configuration and applies defaults. Throws `ConfigError` naming every bad field. */
export function parseConfig(raw: unknown): ModelOpsConfig {
  // The manifest's explainer: bad value, allowed options, did-you-mean for misspelt keys (lambdas/core/manifest-issues).
  const parsed = safeParseExplained(configSchema, raw, '(config)');
  if (parsed.success) return parsed.data;
  throw new ConfigError(
    parsed.issues.map(
      (i) => `${i.path}: ${i.message}${i.missing && !/\(got /.test(i.message) ? ' (got nothing)' : ''}`,
    ),
  );
}

/** A model's alarm rules input (lambdas/core/alarm-rules.ts) from its config: the stack, local alarms and the console. */
export function alarmRulesInputOf(
  model: ModelConfig,
  config: Pick<ModelOpsConfig, 'monitoring'>,
): AlarmRulesInput {
  return {
    name: model.name,
    slo: model.slo,
    feedback: model.feedback,
    drift: model.drift.enabled,
    driftScheduleMinutes: config.monitoring.driftScheduleMinutes,
    retrain: model.retrain.enabled,
  };
}
