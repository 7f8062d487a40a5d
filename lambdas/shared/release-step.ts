/**
 * The shape every release-state-machine handler shares, written once: wiring built on first use, the event parsed
 * against its schema, failures counted and logged and rethrown (the ASL's Retry/Catch match them by `name`), metrics
 * flushed on every path.
 */
import type { Context } from 'aws-lambda';
import type { z } from 'zod';
import { parseEvent } from '../core/release-events';
import { currentEnvironment } from './env';
import { logger, metrics, MetricUnit } from './powertools';

export interface ReleaseStep<D, I, R> {
  /** The state's name, used in the malformed-event message. */
  readonly name: string;
  /**
   * Dependencies and event schema, built on first use (once per execution environment) so that a missing
   * environment variable fails the invocation with its name rather than the module load.
   */
  readonly wire: () => { readonly deps: D; readonly schema: z.ZodType<I> };
  /** The step itself; logs and counts its outcome. */
  readonly run: (deps: D, input: I) => Promise<R>;
  /**
   * Logs a failure the step expects (e.g. a version conflict) and returns true; any other failure is logged as an
   * error.
   * @default - every failure is logged as an error
   */
  readonly onExpectedFailure?: (err: unknown) => boolean;
}

/** A Lambda handler running `step`. */
export function releaseStepHandler<D, I, R>(
  step: ReleaseStep<D, I, R>,
): (event: unknown, context?: Context) => Promise<R> {
  // Built once per execution environment. In Lambda that is the process (process.env); locally every function of
  // every runtime has its own environment object, as every Lambda function has its own process, so wiring built for
  // one row is never reused under another row's bindings.
  const wiredBy = new WeakMap<object, ReturnType<ReleaseStep<D, I, R>['wire']>>();
  return async (event, context) => {
    if (context) logger.addContext(context);
    try {
      const environment = currentEnvironment();
      let wired = wiredBy.get(environment);
      if (wired === undefined) {
        wired = step.wire();
        wiredBy.set(environment, wired);
      }
      return await step.run(wired.deps, parseEvent(wired.schema, event, step.name));
    } catch (err) {
      metrics.addMetric('StepErrors', MetricUnit.Count, 1);
      if (!step.onExpectedFailure?.(err)) {
        logger.error(`${step.name} failed`, {
          key: (event as { key?: unknown } | null)?.key,
          error: err as Error,
        });
      }
      throw err;
    } finally {
      // Most steps add no metric on most calls; publishing nothing would log Powertools' "No application metrics to
      // publish" warning on every such call, which reads like a fault in the function's logs.
      if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
      else metrics.clearDimensions();
    }
  };
}
