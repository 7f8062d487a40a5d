/**
 * Shadow mode as an after-response hook: the candidate runs on the instances stable answered, and only the
 * comparison is recorded (`ShadowDisagreement` 0/1, or `ShadowErrors` when the candidate failed), under the
 * candidate's version. Skipped after a fallback: the answer then did not come from the version shadow compares to.
 */
import { ArtifactIntegrityError } from '../core/model-cache';
import { INFERENCE_METRICS as M, type StructuredLogger } from '../core/ports';
import { findDisagreement } from '../core/routing';
import type { AfterResponseHook, ServedContext } from './hooks';
import type { ModelMetrics } from './request-metrics';
import { errorName } from './settings';
import { VersionUnavailableError, type VersionLoader } from './version-loader';

export interface ShadowHookOptions {
  /** The served model's loader and metrics (undefined for a model this app does not serve). */
  readonly model: (
    name: string,
  ) => { readonly loader: VersionLoader; readonly metrics: ModelMetrics } | undefined;
  readonly tolerance: number;
  readonly logger: StructuredLogger;
}

export function createShadowHook(options: ShadowHookOptions): AfterResponseHook {
  const { logger, tolerance } = options;
  const compare = async (ctx: ServedContext, candidate: string): Promise<void> => {
    const served = options.model(ctx.model);
    if (served === undefined) return;
    const dims = served.metrics.version(candidate).both;
    try {
      const { state, model } = await served.loader.load(candidate);
      const errors = state.validate(ctx.instances);
      if (errors.length > 0) {
        throw new VersionUnavailableError(
          `the candidate's input schema refuses the request (${errors.length} field errors)`,
        );
      }
      const predictions = state.format(await model.predict(ctx.instances), ctx.instances.length);
      const where = findDisagreement(ctx.predictions, predictions, tolerance);
      served.metrics.emit(dims, [
        { name: M.shadowDisagreement, unit: 'Count', value: where === undefined ? 0 : 1 },
      ]);
      if (where !== undefined) {
        // The location only (e.g. "[0].probabilities.benign"), never the values.
        logger.info('shadow disagreement', {
          requestId: ctx.requestId,
          model: ctx.model,
          stable: ctx.version,
          candidate,
          at: where,
        });
      }
    } catch (err) {
      if (err instanceof ArtifactIntegrityError) served.metrics.integrityFailure(candidate);
      served.metrics.emit(dims, [{ name: M.shadowErrors, unit: 'Count', value: 1 }]);
      logger.warn('shadow candidate failed; the stable answer was returned', {
        requestId: ctx.requestId,
        model: ctx.model,
        stable: ctx.version,
        candidate,
        error: errorName(err),
        reason: err instanceof Error ? err.message : String(err),
      });
    }
  };
  return {
    name: 'shadow',
    onServed(ctx) {
      const candidate = ctx.shadowVersion;
      if (candidate === undefined || ctx.version !== ctx.chosenVersion) return undefined;
      return compare(ctx, candidate);
    },
  };
}
