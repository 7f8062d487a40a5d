/**
 * A model's drift report for `modelops status`: the drift state the scheduled monitor stored (MonitorState, kind
 * `drift`) and the scores of its latest run, read back through the MetricsReader port (CloudWatch in AWS, the local
 * metric store in local mode) from the metrics `monitorModel` emits (docs/drift.md "Monitor"). Pure of AWS: every
 * store is a port and `nowMs` is passed in.
 *
 * A score the metrics do not hold is reported as missing, never as 0: a window with too few rows emits no drift
 * score at all (`DriftInsufficientData` = 1), and "no datapoint" must not read as "no drift".
 */
import { DEFAULT_DRIFT_THRESHOLDS, type DriftThresholds } from './drift';
import type { DriftState } from './drift-state';
import { loadBaseline } from './drift-monitor';
import {
  DRIFT_METRICS,
  FEATURE_DIMENSION,
  METRIC_DIMENSIONS,
  OUTPUT_DIMENSION,
  type MetricQuery,
  type MetricReadSeries,
  type MetricsReader,
  type MonitorStateRecord,
  type RegistryStore,
  type VersionReader,
} from './ports';

const MINUTE_MS = 60_000;
/** Queries per read: the series of a wide model are read in slices (CloudWatch takes 500 per call). */
const QUERIES_PER_READ = 200;

/** The parts of a model's drift config (lib/config.ts) the report needs; lambdas/ does not import lib/. */
export interface DriftReportConfig {
  readonly enabled: boolean;
  /** Live window each run judges (`drift.windowMinutes`). */
  readonly windowMinutes: number;
  /** How often the monitor runs (`monitoring.driftScheduleMinutes`). */
  readonly scheduleMinutes: number;
  /** Per-feature thresholds; given ones replace DEFAULT_DRIFT_THRESHOLDS metric by metric, as the monitor does. */
  readonly thresholds: DriftThresholds;
  /** Raise after `m` drifted windows among the last `n`. */
  readonly persistence: { readonly m: number; readonly n: number };
  /** Live rows a window needs (`drift.minLiveCount`); shown next to an insufficient window. */
  readonly minLiveCount?: number;
}

export interface DriftReportInput {
  readonly model: string;
  readonly config: DriftReportConfig;
  /** The model's MonitorState record of kind `drift`, or undefined when the monitor has not judged it yet. */
  readonly record: MonitorStateRecord | undefined;
  /** Features of the judged version's baseline (see {@link baselineNames}), in the order to show them. */
  readonly features: readonly string[];
  /** Outputs of the judged version's prediction baseline; none → no prediction drift rows. */
  readonly outputs?: readonly string[];
  readonly reader: MetricsReader;
  readonly nowMs: number;
}

export interface DriftStateSummary {
  readonly status: 'OK' | 'ALARM';
  /** ISO time of the last status change, when known. */
  readonly since?: string;
  /** Set while `nowMs` is before the state's `cooldownUntil`: no alarm may be raised until then. */
  readonly cooldownUntil?: string;
  /** Drifted flags of the last scored windows, oldest first (at most n). */
  readonly recent: readonly boolean[];
  /** How many of `recent` drifted. */
  readonly drifted: number;
  readonly m: number;
  readonly n: number;
}

/** A score of the latest run; `missing` when the metrics hold no datapoint for it (never 0). */
export type Score =
  | { readonly kind: 'value'; readonly value: number; readonly over: boolean | undefined }
  | { readonly kind: 'missing' };

export interface FeatureRow {
  readonly feature: string;
  readonly jsDistance: Score;
  readonly psi: Score;
  /** Any score reached its threshold: true; every thresholded score present and below: false; else unknown. */
  readonly drifted: boolean | undefined;
}

export interface OutputRow {
  readonly output: string;
  readonly jsDistance: Score;
  readonly drifted: boolean | undefined;
}

/** The latest run found in the metrics. */
export type LatestWindow =
  /** No run's metrics in the lookback (the monitor stopped, or the metrics are not readable yet). */
  | { readonly kind: 'no-metrics'; readonly lookbackMinutes: number }
  | {
      readonly kind: 'insufficient-data';
      /** Start of the metric period the run's datapoints fall in (epoch ms). */
      readonly atMs: number;
      readonly liveCount: number | undefined;
      readonly minimum?: number;
    }
  | {
      readonly kind: 'evaluated';
      readonly atMs: number;
      readonly liveCount: number | undefined;
      /** Share of evaluated features that drifted; undefined when its datapoint is missing (not 0). */
      readonly share: number | undefined;
    };

