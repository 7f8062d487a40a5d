/**
 * After-response hooks: work that runs once a request's answer is ready — shadow comparison, capture, and the
 * coming drift counter and prediction log — behind one interface. The app awaits them before it returns, because
 * Lambda freezes the environment once the response is returned; they cannot change the answer.
 */
import type { Instance } from '../core/features';
import type { StructuredLogger } from '../core/ports';
import type { Prediction } from '../core/predictions';
import type { RuntimeManifest } from '../core/runtime-manifest';
import { errorName } from './settings';

/** What a hook learns about one served request. Read-only: the same objects are in the response. */
export interface ServedContext {
  readonly requestId: string;
  readonly model: string;
  /** The version that answered. */
  readonly version: string;
  /** The version routing chose; differs from `version` when the chosen one could not serve (a fallback). */
  readonly chosenVersion: string;
  /** Shadow mode: the candidate routing asked to run on the same instances. */
  readonly shadowVersion: string | undefined;
  /** The validated instances, in request order. */
  readonly instances: readonly Instance[];
  /** One per instance, as returned to the client. */
  readonly predictions: readonly Prediction[];
  /** The answering version's manifest (features, outputs, baseline bins). */
  readonly manifest: RuntimeManifest;
}

/**
 * One after-response hook. `onServed` should return quickly (or a promise) and must not throw; if it does, the
 * error is logged and the request is answered anyway.
 *
 * @example
 * const driftCounter: AfterResponseHook = { name: 'drift', onServed: (ctx) => counter.add(ctx.manifest, ctx.instances) };
 */
export interface AfterResponseHook {
  /** For logs when the hook fails. */
  readonly name: string;
  onServed(ctx: ServedContext): Promise<void> | void;
}

/** Runs the hooks in order; undefined when they all finished synchronously. Never rejects. */
export type HookRunner = (ctx: ServedContext) => Promise<void> | undefined;

/**
 * Composes hooks into one runner, or undefined when there are none (then nothing is called or iterated). The
 * context is the pipeline's served outcome itself, so running hooks allocates nothing. Hooks run one after the
 * other; one that returns a promise is awaited before the next starts, and when all return synchronously the runner
 * returns undefined (nothing to await).
 */
export function composeHooks(
  hooks: readonly AfterResponseHook[],
  logger: StructuredLogger,
): HookRunner | undefined {
  if (hooks.length === 0) return undefined;
  const failed = (hook: AfterResponseHook, ctx: ServedContext, err: unknown): void =>
    logger.warn('after-response hook failed; the request was answered', {
      requestId: ctx.requestId,
      model: ctx.model,
      version: ctx.version,
      hook: hook.name,
      error: errorName(err),
    });
  const runOne = (hook: AfterResponseHook, ctx: ServedContext): Promise<void> | undefined => {
    try {
      const pending = hook.onServed(ctx);
      return pending === undefined ? undefined : pending.catch((err: unknown) => failed(hook, ctx, err));
    } catch (err) {
      failed(hook, ctx, err);
      return undefined;
    }
  };
  const runFrom = (start: number, ctx: ServedContext): Promise<void> | undefined => {
    for (let i = start; i < hooks.length; i++) {
      const pending = runOne(hooks[i]!, ctx);
      if (pending !== undefined) return pending.then(() => runFrom(i + 1, ctx));
    }
    return undefined;
  };
  const only = hooks[0]!;
  return hooks.length === 1 ? (ctx) => runOne(only, ctx) : (ctx) => runFrom(0, ctx);
}
