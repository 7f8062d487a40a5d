import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logicalIdOf, synthApp, TEST_CONFIG } from './helpers';
import type { SynthResult } from './helpers';

let synth: SynthResult;
beforeAll(() => {
  synth = synthApp({ ...TEST_CONFIG, alarmEmail: 'oncall@example.com' });
});
afterAll(() => synth.cleanup());

describe('ModelOpsStack with alarmEmail', () => {
  it('creates a KMS-encrypted, TLS-only alarm topic with the e-mail subscription', () => {
    synth.template.hasResourceProperties('AWS::SNS::Topic', {
      KmsMasterKeyId: {
        'Fn::GetAtt': [logicalIdOf(synth.template, 'AWS::KMS::Key', 'AlarmTopicKey'), 'Arn'],
      },
    });
    synth.template.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
    });
    const policies = Object.values(synth.template.findResources('AWS::SNS::TopicPolicy'));
    expect(JSON.stringify(policies)).toContain('aws:SecureTransport');
  });

  it('alarms on any message in the release dead-letter queue', () => {
    const queueId = logicalIdOf(synth.template, 'AWS::SQS::Queue', 'ReleaseDeadLetterQueue');
    synth.template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Namespace: 'AWS/SQS',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      AlarmActions: [{ Ref: logicalIdOf(synth.template, 'AWS::SNS::Topic', 'AlarmTopic') }],
    });
  });

  it('stays free of unacknowledged cdk-nag findings', () => {
    const report = JSON.parse(
      fs.readFileSync(path.join(synth.assembly.directory, 'validation-report.json'), 'utf8'),
    ) as {
      pluginReports: { pluginName: string; violations: unknown[] }[];
    };
    const nag = report.pluginReports.filter((r) => ['AwsSolutions', 'NIST.800.53.R5'].includes(r.pluginName));
    expect(nag).toHaveLength(2);
    expect(nag.flatMap((r) => r.violations)).toEqual([]);
  });
});
