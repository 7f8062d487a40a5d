/**
 * What the per-table DynamoDB adapters share: conditional-failure detection and the mapping of retryable SDK
 * failures to `TransientStoreError` (through {@link mapStoreError}, which the S3 adapter uses too).
 */
import { mapStoreError } from './clients';

/** A conditional write lost. DynamoDB attaches the standing item when asked (`ReturnValuesOnConditionCheckFailure`). */
export function isConditionFailed(err: unknown): err is { Item?: Record<string, unknown> } {
  return (err as { name?: string })?.name === 'ConditionalCheckFailedException';
}

/**
 * The condition of an optimistic write keyed by `model`: create only when absent (no expected revision), else
 * replace only the revision the writer read.
 */
export function revisionCondition(expectedRevision: number | undefined): {
  readonly ConditionExpression: string;
  readonly ExpressionAttributeNames: Record<string, string>;
  readonly ExpressionAttributeValues?: Record<string, number>;
} {
  return expectedRevision === undefined
    ? {
        ConditionExpression: 'attribute_not_exists(#model)',
        ExpressionAttributeNames: { '#model': 'model' },
      }
    : {
        ConditionExpression: '#revision = :expected',
        ExpressionAttributeNames: { '#revision': 'revision' },
        ExpressionAttributeValues: { ':expected': expectedRevision },
      };
}

/** Runs one DynamoDB call; a retryable failure becomes `TransientStoreError` naming `operation`. */
export async function storeCall<T>(operation: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw mapStoreError(err, operation);
  }
}
