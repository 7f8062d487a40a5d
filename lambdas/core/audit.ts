/** Audit ledger helpers: ids that sort by time and events built the same way everywhere. */
import { randomBytes } from 'node:crypto';
import { parseIncomingKey } from './keys';
import type { AuditEvent, AuditEventType } from './ports';

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
