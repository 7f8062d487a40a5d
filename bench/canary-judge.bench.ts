/**
 * Simulated staged rollouts judged by our canary judge and by two reference judges, on the same scenarios.
 * Run: npx tsx bench/canary-judge.bench.ts   (seeded: the same numbers every run; ROLLOUTS=… to change the count)
 *
 * A rollout steps the candidate through 1 → 5 → 25 → 50 % of traffic, then 100 % (promoted). Each bake is 5 minutes
 * and is judged once at its end. "req/min" is the candidate's traffic at the 1 % step, so total traffic is 100× that
 * and the candidate's traffic scales with its weight. Stable: 1 % errors, latency lognormal (median 100 ms,
 * σ = 0.5), SLO threshold at stable's p95 (so 5 % of stable requests are slow), 0.2 % invalid input, predictions in
 * 10 bins. Counts are drawn per bake (binomial; p99 as the exact nearest-rank order statistic of the bake's
 * latencies, drawn from its Beta law), not per request.
 *
 * Judges: ours (judgeCanary, default policy: it may extend a bake 3 times per step, then `exhausted`); ours/ext20
 * (the same with 20 extensions per step, i.e. holding the weight while the samples come in); ours/1min (default
 * policy, looked at every minute: rollback at any look, promotion at the bake's end); threshold
 * (Flagger/CodeDeploy style: roll back when the bake's candidate error rate or slow share exceeds stable's + 1 pp);
 * z-test (Kayenta style: per-bake one-sided two-proportion z-test at α = 0.05 on error rate and on slow share, no
 * correction for repeated looks). The references use our fallback, p99 and prediction-shift guards (inconclusive
 * counted as pass) so the comparison isolates the count tests; they promote after one bake per step.
 */
import {
  judgeCanary,
  judgeFallbacks,
  judgeLatency,
  judgePredictionShift,
  resolveCanaryPolicy,
  type CanaryObservation,
  type CountLook,
} from '../lambdas/core/canary-judge';
import { jsDistance } from '../lambdas/core/drift';
import { normalQuantile } from '../lambdas/core/sequential-test';
import { seededRandom } from '../lambdas/core/random';

const ROLLOUTS = Number(process.env.ROLLOUTS ?? 1000);
const STEPS = [0.01, 0.05, 0.25, 0.5];
const BAKE_MINUTES = 5;
const LEVELS = [10, 100, 1000];
const STABLE_ERROR = 0.01;
const INVALID = 0.002;
const SIGMA = 0.5;
const MU = Math.log(100);
const Z95 = normalQuantile(0.95);
const SLO_MS = Math.exp(MU + SIGMA * Z95);
const STABLE_BINS = [0.45, 0.1, 0.04, 0.02, 0.01, 0.01, 0.02, 0.03, 0.07, 0.25];
const ALPHA = 0.05;
const policy = resolveCanaryPolicy();

interface Arm {
  readonly errorRate: number;
  readonly latencyScale: number;
  readonly bins: readonly number[];
}

const flipped = (bins: readonly number[], share: number): number[] =>
  bins.map((p, i) => (1 - share) * p + share * bins[bins.length - 1 - i]!);

const STABLE: Arm = { errorRate: STABLE_ERROR, latencyScale: 1, bins: STABLE_BINS };
const SCENARIOS: { name: string; healthy: boolean; candidate: Arm }[] = [
  { name: 'healthy', healthy: true, candidate: STABLE },
  { name: 'errors 2x', healthy: false, candidate: { ...STABLE, errorRate: 2 * STABLE_ERROR } },
  { name: 'errors 10x', healthy: false, candidate: { ...STABLE, errorRate: 10 * STABLE_ERROR } },
  { name: 'p99 +50%', healthy: false, candidate: { ...STABLE, latencyScale: 1.5 } },
  { name: 'pred flip 5%', healthy: false, candidate: { ...STABLE, bins: flipped(STABLE_BINS, 0.05) } },
];

type Rng = () => number;

function normal(rng: Rng): number {
  const u = 1 - rng();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}

function binomial(rng: Rng, n: number, p: number): number {
  if (n === 0 || p <= 0) return 0;
  if (p >= 1) return n;
  if (p > 0.5) return n - binomial(rng, n, 1 - p);
  const mean = n * p;
  if (mean < 30) {
    // Waiting times between successes are geometric: O(mean) draws, exact.
    const logQ = Math.log(1 - p);
    let count = 0;
    let position = Math.floor(Math.log(1 - rng()) / logQ);
    while (position < n) {
      count++;
      position += 1 + Math.floor(Math.log(1 - rng()) / logQ);
    }
    return count;
  }
  const x = Math.round(mean + Math.sqrt(mean * (1 - p)) * normal(rng));
  return Math.min(n, Math.max(0, x));
}

