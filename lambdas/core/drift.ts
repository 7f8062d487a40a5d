/**
 * Drift statistics on binned counts (DESIGN.md decision 5, docs/drift.md): the distances between a version's
 * reference bins (manifest `baseline`) and the live values counted into the same bins, per feature and for the
 * whole data set, prediction drift per output (`baseline.predictions`), and the exact sum of count windows.
 *
 * Pure: no I/O, no clock. Counting values into bins is `binIndex` in ./baseline; persistence over windows (M of N,
 * hysteresis, cooldown) is ./drift-state.
 */
import type { Baseline, FeatureBins } from './manifest';

/**
 * Share added to every bin before PSI takes logarithms, after which the shares are renormalised to sum to 1.
 * Without it one empty bin on either side makes PSI infinite. 1e-4 is the usual choice (a bin holding 0.01 % of
 * the data); it caps one bin's term at about share × ln(share / 1e-4), so disjoint supports give PSI ≈ 16–18
 * (ten bins) instead of infinity.
 */
export const PSI_EPSILON = 1e-4;

/**
 * Default per-feature thresholds. A feature drifts when any configured metric reaches its threshold.
 *
 * - `jsDistance` 0.1: Jensen–Shannon distance (base 2, in [0, 1]); 0.1 is the default of Evidently's
 *   `jensenshannon` test and sits well above the sampling noise of `DEFAULT_MIN_LIVE_COUNT` rows.
 * - `psi` 0.2: the credit-scoring rule of thumb (Siddiqi, *Credit Risk Scorecards*, 2006) reads PSI < 0.1 as no
 *   change, 0.1–0.25 as a moderate shift and > 0.25 as a major one; 0.2 alarms inside the upper half of "moderate".
 * - `wasserstein` and `missingRateDelta` have no default (off): JS and PSI already include the missing bin, and
 *   the bin-position Wasserstein is a magnitude to look at, not a second vote, unless a model's owner asks for it.
 */
export const DEFAULT_DRIFT_THRESHOLDS: Readonly<DriftThresholds> = { jsDistance: 0.1, psi: 0.2 };

/**
 * Share of evaluated features that must drift for the data set to drift (Evidently's `drift_share` default).
 */
export const DEFAULT_DATASET_DRIFT_SHARE = 0.5;

/**
 * Live rows a window needs before it is judged. Below it the answer is `insufficient-data`, never "no drift".
 * Sampling noise alone gives a JS distance of about √((k − 1) / (8 n ln 2)) for k populated bins and n live rows
 * (a large reference assumed): with ten bins, 0.13 at n = 100 (80 % of same-distribution windows would cross 0.1),
 * 0.057 at 500 and 0.040 at 1 000; with 21 categories, 13 % cross 0.1 at 500 and none at 1 000. So 1 000.
 */
export const DEFAULT_MIN_LIVE_COUNT = 1_000;

/** Counts of one feature in one window: one count per bin of the feature's baseline, plus missing values. */
export interface BinCounts {
  readonly counts: readonly number[];
  readonly missing: number;
}

/**
 * The counters of one (model, version, time bucket, shard) item, or the sum of several. `total` is the number of
 * rows (inference instances) counted; every row adds one to each feature, in a bin or in `missing`.
 */
export interface WindowCounts {
  readonly features: Readonly<Record<string, BinCounts>>;
  /** Prediction bins per output, when the version has a prediction baseline; summed like features. */
  readonly predictions?: Readonly<Record<string, BinCounts>>;
  readonly total: number;
}

/** Thresholds a metric must reach (>=) for a feature to count as drifted; an absent metric does not vote. */
export interface DriftThresholds {
  readonly jsDistance?: number;
  readonly psi?: number;
  /** Normed bin-position Wasserstein (numeric features only). */
  readonly wasserstein?: number;
  /** Absolute change of the missing share, |live − reference|. */
  readonly missingRateDelta?: number;
}

