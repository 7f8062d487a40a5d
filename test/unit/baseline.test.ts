import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  binIndex,
  compareCodePoints,
  computeBaseline,
  isMissingCell,
  ReferenceDataError,
  computeInstanceBaseline,
  parseReferenceJsonl,
} from '../../lambdas/core/baseline';
import { baselineSchema, type Feature, type FeatureBins } from '../../lambdas/core/manifest';
import { parseReferenceCsv } from '../../lambdas/core/reference-csv';

const EXAMPLES = path.join(__dirname, '..', '..', 'examples');

const num = (name: string): Feature => ({ name, type: 'numeric', required: true, pii: false });
const cat = (name: string, categories = ['a']): Feature => ({
  name,
  type: 'categorical',
  required: true,
  pii: false,
  categories,
});
const bool = (name: string): Feature => ({ name, type: 'boolean', required: true, pii: false });
const column = (name: string, cells: readonly string[]) => cells.map((c) => ({ [name]: c }));

function profile(feature: Feature, cells: readonly string[], options?: { bins?: number; topK?: number }) {
  const baseline = computeBaseline([feature], column(feature.name, cells), options);
  return baseline.features[feature.name]!;
}

function thrown(fn: () => unknown): ReferenceDataError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ReferenceDataError) return err;
    throw err;
  }
  throw new Error('expected a ReferenceDataError');
}

describe('computeBaseline: numeric features', () => {
  it('takes edges at quantile indexes (i*(n-1)) div B and counts each value once', () => {
    // n = 6, B = 4: indexes 0, 1, 2, 3, 5 (index 4 is skipped).
    expect(profile(num('x'), ['6', '1', '5', '2', '4', '3'], { bins: 4 })).toEqual({
      kind: 'numeric',
      edges: [1, 2, 3, 4, 6],
      counts: [0, 1, 1, 1, 3, 0],
      missing: 0,
    });
  });

  it('closes the last inner bin on the right so the maximum is an inner value', () => {
    const cells = Array.from({ length: 11 }, (_, i) => String(i + 1));
    expect(profile(num('x'), cells)).toEqual({
      kind: 'numeric',
      edges: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
      counts: [0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 0],
      missing: 0,
    });
  });

  it('collapses duplicate edges', () => {
    // Indexes 0, 1, 2, 3, 5 pick 1, 1, 1, 1, 3.
    expect(profile(num('x'), ['1', '1', '1', '1', '2', '3'], { bins: 4 })).toEqual({
      kind: 'numeric',
      edges: [1, 3],
      counts: [0, 6, 0],
      missing: 0,
    });
  });

  it('gives a constant column one narrow inner bin', () => {
    expect(profile(num('x'), ['5', '5.0', '5e0'])).toMatchObject({
      edges: [5, 5 + 5 * 1e-6],
      counts: [0, 3, 0],
    });
    expect(profile(num('x'), ['0', '-0'])).toMatchObject({ edges: [0, 1e-6], counts: [0, 2, 0] });
    expect(profile(num('x'), ['-0.25'])).toMatchObject({ edges: [-0.25, -0.25 + 1e-6], counts: [0, 1, 0] });
  });

  it('profiles an all-missing column with edges [0, 1] and every row missing', () => {
    expect(profile(num('x'), ['', 'NA', 'null'])).toEqual({
      kind: 'numeric',
      edges: [0, 1],
      counts: [0, 0, 0],
      missing: 3,
    });
  });

  it('treats the missing tokens in any case, with surrounding blanks, as missing', () => {
    const tokens = ['', ' ', '\t', 'NA', 'na', 'NaN', 'nan', 'NULL', 'null', 'None', 'NONE', ' NA '];
    for (const t of tokens) expect(isMissingCell(t), JSON.stringify(t)).toBe(true);
    for (const t of ['0', 'N/A', 'nil', '-', 'nana']) expect(isMissingCell(t), t).toBe(false);
    expect(profile(num('x'), [...tokens, '1', ' 2 ', '+3', '.5', '4.', '5e-1'])).toMatchObject({
      edges: [0.5, 1, 2, 3, 4],
      missing: tokens.length,
    });
  });

  it('rejects a non-numeric cell, naming the column and the row', () => {
    const err = thrown(() => computeBaseline([num('income')], column('income', ['1', '2', 'abc'])));
    expect(err.name).toBe('ReferenceDataError');
    expect(err.column).toBe('income');
    expect(err.row).toBe(3);
    expect(err.message).toMatch(/column "income", row 3: "abc" is not a finite number/);
  });

  it('rejects number syntaxes the Python twin would read differently', () => {
    for (const cell of ['inf', 'Infinity', '1e999', '0x10', '1_000', '1,5', '١']) {
      expect(() => profile(num('x'), [cell]), cell).toThrow(ReferenceDataError);
    }
  });
});

