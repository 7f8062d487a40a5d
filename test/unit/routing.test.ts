import { describe, it, expect } from 'vitest';
import type { DeploymentRecord } from '../../lambdas/core/ports';
import {
  InvalidDeploymentRecordError,
  ModelNotServableError,
  chooseVersion,
  deploymentRecordIssues,
  fallbackVersion,
  findDisagreement,
  fnv1a32,
  hashToUnit,
  stickyPoint,
} from '../../lambdas/core/routing';
import { seededRandom } from '../../lambdas/core/random';
import { createTtlCache } from '../../lambdas/core/ttl-cache';

const record = (overrides: Partial<DeploymentRecord> = {}): DeploymentRecord => ({
  model: 'breast-cancer',
  stable: '1.0.0',
  candidate: '1.1.0',
  weight: 0.1,
  mode: 'canary',
  revision: 3,
  updatedAt: '2026-01-31T12:00:00Z',
  ...overrides,
});

/** Resolvable promise, to hold a load open while other gets arrive; no timers. */
function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const N = 10_000;
const WEIGHTS = [0, 0.01, 0.1, 0.5, 0.9, 1];

/** |observed - n·w| within 4 standard deviations of the binomial (exact at weights 0 and 1). */
function expectBinomial(candidates: number, n: number, w: number) {
  const sigma = Math.sqrt(n * w * (1 - w));
  expect(Math.abs(candidates - n * w)).toBeLessThanOrEqual(4 * sigma);
}

describe('chooseVersion: canary split', () => {
  it.each(WEIGHTS)('sends a share of random traffic close to weight %s to the candidate', (weight) => {
    const random = seededRandom(42);
    const r = record({ weight });
    let candidates = 0;
    for (let i = 0; i < N; i++) {
      const d = chooseVersion(r, { random });
      if (d.arm === 'candidate') {
        candidates++;
        expect(d.serve).toBe('1.1.0');
      } else {
        expect(d.serve).toBe('1.0.0');
      }
      expect(d.shadow).toBeUndefined();
    }
    expectBinomial(candidates, N, weight);
  });

  it.each(WEIGHTS)('sends a share of routing keys close to weight %s to the candidate', (weight) => {
    const r = record({ weight });
    let candidates = 0;
    for (let i = 0; i < N; i++) {
      if (chooseVersion(r, { routingKey: `customer-${i}` }).arm === 'candidate') candidates++;
    }
    expectBinomial(candidates, N, weight);
  });

  it('keeps a routing key on the same arm over many calls, whatever the random draw', () => {
    const r = record({ weight: 0.5 });
    const random = seededRandom(7);
    for (let k = 0; k < 200; k++) {
      const routingKey = `user-${k}`;
      const first = chooseVersion(r, { routingKey }).arm;
      for (let i = 0; i < 50; i++) expect(chooseVersion(r, { routingKey, random }).arm).toBe(first);
    }
  });

  it('only moves keys from stable to candidate as the weight rises', () => {
    const weights = [0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1];
    const keys = Array.from({ length: 2_000 }, (_, i) => `session-${i}`);
    let previous = new Set<string>();
    for (const weight of weights) {
      const r = record({ weight });
      const current = new Set(
        keys.filter((routingKey) => chooseVersion(r, { routingKey }).arm === 'candidate'),
      );
      for (const key of previous) expect(current.has(key)).toBe(true);
      expect(current.size).toBeGreaterThanOrEqual(previous.size);
      previous = current;
    }
    expect(previous.size).toBe(keys.length);
  });

  it('assigns keys independently for another model or candidate, so the same users are not always the canary', () => {
    const keys = Array.from({ length: 1_000 }, (_, i) => `user-${i}`);
    const arms = (r: DeploymentRecord) => keys.map((routingKey) => chooseVersion(r, { routingKey }).arm);
    const base = arms(record({ weight: 0.5 }));
    const otherCandidate = arms(record({ weight: 0.5, candidate: '1.2.0' }));
    const otherModel = arms(record({ weight: 0.5, model: 'credit-risk' }));
    const agreement = (a: string[], b: string[]) => a.filter((arm, i) => arm === b[i]).length / a.length;
    // Independent halves agree on about half the keys; identical assignment would agree on all.
    expect(agreement(base, otherCandidate)).toBeGreaterThan(0.4);
    expect(agreement(base, otherCandidate)).toBeLessThan(0.6);
    expect(agreement(base, otherModel)).toBeLessThan(0.6);
  });

  it('serves stable when there is no candidate, the candidate is stable, or the weight is 0', () => {
    const random = () => 0;
    expect(chooseVersion(record({ candidate: undefined, weight: 1 }), { random })).toEqual({
      serve: '1.0.0',
      arm: 'stable',
    });
    expect(chooseVersion(record({ candidate: '1.0.0', weight: 1 }), { random })).toEqual({
      serve: '1.0.0',
      arm: 'stable',
    });
    expect(chooseVersion(record({ weight: 0 }), { random, routingKey: 'k' })).toEqual({
      serve: '1.0.0',
      arm: 'stable',
    });
  });

  it('serves the candidate to everyone at weight 1', () => {
    expect(chooseVersion(record({ weight: 1 }), { random: () => 0.999999 }).serve).toBe('1.1.0');
  });
});