export type DriftReport =
  | { readonly kind: 'disabled' }
  | { readonly kind: 'no-state'; readonly scheduleMinutes: number }
  | {
      readonly kind: 'reported';
      /** The stable version the state was judged for. */
      readonly version: string;
      /** When the monitor last wrote the state. */
      readonly updatedAt: string;
      readonly state: DriftStateSummary;
      readonly windowMinutes: number;
      readonly scheduleMinutes: number;
      readonly latest: LatestWindow;
      /** One row per feature; every score missing when the latest window was not evaluated. */
      readonly features: readonly FeatureRow[];
      readonly outputs: readonly OutputRow[];
      /** The thresholds the rows are judged against (defaults merged in, as the monitor merges them). */
      readonly thresholds: DriftThresholds;
      /**
       * Thresholds the monitor also votes with but that emit no metric (Wasserstein, missing-rate delta): the
       * DRIFTED column judges JS distance and PSI only, so a feature the monitor counted may show as not drifted.
       */
      readonly unreported: readonly (keyof DriftThresholds)[];
    };

function summarise(state: DriftState, config: DriftReportConfig, nowMs: number): DriftStateSummary {
  const recent = Array.isArray(state.recent) ? state.recent.slice(-config.persistence.n) : [];
  const until = state.cooldownUntil === undefined ? Number.NaN : Date.parse(state.cooldownUntil);
  return {
    status: state.status === 'ALARM' ? 'ALARM' : 'OK',
    ...(state.since !== undefined ? { since: state.since } : {}),
    ...(until > nowMs ? { cooldownUntil: state.cooldownUntil! } : {}),
    recent,
    drifted: recent.filter(Boolean).length,
    m: config.persistence.m,
    n: config.persistence.n,
  };
}

/** Reads every query over one range, in slices, keyed by id. */
async function readAll(
  reader: MetricsReader,
  queries: readonly MetricQuery[],
  startMs: number,
  endMs: number,
): Promise<Map<string, MetricReadSeries>> {
  const out = new Map<string, MetricReadSeries>();
  for (let i = 0; i < queries.length; i += QUERIES_PER_READ) {
    const series = await reader.read({
      queries: queries.slice(i, i + QUERIES_PER_READ),
      startMs,
      endMs,
      periodSeconds: 60,
    });
    for (const s of series) out.set(s.id, s);
  }
  return out;
}

function score(value: number | undefined, threshold: number | undefined): Score {
  if (value === undefined) return { kind: 'missing' };
  return { kind: 'value', value, over: threshold === undefined ? undefined : value >= threshold };
}

/** True if any score is over; false if every thresholded score is present and under; else undefined. */
function verdict(scores: readonly Score[]): boolean | undefined {
  const judged = scores.filter((s) => s.kind === 'missing' || s.over !== undefined);
  if (judged.some((s) => s.kind === 'value' && s.over === true)) return true;
  if (judged.length > 0 && judged.every((s) => s.kind === 'value' && s.over === false)) return false;
  return undefined;
}

/**
 * The report of one model. The latest run is the last minute in the lookback (two schedule intervals) holding a
 * `DriftWindowCount` datapoint — every run emits one, with or without enough data — and every other score is read
 * in that same minute, so an insufficient run never shows the share or the feature scores of an earlier one.
 *
 * @example
 * const record = await monitorState.getState(model, DRIFT_STATE_KIND);
 * const names = record ? await baselineNames({ versions, registry }, model, record.version) : undefined;
 * const report = await driftReport({ model, config, record, features: names?.features ?? [], reader, nowMs });
 */