function gamma(rng: Rng, shape: number): number {
  // Marsaglia–Tsang, shape >= 1.
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const z = normal(rng);
    const v = (1 + c * z) ** 3;
    if (v <= 0) continue;
    const u = rng();
    if (Math.log(u) < 0.5 * z * z + d - d * v + d * Math.log(v)) return d * v;
  }
}

/** Nearest-rank p99 of n lognormal latencies: the k-th order statistic, U(k) ~ Beta(k, n + 1 − k). */
function p99(rng: Rng, n: number, scale: number): number | null {
  if (n === 0) return null;
  const k = Math.max(1, Math.ceil(0.99 * n));
  const a = gamma(rng, k);
  const u = a / (a + gamma(rng, n + 1 - k));
  return scale * Math.exp(MU + SIGMA * normalQuantile(Math.min(1 - 1e-12, Math.max(1e-12, u))));
}

function multinomial(rng: Rng, n: number, probs: readonly number[]): number[] {
  let left = n;
  let mass = 1;
  return probs.map((p, i) => {
    const x = i === probs.length - 1 ? left : binomial(rng, left, Math.min(1, p / mass));
    left -= x;
    mass -= p;
    return x;
  });
}

const slowShare = (arm: Arm): number => 1 - cdfNormal((Math.log(SLO_MS / arm.latencyScale) - MU) / SIGMA);
function cdfNormal(z: number): number {
  // Abramowitz–Stegun 7.1.26 on erf; plenty for a scenario parameter.
  const t = 1 / (1 + (0.3275911 * Math.abs(z)) / Math.SQRT2);
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp((-z * z) / 2);
  return z >= 0 ? (1 + y) / 2 : (1 - y) / 2;
}

interface Bake {
  readonly requests: { c: number; s: number };
  readonly errors: { c: number; s: number };
  readonly slow: { c: number; s: number };
  readonly invalid: { c: number; s: number };
  /** p99 over the bake so far, and the candidate requests it is over. */
  readonly p99: { c: number | null; s: number | null };
  readonly latencyRequests: number;
  readonly bins: { c: number[]; s: number[] };
}

/** `minutes` of traffic; p99 is over the bake so far (`bakeMinutes` ≥ minutes, drawn afresh for interim looks). */
function simulateBake(
  rng: Rng,
  candidate: Arm,
  perMinute: number,
  weight: number,
  minutes = BAKE_MINUTES,
  bakeMinutes = minutes,
): Bake {
  const total = perMinute * 100 * minutes;
  const c = Math.round(total * weight);
  const s = total - c;
  const bakeC = Math.round(perMinute * 100 * bakeMinutes * weight);
  const bakeS = perMinute * 100 * bakeMinutes - bakeC;
  return {
    requests: { c, s },
    errors: { c: binomial(rng, c, candidate.errorRate), s: binomial(rng, s, STABLE.errorRate) },
    slow: { c: binomial(rng, c, slowShare(candidate)), s: binomial(rng, s, slowShare(STABLE)) },
    invalid: { c: binomial(rng, c, INVALID), s: binomial(rng, s, INVALID) },
    p99: { c: p99(rng, bakeC, candidate.latencyScale), s: p99(rng, bakeS, 1) },
    latencyRequests: bakeC,
    bins: { c: multinomial(rng, c, candidate.bins), s: multinomial(rng, s, STABLE.bins) },
  };
}

type Outcome = { kind: 'rollback' | 'promoted' | 'exhausted'; bakes: number; reason?: string };

/** Reason code of our judge's last verdict, so the bench can say which check caused a rollback. */
let lastReason: string | undefined;
type Verdict = 'rollback' | 'promote-step' | 'inconclusive' | 'exhausted' | 'continue';

interface Judge {
  readonly name: string;
  /** Judges the latest bake given all bakes so far (cumulative state is the judge's business). */
  judge(bakes: readonly Bake[], extensions: number, weight: number, bakeComplete: boolean): Verdict;
  /** Looks per bake: 1 (at its end) or BAKE_MINUTES (every minute; promotion only at the end). */
  readonly looksPerBake: number;
}

function cumulativeLooks(
  bakes: readonly Bake[],
  pick: (b: Bake) => { c: number; s: number },
  ofRequests?: (b: Bake) => { c: number; s: number },
): CountLook[] {
  const looks: CountLook[] = [];
  let rc = 0,
    rs = 0,
    bc = 0,
    bs = 0;
  for (const b of bakes) {
    const req = (ofRequests ?? ((x: Bake) => x.requests))(b);
    rc += req.c;
    rs += req.s;
    bc += pick(b).c;
    bs += pick(b).s;
    looks.push({ candidate: { requests: rc, bad: bc }, stable: { requests: rs, bad: bs } });
  }
  return looks;
}

