/**
 * Starts the two wire-protocol emulators local mode runs on, in this process: dynalite (DynamoDB) and s3rver (S3).
 * The handlers reach them through their normal AWS SDK adapters pointed at these endpoints (DESIGN.md decision 4).
 *
 * Tables come from `TABLE_DEFINITIONS`, the same object the CDK construct builds from, so the laptop and the stack
 * share one key schema.
 *
 * Both run behind a verifying front (local/emulator-front.ts) installed on their own servers: only requests signed
 * with `LOCAL_CREDENTIALS`, from no browser origin, and (for S3) with keys that stay inside the data directory get in.
 */
import { mkdir, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import path from 'node:path';
import crypto from 'node:crypto';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceNotFoundException,
  type AttributeDefinition,
  type GlobalSecondaryIndex,
  type KeySchemaElement,
} from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import dynalite from 'dynalite';
import S3rver from 's3rver';
import type { Target } from '../cli/target';
import { TABLE_DEFINITIONS, type KeyAttribute, type TableDefinition } from '../lambdas/core/tables';
import { installFront } from './emulator-front';

/** The registry bucket local mode creates; the AWS CLI and `modelops push --local` upload into it. */
export const LOCAL_BUCKET = 'modelops-local-registry';
export const LOCAL_REGION = 'us-east-1';
/**
 * The only credentials local mode accepts: both emulators' fronts recompute each request's SigV4 signature with
 * this secret. They are public (documented), so they keep out web pages, not local users.
 */
export const LOCAL_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;
export const DEFAULT_DYNAMODB_PORT = 4567;
export const DEFAULT_S3_PORT = 4568;
/** Project-relative data directory (gitignored). */
export const DEFAULT_DATA_DIR = path.resolve(__dirname, '..', '.modelops');

export interface EmulatorOptions {
  /** Where both emulators keep their data. @default `<project>/.modelops` */
  readonly dataDir?: string;
  /** Wipe `dataDir` before starting. @default false */
  readonly fresh?: boolean;
  /** 0 picks any free port. @default 4567 */
  readonly dynamodbPort?: number;
  /** 0 picks any free port. @default 4568 */
  readonly s3Port?: number;
  /** @default LOCAL_BUCKET */
  readonly bucket?: string;
  /** Physical table name per table definition id. @default the definition id (`ModelVersions`, …) */
  readonly tableNames?: Readonly<Record<string, string>>;
  /**
   * Benchmarks only (bench/sigv4-front.bench.ts measures its cost): `false` leaves the emulators without the
   * verifying front, open to any web page. Local mode itself never sets it.
   * @default true
   */
  readonly verifyingFront?: boolean;
}

export interface Emulators {
  readonly dataDir: string;
  readonly region: string;
  readonly bucket: string;
  readonly s3Endpoint: string;
  readonly dynamodbEndpoint: string;
  /** Physical table name by environment variable (`MODEL_VERSIONS_TABLE` → `ModelVersions`). */
  readonly tables: Readonly<Record<string, string>>;
  /** The running s3rver, for its in-process `event` notifications (see local/watcher.ts). */
  readonly s3rver: S3rver;
  stop(): Promise<void>;
}

export class EmulatorStartError extends Error {
  override name = 'EmulatorStartError';
}

/**
 * s3rver encrypts paged-listing continuation tokens with DES, which OpenSSL 3 only offers with the legacy provider
 * (`--openssl-legacy-provider`). Without it a listing of more than 1000 keys fails; everything else works.
 */
export function legacyOpenSslAvailable(): boolean {
  try {
    crypto.createCipheriv('des', Buffer.alloc(8), Buffer.alloc(8));
    return true;
  } catch {
    return false;
  }
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(
        new EmulatorStartError(
          err.code === 'EADDRINUSE'
            ? `DynamoDB emulator: port ${port} is in use; pass --dynamodb-port <n> (0 = any free port) or stop the other process`
            : `DynamoDB emulator failed to listen on 127.0.0.1:${port}: ${err.message}`,
        ),
      );
    };
    server.once('error', onError);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', onError);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
}

