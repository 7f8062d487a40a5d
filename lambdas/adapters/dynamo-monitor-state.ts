/**
 * `MonitorStateStore` on the MonitorState table (pk `model`, sk `kind`): one state per model and monitor kind,
 * changed only by a conditional write on its revision, so twin scheduled runs cannot both advance it.
 */
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { MonitorStateConflictError, type MonitorStateRecord, type MonitorStateStore } from '../core/ports';
import { MONITOR_STATE_TABLE } from '../core/tables';
import { requireEnv } from '../shared/env';
import { dynamoDocumentClient, mapStoreError } from './clients';
import { isConditionFailed, revisionCondition, storeCall } from './dynamo-helpers';

export class DynamoMonitorStateStore implements MonitorStateStore {
  constructor(
    private readonly tableName: string,
    private readonly doc: DynamoDBDocumentClient = dynamoDocumentClient,
  ) {}

  /** The table named by MONITOR_STATE_TABLE, as the other stores' `fromEnv`. */
  static fromEnv(e?: NodeJS.ProcessEnv): DynamoMonitorStateStore {
    return new DynamoMonitorStateStore(requireEnv(MONITOR_STATE_TABLE.envVar, e));
  }

  async getState(model: string, kind: string): Promise<MonitorStateRecord | undefined> {
    const r = await storeCall(`GetItem ${this.tableName}`, () =>
      this.doc.send(
        new GetCommand({ TableName: this.tableName, Key: { model, kind }, ConsistentRead: true }),
      ),
    );
    return r.Item as MonitorStateRecord | undefined;
  }

  async putState(
    record: MonitorStateRecord,
    options: { readonly expectedRevision: number | undefined },
  ): Promise<void> {
    const { expectedRevision } = options;
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: record,
          ...revisionCondition(expectedRevision),
        }),
      );
    } catch (err) {
      if (isConditionFailed(err))
        throw new MonitorStateConflictError(record.model, record.kind, expectedRevision);
      throw mapStoreError(err, `PutItem ${this.tableName}`);
    }
  }
}