describe('chooseVersion: shadow mode', () => {
  it('serves stable and runs the candidate as shadow on every request', () => {
    const random = seededRandom(1);
    for (const weight of [0, 0.3, 1]) {
      for (let i = 0; i < 100; i++) {
        expect(chooseVersion(record({ mode: 'shadow', weight }), { random, routingKey: `k${i}` })).toEqual({
          serve: '1.0.0',
          shadow: '1.1.0',
          arm: 'stable',
        });
      }
    }
  });

  it('runs no shadow without a candidate', () => {
    expect(chooseVersion(record({ mode: 'shadow', candidate: undefined }))).toEqual({
      serve: '1.0.0',
      arm: 'stable',
    });
  });
});

describe('chooseVersion: records that cannot be served', () => {
  it('rejects a model that was never promoted with ModelNotServableError naming the candidate', () => {
    const call = () => chooseVersion(record({ stable: undefined, weight: 1 }));
    expect(call).toThrow(ModelNotServableError);
    expect(call).toThrow(/no stable version.*candidate "1.1.0" has not been promoted/);
  });

  it('rejects a missing record with ModelNotServableError', () => {
    expect(() => chooseVersion(undefined)).toThrow(ModelNotServableError);
  });

  it.each([
    ['a NaN weight', { weight: Number.NaN }, /weight must be a finite number from 0 to 1, got NaN/],
    ['an infinite weight', { weight: Number.POSITIVE_INFINITY }, /weight .* got Infinity/],
    ['a negative weight', { weight: -0.1 }, /weight .* got -0.1/],
    ['a weight above 1', { weight: 1.5 }, /weight .* got 1.5/],
    ['a string weight', { weight: '0.5' as unknown as number }, /weight .* got 0.5/],
    [
      'an unknown mode',
      { mode: 'blue-green' as 'canary' },
      /mode must be "canary" or "shadow", got "blue-green"/,
    ],
    ['a negative revision', { revision: -1 }, /revision must be a whole number >= 0/],
    ['a traversal version', { candidate: '../../etc' }, /candidate must be a model version/],
    ['an empty stable version', { stable: '' }, /stable must be a model version/],
  ])('rejects a record with %s', (_label, overrides, message) => {
    const call = () => chooseVersion(record(overrides), { random: () => 0.5 });
    expect(call).toThrow(InvalidDeploymentRecordError);
    expect(call).toThrow(message);
    // The handler maps one class to 503.
    expect(call).toThrow(ModelNotServableError);
  });

  it('rejects a non-object record and lists every problem at once', () => {
    expect(deploymentRecordIssues('nope')).toHaveLength(1);
    const issues = deploymentRecordIssues({ model: '', weight: 2, mode: 'x', revision: 0.5 });
    expect(issues).toHaveLength(4);
  });

  it('accepts null versions from storage as absent', () => {
    const r = { ...record(), candidate: null } as unknown as DeploymentRecord;
    expect(chooseVersion(r)).toEqual({ serve: '1.0.0', arm: 'stable' });
  });
});

describe('routing key hash', () => {
  it('matches published FNV-1a 32-bit test vectors', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });

  it('hashes the UTF-8 bytes, as Buffer would encode them', () => {
    const reference = (text: string) => {
      let h = 0x811c9dc5;
      for (const byte of Buffer.from(text, 'utf8')) h = Math.imul(h ^ byte, 0x01000193);
      return h >>> 0;
    };
    for (const text of ['é', 'ключ', '鍵', 'emoji 😀 key', 'lone \ud800 surrogate', 'end \udc00']) {
      expect(fnv1a32(text)).toBe(reference(text));
    }
  });

  it('spreads sequential keys uniformly over [0, 1)', () => {
    const buckets = new Array<number>(20).fill(0);
    for (let i = 0; i < N; i++) {
      const u = stickyPoint('m', '2', `user-${i}`);
      expect(u).toBeGreaterThanOrEqual(0);
      expect(u).toBeLessThan(1);
      buckets[Math.floor(u * 20)]!++;
    }
    const expected = N / 20;
    const chiSquare = buckets.reduce((sum, observed) => sum + (observed - expected) ** 2 / expected, 0);
    // 19 degrees of freedom: P(chi² > 43.8) = 0.001 for a uniform hash.
    expect(chiSquare).toBeLessThan(43.8);
  });

  it('is deterministic', () => {
    expect(hashToUnit('same key')).toBe(hashToUnit('same key'));
    expect(hashToUnit('same key')).not.toBe(hashToUnit('same kez'));
  });
});

