/**
 * Binary classification metrics on held-out rows, under the names the example manifests report. Checked against
 * scikit-learn 1.2.1 on fixed vectors (test/fixtures/retrain/metrics-golden.json, made by make_metrics_golden.py).
 */

/** ROC AUC as the Mann-Whitney U statistic, ties counted half (sklearn's `roc_auc_score`). */
export function rocAuc(labels: readonly number[], scores: readonly number[]): number {
  const n = labels.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  // Average ranks (1-based) over runs of equal scores.
  const ranks = new Float64Array(n);
  for (let i = 0; i < n;) {
    let j = i;
    while (j + 1 < n && scores[order[j + 1]!] === scores[order[i]!]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) ranks[order[k]!] = rank;
    i = j + 1;
  }
  let positives = 0;
  let rankSum = 0;
  for (let i = 0; i < n; i++) {
    if (labels[i] === 1) {
      positives++;
      rankSum += ranks[i]!;
    }
  }
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) {
    throw new Error('AUC needs both classes among the held-out rows; add rows of the missing class');
  }
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** Mean negative log-likelihood, probabilities clipped to [eps, 1 - eps] (sklearn's `log_loss` on float64). */
export function logLoss(
  labels: readonly number[],
  pPositive: readonly number[],
  eps = 2.220446049250313e-16,
): number {
  let sum = 0;
  for (let i = 0; i < labels.length; i++) {
    const p = Math.min(Math.max(pPositive[i]!, eps), 1 - eps);
    sum -= labels[i] === 1 ? Math.log(p) : Math.log(1 - p);
  }
  return sum / labels.length;
}

/** Share of rows whose predicted class (p > 0.5) is the label. */
export function accuracy(labels: readonly number[], pPositive: readonly number[]): number {
  let right = 0;
  for (let i = 0; i < labels.length; i++) if ((pPositive[i]! > 0.5 ? 1 : 0) === labels[i]) right++;
  return right / labels.length;
}

function confusion(labels: readonly number[], p: readonly number[]) {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (let i = 0; i < labels.length; i++) {
    const predicted = p[i]! > 0.5;
    if (predicted && labels[i] === 1) tp++;
    else if (predicted) fp++;
    else if (labels[i] === 1) fn++;
  }
  return { tp, fp, fn };
}

type Metric = (labels: readonly number[], pPositive: readonly number[]) => number;

/** Metric names the trainer can compute; aliases map to the same function. */
export const METRICS: Readonly<Record<string, Metric>> = {
  auc: rocAuc,
  roc_auc: rocAuc,
  accuracy,
  logloss: (y, p) => logLoss(y, p),
  log_loss: (y, p) => logLoss(y, p),
  precision: (y, p) => {
    const { tp, fp } = confusion(y, p);
    return tp + fp === 0 ? 0 : tp / (tp + fp);
  },
  recall: (y, p) => {
    const { tp, fn } = confusion(y, p);
    return tp + fn === 0 ? 0 : tp / (tp + fn);
  },
  f1: (y, p) => {
    const { tp, fp, fn } = confusion(y, p);
    return tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + fn);
  },
};

/**
 * The metrics named by `names` (the parent manifest's metric names). Throws naming every unknown metric, since a
 * retrained manifest missing a gated metric would be rejected later anyway.
 */
export function computeMetrics(
  names: readonly string[],
  labels: readonly number[],
  pPositive: readonly number[],
): Record<string, number> {
  const unknown = names.filter((n) => !Object.hasOwn(METRICS, n));
  if (unknown.length > 0) {
    throw new Error(
      `the parent manifest reports metric(s) ${unknown.map((n) => `"${n}"`).join(', ')} this trainer cannot compute ` +
        `(it computes ${Object.keys(METRICS).join(', ')}); use a trainer that reports them`,
    );
  }
  const out: Record<string, number> = {};
  for (const name of names) out[name] = METRICS[name]!(labels, pPositive);
  return out;
}
