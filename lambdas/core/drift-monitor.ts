/**
 * The scheduled drift monitor of one model (DESIGN.md decision 5, docs/drift.md "Monitor"): judges the live window of
 * the stable version against its registered baseline, steps the persisted drift state, and says which metrics and
 * which `ModelDriftDetected` event to emit. Pure of AWS: every store is a port, `nowMs` is passed in.
 */
import type { Baseline } from './manifest';
import { datasetDrift, type DatasetDrift, type DriftThresholds, type InsufficientData } from './drift';
import {
  INITIAL_DRIFT_STATE,
  nextDriftState,
  startCooldown,
  type DriftState,
  type DriftTransition,
  type PersistencePolicy,
} from './drift-state';
import { auditEvent } from './audit';
import { DuplicateAuditEventError } from './errors';
import { MAX_REGISTERED_MANIFEST_BYTES, parseRuntimeManifest } from './runtime-manifest';
import {
  DRIFT_METRICS,
  FEATURE_DIMENSION,
  METRIC_DIMENSIONS,
  OUTPUT_DIMENSION,
  MonitorStateConflictError,
  type AuditEvent,
  type AuditLogStore,
  type DomainEvent,
  type EventPublisher,
  type DriftCounterStore,
  type DriftLayout,
  type MetricDatum,
  type MetricDimensions,
  type MetricsSink,
  type MonitorOutbox,
  type MonitorStateRecord,
  type MonitorStateStore,
  type RegistryStore,
  type RoutingSource,
  type VersionReader,
  type VersionStore,
} from './ports';

/** The parts of a model's `drift` config (lib/config.ts DriftConfig) the monitor uses; lambdas/ does not import lib/. */
export interface DriftConfig {
  readonly enabled: boolean;
  readonly windowMinutes: number;
  readonly minLiveCount: number;
  readonly thresholds: DriftThresholds;
  readonly datasetDriftShare: number;
  readonly persistence: { readonly m: number; readonly n: number };
  readonly cooldownMinutes: number;
}

export const DRIFT_STATE_KIND = 'drift';
export const DRIFT_EVENT_SOURCE = 'modelops';
export const DRIFT_DETECTED_DETAIL_TYPE = 'ModelDriftDetected';
/** Audit actor of the scheduled monitor's entries. */
export const DRIFT_MONITOR_ACTOR = 'drift-monitor';

export interface DriftMonitorDeps {
  readonly deployments: RoutingSource;
  readonly versions: VersionStore;
  readonly registry: RegistryStore;
  readonly counters: DriftCounterStore;
  readonly monitorState: MonitorStateStore;
}

export interface MonitorMetric {
  readonly name: string;
  readonly value: number;
  readonly dimensions: Readonly<Record<string, string>>;
}

export type MonitorOutcome =
  | { readonly kind: 'skipped'; readonly model: string; readonly reason: string }
  | {
      readonly kind: 'judged';
      readonly model: string;
      readonly version: string;
      readonly windowStartMs: number;
      readonly windowEndMs: number;
      readonly result: DatasetDrift | InsufficientData;
      readonly state: DriftState;
      readonly transition: DriftTransition | 'rebaselined';
      /** False when a twin run wrote this window's state first: this run emits nothing. */
      readonly written: boolean;
      readonly metrics: readonly MonitorMetric[];
      /** Set exactly when this run moved the state into ALARM (and its write succeeded). */
      readonly event?: DomainEvent;
      /** The record this run wrote (absent when a twin won): `deliverOutbox` sends its outbox. */
      readonly record?: MonitorStateRecord<DriftState>;
      readonly itemsRead: number;
    };

/**
 * Bins per feature, and per output of a prediction baseline, as the counters are laid out (missing bin excluded).
 */
export function layoutFromBaseline(baseline: Baseline): DriftLayout {
  const features: Record<string, number> = {};
  for (const [name, bins] of Object.entries(baseline.features)) features[name] = bins.counts.length;
  if (baseline.predictions === undefined) return { features };
  const predictions: Record<string, number> = {};
  for (const [name, bins] of Object.entries(baseline.predictions)) predictions[name] = bins.counts.length;
  return { features, predictions };
}

export function persistencePolicy(config: DriftConfig): PersistencePolicy {
  return {
    m: config.persistence.m,
    n: config.persistence.n,
    threshold: config.datasetDriftShare,
    cooldownMs: config.cooldownMinutes * 60_000,
  };
}

