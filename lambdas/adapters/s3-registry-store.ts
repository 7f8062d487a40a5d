/**
 * `RegistryStore` on S3. Correct on AWS (conditional copy: CopySourceIfMatch pins the validated source,
 * If-None-Match refuses to overwrite) and on s3rver, which ignores both headers: there the HEAD checks done before
 * each copy carry the guarantees, with a narrow race that only local mode accepts.
 */
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  UploadPartCopyCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { ObjectTooLargeError, SourceChangedError } from '../core/errors';
import type { ObjectHead, ObjectLockRetention, RegistryStore } from '../core/ports';
import { decodeUtf8Strict } from '../core/utf8';
import { httpStatus, isNotFound, mapStoreError, s3Client } from './clients';

/** CopyObject copies at most 5 GiB; larger artifacts are copied part by part. */
const MAX_SINGLE_COPY_BYTES = 5 * 1024 ** 3;
const COPY_PART_BYTES = 512 * 1024 ** 2;

/** ETags compare without quotes (HEAD returns them quoted; callers may not). */
export function normalizeEtag(etag: string): string {
  return etag.replace(/^W\//, '').replace(/^"|"$/g, '');
}

/** CopySource is `<bucket>/<key>` with the key URL-encoded segment by segment. */
function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

/** The Object Lock parameters of a write, or none (the bucket has no default retention). */
function lockHeaders(lock: ObjectLockRetention | undefined): {
  ObjectLockMode?: 'GOVERNANCE' | 'COMPLIANCE';
  ObjectLockRetainUntilDate?: Date;
} {
  return lock ? { ObjectLockMode: lock.mode, ObjectLockRetainUntilDate: lock.retainUntil } : {};
}

export class S3RegistryStore implements RegistryStore {
  constructor(
    private readonly bucket: string,
    private readonly s3: S3Client = s3Client,
  ) {}

  async head(key: string): Promise<ObjectHead | undefined> {
    try {
      const r = await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return { key, sizeBytes: r.ContentLength ?? 0, etag: r.ETag ?? '' };
    } catch (err) {
      // S3 answers 403 instead of 404 for a missing key unless the caller may list the bucket, and our roles may list
      // only their own prefixes (s3:prefix condition), which HeadObject does not carry. Reading an existing object
      // under a granted prefix never gets 403, so here 403 means "not there".
      if (isNotFound(err) || httpStatus(err) === 403) return undefined;
      throw mapStoreError(err, `HeadObject ${key}`);
    }
  }

  async readText(key: string, maxBytes: number): Promise<string | undefined> {
    const body = await this.get(key);
    if (!body) return undefined;
    if (body.sizeBytes > maxBytes) {
      body.stream.destroy();
      throw new ObjectTooLargeError(key, body.sizeBytes, maxBytes);
    }
    // Content-Length is checked above; counting again guards against a store that does not send it.
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of body.stream as AsyncIterable<Buffer>) {
      total += chunk.byteLength;
      if (total > maxBytes) {
        body.stream.destroy();
        throw new ObjectTooLargeError(key, total, maxBytes);
      }
      chunks.push(chunk);
    }
    return decodeUtf8Strict(Buffer.concat(chunks), key);
  }

  async readStream(key: string): Promise<Readable> {
    const body = await this.get(key);
    if (!body) throw new SourceChangedError(`${key} does not exist (deleted while in use?)`);
    return body.stream;
  }

  async readBytes(key: string): Promise<Uint8Array> {
    const stream = await this.readStream(key);
    const chunks: Buffer[] = [];
    for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
    return Buffer.concat(chunks);
  }

  async copyIfAbsent(
    fromKey: string,
    toKey: string,
    expectedEtag: string,
    options: { readonly lock?: ObjectLockRetention } = {},
  ): Promise<'copied' | 'exists'> {
    const lock = lockHeaders(options.lock);
    if (await this.head(toKey)) return 'exists';
    const source = await this.head(fromKey);
    if (!source || normalizeEtag(source.etag) !== normalizeEtag(expectedEtag)) {
      throw new SourceChangedError(
        `${fromKey} ${source ? 'was replaced' : 'was deleted'} after validation; push the bundle again`,
      );
    }
    try {
      if (source.sizeBytes > MAX_SINGLE_COPY_BYTES) await this.copyMultipart(fromKey, toKey, source, lock);
      else {
        await this.s3.send(
          new CopyObjectCommand({
            Bucket: this.bucket,
            Key: toKey,
            CopySource: copySource(this.bucket, fromKey),
            CopySourceIfMatch: `"${normalizeEtag(expectedEtag)}"`,
            IfNoneMatch: '*',
            ...lock,
          }),
        );
      }
      return 'copied';
    } catch (err) {
      // 412 is either precondition: the destination appeared (a concurrent copy won) or the source changed.
      if (httpStatus(err) === 412) {
        if (await this.head(toKey)) return 'exists';
        throw new SourceChangedError(`${fromKey} changed after validation; push the bundle again`);
      }
      throw mapStoreError(err, `CopyObject ${fromKey} -> ${toKey}`);
    }
  }

  async putText(key: string, body: string, contentType: string): Promise<void> {
    try {
      await this.s3.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: contentType }),
      );
    } catch (err) {
      throw mapStoreError(err, `PutObject ${key}`);
    }
  }

  async list(prefix: string): Promise<readonly string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      try {
        const page = await this.s3.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const o of page.Contents ?? []) if (o.Key !== undefined) keys.push(o.Key);
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } catch (err) {
        throw mapStoreError(err, `ListObjectsV2 ${prefix}`);
      }
    } while (token);
    return keys;
  }

  private async get(key: string): Promise<{ stream: Readable; sizeBytes: number } | undefined> {
    try {
      const r = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      return { stream: r.Body as Readable, sizeBytes: r.ContentLength ?? 0 };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw mapStoreError(err, `GetObject ${key}`);
    }
  }

  private async copyMultipart(
    fromKey: string,
    toKey: string,
    source: ObjectHead,
    lock: ReturnType<typeof lockHeaders>,
  ): Promise<void> {
    // A multipart object takes its retention from CreateMultipartUpload; the part copies carry none.
    const { UploadId } = await this.s3.send(
      new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: toKey, ...lock }),
    );
    try {
      const parts: { ETag: string; PartNumber: number }[] = [];
      for (let start = 0, part = 1; start < source.sizeBytes; start += COPY_PART_BYTES, part++) {
        const end = Math.min(start + COPY_PART_BYTES, source.sizeBytes) - 1;
        const r = await this.s3.send(
          new UploadPartCopyCommand({
            Bucket: this.bucket,
            Key: toKey,
            UploadId,
            PartNumber: part,
            CopySource: copySource(this.bucket, fromKey),
            CopySourceRange: `bytes=${start}-${end}`,
            CopySourceIfMatch: `"${normalizeEtag(source.etag)}"`,
          }),
        );
        parts.push({ ETag: r.CopyPartResult?.ETag ?? '', PartNumber: part });
      }
      await this.s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: toKey,
          UploadId,
          IfNoneMatch: '*',
          MultipartUpload: { Parts: parts },
        }),
      );
    } catch (err) {
      await this.s3
        .send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: toKey, UploadId }))
        .catch(() => undefined);
      throw err;
    }
  }
}
