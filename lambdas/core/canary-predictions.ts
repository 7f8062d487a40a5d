/**
 * The prediction-shift input of AnalyzeCanary (./rollout.ts `analyzeCanary`; docs/rollout.md "The judge"): the
 * candidate's and the stable version's prediction-bin counts since the rollout started, read from the DriftCounters
 * table the inference path counts into (./drift-counter.ts) with the drift monitor's own readers (`loadBaseline`,
 * `layoutFromBaseline`, `DriftCounterStore.readWindow`). Pure of AWS: every store is a port.
 *
 * The judge compares two count vectors over the same bins (./canary-judge.ts `judgePredictionShift`), but each
 * version is counted into the bins of its own prediction baseline. So one output is compared, chosen from the
 * manifests before any count is read: the first class output (categorical bins: the class shares, the decision the
 * model makes) whose labels both versions share, else the first numeric output whose edges are identical in both.
 * Probability deciles come from each version's own reference predictions, so they match only when the candidate
 * predicts like the stable version did on the reference rows (a retrained model's usually do not): its class output
 * is what is compared. The missing count is the last bin on both sides (a candidate that stops answering an output
 * has shifted too).
 *
 * The check is skipped, with the reason recorded, when either version has no prediction baseline (drift counting
 * counts predictions only then), when no output has the same bins in both, or when neither version has a counter
 * item in the window (drift counting is off for the model, `models[].drift.enabled`, or nothing was flushed yet).
 * When only one version has counts the other's are zeros: the judge then waits (inconclusive), never passes.
 */
import { bucketStart, DRIFT_BUCKET_MS } from './drift-counter';
import { layoutFromBaseline, loadBaseline } from './drift-monitor';
import type { Baseline, FeatureBins } from './manifest';
import type { DriftCounterStore, RegistryStore, VersionReader } from './ports';

/** What AnalyzeCanary reads prediction bins through: the drift monitor's ports. */
export interface CanaryPredictionDeps {
  /** The versions' ModelVersions records (their registered manifest keys). */
  readonly versions: VersionReader;
  /** The registered manifests under models/ (their prediction baselines). */
  readonly registry: Pick<RegistryStore, 'readText'>;
  /** The DriftCounters table. */
  readonly counters: Pick<DriftCounterStore, 'readWindow'>;
}

export type CanaryPredictionInput =
  | {
      readonly kind: 'read';
      /** The output compared. */
      readonly output: string;
      readonly windowStartMs: number;
      readonly windowEndMs: number;
      /** The bins' names, in the order of `bins` (categories or `<edge` / `>=edge` ranges, then `missing`). */
      readonly binNames: readonly string[];
      readonly bins: { readonly candidate: readonly number[]; readonly stable: readonly number[] };
      /** Counter items summed per version (DriftCounters buckets of DRIFT_BUCKET_MS). */
      readonly itemsRead: { readonly candidate: number; readonly stable: number };
      /** The candidate came from the retrain pipeline (its record's `lineage.retrain`): it is meant to predict differently. */
      readonly candidateRetrained: boolean;
    }
  | { readonly kind: 'skipped'; readonly reason: string };

/**
 * The window of the counters: the canary's window (since the rollout started, up to now) widened to whole
 * DriftCounters buckets (DRIFT_BUCKET_MS, 5 min), since counters exist only per bucket. The start is rounded down so
 * no canary traffic is left out; the consequence is that the stable version's bins also hold up to one bucket of
 * traffic from before the rollout, when it served everything (the same population, more samples). The end is the
 * end of the bucket holding `nowMs`, which is still filling.
 */
export function predictionWindow(
  startedAtMs: number,
  nowMs: number,
): { readonly fromMs: number; readonly toMs: number } {
  return { fromMs: bucketStart(startedAtMs), toMs: bucketStart(nowMs) + DRIFT_BUCKET_MS };
}

interface Comparison {
  readonly output: string;
  readonly binNames: readonly string[];
  /** For each stable bin (missing excluded), the candidate's bin that holds the same values. */
  readonly candidateIndex: readonly number[];
}

const OTHER = '__OTHER__';

