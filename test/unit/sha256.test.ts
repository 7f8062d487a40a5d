import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { digestStream, sha256OfBytes, sha256OfStream } from '../../lambdas/core/sha256';

const reference = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function chunked(bytes: Buffer, size: number): Readable {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  return Readable.from(chunks);
}

describe('sha256OfStream', () => {
  it('hashes the empty stream to the sha256 of nothing', async () => {
    expect(await sha256OfStream(Readable.from([]))).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
  });

  it('equals createHash over the whole buffer whatever the chunk boundaries', async () => {
    const bytes = randomBytes(100_003);
    const expected = reference(bytes);
    for (const size of [1, 7, 63, 64, 65, 4096, 65_536, 100_003, 1_000_000]) {
      expect(await sha256OfStream(chunked(bytes, size)), `chunk size ${size}`).toBe(expected);
    }
  });

  it('fails to match when a single byte differs', async () => {
    const bytes = randomBytes(1000);
    const other = Buffer.from(bytes);
    other[500] = other[500]! ^ 1;
    expect(await sha256OfStream(chunked(other, 100))).not.toBe(reference(bytes));
  });

  it('hashes string chunks as UTF-8 and counts bytes, not characters', async () => {
    const text = 'modèle ✓';
    const d = await digestStream(Readable.from([text.slice(0, 3), text.slice(3)]));
    expect(d.sha256).toBe(reference(Buffer.from(text, 'utf8')));
    expect(d.sizeBytes).toBe(Buffer.byteLength(text));
  });

  it('hashes bytes in memory the same way', () => {
    const bytes = randomBytes(777);
    expect(sha256OfBytes(bytes)).toBe(reference(bytes));
  });

  it('fails (rejects) when the stream errors', async () => {
    const broken = new Readable({
      read() {
        this.destroy(new Error('connection reset'));
      },
    });
    await expect(sha256OfStream(broken)).rejects.toThrow(/connection reset/);
  });
});
