/**
 * What the local console shows, read from the same stores, metric store and alarm runner local mode itself uses
 * (no copy, no second source of truth): versions, routing and pending approvals from the emulated tables, the
 * rollout timeline from the AuditLog, executions from the ASL runners as they run, series from the
 * TimeSeriesMetricsStore, alarm states from the AlarmRunner. Only the executions are kept here, in a bounded ring:
 * local mode stores no execution history anywhere else (the journal holds running executions only), so the console
 * also persists the finished ones itself (./execution-history.ts) and seeds the ring from them at start.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { userInfo } from 'node:os';
import { alarmRules, type AlarmRule } from '../../lambdas/core/alarm-rules';
import type { AlarmStateChangeEvent } from '../../lambdas/core/alarm-evaluation';
import { ApprovalRefusedError, decideApproval } from '../../lambdas/core/approval';
import { DRIFT_STATE_KIND, layoutFromBaseline, loadBaseline } from '../../lambdas/core/drift-monitor';
import type { DriftState } from '../../lambdas/core/drift-state';
import { OTHER_CATEGORY, type FeatureBins } from '../../lambdas/core/manifest';
import { MODEL_NAME_PATTERN, VERSION_PATTERN } from '../../lambdas/core/names';
import {
  ARM_DIMENSION,
  DRIFT_METRICS,
  FEATURE_DIMENSION,
  FEEDBACK_METRICS,
  INFERENCE_METRICS,
  METRIC_DIMENSIONS,
  OUTPUT_DIMENSION,
  type ApprovalStore,
  type AuditEvent,
  type AuditLogStore,
  type DeploymentRecord,
  type DeploymentStore,
  type DriftCounterStore,
  type MetricDimensions,
  type MetricQuery,
  type MetricReadSeries,
  type MonitorStateStore,
  type RegistryStore,
  type VersionRecord,
  type VersionStore,
} from '../../lambdas/core/ports';
import { readModelBudget, type ModelBudget, type ObjectiveBudget } from '../../lambdas/core/rollout-budget';
import { budgetRemaining, burnRate } from '../../lambdas/core/slo';
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

/** Executions kept by the console per state machine, newest last; older ones fall off. */
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

/**
 * The most recent executions of every observed state machine, fed by `AslRunner.observe`. Bounded per state machine,
 * so a burst of releases does not push the (rarer) retrains out.
 */
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
    this.evict(o.stateMachine);
    for (const listener of this.listeners) listener();
  };

  /** Adds executions of an earlier run (oldest first), behind any this run has already seen. */
  seed(views: readonly ExecutionView[]): void {
    const current = [...this.byName];
    this.byName.clear();
    for (const v of views) this.byName.set(`${v.stateMachine}/${v.name}`, { ...v, history: [...v.history] });
    for (const [k, e] of current) {
      this.byName.delete(k);
      this.byName.set(k, e);
    }
    for (const machine of new Set(views.map((v) => v.stateMachine))) this.evict(machine);
    for (const listener of this.listeners) listener();
  }

  private evict(stateMachine: string): void {
    const keys = [...this.byName.values()].filter((e) => e.stateMachine === stateMachine);
    for (const e of keys.slice(0, Math.max(keys.length - this.capacity, 0))) {
      this.byName.delete(`${e.stateMachine}/${e.name}`);
    }
  }

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

/** What `GET /api/metrics/{model}` answers. */
export interface ConsoleMetrics {
  readonly periodSeconds: number;
  readonly timestamps: readonly number[];
  readonly series: Readonly<Record<string, readonly (number | null)[]>>;
  readonly versions: readonly string[];
  readonly features: readonly string[];
  /** Outputs the drift monitor has a prediction drift series for. */
  readonly outputs: readonly string[];
  readonly availabilityTarget: number;
  readonly latencyTarget: number;
  /** The rollout gate's budget reading now (`readModelBudget`), over the SLO period; absent without a metric store. */
  readonly budget?: {
    readonly periodDays: number;
    readonly requests: number;
    readonly objectives: readonly Pick<ObjectiveBudget, 'sli' | 'target' | 'status' | 'remaining' | 'bad'>[];
  };
}

/** What `GET /api/predictions/{model}` answers: baseline and live share per prediction bin, per output. */
export interface PredictionBinsView {
  readonly version: string;
  readonly windowStart: string;
  readonly windowEnd: string;
  readonly outputs: readonly {
    readonly output: string;
    readonly bins: readonly string[];
    readonly baseline: readonly number[];
    /** Empty when the window has no prediction counted. */
    readonly live: readonly number[];
    readonly liveCount: number;
  }[];
}

