import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import type { Feature } from '../../lambdas/core/manifest';
import {
  DEFAULT_INFERENCE_LIMITS,
  compileInstanceValidator,
  exceedsUtf8Bytes,
  parseInferenceBody,
  type FieldError,
  type ParseInferenceResult,
} from '../../lambdas/core/inference-request';

const FEATURES: Feature[] = [
  { name: 'mean_radius', type: 'numeric', required: true, pii: false, range: { min: 0, max: 50 } },
  { name: 'age', type: 'numeric', required: true, pii: false, range: { min: 18 } },
  { name: 'smoker', type: 'boolean', required: true, pii: false },
  { name: 'region', type: 'categorical', required: true, pii: false, categories: ['eu', 'us', 'apac'] },
  { name: 'income', type: 'numeric', required: false, pii: false },
  { name: 'ssn_digits', type: 'numeric', required: true, pii: true },
  { name: 'postcode', type: 'categorical', required: true, pii: true, categories: ['10115', '75001'] },
];
const validate = compileInstanceValidator({ inputs: { features: FEATURES } });

const valid = () => ({
  mean_radius: 14.2,
  age: 40,
  smoker: false,
  region: 'eu',
  income: 52_000,
  ssn_digits: 1234,
  postcode: '10115',
});

function expectFailure(result: ParseInferenceResult, status: 400 | 413): readonly FieldError[] {
  expect(result.ok).toBe(false);
  if (result.ok) throw new Error('unreachable');
  expect(result.status).toBe(status);
  return result.errors;
}

describe('parseInferenceBody', () => {
  it('accepts instances and a routing key', () => {
    const result = parseInferenceBody(JSON.stringify({ instances: [valid()], routingKey: 'customer-42' }));
    expect(result).toEqual({ ok: true, request: { instances: [valid()], routingKey: 'customer-42' } });
  });

  it('accepts exactly maxBatch instances and a 256-character routing key', () => {
    const body = JSON.stringify({
      instances: Array.from({ length: 64 }, valid),
      routingKey: 'k'.repeat(256),
    });
    expect(parseInferenceBody(body).ok).toBe(true);
  });

  it('rejects a body over maxBodyBytes with 413 before parsing it', () => {
    // Not even JSON: a 400 here would mean the body was parsed first.
    const errors = expectFailure(parseInferenceBody('x'.repeat(1024 * 1024 + 1)), 413);
    expect(errors[0]!.message).toMatch(/larger than 1048576 bytes/);
  });

  it('rejects a body whose UTF-8 bytes exceed the limit though its length does not', () => {
    const body = JSON.stringify({ instances: [{ region: 'é'.repeat(600) }] });
    expect(body.length).toBeLessThan(1_000);
    expectFailure(parseInferenceBody(body, { maxBodyBytes: 1_000 }), 413);
    expect(parseInferenceBody(body, { maxBodyBytes: 2_000 }).ok).toBe(true);
  });

  it('rejects more than maxBatch instances with 413', () => {
    const body = JSON.stringify({ instances: Array.from({ length: 65 }, valid) });
    const errors = expectFailure(parseInferenceBody(body), 413);
    expect(errors).toEqual([
      { path: 'instances', message: 'has 65 instances; at most 64 per request, split the batch' },
    ]);
    expectFailure(parseInferenceBody(JSON.stringify({ instances: [1, 2, 3] }), { maxBatch: 2 }), 413);
  });

  it('rejects invalid JSON with 400 without echoing the body', () => {
    const errors = expectFailure(parseInferenceBody('{"instances":[{"ssn_digits": 123-45-6789}]}'), 400);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.path).toBe('(body)');
    expect(errors[0]!.message).toMatch(/^is not valid JSON/);
    expect(errors[0]!.message).not.toMatch(/6789/);
  });

  it.each([
    ['an array', '[{"x":1}]'],
    ['null', 'null'],
    ['a string', '"instances"'],
    ['a number', '42'],
  ])('rejects a body that is %s with 400', (kind, body) => {
    const errors = expectFailure(parseInferenceBody(body), 400);
    expect(errors[0]!.message).toBe(`must be a JSON object like {"instances":[{"feature":1}]}, got ${kind}`);
  });

  it('rejects a missing body with 400', () => {
    expectFailure(parseInferenceBody(undefined as unknown as string), 400);
  });

  it.each([
    ['missing', {}, /^is required: an array of 1 to 64 objects/],
    [
      'not an array',
      { instances: { x: 1 } },
      /^must be an array of 1 to 64 objects of feature values, got an object$/,
    ],
    ['empty', { instances: [] }, /^must not be empty/],
  ])('rejects instances that are %s with 400', (_label, body, message) => {
    const errors = expectFailure(parseInferenceBody(JSON.stringify(body)), 400);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.path).toBe('instances');
    expect(errors[0]!.message).toMatch(message);
  });

  it('rejects unknown top-level fields by name, including __proto__', () => {
    const errors = expectFailure(
      parseInferenceBody('{"instances":[{}],"signature_name":"x","__proto__":{},"bad key":1}'),
      400,
    );
    expect(errors.map((e) => e.path)).toEqual(['signature_name', '__proto__', '["bad key"]']);
    expect(errors[0]!.message).toMatch(/send only "instances" and optional "routingKey"/);
  });

  it.each([
    ['a number', 42, /must be a string of 1 to 256 characters, got a number/],
    ['null', null, /must be a string of 1 to 256 characters, got null/],
    ['empty', '', /must be 1 to 256 characters long, got 0/],
    ['too long', 'k'.repeat(257), /must be 1 to 256 characters long, got 257/],
  ])('rejects a routingKey that is %s with 400', (_label, routingKey, message) => {
    const errors = expectFailure(parseInferenceBody(JSON.stringify({ instances: [{}], routingKey })), 400);
    expect(errors).toEqual([{ path: 'routingKey', message: expect.stringMatching(message) }]);
  });

  it('rejects with every shape problem at once', () => {
    const errors = expectFailure(parseInferenceBody(JSON.stringify({ instance: [{}], routingKey: 7 })), 400);
    expect(errors.map((e) => e.path)).toEqual(['instance', 'instances', 'routingKey']);
  });

  it('rejects a body with thousands of unknown fields with a capped error list', () => {
    const body = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`f${i}`, i]));
    const errors = expectFailure(parseInferenceBody(JSON.stringify({ instances: [{}], ...body })), 400);
    expect(errors).toHaveLength(101);
    expect(errors[100]).toEqual({ path: '(request)', message: '… and 400 more errors' });
  });

  it('never throws on arbitrary text or JSON', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc.jsonValue().map((v) => JSON.stringify({ instances: v })),
        ),
        (text) => {
          const result = parseInferenceBody(text, { maxBodyBytes: 10_000 });
          expect(typeof result.ok).toBe('boolean');
        },
      ),
      { numRuns: 2_000, seed: 20260131 },
    );
  });
});

