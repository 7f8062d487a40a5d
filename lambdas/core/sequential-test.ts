/**
 * An always-valid one-sided test that a candidate's rate of "bad" events (errors, slow requests, invalid input) is
 * higher than stable's, for cumulative counts observed at any number of looks. Pure.
 *
 * Model. Within one increment t (the counts between two looks) each arm's bad events are Poisson with mean
 * `requests × λ_arm(time)`, where the two arms share any time variation of the rate (load, upstream incidents) and
 * differ only by the rate ratio θ = λ_candidate / λ_stable. Conditional on the increment's request counts and on its
 * total number of bad events n_t, the candidate's bad count is x_t ~ Binomial(n_t, q_t(θ)) with
 * q_t(θ) = ρ_t θ / (ρ_t θ + 1 − ρ_t) and ρ_t the candidate's share of the increment's requests. Stable's rate and the
 * common time variation cancel out: this is the conditional (exact-binomial) test for two Poisson rates, applied
 * increment by increment so that ρ_t may change between looks (traffic weight steps).
 *
 * Test. H0: θ ≤ θ0 (θ0 = 1 for "candidate no worse"). For one alternative θ1 > θ0 the likelihood ratio of an
 * increment, L_t(θ1) = (q_t(θ1)/q_t(θ0))^x_t · ((1 − q_t(θ1))/(1 − q_t(θ0)))^(n_t − x_t), has conditional expectation
 * 1 at θ = θ0 and ≤ 1 for every θ < θ0 (the expectation is increasing in the true share). The product over
 * increments is therefore a nonnegative supermartingale under H0, and so is a mixture of such products with fixed
 * weights over a grid of alternatives (a discrete prior on θ). That mixture is the e-process E_T. Ville's inequality
 * gives P_H0(sup_T E_T ≥ 1/α) ≤ α: rejecting the first time E_T ≥ 1/α keeps the type-I error ≤ α over the whole
 * rollout, for any number of looks and any data-dependent decision to keep looking.
 *
 * Per-request Bernoulli outcomes instead of Poisson: for θ0 = 1 the conditional law of x_t is hypergeometric, which
 * is dominated in convex order by the binomial (Hoeffding, 1963); L_t is convex in x_t, so the supermartingale
 * property and the guarantee still hold. For θ0 > 1 it holds approximately (rare events).
 *
 * Assumptions: outcomes independent across requests given the rates (no candidate-only correlated bursts counted
 * as independent evidence); request routing independent of outcomes; counts cumulative and non-decreasing.
 */

/** Cumulative counts of one arm since the canary started: requests and the subset that were "bad". */
export interface ArmCounts {
  readonly requests: number;
  readonly bad: number;
}

/** Cumulative counts of both arms at one look. */
export interface CountLook {
  readonly candidate: ArmCounts;
  readonly stable: ArmCounts;
}

/** One point of the discrete mixture prior on the rate ratio θ. */
export interface Alternative {
  readonly ratio: number;
  readonly weight: number;
}

export interface RatioTestOptions {
  /** Level of this test: reject when the e-process reaches 1/alpha. */
  readonly alpha: number;
  /** θ0: H0 is "candidate rate ≤ nullRatio × stable rate". */
  readonly nullRatio: number;
  /** Mixture prior; ratios must be > nullRatio, weights sum to 1. */
  readonly alternatives: readonly Alternative[];
  /** Name of the series in validation errors. @default 'looks' */
  readonly name?: string;
}

export interface RatioTestResult {
  /** E-process value at the last look. */
  readonly eValue: number;
  /** Largest e-process value over all looks; the test rejects when it reaches 1/alpha. */
  readonly maxEValue: number;
  /** Anytime-valid p-value, min(1, 1/maxEValue). */
  readonly pValue: number;
  readonly rejected: boolean;
  /** Look (0-based) at which the e-process first reached 1/alpha, when it did. */
  readonly rejectedAtLook?: number;
}

/** Thrown when counts are not cumulative, negative, or have more bad events than requests. */
export class CountSeriesError extends Error {
  override name = 'CountSeriesError';
}

/** The candidate's expected share of bad events: its rate is `ratio` × stable's, its share of requests `rho`. */
export function badShare(rho: number, ratio: number): number {
  return (rho * ratio) / (rho * ratio + 1 - rho);
}

function logSumExp(values: readonly number[]): number {
  const max = Math.max(...values);
  if (max === Number.NEGATIVE_INFINITY) return max;
  return max + Math.log(values.reduce((s, v) => s + Math.exp(v - max), 0));
}

function checkArm(arm: ArmCounts, where: string): void {
  const { requests, bad } = arm;
  if (!Number.isInteger(requests) || requests < 0 || !Number.isInteger(bad) || bad < 0 || bad > requests) {
    throw new CountSeriesError(
      `${where} must have integer requests >= bad >= 0, got requests ${requests}, bad ${bad}`,
    );
  }
}

/** Validates a series of cumulative looks (oldest first) and returns it; throws CountSeriesError naming the look. */
export function checkSeries(looks: readonly CountLook[], name: string): readonly CountLook[] {
  let previous: CountLook = { candidate: { requests: 0, bad: 0 }, stable: { requests: 0, bad: 0 } };
  looks.forEach((look, i) => {
    for (const arm of ['candidate', 'stable'] as const) {
      checkArm(look[arm], `${name}[${i}].${arm}`);
      if (look[arm].requests < previous[arm].requests || look[arm].bad < previous[arm].bad) {
        throw new CountSeriesError(
          `${name}[${i}].${arm} must be cumulative (never below the previous look), got requests ` +
            `${look[arm].requests}, bad ${look[arm].bad} after ${previous[arm].requests}, ${previous[arm].bad}`,
        );
      }
    }
    previous = look;
  });
  return looks;
}

