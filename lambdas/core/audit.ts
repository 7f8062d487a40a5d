/** Audit ledger helpers: ids that sort by time and events built the same way everywhere. */
import { createHash, randomBytes } from 'node:crypto';
import { DuplicateAuditEventError } from './errors';
import { parseIncomingKey } from './keys';
import type { AuditEvent, AuditEventType, AuditLogStore } from './ports';

/**
 * `<ISO timestamp>#<8 random hex>`: sorts by time as a DynamoDB sort key; the suffix keeps two events in the same
 * millisecond apart.
 */
export function newAuditEventId(now: Date = new Date(), random: () => string = randomSuffix): string {
  return `${now.toISOString()}#${random()}`;
}

function randomSuffix(): string {
  return randomBytes(4).toString('hex');
}

/** Builds an audit event stamped now. */
export function auditEvent(
  fields: {
    readonly model: string;
    readonly type: AuditEventType;
    readonly version?: string;
    readonly actor: string;
    readonly details?: Readonly<Record<string, unknown>>;
  },
  now: Date = new Date(),
): AuditEvent {
  return {
    model: fields.model,
    eventId: newAuditEventId(now),
    at: now.toISOString(),
    type: fields.type,
    ...(fields.version !== undefined ? { version: fields.version } : {}),
    actor: fields.actor,
    details: fields.details ?? {},
  };
}

/**
 * Which push an event belongs to, as every release event's details carry it: the uploaded manifest key, and the
 * upload id when the push used one. `modelops push` follows its own release by this key, never by time.
 */
export function sourceDetails(manifestKey: string): { key: string; uploadId?: string } {
  const { uploadId } = parseIncomingKey(manifestKey);
  return { key: manifestKey, ...(uploadId !== undefined ? { uploadId } : {}) };
}

/**
 * An event whose id is derived from `key` (e.g. the execution and the step) instead of being random, so a retried
 * step or a repeated command builds the same id and the ledger refuses the repeat (see `appendAuditOnce`). Pass the
 * time of the write it records (not "now") so that a retry derives the same timestamp too.
 */
export function idempotentAuditEvent(
  fields: Parameters<typeof auditEvent>[0],
  key: string,
  at: Date,
): AuditEvent {
  return { ...auditEvent(fields, at), eventId: derivedEventId(at.toISOString(), key) };
}

/**
 * `<at>#<8 hex of sha256(key)>`: an event id that sorts by time like `newAuditEventId` but is the same every time the
 * same write is recorded, so the ledger's conditional put refuses a repeat. `key` names the write (writer, step, …).
 */
export function derivedEventId(at: string, key: string): string {
  return `${at}#${createHash('sha256').update(key).digest('hex').slice(0, 8)}`;
}

/** Appends `event`; an event with the same id already there (a retry of the same step) is not an error. */
export async function appendAuditOnce(audit: AuditLogStore, event: AuditEvent): Promise<void> {
  try {
    await audit.appendAudit(event);
  } catch (err) {
    if (!(err instanceof DuplicateAuditEventError)) throw err;
  }
}
