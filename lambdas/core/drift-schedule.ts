/**
 * What the deployed, scheduled drift monitor (lambdas/drift-monitor/handler.ts) adds around `runDriftMonitor`, as
 * pure functions:
 *
 * - `DRIFT_MODELS`, the environment variable naming the models to judge and how: a JSON array of
 *   `{ models: [names], drift }`, covering every model with `drift.enabled`, written by the CDK construct
 *   (lib/constructs/drift-monitor.ts) from modelops.config.ts and validated by the handler on its first invocation.
 *   Both sides use this module, so the stack and the handler cannot disagree on the shape.
 * - the time a scheduled event stands for, the log line of each outcome, and the per-model error metric.
 */
import { z } from 'zod';
import type { DriftConfig, MonitorOutcome } from './drift-monitor';
import { ConfigurationError, InvalidEventError } from './errors';
import { formatPath, modelNameSchema, requiredFieldMessage } from './manifest';
import { DRIFT_METRICS, METRIC_DIMENSIONS, type MetricDatum, type MetricDimensions } from './ports';

export const DRIFT_MODELS_ENV = 'DRIFT_MODELS';

/** One model the monitor judges: its name and the `drift` settings the monitor reads. */
export interface DriftModel {
  readonly name: string;
  readonly drift: DriftConfig;
}

const whole = (min: number) =>
  z
    .number()
    .int({ error: 'must be a whole number' })
    .min(min, { error: `must be at least ${min}` });
const positive = z.number().positive({ error: 'must be > 0' });

const driftConfigSchema = z.strictObject({
  enabled: z.boolean(),
  windowMinutes: whole(1),
  minLiveCount: whole(1),
  thresholds: z.strictObject({
    jsDistance: positive.optional(),
    psi: positive.optional(),
    wasserstein: positive.optional(),
    missingRateDelta: positive.optional(),
  }),
  datasetDriftShare: positive.max(1, { error: 'must be at most 1' }),
  persistence: z
    .strictObject({ m: whole(1), n: whole(1) })
    .refine((p) => p.m <= p.n, { error: 'm must not exceed n', path: ['m'] }),
  cooldownMinutes: whole(0),
}) satisfies z.ZodType<DriftConfig>;

/** One group of DRIFT_MODELS: models sharing the same drift settings (usually all of them: the defaults). */
const driftGroupsSchema = z
  .array(
    z.strictObject({
      models: z.array(modelNameSchema).min(1, { error: 'must list at least one model' }),
      drift: driftConfigSchema,
    }),
    { error: 'must be a JSON array of { models, drift }' },
  )
  .superRefine((groups, ctx) => {
    const seen = new Set<string>();
    groups.forEach((g, i) =>
      g.models.forEach((name, j) => {
        if (seen.has(name)) {
          ctx.addIssue({ code: 'custom', path: [i, 'models', j], message: `duplicates model "${name}"` });
        }
        seen.add(name);
      }),
    );
  });

/** The fix named by every DRIFT_MODELS error: the value is generated, so the stack is where it is corrected. */
const FIX =
  'the stack writes it from modelops.config.ts models[].drift (DriftMonitor construct); fix the config and ' +
  'redeploy rather than editing the variable';

/** Only the fields the monitor reads, in a stable order (so equal settings serialise equally). */
function monitorFields(drift: DriftConfig): DriftConfig {
  const t = drift.thresholds;
  return {
    enabled: drift.enabled,
    windowMinutes: drift.windowMinutes,
    minLiveCount: drift.minLiveCount,
    thresholds: {
      ...(t.jsDistance !== undefined ? { jsDistance: t.jsDistance } : {}),
      ...(t.psi !== undefined ? { psi: t.psi } : {}),
      ...(t.wasserstein !== undefined ? { wasserstein: t.wasserstein } : {}),
      ...(t.missingRateDelta !== undefined ? { missingRateDelta: t.missingRateDelta } : {}),
    },
    datasetDriftShare: drift.datasetDriftShare,
    persistence: { m: drift.persistence.m, n: drift.persistence.n },
    cooldownMinutes: drift.cooldownMinutes,
  };
}

/**
 * The value the construct sets: `[{ models: [names], drift }]`, models with equal settings in one group (in the
 * order they first appear). Lambda caps a function's environment at 4 KB; grouped, a fleet on common settings costs
 * one settings object plus its names.
 */
