/**
 * What the local console shows, read from the same stores, metric store and alarm runner local mode itself uses
 * (no copy, no second source of truth): versions, routing and pending approvals from the emulated tables, the
 * rollout timeline from the AuditLog, executions from the ASL runners as they run, series from the
 * TimeSeriesMetricsStore, alarm states from the AlarmRunner. Only the executions are kept here, in a bounded ring:
 * local mode stores no execution history anywhere else (the journal holds running executions only).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { userInfo } from 'node:os';
import { alarmRules, type AlarmRule } from '../../lambdas/core/alarm-rules';
import type { AlarmStateChangeEvent } from '../../lambdas/core/alarm-evaluation';
import { ApprovalRefusedError, decideApproval } from '../../lambdas/core/approval';
import { DRIFT_STATE_KIND } from '../../lambdas/core/drift-monitor';
import type { DriftState } from '../../lambdas/core/drift-state';
import { MODEL_NAME_PATTERN, VERSION_PATTERN } from '../../lambdas/core/names';
import {
  ARM_DIMENSION,
  DRIFT_METRICS,
  FEATURE_DIMENSION,
  FEEDBACK_METRICS,
  INFERENCE_METRICS,
  METRIC_DIMENSIONS,
  type ApprovalStore,
  type AuditEvent,
  type AuditLogStore,
  type DeploymentRecord,
  type DeploymentStore,
  type MetricDimensions,
  type MetricQuery,
  type MetricReadSeries,
  type MonitorStateStore,
  type VersionRecord,
  type VersionStore,
} from '../../lambdas/core/ports';
import { alarmRulesInputOf, type ModelOpsConfig } from '../../lib/config';
import { RELEASE_WORKFLOW } from '../../lib/workflows/release';
import { RETRAIN_WORKFLOW } from '../../lib/workflows/retrain';
import type { AlarmRunner } from '../alarm-runner';
import { localAlarmName } from '../alarm-runner';
import {
  STEPFUNCTIONS_DIR,
  type ExecutionObservation,
  type ExecutionStatus,
  type LiveHistoryEvent,
} from '../asl-runner';

/** Audit event types drawn on the rollout timeline (the rest stay in the model's full ledger). */
export const TIMELINE_EVENT_TYPES: ReadonlySet<string> = new Set([
  'REGISTERED',
  'APPROVAL_REQUESTED',
  'APPROVAL_GRANTED',
  'APPROVAL_REJECTED',
  'ROLLOUT_STARTED',
  'ROLLOUT_REFUSED',
  'ROLLOUT_FORCED',
  'CANDIDATE_DEPLOYED',
  'CANDIDATE_DEPLOY_FAILED',
  'TRAFFIC_SHIFTED',
  'CANARY_VERDICT',
  'PROMOTED',
  'ROUTING_CHANGED',
  'ROLLED_BACK',
  'ROLLOUT_ABORTED',
  'ROLLOUT_UNLOCKED',
  'CANDIDATE_RETIRED',
  'RELEASE_FAILED',
  'RELEASE_INTERRUPTED',
  'DRIFT_DETECTED',
  'DRIFT_CLEARED',
  'RETRAIN_STARTED',
  'RETRAIN_SKIPPED',
  'RETRAIN_REJECTED',
  'RETRAIN_SUCCEEDED',
  'RETRAIN_FAILED',
]);

/** Executions kept by the console, newest last; older ones fall off. */
export const DEFAULT_EXECUTION_RING = 50;
/** Audit events read per model for the page (the latest ones). */
const AUDIT_EVENTS_PER_MODEL = 200;
/** Alarm state changes kept. */
const ALARM_HISTORY = 200;

export class ConsoleRequestError extends Error {
  override name = 'ConsoleRequestError';
  constructor(
    message: string,
    readonly status: 400 | 404 | 409 = 400,
  ) {
    super(message);
  }
}

export interface ExecutionView {
  readonly stateMachine: string;
  readonly name: string;
  readonly executionArn?: string;
  readonly input: unknown;
  readonly status: ExecutionStatus | 'RUNNING';
  readonly startDate: string;
  readonly stopDate?: string;
  readonly durationMs?: number;
  readonly error?: string;
  readonly cause?: string;
  readonly output?: unknown;
  readonly history: readonly LiveHistoryEvent[];
  /** Bumped on every change, so the page redraws only what changed. */
  readonly revision: number;
}

