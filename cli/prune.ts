/**
 * `modelops prune <model> --rejected [--older-than <days>] [--dry-run]`: deletes REJECTED version records (the
 * ledger's reasons stay in the AuditLog) and nothing else. Registered versions are immutable and never pruned.
 *
 * Crash safety: each record's VERSION_PRUNED event is appended before its delete, so no delete goes unaudited. A crash
 * between the two leaves the event and the record; the next run finds that event (same version and record
 * `updatedAt`) and deletes without appending a second one. The delete is conditional on the record still being
 * REJECTED with the `updatedAt` read, so a concurrent re-push is never deleted; when that condition fails after the
 * event was appended, a VERSION_PRUNE_CANCELLED event says what stood instead.
 */
import { auditEvent } from '../lambdas/core/audit';
import { modelNameSchema } from '../lambdas/core/manifest';
import type {
  AuditEvent,
  AuditLogStore,
  RejectedVersionPruner,
  VersionRecord,
  VersionStore,
} from '../lambdas/core/ports';
import { CliError, UsageError, type CliIo } from './errors';
import { createDocumentClient } from '../lambdas/adapters/clients';
import { DynamoVersionStore } from '../lambdas/adapters/dynamo-version-store';
import { MODEL_VERSIONS_TABLE } from '../lambdas/core/tables';
import { createLedgerStores } from './metadata';
import { cliActor } from './promote';
import { dynamoClient, type Target } from './target';

/** The ledger's audit store, and the versions adapter typed with its delete (the ledger stores hide it). */
function prunerStores(target: Target): {
  readonly versions: VersionStore & RejectedVersionPruner;
  readonly audit: AuditLogStore;
} {
  const doc = createDocumentClient(dynamoClient(target));
  return {
    versions: new DynamoVersionStore(target.tables[MODEL_VERSIONS_TABLE.envVar]!, doc),
    audit: createLedgerStores(target).audit,
  };
}

export interface PruneOptions {
  /** Required: the only kind of record prune deletes, said out loud. */
  readonly rejected?: boolean;
  /** Only records rejected (last written) at least this many days ago. @default 0 (every REJECTED record) */
  readonly olderThanDays?: number;
  /** List what would be pruned; write nothing. @default false */
  readonly dryRun?: boolean;
}

export interface PruneResult {
  /** REJECTED records that matched the filter (what a dry run lists). */
  readonly matched: readonly VersionRecord[];
  /** Versions deleted by this run. */
  readonly pruned: readonly string[];
  /** Versions whose record changed before the delete (re-pushed): kept. */
  readonly kept: readonly string[];
}

/** Longest --older-than accepted: ten years, far past any retention a ledger needs. */
export const MAX_OLDER_THAN_DAYS = 3650;
const DAY_MS = 86_400_000;

/** Validates the arguments before anything is read; every error names the argument, the value and the fix. */
function checkArguments(model: string, options: PruneOptions): void {
  if (!modelNameSchema.safeParse(model).success) {
    throw new UsageError(
      `<model> "${model}" is not a model name (1-64 characters of a-z, 0-9, "-"); run \`modelops status\` to list them`,
    );
  }
  if (options.rejected !== true) {
    throw new UsageError(
      'prune needs --rejected: only REJECTED version records can be pruned (registered versions are immutable); ' +
        `run \`modelops prune ${model} --rejected --dry-run\` to see what would go`,
    );
  }
  const days = options.olderThanDays;
  if (days !== undefined && (!Number.isInteger(days) || days < 0 || days > MAX_OLDER_THAN_DAYS)) {
    throw new UsageError(
      `--older-than must be a whole number of days from 0 to ${MAX_OLDER_THAN_DAYS}, got ${String(days)}`,
    );
  }
}

function pruneEventOf(events: readonly AuditEvent[], record: VersionRecord): AuditEvent | undefined {
  return events.find(
    (e) =>
      e.type === 'VERSION_PRUNED' &&
      e.version === record.version &&
      e.details.recordUpdatedAt === record.updatedAt,
  );
}

