/** LogsKey on a bare stack: rotation, retention, the CloudWatch Logs key policy and a logical id that stays put. */
import { Template } from 'aws-cdk-lib/assertions';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { beforeAll, describe, expect, it } from 'vitest';
import { LogsKey } from '../../lib/constructs/logs-key';
import { testStack } from './helpers';

let template: Template;
let key: LogsKey;
beforeAll(() => {
  // GIVEN a LogsKey and a log group using it
  const stack = testStack('LogsKeyTest');
  key = new LogsKey(stack, 'LogsKey', { description: 'modelops-test CloudWatch Logs' });
  new LogGroup(stack, 'Logs', { encryptionKey: key });
  template = Template.fromStack(stack);
});

describe('LogsKey', () => {
  it('keeps the logical id of the key the stack created before the construct existed', () => {
    // A changed id would create a second retained key and orphan the first.
    expect(Object.keys(template.findResources('AWS::KMS::Key'))).toEqual(['LogsKeyA6AB43B2']);
    expect(key.node.path).toBe('LogsKeyTest/LogsKey');
  });

  it('rotates and is retained on deletion and replacement', () => {
    template.hasResource('AWS::KMS::Key', {
      Properties: { EnableKeyRotation: true, Description: 'modelops-test CloudWatch Logs' },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  it('lets CloudWatch Logs of this region use it for log groups of this account only', () => {
    const policy = (
      Object.values(template.findResources('AWS::KMS::Key'))[0] as {
        Properties: { KeyPolicy: { Statement: { Sid?: string }[] } };
      }
    ).Properties.KeyPolicy.Statement.find((s) => s.Sid === 'CloudWatchLogsOfThisAccount');
    expect(policy).toEqual({
      Sid: 'CloudWatchLogsOfThisAccount',
      Effect: 'Allow',
      Principal: { Service: { 'Fn::Join': ['', ['logs.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } },
      Action: [
        'kms:Encrypt',
        'kms:Decrypt',
        'kms:ReEncryptFrom',
        'kms:ReEncryptTo',
        'kms:GenerateDataKey',
        'kms:DescribeKey',
      ],
      Resource: '*',
      Condition: {
        ArnLike: {
          'kms:EncryptionContext:aws:logs:arn': {
            'Fn::Join': [
              '',
              [
                'arn:',
                { Ref: 'AWS::Partition' },
                ':logs:',
                { Ref: 'AWS::Region' },
                ':',
                { Ref: 'AWS::AccountId' },
                ':log-group:*',
              ],
            ],
          },
        },
      },
    });
  });

  it('encrypts the log groups it is given to', () => {
    template.hasResourceProperties('AWS::Logs::LogGroup', {
      KmsKeyId: { 'Fn::GetAtt': ['LogsKeyA6AB43B2', 'Arn'] },
    });
  });
});
