import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidUtf8Error } from '../../lambdas/core/errors';
import { decodeUtf8Strict, firstInvalidUtf8Offset } from '../../lambdas/core/utf8';

const bytes = (...b: number[]) => Uint8Array.from(b);
const fatal = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const isValid = (b: Uint8Array) => {
  try {
    fatal.decode(b);
    return true;
  } catch {
    return false;
  }
};

describe('decodeUtf8Strict', () => {
  it('decodes valid text, a byte-order mark and four-byte characters unchanged', () => {
    const text = '\uFEFF{"name":"café","emoji":"🚀"}';
    expect(decodeUtf8Strict(Buffer.from(text, 'utf8'), 'manifest.json')).toBe(text);
  });

  it.each([
    ['a lone continuation byte', bytes(0x7b, 0x80), 1],
    ['an invalid lead byte', bytes(0x41, 0x42, 0xff), 2],
    ['an overlong two-byte form', bytes(0xc0, 0xaf), 0],
    ['an overlong three-byte form', bytes(0x61, 0xe0, 0x80, 0xaf), 1],
    ['a UTF-16 surrogate', bytes(0x61, 0x61, 0xed, 0xa0, 0x80), 2],
    ['a code point above U+10FFFF', bytes(0xf4, 0x90, 0x80, 0x80), 0],
    ['a sequence cut short at the end', bytes(0x61, 0xe2, 0x82), 1],
    ['a sequence broken in the middle', bytes(0xe2, 0x41, 0x82), 0],
  ])('rejects %s, naming its byte offset', (_, input, offset) => {
    expect(firstInvalidUtf8Offset(input)).toBe(offset);
    expect(() => decodeUtf8Strict(input, 'incoming/m/1/manifest.json')).toThrow(
      new InvalidUtf8Error('incoming/m/1/manifest.json', offset),
    );
    expect(() => decodeUtf8Strict(input, 'x')).toThrow(
      `x is not valid UTF-8 at byte offset ${offset}; save it as UTF-8`,
    );
  });

  it('agrees with the WHATWG decoder on random bytes, and everything before the offset is valid', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (input) => {
        const offset = firstInvalidUtf8Offset(input);
        expect(offset === undefined).toBe(isValid(input));
        if (offset !== undefined) expect(isValid(input.subarray(0, offset))).toBe(true);
      }),
      { numRuns: 5_000 },
    );
  });

  it('agrees with the WHATWG decoder on mostly valid text with one corrupted byte', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary', maxLength: 40 }),
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        (s, at, b) => {
          const input = Uint8Array.from(Buffer.from(s, 'utf8'));
          if (input.length > 0) input[at % input.length] = b;
          expect(firstInvalidUtf8Offset(input) === undefined).toBe(isValid(input));
        },
      ),
      { numRuns: 5_000 },
    );
  });
});
