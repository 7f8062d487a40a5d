/** `modelops status [model]`: the registered and rejected versions, and a model's recent audit events. */
import type { AlarmRulesInput } from '../lambdas/core/alarm-rules';
import type { AuditEvent, MetricsReader, VersionRecord } from '../lambdas/core/ports';
import { REPORT_WINDOWS_MS, sloReport, type SloReport } from '../lambdas/core/slo-report';
import { modelNameSchema } from '../lambdas/core/manifest';
import { CliError, UsageError, type CliIo } from './errors';
import { createLedgerStores, type LedgerStores } from './metadata';
import type { Target } from './target';

export interface StatusOptions {
  /** Audit events to show for a model. @default 20 */
  readonly limit?: number;
  /** With a model: its SLOs, error budget, burn rates and firing alarms, read from these metrics. */
  readonly slo?: {
    readonly model: AlarmRulesInput;
    readonly reader: MetricsReader;
    readonly nowMs: number;
  };
}

const percent = (share: number): string => `${Number((share * 100).toPrecision(4))} %`;

function sloLines(report: SloReport): string[] {
  const lines = ['SLOs (error budget over the SLO period; burn rate 1 = spending exactly the budget):'];
  const rows = report.objectives.map((o) => {
    const budget =
      o.budget.status === 'no-data' ? 'no data' : `${percent(o.budget.remaining)} left (${o.budget.status})`;
    const rates = REPORT_WINDOWS_MS.map((w) => {
      const rate = o.burnRates.get(w);
      return rate === undefined ? 'no data' : rate.toFixed(2);
    });
    const name = o.sli === 'latency' ? `latency <= ${o.thresholdMs} ms` : 'availability';
    return [name, percent(o.target), budget, ...rates];
  });
  lines.push(...table([['SLI', 'TARGET', 'BUDGET', 'BURN 5m', 'BURN 1h', 'BURN 6h'], ...rows]));
  lines.push(
    report.firing.length === 0
      ? 'No alarm firing.'
      : `Alarms firing: ${report.firing.map((s) => `${s.id} (${s.reason})`).join('; ')}`,
  );
  return lines;
}

function table(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) =>
    r
      .map((cell, c) => cell.padEnd(widths[c]!))
      .join('  ')
      .trimEnd(),
  );
}

function summary(e: AuditEvent): string {
  const d = e.details as Record<string, unknown>;
  if (e.type === 'RELEASE_INTERRUPTED') return `execution ${String(d.execution)} ended: ${String(d.reason)}`;
  if (Array.isArray(d.reasons)) return `${d.reasons.length} reason(s): ${d.reasons.map(String).join('; ')}`;
  if (typeof d.error === 'string') return `${d.error}: ${String(d.cause ?? '')}`;
  if (typeof d.artifactKey === 'string') return d.artifactKey;
  if (typeof d.sha256 === 'string') return `sha256 ${d.sha256}`;
  return '';
}

export async function status(
  model: string | undefined,
  target: Target,
  options: StatusOptions,
  io: CliIo,
  stores?: Pick<LedgerStores, 'versions' | 'audit'>,
): Promise<{ versions: readonly VersionRecord[]; events: readonly AuditEvent[] }> {
  if (model !== undefined && !modelNameSchema.safeParse(model).success) {
    throw new UsageError(
      `[model] "${model}" is not a model name (a-z, 0-9, "-"); run \`modelops status\` to list them`,
    );
  }
  const limit = options.limit ?? 20;
  if (!Number.isInteger(limit) || limit < 1)
    throw new UsageError(`--limit must be a whole number >= 1, got ${limit}`);
  const { versions: versionStore, audit } = stores ?? createLedgerStores(target);
  let versions: readonly VersionRecord[];
  let events: readonly AuditEvent[] = [];
  try {
    versions = [...(await versionStore.listVersions(model))].sort(
      (a, b) => a.model.localeCompare(b.model) || a.createdAt.localeCompare(b.createdAt),
    );
    if (model !== undefined) events = await audit.listAudit(model, { limit });
  } catch (err) {
    throw new CliError(
      `reading the ledger at ${target.description} failed: ${(err as Error).message}` +
        (target.dynamodbEndpoint ? ' (is `npm start` running?)' : ''),
    );
  }
  io.out(`Target: ${target.description}`);
  if (versions.length === 0) {
    io.out(
      model ? `No versions of ${model} yet.` : 'No model versions yet. Push one: modelops push <bundle-dir>',
    );
  } else {
    const rows = versions.map((v) => [
      v.model,
      v.version,
      v.status,
      v.sha256 ? v.sha256.slice(0, 12) : '-',
      v.createdAt,
      v.status === 'REJECTED' ? `${v.reasons?.length ?? 0} reason(s)` : (v.artifactKey ?? ''),
    ]);
    for (const line of table([['MODEL', 'VERSION', 'STATUS', 'SHA256', 'CREATED', 'DETAIL'], ...rows]))
      io.out(line);
  }
  if (model !== undefined) {
    io.out('');
    io.out(events.length === 0 ? `No audit events for ${model}.` : `Recent audit events for ${model}:`);
    if (events.length > 0) {
      const rows = events.map((e) => [e.at, e.type, e.version ?? '-', summary(e)]);
      for (const line of table([['AT', 'EVENT', 'VERSION', 'DETAIL'], ...rows])) io.out(line);
    }
  }
  if (model !== undefined && options.slo !== undefined) {
    io.out('');
    try {
      const report = await sloReport(options.slo.model, options.slo.reader, options.slo.nowMs);
      for (const line of sloLines(report)) io.out(line);
    } catch (err) {
      // The ledger is still shown: metrics may be unreachable (local mode stopped, no CloudWatch permission).
      io.out(`SLOs: metrics could not be read (${(err as Error).message})`);
    }
  }
  return { versions, events };
}