export async function prune(
  model: string,
  options: PruneOptions,
  target: Target,
  io: CliIo,
  stores?: { readonly versions: VersionStore & RejectedVersionPruner; readonly audit: AuditLogStore },
  now: () => number = Date.now,
): Promise<PruneResult> {
  checkArguments(model, options);
  const { versions, audit } = stores ?? prunerStores(target);
  const nowMs = now();
  const olderThanDays = options.olderThanDays ?? 0;
  const cutoff = new Date(nowMs - olderThanDays * DAY_MS).toISOString();
  const failed = (what: string, err: unknown) =>
    new CliError(
      `${what} at ${target.description} failed: ${(err as Error).message}` +
        (target.dynamodbEndpoint ? ' (is `npm start` running?)' : ''),
    );

  let matched: VersionRecord[];
  try {
    matched = (await versions.listVersions(model))
      .filter((v) => v.status === 'REJECTED' && v.updatedAt <= cutoff)
      .sort((a, b) => a.updatedAt.localeCompare(b.updatedAt));
  } catch (err) {
    throw failed('reading the ledger', err);
  }
  io.out(`Target: ${target.description}`);
  const filter = olderThanDays > 0 ? ` rejected ${olderThanDays}+ days ago (before ${cutoff})` : '';
  if (matched.length === 0) {
    io.out(`No REJECTED records of ${model}${filter}; nothing to prune.`);
    return { matched, pruned: [], kept: [] };
  }
  if (options.dryRun === true) {
    io.out(`Dry run: would prune ${matched.length} REJECTED record(s) of ${model}${filter}:`);
    for (const v of matched)
      io.out(`  ${v.version}  rejected ${v.updatedAt}  ${v.reasons?.length ?? 0} reason(s)`);
    io.out('Nothing was changed. Run again without --dry-run to prune them.');
    return { matched, pruned: [], kept: [] };
  }

  const actor = cliActor();
  // Events of an interrupted earlier run of this command: appended after the oldest record's last write.
  let earlier: readonly AuditEvent[];
  try {
    earlier = await audit.listAudit(model, { since: matched[0]!.updatedAt });
  } catch (err) {
    throw failed('reading the audit log', err);
  }
  const pruned: string[] = [];
  const kept: string[] = [];
  for (const record of matched) {
    try {
      if (pruneEventOf(earlier, record) === undefined) {
        await audit.appendAudit(
          auditEvent(
            {
              model,
              type: 'VERSION_PRUNED',
              version: record.version,
              actor,
              details: {
                recordUpdatedAt: record.updatedAt,
                recordCreatedAt: record.createdAt,
                reasons: record.reasons ?? [],
                olderThanDays,
              },
            },
            new Date(now()),
          ),
        );
      }
      if (await versions.deleteRejectedVersion(model, record.version, record.updatedAt)) {
        pruned.push(record.version);
        io.out(`VERSION_PRUNED ${model} ${record.version} (rejected ${record.updatedAt})`);
        continue;
      }
      const current = await versions.getVersion(model, record.version);
      await audit.appendAudit(
        auditEvent(
          {
            model,
            type: 'VERSION_PRUNE_CANCELLED',
            version: record.version,
            actor,
            details: {
              recordUpdatedAt: record.updatedAt,
              standing:
                current === undefined ? 'absent' : { status: current.status, updatedAt: current.updatedAt },
            },
          },
          new Date(now()),
        ),
      );
      kept.push(record.version);
      io.out(
        `kept ${model} ${record.version}: it changed before the delete (now ${current?.status ?? 'absent'}); ` +
          'audited as VERSION_PRUNE_CANCELLED',
      );
    } catch (err) {
      throw failed(
        `pruning ${model} ${record.version} (${pruned.length} pruned before it; run the command again to finish)`,
        err,
      );
    }
  }
  io.out(
    `Pruned ${pruned.length} REJECTED record(s) of ${model}${kept.length > 0 ? `, kept ${kept.length}` : ''}.`,
  );
  return { matched, pruned, kept };
}
