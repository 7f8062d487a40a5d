/**
 * The emulators' verifying front, against the running emulators: what a web page (or any process without the local
 * secret) can send is refused, and nothing it sends is stored; the SDK with the local credentials still works.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DeleteItemCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  type DynamoDBClientConfig,
} from '@aws-sdk/client-dynamodb';
import {
  CopyObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { LOCAL_CREDENTIALS, startEmulators, type Emulators } from '../../local/emulators';
import { CROSS_ORIGIN_MESSAGE } from '../../local/emulator-front';

let root: string;
let emu: Emulators;
let s3: S3Client;
let ddb: DynamoDBClient;
let auditTable: string;

const WRONG_SECRET = { accessKeyId: LOCAL_CREDENTIALS.accessKeyId, secretAccessKey: 'guessed' };

function s3Client(config: Partial<S3ClientConfig> = {}): S3Client {
  return new S3Client({
    region: emu.region,
    endpoint: emu.s3Endpoint,
    forcePathStyle: true,
    credentials: LOCAL_CREDENTIALS,
    maxAttempts: 1,
    ...config,
  });
}

function dynamoClient(config: Partial<DynamoDBClientConfig> = {}): DynamoDBClient {
  return new DynamoDBClient({
    region: emu.region,
    endpoint: emu.dynamodbEndpoint,
    credentials: LOCAL_CREDENTIALS,
    maxAttempts: 1,
    ...config,
  });
}

/** Changes the outgoing request before the SDK signs it (the signature then covers the change). */
function beforeSigning(
  client: S3Client | DynamoDBClient,
  change: (req: { path: string; headers: Record<string, string> }) => void,
): void {
  // Both stacks take the same build-step middleware; S3's type stands for either.
  (client.middlewareStack as S3Client['middlewareStack']).add(
    (next) => (args) => {
      change(args.request as { path: string; headers: Record<string, string> });
      return next(args);
    },
    { step: 'build' },
  );
}

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function raw(
  endpoint: string,
  pathAndQuery: string,
  init: { method: string; headers?: Record<string, string>; body?: string | Buffer },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${endpoint}${pathAndQuery}`,
      { method: init.method, headers: init.headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }),
        );
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

const statusOf = (p: Promise<unknown>) =>
  p.then(
    () => 200,
    (err: { $metadata?: { httpStatusCode?: number } }) => err.$metadata?.httpStatusCode,
  );

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'modelops-sec-'));
  emu = await startEmulators({ dataDir: path.join(root, 'data'), fresh: true, dynamodbPort: 0, s3Port: 0 });
  s3 = s3Client();
  ddb = dynamoClient();
  auditTable = emu.tables.AUDIT_LOG_TABLE!;
});

afterAll(async () => {
  s3?.destroy();
  ddb?.destroy();
  await emu?.stop();
  await rm(root, { recursive: true, force: true });
});

describe('requests signed with the local credentials', () => {
  it('reach both emulators', async () => {
    await s3.send(new PutObjectCommand({ Bucket: emu.bucket, Key: 'ok/a b+c.txt', Body: 'hello' }));
    const got = await s3.send(new GetObjectCommand({ Bucket: emu.bucket, Key: 'ok/a b+c.txt' }));
    expect(await got.Body!.transformToString()).toBe('hello');
    const Key = { model: { S: 'm' }, eventId: { S: 'e1' } };
    await ddb.send(new PutItemCommand({ TableName: auditTable, Item: { ...Key, note: { S: 'kept' } } }));
    const item = await ddb.send(new GetItemCommand({ TableName: auditTable, Key }));
    expect(item.Item?.note).toEqual({ S: 'kept' });
  });

  it('upload a multipart object with 5 MiB parts intact', async () => {
    const body = randomBytes(12 * 1024 * 1024 + 17);
    await new Upload({
      client: s3,
      params: { Bucket: emu.bucket, Key: 'ok/large.bin', Body: body },
      partSize: 5 * 1024 * 1024,
      queueSize: 2,
    }).done();
    const got = await s3.send(new GetObjectCommand({ Bucket: emu.bucket, Key: 'ok/large.bin' }));
    const back = Buffer.from(await got.Body!.transformToByteArray());
    expect(createHash('sha256').update(back).digest('hex')).toBe(
      createHash('sha256').update(body).digest('hex'),
    );
  });
});

describe('requests without the local secret', () => {
  it('rejects a signature made with another secret (S3 and DynamoDB)', async () => {
    const s3Wrong = s3Client({ credentials: WRONG_SECRET });
    const ddbWrong = dynamoClient({ credentials: WRONG_SECRET });
    try {
      expect(
        await statusOf(
          s3Wrong.send(new PutObjectCommand({ Bucket: emu.bucket, Key: 'wrong.txt', Body: 'x' })),
        ),
      ).toBe(403);
      expect(
        await statusOf(
          ddbWrong.send(
            new GetItemCommand({ TableName: auditTable, Key: { model: { S: 'm' }, eventId: { S: 'e1' } } }),
          ),
        ),
      ).toBe(403);
    } finally {
      s3Wrong.destroy();
      ddbWrong.destroy();
    }
    expect(await statusOf(s3.send(new HeadObjectCommand({ Bucket: emu.bucket, Key: 'wrong.txt' })))).toBe(
      404,
    );
  });

  it('rejects unsigned requests with AWS-style errors', async () => {
    const put = await raw(emu.s3Endpoint, `/${emu.bucket}/unsigned.txt`, { method: 'PUT', body: 'x' });
    expect(put.status).toBe(403);
    expect(put.body).toMatch(/<Error><Code>AccessDenied<\/Code>/);
    const scan = await raw(emu.dynamodbEndpoint, '/', {
      method: 'POST',
      headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.Scan' },
      body: JSON.stringify({ TableName: auditTable }),
    });
    expect(scan.status).toBe(403);
    expect(JSON.parse(scan.body)).toMatchObject({
      __type: expect.stringMatching(/^com\.amazon\.coral\.service#/),
    });
    expect(await statusOf(s3.send(new HeadObjectCommand({ Bucket: emu.bucket, Key: 'unsigned.txt' })))).toBe(
      404,
    );
  });

  it('refuses an unsigned upload that expects 100-continue before its body is sent', async () => {
    const result = await new Promise<{ status: number; continued: boolean }>((resolve, reject) => {
      let continued = false;
      const req = request(`${emu.s3Endpoint}/${emu.bucket}/expect.bin`, {
        method: 'PUT',
        headers: { expect: '100-continue', 'content-length': '1048576' },
      });
      req.on('continue', () => {
        continued = true;
        req.end(Buffer.alloc(1024 * 1024));
      });
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode!, continued }));
      });
      req.on('error', reject);
      req.flushHeaders();
    });
    expect(result).toEqual({ status: 403, continued: false });
  });

  it('lets a signed upload that expects 100-continue through', async () => {
    const client = s3Client();
    beforeSigning(client, (req) => {
      req.headers.expect = '100-continue';
    });
    const body = randomBytes(3 * 1024 * 1024);
    try {
      await client.send(new PutObjectCommand({ Bucket: emu.bucket, Key: 'ok/expect.bin', Body: body }));
    } finally {
      client.destroy();
    }
    const got = await s3.send(new GetObjectCommand({ Bucket: emu.bucket, Key: 'ok/expect.bin' }));
    expect(Buffer.from(await got.Body!.transformToByteArray()).equals(body)).toBe(true);
  });

  it('rejects a forged-signature DeleteItem on the AuditLog and keeps the item', async () => {
    const Key = { model: { S: 'm' }, eventId: { S: 'ledger' } };
    await ddb.send(new PutItemCommand({ TableName: auditTable, Item: Key }));
    const date = new Date().toISOString().replace(/[-:]|\.\d{3}/g, '');
    const forged = await raw(emu.dynamodbEndpoint, '/', {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': 'DynamoDB_20120810.DeleteItem',
        'x-amz-date': date,
        authorization:
          `AWS4-HMAC-SHA256 Credential=${LOCAL_CREDENTIALS.accessKeyId}/${date.slice(0, 8)}/us-east-1/dynamodb/aws4_request, ` +
          `SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=${'0'.repeat(64)}`,
      },
      body: JSON.stringify({ TableName: auditTable, Key }),
    });
    expect(forged.status).toBe(403);
    expect(JSON.parse(forged.body).__type).toBe('com.amazon.coral.service#InvalidSignatureException');
    expect((await ddb.send(new GetItemCommand({ TableName: auditTable, Key }))).Item).toMatchObject(Key);
  });
});

describe('browser requests', () => {
  it('refuses a cross-origin multipart form POST to S3 and stores nothing', async () => {
    const boundary = '----modelopsform';
    const form = [
      `--${boundary}\r\nContent-Disposition: form-data; name="key"\r\n\r\nincoming/evil/1.0.0/manifest.json\r\n`,
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="m.json"\r\nContent-Type: application/json\r\n\r\n{}\r\n`,
      `--${boundary}--\r\n`,
    ].join('');
    for (const origin of ['http://evil.example', undefined]) {
      const res = await raw(emu.s3Endpoint, `/${emu.bucket}`, {
        method: 'POST',
        headers: {
          'content-type': `multipart/form-data; boundary=${boundary}`,
          ...(origin ? { origin } : {}),
        },
        body: form,
      });
      expect(res.status).toBe(403);
      expect(res.headers['access-control-allow-origin']).toBeUndefined();
      if (origin) expect(res.body).toContain(CROSS_ORIGIN_MESSAGE);
    }
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: emu.bucket, Prefix: 'incoming/evil/' }));
    expect(listed.KeyCount).toBe(0);
    expect((await filesUnder(root)).filter((f) => f.includes('evil'))).toEqual([]);
  });

  it('refuses preflights on both emulators, with no CORS headers', async () => {
    for (const endpoint of [emu.s3Endpoint, emu.dynamodbEndpoint]) {
      const res = await raw(endpoint, `/${emu.bucket}/k`, {
        method: 'OPTIONS',
        headers: {
          origin: 'http://evil.example',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization,x-amz-target',
        },
      });
      expect(res.status).toBe(403);
      expect(Object.keys(res.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
    }
  });

  it('refuses a correctly signed request that carries an Origin', async () => {
    const fromPage = dynamoClient();
    beforeSigning(fromPage, (req) => {
      req.headers.origin = 'http://evil.example';
    });
    const Key = { model: { S: 'm' }, eventId: { S: 'ledger' } };
    try {
      expect(await statusOf(fromPage.send(new DeleteItemCommand({ TableName: auditTable, Key })))).toBe(403);
    } finally {
      fromPage.destroy();
    }
    expect((await ddb.send(new GetItemCommand({ TableName: auditTable, Key }))).Item).toMatchObject(Key);
  });
});

