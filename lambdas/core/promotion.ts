/**
 * Routing changes by hand, next to the release pipeline's own: make a REGISTERED version the stable one
 * (`modelops promote`, the audited manual override), or set a candidate with a weight and mode (`modelops route`).
 * Either writes a record without the rollout lock, so a release rolling the model out ends Superseded at its next step.
 *
 * Each change is one conditional write of the model's Deployments record (revision n → n + 1), then one audit
 * event (DESIGN.md decisions 1 and 7). The inference path picks the change up within its routing cache TTL.
 * Pure rules (`planPromotion`, `planRouteChange`) are separate from the orchestration over the ports.
 */
import { appendAuditOnce, idempotentAuditEvent } from './audit';
import { MODEL_NAME_PATTERN, VERSION_PATTERN } from './names';
import type {
  AuditEvent,
  AuditLogStore,
  DeploymentMode,
  DeploymentRecord,
  DeploymentStore,
  VersionRecord,
  VersionStageStore,
  VersionStore,
} from './ports';
import { labelStages, promotionLabels } from './version-stages';

/** The routing change is not allowed (unknown or unregistered version, bad weight, …); the message says why. */
export class RoutingChangeRefusedError extends Error {
  override name = 'RoutingChangeRefusedError';
  constructor(
    message: string,
    /** The flag or argument at fault (`<version>`, `--weight`, …), for the CLI. */
    readonly field: string,
  ) {
    super(message);
  }
}

/** Someone else changed the routing record between our read and our conditional write. Read again and retry. */
export class RoutingConflictError extends Error {
  override name = 'RoutingConflictError';
  constructor(
    readonly model: string,
    readonly expectedRevision: number | undefined,
  ) {
    super(
      `the routing record of ${model} changed while this change was being written (expected ` +
        `${expectedRevision === undefined ? 'no record' : `revision ${expectedRevision}`}); someone else changed ` +
        'routing at the same time. Check `modelops status` and run the command again.',
    );
  }
}

/** What a planned change does: nothing (already in that state) or one conditional write plus one audit event. */
export type RoutingPlan =
  | { readonly kind: 'noop'; readonly current: DeploymentRecord }
  | {
      readonly kind: 'write';
      readonly record: DeploymentRecord;
      readonly expectedRevision: number | undefined;
      readonly audit: Omit<Parameters<typeof idempotentAuditEvent>[0], 'actor'>;
    };

function checkModel(model: string): void {
  if (!MODEL_NAME_PATTERN.test(model)) {
    throw new RoutingChangeRefusedError(
      `<model> "${model}" is not a model name (1-64 characters of a-z, 0-9 and "-")`,
      '<model>',
    );
  }
}

function checkRegistered(
  model: string,
  version: string,
  record: VersionRecord | undefined,
  field: string,
): void {
  if (!VERSION_PATTERN.test(version) || version.includes('..')) {
    throw new RoutingChangeRefusedError(
      `${field} "${version}" is not a version (1-64 characters of A-Z, a-z, 0-9, ".", "_", "-")`,
      field,
    );
  }
  if (!record) {
    throw new RoutingChangeRefusedError(
      `${field}: ${model} ${version} does not exist; push it first (\`modelops push\`) or pick a version listed ` +
        `by \`modelops status ${model}\``,
      field,
    );
  }
  if (record.status !== 'REGISTERED') {
    throw new RoutingChangeRefusedError(
      `${field}: ${model} ${version} is ${record.status}, only a REGISTERED version can serve traffic; fix the ` +
        'bundle and push it again',
      field,
    );
  }
}

/**
 * Plans `promote`: `version` becomes stable, any candidate is cleared, weight 0, mode canary.
 *
 * - The version must exist and be REGISTERED.
 * - Already stable with no candidate: a no-op success. Already stable WITH a candidate: the candidate is cleared
 *   (promoting the stable version again ends a canary or shadow run, i.e. a manual rollback).
 */
