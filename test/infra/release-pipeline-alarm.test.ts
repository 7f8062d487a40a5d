/**
 * The dead-letter alarm of ReleasePipeline, on the construct alone (bundling skipped: the alarm does not depend on
 * the functions' code), with and without an alarm topic; the stack always passes its topic (release-pipeline.test.ts).
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { describe, expect, it } from 'vitest';
import { ArtifactRegistry } from '../../lib/constructs/artifact-registry';
import { MetadataTables } from '../../lib/constructs/metadata-tables';
import { ReleasePipeline } from '../../lib/constructs/release-pipeline';

function pipelineTemplate(withTopic = true): Template {
  // No asset bundling: esbuild and the ONNX Runtime layer copy are irrelevant to the alarm.
  const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'AlarmTest');
  new ReleasePipeline(stack, 'Release', {
    registry: new ArtifactRegistry(stack, 'Registry', {
      noncurrentVersionExpirationDays: 30,
      incomingExpirationDays: 7,
      accessLogDays: 90,
    }),
    tables: new MetadataTables(stack, 'Tables'),
    maxArtifactBytes: 1_000_000,
    configuredModels: ['m'],
    metricsNamespace: 'ModelOps',
    logRetention: RetentionDays.ONE_MONTH,
    ...(withTopic ? { alarmTopic: new Topic(stack, 'Alarms') } : {}),
  });
  return Template.fromStack(stack);
}

function alarms(template: Template): { Properties: Record<string, unknown> }[] {
  return Object.values(template.findResources('AWS::CloudWatch::Alarm')) as {
    Properties: Record<string, unknown>;
  }[];
}

describe('ReleasePipeline dead-letter alarm', () => {
  it('notifies alarmTopic when any message is visible in the dead-letter queue', () => {
    const template = pipelineTemplate();
    const [alarm, ...others] = alarms(template);
    expect(others).toEqual([]);
    const queueId = Object.keys(template.findResources('AWS::SQS::Queue'))[0]!;
    const topicId = Object.keys(template.findResources('AWS::SNS::Topic'))[0]!;
    expect(alarm!.Properties).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } }],
      Statistic: 'Maximum',
      Period: 300,
      Threshold: 1,
      EvaluationPeriods: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'notBreaching',
      AlarmActions: [{ Ref: topicId }],
    });
  });

  it('still alarms, with no action, when no alarmTopic is given', () => {
    const [alarm, ...others] = alarms(pipelineTemplate(false));
    expect(others).toEqual([]);
    expect(alarm!.Properties).toMatchObject({
      MetricName: 'ApproximateNumberOfMessagesVisible',
      Threshold: 1,
    });
    expect(alarm!.Properties.AlarmActions).toBeUndefined();
  });
});