export interface DriftOptions {
  /**
   * Per-feature thresholds; given ones replace the defaults, metric by metric (pass `undefined` to switch one off).
   * @default DEFAULT_DRIFT_THRESHOLDS
   */
  readonly thresholds?: DriftThresholds;
  /**
   * Live rows below which a window (or a feature) is `insufficient-data`.
   * @default 1000
   */
  readonly minLiveCount?: number;
  /**
   * Share of evaluated features that must drift for `datasetDrift` to call the data set drifted.
   * @default 0.5
   */
  readonly datasetDriftShare?: number;
}

export interface InsufficientData {
  readonly status: 'insufficient-data';
  readonly liveCount: number;
  readonly minimum: number;
}

export interface FeatureDrift {
  readonly status: 'evaluated';
  readonly feature: string;
  readonly kind: FeatureBins['kind'];
  /** Jensen–Shannon distance, base 2, over the bins and the missing bin; in [0, 1]. */
  readonly jsDistance: number;
  /** Smoothed PSI over the bins and the missing bin; >= 0. */
  readonly psi: number;
  /** Normed bin-position Wasserstein over the present values; numeric features only, absent when a side has none. */
  readonly wasserstein?: number;
  /** Live missing share − reference missing share; in [−1, 1]. */
  readonly missingRateDelta: number;
  readonly referenceCount: number;
  readonly liveCount: number;
  readonly drifted: boolean;
}

export type FeatureDriftResult = FeatureDrift | (InsufficientData & { readonly feature: string });

/** Prediction drift of one output: JS distance of its prediction bins (plus missing) against the baseline's. */
export interface OutputDrift {
  readonly status: 'evaluated';
  readonly output: string;
  readonly kind: FeatureBins['kind'];
  /** Jensen–Shannon distance, base 2, over the bins and the missing bin; in [0, 1]. */
  readonly jsDistance: number;
  readonly referenceCount: number;
  readonly liveCount: number;
  /** `jsDistance` reached the `jsDistance` threshold. Evidence only: it does not vote in the data-set share. */
  readonly drifted: boolean;
}

export type OutputDriftResult = OutputDrift | (InsufficientData & { readonly output: string });

export interface DatasetDrift {
  readonly status: 'evaluated';
  /** Drifted features ÷ evaluated features. */
  readonly share: number;
  readonly drifted: boolean;
  readonly driftedFeatures: readonly string[];
  readonly features: readonly FeatureDriftResult[];
  readonly liveCount: number;
  /** Prediction drift per output; present exactly when the baseline has a prediction baseline. */
  readonly predictions?: readonly OutputDriftResult[];
}

/** Counts that cannot be compared or summed: wrong lengths, negative or fractional counts, unsafe sums. */
export class DriftCountsError extends Error {
  override name = 'DriftCountsError';
  constructor(
    message: string,
    /** The feature (or prediction output) whose counts are wrong, when there is one. */
    readonly feature?: string,
  ) {
    super(message);
  }
}

function checkCounts(counts: readonly number[], what: string): number {
  let total = 0;
  for (const c of counts) {
    if (!Number.isSafeInteger(c) || c < 0) {
      throw new DriftCountsError(`${what}: every count must be a whole number >= 0, got ${c}`);
    }
    total += c;
  }
  if (!Number.isSafeInteger(total)) throw new DriftCountsError(`${what}: the counts sum past 2^53`);
  return total;
}

function checkPair(reference: readonly number[], live: readonly number[]): { p: number; q: number } {
  if (reference.length !== live.length || reference.length === 0) {
    throw new DriftCountsError(
      `reference has ${reference.length} bins and live has ${live.length}; compare counts of the same non-empty bins`,
    );
  }
  const p = checkCounts(reference, 'reference');
  const q = checkCounts(live, 'live');
  if (p === 0 || q === 0) {
    throw new DriftCountsError(
      `${p === 0 ? 'reference' : 'live'} counts are all zero; a distance needs at least one count on each side`,
    );
  }
  return { p, q };
}

