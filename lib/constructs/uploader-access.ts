import { Aws, Stack, Validations } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { ArnPrincipal, CompositePrincipal, ManagedPolicy, PolicyStatement, Role } from 'aws-cdk-lib/aws-iam';
import type { CfnBucket } from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { PREFIX } from '../../lambdas/core/tables';
import { IAM_PRINCIPAL_ARN_PATTERN } from '../config';
import type { ArtifactRegistry } from './artifact-registry';
import { MetadataTables } from './metadata-tables';
import { ConstructPropsError } from './modelops-function';

export interface UploaderAccessProps {
  readonly registry: ArtifactRegistry;
  /**
   * Tables whose items an uploader may read to follow its release (`modelops status`): usually ModelVersions and
   * AuditLog. Read only (GetItem, Query, with the tables' GSIs); never Deployments, never a write.
   */
  readonly readableTables: readonly ITable[];
  /**
   * IAM principals (account root, role or user ARNs) allowed to assume an uploader role with the policy attached.
   * @default - no role: attach `policy` to existing users, groups or roles
   */
  readonly assumedBy?: readonly string[];
}

/**
 * What a data scientist (or the CI job) that pushes bundles needs, as one customer-managed policy: write objects
 * under `incoming/` only (`s3:PutObject`, `s3:AbortMultipartUpload`), list that prefix only, use the registry key only
 * through S3 for the upload, and read the release outcome in the ModelVersions and AuditLog tables. Nothing under
 * `models/` or `capture/` (the registry's bucket policy denies `models/` writes to everyone but RegisterVersion
 * anyway), no deletes, no other table.
 */
export class UploaderAccess extends Construct {
  /** Attach to the principals that run `modelops push --stack`. */
  public readonly policy: ManagedPolicy;
  /** Only when `assumedBy` is given. */
  public readonly role?: Role;

  constructor(scope: Construct, id: string, props: UploaderAccessProps) {
    super(scope, id);
    const { registry } = props;
    const bad = (props.assumedBy ?? []).find((arn) => !IAM_PRINCIPAL_ARN_PATTERN.test(arn));
    if (bad !== undefined) {
      throw new ConstructPropsError(
        `UploaderAccess: assumedBy entries must be IAM principal ARNs (arn:aws:iam::<account>:root|role/...|user/...), ` +
          `got ${JSON.stringify(bad)}`,
      );
    }
    if (props.assumedBy !== undefined && props.assumedBy.length === 0) {
      throw new ConstructPropsError('UploaderAccess: assumedBy must list at least one principal ARN, got []');
    }

    const incomingObjects = registry.bucket.arnForObjects(`${PREFIX.incoming}*`);
    const statements = [
      new PolicyStatement({
        sid: 'UploadIncoming',
        actions: ['s3:PutObject', 's3:AbortMultipartUpload'],
        resources: [incomingObjects],
      }),
      new PolicyStatement({
        sid: 'ListIncoming',
        actions: ['s3:ListBucket'],
        resources: [registry.bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${PREFIX.incoming}*`] } },
      }),
      new PolicyStatement({
        sid: 'EncryptUploadsViaS3',
        // Decrypt too: completing a multipart upload to an SSE-KMS bucket decrypts the part data keys.
        actions: ['kms:GenerateDataKey', 'kms:Encrypt', 'kms:Decrypt'],
        resources: [registry.key.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `s3.${Aws.REGION}.amazonaws.com` } },
      }),
    ];
    const tableResources: string[] = [];
    const tableKeys = new Set<string>();
    for (const table of props.readableTables) {
      tableResources.push(table.tableArn);
      for (const index of MetadataTables.definitionOf(table).globalSecondaryIndexes) {
        tableResources.push(`${table.tableArn}/index/${index.indexName}`);
      }
      if (table.encryptionKey) tableKeys.add(table.encryptionKey.keyArn);
    }
    if (tableResources.length > 0) {
      statements.push(
        new PolicyStatement({
          sid: 'ReadReleaseOutcome',
          actions: ['dynamodb:GetItem', 'dynamodb:Query'],
          resources: tableResources,
        }),
      );
    }
    if (tableKeys.size > 0) {
      statements.push(
        new PolicyStatement({
          sid: 'DecryptTablesViaDynamoDB',
          actions: ['kms:Decrypt'],
          resources: [...tableKeys],
          conditions: { StringEquals: { 'kms:ViaService': `dynamodb.${Aws.REGION}.amazonaws.com` } },
        }),
      );
    }
    this.policy = new ManagedPolicy(this, 'Policy', {
      description: 'modelops uploader: write incoming/ of the registry only, read release outcomes',
      statements,
    });
    const bucketId = Stack.of(this).getLogicalId(registry.bucket.node.defaultChild as CfnBucket);
    Validations.of(this.policy).acknowledge({
      id: `AwsSolutions::AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${PREFIX.incoming}*]`,
      reason:
        `Bundle keys under ${PREFIX.incoming} are chosen by the uploader (<model>/<version>/...), so the policy names ` +
        'the prefix with a trailing wildcard; it covers no other prefix of the bucket.',
    });

    if (props.assumedBy !== undefined) {
      const [first, ...rest] = props.assumedBy.map((arn) => new ArnPrincipal(arn));
      this.role = new Role(this, 'Role', {
        assumedBy: rest.length === 0 ? first! : new CompositePrincipal(first!, ...rest),
        description: 'modelops uploader: push bundles to incoming/ and follow their release',
      });
      // Attached from the policy side (its Roles list), like every other role of the stack.
      this.policy.attachToRole(this.role);
    }
  }
}
