import { describe, expect, it } from 'vitest';
import { newAuditEventId } from '../../lambdas/core/audit';
import {
  newUploadId,
  parseIncomingKey,
  registeredArtifactKey,
  UPLOAD_ID_PATTERN,
} from '../../lambdas/core/keys';
import {
  parseEvent,
  recordRejectionEventSchema,
  registerVersionEventSchema,
  validateArtifactEventSchema,
} from '../../lambdas/core/release-events';
import { ConfigurationError } from '../../lambdas/core/errors';
import { env } from '../../lambdas/shared/env';

const KEY = 'incoming/m/1.0.0/manifest.json';

describe('event parsing', () => {
  const schema = validateArtifactEventSchema('registry');

  it('accepts a well-formed ValidateArtifact event', () => {
    expect(
      parseEvent(schema, { bucket: 'registry', key: KEY, executionId: 'arn:x' }, 'ValidateArtifact'),
    ).toEqual({
      bucket: 'registry',
      key: KEY,
      executionId: 'arn:x',
    });
  });

  it('rejects another bucket, a key outside incoming/ and a missing execution id, naming each field and fix', () => {
    const run = () =>
      parseEvent(schema, { bucket: 'other', key: 'models/m/1/manifest.json' }, 'ValidateArtifact');
    expect(run).toThrow(/event\.bucket: must be the registry bucket "registry"/);
    expect(run).toThrow(/event\.key: must be an S3 key under incoming\/ ending in \/manifest\.json/);
    expect(run).toThrow(/event\.executionId: is required: pass \$\$\.Execution\.Id/);
    try {
      run();
    } catch (err) {
      expect((err as Error).name).toBe('InvalidEventError');
    }
  });

  it('rejects a RegisterVersion event without a passed validation', () => {
    const s = registerVersionEventSchema('registry');
    expect(() =>
      parseEvent(
        s,
        { bucket: 'registry', key: KEY, executionId: 'e', validation: { valid: false } },
        'RegisterVersion',
      ),
    ).toThrow(/event\.validation\.valid/);
  });

  it('accepts both RecordRejection shapes and rejects one with neither', () => {
    const s = recordRejectionEventSchema('registry');
    const base = { bucket: 'registry', key: 'anything', executionId: 'e' };
    expect(parseEvent(s, { ...base, reasons: ['r'] }, 'RecordRejection')).toMatchObject({ reasons: ['r'] });
    expect(parseEvent(s, { ...base, error: { Error: 'E', Cause: 'c' } }, 'RecordRejection')).toMatchObject({
      error: { Error: 'E' },
    });
    expect(() => parseEvent(s, base, 'RecordRejection')).toThrow(/InvalidEventError|malformed/);
  });
});

describe('keys', () => {
  it('splits a well-formed incoming key', () => {
    expect(parseIncomingKey(KEY)).toEqual({
      model: 'm',
      version: '1.0.0',
      dir: 'incoming/m/1.0.0/',
      issues: [],
    });
  });

  it("splits an upload-id key: the bundle folder is the upload id's", () => {
    const id = newUploadId(new Date('2026-12-01T22:57:00.123Z'), () => '0123456789abcdef');
    expect(id).toBe('20261201T225700123Z-0123456789abcdef');
    expect(parseIncomingKey(`incoming/m/1.0.0/${id}/manifest.json`)).toEqual({
      model: 'm',
      version: '1.0.0',
      uploadId: id,
      dir: `incoming/m/1.0.0/${id}/`,
      issues: [],
    });
  });

  it('makes upload ids that sort by time and fit their pattern', () => {
    const a = newUploadId(new Date('2026-12-01T22:57:00.123Z'));
    const b = newUploadId(new Date('2026-12-01T22:57:00.124Z'));
    expect(UPLOAD_ID_PATTERN.test(a) && UPLOAD_ID_PATTERN.test(b)).toBe(true);
    expect(a < b).toBe(true);
    expect(newUploadId()).not.toBe(newUploadId());
  });

  it.each([
    'incoming/m/1/20261201T225700123Z-0123456789abcdef/x/manifest.json',
    'incoming/m/1/20261201T225700123Z-XYZ/manifest.json',
    'incoming/m/manifest.json',
    'incoming/M/1/manifest.json',
    'incoming/m/../manifest.json',
    'incoming/m/1/2/manifest.json',
    'incoming/m/1/model.onnx',
  ])('rejects %s', (key) => {
    expect(parseIncomingKey(key).issues.length).toBeGreaterThan(0);
  });

  it('content-addresses artifacts by framework', () => {
    expect(registeredArtifactKey('m', '1', 'ab')).toBe('models/m/1/ab.onnx');
    expect(registeredArtifactKey('m', '1', 'ab', 'sagemaker')).toBe('models/m/1/ab.tar.gz');
  });
});

describe('audit ids', () => {
  it('sort by time and differ within the same millisecond', () => {
    const at = new Date('2026-01-01T00:00:00.000Z');
    const a = newAuditEventId(at);
    const b = newAuditEventId(at);
    expect(a).toMatch(/^2026-01-01T00:00:00\.000Z#[0-9a-f]{8}$/);
    expect(a).not.toBe(b);
    expect(newAuditEventId(new Date('2026-01-01T00:00:00.001Z')) > a).toBe(true);
  });
});

describe('env', () => {
  it('fails fast naming a missing variable', () => {
    expect(() => env.registryBucket({})).toThrow(ConfigurationError);
    expect(() => env.registryBucket({})).toThrow(/REGISTRY_BUCKET is not set/);
    expect(() => env.auditLogTable({})).toThrow(/AUDIT_LOG_TABLE/);
  });

  it('rejects a malformed MAX_ARTIFACT_BYTES and parses a good one', () => {
    expect(() => env.maxArtifactBytes({ MAX_ARTIFACT_BYTES: '12MB' })).toThrow(
      /MAX_ARTIFACT_BYTES must be a positive whole number, got "12MB"/,
    );
    expect(env.maxArtifactBytes({ MAX_ARTIFACT_BYTES: '536870912' })).toBe(536_870_912);
  });

  it('reads CONFIGURED_MODELS as a trimmed list, empty when unset', () => {
    expect(env.configuredModels({ CONFIGURED_MODELS: ' a, b ,,c ' })).toEqual(['a', 'b', 'c']);
    expect(env.configuredModels({})).toEqual([]);
  });
});
