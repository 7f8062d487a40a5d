/**
 * `modelops promote` and `modelops route`: direct, audited routing changes until the rollout issue automates them.
 * Both are one conditional write of the model's Deployments record (lambdas/core/promotion.ts); the inference path
 * picks the change up within its routing cache TTL (ROUTING_CACHE_TTL_MS, default 5 s).
 */
import { userInfo } from 'node:os';
import type { DeploymentMode, DeploymentRecord } from '../lambdas/core/ports';
import {
  changeRouting,
  promoteStable,
  RoutingChangeRefusedError,
  RoutingConflictError,
  type RoutingChangeResult,
  type RoutingChangeStores,
} from '../lambdas/core/promotion';
import { CliError, UsageError, type CliIo } from './errors';
import { createLedgerStores } from './metadata';
import type { Target } from './target';

/** Who the ledger records as the actor: `cli:<os user>` (override with MODELOPS_ACTOR, e.g. in CI). */
export function cliActor(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MODELOPS_ACTOR?.trim()) return env.MODELOPS_ACTOR.trim();
  try {
    return `cli:${userInfo().username}`;
  } catch {
    // No passwd entry (some containers): still record that a person ran the CLI.
    return 'cli:unknown';
  }
}

function describe(record: DeploymentRecord): string {
  const candidate = record.candidate
    ? record.mode === 'shadow'
      ? `, candidate ${record.candidate} in shadow (served: stable only)`
      : `, candidate ${record.candidate} at weight ${record.weight}`
    : ', no candidate';
  return `stable ${record.stable ?? '(none)'}${candidate} (revision ${record.revision})`;
}

/**
 * Runs one routing change against the target (promote, route, rollback, unlock), mapping refusals to usage errors
 * (exit 2) and conflicts and failures to exit 1.
 */
export async function runRoutingChange<T>(
  target: Target,
  io: CliIo,
  change: (stores: RoutingChangeStores) => Promise<T>,
  stores?: RoutingChangeStores,
): Promise<T> {
  io.out(`Target: ${target.description}`);
  try {
    return await change(stores ?? createLedgerStores(target));
  } catch (err) {
    if (err instanceof RoutingChangeRefusedError) throw new UsageError(err.message);
    if (err instanceof RoutingConflictError) throw new CliError(err.message);
    throw new CliError(
      `changing routing at ${target.description} failed: ${(err as Error).message}` +
        (target.dynamodbEndpoint ? ' (is `npm start` running?)' : ''),
    );
  }
}

/** `modelops promote <model> <version>`: the version becomes stable and any candidate is cleared. */
export async function promote(
  model: string,
  version: string,
  target: Target,
  io: CliIo,
  stores?: RoutingChangeStores,
): Promise<RoutingChangeResult> {
  const result = await runRoutingChange(
    target,
    io,
    (s) => promoteStable(s, { model, version, actor: cliActor() }),
    stores,
  );
  io.out(
    result.changed
      ? `PROMOTED ${model} ${version}: ${describe(result.record)}. Serving within the routing cache TTL.`
      : `${model} ${version} already is the stable version with no candidate; nothing changed.`,
  );
  return result;
}

export interface RouteOptions {
  readonly candidate?: string;
  readonly clear?: boolean;
  readonly weight?: number;
  readonly mode?: DeploymentMode;
}

/**
 * `modelops route <model> --candidate <v> --weight 0.1 [--mode canary|shadow]` or `--clear`. A manual tool for
 * demos and tests of canary and shadow routing; the rollout issue drives these changes from the release pipeline.
 */
export async function route(
  model: string,
  options: RouteOptions,
  target: Target,
  io: CliIo,
  stores?: RoutingChangeStores,
): Promise<RoutingChangeResult> {
  if (options.clear && options.candidate !== undefined) {
    throw new UsageError('--clear and --candidate exclude each other; pass one');
  }
  if (!options.clear && options.candidate === undefined) {
    throw new UsageError(
      'pass --candidate <version> (with --weight and optionally --mode), or --clear to remove the candidate',
    );
  }
  const mode = options.mode ?? 'canary';
  // Shadow mode ignores the weight (every request runs both); canary needs one stated explicitly.
  if (!options.clear && mode === 'canary' && options.weight === undefined) {
    throw new UsageError('--weight is required in canary mode: the share of traffic (0-1) for the candidate');
  }
  const result = await runRoutingChange(
    target,
    io,
    (s) =>
      changeRouting(s, {
        model,
        candidate: options.clear ? undefined : options.candidate,
        weight: options.weight ?? 0,
        mode: options.clear ? 'canary' : mode,
        actor: cliActor(),
      }),
    stores,
  );
  io.out(
    result.changed
      ? `ROUTING_CHANGED ${model}: ${describe(result.record)}. In effect within the routing cache TTL.`
      : `${model} routing already is ${describe(result.record)}; nothing changed.`,
  );
  return result;
}
