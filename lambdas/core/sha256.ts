/** Streaming content hashes: a model can be hundreds of MB, so it is never held in memory to be hashed. */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';

export interface StreamDigest {
  /** Lower-case hex sha256. */
  readonly sha256: string;
  /** Bytes actually read: compared with the size the store reported, to notice a truncated or replaced object. */
  readonly sizeBytes: number;
}

/**
 * sha256 of everything a stream yields, chunk by chunk.
 *
 * @example
 * const hex = await sha256OfStream(createReadStream('model.onnx'));
 */
export async function sha256OfStream(
  readable: Readable | AsyncIterable<Uint8Array | string>,
): Promise<string> {
  return (await digestStream(readable)).sha256;
}

/** Like `sha256OfStream`, and also counts the bytes read. */
export async function digestStream(
  readable: Readable | AsyncIterable<Uint8Array | string>,
): Promise<StreamDigest> {
  const hash = createHash('sha256');
  let sizeBytes = 0;
  for await (const chunk of readable as AsyncIterable<Uint8Array | string>) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    hash.update(bytes);
    sizeBytes += bytes.byteLength;
  }
  return { sha256: hash.digest('hex'), sizeBytes };
}

/** sha256 of bytes already in memory. */
export function sha256OfBytes(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}