function attributeDefinitions(def: TableDefinition): AttributeDefinition[] {
  const keys: KeyAttribute[] = [def.partitionKey];
  if (def.sortKey) keys.push(def.sortKey);
  for (const gsi of def.globalSecondaryIndexes) {
    keys.push(gsi.partitionKey);
    if (gsi.sortKey) keys.push(gsi.sortKey);
  }
  const byName = new Map(keys.map((k) => [k.name, k.type]));
  return [...byName].map(([AttributeName, AttributeType]) => ({ AttributeName, AttributeType }));
}

function keySchema(partitionKey: KeyAttribute, sortKey?: KeyAttribute): KeySchemaElement[] {
  const schema: KeySchemaElement[] = [{ AttributeName: partitionKey.name, KeyType: 'HASH' }];
  if (sortKey) schema.push({ AttributeName: sortKey.name, KeyType: 'RANGE' });
  return schema;
}

/**
 * dynalite marks a new table ACTIVE a timer tick after CreateTable answers; an item written before that gets
 * ResourceNotFoundException, so creation waits for ACTIVE.
 */
async function waitUntilActive(client: DynamoDBClient, TableName: string): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName }));
    if (Table?.TableStatus === 'ACTIVE') return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`table ${TableName} did not become ACTIVE`);
}

/** Creates each table unless it already exists (persisted data dirs keep their tables across restarts). */
export async function ensureTables(
  client: DynamoDBClient,
  names: Readonly<Record<string, string>>,
): Promise<void> {
  for (const def of TABLE_DEFINITIONS) {
    const TableName = names[def.envVar]!;
    try {
      await client.send(new DescribeTableCommand({ TableName }));
      continue;
    } catch (err) {
      if (!(err instanceof ResourceNotFoundException)) throw err;
    }
    const GlobalSecondaryIndexes: GlobalSecondaryIndex[] = def.globalSecondaryIndexes.map((gsi) => ({
      IndexName: gsi.indexName,
      KeySchema: keySchema(gsi.partitionKey, gsi.sortKey),
      Projection: { ProjectionType: 'ALL' },
    }));
    await client.send(
      new CreateTableCommand({
        TableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: attributeDefinitions(def),
        KeySchema: keySchema(def.partitionKey, def.sortKey),
        ...(GlobalSecondaryIndexes.length > 0 ? { GlobalSecondaryIndexes } : {}),
      }),
    );
    await waitUntilActive(client, TableName);
  }
}

/**
 * Starts dynalite and s3rver on 127.0.0.1, creates the bucket and the tables if absent.
 *
 * @example
 * const emu = await startEmulators({ dataDir: tmp, dynamodbPort: 0, s3Port: 0 });
 * // … emu.s3Endpoint, emu.dynamodbEndpoint …
 * await emu.stop();
 */
