/**
 * What the per-table DynamoDB adapters share: conditional-failure detection and the mapping of retryable SDK
 * failures to `TransientStoreError` (through {@link mapStoreError}, which the S3 adapter uses too).
 */
import { mapStoreError } from './clients';

/** A conditional write lost. DynamoDB attaches the standing item when asked (`ReturnValuesOnConditionCheckFailure`). */
export function isConditionFailed(err: unknown): err is { Item?: Record<string, unknown> } {
  return (err as { name?: string })?.name === 'ConditionalCheckFailedException';
}

/** Runs one DynamoDB call; a retryable failure becomes `TransientStoreError` naming `operation`. */
export async function storeCall<T>(operation: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw mapStoreError(err, operation);
  }
}
