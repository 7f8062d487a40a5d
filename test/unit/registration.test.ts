import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalModelSigner } from '../../lambdas/adapters/local-signer';
import { VersionConflictError } from '../../lambdas/core/errors';
import { registerRelease } from '../../lambdas/core/registration';
import { recordRejection, recordReleaseFailure } from '../../lambdas/core/rejection';
import type { ValidationPassed } from '../../lambdas/core/release-events';
import { validateRelease } from '../../lambdas/core/validation';
import { fakeLedger, FakeRegistry, tinyRuntime, type FakeLedger } from './fakes';
import { FIXTURE_DIR, tinyManifest } from './manifest-fixtures';

const SHA = 'e7a2caa4a3189f92d89f49f9e335589831c1ba7c0ec93fe733e3cbb30166de66';
const KEY = 'incoming/tiny-classifier/1.0.0/manifest.json';
const modelBytes = readFileSync(path.join(FIXTURE_DIR, 'model.onnx'));
const CONTENT_KEY = `models/tiny-classifier/1.0.0/${SHA}.onnx`;

async function validated(
  registry: FakeRegistry,
  ledger: FakeLedger,
  manifest = tinyManifest(),
  artifact = modelBytes,
) {
  registry.put(KEY.replace('manifest.json', 'model.onnx'), artifact);
  registry.put(KEY, JSON.stringify(manifest));
  const v = await validateRelease(
    { registry, ...ledger, runtime: tinyRuntime(), settings: { maxArtifactBytes: 10_000 } },
    { key: KEY, executionId: 'exec-validate' },
  );
  if (!v.valid) throw new Error(JSON.stringify(v.reasons));
  return v;
}

/** A bundle with a different artifact under the same version (smoke samples dropped: the fake model is fixed). */
async function otherBundle(registry: FakeRegistry, ledger: FakeLedger): Promise<ValidationPassed> {
  const bytes = Buffer.concat([modelBytes, Buffer.from([0])]);
  const m = tinyManifest();
  m.artifact.sha256 = (await import('node:crypto')).createHash('sha256').update(bytes).digest('hex');
  m.artifact.sizeBytes = bytes.length;
  return validated(registry, ledger, m, bytes);
}