describe('computeBaseline: categorical and boolean features', () => {
  it('keeps the top K categories by count, ties by name, the rest as __OTHER__', () => {
    const cells = ['b', 'a', 'c', 'b', 'c', 'a', 'c', 'd', 'e', '', 'NA'];
    expect(profile(cat('x'), cells, { topK: 3 })).toEqual({
      kind: 'categorical',
      categories: ['c', 'a', 'b'],
      counts: [3, 2, 2, 2],
      missing: 2,
    });
  });

  it('breaks ties in code-point order, not UTF-16 order', () => {
    // U+FFFD sorts before U+1F600 by code point; by UTF-16 code unit it would sort after.
    expect(profile(cat('x'), ['😀', '\uFFFD', 'Z', 'a'], { topK: 4 })).toMatchObject({
      categories: ['Z', 'a', '\uFFFD', '😀'],
    });
    expect(compareCodePoints('😀', '\uFFFD')).toBeGreaterThan(0);
    expect(compareCodePoints('ab', 'a')).toBeGreaterThan(0);
  });

  it('trims spaces and tabs around categories', () => {
    expect(profile(cat('x'), [' a', 'a\t', 'a'])).toMatchObject({ categories: ['a'], counts: [3, 0] });
  });

  it('falls back to the declared categories when every cell is missing', () => {
    expect(profile(cat('x', ['z', 'b']), ['', 'none'])).toEqual({
      kind: 'categorical',
      categories: ['b', 'z'],
      counts: [0, 0, 0],
      missing: 2,
    });
  });

  it('profiles booleans as ["false", "true"] with an empty __OTHER__ count', () => {
    expect(profile(bool('g'), ['true', 'FALSE', '1', '0', ' True ', '', 'None'])).toEqual({
      kind: 'categorical',
      categories: ['false', 'true'],
      counts: [2, 3, 0],
      missing: 2,
    });
  });

  it('rejects a cell that is not a boolean, naming the column and the row', () => {
    const err = thrown(() => computeBaseline([bool('g')], column('g', ['true', 'yes'])));
    expect(err.column).toBe('g');
    expect(err.row).toBe(2);
    expect(err.message).toMatch(/"yes" is not a boolean/);
  });
});

describe('computeBaseline: rows and options', () => {
  it('ignores columns that are not features and counts every row', () => {
    const rows = [
      { x: '1', label: 'yes' },
      { x: '2', label: 'no' },
    ];
    const baseline = computeBaseline([num('x')], rows);
    expect(baseline.referenceCount).toBe(2);
    expect(Object.keys(baseline.features)).toEqual(['x']);
    expect(baselineSchema.safeParse(baseline).success).toBe(true);
  });

  it('fails when a feature has no column, naming every absent one', () => {
    expect(() => computeBaseline([num('x'), num('age'), cat('job')], [{ x: '1' }])).toThrow(
      /no column "age", "job"/,
    );
    expect(() => computeBaseline([num('x')], [{ x: '1' }, { y: '2' }])).toThrow(/row 2 has no column "x"/);
  });

  it('fails on no rows and on invalid options', () => {
    expect(() => computeBaseline([num('x')], [])).toThrow(/no rows/);
    expect(() => computeBaseline([num('x')], [{ x: '1' }], { bins: 0 })).toThrow(/bins/);
    expect(() => computeBaseline([num('x')], [{ x: '1' }], { topK: 1.5 })).toThrow(/topK/);
  });
});