function cumulativeBins(bakes: readonly Bake[]): { candidate: number[]; stable: number[] } {
  const candidate = STABLE_BINS.map(() => 0);
  const stable = STABLE_BINS.map(() => 0);
  for (const b of bakes)
    b.bins.c.forEach((v, i) => {
      candidate[i]! += v;
      stable[i]! += b.bins.s[i]!;
    });
  return { candidate, stable };
}

const oursWith = (name: string, judgePolicy: typeof policy, looksPerBake = 1): Judge => ({
  name,
  looksPerBake,
  judge(bakes, extensions, weight, bakeComplete) {
    const last = bakes.at(-1)!;
    const observation: CanaryObservation = {
      errors: cumulativeLooks(bakes, (b) => b.errors),
      slow: cumulativeLooks(bakes, (b) => b.slow),
      invalidInput: cumulativeLooks(bakes, (b) => b.invalid),
      latency: {
        candidateP99Ms: last.p99.c,
        stableP99Ms: last.p99.s,
        candidateRequests: last.latencyRequests,
      },
      candidateFallbacks: 0,
      predictionBins: cumulativeBins(bakes),
      candidateWeight: weight,
      bakeComplete,
      extensions,
    };
    const verdict = judgeCanary(judgePolicy, observation);
    lastReason = verdict.reasonCode;
    return verdict.decision;
  },
});
const ours = oursWith('ours', policy);
/** The same judge with a patient policy: up to 20 extensions per step (a "hold" that keeps collecting). */
const oursPatient = oursWith('ours/ext20', resolveCanaryPolicy({ maxExtensionsPerStep: 20 }));
/** The default policy looked at every minute: may roll back at any minute, promotes at the bake's end. */
const oursMinutely = oursWith('ours/1min', policy, BAKE_MINUTES);

/** Our guards with inconclusive counted as pass, for the references. */
function guardsFail(bakes: readonly Bake[]): boolean {
  const last = bakes.at(-1)!;
  const checks = [
    judgeFallbacks(0),
    ...judgeLatency(
      { candidateP99Ms: last.p99.c, stableP99Ms: last.p99.s, candidateRequests: last.latencyRequests },
      policy,
    ),
    judgePredictionShift(cumulativeBins(bakes), policy),
  ];
  return checks.some((c) => c.decision === 'fail');
}

const threshold: Judge = {
  name: 'threshold',
  looksPerBake: 1,
  judge(bakes) {
    const b = bakes.at(-1)!;
    const over = (x: { c: number; s: number }): boolean =>
      b.requests.c > 0 && x.c / b.requests.c > x.s / b.requests.s + 0.01;
    return over(b.errors) || over(b.slow) || guardsFail(bakes) ? 'rollback' : 'promote-step';
  },
};

const Z_ALPHA = normalQuantile(1 - ALPHA);
const zTest: Judge = {
  name: 'z-test',
  looksPerBake: 1,
  judge(bakes) {
    const b = bakes.at(-1)!;
    const worse = (x: { c: number; s: number }): boolean => {
      const { c: nc, s: ns } = b.requests;
      if (nc === 0 || ns === 0) return false;
      const pooled = (x.c + x.s) / (nc + ns);
      const se = Math.sqrt(pooled * (1 - pooled) * (1 / nc + 1 / ns));
      return se > 0 && (x.c / nc - x.s / ns) / se > Z_ALPHA;
    };
    return worse(b.errors) || worse(b.slow) || guardsFail(bakes) ? 'rollback' : 'promote-step';
  },
};

function rollout(rng: Rng, judge: Judge, candidate: Arm, perMinute: number): Outcome {
  const bakes: Bake[] = [];
  let step = 0;
  let extensions = 0;
  const minutesPerLook = BAKE_MINUTES / judge.looksPerBake;
  const elapsed = (): number => bakes.length / judge.looksPerBake;
  lastReason = undefined;
  for (;;) {
    let verdict: Verdict = 'continue';
    for (let look = 1; look <= judge.looksPerBake && verdict === 'continue'; look++) {
      bakes.push(
        simulateBake(rng, candidate, perMinute, STEPS[step]!, minutesPerLook, look * minutesPerLook),
      );
      verdict = judge.judge(bakes, extensions, STEPS[step]!, look === judge.looksPerBake);
    }
    if (verdict === 'rollback' || verdict === 'exhausted') {
      return { kind: verdict, bakes: elapsed(), ...(lastReason === undefined ? {} : { reason: lastReason }) };
    }
    if (verdict === 'continue') throw new Error(`${judge.name} returned continue at the end of a bake`);
    if (verdict === 'inconclusive') extensions++;
    else {
      step++;
      extensions = 0;
      if (step === STEPS.length) return { kind: 'promoted', bakes: elapsed() };
    }
  }
}