export function planPromotion(input: {
  readonly model: string;
  readonly version: string;
  readonly versionRecord: VersionRecord | undefined;
  readonly current: DeploymentRecord | undefined;
  readonly now: Date;
}): RoutingPlan {
  const { model, version, current } = input;
  checkModel(model);
  checkRegistered(model, version, input.versionRecord, '<version>');
  if (current && current.stable === version && (current.candidate ?? null) === null) {
    return { kind: 'noop', current };
  }
  const revision = (current?.revision ?? 0) + 1;
  const record: DeploymentRecord = {
    model,
    stable: version,
    weight: 0,
    mode: 'canary',
    revision,
    updatedAt: input.now.toISOString(),
  };
  return {
    kind: 'write',
    record,
    expectedRevision: current?.revision,
    audit: {
      model,
      type: 'PROMOTED',
      version,
      details: {
        previousStable: current?.stable ?? null,
        stable: version,
        ...(current?.candidate ? { clearedCandidate: current.candidate } : {}),
        revision,
      },
    },
  };
}

export interface RouteChange {
  readonly model: string;
  /** The candidate version; `undefined` clears the candidate (all traffic to stable). */
  readonly candidate: string | undefined;
  /** Share of traffic for the candidate in canary mode, 0–1. Ignored (kept) in shadow mode. */
  readonly weight: number;
  readonly mode: DeploymentMode;
}

/**
 * Plans `route`: set (or clear) the candidate, its weight and the mode, keeping the stable version.
 *
 * Refused when the model has no stable version yet (promote one first: a candidate alone is never served), when the
 * candidate is not REGISTERED or equals the stable version, or when the weight is outside 0–1.
 */
export function planRouteChange(
  change: RouteChange & {
    readonly candidateRecord: VersionRecord | undefined;
    readonly current: DeploymentRecord | undefined;
    readonly now: Date;
  },
): RoutingPlan {
  const { model, candidate, weight, mode, current } = change;
  checkModel(model);
  if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0 || weight > 1) {
    throw new RoutingChangeRefusedError(
      `--weight must be a number from 0 to 1 (share of traffic for the candidate), got ${String(weight)}`,
      '--weight',
    );
  }
  if (mode !== 'canary' && mode !== 'shadow') {
    throw new RoutingChangeRefusedError(
      `--mode must be "canary" or "shadow", got ${JSON.stringify(mode)}`,
      '--mode',
    );
  }
  if (!current?.stable) {
    throw new RoutingChangeRefusedError(
      `${model} has no stable version yet; promote one first (\`modelops promote ${model} <version>\`)`,
      '<model>',
    );
  }
  if (candidate !== undefined) {
    checkRegistered(model, candidate, change.candidateRecord, '--candidate');
    if (candidate === current.stable) {
      throw new RoutingChangeRefusedError(
        `--candidate ${candidate} is already the stable version of ${model}; pick another version, or use ` +
          '`modelops promote` to change the stable one',
        '--candidate',
      );
    }
  }
  const next = { candidate, weight: candidate === undefined ? 0 : weight, mode };
  if (
    (current.candidate ?? undefined) === next.candidate &&
    current.weight === next.weight &&
    current.mode === next.mode
  ) {
    return { kind: 'noop', current };
  }
  const revision = current.revision + 1;
  const record: DeploymentRecord = {
    model,
    stable: current.stable,
    ...(next.candidate !== undefined ? { candidate: next.candidate } : {}),
    weight: next.weight,
    mode: next.mode,
    revision,
    updatedAt: change.now.toISOString(),
  };
  return {
    kind: 'write',
    record,
    expectedRevision: current.revision,
    audit: {
      model,
      type: 'ROUTING_CHANGED',
      ...(next.candidate !== undefined ? { version: next.candidate } : {}),
      details: {
        stable: current.stable,
        candidate: next.candidate ?? null,
        weight: next.weight,
        mode: next.mode,
        previous: {
          candidate: current.candidate ?? null,
          weight: current.weight,
          mode: current.mode,
        },
        revision,
      },
    },
  };
}

