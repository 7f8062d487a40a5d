import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { parseManifest, type ManifestIssue } from '../../lambdas/core/manifest';
import {
  closest,
  editDistance,
  MAX_VALUE_CHARS,
  safeParseExplained,
  type ExplainedIssue,
} from '../../lambdas/core/manifest-issues';
import { tinyManifest } from './manifest-fixtures';

function issuesOf(m: unknown): readonly ManifestIssue[] {
  const r = parseManifest(m);
  if (r.ok) throw new Error('expected the manifest to be rejected');
  return r.issues;
}

function issueAt(m: unknown, path: string): ExplainedIssue {
  const issues = issuesOf(m);
  const hit = issues.find((i) => i.path === path);
  expect(hit, `no issue at ${path} in ${JSON.stringify(issues)}`).toBeDefined();
  return hit!;
}

describe('manifest issues', () => {
  it('names an unknown top-level key with a did-you-mean', () => {
    const m = tinyManifest();
    m.gate = { minimums: {} };
    const issue = issueAt(m, '(manifest)');
    expect(issue.message).toBe('"gate" is not a field of (manifest); did you mean "gates"?');
    expect(issue.suggestion).toBe('gates');
    expect(issue.allowed).toContain('smokeSamples');
  });

  it('names an unknown nested key and lists the fields when nothing is close', () => {
    const m = tinyManifest();
    m.lineage.zzzzzz = 1;
    m.inputs.features[0].rnage = { min: 0 };
    expect(issueAt(m, 'inputs.features[0]').message).toBe(
      '"rnage" is not a field of inputs.features[0]; did you mean "range"?',
    );
    const lineage = issueAt(m, 'lineage');
    expect(lineage.message).toMatch(
      /^"zzzzzz" is not a field of lineage; remove it; allowed fields: "trainingData"/,
    );
    expect(lineage.suggestion).toBeUndefined();
  });

  it('gives one issue per unknown key', () => {
    const m = tinyManifest();
    m.ownr = 'x';
    m.descripton = 'y';
    const messages = issuesOf(m).map((i) => i.message);
    expect(messages).toEqual(
      expect.arrayContaining([
        '"ownr" is not a field of (manifest); did you mean "owner"?',
        '"descripton" is not a field of (manifest); did you mean "description"?',
      ]),
    );
  });

  it('explains a bad discriminator with the bad value, the options read from the schema and a did-you-mean', () => {
    const m = tinyManifest();
    m.inputs.features[0].type = 'numerc';
    const issue = issueAt(m, 'inputs.features[0].type');
    // The options come from the zod issue, so a new feature type (e.g. tensor) shows up without a change here.
    expect(issue.message).toMatch(
      /^"numerc" is not one of "numeric", "categorical", "boolean"(, "\w+")*; did you mean "numeric"\?$/,
    );
    expect(issue.value).toBe('"numerc"');
    expect(issue.suggestion).toBe('numeric');
  });

  it('says a missing discriminator is required and lists the options', () => {
    const m = tinyManifest();
    delete m.inputs.features[0].type;
    expect(issueAt(m, 'inputs.features[0].type').message).toMatch(
      /^is required: one of "numeric", "categorical"/,
    );
  });

  it('explains an enum value with the bad value and a did-you-mean', () => {
    const m = tinyManifest();
    m.outputs[0].kind = 'probabilty';
    m.approval.riskTier = 'extreme';
    expect(issueAt(m, 'outputs[0].kind').message).toBe(
      '"probabilty" is not one of "probability", "class", "regression"; did you mean "probability"?',
    );
    // Nothing close: the options alone.
    expect(issueAt(m, 'approval.riskTier').message).toBe('"extreme" is not one of "low", "medium", "high"');
  });

  it("keeps the schema's own message and adds the bad value and a did-you-mean", () => {
    const m = tinyManifest();
    m.framework = 'onx';
    m.manifestVersion = 2;
    expect(issueAt(m, 'framework').message).toBe(
      'must be "onnx" or "sagemaker" (got "onx"; did you mean "onnx"?)',
    );
    expect(issueAt(m, 'manifestVersion').message).toMatch(/^must be 1 .* \(got 2\)$/);
  });

  it('explains a wrong type with the value, and spots a quoted number or boolean', () => {
    const m = tinyManifest();
    m.smokeSamples = [{ inputs: {}, expected: {}, tolerance: '12' }];
    m.inputs.features[0].required = 'true';
    m.inputs.features[1].pii = 3;
    expect(issueAt(m, 'smokeSamples[0].tolerance').message).toBe(
      'expected a number, got the string "12"; write 12 without quotes',
    );
    expect(issueAt(m, 'inputs.features[0].required').message).toBe(
      'expected true or false, got the string "true"; write true without quotes',
    );
    expect(issueAt(m, 'inputs.features[1].pii').message).toBe('expected true or false, got the number 3');
  });

  it('says a missing field is required', () => {
    const m = tinyManifest();
    delete m.owner;
    expect(issueAt(m, 'owner').message).toBe('is required');
  });

  it('lists the accepted types when no branch of a union fits', () => {
    const schema = z.strictObject({ v: z.union([z.number(), z.string(), z.boolean(), z.null()]) });
    const r = safeParseExplained(schema, { v: { nested: 1 } });
    expect(r.success ? [] : r.issues).toEqual([
      {
        path: 'v',
        message: 'expected a number, a string, true or false or null, got an object',
        value: '{"nested":1}',
      },
    ]);
  });

  it('explains the closest branch of a union when one got further than the type', () => {
    const m = tinyManifest();
    m.smokeSamples = [{ inputs: {}, expected: { out: [] } }];
    expect(issueAt(m, 'smokeSamples[0].expected.out').message).toBe('must have at least 1 item, got 0');
  });

  it('explains sizes with the limit and what was given', () => {
    const m = tinyManifest();
    m.description = 'd'.repeat(5000);
    m.outputs = Array.from({ length: 17 }, (_, i) => ({ ...m.outputs[0], name: `o${i}` }));
    expect(issueAt(m, 'description').message).toBe('must be at most 4096 characters, got 5000');
    expect(issueAt(m, 'outputs').message).toBe('must have at most 16 items, got 17');
  });

  it('cuts long values', () => {
    const m = tinyManifest();
    m.framework = 'x'.repeat(500);
    const issue = issueAt(m, 'framework');
    expect(issue.value!.length).toBe(MAX_VALUE_CHARS);
    expect(issue.value!.endsWith('...')).toBe(true);
    expect(issue.message.length).toBeLessThan(200);
  });

  it('leaves no zod default text in any message of a badly broken manifest', () => {
    const m = tinyManifest();
    Object.assign(m, { gate: 1, framework: 3, owner: 5, outputs: 'none', manifestVersion: '1' });
    m.inputs.features[0].type = 7;
    m.artifact.sizeBytes = 1.5;
    for (const i of issuesOf(m)) {
      expect(i.message).not.toMatch(/Invalid (input|option|discriminator)|Unrecognized key|received/);
      expect(i.message).not.toContain('\u0000');
    }
  });

  it('works for any schema, reading the options from the issue', () => {
    const schema = z.strictObject({
      colour: z.enum(['red', 'green', 'blue']),
      shape: z.discriminatedUnion('kind', [
        z.strictObject({ kind: z.literal('circle'), r: z.number() }),
        z.strictObject({ kind: z.literal('square'), side: z.number().int() }),
      ]),
    });
    const r = safeParseExplained(
      schema,
      { colour: 'gren', shape: { kind: 'sqare', side: 1 }, colur: 1 },
      '(doc)',
    );
    expect(r.success).toBe(false);
    if (r.success) return;
    expect(r.issues.map((i) => `${i.path}: ${i.message}`)).toEqual(
      expect.arrayContaining([
        'colour: "gren" is not one of "red", "green", "blue"; did you mean "green"?',
        'shape.kind: "sqare" is not one of "circle", "square"; did you mean "square"?',
        '(doc): "colur" is not a field of (doc); did you mean "colour"?',
      ]),
    );
    const int = safeParseExplained(schema, { colour: 'red', shape: { kind: 'square', side: 1.5 } });
    expect(int.success ? [] : int.issues.map((i) => i.message)).toEqual([
      'expected a whole number, got the number 1.5',
    ]);
  });

  it('returns the data when the input is valid', () => {
    const r = safeParseExplained(z.strictObject({ a: z.number() }), { a: 1 });
    expect(r).toEqual({ success: true, data: { a: 1 } });
  });
});

describe('did-you-mean', () => {
  it('measures edit distance with adjacent swaps counted once', () => {
    expect(editDistance('gate', 'gates')).toBe(1);
    expect(editDistance('nmueric', 'numeric')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
  });

  it('suggests only close names, and a name differing only in case', () => {
    expect(closest('gate', ['gates', 'metrics'])).toBe('gates');
    expect(closest('Owner', ['owner', 'name'])).toBe('owner');
    expect(closest('xyz', ['gates', 'metrics'])).toBeUndefined();
    expect(closest('ab', ['cd'])).toBeUndefined();
  });
});