describe('findDisagreement', () => {
  const disagrees = (a: unknown, b: unknown, tolerance: number) =>
    findDisagreement(a, b, tolerance) !== undefined;
  const served = { label: 'malignant', probabilities: [0.2, 0.8] };

  it('agrees within tolerance', () => {
    expect(disagrees(served, { label: 'malignant', probabilities: [0.2004, 0.7996] }, 1e-3)).toBe(false);
    expect(disagrees([1.5, 'a', true, null], [1.5, 'a', true, null], 0)).toBe(false);
  });

  it('fails when the class differs', () => {
    expect(findDisagreement(served, { label: 'benign', probabilities: [0.2, 0.8] }, 1)).toBe('label');
  });

  it('fails when a probability differs by more than the tolerance', () => {
    expect(findDisagreement([served], [{ label: 'malignant', probabilities: [0.2, 0.75] }], 0.01)).toBe(
      '[0].probabilities[1]',
    );
  });

  it('fails on different shapes, lengths, keys and NaN', () => {
    expect(disagrees([1, 2], [1, 2, 3], 1)).toBe(true);
    expect(disagrees({ a: 1 }, { b: 1 }, 1)).toBe(true);
    expect(disagrees({ a: 1 }, [1], 1)).toBe(true);
    expect(disagrees(1, '1', 1)).toBe(true);
    expect(disagrees(Number.NaN, 0, 1)).toBe(true);
    expect(disagrees(Number.NaN, Number.NaN, 0)).toBe(false);
    expect(disagrees(Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY, 0)).toBe(false);
  });

  it('rejects a negative or non-finite tolerance', () => {
    expect(() => disagrees(1, 1, -1)).toThrow(RangeError);
    expect(() => disagrees(1, 1, Number.NaN)).toThrow(RangeError);
  });
});

describe('createTtlCache', () => {
  function setup(options: { ttlMs?: number; staleIfErrorMs?: number } = {}) {
    let clock = 1_000;
    const calls: string[] = [];
    const results: Array<ReturnType<typeof deferred<number>>> = [];
    const stale: unknown[] = [];
    const cache = createTtlCache<string, number>({
      ttlMs: options.ttlMs ?? 5_000,
      staleIfErrorMs: options.staleIfErrorMs,
      now: () => clock,
      load: (key) => {
        calls.push(key);
        const d = deferred<number>();
        results.push(d);
        return d.promise;
      },
      onStale: (_key, error) => stale.push(error),
    });
    // Each load waits until the test settles it; flush lets the microtask that starts a load run.
    const flush = () => new Promise<void>((resolve) => setImmediate(resolve));
    return {
      cache,
      calls,
      stale,
      flush,
      advance: (ms: number) => (clock += ms),
      settle: async (i: number, value: number | Error) => {
        await flush();
        if (value instanceof Error) results[i]!.reject(value);
        else results[i]!.resolve(value);
      },
    };
  }

  it('serves a cached value younger than the ttl without loading', async () => {
    const t = setup();
    const first = t.cache.get('m');
    await t.settle(0, 1);
    expect(await first).toBe(1);
    t.advance(4_999);
    expect(await t.cache.get('m')).toBe(1);
    expect(t.calls).toEqual(['m']);
  });

  it('reloads once the ttl has passed', async () => {
    const t = setup();
    const first = t.cache.get('m');
    await t.settle(0, 1);
    await first;
    t.advance(5_000);
    const second = t.cache.get('m');
    await t.settle(1, 2);
    expect(await second).toBe(2);
    expect(t.calls).toEqual(['m', 'm']);
  });

  it('shares one load between concurrent gets for the same key', async () => {
    const t = setup();
    const gets = [t.cache.get('m'), t.cache.get('m'), t.cache.get('m'), t.cache.get('other')];
    await t.settle(0, 7);
    await t.settle(1, 8);
    expect(await Promise.all(gets)).toEqual([7, 7, 7, 8]);
    expect(t.calls).toEqual(['m', 'other']);
  });

  it('fails without caching the failure, and the next get retries', async () => {
    const t = setup();
    const first = t.cache.get('m');
    await t.settle(0, new Error('throttled'));
    await expect(first).rejects.toThrow('throttled');
    const second = t.cache.get('m');
    await t.settle(1, 3);
    expect(await second).toBe(3);
    expect(t.calls).toEqual(['m', 'm']);
  });

  it('serves the previous value when a reload fails, within staleIfErrorMs, and reports it', async () => {
    const t = setup({ staleIfErrorMs: 60_000 });
    const first = t.cache.get('m');
    await t.settle(0, 1);
    await first;
    t.advance(10_000);
    const second = t.cache.get('m');
    await t.settle(1, new Error('throttled'));
    expect(await second).toBe(1);
    expect(t.stale).toHaveLength(1);
    // Still stale, so the next get tries to load again rather than caching the failure.
    const third = t.cache.get('m');
    await t.settle(2, 2);
    expect(await third).toBe(2);
  });

  it('fails once the previous value is older than staleIfErrorMs', async () => {
    const t = setup({ staleIfErrorMs: 60_000 });
    const first = t.cache.get('m');
    await t.settle(0, 1);
    await first;
    t.advance(60_000);
    const second = t.cache.get('m');
    await t.settle(1, new Error('table gone'));
    await expect(second).rejects.toThrow('table gone');
  });

  it('fails instead of serving stale values when staleIfErrorMs is 0', async () => {
    const t = setup({ staleIfErrorMs: 0 });
    const first = t.cache.get('m');
    await t.settle(0, 1);
    await first;
    t.advance(5_000);
    const second = t.cache.get('m');
    await t.settle(1, new Error('throttled'));
    await expect(second).rejects.toThrow('throttled');
  });

  it('fails cleanly when load throws synchronously, and retries next time', async () => {
    let n = 0;
    const cache = createTtlCache<string, number>({
      ttlMs: 1_000,
      now: () => 0,
      load: () => {
        n++;
        if (n === 1) throw new Error('sync boom');
        return Promise.resolve(n);
      },
    });
    await expect(cache.get('m')).rejects.toThrow('sync boom');
    expect(await cache.get('m')).toBe(2);
  });

  it('peeks a value only while it is younger than the ttl, without loading', async () => {
    let n = 0;
    const clock = { now: 0 };
    const cache = createTtlCache<string, number>({
      ttlMs: 1_000,
      now: () => clock.now,
      load: async () => ++n,
    });
    expect(cache.peek('m')).toBeUndefined();
    expect(await cache.get('m')).toBe(1);
    clock.now = 999;
    expect(cache.peek('m')?.value).toBe(1);
    clock.now = 1_000;
    expect(cache.peek('m')).toBeUndefined();
    expect(n).toBe(1);
  });

  it('rejects a negative ttl', () => {
    expect(() => createTtlCache({ ttlMs: -1, load: async () => 1 })).toThrow(RangeError);
  });
});

