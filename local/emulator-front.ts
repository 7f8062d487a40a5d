/**
 * The verifying front local mode puts on both emulators, inside their own `http.Server`s (no unverified port is left
 * for a web page to reach). dynalite checks no signature at all and answers `Access-Control-Allow-Origin: *`; s3rver
 * accepts any SigV4 signature by a known key id, anonymous form POSTs, and keys with `..` that write outside its
 * directory. The front lets a request through only when:
 *
 * - it carries no `Origin` and no `Sec-Fetch-*` header (browsers send them; the AWS CLI and SDKs never do), is not an
 *   OPTIONS preflight, and names a loopback `Host` (a DNS-rebound page names its own host);
 * - it is signed with AWS SigV4 in the `Authorization` header by the local credentials: same key id, a request date
 *   within 15 minutes, and a signature recomputed here with the local secret (compared in constant time);
 * - for S3, no object key, copy source or upload id it names can climb out of the data directory.
 *
 * Presigned (query-string) URLs are refused: nothing in the project or its documented CLI steps uses them, and a
 * presigned URL is exactly the kind of request a web page can replay without a preflight.
 *
 * The local secret is public (it is in the README), so the signature alone does not keep a web page out — a page
 * can compute it too. What does is the browser side: a signed request needs the `Authorization` header, which forces
 * a CORS preflight the front refuses, and a browser marks every cross-origin write with `Origin`, which is refused.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type {
  IncomingHttpHeaders,
  IncomingMessage,
  RequestListener,
  Server,
  ServerResponse,
} from 'node:http';
import { PassThrough } from 'node:stream';

export type EmulatorService = 's3' | 'dynamodb';

export interface FrontOptions {
  readonly service: EmulatorService;
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** @default Date.now */
  readonly now?: () => number;
}

/** How far a request date may be from the front's clock, as in AWS. */
export const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;
/** dynalite's own request limit (and DynamoDB's): the most the front buffers to hash a DynamoDB body. */
export const MAX_DYNAMODB_BODY_BYTES = 16 * 1024 * 1024;
/** A DeleteObjects body (≤ 1000 keys of ≤ 1024 bytes) is buffered to check its keys; it never needs more. */
export const MAX_S3_DELETE_BODY_BYTES = 2 * 1024 * 1024;
export const CROSS_ORIGIN_MESSAGE = 'cross-origin requests are refused by local mode';

const ALGORITHM = 'AWS4-HMAC-SHA256';
/**
 * Payload hashes S3 accepts in place of the body's sha256. For the two STREAMING-*-HMAC forms each chunk carries a
 * signature chained from the header (seed) signature; the front verifies only the seed. That is enough here: the
 * seed proves the sender holds the local secret, the body goes only to the local data directory, and a browser can
 * never send a signed request at all (see the file comment), so a chunk forger would already hold the secret.
 */
const S3_UNHASHED_PAYLOADS = new Set([
  'UNSIGNED-PAYLOAD',
  'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
  'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
  'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
]);
const PRESIGNED_QUERY_PARAMS = [
  'x-amz-algorithm',
  'x-amz-signature',
  'x-amz-credential',
  'signature',
  'awsaccesskeyid',
];
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Why a request was refused, in the terms of the emulated service's own errors. */
export interface Refusal {
  readonly status: 400 | 403;
  readonly reason:
    | 'cross-origin'
    | 'unsigned'
    | 'presigned'
    | 'unknown-key'
    | 'malformed'
    | 'skewed'
    | 'bad-signature'
    | 'traversal'
    | 'bad-host';
  readonly message: string;
}

const refuse = (reason: Refusal['reason'], message: string, status: Refusal['status'] = 403): Refusal => ({
  status,
  reason,
  message,
});

