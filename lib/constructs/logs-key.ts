import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import { PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';

export interface LogsKeyProps {
  /**
   * Description of the key in the KMS console.
   * @default 'CloudWatch Logs'
   */
  readonly description?: string;
}

/**
 * The customer-managed KMS key that encrypts every log group of a stack: rotation on, retained on deletion (logs
 * encrypted with it stay readable after the stack is gone), and a key policy letting CloudWatch Logs of this account
 * and region use it for log groups of this account only (`kms:EncryptionContext:aws:logs:arn`).
 *
 * It is a `Key` rather than a construct holding one, so it adds no level to the construct tree: created as
 * `new LogsKey(stack, 'LogsKey')` it keeps the logical id of the key the stack created before this construct
 * existed. A new logical id would make CloudFormation create a second key and orphan the retained one, while log
 * groups re-associate to the new key.
 *
 * @example
 * const logsKey = new LogsKey(this, 'LogsKey', { description: 'modelops-prod CloudWatch Logs' });
 * new LogGroup(this, 'Logs', { encryptionKey: logsKey });
 */
export class LogsKey extends Key {
  constructor(scope: Construct, id: string, props: LogsKeyProps = {}) {
    super(scope, id, {
      description: props.description ?? 'CloudWatch Logs',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const { account, partition, region } = Stack.of(this);
    this.addToResourcePolicy(
      new PolicyStatement({
        sid: 'CloudWatchLogsOfThisAccount',
        principals: [new ServicePrincipal(`logs.${region}.amazonaws.com`)],
        actions: [
          'kms:Encrypt',
          'kms:Decrypt',
          'kms:ReEncryptFrom',
          'kms:ReEncryptTo',
          'kms:GenerateDataKey',
          'kms:DescribeKey',
        ],
        resources: ['*'],
        conditions: {
          ArnLike: {
            'kms:EncryptionContext:aws:logs:arn': `arn:${partition}:logs:${region}:${account}:log-group:*`,
          },
        },
      }),
    );
  }
}
