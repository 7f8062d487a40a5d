import { RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import { ConstructPropsError } from './modelops-function';

export interface AlarmTopicProps {
  /**
   * Display name of the topic (the sender name of e-mail notifications).
   * @default 'ModelOps alarms'
   */
  readonly displayName?: string;
  /**
   * E-mail address subscribed to every alarm; the recipient must confirm the subscription once.
   * @default - no subscription: alarms still publish to the topic (for other subscribers and, later, EventBridge)
   */
  readonly email?: string;
  /**
   * KMS key encrypting the topic; its key policy must let CloudWatch alarms use it.
   * @default - a new customer-managed key `<id>Key` next to the topic: rotation on, retained on deletion, with a key
   *   policy for CloudWatch alarms of this account
   */
  readonly masterKey?: IKey;
  /**
   * Description of the key created when `masterKey` is not given.
   * @default 'ModelOps alarm topic'
   */
  readonly keyDescription?: string;
}

/**
 * The SNS topic every alarm of a stack notifies: KMS-encrypted, TLS-only (`aws:SecureTransport`), publishable by
 * CloudWatch alarms of this account only, with an optional e-mail subscription.
 *
 * Like `LogsKey` it adds no level to the construct tree, and its default key is created beside it as `<id>Key`, so
 * `new AlarmTopic(stack, 'AlarmTopic')` keeps the logical ids the stack had before this construct existed: the
 * topic is not replaced (which would drop confirmed e-mail subscriptions) and the retained key is not orphaned.
 *
 * @example
 * const alarms = new AlarmTopic(this, 'AlarmTopic', { email: 'oncall@example.com' });
 * alarm.addAlarmAction(new SnsAction(alarms));
 */
export class AlarmTopic extends Topic {
  /** The key encrypting the topic (`props.masterKey` or the one created here). */
  public readonly key: IKey;

  constructor(scope: Construct, id: string, props: AlarmTopicProps = {}) {
    const key =
      props.masterKey ??
      AlarmTopic.createKey(scope, `${id}Key`, props.keyDescription ?? 'ModelOps alarm topic');
    super(scope, id, {
      displayName: props.displayName ?? 'ModelOps alarms',
      masterKey: key,
      enforceSSL: true,
    });
    this.key = key;
    const { account, partition, region } = Stack.of(this);
    this.addToResourcePolicy(
      new PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': account },
          ArnLike: { 'aws:SourceArn': `arn:${partition}:cloudwatch:${region}:${account}:alarm:*` },
        },
      }),
    );
    if (props.email !== undefined) {
      if (!Token.isUnresolved(props.email) && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(props.email)) {
        throw new ConstructPropsError(
          `AlarmTopic: email must be an e-mail address such as oncall@example.com, got ${JSON.stringify(props.email)}`,
        );
      }
      this.addSubscription(new EmailSubscription(props.email));
    }
  }

  /** Created in the topic's scope, not under it, for the logical id reason in the class comment. */
  private static createKey(scope: Construct, id: string, description: string): IKey {
    const key = new Key(scope, id, {
      description,
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // CloudWatch alarms publish to the encrypted topic with this key.
    key.addToResourcePolicy(
      new PolicyStatement({
        sid: 'CloudWatchAlarmsPublish',
        principals: [new ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(scope).account } },
      }),
    );
    // EventBridge rules deliver notifications (approval requests) to the encrypted topic with this key.
    key.addToResourcePolicy(
      new PolicyStatement({
        sid: 'EventBridgeRulesPublish',
        principals: [new ServicePrincipal('events.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey'],
        resources: ['*'],
        conditions: { StringEquals: { 'aws:SourceAccount': Stack.of(scope).account } },
      }),
    );
    return key;
  }
}