/** The baseline of a version's registered manifest, or the reason it cannot be read (the monitor and `status` share it). */
export async function loadBaseline(
  deps: { readonly versions: VersionReader; readonly registry: Pick<RegistryStore, 'readText'> },
  model: string,
  version: string,
): Promise<Baseline | string> {
  const record = await deps.versions.getVersion(model, version);
  if (record?.manifestKey === undefined) return `version ${version} has no registered manifest (manifestKey)`;
  const text = await deps.registry.readText(record.manifestKey, MAX_REGISTERED_MANIFEST_BYTES);
  if (text === undefined) return `manifest ${record.manifestKey} is missing from the registry`;
  const parsed = parseRuntimeManifest(text);
  if (!parsed.ok) {
    return `manifest ${record.manifestKey} is invalid: ${parsed.issues.map((i) => i.message).join('; ')}`;
  }
  if (parsed.manifest.baseline === undefined) return `version ${version} has no baseline in its manifest`;
  return parsed.manifest.baseline;
}

function metricsOf(
  model: string,
  result: DatasetDrift | InsufficientData,
  state: DriftState,
): MonitorMetric[] {
  const byModel = { [METRIC_DIMENSIONS.model]: model };
  const out: MonitorMetric[] = [
    { name: DRIFT_METRICS.windowCount, value: result.liveCount, dimensions: byModel },
    {
      name: DRIFT_METRICS.insufficientData,
      value: result.status === 'insufficient-data' ? 1 : 0,
      dimensions: byModel,
    },
    { name: DRIFT_METRICS.driftAlarm, value: state.status === 'ALARM' ? 1 : 0, dimensions: byModel },
  ];
  // Insufficient data emits no drift score at all: a missing datapoint, never a zero that reads as "no drift".
  if (result.status !== 'evaluated') return out;
  out.push({ name: DRIFT_METRICS.datasetDrift, value: result.share, dimensions: byModel });
  for (const f of result.features) {
    if (f.status !== 'evaluated') continue;
    const dims = { [METRIC_DIMENSIONS.model]: model, [FEATURE_DIMENSION]: f.feature };
    out.push({ name: DRIFT_METRICS.featureJsDistance, value: f.jsDistance, dimensions: dims });
    out.push({ name: DRIFT_METRICS.featurePsi, value: f.psi, dimensions: dims });
  }
  // Prediction drift per output; an output with too few live predictions emits nothing, like a feature.
  for (const o of result.predictions ?? []) {
    if (o.status !== 'evaluated') continue;
    const dims = { [METRIC_DIMENSIONS.model]: model, [OUTPUT_DIMENSION]: o.output };
    out.push({ name: DRIFT_METRICS.predictionDrift, value: o.jsDistance, dimensions: dims });
  }
  return out;
}

/**
 * One monitor run for one model. Reads the stable version's window [now − windowMinutes, now), judges it, and writes
 * the next drift state with one conditional write. A stable version other than the state's (promote, retrain)
 * re-baselines: the state restarts in cooldown and this window is not judged against the old version's history.
 * A twin run that loses the write re-reads and emits nothing (the winner emits).
 */