function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
}

const pct = (x: number): string => `${(100 * x).toFixed(1)}%`.padStart(6);

function main(): void {
  const started = Date.now();
  console.log(
    `${ROLLOUTS} rollouts per cell; α = ${ALPHA}; steps ${STEPS.map((s) => s * 100).join('→')}→100 %, ` +
      `bakes of ${BAKE_MINUTES} min`,
  );
  for (const s of SCENARIOS) {
    const slow = slowShare(s.candidate);
    // jsDistance takes counts: the shares as counts out of 1e9 (scale-invariant, exact to ~1e-9).
    const asCounts = (shares: readonly number[]) => shares.map((p) => Math.round(p * 1e9));
    const js = jsDistance(asCounts(s.candidate.bins), asCounts(STABLE.bins));
    console.log(
      `  ${s.name.padEnd(13)} candidate errors ${pct(s.candidate.errorRate)}, slow ${pct(slow)}, ` +
        `p99 ×${s.candidate.latencyScale}, true JS distance ${js.toFixed(4)}`,
    );
  }
  console.log();
  console.log(
    'scenario      req/min judge      rollback promoted exhausted  median bakes (to rollback; healthy: to promotion)',
  );
  const judges = [ours, oursMinutely, oursPatient, threshold, zTest];
  const summary: Record<string, Record<string, number>> = {};
  const falseRollbackReasons: string[] = [];
  SCENARIOS.forEach((scenario, si) => {
    for (const level of LEVELS) {
      for (const judge of judges) {
        // Seeded per cell and judge name, so adding a judge does not change the others' rows.
        const rng = seededRandom(
          1 + si * 1000 + level * 10 + [...judge.name].reduce((h, ch) => h * 31 + ch.charCodeAt(0), 0),
        );
        const outcomes = Array.from({ length: ROLLOUTS }, () =>
          rollout(rng, judge, scenario.candidate, level),
        );
        const share = (k: Outcome['kind']): number => outcomes.filter((o) => o.kind === k).length / ROLLOUTS;
        const target: Outcome['kind'] = scenario.healthy ? 'promoted' : 'rollback';
        const med = median(outcomes.filter((o) => o.kind === target).map((o) => o.bakes));
        const within3 = outcomes.filter((o) => o.kind === 'rollback' && o.bakes <= 3).length / ROLLOUTS;
        if (scenario.healthy && judge.name.startsWith('ours')) {
          const reasons = new Map<string, number>();
          for (const o of outcomes)
            if (o.kind === 'rollback') reasons.set(o.reason!, (reasons.get(o.reason!) ?? 0) + 1);
          falseRollbackReasons.push(
            `  ${judge.name} at ${level} req/min: ${[...reasons].map(([r, n]) => `${r} ${n}`).join(', ') || 'none'}`,
          );
        }
        (summary[`${scenario.name}@${level}`] ??= {})[judge.name] = share('rollback');
        (summary[`${scenario.name}@${level}`] ??= {})[`${judge.name}:within3`] = within3;
        console.log(
          `${scenario.name.padEnd(13)} ${String(level).padStart(7)} ${judge.name.padEnd(10)} ` +
            `${pct(share('rollback'))}   ${pct(share('promoted'))}   ${pct(share('exhausted'))}    ` +
            `${Number.isNaN(med) ? '-' : med}`,
        );
      }
    }
  });
  console.log();
  console.log(`healthy rollouts our judges rolled back, by reason code (of ${ROLLOUTS}):`);
  for (const line of falseRollbackReasons) console.log(line);
  console.log('false-rollback ratio (healthy), reference / ours:');
  for (const level of LEVELS) {
    const h = summary[`healthy@${level}`]!;
    const ratio = (ref: string): string =>
      h.ours! > 0 ? (h[ref]! / h.ours!).toFixed(1) : h[ref]! > 0 ? '∞ (ours 0)' : '-';
    console.log(
      `  ${String(level).padStart(4)} req/min: threshold ${ratio('threshold')}, z-test ${ratio('z-test')}`,
    );
  }
  const d = summary['errors 2x@1000']!;
  console.log(`errors 2x at 1000 req/min, rolled back within 3 bakes: ours ${pct(d['ours:within3']!)}`);
  console.log(`wall time ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

main();
