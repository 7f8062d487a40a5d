/**
 * `modelops history <model>`: a model's lifecycle from the audit log, oldest first, one line per event with its
 * time, version, type and the details that matter (who and why for approvals, the judge's numbers for canary
 * verdicts, the weights of rollout steps, the run and trigger of retrains).
 */
import { modelNameSchema } from '../lambdas/core/manifest';
import type { AuditEvent, AuditLogStore } from '../lambdas/core/ports';
import { CliError, UsageError, type CliIo } from './errors';
import { createLedgerStores } from './metadata';
import type { Target } from './target';

export interface HistoryEntry {
  readonly at: string;
  readonly eventId: string;
  readonly type: AuditEvent['type'];
  readonly version: string | null;
  readonly actor: string;
  /** The one-line summary the human form prints. */
  readonly summary: string;
  readonly details: Readonly<Record<string, unknown>>;
}

export interface History {
  readonly model: string;
  readonly target: string;
  /** Events of the model in the audit log. */
  readonly total: number;
  /** The latest `shown` of them, oldest first. */
  readonly shown: number;
  readonly events: readonly HistoryEntry[];
}

const str = (v: unknown): string =>
  typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : '-';

/** Four significant digits: enough to read a rate ratio or a p99 without the float noise. */
const num = (v: unknown): string => (typeof v === 'number' ? String(Number(v.toPrecision(4))) : str(v));