/** What a routing change reads and writes, by table. */
export interface RoutingChangeStores {
  /** Read: the version must be REGISTERED. */
  readonly versions: VersionStore;
  /** Read, then one conditional write of the model's record. */
  readonly deployments: DeploymentStore;
  /** One event per change that wrote. */
  readonly audit: AuditLogStore;
  /**
   * The version stages, labelled after the routing write (promote, rollback).
   * @default - no labels are written (the routing record and the audit log still hold every change)
   */
  readonly stages?: VersionStageStore;
}

export interface RoutingChangeResult {
  /** False when the record already was in the requested state (nothing written, nothing audited). */
  readonly changed: boolean;
  readonly record: DeploymentRecord;
  readonly event?: AuditEvent;
}

async function apply(
  stores: Pick<RoutingChangeStores, 'deployments' | 'audit'>,
  plan: RoutingPlan,
  actor: string,
  now: Date,
): Promise<RoutingChangeResult> {
  if (plan.kind === 'noop') {
    // Run again after a crash between the routing write and the audit append: the record still carries the event.
    if (plan.current.manualEvent !== undefined) await appendAuditOnce(stores.audit, plan.current.manualEvent);
    return { changed: false, record: plan.current };
  }
  // The routing write is the decision; the audit event records it. The write carries the event (its id derived from
  // the revision), so a crash before the append loses nothing: the command run again finds the record already in the
  // requested state and appends the event then, once.
  const { model, revision } = plan.record;
  const event = idempotentAuditEvent(
    { ...plan.audit, actor },
    `${model}\n${plan.audit.type}\nrevision ${revision}`,
    now,
  );
  const record: DeploymentRecord = { ...plan.record, manualEvent: event };
  await stores.deployments.putDeployment(record, { expectedRevision: plan.expectedRevision });
  await appendAuditOnce(stores.audit, event);
  return { changed: true, record, event };
}

/**
 * Makes a REGISTERED version the stable one of its model (audited as PROMOTED), then labels it LIVE and the version
 * it replaced STANDBY. Promoting the stable version again (a retry after a crash) writes no routing and labels it LIVE
 * as of the current revision, which repairs a label the first attempt did not write. Throws
 * {@link RoutingChangeRefusedError} or {@link RoutingConflictError}.
 *
 * @example await promoteStable(stores, { model: 'breast-cancer', version: '1.0.0', actor: 'cli:alice' })
 */
export async function promoteStable(
  stores: RoutingChangeStores,
  input: { readonly model: string; readonly version: string; readonly actor: string; readonly now?: Date },
): Promise<RoutingChangeResult> {
  const now = input.now ?? new Date();
  checkModel(input.model);
  const [versionRecord, current] = await Promise.all([
    VERSION_PATTERN.test(input.version) ? stores.versions.getVersion(input.model, input.version) : undefined,
    stores.deployments.getDeployment(input.model),
  ]);
  const plan = planPromotion({ model: input.model, version: input.version, versionRecord, current, now });
  const result = await apply(stores, plan, input.actor, now);
  await labelStages(
    stores.stages,
    input.model,
    result.record.revision,
    result.record.updatedAt,
    promotionLabels(input.version, result.changed ? current?.stable : undefined),
  );
  return result;
}

/**
 * Sets or clears a model's candidate, weight and mode (audited as ROUTING_CHANGED), by hand: releases drive their
 * canaries themselves, and a release holding the lock loses it. Throws {@link RoutingChangeRefusedError} or {@link RoutingConflictError}.
 */
export async function changeRouting(
  stores: RoutingChangeStores,
  input: RouteChange & { readonly actor: string; readonly now?: Date },
): Promise<RoutingChangeResult> {
  const now = input.now ?? new Date();
  checkModel(input.model);
  const [candidateRecord, current] = await Promise.all([
    input.candidate !== undefined && VERSION_PATTERN.test(input.candidate)
      ? stores.versions.getVersion(input.model, input.candidate)
      : undefined,
    stores.deployments.getDeployment(input.model),
  ]);
  const plan = planRouteChange({ ...input, candidateRecord, current, now });
  return apply(stores, plan, input.actor, now);
}