interface MutableExecution {
  stateMachine: string;
  name: string;
  executionArn?: string;
  input: unknown;
  status: ExecutionStatus | 'RUNNING';
  startDate: string;
  stopDate?: string;
  durationMs?: number;
  error?: string;
  cause?: string;
  output?: unknown;
  history: LiveHistoryEvent[];
  revision: number;
}

/** The most recent executions of every observed state machine, fed by `AslRunner.observe`. */
export class ExecutionRing {
  private readonly byName = new Map<string, MutableExecution>();
  private readonly listeners = new Set<() => void>();

  constructor(private readonly capacity: number = DEFAULT_EXECUTION_RING) {}

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  readonly observe = (o: ExecutionObservation): void => {
    const key = (machine: string, name: string) => `${machine}/${name}`;
    if (o.kind === 'started') {
      // A resumed execution runs again under its name: it starts over.
      this.byName.delete(key(o.stateMachine, o.name));
      this.byName.set(key(o.stateMachine, o.name), {
        stateMachine: o.stateMachine,
        name: o.name,
        executionArn: o.executionArn,
        input: o.input,
        status: 'RUNNING',
        startDate: o.startDate,
        history: [],
        revision: 0,
      });
    } else if (o.kind === 'event') {
      const e = this.byName.get(key(o.stateMachine, o.name));
      if (e === undefined) return;
      e.history.push(o.event);
      e.revision++;
    } else {
      const r = o.result;
      const k = key(o.stateMachine, r.name);
      const e: MutableExecution = this.byName.get(k) ?? {
        stateMachine: o.stateMachine,
        name: r.name,
        input: r.input,
        status: r.status,
        startDate: r.startDate,
        history: [...r.history],
        revision: 0,
      };
      Object.assign(e, {
        executionArn: r.executionArn,
        status: r.status,
        stopDate: r.stopDate,
        durationMs: r.durationMs,
        ...(r.error !== undefined ? { error: r.error } : {}),
        ...(r.cause !== undefined ? { cause: r.cause } : {}),
        ...(r.output !== undefined ? { output: r.output } : {}),
      });
      e.revision++;
      this.byName.set(k, e);
    }
    while (this.byName.size > this.capacity) {
      const oldest = this.byName.keys().next().value as string;
      this.byName.delete(oldest);
    }
    for (const listener of this.listeners) listener();
  };

  list(): readonly ExecutionView[] {
    return [...this.byName.values()];
  }

  get(stateMachine: string, name: string): ExecutionView | undefined {
    return this.byName.get(`${stateMachine}/${name}`);
  }
}

/** A state machine's states and transitions, as the page draws them. */
export interface StateGraph {
  readonly stateMachine: string;
  readonly startAt: string;
  readonly states: readonly {
    readonly name: string;
    readonly type: string;
    readonly comment?: string;
    readonly next: readonly { readonly to: string; readonly kind: 'next' | 'choice' | 'default' | 'catch' }[];
  }[];
}

interface AslState {
  readonly Type: string;
  readonly Comment?: string;
  readonly Next?: string;
  readonly Default?: string;
  readonly Choices?: readonly { readonly Next?: string }[];
  readonly Catch?: readonly { readonly Next?: string }[];
}

/** Reads the ASL file itself (the one CDK deploys and local mode runs): no placeholder matters for the shape. */
export function stateGraph(stateMachine: string, aslFile: string): StateGraph {
  const definition = JSON.parse(readFileSync(path.join(STEPFUNCTIONS_DIR, aslFile), 'utf8')) as {
    StartAt: string;
    States: Record<string, AslState>;
  };
  return {
    stateMachine,
    startAt: definition.StartAt,
    states: Object.entries(definition.States).map(([name, s]) => ({
      name,
      type: s.Type,
      ...(s.Comment ? { comment: s.Comment } : {}),
      next: [
        ...(s.Next ? [{ to: s.Next, kind: 'next' as const }] : []),
        ...(s.Choices ?? []).flatMap((c) => (c.Next ? [{ to: c.Next, kind: 'choice' as const }] : [])),
        ...(s.Default ? [{ to: s.Default, kind: 'default' as const }] : []),
        ...(s.Catch ?? []).flatMap((c) => (c.Next ? [{ to: c.Next, kind: 'catch' as const }] : [])),
      ],
    })),
  };
}

export interface AlarmView {
  readonly model: string;
  readonly alarmName: string;
  readonly ruleId: string;
  readonly kind: string;
  readonly severity: string;
  readonly description: string;
  readonly runbook: string;
  readonly state: string;
  readonly reason: string;
  readonly since?: string;
}