describe('binIndex', () => {
  const numeric: FeatureBins = { kind: 'numeric', edges: [1, 2, 3], counts: [0, 0, 0, 0], missing: 0 };

  it('assigns underflow, inner bins with the last closed, and overflow', () => {
    const cases: [unknown, number | 'missing'][] = [
      [0.5, 0],
      [-Infinity, 0],
      [1, 1],
      [1.999, 1],
      [2, 2],
      [3, 2],
      [3.0000001, 3],
      [Infinity, 3],
      ['2.5', 2],
      [' 1 ', 1],
      [NaN, 'missing'],
      [null, 'missing'],
      [undefined, 'missing'],
      ['NA', 'missing'],
      ['abc', 'missing'],
      [{}, 'missing'],
    ];
    for (const [value, expected] of cases) expect(binIndex(numeric, value), String(value)).toBe(expected);
  });

  it('maps categories to their index and unknown values to __OTHER__', () => {
    const bins: FeatureBins = {
      kind: 'categorical',
      categories: ['b', 'a', '3'],
      counts: [0, 0, 0, 0],
      missing: 0,
    };
    expect(binIndex(bins, 'a')).toBe(1);
    expect(binIndex(bins, ' b ')).toBe(0);
    expect(binIndex(bins, 3)).toBe(2);
    expect(binIndex(bins, 'zzz')).toBe(3);
    expect(binIndex(bins, 'None')).toBe('missing');
  });

  it('reads boolean spellings into boolean bins', () => {
    const bins: FeatureBins = {
      kind: 'categorical',
      categories: ['false', 'true'],
      counts: [0, 0, 0],
      missing: 0,
    };
    expect([true, false, 'TRUE', '0', 1, 'maybe', null].map((v) => binIndex(bins, v))).toEqual([
      1,
      0,
      1,
      0,
      1,
      2,
      'missing',
    ]);
  });

  it('agrees with the linear definition of the bins on random edges and values', () => {
    const linear = (edges: readonly number[], x: number): number => {
      if (x < edges[0]!) return 0;
      if (x > edges[edges.length - 1]!) return edges.length;
      for (let j = 1; j < edges.length; j++) if (x < edges[j]!) return j;
      return edges.length - 1;
    };
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: -50, max: 50 }), { minLength: 2, maxLength: 12 }),
        fc.array(fc.integer({ min: -60, max: 60 }), { maxLength: 50 }),
        (raw, xs) => {
          const edges = [...raw].sort((a, b) => a - b);
          const bins: FeatureBins = {
            kind: 'numeric',
            edges,
            counts: new Array<number>(edges.length + 1).fill(0),
            missing: 0,
          };
          for (const x of xs) expect(binIndex(bins, x / 2)).toBe(linear(edges, x / 2));
        },
      ),
      { seed: 20260201, numRuns: 300 },
    );
  });

  it("reproduces computeBaseline's counts on random reference data", () => {
    const numericCell = fc.oneof(
      fc.double({ min: -1e6, max: 1e6, noNaN: true }).map(String),
      fc.integer({ min: -5, max: 5 }).map(String),
      fc.constantFrom('', 'NA', 'nan', 'None'),
    );
    const categoryCell = fc.oneof(
      fc.constantFrom('a', 'b', 'c', 'd', 'e', ' f ', ''),
      fc.string({ maxLength: 3 }),
    );
    const booleanCell = fc.constantFrom('true', 'false', '1', '0', 'TRUE', '', 'null');
    fc.assert(
      fc.property(
        fc.array(fc.record({ n: numericCell, c: categoryCell, b: booleanCell }), {
          minLength: 1,
          maxLength: 200,
        }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 5 }),
        (rows, bins, topK) => {
          const features = [num('n'), cat('c'), bool('b')];
          const baseline = computeBaseline(features, rows, { bins, topK });
          expect(baselineSchema.safeParse(baseline).success).toBe(true);
          for (const f of features) {
            const expected = baseline.features[f.name]!;
            const counts = new Array<number>(expected.counts.length).fill(0);
            let missing = 0;
            for (const row of rows) {
              const i = binIndex(expected, row[f.name as 'n' | 'c' | 'b']);
              if (i === 'missing') missing++;
              else counts[i]!++;
            }
            expect({ counts, missing }).toEqual({ counts: expected.counts, missing: expected.missing });
          }
        },
      ),
      { seed: 42, numRuns: 200 },
    );
  });
});

