/**
 * AlarmTopic on a bare stack: KMS encryption with a key CloudWatch alarms may use, TLS-only publishing, a topic
 * policy for CloudWatch alarms of this account, the e-mail subscription only when configured, stable logical ids.
 */
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { CfnKey } from 'aws-cdk-lib/aws-kms';
import { describe, expect, it } from 'vitest';
import { AlarmTopic } from '../../lib/constructs/alarm-topic';
import type { AlarmTopicProps } from '../../lib/constructs/alarm-topic';
import { ConstructPropsError } from '../../lib/constructs/modelops-function';
import { testStack } from './helpers';

function synth(props?: AlarmTopicProps): { topic: AlarmTopic; template: Template } {
  const stack = testStack('AlarmTopicTest');
  const topic = new AlarmTopic(stack, 'AlarmTopic', props);
  return { topic, template: Template.fromStack(stack) };
}

const ACCOUNT = { Ref: 'AWS::AccountId' };

describe('AlarmTopic', () => {
  it('keeps the logical ids of the topic and key the stack created before the construct existed', () => {
    // GIVEN / WHEN
    const { topic, template } = synth({ email: 'oncall@example.com' });
    // THEN a replaced topic would drop confirmed subscriptions; a replaced key would orphan the retained one
    expect(Object.keys(template.findResources('AWS::SNS::Topic'))).toEqual(['AlarmTopicD01E77F9']);
    expect(Object.keys(template.findResources('AWS::KMS::Key'))).toEqual(['AlarmTopicKey57B0D3A7']);
    expect(Object.keys(template.findResources('AWS::SNS::Subscription'))).toEqual([
      'AlarmTopiconcallexamplecomCD7D68CB',
    ]);
    expect(topic.node.path).toBe('AlarmTopicTest/AlarmTopic');
  });

  it('is encrypted with a rotating, retained key that CloudWatch alarms of this account may use', () => {
    const { template } = synth({
      displayName: 'modelops-test alarms',
      keyDescription: 'modelops-test alarm topic',
    });
    template.hasResourceProperties('AWS::SNS::Topic', {
      DisplayName: 'modelops-test alarms',
      KmsMasterKeyId: { 'Fn::GetAtt': ['AlarmTopicKey57B0D3A7', 'Arn'] },
    });
    template.hasResource('AWS::KMS::Key', {
      Properties: {
        Description: 'modelops-test alarm topic',
        EnableKeyRotation: true,
        KeyPolicy: {
          Statement: Match.arrayWith([
            {
              Sid: 'CloudWatchAlarmsPublish',
              Effect: 'Allow',
              Principal: { Service: 'cloudwatch.amazonaws.com' },
              Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
              Resource: '*',
              Condition: { StringEquals: { 'aws:SourceAccount': ACCOUNT } },
            },
          ]),
        },
      },
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
    });
  });

  it('refuses publishing without TLS and lets only CloudWatch alarms of this account publish', () => {
    const { template } = synth();
    const topicRef = { Ref: 'AlarmTopicD01E77F9' };
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      Topics: [topicRef],
      PolicyDocument: {
        Statement: [
          {
            Sid: 'AllowPublishThroughSSLOnly',
            Effect: 'Deny',
            Principal: '*',
            Action: 'sns:Publish',
            Resource: topicRef,
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          },
          {
            Sid: 'CloudWatchAlarmsPublish',
            Effect: 'Allow',
            Principal: { Service: 'cloudwatch.amazonaws.com' },
            Action: 'sns:Publish',
            Resource: topicRef,
            Condition: {
              StringEquals: { 'aws:SourceAccount': ACCOUNT },
              ArnLike: {
                'aws:SourceArn': {
                  'Fn::Join': [
                    '',
                    [
                      'arn:',
                      { Ref: 'AWS::Partition' },
                      ':cloudwatch:',
                      { Ref: 'AWS::Region' },
                      ':',
                      ACCOUNT,
                      ':alarm:*',
                    ],
                  ],
                },
              },
            },
          },
        ],
      },
    });
  });

  it('subscribes the e-mail address only when one is given', () => {
    synth().template.resourceCountIs('AWS::SNS::Subscription', 0);
    const { template } = synth({ email: 'oncall@example.com' });
    template.resourceCountIs('AWS::SNS::Subscription', 1);
    template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
      TopicArn: { Ref: 'AlarmTopicD01E77F9' },
    });
  });

  it('uses a given key and then creates none', () => {
    const stack = testStack('GivenKey');
    const key = new Key(stack, 'SharedKey');
    const topic = new AlarmTopic(stack, 'AlarmTopic', { masterKey: key });
    expect(topic.key).toBe(key);
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::KMS::Key', 1);
    template.hasResourceProperties('AWS::SNS::Topic', {
      KmsMasterKeyId: { 'Fn::GetAtt': [stack.getLogicalId(key.node.defaultChild as CfnKey), 'Arn'] },
    });
  });

  it('rejects a malformed e-mail address, naming it', () => {
    expect(() => synth({ email: 'oncall' })).toThrow(ConstructPropsError);
    expect(() => synth({ email: 'oncall' })).toThrow(/email must be an e-mail address.*got "oncall"/);
  });
});
