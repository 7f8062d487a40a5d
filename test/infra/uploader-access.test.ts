import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { App, Stack } from 'aws-cdk-lib';
import { ArtifactRegistry } from '../../lib/constructs/artifact-registry';
import { MetadataTables } from '../../lib/constructs/metadata-tables';
import { UploaderAccess } from '../../lib/constructs/uploader-access';
import { OPTIONAL_STACK_OUTPUTS, STACK_OUTPUTS } from '../../lib/stacks/modelops-stack';
import { asArray, logicalIdOf, synthApp, TEST_CONFIG } from './helpers';
import type { PolicyStatementJson, SynthResult } from './helpers';

const ROLE_PRINCIPALS = ['arn:aws:iam::123456789012:role/ci-push', 'arn:aws:iam::123456789012:user/alice'];

let withRole: SynthResult;
let withoutRole: SynthResult;
beforeAll(() => {
  withRole = synthApp({
    ...TEST_CONFIG,
    registry: { ...TEST_CONFIG.registry, uploaderRole: { principalArns: ROLE_PRINCIPALS } },
  });
  withoutRole = synthApp();
});
afterAll(() => {
  withRole.cleanup();
  withoutRole.cleanup();
});

function uploaderStatements(synth: SynthResult): PolicyStatementJson[] {
  const id = logicalIdOf(synth.template, 'AWS::IAM::ManagedPolicy', 'UploaderPolicy');
  const policy = synth.template.toJSON().Resources[id] as {
    Properties: { PolicyDocument: { Statement: PolicyStatementJson[] } };
  };
  return [...policy.Properties.PolicyDocument.Statement];
}

describe('UploaderAccess', () => {
  it('writes only under incoming/ and lists only that prefix', () => {
    const bucketId = logicalIdOf(withoutRole.template, 'AWS::S3::Bucket', 'RegistryBucket');
    const statements = uploaderStatements(withoutRole);
    const s3 = statements.filter((s) => asArray(s.Action).some((a) => a.startsWith('s3:')));
    expect(s3).toEqual([
      {
        Sid: 'UploadIncoming',
        Effect: 'Allow',
        Action: ['s3:PutObject', 's3:AbortMultipartUpload'],
        Resource: { 'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, '/incoming/*']] },
      },
      {
        Sid: 'ListIncoming',
        Effect: 'Allow',
        Action: 's3:ListBucket',
        Resource: { 'Fn::GetAtt': [bucketId, 'Arn'] },
        Condition: { StringLike: { 's3:prefix': ['incoming/*'] } },
      },
    ]);
    expect(JSON.stringify(statements)).not.toMatch(/models\/|capture\/|Delete|GetObject/);
  });

  it('uses the registry key only through S3 and the table key only through DynamoDB', () => {
    const kms = uploaderStatements(withoutRole).filter((s) =>
      asArray(s.Action).some((a) => a.startsWith('kms:')),
    );
    expect(kms).toHaveLength(2);
    const services = kms.map((s) => JSON.stringify(s.Condition));
    expect(services[0]).toContain('["s3.",');
    expect(services[1]).toContain('["dynamodb.",');
    expect(asArray(kms[1]?.Action)).toEqual(['kms:Decrypt']);
  });

  it('reads ModelVersions and AuditLog only, with GetItem and Query', () => {
    const dynamo = uploaderStatements(withoutRole).filter((s) =>
      asArray(s.Action).some((a) => a.startsWith('dynamodb:')),
    );
    expect(dynamo).toHaveLength(1);
    expect(dynamo[0]?.Action).toEqual(['dynamodb:GetItem', 'dynamodb:Query']);
    const resources = JSON.stringify(dynamo[0]?.Resource);
    expect(resources).toContain('TablesModelVersions');
    expect(resources).toContain('TablesAuditLog');
    expect(resources).not.toContain('TablesDeployments');
  });

  it('exports the policy ARN always, and the role ARN only when a role is configured', () => {
    const outputs = (s: SynthResult) => Object.keys(s.template.toJSON().Outputs as Record<string, unknown>);
    expect(outputs(withoutRole)).toEqual(
      expect.arrayContaining([STACK_OUTPUTS.uploaderPolicyArn, STACK_OUTPUTS.modelSigningKeyArn]),
    );
    expect(outputs(withoutRole)).not.toContain(OPTIONAL_STACK_OUTPUTS.uploaderRoleArn);
    expect(outputs(withRole)).toContain(OPTIONAL_STACK_OUTPUTS.uploaderRoleArn);
    const roles = (s: SynthResult) => Object.keys(s.template.findResources('AWS::IAM::Role')).length;
    expect(roles(withRole)).toBe(roles(withoutRole) + 1);
  });

  it('creates a role the configured principals may assume, with the policy attached from the policy side', () => {
    const roleId = logicalIdOf(withRole.template, 'AWS::IAM::Role', 'UploaderRole');
    const role = withRole.template.toJSON().Resources[roleId] as { Properties: Record<string, unknown> };
    const trust = (role.Properties.AssumeRolePolicyDocument as { Statement: PolicyStatementJson[] })
      .Statement;
    expect(trust).toEqual(
      ROLE_PRINCIPALS.map((arn) => ({ Effect: 'Allow', Action: 'sts:AssumeRole', Principal: { AWS: arn } })),
    );
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    const policyId = logicalIdOf(withRole.template, 'AWS::IAM::ManagedPolicy', 'UploaderPolicy');
    expect(
      (withRole.template.toJSON().Resources[policyId] as { Properties: { Roles: unknown } }).Properties.Roles,
    ).toEqual([{ Ref: roleId }]);
  });

  it('rejects a principal that is not an IAM ARN, naming the value', () => {
    const stack = new Stack(new App(), 'Bad');
    const registry = new ArtifactRegistry(stack, 'Registry', {
      noncurrentVersionExpirationDays: 1,
      incomingExpirationDays: 1,
      accessLogDays: 1,
    });
    const tables = new MetadataTables(stack, 'Tables', {});
    expect(
      () =>
        new UploaderAccess(stack, 'Uploader', {
          registry,
          readableTables: [tables.modelVersions],
          assumedBy: ['alice'],
        }),
    ).toThrow(/assumedBy entries must be IAM principal ARNs .* got "alice"/);
  });
});
