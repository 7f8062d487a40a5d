/**
 * `VersionStore` on the ModelVersions table (lib-dynamodb). Registration is one conditional write to one item; no
 * transactions, so it behaves the same on dynalite in local mode.
 */
import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import { TransientStoreError } from '../core/errors';
import type { RejectedVersionPruner, VersionRecord, VersionStore } from '../core/ports';
import { env } from '../shared/env';
import { dynamoDocumentClient, mapStoreError } from './clients';
import { isConditionFailed, storeCall } from './dynamo-helpers';

export class DynamoVersionStore implements VersionStore, RejectedVersionPruner {
  constructor(
    private readonly tableName: string,
    private readonly doc: DynamoDBDocumentClient = dynamoDocumentClient,
  ) {}

  /** The table named by MODEL_VERSIONS_TABLE; throws ConfigurationError naming the variable when it is unset. */
  static fromEnv(e?: NodeJS.ProcessEnv): DynamoVersionStore {
    return new DynamoVersionStore(env.modelVersionsTable(e));
  }

  async getVersion(model: string, version: string): Promise<VersionRecord | undefined> {
    const r = await storeCall(`GetItem ${this.tableName}`, () =>
      this.doc.send(
        new GetCommand({ TableName: this.tableName, Key: { model, version }, ConsistentRead: true }),
      ),
    );
    return r.Item as VersionRecord | undefined;
  }

  async listVersions(model?: string): Promise<readonly VersionRecord[]> {
    const items: VersionRecord[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await storeCall(`${model ? 'Query' : 'Scan'} ${this.tableName}`, () =>
        this.doc.send(
          model
            ? new QueryCommand({
                TableName: this.tableName,
                KeyConditionExpression: '#model = :model',
                ExpressionAttributeNames: { '#model': 'model' },
                ExpressionAttributeValues: { ':model': model },
                ExclusiveStartKey: start,
              })
            : new ScanCommand({ TableName: this.tableName, ExclusiveStartKey: start }),
        ),
      );
      items.push(...((page.Items ?? []) as VersionRecord[]));
      start = page.LastEvaluatedKey;
    } while (start);
    return items;
  }

  async putVersionUnlessRegistered(
    record: VersionRecord,
  ): Promise<{ readonly written: boolean; readonly current: VersionRecord }> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: record,
          ConditionExpression: 'attribute_not_exists(#model) OR #status = :rejected',
          ExpressionAttributeNames: { '#model': 'model', '#status': 'status' },
          ExpressionAttributeValues: { ':rejected': 'REJECTED' },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { written: true, current: record };
    } catch (err) {
      if (!isConditionFailed(err)) throw mapStoreError(err, `PutItem ${this.tableName}`);
      // DynamoDB returns the standing item with the failure; dynalite does not, so read it then.
      const current =
        (err.Item as VersionRecord | undefined) ?? (await this.getVersion(record.model, record.version));
      if (!current) {
        throw new TransientStoreError(
          `${record.model} ${record.version} changed during the conditional write`,
        );
      }
      return { written: false, current };
    }
  }

  async deleteRejectedVersion(model: string, version: string, expectedUpdatedAt: string): Promise<boolean> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { model, version },
          ConditionExpression: '#status = :rejected AND #updatedAt = :updatedAt',
          ExpressionAttributeNames: { '#status': 'status', '#updatedAt': 'updatedAt' },
          ExpressionAttributeValues: { ':rejected': 'REJECTED', ':updatedAt': expectedUpdatedAt },
        }),
      );
      return true;
    } catch (err) {
      // Absent, registered since, or re-rejected by a newer push: not the record the caller decided to delete.
      if (isConditionFailed(err)) return false;
      throw mapStoreError(err, `DeleteItem ${this.tableName}`);
    }
  }
}
