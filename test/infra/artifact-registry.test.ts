import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AccountRootPrincipal, Role } from 'aws-cdk-lib/aws-iam';
import { describe, expect, it } from 'vitest';
import { ArtifactRegistry, MODELS_PROTECTED_ACTIONS } from '../../lib/constructs/artifact-registry';

const props = { noncurrentVersionExpirationDays: 60, incomingExpirationDays: 7, accessLogDays: 90 };

// GIVEN a registry and one role per grant helper
const stack = new Stack(new App(), 'RegistryTest');
const registry = new ArtifactRegistry(stack, 'Registry', props);
const roles = {
  upload: new Role(stack, 'Uploader', { assumedBy: new AccountRootPrincipal() }),
  readIncoming: new Role(stack, 'IncomingReader', { assumedBy: new AccountRootPrincipal() }),
  readModels: new Role(stack, 'ModelReader', { assumedBy: new AccountRootPrincipal() }),
  publish: new Role(stack, 'Publisher', { assumedBy: new AccountRootPrincipal() }),
};
registry.grantUploadIncoming(roles.upload);
registry.grantReadIncoming(roles.readIncoming);
registry.grantReadModels(roles.readModels);
registry.grantPublishModels(roles.publish);
registry.restrictModelsWritesTo(roles.publish);
const template = Template.fromStack(stack);
const bucketId = stack.getLogicalId(registry.bucket.node.defaultChild as never);
const logsBucketId = stack.getLogicalId(registry.accessLogsBucket.node.defaultChild as never);
const keyId = stack.getLogicalId(registry.key.node.defaultChild as never);
const publisherId = stack.getLogicalId(roles.publish.node.defaultChild as never);

function statementsOf(role: Role): unknown[] {
  const roleId = stack.getLogicalId(role.node.defaultChild as never);
  const policies = template.findResources('AWS::IAM::Policy', {
    Properties: { Roles: Match.arrayWith([{ Ref: roleId }]) },
  });
  return Object.values(policies).flatMap(
    (p) =>
      (p as { Properties: { PolicyDocument: { Statement: unknown[] } } }).Properties.PolicyDocument.Statement,
  );
}

