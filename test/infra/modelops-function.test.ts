import { Duration } from 'aws-cdk-lib';
import type { Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { beforeAll, describe, expect, it } from 'vitest';
import { MetadataTables } from '../../lib/constructs/metadata-tables';
import { handlerEntry, ModelOpsFunction } from '../../lib/constructs/modelops-function';
import type { ModelOpsFunctionProps } from '../../lib/constructs/modelops-function';
import { testStack } from './helpers';

const entry = handlerEntry('record-rejection');
const base: ModelOpsFunctionProps = {
  entry,
  serviceName: 'record-rejection',
  metricsNamespace: 'modelops',
  logRetention: RetentionDays.ONE_MONTH,
};

let stack: Stack;
let fn: ModelOpsFunction;
let tables: MetadataTables;
let template: Template;
beforeAll(() => {
  stack = testStack('FunctionTest');
  tables = new MetadataTables(stack, 'Tables');
  fn = new ModelOpsFunction(stack, 'Fn', { ...base, reservedConcurrentExecutions: 2, memorySize: 512 });
  fn.bindTable(tables.modelVersions, 'read').bindTable(tables.auditLog, 'append');
  template = Template.fromStack(stack);
});

function policyStatements(): { Action: string | string[]; Resource: unknown }[] {
  const policies = Object.values(template.findResources('AWS::IAM::ManagedPolicy')) as {
    Properties: { PolicyDocument: { Statement: { Action: string | string[]; Resource: unknown }[] } };
  }[];
  return policies.flatMap((p) => p.Properties.PolicyDocument.Statement);
}

describe('ModelOpsFunction', () => {
  it('runs Node 22 on x86_64 with tracing, reserved concurrency and Powertools env', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Architectures: ['x86_64'],
      MemorySize: 512,
      Timeout: 30,
      ReservedConcurrentExecutions: 2,
      TracingConfig: { Mode: 'Active' },
      Environment: {
        Variables: Match.objectLike({
          POWERTOOLS_SERVICE_NAME: 'record-rejection',
          POWERTOOLS_METRICS_NAMESPACE: 'modelops',
          POWERTOOLS_LOG_LEVEL: 'INFO',
          NODE_OPTIONS: '--enable-source-maps',
          MODEL_VERSIONS_TABLE: Match.anyValue(),
          AUDIT_LOG_TABLE: Match.anyValue(),
        }),
      },
    });
  });

  it('logs to its own retained log group with the configured retention', () => {
    template.hasResource('AWS::Logs::LogGroup', {
      DeletionPolicy: 'Retain',
      Properties: { RetentionInDays: 30 },
    });
    expect(policyStatements()).toContainEqual(
      expect.objectContaining({
        Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        Resource: { 'Fn::GetAtt': [expect.stringMatching(/^FnLogGroup/), 'Arn'] },
      }),
    );
  });

  it('has no AWS-managed policy and no inline policy', () => {
    template.hasResourceProperties('AWS::IAM::Role', {
      ManagedPolicyArns: Match.absent(),
      Policies: Match.absent(),
    });
    template.resourceCountIs('AWS::IAM::Policy', 0);
  });

  it('grants read as GetItem/Query on the table and its GSI, and append as PutItem only', () => {
    const dynamo = policyStatements().filter((s) => JSON.stringify(s.Action).includes('dynamodb:'));
    expect(dynamo).toEqual([
      expect.objectContaining({
        Action: ['dynamodb:GetItem', 'dynamodb:Query'],
        Resource: [
          { 'Fn::GetAtt': [expect.stringMatching(/^TablesModelVersions/), 'Arn'] },
          {
            'Fn::Join': [
              '',
              [{ 'Fn::GetAtt': [expect.stringMatching(/^TablesModelVersions/), 'Arn'] }, '/index/ByStatus'],
            ],
          },
        ],
      }),
      expect.objectContaining({
        Action: 'dynamodb:PutItem',
        Resource: { 'Fn::GetAtt': [expect.stringMatching(/^TablesAuditLog/), 'Arn'] },
      }),
    ]);
  });

  it('rejects write or update access to the AuditLog', () => {
    expect(() => fn.bindTable(tables.auditLog, 'update')).toThrow(
      /AuditLog table is append-only.*got "update"/,
    );
    expect(() => fn.bindTable(tables.auditLog, 'write')).toThrow(/got "write"/);
  });

  it('rejects invalid props naming the value', () => {
    const s = testStack('Bad');
    expect(() => new ModelOpsFunction(s, 'A', { ...base, memorySize: 64 })).toThrow(/memorySize .* got 64/);
    expect(() => new ModelOpsFunction(s, 'B', { ...base, timeout: Duration.minutes(20) })).toThrow(
      /timeout must be between 1 second and 15 minutes, got 20 minutes/,
    );
    expect(() => new ModelOpsFunction(s, 'C', { ...base, entry: 'lambdas/x.ts' })).toThrow(
      /entry must be an absolute path.*"lambdas\/x.ts"/,
    );
  });
});
