/** `ArtifactWriter` (core/retrain-package.ts) on S3: one PutObject of the retrained model's bytes. */
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { mapStoreError, s3Client } from '../adapters/clients';
import type { ArtifactWriter } from '../core/retrain-package';

export class S3ArtifactWriter implements ArtifactWriter {
  constructor(
    private readonly bucket: string,
    private readonly s3: S3Client = s3Client,
  ) {}

  async putBytes(key: string, body: Uint8Array, contentType: string): Promise<void> {
    try {
      await this.s3.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: contentType }),
      );
    } catch (err) {
      throw mapStoreError(err, `PutObject ${key}`);
    }
  }
}