describe('compileInstanceValidator', () => {
  it('accepts valid instances, and optional features missing or null', () => {
    const { income: _income, ...withoutIncome } = valid();
    expect(validate([valid(), withoutIncome, { ...valid(), income: null }])).toEqual([]);
  });

  it('rejects a wrong numeric type naming the field, the expectation and the value', () => {
    const instances = [valid(), valid(), valid(), { ...valid(), mean_radius: 'abc' }];
    expect(validate(instances)).toEqual([
      { path: 'instances[3].mean_radius', message: 'must be a finite number, got "abc"' },
    ]);
  });

  it('rejects values outside the declared range', () => {
    expect(validate([{ ...valid(), mean_radius: 73.2, age: 17 }])).toEqual([
      { path: 'instances[0].mean_radius', message: 'must be from 0 to 50, got 73.2' },
      { path: 'instances[0].age', message: 'must be >= 18, got 17' },
    ]);
  });

  it('rejects non-boolean booleans and unknown categories', () => {
    expect(validate([{ ...valid(), smoker: 'yes', region: 'mars' }])).toEqual([
      { path: 'instances[0].smoker', message: 'must be true or false, got "yes"' },
      { path: 'instances[0].region', message: 'must be one of "eu", "us", "apac", got "mars"' },
    ]);
  });

  it('rejects non-finite numbers and values of the wrong kind', () => {
    const errors = validate([{ ...valid(), mean_radius: Number.NaN, age: [40], region: 1, smoker: {} }]).map(
      (e) => e.message,
    );
    expect(errors).toEqual([
      'must be a finite number, got NaN',
      'must be a finite number, got an array',
      'must be true or false, got an object',
      'must be one of "eu", "us", "apac", got 1',
    ]);
  });

  it('rejects missing and null required features', () => {
    const { mean_radius: _m, ...rest } = valid();
    expect(validate([rest, { ...valid(), smoker: null }])).toEqual([
      { path: 'instances[0].mean_radius', message: 'is required; send a finite number' },
      { path: 'instances[1].smoker', message: 'is required and must not be null; send true or false' },
    ]);
  });

  it('rejects unknown features, listing the known ones', () => {
    const errors = validate([{ ...valid(), mean_radus: 14 }]);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.path).toBe('instances[0].mean_radus');
    expect(errors[0]!.message).toMatch(
      /^is not a feature of this model; remove it \(features: mean_radius, age/,
    );
  });

  it('rejects instances that are not objects', () => {
    expect(validate([null, [1], 'x', 3])).toEqual([
      { path: 'instances[0]', message: 'must be an object mapping feature names to values, got null' },
      { path: 'instances[1]', message: 'must be an object mapping feature names to values, got an array' },
      { path: 'instances[2]', message: 'must be an object mapping feature names to values, got a string' },
      { path: 'instances[3]', message: 'must be an object mapping feature names to values, got a number' },
    ]);
  });

  it('rejects pii values without echoing them', () => {
    const errors = validate([{ ...valid(), ssn_digits: '123-45-6789', postcode: 'SW1A 1AA' }]);
    expect(errors).toEqual([
      { path: 'instances[0].ssn_digits', message: 'must be a finite number, got (redacted: pii)' },
      { path: 'instances[0].postcode', message: 'must be one of "10115", "75001", got (redacted: pii)' },
    ]);
    expect(JSON.stringify(errors)).not.toMatch(/6789|SW1A/);
  });

  it('rejects with every error collected up to the cap, then a count of the rest', () => {
    const bad = { mean_radius: 'x', age: 'x', smoker: 'x', region: 'x', ssn_digits: 'x' }; // + postcode missing
    const errors = validate(Array.from({ length: 64 }, () => bad));
    expect(errors).toHaveLength(DEFAULT_INFERENCE_LIMITS.maxErrors + 1);
    expect(errors[0]!.path).toBe('instances[0].mean_radius');
    expect(errors[100]).toEqual({ path: '(request)', message: `… and ${64 * 6 - 100} more errors` });
  });

  it('reads only own properties, so a feature named like an Object.prototype member is still required', () => {
    const v = compileInstanceValidator({
      inputs: { features: [{ name: 'constructor', type: 'numeric', required: true, pii: false }] },
    });
    expect(v([{}])).toEqual([
      { path: 'instances[0].constructor', message: 'is required; send a finite number' },
    ]);
    expect(v([{ constructor: 1 }])).toEqual([]);
    expect(v([JSON.parse('{"constructor":1,"__proto__":2}')])).toEqual([
      expect.objectContaining({ path: 'instances[0].__proto__' }),
    ]);
  });

  it('truncates unknown feature names that are long or not identifiers', () => {
    const errors = validate([{ ...valid(), ['x'.repeat(1000)]: 1, 'bad key': 2 }]);
    expect(errors.map((e) => e.path)).toEqual([
      `instances[0]["${'x'.repeat(64)}…"]`,
      'instances[0]["bad key"]',
    ]);
  });

  it('never throws, whatever it is given', () => {
    fc.assert(
      fc.property(
        fc.anything({ withNullPrototype: true, withBoxedValues: true, withSparseArray: true }),
        (value) => {
          const instances = Array.isArray(value) ? value : [value];
          expect(Array.isArray(validate(instances))).toBe(true);
        },
      ),
      { numRuns: 2_000, seed: 20260131 },
    );
    const hostile = {};
    Object.defineProperty(hostile, 'mean_radius', {
      enumerable: true,
      get() {
        throw new Error('getter');
      },
    });
    expect(validate([hostile])).toEqual([
      { path: 'instances', message: 'could not be read; send plain JSON objects of feature values' },
    ]);
    expect(validate('nope' as unknown as unknown[])).toHaveLength(1);
  });
});

describe('exceedsUtf8Bytes', () => {
  it('agrees with Buffer.byteLength around the limit', () => {
    for (const text of ['', 'abc', 'é'.repeat(10), '😀'.repeat(5), 'a\ud800b', '鍵'.repeat(7)]) {
      const bytes = Buffer.byteLength(text, 'utf8');
      for (const max of [bytes - 1, bytes, bytes + 1]) expect(exceedsUtf8Bytes(text, max)).toBe(bytes > max);
    }
  });
});