/** x · ln(x / y) with 0 · ln(0 / y) = 0, as `scipy.special.rel_entr` for x, y >= 0 with y > 0 wherever x > 0. */
function relEntr(x: number, y: number): number {
  return x === 0 ? 0 : x * Math.log(x / y);
}

/**
 * Jensen–Shannon distance, base 2, between two count vectors over the same bins: √(JSD) with
 * JSD = ½ KL(p ‖ m) + ½ KL(q ‖ m), m = ½ (p + q), logarithms base 2, p and q the normalised counts. In [0, 1]:
 * 0 for proportional vectors, 1 for disjoint supports. Equals `scipy.spatial.distance.jensenshannon(p, q, base=2)`.
 * Empty bins need no smoothing (0 · log 0 = 0, and m > 0 wherever p or q is).
 *
 * @example
 * jsDistance([50, 50], [100, 0]); // 0.5579…
 */
export function jsDistance(reference: readonly number[], live: readonly number[]): number {
  const { p: sp, q: sq } = checkPair(reference, live);
  let sum = 0;
  for (let i = 0; i < reference.length; i++) {
    const p = reference[i]! / sp;
    const q = live[i]! / sq;
    const m = (p + q) / 2;
    sum += relEntr(p, m) + relEntr(q, m);
  }
  // Rounding can leave a hair below 0 (identical shares) or above 1 (disjoint supports).
  return Math.min(1, Math.sqrt(Math.max(0, sum / Math.LN2 / 2)));
}

/**
 * Population stability index Σ (q − p) · ln(q / p) over the normalised counts, after smoothing each share
 * s → (s + ε) / Σ (s + ε) with ε = `PSI_EPSILON` so that an empty bin on either side gives a finite value.
 * Every term is >= 0, so PSI >= 0, and 0 for proportional vectors.
 *
 * @example
 * psi([50, 50], [60, 40]); // 0.0405…
 */
export function psi(reference: readonly number[], live: readonly number[], epsilon = PSI_EPSILON): number {
  const { p: sp, q: sq } = checkPair(reference, live);
  if (!(epsilon > 0) || !Number.isFinite(epsilon)) {
    throw new RangeError(`epsilon must be a finite number > 0, got ${epsilon}`);
  }
  const k = reference.length;
  let np = 0;
  let nq = 0;
  for (let i = 0; i < k; i++) {
    np += reference[i]! / sp + epsilon;
    nq += live[i]! / sq + epsilon;
  }
  let sum = 0;
  for (let i = 0; i < k; i++) {
    const p = (reference[i]! / sp + epsilon) / np;
    const q = (live[i]! / sq + epsilon) / nq;
    sum += (q - p) * Math.log(q / p);
  }
  return sum;
}

/**
 * Normed Wasserstein-1 (earth mover's) distance between two histograms over ordered bins: bins sit at positions
 * 0 … k−1 and the distance is divided by k − 1, so it is scale-free and in [0, 1] (1 = all mass moved from the
 * first bin to the last). With quantile edges the inner positions are reference quantiles, so this measures how far,
 * in reference ranks, the live mass moved. Equals
 * `scipy.stats.wasserstein_distance(arange(k), arange(k), p, q) / (k − 1)`; 0 when k = 1.
 *
 * @example
 * binWasserstein([1, 0, 0], [0, 0, 1]); // 1
 */
export function binWasserstein(reference: readonly number[], live: readonly number[]): number {
  const { p: sp, q: sq } = checkPair(reference, live);
  const k = reference.length;
  if (k === 1) return 0;
  // Cumulative counts are exact integers; one division per CDF value, as scipy does.
  let cp = 0;
  let cq = 0;
  let sum = 0;
  for (let i = 0; i < k - 1; i++) {
    cp += reference[i]!;
    cq += live[i]!;
    sum += Math.abs(cp / sp - cq / sq);
  }
  return sum / (k - 1);
}