describe('object keys', () => {
  // data/s3/<bucket>/ + three levels up = the temp root, outside the data directory.
  const escapes = [
    '../../../escaped.txt',
    '%2e%2e/%2e%2e/%2e%2e/escaped.txt',
    '%2E%2E%2F%2E%2E%2F%2E%2E%2Fescaped.txt',
    '..%5c..%5c..%5cescaped.txt',
  ];

  it('refuses traversal keys, signed or not, and writes nothing outside the data directory', async () => {
    for (const rawKey of escapes) {
      const client = s3Client();
      beforeSigning(client, (req) => {
        req.path = `/${emu.bucket}/${rawKey}`;
      });
      try {
        const err = await client
          .send(new PutObjectCommand({ Bucket: emu.bucket, Key: 'placeholder', Body: 'pwned' }))
          .then(
            () => undefined,
            (e: Error & { $metadata?: { httpStatusCode?: number } }) => e,
          );
        expect(err?.$metadata?.httpStatusCode, rawKey).toBe(400);
        expect(err?.name, rawKey).toBe('InvalidArgument');
      } finally {
        client.destroy();
      }
    }
    expect(await readdir(root)).toEqual(['data']);
    expect((await filesUnder(root)).filter((f) => f.includes('escaped'))).toEqual([]);
  });

  it('refuses traversal in a copy source and in DeleteObjects keys', async () => {
    expect(
      await statusOf(
        s3.send(
          new CopyObjectCommand({
            Bucket: emu.bucket,
            Key: 'ok/copy',
            CopySource: `${emu.bucket}/../../../../etc/hostname`,
          }),
        ),
      ),
    ).toBe(400);
    await s3.send(new PutObjectCommand({ Bucket: emu.bucket, Key: 'ok/keep.txt', Body: 'x' }));
    expect(
      await statusOf(
        s3.send(
          new DeleteObjectsCommand({
            Bucket: emu.bucket,
            Delete: { Objects: [{ Key: 'ok/keep.txt' }, { Key: '../../../outside' }] },
          }),
        ),
      ),
    ).toBe(400);
    expect(await statusOf(s3.send(new HeadObjectCommand({ Bucket: emu.bucket, Key: 'ok/keep.txt' })))).toBe(
      200,
    );
    await s3.send(
      new DeleteObjectsCommand({ Bucket: emu.bucket, Delete: { Objects: [{ Key: 'ok/keep.txt' }] } }),
    );
    expect(await statusOf(s3.send(new HeadObjectCommand({ Bucket: emu.bucket, Key: 'ok/keep.txt' })))).toBe(
      404,
    );
  });
});
