/**
 * `PredictionLogStore` on the PredictionLog table (lib-dynamodb): sampled predictions keyed by (model, requestId)
 * with the TTL attribute `expiresAt`, and labels stored by one conditional write so that a retried label is
 * idempotent and a different one is refused (lambdas/core/feedback.ts decides which from the standing item).
 */
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { lostLabelWrite, type LoggedPrediction, type RecordLabelResult } from '../core/feedback';
import type { PredictionLogStore } from '../core/ports';
import { PREDICTION_LOG_TABLE } from '../core/tables';
import { requireEnv } from '../shared/env';
import { dynamoDocumentClient, mapStoreError } from './clients';
import { isConditionFailed, storeCall } from './dynamo-helpers';

export class DynamoPredictionLog implements PredictionLogStore {
  constructor(
    private readonly tableName: string,
    private readonly doc: DynamoDBDocumentClient = dynamoDocumentClient,
  ) {}

  /** The table named by PREDICTION_LOG_TABLE; throws ConfigurationError naming the variable when it is unset. */
  static fromEnv(e?: NodeJS.ProcessEnv): DynamoPredictionLog {
    return new DynamoPredictionLog(requireEnv(PREDICTION_LOG_TABLE.envVar, e));
  }

  async putPrediction(item: LoggedPrediction): Promise<void> {
    await storeCall(`PutItem ${this.tableName}`, () =>
      this.doc.send(new PutCommand({ TableName: this.tableName, Item: item })),
    );
  }

  async getPrediction(model: string, requestId: string): Promise<LoggedPrediction | undefined> {
    const r = await storeCall(`GetItem ${this.tableName}`, () =>
      this.doc.send(
        // Consistent: a label posted right after the response must find the prediction the hook just wrote.
        new GetCommand({ TableName: this.tableName, Key: { model, requestId }, ConsistentRead: true }),
      ),
    );
    return r.Item as LoggedPrediction | undefined;
  }

  async recordLabel(
    item: LoggedPrediction,
    labels: readonly (string | number)[],
    labelledAt: string,
  ): Promise<RecordLabelResult> {
    try {
      // A whole-item PutItem rather than UpdateItem: the function's grant is GetItem + PutItem ('write').
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...item, labels: [...labels], labelledAt },
          ConditionExpression: 'attribute_exists(#rid) AND attribute_not_exists(#labels)',
          ExpressionAttributeNames: { '#rid': 'requestId', '#labels': 'labels' },
        }),
      );
      return { kind: 'recorded' };
    } catch (err) {
      if (!isConditionFailed(err)) throw mapStoreError(err, `PutItem ${this.tableName}`);
      // Read the standing item back (consistently) rather than trust the failure's attached item, which arrives
      // unconverted from lib-dynamodb and is absent on the emulator. Lost writes are rare: one extra read.
      return lostLabelWrite(await this.getPrediction(item.model, item.requestId), labels);
    }
  }
}