export async function monitorModel(
  deps: DriftMonitorDeps,
  input: {
    readonly model: string;
    readonly config: DriftConfig;
    readonly nowMs: number;
    /** Who the audit entries name. @default DRIFT_MONITOR_ACTOR */
    readonly actor?: string;
  },
): Promise<MonitorOutcome> {
  const { model, config, nowMs } = input;
  if (!config.enabled) return { kind: 'skipped', model, reason: 'drift.enabled is false' };
  const routing = await deps.deployments.getDeployment(model);
  const version = routing?.stable;
  if (version === undefined) return { kind: 'skipped', model, reason: 'no stable version in Deployments' };
  const baseline = await loadBaseline(deps, model, version);
  if (typeof baseline === 'string') return { kind: 'skipped', model, reason: baseline };

  const windowEndMs = nowMs;
  const windowStartMs = nowMs - config.windowMinutes * 60_000;
  const read = await deps.counters.readWindow(
    model,
    version,
    windowStartMs,
    windowEndMs,
    layoutFromBaseline(baseline),
  );
  const window = read.counts ?? { features: {}, total: 0 };
  const result = datasetDrift(baseline, window, {
    thresholds: config.thresholds,
    minLiveCount: config.minLiveCount,
    datasetDriftShare: config.datasetDriftShare,
  });

  const policy = persistencePolicy(config);
  const now = new Date(nowMs).toISOString();
  const stored = await deps.monitorState.getState(model, DRIFT_STATE_KIND);
  // A run is named by its time (the scheduled event's): a repeated or late delivery of an event already judged must
  // not count its window twice in the M-of-N history. (Concurrent twins are stopped by the conditional write.)
  if (stored !== undefined && stored.version === version && Date.parse(stored.updatedAt) >= nowMs) {
    return {
      kind: 'skipped',
      model,
      reason: `the window ending ${now} is already judged (state written at ${stored.updatedAt}); a repeated run`,
    };
  }
  let state: DriftState;
  let transition: DriftTransition | 'rebaselined';
  let emit = false;
  if (stored !== undefined && stored.version !== version) {
    state = startCooldown(policy, now);
    transition = 'rebaselined';
  } else {
    const previous = (stored?.state as DriftState | undefined) ?? INITIAL_DRIFT_STATE;
    const step = nextDriftState(
      previous,
      result.status === 'evaluated' ? { kind: 'scored', score: result.share } : { kind: 'insufficient' },
      policy,
      now,
    );
    state = step.state;
    transition = step.transition;
    emit = step.emitDriftDetected;
  }

  // The event and the audit entries are decided here and stored with the state in one conditional write (outbox),
  // so a crash after the write cannot lose them: `deliverOutbox` sends them and clears the outbox afterwards.
  const at = new Date(nowMs);
  const actor = input.actor ?? DRIFT_MONITOR_ACTOR;
  const event =
    emit && result.status === 'evaluated'
      ? driftDetectedEvent({ model, version, windowStartMs, windowEndMs, result, policy, state })
      : undefined;
  const audits: AuditEvent[] = [];
  if (event !== undefined) {
    audits.push(auditEvent({ model, type: 'DRIFT_DETECTED', version, actor, details: event.detail }, at));
  } else if (transition === 'cleared') {
    const details = {
      windowStart: new Date(windowStartMs).toISOString(),
      windowEnd: new Date(windowEndMs).toISOString(),
    };
    audits.push(auditEvent({ model, type: 'DRIFT_CLEARED', version, actor, details }, at));
  }
  // An outbox a crashed run left behind travels on with the new state, so the next delivery still sends it.
  const outbox = mergeOutboxes(stored?.outbox, event ? [event] : [], audits);
  const record: MonitorStateRecord<DriftState> = {
    model,
    kind: DRIFT_STATE_KIND,
    version,
    state,
    revision: (stored?.revision ?? 0) + 1,
    updatedAt: now,
    ...(outbox ? { outbox } : {}),
  };
  let written = true;
  try {
    await deps.monitorState.putState(record, { expectedRevision: stored?.revision });
  } catch (err) {
    if (!(err instanceof MonitorStateConflictError)) throw err;
    // A twin run judged the same window and wrote first: its state stands, and it alone delivers the outbox.
    written = false;
    const winner = await deps.monitorState.getState(model, DRIFT_STATE_KIND);
    state = (winner?.state as DriftState | undefined) ?? state;
  }

  const base = {
    kind: 'judged' as const,
    model,
    version,
    windowStartMs,
    windowEndMs,
    result,
    state,
    transition,
    written,
    itemsRead: read.itemsRead,
  };
  if (!written) return { ...base, metrics: [] };
  return {
    ...base,
    metrics: metricsOf(model, result, state),
    record,
    ...(event ? { event } : {}),
  };
}

function mergeOutboxes(
  pending: MonitorOutbox | undefined,
  events: readonly DomainEvent[],
  audits: readonly AuditEvent[],
): MonitorOutbox | undefined {
  const merged: MonitorOutbox = {
    events: [...(pending?.events ?? []), ...events],
    audits: [...(pending?.audits ?? []), ...audits],
  };
  return merged.events.length + merged.audits.length > 0 ? merged : undefined;
}

/**
 * The event's `predictions`: JS distance per output whose prediction drift was evaluated; absent when none was (no
 * prediction baseline, or too few live predictions). Evidence only: the alarm follows the features' share.
 */
function predictionEvidence(result: DatasetDrift): { predictions?: Record<string, unknown>[] } {
  const evaluated = (result.predictions ?? []).filter((o) => o.status === 'evaluated');
  if (evaluated.length === 0) return {};
  return {
    predictions: evaluated.map((o) => ({
      output: o.output,
      jsDistance: o.jsDistance,
      drifted: o.drifted,
      liveCount: o.liveCount,
    })),
  };
}

