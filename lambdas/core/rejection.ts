/**
 * RecordRejection / RecordFailure: puts a refused bundle and a failed step on the ledger. Model and version come
 * from the raw key, because a bundle can be rejected precisely for having no valid name.
 */
import { auditEvent, sourceDetails } from './audit';
import { ledgerSegment, parseIncomingKey } from './keys';
import type { AuditLogStore, VersionStore } from './ports';
import { boundReasons } from './release-events';

export interface RejectionDeps {
  readonly versions: VersionStore;
  readonly audit: AuditLogStore;
  readonly now?: () => Date;
}

export interface RejectionResult {
  readonly model: string;
  readonly version: string;
  /** False when the outcome was only audited (a REGISTERED version stands, or an infrastructure failure). */
  readonly recorded: boolean;
}

const MAX_CAUSE_CHARS = 4_000;

function ledgerKey(key: string): { model: string; version: string } {
  const parsed = parseIncomingKey(key);
  return { model: ledgerSegment(parsed.model), version: ledgerSegment(parsed.version) };
}

/** Validation failed: a REJECTED record with every reason (never over a REGISTERED one) and VALIDATION_FAILED. */
export async function recordRejection(
  deps: RejectionDeps,
  event: { readonly key: string; readonly executionId: string; readonly reasons: readonly string[] },
): Promise<RejectionResult> {
  const { model, version } = ledgerKey(event.key);
  const reasons = boundReasons(event.reasons);
  const at = (deps.now ?? (() => new Date()))().toISOString();
  const { written } = await deps.versions.putVersionUnlessRegistered({
    model,
    version,
    status: 'REJECTED',
    createdAt: at,
    updatedAt: at,
    reasons,
    source: event.executionId,
  });
  await deps.audit.appendAudit(
    auditEvent({
      model,
      version,
      type: 'VALIDATION_FAILED',
      actor: event.executionId,
      details: {
        ...sourceDetails(event.key),
        reasons,
        ...(written
          ? {}
          : { note: 'a REGISTERED version stands under this version; its record was left untouched' }),
      },
    }),
  );
  return { model, version, recorded: written };
}

/** A step failed for reasons that are not the bundle's fault: audit only, so the push can simply be retried. */
export async function recordReleaseFailure(
  deps: RejectionDeps,
  event: {
    readonly key: string;
    readonly executionId: string;
    readonly error: { readonly Error: string; readonly Cause?: string };
  },
): Promise<RejectionResult> {
  const { model, version } = ledgerKey(event.key);
  const cause = event.error.Cause ?? '';
  await deps.audit.appendAudit(
    auditEvent({
      model,
      version,
      type: 'RELEASE_FAILED',
      actor: event.executionId,
      details: {
        ...sourceDetails(event.key),
        error: event.error.Error,
        cause: cause.length > MAX_CAUSE_CHARS ? `${cause.slice(0, MAX_CAUSE_CHARS - 1)}…` : cause,
      },
    }),
  );
  return { model, version, recorded: false };
}
