import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  checkDeleteKeys,
  checkOrigin,
  checkS3Names,
  verifySignature,
  type EmulatorService,
  type WireRequest,
} from '../../local/emulator-front';
import { LOCAL_CREDENTIALS } from '../../local/emulators';

const ENDPOINT = 'http://127.0.0.1:4599';

interface CapturedRequest {
  method: string;
  path: string;
  query?: Record<string, string | string[] | null>;
  headers: Record<string, string>;
  body?: unknown;
}

class Captured extends Error {
  constructor(readonly request: CapturedRequest) {
    super('captured');
  }
}

const encode = (s: string) =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** The request as it would leave the SDK's node:http handler. */
function toWire(r: CapturedRequest): WireRequest {
  const query = Object.entries(r.query ?? {})
    .flatMap(([k, v]) =>
      v === null ? [encode(k)] : (Array.isArray(v) ? v : [v]).map((x) => `${encode(k)}=${encode(x)}`),
    )
    .join('&');
  const headers = Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k.toLowerCase(), v]));
  return { method: r.method, url: query ? `${r.path}?${query}` : r.path, headers };
}

/** Runs an SDK command through the SDK's own signer and returns the signed request instead of sending it. */
async function signedBySdk(
  service: EmulatorService,
  send: (client: { send: (c: never) => Promise<unknown> }) => Promise<unknown>,
  credentials: { accessKeyId: string; secretAccessKey: string } = LOCAL_CREDENTIALS,
): Promise<{ wire: WireRequest; body: Buffer }> {
  const requestHandler = {
    handle: (request: CapturedRequest) => Promise.reject(new Captured(request)),
  };
  const common = { region: 'us-east-1', endpoint: ENDPOINT, credentials, requestHandler, maxAttempts: 1 };
  const client =
    service === 's3' ? new S3Client({ ...common, forcePathStyle: true }) : new DynamoDBClient(common);
  try {
    await send(client as never);
  } catch (err) {
    if (!(err instanceof Captured)) throw err;
    const body = err.request.body;
    return {
      wire: toWire(err.request),
      body:
        typeof body === 'string'
          ? Buffer.from(body)
          : body instanceof Uint8Array
            ? Buffer.from(body)
            : Buffer.alloc(0),
    };
  } finally {
    client.destroy();
  }
  throw new Error('the SDK sent nothing');
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const dynamo = { service: 'dynamodb', credentials: LOCAL_CREDENTIALS } as const;
const s3 = { service: 's3', credentials: LOCAL_CREDENTIALS } as const;
const getItem = (c: { send: (cmd: never) => Promise<unknown> }) =>
  c.send(new GetItemCommand({ TableName: 'AuditLog', Key: { pk: { S: 'm' }, sk: { S: 'v' } } }) as never);

describe('verifySignature', () => {
  it('accepts a DynamoDB request signed by the SDK with the local credentials', async () => {
    const { wire, body } = await signedBySdk('dynamodb', getItem);
    expect(verifySignature(wire, dynamo, sha256(body))).toBeUndefined();
  });

  it('accepts S3 requests with awkward keys and query strings, as the SDK signs them', async () => {
    const put = await signedBySdk('s3', (c) =>
      c.send(
        new PutObjectCommand({
          Bucket: 'modelops-local-registry',
          Key: "incoming/m 1/v+2/ü~!*()'.onnx",
          Body: 'x',
        }) as never,
      ),
    );
    expect(verifySignature(put.wire, s3)).toBeUndefined();
    const list = await signedBySdk('s3', (c) =>
      c.send(
        new ListObjectsV2Command({
          Bucket: 'modelops-local-registry',
          Prefix: 'incoming/a b=c&d/',
          Delimiter: '/',
          StartAfter: 'incoming/ä',
        }) as never,
      ),
    );
    expect(list.wire.url).toContain('?');
    expect(verifySignature(list.wire, s3)).toBeUndefined();
  });

  it('rejects a signature made with another secret', async () => {
    const { wire, body } = await signedBySdk('dynamodb', getItem, {
      accessKeyId: LOCAL_CREDENTIALS.accessKeyId,
      secretAccessKey: 'not-the-local-secret',
    });
    expect(verifySignature(wire, dynamo, sha256(body))?.reason).toBe('bad-signature');
  });

  it('rejects another access key id', async () => {
    const { wire, body } = await signedBySdk('dynamodb', getItem, {
      accessKeyId: 'AKIAEXAMPLE',
      secretAccessKey: LOCAL_CREDENTIALS.secretAccessKey,
    });
    expect(verifySignature(wire, dynamo, sha256(body))?.reason).toBe('unknown-key');
  });

  it('rejects a body, a signed header or a path changed after signing', async () => {
    const { wire, body } = await signedBySdk('dynamodb', getItem);
    const other = Buffer.from(body.toString().replace('"m"', '"n"'));
    expect(verifySignature(wire, dynamo, sha256(other))?.reason).toBe('bad-signature');
    const target = { ...wire, headers: { ...wire.headers, 'x-amz-target': 'DynamoDB_20120810.DeleteItem' } };
    expect(verifySignature(target, dynamo, sha256(body))?.reason).toBe('bad-signature');
    const put = await signedBySdk('s3', (c) =>
      c.send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: 'x' }) as never),
    );
    expect(verifySignature({ ...put.wire, url: '/b/other' }, s3)?.reason).toBe('bad-signature');
  });

  it('rejects a request dated more than 15 minutes away, either way', async () => {
    const { wire, body } = await signedBySdk('dynamodb', getItem);
    const at = (offsetMs: number) => ({ ...dynamo, now: () => Date.now() + offsetMs });
    expect(verifySignature(wire, at(14 * 60_000), sha256(body))).toBeUndefined();
    expect(verifySignature(wire, at(16 * 60_000), sha256(body))?.reason).toBe('skewed');
    expect(verifySignature(wire, at(-16 * 60_000), sha256(body))?.reason).toBe('skewed');
  });

  it('rejects unsigned requests, other schemes and presigned URLs', () => {
    const base = { method: 'POST', url: '/', headers: { host: '127.0.0.1:4567' } };
    expect(verifySignature(base, dynamo, sha256(Buffer.alloc(0)))?.reason).toBe('unsigned');
    const v2 = { ...base, headers: { ...base.headers, authorization: 'AWS S3RVER:abc' } };
    expect(verifySignature(v2, s3)?.reason).toBe('unsigned');
    const presigned = {
      method: 'GET',
      url: '/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=S3RVER%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=00',
      headers: { host: '127.0.0.1:4568' },
    };
    expect(verifySignature(presigned, s3)?.reason).toBe('presigned');
  });

  it('rejects a DynamoDB-scoped signature on the S3 front', async () => {
    const { wire } = await signedBySdk('dynamodb', getItem);
    expect(verifySignature(wire, s3)?.reason).toBe('malformed');
  });
});