describe('seededRandom', () => {
  it('repeats its stream for a seed and stays in [0, 1)', () => {
    const a = seededRandom(123);
    const b = seededRandom(123);
    for (let i = 0; i < 1_000; i++) {
      const x = a();
      expect(x).toBe(b());
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(1);
    }
  });
});

describe('fallbackVersion', () => {
  const canary = record({ stable: '1.0.0', candidate: '1.1.0', weight: 0.5 });
  const toCandidate = { serve: '1.1.0', arm: 'candidate' } as const;
  const toStable = { serve: '1.0.0', arm: 'stable' } as const;

  it('serves the chosen version while it has not failed', () => {
    expect(fallbackVersion(toCandidate, canary, [])).toBe('1.1.0');
    expect(fallbackVersion(toStable, canary, [])).toBe('1.0.0');
    // Another version's failure does not move the choice.
    expect(fallbackVersion(toStable, canary, ['1.1.0'])).toBe('1.0.0');
  });

  it('falls back to the other arm when the chosen one failed, in either direction', () => {
    expect(fallbackVersion(toCandidate, canary, ['1.1.0'])).toBe('1.0.0');
    expect(fallbackVersion(toStable, canary, ['1.0.0'])).toBe('1.1.0');
  });

  it('falls back to the shadow candidate when stable failed in shadow mode', () => {
    const shadow = record({ stable: '1.0.0', candidate: '1.1.0', mode: 'shadow' });
    expect(fallbackVersion({ serve: '1.0.0', shadow: '1.1.0', arm: 'stable' }, shadow, ['1.0.0'])).toBe(
      '1.1.0',
    );
  });

  it('returns none when both arms failed', () => {
    expect(fallbackVersion(toCandidate, canary, ['1.1.0', '1.0.0'])).toBeUndefined();
    expect(fallbackVersion(toStable, canary, ['1.0.0', '1.1.0'])).toBeUndefined();
  });

  it('returns none when there is no other arm: no candidate, or a candidate equal to stable', () => {
    const alone = record({ stable: '1.0.0', candidate: undefined, weight: 0 });
    expect(fallbackVersion(toStable, alone, ['1.0.0'])).toBeUndefined();
    const same = record({ stable: '1.0.0', candidate: '1.0.0', weight: 1 });
    expect(fallbackVersion(toStable, same, ['1.0.0'])).toBeUndefined();
  });
});