describe('parseReferenceCsv', () => {
  it('reads the header and keeps cells as text', () => {
    const csv = parseReferenceCsv('\ufeffage,job,label\r\n41,"sales, EMEA",1\r\n\r\n,NA,0\r\n', [
      'age',
      'job',
    ]);
    expect(csv.columns).toEqual(['age', 'job', 'label']);
    expect(csv.rows).toEqual([
      { age: '41', job: 'sales, EMEA', label: '1' },
      { age: '', job: 'NA', label: '0' },
    ]);
  });

  it('fails on a missing feature column, naming it', () => {
    expect(() => parseReferenceCsv('age,label\n41,1\n', ['age', 'income'])).toThrow(/no column "income"/);
  });

  it('rejects ragged rows with the line number', () => {
    expect(() => parseReferenceCsv('a,b\n1,2\n3\n')).toThrow(ReferenceDataError);
    expect(() => parseReferenceCsv('a,b\n1,2\n3\n')).toThrow(/line 3.*as many cells as the header/);
  });

  it('rejects an empty file, blank and duplicate column names, and broken quoting', () => {
    expect(() => parseReferenceCsv('')).toThrow(/empty/);
    expect(() => parseReferenceCsv('a,,c\n1,2,3\n')).toThrow(/column 2 has no name/);
    expect(() => parseReferenceCsv('a,a\n1,2\n')).toThrow(/"a" appears twice/);
    expect(() => parseReferenceCsv('a\n"1\n')).toThrow(/malformed/);
  });

  it('keeps a column named __proto__ as a plain column', () => {
    const { rows } = parseReferenceCsv('__proto__\nx\n');
    expect(Object.hasOwn(rows[0]!, '__proto__')).toBe(true);
    expect(rows[0]!['__proto__']).toBe('x');
  });
});

describe('baseline cross-check with examples/make_examples.py', () => {
  const examples = readdirSync(EXAMPLES, { withFileTypes: true })
    // Bundles only: examples/trainer holds the example trainer, not a model.
    .filter((d) => d.isDirectory() && existsSync(path.join(EXAMPLES, d.name, 'manifest.json')))
    .map((d) => d.name);

  it('finds the committed examples', () => {
    expect(examples).toEqual(expect.arrayContaining(['breast-cancer', 'credit-risk']));
  });

  it.each(examples)('recomputes the committed baseline of %s bit for bit', (name) => {
    const manifest = JSON.parse(readFileSync(path.join(EXAMPLES, name, 'manifest.json'), 'utf8')) as {
      inputs: { features: Feature[] };
      baseline: unknown;
    };
    const features = manifest.inputs.features;
    if (features.some((f) => f.type === 'tensor')) {
      // A tensor-input bundle carries reference.jsonl, profiled by computeInstanceBaseline.
      const lines = parseReferenceJsonl(readFileSync(path.join(EXAMPLES, name, 'reference.jsonl'), 'utf8'));
      expect(computeInstanceBaseline(features, lines)).toEqual(manifest.baseline);
      return;
    }
    const csv = parseReferenceCsv(
      readFileSync(path.join(EXAMPLES, name, 'reference.csv'), 'utf8'),
      features.map((f) => f.name),
    );
    expect(csv.columns).toContain('label');
    expect(computeBaseline(features, csv.rows)).toEqual(manifest.baseline);
  });
});