export async function driftReport(input: DriftReportInput): Promise<DriftReport> {
  const { model, config, record, reader, nowMs } = input;
  if (!config.enabled) return { kind: 'disabled' };
  if (record === undefined) return { kind: 'no-state', scheduleMinutes: config.scheduleMinutes };
  const state = summarise(record.state as DriftState, config, nowMs);
  const thresholds: DriftThresholds = { ...DEFAULT_DRIFT_THRESHOLDS, ...config.thresholds };
  const unreported = (['wasserstein', 'missingRateDelta'] as const).filter(
    (k) => thresholds[k] !== undefined,
  );

  const byModel = { [METRIC_DIMENSIONS.model]: model };
  const queries: MetricQuery[] = [
    { id: 'count', metricName: DRIFT_METRICS.windowCount, dimensions: byModel, stat: 'Maximum' },
    { id: 'insufficient', metricName: DRIFT_METRICS.insufficientData, dimensions: byModel, stat: 'Maximum' },
    { id: 'share', metricName: DRIFT_METRICS.datasetDrift, dimensions: byModel, stat: 'Maximum' },
  ];
  // Ids by position: feature and output names need not fit CloudWatch's id rule.
  input.features.forEach((feature, i) => {
    const dims = { ...byModel, [FEATURE_DIMENSION]: feature };
    queries.push(
      { id: `f${i}_js`, metricName: DRIFT_METRICS.featureJsDistance, dimensions: dims, stat: 'Maximum' },
      { id: `f${i}_psi`, metricName: DRIFT_METRICS.featurePsi, dimensions: dims, stat: 'Maximum' },
    );
  });
  const outputs = input.outputs ?? [];
  outputs.forEach((output, i) => {
    const dims = { ...byModel, [OUTPUT_DIMENSION]: output };
    queries.push({
      id: `o${i}_js`,
      metricName: DRIFT_METRICS.predictionDrift,
      dimensions: dims,
      stat: 'Maximum',
    });
  });

  const lookbackMinutes = 2 * config.scheduleMinutes + 1;
  const endMs = Math.floor(nowMs / MINUTE_MS) * MINUTE_MS + MINUTE_MS;
  const series = await readAll(reader, queries, endMs - lookbackMinutes * MINUTE_MS, endMs);
  const counts = series.get('count');
  let at = -1;
  for (let i = (counts?.values.length ?? 0) - 1; i >= 0; i--) {
    if (counts!.values[i] !== null) {
      at = i;
      break;
    }
  }
  const valueAt = (id: string): number | undefined => {
    const v = at < 0 ? null : (series.get(id)?.values[at] ?? null);
    return v === null ? undefined : v;
  };

  let latest: LatestWindow;
  if (at < 0) {
    latest = { kind: 'no-metrics', lookbackMinutes };
  } else {
    const atMs = counts!.timestamps[at]!;
    const liveCount = valueAt('count');
    latest =
      valueAt('insufficient') === 1
        ? {
            kind: 'insufficient-data',
            atMs,
            liveCount,
            ...(config.minLiveCount !== undefined ? { minimum: config.minLiveCount } : {}),
          }
        : { kind: 'evaluated', atMs, liveCount, share: valueAt('share') };
  }
  // An insufficient run emits no score: whatever another run left in that minute is not this window's.
  const scored = latest.kind === 'evaluated';
  const features = input.features.map((feature, i): FeatureRow => {
    const js = score(scored ? valueAt(`f${i}_js`) : undefined, thresholds.jsDistance);
    const psi = score(scored ? valueAt(`f${i}_psi`) : undefined, thresholds.psi);
    return { feature, jsDistance: js, psi, drifted: verdict([js, psi]) };
  });
  const outputRows = outputs.map((output, i): OutputRow => {
    const js = score(scored ? valueAt(`o${i}_js`) : undefined, thresholds.jsDistance);
    return { output, jsDistance: js, drifted: verdict([js]) };
  });

  return {
    kind: 'reported',
    version: record.version,
    updatedAt: record.updatedAt,
    state,
    windowMinutes: config.windowMinutes,
    scheduleMinutes: config.scheduleMinutes,
    latest,
    features,
    outputs: outputRows,
    thresholds,
    unreported,
  };
}

/**
 * The feature and prediction-output names of a version's registered baseline (what the monitor judges), or the
 * reason they cannot be known.
 */
export async function baselineNames(
  deps: { readonly versions: VersionReader; readonly registry: Pick<RegistryStore, 'readText'> },
  model: string,
  version: string,
): Promise<{ readonly features: readonly string[]; readonly outputs: readonly string[] } | string> {
  const baseline = await loadBaseline(deps, model, version);
  if (typeof baseline === 'string') return baseline;
  return {
    features: Object.keys(baseline.features),
    outputs: Object.keys(baseline.predictions ?? {}),
  };
}