/** Live missing share − reference missing share; `total` counts present and missing values. */
export function missingRateDelta(reference: BinCounts, live: BinCounts): number {
  const rt =
    checkCounts(reference.counts, 'reference') + checkCounts([reference.missing], 'reference missing');
  const lt = checkCounts(live.counts, 'live') + checkCounts([live.missing], 'live missing');
  if (rt === 0 || lt === 0) {
    throw new DriftCountsError(`${rt === 0 ? 'reference' : 'live'} has no values, present or missing`);
  }
  return live.missing / lt - reference.missing / rt;
}

function resolveOptions(options: DriftOptions): {
  thresholds: DriftThresholds;
  minimum: number;
  share: number;
} {
  const thresholds = { ...DEFAULT_DRIFT_THRESHOLDS, ...options.thresholds };
  for (const [metric, value] of Object.entries(thresholds)) {
    if (value !== undefined && !(Number.isFinite(value) && value > 0)) {
      throw new RangeError(`drift threshold ${metric} must be a finite number > 0, got ${value}`);
    }
  }
  const minimum = options.minLiveCount ?? DEFAULT_MIN_LIVE_COUNT;
  if (!Number.isSafeInteger(minimum) || minimum < 1) {
    throw new RangeError(`minLiveCount must be a whole number >= 1, got ${minimum}`);
  }
  const share = options.datasetDriftShare ?? DEFAULT_DATASET_DRIFT_SHARE;
  if (!(share > 0 && share <= 1)) {
    throw new RangeError(`datasetDriftShare must be in (0, 1], got ${share}`);
  }
  return { thresholds, minimum, share };
}

function reached(value: number | undefined, threshold: number | undefined): boolean {
  return value !== undefined && threshold !== undefined && value >= threshold;
}

/**
 * Compares one feature's live counts with its reference bins. JS distance and PSI run over the bins plus the
 * missing bin (a jump in missing values is drift); Wasserstein over the present values of a numeric feature.
 * A feature with fewer than `minLiveCount` live values (present or missing) is `insufficient-data`.
 * Throws `DriftCountsError` when the live counts do not have one entry per reference bin.
 */
export function featureDrift(
  feature: string,
  reference: FeatureBins,
  live: BinCounts,
  options: DriftOptions = {},
): FeatureDriftResult {
  const { thresholds, minimum } = resolveOptions(options);
  return compareFeature(feature, reference, live, thresholds, minimum);
}

function compareFeature(
  feature: string,
  reference: FeatureBins,
  live: BinCounts,
  thresholds: DriftThresholds,
  minimum: number,
): FeatureDriftResult {
  if (live.counts.length !== reference.counts.length) {
    throw new DriftCountsError(
      `feature "${feature}": the reference has ${reference.counts.length} bins and the live counts have ` +
        `${live.counts.length}; count live values with binIndex on this version's baseline`,
      feature,
    );
  }
  const present = checkCounts(live.counts, `feature "${feature}" live`);
  const liveCount = present + checkCounts([live.missing], `feature "${feature}" live missing`);
  if (liveCount < minimum) return { status: 'insufficient-data', feature, liveCount, minimum };
  const refPresent = checkCounts(reference.counts, `feature "${feature}" reference`);
  const referenceCount = refPresent + reference.missing;

  const p = [...reference.counts, reference.missing];
  const q = [...live.counts, live.missing];
  const js = jsDistance(p, q);
  const ps = psi(p, q);
  const wasserstein =
    reference.kind === 'numeric' && refPresent > 0 && present > 0
      ? binWasserstein(reference.counts, live.counts)
      : undefined;
  const delta = missingRateDelta(reference, live);
  const drifted =
    reached(js, thresholds.jsDistance) ||
    reached(ps, thresholds.psi) ||
    reached(wasserstein, thresholds.wasserstein) ||
    reached(Math.abs(delta), thresholds.missingRateDelta);
  return {
    status: 'evaluated',
    feature,
    kind: reference.kind,
    jsDistance: js,
    psi: ps,
    ...(wasserstein === undefined ? {} : { wasserstein }),
    missingRateDelta: delta,
    referenceCount,
    liveCount,
    drifted,
  };
}