describe('checkOrigin', () => {
  const req = (headers: Record<string, string>, method = 'POST') => ({
    method,
    url: '/',
    headers: { host: '127.0.0.1:4567', ...headers },
  });

  it('lets a loopback request without Origin through', () => {
    expect(checkOrigin(req({}))).toBeUndefined();
    expect(checkOrigin(req({ host: 'localhost:4568' }))).toBeUndefined();
  });

  it('rejects any Origin, Sec-Fetch-* header or preflight', () => {
    for (const r of [
      req({ origin: 'http://evil.example' }),
      req({ origin: 'null' }),
      req({ 'sec-fetch-mode': 'no-cors' }),
      req({}, 'OPTIONS'),
    ]) {
      expect(checkOrigin(r)).toMatchObject({
        status: 403,
        message: 'cross-origin requests are refused by local mode',
      });
    }
  });

  it('rejects a non-loopback Host (DNS rebinding)', () => {
    expect(checkOrigin(req({ host: 'evil.example:4567' }))?.reason).toBe('bad-host');
  });
});

describe('checkS3Names', () => {
  const put = (url: string, headers: Record<string, string> = {}) => ({ method: 'PUT', url, headers });

  it('lets ordinary keys through', () => {
    expect(checkS3Names(put('/bucket/incoming/m/1.0.0/model.onnx'))).toBeUndefined();
    expect(checkS3Names(put('/bucket/a..b/c%20d'))).toBeUndefined();
    expect(checkS3Names(put('/bucket/k?partNumber=1&uploadId=0123abcd'))).toBeUndefined();
  });

  it('rejects ".." and "." segments, raw or percent-encoded, and backslashes', () => {
    for (const url of [
      '/bucket/../outside',
      '/bucket/a/../../outside',
      '/bucket/%2e%2e/outside',
      '/bucket/%2E%2E%2Foutside',
      '/bucket/a%2f..%2f..%2foutside',
      '/bucket/..%5c..%5coutside',
      '/bucket/a\\b',
      '/../outside',
      '/bucket/./k',
      '/bucket/%zz',
    ]) {
      expect(checkS3Names(put(url)), url).toMatchObject({ status: 400, reason: 'traversal' });
    }
  });

  it('rejects a traversal in the copy source or the upload id', () => {
    expect(checkS3Names(put('/bucket/k', { 'x-amz-copy-source': '/bucket/..%2F..%2Fsecret' }))?.reason).toBe(
      'traversal',
    );
    expect(checkS3Names(put('/bucket/k?partNumber=1&uploadId=..%2F..%2Fx'))?.reason).toBe('traversal');
  });

  it('rejects a traversal among DeleteObjects keys, entity-encoded or not', () => {
    const body = (key: string) =>
      `<Delete><Object><Key>ok</Key></Object><Object><Key>${key}</Key></Object></Delete>`;
    expect(checkDeleteKeys(body('a/b.txt'))).toBeUndefined();
    expect(checkDeleteKeys(body('../../x'))?.reason).toBe('traversal');
    expect(checkDeleteKeys(body('&#46;&#46;/x'))?.reason).toBe('traversal');
  });
});