export function driftModelsEnvValue(models: readonly DriftModel[]): string {
  const groups = new Map<string, { models: string[]; drift: DriftConfig }>();
  for (const m of models) {
    const drift = monitorFields(m.drift);
    const key = JSON.stringify(drift);
    const group = groups.get(key);
    if (group === undefined) groups.set(key, { models: [m.name], drift });
    else group.models.push(m.name);
  }
  return JSON.stringify([...groups.values()]);
}

/**
 * Parses DRIFT_MODELS into one entry per model. Throws a ConfigurationError naming the variable, the offending field
 * (e.g. `[0].drift.persistence.m`) and the fix when it is unset, not JSON, or not the shape above.
 */
export function parseDriftModels(raw: string | undefined): DriftModel[] {
  if (raw === undefined || raw.trim() === '') {
    throw new ConfigurationError(`environment variable ${DRIFT_MODELS_ENV} is not set; ${FIX}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new ConfigurationError(
      `environment variable ${DRIFT_MODELS_ENV} is not valid JSON (${(err as Error).message}); ${FIX}`,
    );
  }
  const parsed = driftGroupsSchema.safeParse(json, {
    error: (issue) => requiredFieldMessage(issue),
  });
  if (!parsed.success) {
    const issues = parsed.error.issues
      .map((i) => `${formatPath(i.path, '(value)')}: ${i.message}`)
      .join('; ');
    throw new ConfigurationError(`environment variable ${DRIFT_MODELS_ENV} is invalid: ${issues}; ${FIX}`);
  }
  return parsed.data.flatMap((g) => g.models.map((name) => ({ name, drift: g.drift })));
}

/**
 * The instant a run judges (its window is [t − windowMinutes, t)): the scheduled event's `time`, so a duplicate
 * delivery of one event judges the same window and loses the conditional state write to its twin; `nowMs` when the
 * event has no `time` (a hand-started test invocation). A `time` that is not an ISO timestamp is refused.
 */
export function runTimeOf(event: unknown, nowMs: number): number {
  const time = (event as { time?: unknown } | null | undefined)?.time;
  if (time === undefined) return nowMs;
  const ms = typeof time === 'string' ? Date.parse(time) : Number.NaN;
  if (!Number.isFinite(ms)) {
    throw new InvalidEventError(
      `event field "time" must be an ISO 8601 timestamp (EventBridge sets it on scheduled events), got ${JSON.stringify(time)}; ` +
        'omit it to judge the window ending now',
    );
  }
  return ms;
}

/**
 * The error metric of one run: one group per judged-or-failed model. `failed` are the models whose run threw
 * (runDriftMonitor logs them and goes on), so an alarm on the metric sees a failing model although the invocation
 * itself succeeds.
 */
export function runErrorMetrics(
  models: readonly DriftModel[],
  failed: ReadonlySet<string>,
): { readonly dimensions: MetricDimensions; readonly data: readonly MetricDatum[] }[] {
  return models
    .filter((m) => m.drift.enabled)
    .map((m) => ({
      dimensions: { [METRIC_DIMENSIONS.model]: m.name },
      data: [{ name: DRIFT_METRICS.monitorErrors, unit: 'Count', value: failed.has(m.name) ? 1 : 0 }],
    }));
}

/** The log line of one outcome: message and fields (never feature values; counts, shares and states only). */
export function outcomeLogEntry(outcome: MonitorOutcome): {
  readonly level: 'info' | 'warn';
  readonly message: string;
  readonly fields: Record<string, unknown>;
} {
  if (outcome.kind === 'skipped') {
    return {
      level: 'info',
      message: 'drift monitor skipped model',
      fields: { model: outcome.model, reason: outcome.reason },
    };
  }
  const { result } = outcome;
  const fields: Record<string, unknown> = {
    model: outcome.model,
    version: outcome.version,
    windowStart: new Date(outcome.windowStartMs).toISOString(),
    windowEnd: new Date(outcome.windowEndMs).toISOString(),
    verdict: result.status,
    liveCount: result.liveCount,
    status: outcome.state.status,
    transition: outcome.transition,
    written: outcome.written,
    itemsRead: outcome.itemsRead,
  };
  if (result.status === 'evaluated') {
    fields.share = result.share;
    fields.driftedFeatures = result.driftedFeatures;
  } else {
    fields.minimum = result.minimum;
  }
  if (outcome.event !== undefined) {
    return { level: 'warn', message: 'drift detected: model entered ALARM', fields };
  }
  return { level: 'info', message: 'drift monitor judged model', fields };
}