function short(text: unknown, max = 100): string {
  const s = str(text);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

const upload = (d: Record<string, unknown>): string =>
  typeof d.uploadId === 'string' ? `upload ${d.uploadId}` : typeof d.key === 'string' ? d.key : 'push';

/** `step` in events is an index into canary.steps; people count from 1. */
const step = (v: unknown): string => (typeof v === 'number' ? String(v + 1) : '-');

/** "error_rate 1.2 (limit 2)" per judge check, with the counts where the check has them. */
function checks(value: unknown): string {
  if (!Array.isArray(value) || value.length === 0) return '';
  const parts = value.map((c: Record<string, unknown>) => {
    const limit = c.limit !== undefined ? ` (limit ${num(c.limit)})` : '';
    const arms = c.candidate as { requests?: number; bad?: number } | undefined;
    const counts =
      arms !== undefined && typeof arms.requests === 'number'
        ? ` [${num(arms.bad)}/${num(arms.requests)} candidate]`
        : '';
    return `${str(c.metric)} ${c.effect === null ? 'n/a' : num(c.effect)}${limit}${counts}`;
  });
  return `; ${parts.join(', ')}`;
}

/** Scalars of `details`, `key=value`, for event types without a summary of their own. */
function scalars(d: Record<string, unknown>): string {
  return Object.entries(d)
    .filter(([, v]) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')
    .map(([k, v]) => `${k}=${short(v, 60)}`)
    .join(', ');
}

/** The key details of one event, in a line. */
export function historySummary(e: AuditEvent): string {
  const d = e.details as Record<string, unknown>;
  switch (e.type) {
    case 'VALIDATION_PASSED':
      return `pushed (${upload(d)}): ${Array.isArray(d.checks) ? d.checks.length : '?'} checks passed, sha256 ${str(d.sha256).slice(0, 12)}`;
    case 'VALIDATION_FAILED': {
      const reasons = Array.isArray(d.reasons) ? d.reasons.map(String) : [];
      return `pushed (${upload(d)}): rejected for ${reasons.length} reason(s): ${short(reasons.join('; '))}`;
    }
    case 'REGISTERED':
      return `${str(d.artifactKey)}, sha256 ${str(d.sha256).slice(0, 12)}, ${d.signature ? 'signed' : 'unsigned'}`;
    case 'REGISTER_IDEMPOTENT':
      return `already registered with the same content (${upload(d)})`;
    case 'VERSION_CONFLICT':
    case 'RELEASE_FAILED':
      return typeof d.error === 'string' ? `${d.error}: ${short(d.cause ?? d.message ?? '')}` : scalars(d);
    case 'APPROVAL_REQUESTED':
      return `waits for approval until ${str(d.expiresAt)} (${short(d.why)})`;
    case 'APPROVAL_GRANTED':
    case 'APPROVAL_REJECTED':
      return `${e.type === 'APPROVAL_GRANTED' ? 'approved' : 'rejected'} by ${e.actor}: ${short(d.reason)}`;
    case 'ROLLOUT_STARTED':
      return (
        `rollout started over stable ${str(d.stable)}: steps ${Array.isArray(d.steps) ? d.steps.join(', ') : '-'}, ` +
        `bake ${str(d.bakeSeconds)} s${d.dryRun === true ? ', dry run' : ''}`
      );
    case 'TRAFFIC_SHIFTED':
      return (
        `weight ${num(d.from)} -> ${num(d.weight)}${d.step !== undefined ? ` (step ${step(d.step)})` : ''}` +
        `${d.mode === 'shadow' ? ', shadow' : ''}${typeof d.reason === 'string' ? `: ${d.reason}` : ''}`
      );
    case 'CANARY_VERDICT':
      return (
        `look ${str(d.look)}, step ${step(d.step)}, weight ${num(d.weight)}: ${str(d.decision)} ` +
        `(${str(d.reasonCode)})${checks(d.checks)}`
      );
    case 'PROMOTED':
      return (
        `stable ${d.previousStable === null ? '(none)' : str(d.previousStable)} -> ${str(d.stable)}` +
        `${typeof d.clearedCandidate === 'string' ? `, candidate ${d.clearedCandidate} cleared` : ''}`
      );
    case 'ROUTING_CHANGED': {
      const prev = (d.previous ?? {}) as Record<string, unknown>;
      return (
        `candidate ${d.candidate === null ? '(none)' : str(d.candidate)} at weight ${num(d.weight)} (${str(d.mode)}); ` +
        `was ${prev.candidate === null || prev.candidate === undefined ? '(none)' : str(prev.candidate)} at ${num(prev.weight)}`
      );
    }
    case 'ROLLED_BACK': {
      const verdict = d.verdict as Record<string, unknown> | null | undefined;
      return (
        `${str(d.reason)}: stable ${str(d.stable)}` +
        `${typeof d.clearedCandidate === 'string' ? `, candidate ${d.clearedCandidate} cleared` : ''}` +
        `${d.operatorReason !== undefined ? `: ${short(d.operatorReason)}` : ''}` +
        `${verdict ? ` (last verdict: ${str(verdict.decision)} ${str(verdict.reasonCode)})` : ''}` +
        `${typeof d.message === 'string' ? `: ${short(d.message)}` : ''}`
      );
    }
    case 'ROLLOUT_ABORTED':
      return `aborted: ${short(typeof d.error === 'string' ? d.error : JSON.stringify(d.error ?? ''))}`;
    case 'ROLLOUT_UNLOCKED':
      return `lock of ${str(d.executionId)}${d.expired === true ? ' (expired)' : ''} released: ${short(d.operatorReason)}`;
    case 'RETRAIN_STARTED':
      return `run ${str(d.runId)} started (trigger ${str(d.trigger)}): ${short(d.reason)}`;
    case 'RETRAIN_SKIPPED':
      return `skipped (trigger ${str(d.trigger)}): ${str(d.code)}: ${short(d.reason)}`;
    case 'RETRAIN_FAILED':
      return `run ${str(d.runId)} failed at ${str(d.step)}: ${short(d.error)}${d.backoffUntil ? `; backoff until ${str(d.backoffUntil)}` : ''}`;
    case 'RETRAIN_SUCCEEDED':
    case 'RETRAIN_REJECTED':
      return scalars(d);
    case 'DRIFT_DETECTED':
    case 'DRIFT_CLEARED':
      return Array.isArray(d.features)
        ? `features ${d.features.map((f: unknown) => (typeof f === 'string' ? f : str((f as { feature?: unknown }).feature))).join(', ')}`
        : scalars(d);
    default:
      return scalars(d);
  }
}

export interface HistoryOptions {
  /** Show the latest `limit` events (still oldest first). @default all */
  readonly limit?: number;
}

/** Reads the model's audit log; throws `UsageError` for a bad argument, `CliError` when the ledger fails. */
export async function history(
  model: string,
  target: Target,
  options: HistoryOptions = {},
  stores?: { readonly audit: Pick<AuditLogStore, 'listAudit'> },
): Promise<History> {
  if (!modelNameSchema.safeParse(model).success) {
    throw new UsageError(
      `<model> "${model}" is not a model name (a-z, 0-9, "-"); run \`modelops status\` to list them`,
    );
  }
  const { limit } = options;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
    throw new UsageError(`--limit must be a whole number >= 1, got ${limit}`);
  }
  const audit = stores?.audit ?? createLedgerStores(target).audit;
  let events: readonly AuditEvent[];
  try {
    // Every event: `total` is reported, and a lifecycle is short (a few dozen events per version).
    events = await audit.listAudit(model);
  } catch (err) {
    throw new CliError(
      `reading the ledger at ${target.description} failed: ${(err as Error).message}` +
        (target.dynamodbEndpoint ? ' (is `npm start` running?)' : ''),
    );
  }
  const shown = limit === undefined ? events : events.slice(-limit);
  return {
    model,
    target: target.description,
    total: events.length,
    shown: shown.length,
    events: shown.map((e) => ({
      at: e.at,
      eventId: e.eventId,
      type: e.type,
      version: e.version ?? null,
      actor: e.actor,
      summary: historySummary(e),
      details: e.details,
    })),
  };
}

/** A Step Functions execution ARN by its state machine and execution name; the JSON keeps the whole ARN. */
function shortActor(actor: string): string {
  const i = actor.indexOf(':execution:');
  return i < 0 ? actor : actor.slice(i + ':execution:'.length);
}

export function printHistory(h: History, io: CliIo, json: boolean): void {
  if (json) {
    io.out(JSON.stringify(h, null, 2));
    return;
  }
  io.out(`Target: ${h.target}`);
  if (h.total === 0) {
    io.out(`No audit events for ${h.model}. Push a version: modelops push <bundle-dir>`);
    return;
  }
  io.out(
    h.shown === h.total
      ? `History of ${h.model} (${h.total} events, oldest first):`
      : `History of ${h.model} (latest ${h.shown} of ${h.total} events, oldest first; --limit to see more):`,
  );
  const rows = h.events.map((e) => [e.at, e.version ?? '-', e.type, shortActor(e.actor), e.summary]);
  const widths = [0, 1, 2, 3].map((c) =>
    Math.max(['AT', 'VERSION', 'EVENT', 'ACTOR'][c]!.length, ...rows.map((r) => r[c]!.length)),
  );
  const line = (r: readonly string[]) =>
    r
      .map((cell, c) => (c < 4 ? cell.padEnd(widths[c]!) : cell))
      .join('  ')
      .trimEnd();
  io.out(line(['AT', 'VERSION', 'EVENT', 'ACTOR', 'DETAIL']));
  for (const r of rows) io.out(line(r));
}
