/**
 * Version stages (docs/rollout.md, "Version stages"): LIVE, STANDBY and ROLLED_BACK labels on the ModelVersions items,
 * written after the routing write that made them true. The routing record stays the source of truth: a label is never
 * read to decide anything, and a crash between the two writes leaves the label behind, not the routing. Every writer
 * repairs it on its retry (the retry recognises the landed routing write and labels again), and each label carries the
 * routing revision it follows, so the conditional write keeps a newer label against a stale or repeated one.
 */
import type { VersionStageStore, VersionStageValue } from './ports';

export interface StageLabel {
  readonly version: string;
  readonly value: VersionStageValue;
  /** ROLLED_BACK: why (a reason code). */
  readonly reason?: string;
}

/**
 * Labels each version with its stage as of the routing write of `routingRevision`. Writes nothing without a store
 * (callers that only route, e.g. tests of routing alone). Returns the versions whose label was written (not stale).
 */
export async function labelStages(
  store: VersionStageStore | undefined,
  model: string,
  routingRevision: number,
  at: string,
  labels: readonly StageLabel[],
): Promise<string[]> {
  if (store === undefined) return [];
  const written = await Promise.all(
    labels.map((l) =>
      store.putStage(model, l.version, {
        value: l.value,
        ...(l.reason !== undefined ? { reason: l.reason } : {}),
        at,
        routingRevision,
      }),
    ),
  );
  return labels.filter((_, i) => written[i]).map((l) => l.version);
}

/** A promotion's labels: the new stable version LIVE, the one it replaced (if another) STANDBY. */
export function promotionLabels(stable: string, previousStable: string | undefined): StageLabel[] {
  return [
    { version: stable, value: 'LIVE' },
    ...(previousStable !== undefined && previousStable !== stable
      ? [{ version: previousStable, value: 'STANDBY' as const }]
      : []),
  ];
}
