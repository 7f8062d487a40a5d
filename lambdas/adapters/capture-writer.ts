/**
 * `CaptureWriter` on S3: one PutObject per batch under `capture/`. The inference role may write only that prefix
 * (granted by the stack when capture is enabled).
 */
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { CaptureWriter } from '../core/capture';
import { PREFIX } from '../core/tables';
import { mapStoreError, s3Client } from './clients';

export class S3CaptureWriter implements CaptureWriter {
  constructor(
    private readonly bucket: string,
    private readonly s3: Pick<S3Client, 'send'> = s3Client,
  ) {}

  async write(key: string, body: string): Promise<void> {
    // A key outside capture/ would be a bug here; refuse it rather than write into models/ or incoming/.
    if (!key.startsWith(PREFIX.capture))
      throw new RangeError(`capture key must start with ${PREFIX.capture}: ${key}`);
    try {
      await this.s3.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: body,
          ContentType: 'application/x-ndjson',
        }),
      );
    } catch (err) {
      throw mapStoreError(err, `PutObject ${key}`);
    }
  }
}
