/**
 * Where the CLI talks to: the local emulators (default), explicit endpoints, or a deployed stack whose
 * CloudFormation outputs name the bucket and tables.
 */
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import {
  AUDIT_LOG_TABLE,
  DEPLOYMENTS_TABLE,
  MODEL_VERSIONS_TABLE,
  MONITOR_STATE_TABLE,
} from '../lambdas/core/tables';
import { UsageError } from './errors';

/** Mirrors local/emulators.ts; duplicated as literals so the CLI does not load the emulator packages. */
export const LOCAL_DEFAULTS = {
  region: 'us-east-1',
  s3Endpoint: 'http://127.0.0.1:4568',
  dynamodbEndpoint: 'http://127.0.0.1:4567',
  bucket: 'modelops-local-registry',
  credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  tables: {
    [MODEL_VERSIONS_TABLE.envVar]: MODEL_VERSIONS_TABLE.id,
    [DEPLOYMENTS_TABLE.envVar]: DEPLOYMENTS_TABLE.id,
    [AUDIT_LOG_TABLE.envVar]: AUDIT_LOG_TABLE.id,
    [MONITOR_STATE_TABLE.envVar]: MONITOR_STATE_TABLE.id,
  },
} as const;

/** CloudFormation output keys the stack exports (lib/stacks). */
export const STACK_OUTPUTS = {
  bucket: 'RegistryBucketName',
  [MODEL_VERSIONS_TABLE.envVar]: 'ModelVersionsTableName',
  [DEPLOYMENTS_TABLE.envVar]: 'DeploymentsTableName',
  [AUDIT_LOG_TABLE.envVar]: 'AuditLogTableName',
  /** Optional: a stack deployed before the drift monitor has none, and only `status`'s drift section needs it. */
  [MONITOR_STATE_TABLE.envVar]: 'MonitorStateTableName',
} as const;

/** Target flags common to every command (see `addTargetOptions` in cli/index.ts for their help). */
export interface TargetOptions {
  readonly local?: boolean;
  readonly stack?: string;
  readonly endpointUrl?: string;
  readonly s3Endpoint?: string;
  readonly dynamodbEndpoint?: string;
  readonly region?: string;
  readonly bucket?: string;
  readonly modelVersionsTable?: string;
  readonly deploymentsTable?: string;
  readonly auditLogTable?: string;
  readonly monitorStateTable?: string;
}

export interface Target {
  readonly description: string;
  readonly region: string;
  readonly bucket: string;
  /**
   * Physical table names by env var name (`MODEL_VERSIONS_TABLE`, …). `MONITOR_STATE_TABLE` is absent for a stack
   * without its output.
   */
  readonly tables: Readonly<Record<string, string>>;
  readonly s3Endpoint?: string;
  readonly dynamodbEndpoint?: string;
  /** Static credentials for emulators; undefined = the default AWS credential chain. */
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
}

function checkUrl(flag: string, value: string): string {
  try {
    const url = new URL(value);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('protocol');
    return value.replace(/\/+$/, '');
  } catch {
    throw new UsageError(`${flag} "${value}" is not an http(s) URL; pass e.g. http://127.0.0.1:4568`);
  }
}

function tableOverrides(o: TargetOptions): Record<string, string> {
  const out: Record<string, string> = {};
  if (o.modelVersionsTable) out[MODEL_VERSIONS_TABLE.envVar] = o.modelVersionsTable;
  if (o.deploymentsTable) out[DEPLOYMENTS_TABLE.envVar] = o.deploymentsTable;
  if (o.auditLogTable) out[AUDIT_LOG_TABLE.envVar] = o.auditLogTable;
  if (o.monitorStateTable) out[MONITOR_STATE_TABLE.envVar] = o.monitorStateTable;
  return out;
}

/** A stack's CloudFormation outputs by key; a stack that cannot be read is bad usage naming the fix. */
export async function stackOutputs(
  stack: string,
  region: string | undefined,
): Promise<Record<string, string>> {
  const cfn = new CloudFormationClient(region ? { region } : {});
  try {
    const { Stacks } = await cfn.send(new DescribeStacksCommand({ StackName: stack }));
    const outputs: Record<string, string> = {};
    for (const o of Stacks?.[0]?.Outputs ?? []) {
      if (o.OutputKey && o.OutputValue) outputs[o.OutputKey] = o.OutputValue;
    }
    return outputs;
  } catch (err) {
    throw new UsageError(
      `--stack "${stack}": cannot read its outputs (${(err as Error).message}); check the name, region and credentials`,
    );
  } finally {
    cfn.destroy();
  }
}

/** CDK may prefix an output's logical id with its construct path; accept an exact or a prefixed-and-hashed key. */
function findOutput(outputs: Record<string, string>, name: string): string | undefined {
  if (outputs[name]) return outputs[name];
  const key = Object.keys(outputs).find((k) => k.includes(name));
  return key ? outputs[key] : undefined;
}

