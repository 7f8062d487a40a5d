/**
 * Drift distances against scipy/numpy: test/fixtures/drift/make_golden.py bins reference and live samples the way
 * lambdas/core/baseline.ts does and records scipy's values; every TS value must agree to 1e-9 relative.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { binIndex, computeBaseline } from '../../lambdas/core/baseline';
import {
  binWasserstein,
  featureDrift,
  jsDistance,
  missingRateDelta,
  psi,
  PSI_EPSILON,
  type BinCounts,
} from '../../lambdas/core/drift';
import type { Feature, FeatureBins } from '../../lambdas/core/manifest';

interface GoldenCase {
  readonly name: string;
  readonly kind: 'numeric' | 'categorical';
  readonly edges?: number[];
  readonly categories?: string[];
  readonly reference: BinCounts;
  readonly live: BinCounts;
  readonly sample?: { values: (number | string | null)[]; counts: number[]; missing: number };
  readonly referenceValues?: (number | null)[];
  readonly expected: {
    jsDistance: number;
    psi: number;
    wasserstein: number | null;
    missingRateDelta: number;
  };
}

const golden = JSON.parse(
  readFileSync(path.join(__dirname, '..', 'fixtures', 'drift', 'golden.json'), 'utf8'),
) as { psiEpsilon: number; cases: GoldenCase[] };

const REL = 1e-9;
const ABS = 1e-12;
let maxRelative = 0;

function expectClose(actual: number, expected: number): void {
  const error = Math.abs(actual - expected);
  if (expected !== 0) maxRelative = Math.max(maxRelative, error / Math.abs(expected));
  expect(error).toBeLessThanOrEqual(Math.max(REL * Math.abs(expected), ABS));
}

function bins(c: GoldenCase): FeatureBins {
  return c.kind === 'numeric'
    ? {
        kind: 'numeric',
        edges: c.edges!,
        counts: c.reference.counts as number[],
        missing: c.reference.missing,
      }
    : {
        kind: 'categorical',
        categories: c.categories!,
        counts: c.reference.counts as number[],
        missing: c.reference.missing,
      };
}

describe('drift distances match scipy (golden.json)', () => {
  it('uses the same PSI smoothing as the script', () => {
    expect(golden.psiEpsilon).toBe(PSI_EPSILON);
    expect(golden.cases.length).toBeGreaterThanOrEqual(15);
  });

  describe.each(golden.cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const p = [...c.reference.counts, c.reference.missing];
    const q = [...c.live.counts, c.live.missing];

    it('JS distance, PSI, missing-rate delta and Wasserstein', () => {
      expectClose(jsDistance(p, q), c.expected.jsDistance);
      expectClose(psi(p, q), c.expected.psi);
      expectClose(missingRateDelta(c.reference, c.live), c.expected.missingRateDelta);
      if (c.expected.wasserstein === null) {
        expect(c.kind === 'categorical' || c.live.counts.every((n) => n === 0)).toBe(true);
      } else {
        expectClose(binWasserstein(c.reference.counts, c.live.counts), c.expected.wasserstein);
      }
    });

    it('featureDrift reports the same numbers', () => {
      const result = featureDrift('x', bins(c), c.live, { minLiveCount: 1 });
      expect(result.status).toBe('evaluated');
      if (result.status !== 'evaluated') return;
      expectClose(result.jsDistance, c.expected.jsDistance);
      expectClose(result.psi, c.expected.psi);
      if (c.expected.wasserstein === null) expect(result.wasserstein).toBeUndefined();
      else expectClose(result.wasserstein!, c.expected.wasserstein);
    });

    if (c.sample) {
      const sample = c.sample;
      it('binIndex bins the raw sample as numpy did', () => {
        const counts = new Array<number>(c.reference.counts.length).fill(0);
        let missing = 0;
        for (const v of sample.values) {
          const i = binIndex(bins(c), v);
          if (i === 'missing') missing++;
          else counts[i]!++;
        }
        expect({ counts, missing }).toEqual({ counts: sample.counts, missing: sample.missing });
      });
    }

    if (c.referenceValues) {
      const values = c.referenceValues;
      it('computeBaseline profiles the raw reference to the same edges and counts', () => {
        const feature: Feature = { name: 'x', type: 'numeric', required: true, pii: false };
        const rows = values.map((v) => ({ x: v === null ? '' : String(v) }));
        expect(computeBaseline([feature], rows).features.x).toEqual(bins(c));
      });
    }
  });

  it('stays within 1e-9 relative overall', () => {
    console.log(`drift golden: max relative error ${maxRelative.toExponential(2)}`);
    expect(maxRelative).toBeLessThanOrEqual(REL);
  });
});