/** Values of one dimension among a model's series (of one metric, or of any). */
function dimensionValues(
  known: readonly { readonly metricName: string; readonly dimensions: MetricDimensions }[],
  metricName: string | undefined,
  dimension: string,
): string[] {
  const values = known
    .filter((s) => metricName === undefined || s.metricName === metricName)
    .map((s) => s.dimensions[dimension])
    .filter((v): v is string => v !== undefined);
  return [...new Set(values)].sort();
}

/** Burn rate per period (slo.ts's `burnRate`); null where the period had no request. */
export function burnRateSeries(
  requests: readonly (number | null)[],
  bad: readonly (number | null)[],
  target: number,
): (number | null)[] {
  return requests.map((r, i) => (r !== null && r > 0 ? burnRate((bad[i] ?? 0) / r, target) : null));
}

/**
 * Budget remaining at the end of each chart period. The last point is the rollout gate's reading now
 * (`readModelBudget`: the SLO period's counts); each earlier point takes off the counts of the periods after it and
 * goes through the same `budgetRemaining`. The period's far edge is held: the chart spans minutes, the period days.
 */
export function budgetRemainingSeries(
  budget: Pick<ModelBudget, 'requests'>,
  objective: Pick<ObjectiveBudget, 'target' | 'bad'>,
  requests: readonly (number | null)[],
  bad: readonly (number | null)[],
): (number | null)[] {
  const out = new Array<number | null>(requests.length).fill(null);
  let total = budget.requests;
  let badTotal = objective.bad;
  for (let i = requests.length - 1; i >= 0; i--) {
    // A datum emitted between the two reads is in the chart but not the period: never below zero.
    const status = budgetRemaining(
      { total: Math.max(total, 0), bad: Math.max(badTotal, 0) },
      objective.target,
    );
    out[i] = status.status === 'no-data' ? null : status.remaining;
    total -= requests[i] ?? 0;
    badTotal -= bad[i] ?? 0;
  }
  return out;
}

/** Each count's share of their sum; all zero when the sum is. */
function shares(counts: readonly number[]): number[] {
  const sum = counts.reduce((a, c) => a + c, 0);
  return counts.map((c) => (sum > 0 ? c / sum : 0));
}

