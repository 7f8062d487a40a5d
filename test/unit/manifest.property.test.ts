import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseManifest, parseManifestText, type ManifestParseResult } from '../../lambdas/core/manifest';
import { richManifest, tinyManifest } from './manifest-fixtures';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Every path (list of keys) to a value inside `value`, the root included. */
function paths(value: Json, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [prefix];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...paths(v, [...prefix, i])));
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...prefix, k]));
  }
  return out;
}

type Mutation =
  | { kind: 'delete'; pick: number }
  | { kind: 'replace'; pick: number; value: Json }
  | { kind: 'add'; pick: number; key: string; value: Json };

function apply(base: Json, mutations: readonly Mutation[]): Json {
  let doc: Json = structuredClone(base);
  for (const m of mutations) {
    const all = paths(doc);
    const path = all[m.pick % all.length]!;
    if (path.length === 0) {
      if (m.kind === 'replace') doc = m.value;
      continue;
    }
    const parent = path
      .slice(0, -1)
      .reduce<Json>((node, k) => (node as Record<string | number, Json>)[k]!, doc);
    const last = path[path.length - 1]!;
    if (m.kind === 'delete') {
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete (parent as Record<string, Json>)[last];
    } else if (m.kind === 'replace') {
      (parent as Record<string | number, Json>)[last] = m.value;
    } else if (parent !== null && typeof parent === 'object' && !Array.isArray(parent)) {
      parent[m.key] = m.value;
    }
  }
  return doc;
}

const jsonValue: fc.Arbitrary<Json> = fc.oneof(
  { depthSize: 'small' },
  fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>,
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom<Json>(
    '',
    '..',
    '../x',
    'a/b',
    'A',
    '-',
    ' ',
    '\u0000',
    'x'.repeat(300),
    -1,
    0,
    1e308,
    -0,
    1.5,
  ),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>, {
    maxKeys: 4,
  }),
);

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('delete' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('replace' as const), pick: fc.nat(), value: jsonValue }),
  fc.record({
    kind: fc.constant('add' as const),
    pick: fc.nat(),
    key: fc.string({ maxLength: 12 }),
    value: jsonValue,
  }),
);

const bases: Json[] = [tinyManifest() as Json, richManifest() as Json];

function expectWellFormed(result: ManifestParseResult): void {
  if (result.ok) return;
  expect(result.issues.length).toBeGreaterThanOrEqual(1);
  for (const issue of result.issues) {
    expect(typeof issue.path).toBe('string');
    expect(issue.path.length).toBeGreaterThan(0);
    expect(typeof issue.message).toBe('string');
    expect(issue.message.trim().length).toBeGreaterThan(0);
  }
}

describe('manifest parsing under random malformed input', () => {
  it('never throws and explains every rejection, for 1,500 mutated manifests', () => {
    let rejected = 0;
    fc.assert(
      fc.property(
        fc.constantFrom(...bases),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        (base, mutations) => {
          const doc = apply(base, mutations);
          const fromObject = parseManifest(doc);
          const fromText = parseManifestText(JSON.stringify(doc) ?? 'undefined');
          expectWellFormed(fromObject);
          expectWellFormed(fromText);
          // Same document, same verdict, whichever entry point.
          expect(fromText.ok).toBe(fromObject.ok);
          if (!fromObject.ok) rejected++;
        },
      ),
      { numRuns: 1_500 },
    );
    // The mutations must actually produce malformed manifests, or this test checks nothing.
    expect(rejected).toBeGreaterThan(1_000);
  });

  it('never throws on arbitrary JSON values and arbitrary text', () => {
    fc.assert(
      fc.property(jsonValue, fc.string({ unit: 'binary', maxLength: 200 }), (value, text) => {
        expectWellFormed(parseManifest(value));
        expectWellFormed(parseManifestText(text));
      }),
      { numRuns: 1_000 },
    );
  });

  it('rejects random strings as model names and versions with an issue on that field', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), fc.constantFrom('name', 'version'), (value, field) => {
        const m = { ...tinyManifest(), [field]: value };
        const r = parseManifest(m);
        const valid =
          field === 'name'
            ? /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/.test(value)
            : /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(value) && !value.includes('..');
        if (valid) return;
        expect(r.ok).toBe(false);
        if (!r.ok) expect(r.issues.some((i) => i.path === field)).toBe(true);
      }),
      { numRuns: 1_000 },
    );
  });

  it('accepts valid manifests with random names, versions, metrics and owners', () => {
    const name = fc.stringMatching(/^[a-z0-9](?:[a-z0-9-]{0,20}[a-z0-9])?$/);
    const version = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{0,20}$/);
    fc.assert(
      fc.property(
        name,
        version,
        fc.double({ min: 0.9, max: 1, noNaN: true }),
        fc.string({ minLength: 1, maxLength: 50 }).filter((s) => s.trim().length > 0),
        (n, v, auc, owner) => {
          const m = tinyManifest();
          Object.assign(m, { name: n, version: v, owner });
          m.metrics.auc = auc;
          const r = parseManifest(m);
          expect(r.ok ? [] : r.issues).toEqual([]);
        },
      ),
      { numRuns: 300 },
    );
  });
});
