import { describe, expect, it } from 'vitest';
import {
  captureObjectKey,
  captureSettingsIssues,
  createCaptureBuffer,
  createPiiStripper,
  randomSuffix,
  shouldCapture,
  toJsonLines,
  type CaptureRecord,
} from '../../lambdas/core/capture';
import { seededRandom } from '../../lambdas/core/random';

const record = (model: string, requestId: string): CaptureRecord => ({
  requestId,
  time: '2026-01-31T12:00:00.000Z',
  model,
  version: '1',
  instances: [{ a: 1 }],
  predictions: [{ label: 'x' }],
});

describe('shouldCapture', () => {
  it('never samples at 0 and always at 1, without drawing', () => {
    const never = () => {
      throw new Error('must not draw');
    };
    expect(shouldCapture(0, never)).toBe(false);
    expect(shouldCapture(1, never)).toBe(true);
  });

  it('samples the configured share of seeded draws', () => {
    const random = seededRandom(11);
    let hits = 0;
    for (let i = 0; i < 10_000; i++) if (shouldCapture(0.1, random)) hits++;
    // Binomial(10000, 0.1): sd = 30; 5 sd either side.
    expect(hits).toBeGreaterThan(850);
    expect(hits).toBeLessThan(1150);
  });
});

describe('createPiiStripper', () => {
  const manifest = {
    inputs: {
      features: [
        { name: 'age', type: 'numeric' as const, required: true, pii: true },
        { name: 'income', type: 'numeric' as const, required: true, pii: false },
      ],
      tensors: [],
    },
  };

  it('drops the pii features and keeps the rest, without touching the input', () => {
    const instances = [{ age: 41, income: 10 }, { income: 3 }];
    expect(createPiiStripper(manifest)(instances)).toEqual([{ income: 10 }, { income: 3 }]);
    expect(instances[0]).toEqual({ age: 41, income: 10 });
  });

  it('keeps everything when no feature is pii', () => {
    const none = { inputs: { features: [{ ...manifest.inputs.features[1]! }], tensors: [] } };
    expect(createPiiStripper(none)([{ income: 1 }])).toEqual([{ income: 1 }]);
  });
});

describe('captureObjectKey', () => {
  it('partitions by UTC hour and sorts by time within it', () => {
    expect(captureObjectKey('m', Date.UTC(2026, 1, 3, 4, 5, 6, 7), 'abcd0123')).toBe(
      'capture/m/2026/02/03/04/20260203T040506007Z-abcd0123.jsonl',
    );
  });

  it('makes 8-hex-digit suffixes', () => {
    expect(randomSuffix(() => 0)).toBe('00000000');
    expect(randomSuffix(() => 0.999999999)).toMatch(/^[0-9a-f]{8}$/);
  });
});

describe('createCaptureBuffer', () => {
  it('returns a model batch when it reaches the record count, per model', () => {
    const buffer = createCaptureBuffer({ batchRecords: 2, maxAgeMs: 1000 });
    expect(buffer.add(record('a', '1'), 0)).toBeUndefined();
    expect(buffer.add(record('b', '2'), 0)).toBeUndefined();
    const batch = buffer.add(record('a', '3'), 0);
    expect(batch?.model).toBe('a');
    expect(batch?.records.map((r) => r.requestId)).toEqual(['1', '3']);
    expect(buffer.size).toBe(1);
  });

  it('takes partial batches strictly older than the max age, measured from their oldest record', () => {
    const buffer = createCaptureBuffer({ batchRecords: 100, maxAgeMs: 1000 });
    buffer.add(record('a', '1'), 0);
    buffer.add(record('a', '2'), 900);
    buffer.add(record('b', '3'), 500);
    expect(buffer.takeExpired(1000)).toEqual([]);
    expect(buffer.takeExpired(1001).map((b) => [b.model, b.records.length])).toEqual([['a', 2]]);
    expect(buffer.drain().map((b) => b.model)).toEqual(['b']);
    expect(buffer.size).toBe(0);
  });
});

describe('toJsonLines and settings', () => {
  it('writes one JSON object per line', () => {
    const text = toJsonLines([record('a', '1'), record('a', '2')]);
    expect(text.endsWith('\n')).toBe(true);
    expect(
      text
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as CaptureRecord).requestId),
    ).toEqual(['1', '2']);
  });

  it('rejects settings out of range', () => {
    expect(captureSettingsIssues({ sampleRate: -0.1, batchRecords: 0, maxAgeMs: Number.NaN })).toHaveLength(
      3,
    );
    expect(captureSettingsIssues({ sampleRate: 0.5, batchRecords: 10, maxAgeMs: 0 })).toEqual([]);
  });
});