export interface ModelView {
  readonly name: string;
  readonly owner: string;
  readonly routing?: DeploymentRecord;
  readonly versions: readonly (Omit<VersionRecord, 'approvalRequest'> & {
    readonly approvedBy?: string;
    /** The release's approval request, without its task token. */
    readonly approvalDecision?: {
      readonly state: string;
      readonly why: string;
      readonly decidedBy?: string;
      readonly decidedAt?: string;
      readonly decisionReason?: string;
    };
  })[];
  readonly pendingApprovals: readonly {
    readonly version: string;
    readonly why: string;
    readonly requestedAt: string;
    readonly expiresAt: string;
  }[];
  readonly timeline: readonly AuditEvent[];
  /** The drift monitor's state (MonitorState table), once it has judged a window. */
  readonly drift?: DriftState & { readonly version: string; readonly updatedAt: string };
}

export interface ConsoleState {
  readonly generatedAt: string;
  readonly models: readonly ModelView[];
  readonly executions: readonly Omit<ExecutionView, 'history'>[];
  readonly alarms: readonly AlarmView[];
  readonly alarmHistory: readonly {
    readonly alarmName: string;
    readonly from: string;
    readonly to: string;
    readonly reason: string;
    readonly at: string;
  }[];
}

export interface ConsoleMetricsSource {
  read(request: {
    queries: readonly MetricQuery[];
    startMs: number;
    endMs: number;
    periodSeconds: number;
  }): Promise<readonly MetricReadSeries[]>;
  listSeries(): readonly { readonly metricName: string; readonly dimensions: MetricDimensions }[];
}

export interface ConsoleApiOptions {
  readonly config: ModelOpsConfig;
  readonly stores: {
    readonly versions: VersionStore;
    readonly deployments: DeploymentStore;
    readonly audit: AuditLogStore;
    readonly approvals: ApprovalStore;
    /** The drift monitor's state per model (OK/ALARM, recent windows). @default - not shown */
    readonly monitorState?: MonitorStateStore;
  };
  readonly executions: ExecutionRing;
  /** @default - no charts */
  readonly metrics?: ConsoleMetricsSource;
  /** @default - no alarm states */
  readonly alarms?: () => AlarmRunner | undefined;
  /** Who decides from the console, in the audit log. @default MODELOPS_ACTOR or console:<os user> */
  readonly actor?: string;
  /** @default Date.now */
  readonly now?: () => number;
}

function defaultActor(): string {
  if (process.env.MODELOPS_ACTOR?.trim()) return process.env.MODELOPS_ACTOR.trim();
  try {
    return `console:${userInfo().username}`;
  } catch {
    return 'console:unknown';
  }
}

export class ConsoleApi {
  readonly graphs: Readonly<Record<string, StateGraph>>;
  private readonly rules: readonly { model: string; alarmName: string; rule: AlarmRule }[];
  private readonly alarmHistory: ConsoleState['alarmHistory'][number][] = [];
  private unsubscribeAlarms?: () => void;
  private readonly now: () => number;
  readonly actor: string;

  constructor(private readonly options: ConsoleApiOptions) {
    this.now = options.now ?? Date.now;
    this.actor = options.actor ?? defaultActor();
    this.graphs = {
      [RELEASE_WORKFLOW.name]: stateGraph(RELEASE_WORKFLOW.name, RELEASE_WORKFLOW.aslFile),
      [RETRAIN_WORKFLOW.name]: stateGraph(RETRAIN_WORKFLOW.name, RETRAIN_WORKFLOW.aslFile),
    };
    const { config } = options;
    this.rules = config.models.flatMap((m) =>
      alarmRules(alarmRulesInputOf(m, config)).map((rule) => ({
        model: m.name,
        alarmName: localAlarmName(config, m.name, rule.id),
        rule,
      })),
    );
  }

  /** Subscribes to the alarm runner once it exists (it starts before the console in `npm start`). */
  private watchAlarms(): AlarmRunner | undefined {
    const runner = this.options.alarms?.();
    if (runner !== undefined && this.unsubscribeAlarms === undefined) {
      this.unsubscribeAlarms = runner.subscribe((e: AlarmStateChangeEvent) => {
        this.alarmHistory.push({
          alarmName: e.detail.alarmName,
          from: e.detail.previousState.value,
          to: e.detail.state.value,
          reason: e.detail.state.reason,
          at: e.time,
        });
        if (this.alarmHistory.length > ALARM_HISTORY) this.alarmHistory.shift();
      });
    }
    return runner;
  }

  start(): void {
    this.watchAlarms();
  }

  stop(): void {
    this.unsubscribeAlarms?.();
  }