/** The `ModelDriftDetected` event: the evidence the retraining pipeline starts from. */
function driftDetectedEvent(input: {
  readonly model: string;
  readonly version: string;
  readonly windowStartMs: number;
  readonly windowEndMs: number;
  readonly result: DatasetDrift;
  readonly policy: PersistencePolicy;
  readonly state: DriftState;
}): DomainEvent {
  const { model, version, result, policy, state } = input;
  const windowStart = new Date(input.windowStartMs).toISOString();
  return {
    source: DRIFT_EVENT_SOURCE,
    detailType: DRIFT_DETECTED_DETAIL_TYPE,
    detail: {
      // Delivery is at least once (a crash after publishing redelivers): consumers deduplicate on this id.
      eventId: `${model}#${version}#${windowStart}`,
      model,
      version,
      windowStart,
      windowEnd: new Date(input.windowEndMs).toISOString(),
      liveCount: result.liveCount,
      share: result.share,
      driftedFeatures: result.driftedFeatures,
      features: result.features
        .filter((f) => f.status === 'evaluated')
        .map((f) => ({
          feature: f.feature,
          jsDistance: f.jsDistance,
          psi: f.psi,
          drifted: f.drifted,
          liveCount: f.liveCount,
        })),
      ...predictionEvidence(result),
      persistence: { m: policy.m, n: policy.n, recent: state.recent },
    },
  };
}

/**
 * Sends a written record's outbox — events, then audit entries — and clears it with one conditional write. An audit
 * entry already appended (a redelivery) counts as delivered. Returns false when a twin changed the record first: it
 * carried the outbox on and delivers it itself (so an event may be published twice; see the event's `eventId`).
 */
export async function deliverOutbox(
  deps: Pick<DriftRunDeps, 'events' | 'audit' | 'monitorState'>,
  record: MonitorStateRecord,
  nowMs: number,
): Promise<boolean> {
  const { outbox } = record;
  if (outbox === undefined) return true;
  for (const event of outbox.events) await deps.events.publish(event);
  for (const entry of outbox.audits) {
    try {
      await deps.audit.appendAudit(entry);
    } catch (err) {
      if (!(err instanceof DuplicateAuditEventError)) throw err;
    }
  }
  const { outbox: _delivered, ...rest } = record;
  try {
    await deps.monitorState.putState(
      { ...rest, revision: record.revision + 1, updatedAt: new Date(nowMs).toISOString() },
      { expectedRevision: record.revision },
    );
    return true;
  } catch (err) {
    if (err instanceof MonitorStateConflictError) return false;
    throw err;
  }
}

export interface DriftRunDeps extends DriftMonitorDeps {
  readonly events: EventPublisher;
  readonly audit: AuditLogStore;
}

/**
 * One scheduled run over every model with drift enabled. Each model is isolated: its error is logged and the
 * others still run. Each written state's outbox (the `ModelDriftDetected` event, the DRIFT_DETECTED /
 * DRIFT_CLEARED audit entries, and anything a crashed run left) is delivered after the write; a run whose write lost
 * to a twin (`written: false`) delivers nothing.
 */
export async function runDriftMonitor(
  deps: DriftRunDeps,
  input: {
    readonly models: readonly { readonly name: string; readonly drift: DriftConfig }[];
    readonly nowMs: number;
    readonly actor: string;
    readonly log?: (message: string, fields: Record<string, unknown>) => void;
  },
): Promise<MonitorOutcome[]> {
  const outcomes: MonitorOutcome[] = [];
  for (const m of input.models) {
    if (!m.drift.enabled) continue;
    try {
      const outcome = await monitorModel(deps, {
        model: m.name,
        config: m.drift,
        nowMs: input.nowMs,
        actor: input.actor,
      });
      outcomes.push(outcome);
      if (outcome.kind === 'judged' && outcome.record !== undefined) {
        await deliverOutbox(deps, outcome.record, input.nowMs);
      }
    } catch (err) {
      input.log?.('drift monitor failed for a model', { model: m.name, error: String(err) });
    }
  }
  return outcomes;
}

/** Emits a run's metrics, one group per dimension set (one EMF blob each in Lambda). */
export function emitMonitorMetrics(sink: MetricsSink, metrics: readonly MonitorMetric[]): void {
  const groups = new Map<string, { dimensions: MetricDimensions; data: MetricDatum[] }>();
  for (const m of metrics) {
    const key = JSON.stringify(Object.entries(m.dimensions).sort(([a], [b]) => a.localeCompare(b)));
    let group = groups.get(key);
    if (group === undefined) groups.set(key, (group = { dimensions: m.dimensions, data: [] }));
    // The window's instance count is a count; distances, shares and 0/1 states have no unit.
    const unit = m.name === DRIFT_METRICS.windowCount ? 'Count' : 'None';
    group.data.push({ name: m.name, unit, value: m.value });
  }
  for (const { dimensions, data } of groups.values()) sink.emit([dimensions], data);
  sink.flush();
}
