/**
 * Strict UTF-8 decoding for text the release pipeline stores and trusts (manifests). `Buffer.toString('utf8')`
 * replaces invalid bytes with U+FFFD, so a corrupted manifest would be accepted as different text than was written.
 */
import { InvalidUtf8Error } from './errors';

const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The text of `bytes`, or throws {@link InvalidUtf8Error} naming the byte offset of the first invalid sequence.
 * @example decodeUtf8Strict(Buffer.from([0x7b, 0xff]), 'manifest.json') // throws: "… byte offset 1 …"
 */
export function decodeUtf8Strict(bytes: Uint8Array, what: string): string {
  try {
    return strict.decode(bytes);
  } catch {
    const offset = firstInvalidUtf8Offset(bytes);
    throw new InvalidUtf8Error(what, offset ?? 0);
  }
}

/**
 * Offset of the first byte that starts an invalid UTF-8 sequence (RFC 3629: no overlong forms, no surrogates, at
 * most U+10FFFF), or undefined when all of `bytes` is valid.
 */
export function firstInvalidUtf8Offset(bytes: Uint8Array): number | undefined {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    // Lead byte → sequence length and the allowed range of the second byte (which rules out overlongs,
    // surrogates and code points above U+10FFFF).
    let length: number;
    let lo = 0x80;
    let hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) length = 2;
    else if (b >= 0xe0 && b <= 0xef) {
      length = 3;
      if (b === 0xe0) lo = 0xa0;
      if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      length = 4;
      if (b === 0xf0) lo = 0x90;
      if (b === 0xf4) hi = 0x8f;
    } else return i;
    if (i + length > bytes.length) return i;
    const second = bytes[i + 1]!;
    if (second < lo || second > hi) return i;
    for (let k = 2; k < length; k++) {
      const c = bytes[i + k]!;
      if (c < 0x80 || c > 0xbf) return i;
    }
    i += length;
  }
  return undefined;
}
