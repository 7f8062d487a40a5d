import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  UploadPartCopyCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { S3RegistryStore } from '../../lambdas/adapters/s3-registry-store';
import { modelLockEnv } from '../../lambdas/shared/env';

/** A fake S3 client: the source exists with `sourceBytes`, the destination does not; records every command. */
function fakeS3(sourceBytes: number) {
  const sent: unknown[] = [];
  const client = {
    send: async (command: unknown) => {
      sent.push(command);
      if (command instanceof HeadObjectCommand) {
        if (command.input.Key === 'incoming/m/1/model.onnx')
          return { ContentLength: sourceBytes, ETag: '"e1"' };
        throw Object.assign(new Error('not found'), { name: 'NotFound', $metadata: { httpStatusCode: 404 } });
      }
      if (command instanceof CreateMultipartUploadCommand) return { UploadId: 'u1' };
      if (command instanceof UploadPartCopyCommand) return { CopyPartResult: { ETag: '"p"' } };
      return {};
    },
  };
  return { sent, store: new S3RegistryStore('bucket', client as unknown as S3Client) };
}

const retainUntil = new Date('2030-01-01T00:00:00Z');

describe('S3RegistryStore.copyIfAbsent Object Lock', () => {
  it('puts ObjectLockMode and ObjectLockRetainUntilDate on CopyObject', async () => {
    const { sent, store } = fakeS3(10);
    await store.copyIfAbsent('incoming/m/1/model.onnx', 'models/m/1/a.onnx', 'e1', {
      lock: { mode: 'COMPLIANCE', retainUntil },
    });
    const copy = sent.find((c) => c instanceof CopyObjectCommand) as CopyObjectCommand;
    expect(copy.input).toMatchObject({
      ObjectLockMode: 'COMPLIANCE',
      ObjectLockRetainUntilDate: retainUntil,
    });
  });

  it('requests no lock when none is given', async () => {
    const { sent, store } = fakeS3(10);
    await store.copyIfAbsent('incoming/m/1/model.onnx', 'models/m/1/a.onnx', 'e1');
    const copy = sent.find((c) => c instanceof CopyObjectCommand) as CopyObjectCommand;
    expect(copy.input.ObjectLockMode).toBeUndefined();
    expect(copy.input.ObjectLockRetainUntilDate).toBeUndefined();
  });

  it('puts the lock on CreateMultipartUpload for a copy over 5 GiB', async () => {
    const { sent, store } = fakeS3(6 * 1024 ** 3);
    await store.copyIfAbsent('incoming/m/1/model.onnx', 'models/m/1/a.onnx', 'e1', {
      lock: { mode: 'GOVERNANCE', retainUntil },
    });
    const create = sent.find(
      (c) => c instanceof CreateMultipartUploadCommand,
    ) as CreateMultipartUploadCommand;
    expect(create.input).toMatchObject({
      ObjectLockMode: 'GOVERNANCE',
      ObjectLockRetainUntilDate: retainUntil,
    });
    expect(sent.some((c) => c instanceof CompleteMultipartUploadCommand)).toBe(true);
  });
});

describe('modelLockEnv', () => {
  it('reads both variables, or neither', () => {
    expect(modelLockEnv({ MODEL_LOCK_MODE: 'GOVERNANCE', MODEL_LOCK_DAYS: '30' })).toEqual({
      mode: 'GOVERNANCE',
      days: 30,
    });
    expect(modelLockEnv({})).toBeUndefined();
  });

  it('refuses one without the other and bad values, naming the variable', () => {
    expect(() => modelLockEnv({ MODEL_LOCK_MODE: 'GOVERNANCE' })).toThrow(/MODEL_LOCK_DAYS/);
    expect(() => modelLockEnv({ MODEL_LOCK_DAYS: '3' })).toThrow(/MODEL_LOCK_MODE/);
    expect(() => modelLockEnv({ MODEL_LOCK_MODE: 'governance', MODEL_LOCK_DAYS: '3' })).toThrow(
      /MODEL_LOCK_MODE must be/,
    );
    expect(() => modelLockEnv({ MODEL_LOCK_MODE: 'COMPLIANCE', MODEL_LOCK_DAYS: '1.5' })).toThrow(
      /MODEL_LOCK_DAYS must be/,
    );
  });
});