describe('ArtifactRegistry', () => {
  it('encrypts the registry with a rotating customer-managed key and a bucket key', () => {
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    template.hasResourceProperties('AWS::S3::Bucket', {
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [
          {
            BucketKeyEnabled: true,
            ServerSideEncryptionByDefault: {
              SSEAlgorithm: 'aws:kms',
              KMSMasterKeyID: { 'Fn::GetAtt': [keyId, 'Arn'] },
            },
          },
        ],
      },
    });
  });

  it('versions, blocks public access, logs access and sends events to EventBridge', () => {
    const registryBucket = template.toJSON().Resources[bucketId];
    expect(registryBucket.Properties).toMatchObject({
      VersioningConfiguration: { Status: 'Enabled' },
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      LoggingConfiguration: { DestinationBucketName: { Ref: logsBucketId } },
      NotificationConfiguration: { EventBridgeConfiguration: { EventBridgeEnabled: true } },
    });
  });

  it('creates no BucketNotifications custom resource or helper function', () => {
    expect(template.findResources('Custom::S3BucketNotifications')).toEqual({});
    expect(template.findResources('AWS::Lambda::Function')).toEqual({});
  });

  it('expires noncurrent versions, unreleased uploads and incomplete multipart uploads', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: {
        Rules: Match.arrayWith([
          Match.objectLike({
            NoncurrentVersionExpiration: { NoncurrentDays: 60 },
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 },
            Status: 'Enabled',
          }),
          Match.objectLike({ Prefix: 'incoming/', ExpirationInDays: 7, Status: 'Enabled' }),
          Match.objectLike({ Prefix: 'capture/', ExpirationInDays: 90, Status: 'Enabled' }),
        ]),
      },
    });
  });

  it('denies non-TLS requests on both buckets', () => {
    for (const id of [bucketId, logsBucketId]) {
      template.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: id },
        PolicyDocument: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Effect: 'Deny',
              Action: 's3:*',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          ]),
        },
      });
    }
  });

  it('keeps access logs in a private, SSE-S3, versioned bucket that expires them', () => {
    expect(template.toJSON().Resources[logsBucketId].Properties).toMatchObject({
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      VersioningConfiguration: { Status: 'Enabled' },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, RestrictPublicBuckets: true },
      LifecycleConfiguration: { Rules: [expect.objectContaining({ ExpirationInDays: 90 })] },
    });
    // Log delivery through the bucket policy, limited to the registry bucket as source.
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: logsBucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: 'logging.s3.amazonaws.com' },
            Action: 's3:PutObject',
            Condition: Match.objectLike({
              ArnLike: { 'aws:SourceArn': { 'Fn::GetAtt': [bucketId, 'Arn'] } },
            }),
          }),
        ]),
      },
    });
  });

  it('retains buckets and key on stack deletion', () => {
    for (const id of [bucketId, logsBucketId, keyId]) {
      expect(template.toJSON().Resources[id]).toMatchObject({
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
      });
    }
  });

  it('grants upload only as PutObject under incoming/', () => {
    const s3 = statementsOf(roles.upload).filter((s) => JSON.stringify(s).includes('s3:'));
    expect(s3).toEqual([
      {
        Effect: 'Allow',
        Action: 's3:PutObject',
        Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/incoming/*']] },
      },
    ]);
    expect(statementsOf(roles.upload)).toContainEqual(
      expect.objectContaining({
        Action: ['kms:Encrypt', 'kms:GenerateDataKey', 'kms:Decrypt'],
        Resource: { 'Fn::GetAtt': [keyId, 'Arn'] },
      }),
    );
  });

  it('grants model readers GetObject under models/ only, with decrypt', () => {
    const statements = statementsOf(roles.readModels);
    expect(statements).toContainEqual({
      Effect: 'Allow',
      Action: 's3:GetObject',
      Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/models/*']] },
    });
    expect(JSON.stringify(statements)).not.toMatch(/incoming|PutObject|kms:Encrypt/);
  });

  it('grants incoming readers GetObject and a prefix-limited ListBucket, nothing writable', () => {
    const statements = statementsOf(roles.readIncoming);
    expect(statements).toContainEqual({
      Effect: 'Allow',
      Action: 's3:ListBucket',
      Resource: { 'Fn::GetAtt': [bucketId, 'Arn'] },
      Condition: { StringLike: { 's3:prefix': ['incoming/*'] } },
    });
    expect(JSON.stringify(statements)).not.toMatch(/PutObject|models\/|kms:Encrypt/);
  });

  it('grants publishers PutObject/GetObject under models/ and ListBucket limited to models/', () => {
    const statements = statementsOf(roles.publish);
    expect(statements).toContainEqual({
      Effect: 'Allow',
      Action: ['s3:PutObject', 's3:GetObject', 's3:PutObjectRetention'],
      Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/models/*']] },
    });
    // Locks are set, never shortened or lifted, not even by the publisher.
    expect(JSON.stringify(statements)).not.toMatch(/BypassGovernanceRetention|PutObjectLegalHold|Delete/);
    expect(statements).toContainEqual({
      Effect: 'Allow',
      Action: 's3:ListBucket',
      Resource: { 'Fn::GetAtt': [bucketId, 'Arn'] },
      Condition: { StringLike: { 's3:prefix': ['models/*'] } },
    });
    expect(JSON.stringify(statements)).not.toContain('incoming/');
  });

  it('enables Object Lock with no bucket default retention, so incoming/ and capture/ still expire', () => {
    const props = template.toJSON().Resources[bucketId].Properties;
    expect(props.ObjectLockEnabled).toBe(true);
    // No Rule: a default retention would lock every prefix (see the comment in ArtifactRegistry).
    expect(props.ObjectLockConfiguration).toEqual({ ObjectLockEnabled: 'Enabled' });
    expect(registry.objectLock).toEqual({ mode: 'GOVERNANCE', days: 365 });
    // The access-log bucket must not have Object Lock: S3 refuses it as a server access log target.
    expect(template.toJSON().Resources[logsBucketId].Properties.ObjectLockEnabled).toBeUndefined();
  });

  it('denies writes and deletes under models/ to every principal but the publisher role', () => {
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: bucketId },
      PolicyDocument: {
        Statement: Match.arrayWith([
          {
            Sid: 'DenyModelsWritesExceptPublisher',
            Effect: 'Deny',
            Principal: { AWS: '*' },
            Action: [...MODELS_PROTECTED_ACTIONS],
            Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/models/*']] },
            Condition: { ArnNotEquals: { 'aws:PrincipalArn': { 'Fn::GetAtt': [publisherId, 'Arn'] } } },
          },
        ]),
      },
    });
    expect(MODELS_PROTECTED_ACTIONS).toEqual(
      expect.arrayContaining([
        's3:PutObject',
        's3:DeleteObject',
        's3:DeleteObjectVersion',
        's3:PutObjectRetention',
        's3:BypassGovernanceRetention',
        's3:PutObjectLegalHold',
      ]),
    );
  });

  it('refuses a second models/ writer', () => {
    expect(() => registry.restrictModelsWritesTo(roles.upload)).toThrow(
      /already restricted to RegistryTest\/Publisher; refusing a second writer RegistryTest\/Uploader/,
    );
    // The same role again is a no-op.
    expect(() => registry.restrictModelsWritesTo(roles.publish)).not.toThrow();
  });

  it('rejects an out-of-range Object Lock retention with the prop name and value', () => {
    const s = new Stack(new App(), 'BadLock');
    expect(
      () => new ArtifactRegistry(s, 'Registry', { ...props, objectLock: { mode: 'GOVERNANCE', days: 0 } }),
    ).toThrow(/objectLock.days must be a whole number of days between 1 and 36500, got 0/);
    expect(
      () =>
        new ArtifactRegistry(new Stack(new App(), 'BadMode'), 'Registry', {
          ...props,
          objectLock: { mode: 'LEGAL' as never, days: 30 },
        }),
    ).toThrow(/objectLock.mode must be "GOVERNANCE" or "COMPLIANCE", got "LEGAL"/);
  });

  it('rejects a non-positive retention with the prop name and value', () => {
    const s = new Stack(new App(), 'Bad');
    expect(() => new ArtifactRegistry(s, 'Registry', { ...props, incomingExpirationDays: 0 })).toThrow(
      /incomingExpirationDays must be a whole number of days >= 1, got 0/,
    );
  });
});