/** A label per bin, in count order: numeric bins by their edges, categorical ones by category then `__OTHER__`. */
export function binLabels(bins: FeatureBins): string[] {
  if (bins.kind === 'categorical') return [...bins.categories, OTHER_CATEGORY];
  const e = bins.edges.map((x) => String(Number(x.toPrecision(3))));
  return [`< ${e[0]}`, ...e.slice(1).map((x, i) => `${e[i]}–${x}`), `> ${e[e.length - 1]}`];
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
    /** Where the versions' manifests (and their prediction baselines) are. @default - no prediction bins */
    readonly registry?: Pick<RegistryStore, 'readText'>;
    /** The live drift counters the drift monitor reads. @default - no prediction bins */
    readonly counters?: Pick<DriftCounterStore, 'readWindow'>;
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
  private readonly baselines = new Map<string, Exclude<Awaited<ReturnType<typeof loadBaseline>>, string>>();
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
   * Series of one model over the last `minutes`: per version requests, errors, p50/p99 latency; per model the burn
   * rate and error budget remaining of each SLO objective, accuracy or MAE, label lag and labels received, drift
   * per feature, prediction drift per output and dataset drift.
   */
  async metrics(model: string, minutes: number): Promise<ConsoleMetrics> {
    const configured = this.options.config.models.find((m) => m.name === model);
    if (configured === undefined) throw new ConsoleRequestError(`no model "${model}" in the config`, 404);
    const source = this.options.metrics;
    const span = Math.min(Math.max(minutes, 1), 180);
    const periodSeconds = span <= 30 ? 10 : 60;
    const nowMs = this.now();
    const endMs = nowMs + 1;
    const startMs = endMs - span * 60_000;
    const { slo } = configured;
    const empty = {
      periodSeconds,
      timestamps: [],
      series: {},
      versions: [],
      features: [],
      outputs: [],
      availabilityTarget: slo.availability.target,
      latencyTarget: slo.latency.target,
    };
    if (source === undefined) return empty;
    const known = source.listSeries().filter((s) => s.dimensions[METRIC_DIMENSIONS.model] === model);
    const versions = dimensionValues(known, undefined, METRIC_DIMENSIONS.version);
    const features = dimensionValues(known, DRIFT_METRICS.featureJsDistance, FEATURE_DIMENSION);
    const outputs = dimensionValues(known, DRIFT_METRICS.predictionDrift, OUTPUT_DIMENSION);
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
    add('slow', INFERENCE_METRICS.slowRequests, modelDims, 'Sum');
    add('p50', INFERENCE_METRICS.latency, modelDims, 'p50');
    add('p99', INFERENCE_METRICS.latency, modelDims, 'p99');
    add('accuracy', FEEDBACK_METRICS.correct, modelDims, 'Average');
    add('mae', FEEDBACK_METRICS.absoluteError, modelDims, 'Average');
    add('labels', FEEDBACK_METRICS.labels, modelDims, 'Sum');
    add('labelLagP50', FEEDBACK_METRICS.labelLag, modelDims, 'p50');
    add('labelLagP99', FEEDBACK_METRICS.labelLag, modelDims, 'p99');
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
    for (const o of outputs) {
      add(
        `predictionDrift:${o}`,
        DRIFT_METRICS.predictionDrift,
        { ...modelDims, [OUTPUT_DIMENSION]: o },
        'Maximum',
      );
    }
    const [read, budget] = await Promise.all([
      source.read({ queries, startMs, endMs, periodSeconds }),
      readModelBudget(source, model, slo, nowMs),
    ]);
    const series: Record<string, readonly (number | null)[]> = {};
    read.forEach((s, i) => (series[queries[i]!.label] = s.values));
    const requests = series.requests ?? [];
    for (const o of budget.objectives) {
      const bad = (o.sli === 'availability' ? series.errors : series.slow) ?? [];
      series[`burnRate:${o.sli}`] = burnRateSeries(requests, bad, o.target);
      series[`budget:${o.sli}`] = budgetRemainingSeries(budget, o, requests, bad);
    }
    return {
      ...empty,
      timestamps: read[0]?.timestamps ?? [],
      series,
      versions,
      features,
      outputs,
      budget: {
        periodDays: budget.periodDays,
        requests: budget.requests,
        objectives: budget.objectives.map(({ sli, target, status, remaining, bad }) => ({
          sli,
          target,
          status,
          remaining,
          bad,
        })),
      },
    };
  }

  /**
   * The stable version's prediction bins: the share of each bin in its manifest's prediction baseline beside the
   * share in the drift monitor's current window (the live counters the monitor itself reads). Undefined while the
   * console has no registry or counters, no version is stable, or its baseline has no predictions.
   */
  async predictionBins(model: string): Promise<PredictionBinsView | undefined> {
    const configured = this.options.config.models.find((m) => m.name === model);
    if (configured === undefined) throw new ConsoleRequestError(`no model "${model}" in the config`, 404);
    const { registry, counters, versions, deployments } = this.options.stores;
    if (registry === undefined || counters === undefined) return undefined;
    const version = (await deployments.getDeployment(model))?.stable;
    if (version === undefined) return undefined;
    const baseline = await this.baselineOf(model, version, () =>
      loadBaseline({ versions, registry }, model, version),
    );
    if (typeof baseline === 'string' || baseline.predictions === undefined) return undefined;
    const toMs = this.now();
    const fromMs = toMs - configured.drift.windowMinutes * 60_000;
    const { counts } = await counters.readWindow(model, version, fromMs, toMs, layoutFromBaseline(baseline));
    return {
      version,
      windowStart: new Date(fromMs).toISOString(),
      windowEnd: new Date(toMs).toISOString(),
      outputs: Object.entries(baseline.predictions).map(([output, bins]) => {
        const live = counts?.predictions?.[output]?.counts ?? [];
        return {
          output,
          bins: binLabels(bins),
          baseline: shares(bins.counts),
          live: shares(live),
          liveCount: live.reduce((a, c) => a + c, 0),
        };
      }),
    };
  }

  /** A version's baseline never changes (its manifest is content-addressed): read it once per version. */
  private async baselineOf(
    model: string,
    version: string,
    load: () => ReturnType<typeof loadBaseline>,
  ): ReturnType<typeof loadBaseline> {
    const key = `${model}/${version}`;
    const cached = this.baselines.get(key);
    if (cached !== undefined) return cached;
    const baseline = await load();
    // A reason (no manifest yet) may change once the version is registered: only a baseline is kept.
    if (typeof baseline !== 'string') this.baselines.set(key, baseline);
    return baseline;
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
