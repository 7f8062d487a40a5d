import { Aws, Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import { AnyPrincipal, Effect, Grant, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { IGrantable, IRole } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import type { CfnBucket } from 'aws-cdk-lib/aws-s3';
import { S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY } from 'aws-cdk-lib/cx-api';
import { Construct } from 'constructs';
import { MODEL_NAME_PATTERN } from '../../lambdas/core/manifest';
import { PREFIX } from '../../lambdas/core/tables';
import { DEFAULT_OBJECT_LOCK, OBJECT_LOCK_MODES } from '../config';
import type { ObjectLockConfig } from '../config';
import { ConstructPropsError } from './modelops-function';

export interface ArtifactRegistryProps {
  /** Overwritten or deleted object versions are kept this many days (`config.registry`). */
  readonly noncurrentVersionExpirationDays: number;
  /** Objects under `incoming/` that were never released are deleted after this many days (`config.registry`). */
  readonly incomingExpirationDays: number;
  /** Server access logs are kept this many days (`config.retention.accessLogDays`). */
  readonly accessLogDays: number;
  /**
   * Captured inference payloads under `capture/` are deleted after this many days (`config.registry`).
   * @default 90
   */
  readonly captureExpirationDays?: number;
  /**
   * Incomplete multipart uploads are aborted after this many days.
   * @default 7
   */
  readonly abortIncompleteMultipartUploadDays?: number;
  /**
   * Object Lock retention that RegisterVersion applies to each object it writes under `models/`
   * (`config.registry.objectLock`). Object Lock itself is always enabled on the bucket.
   * @default DEFAULT_OBJECT_LOCK (GOVERNANCE, 365 days)
   */
  readonly objectLock?: ObjectLockConfig;
}

/**
 * Every object-level action that writes, deletes or changes the protection of an object: denied under `models/` to
 * everyone but the publisher (`restrictModelsWritesTo`). `s3:PutObject` also covers CopyObject and multipart uploads.
 */
export const MODELS_PROTECTED_ACTIONS = [
  's3:PutObject',
  's3:PutObjectAcl',
  's3:PutObjectVersionAcl',
  's3:PutObjectTagging',
  's3:PutObjectVersionTagging',
  's3:DeleteObject',
  's3:DeleteObjectVersion',
  's3:DeleteObjectTagging',
  's3:DeleteObjectVersionTagging',
  's3:PutObjectRetention',
  's3:PutObjectLegalHold',
  's3:BypassGovernanceRetention',
  's3:RestoreObject',
] as const;

const KMS_WRITE_ACTIONS = ['kms:Encrypt', 'kms:GenerateDataKey', 'kms:Decrypt'];
const KMS_READ_ACTIONS = ['kms:Decrypt'];

/**
 * The S3 model registry: `incoming/<model>/<version>/` receives uploads (EventBridge starts the release), and
 * `models/<name>/<version>/<sha256>.onnx` holds immutable registered versions. SSE-KMS with a customer-managed key
 * (rotation on, bucket key to cut KMS calls), versioning, TLS only, no public access, server access logs to a
 * separate bucket, lifecycle rules; both buckets and the key are retained on stack deletion.
 *
 * Registered versions are WORM: the bucket has S3 Object Lock enabled, RegisterVersion locks each object it writes
 * under `models/` (`objectLock`), and `restrictModelsWritesTo` denies every other principal writes and deletes there.
 *
 * Grants are per prefix and add only the KMS actions the S3 calls need, usable only through S3.
 */
export class ArtifactRegistry extends Construct {
  public readonly bucket: Bucket;
  public readonly key: Key;
  public readonly accessLogsBucket: Bucket;
  /** Retention RegisterVersion applies to each registered version (mode and days). */
  public readonly objectLock: ObjectLockConfig;
  private modelsWriter?: IRole;

  constructor(scope: Construct, id: string, props: ArtifactRegistryProps) {
    super(scope, id);
    // Deliver access logs via a bucket policy (logging.s3.amazonaws.com) instead of the legacy LogDeliveryWrite
    // ACL, which is incompatible with BucketOwnerEnforced. Set here so the construct does not depend on cdk.json.
    this.node.setContext(S3_SERVER_ACCESS_LOGS_USE_BUCKET_POLICY, true);
    const abortDays = props.abortIncompleteMultipartUploadDays ?? 7;
    const captureDays = props.captureExpirationDays ?? 90;
    this.objectLock = props.objectLock ?? DEFAULT_OBJECT_LOCK;
    if (!(OBJECT_LOCK_MODES as readonly string[]).includes(this.objectLock.mode)) {
      throw new ConstructPropsError(
        `ArtifactRegistry: objectLock.mode must be "GOVERNANCE" or "COMPLIANCE", got ${JSON.stringify(this.objectLock.mode)}`,
      );
    }
    const lockDays = this.objectLock.days;
    if (!Token.isUnresolved(lockDays) && (!Number.isInteger(lockDays) || lockDays < 1 || lockDays > 36_500)) {
      throw new ConstructPropsError(
        `ArtifactRegistry: objectLock.days must be a whole number of days between 1 and 36500, got ${lockDays}`,
      );
    }
    for (const [name, value] of Object.entries({
      noncurrentVersionExpirationDays: props.noncurrentVersionExpirationDays,
      incomingExpirationDays: props.incomingExpirationDays,
      accessLogDays: props.accessLogDays,
      captureExpirationDays: captureDays,
      abortIncompleteMultipartUploadDays: abortDays,
    })) {
      if (!Token.isUnresolved(value) && (!Number.isInteger(value) || value < 1)) {
        throw new ConstructPropsError(
          `ArtifactRegistry: ${name} must be a whole number of days >= 1, got ${value}`,
        );
      }
    }

    this.key = new Key(this, 'Key', {
      description: 'modelops artifact registry',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // S3 server access logging delivers only to buckets encrypted with S3-managed keys (SSE-S3).
    this.accessLogsBucket = new Bucket(this, 'AccessLogs', {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        {
          id: 'ExpireAccessLogs',
          expiration: Duration.days(props.accessLogDays),
          noncurrentVersionExpiration: Duration.days(1),
          abortIncompleteMultipartUploadAfter: Duration.days(abortDays),
        },
      ],
    });

    this.bucket = new Bucket(this, 'Bucket', {
      encryption: BucketEncryption.KMS,
      encryptionKey: this.key,
      bucketKeyEnabled: true,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      enforceSSL: true,
      versioned: true,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'registry/',
      removalPolicy: RemovalPolicy.RETAIN,
      // Object Lock on, but deliberately NO bucket default retention (`objectLockDefaultRetention`): a default
      // applies to every new object version in the bucket, prefixes included, so uploads under incoming/ and
      // captured payloads under capture/ would be locked too. Their expiration rules below would then only add
      // delete markers while the locked versions (capture/ holds request data) stayed for the whole retention.
      // Instead RegisterVersion sets ObjectLockMode + ObjectLockRetainUntilDate on each object it copies into
      // models/ (s3:PutObjectRetention, `grantPublishModels`), so only registered versions are locked.
      objectLockEnabled: true,
      lifecycleRules: [
        {
          id: 'ExpireNoncurrentVersions',
          noncurrentVersionExpiration: Duration.days(props.noncurrentVersionExpirationDays),
          abortIncompleteMultipartUploadAfter: Duration.days(abortDays),
        },
        {
          id: 'ExpireUnreleasedUploads',
          prefix: PREFIX.incoming,
          expiration: Duration.days(props.incomingExpirationDays),
        },
        {
          // Captured requests are raw (if pii-stripped) inputs: keep them only as long as analysis needs them.
          id: 'ExpireCapturedPayloads',
          prefix: PREFIX.capture,
          expiration: Duration.days(captureDays),
        },
      ],
    });
    // EventBridge notifications set on the CloudFormation resource itself. The L2 `eventBridgeEnabled` prop would
    // instead deploy CDK's BucketNotifications singleton function (AWS-managed policy, inline policy) to do the same.
    // Do not call `bucket.addEventNotification`: it would bring that function back and overwrite this setting.
    const cfnBucket = this.bucket.node.defaultChild as CfnBucket;
    cfnBucket.notificationConfiguration = { eventBridgeConfiguration: { eventBridgeEnabled: true } };
    // The nested configuration (no rule = no default retention) as well as the top-level flag: S3 can enable Object
    // Lock on an existing versioned bucket (PutObjectLockConfiguration), and CloudFormation documents this property as
    // updatable without interruption. See docs/config.md ("Upgrading an existing stack") before deploying over a
    // registry created without Object Lock.
    cfnBucket.objectLockConfiguration = { objectLockEnabled: 'Enabled' };

    Validations.of(this.bucket).acknowledge({
      id: 'NIST.800.53.R5::NIST.800.53.R5-S3BucketReplicationEnabled',
      reason:
        'Registered models are immutable, content-addressed and versioned in one region; the metadata ledger ' +
        'references them by key. Cross-region replication (a second bucket, key and region) is a disaster-recovery ' +
        'decision for the deployer, not a default of this stack.',
    });
    Validations.of(this.accessLogsBucket).acknowledge(
      {
        id: 'NIST.800.53.R5::NIST.800.53.R5-S3BucketReplicationEnabled',
        reason:
          'Server access logs of one regional registry bucket; replicating the log bucket adds no recovery value.',
      },
      {
        id: 'NIST.800.53.R5::NIST.800.53.R5-S3DefaultEncryptionKMS',
        reason:
          'S3 server access log delivery supports only SSE-S3 on the target bucket; the bucket is SSE-S3 encrypted, ' +
          'TLS-only, versioned and private.',
      },
    );
  }

  /**
   * The cdk-nag finding id of a per-prefix object ARN (`<bucket>/incoming/*`) in a grantee's policy. The wildcard
   * covers object keys unknown at deploy time and is confined to one prefix.
   */
  private acknowledgePrefixWildcard(grantee: IGrantable, prefix: string): void {
    const principal = grantee.grantPrincipal;
    if (!Construct.isConstruct(principal)) return;
    const logicalId = Stack.of(this).getLogicalId(this.bucket.node.defaultChild as CfnBucket);
    Validations.of(principal).acknowledge({
      id: `AwsSolutions::AwsSolutions-IAM5[Resource::<${logicalId}.Arn>/${prefix}*]`,
      reason:
        `Object keys under ${prefix} are chosen at run time (${prefix.startsWith(PREFIX.capture) ? '<date>/...' : '<model>/<version>/...'}), so the grant names the prefix ` +
        'with a trailing wildcard; it covers no other prefix of the bucket.',
    });
  }

  /** `s3:PutObject` under `incoming/` only (the CLI's push), plus the KMS actions an SSE-KMS (multipart) upload needs. */
  grantUploadIncoming(grantee: IGrantable): Grant {
    return this.grantObjects(grantee, ['s3:PutObject'], PREFIX.incoming, KMS_WRITE_ACTIONS);
  }

  /**
   * `s3:GetObject` under `incoming/`, and `s3:ListBucket` limited to that prefix so a missing key answers 404, not
   * 403.
   */
  grantReadIncoming(grantee: IGrantable): Grant {
    const grant = this.grantObjects(grantee, ['s3:GetObject'], PREFIX.incoming, KMS_READ_ACTIONS);
    return grant.combine(this.grantList(grantee, PREFIX.incoming));
  }

  /** `s3:GetObject` under `models/` only: what inference functions need. */
  grantReadModels(grantee: IGrantable): Grant {
    return this.grantObjects(grantee, ['s3:GetObject'], PREFIX.models, KMS_READ_ACTIONS);
  }

  /**
   * `s3:PutObject` under `capture/<model>/` only: an inference function's sampled request/response capture. Each
   * model's function can write its own capture prefix and nothing else (not `models/`, not another model's capture).
   */
  grantWriteCapture(grantee: IGrantable, model: string): Grant {
    if (!Token.isUnresolved(model) && !MODEL_NAME_PATTERN.test(model)) {
      throw new ConstructPropsError(
        `ArtifactRegistry.grantWriteCapture: model must be a model name (a-z, 0-9, "-"), got ${JSON.stringify(model)}`,
      );
    }
    return this.grantObjects(grantee, ['s3:PutObject'], `${PREFIX.capture}${model}/`, KMS_WRITE_ACTIONS);
  }

  /**
   * Writes registered versions: `s3:PutObject` and `s3:GetObject` under `models/` (copy target, existence check),
   * `s3:PutObjectRetention` (a copy that carries `ObjectLockMode`/`ObjectLockRetainUntilDate` needs it), and
   * `s3:ListBucket` limited to `models/` so a `HeadObject` on a missing key answers 404 rather than 403. Never
   * `s3:BypassGovernanceRetention`: not even the publisher can shorten a lock.
   */
  grantPublishModels(grantee: IGrantable): Grant {
    const grant = this.grantObjects(
      grantee,
      ['s3:PutObject', 's3:GetObject', 's3:PutObjectRetention'],
      PREFIX.models,
      KMS_WRITE_ACTIONS,
    );
    return grant.combine(this.grantList(grantee, PREFIX.models));
  }

  /**
   * Makes `role` the only principal that can write under `models/`: a bucket policy statement denies
   * `MODELS_PROTECTED_ACTIONS` on `models/*` to every principal whose `aws:PrincipalArn` is not the role's ARN
   * (for an assumed-role session that key is the role ARN, so the function's sessions match).
   *
   * The deny includes account administrators and the deploying principal, on purpose: a registered version is
   * referenced by the ledger and served by hash, so nobody may overwrite, delete, unlock or re-tag it out of band
   * (an explicit deny beats any Allow, `s3:BypassGovernanceRetention` included). The policy does not deny
   * `s3:PutBucketPolicy`, so an administrator can still lift the restriction — visibly, by changing the bucket
   * policy (a CloudFormation deployment or a CloudTrail-logged API call), never silently. Lifecycle expiration is not
   * subject to bucket policies and still removes noncurrent versions once their lock has expired.
   *
   * Call once; a second call with another role is refused (the deny must name exactly one writer).
   */
  restrictModelsWritesTo(role: IRole): void {
    if (this.modelsWriter !== undefined) {
      if (this.modelsWriter === role) return;
      throw new ConstructPropsError(
        `ArtifactRegistry.restrictModelsWritesTo: models/ writes are already restricted to ${this.modelsWriter.node.path}; ` +
          `refusing a second writer ${role.node.path}`,
      );
    }
    this.modelsWriter = role;
    this.bucket.addToResourcePolicy(
      new PolicyStatement({
        sid: 'DenyModelsWritesExceptPublisher',
        effect: Effect.DENY,
        principals: [new AnyPrincipal()],
        actions: [...MODELS_PROTECTED_ACTIONS],
        resources: [this.bucket.arnForObjects(`${PREFIX.models}*`)],
        conditions: { ArnNotEquals: { 'aws:PrincipalArn': role.roleArn } },
      }),
    );
  }

  private grantObjects(grantee: IGrantable, actions: string[], prefix: string, kmsActions: string[]): Grant {
    this.acknowledgePrefixWildcard(grantee, prefix);
    const objects = Grant.addToPrincipal({
      grantee,
      actions,
      resourceArns: [this.bucket.arnForObjects(`${prefix}*`)],
    });
    const key = Grant.addToPrincipal({
      grantee,
      actions: kmsActions,
      resourceArns: [this.key.keyArn],
      // Only through S3: the key cannot be used to decrypt arbitrary data directly.
      conditions: { StringEquals: { 'kms:ViaService': `s3.${Aws.REGION}.amazonaws.com` } },
    });
    return objects.combine(key);
  }

  private grantList(grantee: IGrantable, prefix: string): Grant {
    return Grant.addToPrincipal({
      grantee,
      actions: ['s3:ListBucket'],
      resourceArns: [this.bucket.bucketArn],
      conditions: { StringLike: { 's3:prefix': [`${prefix}*`] } },
    });
  }
}