  private async model(name: string, owner: string): Promise<ModelView> {
    const { stores } = this.options;
    const [routing, versions, audit, drift] = await Promise.all([
      stores.deployments.getDeployment(name),
      stores.versions.listVersions(name),
      stores.audit.listAudit(name, { limit: AUDIT_EVENTS_PER_MODEL }),
      stores.monitorState?.getState(name, DRIFT_STATE_KIND),
    ]);
    const approvedBy = new Map<string, string>();
    for (const e of audit) {
      if (e.type === 'APPROVAL_GRANTED' && e.version !== undefined) approvedBy.set(e.version, e.actor);
    }
    const sorted = [...versions].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    return {
      name,
      owner,
      ...(routing ? { routing } : {}),
      versions: sorted.map(({ approvalRequest, ...v }) => {
        const by =
          approvalRequest?.state === 'APPROVED' ? approvalRequest.decidedBy : approvedBy.get(v.version);
        return {
          ...v,
          ...(by !== undefined ? { approvedBy: by } : {}),
          ...(approvalRequest
            ? {
                approvalDecision: {
                  state: approvalRequest.state,
                  why: approvalRequest.why,
                  ...(approvalRequest.decidedBy !== undefined
                    ? { decidedBy: approvalRequest.decidedBy }
                    : {}),
                  ...(approvalRequest.decidedAt !== undefined
                    ? { decidedAt: approvalRequest.decidedAt }
                    : {}),
                  ...(approvalRequest.decisionReason !== undefined
                    ? { decisionReason: approvalRequest.decisionReason }
                    : {}),
                },
              }
            : {}),
        };
      }),
      pendingApprovals: sorted
        .filter((v) => v.approvalRequest?.state === 'PENDING')
        .map((v) => ({
          version: v.version,
          why: v.approvalRequest!.why,
          requestedAt: v.approvalRequest!.requestedAt,
          expiresAt: v.approvalRequest!.expiresAt,
        })),
      timeline: audit.filter((e) => TIMELINE_EVENT_TYPES.has(e.type)),
      ...(drift
        ? {
            drift: {
              ...(drift.state as DriftState),
              version: drift.version,
              updatedAt: drift.updatedAt,
            },
          }
        : {}),
    };
  }

  alarms(): AlarmView[] {
    const states = this.watchAlarms()?.states();
    return this.rules.map(({ model, alarmName, rule }) => {
      const s = states?.get(alarmName);
      return {
        model,
        alarmName,
        ruleId: rule.id,
        kind: rule.kind,
        severity: rule.severity,
        description: rule.description,
        runbook: rule.runbook,
        state: s?.value ?? 'INSUFFICIENT_DATA',
        reason: s?.reason ?? 'not evaluated yet',
        ...(s ? { since: new Date(s.sinceMs).toISOString() } : {}),
      };
    });
  }

  async state(): Promise<ConsoleState> {
    const models = await Promise.all(this.options.config.models.map((m) => this.model(m.name, m.owner)));
    return {
      generatedAt: new Date(this.now()).toISOString(),
      models,
      executions: this.options.executions
        .list()
        .map(({ history: _history, ...summary }) => summary)
        .reverse(),
      alarms: this.alarms(),
      alarmHistory: [...this.alarmHistory].reverse(),
    };
  }

  execution(stateMachine: string, name: string): ExecutionView | undefined {
    return this.options.executions.get(stateMachine, name);
  }