function sameEdges(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function rangeLabels(edges: readonly number[]): string[] {
  return [`<${edges[0]}`, ...edges.map((e) => `>=${e}`)];
}

/**
 * The output both baselines bin alike (see the module comment), or why there is none. Exported for the tests.
 */
export function comparableOutput(stable: Baseline, candidate: Baseline): Comparison | string {
  const s = stable.predictions ?? {};
  const c = candidate.predictions ?? {};
  const why: string[] = [];
  const pick = (kind: FeatureBins['kind']): Comparison | undefined => {
    for (const output of Object.keys(s)) {
      const sb = s[output]!;
      if (sb.kind !== kind) continue;
      const cb = Object.hasOwn(c, output) ? c[output]! : undefined;
      if (cb === undefined) {
        why.push(`${output}: the candidate's baseline has no such output`);
        continue;
      }
      if (sb.kind === 'categorical' && cb.kind === 'categorical') {
        const at = new Map(cb.categories.map((cat, i) => [cat, i] as const));
        const shared =
          sb.categories.length === cb.categories.length && sb.categories.every((cat) => at.has(cat));
        if (!shared) {
          why.push(
            `${output}: the labels differ (${sb.categories.join(', ')} vs ${cb.categories.join(', ')})`,
          );
          continue;
        }
        // The same labels in another order: the candidate's counts are realigned by label.
        return {
          output,
          binNames: [...sb.categories, OTHER],
          candidateIndex: [...sb.categories.map((cat) => at.get(cat)!), cb.categories.length],
        };
      }
      if (sb.kind === 'numeric' && cb.kind === 'numeric') {
        if (!sameEdges(sb.edges, cb.edges)) {
          why.push(`${output}: the bin edges differ (each version's are its own reference predictions')`);
          continue;
        }
        return { output, binNames: rangeLabels(sb.edges), candidateIndex: sb.counts.map((_, i) => i) };
      }
      why.push(`${output}: the bins are ${sb.kind} for stable and ${cb.kind} for the candidate`);
    }
    return undefined;
  };
  return (
    pick('categorical') ??
    pick('numeric') ??
    `no output has the same prediction bins in both versions (${why.join('; ') || 'no outputs'})`
  );
}

/**
 * Reads the prediction bins of `candidate` and `stable` over the canary's window (`predictionWindow`), or says why
 * the prediction-shift check has nothing to compare. Throws what the stores throw (AnalyzeCanary's Retry covers it).
 */
export async function readCanaryPredictionBins(
  deps: CanaryPredictionDeps,
  input: {
    readonly model: string;
    readonly stable: string;
    readonly candidate: string;
    readonly startedAtMs: number;
    readonly nowMs: number;
  },
): Promise<CanaryPredictionInput> {
  const { model } = input;
  const [stableBaseline, candidateBaseline, candidateRecord] = await Promise.all([
    loadBaseline(deps, model, input.stable),
    loadBaseline(deps, model, input.candidate),
    deps.versions.getVersion(model, input.candidate),
  ]);
  for (const [arm, version, baseline] of [
    ['stable', input.stable, stableBaseline],
    ['candidate', input.candidate, candidateBaseline],
  ] as const) {
    if (typeof baseline === 'string') return { kind: 'skipped', reason: `${arm} ${version}: ${baseline}` };
    if (baseline.predictions === undefined || Object.keys(baseline.predictions).length === 0) {
      return {
        kind: 'skipped',
        reason:
          `${arm} ${version} has no prediction baseline (manifest baseline.predictions; ` +
          '`modelops push --reference` profiles it), so no predictions of it are counted',
      };
    }
  }
  const stableB = stableBaseline as Baseline;
  const candidateB = candidateBaseline as Baseline;
  const comparison = comparableOutput(stableB, candidateB);
  if (typeof comparison === 'string') return { kind: 'skipped', reason: comparison };

  const { fromMs, toMs } = predictionWindow(input.startedAtMs, input.nowMs);
  const { output } = comparison;
  const layout = (b: Baseline) => ({ features: {}, predictions: layoutFromBaseline(b).predictions ?? {} });
  const [s, c] = await Promise.all([
    deps.counters.readWindow(model, input.stable, fromMs, toMs, layout(stableB)),
    deps.counters.readWindow(model, input.candidate, fromMs, toMs, layout(candidateB)),
  ]);
  if (s.itemsRead === 0 && c.itemsRead === 0) {
    return {
      kind: 'skipped',
      reason:
        `no prediction counts for either version between ${new Date(fromMs).toISOString()} and ` +
        `${new Date(toMs).toISOString()}: drift counting is off for ${model} (models[].drift.enabled) or has ` +
        'not flushed yet (drift.flushSeconds)',
    };
  }
  const width = comparison.binNames.length;
  const stableCounts = s.counts?.predictions?.[output];
  const candidateCounts = c.counts?.predictions?.[output];
  const stableBins = [
    ...Array.from({ length: width }, (_, i) => stableCounts?.counts[i] ?? 0),
    stableCounts?.missing ?? 0,
  ];
  const candidateBins = [
    ...comparison.candidateIndex.map((j) => candidateCounts?.counts[j] ?? 0),
    candidateCounts?.missing ?? 0,
  ];
  return {
    kind: 'read',
    output,
    windowStartMs: fromMs,
    windowEndMs: toMs,
    binNames: [...comparison.binNames, 'missing'],
    bins: { candidate: candidateBins, stable: stableBins },
    itemsRead: { candidate: c.itemsRead, stable: s.itemsRead },
    candidateRetrained: candidateRecord?.lineage?.retrain !== undefined,
  };
}

/** The input as the CANARY_VERDICT audit event records it, next to the judge's `predictionShift` check. */
export function predictionInputSummary(input: CanaryPredictionInput): Readonly<Record<string, unknown>> {
  if (input.kind === 'skipped') return { skipped: input.reason };
  return {
    output: input.output,
    windowStart: new Date(input.windowStartMs).toISOString(),
    windowEnd: new Date(input.windowEndMs).toISOString(),
    bins: input.binNames,
    candidate: input.bins.candidate,
    stable: input.bins.stable,
    itemsRead: input.itemsRead,
  };
}