describe('registerRelease', () => {
  it('locks every object it writes under models/ until now + the configured days', async () => {
    const registry = new FakeRegistry();
    const ledger = fakeLedger();
    const validation = await validated(registry, ledger);
    const now = new Date('2026-01-01T00:00:00Z');
    await registerRelease(
      { registry, ...ledger, now: () => now, lock: { mode: 'COMPLIANCE', days: 10 } },
      { executionId: 'exec-1', validation },
    );
    const models = await registry.list('models/');
    expect(models.length).toBeGreaterThan(0);
    for (const key of models) {
      expect(registry.locks.get(key), key).toEqual({
        mode: 'COMPLIANCE',
        retainUntil: new Date('2026-01-11T00:00:00Z'),
      });
    }
  });

  it('signs the 32 sha256 bytes before the record and stores the signature on it and in the REGISTERED audit', async () => {
    const registry = new FakeRegistry();
    const ledger = fakeLedger();
    const validation = await validated(registry, ledger);
    const signer = LocalModelSigner.open(mkdtempSync(path.join(tmpdir(), 'sign-')));
    await registerRelease({ registry, ...ledger, signer }, { executionId: 'exec-1', validation });
    const record = (await ledger.versions.getVersion('tiny-classifier', '1.0.0'))!;
    expect(record.signingKeyId).toBe(signer.keyId);
    const signature = Buffer.from(record.signature!, 'base64');
    expect(await signer.verify(Buffer.from(SHA, 'hex'), signature)).toBe(true);
    const other = Buffer.from(SHA, 'hex');
    other[0] = other[0]! ^ 1;
    expect(await signer.verify(other, signature)).toBe(false);
    expect(ledger.audit.events.at(-1)!.details).toMatchObject({
      signature: record.signature,
      signingKeyId: signer.keyId,
    });
  });

  it('writes no record when signing fails (the record is the last write)', async () => {
    const registry = new FakeRegistry();
    const ledger = fakeLedger();
    const validation = await validated(registry, ledger);
    const signer = {
      keyId: 'k',
      sign: async () => {
        throw new Error('KMS unavailable');
      },
      verify: async () => false,
    };
    await expect(
      registerRelease({ registry, ...ledger, signer }, { executionId: 'exec-1', validation }),
    ).rejects.toThrow('KMS unavailable');
    expect(await ledger.versions.getVersion('tiny-classifier', '1.0.0')).toBeUndefined();
  });

  it('requests no lock when none is configured', async () => {
    const registry = new FakeRegistry();
    const ledger = fakeLedger();
    const validation = await validated(registry, ledger);
    await registerRelease({ registry, ...ledger }, { executionId: 'exec-1', validation });
    expect(registry.locks.get(CONTENT_KEY)).toBeUndefined();
    expect(registry.locks.has(CONTENT_KEY)).toBe(true);
  });

  it('copies the artifact to its content address, stores the manifest, writes REGISTERED and audits it', async () => {
    const registry = new FakeRegistry();
    const ledger = fakeLedger();
    const validation = await validated(registry, ledger);
    const r = await registerRelease({ registry, ...ledger }, { executionId: 'exec-1', validation });
    expect(r).toEqual({
      model: 'tiny-classifier',
      version: '1.0.0',
      status: 'REGISTERED',
      artifactKey: CONTENT_KEY,
      manifestKey: `models/tiny-classifier/1.0.0/manifest-${validation.manifestSha256}.json`,
      manifestSha256: validation.manifestSha256,
      idempotent: false,
    });
    expect(await registry.list('models/')).toEqual([
      CONTENT_KEY,
      `models/tiny-classifier/1.0.0/manifest-${validation.manifestSha256}.json`,
      'models/tiny-classifier/1.0.0/manifest.json',
    ]);
    expect(registry.objects.get(CONTENT_KEY)!.equals(modelBytes)).toBe(true);
    expect(await ledger.versions.getVersion('tiny-classifier', '1.0.0')).toMatchObject({
      status: 'REGISTERED',
      sha256: SHA,
      sizeBytes: modelBytes.length,
      owner: 'ml-platform',
      metrics: { auc: 0.95, logloss: 0.2 },
      lineage: { codeCommit: '0000000' },
      approval: { required: false, riskTier: 'low' },
      framework: 'onnx',
      source: 'exec-1',
    });
    expect(ledger.audit.types()).toEqual(['VALIDATION_PASSED', 'REGISTERED']);
  });

  it('succeeds idempotently when the same version and hash are registered again', async () => {
    const registry = new FakeRegistry();
    const ledger = fakeLedger();
    const validation = await validated(registry, ledger);
    await registerRelease({ registry, ...ledger }, { executionId: 'exec-1', validation });
    const again = await registerRelease({ registry, ...ledger }, { executionId: 'exec-2', validation });
    expect(again).toMatchObject({ idempotent: true, artifactKey: CONTENT_KEY });
    expect(ledger.audit.types()).toEqual(['VALIDATION_PASSED', 'REGISTERED', 'REGISTER_IDEMPOTENT']);
    expect((await ledger.versions.getVersion('tiny-classifier', '1.0.0'))!.source).toBe('exec-1');
  });

  it('fails with VersionConflictError for a different hash, audits it and leaves models/ unchanged', async () => {
    const registry = new FakeRegistry();
    const ledger = fakeLedger();
    await registerRelease(
      { registry, ...ledger },
      { executionId: 'exec-1', validation: await validated(registry, ledger) },
    );
    const before = await registry.list('models/');
    const conflicting = await otherBundle(registry, ledger);
    registry.calls.length = 0;

    const err = await registerRelease(
      { registry, ...ledger },
      { executionId: 'exec-2', validation: conflicting },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VersionConflictError);
    const registeredManifest = (await ledger.versions.getVersion('tiny-classifier', '1.0.0'))!.manifestSha256;
    expect(err).toMatchObject({
      name: 'VersionConflictError',
      message:
        `tiny-classifier 1.0.0 is already registered with artifact sha256 ${SHA}; the pushed artifact has sha256 ` +
        `${conflicting.sha256}; registered manifest sha256 ${registeredManifest}, pushed manifest sha256 ` +
        `${conflicting.manifestSha256}. Registered versions are immutable: push under a new version.`,
    });
    expect(await registry.list('models/')).toEqual(before);
    expect(registry.calls.filter((c) => c.startsWith('copy'))).toEqual([]);
    expect(ledger.audit.types().at(-1)).toBe('VERSION_CONFLICT');
    expect(ledger.audit.events.at(-1)!.details).toMatchObject({
      registeredSha256: SHA,
      pushedSha256: conflicting.sha256,
    });
    expect((await ledger.versions.getVersion('tiny-classifier', '1.0.0'))!.sha256).toBe(SHA);
  });

  it('lets the conditional write decide a concurrent push of the same version', async () => {
    const registry = new FakeRegistry();
    const ledger = fakeLedger();
    const ours = await validated(registry, ledger);
    // Another execution registers other content between our conflict check and our conditional write.
    ledger.versions.beforePut = () => {
      ledger.versions.beforePut = undefined;
      ledger.versions.records.set('tiny-classifier#1.0.0', {
        model: 'tiny-classifier',
        version: '1.0.0',
        status: 'REGISTERED',
        createdAt: '',
        updatedAt: '',
        sha256: 'f'.repeat(64),
        manifestSha256: 'e'.repeat(64),
        manifestKey: `models/tiny-classifier/1.0.0/manifest-${'e'.repeat(64)}.json`,
      });
    };
    await expect(
      registerRelease({ registry, ...ledger }, { executionId: 'exec-1', validation: ours }),
    ).rejects.toThrow(
      `tiny-classifier 1.0.0 is already registered with artifact sha256 ${'f'.repeat(64)}; the pushed artifact has sha256 ` +
        `${SHA}; registered manifest sha256 ${'e'.repeat(64)}, pushed manifest sha256 ${ours.manifestSha256}.`,
    );
    expect((await ledger.versions.getVersion('tiny-classifier', '1.0.0'))!.sha256).toBe('f'.repeat(64));
    expect(ledger.audit.types().at(-1)).toBe('VERSION_CONFLICT');
  });

  it('never writes the record when another push holds the fixed manifest.json', async () => {
    const registry = new FakeRegistry();
    const ledger = fakeLedger();
    const ours = await validated(registry, ledger);
    // Another push's registration got its manifest to the fixed key first, then crashed before its record.
    const theirs = JSON.stringify({ ...tinyManifest(), owner: 'someone-else' });
    registry.put('models/tiny-classifier/1.0.0/manifest.json', theirs);
    const err = await registerRelease(
      { registry, ...ledger },
      { executionId: 'exec-1', validation: ours },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VersionConflictError);
    expect((err as Error).message).toContain(
      `registered manifest sha256 ${createHash('sha256').update(theirs).digest('hex')}, pushed manifest sha256 ${ours.manifestSha256}`,
    );
    expect(await ledger.versions.getVersion('tiny-classifier', '1.0.0')).toBeUndefined();
    expect(registry.objects.get('models/tiny-classifier/1.0.0/manifest.json')!.toString()).toBe(theirs);
  });

  it('fails with VersionConflictError for the same artifact with another manifest, naming both manifest hashes', async () => {
    const registry = new FakeRegistry();
    const ledger = fakeLedger();
    const first = await validated(registry, ledger);
    await registerRelease({ registry, ...ledger }, { executionId: 'exec-1', validation: first });
    const m = tinyManifest();
    m.approval = { required: true, riskTier: 'high' };
    const second = await validated(registry, ledger, m);
    expect(second.sha256).toBe(first.sha256);
    const err = await registerRelease(
      { registry, ...ledger },
      { executionId: 'exec-2', validation: second },
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VersionConflictError);
    expect((err as Error).message).toBe(
      `tiny-classifier 1.0.0 is already registered with the same artifact but another manifest; registered manifest ` +
        `sha256 ${first.manifestSha256}, pushed manifest sha256 ${second.manifestSha256}. Registered versions are ` +
        'immutable: push under a new version.',
    );
    expect(ledger.audit.events.at(-1)).toMatchObject({
      type: 'VERSION_CONFLICT',
      details: {
        registeredManifestSha256: first.manifestSha256,
        pushedManifestSha256: second.manifestSha256,
      },
    });
    expect((await ledger.versions.getVersion('tiny-classifier', '1.0.0'))!.approval).toEqual({
      required: false,
      riskTier: 'low',
    });
  });

  it('reads records from before content-addressed manifests: idempotent for the same manifest, conflict otherwise', async () => {
    const registry = new FakeRegistry();
    const ledger = fakeLedger();
    const validation = await validated(registry, ledger);
    registry.put('models/tiny-classifier/1.0.0/manifest.json', registry.objects.get(KEY)!);
    registry.put(CONTENT_KEY, modelBytes);
    ledger.versions.records.set('tiny-classifier#1.0.0', {
      model: 'tiny-classifier',
      version: '1.0.0',
      status: 'REGISTERED',
      createdAt: '2026-01-01T00:00:00.000Z',
      updatedAt: '2026-01-01T00:00:00.000Z',
      sha256: SHA,
      artifactKey: CONTENT_KEY,
      manifestKey: 'models/tiny-classifier/1.0.0/manifest.json',
      source: 'old-exec',
    });
    const again = await registerRelease({ registry, ...ledger }, { executionId: 'exec-2', validation });
    expect(again).toMatchObject({
      idempotent: true,
      manifestKey: 'models/tiny-classifier/1.0.0/manifest.json',
      manifestSha256: validation.manifestSha256,
    });
    const m = tinyManifest();
    m.owner = 'another-team';
    const other = await validated(registry, ledger, m);
    await expect(
      registerRelease({ registry, ...ledger }, { executionId: 'exec-3', validation: other }),
    ).rejects.toBeInstanceOf(VersionConflictError);
  });

  it('replaces a REJECTED record when a fixed bundle is pushed under the same version', async () => {
    const registry = new FakeRegistry();
    const ledger = fakeLedger();
    await recordRejection(ledger, { key: KEY, executionId: 'exec-0', reasons: ['bad'] });
    const r = await registerRelease(
      { registry, ...ledger },
      { executionId: 'exec-1', validation: await validated(registry, ledger) },
    );
    expect(r.idempotent).toBe(false);
    expect((await ledger.versions.getVersion('tiny-classifier', '1.0.0'))!.status).toBe('REGISTERED');
  });

  it('fails when the manifest changed after validation, before copying anything', async () => {
    const registry = new FakeRegistry();
    const ledger = fakeLedger();
    const validation = await validated(registry, ledger);
    registry.put(KEY, JSON.stringify({ ...tinyManifest(), owner: 'someone-else' }));
    await expect(
      registerRelease({ registry, ...ledger }, { executionId: 'e', validation }),
    ).rejects.toMatchObject({
      name: 'SourceChangedError',
    });
    expect(await registry.list('models/')).toEqual([]);
  });
});

