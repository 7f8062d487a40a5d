import { Duration, Validations } from 'aws-cdk-lib';
import { Alarm, ComparisonOperator, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import type { ITopic } from 'aws-cdk-lib/aws-sns';
import { Queue, QueueEncryption, type IQueue } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';

/**
 * The alarm every dead-letter queue of the stack gets: in alarm while any message sits in `queue` (an event that
 * went nowhere), notifying `topic`. Created in `scope` under `id` itself, adding no level to the construct tree, so
 * the callers' logical ids stay as they were.
 */
export function deadLetterAlarm(
  scope: Construct,
  id: string,
  props: { readonly queue: IQueue; readonly description: string; readonly topic?: ITopic },
): Alarm {
  const alarm = new Alarm(scope, id, {
    alarmDescription: props.description,
    metric: props.queue.metricApproximateNumberOfMessagesVisible({
      period: Duration.minutes(5),
      statistic: 'Maximum',
    }),
    threshold: 1,
    evaluationPeriods: 1,
    comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    treatMissingData: TreatMissingData.NOT_BREACHING,
  });
  if (props.topic) {
    alarm.addAlarmAction(new SnsAction(props.topic));
  } else {
    Validations.of(alarm).acknowledge({
      id: 'NIST.800.53.R5::NIST.800.53.R5-CloudWatchAlarmAction',
      reason:
        'No alarmTopic was given (ModelOpsStack always passes its alarm topic); the alarm still records ' +
        'its state in CloudWatch, and an action is added as soon as a topic is configured.',
    });
  }
  return alarm;
}

/**
 * A dead-letter queue of the stack: SQS-encrypted, TLS only, messages kept 14 days. `deadLetterOf` says whose
 * undeliverable events it holds, for the cdk-nag acknowledgement (SQS3 asks every queue for a DLQ of its own).
 */
export function deadLetterQueue(scope: Construct, id: string, deadLetterOf: string): Queue {
  const queue = new Queue(scope, id, {
    encryption: QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: Duration.days(14),
  });
  Validations.of(queue).acknowledge({
    id: 'AwsSolutions::AwsSolutions-SQS3',
    reason:
      `This queue is itself the dead-letter queue of ${deadLetterOf}; cdk-nag only recognizes queue-to-queue ` +
      'redrive. A DLQ of a DLQ would only move the same messages again.',
  });
  return queue;
}