export async function startEmulators(options: EmulatorOptions = {}): Promise<Emulators> {
  const dataDir = path.resolve(options.dataDir ?? DEFAULT_DATA_DIR);
  const bucket = options.bucket ?? LOCAL_BUCKET;
  const dynamodbPort = options.dynamodbPort ?? DEFAULT_DYNAMODB_PORT;
  const s3Port = options.s3Port ?? DEFAULT_S3_PORT;
  for (const [flag, port] of [
    ['dynamodbPort', dynamodbPort],
    ['s3Port', s3Port],
  ] as const) {
    if (!Number.isInteger(port) || port < 0 || port > 65_535) {
      throw new EmulatorStartError(`${flag} must be a whole number 0-65535 (0 = any free port), got ${port}`);
    }
  }
  if (options.fresh) await rm(dataDir, { recursive: true, force: true });
  await mkdir(path.join(dataDir, 'dynamodb'), { recursive: true });
  await mkdir(path.join(dataDir, 's3'), { recursive: true });

  const dynamo = dynalite({
    path: path.join(dataDir, 'dynamodb'),
    createTableMs: 0,
    deleteTableMs: 0,
    updateTableMs: 0,
  });
  const front = options.verifyingFront ?? true;
  if (front) installFront(dynamo, { service: 'dynamodb', credentials: LOCAL_CREDENTIALS });
  const boundDynamoPort = await listen(dynamo, dynamodbPort);

  const s3rver = new S3rver({
    address: '127.0.0.1',
    port: s3Port,
    directory: path.join(dataDir, 's3'),
    silent: true,
    configureBuckets: [{ name: bucket }],
  });
  let boundS3Port: number;
  try {
    ({ port: boundS3Port } = await s3rver.run());
  } catch (err) {
    await closeServer(dynamo).catch(() => undefined);
    const code = (err as NodeJS.ErrnoException).code;
    throw new EmulatorStartError(
      code === 'EADDRINUSE'
        ? `S3 emulator: port ${s3Port} is in use; pass --s3-port <n> (0 = any free port) or stop the other process`
        : `S3 emulator failed to start: ${(err as Error).message}`,
    );
  }
  // s3rver creates its server inside run(). This continuation runs in the same tick as its listen callback, before
  // the event loop can accept a connection, so no request reaches s3rver's own listener unverified.
  if (front) {
    installFront((s3rver as unknown as { httpServer: Server }).httpServer, {
      service: 's3',
      credentials: LOCAL_CREDENTIALS,
    });
  }

  const tables: Record<string, string> = {};
  for (const def of TABLE_DEFINITIONS) tables[def.envVar] = options.tableNames?.[def.id] ?? def.id;

  const dynamodbEndpoint = `http://127.0.0.1:${boundDynamoPort}`;
  const s3Endpoint = `http://127.0.0.1:${boundS3Port}`;
  const client = new DynamoDBClient({
    region: LOCAL_REGION,
    endpoint: dynamodbEndpoint,
    credentials: LOCAL_CREDENTIALS,
  });
  try {
    await ensureTables(client, tables);
  } catch (err) {
    await Promise.allSettled([closeServer(dynamo), s3rver.close()]);
    throw new EmulatorStartError(`could not create the local tables: ${(err as Error).message}`);
  } finally {
    client.destroy();
  }

  let stopped: Promise<void> | undefined;
  return {
    dataDir,
    region: LOCAL_REGION,
    bucket,
    s3Endpoint,
    dynamodbEndpoint,
    tables,
    s3rver,
    stop() {
      // Idempotent: SIGINT and a test teardown may both ask.
      stopped ??= Promise.allSettled([s3rver.close(), closeServer(dynamo)]).then((results) => {
        const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed) throw failed.reason;
      });
      return stopped;
    },
  };
}

/** A `modelops` CLI target for these emulators, signed with the local credentials (tests, benches, measurements). */
export function emulatorTarget(emulators: Emulators, description: string): Target {
  return {
    description,
    region: emulators.region,
    bucket: emulators.bucket,
    tables: emulators.tables,
    s3Endpoint: emulators.s3Endpoint,
    dynamodbEndpoint: emulators.dynamodbEndpoint,
    credentials: LOCAL_CREDENTIALS,
  };
}

/** SDK clients for these emulators, signed with the local credentials (local mode's recovery, tests, benches). */
export function emulatorClients(emulators: Pick<Emulators, 'region' | 's3Endpoint' | 'dynamodbEndpoint'>): {
  readonly s3: S3Client;
  readonly dynamodb: DynamoDBClient;
} {
  return {
    // s3rver serves path-style requests only.
    s3: new S3Client({
      region: emulators.region,
      endpoint: emulators.s3Endpoint,
      forcePathStyle: true,
      credentials: LOCAL_CREDENTIALS,
    }),
    dynamodb: new DynamoDBClient({
      region: emulators.region,
      endpoint: emulators.dynamodbEndpoint,
      credentials: LOCAL_CREDENTIALS,
    }),
  };
}