/**
 * Runs the mixture e-process over the looks' increments.
 *
 * @example
 * // One look, 10 bad events, all on a candidate holding half the traffic, one alternative θ = 3 (q = 0.75):
 * rateRatioTest([{ candidate: { requests: 100, bad: 10 }, stable: { requests: 100, bad: 0 } }],
 *   { alpha: 0.05, nullRatio: 1, alternatives: [{ ratio: 3, weight: 1 }] }).eValue // 1.5^10 ≈ 57.7
 */
export function rateRatioTest(looks: readonly CountLook[], options: RatioTestOptions): RatioTestResult {
  const { alpha, nullRatio, alternatives } = options;
  checkSeries(looks, options.name ?? 'looks');
  const logSums = alternatives.map(() => 0);
  const logWeights = alternatives.map((a) => Math.log(a.weight));
  const threshold = Math.log(1 / alpha);
  let logE = 0;
  let maxLogE = 0;
  let rejectedAtLook: number | undefined;
  let previous: CountLook = { candidate: { requests: 0, bad: 0 }, stable: { requests: 0, bad: 0 } };

  looks.forEach((look, i) => {
    const requestsC = look.candidate.requests - previous.candidate.requests;
    const requestsS = look.stable.requests - previous.stable.requests;
    const x = look.candidate.bad - previous.candidate.bad;
    const n = x + look.stable.bad - previous.stable.bad;
    previous = look;
    // An increment where one arm had no requests carries no comparison (ρ is 0 or 1): its factor is 1.
    if (n === 0 || requestsC === 0 || requestsS === 0) return;
    const rho = requestsC / (requestsC + requestsS);
    const q0 = badShare(rho, nullRatio);
    alternatives.forEach((alt, k) => {
      const q1 = badShare(rho, alt.ratio);
      logSums[k]! += x * Math.log(q1 / q0) + (n - x) * Math.log((1 - q1) / (1 - q0));
    });
    logE = logSumExp(logSums.map((s, k) => s + logWeights[k]!));
    if (logE > maxLogE) maxLogE = logE;
    if (rejectedAtLook === undefined && logE >= threshold) rejectedAtLook = i;
  });

  const maxEValue = Math.exp(maxLogE);
  return {
    eValue: Math.exp(logE),
    maxEValue,
    pValue: Math.min(1, 1 / maxEValue),
    rejected: rejectedAtLook !== undefined,
    ...(rejectedAtLook === undefined ? {} : { rejectedAtLook }),
  };
}

/**
 * The mixture prior used by the judge: half the mass on the minimum detectable ratio θ0·(1 + mde) (so the test is
 * tuned to the smallest regression the policy must see) and the other half spread evenly over θ0·(1 + mde)^j,
 * j = 2…, up to a ratio of 20 (so large regressions are caught within a few bad events).
 */
export function mixtureAlternatives(nullRatio: number, mde: number): Alternative[] {
  const base = 1 + mde;
  const tail: number[] = [];
  for (let r = base * base; r <= 20 && tail.length < 12; r *= base) tail.push(nullRatio * r);
  if (tail.length === 0) return [{ ratio: nullRatio * base, weight: 1 }];
  return [
    { ratio: nullRatio * base, weight: 0.5 },
    ...tail.map((ratio) => ({ ratio, weight: 0.5 / tail.length })),
  ];
}

/** Standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`normalQuantile needs 0 < p < 1, got ${p}`);
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const low = 0.02425;
  if (p < low) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (
      (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) /
      ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1)
    );
  }
  if (p > 1 - low) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) /
    (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1)
  );
}

export interface SamplesNeededInput {
  /** Stable's per-request bad rate (already floored by the caller). */
  readonly stableRate: number;
  /** Candidate's share of requests, 0 < rho < 1. */
  readonly rho: number;
  readonly nullRatio: number;
  /** The ratio the test must be able to see: nullRatio × (1 + mde). */
  readonly detectRatio: number;
  /** Prior weight of detectRatio in the mixture. */
  readonly weight: number;
  readonly alpha: number;
  /** Probability of detecting detectRatio once the samples are in, e.g. 0.8. */
  readonly power: number;
}

/**
 * Candidate requests after which the e-process would reach 1/alpha with probability ≈ `power` if the candidate's
 * rate were exactly `detectRatio` × stable's. The mixture is ≥ weight × L(detectRatio), so it suffices that
 * log L(detectRatio) ≥ c = log(1/(alpha·weight)). Per candidate request the log-likelihood ratio gains on average
 * D = m·KL(q1‖q0) with variance V = m·E[ℓ²] (compound Poisson: m bad events per candidate request, m = p·θ1 +
 * p·(1 − ρ)/ρ, each adding ℓ = log(q1/q0) or log((1 − q1)/(1 − q0))). Normal approximation after N requests:
 * N·D − z·√(N·V) ≥ c with z = Φ⁻¹(power), solved for √N.
 */
export function samplesNeeded(input: SamplesNeededInput): number {
  const { stableRate: p, rho, nullRatio, detectRatio, weight, alpha, power } = input;
  const q0 = badShare(rho, nullRatio);
  const q1 = badShare(rho, detectRatio);
  const up = Math.log(q1 / q0);
  const down = Math.log((1 - q1) / (1 - q0));
  const m = p * detectRatio + (p * (1 - rho)) / rho;
  const D = m * (q1 * up + (1 - q1) * down);
  const V = m * (q1 * up * up + (1 - q1) * down * down);
  const c = Math.log(1 / (alpha * weight));
  const z = normalQuantile(power);
  const root = (z * Math.sqrt(V) + Math.sqrt(z * z * V + 4 * D * c)) / (2 * D);
  return Math.ceil(root * root);
}