/**
 * Data-set drift of one (summed) window against a version's baseline: every baseline feature compared, and the
 * share of drifted features among those with enough live values. A window with fewer than `minLiveCount` rows, or
 * one where no feature has enough values, is `insufficient-data` — never a zero drift. A baseline feature absent
 * from the window counts as no live values; window features the baseline lacks are ignored.
 *
 * @example
 * const window = sumCounts(items);
 * const result = datasetDrift(manifest.baseline, window);
 * if (result.status === 'evaluated' && result.drifted) …
 */
export function datasetDrift(
  baseline: Baseline,
  window: WindowCounts,
  options: DriftOptions = {},
): DatasetDrift | InsufficientData {
  const { thresholds, minimum, share } = resolveOptions(options);
  if (!Number.isSafeInteger(window.total) || window.total < 0) {
    throw new DriftCountsError(`window total must be a whole number >= 0, got ${window.total}`);
  }
  if (window.total < minimum) return { status: 'insufficient-data', liveCount: window.total, minimum };
  const features: FeatureDriftResult[] = [];
  for (const name of Object.keys(baseline.features)) {
    const reference = baseline.features[name]!;
    const live = Object.hasOwn(window.features, name)
      ? window.features[name]!
      : { counts: new Array<number>(reference.counts.length).fill(0), missing: 0 };
    features.push(compareFeature(name, reference, live, thresholds, minimum));
  }
  const evaluated = features.filter((f): f is FeatureDrift => f.status === 'evaluated');
  if (evaluated.length === 0) return { status: 'insufficient-data', liveCount: window.total, minimum };
  const driftedFeatures = evaluated.filter((f) => f.drifted).map((f) => f.feature);
  const driftShare = driftedFeatures.length / evaluated.length;
  const result: DatasetDrift = {
    status: 'evaluated',
    share: driftShare,
    drifted: driftShare >= share,
    driftedFeatures,
    features,
    liveCount: window.total,
  };
  // Prediction drift is evidence next to the share, never a vote in it: the share (and so the alarm) is features'.
  return baseline.predictions === undefined
    ? result
    : { ...result, predictions: comparePredictions(baseline.predictions, window, thresholds, minimum) };
}

/**
 * Prediction drift of one (summed) window: per output of the prediction baseline, the JS distance (base 2) of the
 * live prediction bins plus the missing bin against the reference ones — `jsDistance`, the function the golden
 * cases check against scipy. An output with fewer than `minLiveCount` live predictions (present or missing) is
 * `insufficient-data`, never a zero drift; an output absent from the window has none. Empty when the baseline has
 * no prediction baseline. Throws `DriftCountsError` when live counts do not have one entry per reference bin.
 *
 * @example
 * for (const o of predictionDrift(manifest.baseline, sumCounts(items))) if (o.status === 'evaluated') o.jsDistance;
 */
export function predictionDrift(
  baseline: Baseline,
  window: WindowCounts,
  options: DriftOptions = {},
): OutputDriftResult[] {
  const { thresholds, minimum } = resolveOptions(options);
  return baseline.predictions === undefined
    ? []
    : comparePredictions(baseline.predictions, window, thresholds, minimum);
}

