/**
 * Alarm routing of the stack (no bundling): the alarm topic exists with or without `alarmEmail`, e-mail is subscribed
 * only when configured, the release dead-letter alarm notifies the topic, and cdk-nag stays clean with e-mail on.
 * The topic and key themselves are tested in alarm-topic.test.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logicalIdOf, synthApp, TEST_CONFIG } from './helpers';
import type { SynthResult } from './helpers';

// Logical ids of stacks deployed before LogsKey and AlarmTopic became constructs; they must not change.
const TOPIC_ID = 'AlarmTopicD01E77F9';
const TOPIC_KEY_ID = 'AlarmTopicKey57B0D3A7';
const LOGS_KEY_ID = 'LogsKeyA6AB43B2';

let withEmail: SynthResult;
let withoutEmail: SynthResult;
beforeAll(() => {
  withEmail = synthApp({ ...TEST_CONFIG, alarmEmail: 'oncall@example.com' });
  withoutEmail = synthApp(TEST_CONFIG);
});
afterAll(() => {
  withEmail.cleanup();
  withoutEmail.cleanup();
});

describe('ModelOpsStack alarm topic', () => {
  it('exists without alarmEmail, with no subscription', () => {
    const { template, stack } = withoutEmail;
    expect(Object.keys(template.findResources('AWS::SNS::Topic'))).toEqual([TOPIC_ID]);
    template.resourceCountIs('AWS::SNS::Subscription', 0);
    expect(stack.alarmTopic.node.path).toBe(`${stack.stackName}/AlarmTopic`);
  });

  it('subscribes alarmEmail when configured', () => {
    withEmail.template.resourceCountIs('AWS::SNS::Subscription', 1);
    withEmail.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
      TopicArn: { Ref: TOPIC_ID },
    });
  });

  it('keeps the logical ids of the deployed keys and topic', () => {
    for (const { template } of [withEmail, withoutEmail]) {
      const keys = Object.keys(template.findResources('AWS::KMS::Key'));
      expect(keys).toEqual(expect.arrayContaining([LOGS_KEY_ID, TOPIC_KEY_ID]));
      template.hasResourceProperties('AWS::SNS::Topic', {
        KmsMasterKeyId: { 'Fn::GetAtt': [TOPIC_KEY_ID, 'Arn'] },
      });
    }
  });

  it('alarms once on any message in the release dead-letter queue, with or without e-mail', () => {
    for (const { template } of [withEmail, withoutEmail]) {
      const onQueue = Object.values(template.findResources('AWS::CloudWatch::Alarm')).filter(
        (a) => (a as { Properties: { Namespace?: string } }).Properties.Namespace === 'AWS/SQS',
      );
      expect(onQueue).toHaveLength(1);
      const queueId = logicalIdOf(template, 'AWS::SQS::Queue', 'ReleaseDeadLetterQueue');
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Namespace: 'AWS/SQS',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
        Statistic: 'Maximum',
        Period: 300,
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        TreatMissingData: 'notBreaching',
        AlarmActions: [{ Ref: TOPIC_ID }],
      });
    }
  });

  it('stays free of unacknowledged cdk-nag findings with e-mail on', () => {
    const report = JSON.parse(
      fs.readFileSync(path.join(withEmail.assembly.directory, 'validation-report.json'), 'utf8'),
    ) as {
      pluginReports: { pluginName: string; violations: unknown[] }[];
    };
    const nag = report.pluginReports.filter((r) => ['AwsSolutions', 'NIST.800.53.R5'].includes(r.pluginName));
    expect(nag.map((r) => r.pluginName).sort()).toEqual(['AwsSolutions', 'NIST.800.53.R5']);
    expect(nag.flatMap((r) => r.violations)).toEqual([]);
  });
});