/** The parts of an HTTP request SigV4 signs, as they arrived on the wire. */
export interface WireRequest {
  readonly method: string;
  /** Request target as sent: raw (still percent-encoded) path and query. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
}

/** RFC 3986 unreserved characters stay, everything else is %XX (what SigV4 calls UriEncode). */
function uriEncode(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

function safeDecode(value: string): string | undefined {
  try {
    return decodeURIComponent(value);
  } catch {
    return undefined;
  }
}

function splitTarget(url: string): { path: string; query: string } {
  const q = url.indexOf('?');
  return q < 0 ? { path: url, query: '' } : { path: url.slice(0, q), query: url.slice(q + 1) };
}

/** Decoded query parameters in wire order; undefined if one is not valid percent-encoding. */
function queryPairs(query: string): [string, string][] | undefined {
  const pairs: [string, string][] = [];
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = safeDecode(eq < 0 ? part : part.slice(0, eq));
    const value = safeDecode(eq < 0 ? '' : part.slice(eq + 1));
    if (key === undefined || value === undefined) return undefined;
    pairs.push([key, value]);
  }
  return pairs;
}

function canonicalQuery(pairs: readonly [string, string][]): string {
  return pairs
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort(([ka, va], [kb, vb]) => (ka < kb ? -1 : ka > kb ? 1 : va < vb ? -1 : va > vb ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

/**
 * S3 signs the path exactly as sent; every other service signs it normalised and encoded once more (SigV4's
 * "double encoding"), as the SDKs' signer does.
 */
function canonicalPath(service: EmulatorService, path: string): string {
  if (service === 's3') return path;
  const segments: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const normalized = `/${segments.join('/')}${segments.length > 0 && path.endsWith('/') ? '/' : ''}`;
  return uriEncode(normalized).replace(/%2F/g, '/');
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  if (value === undefined) return undefined;
  return (Array.isArray(value) ? value.join(',') : value).replace(/\s+/g, ' ').trim();
}

const sha256Hex = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();

const signingKeys = new Map<string, Buffer>();

/** The derived key changes once a day per region and service; four HMACs saved on every other request. */
function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  const id = `${secret}\n${date}\n${region}\n${service}`;
  let key = signingKeys.get(id);
  if (!key) {
    key = hmac(`AWS4${secret}`, date);
    for (const part of [region, service, 'aws4_request']) key = hmac(key, part);
    if (signingKeys.size >= 16) signingKeys.clear();
    signingKeys.set(id, key);
  }
  return key;
}

/** `YYYYMMDDTHHMMSSZ` → epoch ms, or undefined. */
function parseAmzDate(value: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return undefined;
  const ms = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  return Number.isNaN(ms) ? undefined : ms;
}

/** Refusals that need no signature work: browsers, preflights, foreign hosts, presigned URLs. */
export function checkOrigin(request: WireRequest): Refusal | undefined {
  const fromBrowser =
    request.headers.origin !== undefined ||
    Object.keys(request.headers).some((h) => h.startsWith('sec-fetch-'));
  if (fromBrowser || request.method === 'OPTIONS') return refuse('cross-origin', CROSS_ORIGIN_MESSAGE);
  const host = (request.headers.host ?? '').replace(/:\d+$/, '').toLowerCase();
  if (!LOOPBACK_HOSTS.has(host)) {
    return refuse('bad-host', `local mode answers only requests for 127.0.0.1 or localhost, not "${host}"`);
  }
  return undefined;
}

/**
 * Verifies the SigV4 `Authorization` header of a request by recomputing its signature with the local secret.
 * `payloadHash` is the hex sha256 of the body for DynamoDB; for S3 it is omitted and the signed
 * `x-amz-content-sha256` header is used, as S3 does.
 *
 * @example
 * const refusal = verifySignature({ method, url, headers }, { service: 'dynamodb', credentials }, sha256Hex(body));
 * if (refusal) // answer refusal.status
 */
export function verifySignature(
  request: WireRequest,
  options: FrontOptions,
  payloadHash?: string,
): Refusal | undefined {
  const { path, query } = splitTarget(request.url);
  const pairs = queryPairs(query);
  if (!path.startsWith('/') || pairs === undefined) {
    return refuse('malformed', 'the request target is not a valid path and query', 400);
  }
  if (pairs.some(([k]) => PRESIGNED_QUERY_PARAMS.includes(k.toLowerCase()))) {
    return refuse(
      'presigned',
      'presigned (query-string) URLs are refused by local mode; sign the Authorization header',
    );
  }
  const authorization = request.headers.authorization;
  if (!authorization)
    return refuse('unsigned', 'the request is not signed; local mode needs SigV4 by the local credentials');
  if (!authorization.startsWith(`${ALGORITHM} `)) {
    return refuse('unsigned', `only ${ALGORITHM} signatures are accepted by local mode`);
  }
  const fields = new Map<string, string>();
  for (const part of authorization.slice(ALGORITHM.length).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const credential = fields.get('Credential')?.split('/') ?? [];
  const signedHeaders = fields.get('SignedHeaders')?.split(';') ?? [];
  const signature = fields.get('Signature') ?? '';
  if (credential.length !== 5 || credential[4] !== 'aws4_request' || !/^[0-9a-f]{64}$/.test(signature)) {
    return refuse('malformed', 'the Authorization header is not a well-formed SigV4 signature');
  }
  const [accessKeyId, scopeDate, region, service] = credential as [string, string, string, string, string];
  if (accessKeyId !== options.credentials.accessKeyId) {
    return refuse('unknown-key', 'the access key id is not the local one (LOCAL_CREDENTIALS)');
  }
  if (service !== options.service) {
    return refuse(
      'malformed',
      `the signature is scoped to "${service}", this endpoint is ${options.service}`,
    );
  }
  const amzDate = headerValue(request.headers, 'x-amz-date') ?? '';
  const signedAt = parseAmzDate(amzDate);
  if (signedAt === undefined || !amzDate.startsWith(scopeDate) || !signedHeaders.includes('x-amz-date')) {
    return refuse('malformed', 'the request needs a signed x-amz-date matching the credential scope');
  }
  if (Math.abs((options.now ?? Date.now)() - signedAt) > MAX_CLOCK_SKEW_MS) {
    return refuse('skewed', 'the request time is more than 15 minutes from the local clock');
  }
  if (!signedHeaders.includes('host')) return refuse('malformed', 'the host header must be signed');
  let hashedPayload = payloadHash;
  if (options.service === 's3') {
    const declared = headerValue(request.headers, 'x-amz-content-sha256') ?? '';
    if (!signedHeaders.includes('x-amz-content-sha256')) {
      return refuse('malformed', 'S3 requests must sign x-amz-content-sha256');
    }
    if (!S3_UNHASHED_PAYLOADS.has(declared) && !/^[0-9a-f]{64}$/.test(declared)) {
      return refuse('malformed', 'x-amz-content-sha256 is neither a sha256 nor a known payload mode');
    }
    hashedPayload = declared;
  }
  const canonicalHeaders: string[] = [];
  for (const name of signedHeaders) {
    const value = headerValue(request.headers, name);
    if (value === undefined) return refuse('bad-signature', `the signed header "${name}" is missing`);
    canonicalHeaders.push(`${name}:${value}\n`);
  }
  const canonicalRequest = [
    request.method,
    canonicalPath(options.service, path),
    canonicalQuery(pairs),
    canonicalHeaders.join(''),
    signedHeaders.join(';'),
    hashedPayload ?? sha256Hex(''),
  ].join('\n');
  const scope = `${scopeDate}/${region}/${service}/aws4_request`;
  const stringToSign = [ALGORITHM, amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  const key = signingKey(options.credentials.secretAccessKey, scopeDate, region, service);
  const expected = createHmac('sha256', key).update(stringToSign).digest();
  if (!timingSafeEqual(expected, Buffer.from(signature, 'hex'))) {
    return refuse('bad-signature', 'the signature does not match one made with the local secret');
  }
  return undefined;
}

function dotDotOrBackslash(value: string): boolean {
  return (
    value.includes('\\') || value.includes('\0') || value.split('/').some((s) => s === '..' || s === '.')
  );
}

/**
 * Refuses an S3 request whose path (bucket and key), copy source or upload id could make s3rver's file store
 * `path.join` its way out of the data directory. The path is checked decoded, the way s3rver's router sees it, so
 * `%2e%2e` and `%5c` are caught too.
 */
export function checkS3Names(request: WireRequest): Refusal | undefined {
  const { path, query } = splitTarget(request.url);
  const traversal = refuse(
    'traversal',
    'object keys with "." or ".." segments or backslashes are refused',
    400,
  );
  const decodedPath = safeDecode(path);
  if (decodedPath === undefined || dotDotOrBackslash(decodedPath.slice(1))) return traversal;
  const copySource = headerValue(request.headers, 'x-amz-copy-source');
  if (copySource !== undefined) {
    const decoded = safeDecode(copySource.split('?')[0]!);
    if (decoded === undefined || dotDotOrBackslash(decoded.replace(/^\//, ''))) return traversal;
  }
  for (const [k, v] of queryPairs(query) ?? []) {
    // s3rver makes upload ids of 32 hex digits and joins them into a file path.
    if (k === 'uploadId' && !/^[0-9a-f]{1,64}$/.test(v)) return traversal;
  }
  return undefined;
}

const XML_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function xmlText(value: string): string {
  return value.replace(/&(#x[0-9a-fA-F]+|#\d+|\w+);/g, (entity, name: string) =>
    name.startsWith('#x')
      ? String.fromCodePoint(parseInt(name.slice(2), 16))
      : name.startsWith('#')
        ? String.fromCodePoint(parseInt(name.slice(1), 10))
        : (XML_ENTITIES[name] ?? entity),
  );
}

/** Keys named in a DeleteObjects body, checked like path keys. */
export function checkDeleteKeys(body: string): Refusal | undefined {
  for (const m of body.matchAll(/<Key>([^<]*)<\/Key>/g)) {
    if (dotDotOrBackslash(xmlText(m[1]!))) {
      return refuse('traversal', 'object keys with "." or ".." segments or backslashes are refused', 400);
    }
  }
  return undefined;
}

const xmlEscape = (s: string) => s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);

const S3_CODES: Record<Refusal['reason'], string> = {
  'cross-origin': 'AccessDenied',
  'bad-host': 'AccessDenied',
  unsigned: 'AccessDenied',
  presigned: 'AccessDenied',
  malformed: 'AccessDenied',
  'unknown-key': 'InvalidAccessKeyId',
  skewed: 'RequestTimeTooSkewed',
  'bad-signature': 'SignatureDoesNotMatch',
  traversal: 'InvalidArgument',
};

const DYNAMODB_TYPES: Record<Refusal['reason'], string> = {
  'cross-origin': 'AccessDeniedException',
  'bad-host': 'AccessDeniedException',
  unsigned: 'MissingAuthenticationTokenException',
  presigned: 'UnrecognizedClientException',
  malformed: 'UnrecognizedClientException',
  'unknown-key': 'UnrecognizedClientException',
  skewed: 'InvalidSignatureException',
  'bad-signature': 'InvalidSignatureException',
  traversal: 'ValidationException',
};

/** Answers a refusal as the emulated service would, and without any CORS header. */
export function sendRefusal(
  service: EmulatorService,
  req: IncomingMessage,
  res: ServerResponse,
  refusal: Refusal,
): void {
  const requestId = createHash('sha1').update(`${Date.now()}${Math.random()}`).digest('hex').slice(0, 16);
  const body =
    service === 's3'
      ? `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${S3_CODES[refusal.reason]}</Code>` +
        `<Message>${xmlEscape(refusal.message)}</Message><RequestId>${requestId}</RequestId></Error>`
      : JSON.stringify({
          __type: `com.amazon.coral.service#${DYNAMODB_TYPES[refusal.reason]}`,
          message: refusal.message,
        });
  res.statusCode = refusal.status;
  res.setHeader('Content-Type', service === 's3' ? 'application/xml' : 'application/x-amz-json-1.0');
  res.setHeader(service === 's3' ? 'x-amz-request-id' : 'x-amzn-RequestId', requestId);
  // The request body (if any) is not read; close the connection so it is not parsed as the next request.
  res.setHeader('Connection', 'close');
  res.end(req.method === 'HEAD' ? undefined : body);
  req.resume();
}

/** Reads at most `limit` bytes of a body; undefined when it is larger. */
function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(size > limit ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * A stand-in for an already-read request: the same method, url, headers and socket, with the buffered body to read
 * again. The emulators only read `req` as a stream and look at those properties.
 */
function replay(req: IncomingMessage, body: Buffer): IncomingMessage {
  const copy = new PassThrough();
  Object.assign(copy, {
    method: req.method,
    url: req.url,
    headers: req.headers,
    rawHeaders: req.rawHeaders,
    trailers: req.trailers,
    rawTrailers: req.rawTrailers,
    httpVersion: req.httpVersion,
    httpVersionMajor: req.httpVersionMajor,
    httpVersionMinor: req.httpVersionMinor,
    socket: req.socket,
    connection: req.socket,
    complete: true,
    aborted: false,
  });
  copy.end(body);
  return copy as unknown as IncomingMessage;
}

/** Keeps any Access-Control-* header an emulator would add (dynalite adds `Allow-Origin: *`) off the response. */
function withoutCors(res: ServerResponse): ServerResponse {
  const setHeader = res.setHeader.bind(res);
  res.setHeader = (name, value) => (/^access-control-/i.test(name) ? res : setHeader(name, value));
  return res;
}

/**
 * The verifying request listener in front of an emulator's own listeners. `expectsContinue` is set for a request
 * that sent `Expect: 100-continue` (large S3 uploads do): the front answers 100 only once the headers pass, so a
 * refused upload is never sent.
 */
export function emulatorFront(
  options: FrontOptions,
  inner: RequestListener,
): (req: IncomingMessage, res: ServerResponse, expectsContinue?: boolean) => void {
  const { service } = options;
  return (req, res, expectsContinue = false) => {
    const wire: WireRequest = { method: req.method ?? 'GET', url: req.url ?? '', headers: req.headers };
    const pass = (request: IncomingMessage) => inner(request, withoutCors(res));
    const early = checkOrigin(wire);
    if (early) return sendRefusal(service, req, res, early);
    if (service === 's3') {
      const refusal = verifySignature(wire, options) ?? checkS3Names(wire);
      if (refusal) return sendRefusal(service, req, res, refusal);
      if (expectsContinue) res.writeContinue();
      const isDelete =
        wire.method === 'POST' &&
        (queryPairs(splitTarget(wire.url).query) ?? []).some(([k]) => k === 'delete');
      // S3 bodies are never buffered (uploads stream to disk); only a DeleteObjects list of keys is read first.
      if (!isDelete) return pass(req);
      readBody(req, MAX_S3_DELETE_BODY_BYTES).then(
        (body) => {
          const bad =
            body === undefined
              ? refuse('malformed', 'DeleteObjects body too large', 400)
              : checkDeleteKeys(body.toString('utf8'));
          if (bad) return sendRefusal(service, req, res, bad);
          pass(replay(req, body!));
        },
        () => res.destroy(),
      );
      return;
    }
    // DynamoDB signs the sha256 of its JSON body: buffer it (bounded), verify, then hand dynalite a replay.
    if (expectsContinue) res.writeContinue();
    readBody(req, MAX_DYNAMODB_BODY_BYTES).then(
      (body) => {
        if (body === undefined) {
          return sendRefusal(service, req, res, refuse('malformed', 'request body larger than 16 MiB', 400));
        }
        const refusal = verifySignature(wire, options, sha256Hex(body));
        if (refusal) return sendRefusal(service, req, res, refusal);
        pass(replay(req, body));
      },
      () => res.destroy(),
    );
  };
}

/**
 * Moves every `request` listener the emulator put on its server behind one verifying listener. Call it before the
 * server accepts a connection (or, for a server already listening, in the same tick as `listen` resolved).
 */
export function installFront(server: Server, options: FrontOptions): void {
  const listeners = server.listeners('request') as RequestListener[];
  if (listeners.length === 0)
    throw new Error(`${options.service} emulator: no request listener to put a front on`);
  server.removeAllListeners('request');
  const front = emulatorFront(options, (req, res) => {
    for (const listener of listeners) listener.call(server, req, res);
  });
  server.on('request', (req, res) => front(req, res));
  // Without this listener Node answers 100 Continue itself, before any check; neither emulator registers one.
  server.removeAllListeners('checkContinue');
  server.on('checkContinue', (req, res) => front(req, res, true));
}
