/**
 * `modelops status [model]`: the registered and rejected versions with their stage (LIVE, STANDBY, ROLLED_BACK and
 * why), and a model's recent audit events and rollout (lock, weight, latest canary verdicts, how the last rollout was
 * ended); with a model and its config, also its SLOs and its drift.
 */
import type { AlarmRulesInput } from '../lambdas/core/alarm-rules';
import { DRIFT_STATE_KIND } from '../lambdas/core/drift-monitor';
import {
  baselineNames,
  driftReport,
  type DriftReport,
  type DriftReportConfig,
  type Score,
} from '../lambdas/core/drift-report';
import type {
  AuditEvent,
  AuditLogStore,
  DeploymentRecord,
  MetricReadRequest,
  MetricsReader,
  MonitorStateStore,
  RegistryStore,
  RolloutLock,
  RoutingSource,
  VersionReader,
  VersionRecord,
} from '../lambdas/core/ports';
import { REPORT_WINDOWS_MS, sloReport, type SloReport } from '../lambdas/core/slo-report';
import { modelNameSchema, versionSchema } from '../lambdas/core/manifest';
import { CliError, UsageError, type CliIo } from './errors';
import { createLedgerStores, type LedgerStores } from './metadata';
import type { Target } from './target';

export interface StatusOptions {
  /** Audit events to show for a model. @default 20 */
  readonly limit?: number;
  /** Print one JSON document (docs/cli.md#json-output) instead of the tables. @default false */
  readonly json?: boolean;
  /** The clock the Rollout section judges lock expiry by. @default Date.now() */
  readonly nowMs?: number;
  /** With a model: its SLOs, error budget, burn rates and firing alarms, read from these metrics. */
  readonly slo?: {
    readonly model: AlarmRulesInput;
    readonly reader: MetricsReader;
    readonly nowMs: number;
  };
  /**
   * With a model: its drift state (MonitorState) and the latest window's scores, read from these metrics; the feature
   * names come from the judged version's baseline in the registry.
   */
  readonly drift?: {
    readonly config: DriftReportConfig;
    readonly reader: MetricsReader;
    readonly nowMs: number;
    readonly registry: Pick<RegistryStore, 'readText'>;
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

const threeDigits = (v: number): string => v.toFixed(3);

function scoreCell(s: Score): string {
  return s.kind === 'missing' ? 'no data' : threeDigits(s.value);
}

function driftedCell(drifted: boolean | undefined, over: readonly [string, Score][]): string {
  if (drifted === undefined) return 'unknown';
  if (!drifted) return 'no';
  return `yes (${over
    .filter(([, s]) => s.kind === 'value' && s.over === true)
    .map(([name]) => name)
    .join(', ')})`;
}

/** Drift section lines of a report. `metricsError`: the metrics read failed (the state is still shown). */
function driftLines(
  report: DriftReport,
  context: { readonly nowMs: number; readonly featuresUnknown?: string; readonly metricsError?: Error },
): string[] {
  if (report.kind === 'disabled') return ['Drift: drift off (drift.enabled is false for this model).'];
  if (report.kind === 'no-state') {
    return [`Drift: no drift state yet (the monitor runs every ${report.scheduleMinutes} minutes).`];
  }
  const { state, latest, thresholds } = report;
  const stale = context.nowMs - Date.parse(report.updatedAt) > 2 * report.scheduleMinutes * 60_000;
  const lines = [
    `Drift (version ${report.version}; window ${report.windowMinutes} min, judged every ${report.scheduleMinutes} min; ` +
      `last run ${report.updatedAt}${stale ? ', overdue: is the monitor running?' : ''}):`,
  ];
  const status =
    state.status === 'ALARM'
      ? `ALARM${state.since ? ` since ${state.since}` : ''}`
      : state.cooldownUntil
        ? `OK, cooldown until ${state.cooldownUntil} (no alarm before then)`
        : `OK${state.since ? ` since ${state.since}` : ''}`;
  const windows =
    state.recent.length === 0
      ? 'no window scored yet'
      : `${state.drifted} of the last ${state.recent.length} scored windows drifted ` +
        `(alarm at ${state.m} of ${state.n}; oldest first: ${state.recent.map((d) => (d ? 'drifted' : 'ok')).join(' ')})`;
  lines.push(`State: ${status}; ${windows}.`);

  const judged = [
    thresholds.jsDistance !== undefined ? `JS distance >= ${thresholds.jsDistance}` : undefined,
    thresholds.psi !== undefined ? `PSI >= ${thresholds.psi}` : undefined,
  ].filter((t) => t !== undefined);
  if (context.metricsError !== undefined) {
    lines.push(`Latest window: metrics could not be read (${context.metricsError.message}).`);
    return lines;
  }
  if (latest.kind === 'no-metrics') {
    lines.push(`Latest window: no drift metrics in the last ${latest.lookbackMinutes} minutes.`);
    return lines;
  }
  const when = new Date(latest.atMs).toISOString();
  const rows = latest.liveCount === undefined ? 'rows unknown' : `${latest.liveCount} rows`;
  if (latest.kind === 'insufficient-data') {
    const need = latest.minimum === undefined ? '' : `, fewer than the ${latest.minimum} needed`;
    lines.push(
      `Latest window (${when}): insufficient data (${rows}${need}): not scored, which does not mean no drift.`,
    );
    return lines;
  }
  const share =
    latest.share === undefined
      ? 'dataset drift share: no data'
      : `dataset drift share ${percent(latest.share)}`;
  lines.push(
    `Latest window (${when}): ${rows}, ${share}; a feature drifts at ${judged.join(' or ') || 'no threshold'}.`,
  );
  if (context.featuresUnknown !== undefined) {
    lines.push(`Features: unknown (${context.featuresUnknown}).`);
  } else {
    const featureRows = report.features.map((f) => [
      f.feature,
      scoreCell(f.jsDistance),
      scoreCell(f.psi),
      driftedCell(f.drifted, [
        ['JS', f.jsDistance],
        ['PSI', f.psi],
      ]),
    ]);
    lines.push(...table([['FEATURE', 'JS DISTANCE', 'PSI', 'DRIFTED'], ...featureRows]));
  }
  if (report.outputs.length > 0) {
    const outputRows = report.outputs.map((o) => [
      o.output,
      scoreCell(o.jsDistance),
      driftedCell(o.drifted, [['JS', o.jsDistance]]),
    ]);
    lines.push(...table([['PREDICTION', 'JS DISTANCE', 'DRIFTED'], ...outputRows]));
  }
  if (report.unreported.length > 0) {
    lines.push(
      `(The monitor also votes with ${report.unreported.join(' and ')}, which emit no metric: DRIFTED judges JS ` +
        'distance and PSI only.)',
    );
  }
  return lines;
}

/** What the Drift section shows: the report, or why there is none. */
type DriftData =
  | {
      readonly report: DriftReport;
      readonly featuresUnknown?: string;
      readonly metricsError?: Error;
    }
  | { readonly unavailable: string };

/** Reads the state, the baseline's names and the metrics; a failing metrics read still shows the state. */
async function driftData(
  model: string,
  drift: NonNullable<StatusOptions['drift']>,
  stores: { readonly monitorState: MonitorStateStore | undefined; readonly versions: VersionReader },
): Promise<DriftData> {
  if (!drift.config.enabled) return { report: { kind: 'disabled' } };
  if (stores.monitorState === undefined) {
    return {
      unavailable:
        'this target names no MonitorState table (a stack without the MonitorStateTableName output: deploy ' +
        'the current stack, or pass --monitor-state-table)',
    };
  }
  const record = await stores.monitorState.getState(model, DRIFT_STATE_KIND);
  const names =
    record === undefined
      ? undefined
      : await baselineNames({ versions: stores.versions, registry: drift.registry }, model, record.version);
  let metricsError: Error | undefined;
  const reader: MetricsReader = {
    read: async (request: MetricReadRequest) => {
      try {
        return await drift.reader.read(request);
      } catch (err) {
        metricsError ??= err as Error;
        return [];
      }
    },
  };
  const report = await driftReport({
    model,
    config: drift.config,
    record,
    features: typeof names === 'object' ? names.features : [],
    ...(typeof names === 'object' ? { outputs: names.outputs } : {}),
    reader,
    nowMs: drift.nowMs,
  });
  return {
    report,
    ...(typeof names === 'string' ? { featuresUnknown: names } : {}),
    ...(metricsError !== undefined ? { metricsError } : {}),
  };
}

async function driftSection(
  model: string,
  drift: NonNullable<StatusOptions['drift']>,
  stores: { readonly monitorState: MonitorStateStore | undefined; readonly versions: VersionReader },
): Promise<string[]> {
  const data = await driftData(model, drift, stores);
  if ('unavailable' in data) return [`Drift: ${data.unavailable}.`];
  return driftLines(data.report, {
    nowMs: drift.nowMs,
    ...(data.featuresUnknown !== undefined ? { featuresUnknown: data.featuresUnknown } : {}),
    ...(data.metricsError !== undefined ? { metricsError: data.metricsError } : {}),
  });
}

/** Canary verdicts the Rollout section shows: the latest, as many as the execution state keeps. */
const ROLLOUT_VERDICTS_SHOWN = 5;

const str = (v: unknown): string => (typeof v === 'string' || typeof v === 'number' ? String(v) : '-');

function minutesApart(fromMs: number, toMs: number): string {
  const minutes = Math.round(Math.abs(toMs - fromMs) / 60_000);
  return minutes < 1 ? 'under a minute' : `${minutes} min`;
}

/** The CANARY_VERDICT events among `events`, of one execution (its id is the events' actor) or of any. */
function verdictsOf(events: readonly AuditEvent[], executionId?: string): AuditEvent[] {
  return events.filter(
    (e) => e.type === 'CANARY_VERDICT' && (executionId === undefined || e.actor === executionId),
  );
}

function verdictTable(verdicts: readonly AuditEvent[]): string[] {
  const rows = verdicts.map((e) => {
    const d = e.details;
    const shadow = d.phase === 'shadow';
    // The verdict's step is an index into canary.steps; people count steps from 1, as the Routing line does. A
    // shadow look has no step: the candidate answers mirrored requests at weight 0.
    const step = !shadow && typeof d.step === 'number' ? String(d.step + 1) : '-';
    return [
      shadow ? 'shadow' : 'canary',
      str(d.look),
      step,
      str(d.weight),
      str(d.decision),
      str(d.reasonCode),
      e.at,
    ];
  });
  return table([['PHASE', 'LOOK', 'STEP', 'WEIGHT', 'DECISION', 'REASON', 'AT'], ...rows]);
}

/** Where a locked rollout stands (`status --json`: `rolloutPhase`). */
export type RolloutPhase = 'deploying' | 'deployed' | 'shadow' | 'canary';

/**
 * Where a locked rollout stands, from the routing record and its execution's audit events: deploying (weight 0,
 * no CANDIDATE_DEPLOYED yet — the Lambda warm-up, or a SageMaker endpoint update that takes minutes), shadow, or a
 * canary step.
 */
function phaseOf(record: DeploymentRecord, lock: RolloutLock, events: readonly AuditEvent[]): RolloutPhase {
  if (record.mode === 'shadow') return 'shadow';
  if (record.weight > 0) return 'canary';
  const deployed = events.some((e) => e.type === 'CANDIDATE_DEPLOYED' && e.actor === lock.executionId);
  return deployed ? 'deployed' : 'deploying';
}

const PHASE_TEXT: Readonly<Record<RolloutPhase, string>> = {
  canary: "canary: the candidate gets its step's share of the requests (Routing below)",
  shadow: "shadow: the candidate answers a copy of the requests at weight 0; callers get stable's answers",
  deployed: 'deployed: the candidate is ready at weight 0; the first canary step is routed next',
  deploying:
    'deploying: the candidate is at weight 0 while the target makes it servable (Lambda: warm-up and smoke ' +
    'samples; SageMaker: its variant next to stable, then smoke samples through the router)',
};

/** " (step 2 of 3: 0.05, 0.25, 0.5)" from the ROLLOUT_STARTED event's steps, when the weight is one of them. */
function stepOf(weight: number, started: AuditEvent | undefined): string {
  const steps = started?.details.steps;
  if (!Array.isArray(steps)) return '';
  const i = steps.indexOf(weight);
  return i < 0 ? '' : ` (step ${i + 1} of ${steps.length}: ${steps.join(', ')})`;
}

/** A rollout in progress: the lock, where the canary stands, and its latest verdicts (`events`: since the lock). */
function lockLines(
  record: DeploymentRecord,
  lock: RolloutLock,
  events: readonly AuditEvent[],
  nowMs: number,
): string[] {
  const expiresMs = Date.parse(lock.expiresAt);
  const expiry =
    expiresMs > nowMs
      ? `expires ${lock.expiresAt} (in ${minutesApart(nowMs, expiresMs)})`
      : `EXPIRED at ${lock.expiresAt} (${minutesApart(expiresMs, nowMs)} ago): its execution is presumed dead; ` +
        `the next release takes the lock over, or release it with \`modelops unlock ${record.model} --reason …\``;
  const started = events.find((e) => e.type === 'ROLLOUT_STARTED' && e.actor === lock.executionId);
  const phase = phaseOf(record, lock, events);
  const lines = [
    'Rollout:',
    `Lock: execution ${lock.executionId}, candidate ${lock.candidate}, started ${lock.startedAt}, ${expiry}.`,
    `Phase: ${PHASE_TEXT[phase]}.`,
    `Routing: stable ${record.stable ?? '(none)'}, candidate ${record.candidate ?? '(none)'} at weight ` +
      `${record.weight}${stepOf(record.weight, started)}, revision ${record.revision}.`,
  ];
  const own = verdictsOf(events, lock.executionId);
  if (own.length === 0) {
    lines.push('No verdict yet (the first analysis runs after the first bake).');
    return lines;
  }
  const shown = own.slice(-ROLLOUT_VERDICTS_SHOWN);
  lines.push(
    `Latest verdicts (${shown.length} of ${own.length}, oldest first; every one is in the audit log):`,
    ...verdictTable(shown),
  );
  return lines;
}

/** No rollout in progress: the routing as it stands, and the last rollout's verdicts when `recent` has them. */
function idleLines(record: DeploymentRecord | undefined, recent: readonly AuditEvent[]): string[] {
  const lines = [
    record === undefined
      ? 'Rollout: no rollout in progress (no routing record yet: no version has been promoted).'
      : record.candidate !== undefined
        ? `Rollout: no rollout in progress; candidate ${record.candidate} ` +
          `${record.mode === 'shadow' ? 'in shadow' : `at weight ${record.weight}`} was routed by hand (no ` +
          `release holds the lock); stable ${record.stable ?? '(none)'}, revision ${record.revision}.`
        : `Rollout: no rollout in progress (stable ${record.stable ?? '(none)'}, no candidate, revision ` +
          `${record.revision}).`,
  ];
  const last = verdictsOf(recent).at(-1);
  if (last !== undefined) {
    lines.push(
      `Latest verdicts of the last rollout (execution ${last.actor}), oldest first:`,
      ...verdictTable(verdictsOf(recent, last.actor).slice(-ROLLOUT_VERDICTS_SHOWN)),
    );
  }
  return lines;
}

/**
 * The Rollout section: who holds the lock, where the canary stands, what the judge said, and how the last rollout
 * was ended from outside its execution. `events`: with a lock, the audit events since it was taken; without, the
 * recent events already listed.
 */
function rolloutLines(
  record: DeploymentRecord | undefined,
  events: readonly AuditEvent[],
  nowMs: number,
): string[] {
  const lock = record?.rollout;
  const lines =
    record !== undefined && lock !== undefined
      ? lockLines(record, lock, events, nowMs)
      : idleLines(record, events);
  const ending = record?.endedRollout;
  if (ending !== undefined) {
    lines.push(
      `Last rollout ended by hand or alarm: execution ${ending.executionId} (candidate ${ending.candidate}) ` +
        `${ending.outcome} (${ending.reason}) by ${ending.actor} at ${ending.at}` +
        `${ending.detail ? `: ${JSON.stringify(ending.detail)}` : ''}.`,
    );
  }
  return lines;
}

/** Reads the routing record and, while a lock is held, the rollout's audit events since it was taken. */
async function rolloutSection(
  model: string,
  stores: { readonly deployments: RoutingSource; readonly audit: AuditLogStore },
  recent: readonly AuditEvent[],
  nowMs: number,
): Promise<string[]> {
  const record = await stores.deployments.getDeployment(model);
  const lock = record?.rollout;
  // Event ids start with their ISO time: everything the rollout appended sorts at or after the lock's startedAt.
  const events = lock === undefined ? recent : await stores.audit.listAudit(model, { since: lock.startedAt });
  return rolloutLines(record, events, nowMs);
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

/** An operator's free text, cut to fit a table cell. */
function short(text: unknown, max = 80): string {
  const s = str(text);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

function summary(e: AuditEvent): string {
  const d = e.details as Record<string, unknown>;
  if (e.type === 'RELEASE_INTERRUPTED') return `execution ${String(d.execution)} ended: ${String(d.reason)}`;
  if (e.type === 'CANARY_VERDICT') {
    return `look ${str(d.look)}, weight ${str(d.weight)}: ${str(d.decision)} (${str(d.reasonCode)})`;
  }
  if (e.type === 'ROLLED_BACK') {
    const to = d.previousStable !== undefined ? ` to ${str(d.stable)}` : '';
    return `${str(d.reason)}${to}${d.operatorReason !== undefined ? `: ${short(d.operatorReason)}` : ''}`;
  }
  if (e.type === 'ROLLOUT_UNLOCKED') {
    return `lock of ${str(d.executionId)}${d.expired === true ? ' (expired)' : ''}: ${short(d.operatorReason)}`;
  }
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
  stores?: Pick<LedgerStores, 'versions' | 'audit'> &
    Partial<Pick<LedgerStores, 'monitorState' | 'deployments'>>,
): Promise<{ versions: readonly VersionRecord[]; events: readonly AuditEvent[] }> {
  if (model !== undefined && !modelNameSchema.safeParse(model).success) {
    throw new UsageError(
      `[model] "${model}" is not a model name (a-z, 0-9, "-"); run \`modelops status\` to list them`,
    );
  }
  const limit = options.limit ?? 20;
  if (!Number.isInteger(limit) || limit < 1)
    throw new UsageError(`--limit must be a whole number >= 1, got ${limit}`);
  const { versions: versionStore, audit, monitorState, deployments } = stores ?? createLedgerStores(target);
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
  if (options.json === true) {
    io.out(
      toJson(
        await statusDocument(
          model,
          target,
          options,
          { versions, events },
          {
            audit,
            monitorState,
            deployments,
            versions: versionStore,
          },
        ),
      ),
    );
    return { versions, events };
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
      // A label that follows the routing record, which the Rollout section shows and which decides what is served.
      v.stage === undefined ? '-' : `${v.stage.value}${v.stage.reason ? ` (${v.stage.reason})` : ''}`,
      v.sha256 ? v.sha256.slice(0, 12) : '-',
      v.createdAt,
      v.status === 'REJECTED'
        ? `${v.reasons?.length ?? 0} reason(s)`
        : v.approvalRequest !== undefined && v.approvalRequest.state !== 'APPROVED'
          ? `approval ${v.approvalRequest.state}`
          : (v.artifactKey ?? ''),
    ]);
    for (const line of table([
      ['MODEL', 'VERSION', 'STATUS', 'STAGE', 'SHA256', 'CREATED', 'DETAIL'],
      ...rows,
    ]))
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
  for (const v of versions) {
    const request = v.approvalRequest;
    if (request?.state !== 'PENDING') continue;
    io.out('');
    io.out(
      `Approval: ${v.model} ${v.version} waits for approval until ${request.expiresAt} (${request.why}); ` +
        `decide with: modelops approve|reject ${v.model} ${v.version} --reason "…"`,
    );
  }
  // Callers that pass their own stores without the Deployments table (tests of other sections) get no Rollout section.
  if (model !== undefined && deployments !== undefined) {
    io.out('');
    try {
      const lines = await rolloutSection(model, { deployments, audit }, events, options.nowMs ?? Date.now());
      for (const line of lines) io.out(line);
    } catch (err) {
      // Like the SLOs and drift: the versions and events above are still shown.
      io.out(`Rollout: could not be read (${(err as Error).message})`);
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
  if (model !== undefined && options.drift !== undefined) {
    io.out('');
    try {
      const lines = await driftSection(model, options.drift, { monitorState, versions: versionStore });
      for (const line of lines) io.out(line);
    } catch (err) {
      // Like the SLOs: the ledger is still shown when the drift state or the baseline cannot be read.
      io.out(`Drift: could not be read (${(err as Error).message})`);
    }
  }
  return { versions, events };
}

/** Version detail lines: one field per line, indented under its section. */
function field(label: string, value: unknown): string {
  return `  ${label}: ${value === undefined || value === '' ? '-' : String(value)}`;
}

/** The latest event of `type` among `events` (oldest first). */
function latestOf(events: readonly AuditEvent[], type: AuditEvent['type']): AuditEvent | undefined {
  return events.filter((e) => e.type === type).at(-1);
}

/**
 * `modelops status <model> <version>`: one version with everything the ledger knows about it: status, stage, every
 * rejection reason and validation check, lineage, approval (who decided and why) and all of its audit events.
 */
export async function statusOfVersion(
  model: string,
  version: string,
  target: Target,
  io: CliIo,
  stores?: Pick<LedgerStores, 'versions' | 'audit'>,
  options: { readonly json?: boolean } = {},
): Promise<{ record: VersionRecord; events: readonly AuditEvent[] }> {
  if (!modelNameSchema.safeParse(model).success) {
    throw new UsageError(
      `[model] "${model}" is not a model name (a-z, 0-9, "-"); run \`modelops status\` to list them`,
    );
  }
  if (!versionSchema.safeParse(version).success) {
    throw new UsageError(
      `[version] "${version}" is not a version (1-64 characters of A-Z, a-z, 0-9, ".", "_", "-"); run ` +
        `\`modelops status ${model}\` to list them`,
    );
  }
  const { versions, audit } = stores ?? createLedgerStores(target);
  let record: VersionRecord | undefined;
  let events: readonly AuditEvent[];
  try {
    record = await versions.getVersion(model, version);
    // Every event of the model, then this version's: a version's events start before its record exists (validation)
    // and may span several pushes of the same version.
    events = (await audit.listAudit(model)).filter((e) => e.version === version);
  } catch (err) {
    throw new CliError(
      `reading the ledger at ${target.description} failed: ${(err as Error).message}` +
        (target.dynamodbEndpoint ? ' (is `npm start` running?)' : ''),
    );
  }
  if (record === undefined) {
    const pruned = latestOf(events, 'VERSION_PRUNED');
    throw new CliError(
      pruned !== undefined
        ? `${model} ${version} has no record: its REJECTED record was pruned by ${pruned.actor} at ${pruned.at}; ` +
            `its events are in \`modelops status ${model}\``
        : `${model} ${version} has no record at ${target.description}; run \`modelops status ${model}\` to list ` +
            'its versions',
    );
  }
  if (options.json === true) {
    const validation = latestOf(events, 'VALIDATION_PASSED');
    io.out(
      toJson({
        target: target.description,
        model,
        version,
        record,
        validationChecks: Array.isArray(validation?.details.checks) ? validation.details.checks : [],
        events: events.map((e) => ({ ...e, summary: summary(e) })),
      }),
    );
    return { record, events };
  }
  io.out(`Target: ${target.description}`);
  io.out(`${model} ${version}: ${record.status}`);
  io.out(field('Created', record.createdAt));
  io.out(field('Updated', record.updatedAt));
  io.out(field('Written by', record.source));
  io.out(
    field(
      'Pushed as',
      record.sourceKey
        ? `${record.sourceKey}${record.uploadId ? ` (upload ${record.uploadId})` : ''}`
        : undefined,
    ),
  );
  const stage = record.stage;
  io.out(
    field(
      'Stage',
      stage === undefined
        ? 'none (never routed)'
        : `${stage.value}${stage.reason ? ` (${stage.reason})` : ''} since ${stage.at}, routing revision ${stage.routingRevision}`,
    ),
  );
  if (record.status === 'REJECTED') {
    const reasons = record.reasons ?? [];
    io.out('');
    io.out(`Rejected for ${reasons.length} reason(s):`);
    for (const r of reasons) io.out(`  - ${r}`);
  } else {
    io.out('');
    io.out('Artifact:');
    io.out(field('Key', record.artifactKey));
    io.out(field('sha256', record.sha256));
    io.out(field('Size (bytes)', record.sizeBytes));
    io.out(field('Manifest', record.manifestKey));
    io.out(field('Signed', record.signature ? `yes (key ${record.signingKeyId ?? 'unknown'})` : 'no'));
    io.out(field('Owner', record.owner));
    if (record.metrics && Object.keys(record.metrics).length > 0) {
      io.out(
        field(
          'Metrics',
          Object.entries(record.metrics)
            .map(([k, v]) => `${k}=${v}`)
            .join(', '),
        ),
      );
    }
  }
  const validation = latestOf(events, 'VALIDATION_PASSED');
  const checks = validation?.details.checks;
  if (Array.isArray(checks)) {
    io.out('');
    io.out(`Validation checks passed (${validation!.at}):`);
    for (const c of checks) io.out(`  - ${String(c)}`);
  }
  const lineage = record.lineage;
  io.out('');
  io.out('Lineage:');
  if (lineage === undefined) io.out('  - (not recorded: the version was rejected before registration)');
  else {
    io.out(field('Training data', lineage.trainingData));
    io.out(field('Code commit', lineage.codeCommit));
    io.out(field('Trainer', lineage.trainer));
    io.out(field('Trained at', lineage.trainedAt));
    io.out(field('Parent version', lineage.parentVersion));
  }
  io.out('');
  io.out('Approval:');
  io.out(
    field(
      'Manifest',
      record.approval === undefined
        ? undefined
        : `${record.approval.required ? 'required' : 'not required'}, risk tier ${record.approval.riskTier}`,
    ),
  );
  const request = record.approvalRequest;
  if (request === undefined) io.out(field('Request', 'none (no release asked for approval)'));
  else {
    io.out(field('State', `${request.state} (asked ${request.requestedAt}, expires ${request.expiresAt})`));
    io.out(field('Why required', request.why));
    io.out(field('Execution', request.executionId));
    if (request.decidedBy !== undefined) {
      io.out(
        field(
          'Decided',
          `by ${request.decidedBy} at ${request.decidedAt ?? '-'}: ${request.decisionReason ?? '-'}`,
        ),
      );
    } else if (request.state === 'PENDING') {
      io.out(`  Decide with: modelops approve|reject ${model} ${version} --reason "…"`);
    }
  }
  io.out('');
  io.out(
    events.length === 0
      ? `No audit events for ${model} ${version}.`
      : `Audit events (${events.length}, oldest first):`,
  );
  if (events.length > 0) {
    const rows = events.map((e) => [e.at, e.type, e.actor, summary(e)]);
    for (const line of table([['AT', 'EVENT', 'ACTOR', 'DETAIL'], ...rows])) io.out(line);
  }
  return { record, events };
}

/** JSON with Maps as objects and Errors as their message (SLO burn rates are keyed by window in a Map). */
export function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_key, v: unknown) =>
      v instanceof Map ? Object.fromEntries(v) : v instanceof Error ? { error: v.message } : v,
    2,
  );
}

/** A section that could not be read: the rest of the document still stands, as in the human form. */
const failed = (err: unknown): { readonly error: string } => ({ error: (err as Error).message });

/** `status [model] --json`: the same reads as the human form, as one document (docs/cli.md#json-output). */
async function statusDocument(
  model: string | undefined,
  target: Target,
  options: StatusOptions,
  read: { readonly versions: readonly VersionRecord[]; readonly events: readonly AuditEvent[] },
  stores: {
    readonly audit: AuditLogStore;
    readonly versions: VersionReader;
    readonly monitorState: MonitorStateStore | undefined;
    readonly deployments: RoutingSource | undefined;
  },
): Promise<Record<string, unknown>> {
  const doc: Record<string, unknown> = {
    target: target.description,
    model: model ?? null,
    versions: read.versions,
    pendingApprovals: read.versions
      .filter((v) => v.approvalRequest?.state === 'PENDING')
      .map((v) => ({
        model: v.model,
        version: v.version,
        expiresAt: v.approvalRequest!.expiresAt,
        why: v.approvalRequest!.why,
      })),
  };
  if (model === undefined) return doc;
  doc.events = read.events.map((e) => ({ ...e, summary: summary(e) }));
  if (stores.deployments !== undefined) {
    try {
      const record = await stores.deployments.getDeployment(model);
      doc.routing = record ?? null;
      doc.rolloutPhase = record?.rollout === undefined ? null : phaseOf(record, record.rollout, read.events);
    } catch (err) {
      doc.routing = failed(err);
    }
  }
  if (options.slo !== undefined) {
    try {
      doc.slo = await sloReport(options.slo.model, options.slo.reader, options.slo.nowMs);
    } catch (err) {
      doc.slo = failed(err);
    }
  }
  if (options.drift !== undefined) {
    try {
      doc.drift = await driftData(model, options.drift, stores);
    } catch (err) {
      doc.drift = failed(err);
    }
  }
  return doc;
}
