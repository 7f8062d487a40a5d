/** `AuditLogStore` on the AuditLog table (lib-dynamodb): append-only, one conditional put per event. */
import { PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DuplicateAuditEventError } from '../core/errors';
import type { AuditEvent, AuditLogStore } from '../core/ports';
import { env } from '../shared/env';
import { dynamoDocumentClient, mapStoreError } from './clients';
import { isConditionFailed, storeCall } from './dynamo-helpers';

export class DynamoAuditLog implements AuditLogStore {
  constructor(
    private readonly tableName: string,
    private readonly doc: DynamoDBDocumentClient = dynamoDocumentClient,
  ) {}

  /** The table named by AUDIT_LOG_TABLE; throws ConfigurationError naming the variable when it is unset. */
  static fromEnv(e?: NodeJS.ProcessEnv): DynamoAuditLog {
    return new DynamoAuditLog(env.auditLogTable(e));
  }

  async appendAudit(event: AuditEvent): Promise<void> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: event,
          ConditionExpression: 'attribute_not_exists(eventId)',
        }),
      );
    } catch (err) {
      if (isConditionFailed(err)) {
        throw new DuplicateAuditEventError(`audit event ${event.model} ${event.eventId} already exists`);
      }
      throw mapStoreError(err, `PutItem ${this.tableName}`);
    }
  }

  /**
   * Events oldest first (newest last). With `since`: events with `eventId >= since`, the first `limit` of them
   * (page forward by passing the last id seen). Without `since`: the latest `limit` events.
   */
  async listAudit(
    model: string,
    options: { readonly limit?: number; readonly since?: string } = {},
  ): Promise<readonly AuditEvent[]> {
    const { limit, since } = options;
    const forward = since !== undefined || limit === undefined;
    const items: AuditEvent[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const remaining = limit === undefined ? undefined : limit - items.length;
      const page = await storeCall(`Query ${this.tableName}`, () =>
        this.doc.send(
          new QueryCommand({
            TableName: this.tableName,
            KeyConditionExpression:
              since === undefined ? '#model = :model' : '#model = :model AND #id >= :since',
            ExpressionAttributeNames: {
              '#model': 'model',
              ...(since === undefined ? {} : { '#id': 'eventId' }),
            },
            ExpressionAttributeValues: {
              ':model': model,
              ...(since === undefined ? {} : { ':since': since }),
            },
            ScanIndexForward: forward,
            Limit: remaining,
            ExclusiveStartKey: start,
          }),
        ),
      );
      items.push(...((page.Items ?? []) as AuditEvent[]));
      start = page.LastEvaluatedKey;
    } while (start && (limit === undefined || items.length < limit));
    const bounded = limit === undefined ? items : items.slice(0, limit);
    return forward ? bounded : bounded.reverse();
  }
}