/** Resolves the flags into one target. Explicit flags win over what they refine; conflicting modes are refused. */
export async function resolveTarget(o: TargetOptions): Promise<Target> {
  const endpointFlags = [o.endpointUrl, o.s3Endpoint, o.dynamodbEndpoint].some((v) => v !== undefined);
  if (o.stack && o.local) throw new UsageError('--stack and --local exclude each other; pass one');
  if (o.stack && endpointFlags) {
    throw new UsageError(
      '--stack targets AWS; drop --endpoint-url/--s3-endpoint/--dynamodb-endpoint, or drop --stack',
    );
  }

  if (o.stack) {
    const outputs = await stackOutputs(o.stack, o.region);
    const bucket = o.bucket ?? findOutput(outputs, STACK_OUTPUTS.bucket);
    const tables: Record<string, string> = {};
    const missing: string[] = [];
    for (const def of [MODEL_VERSIONS_TABLE, DEPLOYMENTS_TABLE, AUDIT_LOG_TABLE]) {
      const outputName = STACK_OUTPUTS[def.envVar];
      const value = tableOverrides(o)[def.envVar] ?? findOutput(outputs, outputName);
      if (value) tables[def.envVar] = value;
      else missing.push(outputName);
    }
    const monitorState =
      tableOverrides(o)[MONITOR_STATE_TABLE.envVar] ??
      findOutput(outputs, STACK_OUTPUTS[MONITOR_STATE_TABLE.envVar]);
    if (monitorState) tables[MONITOR_STATE_TABLE.envVar] = monitorState;
    if (!bucket) missing.unshift(STACK_OUTPUTS.bucket);
    if (missing.length > 0) {
      throw new UsageError(
        `--stack "${o.stack}" has no output ${missing.join(', ')}; deploy the current stack or pass --bucket and the table flags`,
      );
    }
    return {
      description: `stack ${o.stack}`,
      region: o.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
      bucket: bucket!,
      tables,
    };
  }

  if (endpointFlags && !o.local) {
    const shared = o.endpointUrl ? checkUrl('--endpoint-url', o.endpointUrl) : undefined;
    const s3Endpoint = o.s3Endpoint ? checkUrl('--s3-endpoint', o.s3Endpoint) : shared;
    const dynamodbEndpoint = o.dynamodbEndpoint
      ? checkUrl('--dynamodb-endpoint', o.dynamodbEndpoint)
      : shared;
    const local = [s3Endpoint, dynamodbEndpoint].every(
      (u) => u && /^https?:\/\/(127\.0\.0\.1|localhost)[:/]/.test(`${u}/`),
    );
    return {
      description: `S3 ${s3Endpoint ?? '(AWS)'}, DynamoDB ${dynamodbEndpoint ?? '(AWS)'}`,
      region: o.region ?? process.env.AWS_REGION ?? LOCAL_DEFAULTS.region,
      bucket: o.bucket ?? LOCAL_DEFAULTS.bucket,
      tables: { ...LOCAL_DEFAULTS.tables, ...tableOverrides(o) },
      ...(s3Endpoint ? { s3Endpoint } : {}),
      ...(dynamodbEndpoint ? { dynamodbEndpoint } : {}),
      // Emulators on this machine accept the local dummy keys; anything else uses the normal credential chain.
      ...(local && !process.env.AWS_ACCESS_KEY_ID ? { credentials: LOCAL_DEFAULTS.credentials } : {}),
    };
  }

  // --local, or nothing given: the emulators `npm start` runs, at their default ports unless refined.
  const s3Endpoint = o.s3Endpoint ? checkUrl('--s3-endpoint', o.s3Endpoint) : LOCAL_DEFAULTS.s3Endpoint;
  const dynamodbEndpoint = o.dynamodbEndpoint
    ? checkUrl('--dynamodb-endpoint', o.dynamodbEndpoint)
    : LOCAL_DEFAULTS.dynamodbEndpoint;
  return {
    description: `local (S3 ${s3Endpoint}, DynamoDB ${dynamodbEndpoint})`,
    region: LOCAL_DEFAULTS.region,
    bucket: o.bucket ?? LOCAL_DEFAULTS.bucket,
    tables: { ...LOCAL_DEFAULTS.tables, ...tableOverrides(o) },
    s3Endpoint,
    dynamodbEndpoint,
    credentials: LOCAL_DEFAULTS.credentials,
  };
}

export function s3Client(t: Target): S3Client {
  return new S3Client({
    region: t.region,
    ...(t.s3Endpoint ? { endpoint: t.s3Endpoint, forcePathStyle: true } : {}),
    ...(t.credentials ? { credentials: t.credentials } : {}),
  });
}

export function dynamoClient(t: Target): DynamoDBClient {
  return new DynamoDBClient({
    region: t.region,
    ...(t.dynamodbEndpoint ? { endpoint: t.dynamodbEndpoint } : {}),
    ...(t.credentials ? { credentials: t.credentials } : {}),
  });
}