describe('recordRejection and recordReleaseFailure', () => {
  it('writes a REJECTED record with every reason and audits VALIDATION_FAILED', async () => {
    const ledger = fakeLedger();
    const r = await recordRejection(ledger, { key: KEY, executionId: 'exec-1', reasons: ['a', 'b'] });
    expect(r).toEqual({ model: 'tiny-classifier', version: '1.0.0', recorded: true });
    expect(await ledger.versions.getVersion('tiny-classifier', '1.0.0')).toMatchObject({
      status: 'REJECTED',
      reasons: ['a', 'b'],
    });
    expect(ledger.audit.events[0]).toMatchObject({
      type: 'VALIDATION_FAILED',
      actor: 'exec-1',
      details: { reasons: ['a', 'b'] },
    });
  });

  it('never touches a REGISTERED record; it only audits', async () => {
    const registry = new FakeRegistry();
    const ledger = fakeLedger();
    await registerRelease(
      { registry, ...ledger },
      { executionId: 'exec-1', validation: await validated(registry, ledger) },
    );
    const r = await recordRejection(ledger, { key: KEY, executionId: 'exec-2', reasons: ['late junk'] });
    expect(r.recorded).toBe(false);
    expect((await ledger.versions.getVersion('tiny-classifier', '1.0.0'))!.status).toBe('REGISTERED');
    expect(ledger.audit.types().at(-1)).toBe('VALIDATION_FAILED');
  });

  it('files garbage keys under their raw, bounded segments', async () => {
    const ledger = fakeLedger();
    expect(
      await recordRejection(ledger, { key: 'incoming//x/manifest.json', executionId: 'e', reasons: ['r'] }),
    ).toMatchObject({
      model: '_unparseable',
      version: 'x',
    });
    const long = 'v'.repeat(1000);
    expect(
      (
        await recordRejection(ledger, {
          key: `incoming/../${long}/manifest.json`,
          executionId: 'e',
          reasons: ['r'],
        })
      ).version,
    ).toHaveLength(256);
  });

  it('audits RELEASE_FAILED only, for an infrastructure error', async () => {
    const ledger = fakeLedger();
    const r = await recordReleaseFailure(ledger, {
      key: KEY,
      executionId: 'exec-1',
      error: { Error: 'TransientStoreError', Cause: 'x'.repeat(10_000) },
    });
    expect(r.recorded).toBe(false);
    expect(ledger.versions.records.size).toBe(0);
    expect(ledger.audit.events[0]).toMatchObject({
      type: 'RELEASE_FAILED',
      details: { error: 'TransientStoreError' },
    });
    expect((ledger.audit.events[0]!.details.cause as string).length).toBeLessThanOrEqual(4000);
  });
});
