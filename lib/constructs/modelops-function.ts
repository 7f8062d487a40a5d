import * as path from 'node:path';
import { Aws, Duration, RemovalPolicy, Token, Validations } from 'aws-cdk-lib';
import { ManagedPolicy, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { AddToPrincipalPolicyResult, Grant, IGrantable, RoleProps } from 'aws-cdk-lib/aws-iam';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { AUDIT_LOG_TABLE } from '../../lambdas/core/tables';
import { ConstructPropsError } from './construct-props-error';
import { MetadataTables } from './metadata-tables';
import { OnnxRuntimeLayer } from './onnx-runtime-layer';

/** Repository root: esbuild's project root and where package-lock.json lives. */
export const PROJECT_ROOT = path.resolve(__dirname, '..', '..');

/** Absolute path of `lambdas/<fn>/handler.ts`, the `entry` of a project function. */
export function handlerEntry(fn: string): string {
  return path.join(PROJECT_ROOT, 'lambdas', fn, 'handler.ts');
}

// Constructs import it from here; it lives in its own module so that MetadataTables can use it without a cycle.
export { ConstructPropsError };

/**
 * A role whose statements all land in one customer-managed policy instead of an inline `DefaultPolicy`.
 * Every L2 grant (`grant*`, tracing, state machine logging, event targets) goes through `addToPrincipalPolicy`, so
 * no statement can bypass it. Reason: NIST 800-53 (IAMNoInlinePolicy) wants no inline policies, and a managed policy
 * is also visible and reusable in the IAM console.
 */
export class ManagedPolicyRole extends Role {
  /** The customer-managed policy holding every statement granted to this role. */
  public readonly policy: ManagedPolicy;

  constructor(scope: Construct, id: string, props: RoleProps) {
    super(scope, id, props);
    this.policy = new ManagedPolicy(this, 'Policy', { roles: [this] });
  }

  override addToPrincipalPolicy(statement: PolicyStatement): AddToPrincipalPolicyResult {
    this.policy.addStatements(statement);
    return { statementAdded: true, policyDependable: this.policy };
  }
}

/**
 * DynamoDB access levels. Each is an explicit action list; none includes `DeleteItem`, and only `update`, `patch` and
 * `count` include `UpdateItem`, which the AuditLog refuses (it is append-only, DESIGN.md decision 7).
 */
export const TABLE_ACCESS_ACTIONS = {
  /** Point reads and queries (also on the table's GSIs). */
  read: ['dynamodb:GetItem', 'dynamodb:Query'],
  /** Read an item, then replace it with one conditional `PutItem`. */
  write: ['dynamodb:GetItem', 'dynamodb:PutItem'],
  /** Conditional `PutItem` of new items only: the audit ledger. */
  append: ['dynamodb:PutItem'],
  /** Atomic counters and in-place changes (`ADD`, `SET`) for later issues. */
  update: ['dynamodb:GetItem', 'dynamodb:Query', 'dynamodb:PutItem', 'dynamodb:UpdateItem'],
  /**
   * Point reads, and conditional `UpdateItem` of attributes of existing items (a version's approval request and
   * stage): no replacement of a whole item, no queries.
   */
  patch: ['dynamodb:GetItem', 'dynamodb:UpdateItem'],
  /** Atomic `ADD` to counters only (the inference path's drift counters): no reads, no replacement. */
  count: ['dynamodb:UpdateItem'],
} as const satisfies Record<string, readonly string[]>;
export type TableAccess = keyof typeof TABLE_ACCESS_ACTIONS;

/** Bucket helpers (e.g. `ArtifactRegistry.grantReadIncoming`) implement this shape so `bindBucket` can call them. */
export type BucketGrant = (grantee: IGrantable) => Grant;

export interface ModelOpsFunctionProps {
  /** Handler source file, absolute (`handlerEntry(fn)`). */
  readonly entry: string;
  /** Powertools service name (`POWERTOOLS_SERVICE_NAME`), e.g. `validate-artifact`. */
  readonly serviceName: string;
  /** Powertools metrics namespace (`POWERTOOLS_METRICS_NAMESPACE`), usually the project name. */
  readonly metricsNamespace: string;
  /** CloudWatch Logs retention of the function's log group. */
  readonly logRetention: RetentionDays;
  /**
   * KMS key encrypting the function's log group. Its key policy must allow the CloudWatch Logs service principal.
   * @default - log group encrypted with the CloudWatch Logs service key
   */
  readonly logEncryptionKey?: IKey;
  /**
   * Memory in MB (128–10240).
   * @default 256
   */
  readonly memorySize?: number;
  /**
   * Timeout (at most 15 minutes).
   * @default Duration.seconds(30)
   */
  readonly timeout?: Duration;
  /**
   * Reserved concurrency: caps the function and guarantees it that much of the account's concurrency.
   * @default - no reservation (shares the account's unreserved pool)
   */
  readonly reservedConcurrentExecutions?: number;
  /**
   * Powertools log level (`POWERTOOLS_LOG_LEVEL`).
   * @default 'INFO'
   */
  readonly logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  /**
   * Extra environment variables; `bindTable`/`addEnvironment` add more later.
   * @default - only the Powertools and Node variables
   */
  readonly environment?: Readonly<Record<string, string>>;
  /**
   * Attach the stack's ONNX Runtime layer and keep `onnxruntime-node` out of the bundle (its native binaries cannot
   * be bundled by esbuild).
   * @default false
   */
  readonly onnxRuntime?: boolean;
  /**
   * Description shown in the Lambda console.
   * @default - none
   */
  readonly description?: string;
}

/**
 * The project's one Lambda function construct: Node 22 on x86_64, esbuild bundle (minified, source maps, AWS SDK
 * bundled so the code runs against the SDK version it was tested with), its own retained log group, X-Ray tracing,
 * Powertools environment, and a role with no managed AWS policies whose permissions come only from the typed
 * `bind*` helpers (explicit action lists, no wildcards).
 *
 * @example
 * const fn = new ModelOpsFunction(this, 'RegisterVersion', { entry, serviceName: 'register-version', ... });
 * fn.bindTable(tables.auditLog, 'append');
 * fn.bindBucket((g) => registry.grantPublishModels(g));
 */
export class ModelOpsFunction extends Construct {
  public readonly function: NodejsFunction;
  public readonly role: ManagedPolicyRole;
  public readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: ModelOpsFunctionProps) {
    super(scope, id);
    const memorySize = props.memorySize ?? 256;
    const timeout = props.timeout ?? Duration.seconds(30);
    validateProps(props, memorySize, timeout);

    this.logGroup = new LogGroup(this, 'LogGroup', {
      retention: props.logRetention,
      encryptionKey: props.logEncryptionKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // No AWSLambdaBasicExecutionRole: its logs statement covers every log group in the account.
    this.role = new ManagedPolicyRole(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${props.serviceName}`,
    });
    this.role.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'WriteOwnLogGroup',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        // The log group ARN ends in `:*`, which covers its log streams and nothing else.
        resources: [this.logGroup.logGroupArn],
      }),
    );

    this.function = new NodejsFunction(this, 'Function', {
      entry: props.entry,
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
      handler: 'handler',
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.X86_64,
      memorySize,
      timeout,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      description: props.description,
      role: this.role,
      logGroup: this.logGroup,
      tracing: Tracing.ACTIVE,
      layers: props.onnxRuntime ? [OnnxRuntimeLayer.of(this, Architecture.X86_64).layer] : undefined,
      environment: {
        POWERTOOLS_SERVICE_NAME: props.serviceName,
        POWERTOOLS_METRICS_NAMESPACE: props.metricsNamespace,
        POWERTOOLS_LOG_LEVEL: props.logLevel ?? 'INFO',
        NODE_OPTIONS: '--enable-source-maps',
        ...props.environment,
      },
      bundling: {
        format: OutputFormat.CJS,
        minify: true,
        sourceMap: true,
        // Source contents would double the bundle; stack traces only need file and line.
        sourcesContent: false,
        target: 'node22',
        // Prefer packages' ES module builds: esbuild can then drop unused AWS SDK code (inference bundle 804 → 554
        // KiB, module load 83 → 51 ms), which is most of a cold start's JavaScript cost.
        mainFields: ['module', 'main'],
        bundleAwsSDK: true,
        externalModules: props.onnxRuntime ? ['onnxruntime-node'] : [],
      },
    });

    Validations.of(this.role).acknowledge({
      id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
      reason:
        'Only the X-Ray statement (xray:PutTraceSegments, xray:PutTelemetryRecords) uses Resource "*": X-Ray does ' +
        'not support resource-level permissions for these actions. Every other statement names its resources.',
    });
    Validations.of(this.function).acknowledge(
      {
        id: 'AwsSolutions::AwsSolutions-L1',
        reason:
          'The project pins Node.js 22 (DESIGN.md): the handlers, the esbuild target and the onnxruntime-node native ' +
          'binding are built and tested against it. Moving to a newer runtime is a deliberate, tested upgrade.',
      },
      {
        id: 'NIST.800.53.R5::NIST.800.53.R5-LambdaInsideVPC',
        reason:
          'The functions reach only AWS APIs (S3, DynamoDB, CloudWatch) over TLS with IAM authorization and hold no ' +
          'network-reachable resources; a VPC would add NAT or VPC endpoints without narrowing access.',
      },
    );
  }

  /** Sets an environment variable on the function. */
  addEnvironment(name: string, value: string): this {
    this.function.addEnvironment(name, value);
    return this;
  }

  /**
   * Grants `access` on a table created by `MetadataTables` and sets its environment variable (`envVar` from
   * `lambdas/core/tables.ts`).
   * Refuses anything but `read`/`append` on the AuditLog, which no role may update or delete.
   */
  bindTable(table: ITable, access: TableAccess): this {
    const definition = MetadataTables.definitionOf(table);
    if (definition.id === AUDIT_LOG_TABLE.id && access !== 'read' && access !== 'append') {
      throw new ConstructPropsError(
        `bindTable: the ${AUDIT_LOG_TABLE.id} table is append-only; access must be "read" or "append", got "${access}"`,
      );
    }
    this.function.addEnvironment(definition.envVar, table.tableName);
    const resources = [table.tableArn];
    if (access === 'read' || access === 'update') {
      for (const index of definition.globalSecondaryIndexes) {
        resources.push(`${table.tableArn}/index/${index.indexName}`);
      }
    }
    this.role.addToPrincipalPolicy(
      new PolicyStatement({ actions: [...TABLE_ACCESS_ACTIONS[access]], resources }),
    );
    if (table.encryptionKey) {
      const writes = access !== 'read';
      this.role.addToPrincipalPolicy(
        new PolicyStatement({
          actions: writes ? ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey'] : ['kms:Decrypt'],
          resources: [table.encryptionKey.keyArn],
          // Usable only through DynamoDB, never to decrypt arbitrary data directly.
          conditions: { StringEquals: { 'kms:ViaService': `dynamodb.${Aws.REGION}.amazonaws.com` } },
        }),
      );
    }
    return this;
  }

  /**
   * Applies a bucket grant helper to this function's role, e.g.
   * `fn.bindBucket((g) => registry.grantReadIncoming(g))`.
   */
  bindBucket(...grants: BucketGrant[]): this {
    for (const grant of grants) grant(this.role);
    return this;
  }
}

function validateProps(props: ModelOpsFunctionProps, memorySize: number, timeout: Duration): void {
  if (
    !Token.isUnresolved(memorySize) &&
    (!Number.isInteger(memorySize) || memorySize < 128 || memorySize > 10_240)
  ) {
    throw new ConstructPropsError(
      `ModelOpsFunction: memorySize must be a whole number of MB between 128 and 10240, got ${memorySize}`,
    );
  }
  if (!timeout.isUnresolved() && (timeout.toSeconds() < 1 || timeout.toSeconds() > 900)) {
    throw new ConstructPropsError(
      `ModelOpsFunction: timeout must be between 1 second and 15 minutes, got ${timeout.toHumanString()}`,
    );
  }
  const reserved = props.reservedConcurrentExecutions;
  if (
    reserved !== undefined &&
    !Token.isUnresolved(reserved) &&
    (!Number.isInteger(reserved) || reserved < 0)
  ) {
    throw new ConstructPropsError(
      `ModelOpsFunction: reservedConcurrentExecutions must be a whole number >= 0, got ${reserved}`,
    );
  }
  if (!path.isAbsolute(props.entry)) {
    throw new ConstructPropsError(
      `ModelOpsFunction: entry must be an absolute path (resolve it from PROJECT_ROOT), got "${props.entry}"`,
    );
  }
  if (props.serviceName.trim() === '') {
    throw new ConstructPropsError('ModelOpsFunction: serviceName must not be empty, got ""');
  }
}
