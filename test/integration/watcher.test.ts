/**
 * The local stand-in for the S3 → EventBridge rule: a manifest uploaded through the S3 API starts a release; other
 * uploads do not (the shared trigger table, test/fixtures/release-trigger-keys.ts); bad state-machine input fails
 * cleanly.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ledgerSegment, parseIncomingKey } from '../../lambdas/core/keys';
import { TRIGGER_CASES } from '../fixtures/release-trigger-keys';
import { loadExample, startHarness, types, type Harness } from './harness';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ watch: true });
});
afterAll(async () => {
  await h?.stop();
});

it('starts a release when manifest.json is uploaded under incoming/, ending REGISTERED', async () => {
  const { manifest, artifact } = await loadExample('credit-risk');
  await h.s3.send(
    new PutObjectCommand({ Bucket: h.bucket, Key: 'incoming/credit-risk/w-1/model.onnx', Body: artifact }),
  );
  // The artifact alone starts nothing: only the manifest does.
  expect(h.mode.watcher.executions()).toHaveLength(0);
  await h.s3.send(
    new PutObjectCommand({
      Bucket: h.bucket,
      Key: 'incoming/credit-risk/w-1/manifest.json',
      Body: JSON.stringify({ ...manifest, version: 'w-1' }),
    }),
  );
  // s3rver emits its event while handling the PUT, so the execution is already tracked here.
  expect(h.mode.watcher.executions()).toHaveLength(1);
  await h.mode.watcher.idle();
  const [execution] = h.mode.watcher.executions();
  expect(execution).toMatchObject({ key: 'incoming/credit-risk/w-1/manifest.json', status: 'SUCCEEDED' });
  expect((await h.version('credit-risk', 'w-1'))?.status).toBe('REGISTERED');
  expect(types(await h.audit('credit-risk', 'w-1'))).toEqual(['VALIDATION_PASSED', 'REGISTERED']);
});

it('fails cleanly on state-machine input whose key is not under incoming/, writing no version record', async () => {
  await h.s3.send(
    new PutObjectCommand({ Bucket: h.bucket, Key: 'elsewhere/credit-risk/v9/manifest.json', Body: '{}' }),
  );
  const result = await h.mode.runtime.startRelease({
    bucket: h.bucket,
    key: 'elsewhere/credit-risk/v9/manifest.json',
  });
  expect(result.status).toBe('FAILED');
  expect(result.error).toBe('ReleaseFailed');
  expect(await h.metadata.versions.listVersions()).not.toContainEqual(
    expect.objectContaining({ version: 'v9' }),
  );
  expect(await h.keys('models/credit-risk/v9/')).toEqual([]);
});

it('fails cleanly on state-machine input without a key', async () => {
  const result = await h.mode.runtime.release.run({ bucket: h.bucket });
  expect(result.status).toBe('FAILED');
  expect(await h.metadata.versions.listVersions()).toHaveLength(1);
});

it('starts a release for exactly the keys of the trigger table; nested ones end REJECTED naming the layout', async () => {
  const before = h.mode.watcher.executions().length;
  const cases = TRIGGER_CASES.filter((c) => c.s3rverCanStore !== false);
  for (const { key } of cases) {
    await h.s3.send(new PutObjectCommand({ Bucket: h.bucket, Key: key, Body: '{}' }));
  }
  // Dot segments never reach s3rver: the emulator front refuses the upload itself.
  for (const { key } of TRIGGER_CASES.filter((c) => c.key.split('/').includes('..'))) {
    await expect(
      h.s3.send(new PutObjectCommand({ Bucket: h.bucket, Key: key, Body: '{}' })),
      key,
    ).rejects.toThrow('object keys with "." or ".." segments or backslashes are refused');
  }
  await h.mode.watcher.idle();
  const started = h.mode.watcher.executions().slice(before);
  expect(started.map((e) => e.key)).toEqual(cases.filter((c) => c.startsRelease).map((c) => c.key));

  for (const { key, rejectedFor } of cases.filter((c) => c.rejectedFor !== undefined)) {
    const execution = started.find((e) => e.key === key)!;
    expect(execution.result?.error, key).toBe('ArtifactRejected');
    const { model, version } = parseIncomingKey(key);
    const record = await h.version(ledgerSegment(model), ledgerSegment(version));
    expect(record?.status, key).toBe('REJECTED');
    expect(record?.reasons?.[0], key).toBe(rejectedFor);
  }
});