  /**
   * Series of one model over the last `minutes`: per version requests, errors, p50/p99 latency; per model the
   * availability burn rate (error ratio ÷ the SLO's allowed ratio), accuracy, drift per feature and dataset drift.
   */
  async metrics(
    model: string,
    minutes: number,
  ): Promise<{
    readonly periodSeconds: number;
    readonly timestamps: readonly number[];
    readonly series: Readonly<Record<string, readonly (number | null)[]>>;
    readonly versions: readonly string[];
    readonly features: readonly string[];
    readonly availabilityTarget: number;
  }> {
    const configured = this.options.config.models.find((m) => m.name === model);
    if (configured === undefined) throw new ConsoleRequestError(`no model "${model}" in the config`, 404);
    const source = this.options.metrics;
    const span = Math.min(Math.max(minutes, 1), 180);
    const periodSeconds = span <= 30 ? 10 : 60;
    const endMs = this.now() + 1;
    const startMs = endMs - span * 60_000;
    if (source === undefined) {
      return {
        periodSeconds,
        timestamps: [],
        series: {},
        versions: [],
        features: [],
        availabilityTarget: configured.slo.availability.target,
      };
    }
    const known = source.listSeries().filter((s) => s.dimensions[METRIC_DIMENSIONS.model] === model);
    const versions = [
      ...new Set(
        known.map((s) => s.dimensions[METRIC_DIMENSIONS.version]).filter((v): v is string => v !== undefined),
      ),
    ].sort();
    const features = [
      ...new Set(
        known
          .filter((s) => s.metricName === DRIFT_METRICS.featureJsDistance)
          .map((s) => s.dimensions[FEATURE_DIMENSION])
          .filter((f): f is string => f !== undefined),
      ),
    ].sort();
    const modelDims = { [METRIC_DIMENSIONS.model]: model };
    const queries: (MetricQuery & { label: string })[] = [];
    let n = 0;
    const add = (
      label: string,
      metricName: string,
      dimensions: MetricDimensions,
      stat: MetricQuery['stat'],
    ) => queries.push({ id: `q${n++}`, label, metricName, dimensions, stat });
    add('requests', INFERENCE_METRICS.requests, modelDims, 'Sum');
    add('errors', INFERENCE_METRICS.errors, modelDims, 'Sum');
    add('p50', INFERENCE_METRICS.latency, modelDims, 'p50');
    add('p99', INFERENCE_METRICS.latency, modelDims, 'p99');
    add('accuracy', FEEDBACK_METRICS.correct, modelDims, 'Average');
    add('datasetDrift', DRIFT_METRICS.datasetDrift, modelDims, 'Maximum');
    add(
      'candidateRequests',
      INFERENCE_METRICS.requests,
      { ...modelDims, [ARM_DIMENSION]: 'candidate' },
      'Sum',
    );
    add('candidateErrors', INFERENCE_METRICS.errors, { ...modelDims, [ARM_DIMENSION]: 'candidate' }, 'Sum');
    for (const v of versions) {
      const dims = { ...modelDims, [METRIC_DIMENSIONS.version]: v };
      add(`requests@${v}`, INFERENCE_METRICS.requests, dims, 'Sum');
      add(`errors@${v}`, INFERENCE_METRICS.errors, dims, 'Sum');
      add(`p50@${v}`, INFERENCE_METRICS.latency, dims, 'p50');
      add(`p99@${v}`, INFERENCE_METRICS.latency, dims, 'p99');
    }
    for (const f of features) {
      add(`drift:${f}`, DRIFT_METRICS.featureJsDistance, { ...modelDims, [FEATURE_DIMENSION]: f }, 'Maximum');
    }
    const read = await source.read({ queries, startMs, endMs, periodSeconds });
    const series: Record<string, readonly (number | null)[]> = {};
    read.forEach((s, i) => (series[queries[i]!.label] = s.values));
    const allowed = 1 - configured.slo.availability.target;
    series.burnRate = (series.requests ?? []).map((r, i) => {
      const e = series.errors?.[i];
      return r && r > 0 && e !== null && e !== undefined && allowed > 0 ? e / r / allowed : null;
    });
    return {
      periodSeconds,
      timestamps: read[0]?.timestamps ?? [],
      series,
      versions,
      features,
      availabilityTarget: configured.slo.availability.target,
    };
  }

  /** The decision `modelops approve|reject` writes, with the console's actor; the local waiter resumes the release. */
  async decide(
    model: string,
    version: string,
    decision: 'approve' | 'reject',
    reason: unknown,
  ): Promise<{ readonly state: string; readonly decidedBy?: string; readonly written: boolean }> {
    if (!MODEL_NAME_PATTERN.test(model) || !this.options.config.models.some((m) => m.name === model)) {
      throw new ConsoleRequestError(`no model "${model}" in the config`, 404);
    }
    if (!VERSION_PATTERN.test(version)) throw new ConsoleRequestError(`"${version}" is not a version`);
    if (typeof reason !== 'string' || reason.trim() === '') {
      throw new ConsoleRequestError(`a reason is required: say why you ${decision} ${model} ${version}`);
    }
    try {
      const { request, written } = await decideApproval(
        { approvals: this.options.stores.approvals, audit: this.options.stores.audit },
        { model, version, decision, actor: this.actor, reason, nowMs: this.now() },
      );
      return {
        state: request.state,
        ...(request.decidedBy !== undefined ? { decidedBy: request.decidedBy } : {}),
        written,
      };
    } catch (err) {
      if (err instanceof ApprovalRefusedError) throw new ConsoleRequestError(err.message, 409);
      throw err;
    }
  }
}
