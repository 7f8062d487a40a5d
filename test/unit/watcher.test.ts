/**
 * Local mode's release trigger, the real watcher on the shared table of keys (the EventBridge side is tested against
 * the same table in test/infra/release-pipeline.test.ts). A stand-in for s3rver emits the S3 event records.
 */
import { EventEmitter } from 'node:events';
import type S3rver from 's3rver';
import { expect, it } from 'vitest';
import type { ExecutionResult } from '../../local/asl-runner';
import { memoryLogger } from '../../local/logger';
import { startWatcher } from '../../local/watcher';
import { TRIGGER_CASES } from '../fixtures/release-trigger-keys';

function objectCreated(bucket: string, key: string) {
  return { Records: [{ eventName: 'ObjectCreated:Put', s3: { bucket: { name: bucket }, object: { key } } }] };
}

it('starts a release for exactly the keys of the trigger table, in the registry bucket only', async () => {
  const s3rver = new EventEmitter();
  const started: { bucket: string; key: string; name: string }[] = [];
  const watcher = startWatcher({
    s3rver: s3rver as unknown as S3rver,
    bucket: 'registry',
    logger: memoryLogger(),
    startRelease: async (input, name) => {
      started.push({ ...input, name });
      return { status: 'SUCCEEDED' } as ExecutionResult;
    },
  });
  for (const { key } of TRIGGER_CASES) {
    s3rver.emit('event', objectCreated('registry', key));
    s3rver.emit('event', objectCreated('other-bucket', key));
  }
  await watcher.stop();

  expect(started.map((s) => s.key)).toEqual(TRIGGER_CASES.filter((c) => c.startsRelease).map((c) => c.key));
  expect(started.every((s) => s.bucket === 'registry')).toBe(true);
  // Execution names stay within Step Functions' alphabet even for nested and traversal-looking keys.
  for (const { name } of started) expect(name).toMatch(/^[A-Za-z0-9_-]{1,80}$/);
});
