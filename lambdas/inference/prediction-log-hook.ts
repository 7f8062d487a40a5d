/**
 * The prediction log as an after-response hook: requests whose id hashes below the model's feedback sample rate get
 * their compact predictions (class label or value per instance, never features) written to the PredictionLog table,
 * so labels posted later can be joined with them (lambdas/core/feedback.ts). Awaited like every hook; a failed
 * write is logged and the request is answered anyway (its label will then be answered 404 PredictionNotFound).
 */
import { predictionLogItem, sampledForFeedback } from '../core/feedback';
import type { PredictionLogStore, StructuredLogger } from '../core/ports';
import type { AfterResponseHook } from './hooks';
import { errorName } from './settings';

/** A model's feedback settings as serving needs them (`models[].feedback` in the config). */
export interface FeedbackServingSettings {
  /** Share of requests logged (0 → none). */
  readonly sampleRate: number;
  /** Logged predictions expire after this many days. */
  readonly ttlDays: number;
}

export interface PredictionLogHookOptions {
  readonly store: PredictionLogStore;
  /** Per model; undefined or a sample rate of 0 logs nothing for that model. */
  readonly settings: (model: string) => FeedbackServingSettings | undefined;
  readonly logger: StructuredLogger;
  readonly now: () => number;
}

/**
 * The hook, or undefined when no served model samples anything (then serving pays nothing for it).
 *
 * @example
 * const hook = createPredictionLogHook({ store, settings: () => ({ sampleRate: 0.1, ttlDays: 30 }), logger, now: Date.now }, ['m']);
 */
export function createPredictionLogHook(
  options: PredictionLogHookOptions,
  models: readonly string[],
): AfterResponseHook | undefined {
  if (!models.some((m) => (options.settings(m)?.sampleRate ?? 0) > 0)) return undefined;
  const { store, logger, now } = options;
  return {
    name: 'prediction-log',
    onServed(ctx) {
      const settings = options.settings(ctx.model);
      if (settings === undefined || !sampledForFeedback(ctx.requestId, settings.sampleRate)) return undefined;
      const item = predictionLogItem({
        model: ctx.model,
        requestId: ctx.requestId,
        version: ctx.version,
        predictions: ctx.predictions,
        outputs: ctx.manifest.outputs,
        nowMs: now(),
        ttlDays: settings.ttlDays,
      });
      if (item === undefined) return undefined;
      return store.putPrediction(item).catch((err: unknown) => {
        logger.warn('prediction log write failed; labels for this request will not join', {
          requestId: ctx.requestId,
          model: ctx.model,
          version: ctx.version,
          error: errorName(err),
        });
      });
    },
  };
}