function comparePredictions(
  reference: Readonly<Record<string, FeatureBins>>,
  window: WindowCounts,
  thresholds: DriftThresholds,
  minimum: number,
): OutputDriftResult[] {
  const live = window.predictions;
  const out: OutputDriftResult[] = [];
  for (const output of Object.keys(reference)) {
    const bins = reference[output]!;
    const counts =
      live !== undefined && Object.hasOwn(live, output)
        ? live[output]!
        : { counts: new Array<number>(bins.counts.length).fill(0), missing: 0 };
    if (counts.counts.length !== bins.counts.length) {
      throw new DriftCountsError(
        `prediction output "${output}": the reference has ${bins.counts.length} bins and the live counts have ` +
          `${counts.counts.length}; count live predictions with predictionBinner on this version's baseline`,
        output,
      );
    }
    const liveCount =
      checkCounts(counts.counts, `prediction output "${output}" live`) +
      checkCounts([counts.missing], `prediction output "${output}" live missing`);
    if (liveCount < minimum) {
      out.push({ status: 'insufficient-data', output, liveCount, minimum });
      continue;
    }
    const referenceCount = checkCounts(bins.counts, `prediction output "${output}" reference`) + bins.missing;
    const js = jsDistance([...bins.counts, bins.missing], [...counts.counts, counts.missing]);
    out.push({
      status: 'evaluated',
      output,
      kind: bins.kind,
      jsDistance: js,
      referenceCount,
      liveCount,
      drifted: reached(js, thresholds.jsDistance),
    });
  }
  return out;
}

function sumGroup(
  windows: readonly WindowCounts[],
  pick: (w: WindowCounts) => Readonly<Record<string, BinCounts>> | undefined,
  label: string,
): Record<string, BinCounts> | undefined {
  const sums = new Map<string, { counts: number[]; missing: number }>();
  let seen = false;
  windows.forEach((w, wi) => {
    const group = pick(w);
    if (group === undefined) return;
    seen = true;
    for (const name of Object.keys(group)) {
      const item = group[name]!;
      const what = `window ${wi} ${label} "${name}"`;
      checkCounts(item.counts, what);
      checkCounts([item.missing], `${what} missing`);
      const sum = sums.get(name);
      if (sum === undefined) {
        sums.set(name, { counts: [...item.counts], missing: item.missing });
        continue;
      }
      if (sum.counts.length !== item.counts.length) {
        throw new DriftCountsError(
          `${label} "${name}" has ${sum.counts.length} bins in earlier windows and ${item.counts.length} in ` +
            `window ${wi}; only windows counted against the same baseline can be summed`,
          name,
        );
      }
      for (let i = 0; i < item.counts.length; i++) sum.counts[i]! += item.counts[i]!;
      sum.missing += item.missing;
      if (!sum.counts.every(Number.isSafeInteger) || !Number.isSafeInteger(sum.missing)) {
        throw new DriftCountsError(`${label} "${name}": the summed counts pass 2^53`, name);
      }
    }
  });
  // fromEntries defines own properties, so a feature named `__proto__` stays a feature.
  return seen ? Object.fromEntries(sums) : undefined;
}

/**
 * Exact sum of count windows (time buckets × shards): per feature, bin by bin, plus missing and totals. The sum is
 * associative and commutative, so buckets and shards may be summed in any grouping. Features present in only some
 * windows are summed over those. Throws `DriftCountsError` naming the feature and both lengths when one feature's
 * bins differ between windows, and when a count is not a whole number >= 0.
 *
 * @example
 * const day = sumCounts(hourlyItems); // 24 hours × shards
 */
export function sumCounts(windows: readonly WindowCounts[]): WindowCounts {
  let total = 0;
  windows.forEach((w, wi) => {
    if (!Number.isSafeInteger(w.total) || w.total < 0) {
      throw new DriftCountsError(`window ${wi}: total must be a whole number >= 0, got ${w.total}`);
    }
    total += w.total;
  });
  if (!Number.isSafeInteger(total)) throw new DriftCountsError('the window totals sum past 2^53');
  const features = sumGroup(windows, (w) => w.features, 'feature') ?? {};
  const predictions = sumGroup(windows, (w) => w.predictions, 'prediction output');
  return predictions === undefined ? { features, total } : { features, predictions, total };
}
