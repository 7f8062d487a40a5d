/**
 * The chi-square tail and the G-test of homogeneity the canary judge's prediction-shift check uses
 * (./canary-judge.ts). Written here rather than taken from a package: the smallest well-kept JavaScript
 * distribution library found (@stdlib's chi-square CDF) installs 211 packages (24 MB) into a Lambda bundle for one
 * function. Checked against scipy.stats.chi2.sf and scipy.stats.chi2_contingency(lambda_="log-likelihood")
 * (test/fixtures/canary/make_chi_square_golden.py).
 */

/** ln Γ(z) for z > 0 (Lanczos, g = 7, 9 terms: ~15 significant digits). */
function logGamma(z: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (z < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * z)) - logGamma(1 - z);
  const x = z - 1;
  let sum = c[0]!;
  for (let i = 1; i < c.length; i++) sum += c[i]! / (x + i);
  const t = x + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(sum);
}

const EPSILON = 1e-15;
const MAX_ITERATIONS = 10_000;

/** Q(a, x) = Γ(a, x) / Γ(a), the regularized upper incomplete gamma function, for a > 0 and x ≥ 0. */
export function regularizedGammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const logPrefix = a * Math.log(x) - x - logGamma(a);
  if (x < a + 1) {
    // Series for P(a, x); Q = 1 − P.
    let term = 1 / a;
    let sum = term;
    for (let n = 1; n < MAX_ITERATIONS; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * EPSILON) break;
    }
    return Math.max(0, 1 - sum * Math.exp(logPrefix));
  }
  // Continued fraction for Q(a, x), modified Lentz.
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < MAX_ITERATIONS; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < EPSILON) break;
  }
  return Math.min(1, Math.exp(logPrefix) * h);
}

/** P(X ≥ x) for X ~ χ²(df). */
export function chiSquareSurvival(x: number, df: number): number {
  if (!(df > 0)) throw new RangeError(`chi-square degrees of freedom must be > 0, got ${df}`);
  return regularizedGammaQ(df / 2, Math.max(0, x) / 2);
}

export interface HomogeneityTest {
  /** G = 2 Σ O ln(O / E) over the 2 × k table of counts. */
  readonly g: number;
  /** Bins with a count in either sample, minus one. */
  readonly df: number;
  /** P(χ²(df) ≥ g); 1 when there is nothing to compare (df 0 or an empty sample). */
  readonly pValue: number;
}

/**
 * Likelihood-ratio (G) test that two samples of bin counts come from one distribution. G equals 2·N times the
 * sample-weighted Jensen–Shannon divergence (in nats) of the two histograms, so its null law (χ², df = k − 1) turns a
 * distance into evidence that grows with the sample size.
 */
export function gTestHomogeneity(a: readonly number[], b: readonly number[]): HomogeneityTest {
  if (a.length !== b.length) throw new RangeError(`bin counts differ in length: ${a.length} vs ${b.length}`);
  const na = a.reduce((s, v) => s + v, 0);
  const nb = b.reduce((s, v) => s + v, 0);
  const n = na + nb;
  let g = 0;
  let bins = 0;
  for (let i = 0; i < a.length; i++) {
    const col = a[i]! + b[i]!;
    if (col === 0) continue;
    bins++;
    for (const [o, rowTotal] of [
      [a[i]!, na],
      [b[i]!, nb],
    ] as const) {
      if (o > 0) g += o * Math.log((o * n) / (col * rowTotal));
    }
  }
  g *= 2;
  const df = bins - 1;
  if (na === 0 || nb === 0 || df < 1) return { g: 0, df: Math.max(0, df), pValue: 1 };
  return { g, df, pValue: chiSquareSurvival(g, df) };
}
